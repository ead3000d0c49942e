//! The keys each mapping of berth.yaml accepts: one list used by decoding (unknown keys,
//! "did you mean") and checked against the JSON Schema by a test, so the two never drift.

pub const TOP: &[&str] = &[
    "include",
    "project",
    "state_dir",
    "env",
    "env_file",
    "ports",
    "monitor",
    "api",
    "alerts",
    "profiles",
    "services",
];

pub const PORTS: &[&str] = &["strategy", "reserved", "protect"];

pub const MONITOR: &[&str] = &["interval", "retention", "max_size", "disks"];

pub const API: &[&str] = &["listen", "token", "metrics_without_token", "allow_remote"];

pub const ALERTS: &[&str] = &["channels", "rules"];

/// A channel: one kind key (`webhook`, `slack`, `exec`, `alertmanager`) and its options.
pub const ALERT_CHANNEL: &[&str] = &[
    "webhook",
    "headers",
    "slack",
    "exec",
    "timeout",
    "alertmanager",
];

pub const ALERT_RULE: &[&str] = &[
    "name", "when", "on", "for", "services", "severity", "escalate", "repeat", "resolved",
    "action", "notify",
];

pub const ALERT_ESCALATE: &[&str] = &["after", "to"];

pub const PROFILE: &[&str] = &["env", "env_file", "services"];

pub const SERVICE: &[&str] = &[
    "command",
    "cwd",
    "env",
    "env_file",
    "port",
    "alt_ports",
    "depends_on",
    "health",
    "ready_log",
    "notify",
    "start_timeout",
    "restart",
    "restart_delay",
    "restart_delay_max",
    "min_uptime",
    "max_restarts",
    "restart_window",
    "success_codes",
    "stop_signal",
    "stop_timeout",
    "stop_command",
    "pidfile",
    "match",
    "critical",
    "autostart",
    "log",
    "export",
    "watch",
    "replicas",
];

/// The full form of `watch:` (the shorthand is a list of paths).
pub const WATCH: &[&str] = &["paths", "ignore", "debounce", "gitignore"];

pub const HEALTH: &[&str] = &[
    "http", "tcp", "exec", "status", "interval", "timeout", "retries",
];

pub const DEPENDENCY: &[&str] = &["condition"];

pub const LOG: &[&str] = &["max_size", "keep"];

/// What `berth export` needs that running here does not: a container image and a count.
pub const EXPORT: &[&str] = &["image", "replicas"];

pub const ENV_FILE: &[&str] = &["path", "required"];

/// Keys starting with this are the user's own (for YAML anchors) and ignored, as in compose.
pub const EXTENSION_PREFIX: &str = "x-";
