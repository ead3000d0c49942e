//! `berth down`: stop services and what depends on them (default: all, then the daemon).
//! Nothing of theirs stays alive: each shim stops its service's whole process tree.

use super::args::Global;
use super::up::load_with_services;
use super::{Exit, Failure};
use crate::api::client::{ClientError, call};
use crate::api::types::{DownRequest, UpResponse};
use crate::daemon::launch::run_file_path;
use crate::daemon::paths::Paths;
use crate::daemon::rediscover::{Earlier, Markings};
use crate::process::terminate::terminate;
use crate::stack::Stack;
use crate::stack::graph::Graph;
use crate::state::run_file::RunFile;
use std::time::Duration;

/// Long enough for any stop timeout; the shims enforce the real ones.
const DOWN_TIMEOUT: Duration = Duration::from_secs(3600);

pub fn run(
    global: &Global,
    services: &[String],
    timeout: Option<Duration>,
    force: bool,
) -> Result<Exit, Failure> {
    let stack = load_with_services(global, services)?;
    let timeout = if force { Some(Duration::ZERO) } else { timeout };
    let stopped = take_down(&stack, services, timeout)?;
    if !global.quiet {
        say_stopped(&stopped);
    }
    Ok(Exit::Done)
}

/// What `down` does: stops `services` and their dependents, and with no names, everything
/// and then the daemon.
pub fn take_down(
    stack: &Stack,
    services: &[String],
    timeout: Option<Duration>,
) -> Result<Vec<String>, Failure> {
    let stopped = stop(stack, services, timeout)?;
    if services.is_empty() {
        let paths = Paths::new(&stack.state_dir);
        let _ = call::<(), serde_json::Value>(
            &paths.socket,
            "POST",
            "/v1/daemon/stop",
            None,
            Duration::from_secs(10),
        );
    }
    Ok(stopped)
}

pub fn say_stopped(stopped: &[String]) {
    if stopped.is_empty() {
        eprintln!("nothing was running");
    } else {
        eprintln!("stopped {}", stopped.join(", "));
    }
}

/// Stops `services` and their dependents (all when empty), through the daemon if one runs,
/// else through the shims directly; `timeout` overrides every stop timeout (zero: SIGKILL at
/// once). Returns what was stopped, in stop order.
pub fn stop(
    stack: &Stack,
    services: &[String],
    timeout: Option<Duration>,
) -> Result<Vec<String>, Failure> {
    let paths = Paths::new(&stack.state_dir);
    let request = DownRequest {
        services: services.to_vec(),
        timeout_ms: timeout.map(|t| t.as_millis() as u64),
    };
    match call::<_, UpResponse>(
        &paths.socket,
        "POST",
        "/v1/down",
        Some(&request),
        DOWN_TIMEOUT,
    ) {
        Ok(stopped) => Ok(stopped.services),
        // Instances `berth scale` made are not in the file: their run files tell.
        Err(ClientError::NotRunning) => Ok(stop_directly(
            &super::replicas::as_left(stack.clone()),
            services,
            timeout,
        )),
        Err(e) => Err(super::daemon_failure(e)),
    }
}

/// Without the daemon (killed, stopped with `daemon stop`, or too slow for a forced stop):
/// each shim is asked to stop its service, dependents first, and waited for. Services whose run
/// files are lost are found by their markers; remains without a shim are stopped directly.
pub fn stop_directly(stack: &Stack, names: &[String], timeout: Option<Duration>) -> Vec<String> {
    let graph = Graph::new(&stack.services);
    let wanted: Vec<&str> = if names.is_empty() {
        stack.services.iter().map(|s| s.name.as_str()).collect()
    } else {
        let roots: Vec<&str> = names.iter().map(String::as_str).collect();
        graph.with_dependents(&roots)
    };
    // Dependents first: the levels from the last, each in config order (as the daemon does).
    let targets: Vec<&str> = graph
        .levels()
        .into_iter()
        .rev()
        .flatten()
        .filter(|name| wanted.contains(name))
        .collect();
    let markings = Markings::default();
    let mut stopped = Vec::new();
    for name in targets {
        let run_file = run_file_path(stack, name);
        // A shim still cleaning up after its service is asked too, not only a running one.
        let earlier = match RunFile::read(&run_file).filter(|r| r.shim.is_alive()) {
            Some(record) => Some(Earlier::Running(record)),
            None => markings.earlier(stack, name),
        };
        let done = match earlier {
            Some(Earlier::Running(record)) => {
                let asked =
                    crate::shim::stop::request(&run_file, record.shim, timeout).unwrap_or(false);
                record.shim.wait_gone();
                asked
            }
            Some(Earlier::Adopted(adoption)) => {
                let service = stack.service(name).expect("in the stack");
                let timeout = timeout.unwrap_or(service.stop.timeout);
                crate::daemon::adopted::stop(stack, service, adoption.adopted, timeout);
                true
            }
            Some(Earlier::Orphaned(remains)) => {
                let service = stack.service(name).expect("in the stack");
                let timeout = timeout.unwrap_or(service.stop.timeout);
                terminate(&remains, service.stop.signal.number(), timeout);
                true
            }
            None => false,
        };
        if done {
            stopped.push(name.to_string());
        }
    }
    stopped
}
