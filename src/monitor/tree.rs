//! A service's whole process tree: CPU, memory, descriptors, threads, processes and I/O.

use std::ffi::CStr;
use std::mem::MaybeUninit;

use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{AtFlags, Mode, OFlags, RawDir};

use crate::ports::parallel;
use crate::process::table::{Snapshot, proc_path};

/// What a service's process tree holds and has used, at one reading.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TreeUsage {
    pub processes: u32,
    /// User plus system CPU time of the live processes, in clock ticks.
    pub cpu_ticks: u64,
    pub rss_bytes: u64,
    pub threads: u64,
    /// Entries of each process's `/proc/PID/fd`; a process whose list is unreadable (another
    /// user's) counts 0.
    pub open_fds: u64,
    /// `read_bytes` of `/proc/PID/io`, summed over the processes whose file was readable;
    /// `None` if none was.
    pub read_bytes: Option<u64>,
    pub write_bytes: Option<u64>,
}

/// The storage I/O of one process, from `/proc/PID/io`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Io {
    pub read_bytes: u64,
    pub write_bytes: u64,
}

/// Reads the trees of `roots` (main pids of services) as `snapshot` saw them; one entry per
/// root, in order. The sampler walks the trees with held files instead (`monitor::held`);
/// this, from a scan of every process, is what that walk is checked and measured against. A root that is not in the snapshot reads as `TreeUsage::default()`.
pub fn read_trees(snapshot: &Snapshot, roots: &[u32]) -> Vec<TreeUsage> {
    let forest = snapshot.forest();
    // Every tree's pids in one vector, `ends[i]` closing root i's: the per-process reads
    // below are then shared among the cores as one list, however the trees are sized.
    let mut pids = Vec::new();
    let mut ends = Vec::with_capacity(roots.len());
    for &root in roots {
        forest.append_tree(root, &mut pids);
        ends.push(pids.len());
    }
    let extras = match open_proc() {
        Some(proc) => parallel::map(&pids, |&pid| Extra::read(&proc, pid)),
        None => vec![Extra::default(); pids.len()],
    };
    let page = rustix::param::page_size() as u64;
    let mut start = 0;
    ends.iter()
        .map(|&end| {
            let mut usage = TreeUsage::default();
            for (pid, extra) in pids[start..end].iter().zip(&extras[start..end]) {
                // Every pid came from the snapshot's own table.
                let Some(stat) = snapshot.stat(*pid) else {
                    continue;
                };
                usage.processes += 1;
                usage.cpu_ticks += stat.cpu_ticks;
                usage.rss_bytes += stat.rss_pages * page;
                usage.threads += u64::from(stat.threads);
                usage.open_fds += extra.fds;
                if let Some(io) = extra.io {
                    usage.read_bytes = Some(usage.read_bytes.unwrap_or(0) + io.read_bytes);
                    usage.write_bytes = Some(usage.write_bytes.unwrap_or(0) + io.write_bytes);
                }
            }
            start = end;
            usage
        })
        .collect()
}

/// What a process's stat line does not tell.
#[derive(Clone, Copy, Debug, Default)]
struct Extra {
    fds: u64,
    io: Option<Io>,
}

impl Extra {
    fn read(proc: &OwnedFd, pid: u32) -> Extra {
        let mut path = [0u8; 32];
        Extra {
            fds: count_fds(proc, proc_path(&mut path, b"", pid, b"fd")).unwrap_or(0),
            io: read_io(proc, proc_path(&mut path, b"", pid, b"io")),
        }
    }
}

fn open_proc() -> Option<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    rustix::fs::open("/proc", flags, Mode::empty()).ok()
}

/// The descriptors open in a process: its `fd` directory (`path` in `dir`). Since Linux 6.2
/// the kernel gives their number as the directory's size, in one `stat` (a fifth of what
/// listing costs); before, the size is 0 and the directory is listed.
pub(super) fn count_fds(dir: impl AsFd, path: &CStr) -> Option<u64> {
    let size = rustix::fs::statat(&dir, path, AtFlags::empty())
        .ok()?
        .st_size;
    if size > 0 {
        return u64::try_from(size).ok();
    }
    list_fds(dir, path)
}

/// Entries of the directory `path` (in `dir`) but `.` and `..`, read with `getdents` into a
/// buffer on the stack (`read_dir` allocates for every entry).
fn list_fds(dir: impl AsFd, path: &CStr) -> Option<u64> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(dir, path, flags, Mode::empty()).ok()?;
    let mut buf = [MaybeUninit::<u8>::uninit(); 4096];
    let mut entries = RawDir::new(fd, &mut buf);
    let mut count = 0;
    while let Some(entry) = entries.next() {
        // A process that ends while its list is read: what was read is what it held.
        let Ok(entry) = entry else { break };
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            count += 1;
        }
    }
    Some(count)
}

/// `/proc/PID/io` in one read; `None` if it is not ours to read (another user's process) or
/// the process is gone.
pub(super) fn read_io(dir: impl AsFd, path: &CStr) -> Option<Io> {
    let fd = rustix::fs::openat(dir, path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).ok()?;
    // Seven short lines: 512 bytes hold them with every counter at its widest.
    let mut buf = [0u8; 512];
    let n = rustix::io::read(&fd, &mut buf).ok()?;
    parse_io(std::str::from_utf8(&buf[..n]).ok()?)
}

/// The `read_bytes:` and `write_bytes:` lines of `/proc/PID/io`; `None` unless both parse.
pub fn parse_io(text: &str) -> Option<Io> {
    let (mut read, mut write) = (None, None);
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("read_bytes:") {
            read = Some(v.trim().parse().ok()?);
        } else if let Some(v) = line.strip_prefix("write_bytes:") {
            write = Some(v.trim().parse().ok()?);
        }
    }
    Some(Io {
        read_bytes: read?,
        write_bytes: write?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn parses_the_io_file() {
        let text = "rchar: 6976\nwchar: 12\nsyscr: 10\nsyscw: 1\nread_bytes: 4096\n\
                    write_bytes: 8192\ncancelled_write_bytes: 512\n";
        let io = parse_io(text).unwrap();
        assert_eq!((io.read_bytes, io.write_bytes), (4096, 8192));
        assert!(parse_io("").is_none());
        assert!(parse_io("read_bytes: 1\n").is_none());
        assert!(parse_io("read_bytes: x\nwrite_bytes: 2\n").is_none());
        // `cancelled_write_bytes` is not `write_bytes`.
        assert!(parse_io("read_bytes: 1\ncancelled_write_bytes: 2\n").is_none());
    }

    #[test]
    fn counting_and_listing_descriptors_agree() {
        let proc = open_proc().unwrap();
        let mut path = [0u8; 32];
        let me = proc_path(&mut path, b"", std::process::id(), b"fd");
        // Other test threads open and close files meanwhile: the two counts come close.
        let (counted, listed) = (count_fds(&proc, me).unwrap(), list_fds(&proc, me).unwrap());
        assert!(
            counted > 0 && listed > 0 && counted.abs_diff(listed) < 64,
            "{counted} {listed}"
        );
        assert_eq!(count_fds(&proc, c"4294967295/fd"), None);
        assert_eq!(list_fds(&proc, c"4294967295/fd"), None);
    }

    #[test]
    fn a_root_that_does_not_exist_reads_as_nothing() {
        let snapshot = Snapshot::take();
        assert_eq!(
            read_trees(&snapshot, &[u32::MAX]),
            vec![TreeUsage::default()]
        );
        assert!(read_trees(&snapshot, &[]).is_empty());
    }

    #[test]
    fn reads_a_child_and_its_grandchildren() {
        // `wait` keeps the shell itself: a shell may exec a last plain command in its place.
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & sleep 30 & wait"])
            .spawn()
            .unwrap();
        let root = child.id();
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut snapshot = Snapshot::take();
        while snapshot.descendants(root).len() < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
            snapshot = Snapshot::take();
        }
        let me = std::process::id();
        let trees = read_trees(&snapshot, &[root, u32::MAX, me]);
        let kill = |pid: u32| {
            let _ = rustix::process::kill_process(
                rustix::process::Pid::from_raw(pid as i32).unwrap(),
                rustix::process::Signal::KILL,
            );
        };
        for pid in snapshot.descendants(root) {
            kill(pid);
        }
        kill(root);
        child.wait().unwrap();

        let tree = trees[0];
        assert_eq!(trees[1], TreeUsage::default());
        assert_eq!(tree.processes, 3, "{tree:?}");
        assert!(tree.threads >= 3, "{tree:?}");
        assert!(tree.open_fds > 0 && tree.rss_bytes > 0, "{tree:?}");
        assert!(
            tree.read_bytes.is_some() && tree.write_bytes.is_some(),
            "{tree:?}"
        );
        // This test's own tree holds the child's.
        let mine = trees[2];
        assert!(mine.processes > tree.processes, "{mine:?}");
        assert!(mine.threads > tree.threads && mine.open_fds >= tree.open_fds);
    }
}
