//! Which process owns a socket: `/proc/PID/fd/*` links read `socket:[INODE]`. Scans stop as
//! soon as every inode asked about is found; sockets of processes berth may not look into
//! (another user's, without privilege) stay unowned rather than failing the scan.

use super::socket_table::Listener;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// The socket inodes process `pid` holds open (empty when it cannot be read). Each link is
/// read relative to the open `fd` directory: a full `/proc/PID/fd/N` path would be walked
/// again for every descriptor, and that walk was a third of what `berth ports` cost.
pub fn socket_inodes(pid: u32) -> HashSet<u64> {
    use rustix::fs::{Dir, Mode, OFlags, openat, readlinkat};
    let Ok(fd_dir) = openat(
        rustix::fs::CWD,
        format!("/proc/{pid}/fd"),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) else {
        return HashSet::new();
    };
    let Ok(entries) = Dir::read_from(&fd_dir) else {
        return HashSet::new();
    };
    let mut found = HashSet::new();
    let mut buf = Vec::with_capacity(64);
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name.to_bytes().first() == Some(&b'.') {
            continue;
        }
        let Ok(target) = readlinkat(&fd_dir, name, std::mem::take(&mut buf)) else {
            continue;
        };
        let inode: Option<u64> = target
            .to_bytes()
            .strip_prefix(b"socket:[")
            .and_then(|rest| rest.strip_suffix(b"]"))
            .and_then(|digits| std::str::from_utf8(digits).ok()?.parse().ok());
        found.extend(inode);
        buf = target.into_bytes();
    }
    found
}

/// For each of `inodes`, the process holding it (the topmost of a line of parents and
/// children that share it, as a server and its forked workers do), searching the process
/// table until all are found. Reading every process's descriptors is most of the cost of the
/// `ports` commands, so the table is shared among as many threads as there are cores, newest
/// processes first (a port in question is usually held by something started recently, not by
/// the machine's old daemons); each thread stops once every inode has been found by any of
/// them.
pub fn owners(inodes: &HashSet<u64>) -> HashMap<u64, u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return HashMap::new();
    };
    let mut pids: Vec<u32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .collect();
    newest_first(&mut pids, std::process::id(), pid_max());
    // The cores this process may run on. (`available_parallelism` also reads the cgroup's
    // CPU quota: four more files to open on every call.)
    let threads = rustix::thread::sched_getaffinity(None)
        .map_or(1, |set| set.count() as usize)
        .clamp(1, 8);
    let found = Mutex::new(HashMap::new());
    std::thread::scope(|scope| {
        for first in 0..threads {
            let found = &found;
            let pids = &pids;
            scope.spawn(move || {
                // Interleaved: every thread starts among the newest.
                for &pid in pids.iter().skip(first).step_by(threads) {
                    let held: Vec<u64> = socket_inodes(pid)
                        .into_iter()
                        .filter(|inode| inodes.contains(inode))
                        .collect();
                    let mut found = found.lock().unwrap_or_else(|e| e.into_inner());
                    for inode in held {
                        found.entry(inode).or_insert(pid);
                    }
                    if found.len() == inodes.len() {
                        return;
                    }
                }
            });
        }
    });
    topmost(found.into_inner().unwrap_or_else(|e| e.into_inner()))
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

/// Each holder replaced by its highest ancestor that holds the same socket. A process holding
/// many sockets has its parent looked up once.
fn topmost(found: HashMap<u64, u32>) -> HashMap<u64, u32> {
    let mut parents: HashMap<u32, Option<u32>> = HashMap::new();
    let mut held: HashMap<u32, HashSet<u64>> = HashMap::new();
    let mut parent = |pid: u32| {
        *parents.entry(pid).or_insert_with(|| {
            let ppid = crate::process::table::stat(pid).ok()?.ppid;
            (ppid > 1).then_some(ppid)
        })
    };
    found
        .into_iter()
        .map(|(inode, mut pid)| {
            while let Some(ppid) = parent(pid)
                && held
                    .entry(ppid)
                    .or_insert_with(|| socket_inodes(ppid))
                    .contains(&inode)
            {
                pid = ppid;
            }
            (inode, pid)
        })
        .collect()
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
        let owners = owners(&HashSet::from([inode]));
        assert_eq!(owners.get(&inode), Some(&std::process::id()));
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
    fn a_socket_shared_with_a_forked_child_belongs_to_the_parent() {
        let script = "import socket, os, time\ns = socket.socket()\ns.bind(('127.0.0.1', 0))\ns.listen()\nprint(s.getsockname()[1], flush=True)\nif os.fork() == 0:\n    time.sleep(30)\n    os._exit(0)\ntime.sleep(30)\n";
        let mut parent = std::process::Command::new("python3")
            .args(["-c", script])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(parent.stdout.as_mut().unwrap()),
            &mut line,
        )
        .unwrap();
        let port: u16 = line.trim().parse().unwrap();
        let inode = inode_of(port);
        // The child (newer, so scanned first) holds it too; the parent is named.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let child = loop {
            let child = crate::process::table::descendants(parent.id());
            if child.iter().any(|&c| socket_inodes(c).contains(&inode)) {
                break child;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the child never held it"
            );
            std::thread::sleep(std::time::Duration::from_millis(2));
        };
        assert_eq!(
            owners(&HashSet::from([inode])).get(&inode),
            Some(&parent.id())
        );
        for pid in child {
            let _ = rustix::process::kill_process(
                rustix::process::Pid::from_raw(pid as i32).unwrap(),
                rustix::process::Signal::KILL,
            );
        }
        parent.kill().unwrap();
        parent.wait().unwrap();
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
