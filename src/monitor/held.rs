//! The services' process trees read from `/proc` with their files held open between rounds.
//!
//! A round used to read every process's `stat` on the machine to learn who is whose child,
//! then each tree process's `fd` and `io`: about 1,600 opens of `/proc` files for 200
//! services, and the kernel's path walk behind each open is most of a round's cost. Here each
//! tree is walked from its main process through the `task/TID/children` files, and a tree
//! process's `stat`, `io`, `fd` directory and `children` are opened once and read again in
//! place (`pread` at 0 makes procfs write them anew) at every round after: a quarter of the
//! CPU (`benches/sampling.rs`). A pid that is reused shows another start time and is opened
//! afresh; a process not met in a round is let go, its files closed.
//!
//! Four descriptors a process add up (1,600 for 200 two-process services): what may be held
//! is a budget the daemon sets from its descriptor limit (`process::limits`); a process over
//! it is read by opening its files each round, as before, only without the scan.

use std::collections::HashMap;
use std::ffi::CStr;
use std::mem::MaybeUninit;

use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{Mode, OFlags, RawDir};

use super::tree::{Io, TreeUsage, count_fds, parse_io, read_io};
use crate::process::table::{Stat, parse_stat, proc_path};

/// Descriptors held for one process.
const PER_PROCESS: usize = 4;

/// The held files of the processes of the last round's trees.
pub struct HeldTrees {
    proc: Option<OwnedFd>,
    held: HashMap<u32, Held>,
    /// How many processes may have their files held.
    capacity: usize,
    /// Which round this is: a process whose `seen` is older was not met in it.
    round: u64,
    page: u64,
    buf: Vec<u8>,
}

struct Held {
    start_time: u64,
    stat: OwnedFd,
    io: Option<OwnedFd>,
    fd_dir: Option<OwnedFd>,
    /// The main thread's `children` (a process with one thread has no other).
    children: Option<OwnedFd>,
    seen: u64,
}

/// A tree as one round read it, and its main process's stat (`None`: not running).
pub struct TreeRead {
    pub usage: TreeUsage,
    pub root: Option<Stat>,
}

impl HeldTrees {
    /// Holds at most `descriptors` files open (a multiple of four is used).
    pub fn new(descriptors: usize) -> HeldTrees {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        HeldTrees {
            proc: rustix::fs::open("/proc", flags, Mode::empty()).ok(),
            held: HashMap::new(),
            capacity: descriptors / PER_PROCESS,
            round: 0,
            page: rustix::param::page_size() as u64,
            buf: vec![0; 4096],
        }
    }

    /// Processes whose files are held now.
    pub fn holding(&self) -> usize {
        self.held.len()
    }

    /// Reads the tree of each of `roots` (services' main pids), in order.
    pub fn read(&mut self, roots: &[u32]) -> Vec<TreeRead> {
        self.round += 1;
        let Some(proc) = self.proc.take() else {
            return roots
                .iter()
                .map(|_| TreeRead {
                    usage: TreeUsage::default(),
                    root: None,
                })
                .collect();
        };
        let mut queue = Vec::new();
        let reads = roots
            .iter()
            .map(|&root| {
                let mut usage = TreeUsage::default();
                queue.clear();
                queue.push(root);
                let mut root_stat = None;
                let mut next = 0;
                while next < queue.len() {
                    let pid = queue[next];
                    next += 1;
                    let stat = self.visit(&proc, pid, &mut usage, &mut queue);
                    if pid == root {
                        root_stat = stat;
                        if stat.is_none() {
                            break;
                        }
                    }
                }
                TreeRead {
                    usage,
                    root: root_stat,
                }
            })
            .collect();
        self.proc = Some(proc);
        let round = self.round;
        // What was not met has ended or left its tree: its files go.
        self.held.retain(|_, h| h.seen == round);
        reads
    }

    /// Adds `pid` to `usage` and its children to `queue`; its stat, or `None` when it is gone,
    /// a zombie, or already met in this round (a loop through a reused pid).
    fn visit(
        &mut self,
        proc: &OwnedFd,
        pid: u32,
        usage: &mut TreeUsage,
        queue: &mut Vec<u32>,
    ) -> Option<Stat> {
        let round = self.round;
        let mut path = [0u8; 32];
        let held_stat = match self.held.get_mut(&pid) {
            Some(h) if h.seen == round => return None,
            Some(h) => match read_at(&h.stat, &mut self.buf).and_then(parse_stat) {
                Some(stat) if stat.start_time == h.start_time => {
                    h.seen = round;
                    Some(stat)
                }
                _ => None,
            },
            None => None,
        };
        let stat = match held_stat {
            Some(stat) => stat,
            None => {
                self.held.remove(&pid);
                let file = open(proc, proc_path(&mut path, b"", pid, b"stat"))?;
                let stat = read_at(&file, &mut self.buf).and_then(parse_stat)?;
                if stat.state != 'Z' && self.held.len() < self.capacity {
                    self.hold(proc, pid, file, stat);
                }
                stat
            }
        };
        if stat.state == 'Z' {
            // Ended, not yet reaped: nothing of it to read again.
            self.held.remove(&pid);
            return None;
        }
        usage.processes += 1;
        usage.cpu_ticks += stat.cpu_ticks;
        usage.rss_bytes += stat.rss_pages * self.page;
        usage.threads += u64::from(stat.threads);
        let (fds, io) = self.extras(proc, pid);
        usage.open_fds += fds;
        if let Some(io) = io {
            usage.read_bytes = Some(usage.read_bytes.unwrap_or(0) + io.read_bytes);
            usage.write_bytes = Some(usage.write_bytes.unwrap_or(0) + io.write_bytes);
        }
        self.children(proc, pid, stat.threads, queue);
        Some(stat)
    }

    fn hold(&mut self, proc: &OwnedFd, pid: u32, stat_file: OwnedFd, stat: Stat) {
        let mut path = [0u8; 32];
        let mut task = [0u8; 48];
        let dir = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let held = Held {
            start_time: stat.start_time,
            stat: stat_file,
            io: open(proc, proc_path(&mut path, b"", pid, b"io")),
            fd_dir: rustix::fs::openat(
                proc,
                proc_path(&mut path, b"", pid, b"fd"),
                dir,
                Mode::empty(),
            )
            .ok(),
            children: open(proc, children_path(&mut task, pid, pid)),
            seen: self.round,
        };
        self.held.insert(pid, held);
    }

    /// The descriptor count and I/O of `pid`: from its held files, else opened now.
    fn extras(&mut self, proc: &OwnedFd, pid: u32) -> (u64, Option<Io>) {
        let mut path = [0u8; 32];
        let held = self.held.get(&pid);
        // The `fd` directory's size is its count since Linux 6.2; 0 before, then it is listed.
        let fds = held
            .and_then(|h| h.fd_dir.as_ref())
            .and_then(|d| rustix::fs::fstat(d).ok())
            .and_then(|s| u64::try_from(s.st_size).ok())
            .filter(|&n| n > 0)
            .or_else(|| count_fds(proc, proc_path(&mut path, b"", pid, b"fd")))
            .unwrap_or(0);
        let io = match held.and_then(|h| h.io.as_ref()) {
            Some(file) => read_at(file, &mut self.buf)
                .and_then(|text| parse_io(std::str::from_utf8(text).ok()?)),
            None => read_io(proc, proc_path(&mut path, b"", pid, b"io")),
        };
        (fds, io)
    }

    /// Queues `pid`'s children: from its held `children` file when it has one thread, else
    /// from each of its threads' (a child belongs to the thread that forked it).
    fn children(&mut self, proc: &OwnedFd, pid: u32, threads: u32, queue: &mut Vec<u32>) {
        if threads <= 1
            && let Some(file) = self.held.get(&pid).and_then(|h| h.children.as_ref())
        {
            if let Some(text) = read_at(file, &mut self.buf) {
                queue.extend(parse_children(text));
            }
            return;
        }
        let mut path = [0u8; 32];
        let dir = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let Ok(tasks) = rustix::fs::openat(
            proc,
            proc_path(&mut path, b"", pid, b"task"),
            dir,
            Mode::empty(),
        ) else {
            return;
        };
        let mut entries_buf = [MaybeUninit::<u8>::uninit(); 4096];
        let mut entries = RawDir::new(&tasks, &mut entries_buf);
        let mut tids = Vec::new();
        while let Some(Ok(entry)) = entries.next() {
            if let Some(tid) = entry
                .file_name()
                .to_str()
                .ok()
                .and_then(|n| n.parse::<u32>().ok())
            {
                tids.push(tid);
            }
        }
        let mut task = [0u8; 48];
        for tid in tids {
            if let Some(file) = open(proc, children_path(&mut task, pid, tid))
                && let Some(text) = read_at(&file, &mut self.buf)
            {
                queue.extend(parse_children(text));
            }
        }
    }
}

fn open(dir: &OwnedFd, path: &CStr) -> Option<OwnedFd> {
    rustix::fs::openat(dir, path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).ok()
}

/// `PID/task/TID/children`, as a C string in `buf`.
fn children_path(buf: &mut [u8; 48], pid: u32, tid: u32) -> &CStr {
    use std::io::Write;
    let mut cursor = std::io::Cursor::new(&mut buf[..]);
    if write!(cursor, "{pid}/task/{tid}/children\0").is_err() {
        return c"";
    }
    let len = cursor.position() as usize;
    CStr::from_bytes_with_nul(&buf[..len]).unwrap_or_default()
}

/// The whole of an open procfs file, read from its start: procfs makes it anew for a read
/// at offset 0. The buffer grows for a file longer than it (a process with many children).
fn read_at<'b>(file: &impl AsFd, buf: &'b mut Vec<u8>) -> Option<&'b [u8]> {
    let mut len = 0;
    loop {
        let n = rustix::io::pread(file, &mut buf[len..], len as u64).ok()?;
        len += n;
        if n == 0 || len < buf.len() {
            return Some(&buf[..len]);
        }
        buf.resize(buf.len() * 2, 0);
    }
}

/// The pids of a `children` file: numbers separated by spaces.
fn parse_children(text: &[u8]) -> impl Iterator<Item = u32> + '_ {
    text.split(|b| b.is_ascii_whitespace())
        .filter_map(|word| std::str::from_utf8(word).ok()?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::tree::read_trees;
    use crate::process::table::Snapshot;
    use std::time::{Duration, Instant};

    fn kill(pid: u32) {
        let _ = rustix::process::kill_process(
            rustix::process::Pid::from_raw(pid as i32).unwrap(),
            rustix::process::Signal::KILL,
        );
    }

    /// A shell with two sleeping children, once both show. The caller kills and waits.
    #[allow(clippy::zombie_processes)]
    fn family() -> (std::process::Child, Vec<u32>) {
        let child = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & sleep 30 & wait"])
            .spawn()
            .unwrap();
        let root = child.id();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let kids = Snapshot::take().descendants(root);
            if kids.len() == 2 || Instant::now() > deadline {
                return (child, kids);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn agrees_with_the_scan_and_lets_go_of_what_ended() {
        let (mut child, kids) = family();
        let root = child.id();
        let me = std::process::id();
        let mut trees = HeldTrees::new(64);
        for round in 0..3 {
            let held = trees.read(&[root, u32::MAX]);
            let scanned = read_trees(&Snapshot::take(), &[root]);
            let (h, s) = (held[0].usage, scanned[0]);
            assert_eq!(h.processes, 3, "round {round}: {h:?}");
            assert_eq!((h.processes, h.threads), (s.processes, s.threads));
            assert!(h.open_fds > 0 && h.rss_bytes > 0 && h.read_bytes.is_some());
            assert_eq!(
                held[0].root.unwrap().start_time,
                Snapshot::take().stat(root).unwrap().start_time
            );
            assert!(held[1].root.is_none());
            assert_eq!(held[1].usage, TreeUsage::default());
            assert_eq!(trees.holding(), 3);
        }
        kill(kids[0]);
        let deadline = Instant::now() + Duration::from_secs(5);
        while trees.read(&[root])[0].usage.processes != 2 {
            assert!(Instant::now() < deadline, "the killed child still counted");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(trees.holding(), 2);
        kill(kids[1]);
        kill(root);
        child.wait().unwrap();
        assert!(trees.read(&[root])[0].root.is_none());
        assert_eq!(trees.holding(), 0);
        // This test's own process has several threads: their children are found too.
        let mine = trees.read(&[me]);
        assert!(mine[0].usage.processes >= 1 && mine[0].usage.threads >= 1);
    }

    #[test]
    fn over_its_budget_it_reads_by_opening() {
        let (mut child, kids) = family();
        let root = child.id();
        let mut none = HeldTrees::new(0);
        let mut some = HeldTrees::new(64);
        let (a, b) = (none.read(&[root]), some.read(&[root]));
        assert_eq!(none.holding(), 0);
        assert_eq!(a[0].usage.processes, 3);
        assert_eq!(
            (a[0].usage.processes, a[0].usage.threads),
            (b[0].usage.processes, b[0].usage.threads)
        );
        for pid in kids {
            kill(pid);
        }
        kill(root);
        child.wait().unwrap();
    }

    #[test]
    fn children_files_and_paths() {
        assert_eq!(
            parse_children(b"12 345 6 ").collect::<Vec<_>>(),
            [12, 345, 6]
        );
        assert_eq!(parse_children(b"").count(), 0);
        let mut buf = [0u8; 48];
        assert_eq!(children_path(&mut buf, 42, 43), c"42/task/43/children");
        let mut buf = [0u8; 48];
        assert_eq!(
            children_path(&mut buf, u32::MAX, u32::MAX).to_bytes().len(),
            35
        );
    }
}
