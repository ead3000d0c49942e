//! One service of the stack, with every key of berth.yaml resolved and defaulted.

use super::health::Health;
use super::pattern::Pattern;
use super::ranges::RangeList;
use super::signal::Signal;
use super::template::Template;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    pub name: String,
    pub command: Command,
    /// Relative templates are relative to the config file's directory.
    pub cwd: Template,
    /// What berth.yaml and env files set; the supervisor's own environment comes under it.
    pub env: BTreeMap<String, Template>,
    pub port: Option<u16>,
    pub alt_ports: RangeList,
    pub depends_on: Vec<Dependency>,
    pub health: Option<Health>,
    pub ready_log: Option<Pattern>,
    pub notify: bool,
    pub start_timeout: Duration,
    pub restart: RestartPolicy,
    pub success_codes: Vec<i32>,
    pub stop: StopPolicy,
    pub pidfile: Option<PathBuf>,
    /// Recognises an instance of this service that berth did not start.
    pub matches: Option<Pattern>,
    pub critical: bool,
    pub autostart: bool,
    pub log: LogPolicy,
    /// `export:`: only `berth export` reads it.
    #[serde(default)]
    pub export: Export,
    /// `watch:`: the files whose changes restart it.
    #[serde(default)]
    pub watch: Option<super::watch::Watch>,
    /// Set on an instance of a service with `replicas`: which one.
    #[serde(default)]
    pub replica: Option<super::replicas::Replica>,
}

impl Service {
    /// The directory it runs in: `cwd` (ports filled in by `port_of`) under `config_dir`.
    pub fn directory(
        &self,
        config_dir: &std::path::Path,
        port_of: &dyn Fn(&str) -> Option<u16>,
    ) -> PathBuf {
        directory(&self.cwd, config_dir, port_of)
    }
}

/// The directory a `cwd` names: relative to the config file's directory, which it is when
/// empty.
pub fn directory(
    cwd: &Template,
    config_dir: &std::path::Path,
    port_of: &dyn Fn(&str) -> Option<u16>,
) -> PathBuf {
    let cwd = cwd.render(port_of);
    match cwd.is_empty() {
        true => config_dir.to_path_buf(),
        false => config_dir.join(cwd),
    }
}

/// What to run: a shell line (`sh -c`) or an argv executed directly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    Shell(Template),
    Exec(Vec<Template>),
}

impl Command {
    /// The argv to execute, with ports filled in.
    pub fn argv(&self, port_of: &dyn Fn(&str) -> Option<u16>) -> Vec<String> {
        match self {
            Command::Shell(line) => vec!["sh".into(), "-c".into(), line.render(port_of)],
            Command::Exec(args) => args.iter().map(|a| a.render(port_of)).collect(),
        }
    }

    pub fn templates(&self) -> Vec<&Template> {
        match self {
            Command::Shell(line) => vec![line],
            Command::Exec(args) => args.iter().collect(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dependency {
    pub service: String,
    pub condition: Condition,
}

/// What a dependency must reach before its dependent starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    Started,
    Healthy,
    Completed,
}

impl Condition {
    pub const NAMES: [&'static str; 3] = ["started", "healthy", "completed"];

    pub fn parse(text: &str) -> Option<Condition> {
        match text {
            "started" => Some(Condition::Started),
            "healthy" => Some(Condition::Healthy),
            "completed" => Some(Condition::Completed),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Condition::Started => "started",
            Condition::Healthy => "healthy",
            Condition::Completed => "completed",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestartMode {
    OnFailure,
    Always,
    Never,
}

impl RestartMode {
    pub const NAMES: [&'static str; 3] = ["on-failure", "always", "never"];

    pub fn parse(text: &str) -> Option<RestartMode> {
        match text {
            "on-failure" => Some(RestartMode::OnFailure),
            "always" => Some(RestartMode::Always),
            "never" => Some(RestartMode::Never),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            RestartMode::OnFailure => "on-failure",
            RestartMode::Always => "always",
            RestartMode::Never => "never",
        }
    }
}

/// When and how fast a service is restarted, and when berth gives up (circuit open).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartPolicy {
    pub mode: RestartMode,
    pub delay: Duration,
    pub delay_max: Duration,
    pub min_uptime: Duration,
    pub max_restarts: u32,
    pub window: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopPolicy {
    pub signal: Signal,
    pub timeout: Duration,
    /// Run instead of sending `signal`.
    pub command: Option<Template>,
}

/// Rotation of `.berth/logs/NAME.log`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogPolicy {
    pub max_size: u64,
    pub keep: u32,
}

/// What `berth export` needs beyond what runs here: the container image the service runs
/// from on Kubernetes and compose (none: it is not exported there), and how many copies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Export {
    pub image: Option<String>,
    pub replicas: u32,
}

impl Default for Export {
    fn default() -> Export {
        Export {
            image: None,
            replicas: 1,
        }
    }
}

/// The documented defaults of every optional service key.
pub mod defaults {
    use std::time::Duration;

    pub const START_TIMEOUT: Duration = Duration::from_secs(60);
    pub const RESTART_DELAY: Duration = Duration::from_millis(100);
    pub const RESTART_DELAY_MAX: Duration = Duration::from_secs(30);
    pub const MIN_UPTIME: Duration = Duration::from_secs(10);
    pub const MAX_RESTARTS: u32 = 5;
    pub const RESTART_WINDOW: Duration = Duration::from_secs(60);
    pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);
    pub const HEALTH_INTERVAL: Duration = Duration::from_secs(5);
    pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);
    pub const HEALTH_RETRIES: u32 = 3;
    pub const LOG_MAX_SIZE: u64 = 10 << 20;
    pub const LOG_KEEP: u32 = 5;
}
