//! Launching a service through its shim and waiting until it is ready, by each readiness
//! signal, against the real test service.

use crate::support::{free_port, test_service};
use berth::config::{self, Options};
use berth::daemon::launch::shim_spec;
use berth::daemon::readiness::{Readiness, wait};
use berth::daemon::spawner::{Shim, Spawner};
use berth::process::ProcessId;
use berth::stack::Stack;
use berth::state::run_file::Outcome;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

struct Launched {
    _dir: tempfile::TempDir,
    stack: Stack,
    /// Shims come from a forker, which lives as long as this.
    _spawner: Spawner,
    shim: ProcessId,
    readiness: Readiness,
    took: Duration,
}

/// Loads `services` (YAML, with `TEST_SERVICE` standing for the test service's path), launches
/// `name` and waits for it.
fn launch(services: &str, name: &str) -> Launched {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("berth.yaml");
    let yaml = format!(
        "services:\n{}",
        services.replace("TEST_SERVICE", &test_service().display().to_string())
    );
    std::fs::write(&file, yaml).unwrap();
    let stack = config::load(&file, &Options::default()).unwrap();
    let service = stack.service(name).unwrap().clone();
    let base: BTreeMap<String, String> =
        [("PATH".to_string(), std::env::var("PATH").unwrap())].into();
    let port_of = |n: &str| stack.configured_port(n);
    let spec = shim_spec(&stack, &service, &base, &port_of);
    let started = Instant::now();
    let spawner = Spawner::new(env!("CARGO_BIN_EXE_berth").into());
    let shim = match spawner.spawn(&spec).unwrap() {
        Shim::Forked(id) => id,
        Shim::Child(_) => panic!("the forker did not start the shim"),
    };
    let readiness = wait(&service, &spec, shim.pid, 0, &port_of, &|_| {}, &|| false);
    let took = started.elapsed();
    Launched {
        _dir: dir,
        stack,
        _spawner: spawner,
        shim,
        readiness,
        took,
    }
}

impl Drop for Launched {
    fn drop(&mut self) {
        let _ = self.shim.signal(rustix::process::Signal::TERM);
        self.shim.wait_gone();
    }
}

#[test]
fn a_service_with_a_port_is_ready_once_it_listens() {
    let port = free_port();
    let l = launch(
        &format!("  api:\n    command: TEST_SERVICE --slow-start 300\n    port: {port}\n"),
        "api",
    );
    assert_eq!(l.readiness, Readiness::Ready);
    assert!(
        l.took >= Duration::from_millis(300),
        "ready before it listened: {:?}",
        l.took
    );
    std::net::TcpStream::connect(("127.0.0.1", port)).expect("it really listens");
    let environ = std::fs::read(format!("/proc/{}/environ", read_main(&l).pid)).unwrap();
    let environ = String::from_utf8_lossy(&environ);
    assert!(environ.contains(&format!("PORT={port}\0")));
    assert!(environ.contains("BERTH_SERVICE=api\0"));
}

fn read_main(l: &Launched) -> ProcessId {
    let record: berth::state::run_file::RunFile =
        serde_json::from_slice(&std::fs::read(l.stack.state_dir.join("run/api.json")).unwrap())
            .unwrap();
    record.main.unwrap()
}

#[test]
fn an_http_health_check_decides_readiness() {
    let port = free_port();
    let l = launch(
        &format!(
            "  api:\n    command: TEST_SERVICE --slow-start 100\n    port: {port}\n    health: {{ http: \"http://127.0.0.1:${{port}}/health\" }}\n"
        ),
        "api",
    );
    assert_eq!(l.readiness, Readiness::Ready);
}

#[test]
fn a_ready_log_line_decides_readiness() {
    let l = launch(
        "  worker:\n    command: TEST_SERVICE --no-listen --slow-start 50\n    ready_log: \"^test-service \\\\d+ starting$\"\n",
        "worker",
    );
    assert_eq!(l.readiness, Readiness::Ready);
}

#[test]
fn a_service_with_no_signal_is_ready_once_started() {
    let l = launch(
        "  worker:\n    command: TEST_SERVICE --no-listen\n",
        "worker",
    );
    assert_eq!(l.readiness, Readiness::Ready);
}

#[test]
fn a_service_that_exits_before_ready_is_reported_with_its_code() {
    let port = free_port();
    let l = launch(
        &format!(
            "  api:\n    command: TEST_SERVICE --no-listen --exit-after 10 --code 3\n    port: {port}\n"
        ),
        "api",
    );
    match &l.readiness {
        Readiness::Exited(Outcome::Exited { code, .. }) => assert_eq!(*code, Some(3)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_service_that_never_listens_times_out_with_the_reason() {
    let port = free_port();
    let l = launch(
        &format!(
            "  api:\n    command: TEST_SERVICE --no-listen\n    port: {port}\n    start_timeout: 300ms\n"
        ),
        "api",
    );
    assert_eq!(
        l.readiness,
        Readiness::TimedOut(format!("nothing of it listens on port {port} yet"))
    );
    assert!(l.took >= Duration::from_millis(300));
}

#[test]
fn a_command_that_cannot_run_fails_to_start() {
    let l = launch("  ghost:\n    command: [\"/nonexistent/ghost\"]\n", "ghost");
    match &l.readiness {
        Readiness::FailedToStart(error) => assert!(error.contains("/nonexistent/ghost"), "{error}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_notify_service_is_ready_when_it_says_so() {
    let port = free_port();
    let l = launch(
        &format!(
            "  api:\n    command: TEST_SERVICE --slow-start 200 --notify\n    port: {port}\n    notify: true\n"
        ),
        "api",
    );
    assert_eq!(l.readiness, Readiness::Ready);
    assert!(l.took >= Duration::from_millis(200));
    let log = std::fs::read_to_string(l.stack.state_dir.join("logs/api.log")).unwrap();
    assert!(
        log.contains("berth ready (READY=1 through NOTIFY_SOCKET)"),
        "{log}"
    );
}

#[test]
fn a_notify_service_that_never_says_so_times_out() {
    let port = free_port();
    let l = launch(
        &format!(
            "  api:\n    command: TEST_SERVICE\n    port: {port}\n    notify: true\n    start_timeout: 300ms\n"
        ),
        "api",
    );
    assert_eq!(
        l.readiness,
        Readiness::TimedOut("it has not sent READY=1 to NOTIFY_SOCKET yet".into())
    );
}
