//! `berth top`: the stack live in the terminal, as a client of the public API only. `state`
//! is the model and what keys do to it (pure), `view` draws it (ratatui), `input` and
//! `terminal` hold the terminal, `feed` talks to the daemon, `app` is the loop between them.

pub mod app;
pub mod feed;
pub mod format;
pub mod input;
pub mod state;
pub mod terminal;
pub mod view;

#[cfg(test)]
mod snapshots;

/// `berth top --help`'s text after the options: the keys, then examples.
pub fn help() -> String {
    format!(
        "{}\n\nRefuses to run when stdin or stdout is not a terminal (exit 2): for a one-shot view\n\
         use `berth status` (or `berth status --json`).\n\n\
         Examples:\n  berth top\n  berth top -i 2s\n  NO_COLOR=1 berth top",
        view::KEYS
    )
}
