//! `berth logs`: the last lines of services' logs (`-n`, `--since`), following them with
//! `-f`. One service prints its lines as written; several are interleaved by time, each line
//! prefixed with its service's name.

use super::args::Global;
use super::log_lines::LogLines;
use super::up::load_with_services;
use super::{Exit, Failure};
use crate::daemon::launch::log_path;
use crate::logs::read::{Follower, Record, tail};
use crate::logs::time::{now_ms, rfc3339_ms};
use crate::style::Style;
use std::io::Write;
use std::time::Duration;

/// How often `-f` looks for new lines.
const FOLLOW_POLL: Duration = Duration::from_millis(50);

pub struct Options {
    pub lines: usize,
    pub follow: bool,
    pub since: Option<Duration>,
    pub timestamps: bool,
}

/// The last `lines` lines of the `names` services' logs (from `since` ago on), interleaved by
/// time, each with its service's name.
pub fn last_lines(
    stack: &crate::stack::Stack,
    names: &[String],
    lines: usize,
    since: Option<Duration>,
) -> Vec<(String, Record)> {
    let since = since.map(|d| rfc3339_ms(now_ms().saturating_sub(d.as_millis() as u64)));
    let keep = |r: &Record| {
        since
            .as_ref()
            .is_none_or(|t| r.time.is_empty() || r.time >= *t)
    };
    let mut records: Vec<(String, Record)> = Vec::new();
    for name in names {
        let path = log_path(stack, name);
        records.extend(
            tail(&path, Some(lines), &keep)
                .into_iter()
                .map(|r| (name.clone(), r)),
        );
    }
    // Interleave by time; a stable sort keeps each service's own order for equal times.
    records.sort_by(|a, b| a.1.time.cmp(&b.1.time));
    let extra = records.len().saturating_sub(lines);
    records.split_off(extra)
}

pub fn run(global: &Global, services: &[String], options: &Options) -> Result<Exit, Failure> {
    // Every instance the daemon runs, `berth scale`'s too; `logs api` is all of them.
    let stack = super::replicas::as_running(load_with_services(global, services)?);
    let names: Vec<String> = if services.is_empty() {
        stack.services.iter().map(|s| s.name.clone()).collect()
    } else {
        stack.expand_names(services)
    };
    let lines = LogLines::new(&names, options.timestamps, Style::stdout());
    let shown = last_lines(&stack, &names, options.lines, options.since);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let print = |out: &mut dyn Write, name: &str, r: &Record| -> std::io::Result<()> {
        writeln!(out, "{}", lines.format(name, r))
    };
    for (name, r) in &shown {
        if print(&mut out, name, r).is_err() {
            return Ok(Exit::Done); // the reader went away (`| head`)
        }
    }
    let _ = out.flush();
    if !options.follow {
        return Ok(Exit::Done);
    }
    let mut followers: Vec<(String, Follower)> = names
        .iter()
        .map(|n| (n.clone(), Follower::new(&log_path(&stack, n))))
        .collect();
    loop {
        std::thread::sleep(FOLLOW_POLL);
        for (name, follower) in followers.iter_mut() {
            for r in follower.poll() {
                if print(&mut out, name, &r).is_err() {
                    return Ok(Exit::Done);
                }
            }
        }
        if out.flush().is_err() {
            return Ok(Exit::Done);
        }
    }
}
