//! Watching files (`watch:`), release build, against a baseline measured in the same run:
//!
//! 1. **A saved file → the new instance ready.** One service (the test service, on a port)
//!    watching `src/` with the default `debounce: 300ms`. Each round writes `src/app.py` and
//!    polls the API every 0.2 ms until the service is `running` with a new pid. The baseline,
//!    alternating with it: the same restart asked for through the API
//!    (`POST /v1/services/api/restart`, the path a watch restart takes) until the same. The
//!    target: watch ≤ debounce + restart + 50 ms.
//! 2. **The watcher idle.** 20 services (the test service, no port) each watching its own tree
//!    of 500 files (50 directories of 10), 10,000 files in all. The daemon's CPU
//!    (`utime + stime` from `/proc`) over idle windows, alternating with the same 20 services
//!    without `watch:` (the `up` that switches adds or drops the watches and restarts
//!    nothing). The inotify watches the daemon holds are counted from its `fdinfo`. The
//!    target: ≤ 0.5 % of one core.
//!
//! `cargo bench --bench watch`. Environment: `BERTH_BENCH_ROUNDS` (15) saves and restarts,
//! `BERTH_BENCH_SECS` (20) each idle window, `BERTH_BENCH_WINDOWS` (3) windows of each.

#[allow(dead_code)]
#[path = "monitor/project.rs"]
mod project;
mod support;

use project::Project;
use std::path::Path;
use std::time::{Duration, Instant};
use support::procs::{Started, cpu_seconds};
use support::samples::{Samples, Unit};
use support::{free_ports, test_service};

const DEBOUNCE: Duration = Duration::from_millis(300);
const SERVICES: usize = 20;
const DIRS: usize = 50;
const FILES: usize = 10;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `name`'s pid once it is `running` with one other than `old`.
fn running_anew(project: &Project, name: &str, old: Option<u64>) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status: serde_json::Value = berth::api::client::call::<(), _>(
            &project.socket(),
            "GET",
            "/v1/status?usage=false",
            None,
            Duration::from_secs(5),
        )
        .expect("the daemon answers");
        let view = status["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .cloned()
            .unwrap_or_default();
        if let Some(pid) = view["pid"].as_u64()
            && view["state"] == "running"
            && Some(pid) != old
        {
            return pid;
        }
        assert!(Instant::now() < deadline, "`{name}` did not come back");
        std::thread::sleep(Duration::from_micros(200));
    }
}

fn save_to_ready(program: &Path, rounds: usize) -> (Samples, Samples) {
    let port = free_ports(1)[0];
    let mut project = Project::new(&format!(
        "services:\n  api:\n    command: [{:?}]\n    port: {port}\n    watch: [src]\n",
        program.display().to_string()
    ));
    std::fs::create_dir_all(project.dir().join("src")).unwrap();
    std::fs::write(project.dir().join("src/app.py"), "0\n").unwrap();
    project.up();
    let mut pid = running_anew(&project, "api", None);
    let (mut watch, mut restart) = (Samples::new(Unit::Ms), Samples::new(Unit::Ms));
    // Let the watcher register before the first save.
    std::thread::sleep(Duration::from_millis(500));
    for i in 0..rounds {
        let start = Instant::now();
        std::fs::write(project.dir().join("src/app.py"), format!("{i}\n")).unwrap();
        pid = running_anew(&project, "api", Some(pid));
        watch.push_time(start.elapsed());

        let start = Instant::now();
        let _: serde_json::Value = berth::api::client::call(
            &project.socket(),
            "POST",
            "/v1/services/api/restart",
            Some(&serde_json::json!({})),
            Duration::from_secs(10),
        )
        .expect("the restart is accepted");
        pid = running_anew(&project, "api", Some(pid));
        restart.push_time(start.elapsed());
        project.remember();
    }
    (watch, restart)
}

fn config(program: &Path, watched: bool) -> String {
    let mut yaml = String::from("services:\n");
    for i in 0..SERVICES {
        yaml.push_str(&format!(
            "  s{i}:\n    command: [{:?}, \"--no-listen\"]\n",
            program.display().to_string()
        ));
        if watched {
            yaml.push_str(&format!("    watch: [\"tree{i}/**/*.py\"]\n"));
        }
    }
    yaml
}

/// The inotify watches `pid` holds, from the `fdinfo` of its descriptors.
fn inotify_watches(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fdinfo"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .map(|t| t.lines().filter(|l| l.starts_with("inotify wd:")).count())
        .sum()
}

fn idle(program: &Path, window: Duration, windows: usize) -> (Samples, Samples, usize) {
    let mut project = Project::new(&config(program, false));
    for s in 0..SERVICES {
        for d in 0..DIRS {
            let dir = project.dir().join(format!("tree{s}/d{d}"));
            std::fs::create_dir_all(&dir).unwrap();
            for f in 0..FILES {
                std::fs::write(dir.join(format!("f{f}.py")), "pass\n").unwrap();
            }
        }
    }
    project.up();
    let daemon = project.daemon_pid().expect("a daemon runs");
    let (mut with, mut without) = (Samples::new(Unit::Cpu), Samples::new(Unit::Cpu));
    let mut watches = 0;
    let measure = |samples: &mut Samples| {
        // Settle: the walk of a newly watched tree is not idle.
        std::thread::sleep(Duration::from_secs(3));
        let before = cpu_seconds(daemon).unwrap();
        std::thread::sleep(window);
        let used = cpu_seconds(daemon).unwrap() - before;
        samples.push(100.0 * used / window.as_secs_f64());
    };
    for _ in 0..windows {
        project.configure(&config(program, true));
        project.up();
        measure(&mut with);
        watches = watches.max(inotify_watches(daemon));
        project.configure(&config(program, false));
        project.up();
        measure(&mut without);
    }
    (with, without, watches)
}

fn main() {
    let rounds = env_or("BERTH_BENCH_ROUNDS", 15);
    let window = Duration::from_secs(env_or("BERTH_BENCH_SECS", 20) as u64);
    let windows = env_or("BERTH_BENCH_WINDOWS", 3);
    let left = Started::clear_ledger();
    if left > 0 {
        eprintln!("killed {left} processes an interrupted run left behind");
    }
    let program = test_service();

    eprintln!("1. {rounds} saves and {rounds} API restarts, alternating…");
    let (watch, restart) = save_to_ready(&program, rounds);
    let budget = DEBOUNCE.as_secs_f64() * 1000.0 + restart.median() + 50.0;
    println!();
    println!(
        "1. a saved file → the new instance running, {} cores, median (min–max) of {rounds}",
        berth::ports::parallel::cores()
    );
    println!();
    println!("| way | time |");
    println!("|---|---|");
    println!(
        "| save `src/app.py` (watch, debounce 300ms) | {} |",
        watch.show()
    );
    println!(
        "| `POST /v1/services/api/restart` (baseline) | {} |",
        restart.show()
    );
    println!();
    println!(
        "target: ≤ debounce + restart + 50 ms = {budget:.1} ms; watch − debounce − restart = {:.1} ms: {}",
        watch.median() - DEBOUNCE.as_secs_f64() * 1000.0 - restart.median(),
        if watch.median() <= budget {
            "met"
        } else {
            "missed"
        }
    );

    eprintln!(
        "2. {SERVICES} services, {} files, {windows} idle windows of {} s each way…",
        SERVICES * DIRS * FILES,
        window.as_secs()
    );
    let (with, without, watches) = idle(&program, window, windows);
    println!();
    println!(
        "2. the daemon idle, {SERVICES} services, {} watched files ({watches} inotify watches), median (min–max) of {windows} windows of {} s",
        SERVICES * DIRS * FILES,
        window.as_secs()
    );
    println!();
    println!("| stack | daemon CPU, % of one core |");
    println!("|---|---|");
    println!("| every service watching its tree | {} |", with.show());
    println!(
        "| the same without `watch:` (baseline) | {} |",
        without.show()
    );
    println!();
    println!(
        "target: ≤ 0.5 %: {}",
        if with.median() <= 0.5 {
            "met"
        } else {
            "missed"
        }
    );
}
