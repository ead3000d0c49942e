//! Finding a stack's processes by the markers berth puts in every service's environment
//! (`BERTH_STACK`, `BERTH_PROJECT`, `BERTH_SERVICE`): how services are rediscovered when
//! their run files are lost, and how the remains of an instance whose keeper died are found.
//! `BERTH_STACK` is the state dir, so two checkouts of one project never claim each other's
//! processes. (Not `BERTH_STATE_DIR`: that one would redirect a `berth` the service runs.)

use super::ProcessId;
use super::table::Snapshot;
use std::collections::BTreeMap;
use std::path::Path;

pub const STACK: &str = "BERTH_STACK";
pub const PROJECT: &str = "BERTH_PROJECT";
pub const SERVICE: &str = "BERTH_SERVICE";

/// A process carrying a service's mark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Marked {
    pub id: ProcessId,
    pub ppid: u32,
    pub pgrp: u32,
}

/// Every live process marked as part of `project` in `state_dir`, by service name. Processes
/// whose environment cannot be read (another user's) are not ours and are skipped.
pub fn scan(snapshot: &Snapshot, state_dir: &Path, project: &str) -> BTreeMap<String, Vec<Marked>> {
    let me = std::process::id();
    let mut found: BTreeMap<String, Vec<Marked>> = BTreeMap::new();
    let state_dir = state_dir.as_os_str().as_encoded_bytes();
    for (pid, stat) in snapshot.iter() {
        if pid == me {
            continue;
        }
        let Ok(environ) = super::read_proc(pid, "environ") else {
            continue;
        };
        let Some(mark) = mark(&environ) else {
            continue;
        };
        if mark.state_dir != state_dir || mark.project != project.as_bytes() {
            continue;
        }
        let Ok(service) = String::from_utf8(mark.service.to_vec()) else {
            continue;
        };
        found.entry(service).or_default().push(Marked {
            id: ProcessId {
                pid,
                start_time: stat.start_time,
            },
            ppid: stat.ppid,
            pgrp: stat.pgrp,
        });
    }
    for marked in found.values_mut() {
        marked.sort_by_key(|m| (m.id.start_time, m.id.pid));
    }
    found
}

/// The berth service process `pid` belongs to by its marks: (state dir, project, service).
pub fn of_process(pid: u32) -> Option<(String, String, String)> {
    let environ = super::read_proc(pid, "environ").ok()?;
    let mark = mark(&environ)?;
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    Some((text(mark.state_dir), text(mark.project), text(mark.service)))
}

/// The three markers of one environment (`/proc/PID/environ`: `KEY=value` entries separated
/// by NUL bytes), when all three are there.
#[derive(Debug, PartialEq, Eq)]
struct Mark<'a> {
    state_dir: &'a [u8],
    project: &'a [u8],
    service: &'a [u8],
}

fn mark(environ: &[u8]) -> Option<Mark<'_>> {
    let (mut state_dir, mut project, mut service) = (None, None, None);
    for entry in environ.split(|&b| b == 0) {
        let Some(eq) = entry.iter().position(|&b| b == b'=') else {
            continue;
        };
        let (key, value) = (&entry[..eq], &entry[eq + 1..]);
        let slot = match key {
            k if k == STACK.as_bytes() => &mut state_dir,
            k if k == PROJECT.as_bytes() => &mut project,
            k if k == SERVICE.as_bytes() => &mut service,
            _ => continue,
        };
        // The first entry wins, as it does for getenv.
        slot.get_or_insert(value);
    }
    Some(Mark {
        state_dir: state_dir?,
        project: project?,
        service: service?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_three_markers_and_nothing_less() {
        let env = b"HOME=/root\0BERTH_SERVICE=api\0BERTH_PROJECT=shop\0X=a=b\0BERTH_STACK=/s/.berth\0BERTH_SERVICE=late\0";
        assert_eq!(
            mark(env),
            Some(Mark {
                state_dir: b"/s/.berth",
                project: b"shop",
                service: b"api",
            })
        );
        assert_eq!(mark(b"BERTH_SERVICE=api\0BERTH_PROJECT=shop\0"), None);
        assert_eq!(mark(b""), None);
        assert_eq!(mark(b"\0\0garbage\0=\0"), None);
    }

    #[test]
    fn finds_a_marked_child_and_only_for_its_own_state_dir() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = crate::process::spawn_execed(
            std::process::Command::new("sleep")
                .arg("30")
                .env(STACK, dir.path())
                .env(PROJECT, "shop")
                .env(SERVICE, "api"),
        );
        let id = ProcessId::of(child.id()).unwrap();
        let found = scan(&Snapshot::take(), dir.path(), "shop");
        assert_eq!(found["api"].iter().map(|m| m.id).collect::<Vec<_>>(), [id]);
        assert!(scan(&Snapshot::take(), dir.path(), "other").is_empty());
        assert!(scan(&Snapshot::take(), Path::new("/elsewhere"), "shop").is_empty());
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
