//! CPU and memory of each service's process tree for `status`, read from `/proc` at most once
//! a second: calls in between answer from memory (reading every process's stat is most of
//! what a status costs), and CPU % is taken over the time between two readings, which is
//! what it means in `top` too (over a few milliseconds it would be noise). A service whose
//! main process is new since the last reading makes the reading happen now.

use crate::process::table::Snapshot;
use crate::process::usage::{Usage, cpu_percent};
use std::collections::BTreeMap;

/// Readings older than this are taken again.
pub const EVERY_MS: u64 = 1000;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reading {
    pub cpu_percent: f64,
    pub rss_bytes: u64,
}

#[derive(Default)]
pub struct Sampler {
    at_ms: Option<u64>,
    /// By service: the main process the reading is of, the reading, and the usage under it.
    samples: BTreeMap<String, (u32, Reading, Usage, u64)>,
}

impl Sampler {
    /// The readings of `alive` (service name, main pid), read anew when they are stale or
    /// one of them is not covered; services not listed are forgotten.
    pub fn read(&mut self, alive: &[(&str, u32)], now_ms: u64) -> BTreeMap<String, Reading> {
        self.samples
            .retain(|name, _| alive.iter().any(|(n, _)| n == name));
        let stale = self
            .at_ms
            .is_none_or(|at| now_ms.saturating_sub(at) >= EVERY_MS);
        let uncovered = alive
            .iter()
            .any(|(name, pid)| self.samples.get(*name).is_none_or(|s| s.0 != *pid));
        if stale || uncovered {
            self.at_ms = Some(now_ms);
            let snapshot = Snapshot::take();
            for (name, pid) in alive {
                let usage = Usage::of_tree(&snapshot, *pid);
                let cpu = match self.samples.get(*name) {
                    Some((same, _, before, at)) if same == pid => {
                        cpu_percent(*before, usage, now_ms.saturating_sub(*at))
                    }
                    _ => 0.0,
                };
                let reading = Reading {
                    cpu_percent: cpu,
                    rss_bytes: usage.rss_bytes,
                };
                self.samples
                    .insert(name.to_string(), (*pid, reading, usage, now_ms));
            }
        }
        self.samples
            .iter()
            .map(|(name, (_, reading, _, _))| (name.clone(), *reading))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_once_a_second_and_at_once_for_a_new_process() {
        let me = std::process::id();
        let mut sampler = Sampler::default();
        let first = sampler.read(&[("me", me)], 10_000);
        assert!(first["me"].rss_bytes > 1 << 20);
        let at = sampler.at_ms;
        // Within the second: from memory.
        sampler.read(&[("me", me)], 10_500);
        assert_eq!(sampler.at_ms, at);
        // A new main process: read now, even within the second.
        // Read it once it is `sleep`: before its exec there is nothing to measure.
        let mut child = crate::process::spawn_execed(std::process::Command::new("sleep").arg("5"));
        let both = sampler.read(&[("me", me), ("child", child.id())], 10_600);
        assert_eq!(sampler.at_ms, Some(10_600));
        assert!(both["child"].rss_bytes > 0);
        // A second later: read again; a stopped service is forgotten.
        let later = sampler.read(&[("me", me)], 11_700);
        assert_eq!(sampler.at_ms, Some(11_700));
        assert!(!later.contains_key("child"));
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
