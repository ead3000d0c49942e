//! `berth import` and `berth export` of a 200-service config (target: at most 50 ms each,
//! the whole command).
//!
//! Run with `cargo bench --bench migrate`. Prints medians with min/max over interleaved runs
//! of the real binary: importing a 200-process process-compose.yaml (probes, dependencies,
//! availability, shutdown) and exporting a 200-service berth.yaml to systemd units, Kubernetes
//! manifests and a compose file; `berth --version` is the cost of starting the process at all.
//! Then the same work in process (`import::import`, `export::export` of the loaded stack),
//! without the process start, the config's load or the files' writing.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::samples::{Samples, Unit};

const SERVICES: usize = 200;
const RUNS: usize = 30;
/// Stands for a fresh directory in a command's arguments.
const UNITS: &str = "UNITS";

/// A process-compose file such as a large project grows: every process probed, depending on
/// earlier ones, with a restart policy and a shutdown.
fn process_compose(n: usize) -> String {
    let mut out = String::from(
        "version: \"0.5\"\nlog_level: info\nenvironment:\n  - \"APP_ENV=bench\"\nprocesses:\n",
    );
    for i in 0..n {
        let port = 20000 + i;
        out.push_str(&format!(
            "  svc-{i}:\n    command: \"./bin/svc --port {port}\"\n    working_dir: ./svc-{i}\n    environment:\n      - \"NAME=svc-{i}\"\n      - \"UPSTREAM=http://127.0.0.1:{}\"\n    readiness_probe:\n      http_get: {{ host: 127.0.0.1, port: {port}, path: /health }}\n      period_seconds: 5\n      failure_threshold: 3\n    availability: {{ restart: on_failure, backoff_seconds: 2, max_restarts: 5 }}\n    shutdown: {{ signal: 15, timeout_seconds: 5 }}\n",
            20000 + i / 2
        ));
        if i > 0 {
            out.push_str(&format!(
                "    depends_on:\n      svc-{}:\n        condition: process_healthy\n",
                i / 2
            ));
        }
    }
    out
}

/// A berth.yaml for the export: images, replicas, health checks and dependencies.
fn berth_yaml(n: usize) -> String {
    let mut out = String::from("project: bench\nenv: { LOG_LEVEL: info }\nservices:\n");
    for i in 0..n {
        out.push_str(&format!(
            "  svc-{i}:\n    command: [\"./bin/svc\", \"--port\", \"${{port}}\"]\n    port: {}\n    health: {{ http: \"http://127.0.0.1:${{port}}/health\", interval: 5s }}\n    export: {{ image: \"ghcr.io/bench/svc-{i}:1.0\", replicas: 2 }}\n",
            20000 + i
        ));
        if i > 0 {
            out.push_str(&format!("    depends_on: [svc-{}]\n    env: {{ UPSTREAM: \"http://127.0.0.1:${{services.svc-{}.port}}\" }}\n", i / 2, i / 2));
        }
    }
    out
}

fn time(args: &[String]) -> Duration {
    support::run_quietly(Command::new(support::berth()).args(args))
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let source = dir.path().join("process-compose.yaml");
    std::fs::write(&source, process_compose(SERVICES)).expect("write source");
    let config = dir.path().join("berth.yaml");
    std::fs::write(&config, berth_yaml(SERVICES)).expect("write config");
    let (src, cfg) = (source.to_str().unwrap(), config.to_str().unwrap());
    let out = dir.path().join("out");
    let out_arg = out.to_str().unwrap();
    // A fresh directory per run, as a first export writes: replacing 201 files measures the
    // file system's flushing of replaced files more than berth.
    let units: Vec<String> = (0..=RUNS)
        .map(|i| dir.path().join(format!("units-{i}")).display().to_string())
        .collect();
    let commands: Vec<(&str, Vec<&str>)> = vec![
        (
            "`berth import` process-compose.yaml",
            vec!["import", src, "-o", out_arg, "--force", "-q"],
        ),
        (
            "`berth export systemd -o DIR`",
            vec!["-f", cfg, "export", "systemd", "-o", UNITS, "-q"],
        ),
        (
            "`berth export kubernetes -o FILE`",
            vec!["-f", cfg, "export", "kubernetes", "-o", out_arg, "-q"],
        ),
        (
            "`berth export compose -o FILE`",
            vec!["-f", cfg, "export", "compose", "-o", out_arg, "-q"],
        ),
        ("`berth --version` (process start floor)", vec!["--version"]),
    ];
    // `UNITS` is a directory not written before, on every run.
    let mut fresh = units.iter();
    let mut args_of = |args: &[&str]| -> Vec<String> {
        args.iter()
            .map(|a| match *a {
                UNITS => fresh.next().expect("enough directories").clone(),
                a => a.to_string(),
            })
            .collect()
    };
    // Warm-up: page cache, binary mapped; and each command works.
    for (name, args) in &commands {
        let status = Command::new(support::berth())
            .args(args_of(args))
            .output()
            .expect("runs");
        assert!(
            status.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&status.stderr)
        );
        if !args.contains(&UNITS) {
            for _ in 0..3 {
                time(&args_of(args));
            }
        }
    }
    let mut samples: Vec<Samples> = commands.iter().map(|_| Samples::new(Unit::Ms)).collect();
    for _ in 0..RUNS {
        for (i, (_, args)) in commands.iter().enumerate() {
            samples[i].push_time(time(&args_of(args)));
        }
    }
    println!(
        "import of a {SERVICES}-process process-compose.yaml ({} bytes), export of a {SERVICES}-service berth.yaml ({} bytes)",
        std::fs::metadata(&source).unwrap().len(),
        std::fs::metadata(&config).unwrap().len()
    );
    println!("{:<44} median (min–max)", "figure");
    for ((name, _), s) in commands.iter().zip(&samples) {
        println!("{name:<44} {}", s.show());
    }

    let stack = berth::config::load(&config, &berth::config::Options::default()).expect("valid");
    let options = berth::export::Options {
        skip_missing: false,
        kube_version: "1.31".into(),
    };
    let mut import = Samples::new(Unit::Ms);
    let mut exports: Vec<Samples> = (0..3).map(|_| Samples::new(Unit::Ms)).collect();
    use berth::export::Target;
    for _ in 0..RUNS * 3 {
        let start = Instant::now();
        berth::import::import(
            &source,
            "process-compose.yaml",
            berth::import::Format::ProcessCompose,
        )
        .expect("imports");
        import.push_time(start.elapsed());
        for (i, target) in [Target::Systemd, Target::Kubernetes, Target::Compose]
            .into_iter()
            .enumerate()
        {
            let start = Instant::now();
            berth::export::export(&stack, target, &options).expect("exports");
            exports[i].push_time(start.elapsed());
        }
    }
    println!("{:<44} {}", "import::import in process", import.show());
    for (name, s) in [
        "export::export systemd in process",
        "export::export kubernetes in process",
        "export::export compose in process",
    ]
    .iter()
    .zip(&exports)
    {
        println!("{name:<44} {}", s.show());
    }
}
