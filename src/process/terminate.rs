//! Stopping processes that no keeper holds any more (the remains of an instance whose shim
//! died, a stale instance found by its markers): the stop signal to each, then SIGKILL to
//! whatever is left when the timeout passes. Every signal goes through the identity check,
//! so a pid reused meanwhile is never touched.

use super::ProcessId;
use rustix::process::Signal;
use std::time::{Duration, Instant};

/// How often the survivors are looked at while waiting.
const POLL: Duration = Duration::from_millis(2);

/// Sends `signal` (a signal number; SIGTERM if it is not one) to each of `ids`, waits up to
/// `timeout` for all of them to end, then kills the rest. Returns how many needed SIGKILL.
pub fn terminate(ids: &[ProcessId], signal: i32, timeout: Duration) -> usize {
    let signal = Signal::from_named_raw(signal).unwrap_or(Signal::TERM);
    for id in ids {
        let _ = id.signal(signal);
    }
    let deadline = Instant::now() + timeout;
    while ids.iter().any(ProcessId::is_alive) && Instant::now() < deadline {
        std::thread::sleep(POLL);
    }
    let survivors: Vec<&ProcessId> = ids.iter().filter(|id| id.is_alive()).collect();
    for id in &survivors {
        let _ = id.signal(Signal::KILL);
    }
    for id in &survivors {
        id.wait_gone();
    }
    survivors.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spawn(script: &str) -> (std::process::Child, ProcessId) {
        let child = std::process::Command::new("sh")
            .args(["-c", script])
            .spawn()
            .unwrap();
        let id = ProcessId::of(child.id()).unwrap();
        (child, id)
    }

    #[test]
    fn a_polite_process_ends_on_the_signal_a_stubborn_one_by_sigkill() {
        let (mut polite, polite_id) = spawn("exec sleep 30");
        let (mut stubborn, stubborn_id) = spawn("trap '' TERM; while :; do sleep 0.01; done");
        // Give the shell time to install its trap before the signal arrives.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !std::fs::read_to_string(format!("/proc/{}/status", stubborn_id.pid))
            .unwrap()
            .lines()
            .filter_map(|l| l.strip_prefix("SigIgn:"))
            .any(|mask| u64::from_str_radix(mask.trim(), 16).unwrap() & (1 << 14) != 0)
        {
            assert!(Instant::now() < deadline, "the trap was never set");
            std::thread::sleep(POLL);
        }
        let killed = terminate(&[polite_id, stubborn_id], 15, Duration::from_millis(200));
        assert_eq!(killed, 1);
        assert!(!polite_id.is_alive() && !stubborn_id.is_alive());
        polite.wait().unwrap();
        stubborn.wait().unwrap();
    }
}
