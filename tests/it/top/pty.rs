//! A real pseudo-terminal for `berth top`'s tests and its bench: a program started on it at a
//! fixed size as the session leader with the terminal as its own, every byte it writes read
//! at once into a small screen model (the part of VT100/xterm that full-screen programs use:
//! cursor moves, erasing, the alternate screen; colours are passed over), keys typed into it,
//! the size changed (SIGWINCH), and the terminal's modes read back (raw or not).

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What is on the terminal: a grid of characters, the cursor, and which screen shows.
pub struct Screen {
    rows: usize,
    cols: usize,
    grid: Vec<Vec<char>>,
    /// The main screen's grid while the alternate one shows.
    saved: Option<Vec<Vec<char>>>,
    row: usize,
    col: usize,
    /// Bytes of a UTF-8 character or an escape sequence not complete yet.
    pending: Vec<u8>,
    /// Answers owed to the program (a cursor position report), written by the reader.
    replies: Vec<u8>,
    /// Everything written, for a test's failure message.
    pub bytes: usize,
    /// How often a line was longer than the terminal is wide (and went on on the next row).
    pub wrapped: usize,
}

impl Screen {
    fn new(cols: u16, rows: u16) -> Screen {
        let (rows, cols) = (rows as usize, cols as usize);
        Screen {
            rows,
            cols,
            grid: vec![vec![' '; cols]; rows],
            saved: None,
            row: 0,
            col: 0,
            pending: Vec::new(),
            replies: Vec::new(),
            bytes: 0,
            wrapped: 0,
        }
    }

    /// Whether the alternate screen shows (a full-screen program is on).
    pub fn alternate(&self) -> bool {
        self.saved.is_some()
    }

    /// The lines as shown, trailing blanks cut.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for line in &self.grid {
            let line: String = line.iter().collect();
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    fn resize(&mut self, cols: u16, rows: u16) {
        let (rows, cols) = (rows as usize, cols as usize);
        for grid in std::iter::once(&mut self.grid).chain(self.saved.as_mut()) {
            grid.resize(rows, vec![' '; cols]);
            for line in grid.iter_mut() {
                line.resize(cols, ' ');
            }
        }
        (self.rows, self.cols) = (rows, cols);
        self.row = self.row.min(rows - 1);
        self.col = self.col.min(cols - 1);
    }

    fn feed(&mut self, bytes: &[u8]) {
        self.bytes += bytes.len();
        self.pending.extend_from_slice(bytes);
        let mut at = 0;
        while at < self.pending.len() {
            match self.step(at) {
                Some(next) => at = next,
                None => break, // incomplete: wait for more bytes
            }
        }
        self.pending.drain(..at);
    }

    /// Takes one character or sequence at `at`; where the next begins, or `None` when it is
    /// not complete yet.
    fn step(&mut self, at: usize) -> Option<usize> {
        let bytes = &self.pending[at..];
        match bytes[0] {
            0x1b => self.escape(at),
            b'\r' => {
                self.col = 0;
                Some(at + 1)
            }
            b'\n' => {
                self.line_feed();
                Some(at + 1)
            }
            0x08 => {
                self.col = self.col.saturating_sub(1);
                Some(at + 1)
            }
            b if b < 0x20 => Some(at + 1),
            b => {
                let len = match b {
                    0xf0.. => 4,
                    0xe0.. => 3,
                    0xc0.. => 2,
                    _ => 1,
                };
                if bytes.len() < len {
                    return None;
                }
                let c = std::str::from_utf8(&bytes[..len])
                    .ok()
                    .and_then(|s| s.chars().next())
                    .unwrap_or('?');
                self.print(c);
                Some(at + len)
            }
        }
    }

    fn line_feed(&mut self) {
        if self.row + 1 < self.rows {
            self.row += 1;
        } else {
            self.grid.remove(0);
            self.grid.push(vec![' '; self.cols]);
        }
    }

    fn print(&mut self, c: char) {
        if self.col >= self.cols {
            self.col = 0;
            self.wrapped += 1;
            self.line_feed();
        }
        self.grid[self.row][self.col] = c;
        self.col += 1;
    }

    fn escape(&mut self, at: usize) -> Option<usize> {
        let bytes = &self.pending[at..];
        let kind = *bytes.get(1)?;
        match kind {
            b'[' => {
                let end = bytes[2..].iter().position(|b| (0x40..=0x7e).contains(b))? + 2;
                let params = String::from_utf8_lossy(&bytes[2..end]).into_owned();
                let fin = bytes[end];
                self.csi(&params, fin);
                Some(at + end + 1)
            }
            // OSC: up to BEL or ESC \.
            b']' => {
                let end = bytes
                    .iter()
                    .position(|&b| b == 0x07)
                    .map(|p| p + 1)
                    .or_else(|| bytes.windows(2).position(|w| w == b"\x1b\\").map(|p| p + 2))?;
                Some(at + end)
            }
            // A character set choice: one more byte.
            b'(' | b')' => bytes.get(2).map(|_| at + 3),
            _ => Some(at + 2),
        }
    }

    fn csi(&mut self, params: &str, fin: u8) {
        let private = params.starts_with('?');
        let numbers: Vec<usize> = params
            .trim_start_matches('?')
            .split(';')
            .map(|p| p.parse().unwrap_or(0))
            .collect();
        let n = |i: usize, default: usize| match numbers.get(i) {
            Some(0) | None => default,
            Some(&v) => v,
        };
        let alternate = numbers.contains(&1049) || numbers.contains(&47);
        match (private, fin) {
            (false, b'H' | b'f') => {
                self.row = (n(0, 1) - 1).min(self.rows - 1);
                self.col = (n(1, 1) - 1).min(self.cols - 1);
            }
            (false, b'A') => self.row = self.row.saturating_sub(n(0, 1)),
            (false, b'B') => self.row = (self.row + n(0, 1)).min(self.rows - 1),
            (false, b'C') => self.col = (self.col + n(0, 1)).min(self.cols - 1),
            (false, b'D') => self.col = self.col.saturating_sub(n(0, 1)),
            (false, b'G') => self.col = (n(0, 1) - 1).min(self.cols - 1),
            (false, b'd') => self.row = (n(0, 1) - 1).min(self.rows - 1),
            (false, b'J') => {
                let (row, col) = (self.row, self.col.min(self.cols));
                match numbers.first().copied().unwrap_or(0) {
                    0 => {
                        self.grid[row][col..].fill(' ');
                        self.grid[row + 1..].iter_mut().for_each(|l| l.fill(' '));
                    }
                    1 => {
                        self.grid[..row].iter_mut().for_each(|l| l.fill(' '));
                        self.grid[row][..col].fill(' ');
                    }
                    _ => self.grid.iter_mut().for_each(|l| l.fill(' ')),
                }
            }
            (false, b'K') => {
                let (row, col) = (self.row, self.col.min(self.cols));
                match numbers.first().copied().unwrap_or(0) {
                    0 => self.grid[row][col..].fill(' '),
                    1 => self.grid[row][..col].fill(' '),
                    _ => self.grid[row].fill(' '),
                }
            }
            (false, b'n') if n(0, 0) == 6 => {
                let report = format!("\x1b[{};{}R", self.row + 1, self.col + 1);
                self.replies.extend_from_slice(report.as_bytes());
            }
            (false, b'c') => self.replies.extend_from_slice(b"\x1b[?1;2c"),
            (true, b'h') if alternate && self.saved.is_none() => {
                let blank = vec![vec![' '; self.cols]; self.rows];
                self.saved = Some(std::mem::replace(&mut self.grid, blank));
            }
            (true, b'l') if alternate => {
                if let Some(main) = self.saved.take() {
                    self.grid = main;
                }
            }
            _ => {} // colours, cursor shape and visibility, modes of no interest here
        }
    }
}

/// A program running on a pseudo-terminal of its own.
pub struct Pty {
    pub child: Child,
    master: File,
    pub screen: Arc<Mutex<Screen>>,
}

fn winsize(cols: u16, rows: u16) -> libc::winsize {
    libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    }
}

impl Pty {
    /// Starts `command` on a new terminal of `cols` × `rows` (stdin, stdout and stderr all
    /// on it, `TERM=xterm-256color`).
    pub fn spawn(command: &mut Command, cols: u16, rows: u16) -> Pty {
        let (mut master, mut slave) = (-1, -1);
        let size = winsize(cols, rows);
        // SAFETY: openpty writes two descriptors into the given places; no name is asked for.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                &size,
            )
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both were just opened and are owned here alone.
        let (master, slave) =
            unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        let stdio = || Stdio::from(slave.try_clone().unwrap());
        command
            .stdin(stdio())
            .stdout(stdio())
            .stderr(stdio())
            .env("TERM", "xterm-256color");
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            command.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().expect("the program starts on the pty");
        drop(slave);
        let master = File::from(master);
        let screen = Arc::new(Mutex::new(Screen::new(cols, rows)));
        let (mut reader, mut replier, shared) = (
            master.try_clone().unwrap(),
            master.try_clone().unwrap(),
            screen.clone(),
        );
        std::thread::spawn(move || {
            let mut buf = [0u8; 65536];
            // Ends with EIO once no process holds the terminal any more.
            while let Ok(n @ 1..) = reader.read(&mut buf) {
                let replies = {
                    let mut screen = shared.lock().unwrap();
                    screen.feed(&buf[..n]);
                    std::mem::take(&mut screen.replies)
                };
                if !replies.is_empty() {
                    let _ = replier.write_all(&replies);
                }
            }
        });
        Pty {
            child,
            master,
            screen,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Types `keys`.
    pub fn send(&mut self, keys: &str) {
        self.master.write_all(keys.as_bytes()).unwrap();
    }

    pub fn text(&self) -> String {
        self.screen.lock().unwrap().text()
    }

    /// How many lines the program wrote longer than the terminal's width.
    pub fn wrapped(&self) -> usize {
        self.screen.lock().unwrap().wrapped
    }

    pub fn alternate(&self) -> bool {
        self.screen.lock().unwrap().alternate()
    }

    /// Polls the screen until `ready` holds, up to `limit`; the screen then, or the last one
    /// seen as the error.
    pub fn wait_for(
        &self,
        limit: Duration,
        ready: impl Fn(&str) -> bool,
    ) -> Result<String, String> {
        let deadline = Instant::now() + limit;
        loop {
            let text = self.text();
            if ready(&text) {
                return Ok(text);
            }
            if Instant::now() >= deadline {
                return Err(text);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A new size for the terminal: the program gets SIGWINCH.
    pub fn resize(&mut self, cols: u16, rows: u16) {
        self.screen.lock().unwrap().resize(cols, rows);
        let size = winsize(cols, rows);
        // SAFETY: TIOCSWINSZ reads a winsize from the pointer.
        let rc = unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ as _, &size) };
        assert_eq!(rc, 0, "TIOCSWINSZ: {}", std::io::Error::last_os_error());
    }

    /// Whether the terminal is back in its cooked mode (lines, echo, signals): as the
    /// program found it.
    pub fn cooked(&self) -> bool {
        // SAFETY: tcgetattr fills the termios it is given.
        let mut modes: libc::termios = unsafe { std::mem::zeroed() };
        let rc = unsafe { libc::tcgetattr(self.master.as_raw_fd(), &mut modes) };
        assert_eq!(rc, 0, "tcgetattr: {}", std::io::Error::last_os_error());
        let wanted = libc::ICANON | libc::ECHO | libc::ISIG;
        modes.c_lflag & wanted == wanted
    }

    /// Waits up to `limit` for the program to end.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        // Only the child this started, by its pid.
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_screen_model_follows_moves_erasing_and_the_alternate_screen() {
        let mut s = super::Screen::new(10, 3);
        s.feed(b"main\r\n");
        s.feed(b"\x1b[?1049h\x1b[2J\x1b[2;3Hab\x1b[1;31mc\x1b[0m");
        assert!(s.alternate());
        assert_eq!(s.text(), "\n  abc\n\n");
        // A character split across two reads.
        let arrow = "▶".as_bytes();
        s.feed(&[b'\x1b', b'[', b'1', b';', b'1', b'H', arrow[0]]);
        s.feed(&arrow[1..]);
        assert_eq!(s.text().lines().next(), Some("▶"));
        s.feed(b"\x1b[2;1H\x1b[K\x1b[?1049l");
        assert!(!s.alternate());
        assert_eq!(s.text(), "main\n\n\n");
        s.feed(b"\x1b[6n");
        assert_eq!(s.replies, b"\x1b[2;1R");
    }
}
