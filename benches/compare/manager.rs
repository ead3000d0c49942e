//! What the comparison asks of a supervisor (berth, PM2, supervisord): a stack it runs from
//! its own configuration, with a daemon already up, and the commands its users would type to
//! start, stop and look at that stack.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::procs::{Proc, Started};

/// One service of a stack: the test service with these arguments.
#[derive(Clone)]
pub struct Service {
    pub name: String,
    /// Given to the service as `PORT`; berth waits for it, the others do not know of it.
    pub port: Option<u16>,
    pub args: Vec<String>,
    /// Restarted whenever it ends (with no delay), or never.
    pub restart: bool,
    /// berth only: an HTTP health check every 5 s (the peers have none).
    pub health: bool,
    /// Log rotation: the size of one file and how many older files are kept.
    pub log: Option<(u64, u32)>,
}

impl Service {
    /// A service listening on `port`, restarted whenever it ends.
    pub fn server(name: String, port: u16) -> Service {
        Service {
            name,
            port: Some(port),
            args: Vec::new(),
            restart: true,
            health: false,
            log: None,
        }
    }
}

#[derive(Clone)]
pub struct Stack {
    pub program: PathBuf,
    pub services: Vec<Service>,
}

impl Stack {
    /// `n` servers named `s0` … on the given ports.
    pub fn servers(program: &Path, ports: &[u16]) -> Stack {
        Stack {
            program: program.to_path_buf(),
            services: ports
                .iter()
                .enumerate()
                .map(|(i, &port)| Service::server(format!("s{i}"), port))
                .collect(),
        }
    }

    pub fn ports(&self) -> Vec<u16> {
        self.services.iter().filter_map(|s| s.port).collect()
    }
}

/// Dropping a manager stops its services and its daemon, then kills by pid whatever it
/// started that still runs.
pub trait Manager {
    /// The name in the table's header, with its version.
    fn name(&self) -> &str;

    /// Starts every service of the stack (the daemon is up); returns when the start command
    /// does. berth's returns once all are ready; the others' earlier.
    fn start(&mut self);

    /// Stops every service; returns when the stop command does.
    fn stop(&mut self);

    /// The command a user runs to see the stack's state.
    fn status_command(&self) -> Command;

    fn daemon_pid(&self) -> i32;

    /// Processes besides the daemon that the manager keeps per service (berth's shims).
    fn keepers(&self) -> Vec<i32> {
        Vec::new()
    }

    /// Processes the manager keeps besides its daemon and one per service (berth's shim
    /// forker), counted in its memory and CPU.
    fn helpers(&self) -> Vec<i32> {
        Vec::new()
    }

    /// The pid of each running service, by name.
    fn service_pids(&self) -> Vec<(String, i32)>;

    /// Where the output of `service` ends up: the current file and the rotated ones.
    fn log_files(&self, service: &str) -> Vec<PathBuf>;

    /// The list of what this manager started, killed by pid when it is dropped.
    fn started(&mut self) -> &mut Started;

    /// Adds what runs now (daemon, keepers, services) to `started`.
    fn remember(&mut self) {
        let pids: Vec<i32> = self
            .service_pids()
            .into_iter()
            .map(|(_, pid)| pid)
            .chain(self.keepers())
            .chain(self.helpers())
            .chain([self.daemon_pid()])
            .collect();
        let started = self.started();
        pids.into_iter().for_each(|pid| started.add(pid));
    }
}

/// Every file in `dir` whose name starts with `prefix` (a log and its rotated copies).
pub fn files_starting(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .map(|e| e.path())
        .collect();
    files.sort();
    files
}

/// Waits until `file` exists (a daemon's pid file or socket), up to 10 s.
pub fn wait_for_file(file: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !file.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            file.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A pid written in a file.
pub fn pid_in(file: &Path) -> i32 {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no pid in {}", file.display()))
}

/// Waits until `process` has ended, up to `limit`.
pub fn wait_gone(process: Option<Proc>, limit: Duration) {
    let deadline = Instant::now() + limit;
    while process.is_some_and(|p| p.alive()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
}
