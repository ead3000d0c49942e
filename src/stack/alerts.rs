//! The `alerts:` section as the model holds it: channels and rules, each rule's condition
//! already typed (a metric with a threshold in a unit that fits it, restarts within a window,
//! a health or state, or event kinds), so a rule that exists can be evaluated without
//! parsing anything again. A bad rule never gets here: it is a config error at its line.

use crate::daemon::supervisor::{HealthState, ServiceState};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Alerts {
    /// In the order of the config file.
    pub channels: Vec<Channel>,
    pub rules: Vec<Rule>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channel {
    pub name: String,
    pub kind: ChannelKind,
}

/// Where a notification goes. URLs are `http://` or `https://`, checked by the config.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// `POST` of the notification as JSON, with these extra headers.
    Webhook {
        url: String,
        headers: Vec<(String, String)>,
    },
    /// A Slack incoming webhook (`text` plus `blocks`).
    Slack { url: String },
    /// A command run by `sh -c`, the notification in its environment and as JSON on stdin,
    /// killed after `timeout`.
    Exec { command: String, timeout: Duration },
    /// An Alertmanager's base URL; alerts go to `/api/v2/alerts`.
    Alertmanager { url: String },
}

impl ChannelKind {
    pub fn name(&self) -> &'static str {
        match self {
            ChannelKind::Webhook { .. } => "webhook",
            ChannelKind::Slack { .. } => "slack",
            ChannelKind::Exec { .. } => "exec",
            ChannelKind::Alertmanager { .. } => "alertmanager",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub const NAMES: [&'static str; 3] = ["info", "warning", "critical"];

    pub fn parse(text: &str) -> Option<Severity> {
        match text {
            "info" => Some(Severity::Info),
            "warning" => Some(Severity::Warning),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        Severity::NAMES[self as usize]
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub name: String,
    pub trigger: Trigger,
    /// The services it covers; empty: every service. (System conditions ignore it.)
    pub services: Vec<String>,
    pub severity: Severity,
    pub escalate: Option<Escalation>,
    /// Notify again while firing, at most this often; `None`: once.
    pub repeat: Option<Duration>,
    /// Notify when it resolves (default true).
    pub resolved: bool,
    pub action: Option<Action>,
    /// The channels it notifies; empty: every channel.
    pub notify: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escalation {
    pub after: Duration,
    pub to: Severity,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Restart the service when the alert fires (as `berth restart`).
    Restart,
}

/// What makes a rule fire.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// A condition true for `for_` (zero: at once).
    When {
        condition: Condition,
        for_: Duration,
    },
    /// One notification per event of these kinds (`berth events` kinds).
    On { kinds: Vec<String> },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

impl Op {
    /// Longest first, so `>=` is not read as `>`.
    pub const SYMBOLS: [(&'static str, Op); 6] = [
        (">=", Op::Ge),
        ("<=", Op::Le),
        ("==", Op::Eq),
        ("!=", Op::Ne),
        (">", Op::Gt),
        ("<", Op::Lt),
    ];

    pub fn symbol(self) -> &'static str {
        Op::SYMBOLS
            .iter()
            .find(|(_, op)| *op == self)
            .map(|(s, _)| *s)
            .unwrap_or("?")
    }

    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Op::Gt => value > threshold,
            Op::Ge => value >= threshold,
            Op::Lt => value < threshold,
            Op::Le => value <= threshold,
            Op::Eq => value == threshold,
            Op::Ne => value != threshold,
        }
    }
}

/// What a `when:` compares.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// A measured value against a threshold, both in the metric's base unit (see `Metric`).
    Compare {
        metric: Metric,
        op: Op,
        threshold: Threshold,
    },
    /// `restarts > 3 in 10m`.
    Restarts {
        op: Op,
        count: u32,
        within: Duration,
    },
    /// `health == unhealthy` (or `!=`).
    Health { equal: bool, health: HealthState },
    /// `state == failed` (or `!=`).
    State { equal: bool, state: ServiceState },
}

impl Condition {
    /// Whether the condition is about the machine rather than each service.
    pub fn is_system(&self) -> bool {
        matches!(self, Condition::Compare { metric, .. } if metric.is_system())
    }
}

/// A threshold as written: an amount in the metric's unit, or a share of what the machine
/// has (`memory > 50%`, `system.disk > 90%`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Threshold {
    /// Bytes for memory and disk, percent for CPU, milliseconds for `check_latency`, a
    /// plain number for the rest.
    Amount(f64),
    /// Percent of the total (memory of the machine's, a disk of its size).
    Percent(f64),
}

/// The metrics a condition may compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// % of one core.
    Cpu,
    /// RSS in bytes, or % of the machine's memory.
    Memory,
    Fds,
    Threads,
    /// The last health check's duration.
    CheckLatency,
    Score,
    /// % of the whole machine.
    SystemCpu,
    /// Used bytes, or % of the total.
    SystemMemory,
    /// Used bytes, or % of the total.
    SystemSwap,
    /// Used bytes, or % of the size, per `monitor.disks` path.
    SystemDisk,
    SystemLoad1,
}

impl Metric {
    /// Names as written in `when:`.
    pub const NAMES: [(&'static str, Metric); 11] = [
        ("cpu", Metric::Cpu),
        ("memory", Metric::Memory),
        ("fds", Metric::Fds),
        ("threads", Metric::Threads),
        ("check_latency", Metric::CheckLatency),
        ("score", Metric::Score),
        ("system.cpu", Metric::SystemCpu),
        ("system.memory", Metric::SystemMemory),
        ("system.swap", Metric::SystemSwap),
        ("system.disk", Metric::SystemDisk),
        ("system.load1", Metric::SystemLoad1),
    ];

    pub fn parse(text: &str) -> Option<Metric> {
        Metric::NAMES
            .iter()
            .find(|(n, _)| *n == text)
            .map(|(_, m)| *m)
    }

    pub fn name(self) -> &'static str {
        Metric::NAMES
            .iter()
            .find(|(_, m)| *m == self)
            .map(|(n, _)| *n)
            .unwrap_or("?")
    }

    pub fn is_system(self) -> bool {
        matches!(
            self,
            Metric::SystemCpu
                | Metric::SystemMemory
                | Metric::SystemSwap
                | Metric::SystemDisk
                | Metric::SystemLoad1
        )
    }

    /// What a threshold of this metric may be written as.
    pub fn unit(self) -> Unit {
        match self {
            Metric::Cpu | Metric::SystemCpu => Unit::Percent,
            Metric::Memory | Metric::SystemMemory | Metric::SystemSwap | Metric::SystemDisk => {
                Unit::BytesOrPercent
            }
            Metric::CheckLatency => Unit::Duration,
            Metric::Fds | Metric::Threads | Metric::Score | Metric::SystemLoad1 => Unit::Number,
        }
    }
}

/// The kinds of threshold a metric takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// `80%` or `80` (both percent).
    Percent,
    /// A size (`500MiB`) or a percent of the total (`90%`).
    BytesOrPercent,
    /// `200ms`, `1s`.
    Duration,
    /// A plain number.
    Number,
}
