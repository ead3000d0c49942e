//! Reading service logs back: the last lines (reaching into rotated files as needed), lines
//! since a time, and following a log as it grows, across rotation.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// One record of a log: `TIME STREAM TEXT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// RFC 3339 UTC; sorts as text.
    pub time: String,
    /// `out`, `err` or `berth`.
    pub stream: String,
    pub text: String,
}

impl Record {
    pub fn parse(line: &str) -> Record {
        let mut parts = line.splitn(3, ' ');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(time), Some(stream), text) if time.ends_with('Z') => Record {
                time: time.to_string(),
                stream: stream.to_string(),
                text: text.unwrap_or("").to_string(),
            },
            // Not written by berth (or cut): shown as it is.
            _ => Record {
                time: String::new(),
                stream: "out".into(),
                text: line.to_string(),
            },
        }
    }
}

/// The rotated files of `log`, newest first: `NAME.log.1`, `NAME.log.2`, …
fn rotated(log: &Path) -> impl Iterator<Item = PathBuf> + '_ {
    (1..)
        .map(move |k| PathBuf::from(format!("{}.{k}", log.display())))
        .take_while(|p| p.exists())
}

/// The last `n` records of the log (all when `n` is `None`), oldest first, kept only when
/// `keep` says so.
pub fn tail(log: &Path, n: Option<usize>, keep: &dyn Fn(&Record) -> bool) -> Vec<Record> {
    let mut out: Vec<Record> = Vec::new();
    for file in std::iter::once(log.to_path_buf()).chain(rotated(log)) {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let mut records: Vec<Record> = text
            .lines()
            .map(Record::parse)
            .filter(|r| keep(r))
            .collect();
        records.append(&mut out);
        out = records;
        if n.is_some_and(|n| out.len() >= n) {
            break;
        }
    }
    if let Some(n) = n {
        let extra = out.len().saturating_sub(n);
        out.drain(..extra);
    }
    out
}

/// Follows a log from its current end: each `poll` gives the records written since.
pub struct Follower {
    path: PathBuf,
    offset: u64,
    inode: u64,
    partial: String,
}

impl Follower {
    pub fn new(path: &Path) -> Follower {
        let meta = std::fs::metadata(path).ok();
        Follower {
            path: path.to_path_buf(),
            offset: meta.as_ref().map(|m| m.len()).unwrap_or(0),
            inode: meta.map(|m| m.ino()).unwrap_or(0),
            partial: String::new(),
        }
    }

    pub fn poll(&mut self) -> Vec<Record> {
        let Ok(meta) = std::fs::metadata(&self.path) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if meta.ino() != self.inode || meta.len() < self.offset {
            // Rotated: the rest of the old file is in NAME.log.1; finish it, then start over.
            if self.inode != 0
                && let Some(rest) = read_from(
                    &PathBuf::from(format!("{}.1", self.path.display())),
                    self.offset,
                )
            {
                out.extend(self.complete(&rest));
            }
            self.inode = meta.ino();
            self.offset = 0;
        }
        if let Some(fresh) = read_from(&self.path, self.offset) {
            self.offset += fresh.len() as u64;
            out.extend(self.complete(&fresh));
        }
        out
    }

    fn complete(&mut self, fresh: &str) -> Vec<Record> {
        self.partial.push_str(fresh);
        let end = self.partial.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let lines: String = self.partial.drain(..end).collect();
        lines.lines().map(Record::parse).collect()
    }
}

fn read_from(path: &Path, offset: u64) -> Option<String> {
    let mut file = File::open(path).ok()?;
    file.seek(SeekFrom::Start(offset)).ok()?;
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::writer::{LogWriter, Stream};

    #[test]
    fn tail_reaches_into_rotated_files() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("api.log");
        let mut w = LogWriter::open(&log, 1024, 5).unwrap();
        for i in 0..100 {
            w.line(Stream::Out, format!("line {i:03}").as_bytes());
        }
        let last: Vec<String> = tail(&log, Some(30), &|_| true)
            .into_iter()
            .map(|r| r.text)
            .collect();
        let expected: Vec<String> = (70..100).map(|i| format!("line {i:03}")).collect();
        assert_eq!(last, expected);
        let odd = tail(&log, Some(3), &|r| r.text.ends_with('1'));
        assert_eq!(
            odd.iter().map(|r| r.text.as_str()).collect::<Vec<_>>(),
            ["line 071", "line 081", "line 091"]
        );
    }

    #[test]
    fn follows_across_rotation_without_losing_lines() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("api.log");
        let mut w = LogWriter::open(&log, 300, 5).unwrap();
        w.line(Stream::Out, b"before");
        let mut follower = Follower::new(&log);
        let mut seen = Vec::new();
        for i in 0..20 {
            w.line(Stream::Err, format!("line {i}").as_bytes());
            if i % 7 == 0 {
                seen.extend(follower.poll());
            }
        }
        seen.extend(follower.poll());
        let texts: Vec<String> = seen.iter().map(|r| r.text.clone()).collect();
        let expected: Vec<String> = (0..20).map(|i| format!("line {i}")).collect();
        assert_eq!(texts, expected);
        assert!(seen.iter().all(|r| r.stream == "err"));
    }

    #[test]
    fn lines_not_written_by_berth_are_kept_whole() {
        let r = Record::parse("plain text here");
        assert_eq!((r.time.as_str(), r.text.as_str()), ("", "plain text here"));
        let r = Record::parse("2026-11-22T04:30:00.123Z berth exited with code 3");
        assert_eq!(
            (r.stream.as_str(), r.text.as_str()),
            ("berth", "exited with code 3")
        );
    }
}
