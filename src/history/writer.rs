//! The writer thread: takes what the queue holds, writes it in one transaction, rolls up
//! each complete minute, applies retention and the size cap every few minutes. A database
//! that cannot be opened or written (read-only, full, locked by someone else) loses the
//! batch, counted, and is tried again; a corrupt one is moved aside as
//! `history.db.corrupt-<unix time>` and started afresh, with an event saying so.

use super::store::{OpenError, Store, is_corruption};
use super::{CheckResult, EventRecord, Health, Message, Round, Settings, import};
use std::path::Path;
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// How much one transaction takes at most.
const BATCH: usize = 1024;
/// How long the writer gathers messages into one transaction (and so how late an event
/// may reach the database).
const GATHER: Duration = Duration::from_millis(200);
/// How long a write waits for a lock someone else holds before the batch is lost.
pub const BUSY: Duration = Duration::from_millis(250);
/// How long after a failed open the database is tried again.
const REOPEN: Duration = Duration::from_secs(5);
/// How often retention and the size cap are applied.
const RETAIN_EVERY: Duration = Duration::from_secs(300);
/// How often the daemon's log is told about losses.
const REPORT_EVERY: Duration = Duration::from_secs(60);

/// What the writer shares with the handles.
/// Told of every event as it is recorded (the alerts' `on:` rules).
pub type Listener = Box<dyn Fn(&EventRecord) + Send + Sync>;

#[derive(Default)]
pub struct Shared {
    state: Mutex<Losses>,
    pub(super) listener: std::sync::OnceLock<Listener>,
}

#[derive(Default)]
struct Losses {
    lost: u64,
    error: Option<String>,
    reported: u64,
    reported_at: Option<Instant>,
}

impl Shared {
    /// Counts `n` records lost, and why; the daemon's log hears of it at most once a minute.
    pub fn lose(&self, n: u64, why: &str) {
        if n == 0 {
            return;
        }
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.lost += n;
        s.error = Some(why.to_string());
        if s.reported_at.is_none_or(|at| at.elapsed() >= REPORT_EVERY) {
            crate::daemon::log(format_args!(
                "history: {} records lost so far ({} since the last report): {why}",
                s.lost,
                s.lost - s.reported
            ));
            s.reported = s.lost;
            s.reported_at = Some(Instant::now());
        }
    }

    /// Notes why writing fails, without a loss (an open, a rollup).
    fn failing(&self, why: &str) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if s.error.as_deref() != Some(why) {
            crate::daemon::log(format_args!("history: {why}"));
        }
        s.error = Some(why.to_string());
    }

    fn written(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.error = None;
    }

    pub fn health(&self) -> Health {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        Health {
            lost: s.lost,
            error: s.error.clone(),
        }
    }
}

struct Writer<'a> {
    dir: &'a Path,
    shared: &'a Shared,
    store: Option<Store>,
    tried_at: Option<Instant>,
    settings: Settings,
    retained_at: Option<Instant>,
    /// The newest time seen in what was written: the clock of rollups and retention, so a
    /// history written with other times (a benchmark's, a test's) rolls up by its own.
    now_ms: u64,
    /// Events about the database itself, written once it is open.
    pending: Vec<EventRecord>,
}

pub(super) fn run(dir: &Path, inbox: Receiver<Message>, shared: &Shared) {
    let mut w = Writer {
        dir,
        shared,
        store: None,
        tried_at: None,
        settings: Settings::default(),
        retained_at: None,
        now_ms: 0,
        pending: Vec::new(),
    };
    w.ensure_open();
    loop {
        let first = match inbox.recv_timeout(Duration::from_secs(1)) {
            Ok(m) => m,
            Err(RecvTimeoutError::Timeout) => {
                w.upkeep();
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
        // Whatever comes within GATHER goes into the same transaction: a commit costs far
        // more than a row, and health checks arrive one at a time.
        let until = Instant::now() + GATHER;
        let mut batch = vec![first];
        while batch.len() < BATCH && !matches!(batch.last(), Some(Message::Flush(_))) {
            let left = until.saturating_duration_since(Instant::now());
            match inbox.recv_timeout(left) {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        let mut rounds = Vec::new();
        let mut checks = Vec::new();
        let mut events = std::mem::take(&mut w.pending);
        let mut flushes = Vec::new();
        for m in batch {
            match m {
                Message::Round(r) => rounds.push(r),
                Message::Check(c) => checks.push(c),
                Message::Event(e) => events.push(e),
                Message::Configure(s) => w.settings = s,
                Message::Flush(done) => flushes.push(done),
            }
        }
        // Oldest first, as `berth events` lists them: notices about the database itself wait
        // in `pending` and may be stamped after events queued behind them.
        events.sort_by_key(|e| e.at_ms);
        w.write(&rounds, &checks, events);
        w.upkeep();
        for done in flushes {
            let _ = done.send(());
        }
    }
}

impl Writer<'_> {
    fn ensure_open(&mut self) {
        if self.store.is_some() || self.tried_at.is_some_and(|at| at.elapsed() < REOPEN) {
            return;
        }
        self.tried_at = Some(Instant::now());
        let path = super::path(self.dir);
        match Store::open(&path) {
            Ok(store) => self.opened(store),
            Err(OpenError::Corrupt(why)) => self.start_afresh(&why),
            Err(OpenError::Other(why)) => self
                .shared
                .failing(&format!("cannot open {}: {why}", path.display())),
        }
    }

    fn opened(&mut self, store: Store) {
        self.pending.extend(import::old_event_log(self.dir, &store));
        self.store = Some(store);
    }

    /// Moves a corrupt database (and its WAL) aside and creates a new one.
    fn start_afresh(&mut self, why: &str) {
        self.store = None;
        let path = super::path(self.dir);
        let now = crate::logs::time::now_ms();
        let aside = path.with_extension(format!("db.corrupt-{}", now / 1000));
        let moved = std::fs::rename(&path, &aside);
        for suffix in ["-wal", "-shm"] {
            let mut side = path.clone().into_os_string();
            side.push(suffix);
            let mut side_aside = aside.clone().into_os_string();
            side_aside.push(suffix);
            let _ = std::fs::rename(&side, &side_aside);
        }
        if let Err(e) = moved {
            self.shared.failing(&format!(
                "the history database is corrupt ({why}) and cannot be moved aside: {e}"
            ));
            return;
        }
        let message = format!(
            "the history database was corrupt ({why}); moved aside as {} and started afresh",
            aside.file_name().unwrap_or_default().to_string_lossy()
        );
        crate::daemon::log(format_args!("history: {message}"));
        self.pending.push(EventRecord {
            at_ms: now,
            service: None,
            kind: "history".into(),
            message,
            data: serde_json::json!({ "moved_to": aside.display().to_string() }),
        });
        match Store::open(&path) {
            Ok(store) => self.opened(store),
            Err(OpenError::Corrupt(e) | OpenError::Other(e)) => self.shared.failing(&e),
        }
    }

    fn write(&mut self, rounds: &[Round], checks: &[CheckResult], events: Vec<EventRecord>) {
        let n = rounds
            .iter()
            .map(|r| r.services.len() as u64 + 1)
            .sum::<u64>()
            + checks.len() as u64
            + events.len() as u64;
        if n == 0 {
            return;
        }
        self.now_ms = rounds
            .iter()
            .map(|r| r.at_ms)
            .chain(checks.iter().map(|c| c.at_ms))
            .chain(events.iter().map(|e| e.at_ms))
            .fold(self.now_ms, u64::max);
        self.ensure_open();
        let Some(store) = self.store.as_mut() else {
            // Events about the database itself wait for it; the rest is lost.
            let own: Vec<EventRecord> =
                events.into_iter().filter(|e| e.kind == "history").collect();
            let kept = own.len() as u64;
            self.pending.extend(own);
            let why = self.shared.health().error.unwrap_or_default();
            self.shared.lose(n - kept, &why);
            return;
        };
        match store.write(rounds, checks, &events) {
            Ok(()) => self.shared.written(),
            Err(e) if is_corruption(&e) => {
                self.start_afresh(&e.to_string());
                let retried = self
                    .store
                    .as_mut()
                    .map(|s| s.write(rounds, checks, &events));
                if !matches!(retried, Some(Ok(()))) {
                    self.shared.lose(n, &e.to_string());
                }
            }
            Err(e) => self.shared.lose(n, &describe(&e)),
        }
    }

    /// Rollups of complete minutes; retention and the cap every few minutes.
    fn upkeep(&mut self) {
        let Some(store) = self.store.as_mut() else {
            self.ensure_open();
            return;
        };
        if self.now_ms == 0 {
            return;
        }
        if let Err(e) = store.roll_up(self.now_ms) {
            self.shared.failing(&describe(&e));
        }
        if self
            .retained_at
            .is_none_or(|at| at.elapsed() >= RETAIN_EVERY)
        {
            self.retained_at = Some(Instant::now());
            let Settings {
                retention,
                max_size,
            } = self.settings;
            if let Err(e) = store.retain(self.now_ms, retention, max_size) {
                self.shared.failing(&describe(&e));
            }
        }
    }
}

/// An error in the words a user can act on.
fn describe(e: &rusqlite::Error) -> String {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DiskFull) => "the disk is full".into(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            "the database is locked by another process".into()
        }
        Some(rusqlite::ErrorCode::ReadOnly) => "the database is read-only".into(),
        _ => e.to_string(),
    }
}
