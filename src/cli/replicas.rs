//! The CLI's side of replicas: which names a command line may use (a replicated service,
//! any of its instances, even one only `berth scale` made), and the loaded config brought to
//! the counts the daemon runs (or, without a daemon, the run files show), so that `restart`,
//! `logs` and `down` act on every running instance.

use crate::api::client::call;
use crate::api::types::StatusResponse;
use crate::daemon::paths::Paths;
use crate::stack::Stack;
use std::collections::BTreeMap;
use std::time::Duration;

/// Whether `name` may be named: a service, a replicated service, or `NAME.K` of one (the
/// daemon knows whether instance K runs).
pub fn nameable(stack: &Stack, name: &str) -> bool {
    stack.knows(name) || instance_of(stack, name).is_some()
}

/// `(service, K)` when `name` is `SERVICE.K` of a replicated service, K ≥ 1.
pub fn instance_of<'a>(stack: &Stack, name: &'a str) -> Option<(&'a str, u32)> {
    let (of, k) = name.rsplit_once('.')?;
    let k: u32 = k.parse().ok().filter(|k| *k >= 1)?;
    stack.replicated.contains_key(of).then_some((of, k))
}

/// The instance counts of the running stack, from the daemon's status; empty when no
/// daemon answers.
pub fn running_counts(stack: &Stack) -> BTreeMap<String, u32> {
    // Nothing to ask about: no call, so commands on other stacks cost what they did.
    if stack.replicated.is_empty() {
        return BTreeMap::new();
    }
    let paths = Paths::new(&stack.state_dir);
    let Ok(status) = call::<(), StatusResponse>(
        &paths.socket,
        "GET",
        "/v1/status?usage=false",
        None,
        Duration::from_secs(10),
    ) else {
        return BTreeMap::new();
    };
    counts(stack, status.services.iter().map(|s| s.name.as_str()))
}

/// How many instances of each replicated service `names` (a status' rows) show.
fn counts<'a>(stack: &Stack, names: impl Iterator<Item = &'a str>) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    for name in names {
        if let Some((of, k)) = instance_of(stack, name) {
            let n = out.entry(of.to_string()).or_insert(0);
            *n = (*n).max(k);
        }
    }
    out
}

/// `stack` with each replicated service at the count the daemon runs (a count the file
/// cannot give, such as one past its ports, is left as the file says).
pub fn as_running(mut stack: Stack) -> Stack {
    for (name, count) in running_counts(&stack) {
        let _ = stack.scale(&name, count);
    }
    stack
}

/// `stack` with each replicated service at least at the count its run files show: the
/// instances `berth scale` made, for what works without the daemon (`down`, `status`).
pub fn as_left(mut stack: Stack) -> Stack {
    if stack.replicated.is_empty() {
        return stack;
    }
    let Ok(dir) = std::fs::read_dir(stack.state_dir.join("run")) else {
        return stack;
    };
    let names: Vec<String> = dir
        .filter_map(|e| {
            let file = e.ok()?.file_name().into_string().ok()?;
            Some(file.strip_suffix(".json")?.to_string())
        })
        .collect();
    for (name, count) in counts(&stack, names.iter().map(String::as_str)) {
        if stack.replicated.get(&name).is_some_and(|r| count > r.count) {
            let _ = stack.scale(&name, count);
        }
    }
    stack
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_counts_of_instances() {
        let (_dir, stack) = crate::stack::replicas::load(
            "services:\n  w: { command: w, replicas: 2 }\n  v1.2: { command: v }\n",
        );
        assert!(nameable(&stack, "w") && nameable(&stack, "w.2") && nameable(&stack, "w.9"));
        assert!(
            nameable(&stack, "v1.2"),
            "a plain service's own dotted name"
        );
        assert!(!nameable(&stack, "w.0") && !nameable(&stack, "w.x") && !nameable(&stack, "v1"));
        let rows = ["w.1", "w.2", "w.5", "v1.2"];
        assert_eq!(
            counts(&stack, rows.into_iter()),
            [("w".to_string(), 5)].into()
        );
    }
}
