//! The daemon's limit on open descriptors: raised at its start to its hard limit (at most
//! [`CEILING`]), because the sampler holds four `/proc` files of every service process
//! (`monitor::held`), and put back as it was for every program the daemon starts, so that
//! services, checks and alert commands run with the limit their user gave berth (a service
//! may still use `select`, which breaks above 1,024). Go's runtime does the same for the
//! processes it starts.

use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::OnceLock;

/// Raised no higher: a limit of millions makes some programs' start-up loops over every
/// possible descriptor slow, and the daemon needs a few thousand.
const CEILING: u64 = 65_536;
/// Descriptors left for everything but the sampler's held files: sockets, logs, history.
const RESERVE: u64 = 1_024;

/// The soft and hard limits the daemon was started with, once raised.
static STARTED_WITH: OnceLock<(libc::rlim_t, libc::rlim_t)> = OnceLock::new();

fn get() -> Option<(libc::rlim_t, libc::rlim_t)> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the struct it is given.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0)
        .then_some((limit.rlim_cur, limit.rlim_max))
}

/// Raises this process's soft limit as far as it may go (up to `CEILING`), remembering the
/// one it had for [`restore_in`]; returns the soft limit now. Called once, by the daemon.
pub fn raise() -> u64 {
    let Some((soft, hard)) = get() else {
        return 0;
    };
    let _ = STARTED_WITH.set((soft, hard));
    let wanted = hard.min(CEILING).max(soft);
    if wanted > soft {
        let limit = libc::rlimit {
            rlim_cur: wanted,
            rlim_max: hard,
        };
        // SAFETY: setrlimit reads the struct it is given.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } == 0 {
            return wanted;
        }
    }
    soft
}

/// How many descriptors the sampler may hold open: what the limit leaves over `RESERVE`.
pub fn sampler_budget() -> usize {
    get().map_or(0, |(soft, _)| soft.saturating_sub(RESERVE) as usize)
}

/// Makes `command`'s program start with the limit the daemon started with (nothing to do
/// when the daemon did not raise its own).
pub fn restore_in(command: &mut Command) {
    let Some(&(soft, hard)) = STARTED_WITH.get() else {
        return;
    };
    if get().is_some_and(|(now, _)| now == soft) {
        return;
    }
    let limit = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: between fork and exec only async-signal-safe calls may be made; setrlimit is
    // one, and `limit` is a plain value moved into the closure.
    unsafe {
        command.pre_exec(move || {
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
}
