//! The soak: 100 services, each killed with SIGKILL at random again and again while the
//! daemon keeps them up, for `BERTH_SOAK_SECS` seconds (60 by default; `.ci/run` runs it,
//! `BERTH_SOAK_SECS=1800` for the long form). At the end every service runs, every kill is
//! accounted for (as a restart in `status` and as an exit and a restart in the event log),
//! the daemon has not grown in descriptors or memory beyond a stated bound, and `status` is
//! as fast as at the start.
//!
//! Run with `cargo test --test it soak -- --ignored --nocapture`.

use crate::support::{Project, daemon_pid, free_port, test_service, wait_until};
use berth::process::ProcessId;
use std::time::{Duration, Instant};

const SERVICES: usize = 100;
/// Descriptors the daemon may gain over the run (sockets of requests in flight).
const FD_SLACK: usize = 16;
/// Memory the daemon may gain over the run.
const RSS_SLACK_KIB: u64 = 8 * 1024;

/// The daemon's open descriptors: (on files under `/proc`, the rest). The sampler holds four
/// `/proc` files of each process of the services' trees between rounds (`monitor::held`),
/// so those follow what runs; the rest must not grow.
fn fds(pid: u32) -> (usize, usize) {
    let mut proc_files = 0;
    let mut others = 0;
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
    {
        match std::fs::read_link(entry.path()) {
            Ok(target) if target.starts_with("/proc/") => proc_files += 1,
            _ => others += 1,
        }
    }
    (proc_files, others)
}

/// Processes of the trees of the services running now.
fn tree_processes(status: &serde_json::Value) -> usize {
    let snapshot = berth::process::table::Snapshot::take();
    let forest = snapshot.forest();
    status["services"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["pid"].as_u64())
        .map(|pid| forest.tree(pid as u32).len())
        .sum()
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

fn status_latency(project: &Project) -> Duration {
    let mut runs: Vec<Duration> = (0..9)
        .map(|_| {
            let start = Instant::now();
            project.berth(&["status", "--json"]).output_any();
            start.elapsed()
        })
        .collect();
    runs.sort();
    runs[runs.len() / 2]
}

/// How many events of `kind` the event log holds (all of them: history keeps two weeks).
fn count(project: &Project, kind: &str) -> u64 {
    project
        .berth(&["events", "--json", "-n", "100000000", "--kind", kind])
        .code(0)
        .stdout()
        .lines()
        .count() as u64
}

/// A small xorshift: the soak needs spread, not quality.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

#[test]
#[ignore = "minutes long: run by .ci/run, or by hand with --ignored"]
fn soak() {
    let seconds: u64 = std::env::var("BERTH_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let service = test_service().display().to_string();
    let mut yaml = String::from("services:\n");
    for i in 0..SERVICES {
        yaml.push_str(&format!(
            "  s{i}:\n    command: [\"{service}\"]\n    port: {}\n    restart: always\n    restart_delay: 0\n    max_restarts: 10000\n",
            free_port()
        ));
    }
    let project = Project::new(&yaml);
    struct Down<'a>(&'a Project);
    impl Drop for Down<'_> {
        fn drop(&mut self) {
            let _ = self.0.berth(&["down", "--force"]).output_any();
        }
    }
    let _down = Down(&project);
    project.berth(&["up", "-q", "--timeout", "120s"]).code(0);
    let daemon = daemon_pid(project.path()).expect("a daemon runs");
    let ((_, fds_before), rss_before) = (fds(daemon), rss_kib(daemon));
    let latency_before = status_latency(&project);

    let mut dice = Dice(0x9e37_79b9_7f4a_7c15 ^ u64::from(std::process::id()));
    let mut kills = 0u64;
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < deadline {
        let status = project.berth(&["status", "--json"]).code_any_json();
        let running: Vec<u64> = status["services"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["state"] == "running")
            .filter_map(|s| s["pid"].as_u64())
            .collect();
        if !running.is_empty() {
            let pid = running[dice.roll(running.len())] as u32;
            if let Ok(id) = ProcessId::of(pid)
                && id.signal(rustix::process::Signal::KILL).unwrap_or(false)
            {
                kills += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(50 + dice.roll(100) as u64));
    }

    // Everything comes back, and every kill is one restart.
    let status = wait_until(Duration::from_secs(60), || {
        let status = project.berth(&["status", "--json"]).code_any_json();
        (status["health"] == "healthy").then_some(status)
    })
    .expect("every service runs again");
    let restarts: u64 = status["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["restarts"].as_u64().unwrap())
        .sum();
    assert_eq!(restarts, kills, "restarts in status against kills");
    // The event log is written off the supervision path: give the writer a moment.
    let logged = wait_until(Duration::from_secs(10), || {
        let counts = (count(&project, "exited"), count(&project, "restarting"));
        (counts == (kills, kills)).then_some(counts)
    });
    assert_eq!(
        logged,
        Some((kills, kills)),
        "exits and restarts in the event log against kills ({:?})",
        (count(&project, "exited"), count(&project, "restarting"))
    );

    // The held `/proc` files are let go at the round after their process ended: within a
    // few intervals there are no more than four for each process of what runs (and a few of
    // the daemon's own).
    let held = wait_until(Duration::from_secs(20), || {
        let status = project.berth(&["status", "--json"]).code_any_json();
        let (held, _) = fds(daemon);
        // Beside them: the open `/proc` itself, and what the machine's reading keeps.
        let bound = 4 * tree_processes(&status) + 8;
        (held <= bound).then_some((held, bound))
    });
    assert!(
        held.is_some(),
        "the sampler's /proc files outnumber what runs: {} held, {} processes",
        fds(daemon).0,
        tree_processes(&project.berth(&["status", "--json"]).code_any_json())
    );
    let ((_, fds_after), rss_after) = (fds(daemon), rss_kib(daemon));
    let latency_after = status_latency(&project);
    eprintln!(
        "soak: {seconds}s, {SERVICES} services, {kills} kills; daemon fds (but the sampler's held /proc files, {held:?} against their bound) {fds_before} → {fds_after}, RSS {rss_before} → {rss_after} KiB; status {latency_before:?} → {latency_after:?}"
    );
    assert!(
        fds_after <= fds_before + FD_SLACK,
        "descriptors grew: {fds_before} → {fds_after}"
    );
    assert!(
        rss_after <= rss_before + RSS_SLACK_KIB,
        "memory grew: {rss_before} → {rss_after} KiB"
    );
    assert!(
        latency_after <= latency_before * 3 + Duration::from_millis(5),
        "status slowed: {latency_before:?} → {latency_after:?}"
    );
}
