//! `berth up`: start the daemon if needed, bring the services up, and wait until they are
//! ready, showing each one as it gets there; on failure, the reason and the last log lines.

use super::args::Global;
use super::progress::Progress;
use super::{Exit, Failure, config_path, options, report};
use crate::api::client::call;
use crate::api::types::{ServiceView, StatusResponse, UpRequest, UpResponse};
use crate::config;
use crate::daemon::launch::log_path;
use crate::daemon::paths::Paths;
use crate::daemon::supervisor::ServiceState;
use crate::stack::Stack;
use crate::style::Style;
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
    bring_up(&stack, services, no_wait, timeout, voice)
}

/// Asks the daemon (started if needed) to bring `services` up, and waits unless `no_wait`.
pub fn bring_up(
    stack: &Stack,
    services: &[String],
    no_wait: bool,
    timeout: Option<Duration>,
    voice: Voice,
) -> Result<Exit, Failure> {
    let paths = Paths::new(&stack.state_dir);
    super::daemon::ensure(&paths)?;
    let started = Instant::now();
    let request = UpRequest {
        stack: stack.clone(),
        services: services.to_vec(),
        env: std::env::vars().collect(),
    };
    let response: UpResponse = call(
        &paths.socket,
        "POST",
        "/v1/up",
        Some(&request),
        CALL_TIMEOUT,
    )
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
    wait(voice, stack, &paths, &response.services, started, timeout)
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
        if stack.service(name).is_none() {
            let names: Vec<&str> = stack.services.iter().map(|s| s.name.as_str()).collect();
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

/// Polls the daemon until every wanted service is ready (or done), one fails, or time is up.
fn wait(
    voice: Voice,
    stack: &Stack,
    paths: &Paths,
    wanted: &[String],
    started: Instant,
    timeout: Option<Duration>,
) -> Result<Exit, Failure> {
    let style = Style::stderr();
    let live = voice == Voice::Progress
        && std::io::stderr().is_terminal()
        && std::env::var("TERM").is_ok_and(|t| !t.is_empty() && t != "dumb");
    let mut progress = Progress::new(wanted, live, style);
    let mut last_frame = String::new();
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
        let frame = progress.show(&views, started.elapsed().as_millis());
        // The live block only changes on a new stage or the tenth-second tick.
        if voice == Voice::Progress && frame != last_frame {
            eprint!("{frame}");
            last_frame = frame;
        }
        if let Some(failed) = views.iter().find(|v| v.state == ServiceState::Failed) {
            if !(live && voice == Voice::Progress) {
                let reason = failed.reason.as_deref().unwrap_or("failed");
                eprintln!("{} {} failed: {reason}", style.red("✗"), failed.name);
            }
            print_log_tail(stack, &failed.name);
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

/// The last 20 lines a service wrote.
pub fn log_tail(stack: &Stack, service: &str) -> Vec<crate::logs::read::Record> {
    crate::logs::read::tail(&log_path(stack, service), Some(20), &|_| true)
}

/// The last lines a failed service wrote, so the reason is on screen without `berth logs`.
fn print_log_tail(stack: &Stack, service: &str) {
    let tail = log_tail(stack, service);
    if tail.is_empty() {
        return;
    }
    eprintln!("  last lines of its log:");
    for record in tail {
        eprintln!("  | {}", record.text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_is_read_often_at_first_and_less_as_the_start_drags_on() {
        let ms = Duration::from_millis;
        assert_eq!(poll_interval(ms(0)), ms(1));
        assert_eq!(poll_interval(ms(100)), ms(6));
        assert_eq!(poll_interval(ms(180)), ms(10));
        assert_eq!(poll_interval(Duration::from_secs(60)), ms(10));
    }
}
