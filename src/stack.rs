//! The validated, fully resolved model of a stack: what `config::load` produces and every
//! other part of berth consumes. A `Stack` that exists is valid: names are unique, every
//! dependency exists, the graph has no cycle, every port reference points at a service port.

pub mod alerts;
pub mod graph;
pub mod health;
pub mod pattern;
pub mod ranges;
pub mod replicas;
pub mod service;
pub mod signal;
pub mod template;
pub mod watch;

use pattern::Pattern;
use ranges::RangeList;
use serde::{Deserialize, Serialize};
pub use service::Service;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stack {
    pub project: String,
    /// The config file, absolute.
    pub file: PathBuf,
    /// The other files merged into it: what it includes, then its override.
    #[serde(default)]
    pub files: Vec<PathBuf>,
    /// Where `.berth/` lives: state, socket, logs.
    pub state_dir: PathBuf,
    /// The profile applied, if any.
    pub profile: Option<String>,
    pub ports: PortPolicy,
    /// The `monitor:` section: sampling and history.
    #[serde(default)]
    pub monitor: Monitor,
    /// The `api:` section: the API on TCP.
    #[serde(default)]
    pub api: ApiConfig,
    /// The `alerts:` section: channels and rules.
    #[serde(default)]
    pub alerts: alerts::Alerts,
    /// In the order of the config file; a service with `replicas` is there as its instances
    /// `NAME.1` … `NAME.N` (see `replicas.rs`).
    pub services: Vec<Service>,
    /// The services with `replicas`, as written, by name.
    #[serde(default)]
    pub replicated: std::collections::BTreeMap<String, replicas::Replicated>,
}

/// The `ports:` section: how `up` treats a configured port that someone else holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PortPolicy {
    pub strategy: Strategy,
    /// Never handed out as an alternative.
    pub reserved: RangeList,
    /// Command lines berth must never stop.
    pub protect: Vec<Pattern>,
}

/// The `monitor:` section: how often usage is sampled into history and how long it is kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Monitor {
    /// How often usage is sampled into history (1s … 1h).
    pub interval: Duration,
    /// How long the one-minute rollups are kept.
    pub retention: Duration,
    /// Cap on the history database, in bytes: the oldest history goes first.
    pub max_size: u64,
    /// File systems whose usage is tracked; empty means the state dir's.
    pub disks: Vec<PathBuf>,
}

impl Default for Monitor {
    fn default() -> Monitor {
        Monitor {
            interval: Duration::from_secs(5),
            retention: Duration::from_secs(14 * 86_400),
            max_size: 200 << 20,
            disks: Vec::new(),
        }
    }
}

/// The `api:` section: the API on TCP, off unless `listen` is set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ApiConfig {
    pub listen: Option<SocketAddr>,
    /// The bearer token; `None`: the one generated into `.berth/token`.
    pub token: Option<String>,
    /// Lets Prometheus scrape `/metrics` with no token.
    pub metrics_without_token: bool,
    /// A non-loopback `listen` is only accepted with this.
    pub allow_remote: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    Conservative,
    #[default]
    Intelligent,
    Aggressive,
}

impl Strategy {
    pub const NAMES: [&'static str; 3] = ["intelligent", "conservative", "aggressive"];

    pub fn parse(text: &str) -> Option<Strategy> {
        match text {
            "intelligent" => Some(Strategy::Intelligent),
            "conservative" => Some(Strategy::Conservative),
            "aggressive" => Some(Strategy::Aggressive),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Strategy::Intelligent => "intelligent",
            Strategy::Conservative => "conservative",
            Strategy::Aggressive => "aggressive",
        }
    }
}

impl Stack {
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }

    /// The port each service is configured with (before any move at start time).
    /// What `up` of `names` starts: those services (every `autostart` one when empty) and
    /// what they depend on.
    pub fn wanted(&self, names: &[String]) -> Vec<String> {
        let roots: Vec<&str> = if names.is_empty() {
            self.services
                .iter()
                .filter(|s| s.autostart)
                .map(|s| s.name.as_str())
                .collect()
        } else {
            names.iter().map(String::as_str).collect()
        };
        graph::Graph::new(&self.services)
            .with_dependencies(&roots)
            .into_iter()
            .map(String::from)
            .collect()
    }

    pub fn configured_port(&self, name: &str) -> Option<u16> {
        self.service(name).and_then(|s| s.port)
    }

    /// The start order as groups that may start in parallel, each after the previous ones.
    pub fn start_levels(&self) -> Vec<Vec<&str>> {
        graph::Graph::new(&self.services).levels()
    }
}
