//! `berth up --foreground`: bring the stack up, then stay attached, printing every service's
//! output prefixed with its name in its own colour, until Ctrl-C stops what `up` started
//! (gracefully; a second Ctrl-C kills it at once) or nothing of it is left running.
//! Restarts on file changes (`watch:`) are said as they happen, naming the changed file.

use super::args::Global;
use super::down::{say_stopped, stop_directly, take_down};
use super::log_lines::LogLines;
use super::up::{Voice, bring_up, command_line, load_with_services};
use super::{Exit, Failure, interrupt};
use crate::api::client::{ClientError, call};
use crate::api::types::StatusResponse;
use crate::daemon::launch::log_path;
use crate::daemon::paths::Paths;
use crate::daemon::supervisor::ServiceState;
use crate::history::query::EventFilter;
use crate::logs::read::Follower;
use crate::stack::Stack;
use crate::style::Style;
use std::io::Write;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often new log lines are looked for.
const POLL: Duration = Duration::from_millis(20);
/// How often the daemon is asked whether anything is still running.
const STATUS_EVERY: Duration = Duration::from_millis(500);

pub fn run(
    global: &Global,
    services: &[String],
    timeout: Option<Duration>,
) -> Result<Exit, Failure> {
    let stack = load_with_services(global, services)?;
    interrupt::install().map_err(|e| Failure::failed(format!("cannot catch Ctrl-C: {e}")))?;
    let wanted = stack.wanted(services);
    let mut attached = Attached {
        lines: LogLines::new(&wanted, false, Style::stdout()),
        // Opened before the start, so the services' first lines are shown too.
        followers: wanted
            .iter()
            .map(|n| (n.clone(), Follower::new(&log_path(&stack, n))))
            .collect(),
    };
    let mut watch_notes = WatchNotes::from_now(&stack, &wanted);
    let voice = Voice::of(global);
    let retry = command_line("up -F", services);
    let mut failed = match bring_up(&stack, services, false, timeout, voice, &retry) {
        Ok(_) => false,
        Err(failure) => {
            failure.print();
            true
        }
    };
    if !global.quiet && !interrupt::requested() {
        eprintln!("attached: Ctrl-C stops the stack, a second Ctrl-C kills it");
    }
    // With names, what they brought up (and its dependents); without, everything and the
    // daemon, as `down` does.
    let to_stop: Vec<String> = if services.is_empty() {
        Vec::new()
    } else {
        wanted.clone()
    };
    let mut stopping: Option<JoinHandle<Result<Vec<String>, Failure>>> = None;
    let mut forced = false;
    let mut next_status = Instant::now() + STATUS_EVERY;
    loop {
        attached.print_new_lines();
        let interrupts = interrupt::count();
        if interrupts >= 1 && stopping.is_none() {
            eprintln!("stopping (Ctrl-C again to kill at once)");
            let (stack, names) = (stack.clone(), to_stop.clone());
            stopping = Some(std::thread::spawn(move || take_down(&stack, &names, None)));
        }
        if interrupts >= 2 && !forced {
            forced = true;
            eprintln!("killing");
            let (stack, names) = (stack.clone(), wanted.clone());
            std::thread::spawn(move || stop_directly(&stack, &names, Some(Duration::ZERO)));
        }
        if stopping.as_ref().is_some_and(JoinHandle::is_finished) {
            let result = stopping.take().expect("checked").join();
            attached.print_new_lines();
            let stopped = result.map_err(|_| Failure::failed("stopping the stack failed"))??;
            say_stopped(&stopped);
            return finish(failed);
        }
        if stopping.is_none() && Instant::now() >= next_status {
            next_status = Instant::now() + STATUS_EVERY;
            attached.print_new_lines();
            watch_notes.print_new(&stack);
            match still_running(&stack, &wanted) {
                Ok(Some(any_failed)) => {
                    attached.print_new_lines();
                    eprintln!("nothing is left running");
                    failed |= any_failed;
                    return finish(failed);
                }
                Ok(None) => {}
                Err(message) => {
                    attached.print_new_lines();
                    return Err(Failure::failed(message));
                }
            }
        }
        std::thread::sleep(POLL);
    }
}

struct Attached {
    lines: LogLines,
    followers: Vec<(String, Follower)>,
}

impl Attached {
    fn print_new_lines(&mut self) {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        for (name, follower) in &mut self.followers {
            for record in follower.poll() {
                // A reader that went away (`| head`) must not stop the stack from stopping.
                let _ = writeln!(out, "{}", self.lines.format(name, &record));
            }
        }
        let _ = out.flush();
    }
}

/// The `watch` events of the attached services, from the event log, each said once.
struct WatchNotes {
    filter: EventFilter,
    style: Style,
}

impl WatchNotes {
    /// Only what happens from now on.
    fn from_now(stack: &Stack, wanted: &[String]) -> WatchNotes {
        let mut filter = EventFilter {
            services: wanted.to_vec(),
            kinds: vec!["watch".into()],
            last: Some(1),
            ..EventFilter::default()
        };
        let newest = super::events::read(stack, &filter)
            .ok()
            .and_then(|e| e.last().map(|e| e.id));
        filter.after_id = Some(newest.unwrap_or(0));
        filter.last = None;
        WatchNotes {
            filter,
            style: Style::stderr(),
        }
    }

    fn print_new(&mut self, stack: &Stack) {
        // The log unreadable for a moment (being written): the notes come next time.
        let Ok(events) = super::events::read(stack, &self.filter) else {
            return;
        };
        for e in events {
            self.filter.after_id = Some(e.id);
            let who = e.record.service.as_deref().unwrap_or("berth");
            eprintln!(
                "{} {}",
                self.style.yellow(&format!("{who}:")),
                e.record.message
            );
        }
    }
}

/// `None` while some wanted service still runs (or is starting); once none does,
/// `Some(whether one failed)`. An error when the daemon is gone.
fn still_running(stack: &Stack, wanted: &[String]) -> Result<Option<bool>, String> {
    let paths = Paths::new(&stack.state_dir);
    let status: StatusResponse =
        match call::<(), _>(&paths.socket, "GET", "/v1/status", None, STATUS_EVERY * 4) {
            Ok(status) => status,
            Err(ClientError::NotRunning) => {
                return Err("the daemon stopped; the services keep running".into());
            }
            // A busy daemon: ask again next time.
            Err(_) => return Ok(None),
        };
    let views = status.services.iter().filter(|v| wanted.contains(&v.name));
    let mut any_failed = false;
    for view in views {
        match view.state {
            ServiceState::Failed => any_failed = true,
            ServiceState::Stopped | ServiceState::Exited => {}
            _ => return Ok(None),
        }
    }
    Ok(Some(any_failed))
}

fn finish(failed: bool) -> Result<Exit, Failure> {
    if failed {
        Err(Failure::failed(String::new()))
    } else {
        Ok(Exit::Done)
    }
}
