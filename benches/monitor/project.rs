//! A berth project in a temporary directory: its `berth.yaml`, `up`, `down`, its daemon (pid
//! from `.berth/daemon.lock`, socket), and every process it runs written down in a
//! `Started` list, so that whatever is left when the bench ends (or panics) is killed by pid.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::procs::{Proc, Started, children_of};
use crate::support::{berth_in, run_quietly, time_quietly};

pub struct Project {
    dir: tempfile::TempDir,
    pub started: Started,
}

/// How one of the test services is run: `--grandchildren 1` makes it two processes (itself
/// and a child that sleeps), on its own port, answering `/health`.
pub fn test_service_entry(
    name: &str,
    program: &Path,
    port: u16,
    grandchild: bool,
    health: bool,
) -> String {
    let mut args = vec![format!("{:?}", program.display().to_string())];
    if grandchild {
        args.extend(["\"--grandchildren\"".to_string(), "\"1\"".to_string()]);
    }
    let mut entry = format!(
        "  {name}:\n    command: [{}]\n    port: {port}\n    restart_delay: 0\n",
        args.join(", ")
    );
    if health {
        entry.push_str("    health: { http: \"http://127.0.0.1:${port}/health\", interval: 5s }\n");
    }
    entry
}

impl Project {
    pub fn new(yaml: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("berth.yaml"), yaml).unwrap();
        Project {
            dir,
            started: Started::default(),
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir().join(".berth")
    }

    pub fn socket(&self) -> PathBuf {
        berth::daemon::paths::Paths::new(&self.state_dir()).socket
    }

    pub fn configure(&self, yaml: &str) {
        std::fs::write(self.dir().join("berth.yaml"), yaml).unwrap();
    }

    /// `berth up`: until every autostart service is ready; then writes down what runs.
    pub fn up(&mut self) -> Duration {
        let took = run_quietly(&mut berth_in(
            self.dir(),
            &["up", "-q", "--timeout", "180s"],
        ));
        self.remember();
        took
    }

    pub fn down(&mut self) {
        run_quietly(&mut berth_in(self.dir(), &["down", "-q"]));
    }

    /// The daemon's pid, from its lock file, if it runs.
    pub fn daemon_pid(&self) -> Option<i32> {
        let text = std::fs::read_to_string(self.state_dir().join("daemon.lock")).ok()?;
        let pid: i32 = text.trim().parse().ok()?;
        Proc::seen(pid).map(|_| pid)
    }

    pub fn status(&self) -> serde_json::Value {
        berth::api::client::call::<(), _>(
            &self.socket(),
            "GET",
            "/v1/status",
            None,
            Duration::from_secs(10),
        )
        .expect("the daemon answers /v1/status")
    }

    /// The main pid of every running service, in config order.
    pub fn service_pids(&self) -> Vec<u32> {
        self.status()["services"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["pid"].as_u64().map(|p| p as u32))
            .collect()
    }

    /// The shims (from the run files) and the shim forker: berth's processes beside the
    /// daemon.
    pub fn keepers(&self) -> Vec<i32> {
        let mut pids: Vec<i32> = std::fs::read_dir(self.state_dir().join("run"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let record: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok()?;
                Some(record["shim"]["pid"].as_i64()? as i32)
            })
            .filter(|&pid| Proc::seen(pid).is_some())
            .collect();
        if let Some(daemon) = self.daemon_pid() {
            pids.extend(children_of(daemon).into_iter().filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| c.ends_with(b"\0shim\0--forker\0"))
            }));
        }
        pids
    }

    /// Writes down the daemon, the forker, the shims, the services and their children.
    pub fn remember(&mut self) {
        let mut pids: Vec<i32> = self.daemon_pid().into_iter().collect();
        pids.extend(self.keepers());
        if pids.is_empty() {
            return;
        }
        for main in self.service_pids() {
            pids.push(main as i32);
            pids.extend(children_of(main as i32));
        }
        pids.into_iter().for_each(|pid| self.started.add(pid));
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        // Stopped by its own command first; what is left is killed by `started`.
        let _ = time_quietly(&mut berth_in(self.dir(), &["down", "-q"]));
    }
}
