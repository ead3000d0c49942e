//! The keeper process against real processes: exit codes, stop by signal or timeout, nothing
//! left behind (grandchildren included, even those that left the process group), and no log
//! line lost across rotation.

use crate::support::{test_service, wait_until};
use berth::process::ProcessId;
use berth::shim::ShimSpec;
use berth::stack::signal::Signal;
use berth::state::run_file::{Outcome, RunFile};
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Kept {
    dir: tempfile::TempDir,
    spec: ShimSpec,
    shim: Child,
}

impl Kept {
    /// Starts a shim keeping the test service with `args`.
    fn start(args: &[&str], tune: impl FnOnce(&mut ShimSpec)) -> Kept {
        let mut argv = vec![test_service().display().to_string()];
        argv.extend(args.iter().map(|a| a.to_string()));
        Kept::start_argv(argv, tune)
    }

    fn start_argv(argv: Vec<String>, tune: impl FnOnce(&mut ShimSpec)) -> Kept {
        let dir = tempfile::tempdir().unwrap();
        let mut spec = spec_in(dir.path(), argv);
        tune(&mut spec);
        let mut shim = Command::new(env!("CARGO_BIN_EXE_berth"))
            .arg("shim")
            // In the shim's environment, and so never in the service's.
            .env("BERTH_TEST_LEAK", "leaked")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        shim.stdin
            .take()
            .unwrap()
            .write_all(&serde_json::to_vec(&spec).unwrap())
            .unwrap();
        Kept { dir, spec, shim }
    }

    fn record(&self) -> Option<RunFile> {
        serde_json::from_slice(&std::fs::read(&self.spec.run_file).ok()?).ok()
    }

    /// The service's main process, once the shim has recorded it.
    fn main(&self) -> ProcessId {
        wait_until(Duration::from_secs(10), || {
            self.record().and_then(|r| r.main)
        })
        .expect("main process recorded")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.spec.log).unwrap_or_default()
    }

    fn wait_for_log(&self, text: &str) {
        wait_until(Duration::from_secs(10), || {
            self.log().contains(text).then_some(())
        })
        .unwrap_or_else(|| panic!("log never showed {text:?}:\n{}", self.log()));
    }

    fn stop(&self) {
        rustix::process::kill_process(
            rustix::process::Pid::from_raw(self.shim.id() as i32).unwrap(),
            rustix::process::Signal::TERM,
        )
        .unwrap();
    }

    /// Waits for the shim to exit; returns how it recorded the end.
    fn finish(mut self) -> (Outcome, String, tempfile::TempDir) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.shim.try_wait().unwrap() {
                assert!(status.success(), "shim exited with {status}");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "shim did not finish:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let outcome = self.record().unwrap().outcome;
        let log = self.log();
        (outcome, log, self.dir)
    }
}

/// The spec of service `svc` running `argv`, its files in `dir`.
pub fn spec_in(dir: &std::path::Path, argv: Vec<String>) -> ShimSpec {
    ShimSpec {
        project: "test".into(),
        service: "svc".into(),
        argv,
        env: vec![("PATH".into(), std::env::var("PATH").unwrap())],
        cwd: dir.to_path_buf(),
        port: None,
        log: dir.join("logs/svc.log"),
        log_max_size: 10 << 20,
        log_keep: 5,
        run_file: dir.join("svc.json"),
        stop_signal: Signal::TERM,
        stop_timeout: Duration::from_secs(10),
        stop_command: None,
        notify: false,
        pidfile: None,
    }
}

/// Pids the test service printed as `grandchild N`.
fn grandchildren(log: &str) -> Vec<ProcessId> {
    log.lines()
        .filter_map(|l| l.split("out grandchild ").nth(1))
        .filter_map(|pid| ProcessId::of(pid.trim().parse().ok()?).ok())
        .collect()
}

#[test]
fn records_the_main_process_and_its_exit_code() {
    let kept = Kept::start(
        &["--no-listen", "--exit-after", "50", "--code", "3"],
        |_| {},
    );
    let main = kept.main();
    let shim_pid = kept.shim.id();
    let record = kept.record().unwrap();
    assert_eq!(record.shim.pid, shim_pid);
    assert_eq!(record.pgid, Some(main.pid));
    let (outcome, log, _dir) = kept.finish();
    match outcome {
        Outcome::Exited {
            code,
            signal,
            stopped,
            ..
        } => assert_eq!((code, signal, stopped), (Some(3), None, false)),
        other => panic!("{other:?}"),
    }
    assert!(!main.is_alive());
    assert!(log.contains(" err exiting with code 3\n"), "{log}");
    assert!(log.contains(" berth exited with code 3\n"), "{log}");
}

#[test]
fn a_stop_request_sends_the_stop_signal_to_the_group() {
    let kept = Kept::start(&["--no-listen", "--grandchildren", "2"], |s| {
        s.stop_signal = Signal::TERM
    });
    let main = kept.main();
    kept.wait_for_log("grandchild");
    let children = wait_until(Duration::from_secs(10), || {
        let g = grandchildren(&kept.log());
        (g.len() == 2).then_some(g)
    })
    .unwrap();
    let started = Instant::now();
    kept.stop();
    let (outcome, log, _dir) = kept.finish();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a prompt service stops promptly"
    );
    match outcome {
        Outcome::Exited {
            signal, stopped, ..
        } => assert_eq!((signal, stopped), (Some(15), true)),
        other => panic!("{other:?}"),
    }
    assert!(!main.is_alive());
    assert!(children.iter().all(|c| !c.is_alive()));
    assert!(log.contains("berth stopping: sending SIGTERM"), "{log}");
}

#[test]
fn a_second_stop_request_with_zero_timeout_kills_at_once() {
    let kept = Kept::start(&["--no-listen", "--ignore-term"], |s| {
        s.stop_timeout = Duration::from_secs(60)
    });
    let main = kept.main();
    kept.wait_for_log("starting");
    kept.stop();
    kept.wait_for_log("stopping: sending SIGTERM");
    let shim = ProcessId::of(kept.shim.id()).unwrap();
    let started = Instant::now();
    berth::shim::stop::request(&kept.spec.run_file, shim, Some(Duration::ZERO)).unwrap();
    let (outcome, _log, _dir) = kept.finish();
    // Far sooner than the 60 s stop timeout.
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(
        matches!(
            outcome,
            Outcome::Exited {
                signal: Some(9),
                ..
            }
        ),
        "{outcome:?}"
    );
    assert!(!main.is_alive());
}

#[test]
fn a_service_that_ignores_sigterm_is_killed_after_the_stop_timeout() {
    let kept = Kept::start(&["--no-listen", "--ignore-term"], |s| {
        s.stop_timeout = Duration::from_millis(300)
    });
    let main = kept.main();
    kept.wait_for_log("starting");
    let started = Instant::now();
    kept.stop();
    let (outcome, log, _dir) = kept.finish();
    assert!(started.elapsed() >= Duration::from_millis(300));
    match outcome {
        Outcome::Exited {
            signal, stopped, ..
        } => assert_eq!((signal, stopped), (Some(9), true)),
        other => panic!("{other:?}"),
    }
    assert!(!main.is_alive());
    assert!(
        log.contains("still running after the stop timeout: killing"),
        "{log}"
    );
}

#[test]
fn grandchildren_that_left_the_group_and_ignore_sigterm_are_killed_too() {
    let kept = Kept::start(
        &[
            "--no-listen",
            "--ignore-term",
            "--grandchildren",
            "3",
            "--escape",
        ],
        |s| s.stop_timeout = Duration::from_millis(200),
    );
    kept.main();
    let children = wait_until(Duration::from_secs(10), || {
        let g = grandchildren(&kept.log());
        (g.len() == 3).then_some(g)
    })
    .unwrap();
    kept.stop();
    let (_, _, _dir) = kept.finish();
    for child in children {
        assert!(!child.is_alive(), "grandchild {} survived", child.pid);
    }
}

#[test]
fn what_the_main_process_leaves_behind_is_cleaned_up() {
    let kept = Kept::start(
        &[
            "--no-listen",
            "--grandchildren",
            "2",
            "--escape",
            "--exit-after",
            "300",
        ],
        |_| {},
    );
    kept.main();
    let children = wait_until(Duration::from_secs(10), || {
        let g = grandchildren(&kept.log());
        (g.len() == 2).then_some(g)
    })
    .unwrap();
    let (outcome, log, _dir) = kept.finish();
    assert!(
        matches!(
            outcome,
            Outcome::Exited {
                code: Some(0),
                stopped: false,
                ..
            }
        ),
        "{outcome:?}"
    );
    assert!(children.iter().all(|c| !c.is_alive()));
    assert!(log.contains("stopping 2 process(es) it left"), "{log}");
}

#[test]
fn a_flood_of_output_loses_no_line_across_rotation() {
    const LINES: usize = 200_000;
    let kept = Kept::start(
        &[
            "--no-listen",
            "--flood",
            &LINES.to_string(),
            "--exit-after",
            "100",
        ],
        |s| {
            s.log_max_size = 1 << 20;
            s.log_keep = 30;
        },
    );
    let (_, _, dir) = kept.finish();
    let base = dir.path().join("logs/svc.log");
    let mut numbers = Vec::new();
    for k in (1..=30).rev() {
        if let Ok(text) = std::fs::read_to_string(format!("{}.{k}", base.display())) {
            assert!(text.len() <= 1 << 20);
            numbers.extend(
                text.lines()
                    .filter_map(|l| l.split(" out line ").nth(1))
                    .map(|n| n.parse::<usize>().unwrap()),
            );
        }
    }
    let text = std::fs::read_to_string(&base).unwrap();
    numbers.extend(
        text.lines()
            .filter_map(|l| l.split(" out line ").nth(1))
            .map(|n| n.parse::<usize>().unwrap()),
    );
    assert_eq!(numbers.len(), LINES);
    assert!(
        numbers.iter().enumerate().all(|(i, n)| *n == i + 1),
        "lines out of order or missing"
    );
}

#[test]
fn a_command_that_cannot_run_is_recorded_as_a_failed_start() {
    let kept = Kept::start_argv(vec!["/nonexistent/program".into()], |_| {});
    let (outcome, log, _dir) = kept.finish();
    match outcome {
        Outcome::FailedToStart { error } => {
            assert!(error.contains("/nonexistent/program"), "{error}")
        }
        other => panic!("{other:?}"),
    }
    assert!(
        log.contains(" berth cannot start `/nonexistent/program`"),
        "{log}"
    );
}

#[test]
fn the_service_gets_exactly_its_environment_and_working_directory() {
    let kept = Kept::start_argv(
        vec![
            "sh".into(),
            "-c".into(),
            "echo FOO=$FOO LEAK=$BERTH_TEST_LEAK; pwd; echo oops >&2".into(),
        ],
        |s| s.env.push(("FOO".into(), "bar baz".into())),
    );
    let cwd = kept.dir.path().canonicalize().unwrap();
    let (_, log, _dir) = kept.finish();
    assert!(log.contains(" out FOO=bar baz LEAK=\n"), "{log}");
    assert!(log.contains(&format!(" out {}\n", cwd.display())), "{log}");
    assert!(log.contains(" err oops\n"), "{log}");
}

#[test]
fn a_stop_command_runs_instead_of_the_signal() {
    let kept = Kept::start(&["--no-listen"], |s| {
        s.stop_command = Some(vec![
            "sh".into(),
            "-c".into(),
            "kill -INT $(cat main.pid)".into(),
        ]);
    });
    let main = kept.main();
    std::fs::write(kept.dir.path().join("main.pid"), main.pid.to_string()).unwrap();
    kept.stop();
    let (outcome, log, _dir) = kept.finish();
    match outcome {
        Outcome::Exited {
            signal, stopped, ..
        } => assert_eq!((signal, stopped), (Some(2), true)),
        other => panic!("{other:?}"),
    }
    assert!(log.contains("stopping: running `sh -c kill -INT"), "{log}");
}

#[test]
fn the_shim_holds_no_descriptor_its_caller_leaked() {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::MetadataExt;
    // Without close-on-exec: every child of this test process inherits it.
    let (_read, write) = rustix::pipe::pipe().unwrap();
    let pipe = std::fs::metadata(format!("/proc/self/fd/{}", write.as_raw_fd()))
        .unwrap()
        .ino();
    let kept = Kept::start(&["--no-listen"], |_| {});
    kept.main();
    let held = std::fs::read_dir(format!("/proc/{}/fd", kept.shim.id()))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .ok()
                .and_then(|e| std::fs::metadata(e.path()).ok())
                .is_some_and(|m| m.ino() == pipe)
        })
        .count();
    kept.stop();
    kept.finish();
    assert_eq!(held, 0, "the shim kept a descriptor it inherited");
}
