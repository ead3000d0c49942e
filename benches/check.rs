//! `berth check` on a 200-service config (target: under 20 ms for the whole command).
//!
//! Run with `cargo bench --bench check`. Prints medians with min/max over interleaved runs:
//! the real binary (`berth check -q`) against `berth --version` (the cost of starting the
//! process at all, measured in the same run), and the in-process `config::check` alone.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const SERVICES: usize = 200;
const PROCESS_RUNS: usize = 40;
const LIBRARY_RUNS: usize = 200;

/// A realistic stack: ports, dependencies on earlier services, interpolated env, health
/// checks, and two profiles (so `check` resolves the config three times).
fn config(services: usize) -> String {
    let mut out = String::from(
        "project: bench\nenv: { LOG_LEVEL: info, SERVICE: \"${name}\" }\nports:\n  reserved: [\"9000-9100\"]\n  protect: [\"sshd\"]\nprofiles:\n  debug:\n    env: { LOG_LEVEL: debug }\n    services:\n      svc-0: { restart: never }\n  perf:\n    env: { LOG_LEVEL: warn }\n    services:\n      svc-1: { env: { THREADS: \"16\" } }\nservices:\n",
    );
    for i in 0..services {
        let port = 20000 + i;
        out.push_str(&format!("  svc-{i}:\n    command: [\"./bin/svc\", \"--port\", \"${{port}}\", \"--name\", \"${{name}}\"]\n    port: {port}\n    alt_ports: [\"{}-{}\"]\n", 40000 + i * 10, 40000 + i * 10 + 9));
        let deps: Vec<String> = [i / 2, i / 3]
            .iter()
            .filter(|&&d| d < i)
            .map(|d| format!("svc-{d}"))
            .collect();
        if !deps.is_empty() {
            out.push_str(&format!("    depends_on: [{}]\n", deps.join(", ")));
            out.push_str(&format!(
                "    env: {{ UPSTREAM: \"http://127.0.0.1:${{services.{}.port}}\" }}\n",
                deps[0]
            ));
        }
        out.push_str("    health: { http: \"http://127.0.0.1:${port}/health\", interval: 5s }\n    stop_timeout: 5s\n");
    }
    out
}

struct Stats {
    median: Duration,
    min: Duration,
    max: Duration,
}

fn stats(mut samples: Vec<Duration>) -> Stats {
    samples.sort();
    Stats {
        median: samples[samples.len() / 2],
        min: samples[0],
        max: samples[samples.len() - 1],
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn time_process(args: &[&str]) -> Duration {
    let start = Instant::now();
    let status = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .status()
        .expect("berth runs");
    let elapsed = start.elapsed();
    assert!(status.success(), "berth {args:?} failed");
    elapsed
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("berth.yaml");
    std::fs::write(&file, config(SERVICES)).expect("write config");
    let file_arg = file.to_str().unwrap();
    let check = ["check", "-q", "-f", file_arg];

    // Warm-up: page cache, binary mapped.
    for _ in 0..5 {
        time_process(&check);
        time_process(&["--version"]);
    }
    let (mut checks, mut floors) = (Vec::new(), Vec::new());
    for _ in 0..PROCESS_RUNS {
        checks.push(time_process(&check));
        floors.push(time_process(&["--version"]));
    }
    let extra: Vec<Duration> = checks
        .iter()
        .zip(&floors)
        .map(|(c, f)| c.saturating_sub(*f))
        .collect();

    let options = berth::config::Options::default();
    let mut library = Vec::new();
    let mut single = Vec::new();
    for _ in 0..LIBRARY_RUNS {
        let start = Instant::now();
        berth::config::check(Path::new(&file), &options).expect("valid");
        library.push(start.elapsed());
        let start = Instant::now();
        berth::config::load(Path::new(&file), &options).expect("valid");
        single.push(start.elapsed());
    }

    println!(
        "berth check on a {SERVICES}-service config ({} bytes, 2 profiles)",
        std::fs::metadata(&file).unwrap().len()
    );
    println!(
        "{:<46} {:>10} {:>10} {:>10}",
        "figure", "median", "min", "max"
    );
    for (name, s) in [
        ("`berth check -q` (whole process)", stats(checks)),
        ("`berth --version` (process start floor)", stats(floors)),
        ("check minus floor, pair by pair", stats(extra)),
        (
            "config::check in process (base + 2 profiles)",
            stats(library),
        ),
        ("config::load in process (one resolution)", stats(single)),
    ] {
        println!(
            "{name:<46} {:>10} {:>10} {:>10}",
            ms(s.median),
            ms(s.min),
            ms(s.max)
        );
    }
}
