//! History in `.berth/history.db` (SQLite, WAL): the only code that touches the database.
//! The daemon writes through a [`History`] handle, whose messages go to one writer thread
//! behind a bounded queue: a full queue, a full disk, a locked or read-only database lose
//! records (counted, and said in the daemon's log), never hold up supervision. Readers
//! (`stats`, `events`, `/v1/history`) open the file themselves, so they work with the daemon
//! down.

pub mod import;
pub mod quantile;
pub mod query;
pub mod schema;
pub mod store;
pub mod writer;

use crate::monitor::system::SystemReading;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::time::Duration;

/// The database file of a state dir.
pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("history.db")
}

/// One sampling round: every running service, and the machine.
#[derive(Clone, Debug, PartialEq)]
pub struct Round {
    pub at_ms: u64,
    pub services: Vec<ServiceSample>,
    pub system: Option<SystemReading>,
}

/// A running service's process tree at one round.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceSample {
    pub service: String,
    pub cpu_percent: f64,
    pub rss_bytes: u64,
    pub open_fds: u64,
    pub threads: u64,
    pub processes: u32,
    pub read_bytes: Option<u64>,
    pub write_bytes: Option<u64>,
    /// Running and healthy at that moment.
    pub healthy: bool,
}

/// One health check's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckResult {
    pub service: String,
    pub at_ms: u64,
    pub ok: bool,
    pub duration_us: u64,
}

/// One entry of the event log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    pub at_ms: u64,
    /// `None` for the stack's own events (the history itself, the API listener).
    pub service: Option<String>,
    pub kind: String,
    pub message: String,
    pub data: serde_json::Value,
}

/// What the writer keeps to: from the stack's `monitor:` section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    pub retention: Duration,
    pub max_size: u64,
}

impl Default for Settings {
    fn default() -> Settings {
        let monitor = crate::stack::Monitor::default();
        Settings {
            retention: monitor.retention,
            max_size: monitor.max_size,
        }
    }
}

enum Message {
    Round(Round),
    Check(CheckResult),
    Event(EventRecord),
    Configure(Settings),
    /// Answered once everything sent before it has been written (or lost).
    Flush(SyncSender<()>),
}

/// How many messages may wait for the writer. A round of 200 services is one message, a
/// health check one; at 200 services checked every second this is twenty seconds of work.
const QUEUE: usize = 4096;

/// The daemon's handle on its history; cheap to clone, never blocks.
#[derive(Clone)]
pub struct History {
    queue: Option<SyncSender<Message>>,
    shared: Arc<writer::Shared>,
}

/// What `doctor` and `status` are told about the history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = HistoryHealth)]
pub struct Health {
    /// Records (samples, checks, events) lost since the daemon started.
    pub lost: u64,
    /// Why the last write failed, while it keeps failing.
    #[schema(required)]
    pub error: Option<String>,
}

impl History {
    /// Starts the writer thread for the database of `state_dir`.
    pub fn start(state_dir: &Path) -> History {
        let shared = Arc::new(writer::Shared::default());
        let (queue, inbox) = std::sync::mpsc::sync_channel(QUEUE);
        let thread_shared = Arc::clone(&shared);
        let dir = state_dir.to_path_buf();
        let started = std::thread::Builder::new()
            .name("history".into())
            .spawn(move || writer::run(&dir, inbox, &thread_shared));
        History {
            queue: started.is_ok().then_some(queue),
            shared,
        }
    }

    /// A handle that keeps nothing (for supervisors run outside a daemon, in tests).
    pub fn off() -> History {
        History {
            queue: None,
            shared: Arc::default(),
        }
    }

    fn send(&self, message: Message) {
        let Some(queue) = &self.queue else {
            return;
        };
        match queue.try_send(message) {
            Ok(()) => {}
            Err(TrySendError::Full(m) | TrySendError::Disconnected(m)) => {
                self.shared.lose(weight(&m), "the writer is behind");
            }
        }
    }

    pub fn round(&self, round: Round) {
        self.send(Message::Round(round));
    }

    pub fn check(&self, check: CheckResult) {
        self.send(Message::Check(check));
    }

    /// Records an event now.
    pub fn event(&self, service: Option<&str>, kind: &str, message: &str, data: serde_json::Value) {
        let record = EventRecord {
            at_ms: crate::logs::time::now_ms(),
            service: service.map(str::to_string),
            kind: kind.to_string(),
            message: message.to_string(),
            data,
        };
        if let Some(listen) = self.shared.listener.get() {
            listen(&record);
        }
        self.send(Message::Event(record));
    }

    /// Calls `listener` with every event recorded from now on (once per handle's writer).
    pub fn listen(&self, listener: impl Fn(&EventRecord) + Send + Sync + 'static) {
        let _ = self.shared.listener.set(Box::new(listener));
    }

    pub fn configure(&self, settings: Settings) {
        self.send(Message::Configure(settings));
    }

    /// Waits until everything sent so far is written (or lost); false if that took longer
    /// than `timeout`.
    pub fn flush(&self, timeout: Duration) -> bool {
        let Some(queue) = &self.queue else {
            return true;
        };
        let (done, wait) = std::sync::mpsc::sync_channel(1);
        if queue.send(Message::Flush(done)).is_err() {
            return false;
        }
        wait.recv_timeout(timeout).is_ok()
    }

    pub fn health(&self) -> Health {
        self.shared.health()
    }
}

/// How many records a message holds, for the count of what was lost.
fn weight(message: &Message) -> u64 {
    match message {
        Message::Round(r) => r.services.len() as u64 + 1,
        Message::Check(_) | Message::Event(_) => 1,
        Message::Configure(_) | Message::Flush(_) => 0,
    }
}
