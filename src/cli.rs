//! The `berth` command line: parse arguments, run the subcommand, map outcomes to the exit
//! codes of SPEC.md (0 done, 1 failed, 2 bad usage or config, 3 not all healthy).

pub mod alerts;
pub mod args;
pub mod check;
pub mod completions;
pub mod config;
pub mod daemon;
pub mod dashboard;
pub mod doctor;
pub mod down;
pub mod ensure;
pub mod events;
pub mod export;
pub mod failed_start;
pub mod fit;
pub mod fold;
pub mod foreground;
pub mod import;
pub mod interrupt;
pub mod log_lines;
pub mod logs;
pub mod man;
pub mod ports;
pub mod progress;
pub mod replicas;
pub mod restart;
pub mod scale;
pub mod schema;
pub mod shim;
pub mod stats;
pub mod status;
pub mod table;
pub mod top;
pub mod up;

use crate::config::diagnostic::Diagnostic;
use crate::config::{LoadError, Options, discover};
use crate::style::Style;
use args::{Cli, Command, Global};
use clap::Parser;
use std::path::PathBuf;

/// Exit codes scripts rely on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Done = 0,
    Failed = 1,
    Usage = 2,
    NotHealthy = 3,
}

/// A command that did not succeed: what to tell the user and how to exit.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
}

impl Failure {
    /// Exit 1: the command could not do its work.
    pub fn failed(message: impl Into<String>) -> Failure {
        Failure {
            exit: Exit::Failed,
            message: message.into(),
        }
    }

    /// Says what went wrong on stderr (nothing when it was said already).
    pub fn print(&self) {
        if !self.message.is_empty() {
            eprintln!("{} {}", Style::stderr().red("error:"), self.message);
        }
    }

    pub fn usage(message: impl Into<String>) -> Failure {
        Failure {
            exit: Exit::Usage,
            message: message.into(),
        }
    }
}

/// Runs berth with the process's arguments; returns the exit code.
pub fn main() -> i32 {
    // A completion script asking what to complete: answered before anything else is written.
    completions::answer_if_asked();
    let cli = match Cli::try_parse_from(args::rewrite_logs_follow(std::env::args_os().collect())) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                Exit::Usage as i32
            } else {
                Exit::Done as i32
            };
        }
    };
    let outcome = match &cli.command {
        Command::Check => check::run(&cli.global),
        Command::Config => config::run(&cli.global),
        Command::Schema => schema::run(),
        Command::Shim { forker } => shim::run(*forker),
        Command::Up {
            services,
            foreground: true,
            timeout,
            ..
        } => foreground::run(&cli.global, services, *timeout),
        Command::Up {
            services,
            no_wait,
            timeout,
            ..
        } => up::run(&cli.global, services, *no_wait, *timeout),
        Command::Down {
            services,
            timeout,
            force,
        } => down::run(&cli.global, services, *timeout, *force),
        Command::Status { services } => status::run(&cli.global, services),
        Command::Doctor { fix } => doctor::run(&cli.global, *fix),
        Command::Logs {
            services,
            lines,
            follow,
            since,
            timestamps,
        } => logs::run(
            &cli.global,
            services,
            &logs::Options {
                lines: *lines,
                follow: *follow,
                since: *since,
                timestamps: *timestamps,
            },
        ),
        Command::Ensure { services, timeout } => ensure::run(&cli.global, services, *timeout),
        Command::Restart { services, timeout } => restart::run(&cli.global, services, *timeout),
        Command::Scale {
            counts,
            no_wait,
            timeout,
        } => scale::run(&cli.global, counts, *no_wait, *timeout),
        Command::Daemon { action, announce } => {
            daemon::run(&cli.global, action.is_some(), *announce)
        }
        Command::Ports { action, all } => ports::run(&cli.global, action.as_ref(), *all),
        Command::Events {
            services,
            lines,
            since,
            kinds,
            follow,
        } => events::run(
            &cli.global,
            services,
            &events::Options {
                lines: *lines,
                since: *since,
                kinds: kinds.clone(),
                follow: *follow,
            },
        ),
        Command::Stats { services, since } => stats::run(&cli.global, services, *since),
        Command::Alerts { action } => alerts::run(&cli.global, action.as_ref()),
        Command::Top { interval } => top::run(&cli.global, *interval),
        Command::Dashboard { open } => dashboard::run(&cli.global, *open),
        Command::Completions { shell } => completions::run(*shell),
        Command::Man { command } => man::run(command),
        Command::Mcp => crate::mcp::run(&cli.global),
        Command::Import {
            file,
            from,
            output,
            force,
        } => import::run(&cli.global, file, *from, output.as_deref(), *force),
        Command::Export {
            target,
            output,
            skip_missing,
            kube_version,
        } => export::run(
            &cli.global,
            *target,
            output.as_deref(),
            &crate::export::Options {
                skip_missing: *skip_missing,
                kube_version: kube_version.clone(),
            },
        ),
    };
    code(outcome)
}

/// The exit code of a command's outcome, its failure printed.
pub fn code(outcome: Result<Exit, Failure>) -> i32 {
    match outcome {
        Ok(exit) => exit as i32,
        Err(failure) => {
            failure.print();
            failure.exit as i32
        }
    }
}

/// The config file the global flags point at.
pub fn config_path(global: &Global) -> Result<PathBuf, Failure> {
    let cwd = std::env::current_dir()
        .map_err(|e| Failure::usage(format!("cannot read the current directory: {e}")))?;
    discover::find(global.file.as_deref(), &cwd).map_err(Failure::usage)
}

/// Load options from the global flags and the environment.
pub fn options(global: &Global) -> Options {
    let state_dir = std::env::var_os("BERTH_STATE_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .map(|p| std::env::current_dir().map(|cwd| cwd.join(&p)).unwrap_or(p));
    Options::from_env(global.profile.clone(), state_dir)
}

/// Prints every diagnostic of an invalid config and says how many there were.
pub fn report(error: LoadError) -> Failure {
    match error {
        LoadError::Read { .. } => Failure::usage(error.to_string()),
        LoadError::Invalid { file, diagnostics } => {
            let style = Style::stderr();
            for d in &diagnostics {
                eprint!("{}", d.render(style));
            }
            let n = diagnostics.len();
            Failure::usage(format!(
                "{file}: {n} problem{} found",
                if n == 1 { "" } else { "s" }
            ))
        }
    }
}

/// A daemon that could not be reached or refused a request.
pub fn daemon_failure(error: crate::api::client::ClientError) -> Failure {
    Failure::failed(error.to_string())
}

/// The problems of a config that could not be read at all, as one position-less diagnostic.
pub fn unreadable(file: &str, message: &str) -> Diagnostic {
    Diagnostic {
        file: file.to_string(),
        line: 0,
        column: 0,
        message: message.to_string(),
        source_line: String::new(),
        len: 0,
    }
}
