//! What a daemon finds of a service before it starts one: an instance its run file names
//! (kept by a shim, or adopted by an earlier daemon), an instance kept by a live shim whose
//! run file was lost (rediscovered by the processes' markers, and re-adopted), or an
//! instance of the stack no shim keeps (an orphan: the port strategy decides whether it is
//! adopted, replaced, or moved away from). Never a second instance by mistake.

use super::launch::{log_path, run_file_path};
use crate::process::ProcessId;
use crate::process::markers::{self, Marked};
use crate::process::table::{self, Snapshot};
use crate::stack::Stack;
use crate::state::run_file::{Adoption, Outcome, Record, RunFile};
use std::cell::OnceCell;
use std::collections::BTreeMap;

/// An earlier instance of a service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Earlier {
    /// Running under a live shim: watch it instead of starting another.
    Running(RunFile),
    /// Adopted by an earlier daemon and running still: adopt it again.
    Adopted(Adoption),
    /// Marked as the service and kept by no shim: these processes (the port strategy
    /// decides what becomes of them).
    Orphaned(Vec<ProcessId>),
}

/// The process table and every marked process of the stack, by service: read once, on first
/// need, for all the services of one command.
#[derive(Default)]
pub struct Markings(OnceCell<(Snapshot, BTreeMap<String, Vec<Marked>>)>);

impl Markings {
    fn get(&self, stack: &Stack) -> &(Snapshot, BTreeMap<String, Vec<Marked>>) {
        self.0.get_or_init(|| {
            let snapshot = Snapshot::take();
            let marked = markers::scan(&snapshot, &stack.state_dir, &stack.project);
            (snapshot, marked)
        })
    }

    /// The earlier instance of `name`, if any: from its run file when that names a live
    /// instance, else from the markers (a rediscovered instance's run file is written anew,
    /// so its shim's stop requests and the next daemon find it).
    pub fn earlier(&self, stack: &Stack, name: &str) -> Option<Earlier> {
        match Record::read(&run_file_path(stack, name)) {
            Some(Record::Kept(record)) if record.is_live() => {
                return Some(Earlier::Running(record));
            }
            // The shim wrote how its instance ended only once everything it started was gone:
            // there is nothing to look for, and no need to read every process's environment
            // (the bulk of a cold `up`'s own work on a busy machine).
            Some(Record::Kept(record)) if record.outcome.is_final() => return None,
            Some(Record::Adopted(adoption)) if adoption.adopted.is_alive() => {
                return Some(Earlier::Adopted(adoption));
            }
            _ => {}
        }
        let (snapshot, marked) = self.get(stack);
        let marked = marked.get(name).filter(|m| !m.is_empty())?;
        Some(match keeper(marked, &shim_of) {
            Some((shim, main)) => {
                let record = RunFile {
                    project: stack.project.clone(),
                    service: name.to_string(),
                    shim,
                    main: Some(main.id),
                    pgid: Some(main.pgrp),
                    port: stack.configured_port(name),
                    log: log_path(stack, name),
                    started_at_ms: table::started_at_ms(main.id.start_time).unwrap_or(0),
                    outcome: Outcome::Running,
                    ready: true,
                };
                let path = run_file_path(stack, name);
                if let Some(dir) = path.parent() {
                    let _ = std::fs::create_dir_all(dir);
                }
                if let Ok(json) = serde_json::to_vec(&record) {
                    let _ = crate::state::write_atomic(&path, &json);
                }
                Earlier::Running(record)
            }
            None => Earlier::Orphaned(with_descendants(
                snapshot,
                marked.iter().map(|m| m.id).collect(),
            )),
        })
    }
}

/// What is left of an instance whose shim died: its main process and everything marked
/// as the service, with their descendants (which may have cleared their environment).
pub fn remains(stack: &Stack, name: &str, record: Option<&RunFile>) -> Vec<ProcessId> {
    let markings = Markings::default();
    let (snapshot, marked) = markings.get(stack);
    let mut ids: Vec<ProcessId> = marked
        .get(name)
        .map(|m| m.iter().map(|m| m.id).collect())
        .unwrap_or_default();
    ids.extend(record.and_then(|r| r.main).filter(ProcessId::is_alive));
    with_descendants(snapshot, ids)
}

fn with_descendants(snapshot: &Snapshot, mut ids: Vec<ProcessId>) -> Vec<ProcessId> {
    let roots: Vec<u32> = ids.iter().map(|id| id.pid).collect();
    for root in roots {
        for pid in snapshot.descendants(root) {
            if let Some(stat) = snapshot.stat(pid) {
                ids.push(ProcessId {
                    pid,
                    start_time: stat.start_time,
                });
            }
        }
    }
    ids.sort_by_key(|id| (id.pid, id.start_time));
    ids.dedup();
    ids
}

/// The live shim keeping the marked processes, and their main process: the oldest of the
/// shim's marked children (anything else under the shim was forked by it, so is younger,
/// even an escaped grandchild the shim inherited). `None` when no marked process is a child
/// of a shim.
fn keeper(
    marked: &[Marked],
    shim_of: &dyn Fn(u32) -> Option<ProcessId>,
) -> Option<(ProcessId, Marked)> {
    let is_marked = |pid: u32| marked.iter().any(|m| m.id.pid == pid);
    let tops: Vec<&Marked> = marked.iter().filter(|m| !is_marked(m.ppid)).collect();
    let shim = tops.iter().find_map(|m| shim_of(m.ppid))?;
    let main = tops
        .iter()
        .filter(|m| m.ppid == shim.pid)
        .min_by_key(|m| (m.id.start_time, m.id.pid))?;
    Some((shim, **main))
}

/// `pid` if it is a live `berth shim`.
fn shim_of(pid: u32) -> Option<ProcessId> {
    let cmdline = crate::process::read_proc(pid, "cmdline").ok()?;
    let mut args = cmdline.split(|&b| b == 0);
    args.next()?;
    (args.next()? == b"shim").then(|| ProcessId::of(pid).ok())?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marked(pid: u32, ppid: u32, pgrp: u32, start_time: u64) -> Marked {
        Marked {
            id: ProcessId { pid, start_time },
            ppid,
            pgrp,
        }
    }

    const SHIM: ProcessId = ProcessId {
        pid: 100,
        start_time: 5,
    };

    fn shims(pid: u32) -> Option<ProcessId> {
        (pid == SHIM.pid).then_some(SHIM)
    }

    #[test]
    fn main_is_the_oldest_child_of_the_shim() {
        // Main's own child, and an escaped grandchild (own group) the shim inherited.
        let list = [
            marked(201, 200, 200, 10),
            marked(205, 100, 205, 11),
            marked(200, 100, 200, 9),
        ];
        let (shim, main) = keeper(&list, &shims).unwrap();
        assert_eq!(shim, SHIM);
        assert_eq!(main.id.pid, 200);
    }

    #[test]
    fn processes_without_a_live_shim_are_kept_by_nobody() {
        // Reparented to init when their shim died.
        let list = [marked(200, 1, 200, 9), marked(201, 200, 200, 10)];
        assert_eq!(keeper(&list, &shims), None);
        assert_eq!(keeper(&[], &shims), None);
    }
}
