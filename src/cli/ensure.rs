//! `berth ensure`: for scripts and tools that need services up before they talk to them.
//! Prints nothing on success; fast when everything is already up; any number of concurrent
//! callers start the daemon and each service exactly once (the daemon's lock, and `up`
//! keeping what already runs).

use super::args::Global;
use super::up::{Voice, bring_up, command_line, load_with_services};
use super::{Exit, Failure};
use std::time::Duration;

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

pub fn run(
    global: &Global,
    services: &[String],
    timeout: Option<Duration>,
) -> Result<Exit, Failure> {
    // Making sure is not applying the file: what `berth scale` made stays.
    let stack = super::replicas::as_running(load_with_services(global, services)?);
    bring_up(
        &stack,
        services,
        false,
        Some(timeout.unwrap_or(DEFAULT_TIMEOUT)),
        Voice::Silent,
        &command_line("ensure", services),
    )
}
