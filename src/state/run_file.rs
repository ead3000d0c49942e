//! `run/NAME.json`: what a shim records about the service it keeps — its own identity, the
//! service's main process, where the log goes, and how the service ended. A new daemon
//! re-adopts a running service from this file alone.

use crate::process::ProcessId;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunFile {
    pub project: String,
    pub service: String,
    /// The keeper process.
    pub shim: ProcessId,
    /// The service's main process; `None` when it could not be started.
    pub main: Option<ProcessId>,
    /// The service's process group (its main process leads it).
    pub pgid: Option<u32>,
    pub port: Option<u16>,
    pub log: PathBuf,
    /// Milliseconds since the Unix epoch.
    pub started_at_ms: u64,
    pub outcome: Outcome,
    /// The service said `READY=1` through `NOTIFY_SOCKET` (services with `notify: true`).
    #[serde(default)]
    pub ready: bool,
}

impl RunFile {
    /// The run file at `path`; `None` when it is missing or unreadable (a corrupt file is
    /// reported by `berth doctor`, never trusted).
    pub fn read(path: &Path) -> Option<RunFile> {
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()
    }

    /// The instance it names runs now: said to run, its shim and main process both alive
    /// (checked by pid and start time).
    pub fn is_live(&self) -> bool {
        matches!(self.outcome, Outcome::Running)
            && self.shim.is_alive()
            && self.main.is_some_and(|m| m.is_alive())
    }
}

/// Where the service is in its life, as the shim sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Outcome {
    Running,
    /// The service was asked to stop and the shim is stopping it.
    Stopping,
    /// The command could not be executed at all.
    FailedToStart {
        error: String,
    },
    /// The main process ended (by itself, or because it was stopped).
    Exited {
        /// Exit code, when it exited.
        code: Option<i32>,
        /// Signal number, when a signal ended it.
        signal: Option<i32>,
        /// Whether a stop was requested.
        stopped: bool,
        ended_at_ms: u64,
    },
}

impl Outcome {
    /// Whether the record is a shim's last word: the instance ended (or never started) and
    /// the shim saw everything it started gone.
    pub fn is_final(&self) -> bool {
        matches!(self, Outcome::Exited { .. } | Outcome::FailedToStart { .. })
    }
}
