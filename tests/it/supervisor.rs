//! A supervised service against real processes: it runs until stopped, comes back after
//! kill -9, opens its circuit in a crash loop, completes as a one-shot, and is restarted
//! when it stops answering its health check.

use crate::support::{free_port, test_service};
use berth::config::{self, Options};
use berth::daemon::port_plan::Assigned;
use berth::daemon::spawner::Spawner;
use berth::daemon::supervisor::{HealthState, Launch, ServiceState, ServiceStatus, Supervisor};
use berth::process::ProcessId;
use rustix::process::Signal;
use std::sync::Arc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

/// Supervises service `svc` defined by `body` (YAML lines under it; `TEST_SERVICE` is the
/// test service's path, `PORT_NUMBER` a free port).
fn supervise(body: &str) -> (tempfile::TempDir, Supervisor, u16) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let yaml = format!("services:\n  svc:\n{}", body)
        .replace("TEST_SERVICE", &test_service().display().to_string())
        .replace("PORT_NUMBER", &port.to_string());
    let file = dir.path().join("berth.yaml");
    std::fs::write(&file, yaml).unwrap();
    let stack = config::load(&file, &Options::default()).unwrap();
    let ports = Assigned::default();
    for service in &stack.services {
        if let Some(port) = service.port {
            ports.set(&service.name, port);
        }
    }
    let supervisor = Supervisor::start(Launch {
        stack: Arc::new(stack),
        service: "svc".into(),
        base_env: Arc::new([("PATH".to_string(), std::env::var("PATH").unwrap())].into()),
        ports: Arc::new(ports),
        spawner: Arc::new(Spawner::new(env!("CARGO_BIN_EXE_berth").into())),
        history: berth::history::History::off(),
        bell: Default::default(),
        earlier: None,
    })
    .unwrap();
    (dir, supervisor, port)
}

fn running(s: &ServiceStatus) -> bool {
    s.state == ServiceState::Running
}

#[test]
fn runs_until_stopped_and_leaves_nothing() {
    let (_dir, sup, port) = supervise("    command: TEST_SERVICE\n    port: PORT_NUMBER\n");
    let status = sup.wait_for(WAIT, running);
    assert_eq!(
        (status.state, status.health, status.port),
        (ServiceState::Running, HealthState::Healthy, Some(port))
    );
    let main = status.main.expect("main recorded");
    let shim = status.shim().expect("shim recorded");
    assert!(main.is_alive() && shim.is_alive());
    let stopped = sup.stop();
    assert_eq!(stopped.state, ServiceState::Stopped);
    assert!(!main.is_alive() && !shim.is_alive());
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the port is free again"
    );
}

#[test]
fn comes_back_after_kill_9() {
    let (_dir, sup, port) =
        supervise("    command: TEST_SERVICE\n    port: PORT_NUMBER\n    restart_delay: 0\n");
    let first = sup.wait_for(WAIT, running).main.unwrap();
    assert!(first.signal(Signal::KILL).unwrap());
    let again = sup.wait_for(WAIT, |s| running(s) && s.main.is_some_and(|m| m != first));
    assert_eq!(again.restarts, 1);
    assert!(again.main.unwrap().is_alive());
    std::net::TcpStream::connect(("127.0.0.1", port)).expect("answering again");
    sup.stop();
}

#[test]
fn a_crash_loop_opens_the_circuit() {
    let (_dir, sup, _) = supervise(
        "    command: TEST_SERVICE --no-listen --exit-after 20 --code 4\n    restart_delay: 10ms\n    max_restarts: 2\n",
    );
    let status = sup.wait_for(WAIT, |s| s.state == ServiceState::Failed);
    assert_eq!(status.state, ServiceState::Failed);
    assert_eq!(status.restarts, 2);
    assert_eq!(status.exit_code, Some(4));
    let reason = status.reason.unwrap();
    assert!(
        reason.contains("exited with code 4 after 2 restarts within 1m"),
        "{reason}"
    );
    sup.stop();
}

#[test]
fn a_one_shot_that_succeeds_has_exited() {
    let (_dir, sup, _) =
        supervise("    command: TEST_SERVICE --no-listen --exit-after 10\n    restart: never\n");
    let status = sup.wait_for(WAIT, |s| s.state == ServiceState::Exited);
    assert_eq!(
        (status.state, status.exit_code, status.restarts),
        (ServiceState::Exited, Some(0), 0)
    );
    sup.stop();
}

#[test]
fn a_frozen_service_fails_its_health_check_and_is_restarted() {
    let (_dir, sup, _) = supervise(
        // argv form: the main process is the service itself, not a shell around it.
        "    command: [\"TEST_SERVICE\"]\n    port: PORT_NUMBER\n    restart_delay: 0\n    stop_timeout: 200ms\n    health: { http: \"http://127.0.0.1:${port}/health\", interval: 100ms, timeout: 100ms, retries: 2 }\n",
    );
    let first = sup.wait_for(WAIT, running).main.unwrap();
    assert!(first.signal(Signal::STOP).unwrap());
    let again = sup.wait_for(WAIT, |s| running(s) && s.main.is_some_and(|m| m != first));
    assert_eq!(again.restarts, 1, "{again:?}");
    assert!(!first.is_alive(), "the frozen instance was killed");
    sup.stop();
}

#[test]
fn a_stop_during_a_slow_start_is_honoured_at_once() {
    let (_dir, sup, _) =
        supervise("    command: TEST_SERVICE --slow-start 30000\n    port: PORT_NUMBER\n");
    let status = sup.wait_for(WAIT, |s| s.main.is_some() || s.shim().is_some());
    let started = std::time::Instant::now();
    let stopped = sup.stop();
    assert_eq!(stopped.state, ServiceState::Stopped);
    assert!(started.elapsed() < Duration::from_secs(5));
    if let Some(shim) = status.shim() {
        assert!(!ProcessId::is_alive(&shim));
    }
}
