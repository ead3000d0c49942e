//! The socket table with its holders: for each listening socket, the process that holds it
//! (pid and start time, user, command line) and the berth service it belongs to, if any (by
//! the process's marks). What `berth ports`, `ports who` and `ports free` show and act on.
//! Sockets whose owner berth cannot see (another user's, without privilege) keep their user
//! (the kernel reports the socket's uid) with the process unknown.

use super::owners::{self, socket_inodes};
use super::parallel;
use super::socket_table::{Listener, Proto, listeners, listeners_on};
use crate::process::{ProcessId, markers};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::io;

/// One listening socket and who holds it; serialized as SPEC.md's `ports --json` entry.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Holder {
    pub port: u16,
    pub proto: Proto,
    pub address: String,
    pub pid: Option<u32>,
    pub user: Option<String>,
    pub command: Option<String>,
    /// The berth service holding it, when the holder carries berth's marks.
    pub service: Option<String>,
    /// That service's berth project.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The state dir of that service's stack.
    #[serde(skip)]
    pub stack: Option<String>,
    #[serde(skip)]
    pub process: Option<ProcessId>,
    #[serde(skip)]
    pub uid: u32,
}

impl Holder {
    /// `pid 4301 (alice: python3 -m http.server)`, or what is known of an unseen holder.
    pub fn describe(&self) -> String {
        let user = self.user.clone().unwrap_or_else(|| self.uid.to_string());
        match self.pid {
            Some(pid) => format!(
                "pid {pid} ({user}: {})",
                one_line(self.command.as_deref().unwrap_or("?"))
            ),
            None => format!("a process of {user} that berth cannot see"),
        }
    }
}

/// Every listening socket (UDP too with `udp`), by port then address, with its holder.
pub fn all(udp: bool) -> io::Result<Vec<Holder>> {
    read(|| listeners(udp))
}

/// Who listens on `port` (TCP and UDP, any address).
pub fn on_port(port: u16) -> io::Result<Vec<Holder>> {
    read(|| listeners_on(port, true))
}

/// The holders of `sockets` (one scan of the process table for all of them).
pub fn resolve(sockets: Vec<Listener>) -> Vec<Holder> {
    read(|| Ok(sockets)).unwrap_or_default()
}

/// The sockets `list` reads, with their holders: the process table is scanned while the
/// socket table is read.
fn read(list: impl FnOnce() -> io::Result<Vec<Listener>>) -> io::Result<Vec<Holder>> {
    let (sockets, first_seen) = owners::scan_while(|| {
        let sockets = list();
        let inodes = sockets.iter().flatten().map(|l| l.inode).collect();
        (sockets, inodes)
    });
    let mut sockets = sockets?;
    sockets.sort_by_key(|l| (l.port, l.proto, l.address));
    // A process usually holds many sockets: what is read about it is read once, and the
    // reads of different processes are shared among the cores.
    let mut seen: Vec<u32> = first_seen.values().copied().collect();
    seen.sort_unstable();
    seen.dedup();
    let mut known: HashMap<u32, Option<Process>> =
        parallel::map(&seen, |&pid| (pid, Process::read(pid)))
            .into_iter()
            .collect();
    let owner = topmost(first_seen, &mut known);
    let users = Users::read();
    Ok(sockets
        .into_iter()
        .map(|l| {
            let process = owner.get(&l.inode).and_then(|pid| known.get(pid)?.as_ref());
            let marks = process.and_then(|p| p.marks.clone());
            Holder {
                port: l.port,
                proto: l.proto,
                address: l.address.to_string(),
                pid: process.map(|p| p.id.pid),
                user: Some(users.name(l.uid)),
                command: process.and_then(|p| p.command.clone()),
                service: marks.as_ref().map(|m| m.2.clone()),
                project: marks.as_ref().map(|m| m.1.clone()),
                stack: marks.map(|m| m.0),
                process: process.map(|p| p.id),
                uid: l.uid,
            }
        })
        .collect())
}

/// Each socket's holder replaced by its highest ancestor that holds the same socket (a
/// server and the workers it forked share their listening socket; the scan meets the newer
/// workers first). An ancestor's descriptors and details are read once, however many
/// sockets are asked about.
fn topmost(
    first_seen: HashMap<u64, u32>,
    known: &mut HashMap<u32, Option<Process>>,
) -> HashMap<u64, u32> {
    let mut held: HashMap<u32, HashSet<u64>> = HashMap::new();
    first_seen
        .into_iter()
        .map(|(inode, mut pid)| {
            while let Some(ppid) = known.get(&pid).and_then(|p| Some(p.as_ref()?.ppid))
                && ppid > 1
                && held
                    .entry(ppid)
                    .or_insert_with(|| socket_inodes(ppid))
                    .contains(&inode)
                && known
                    .entry(ppid)
                    .or_insert_with(|| Process::read(ppid))
                    .is_some()
            {
                pid = ppid;
            }
            (inode, pid)
        })
        .collect()
}

/// What a holder shows of its process; `None` from `read` once it has ended.
struct Process {
    id: ProcessId,
    ppid: u32,
    command: Option<String>,
    marks: Option<(String, String, String)>,
}

impl Process {
    fn read(pid: u32) -> Option<Process> {
        let stat = crate::process::table::stat(pid).ok()?;
        Some(Process {
            id: ProcessId {
                pid,
                start_time: stat.start_time,
            },
            ppid: stat.ppid,
            command: command_line(pid),
            marks: markers::of_process(pid),
        })
    }
}

/// A command line made fit for one line of a message or a table: line breaks, tabs and other
/// control characters (a `python3 -c` script holds many) are shown escaped (`\n`).
pub fn one_line(command: &str) -> String {
    command
        .chars()
        .map(|c| match c.is_control() {
            true => c.escape_default().to_string(),
            false => c.to_string(),
        })
        .collect()
}

/// A process's command line, its arguments separated by spaces.
pub fn command_line(pid: u32) -> Option<String> {
    let raw = crate::process::read_proc(pid, "cmdline").ok()?;
    let text = String::from_utf8_lossy(&raw)
        .split('\0')
        .filter(|a| !a.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    // Kernel threads have no command line: their name stands in.
    if text.is_empty() {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
        return Some(format!("[{}]", stat.trim()));
    }
    Some(text)
}

/// User names by uid, from `/etc/passwd`; a uid with no entry is shown as its number.
pub struct Users(HashMap<u32, String>);

impl Users {
    pub fn read() -> Users {
        let text = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        Users(parse_passwd(&text))
    }

    pub fn name(&self, uid: u32) -> String {
        self.0.get(&uid).cloned().unwrap_or_else(|| uid.to_string())
    }
}

fn parse_passwd(text: &str) -> HashMap<u32, String> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let uid = fields.nth(1)?.parse().ok()?;
            Some((uid, name.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let inode = listeners_on(port, false).unwrap()[0].inode;
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
        let holders = on_port(port).unwrap();
        assert_eq!(holders.len(), 1);
        assert_eq!(holders[0].pid, Some(parent.id()));
        assert_eq!(holders[0].process, ProcessId::of(parent.id()).ok());
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
    fn passwd_lines_give_names_and_junk_is_skipped() {
        let users = parse_passwd(
            "root:x:0:0:root:/root:/bin/bash\n# comment\nalice:x:1000:1000::/home/alice:/bin/sh\nbroken\n",
        );
        assert_eq!(users.get(&0).map(String::as_str), Some("root"));
        assert_eq!(users.get(&1000).map(String::as_str), Some("alice"));
        assert_eq!(users.len(), 2);
        assert_eq!(Users(users).name(4242), "4242");
    }

    #[test]
    fn a_command_with_line_breaks_is_shown_on_one_line() {
        assert_eq!(
            one_line("python3 -c import os\nprint(1)\tx"),
            "python3 -c import os\\nprint(1)\\tx"
        );
        let holder = Holder {
            port: 8000,
            proto: Proto::Tcp,
            address: "127.0.0.1".into(),
            pid: Some(42),
            user: Some("alice".into()),
            command: Some("sh -c 'a\nb'".into()),
            service: None,
            project: None,
            stack: None,
            process: None,
            uid: 1000,
        };
        assert_eq!(holder.describe(), "pid 42 (alice: sh -c 'a\\nb')");
    }

    #[test]
    fn our_own_listener_is_found_with_its_holder() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        let found = on_port(port).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        let me = &found[0];
        assert_eq!(me.pid, Some(std::process::id()));
        assert_eq!(me.address, "127.0.0.1");
        assert_eq!(me.proto, Proto::Tcp);
        assert!(me.command.as_deref().is_some_and(|c| !c.is_empty()));
        assert!(me.service.is_none());
        assert!(all(false).unwrap().iter().any(|h| h.port == port));
    }
}
