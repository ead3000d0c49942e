//! CPU and memory of a service: its whole process tree, as `status` shows it.

use super::table;

/// One reading of a process tree's resources.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// CPU time used so far by the live processes, in clock ticks.
    pub cpu_ticks: u64,
    pub rss_bytes: u64,
}

impl Usage {
    /// Sums `pids` (processes that vanished meanwhile count as nothing).
    pub fn of(pids: &[u32]) -> Usage {
        Usage::sum(pids.iter().filter_map(|&pid| table::stat(pid).ok()))
    }

    /// `root` and its descendants now (see `table::tree`).
    pub fn of_live_tree(root: u32) -> Usage {
        Usage::of(&table::tree(root))
    }

    /// `root` and its descendants, as `snapshot` saw them.
    pub fn of_tree(snapshot: &table::Snapshot, root: u32) -> Usage {
        let mut tree = snapshot.descendants(root);
        tree.push(root);
        Usage::sum(tree.iter().filter_map(|pid| snapshot.stat(*pid).copied()))
    }

    fn sum(stats: impl Iterator<Item = table::Stat>) -> Usage {
        let page = rustix::param::page_size() as u64;
        stats.fold(Usage::default(), |u, s| Usage {
            cpu_ticks: u.cpu_ticks + s.cpu_ticks,
            rss_bytes: u.rss_bytes + s.rss_pages * page,
        })
    }
}

/// CPU use between two readings `elapsed_ms` apart, in percent of one core (a process busy on
/// two cores shows 200, as `top` does). A tree that lost a process may read lower the second
/// time: that is 0, not negative.
pub fn cpu_percent(before: Usage, after: Usage, elapsed_ms: u64) -> f64 {
    if elapsed_ms == 0 {
        return 0.0;
    }
    let ticks = after.cpu_ticks.saturating_sub(before.cpu_ticks) as f64;
    let hz = rustix::param::clock_ticks_per_second() as f64;
    ticks / hz * 1000.0 / elapsed_ms as f64 * 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process_and_computes_percent() {
        let me = Usage::of(&[std::process::id()]);
        assert!(me.rss_bytes > 1 << 20, "{me:?}");
        assert_eq!(Usage::of(&[]), Usage::default());
        let hz = rustix::param::clock_ticks_per_second();
        let before = Usage {
            cpu_ticks: 0,
            rss_bytes: 0,
        };
        let after = Usage {
            cpu_ticks: hz / 2,
            rss_bytes: 0,
        };
        assert!((cpu_percent(before, after, 1000) - 50.0).abs() < 1e-9);
        assert_eq!(cpu_percent(after, before, 1000), 0.0);
        assert_eq!(cpu_percent(before, after, 0), 0.0);
    }

    #[test]
    fn a_busy_child_shows_cpu_time() {
        let mut busy = std::process::Command::new("sh")
            .args(["-c", "while :; do :; done"])
            .spawn()
            .unwrap();
        let first = Usage::of(&[busy.id()]);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while Usage::of(&[busy.id()]).cpu_ticks <= first.cpu_ticks
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let later = Usage::of(&[busy.id()]);
        busy.kill().unwrap();
        busy.wait().unwrap();
        assert!(later.cpu_ticks > first.cpu_ticks);
    }
}
