//! Processes as the benchmarks see them through /proc: identity (pid and start time, so a
//! reused pid is never signalled), CPU time, resident and private memory, and a list of
//! what a benchmark started, killed by pid at the end.

use rustix::process::{Pid, Signal};

/// A process as it was when seen: its pid and its start time (clock ticks after boot).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Proc {
    pub pid: i32,
    start: u64,
}

/// The fields of /proc/PID/stat after the command name: state is field 3, utime 14,
/// stime 15, starttime 22.
fn stat_fields(pid: i32) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces; what follows does not.
    let rest = &text[text.rfind(')')? + 2..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// The live children of `parent`.
pub fn children_of(parent: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| stat_fields(pid).is_some_and(|f| f[1] == parent.to_string() && f[0] != "Z"))
        .collect()
}

impl Proc {
    /// The process `pid` is now, if it runs (a zombie has ended).
    pub fn seen(pid: i32) -> Option<Proc> {
        let fields = stat_fields(pid)?;
        if fields[0] == "Z" || fields[0] == "X" {
            return None;
        }
        Some(Proc {
            pid,
            start: fields[19].parse().ok()?,
        })
    }

    /// Whether this very process still runs (not a zombie, not a newer one on its pid).
    pub fn alive(&self) -> bool {
        Proc::seen(self.pid) == Some(*self)
    }

    pub fn kill(&self, signal: Signal) {
        if self.alive()
            && let Some(pid) = Pid::from_raw(self.pid)
        {
            let _ = rustix::process::kill_process(pid, signal);
        }
    }
}

/// User plus system CPU time of `pid` so far, in seconds.
pub fn cpu_seconds(pid: i32) -> Option<f64> {
    let fields = stat_fields(pid)?;
    let ticks: u64 = fields[11].parse::<u64>().ok()? + fields[12].parse::<u64>().ok()?;
    Some(ticks as f64 / rustix::param::clock_ticks_per_second() as f64)
}

fn kib(field: &str, text: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with(field))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum()
}

/// Resident set size of `pid`, in KiB.
pub fn rss_kib(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some(kib("VmRSS:", &status))
}

/// Memory only `pid` has (private clean + dirty, from smaps_rollup), in KiB.
pub fn private_kib(pid: i32) -> Option<u64> {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    Some(kib("Private_Clean:", &smaps) + kib("Private_Dirty:", &smaps))
}

/// Everything a benchmark started or saw started for it; whatever still runs when this is
/// dropped (at the end, or when a measurement panics) is killed, by pid and start time.
/// Each is also written down in a ledger under `target/`, so that what an interrupted run
/// (Ctrl-C) left behind is killed by the next (`Started::clear_ledger`).
#[derive(Default)]
pub struct Started(Vec<Proc>);

fn ledger() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-started.pids")
}

impl Started {
    pub fn add(&mut self, pid: i32) {
        if let Some(p) = Proc::seen(pid)
            && !self.0.contains(&p)
        {
            self.0.push(p);
            use std::io::Write;
            if let Ok(mut file) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(ledger())
            {
                let _ = writeln!(file, "{} {}", p.pid, p.start);
            }
        }
    }

    /// Kills what an earlier run wrote down and left running; returns how many.
    pub fn clear_ledger() -> usize {
        let text = std::fs::read_to_string(ledger()).unwrap_or_default();
        let left: Vec<Proc> = text
            .lines()
            .filter_map(|l| {
                let (pid, start) = l.split_once(' ')?;
                Some(Proc {
                    pid: pid.parse().ok()?,
                    start: start.parse().ok()?,
                })
            })
            .filter(Proc::alive)
            .collect();
        left.iter().for_each(|p| p.kill(Signal::KILL));
        let _ = std::fs::remove_file(ledger());
        left.len()
    }

    /// How many of them still run.
    pub fn running(&self) -> usize {
        self.0.iter().filter(|p| p.alive()).count()
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        for p in &self.0 {
            p.kill(Signal::KILL);
        }
    }
}
