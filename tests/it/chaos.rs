//! Faults injected into a running stack, each with the promised outcome: the daemon killed in
//! the middle of `up` and of `down`, a recorded pid that now belongs to another process, `up`
//! and `down` racing, and the control API under hostile clients. Nothing is duplicated,
//! nothing is orphaned, nothing is signalled that berth did not start.

use crate::engine::{Stack, alive};
use crate::support::{kill_9, test_service, wait_until};
use berth::process::ProcessId;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

impl Stack {
    fn socket(&self) -> UnixStream {
        UnixStream::connect(self.project.path().join(".berth/berth.sock")).unwrap()
    }
}

#[test]
fn the_daemon_killed_during_up_leaves_no_duplicate_and_the_next_up_finishes() {
    let stack = Stack::new(); // api starts 100 ms after db is ready
    let mut up = stack.spawn(&["up"]);
    // db has started, api not yet ready: the daemon dies.
    wait_until(Duration::from_secs(10), || {
        let status = stack.berth(&["status", "--json"]).output_any().json();
        let db = &status["services"][1];
        (status["daemon"]["running"] == true && db["pid"].is_u64()).then_some(())
    })
    .expect("db started");
    stack.kill_daemon();
    let _ = up.wait();

    stack.berth(&["up", "-q"]).code(0);
    for service in ["db", "api"] {
        assert_eq!(stack.instances(service).len(), 1, "{service}");
    }
    stack.berth(&["status"]).code(0);
}

#[test]
fn the_daemon_killed_during_down_and_the_next_down_leaves_nothing() {
    let service = test_service().display().to_string();
    let stack = Stack::with(&format!(
        "  stubborn:\n    command: [\"{service}\", \"--no-listen\", \"--ignore-term\", \"--grandchildren\", \"2\"]\n    stop_timeout: 2s\n"
    ));
    stack.berth(&["up", "-q"]).code(0);
    let daemon = stack.daemon_pid().expect("a daemon");
    let mut down = stack.spawn(&["down"]);
    // The stubborn one holds the down up for its stop timeout: the daemon dies meanwhile.
    wait_until(Duration::from_secs(10), || {
        let log = std::fs::read_to_string(stack.project.path().join(".berth/logs/stubborn.log"))
            .unwrap_or_default();
        log.contains("stopping: sending SIGTERM").then_some(())
    })
    .expect("the stop began");
    kill_9(ProcessId::of(daemon).unwrap());
    let _ = down.wait();

    stack.berth(&["down"]).code(0);
    for service in ["db", "api", "stubborn"] {
        assert_eq!(
            stack.instances(service),
            Vec::<u32>::new(),
            "{service} left behind"
        );
    }
}

#[test]
fn a_recorded_pid_now_belonging_to_another_process_is_never_signalled() {
    let stack = Stack::new();
    // A process berth did not start, recorded as db's shim and main process with another
    // start time: the pid was reused.
    let mut stranger = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .unwrap();
    let real = ProcessId::of(stranger.id()).unwrap();
    let impostor = serde_json::json!({"pid": real.pid, "start_time": real.start_time + 1});
    let run = stack.project.path().join(".berth/run");
    std::fs::create_dir_all(&run).unwrap();
    let record = serde_json::json!({
        "project": "x", "service": "db", "shim": impostor, "main": impostor,
        "pgid": real.pid, "port": stack.db_port, "log": "/dev/null",
        "started_at_ms": 0, "outcome": {"state": "running"}
    });
    std::fs::write(run.join("db.json"), record.to_string()).unwrap();

    let status = stack.berth(&["status", "--json"]).output_any().json();
    assert_eq!(status["services"][1]["state"], "stopped", "{status}");
    stack
        .berth(&["down"])
        .code(0)
        .stderr_has("nothing was running");
    stack.berth(&["up", "-q"]).code(0);
    assert_ne!(stack.pids()["db"], Some(real.pid as u64));
    stack.berth(&["down", "-q"]).code(0);
    assert!(real.is_alive(), "the stranger was signalled");
    stranger.kill().unwrap();
    stranger.wait().unwrap();
}

#[test]
fn two_ups_and_a_down_racing_never_duplicate_and_a_last_down_leaves_nothing() {
    let stack = Stack::new();
    for _ in 0..3 {
        let racers = [
            stack.spawn(&["up", "-q"]),
            stack.spawn(&["down", "-q"]),
            stack.spawn(&["up", "-q"]),
        ];
        for mut racer in racers {
            racer.wait().unwrap();
        }
        for service in ["db", "api"] {
            assert!(stack.instances(service).len() <= 1, "{service} twice");
        }
    }
    stack.berth(&["down", "-q"]).code(0);
    for service in ["db", "api"] {
        assert_eq!(
            stack.instances(service),
            Vec::<u32>::new(),
            "{service} left behind"
        );
    }
}

#[test]
fn the_api_shrugs_off_huge_bodies_idle_connections_and_crowds() {
    let stack = Stack::new();
    stack.berth(&["up", "-q"]).code(0);
    let before = stack.pids();

    // A body far over the limit: refused once the limit is passed, not read into memory.
    let mut socket = stack.socket();
    let size = 64 << 20;
    write!(
        socket,
        "POST /v1/up HTTP/1.1\r\nHost: berth\r\nContent-Type: application/json\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    // More than the 2 MiB limit; the daemon may stop reading before all of it is sent.
    socket
        .set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = socket.write_all(&vec![b' '; 3 << 20]);
    // The answer comes without the rest of the body; the connection may stay open after it.
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = [0u8; 12];
    socket.read_exact(&mut answer).unwrap();
    assert_eq!(
        &answer,
        b"HTTP/1.1 413",
        "{}",
        String::from_utf8_lossy(&answer)
    );
    drop(socket);

    // Clients that connect and say nothing do not hold anyone else up.
    let idle: Vec<UnixStream> = (0..64).map(|_| stack.socket()).collect();
    let started = Instant::now();
    stack.berth(&["status", "--json"]).code(0);
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(idle);

    // A crowd at once: every one answered.
    let crowd: Vec<_> = (0..50)
        .map(|_| stack.spawn(&["status", "--json"]))
        .collect();
    for member in crowd {
        let out = member.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(stack.pids(), before, "nothing changed");
    assert!(before.values().flatten().all(|pid| alive(*pid)));
}

#[test]
fn the_daemon_killed_during_a_flood_of_output_loses_no_line() {
    const LINES: usize = 300_000;
    let service = test_service().display().to_string();
    let stack = Stack::with(&format!(
        "  chatty:\n    command: [\"{service}\", \"--no-listen\", \"--flood\", \"{LINES}\"]\n    log: {{ max_size: 4MB, keep: 5 }}\n"
    ));
    stack.berth(&["up", "-q"]).code(0);
    // The shim, not the daemon, owns the output: the daemon dies mid-flood.
    stack.kill_daemon();
    let logs = stack.project.path().join(".berth/logs");
    let read_all = || {
        let mut text = String::new();
        for suffix in [".5", ".4", ".3", ".2", ".1", ""] {
            text.push_str(
                &std::fs::read_to_string(logs.join(format!("chatty.log{suffix}")))
                    .unwrap_or_default(),
            );
        }
        text
    };
    let last = format!("out line {LINES:06}");
    wait_until(Duration::from_secs(60), || {
        read_all().contains(&last).then_some(())
    })
    .expect("the whole flood reached the log");
    let numbers: Vec<usize> = read_all()
        .lines()
        .filter_map(|l| l.split_once(" out line ")?.1.parse().ok())
        .collect();
    assert_eq!(numbers.len(), LINES, "every line, once");
    assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "in order");
    // And the services are taken over by the next command.
    stack.berth(&["up", "-q"]).code(0);
}
