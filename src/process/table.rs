//! Reading the process table from `/proc`: one process's stat line, and the descendants of
//! a process (what a stop must leave dead).

use std::collections::HashMap;
use std::ffi::CStr;
use std::io;

/// The fields of `/proc/PID/stat` berth uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    /// `R`, `S`, `D`, `Z`, `T` …
    pub state: char,
    pub ppid: u32,
    pub pgrp: u32,
    pub start_time: u64,
    /// User plus system CPU time, in clock ticks.
    pub cpu_ticks: u64,
    /// Resident set size, in pages.
    pub rss_pages: u64,
    pub threads: u32,
}

pub fn stat(pid: u32) -> io::Result<Stat> {
    let mut path = [0u8; 32];
    stat_in(
        rustix::fs::CWD,
        proc_path(&mut path, b"/proc/", pid, b"stat"),
    )
}

/// `PREFIX PID/LEAF` as a C string in `buf`, for `openat`: a round reads several files of
/// every process, and a `format!` would allocate for each. A leaf too long for `buf` (no
/// caller has one) gives the empty path, which opens nothing.
pub(crate) fn proc_path<'b>(
    buf: &'b mut [u8; 32],
    prefix: &[u8],
    pid: u32,
    leaf: &[u8],
) -> &'b CStr {
    let mut digits = [0u8; 10];
    let mut i = digits.len();
    let mut rest = pid;
    loop {
        i -= 1;
        digits[i] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let parts = [prefix, &digits[i..], b"/", leaf];
    if parts.iter().map(|p| p.len()).sum::<usize>() >= buf.len() {
        return c"";
    }
    let mut len = 0;
    for part in parts {
        buf[len..len + part.len()].copy_from_slice(part);
        len += part.len();
    }
    buf[len] = 0;
    CStr::from_bytes_until_nul(&buf[..]).unwrap_or_default()
}

/// Reads a stat file (`path` relative to `dir`) in one read: a snapshot reads one per
/// process on the machine, and `read_to_string` would take five reads for each.
fn stat_in(dir: impl rustix::fd::AsFd, path: &CStr) -> io::Result<Stat> {
    use rustix::fs::{Mode, OFlags};
    let file = rustix::fs::openat(dir, path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
    let mut buf = [0u8; 2048];
    let n = rustix::io::read(&file, &mut buf)?;
    let unreadable = || {
        let path = path.to_string_lossy();
        io::Error::new(io::ErrorKind::InvalidData, format!("unreadable {path}"))
    };
    if n == buf.len() {
        // Longer than any stat line seen: read the rest from the same file rather than cut it.
        let mut whole = buf.to_vec();
        std::io::Read::read_to_end(&mut std::fs::File::from(file), &mut whole)?;
        let text = String::from_utf8(whole).map_err(|_| unreadable())?;
        return parse_stat_text(&text).ok_or_else(unreadable);
    }
    let text = std::str::from_utf8(&buf[..n]).map_err(|_| unreadable())?;
    parse_stat_text(text).ok_or_else(unreadable)
}

/// A stat line as read (bytes), parsed.
pub(crate) fn parse_stat(bytes: &[u8]) -> Option<Stat> {
    parse_stat_text(std::str::from_utf8(bytes).ok()?)
}

/// The command name may hold spaces and parentheses, so fields are counted from the last `)`.
pub(crate) fn parse_stat_text(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    // After the name, field 3 (state) is index 0: field N is index N - 3. An array, not a
    // `Vec`: this runs for every process on the machine at every snapshot.
    let mut fields = [""; 22];
    let mut words = rest.split_whitespace();
    for field in &mut fields {
        *field = words.next()?;
    }
    Some(Stat {
        state: fields[0].chars().next()?,
        ppid: fields[1].parse().ok()?,
        pgrp: fields[2].parse().ok()?,
        start_time: fields[19].parse().ok()?,
        cpu_ticks: fields[11].parse::<u64>().ok()? + fields[12].parse::<u64>().ok()?,
        threads: fields[17].parse().ok()?,
        rss_pages: fields[21].parse().ok()?,
    })
}

/// The process table read once: answer many questions about trees from one scan of `/proc`
/// instead of one scan per question.
#[derive(Debug, Default)]
pub struct Snapshot {
    stats: HashMap<u32, Stat>,
}

impl Snapshot {
    /// Every live (non-zombie) process. The stat files are read on every core (see
    /// `ports::parallel`): the daemon takes a snapshot each monitoring interval, and the
    /// kernel's work behind each small read is most of what it costs.
    pub fn take() -> Snapshot {
        use rustix::fs::{Mode, OFlags};
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let Ok(proc) = rustix::fs::open("/proc", flags, Mode::empty()) else {
            return Snapshot::default();
        };
        let pids = pids_in(&proc);
        let stats = crate::ports::parallel::map(&pids, |&pid| {
            let mut path = [0u8; 32];
            let s = stat_in(&proc, proc_path(&mut path, b"", pid, b"stat")).ok()?;
            (s.state != 'Z').then_some((pid, s))
        });
        Snapshot {
            stats: stats.into_iter().flatten().collect(),
        }
    }

    pub fn stat(&self, pid: u32) -> Option<&Stat> {
        self.stats.get(&pid)
    }

    /// Every process of the snapshot, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Stat)> {
        self.stats.iter().map(|(&pid, stat)| (pid, stat))
    }

    /// Every live descendant of `root` (children, their children, …).
    pub fn descendants(&self, root: u32) -> Vec<u32> {
        let mut out = Vec::new();
        self.forest().append_descendants(root, &mut out);
        out
    }

    /// Who is whose child, worked out once: many trees are then read from it without a pass
    /// over the whole table for each (as `descendants` makes).
    pub fn forest(&self) -> Forest<'_> {
        let mut edges: Vec<(u32, u32)> = self.stats.iter().map(|(&pid, s)| (s.ppid, pid)).collect();
        edges.sort_unstable();
        Forest {
            snapshot: self,
            edges,
        }
    }
}

/// The parent → children relation of a [`Snapshot`]. A sorted list of (parent, child) pairs
/// rather than a map of lists: one allocation for the whole table, not one per parent.
#[derive(Debug)]
pub struct Forest<'a> {
    snapshot: &'a Snapshot,
    edges: Vec<(u32, u32)>,
}

impl Forest<'_> {
    /// The live children of `pid`, in pid order.
    pub fn children(&self, pid: u32) -> impl Iterator<Item = u32> + '_ {
        let from = self.edges.partition_point(|&(parent, _)| parent < pid);
        self.edges[from..]
            .iter()
            .take_while(move |&&(parent, _)| parent == pid)
            .map(|&(_, child)| child)
    }

    /// `root` followed by every live descendant; empty if `root` is not live.
    pub fn tree(&self, root: u32) -> Vec<u32> {
        let mut out = Vec::new();
        self.append_tree(root, &mut out);
        out
    }

    /// Appends what `tree` returns to `out`, so that the trees of many roots can share one
    /// vector.
    pub fn append_tree(&self, root: u32, out: &mut Vec<u32>) {
        if self.snapshot.stats.contains_key(&root) {
            out.push(root);
            self.append_descendants(root, out);
        }
    }

    fn append_descendants(&self, root: u32, out: &mut Vec<u32>) {
        // `out` doubles as the queue of parents still to visit. Every process has one parent,
        // so the walk meets a process twice only through a loop back to `root` (possible when
        // pids are reused while the table is read): skipping `root` ends it.
        let mut next = out.len();
        out.extend(self.children(root).filter(|&c| c != root));
        while next < out.len() {
            let parent = out[next];
            out.extend(self.children(parent).filter(|&c| c != root));
            next += 1;
        }
    }
}

/// The numeric entries of the open `/proc`, read with `getdents` into a buffer on the stack
/// (`read_dir` allocates for every entry, and most of `/proc` is processes).
fn pids_in(proc: &rustix::fd::OwnedFd) -> Vec<u32> {
    use std::mem::MaybeUninit;
    let mut buf = [MaybeUninit::<u8>::uninit(); 8192];
    let mut entries = rustix::fs::RawDir::new(proc, &mut buf);
    let mut pids = Vec::with_capacity(512);
    while let Some(Ok(entry)) = entries.next() {
        if let Some(pid) = entry.file_name().to_str().ok().and_then(|n| n.parse().ok()) {
            pids.push(pid);
        }
    }
    pids
}

/// When a process that started `start_time` clock ticks after boot started, in milliseconds
/// since the Unix epoch: its age on the boot clock (which the kernel's start times use, and
/// which keeps counting through a suspend), taken from the wall clock now. `/proc/stat`'s
/// `btime` would be simpler, but drifts from the wall clock on long-running machines and VMs.
pub fn started_at_ms(start_time: u64) -> Option<u64> {
    use rustix::time::{ClockId, clock_gettime};
    let hz = rustix::param::clock_ticks_per_second().max(1);
    let boot = clock_gettime(ClockId::Boottime);
    let boot_ms = boot.tv_sec as u64 * 1000 + boot.tv_nsec as u64 / 1_000_000;
    let age_ms = boot_ms.checked_sub(start_time * 1000 / hz)?;
    crate::logs::time::now_ms().checked_sub(age_ms)
}

/// Every live descendant of `root`, from a fresh scan.
pub fn descendants(root: u32) -> Vec<u32> {
    Snapshot::take().descendants(root)
}

/// The direct children of `pid`, from the kernel's per-thread `children` lists: a few small
/// reads, where a scan of the process table reads a file for every process on the machine.
/// `None` if the kernel keeps no such lists (CONFIG_PROC_CHILDREN) or `pid` is gone.
pub fn children(pid: u32) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let path = task.path().join("children");
        // A thread that ended meanwhile has no list to read; a kernel without lists has none.
        let Ok(text) = std::fs::read_to_string(&path) else {
            if path.parent().is_some_and(|dir| dir.exists()) {
                return None;
            }
            continue;
        };
        out.extend(
            text.split_whitespace()
                .filter_map(|c| c.parse::<u32>().ok()),
        );
    }
    Some(out)
}

/// `root` and every live descendant, walking the `children` lists (falling back to a scan of
/// the process table where the kernel keeps none). Cheap for a few small trees, whatever the
/// number of processes on the machine.
pub fn tree(root: u32) -> Vec<u32> {
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        match children(out[i]) {
            Some(kids) => out.extend(
                kids.into_iter()
                    .filter(|k| !out.contains(k))
                    .collect::<Vec<_>>(),
            ),
            None if i == 0 && std::path::Path::new(&format!("/proc/{root}")).exists() => {
                out.extend(descendants(root));
                return out;
            }
            None => {}
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_spaces_and_parentheses() {
        let line = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 7 0 987654 1000 10 0 0 0\n";
        let s = parse_stat_text(line).unwrap();
        assert_eq!(
            (s.state, s.ppid, s.pgrp, s.start_time),
            ('S', 1, 4242, 987654)
        );
        assert_eq!((s.cpu_ticks, s.threads, s.rss_pages), (3, 7, 10));
        // A line cut before the thread count is no reading.
        assert!(
            parse_stat_text("4242 (x) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0").is_none()
        );
        assert!(parse_stat_text("garbage").is_none());
    }

    #[test]
    fn builds_proc_paths() {
        let mut buf = [0u8; 32];
        assert_eq!(proc_path(&mut buf, b"", 0, b"fd"), c"0/fd");
        assert_eq!(
            proc_path(&mut buf, b"/proc/", 4242, b"stat"),
            c"/proc/4242/stat"
        );
        let widest = proc_path(&mut buf, b"/proc/", u32::MAX, b"stat");
        assert_eq!(widest, c"/proc/4294967295/stat");
        assert_eq!(proc_path(&mut buf, b"/proc/", 1, &[b'x'; 30]), c"");
    }

    #[test]
    fn a_snapshot_holds_this_process_and_no_zombie() {
        let snapshot = Snapshot::take();
        let me = snapshot.stat(std::process::id()).unwrap();
        assert!(me.threads >= 1 && me.rss_pages > 0, "{me:?}");
        assert!(snapshot.iter().all(|(_, s)| s.state != 'Z'));
        assert!(snapshot.iter().count() > 1);
    }

    #[test]
    fn a_stat_line_longer_than_one_read_is_read_whole_relative_to_its_dir() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("4242")).unwrap();
        let name = "x".repeat(3000);
        let line = format!(
            "4242 ({name}) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10 0 0 0\n"
        );
        std::fs::write(dir.path().join("4242/stat"), line).unwrap();
        let opened = std::fs::File::open(dir.path()).unwrap();
        let s = stat_in(&opened, c"4242/stat").unwrap();
        assert_eq!(
            (s.state, s.ppid, s.start_time, s.rss_pages),
            ('S', 1, 987654, 10)
        );
    }

    #[test]
    fn this_process_started_moments_ago() {
        let me = stat(std::process::id()).unwrap();
        let at = started_at_ms(me.start_time).unwrap();
        let now = crate::logs::time::now_ms();
        // Clock ticks are 10 ms; the test has run for less than ten minutes.
        assert!(at <= now + 20 && now - at < 600_000, "{at} vs {now}");
    }

    #[test]
    fn finds_grandchildren() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & sleep 30 & wait"])
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while descendants(child.id()).len() < 2 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let found = descendants(std::process::id());
        assert!(found.contains(&child.id()));
        let grandchildren = descendants(child.id());
        assert_eq!(grandchildren.len(), 2, "{grandchildren:?}");
        // The walk through the children lists sees the same tree as the scan.
        let mut walked = tree(child.id());
        assert_eq!(walked.remove(0), child.id());
        walked.sort();
        let mut scanned = grandchildren.clone();
        scanned.sort();
        assert_eq!(walked, scanned);
        assert!(tree(std::process::id()).contains(&child.id()));
        // So does the forest, once for several roots.
        let snapshot = Snapshot::take();
        let forest = snapshot.forest();
        let mut both = Vec::new();
        forest.append_tree(child.id(), &mut both);
        forest.append_tree(u32::MAX, &mut both);
        forest.append_tree(child.id(), &mut both);
        assert_eq!(both.len(), 6, "{both:?}");
        assert_eq!(both[..3], both[3..]);
        assert_eq!(both[0], child.id());
        let mut from_forest = both[1..3].to_vec();
        from_forest.sort();
        assert_eq!(from_forest, scanned);
        assert!(forest.tree(u32::MAX).is_empty());
        for pid in grandchildren {
            let _ = rustix::process::kill_process(
                rustix::process::Pid::from_raw(pid as i32).unwrap(),
                rustix::process::Signal::KILL,
            );
        }
        child.wait().unwrap();
    }
}
