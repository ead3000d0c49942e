//! The engine's figures for 20 services of the test service (release builds), each measured
//! in one run against its baseline, interleaved, reported as median (min–max):
//!
//! - `berth status --json` with the daemon up and down, `berth ensure` when all is ready,
//!   against `berth --version` (the cost of starting the process at all);
//! - `berth up` to all ready, against a plain shell loop that starts the same 20 services in
//!   the background and polls each port until it answers: cold (the daemon starts with it,
//!   as after `berth down`) and warm (the daemon already running, as after `berth down`
//!   of the services by name);
//! - `status` again, each call the first in over a second (CPU and memory read afresh);
//! - readiness delay: a service prints when it bound its port (T), the bench polls the API
//!   until berth reports it running (T'); T' − T;
//! - kill -9 of a service until its port answers again, against the service's own start time;
//! - `berth down` of the 20;
//! - the daemon's RSS and each shim's private memory.
//!
//! Run with `cargo bench --bench engine`.

mod support;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::procs::{private_kib, rss_kib};
use support::samples::{Samples, Unit};
use support::{answers, berth, free_ports, test_service, time_quietly};

const SERVICES: usize = 20;
const QUICK_RUNS: usize = 30;
const SLOW_RUNS: usize = 5;

/// Runs berth in `d`; `status` may answer 3 (something is not running), the rest must work.
fn run(d: &Path, args: &[&str]) -> Duration {
    let (took, ok) = time_quietly(&mut support::berth_in(d, args));
    assert!(ok || args[0] == "status", "berth {args:?} failed");
    took
}

fn status_json(dir: &Path) -> serde_json::Value {
    let out = Command::new(berth())
        .args(["status", "--json"])
        .current_dir(dir)
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

fn wait_answering(port: u16) {
    support::wait_answering(port, Duration::from_secs(30));
}

fn times(v: Vec<Duration>) -> Samples {
    let mut samples = Samples::new(Unit::Ms);
    v.into_iter().for_each(|d| samples.push_time(d));
    samples
}

fn row(name: &str, berth: &Samples, baseline_name: &str, baseline: &Samples) {
    println!(
        "{name:<34} {:>26}   {baseline_name:<28} {:>26}   ratio {:.2}",
        berth.show(),
        baseline.show(),
        berth.median() / baseline.median()
    );
}

fn main() {
    let service = test_service();
    let dir = tempfile::tempdir().unwrap();
    let ports = free_ports(SERVICES);
    let mut yaml = String::from("services:\n");
    for (i, port) in ports.iter().enumerate() {
        yaml.push_str(&format!(
            "  s{i}:\n    command: [\"{}\"]\n    port: {port}\n    restart_delay: 0\n",
            service.display()
        ));
    }
    // Started on its own for the readiness delay; binds 100 ms after it starts.
    yaml.push_str(&support::readiness::late_service(
        "late",
        &service,
        free_ports(1)[0],
    ));
    std::fs::write(dir.path().join("berth.yaml"), yaml).unwrap();
    let d = dir.path();

    // up → all ready, against a plain shell loop doing the same.
    let floor_script = format!(
        "for p in {ports}; do PORT=$p {svc} >/dev/null 2>&1 & done; for p in {ports}; do until (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; do :; done; done",
        ports = ports
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(" "),
        svc = service.display()
    );
    let names: Vec<String> = (0..SERVICES).map(|i| format!("s{i}")).collect();
    let down_services: Vec<&str> = ["down", "-q"]
        .into_iter()
        .chain(names.iter().map(String::as_str))
        .collect();
    let (mut ups, mut warm_ups, mut floors, mut downs) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..=SLOW_RUNS {
        let up = run(d, &["up", "-q"]);
        // The services go, the daemon stays: the next `up` is warm.
        run(d, &down_services);
        let warm_up = run(d, &["up", "-q"]);
        let down = run(d, &["down", "-q"]);
        let start = Instant::now();
        let mut shell = Command::new("bash")
            .args(["-c", &floor_script])
            .process_group(0)
            .spawn()
            .unwrap();
        shell.wait().unwrap();
        let floor = start.elapsed();
        // The loop's services: its process group is gone, they are in it.
        let _ = Command::new("kill")
            .args(["-9", "--", &format!("-{}", shell.id())])
            .status();
        for port in &ports {
            while answers(*port) {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        if round > 0 {
            ups.push(up);
            warm_ups.push(warm_up);
            downs.push(down);
            floors.push(floor);
        }
    }

    run(d, &["up", "-q"]);
    let (mut status_up, mut ensures, mut versions) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..QUICK_RUNS {
        status_up.push(run(d, &["status", "--json"]));
        ensures.push(run(d, &["ensure"]));
        versions.push(run(d, &["--version"]));
    }

    // status, each call the first in over a second.
    let mut status_cold = Vec::new();
    for _ in 0..SLOW_RUNS * 2 {
        std::thread::sleep(Duration::from_millis(1100));
        status_cold.push(run(d, &["status", "--json"]));
    }

    let delays = support::readiness::delays(d, "late", SLOW_RUNS * 2);

    // Memory while 20 run.
    let status: serde_json::Value = status_json(d);
    let daemon_pid = status["daemon"]["pid"].as_u64().unwrap();
    let daemon_rss = rss_kib(daemon_pid as i32).unwrap();
    let mut shim_private = Vec::new();
    for entry in std::fs::read_dir(d.join(".berth/run")).unwrap() {
        let record: serde_json::Value =
            serde_json::from_slice(&std::fs::read(entry.unwrap().path()).unwrap()).unwrap();
        let pid = record["shim"]["pid"].as_u64().unwrap();
        // A shim that is gone (`late`'s, stopped) has nothing to measure.
        shim_private.extend(private_kib(pid as i32));
    }
    shim_private.sort();

    // kill -9 → answering again, against the service's own start time.
    let (mut recoveries, mut own_starts) = (Vec::new(), Vec::new());
    let spare = free_ports(1)[0];
    for &port in ports.iter().take(SLOW_RUNS) {
        let view = status["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["port"] == port)
            .unwrap()
            .clone();
        let now: serde_json::Value = status_json(d);
        let pid = now["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == view["name"])
            .unwrap()["pid"]
            .as_u64()
            .unwrap();
        let start = Instant::now();
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        while answers(port) && start.elapsed() < Duration::from_secs(5) {
            std::hint::spin_loop();
        }
        wait_answering(port);
        recoveries.push(start.elapsed());
        std::thread::sleep(Duration::from_millis(100));

        let start = Instant::now();
        let mut own = Command::new(&service)
            .env("PORT", spare.to_string())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        wait_answering(spare);
        own_starts.push(start.elapsed());
        own.kill().unwrap();
        own.wait().unwrap();
    }

    run(d, &["daemon", "stop"]);
    let mut status_down = Vec::new();
    for _ in 0..QUICK_RUNS {
        status_down.push(run(d, &["status", "--json"]));
    }
    run(d, &["down", "-q"]);

    println!("berth engine, {SERVICES} services of the test service");
    let version = times(versions);
    row(
        "status --json, daemon up",
        &times(status_up),
        "berth --version (floor)",
        &version,
    );
    row(
        "status --json, daemon down",
        &times(status_down),
        "berth --version (floor)",
        &version,
    );
    row(
        "status --json, first in a second",
        &times(status_cold),
        "berth --version (floor)",
        &version,
    );
    println!(
        "{:<34} {}   (bound at T, reported ready at T')",
        "readiness delay T' − T",
        delays.show()
    );
    row(
        "ensure, all ready",
        &times(ensures),
        "berth --version (floor)",
        &version,
    );
    row(
        "up → all ready",
        &times(ups),
        "shell loop start + poll",
        &times(floors.clone()),
    );
    row(
        "up → all ready, daemon running",
        &times(warm_ups),
        "shell loop start + poll",
        &times(floors),
    );
    row(
        "kill -9 → answering again",
        &times(recoveries),
        "the service's own start",
        &times(own_starts),
    );
    println!("{:<34} {}", "down of all", times(downs).show());
    println!("{:<34} {:>9} KiB", "daemon RSS", daemon_rss);
    println!(
        "{:<34} {:>9} KiB median ({}–{})",
        "shim private memory",
        shim_private[shim_private.len() / 2],
        shim_private[0],
        shim_private[shim_private.len() - 1]
    );
}
