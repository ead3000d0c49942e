//! `GET /v1/logs/{name}?lines=N&since=D&follow=1`: a service's log (`.berth/logs/NAME.log`
//! and its rotated files) as NDJSON, `{"time","stream","line"}` a line, oldest first; with
//! `follow=1` the answer stays open and each new line comes as it is written, until the
//! client goes away (see `stream_routes` for the bounds).
//!
//! Following reads at most `READ_AT_ONCE` bytes of the log at a time (`Tail`, which follows
//! rotation as `logs::read::Follower` does): while the client is behind, its producer waits,
//! and a log that grows meanwhile is read a piece at a time, so a following client costs a
//! bounded amount of memory however much the service writes.

use super::orchestrator::Orchestrator;
use super::query_string::Query;
use super::service_routes::{known, loaded};
use super::stream_routes::{self, FOLLOW_QUEUE, PATIENCE, Slot, pipe};
use crate::api::services::LogLine;
use crate::logs::read::{Record, tail};
use crate::logs::time::{now_ms, rfc3339_ms};
use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

type Answer = Result<Response, (StatusCode, String)>;

/// Lines given when `lines` is not.
pub const DEFAULT_LINES: u64 = 100;
/// The most `lines` may ask for.
pub const MAX_LINES: u64 = 1_000_000;
/// How often a followed log is looked at.
pub const FOLLOW_POLL: Duration = Duration::from_millis(100);
const LONGEST: Duration = Duration::from_secs(10 * 365 * 86_400);
/// What following reads of the log at once.
pub const READ_AT_ONCE: usize = 256 * 1024;
/// A line longer than this (with no newline yet) is given as it is, in pieces.
const LONGEST_LINE: usize = 1 << 20;

/// Follows a log from its current end, across rotation, a bounded piece at a time.
pub struct Tail {
    path: PathBuf,
    offset: u64,
    inode: u64,
    partial: Vec<u8>,
}

impl Tail {
    pub fn new(path: &Path) -> Tail {
        let meta = std::fs::metadata(path).ok();
        Tail {
            path: path.to_path_buf(),
            offset: meta.as_ref().map_or(0, |m| m.len()),
            inode: meta.map_or(0, |m| m.ino()),
            partial: Vec::new(),
        }
    }

    /// The complete lines of at most `READ_AT_ONCE` new bytes, and whether more are there.
    pub fn poll(&mut self) -> (Vec<Record>, bool) {
        let Ok(meta) = std::fs::metadata(&self.path) else {
            return (Vec::new(), false);
        };
        if meta.ino() != self.inode || meta.len() < self.offset {
            // Rotated: the rest of the file followed is NAME.log.1 now, if it is still that
            // file; finish it, then start the new one.
            let rotated = PathBuf::from(format!("{}.1", self.path.display()));
            if self.inode != 0
                && std::fs::metadata(&rotated).is_ok_and(|m| m.ino() == self.inode)
                && let Some(fresh) = read_at(&rotated, self.offset)
                && !fresh.is_empty()
            {
                self.offset += fresh.len() as u64;
                return (self.complete(&fresh), true);
            }
            self.inode = meta.ino();
            self.offset = 0;
        }
        let Some(fresh) = read_at(&self.path, self.offset) else {
            return (Vec::new(), false);
        };
        self.offset += fresh.len() as u64;
        let more = fresh.len() == READ_AT_ONCE;
        (self.complete(&fresh), more)
    }

    fn complete(&mut self, fresh: &[u8]) -> Vec<Record> {
        self.partial.extend_from_slice(fresh);
        let end = match self.partial.iter().rposition(|&b| b == b'\n') {
            Some(i) => i + 1,
            None if self.partial.len() > LONGEST_LINE => self.partial.len(),
            None => 0,
        };
        let lines: Vec<u8> = self.partial.drain(..end).collect();
        lines
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| Record::parse(&String::from_utf8_lossy(l)))
            .collect()
    }
}

/// At most `READ_AT_ONCE` bytes of `path` from `offset`.
fn read_at(path: &Path, offset: u64) -> Option<Vec<u8>> {
    let mut file = std::fs::File::open(path).ok()?;
    file.seek(SeekFrom::Start(offset)).ok()?;
    let mut buf = Vec::new();
    file.take(READ_AT_ONCE as u64).read_to_end(&mut buf).ok()?;
    Some(buf)
}

fn bad(message: String) -> (StatusCode, String) {
    (StatusCode::BAD_REQUEST, message)
}

fn line(record: &Record) -> LogLine {
    LogLine {
        time: (!record.time.is_empty()).then(|| record.time.clone()),
        stream: record.stream.clone(),
        line: record.text.clone(),
    }
}

/// `records` as NDJSON chunks of about `stream_routes::CHUNK` bytes at most (a single line
/// longer than that is a chunk of its own).
fn chunks(records: &[Record]) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut chunk = String::new();
    for r in records {
        let text = serde_json::to_string(&line(r)).expect("serializable");
        if !chunk.is_empty() && chunk.len() + text.len() + 1 > stream_routes::CHUNK {
            out.push(Bytes::from(std::mem::take(&mut chunk)));
        }
        chunk.push_str(&text);
        chunk.push('\n');
    }
    if !chunk.is_empty() {
        out.push(Bytes::from(chunk));
    }
    out
}

pub fn logs(orchestrator: &Arc<Orchestrator>, name: &str, q: &Query) -> Answer {
    let stack = loaded(orchestrator)?;
    known(&stack, name)?;
    let lines = q
        .number("lines", 0, MAX_LINES)
        .map_err(bad)?
        .unwrap_or(DEFAULT_LINES) as usize;
    let since = q
        .duration("since", LONGEST)
        .map_err(bad)?
        .map(|d| rfc3339_ms(now_ms().saturating_sub(d.as_millis() as u64)));
    let follow = q.flag("follow").map_err(bad)?;
    let slot = follow.then(Slot::take).transpose()?;
    let path = super::launch::log_path(&stack, name);
    // Followed from the end as it is *before* the last lines are read: a line written in
    // between may come twice, never not at all.
    let follower = follow.then(|| Tail::new(&path));
    // Lines berth did not write have no time: kept, as `berth logs --since` keeps them.
    let keep = |r: &Record| {
        since
            .as_ref()
            .is_none_or(|t| r.time.is_empty() || r.time >= *t)
    };
    let records = match lines {
        0 => Vec::new(),
        n => tail(&path, Some(n), &keep),
    };
    let (Some(mut follower), Some(slot)) = (follower, slot) else {
        let body: Vec<u8> = chunks(&records).concat();
        return Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response());
    };
    let (outlet, body) = pipe(FOLLOW_QUEUE, slot);
    let first = chunks(&records);
    stream_routes::spawn(format!("logs -f {name}"), move || {
        for chunk in &first {
            if !outlet.send_waiting(chunk, PATIENCE) {
                return;
            }
        }
        let mut more = false;
        loop {
            if !more {
                std::thread::sleep(FOLLOW_POLL);
            }
            if outlet.is_over() {
                return;
            }
            let records;
            (records, more) = follower.poll();
            for chunk in chunks(&records) {
                if !outlet.send_waiting(&chunk, PATIENCE) {
                    return;
                }
            }
        }
    })?;
    Ok(stream_routes::ndjson(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::writer::{LogWriter, Stream};
    use std::io::Write;

    fn texts(tail: &mut Tail) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let (records, more) = tail.poll();
            out.extend(records.into_iter().map(|r| r.text));
            if !more {
                return out;
            }
        }
    }

    #[test]
    fn following_reads_a_piece_at_a_time_across_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("api.log");
        let mut w = LogWriter::open(&log, 1 << 20, 5).unwrap();
        w.line(Stream::Out, b"before");
        let mut tail = Tail::new(&log);
        let long = "x".repeat(1000);
        // More than one read's worth, then a rotation in the middle.
        for i in 0..600 {
            w.line(Stream::Err, format!("line {i} {long}").as_bytes());
        }
        let (first, more) = tail.poll();
        assert!(more, "a piece at a time");
        assert!(first.len() < 600);
        let mut seen: Vec<String> = first.into_iter().map(|r| r.text).collect();
        for i in 600..1200 {
            w.line(Stream::Err, format!("line {i} {long}").as_bytes());
        }
        seen.extend(texts(&mut tail));
        let expected: Vec<String> = (0..1200).map(|i| format!("line {i} {long}")).collect();
        assert_eq!(seen.len(), expected.len());
        assert!(seen == expected, "lines lost or out of order");
        assert!(log.with_extension("log.1").exists(), "the log rotated");
        // Not UTF-8: given as well as it can be, never stuck on.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .unwrap()
            .write_all(b"2026-11-22T04:30:00.123Z out caf\xe9\nafter\n")
            .unwrap();
        assert_eq!(texts(&mut tail), ["caf\u{fffd}", "after"]);
    }

    #[test]
    fn lines_are_ndjson_in_bounded_chunks() {
        let records: Vec<Record> = (0..2000)
            .map(|i| Record::parse(&format!("2026-11-22T04:30:00.123Z out line {i:04}")))
            .chain([Record::parse("not berth's")])
            .collect();
        let chunks = chunks(&records);
        assert!(chunks.len() > 1);
        assert!(chunks.iter().all(|c| c.len() <= stream_routes::CHUNK));
        let text: String = chunks
            .iter()
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2001);
        assert_eq!(
            lines[0],
            serde_json::json!({"time": "2026-11-22T04:30:00.123Z", "stream": "out", "line": "line 0000"})
        );
        assert_eq!(
            lines[2000],
            serde_json::json!({"time": null, "stream": "out", "line": "not berth's"})
        );
    }
}
