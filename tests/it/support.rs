//! What every test shares: fixture paths, temp projects, and one builder that runs the real
//! `berth` binary and checks its exit status, stdout and stderr.

use std::path::{Path, PathBuf};
use std::process::Output;

pub fn fixture(kind: &str, name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(kind)
        .join(name)
}

pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// A temporary directory holding a project; removed when dropped.
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    /// A project whose berth.yaml is `config`.
    pub fn new(config: &str) -> Project {
        let project = Project {
            dir: tempfile::tempdir().unwrap(),
        };
        project.write("berth.yaml", config);
        project
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, text).unwrap();
        path
    }

    /// `berth ARGS` run in the project's directory.
    pub fn berth(&self, args: &[&str]) -> Run {
        Run::new(args).dir(self.path())
    }
}

/// One run of the binary, built up then checked.
pub struct Run {
    cmd: assert_cmd::Command,
}

impl Run {
    pub fn new(args: &[&str]) -> Run {
        let mut cmd = assert_cmd::Command::cargo_bin("berth").unwrap();
        cmd.args(args);
        // A predictable environment: no inherited berth settings, no colour.
        for var in ["BERTH_FILE", "BERTH_PROFILE", "BERTH_STATE_DIR"] {
            cmd.env_remove(var);
        }
        cmd.env("NO_COLOR", "1");
        Run { cmd }
    }

    pub fn dir(mut self, dir: &Path) -> Run {
        self.cmd.current_dir(dir);
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Run {
        self.cmd.env(key, value);
        self
    }

    pub fn env_remove(mut self, key: &str) -> Run {
        self.cmd.env_remove(key);
        self
    }

    /// Runs it whatever its exit code; its stdout as JSON.
    pub fn code_any_json(self) -> serde_json::Value {
        self.output_any().json()
    }

    /// Runs it whatever its exit code.
    pub fn output_any(mut self) -> Ran {
        Ran {
            output: self.cmd.output().unwrap(),
        }
    }

    /// Runs it and checks the exit code; returns the output for further checks.
    #[track_caller]
    pub fn code(mut self, code: i32) -> Ran {
        let output = self.cmd.output().unwrap();
        let ran = Ran { output };
        assert_eq!(
            ran.output.status.code(),
            Some(code),
            "exit status\nstdout:\n{}\nstderr:\n{}",
            ran.stdout(),
            ran.stderr()
        );
        ran
    }
}

pub struct Ran {
    pub output: Output,
}

impl Ran {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.output.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout()))
    }

    /// Stdout as NDJSON (one JSON value a line, as `events --json` prints), as an array.
    #[track_caller]
    pub fn json_lines(&self) -> serde_json::Value {
        serde_json::Value::Array(
            self.stdout()
                .lines()
                .map(|l| {
                    serde_json::from_str(l).unwrap_or_else(|e| {
                        panic!("a line is not JSON ({e}): {l}\n{}", self.stdout())
                    })
                })
                .collect(),
        )
    }

    #[track_caller]
    pub fn stdout_is(self, expected: &str) -> Ran {
        assert_eq!(self.stdout(), expected);
        self
    }

    #[track_caller]
    pub fn stderr_is(self, expected: &str) -> Ran {
        assert_eq!(self.stderr(), expected);
        self
    }

    #[track_caller]
    pub fn stdout_has(self, part: &str) -> Ran {
        assert!(
            self.stdout().contains(part),
            "stdout lacks {part:?}:\n{}",
            self.stdout()
        );
        self
    }

    #[track_caller]
    pub fn stderr_has(self, part: &str) -> Ran {
        assert!(
            self.stderr().contains(part),
            "stderr lacks {part:?}:\n{}",
            self.stderr()
        );
        self
    }
}

/// Polls `probe` until it gives a value or `timeout` passes. Tests wait for events this way,
/// never with fixed sleeps.
pub fn wait_until<T>(
    timeout: std::time::Duration,
    mut probe: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(v) = probe() {
            return Some(v);
        }
        if std::time::Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// The test service built from this repository (`examples/test-service.rs`). `cargo test`
/// builds it; `cargo test --test it NAME` does not, so it is built here when missing.
pub fn test_service() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let profile_dir = Path::new(env!("CARGO_BIN_EXE_berth")).parent().unwrap();
            let path = profile_dir.join("examples/test-service");
            if !path.exists() {
                let mut build = std::process::Command::new(env!("CARGO"));
                build
                    .args(["build", "--quiet", "--example", "test-service"])
                    .current_dir(env!("CARGO_MANIFEST_DIR"));
                if profile_dir.ends_with("release") {
                    build.arg("--release");
                }
                let built = build.status().is_ok_and(|s| s.success());
                assert!(built && path.exists(), "building {} failed", path.display());
            }
            path
        })
        .clone()
}

/// A port nothing listens on right now (the kernel's choice, released at once), never one
/// handed out before in this test process: the kernel may give a just-released port again,
/// and two services of one config on one port is a config error.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// Every config that must be valid: `tests/fixtures/valid/*.yaml` and `examples/*/berth.yaml`.
pub fn valid_configs() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixture("valid", ""))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    // A config split over files lives in a folder of its own.
    for entry in std::fs::read_dir(fixture("valid", "")).unwrap() {
        let dir = entry.unwrap().path();
        if dir.join("berth.yaml").is_file() {
            files.push(dir.join("berth.yaml"));
        }
    }
    for entry in std::fs::read_dir(repo("examples")).unwrap() {
        let dir = entry.unwrap().path();
        if dir.is_dir() {
            files.push(dir.join("berth.yaml"));
        }
    }
    files.sort();
    files
}

/// A process of someone else holding a port: a python3 HTTP server on 127.0.0.1, run as
/// `user` when given (through `runuser`). Killed when dropped.
pub struct Squatter {
    pub child: std::process::Child,
    pub port: u16,
}

impl Squatter {
    /// `None` when it could not be started or never listened (say, no `runuser`).
    pub fn on(port: u16, user: Option<&str>) -> Option<Squatter> {
        let server = format!("exec python3 -m http.server {port} --bind 127.0.0.1");
        let mut command = match user {
            Some(user) => {
                let mut c = std::process::Command::new("runuser");
                c.args(["-u", user, "--", "sh", "-c", &server]);
                c
            }
            None => {
                let mut c = std::process::Command::new("sh");
                c.args(["-c", &server]);
                c
            }
        };
        let child = command
            .current_dir(std::env::temp_dir())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let squatter = Squatter { child, port };
        wait_until(std::time::Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        })?;
        Some(squatter)
    }

    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Squatter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Kills `id` with SIGKILL (only if it is still that process) and waits until it is gone.
pub fn kill_9(id: berth::process::ProcessId) {
    assert!(
        id.signal(rustix::process::Signal::KILL).unwrap(),
        "{id:?} was already gone"
    );
    wait_until(std::time::Duration::from_secs(5), || {
        (!id.is_alive()).then_some(())
    })
    .unwrap();
}

/// The pid of the daemon serving the project in `dir`, from its lock file (held while it runs).
pub fn daemon_pid(dir: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(dir.join(".berth/daemon.lock")).ok()?;
    text.trim().parse().ok()
}
