//! supervisord running a stack: a `supervisord.conf` with one `[program:NAME]` per service
//! (`startsecs=0` and `autorestart`, its fastest settings), `supervisorctl start all` / `stop
//! all` / `status`. Its daemon is started once and stays up between rounds.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::manager::{Manager, Stack, files_starting, pid_in, wait_for_file};
use crate::support::procs::Started;
use crate::support::{run_quietly, time_quietly};

pub struct Supervisord {
    bin_dir: PathBuf,
    label: String,
    dir: tempfile::TempDir,
    started: Started,
}

fn config(stack: &Stack, dir: &Path) -> String {
    let d = dir.display();
    let mut conf = format!(
        "[unix_http_server]\nfile={d}/supervisor.sock\n\n[supervisord]\nlogfile={d}/supervisord.log\npidfile={d}/supervisord.pid\nchildlogdir={d}/logs\nminfds=4096\n\n[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n[supervisorctl]\nserverurl=unix://{d}/supervisor.sock\n"
    );
    for s in &stack.services {
        let command: Vec<String> = std::iter::once(stack.program.display().to_string())
            .chain(s.args.iter().cloned())
            .collect();
        conf.push_str(&format!(
            "\n[program:{}]\ncommand={}\nautostart=false\nautorestart={}\nstartsecs=0\nstopwaitsecs=10\nredirect_stderr=true\nstdout_logfile={d}/logs/{}.log\n",
            s.name,
            command.join(" "),
            s.restart,
            s.name
        ));
        if let Some(port) = s.port {
            conf.push_str(&format!("environment=PORT=\"{port}\"\n"));
        }
        if let Some((size, keep)) = s.log {
            conf.push_str(&format!(
                "stdout_logfile_maxbytes={size}\nstdout_logfile_backups={keep}\n"
            ));
        }
    }
    conf
}

impl Supervisord {
    /// Writes the config and starts supervisord (it puts itself in the background).
    pub fn new(bin_dir: &Path, version: &str, stack: &Stack) -> Supervisord {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("logs")).unwrap();
        std::fs::write(
            dir.path().join("supervisord.conf"),
            config(stack, dir.path()),
        )
        .unwrap();
        let mut sv = Supervisord {
            bin_dir: bin_dir.to_path_buf(),
            label: format!("supervisord {version}"),
            dir,
            started: Started::default(),
        };
        let mut daemon = Command::new(sv.bin_dir.join("supervisord"));
        daemon.arg("-c").arg(sv.conf());
        run_quietly(&mut daemon);
        wait_for_file(&sv.dir.path().join("supervisord.pid"));
        wait_for_file(&sv.dir.path().join("supervisor.sock"));
        let pid = sv.daemon_pid();
        sv.started.add(pid);
        sv
    }

    fn conf(&self) -> PathBuf {
        self.dir.path().join("supervisord.conf")
    }

    fn ctl(&self, args: &[&str]) -> Command {
        let mut command = Command::new(self.bin_dir.join("supervisorctl"));
        command.arg("-c").arg(self.conf()).args(args);
        command
    }
}

impl Manager for Supervisord {
    fn name(&self) -> &str {
        &self.label
    }

    fn start(&mut self) {
        run_quietly(&mut self.ctl(&["start", "all"]));
    }

    fn stop(&mut self) {
        run_quietly(&mut self.ctl(&["stop", "all"]));
    }

    fn status_command(&self) -> Command {
        self.ctl(&["status"])
    }

    fn daemon_pid(&self) -> i32 {
        pid_in(&self.dir.path().join("supervisord.pid"))
    }

    fn service_pids(&self) -> Vec<(String, i32)> {
        // `NAME  RUNNING   pid 123, uptime 0:00:01`
        let out = self.ctl(&["status"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| {
                let mut words = line.split_whitespace();
                let name = words.next()?.to_owned();
                (words.next()? == "RUNNING").then_some(())?;
                let pid = words.nth(1)?.trim_end_matches(',').parse().ok()?;
                Some((name, pid))
            })
            .collect()
    }

    fn started(&mut self) -> &mut Started {
        &mut self.started
    }

    fn log_files(&self, service: &str) -> Vec<PathBuf> {
        files_starting(&self.dir.path().join("logs"), &format!("{service}.log"))
    }
}

impl Drop for Supervisord {
    fn drop(&mut self) {
        let daemon = crate::support::procs::Proc::seen(self.daemon_pid());
        let _ = time_quietly(&mut self.ctl(&["shutdown"]));
        // It stops its programs after answering; give it the time they may take.
        crate::manager::wait_gone(daemon, std::time::Duration::from_secs(15));
    }
}
