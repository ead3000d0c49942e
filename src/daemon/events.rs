//! The daemon's event log, `.berth/events.jsonl`: one JSON line per thing that happened to a
//! service (started, ready, exited, restarting, failed, stopped, adopted, a port decision),
//! so a restart or a move can be accounted for after the fact (`berth events`). Appended
//! with one write per line; kept under `MAX_SIZE` by moving it to `events.jsonl.1`.

use crate::logs::time::{now_ms, rfc3339_ms};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Past this size the log moves to `events.jsonl.1` (replacing the one before).
pub const MAX_SIZE: u64 = 1 << 20;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// RFC 3339 UTC, milliseconds.
    pub at: String,
    pub service: String,
    /// `starting`, `ready`, `exited`, `restarting`, `failed`, `completed`, `stopped`,
    /// `adopted`, `port`, `keeper_lost`.
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("events.jsonl")
}

/// Appends one event. Best effort: a full or read-only state dir loses the event, never the
/// service.
pub fn record(state_dir: &Path, service: &str, event: &str, pid: Option<u32>, detail: &str) {
    // Rotation must not race another thread's append or rotation.
    static WRITING: Mutex<()> = Mutex::new(());
    let _one = WRITING.lock().unwrap_or_else(|e| e.into_inner());
    let file = path(state_dir);
    if std::fs::metadata(&file).is_ok_and(|m| m.len() >= MAX_SIZE) {
        let _ = std::fs::rename(&file, file.with_extension("jsonl.1"));
    }
    let line = Event {
        at: rfc3339_ms(now_ms()),
        service: service.to_string(),
        event: event.to_string(),
        pid,
        detail: detail.to_string(),
    };
    let Ok(mut json) = serde_json::to_vec(&line) else {
        return;
    };
    json.push(b'\n');
    if let Ok(mut out) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&file)
    {
        let _ = out.write_all(&json);
    }
}

/// Every event still kept, oldest first (unreadable lines skipped).
pub fn read(state_dir: &Path) -> Vec<Event> {
    let file = path(state_dir);
    [file.with_extension("jsonl.1"), file]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .flat_map(|text| {
            text.lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect::<Vec<Event>>()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_reads_back_and_rotates() {
        let dir = tempfile::tempdir().unwrap();
        record(dir.path(), "api", "started", Some(42), "");
        record(dir.path(), "api", "exited", None, "exited with code 1");
        let events = read(dir.path());
        assert_eq!(events.len(), 2);
        assert_eq!(
            (events[0].event.as_str(), events[0].pid),
            ("started", Some(42))
        );
        assert_eq!(events[1].detail, "exited with code 1");
        // Past the size, the log moves aside and a fresh one starts; both are read.
        let big = "x".repeat(MAX_SIZE as usize);
        record(dir.path(), "api", "port", None, &big);
        record(dir.path(), "api", "ready", Some(43), "");
        assert!(path(dir.path()).with_extension("jsonl.1").exists());
        assert_eq!(
            std::fs::read_to_string(path(dir.path()))
                .unwrap()
                .lines()
                .count(),
            1
        );
        assert_eq!(read(dir.path()).last().unwrap().event, "ready");
    }
}
