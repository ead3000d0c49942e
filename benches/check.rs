//! `berth check` on a 200-service config (target: under 20 ms for the whole command), and on
//! the same config split over 20 included files (target: under 25 ms).
//!
//! Run with `cargo bench --bench check`. Prints medians with min/max over interleaved runs:
//! the real binary (`berth check -q`) against `berth --version` (the cost of starting the
//! process at all, measured in the same run), and the in-process `config::check` alone.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::samples::{Samples, Unit};

const SERVICES: usize = 200;
const PROCESS_RUNS: usize = 40;
const LIBRARY_RUNS: usize = 200;
/// The split config: `include: ["services/*.yaml"]`, this many files of services.
const PARTS: usize = 20;

/// A realistic stack: ports, dependencies on earlier services, interpolated env, health
/// checks, and two profiles (so `check` resolves the config three times).
fn config(services: usize) -> String {
    let mut out = head();
    out.push_str("services:\n");
    for i in 0..services {
        out.push_str(&service(i));
    }
    out
}

/// The same stack as `config`, its services spread over `parts` included files.
fn split_config(dir: &Path, services: usize, parts: usize) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.join("services")).expect("services dir");
    for part in 0..parts {
        let mut text = String::from("services:\n");
        for i in (part..services).step_by(parts) {
            text.push_str(&service(i));
        }
        std::fs::write(dir.join(format!("services/part-{part:02}.yaml")), text)
            .expect("write part");
    }
    let root = dir.join("berth.yaml");
    let text = format!("include: [\"services/*.yaml\"]\n{}", head());
    std::fs::write(&root, text).expect("write config");
    root
}

/// Everything but the services.
fn head() -> String {
    String::from(
        "project: bench\nenv: { LOG_LEVEL: info, SERVICE: \"${name}\" }\nports:\n  reserved: [\"9000-9100\"]\n  protect: [\"sshd\"]\nprofiles:\n  debug:\n    env: { LOG_LEVEL: debug }\n    services:\n      svc-0: { restart: never }\n  perf:\n    env: { LOG_LEVEL: warn }\n    services:\n      svc-1: { env: { THREADS: \"16\" } }\n",
    )
}

/// Service `i`: a port and a range, dependencies on earlier services, interpolated env, a
/// health check.
fn service(i: usize) -> String {
    let mut out = String::new();
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
    out
}

fn time_process(args: &[&str]) -> Duration {
    support::run_quietly(Command::new(support::berth()).args(args))
}

fn times(v: &[Duration]) -> Samples {
    let mut samples = Samples::new(Unit::Ms);
    v.iter().for_each(|d| samples.push_time(*d));
    samples
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("berth.yaml");
    std::fs::write(&file, config(SERVICES)).expect("write config");
    let file_arg = file.to_str().unwrap();
    let check = ["check", "-q", "-f", file_arg];
    let split = split_config(&dir.path().join("split"), SERVICES, PARTS);
    let split_arg = split.to_str().unwrap();
    let check_split = ["check", "-q", "-f", split_arg];

    // Warm-up: page cache, binary mapped.
    for _ in 0..5 {
        time_process(&check);
        time_process(&check_split);
        time_process(&["--version"]);
    }
    let (mut checks, mut floors, mut split_checks) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..PROCESS_RUNS {
        checks.push(time_process(&check));
        floors.push(time_process(&["--version"]));
        split_checks.push(time_process(&check_split));
    }
    let minus_floor = |runs: &[Duration]| -> Vec<Duration> {
        runs.iter()
            .zip(&floors)
            .map(|(c, f)| c.saturating_sub(*f))
            .collect()
    };
    let extra = minus_floor(&checks);
    let split_extra = minus_floor(&split_checks);

    let options = berth::config::Options::default();
    let (mut library, mut single, mut split_library) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..LIBRARY_RUNS {
        let start = Instant::now();
        berth::config::check(Path::new(&file), &options).expect("valid");
        library.push(start.elapsed());
        let start = Instant::now();
        berth::config::load(Path::new(&file), &options).expect("valid");
        single.push(start.elapsed());
        let start = Instant::now();
        let stack = berth::config::check(&split, &options).expect("valid");
        split_library.push(start.elapsed());
        assert_eq!(stack.files.len(), PARTS);
    }

    println!(
        "berth check on a {SERVICES}-service config ({} bytes, 2 profiles); split: the same over {PARTS} included files",
        std::fs::metadata(&file).unwrap().len()
    );
    println!("{:<46} median (min–max)", "figure");
    for (name, v) in [
        ("`berth check -q` (whole process)", &checks),
        ("`berth --version` (process start floor)", &floors),
        ("check minus floor, pair by pair", &extra),
        ("config::check in process (base + 2 profiles)", &library),
        ("config::load in process (one resolution)", &single),
        ("split: `berth check -q` (whole process)", &split_checks),
        ("split: check minus floor, pair by pair", &split_extra),
        ("split: config::check in process", &split_library),
    ] {
        println!("{name:<46} {}", times(v).show());
    }
}
