//! `berth up`: start the daemon if needed, bring the services up, and wait until they are
//! ready, showing each one as it gets there; on failure, once the daemon has decided what
//! the failure kept back, the report of `failed_start` (each root cause once, with its log).

use super::args::Global;
use super::failed_start::{self, FailedStart};
use super::fit;
use super::progress::Progress;
use super::{Exit, Failure, config_path, options, report};
use crate::api::client::{ClientError, call};
use crate::api::types::{ServiceView, StatusResponse, UpRequest, UpResponse};
use crate::config;
use crate::daemon::launch::log_path;
use crate::daemon::paths::Paths;
use crate::daemon::supervisor::ServiceState;
use crate::logs::read::Record;
use crate::logs::time::{now_ms, rfc3339_ms};
use crate::stack::Stack;
use crate::stack::graph::Graph;
use crate::style::Style;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// How long to wait before reading progress again, `elapsed` into the start: 1 ms at first,
/// then a twentieth of the time so far, at most 10 ms. A quick stack is seen ready within a
/// millisecond or two; a slow one is not asked a thousand times a second.
fn poll_interval(elapsed: Duration) -> Duration {
    (Duration::from_millis(1) + elapsed / 20).min(Duration::from_millis(10))
}
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// How `up` reports: progress lines, or nothing at all on success (`-q`, `ensure`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Voice {
    Progress,
    Silent,
}

impl Voice {
    /// Progress unless `-q`.
    pub fn of(global: &Global) -> Voice {
        if global.quiet {
            Voice::Silent
        } else {
            Voice::Progress
        }
    }
}

pub fn run(
    global: &Global,
    services: &[String],
    no_wait: bool,
    timeout: Option<Duration>,
) -> Result<Exit, Failure> {
    let stack = load_with_services(global, services)?;
    let voice = Voice::of(global);
    let retry = command_line("up", services);
    bring_up(&stack, services, no_wait, timeout, voice, &retry)
}

/// `berth COMMAND SERVICES…`, as a report's next step says it.
pub fn command_line(command: &str, services: &[String]) -> String {
    std::iter::once(format!("berth {command}"))
        .chain(services.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Asks the daemon (started if needed) to bring `services` up, and waits unless `no_wait`.
/// `retry` is the command a failure report tells the user to run again once it is fixed.
pub fn bring_up(
    stack: &Stack,
    services: &[String],
    no_wait: bool,
    timeout: Option<Duration>,
    voice: Voice,
    retry: &str,
) -> Result<Exit, Failure> {
    let paths = Paths::new(&stack.state_dir);
    super::daemon::ensure(&paths)?;
    let started = Instant::now();
    let request = UpRequest {
        stack: stack.clone(),
        services: services.to_vec(),
        env: std::env::vars().collect(),
    };
    let ask = || {
        call(
            &paths.socket,
            "POST",
            "/v1/up",
            Some(&request),
            CALL_TIMEOUT,
        )
    };
    let response: UpResponse = match ask() {
        // A daemon killed a moment ago can still take a connection while its last threads
        // go, so `ensure` saw it serve: `up` is idempotent, so start one and ask once more.
        Err(ClientError::NotRunning) => {
            super::daemon::ensure(&paths)?;
            ask()
        }
        answer => answer,
    }
    .map_err(super::daemon_failure)?;
    if voice != Voice::Silent {
        let style = Style::stderr();
        for note in &response.notes {
            eprintln!("{} {note}", style.yellow("warning:"));
        }
    }
    if no_wait {
        if voice == Voice::Progress {
            eprintln!("starting {}", response.services.join(", "));
        }
        return Ok(Exit::Done);
    }
    let wanted = &response.services;
    wait(voice, stack, &paths, wanted, retry, started, timeout)
}

/// Loads the config and checks that every named service is in it.
pub fn load_with_services(global: &Global, services: &[String]) -> Result<Stack, Failure> {
    let path = config_path(global)?;
    let stack = config::load(&path, &options(global)).map_err(report)?;
    check_services(&stack, services)?;
    Ok(stack)
}

/// A usage error naming the first of `services` the config does not have, with a suggestion.
pub fn check_services(stack: &Stack, services: &[String]) -> Result<(), Failure> {
    for name in services {
        if !super::replicas::nameable(stack, name) {
            let names = stack.nameable();
            return Err(Failure::usage(format!(
                "no service `{name}` in {}{}; it has: {}",
                config::source::display_path(&stack.file),
                config::suggest::hint(name, names.iter().copied()),
                names.join(", ")
            )));
        }
    }
    Ok(())
}

/// Polls the daemon until every wanted service is ready (or done), one fails (and what it
/// keeps back is known: then the report, with `retry` to run next), or time is up.
pub(super) fn wait(
    voice: Voice,
    stack: &Stack,
    paths: &Paths,
    wanted: &[String],
    retry: &str,
    started: Instant,
    timeout: Option<Duration>,
) -> Result<Exit, Failure> {
    let style = Style::stderr();
    let live = voice == Voice::Progress
        && std::io::stderr().is_terminal()
        && std::env::var("TERM").is_ok_and(|t| !t.is_empty() && t != "dumb");
    let mut progress = Progress::new(wanted, live, style);
    let mut last_frame = String::new();
    let graph = Graph::new(&stack.services);
    loop {
        let status: StatusResponse = call::<(), _>(
            &paths.socket,
            "GET",
            "/v1/status?usage=false",
            None,
            CALL_TIMEOUT,
        )
        .map_err(super::daemon_failure)?;
        let views: Vec<&ServiceView> = status
            .services
            .iter()
            .filter(|s| wanted.contains(&s.name))
            .collect();
        // Asked each time: the terminal may have been resized.
        let width = fit::stderr_width();
        let frame = progress.show(&views, started.elapsed().as_millis(), width);
        // The live block only changes on a new stage or the tenth-second tick.
        if voice == Voice::Progress && frame != last_frame {
            eprint!("{frame}");
            last_frame = frame;
        }
        let failed = views.iter().any(|v| v.state == ServiceState::Failed);
        if failed && settled(&graph, &views) {
            let report = Report {
                retry,
                // Progress lines showed the services kept back; silent, the report does.
                kept_back: voice == Voice::Silent,
                since: Some(now_ms().saturating_sub(started.elapsed().as_millis() as u64)),
            };
            eprint!("{}", report.render(stack, &views, width, style));
            return Err(Failure::failed(String::new()));
        }
        let ready =
            |v: &&&ServiceView| matches!(v.state, ServiceState::Running | ServiceState::Exited);
        if views.len() == wanted.len() && views.iter().all(|v| ready(&v)) {
            return Ok(Exit::Done);
        }
        if timeout.is_some_and(|t| started.elapsed() >= t) {
            let pending: Vec<&str> = views
                .iter()
                .filter(|v| !ready(v))
                .map(|v| v.name.as_str())
                .collect();
            return Err(Failure::failed(format!(
                "not ready within the timeout: {}",
                pending.join(", ")
            )));
        }
        if super::interrupt::requested() {
            return Err(Failure::failed("interrupted while starting"));
        }
        std::thread::sleep(poll_interval(started.elapsed()));
    }
}

/// Whether what a failure keeps back is all known: no service depending on a failed one
/// still waits at its gate. The daemon decides each within a gate poll, so the report
/// comes a few milliseconds after the failure, with every service it kept back.
fn settled(graph: &Graph, views: &[&ServiceView]) -> bool {
    let failed: Vec<&str> = views
        .iter()
        .filter(|v| v.state == ServiceState::Failed)
        .map(|v| v.name.as_str())
        .collect();
    let downstream = graph.with_dependents(&failed);
    !views
        .iter()
        .any(|v| v.state == ServiceState::Waiting && downstream.contains(&v.name.as_str()))
}

/// How a failed start is reported (see `failed_start`).
pub struct Report<'a> {
    /// The command to run again once the cause is fixed.
    pub retry: &'a str,
    /// Whether the services kept back get their lines in the report.
    pub kept_back: bool,
    /// When the start began (ms since the epoch): a root's log lines from before it are an
    /// earlier start's, unless it wrote none since.
    pub since: Option<u64>,
}

impl Report<'_> {
    /// The report, with each root's log read.
    pub fn render(
        &self,
        stack: &Stack,
        views: &[&ServiceView],
        width: Option<usize>,
        style: Style,
    ) -> String {
        let since = self.since.map(rfc3339_ms);
        let logs: BTreeMap<String, Vec<String>> = failed_start::roots(views)
            .into_iter()
            .map(|root| {
                let log = log_path(stack, &root);
                let read = |keep: &dyn Fn(&Record) -> bool| {
                    crate::logs::read::tail(&log, Some(failed_start::LOG_READ), keep)
                };
                let mut tail = match &since {
                    Some(since) => read(&|r| r.time >= *since),
                    None => Vec::new(),
                };
                if tail.is_empty() {
                    tail = read(&|_| true);
                }
                (root, tail.into_iter().map(|r| r.text).collect())
            })
            .collect();
        let report = FailedStart {
            views,
            logs: &logs,
            retry: self.retry,
            kept_back: self.kept_back,
        };
        failed_start::render(&report, width, style)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_is_reported_once_its_dependents_are_decided() {
        let graph = Graph::from_deps(vec![
            ("db", vec![]),
            ("api", vec!["db"]),
            ("web", vec!["api"]),
            ("slow", vec![]),
            ("other", vec!["slow"]),
        ]);
        let view = |name: &str, state: ServiceState| -> ServiceView {
            let mut view: ServiceView = serde_json::from_value(serde_json::json!({
                "name": name, "state": state, "health": "unknown", "pid": null,
                "port": null, "uptime_s": null, "restarts": 0, "cpu_percent": null,
                "rss_bytes": null, "exit_code": null,
            }))
            .unwrap();
            view.blocked_by = (state == ServiceState::Failed && name != "db").then(|| "db".into());
            view
        };
        use ServiceState::{Failed, Starting, Waiting};
        let table = [
            // api is still at its gate: the daemon has not decided it yet.
            ([Failed, Waiting, Waiting, Starting, Waiting], false),
            ([Failed, Failed, Waiting, Starting, Waiting], false),
            // `other` waits for `slow`, which has nothing to do with the failure.
            ([Failed, Failed, Failed, Starting, Waiting], true),
            ([Waiting, Waiting, Waiting, Starting, Waiting], true),
        ];
        for (states, settled_now) in table {
            let views: Vec<ServiceView> = ["db", "api", "web", "slow", "other"]
                .iter()
                .zip(states)
                .map(|(name, state)| view(name, state))
                .collect();
            let views: Vec<&ServiceView> = views.iter().collect();
            assert_eq!(settled(&graph, &views), settled_now, "{states:?}");
        }
    }

    #[test]
    fn progress_is_read_often_at_first_and_less_as_the_start_drags_on() {
        let ms = Duration::from_millis;
        assert_eq!(poll_interval(ms(0)), ms(1));
        assert_eq!(poll_interval(ms(100)), ms(6));
        assert_eq!(poll_interval(ms(180)), ms(10));
        assert_eq!(poll_interval(Duration::from_secs(60)), ms(10));
    }
}
