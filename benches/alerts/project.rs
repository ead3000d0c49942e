//! A berth project in a temporary directory, driven through the release binary and its API
//! socket, and what it started: the daemon, its shim forker, the shims and the services,
//! recorded by pid and start time as they are seen. At the end (or when a measurement
//! panics) the project is brought down, and whatever is still there is killed by pid, never
//! by name. The pids are also written to a ledger of this benchmark's own
//! (`target/bench-alerts.pids`, not the shared one: another benchmark running meanwhile
//! clears that one at its start), so whatever an interrupted run left is killed by the next.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth::api::types::StatusResponse;
use rustix::process::{Pid, Signal};

use crate::support::{berth_in, procs::children_of, run_quietly};

/// The start time of `pid` (clock ticks after boot) while it runs (a zombie has ended).
fn start_time(pid: i32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    if matches!(fields.first(), Some(&"Z") | Some(&"X")) {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// Whether `pid` is still the process that started at `start`.
pub fn same(pid: i32, start: u64) -> bool {
    start_time(pid) == Some(start)
}

/// SIGKILL to `pid`, checked by the caller with `same` just before.
pub fn sigkill(pid: i32) {
    if let Some(p) = Pid::from_raw(pid) {
        let _ = rustix::process::kill_process(p, Signal::KILL);
    }
}

fn kill_if_same(pid: i32, start: u64) -> bool {
    if !same(pid, start) {
        return false;
    }
    sigkill(pid);
    true
}

fn ledger() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-alerts.pids")
}

/// Kills what an earlier run of this benchmark wrote down and left running; how many.
pub fn clear_ledger() -> usize {
    let text = std::fs::read_to_string(ledger()).unwrap_or_default();
    let killed = text
        .lines()
        .filter_map(|l| {
            let (pid, start) = l.split_once(' ')?;
            Some((pid.parse().ok()?, start.parse().ok()?))
        })
        .filter(|&(pid, start)| kill_if_same(pid, start))
        .count();
    let _ = std::fs::remove_file(ledger());
    killed
}

pub struct Project {
    dir: tempfile::TempDir,
    seen: Vec<(i32, u64)>,
    down: bool,
}

impl Project {
    pub fn new(yaml: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("berth.yaml"), yaml).unwrap();
        Project {
            dir,
            seen: Vec::new(),
            down: false,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `berth up` (it returns once every service is ready), then what runs is recorded.
    pub fn up(&mut self) -> Duration {
        let took = run_quietly(&mut berth_in(
            self.path(),
            &["up", "-q", "--timeout", "120s"],
        ));
        self.record();
        took
    }

    pub fn status(&self) -> StatusResponse {
        berth::api::client::call::<(), _>(
            &self.path().join(".berth/berth.sock"),
            "GET",
            "/v1/status?usage=false",
            None,
            Duration::from_secs(10),
        )
        .expect("the daemon answers /v1/status")
    }

    pub fn daemon_pid(&self) -> i32 {
        self.status().daemon.pid.expect("the daemon runs") as i32
    }

    /// The main process (pid, start time) of each of `names`, once all of them run (polled
    /// every 20 ms, 20 s at most).
    pub fn running_pids(&mut self, names: &[String]) -> Vec<(i32, u64)> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let status = self.status();
            let pids: Vec<Option<i32>> = names
                .iter()
                .map(|n| {
                    let s = status.services.iter().find(|s| &s.name == n)?;
                    let running = s.state == berth::daemon::supervisor::ServiceState::Running;
                    running.then_some(s.pid? as i32)
                })
                .collect();
            if pids.iter().all(Option::is_some) {
                let found: Vec<(i32, u64)> = pids
                    .into_iter()
                    .flatten()
                    .filter_map(|p| Some((p, start_time(p)?)))
                    .collect();
                if found.len() == names.len() {
                    found.iter().for_each(|&(p, _)| self.note(p));
                    return found;
                }
            }
            assert!(
                Instant::now() < deadline,
                "services not running again within 20 s: {names:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn note(&mut self, pid: i32) {
        let Some(start) = start_time(pid) else {
            return;
        };
        if self.seen.contains(&(pid, start)) {
            return;
        }
        self.seen.push((pid, start));
        use std::io::Write;
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(ledger())
        {
            let _ = writeln!(file, "{pid} {start}");
        }
    }

    /// Records the daemon, its children (the shim forker), every shim (from the run files)
    /// and every service's main process.
    pub fn record(&mut self) {
        let status = self.status();
        if let Some(daemon) = status.daemon.pid {
            self.note(daemon as i32);
            for child in children_of(daemon as i32) {
                self.note(child);
            }
        }
        for s in &status.services {
            if let Some(pid) = s.pid {
                self.note(pid as i32);
            }
        }
        let run = self.path().join(".berth/run");
        for entry in std::fs::read_dir(run).into_iter().flatten().flatten() {
            let Ok(bytes) = std::fs::read(entry.path()) else {
                continue;
            };
            let Ok(record) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
                continue;
            };
            if let Some(pid) = record["shim"]["pid"].as_i64() {
                self.note(pid as i32);
            }
        }
    }

    /// `berth events --json` of these kinds, oldest first.
    pub fn events(&self, kinds: &[&str]) -> Vec<serde_json::Value> {
        let mut args = vec!["events", "--json", "-n", "100000"];
        for k in kinds {
            args.extend(["--kind", k]);
        }
        let out = berth_in(self.path(), &args).output().unwrap();
        assert!(out.status.success(), "berth events failed");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// `berth down` of everything (the daemon too).
    pub fn down(&mut self) {
        self.record();
        run_quietly(&mut berth_in(
            self.path(),
            &["down", "-q", "--timeout", "5s"],
        ));
        self.down = true;
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        if !self.down {
            let _ = berth_in(self.path(), &["down", "-q", "--force"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        }
        for &(pid, start) in &self.seen {
            kill_if_same(pid, start);
        }
    }
}
