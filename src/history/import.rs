//! The event log of an older berth, `.berth/events.jsonl` (and `events.jsonl.1`), imported
//! into the database once: written in one transaction, then the files are renamed
//! `*.imported`, so a second open finds nothing to import and nothing is imported twice.

use super::EventRecord;
use super::store::Store;
use serde::Deserialize;
use std::path::Path;

/// A line of the old log.
#[derive(Deserialize)]
struct OldEvent {
    at: String,
    service: String,
    event: String,
    #[serde(default)]
    pid: Option<u32>,
    #[serde(default)]
    detail: String,
}

/// Imports the old log of `dir` into `store`. Returns events to record about it (none when
/// there was nothing to import).
pub fn old_event_log(dir: &Path, store: &Store) -> Vec<EventRecord> {
    let files = [dir.join("events.jsonl.1"), dir.join("events.jsonl")];
    let mut records = Vec::new();
    let mut found = Vec::new();
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        found.push(file);
        records.extend(
            text.lines()
                .filter_map(|l| serde_json::from_str::<OldEvent>(l).ok())
                .filter_map(|e| {
                    Some(EventRecord {
                        at_ms: crate::logs::time::parse_rfc3339_ms(&e.at)?,
                        service: Some(e.service),
                        kind: kind(e.event),
                        message: e.detail,
                        data: match e.pid {
                            Some(pid) => serde_json::json!({ "pid": pid }),
                            None => serde_json::Value::Null,
                        },
                    })
                }),
        );
    }
    if found.is_empty() {
        return Vec::new();
    }
    // A write that fails leaves the files for the next open to try again.
    if write(store, &records).is_err() {
        return Vec::new();
    }
    for file in found {
        let mut done = file.clone().into_os_string();
        done.push(".imported");
        let _ = std::fs::rename(file, done);
    }
    vec![EventRecord {
        at_ms: crate::logs::time::now_ms(),
        service: None,
        kind: "history".into(),
        message: format!(
            "imported {} events from the old event log (events.jsonl)",
            records.len()
        ),
        data: serde_json::json!({ "imported": records.len() }),
    }]
}

/// The old log's names for what `--kind` now calls otherwise.
fn kind(old: String) -> String {
    match old.as_str() {
        "starting" => "started".into(),
        "keeper_lost" => "exited".into(),
        _ => old,
    }
}

fn write(store: &Store, records: &[EventRecord]) -> rusqlite::Result<()> {
    let conn = store.connection();
    let tx = conn.unchecked_transaction()?;
    {
        let mut insert = tx.prepare(
            "INSERT INTO events (t, service, kind, message, data) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for e in records {
            let data = (!e.data.is_null()).then(|| e.data.to_string());
            insert.execute(rusqlite::params![
                e.at_ms as i64,
                e.service,
                e.kind,
                e.message,
                data
            ])?;
        }
    }
    tx.commit()
}
