//! The daemon raises its own limit on open descriptors (its sampler holds the services'
//! `/proc` files), and the services it starts keep the limit `berth up` was run with.

use crate::support::{Project, daemon_pid, wait_until};
use std::os::unix::process::CommandExt;
use std::time::Duration;

/// The soft limit of `Max open files` in `/proc/PID/limits`.
fn soft_limit(pid: u32) -> u64 {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    line.split_whitespace().nth(3).unwrap().parse().unwrap()
}

#[test]
fn services_keep_the_descriptor_limit_the_daemon_raises_for_itself() {
    let mut hard = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the struct it is given.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut hard) },
        0
    );
    let user: libc::rlim_t = 256;
    assert!(
        hard.rlim_max > user + 1024,
        "this test needs a hard limit over {} (it is {})",
        user + 1024,
        hard.rlim_max
    );
    let project = Project::new(
        "services:\n  web:\n    command: [sh, -c, 'ulimit -Sn > limit.txt; exec sleep 60']\n",
    );
    let limit = libc::rlimit {
        rlim_cur: user,
        rlim_max: hard.rlim_max,
    };
    let mut up = std::process::Command::new(env!("CARGO_BIN_EXE_berth"));
    up.args(["up", "--timeout", "30s"])
        .current_dir(project.path())
        .env("NO_COLOR", "1");
    // SAFETY: setrlimit is async-signal-safe; `limit` is a plain value.
    unsafe {
        up.pre_exec(move || match libc::setrlimit(libc::RLIMIT_NOFILE, &limit) {
            0 => Ok(()),
            _ => Err(std::io::Error::last_os_error()),
        });
    }
    let out = up.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let seen = wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(project.path().join("limit.txt"))
            .ok()
            .filter(|t| !t.trim().is_empty())
    })
    .expect("the service wrote its limit");
    assert_eq!(seen.trim(), user.to_string(), "the service's soft limit");
    let daemon = daemon_pid(project.path()).unwrap();
    assert!(
        soft_limit(daemon) > user + 1024,
        "the daemon's soft limit: {}",
        soft_limit(daemon)
    );
    project.berth(&["down"]).code(0);
}
