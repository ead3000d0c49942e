//! What the daemon tells a shim to run, sent as JSON on the shim's stdin (not its command
//! line, which every user can read, and which would show the service's secrets).

use crate::stack::signal::Signal;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShimSpec {
    pub project: String,
    pub service: String,
    /// The program and its arguments, ports already filled in.
    pub argv: Vec<String>,
    /// The service's complete environment (nothing else is inherited).
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    pub port: Option<u16>,
    pub log: PathBuf,
    pub log_max_size: u64,
    pub log_keep: u32,
    pub run_file: PathBuf,
    pub stop_signal: Signal,
    pub stop_timeout: Duration,
    /// Run instead of sending `stop_signal`.
    pub stop_command: Option<Vec<String>>,
    /// Give the service a `NOTIFY_SOCKET` and record its `READY=1`.
    #[serde(default)]
    pub notify: bool,
    /// For a command that daemonizes: once it exits with 0, the pid written here is followed
    /// as the service's main process.
    #[serde(default)]
    pub pidfile: Option<PathBuf>,
}
