//! The engine through the CLI: `up` waits until the stack is ready, `status` reports it,
//! `down` leaves nothing behind, the daemon can die without taking the services along, and
//! the next command re-adopts them.

use crate::support::{Project, Run, free_port, kill_9, test_service, wait_until};
use berth::process::ProcessId;
use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

/// A project with a `db` and an `api` that depends on it, both the test service.
pub struct Stack {
    pub project: Project,
    pub db_port: u16,
    pub api_port: u16,
}

impl Stack {
    pub fn new() -> Stack {
        Stack::with("")
    }

    /// `extra` is appended to the config (more services).
    pub fn with(extra: &str) -> Stack {
        let (db_port, api_port) = (free_port(), free_port());
        let service = test_service().display().to_string();
        let project = Project::new(&format!(
            "services:\n  db:\n    command: [\"{service}\"]\n    port: {db_port}\n  api:\n    command: [\"{service}\", \"--slow-start\", \"100\"]\n    port: {api_port}\n    depends_on: [db]\n    health: {{ http: \"http://127.0.0.1:${{port}}/health\" }}\n    env: {{ DB_PORT: \"${{services.db.port}}\" }}\n{extra}"
        ));
        Stack {
            project,
            db_port,
            api_port,
        }
    }

    pub fn berth(&self, args: &[&str]) -> Run {
        self.project.berth(args)
    }

    pub fn pids(&self) -> BTreeMap<String, Option<u64>> {
        let status = self.berth(&["status", "--json"]).output_any().json();
        status["services"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["name"].as_str().unwrap().to_string(), s["pid"].as_u64()))
            .collect()
    }
}

impl Stack {
    /// `berth ARGS` started in the project's directory, its output piped, not waited for.
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(args)
            .current_dir(self.project.path())
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    pub fn daemon_pid(&self) -> Option<u32> {
        crate::support::daemon_pid(self.project.path())
    }

    /// The daemon's shim forker, if one runs.
    pub fn forker(&self) -> Option<ProcessId> {
        let daemon = self.daemon_pid()?;
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|&pid| parent_of(pid) == Some(daemon))
            .find(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| c.ends_with(b"\0shim\0--forker\0"))
            })
            .and_then(|pid| ProcessId::of(pid).ok())
            .filter(ProcessId::is_alive)
    }

    /// Kills the daemon with SIGKILL and waits until it is gone.
    /// (The pid from `status`: the state dir may be elsewhere than `.berth`.)
    pub fn kill_daemon(&self) {
        let status = self.berth(&["status", "--json"]).output_any().json();
        let pid = status["daemon"]["pid"].as_u64().expect("a daemon runs");
        kill_9(ProcessId::of(pid as u32).unwrap());
    }

    /// The live processes carrying `service`'s marks for this stack.
    pub fn instances(&self, service: &str) -> Vec<u32> {
        let state_dir = self.project.path().join(".berth").canonicalize().unwrap();
        processes_with(&[
            format!("BERTH_STACK={}", state_dir.display()),
            format!("BERTH_SERVICE={service}"),
        ])
    }

    /// With the daemon gone, `status` still sees `before`, and the next `up` takes the
    /// services over: same pids, a daemon running. Returns that status.
    pub fn assert_taken_over(&self, before: &BTreeMap<String, Option<u64>>) -> serde_json::Value {
        let offline = self.berth(&["status", "--json"]).output_any().json();
        assert_eq!(offline["daemon"]["running"], false);
        assert_eq!(&self.pids(), before);
        self.berth(&["up", "-q"]).code(0);
        let status = self.berth(&["status", "--json"]).code(0).json();
        assert_eq!(status["daemon"]["running"], true);
        assert_eq!(&self.pids(), before);
        status
    }

    /// `down` stops everything, dependents first (`said`: the order it reports), and no
    /// process of `before` survives.
    pub fn assert_down_leaves_nothing(&self, before: &BTreeMap<String, Option<u64>>, said: &str) {
        self.berth(&["down"]).code(0).stderr_has(said);
        for pid in before.values().flatten() {
            assert!(!alive(*pid), "pid {pid} survived down");
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.berth(&["down"]).output_any();
    }
}

pub fn alive(pid: u64) -> bool {
    ProcessId::of(pid as u32).is_ok_and(|p| p.is_alive())
}

/// The parent of `pid`, from the fourth field of its stat line.
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[test]
fn up_waits_for_readiness_in_order_and_down_leaves_nothing() {
    let stack = Stack::new();
    let up = stack.berth(&["up"]).code(0);
    let progress = up.stderr();
    let db = progress.find("✓ db ready in").expect(&progress);
    let api = progress.find("✓ api ready in").expect(&progress);
    assert!(db < api, "db is ready before api: {progress}");
    std::net::TcpStream::connect(("127.0.0.1", stack.api_port))
        .expect("api listens once up returns");

    let status = stack.berth(&["status", "--json"]).code(0).json();
    assert_eq!(status["health"], "healthy");
    assert_eq!(status["daemon"]["running"], true);
    let api_view = status["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "api")
        .unwrap();
    assert_eq!(api_view["state"], "running");
    assert_eq!(api_view["health"], "healthy");
    assert_eq!(api_view["port"], stack.api_port);
    assert_eq!(api_view["restarts"], 0);
    for key in ["pid", "uptime_s", "cpu_percent", "rss_bytes", "exit_code"] {
        assert!(api_view.get(key).is_some(), "status lacks {key}");
    }
    let environ = std::fs::read(format!("/proc/{}/environ", api_view["pid"])).unwrap();
    assert!(String::from_utf8_lossy(&environ).contains(&format!("DB_PORT={}\0", stack.db_port)));

    stack.assert_down_leaves_nothing(&stack.pids(), "stopped api, db");
    assert!(std::net::TcpStream::connect(("127.0.0.1", stack.db_port)).is_err());
    let after = stack.berth(&["status", "--json"]).code(3).json();
    assert_eq!(after["health"], "stopped");
    assert_eq!(after["daemon"]["running"], false);
}

#[test]
fn services_outlive_a_killed_daemon_and_are_re_adopted() {
    let stack = Stack::new();
    stack.berth(&["up", "-q"]).code(0);
    let before = stack.pids();
    let forker = stack.forker().expect("the daemon has a shim forker");
    stack.kill_daemon();
    std::net::TcpStream::connect(("127.0.0.1", stack.api_port)).expect("api still up");
    // The forker goes with its daemon.
    wait_until(Duration::from_secs(5), || {
        (!forker.is_alive()).then_some(())
    })
    .expect("the forker outlived its daemon");
    // Status sees them without a daemon; the next up takes them over, nothing restarted.
    let status = stack.assert_taken_over(&before);
    assert!(
        status["services"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["restarts"] == 0)
    );
}

#[test]
fn daemon_stop_leaves_the_services_running() {
    let stack = Stack::new();
    stack.berth(&["up", "-q"]).code(0);
    let before = stack.pids();
    stack
        .berth(&["daemon", "stop"])
        .code(0)
        .stderr_has("services keep running");
    let offline = wait_until(Duration::from_secs(5), || {
        let s = stack.berth(&["status", "--json"]).output_any().json();
        (s["daemon"]["running"] == false).then_some(s)
    })
    .unwrap();
    assert_eq!(offline["daemon"]["running"], false);
    for pid in before.values().flatten() {
        assert!(alive(*pid));
    }
    // With no daemon, down still stops everything, dependents first.
    stack.assert_down_leaves_nothing(&before, "stopped api, db");
}

#[test]
fn a_daemon_started_in_the_background_says_ready_and_lets_go_of_its_stdout() {
    let stack = Stack::new();
    let mut daemon = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["daemon", "--announce"])
        .current_dir(stack.project.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The end of its stdout comes while it serves: nothing of it holds the pipe any more.
    let mut said = String::new();
    std::io::Read::read_to_string(&mut daemon.stdout.take().unwrap(), &mut said).unwrap();
    assert_eq!(said, "ready\n");
    assert!(daemon.try_wait().unwrap().is_none(), "the daemon exited");
    stack.berth(&["status"]).code(3);
    stack.berth(&["daemon", "stop"]).code(0);
    daemon.wait().unwrap();
}

#[test]
fn a_failing_service_makes_up_exit_1_with_its_reason_and_log() {
    let service = test_service().display().to_string();
    // With a port, it is ready only once it listens: it exits before that.
    let port = free_port();
    let stack = Stack::with(&format!(
        "  broken:\n    command: [\"{service}\", \"--no-listen\", \"--exit-after\", \"10\", \"--code\", \"7\"]\n    port: {port}\n    restart: never\n    depends_on: [db]\n"
    ));
    stack
        .berth(&["up"])
        .code(1)
        .stderr_has("error: broken failed: it exited with code 7 (restart: never)")
        .stderr_has("last lines of broken's log:")
        .stderr_has("| exiting with code 7");
}

#[test]
fn up_of_an_unknown_service_is_bad_usage() {
    let stack = Stack::new();
    stack
        .berth(&["up", "apii"])
        .code(2)
        .stderr_has("no service `apii`")
        .stderr_has("did you mean `api`?");
}

#[test]
fn up_of_one_service_starts_its_dependencies_only() {
    let service = test_service().display().to_string();
    let stack = Stack::with(&format!(
        "  other:\n    command: [\"{service}\", \"--no-listen\"]\n"
    ));
    stack.berth(&["up", "-q", "api"]).code(0);
    let pids = stack.pids();
    assert!(pids["db"].is_some() && pids["api"].is_some());
    assert_eq!(pids["other"], None);
}

/// `out=$(berth up)` returns as soon as `up` does: nothing left running holds its output.
#[test]
fn up_does_not_keep_the_callers_output_open() {
    let stack = Stack::new();
    let mut child = stack.spawn(&["up"]);
    let (tx, rx) = std::sync::mpsc::channel();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stdout, &mut sink);
        let _ = std::io::Read::read_to_end(&mut stderr, &mut sink);
        let _ = tx.send(());
    });
    rx.recv_timeout(Duration::from_secs(20))
        .expect("the pipes reached end-of-file");
    assert!(child.wait().unwrap().success());
}

/// Processes whose environment holds every one of `markers` (`KEY=VALUE`).
pub fn processes_with(markers: &[String]) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
                return false;
            };
            let vars: Vec<&[u8]> = environ.split(|b| *b == 0).collect();
            markers.iter().all(|m| vars.contains(&m.as_bytes()))
        })
        .filter(|pid| ProcessId::of(*pid).is_ok_and(|p| p.is_alive()))
        .collect()
}

#[test]
fn ensure_is_silent_and_fifty_concurrent_callers_start_everything_once() {
    let stack = Stack::new();
    let children: Vec<_> = (0..50)
        .map(|_| {
            std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
                .arg("ensure")
                .current_dir(stack.project.path())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stdout.is_empty() && out.stderr.is_empty(),
            "ensure printed something"
        );
    }
    let project = stack
        .project
        .path()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .trim_start_matches('.')
        .to_string();
    for service in ["db", "api"] {
        let instances = processes_with(&[
            format!("BERTH_PROJECT={project}"),
            format!("BERTH_SERVICE={service}"),
        ]);
        assert_eq!(instances.len(), 1, "{service}: {instances:?}");
    }
    let state_dir = stack.project.path().join(".berth").canonicalize().unwrap();
    // Shims inherit the daemon's environment: a daemon is the one whose argv says so.
    let daemons: Vec<u32> = processes_with(&[format!("BERTH_STATE_DIR={}", state_dir.display())])
        .into_iter()
        .filter(|pid| {
            let argv = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            argv.split(|b| *b == 0).nth(1) == Some(b"daemon")
        })
        .collect();
    assert_eq!(daemons.len(), 1, "daemons: {daemons:?}");
    // Already up: silent again.
    stack.berth(&["ensure"]).code(0).stdout_is("").stderr_is("");
}

#[test]
fn restart_gives_the_service_a_new_process_and_leaves_its_dependency() {
    let stack = Stack::new();
    stack.berth(&["up", "-q"]).code(0);
    let before = stack.pids();
    stack
        .berth(&["restart", "api"])
        .code(0)
        .stderr_has("✓ api ready");
    let after = stack.pids();
    assert_eq!(after["db"], before["db"]);
    assert_ne!(after["api"], before["api"]);
    assert!(alive(after["api"].unwrap()));
}

#[test]
fn a_killed_shim_forker_stops_no_service_and_no_start() {
    let stack = Stack::new();
    stack.berth(&["up", "-q"]).code(0);
    let before = stack.pids();
    let forker = stack.forker().expect("the daemon has a shim forker");
    kill_9(forker);
    std::net::TcpStream::connect(("127.0.0.1", stack.db_port)).expect("db still up");
    assert_eq!(stack.pids(), before);
    // The next start finds the forker gone and runs the shim itself.
    stack.berth(&["restart", "api"]).code(0);
    let log = std::fs::read_to_string(stack.project.path().join(".berth/daemon.log")).unwrap();
    assert!(
        log.contains("running its shim directly"),
        "daemon log: {log}"
    );
    // The one after that has a new forker.
    stack.berth(&["restart", "db"]).code(0);
    let again = stack.forker().expect("a new shim forker");
    assert_ne!(again, forker);
    let after = stack.pids();
    assert_ne!(after["db"], before["db"]);
    assert!(alive(after["db"].unwrap()) && alive(after["api"].unwrap()));
}

#[test]
fn logs_show_the_last_lines_prefix_several_services_and_follow() {
    let stack = Stack::with(
        "  ticker:\n    command: [\"sh\", \"-c\", \"i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.02; done\"]\n",
    );
    stack.berth(&["up", "-q"]).code(0);
    wait_until(Duration::from_secs(10), || {
        let out = stack
            .berth(&["logs", "ticker", "-n", "1000"])
            .code(0)
            .stdout();
        out.contains("tick 10\n").then_some(())
    })
    .expect("ticks in the log");
    let last = stack.berth(&["logs", "ticker", "-n", "3"]).code(0).stdout();
    let lines: Vec<&str> = last.lines().collect();
    assert_eq!(lines.len(), 3, "{last}");
    assert!(
        lines.iter().all(|l| l.starts_with("tick ")),
        "one service: unprefixed\n{last}"
    );

    let both = stack
        .berth(&["logs", "db", "ticker", "-n", "50"])
        .code(0)
        .stdout();
    assert!(
        both.lines()
            .all(|l| l.starts_with("db     | ") || l.starts_with("ticker | ")),
        "{both}"
    );
    assert!(both.contains("db     | test-service"), "{both}");

    assert_eq!(
        stack
            .berth(&["logs", "ticker", "--since", "0s"])
            .code(0)
            .stdout()
            .lines()
            .count(),
        0
    );
    stack
        .berth(&["logs", "nope"])
        .code(2)
        .stderr_has("no service `nope`");

    // -f after `logs` follows; new ticks arrive.
    let mut follow = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["logs", "-f", "-n", "0", "ticker"])
        .current_dir(stack.project.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = std::io::BufReader::new(follow.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut reader, &mut line).unwrap();
    assert!(line.starts_with("tick "), "{line:?}");
    follow.kill().unwrap();
    follow.wait().unwrap();
}

#[test]
fn down_timeout_and_force_override_a_long_stop_timeout() {
    let service = test_service().display().to_string();
    for flags in [&["--timeout", "300ms"][..], &["--force"][..]] {
        let stubborn = free_port();
        let stack = Stack::with(&format!(
            "  stubborn:\n    command: [\"{service}\", \"--ignore-term\"]\n    port: {stubborn}\n    stop_timeout: 30s\n"
        ));
        stack.berth(&["up", "-q"]).code(0);
        let pid = stack.pids()["stubborn"].unwrap();
        let started = std::time::Instant::now();
        let mut args = vec!["down", "stubborn"];
        args.extend_from_slice(flags);
        stack.berth(&args).code(0);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{flags:?} took {:?}",
            started.elapsed()
        );
        assert!(!alive(pid));
        // The rest of the stack is untouched.
        assert!(stack.pids()["db"].is_some_and(alive));
    }
}

#[test]
fn up_stops_services_removed_from_the_config() {
    let service = test_service().display().to_string();
    let stack = Stack::with(&format!(
        "  extra:\n    command: [\"{service}\", \"--no-listen\"]\n"
    ));
    stack.berth(&["up", "-q"]).code(0);
    let extra = stack.pids()["extra"].unwrap();
    let config = std::fs::read_to_string(stack.project.path().join("berth.yaml")).unwrap();
    let without: String = config.split("  extra:").next().unwrap().to_string();
    stack.project.write("berth.yaml", &without);
    stack.berth(&["up", "-q"]).code(0);
    wait_until(Duration::from_secs(10), || (!alive(extra)).then_some(()))
        .expect("removed service stopped");
}

#[test]
fn a_daemonizing_command_is_followed_through_its_pid_file() {
    let service = test_service().display().to_string();
    let port = free_port();
    let stack = Stack::with(&format!(
        "  forking:\n    command: [\"{service}\", \"--daemonize\", \"forking.pid\"]\n    pidfile: forking.pid\n    port: {port}\n"
    ));
    stack.berth(&["up", "-q", "forking"]).code(0);
    let written: u64 = std::fs::read_to_string(stack.project.path().join("forking.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let status = stack.berth(&["status", "--json", "forking"]).code(0).json();
    assert_eq!(status["services"][0]["state"], "running");
    assert_eq!(
        status["services"][0]["pid"], written,
        "the pid file's process is the main one"
    );
    std::net::TcpStream::connect(("127.0.0.1", port)).expect("the daemon answers");
    stack.berth(&["down", "forking"]).code(0);
    assert!(!alive(written), "the daemonized process was stopped");
}

/// Sends raw bytes to the daemon's socket; returns the whole answer.
fn raw_request(stack: &Stack, request: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut socket =
        std::os::unix::net::UnixStream::connect(stack.project.path().join(".berth/berth.sock"))
            .unwrap();
    socket.write_all(request).unwrap();
    let mut answer = String::new();
    socket.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn bad_api_requests_get_a_clear_400_and_change_nothing() {
    let stack = Stack::new();
    stack.berth(&["up", "-q"]).code(0);
    let before = stack.pids();
    let body = "{ not json";
    let answer = raw_request(
        &stack,
        format!("POST /v1/up HTTP/1.1\r\nHost: berth\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).as_bytes(),
    );
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("\"error\""), "{answer}");
    let body = r#"{"services":["nope"]}"#;
    let answer = raw_request(
        &stack,
        format!("POST /v1/down HTTP/1.1\r\nHost: berth\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).as_bytes(),
    );
    assert!(
        answer.starts_with("HTTP/1.1 400") && answer.contains("no service `nope`"),
        "{answer}"
    );
    assert_eq!(stack.pids(), before, "nothing changed");
    // `ps` is `status`.
    stack.berth(&["ps"]).code(0).stdout_has("stack: healthy");
}

#[test]
fn every_start_exit_and_restart_of_a_crash_loop_is_in_the_event_log() {
    let service = test_service().display().to_string();
    let stack = Stack::with(&format!(
        "  crashy:\n    command: [\"{service}\", \"--no-listen\", \"--exit-after\", \"30\", \"--code\", \"3\"]\n    restart_delay: 0\n    max_restarts: 2\n    autostart: false\n"
    ));
    stack.berth(&["up", "-q"]).code(0);
    stack.berth(&["up", "-q", "crashy"]).output_any();
    let status = wait_until(Duration::from_secs(20), || {
        let status = stack
            .berth(&["status", "--json", "crashy"])
            .output_any()
            .json();
        (status["services"][0]["state"] == "failed").then_some(status)
    })
    .expect("the circuit opens");
    assert_eq!(status["services"][0]["restarts"], 2);
    // Events are written off the supervision path: the last one may take a moment.
    let events = wait_until(Duration::from_secs(5), || {
        let events = stack
            .berth(&["events", "crashy", "--json"])
            .code(0)
            .json_lines();
        let last = events.as_array().unwrap().last().cloned();
        last.is_some_and(|e| e["kind"] == "failed")
            .then_some(events)
    })
    .expect("the failure is in the event log");
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .filter(|k| *k != "ready")
        .collect();
    assert_eq!(
        kinds,
        [
            "started",
            "exited",
            "restarting",
            "started",
            "exited",
            "restarting",
            "started",
            "exited",
            "failed"
        ],
        "{events}"
    );
    let exits: Vec<&serde_json::Value> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "exited")
        .collect();
    assert!(
        exits
            .iter()
            .all(|e| e["message"] == "it exited with code 3"),
        "{events}"
    );
    // Each run's pid is named where it started and where it ended.
    let started: Vec<&serde_json::Value> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "started")
        .map(|e| &e["data"]["pid"])
        .collect();
    let ended: Vec<&serde_json::Value> = exits.iter().map(|e| &e["data"]["pid"]).collect();
    assert_eq!(started, ended);
}
