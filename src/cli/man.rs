//! `berth man [COMMAND…]`: the manual page (roff, for `man -l -`): every command on one page,
//! with the exit status, environment and files; or one command's page.

use super::args::Cli;
use super::{Exit, Failure};
use clap::CommandFactory;
use clap_mangen::Man;
use roff::{Roff, bold, roman};
use std::io::Write;

const EXIT_STATUS: &[(&str, &str)] = &[
    ("0", "Done: the command did its work."),
    (
        "1",
        "Failed: a service did not start or stop, a timeout passed, the daemon could not be reached.",
    ),
    (
        "2",
        "Bad usage or bad config: unknown flags, a config that does not load, a service name the config does not have.",
    ),
    (
        "3",
        "Not all healthy: `status` when a service asked about is not running and healthy; `ports who` when the port is free.",
    ),
];

const ENVIRONMENT: &[(&str, &str)] = &[
    ("BERTH_FILE", "The config file, as -f does."),
    ("BERTH_PROFILE", "The profile to apply, as --profile does."),
    (
        "BERTH_STATE_DIR",
        "The state dir, instead of .berth beside the config (or the config's state_dir).",
    ),
    ("NO_COLOR", "When set, no colour in the output."),
    (
        "COMPLETE",
        "Set by the completion scripts when they ask berth what to complete; not for use by hand.",
    ),
];

const FILES: &[(&str, &str)] = &[
    (
        "berth.yaml, berth.yml",
        "The config, looked up in the current directory and then its parents, like git.",
    ),
    (
        ".berth/",
        "The state dir, beside the config: everything below is in it.",
    ),
    (
        ".berth/berth.sock",
        "The daemon's HTTP API (a Unix socket). Where its path would exceed the OS limit it lives under $XDG_RUNTIME_DIR (or /tmp) as berth-HASH.sock.",
    ),
    (
        ".berth/daemon.lock, .berth/daemon.log",
        "The daemon's lock (one daemon per state dir) and its own log.",
    ),
    (
        ".berth/run/NAME.json",
        "What runs for each service: its keeper's and its main process's pids, port, outcome.",
    ),
    (
        ".berth/logs/NAME.log",
        "Each service's output; rotated as NAME.log.1 (newest) to NAME.log.K.",
    ),
    (
        ".berth/history.db",
        "The history (SQLite): samples, events, alerts; read by events, stats and alerts history.",
    ),
];

pub fn run(path: &[String]) -> Result<Exit, Failure> {
    let mut root = Cli::command();
    root.build();
    let page = if path.is_empty() {
        whole(&root)
    } else {
        one(find(&root, path)?)
    };
    let page = ascii(&page);
    let mut out = std::io::stdout().lock();
    out.write_all(page.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| Failure::failed(format!("cannot write the page: {e}")))?;
    Ok(Exit::Done)
}

/// The subcommand at `path` (`["ports", "who"]`), or a usage error naming the ones there are.
fn find<'a>(root: &'a clap::Command, path: &[String]) -> Result<&'a clap::Command, Failure> {
    let mut at = root;
    for word in path {
        let visible = || visible(at).filter(|c| c.get_name() != "help");
        at = match visible()
            .find(|c| c.get_name() == word || c.get_all_aliases().any(|a| a == word))
        {
            Some(sub) => sub,
            None => {
                let names: Vec<&str> = visible().map(|c| c.get_name()).collect();
                return Err(Failure::usage(format!(
                    "no command `{word}` in `{}`{}. Commands: {}",
                    at.get_bin_name().unwrap_or("berth"),
                    crate::config::suggest::hint(word, names.iter().copied()),
                    names.join(", ")
                )));
            }
        };
    }
    Ok(at)
}

/// The page of every command: berth's own sections, then each command as a subsection.
fn whole(root: &clap::Command) -> String {
    let man = Man::new(root.clone());
    let mut page = head(&man);
    page.push_str(&Roff::new().control("SH", ["COMMANDS"]).to_roff());
    for sub in visible(root) {
        command(&mut page, sub);
    }
    page.push_str(&Roff::new().control("SH", ["EXAMPLES"]).to_roff());
    page.push_str(&prose(
        &root
            .get_after_help()
            .map(|h| h.to_string())
            .unwrap_or_default(),
    ));
    page.push_str(&trailer());
    page
}

/// One command's page, with the same closing sections.
fn one(sub: &clap::Command) -> String {
    let name = sub
        .get_bin_name()
        .unwrap_or(sub.get_name())
        .replace(' ', "-");
    let source = format!("berth {}", env!("CARGO_PKG_VERSION"));
    let man = Man::new(without_common(sub).display_name(name)).source(source);
    let mut page = head(&man);
    if visible(sub).next().is_some() {
        page.push_str(&Roff::new().control("SH", ["COMMANDS"]).to_roff());
        for nested in visible(sub) {
            command(&mut page, nested);
        }
    }
    if let Some(after) = sub.get_after_help() {
        page.push_str(&Roff::new().control("SH", ["NOTES"]).to_roff());
        page.push_str(&prose(&after.to_string()));
    }
    page.push_str(&trailer());
    page
}

/// The title, NAME, SYNOPSIS, DESCRIPTION and OPTIONS, as clap_mangen writes them.
fn head(man: &Man) -> String {
    rendered(|w| {
        man.render_title(w)?;
        man.render_name_section(w)?;
        man.render_synopsis_section(w)?;
        man.render_description_section(w)?;
        man.render_options_section(w)
    })
}

/// A command as a subsection: its synopsis, what it does, its own options and its notes,
/// then its own subcommands.
fn command(page: &mut String, sub: &clap::Command) {
    let name = sub.get_bin_name().unwrap_or(sub.get_name());
    page.push_str(&Roff::new().control("SS", [name]).to_roff());
    let man = Man::new(without_common(sub));
    page.push_str(&body(rendered(|w| man.render_synopsis_section(w))));
    if let Some(about) = sub.get_long_about().or(sub.get_about()) {
        page.push_str(
            &Roff::new()
                .control("PP", [])
                .text([roman(about.to_string())])
                .to_roff(),
        );
    }
    if sub.get_arguments().any(|a| !a.is_hide_set()) {
        page.push_str(&Roff::new().control("PP", []).to_roff());
        page.push_str(&body(rendered(|w| man.render_options_section(w))));
    }
    if let Some(after) = sub.get_after_help() {
        page.push_str(&Roff::new().control("PP", []).to_roff());
        page.push_str(&prose(&after.to_string()));
    }
    for nested in visible(sub) {
        command(page, nested);
    }
}

fn visible(cmd: &clap::Command) -> impl Iterator<Item = &clap::Command> {
    cmd.get_subcommands().filter(|c| !c.is_hide_set())
}

/// The command without the flags every command has (the global ones, `--help`, `--version`):
/// they are listed once, under OPTIONS.
fn without_common(sub: &clap::Command) -> clap::Command {
    sub.clone().mut_args(|a| {
        let common = a.is_global_set() || ["help", "version"].contains(&a.get_id().as_str());
        if common { a.hide(true) } else { a }
    })
}

/// A rendered section without its `.SH` line, for use inside a subsection.
fn body(section: String) -> String {
    section
        .lines()
        .filter(|l| !l.starts_with(".SH "))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Help text as roff: indented lines (examples) kept as they are, the rest filled, a blank
/// line a new paragraph.
fn prose(text: &str) -> String {
    let mut roff = Roff::new();
    let mut verbatim = false;
    for line in text.lines() {
        let indented = line.starts_with("  ");
        if indented != verbatim {
            roff.control(if indented { "nf" } else { "fi" }, []);
            verbatim = indented;
        }
        if line.trim().is_empty() {
            roff.control("PP", []);
        } else if indented {
            roff.text([roman(line.trim_end())]);
        } else {
            roff.text([roman(line)]);
        }
    }
    if verbatim {
        roff.control("fi", []);
    }
    roff.to_roff()
}

/// EXIT STATUS, ENVIRONMENT, FILES and SEE ALSO.
fn trailer() -> String {
    let mut roff = Roff::new();
    for (title, items) in [
        ("EXIT STATUS", EXIT_STATUS),
        ("ENVIRONMENT", ENVIRONMENT),
        ("FILES", FILES),
    ] {
        roff.control("SH", [title]);
        for (term, text) in items {
            roff.control("TP", []);
            roff.text([bold(*term)]);
            roff.text([roman(*text)]);
        }
    }
    roff.control("SH", ["SEE ALSO"]);
    roff.text([roman(
        "berth --help, berth COMMAND --help, and the documentation in the docs directory of the source.",
    )]);
    roff.to_roff()
}

/// Non-ASCII characters as groff's `\[uXXXX]` escapes: groff reads its input as Latin-1
/// unless told otherwise, and help texts may hold `…` or `→`.
fn ascii(page: &str) -> String {
    let mut out = String::with_capacity(page.len());
    for c in page.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            out.push_str(&format!("\\[u{:04X}]", c as u32));
        }
    }
    out
}

fn rendered(f: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) -> String {
    let mut buf = Vec::new();
    f(&mut buf).expect("writing to memory does not fail");
    String::from_utf8(buf).expect("roff is text")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_ascii_is_escaped_for_groff() {
        assert_eq!(
            ascii("up, down …\n→ é"),
            "up, down \\[u2026]\n\\[u2192] \\[u00E9]"
        );
    }

    #[test]
    fn examples_stay_as_written_and_text_is_filled() {
        let roff = prose("Starts things.\n\nExamples:\n  berth up\n  berth up api\nAfter.");
        assert_eq!(
            roff,
            "Starts things.\n.PP\nExamples:\n.nf\n  berth up\n  berth up api\n.fi\nAfter.\n"
        );
    }

    #[test]
    fn a_command_is_found_by_its_path_or_alias_and_a_typo_is_named() {
        let mut root = Cli::command();
        root.build();
        let path = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            find(&root, &path(&["ports", "who"])).unwrap().get_name(),
            "who"
        );
        assert_eq!(find(&root, &path(&["ps"])).unwrap().get_name(), "status");
        let err = find(&root, &path(&["stauts"])).unwrap_err();
        assert_eq!(err.exit, Exit::Usage);
        assert!(err.message.contains("`status`"), "{}", err.message);
        // Hidden commands have no page.
        assert!(find(&root, &path(&["shim"])).is_err());
    }
}
