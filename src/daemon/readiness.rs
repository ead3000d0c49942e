//! Waiting for a started service to be ready, polled every few milliseconds whatever
//! `health.interval` says (that paces liveness). Ready means: its health probe passes or a
//! `ready_log` line matches, when it has either; otherwise its process tree listens on its
//! port, when it has one; otherwise it has started.

use super::probe;
use crate::ports::owners::listening_on;
use crate::ports::socket_table::recent_tcp_listeners;
use crate::process::{ProcessId, table};
use crate::shim::ShimSpec;
use crate::stack::Service;
use crate::state::run_file::{Outcome, RunFile};
use std::io::{Read, Seek, SeekFrom};
use std::time::{Duration, Instant};

/// How often readiness is checked.
pub const POLL: Duration = Duration::from_millis(2);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// The command could not be executed.
    FailedToStart(String),
    /// It ended before it was ready.
    Exited(Outcome),
    /// Not ready by `start_timeout`; the last reason it was not.
    TimedOut(String),
    /// A stop was requested while waiting.
    Cancelled,
}

/// Waits until `service`, launched from `spec` by shim `shim_pid`, is ready. `log_offset` is
/// the log's size before the launch, so only this run's lines count for `ready_log`.
/// `started` hears of the main process as soon as the shim records it (and again if it
/// changes: a daemonizing command); `cancelled` is asked between checks.
pub fn wait(
    service: &Service,
    spec: &ShimSpec,
    shim_pid: u32,
    log_offset: u64,
    port_of: &dyn Fn(&str) -> Option<u16>,
    started: &dyn Fn(ProcessId),
    cancelled: &dyn Fn() -> bool,
) -> Readiness {
    let deadline = Instant::now() + service.start_timeout;
    let mut log = LogScan::new(spec, log_offset);
    let mut run_file = RunFileWatch::new(&spec.run_file);
    let mut why = "it has not started".to_string();
    let mut told = None;
    loop {
        // Only what our own shim wrote counts (never a record another instance left).
        let record = run_file.read().filter(|r| r.shim.pid == shim_pid);
        let notified = record.as_ref().is_some_and(|r| r.ready);
        let recorded = record.as_ref().and_then(|r| r.main);
        if let Some(main) = recorded
            && recorded != told
        {
            told = recorded;
            started(main);
        }
        let main = recorded.map(|m| m.pid);
        match record.map(|r| r.outcome) {
            Some(Outcome::FailedToStart { error }) => return Readiness::FailedToStart(error),
            Some(outcome @ Outcome::Exited { .. }) => return Readiness::Exited(outcome),
            Some(Outcome::Running | Outcome::Stopping) => {
                let started = Started { notified, main };
                match check(service, spec, shim_pid, started, &mut log, port_of) {
                    Ok(()) => return Readiness::Ready,
                    Err(reason) => why = reason,
                }
            }
            None => {}
        }
        if cancelled() {
            return Readiness::Cancelled;
        }
        if Instant::now() >= deadline {
            return Readiness::TimedOut(why);
        }
        std::thread::sleep(POLL);
    }
}

/// What the shim has recorded of this run so far.
#[derive(Clone, Copy)]
struct Started {
    /// `READY=1` arrived through `NOTIFY_SOCKET`.
    notified: bool,
    /// The main process as recorded.
    main: Option<u32>,
}

fn check(
    service: &Service,
    spec: &ShimSpec,
    shim_pid: u32,
    Started { notified, main }: Started,
    log: &mut LogScan,
    port_of: &dyn Fn(&str) -> Option<u16>,
) -> Result<(), String> {
    // A daemonizing command has started once the shim follows the pid from its pid file: the
    // port may be open before the launcher exits, and the main process must be the daemon.
    if let Some(pidfile) = &spec.pidfile {
        let written = std::fs::read_to_string(pidfile)
            .ok()
            .and_then(|t| t.trim().parse::<u32>().ok());
        if written.is_none() || written != main {
            return Err(format!(
                "its command has not daemonized yet (no live pid in {} followed)",
                pidfile.display()
            ));
        }
    }
    if let Some(pattern) = &service.ready_log
        && log.matches(pattern)
    {
        return Ok(());
    }
    if service.notify && notified {
        return Ok(());
    }
    if let Some(health) = &service.health {
        return probe::check(health, port_of, &spec.env, &spec.cwd);
    }
    if service.notify {
        return Err("it has not sent READY=1 to NOTIFY_SOCKET yet".to_string());
    }
    if service.ready_log.is_some() {
        return Err(format!(
            "no output line matched `{}` yet",
            service.ready_log.as_ref().map(|p| p.as_str()).unwrap_or("")
        ));
    }
    let Some(port) = spec.port else {
        return Ok(());
    };
    // Most services listen in their main process: its fds are looked at before the whole
    // tree is listed (which reads every process's stat).
    let tree = || {
        let rest = std::iter::once(shim_pid).flat_map(table::descendants);
        main.into_iter().chain(rest)
    };
    match recent_tcp_listeners(POLL) {
        Ok(sockets) if listening_on(&sockets, port, tree) => Ok(()),
        Ok(_) => Err(format!("nothing of it listens on port {port} yet")),
        Err(e) => Err(format!("cannot read the socket table: {e}")),
    }
}

/// The run file, parsed again only when the shim has replaced it: every write is a rename
/// of a new file, so a new inode (or time) means new content; a look costs one `stat`.
struct RunFileWatch {
    path: std::path::PathBuf,
    seen: Option<(u64, std::time::SystemTime)>,
    record: Option<RunFile>,
}

impl RunFileWatch {
    fn new(path: &std::path::Path) -> RunFileWatch {
        RunFileWatch {
            path: path.to_path_buf(),
            seen: None,
            record: None,
        }
    }

    fn read(&mut self) -> Option<RunFile> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(&self.path).ok()?;
        let stamp = (meta.ino(), meta.modified().ok()?);
        if self.seen != Some(stamp) {
            self.record = RunFile::read(&self.path);
            // One that cannot be parsed is tried again next time.
            self.seen = self.record.as_ref().map(|_| stamp);
        }
        self.record.clone()
    }
}

/// Reads the log as it grows, keeping the unfinished last line for the next look.
struct LogScan {
    path: std::path::PathBuf,
    offset: u64,
    partial: String,
}

impl LogScan {
    fn new(spec: &ShimSpec, offset: u64) -> LogScan {
        LogScan {
            path: spec.log.clone(),
            offset,
            partial: String::new(),
        }
    }

    /// Whether a new line's text (after the time and stream tag) matches.
    fn matches(&mut self, pattern: &crate::stack::pattern::Pattern) -> bool {
        let Ok(mut file) = std::fs::File::open(&self.path) else {
            return false;
        };
        if file.seek(SeekFrom::Start(self.offset)).is_err() {
            return false;
        }
        let mut fresh = String::new();
        let Ok(n) = file.read_to_string(&mut fresh) else {
            return false;
        };
        self.offset += n as u64;
        self.partial.push_str(&fresh);
        let complete = self.partial.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let lines: String = self.partial.drain(..complete).collect();
        lines.lines().any(|line| {
            let mut parts = line.splitn(3, ' ');
            let (_time, tag, text) = (parts.next(), parts.next(), parts.next().unwrap_or(""));
            // berth's own notes in the log are not the service's output.
            tag != Some("berth") && pattern.is_match(text)
        })
    }
}
