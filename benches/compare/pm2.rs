//! PM2 running a stack: an ecosystem file of the services (`interpreter: none`, so the test
//! service runs as it is), its own `PM2_HOME`, `pm2 start` / `pm2 delete all` / `pm2 jlist`.
//! Its daemon is started once and stays up between rounds.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::manager::{Manager, Stack, files_starting, pid_in, wait_for_file};
use crate::support::procs::Started;
use crate::support::{run_quietly, time_quietly};

pub struct Pm2 {
    bin: PathBuf,
    label: String,
    dir: tempfile::TempDir,
    started: Started,
}

fn ecosystem(stack: &Stack, logs: &Path) -> serde_json::Value {
    let apps: Vec<serde_json::Value> = stack
        .services
        .iter()
        .map(|s| {
            let mut env = serde_json::Map::new();
            if let Some(port) = s.port {
                env.insert("PORT".into(), port.to_string().into());
            }
            serde_json::json!({
                "name": s.name,
                "script": stack.program,
                "args": s.args,
                "interpreter": "none",
                "env": env,
                "autorestart": s.restart,
                "restart_delay": 0,
                "out_file": logs.join(format!("{}-out.log", s.name)),
                "error_file": logs.join(format!("{}-err.log", s.name)),
            })
        })
        .collect();
    serde_json::json!({ "apps": apps })
}

impl Pm2 {
    /// Writes the ecosystem file and starts PM2's daemon (`pm2 ping`).
    pub fn new(bin: &Path, version: &str, stack: &Stack) -> Pm2 {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("logs");
        std::fs::create_dir(&logs).unwrap();
        std::fs::write(
            dir.path().join("ecosystem.json"),
            ecosystem(stack, &logs).to_string(),
        )
        .unwrap();
        let mut pm2 = Pm2 {
            bin: bin.to_path_buf(),
            label: format!("pm2 {version}"),
            dir,
            started: Started::default(),
        };
        run_quietly(&mut pm2.command(&["ping"]));
        wait_for_file(&pm2.home().join("pm2.pid"));
        let daemon = pm2.daemon_pid();
        pm2.started.add(daemon);
        pm2
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.bin);
        command
            .args(args)
            .env("PM2_HOME", self.home())
            .current_dir(self.dir.path());
        command
    }

    fn list(&self) -> Vec<serde_json::Value> {
        let out = self.command(&["jlist"]).output().unwrap();
        // pm2 may print a notice before the JSON.
        let text = String::from_utf8_lossy(&out.stdout);
        let json = &text[text.find('[').unwrap_or(0)..];
        serde_json::from_str(json).unwrap_or_default()
    }
}

impl Manager for Pm2 {
    fn name(&self) -> &str {
        &self.label
    }

    fn start(&mut self) {
        run_quietly(&mut self.command(&["start", "ecosystem.json"]));
    }

    fn stop(&mut self) {
        run_quietly(&mut self.command(&["delete", "all"]));
    }

    fn status_command(&self) -> Command {
        self.command(&["jlist"])
    }

    fn daemon_pid(&self) -> i32 {
        pid_in(&self.home().join("pm2.pid"))
    }

    fn service_pids(&self) -> Vec<(String, i32)> {
        self.list()
            .iter()
            .filter(|app| app["pm2_env"]["status"] == "online")
            .filter_map(|app| {
                Some((
                    app["name"].as_str()?.to_owned(),
                    app["pid"].as_i64()? as i32,
                ))
            })
            .filter(|(_, pid)| *pid > 0)
            .collect()
    }

    fn started(&mut self) -> &mut Started {
        &mut self.started
    }

    fn log_files(&self, service: &str) -> Vec<PathBuf> {
        files_starting(&self.dir.path().join("logs"), &format!("{service}-out.log"))
    }
}

impl Drop for Pm2 {
    fn drop(&mut self) {
        let _ = time_quietly(&mut self.command(&["kill"]));
    }
}
