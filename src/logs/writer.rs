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
    /// Whole records waiting for one write (see `queue`), and whether the first byte is the
    /// line break that ends a torn line rather than a record.
    queued: Vec<u8>,
    queued_break: bool,
    /// The last time stamp made, by millisecond: a burst of lines shares it.
    stamp: (u64, String),
}

/// Queued records are written once this many bytes wait, whatever the caller does.
const QUEUE_LIMIT: usize = 256 * 1024;

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
            queued: Vec::new(),
            queued_break: false,
            stamp: (u64::MAX, String::new()),
        })
    }

    /// Writes one line (without its line break), rotating first if it would not fit. A line
    /// that cannot be written is counted, not fatal: the service must go on whatever happens
    /// to the disk, and the log says how many lines it lost once it can.
    pub fn line(&mut self, stream: Stream, text: &[u8]) {
        self.queue(stream, text);
        self.flush();
    }

    /// Like `line`, but the line may wait in memory until `flush` (or until enough wait):
    /// a burst of output read at once becomes one write instead of one per line.
    pub fn queue(&mut self, stream: Stream, text: &[u8]) {
        if self.lost > 0 && self.queued.is_empty() {
            self.report_lost();
        }
        // Time stamp (24 bytes), two spaces, stream, text, break; and a torn line's break.
        let record_len = 27 + stream.tag().len() + text.len() + usize::from(self.torn);
        let pending = self.size + self.queued.len() as u64;
        if pending > 0 && pending + record_len as u64 > self.max_size {
            self.flush();
            // A failed rotation (say, a read-only dir) still lets the line be appended.
            let _ = self.rotate();
        }
        if self.torn && self.queued.is_empty() {
            self.queued.push(b'\n');
            self.queued_break = true;
        }
        // The lines of one burst (one read of the pipe) arrived together: they share the time
        // of the first, read once (the clock costs more than the rest of a line here).
        if !self.burst_begun() {
            let now = time::now_ms();
            if self.stamp.0 != now {
                self.stamp = (now, time::rfc3339_ms(now));
            }
        }
        self.queued.extend_from_slice(self.stamp.1.as_bytes());
        self.queued.push(b' ');
        self.queued.extend_from_slice(stream.tag().as_bytes());
        self.queued.push(b' ');
        self.queued.extend_from_slice(text);
        self.queued.push(b'\n');
        if self.queued.len() >= QUEUE_LIMIT {
            self.flush();
        }
    }

    /// Whether a record is queued already (the break ending a torn line is none).
    fn burst_begun(&self) -> bool {
        self.queued.len() > usize::from(self.queued_break)
    }

    /// Writes what `queue` left waiting. Lines that cannot be written are counted as lost.
    pub fn flush(&mut self) {
        if self.queued.is_empty() {
            return;
        }
        let mut written = 0;
        let mut failure = None;
        while written < self.queued.len() {
            match self.file.write(&self.queued[written..]) {
                Ok(0) => failure = Some(io::ErrorKind::WriteZero.into()),
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => failure = Some(e),
            }
            if failure.is_some() {
                break;
            }
        }
        self.size += written as u64;
        if let Some(e) = failure {
            let rest = &self.queued[written..];
            let breaks = rest.iter().filter(|&&b| b == b'\n').count() as u64;
            // The break that would have ended a torn line is not a line of its own.
            self.lost += breaks - u64::from(written == 0 && self.queued_break);
            self.lost_because = Some(e);
            if written > 0 {
                self.torn = self.queued[written - 1] != b'\n';
            }
        } else {
            self.torn = false;
        }
        self.queued.clear();
        self.queued_break = false;
    }

    /// Writes the note that lines were lost, first thing once writing works again.
    fn report_lost(&mut self) {
        let note = format!(
            "{} line(s) lost: the log could not be written ({})",
            self.lost,
            self.lost_because
                .take()
                .map(|e| e.to_string())
                .unwrap_or_default()
        );
        let lost = std::mem::take(&mut self.lost);
        self.queue(Stream::Berth, note.as_bytes());
        self.flush();
        // The note itself is not one of the service's lines: a failure to write it leaves the
        // count as it was.
        if self.lost > 0 {
            self.lost = lost;
        }
    }

    /// How many lines are waiting to be reported lost.
    pub fn lost(&self) -> u64 {
        self.lost
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

/// A line without the `\r` of a CRLF break.
fn strip(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Longer lines are cut, so one endless line cannot hold memory or the log hostage.
pub const MAX_LINE: usize = 64 * 1024;

impl LineBuffer {
    /// Feeds a chunk; `emit` gets each complete line without its break.
    pub fn feed(&mut self, mut chunk: &[u8], emit: &mut dyn FnMut(&[u8])) {
        // The end of a line begun in an earlier chunk.
        if !self.pending.is_empty()
            && let Some(end) = memchr::memchr(b'\n', chunk)
        {
            self.pending.extend_from_slice(&chunk[..end]);
            emit(strip(&self.pending));
            self.pending.clear();
            chunk = &chunk[end + 1..];
        }
        // Whole lines straight from the chunk, when nothing is pending before them.
        let mut start = 0;
        if self.pending.is_empty() {
            for end in memchr::memchr_iter(b'\n', chunk) {
                emit(strip(&chunk[start..end]));
                start = end + 1;
            }
        }
        self.pending.extend_from_slice(&chunk[start..]);
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

    proptest::proptest! {
        /// However the output is cut into chunks, the same lines come out.
        #[test]
        fn chunking_does_not_change_the_lines(
            text in proptest::collection::vec(proptest::sample::select(b"ab\r\n".to_vec()), 0..200),
            cuts in proptest::collection::vec(0usize..200, 0..10),
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().filter(|&c| c <= text.len()).collect();
            cuts.sort();
            let mut chunks = Vec::new();
            let mut from = 0;
            for c in cuts.into_iter().chain([text.len()]) {
                chunks.push(&text[from..c]);
                from = c;
            }
            proptest::prop_assert_eq!(lines(&chunks), lines(&[&text]));
        }
    }

    #[test]
    fn rotation_keeps_every_line_in_order() {
        rotation_keeps_every_line_in_order_when(|w, _, line| w.line(Stream::Out, line));
    }

    #[test]
    fn rotation_keeps_every_queued_line_in_order() {
        // Bursts of seven lines, each written at once: rotations fall inside bursts.
        rotation_keeps_every_line_in_order_when(|w, i, line| {
            w.queue(Stream::Out, line);
            if i % 7 == 6 {
                w.flush();
            }
        });
    }

    fn rotation_keeps_every_line_in_order_when(write: impl Fn(&mut LogWriter, usize, &[u8])) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/api.log");
        let mut w = LogWriter::open(&path, 2048, 3).unwrap();
        for i in 0..100 {
            write(&mut w, i, format!("line {i:03}").as_bytes());
        }
        w.flush();
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

    /// Makes every write fail with ENOSPC (as on a full disk); returns the real file.
    fn fill_disk(w: &mut LogWriter) -> File {
        let full = OpenOptions::new().append(true).open("/dev/full").unwrap();
        std::mem::replace(&mut w.file, full)
    }

    #[test]
    fn queued_lines_wait_for_flush_and_lost_ones_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        let mut w = LogWriter::open(&path, 1 << 20, 5).unwrap();
        w.queue(Stream::Out, b"one");
        w.queue(Stream::Out, b"two");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
        w.flush();
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 2);

        let real = fill_disk(&mut w);
        for _ in 0..5 {
            w.queue(Stream::Out, b"lost");
        }
        w.flush();
        assert_eq!(w.lost(), 5);
        w.file = real;
        w.queue(Stream::Out, b"three");
        w.flush();
        let text = std::fs::read_to_string(&path).unwrap();
        let tails: Vec<&str> = text.lines().map(|l| l.split_once(' ').unwrap().1).collect();
        assert_eq!(tails.len(), 4, "{text}");
        assert!(tails[2].starts_with("berth 5 line(s) lost"), "{}", tails[2]);
        assert_eq!(tails[3], "out three");
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
        let real = fill_disk(&mut w);
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
