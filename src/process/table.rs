//! Reading the process table from `/proc`: one process's stat line, and the descendants of
//! a process (what a stop must leave dead).

use std::collections::HashMap;
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
}

pub fn stat(pid: u32) -> io::Result<Stat> {
    stat_in(rustix::fs::CWD, &format!("/proc/{pid}/stat"))
}

/// Reads a stat file (`path` relative to `dir`) in one read: a snapshot reads one per
/// process on the machine, and `read_to_string` would take five reads for each.
fn stat_in(dir: impl rustix::fd::AsFd, path: &str) -> io::Result<Stat> {
    use rustix::fs::{Mode, OFlags};
    let file = rustix::fs::openat(dir, path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
    let mut buf = [0u8; 2048];
    let n = rustix::io::read(&file, &mut buf)?;
    let unreadable = || io::Error::new(io::ErrorKind::InvalidData, format!("unreadable {path}"));
    if n == buf.len() {
        // Longer than any stat line seen: read the rest from the same file rather than cut it.
        let mut whole = buf.to_vec();
        std::io::Read::read_to_end(&mut std::fs::File::from(file), &mut whole)?;
        let text = String::from_utf8(whole).map_err(|_| unreadable())?;
        return parse_stat(&text).ok_or_else(unreadable);
    }
    let text = std::str::from_utf8(&buf[..n]).map_err(|_| unreadable())?;
    parse_stat(text).ok_or_else(unreadable)
}

/// The command name may hold spaces and parentheses, so fields are counted from the last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name, field 3 (state) is index 0: field N is index N - 3.
    Some(Stat {
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        pgrp: fields.get(2)?.parse().ok()?,
        start_time: fields.get(19)?.parse().ok()?,
        cpu_ticks: fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?,
        rss_pages: fields.get(21)?.parse().ok()?,
    })
}

/// The process table read once: answer many questions about trees from one scan of `/proc`
/// instead of one scan per question.
#[derive(Debug, Default)]
pub struct Snapshot {
    stats: HashMap<u32, Stat>,
}

impl Snapshot {
    /// Every live (non-zombie) process.
    pub fn take() -> Snapshot {
        use rustix::fs::{Mode, OFlags};
        let (Ok(dir), Ok(proc)) = (
            std::fs::read_dir("/proc"),
            rustix::fs::open("/proc", OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()),
        ) else {
            return Snapshot::default();
        };
        let stats = dir
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter_map(|pid| {
                let s = stat_in(&proc, &format!("{pid}/stat")).ok()?;
                (s.state != 'Z').then_some((pid, s))
            })
            .collect();
        Snapshot { stats }
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
        let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
        for (&pid, s) in &self.stats {
            children.entry(s.ppid).or_default().push(pid);
        }
        let mut out = Vec::new();
        let mut frontier = vec![root];
        while let Some(parent) = frontier.pop() {
            for &child in children.get(&parent).map(Vec::as_slice).unwrap_or(&[]) {
                if !out.contains(&child) {
                    out.push(child);
                    frontier.push(child);
                }
            }
        }
        out
    }
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
        let line = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10 0 0 0\n";
        let s = parse_stat(line).unwrap();
        assert_eq!(
            (s.state, s.ppid, s.pgrp, s.start_time),
            ('S', 1, 4242, 987654)
        );
        assert!(parse_stat("garbage").is_none());
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
        let s = stat_in(&opened, "4242/stat").unwrap();
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
        for pid in grandchildren {
            let _ = rustix::process::kill_process(
                rustix::process::Pid::from_raw(pid as i32).unwrap(),
                rustix::process::Signal::KILL,
            );
        }
        child.wait().unwrap();
    }
}
