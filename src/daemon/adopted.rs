//! An adopted instance: one berth did not start and no shim keeps (SPEC.md, Ports: *Adopt*),
//! kept as well as berth can from the outside. Its exit is seen at once through a pidfd (its
//! exit status cannot be: it is not berth's child), its stop is the stop signal to its whole
//! tree and SIGKILL after the stop timeout, every signal through the pid-and-start-time
//! check. It is recorded in its run file (an `Adoption`), so a daemon killed meanwhile is
//! followed by one that adopts it again, and its log says once that its output is not
//! captured (nothing holds its stdout).

use super::launch::{log_path, run_file_path};
use super::rediscover;
use crate::logs::writer::{LogWriter, Stream};
use crate::process::{ProcessId, markers, table};
use crate::shim::ShimSpec;
use crate::stack::{Service, Stack};
use crate::state::run_file::Adoption;
use std::os::fd::OwnedFd;
use std::time::Duration;

/// What `status`, `logs` and the API say of every adopted instance.
pub const NOT_CAPTURED: &str = "adopted: output not captured";

/// An adopted instance being watched.
pub struct Adopted {
    pub id: ProcessId,
    /// Readable once it has exited; `None` when it ended before one could be had.
    pidfd: Option<OwnedFd>,
}

impl Adopted {
    /// Adopts `id` as `service`'s instance on `port`: recorded in its run file and noted in
    /// its log. `first`: adopted now, not again by a new daemon (which notes nothing).
    pub fn take(
        stack: &Stack,
        service: &Service,
        id: ProcessId,
        port: Option<u16>,
        first: bool,
    ) -> Adopted {
        let pidfd = id.pidfd().ok().flatten();
        let adoption = Adoption {
            project: stack.project.clone(),
            service: service.name.clone(),
            adopted: id,
            port,
            started_at_ms: table::started_at_ms(id.start_time).unwrap_or(0),
        };
        if let Err(e) = adoption.write(&run_file_path(stack, &service.name)) {
            // Watched all the same; only a daemon after this one will not know it.
            crate::daemon::log(format_args!(
                "{}: cannot record the adopted pid {}: {e}",
                service.name, id.pid
            ));
        }
        if first {
            note(
                stack,
                service,
                &format!(
                    "adopted pid {} (started outside berth): its output is not captured",
                    id.pid
                ),
            );
        }
        Adopted { id, pidfd }
    }

    /// The pidfd to wait on; `None` once handed out or never had.
    pub fn take_pidfd(&mut self) -> Option<OwnedFd> {
        self.pidfd.take()
    }

    /// When its main process started (ms since the Unix epoch).
    pub fn started_at_ms(&self) -> u64 {
        table::started_at_ms(self.id.start_time).unwrap_or(0)
    }

    /// Stops it as its shim would have: the stop signal to every process of its tree (and
    /// anything else still marked as the service), then SIGKILL to what is left after
    /// `timeout`. Returns once nothing of it runs.
    pub fn stop(&self, stack: &Stack, service: &Service, timeout: Duration) {
        stop(stack, service, self.id, timeout);
    }
}

/// Stops the adopted instance `id` of `service` (see `Adopted::stop`); also what `down` does
/// with no daemon.
pub fn stop(stack: &Stack, service: &Service, id: ProcessId, timeout: Duration) {
    let mut ids = rediscover::remains(stack, &service.name, None);
    ids.extend(tree(id));
    ids.sort_by_key(|id| (id.pid, id.start_time));
    ids.dedup();
    crate::process::terminate::terminate(&ids, service.stop.signal.number(), timeout);
}

/// Whether an instance of `service` that berth does not keep passes its health, as SPEC.md's
/// *adopt* asks: its health check when it has one (a single check, with its timeout). With
/// none, what makes a started instance ready and healthy stands in: with a port, that it
/// listens on it (`holds_port`: its holder does), else that it runs. A `ready_log` or
/// `notify` signal cannot be had from an instance already running, so it does not count.
pub fn healthy(
    service: &Service,
    spec: &ShimSpec,
    port_of: &dyn Fn(&str) -> Option<u16>,
    holds_port: bool,
) -> bool {
    match &service.health {
        Some(health) => super::probe::check(health, port_of, &spec.env, &spec.cwd).is_ok(),
        None => holds_port || service.port.is_none(),
    }
}

/// Writes one of berth's own lines to the service's log.
pub fn note(stack: &Stack, service: &Service, text: &str) {
    if let Ok(mut log) = LogWriter::open(
        &log_path(stack, &service.name),
        service.log.max_size,
        service.log.keep,
    ) {
        log.line(Stream::Berth, text.as_bytes());
    }
}

/// `id` and its live descendants (a tree the instance's main process leads).
fn tree(id: ProcessId) -> Vec<ProcessId> {
    if !id.is_alive() {
        return Vec::new();
    }
    let mut ids = vec![id];
    ids.extend(
        table::descendants(id.pid)
            .into_iter()
            .filter_map(|pid| ProcessId::of(pid).ok())
            // A descendant is younger than its ancestor: an older one is a pid reused.
            .filter(|d| d.start_time >= id.start_time),
    );
    ids
}

/// The process to adopt among the holders of the service's port: the oldest, raised to its
/// highest ancestor that carries the service's own marks (`sh -c` around the server, a
/// launcher that forked it), so the whole instance is watched and stopped. A process that
/// `match` recognised carries no marks: it is taken as it is.
pub fn main_of(stack: &Stack, service: &str, holders: &[ProcessId]) -> Option<ProcessId> {
    let oldest = holders
        .iter()
        .filter(|id| id.is_alive())
        .min_by_key(|id| (id.start_time, id.pid))?;
    let state_dir = stack.state_dir.to_string_lossy();
    let ours = |pid: u32| {
        markers::of_process(pid).is_some_and(|(dir, project, name)| {
            dir == state_dir && project == stack.project && name == service
        })
    };
    let mut main = *oldest;
    while let Ok(stat) = table::stat(main.pid)
        && stat.ppid > 1
        && ours(stat.ppid)
        && let Ok(parent) = ProcessId::of(stat.ppid)
    {
        main = parent;
    }
    Some(main)
}

/// The top of an orphan's marked processes (found by `rediscover`): the oldest whose parent
/// is not marked too.
pub fn top_of(remains: &[ProcessId]) -> Option<ProcessId> {
    let is_remains = |pid: u32| remains.iter().any(|r| r.pid == pid);
    remains
        .iter()
        .filter(|id| id.is_alive())
        .filter(|id| table::stat(id.pid).is_ok_and(|s| !is_remains(s.ppid)))
        .min_by_key(|id| (id.start_time, id.pid))
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_top_of_a_tree_is_its_oldest_process_without_a_parent_in_it() {
        let mut parent = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & wait"])
            .spawn()
            .unwrap();
        let parent_id = ProcessId::of(parent.id()).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let child = loop {
            if let Some(&child) = table::descendants(parent.id()).first() {
                break child;
            }
            assert!(std::time::Instant::now() < deadline, "sleep never started");
            std::thread::sleep(Duration::from_millis(2));
        };
        let child_id = ProcessId::of(child).unwrap();
        assert_eq!(top_of(&[child_id, parent_id]), Some(parent_id));
        assert_eq!(top_of(&[child_id]), Some(child_id));
        assert_eq!(tree(parent_id), vec![parent_id, child_id]);
        let reused = ProcessId {
            start_time: parent_id.start_time + 1,
            ..parent_id
        };
        assert_eq!(
            tree(reused),
            Vec::new(),
            "never a pid of another start time"
        );
        let _ = child_id.signal(rustix::process::Signal::KILL);
        parent.kill().unwrap();
        parent.wait().unwrap();
    }
}
