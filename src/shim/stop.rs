//! Asking a shim to stop its service: an optional stop-timeout override is written beside the
//! run file (`run/NAME.stop`), then the shim gets SIGTERM. A zero timeout means SIGKILL at
//! once (`down --force`); no file means the service's own `stop_timeout`.

use crate::process::ProcessId;
use serde::{Deserialize, Serialize};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Serialize, Deserialize)]
struct Request {
    timeout_ms: u64,
}

/// Where the override for the shim writing `run_file` lives.
pub fn path(run_file: &Path) -> PathBuf {
    run_file.with_extension("stop")
}

/// Asks `shim` to stop, with `timeout` overriding the service's stop timeout. Returns whether
/// the shim was still there to ask. A stop never fails for want of the override: if the
/// state dir cannot take it (read-only, full), the service's own stop timeout applies.
pub fn request(run_file: &Path, shim: ProcessId, timeout: Option<Duration>) -> io::Result<bool> {
    if let Some(timeout) = timeout {
        let json = serde_json::to_vec(&Request {
            timeout_ms: timeout.as_millis() as u64,
        })
        .map_err(io::Error::other)?;
        let _ = crate::state::write_atomic(&path(run_file), &json);
    }
    shim.signal(rustix::process::Signal::TERM)
}

/// The override, if one was asked for; the request is used up.
pub fn take_override(run_file: &Path) -> Option<Duration> {
    let file = path(run_file);
    let request: Request = serde_json::from_slice(&std::fs::read(&file).ok()?).ok()?;
    let _ = std::fs::remove_file(&file);
    Some(Duration::from_millis(request.timeout_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_override_is_read_once() {
        let dir = tempfile::tempdir().unwrap();
        let run_file = dir.path().join("api.json");
        assert_eq!(path(&run_file), dir.path().join("api.stop"));
        assert_eq!(take_override(&run_file), None);
        let gone = ProcessId {
            pid: u32::MAX - 1,
            start_time: 1,
        };
        assert!(!request(&run_file, gone, Some(Duration::from_millis(250))).unwrap());
        assert_eq!(take_override(&run_file), Some(Duration::from_millis(250)));
        assert_eq!(take_override(&run_file), None);
    }
}
