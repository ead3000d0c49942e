//! Target 3: 50 rules × 200 services in one evaluation.
//!
//! The same 50 `when:` rules (every kind: memory, cpu, fds, threads, restarts, health,
//! state, check latency, score, the machine's) are used twice:
//!
//! - through the library: `Engine::evaluate` on 200 `ServiceFacts` of varied values (a few
//!   services over some threshold, in backoff, failed, unhealthy, recently restarted; most
//!   not), the clock one second further at each evaluation, as with `interval: 1s`: the
//!   thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`) of each evaluation, after a warm-up (the
//!   alerts that go pending and fire, fire there);
//! - in a daemon running 200 services of the test service with those rules: the CPU of its
//!   `alerts` thread (`/proc/PID/task/TID/schedstat`, ns on a CPU) over a window. It is read
//!   every 50 ms, and each burst of CPU between idle stretches is one evaluation (the thread
//!   wakes at the bell, gathers 20 ms, evaluates, and sleeps until the next ring), so each
//!   evaluation has its own figure; the window's whole CPU is also divided by its sampling
//!   rounds (counted from the history database's `system` table, one row a round): all is
//!   steady in the window (no service changes state), so the thread evaluates once per
//!   round. That CPU is the whole of an evaluation: the daemon's status and latest round
//!   gathered into facts, the engine, the effects carried out.

use std::path::Path;
use std::time::{Duration, Instant};

use berth::alerts::engine::{Engine, Observation, ServiceFacts};
use berth::daemon::supervisor::{HealthState, ServiceState};
use berth::monitor::system::{DiskReading, SystemReading};
use berth::stack::alerts::Rule;

use crate::project::Project;

pub const SERVICES: usize = 200;

/// The 50 rules: (name, condition, more keys). In the daemon's stack the first `mem-1`,
/// `fds-3` and `running` hold for every service (600 firing alerts); in the library's facts
/// about a tenth of the pairs hold at some time.
const RULES: [(&str, &str, &str); 50] = [
    ("mem-1", "memory > 1MiB", "for: 2s"),
    ("mem-20", "memory > 20MiB", "for: 10s"),
    ("mem-64", "memory > 64MiB", ""),
    ("mem-128", "memory > 128MiB", "for: 30s"),
    ("mem-256", "memory > 256MiB", "for: 1m"),
    (
        "mem-512",
        "memory > 512MiB",
        "for: 1m\n      severity: critical",
    ),
    ("mem-1g", "memory > 1GiB", "severity: critical"),
    ("mem-25pc", "memory > 25%", "for: 5m"),
    (
        "mem-50pc",
        "memory > 50%",
        "escalate: { after: 10m, to: critical }",
    ),
    ("cpu-5", "cpu > 5%", "for: 30s\n      repeat: 1m"),
    ("cpu-50", "cpu > 50%", "for: 30s"),
    ("cpu-80", "cpu > 80%", "for: 1m"),
    ("cpu-90", "cpu > 90%", ""),
    ("cpu-95", "cpu > 95%", "for: 5m\n      severity: critical"),
    ("cpu-99", "cpu >= 99%", "for: 10s"),
    ("cpu-150", "cpu > 150%", ""),
    ("cpu-200", "cpu > 200%", "for: 1m"),
    ("fds-3", "fds >= 3", "severity: info"),
    ("fds-100", "fds > 100", "for: 1m"),
    ("fds-500", "fds > 500", ""),
    ("fds-1000", "fds > 1000", "severity: critical"),
    ("fds-4096", "fds > 4096", ""),
    ("threads-4", "threads > 4", "for: 1m"),
    ("threads-50", "threads > 50", ""),
    ("threads-200", "threads > 200", "for: 30s"),
    ("threads-1000", "threads > 1000", ""),
    ("restarts-0", "restarts > 0 in 1m", ""),
    ("restarts-1", "restarts > 1 in 30s", ""),
    ("restarts-2", "restarts > 2 in 10m", "for: 10s"),
    ("restarts-3", "restarts > 3 in 5m", ""),
    ("restarts-5", "restarts > 5 in 1h", "severity: critical"),
    ("restarts-10", "restarts >= 10 in 1h", ""),
    (
        "unhealthy",
        "health == unhealthy",
        "for: 30s\n      severity: critical",
    ),
    ("unhealthy-2m", "health == unhealthy", "for: 2m"),
    ("unhealthy-now", "health == unhealthy", ""),
    ("health-unknown", "health == unknown", "for: 1m"),
    ("not-healthy", "health != healthy", "for: 5m"),
    ("failed", "state == failed", "severity: critical"),
    ("backoff", "state == backoff", "for: 30s"),
    ("not-running", "state != running", "for: 1m"),
    ("starting", "state == starting", "for: 2m"),
    ("stopping", "state == stopping", "for: 1m"),
    ("running", "state == running", "severity: info"),
    ("check-200ms", "check_latency > 200ms", "for: 1m"),
    ("check-1s", "check_latency > 1s", ""),
    ("score-50", "score < 50", "for: 5m"),
    ("score-90", "score < 90", ""),
    ("sys-cpu", "system.cpu > 95%", "for: 5m"),
    ("sys-mem", "system.memory > 90%", ""),
    ("sys-disk", "system.disk > 95%", "severity: critical"),
];

/// The `alerts:` section with the 50 rules and no channel (nothing is sent: the cost
/// measured is the evaluation's).
pub fn alerts_yaml() -> String {
    let mut yaml = String::from("alerts:\n  rules:\n");
    for (name, when, more) in RULES {
        yaml.push_str(&format!("    - name: {name}\n      when: {when}\n"));
        if !more.is_empty() {
            yaml.push_str(&format!("      {more}\n"));
        }
    }
    yaml
}

/// The daemon's stack: 200 services of the test service, sampled every 1 s, and the rules.
pub fn stack_yaml(program: &Path) -> String {
    let mut yaml = String::from("project: alerts-rules\nmonitor:\n  interval: 1s\n");
    yaml.push_str(&alerts_yaml());
    yaml.push_str("services:\n");
    for (i, port) in crate::support::free_ports(SERVICES).into_iter().enumerate() {
        yaml.push_str(&format!(
            "  svc{i:03}:\n    command: [\"{}\"]\n    port: {port}\n",
            program.display()
        ));
    }
    yaml
}

/// The rules as the daemon holds them: the project's berth.yaml through the config loader.
pub fn load_rules(project: &Project) -> Vec<Rule> {
    let stack = berth::config::load(
        &project.path().join("berth.yaml"),
        &berth::config::Options::default(),
    )
    .unwrap_or_else(|e| panic!("the bench's berth.yaml: {e:?}"));
    assert_eq!(stack.alerts.rules.len(), 50);
    stack.alerts.rules
}

const MIB: u64 = 1 << 20;

/// 200 services: mostly running, healthy, a few MiB, a few per cent of a core; here and
/// there one over a threshold, in backoff, failed, unhealthy or just restarted (at
/// `base_ms`, so its restarts leave the rules' windows as the clock goes on).
fn facts(base_ms: u64) -> Vec<ServiceFacts> {
    (0..SERVICES)
        .map(|i| {
            let state = match i {
                _ if i % 100 == 13 => ServiceState::Failed,
                _ if i % 50 == 7 => ServiceState::Backoff,
                _ => ServiceState::Running,
            };
            let health = match i {
                _ if state != ServiceState::Running || i % 40 == 3 => HealthState::Unhealthy,
                _ if i % 25 == 5 => HealthState::Unknown,
                _ => HealthState::Healthy,
            };
            let running = state == ServiceState::Running;
            ServiceFacts {
                name: format!("svc{i:03}"),
                state: Some(state),
                health: Some(health),
                cpu_percent: running.then_some(if i % 67 == 0 {
                    97.0
                } else {
                    (i % 20) as f64 * 0.5
                }),
                rss_bytes: running.then_some(if i % 33 == 0 {
                    700 * MIB
                } else {
                    (8 + i as u64 % 16) * MIB
                }),
                fds: running.then_some(if i % 90 == 0 { 1500 } else { 8 + i as u64 % 10 }),
                threads: running.then_some(if i % 70 == 0 { 300 } else { 1 + i as u64 % 4 }),
                check_ms: Some(if i % 45 == 0 {
                    350.0
                } else {
                    1.0 + (i % 5) as f64
                }),
                score: Some(match health {
                    HealthState::Healthy => 100,
                    HealthState::Unknown => 85,
                    HealthState::Unhealthy => 40,
                }),
                restart_times: if state == ServiceState::Backoff || i % 30 == 11 {
                    vec![base_ms + 5_000, base_ms + 20_000, base_ms + 40_000]
                } else {
                    Vec::new()
                },
            }
        })
        .collect()
}

fn system(at_ms: u64) -> SystemReading {
    SystemReading {
        at_ms,
        cpu_percent: Some(35.0),
        cores: 2,
        load: [0.8, 0.7, 0.6],
        memory_total_bytes: 8 << 30,
        memory_available_bytes: 5 << 30,
        swap_used_bytes: 0,
        disks: vec![DiskReading {
            path: "/".into(),
            used_bytes: 50 << 30,
            total_bytes: 100 << 30,
        }],
        net_rx_bytes: 0,
        net_tx_bytes: 0,
    }
}

fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// The library's figures: thread CPU and wall time of each evaluation (ms), the most
/// effects one evaluation had, and how many alerts were active at the end.
pub struct Library {
    pub cpu_ms: Vec<f64>,
    pub wall_ms: Vec<f64>,
    pub effects: Vec<usize>,
    pub active_end: usize,
}

pub fn library(rules: &[Rule], warm_up: usize, measured: usize) -> Library {
    let base = berth::logs::time::now_ms();
    let facts = facts(base);
    let mut engine = Engine::default();
    let mut out = Library {
        cpu_ms: Vec::new(),
        wall_ms: Vec::new(),
        effects: Vec::new(),
        active_end: 0,
    };
    for k in 0..warm_up + measured {
        let now_ms = base + 1000 * k as u64;
        let reading = system(now_ms);
        let obs = Observation {
            now_ms,
            services: &facts,
            system: Some(&reading),
        };
        let (cpu0, wall0) = (thread_cpu(), Instant::now());
        let effects = engine.evaluate(rules, &obs);
        let (cpu, wall) = (thread_cpu() - cpu0, wall0.elapsed());
        if k >= warm_up {
            out.cpu_ms.push(cpu.as_secs_f64() * 1000.0);
            out.wall_ms.push(wall.as_secs_f64() * 1000.0);
            out.effects.push(effects.len());
        }
        std::hint::black_box(effects);
    }
    out.active_end = engine
        .active(base + 1000 * (warm_up + measured) as u64)
        .len();
    out
}

/// One thread of a process: CPU so far (ns) and voluntary context switches.
fn thread_reading(pid: i32, tid: u32) -> Option<(u64, u64)> {
    let dir = format!("/proc/{pid}/task/{tid}");
    let ns = std::fs::read_to_string(format!("{dir}/schedstat"))
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let status = std::fs::read_to_string(format!("{dir}/status")).ok()?;
    let switches = status
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))?
        .trim()
        .parse()
        .ok()?;
    Some((ns, switches))
}

/// The tids of `pid`'s threads named `comm`.
fn threads_named(pid: i32, comm: &str) -> Vec<u32> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|tid| {
            std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm"))
                .is_ok_and(|c| c.trim() == comm)
        })
        .collect()
}

/// The daemon's figures over one window.
pub struct Daemon {
    /// The CPU of each evaluation seen whole in the window, ms.
    pub bursts: Vec<f64>,
    pub seconds: f64,
    /// The alerts thread's CPU in the window, ms.
    pub alerts_cpu_ms: f64,
    /// Sampling rounds in the window (the history's `system` rows).
    pub rounds: u64,
    /// The alerts thread's voluntary context switches in the window (two a wake-up: the
    /// wait for the bell, the 20 ms gathering).
    pub switches: u64,
    /// The sampler's CPU in the window, ms, for scale.
    pub sampler_cpu_ms: f64,
    /// Pending and firing alerts in the window's end (`GET /v1/alerts`).
    pub active: usize,
    /// State changes in the window (`restarting`, `failed` … events): none is expected.
    pub changes: usize,
}

fn rounds_between(db: &Path, from_s: u64, to_s: u64) -> u64 {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("history.db opens");
    conn.query_row(
        "SELECT count(*) FROM system WHERE t >= ?1 AND t < ?2",
        (from_s as i64, to_s as i64),
        |row| row.get::<_, i64>(0),
    )
    .expect("the system table reads") as u64
}

const POLL: Duration = Duration::from_millis(50);

pub fn daemon(project: &Project, settle: Duration, window: Duration) -> Daemon {
    std::thread::sleep(settle);
    let pid = project.daemon_pid();
    let alerts = threads_named(pid, "alerts");
    assert_eq!(alerts.len(), 1, "one `alerts` thread in the daemon");
    let sampler = threads_named(pid, "sampler");
    let tid = alerts[0];
    let sampler_ns = || {
        sampler
            .iter()
            .filter_map(|&t| thread_reading(pid, t))
            .map(|(ns, _)| ns)
            .sum::<u64>()
    };
    let (t0, wall0) = (Instant::now(), berth::logs::time::now_ms());
    let (ns0, sw0) = thread_reading(pid, tid).expect("the alerts thread reads");
    let s0 = sampler_ns();
    // The thread's CPU every 50 ms: each evaluation is a burst (its wake-up, 20 ms of
    // gathering, the evaluation) between idle stretches of most of a second.
    let mut bursts: Vec<f64> = Vec::new();
    let (mut last_ns, mut idle_polls) = (ns0, usize::MAX);
    while t0.elapsed() < window {
        std::thread::sleep(POLL);
        let Some((ns, _)) = thread_reading(pid, tid) else {
            break;
        };
        let used = ns.saturating_sub(last_ns) as f64 / 1e6;
        last_ns = ns;
        if used == 0.0 {
            idle_polls = idle_polls.saturating_add(1);
            continue;
        }
        // Within 100 ms of the burst before: the same evaluation.
        match bursts.last_mut() {
            Some(b) if idle_polls < 2 => *b += used,
            _ => bursts.push(used),
        }
        idle_polls = 0;
    }
    let (ns1, sw1) = thread_reading(pid, tid).expect("the alerts thread reads");
    let s1 = sampler_ns();
    let (seconds, wall1) = (t0.elapsed().as_secs_f64(), berth::logs::time::now_ms());
    let alerts: serde_json::Value = berth::api::client::call::<(), _>(
        &project.path().join(".berth/berth.sock"),
        "GET",
        "/v1/alerts",
        None,
        Duration::from_secs(10),
    )
    .expect("GET /v1/alerts");
    // The writer gathers 200 ms before it writes: the window's last round is in by then.
    std::thread::sleep(Duration::from_millis(600));
    // Whole seconds inside the window: the rows' times are seconds.
    let (from_s, to_s) = (wall0.div_ceil(1000), wall1 / 1000);
    let rounds = rounds_between(&project.path().join(".berth/history.db"), from_s, to_s);
    let in_seconds = (to_s - from_s) as f64;
    let changes = project
        .events(&["restarting", "failed", "exited", "started", "health"])
        .iter()
        .filter_map(|e| {
            e["time"]
                .as_str()
                .and_then(berth::logs::time::parse_rfc3339_ms)
        })
        .filter(|&t| t >= wall0 && t <= wall1)
        .count();
    // A burst cut by the window's start or end is not a whole evaluation.
    if bursts.len() > 2 {
        bursts.remove(0);
        bursts.pop();
    }
    Daemon {
        bursts,
        seconds,
        alerts_cpu_ms: (ns1 - ns0) as f64 / 1e6,
        // Scaled from the whole seconds counted to the window.
        rounds: (rounds as f64 * seconds / in_seconds).round() as u64,
        switches: sw1 - sw0,
        sampler_cpu_ms: (s1 - s0) as f64 / 1e6,
        active: alerts["alerts"].as_array().map_or(0, Vec::len),
        changes,
    }
}
