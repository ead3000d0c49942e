//! Writes a service's output lines to its log file, rotating by size. Lines are written
//! whole, each with its time and stream (`2026-11-22T04:30:00.123Z out text`), so a rotation
//! never splits a line and `logs --since` can filter by time.

use super::time;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Which output a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Out,
    Err,
    /// berth's own notes about the service (started, stopped, could not start).
    Berth,
}

impl Stream {
    fn tag(self) -> &'static str {
        match self {
            Stream::Out => "out",
            Stream::Err => "err",
            Stream::Berth => "berth",
        }
    }
}

pub struct LogWriter {
    path: PathBuf,
    max_size: u64,
    keep: u32,
    file: File,
    size: u64,
    /// Lines that could not be written since the last one that could (disk full, state dir
    /// gone read-only), and why: reported in the log once writing works again.
    lost: u64,
    lost_because: Option<io::Error>,
    /// A failed write left part of a line in the file: the next one starts on a new line.
    torn: bool,
}

impl LogWriter {
    /// Opens (appending to) the log at `path`, creating its directory.
    pub fn open(path: &Path, max_size: u64, keep: u32) -> io::Result<LogWriter> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(LogWriter {
            path: path.to_path_buf(),
            max_size,
            keep,
            file,
            size,
            lost: 0,
            lost_because: None,
            torn: false,
        })
    }

    /// Writes one line (without its line break), rotating first if it would not fit. A line
    /// that cannot be written is counted, not fatal: the service must go on whatever happens
    /// to the disk, and the log says how many lines it lost once it can.
    pub fn line(&mut self, stream: Stream, text: &[u8]) {
        if self.lost > 0 {
            let note = format!(
                "{} line(s) lost: the log could not be written ({})",
                self.lost,
                self.lost_because
                    .take()
                    .map(|e| e.to_string())
                    .unwrap_or_default()
            );
            let lost = std::mem::take(&mut self.lost);
            if self.write(Stream::Berth, note.as_bytes()).is_err() {
                self.lost = lost;
            }
        }
        if let Err(e) = self.write(stream, text) {
            self.lost += 1;
            self.lost_because = Some(e);
        }
    }

    /// How many lines are waiting to be reported lost.
    pub fn lost(&self) -> u64 {
        self.lost
    }

    fn write(&mut self, stream: Stream, text: &[u8]) -> io::Result<()> {
        let mut record = Vec::with_capacity(text.len() + 41);
        if self.torn {
            record.push(b'\n');
        }
        record.extend_from_slice(time::rfc3339_ms(time::now_ms()).as_bytes());
        record.push(b' ');
        record.extend_from_slice(stream.tag().as_bytes());
        record.push(b' ');
        record.extend_from_slice(text);
        record.push(b'\n');
        if self.size > 0 && self.size + record.len() as u64 > self.max_size {
            // A failed rotation (say, a read-only dir) still lets the line be appended.
            let _ = self.rotate();
        }
        let mut written = 0;
        while written < record.len() {
            match self.file.write(&record[written..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.size += written as u64;
                    self.torn |= written > 0;
                    return Err(e);
                }
            }
        }
        self.size += written as u64;
        self.torn = false;
        Ok(())
    }

    /// `NAME.log.K-1` → `NAME.log.K` … `NAME.log` → `NAME.log.1`, then a fresh `NAME.log`.
    /// With `keep: 0` the old content is dropped.
    fn rotate(&mut self) -> io::Result<()> {
        let numbered = |k: u32| PathBuf::from(format!("{}.{k}", self.path.display()));
        if self.keep == 0 {
            std::fs::remove_file(&self.path)?;
        } else {
            for k in (1..self.keep).rev() {
                if numbered(k).exists() {
                    std::fs::rename(numbered(k), numbered(k + 1))?;
                }
            }
            std::fs::rename(&self.path, numbered(1))?;
        }
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

/// Splits a stream of output into lines: bytes arrive in arbitrary chunks, and a line is
/// written when its break arrives (or, if longer than `MAX_LINE`, in pieces of that size).
#[derive(Default)]
pub struct LineBuffer {
    pending: Vec<u8>,
}

/// Longer lines are cut, so one endless line cannot hold memory or the log hostage.
pub const MAX_LINE: usize = 64 * 1024;

impl LineBuffer {
    /// Feeds a chunk; `emit` gets each complete line without its break.
    pub fn feed(&mut self, chunk: &[u8], emit: &mut dyn FnMut(&[u8])) {
        self.pending.extend_from_slice(chunk);
        let mut start = 0;
        while let Some(pos) = self.pending[start..].iter().position(|&b| b == b'\n') {
            let end = start + pos;
            let line = self.pending[start..end]
                .strip_suffix(b"\r")
                .unwrap_or(&self.pending[start..end]);
            emit(line);
            start = end + 1;
        }
        self.pending.drain(..start);
        while self.pending.len() >= MAX_LINE {
            let rest = self.pending.split_off(MAX_LINE);
            emit(&self.pending);
            self.pending = rest;
        }
    }

    /// At end of stream, what is left as a last line.
    pub fn finish(&mut self, emit: &mut dyn FnMut(&[u8])) {
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            emit(&rest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(chunks: &[&[u8]]) -> Vec<String> {
        let mut out = Vec::new();
        let mut buffer = LineBuffer::default();
        let mut emit = |l: &[u8]| out.push(String::from_utf8_lossy(l).into_owned());
        for c in chunks {
            buffer.feed(c, &mut emit);
        }
        buffer.finish(&mut emit);
        out
    }

    #[test]
    fn lines_across_chunks() {
        assert_eq!(
            lines(&[b"a\nb", b"c\r\n", b"\n", b"tail"]),
            ["a", "bc", "", "tail"]
        );
        let long = vec![b'x'; MAX_LINE + 10];
        let got = lines(&[&long]);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].len(), MAX_LINE);
    }

    #[test]
    fn rotation_keeps_every_line_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/api.log");
        let mut w = LogWriter::open(&path, 2048, 3).unwrap();
        for i in 0..100 {
            w.line(Stream::Out, format!("line {i:03}").as_bytes());
        }
        let mut all = Vec::new();
        for suffix in [".3", ".2", ".1", ""] {
            let text =
                std::fs::read_to_string(format!("{}{suffix}", path.display())).unwrap_or_default();
            assert!(text.len() <= 2048, "{suffix}: {} bytes", text.len());
            all.extend(
                text.lines()
                    .map(|l| l.rsplit(' ').next().unwrap().to_string()),
            );
        }
        assert!(!std::path::Path::new(&format!("{}.4", path.display())).exists());
        // The oldest lines were rotated out; what remains is contiguous and ends with the last.
        let first: usize = all[0].parse().unwrap();
        let expected: Vec<String> = (first..100).map(|i| format!("{i:03}")).collect();
        assert_eq!(all, expected);
        assert!(all.len() > 50);
    }

    #[test]
    fn every_line_has_time_and_stream() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        let mut w = LogWriter::open(&path, 1 << 20, 5).unwrap();
        w.line(Stream::Err, b"boom");
        let text = std::fs::read_to_string(&path).unwrap();
        let (stamp, rest) = text.split_once(' ').unwrap();
        assert_eq!(stamp.len(), "2026-11-22T04:30:00.123Z".len());
        assert_eq!(rest, "err boom\n");
    }

    #[test]
    fn a_full_disk_loses_lines_without_failing_and_says_so_when_it_can() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        let mut w = LogWriter::open(&path, 1 << 20, 5).unwrap();
        w.line(Stream::Out, b"before");
        // Every write to /dev/full fails with ENOSPC.
        let real = std::mem::replace(
            &mut w.file,
            OpenOptions::new().append(true).open("/dev/full").unwrap(),
        );
        for _ in 0..3 {
            w.line(Stream::Out, b"lost");
        }
        assert_eq!(w.lost(), 3);
        w.file = real;
        w.line(Stream::Out, b"after");
        assert_eq!(w.lost(), 0);
        let text = std::fs::read_to_string(&path).unwrap();
        let tails: Vec<&str> = text.lines().map(|l| l.split_once(' ').unwrap().1).collect();
        assert_eq!(tails.len(), 3, "{text}");
        assert_eq!(tails[0], "out before");
        assert!(
            tails[1].starts_with("berth 3 line(s) lost: the log could not be written (No space"),
            "{}",
            tails[1]
        );
        assert_eq!(tails[2], "out after");
    }
}
