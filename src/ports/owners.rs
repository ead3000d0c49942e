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

/// For each of `inodes`, a process holding it, searching the process table until all are
/// found. Reading every process's descriptors is most of the cost of the `ports` commands,
/// so the table is split among as many threads as there are cores; each stops once every
/// inode has been found by any of them.
pub fn owners(inodes: &HashSet<u64>) -> HashMap<u64, u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return HashMap::new();
    };
    let pids: Vec<u32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    let found = Mutex::new(HashMap::new());
    let chunk = pids.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        for part in pids.chunks(chunk) {
            let found = &found;
            scope.spawn(move || {
                for &pid in part {
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
    found.into_inner().unwrap_or_else(|e| e.into_inner())
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

    #[test]
    fn finds_the_owner_of_our_own_listener() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        let inode = listeners(false)
            .unwrap()
            .into_iter()
            .find(|l| l.port == port)
            .unwrap()
            .inode;
        assert!(socket_inodes(std::process::id()).contains(&inode));
        let owners = owners(&HashSet::from([inode]));
        assert_eq!(owners.get(&inode), Some(&std::process::id()));
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
        let mut sleeper = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        assert!(!listening_on(&table, port, || vec![sleeper.id()]));
        sleeper.kill().unwrap();
        sleeper.wait().unwrap();
    }
}
