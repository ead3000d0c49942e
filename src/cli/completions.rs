//! `berth completions SHELL`: a script that makes the shell ask berth itself what to complete
//! (clap_complete's dynamic engine), so subcommands, flags and the config's service names are
//! always those of the binary and the config at hand.

use super::args::Cli;
use super::{Exit, Failure};
use clap::{CommandFactory, ValueEnum};
use clap_complete::engine::CompletionCandidate;
use clap_complete::env::{CompleteEnv, Shells};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The environment variable the scripts set when they call berth back to complete a line.
const VAR: &str = "COMPLETE";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Elvish,
    Powershell,
}

/// Answers a completion request and exits when the shell's script called (`COMPLETE=SHELL`);
/// otherwise returns at once. Must run before anything is written on stdout.
pub fn answer_if_asked() {
    CompleteEnv::with_factory(Cli::command).var(VAR).complete();
}

pub fn run(shell: Shell) -> Result<Exit, Failure> {
    let name = shell
        .to_possible_value()
        .expect("no variant is skipped")
        .get_name()
        .to_string();
    let shells = Shells::builtins();
    let completer = shells
        .completer(&name)
        .expect("every shell offered is a builtin");
    // The script calls this very binary back, wherever it is, even off PATH.
    let berth = std::env::current_exe()
        .map_err(|e| Failure::failed(format!("cannot find the berth binary: {e}")))?;
    let mut out = std::io::stdout().lock();
    completer
        .write_registration(VAR, "berth", "berth", &berth.to_string_lossy(), &mut out)
        .map_err(|e| Failure::failed(format!("cannot write the script: {e}")))?;
    Ok(Exit::Done)
}

/// The service names of the config the command line being completed points at (`-f`,
/// `BERTH_FILE`, or the nearest berth.yaml), for the `SERVICES` arguments. Nothing when there
/// is no readable config: completion must never fail loudly.
pub fn service_names() -> Vec<CompletionCandidate> {
    let Ok(cwd) = std::env::current_dir() else {
        return Vec::new();
    };
    let explicit = file_flag(std::env::args_os().collect()).or_else(|| {
        std::env::var_os("BERTH_FILE")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    let Ok(path) = crate::config::discover::find(explicit.as_deref(), &cwd) else {
        return Vec::new();
    };
    names_in_file(&path)
        .into_iter()
        .map(CompletionCandidate::new)
        .collect()
}

/// Only the names: the config's files merged into one tree (what it includes and its
/// override, as every command reads them), not a full load (no env files, interpolation or
/// checks), which keeps a completion of a 200-service config within a few milliseconds.
fn names_in_file(path: &Path) -> Vec<String> {
    crate::config::read(path)
        .map(|tree| names_in(tree.root.as_ref()))
        .unwrap_or_default()
}

/// The keys of the top-level `services` mapping, in merge order.
fn names_in(root: Option<&crate::config::yaml::Node>) -> Vec<String> {
    use crate::config::yaml::Kind;
    let Some(root) = root else {
        return Vec::new();
    };
    match root.get("services").map(|s| &s.kind) {
        Some(Kind::Map(entries)) => entries
            .iter()
            .filter_map(|(k, _)| k.scalar().map(String::from))
            .collect(),
        _ => Vec::new(),
    }
}

/// The config named on the line being completed (`-f FILE`, `--file FILE`, `--file=FILE`),
/// read as berth reads it: after `logs` and `events`, `-f` means `--follow`. `args` are the
/// completer's own: berth's, then `--`, then the line's words.
fn file_flag(args: Vec<OsString>) -> Option<PathBuf> {
    let line: Vec<OsString> = args.into_iter().skip_while(|a| a != "--").skip(1).collect();
    let line = super::args::rewrite_logs_follow(line);
    let mut words = line.iter().map(|w| w.to_string_lossy());
    let mut found = None;
    while let Some(word) = words.next() {
        if word == "-f" || word == "--file" {
            found = words.next().map(|w| PathBuf::from(w.as_ref()));
        } else if let Some(file) = word.strip_prefix("--file=") {
            found = Some(PathBuf::from(file));
        }
    }
    found.filter(|f| !f.as_os_str().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<OsString> {
        line.split(' ').map(OsString::from).collect()
    }

    #[test]
    fn the_config_on_the_line_is_the_one_completed_from() {
        let file = |line| file_flag(args(line)).map(|p| p.display().to_string());
        assert_eq!(
            file("/bin/berth -- berth -f a.yaml up "),
            Some("a.yaml".into())
        );
        assert_eq!(
            file("/bin/berth -- berth up --file=b.yaml "),
            Some("b.yaml".into())
        );
        assert_eq!(
            file("/bin/berth -- berth up --file c.yaml a"),
            Some("c.yaml".into())
        );
        // After `logs`, `-f` is `--follow`, and the name after it a service.
        assert_eq!(file("/bin/berth -- berth logs -f api"), None);
        assert_eq!(
            file("/bin/berth -- berth -f d.yaml logs -f "),
            Some("d.yaml".into())
        );
        assert_eq!(file("/bin/berth -- berth up -f"), None);
        // berth's own arguments before `--` are not the line's.
        assert_eq!(file("/bin/berth -f x -- berth up"), None);
    }

    fn names_in(text: &str) -> Vec<String> {
        super::names_in(crate::config::yaml::parse(text).0.as_ref())
    }

    #[test]
    fn names_are_the_keys_of_services_in_file_order() {
        let yaml = "project: p\nx-base: &base { command: ./run }\nservices:\n  web: *base\n  \"db\":\n    command: pg\n  worker: { <<: *base }\nprofiles:\n  dev: { services: { web: {} } }\n";
        assert_eq!(names_in(yaml), ["web", "db", "worker"]);
        assert_eq!(
            names_in("services: {a: {command: x}, b: {command: y}}"),
            ["a", "b"]
        );
        assert!(names_in("services: [a, b]").is_empty());
        assert!(names_in(": : :\n\t[").is_empty());
    }
}
