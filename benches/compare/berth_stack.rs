//! berth running a stack: `berth up` / `berth down` / `berth status --json` in a directory
//! holding its `berth.yaml`. `down` of everything also stops the daemon, so each `up`
//! measured starts the daemon too (the peers' daemons stay up between rounds).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::manager::{Manager, Stack, files_starting};
use crate::support::procs::Started;
use crate::support::{berth, berth_in, run_quietly};

pub struct Berth {
    dir: tempfile::TempDir,
    started: Started,
}

fn config(stack: &Stack) -> String {
    let mut yaml = String::from("services:\n");
    for s in &stack.services {
        let command: Vec<String> = std::iter::once(stack.program.display().to_string())
            .chain(s.args.iter().cloned())
            .map(|a| format!("{a:?}"))
            .collect();
        yaml.push_str(&format!(
            "  {}:\n    command: [{}]\n    restart_delay: 0\n    restart: {}\n",
            s.name,
            command.join(", "),
            if s.restart { "always" } else { "never" }
        ));
        if let Some(port) = s.port {
            yaml.push_str(&format!("    port: {port}\n"));
        }
        if s.health {
            yaml.push_str(
                "    health: { http: \"http://127.0.0.1:${port}/health\", interval: 5s }\n",
            );
        }
        if let Some((size, keep)) = s.log {
            yaml.push_str(&format!("    log: {{ max_size: {size}, keep: {keep} }}\n"));
        }
    }
    yaml
}

impl Berth {
    /// A directory with the stack's `berth.yaml` (and `extra` config lines appended); nothing
    /// runs yet.
    pub fn new(stack: &Stack, extra: &str) -> Berth {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("berth.yaml"), config(stack) + extra).unwrap();
        Berth {
            dir,
            started: Started::default(),
        }
    }

    /// Replaces the stack's `berth.yaml`; the next `start` brings what runs in line with it.
    pub fn reconfigure(&mut self, stack: &Stack) {
        std::fs::write(self.dir().join("berth.yaml"), config(stack)).unwrap();
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn status(&self) -> serde_json::Value {
        let out = Command::new(berth())
            .args(["status", "--json"])
            .current_dir(self.dir())
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).expect("status --json prints JSON")
    }
}

impl Manager for Berth {
    fn name(&self) -> &str {
        "berth"
    }

    fn start(&mut self) {
        run_quietly(&mut berth_in(self.dir(), &["up", "-q"]));
    }

    fn stop(&mut self) {
        run_quietly(&mut berth_in(self.dir(), &["down", "-q"]));
    }

    fn status_command(&self) -> Command {
        berth_in(self.dir(), &["status", "--json"])
    }

    fn daemon_pid(&self) -> i32 {
        self.status()["daemon"]["pid"]
            .as_i64()
            .expect("the daemon runs") as i32
    }

    fn keepers(&self) -> Vec<i32> {
        let Ok(entries) = std::fs::read_dir(self.dir().join(".berth/run")) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| {
                let record: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok()?;
                Some(record["shim"]["pid"].as_i64()? as i32)
            })
            .filter(|&pid| crate::support::procs::Proc::seen(pid).is_some())
            .collect()
    }

    fn helpers(&self) -> Vec<i32> {
        crate::support::procs::children_of(self.daemon_pid())
            .into_iter()
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| c.ends_with(b"\0shim\0--forker\0"))
            })
            .collect()
    }

    fn service_pids(&self) -> Vec<(String, i32)> {
        self.status()["services"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| Some((s["name"].as_str()?.to_owned(), s["pid"].as_i64()? as i32)))
            .collect()
    }

    fn started(&mut self) -> &mut Started {
        &mut self.started
    }

    fn log_files(&self, service: &str) -> Vec<PathBuf> {
        files_starting(&self.dir().join(".berth/logs"), &format!("{service}.log"))
    }
}

impl Drop for Berth {
    fn drop(&mut self) {
        let _ = crate::support::time_quietly(&mut berth_in(self.dir(), &["down", "-q"]));
    }
}
