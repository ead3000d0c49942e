//! `ProcessId`: a pid plus its start time, read from `/proc/PID/stat`. Two processes that
//! share a pid over time never share both.

use super::table;
use rustix::process::{PidfdFlags, Signal, pidfd_open, pidfd_send_signal};
use serde::{Deserialize, Serialize};
use std::io;
use std::os::fd::{AsFd, OwnedFd};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProcessId {
    pub pid: u32,
    /// Clock ticks since boot when the process started (field 22 of `/proc/PID/stat`).
    pub start_time: u64,
}

impl ProcessId {
    /// The identity of the live process `pid`.
    pub fn of(pid: u32) -> io::Result<ProcessId> {
        let stat = table::stat(pid)?;
        Ok(ProcessId {
            pid,
            start_time: stat.start_time,
        })
    }

    /// This very process is still running (same pid, same start time, not a zombie).
    pub fn is_alive(&self) -> bool {
        table::stat(self.pid).is_ok_and(|s| s.start_time == self.start_time && s.state != 'Z')
    }

    /// A pidfd for this very process: opened first and the start time checked after, so it
    /// cannot name a later process that reused the pid. `None` once the process has ended.
    pub fn pidfd(&self) -> io::Result<Option<OwnedFd>> {
        let Some(pid) = super::pid(self.pid) else {
            return Ok(None);
        };
        let fd = match pidfd_open(pid, PidfdFlags::empty()) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::SRCH) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        Ok(self.is_alive().then_some(fd))
    }

    /// Blocks until this process has ended (through a pidfd: it need not be our child).
    pub fn wait_gone(&self) {
        match self.pidfd() {
            Ok(Some(fd)) => wait_exit(&fd),
            Ok(None) => {}
            // No pidfd to be had (out of descriptors?): asked again and again.
            Err(_) => {
                while self.is_alive() {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
            }
        }
    }

    /// Sends `signal` to this process if, and only if, it is still the process recorded
    /// (through its pidfd, so the pid cannot be reused between the check and the signal).
    /// Returns whether the signal was sent.
    pub fn signal(&self, signal: Signal) -> io::Result<bool> {
        let Some(fd) = self.pidfd()? else {
            return Ok(false);
        };
        match pidfd_send_signal(&fd, signal) {
            Ok(()) => Ok(true),
            Err(rustix::io::Errno::SRCH) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

/// Blocks until the process of `pidfd` has ended.
pub fn wait_exit(pidfd: impl AsFd) {
    let mut fds = [rustix::event::PollFd::new(
        &pidfd,
        rustix::event::PollFlags::IN,
    )];
    while let Err(rustix::io::Errno::INTR) = rustix::event::poll(&mut fds, None) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifies_this_process_and_rejects_a_different_start_time() {
        let me = ProcessId::of(std::process::id()).unwrap();
        assert!(me.is_alive());
        let impostor = ProcessId {
            start_time: me.start_time + 1,
            ..me
        };
        assert!(!impostor.is_alive());
        // A signal to a pid whose start time does not match is not sent.
        assert!(!impostor.signal(Signal::TERM).unwrap());
    }

    #[test]
    fn a_pid_no_process_can_have_is_refused_not_a_panic() {
        for pid in [0, u32::MAX, i32::MAX as u32 + 1] {
            let bogus = ProcessId { pid, start_time: 1 };
            assert!(!bogus.is_alive());
            assert!(!bogus.signal(Signal::KILL).unwrap());
        }
    }

    #[test]
    fn signals_a_live_child_and_not_a_reaped_one() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let id = ProcessId::of(child.id()).unwrap();
        assert!(id.signal(Signal::KILL).unwrap());
        child.wait().unwrap();
        assert!(!id.is_alive());
        assert!(!id.signal(Signal::KILL).unwrap());
    }
}
