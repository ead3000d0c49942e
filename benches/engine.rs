//! The engine's figures for 20 services of the test service (release builds), each measured
//! in one run against its baseline, interleaved, reported as median (min–max):
//!
//! - `berth status --json` with the daemon up and down, `berth ensure` when all is ready,
//!   against `berth --version` (the cost of starting the process at all);
//! - `berth up` to all ready, against a plain shell loop that starts the same 20 services in
//!   the background and polls each port until it answers;
//! - `status` again, each call the first in over a second (CPU and memory read afresh);
//! - readiness delay: a service prints when it bound its port (T), the bench polls the API
//!   until berth reports it running (T'); T' − T;
//! - kill -9 of a service until its port answers again, against the service's own start time;
//! - `berth down` of the 20;
//! - the daemon's RSS and each shim's private memory.
//!
//! Run with `cargo bench --bench engine`.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SERVICES: usize = 20;
const QUICK_RUNS: usize = 30;
const SLOW_RUNS: usize = 5;

fn berth() -> &'static str {
    env!("CARGO_BIN_EXE_berth")
}

/// Builds the test service in release mode; returns its path.
fn test_service() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--quiet", "--example", "test-service"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the test service failed");
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/examples/test-service")
}

fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    held.iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

fn run(dir: &Path, args: &[&str]) -> Duration {
    let start = Instant::now();
    let status = Command::new(berth())
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    let took = start.elapsed();
    assert!(
        status.success() || args[0] == "status",
        "berth {args:?} failed"
    );
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

fn answers(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

fn wait_answering(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !answers(port) {
        assert!(Instant::now() < deadline, "port {port} never answered");
        std::thread::sleep(Duration::from_micros(200));
    }
}

struct Stats(Vec<Duration>);

impl Stats {
    fn show(&self) -> String {
        let mut v = self.0.clone();
        v.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        format!(
            "{:>9.2} ms ({:.2}–{:.2})",
            ms(v[v.len() / 2]),
            ms(v[0]),
            ms(v[v.len() - 1])
        )
    }
    fn median(&self) -> f64 {
        let mut v = self.0.clone();
        v.sort();
        v[v.len() / 2].as_secs_f64()
    }
}

fn row(name: &str, berth: &Stats, baseline_name: &str, baseline: &Stats) {
    println!(
        "{name:<34} {}   {baseline_name:<28} {}   ratio {:.2}",
        berth.show(),
        baseline.show(),
        berth.median() / baseline.median()
    );
}

/// Starts `late` again and again; each time, from when it bound its port (its own word, in
/// its log) to when the API first reports it running, polled every 0.2 ms.
fn readiness_delays(d: &Path) -> Vec<Duration> {
    let socket = d.join(".berth/berth.sock");
    let log = d.join(".berth/logs/late.log");
    let mut delays = Vec::new();
    for _ in 0..SLOW_RUNS * 2 {
        run(d, &["up", "--no-wait", "late"]);
        let seen = loop {
            let status: serde_json::Value = berth::api::client::call::<(), _>(
                &socket,
                "GET",
                "/v1/status?usage=false",
                None,
                Duration::from_secs(5),
            )
            .unwrap();
            let late = status["services"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["name"] == "late")
                .unwrap()
                .clone();
            if late["state"] == "running" {
                break std::time::SystemTime::now();
            }
            std::thread::sleep(Duration::from_micros(200));
        };
        let text = std::fs::read_to_string(&log).unwrap();
        let bound_us: u64 = text
            .lines()
            .rev()
            .find_map(|l| l.split("bound at ").nth(1))
            .and_then(|t| t.trim().parse().ok())
            .expect("the service said when it bound");
        let bound = std::time::UNIX_EPOCH + Duration::from_micros(bound_us);
        delays.push(seen.duration_since(bound).unwrap_or_default());
        run(d, &["down", "-q", "late"]);
    }
    delays
}

fn kib(field: &str, text: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with(field))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum()
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
    yaml.push_str(&format!(
        "  late:\n    command: [\"{}\", \"--slow-start\", \"100\", \"--say-bind-time\"]\n    port: {}\n    autostart: false\n",
        service.display(),
        free_ports(1)[0]
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
    let (mut ups, mut floors, mut downs) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..=SLOW_RUNS {
        let up = run(d, &["up", "-q"]);
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

    let delays = readiness_delays(d);

    // Memory while 20 run.
    let status: serde_json::Value = status_json(d);
    let daemon_pid = status["daemon"]["pid"].as_u64().unwrap();
    let daemon_rss = kib(
        "VmRSS:",
        &std::fs::read_to_string(format!("/proc/{daemon_pid}/status")).unwrap(),
    );
    let mut shim_private = Vec::new();
    for entry in std::fs::read_dir(d.join(".berth/run")).unwrap() {
        let record: serde_json::Value =
            serde_json::from_slice(&std::fs::read(entry.unwrap().path()).unwrap()).unwrap();
        let pid = record["shim"]["pid"].as_u64().unwrap();
        // A shim that is gone (`late`'s, stopped) has nothing to measure.
        let Ok(smaps) = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) else {
            continue;
        };
        shim_private.push(kib("Private_Clean:", &smaps) + kib("Private_Dirty:", &smaps));
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
    let version = Stats(versions);
    row(
        "status --json, daemon up",
        &Stats(status_up),
        "berth --version (floor)",
        &version,
    );
    row(
        "status --json, daemon down",
        &Stats(status_down),
        "berth --version (floor)",
        &version,
    );
    row(
        "status --json, first in a second",
        &Stats(status_cold),
        "berth --version (floor)",
        &version,
    );
    println!(
        "{:<34} {}   (bound at T, reported ready at T')",
        "readiness delay T' − T",
        Stats(delays).show()
    );
    row(
        "ensure, all ready",
        &Stats(ensures),
        "berth --version (floor)",
        &version,
    );
    row(
        "up → all ready",
        &Stats(ups),
        "shell loop start + poll",
        &Stats(floors),
    );
    row(
        "kill -9 → answering again",
        &Stats(recoveries),
        "the service's own start",
        &Stats(own_starts),
    );
    println!("{:<34} {}", "down of all", Stats(downs).show());
    println!("{:<34} {:>9} KiB", "daemon RSS", daemon_rss);
    println!(
        "{:<34} {:>9} KiB median ({}–{})",
        "shim private memory",
        shim_private[shim_private.len() / 2],
        shim_private[0],
        shim_private[shim_private.len() - 1]
    );
}

trait GroupExt {
    fn process_group(&mut self, pgid: i32) -> &mut Self;
}

impl GroupExt for Command {
    fn process_group(&mut self, pgid: i32) -> &mut Self {
        std::os::unix::process::CommandExt::process_group(self, pgid)
    }
}
