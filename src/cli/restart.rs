//! `berth restart`: stop services and start them again. A `failed` service gets a fresh start
//! (its circuit closes); dependents that were running come back too.

use super::args::Global;
use super::up::{Voice, bring_up, command_line, load_with_services};
use super::{Exit, Failure};
use crate::api::client::call;
use crate::api::types::StatusResponse;
use crate::daemon::paths::Paths;
use crate::daemon::supervisor::ServiceState;
use crate::stack::graph::Graph;
use std::time::Duration;

pub fn run(
    global: &Global,
    services: &[String],
    timeout: Option<Duration>,
) -> Result<Exit, Failure> {
    // At the counts the daemon runs: a restart keeps what `berth scale` made.
    let stack = super::replicas::as_running(load_with_services(global, services)?);
    let paths = Paths::new(&stack.state_dir);
    let running: Vec<String> = call::<(), StatusResponse>(
        &paths.socket,
        "GET",
        "/v1/status",
        None,
        Duration::from_secs(10),
    )
    .map(|s| {
        s.services
            .into_iter()
            .filter(|v| {
                !matches!(
                    v.state,
                    ServiceState::Stopped | ServiceState::Exited | ServiceState::Failed
                )
            })
            .map(|v| v.name)
            .collect()
    })
    .unwrap_or_default();
    // Nothing is stopped that could not be started again.
    crate::state::check_writable(&stack.state_dir).map_err(Failure::failed)?;
    super::down::stop(&stack, services, None)?;
    let again: Vec<String> = if services.is_empty() {
        Vec::new()
    } else {
        // `api` is each of its instances, each started again even if it had failed.
        let instances = stack.expand_names(services);
        let roots: Vec<&str> = instances.iter().map(String::as_str).collect();
        Graph::new(&stack.services)
            .with_dependents(&roots)
            .into_iter()
            .filter(|name| roots.contains(name) || running.iter().any(|r| r == name))
            .map(String::from)
            .collect()
    };
    let voice = Voice::of(global);
    let retry = command_line("restart", services);
    bring_up(&stack, &again, false, timeout, voice, &retry)
}
