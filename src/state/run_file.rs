//! `run/NAME.json`: what a shim records about the service it keeps — its own identity, the
//! service's main process, where the log goes, and how the service ended. A new daemon
//! re-adopts a running service from this file alone. For an instance berth adopted (started
//! outside berth, kept by no shim) the daemon writes an `Adoption` there instead: the one
//! file says which of the two the service's instance is, never both.

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

/// An instance berth did not start and no shim keeps, watched by the daemon from the
/// outside (SPEC.md, Ports: *Adopt*): what the next daemon needs to adopt it again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adoption {
    pub project: String,
    pub service: String,
    /// The top of the instance's process tree: what is watched, signalled and sampled.
    pub adopted: ProcessId,
    pub port: Option<u16>,
    /// When its main process started (ms since the Unix epoch), not when it was adopted.
    pub started_at_ms: u64,
}

/// What `run/NAME.json` says of the service's instance: kept by a shim, or adopted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Record {
    Kept(RunFile),
    Adopted(Adoption),
}

impl Record {
    /// The record at `path`; `None` when it is missing or unreadable.
    pub fn read(path: &Path) -> Option<Record> {
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()
    }

    /// An adoption whose instance still runs (checked by pid and start time).
    pub fn live_adoption(path: &Path) -> Option<Adoption> {
        match Record::read(path)? {
            Record::Adopted(adoption) if adoption.adopted.is_alive() => Some(adoption),
            _ => None,
        }
    }
}

impl Adoption {
    /// Records it at `path`, in place of whatever was there.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let json = serde_json::to_vec(&Record::Adopted(self.clone()))?;
        crate::state::write_atomic(path, &json)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_file_and_an_adoption_are_told_apart_and_a_shim_reader_never_takes_one_for_the_other() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/api.json");
        let me = ProcessId::of(std::process::id()).unwrap();
        let adoption = Adoption {
            project: "shop".into(),
            service: "api".into(),
            adopted: me,
            port: Some(8000),
            started_at_ms: 1,
        };
        adoption.write(&path).unwrap();
        assert_eq!(Record::read(&path), Some(Record::Adopted(adoption.clone())));
        assert_eq!(Record::live_adoption(&path), Some(adoption.clone()));
        assert_eq!(RunFile::read(&path), None, "no shim keeps it");
        let gone = Adoption {
            adopted: ProcessId {
                start_time: me.start_time + 1,
                ..me
            },
            ..adoption
        };
        gone.write(&path).unwrap();
        assert_eq!(Record::live_adoption(&path), None, "another start time");

        let kept = RunFile {
            project: "shop".into(),
            service: "api".into(),
            shim: me,
            main: Some(me),
            pgid: None,
            port: Some(8000),
            log: dir.path().join("api.log"),
            started_at_ms: 1,
            outcome: Outcome::Running,
            ready: false,
        };
        std::fs::write(&path, serde_json::to_vec(&kept).unwrap()).unwrap();
        assert_eq!(Record::read(&path), Some(Record::Kept(kept)));
        assert_eq!(Record::live_adoption(&path), None);
    }
}
