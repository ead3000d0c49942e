//! The MCP tools as a model sees them: each one's arguments (their JSON Schema derived from the
//! types they are read into) and a description of what it does, when to use it and what it
//! returns.

use rmcp::model::{Tool, ToolAnnotations};
use rmcp::schemars::JsonSchema;
use serde::Deserialize;

/// The arguments of the tools that act on services.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(crate = "rmcp::schemars")]
pub struct Services {
    /// Service names as in berth.yaml. Empty or absent: all of them.
    #[serde(default)]
    pub services: Vec<String>,
}

/// The arguments of the tools that start services and wait for them.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(crate = "rmcp::schemars")]
pub struct Start {
    /// Service names as in berth.yaml (their dependencies come too). Empty or absent: every
    /// service the config starts by default.
    #[serde(default)]
    pub services: Vec<String>,
    /// Give up waiting after this long, e.g. "30s", "2m". Default "60s".
    pub timeout: Option<String>,
}

/// The arguments of `logs` and `events`: what happened lately.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(crate = "rmcp::schemars")]
pub struct Recent {
    /// Service names as in berth.yaml. Empty or absent: all of them, interleaved by time.
    #[serde(default)]
    pub services: Vec<String>,
    /// How many of the latest, at most (default: 100 log lines, 50 events).
    #[schemars(range(min = 1, max = 10000))]
    pub lines: Option<u32>,
    /// Only those from this long ago on, e.g. "10m", "2h", "1d".
    pub since: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(crate = "rmcp::schemars")]
pub struct Stats {
    /// Service names as in berth.yaml. Empty or absent: all of them.
    #[serde(default)]
    pub services: Vec<String>,
    /// The window, from this long ago until now, e.g. "15m", "24h". Default "1h".
    pub since: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(crate = "rmcp::schemars")]
pub struct PortsWho {
    /// The TCP or UDP port number, 1 to 65535.
    #[schemars(range(min = 1))]
    pub port: u16,
}

/// Every tool, in the order a model would reach for them.
pub fn all() -> Vec<Tool> {
    let read_only = || ToolAnnotations::new().read_only(true).open_world(false);
    let acting = |idempotent| {
        ToolAnnotations::new()
            .read_only(false)
            .destructive(false)
            .idempotent(idempotent)
            .open_world(false)
    };
    vec![
        tool::<Services>("status", STATUS).annotate(read_only()),
        tool::<Start>("ensure", ENSURE).annotate(acting(true)),
        tool::<Start>("up", UP).annotate(acting(true)),
        tool::<Services>("down", DOWN).annotate(acting(true).destructive(true)),
        tool::<Start>("restart", RESTART).annotate(acting(false).destructive(true)),
        tool::<Recent>("logs", LOGS).annotate(read_only()),
        tool::<Recent>("events", EVENTS).annotate(read_only()),
        tool::<Stats>("stats", STATS).annotate(read_only()),
        tool::<PortsWho>("ports_who", PORTS_WHO).annotate(read_only()),
    ]
}

fn tool<T: JsonSchema + 'static>(name: &'static str, description: &'static str) -> Tool {
    Tool::new(name, description, rmcp::model::JsonObject::new()).with_input_schema::<T>()
}

const STATUS: &str = "Show each service of the local stack (berth.yaml): state (running, \
starting, stopped, exited, failed, ...), health, score, pid, port, uptime, restarts, CPU and \
memory, and the stack's overall health. Use it first, to see what runs before acting, and after \
an action to check it worked. Works whether or not berth's daemon runs. Returns a table as text \
and the full status as JSON (`services[]` with `name`, `state`, `health`, `port`, `pid`, \
`reason` when failed, ...).";

const ENSURE: &str = "Make sure services are up and ready before you use them (e.g. before \
running tests or sending requests): starts berth's daemon and the services with their \
dependencies if needed, does nothing for those already ready, and waits until every one is \
ready. Safe to call repeatedly. Returns which services are ready and their status as JSON; if \
one fails to start, an error with its reason and the last lines of its log.";

const UP: &str = "Start services (default: every one the config starts by default) with their \
dependencies, and wait until they are ready. Services already running with an unchanged \
definition are left alone; changed ones are restarted. Prefer `ensure` just to have things \
running; use `up` after editing berth.yaml to apply it. Returns which services are ready and \
their status as JSON; on a failed start, an error with the reason and the last log lines.";

const DOWN: &str = "Stop services and everything that depends on them (dependents first), \
gracefully, then by force after each one's stop timeout. With no services named, stops the \
whole stack and berth's daemon. Use it to free resources or ports, or before changing something \
the services hold. Returns the names stopped, in order, as text and JSON (`stopped`).";

const RESTART: &str = "Stop services and start them again, waiting until they are ready; \
dependents that were running come back too, and a failed service gets a fresh start. Use it \
after changing code or a service's files, or to recover a failed service. Returns the services' \
status as JSON; on a failed start, an error with the reason and the last log lines.";

const LOGS: &str = "Read the latest lines the services wrote (stdout and stderr, plus berth's \
own [berth] lines such as started and exited), oldest first; several services are interleaved \
by time. Use it to find why a service failed or misbehaves. Returns the lines as text (`TIME \
NAME | line`) and as JSON (`lines[]` with `service`, `time`, `stream` out/err/berth, `text`).";

const EVENTS: &str = "Read what happened to the services, from berth's history: starts (with \
pid), ready (and how long it took), exits (and why), restarts, failures, stops, port decisions, \
failed health checks, alerts; oldest first. Use it to learn when and why something changed. \
Returns one line per event as text and JSON (`events[]` with `time`, `service`, `kind`, \
`message`, `data`).";

const STATS: &str = "Summarize usage and health over a window from berth's history: per service \
CPU and memory average and maximum, restarts, the share of the window it was healthy, \
health-check latency p50/p95 and failures, time to ready; then the machine's CPU, memory, disk \
and load maxima. Use it to spot a leaking, flapping or slow service. Returns a table as text and \
the figures as JSON.";

const PORTS_WHO: &str = "Tell who holds a port on this machine: pid, user, command line, start \
time, and the berth service if it is one. Use it when a service cannot bind its port, or to find \
what answers on a port. Returns the holders as text and JSON (`holders[]`, `free`: true when \
nobody listens).";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_has_a_description_and_an_object_schema_that_forbids_unknown_keys() {
        let tools = all();
        assert_eq!(tools.len(), 9);
        for tool in tools {
            let schema = &tool.input_schema;
            assert_eq!(schema["type"], "object", "{}", tool.name);
            assert_eq!(schema["additionalProperties"], false, "{}", tool.name);
            assert!(tool.description.as_ref().unwrap().len() > 100);
        }
    }
}
