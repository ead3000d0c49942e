//! The daemon's CPU over a window, in all (`utime + stime` of `/proc/PID/stat`, every thread
//! it ever had) and split by thread (`/proc/PID/task/TID/schedstat`, nanoseconds on a CPU),
//! grouped by the threads' names: `sampler`, `history` (the writer), `supervise NAME` (one
//! per service: readiness, health probes), `gate NAME`, `alerts` and `alerts-CHANNEL` (the
//! alert engine and its notifiers), `restart NAME`, the main thread (`berth`: the HTTP
//! server's runtime) and `tokio-*` (its blocking pool: each request's work). What the
//! threads alive at the end do not account for is CPU of threads that ended within the window
//! (the sampler's per-round helper threads, which read `/proc` on every core, and blocking
//! threads retiring).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use crate::support::procs::cpu_seconds;

/// What a process has used so far.
pub struct Times {
    /// Every thread's, the ended ones' too, in seconds.
    pub total: f64,
    /// Each live thread's name and CPU in seconds.
    threads: HashMap<u32, (String, f64)>,
    at: Instant,
}

pub fn read(pid: i32) -> Times {
    let at = Instant::now();
    let mut threads = HashMap::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let Some(tid) = entry
            .file_name()
            .to_str()
            .and_then(|t| t.parse::<u32>().ok())
        else {
            continue;
        };
        let dir = entry.path();
        let (Ok(comm), Ok(sched)) = (
            std::fs::read_to_string(dir.join("comm")),
            std::fs::read_to_string(dir.join("schedstat")),
        ) else {
            continue;
        };
        let Some(ns) = sched
            .split_whitespace()
            .next()
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        threads.insert(tid, (comm.trim().to_string(), ns as f64 / 1e9));
    }
    Times {
        total: cpu_seconds(pid).unwrap_or(0.0),
        threads,
        at,
    }
}

/// The group a thread's name belongs to.
pub fn group(comm: &str) -> &'static str {
    match comm {
        "sampler" => "sampler",
        "history" => "history writer",
        c if c.starts_with("supervise") => "supervisors",
        c if c.starts_with("gate") => "gates",
        c if c.starts_with("alerts") => "alerts",
        c if c.starts_with("restart") => "restarts",
        "berth" => "main (HTTP runtime)",
        c if c.starts_with("tokio") => "blocking pool (requests)",
        _ => "other",
    }
}

/// The groups in the order the split is printed, then the rest.
pub const GROUPS: [&str; 10] = [
    "sampler",
    "ended in the window",
    "history writer",
    "supervisors",
    "alerts",
    "main (HTTP runtime)",
    "blocking pool (requests)",
    "gates",
    "restarts",
    "other",
];

/// One window: the daemon's CPU in per cent of one core, in all and by group.
#[derive(Clone, Debug, Default)]
pub struct Split {
    pub total: f64,
    pub groups: BTreeMap<&'static str, f64>,
    pub seconds: f64,
}

pub fn between(before: &Times, after: &Times) -> Split {
    let seconds = after.at.duration_since(before.at).as_secs_f64();
    let percent = |s: f64| s / seconds * 100.0;
    let mut groups: BTreeMap<&'static str, f64> = BTreeMap::new();
    let mut accounted = 0.0;
    for (tid, (comm, now)) in &after.threads {
        let was = before.threads.get(tid).map_or(0.0, |(_, s)| *s);
        let used = (now - was).max(0.0);
        accounted += used;
        *groups.entry(group(comm)).or_default() += percent(used);
    }
    let total = after.total - before.total;
    // Ticks (10 ms) against nanoseconds: a remainder under a tick is noise.
    let ended = (total - accounted).max(0.0);
    groups.insert("ended in the window", percent(ended));
    Split {
        total: percent(total),
        groups,
        seconds,
    }
}

/// CPU of every live thread of `pid` so far, in seconds, to the nanosecond: for processes
/// that use less than a clock tick a minute each (an idle shim), where `utime + stime` of a
/// young process reads 0 for a long time.
pub fn live_seconds(pid: i32) -> f64 {
    read(pid).threads.values().map(|(_, s)| s).sum()
}

/// The daemon's split over `window`, and the CPU of `others` (shims, forker) meanwhile.
pub fn window(daemon: i32, others: &[i32], window: Duration) -> (Split, f64) {
    let others_total = |pids: &[i32]| pids.iter().map(|&p| live_seconds(p)).sum::<f64>();
    let o0 = others_total(others);
    let before = read(daemon);
    std::thread::sleep(window);
    let after = read(daemon);
    let o1 = others_total(others);
    let split = between(&before, &after);
    let others = (o1 - o0) / split.seconds * 100.0;
    (split, others)
}
