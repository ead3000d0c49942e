//! Which process owns a socket: `/proc/PID/fd/*` links read `socket:[INODE]`. Scans stop as
//! soon as every inode asked about is found; sockets of processes berth may not look into
//! (another user's, without privilege) stay unowned rather than failing the scan.

use super::socket_table::Listener;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

/// The socket inodes process `pid` holds open (empty when it cannot be read). Each link is
/// read relative to the open `fd` directory: a full `/proc/PID/fd/N` path would be walked
/// again for every descriptor, and that walk was a third of what `berth ports` cost. The
/// directory is listed through its own descriptor (no second open of it) into a buffer on the
/// stack, and a process whose first link is refused is left at once: the kernel's ptrace
/// check that refused it refuses every other link of that process too.
pub fn socket_inodes(pid: u32) -> HashSet<u64> {
    use rustix::fs::{Mode, OFlags, RawDir, openat, readlinkat};
    let mut found = HashSet::new();
    let Ok(fd_dir) = openat(
        rustix::fs::CWD,
        format!("/proc/{pid}/fd"),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) else {
        return found;
    };
    let mut listing = [std::mem::MaybeUninit::<u8>::uninit(); 8192];
    let mut entries = RawDir::new(&fd_dir, &mut listing);
    let mut buf = Vec::with_capacity(64);
    while let Some(Ok(entry)) = entries.next() {
        let name = entry.file_name();
        if name.to_bytes().first() == Some(&b'.') {
            continue;
        }
        let target = match readlinkat(&fd_dir, name, std::mem::take(&mut buf)) {
            Ok(target) => target,
            Err(rustix::io::Errno::ACCESS) => break,
            // Closed since the listing: the others are still worth reading.
            Err(_) => continue,
        };
        found.extend(socket_inode(target.to_bytes()));
        buf = target.into_bytes();
    }
    found
}

/// The inode of a descriptor link that reads `socket:[INODE]`.
fn socket_inode(link: &[u8]) -> Option<u64> {
    let digits = link.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// The first process seen holding each of the socket inodes that `list` names, found by
/// scanning the process table while `list` runs on this thread (reading the socket table and
/// reading `/proc` overlap on two cores), and `list`'s own result. Reading every process's
/// descriptors is most of the cost of the `ports` commands, so the table is shared among as
/// many threads as there are cores, newest processes first (a port in question is usually
/// held by something started recently, not by the machine's old daemons), each taking the
/// next process as soon as it is free. Until `list` is done the threads keep every socket
/// they see; once it is, they keep only what it named and stop when all of that is found.
pub fn scan_while<T>(list: impl FnOnce() -> (T, HashSet<u64>)) -> (T, HashMap<u64, u32>) {
    let mut pids: Vec<u32> = match std::fs::read_dir("/proc") {
        Ok(dir) => dir
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .collect(),
        Err(_) => Vec::new(),
    };
    newest_first(&mut pids, std::process::id(), pid_max());
    let wanted: OnceLock<HashSet<u64>> = OnceLock::new();
    let found = Mutex::new(Found::default());
    // The next pid to look at, for whichever thread is free first; past the end once every
    // wanted socket is found.
    let next = AtomicUsize::new(0);
    let scan = || {
        while let Some(&pid) = pids.get(next.fetch_add(1, Ordering::Relaxed)) {
            let held = socket_inodes(pid);
            let mut found = found.lock().unwrap_or_else(|e| e.into_inner());
            if found.add(pid, held, wanted.get()) {
                next.store(pids.len(), Ordering::Relaxed);
            }
        }
    };
    let listed = std::thread::scope(|scope| {
        // A scanner per core, and this thread lists the sockets, then scans too. (With one
        // scanner fewer, the scheduler at times kept the lister and the lone scanner on one
        // core for milliseconds: half the runs took 40 % longer.)
        for _ in 0..super::parallel::cores() {
            scope.spawn(scan);
        }
        let (listed, inodes) = list();
        let _ = wanted.set(inodes);
        scan();
        listed
    });
    let wanted = wanted.into_inner().unwrap_or_default();
    let mut found = found.into_inner().unwrap_or_else(|e| e.into_inner());
    found.holder.retain(|inode, _| wanted.contains(inode));
    (listed, found.holder)
}

/// What the scan threads share: the first process seen holding each socket, and how many of
/// the wanted ones are among them (counted from the moment the wanted set is known).
#[derive(Debug, Default)]
struct Found {
    holder: HashMap<u64, u32>,
    /// Wanted sockets with a holder; `None` until the wanted set is known.
    matched: Option<usize>,
}

impl Found {
    /// Records the sockets `pid` holds (only the wanted ones once `wanted` is known); true
    /// when every wanted socket has a holder.
    fn add(&mut self, pid: u32, held: HashSet<u64>, wanted: Option<&HashSet<u64>>) -> bool {
        let Some(wanted) = wanted else {
            for inode in held {
                self.holder.entry(inode).or_insert(pid);
            }
            return false;
        };
        let holder = &self.holder;
        let matched = self
            .matched
            .get_or_insert_with(|| holder.keys().filter(|i| wanted.contains(i)).count());
        for inode in held {
            if wanted.contains(&inode)
                && let std::collections::hash_map::Entry::Vacant(slot) = self.holder.entry(inode)
            {
                slot.insert(pid);
                *matched += 1;
            }
        }
        *matched == wanted.len()
    }
}

/// The kernel's largest pid plus one, after which pids start again from the bottom.
fn pid_max() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(1 << 22)
}

/// Orders `pids` from the most recently given out (just below `me`, the newest process
/// there is) to the oldest: pids are handed out upwards and wrap around at `pid_max`, so it
/// is the distance below `me`, modulo `pid_max`, that says how new a pid is.
fn newest_first(pids: &mut [u32], me: u32, pid_max: u32) {
    pids.sort_unstable_by_key(|&pid| (me + pid_max - pid) % pid_max);
}

/// Whether a process of `tree` holds one of `listeners` on `port` (on any address): the
/// default readiness signal of a service with a port. Only when something listens on the port
/// is the tree listed and its fds read.
pub fn listening_on<T: IntoIterator<Item = u32>>(
    listeners: &[Listener],
    port: u16,
    tree: impl FnOnce() -> T,
) -> bool {
    let inodes: HashSet<u64> = listeners
        .iter()
        .filter(|l| l.port == port)
        .map(|l| l.inode)
        .collect();
    !inodes.is_empty()
        && tree()
            .into_iter()
            .any(|pid| !socket_inodes(pid).is_disjoint(&inodes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::socket_table::listeners;

    /// The socket inode listening on TCP `port`.
    fn inode_of(port: u16) -> u64 {
        listeners(false)
            .unwrap()
            .into_iter()
            .find(|l| l.port == port)
            .unwrap()
            .inode
    }

    #[test]
    fn finds_the_owner_of_our_own_listener() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        let inode = inode_of(port);
        assert!(socket_inodes(std::process::id()).contains(&inode));
        // Listed while the scan runs: found all the same, and nothing else is kept.
        let (listed, owners) = scan_while(|| ("listed", HashSet::from([inode])));
        assert_eq!(listed, "listed");
        assert_eq!(owners, HashMap::from([(inode, std::process::id())]));
    }

    #[test]
    fn the_scan_stops_once_every_wanted_socket_is_held_counting_those_seen_before() {
        let set = |v: &[u64]| v.iter().copied().collect::<HashSet<u64>>();
        let mut found = Found::default();
        // Before the wanted set is known everything is kept.
        assert!(!found.add(10, set(&[1, 2, 99]), None));
        let wanted = set(&[1, 2, 3]);
        // 1 and 2 were seen already; 2 again from another process changes nothing.
        assert!(!found.add(11, set(&[2, 98]), Some(&wanted)));
        assert_eq!(found.holder.get(&2), Some(&10));
        assert!(!found.holder.contains_key(&98));
        assert!(found.add(12, set(&[3]), Some(&wanted)));
        // An empty wanted set is complete at once.
        assert!(Found::default().add(1, set(&[]), Some(&set(&[]))));
    }

    #[test]
    fn newest_pids_come_first_across_a_wrap() {
        // pid_max 100: we are 5, so 4, 3 … were given out just before us, 99 before them.
        let mut pids = vec![1, 3, 4, 50, 98, 99, 5];
        newest_first(&mut pids, 5, 100);
        assert_eq!(pids, [5, 4, 3, 1, 99, 98, 50]);
        let mut pids = vec![10, 70, 90];
        newest_first(&mut pids, 95, 100);
        assert_eq!(pids, [90, 70, 10]);
    }

    #[test]
    fn a_tree_listens_only_on_the_ports_it_holds() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        let me = || vec![std::process::id()];
        let table = listeners(false).unwrap();
        assert!(listening_on(&table, port, me));
        let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let other_port = other.local_addr().unwrap().port();
        drop(other);
        let table = listeners(false).unwrap();
        assert!(!listening_on(&table, other_port, me));
        // A process that does not hold the socket is not listening on it.
        // Once exec'd: until then it holds copies of this process's descriptors.
        let mut sleeper =
            crate::process::spawn_execed(std::process::Command::new("sleep").arg("30"));
        assert!(!listening_on(&table, port, || vec![sleeper.id()]));
        sleeper.kill().unwrap();
        sleeper.wait().unwrap();
    }
}
