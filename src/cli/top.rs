//! `berth top`: refuses anything but a terminal, finds the daemon's socket from the config
//! as the other commands do, and hands the terminal to `tui`.

use super::args::Global;
use super::up::load_with_services;
use super::{Exit, Failure};
use crate::daemon::paths::Paths;
use crate::tui::view::Palette;
use std::io::IsTerminal;
use std::time::Duration;

pub const NOT_A_TERMINAL: &str =
    "berth top needs a terminal; for a one-shot view use `berth status` (or `berth status --json`)";

/// The shortest refresh: quicker would cost CPU and show nothing more.
const FASTEST: Duration = Duration::from_millis(100);

pub fn run(global: &Global, interval: Duration) -> Result<Exit, Failure> {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        return Err(Failure::usage(NOT_A_TERMINAL));
    }
    if interval < FASTEST {
        return Err(Failure::usage("-i: at least 100ms"));
    }
    let stack = load_with_services(global, &[])?;
    let socket = Paths::new(&stack.state_dir).socket;
    let palette = Palette {
        colour: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    };
    crate::tui::app::run(&socket, &stack.project, interval, palette)
        .map_err(|e| Failure::failed(format!("the terminal: {e}")))?;
    Ok(Exit::Done)
}
