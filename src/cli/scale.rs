//! `berth scale NAME=N…`: how many instances of a replicated service run, changed in the
//! running stack through `POST /v1/scale`, then waited for as `up` waits.

use super::args::Global;
use super::up::{Voice, load_with_services, wait};
use super::{Exit, Failure};
use crate::api::client::call;
use crate::api::types::{ScaleRequest, ScaleResponse};
use crate::daemon::paths::Paths;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub fn run(
    global: &Global,
    counts: &[(String, u32)],
    no_wait: bool,
    timeout: Option<Duration>,
) -> Result<Exit, Failure> {
    let names: Vec<String> = counts.iter().map(|(n, _)| n.clone()).collect();
    let stack = load_with_services(global, &names)?;
    let mut services = BTreeMap::new();
    for (name, count) in counts {
        if services.insert(name.clone(), *count).is_some() {
            return Err(Failure::usage(format!("`{name}` is named twice")));
        }
    }
    let paths = Paths::new(&stack.state_dir);
    let started = Instant::now();
    let response: ScaleResponse = call(
        &paths.socket,
        "POST",
        "/v1/scale",
        Some(&ScaleRequest { services }),
        Duration::from_secs(120),
    )
    .map_err(|e| match e {
        crate::api::client::ClientError::NotRunning => {
            Failure::failed("no daemon runs for this stack: run `berth up` first")
        }
        e => super::daemon_failure(e),
    })?;
    let voice = match global.json {
        true => Voice::Silent,
        false => Voice::of(global),
    };
    if voice == Voice::Progress {
        for s in &response.services {
            eprintln!("{}: {} → {} instances", s.service, s.from, s.to);
        }
        if !response.stopped.is_empty() {
            eprintln!("stopped {}", response.stopped.join(", "));
        }
    }
    let outcome = match no_wait || response.started.is_empty() {
        true => Ok(Exit::Done),
        // Once the failed instance is fixed, a restart of it starts it again.
        false => wait(
            voice,
            &stack,
            &paths,
            &response.started,
            &super::up::command_line("restart", &response.started),
            started,
            timeout,
        ),
    };
    if global.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&response).expect("serializable")
        );
    }
    outcome
}
