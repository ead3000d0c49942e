//! Processes as berth sees them on Linux: identity by pid *and* start time (so a reused pid
//! is never mistaken for the process berth recorded), the process table, and signals sent
//! only after the identity is checked. Everything Linux-specific about processes lives here.

pub mod identity;
pub mod limits;
pub mod markers;
pub mod table;
pub mod terminate;
pub mod usage;

pub use identity::ProcessId;

/// A kernel pid from a recorded number; `None` for numbers no process can have (a corrupt
/// record must not crash the supervisor).
pub fn pid(number: u32) -> Option<rustix::process::Pid> {
    i32::try_from(number)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
}

/// `/proc/PID/FILE` whole (`cmdline`, `environ`): without the size query and the second read
/// of `std::fs::read`, which cost as much as the kernel's own work for the short files read
/// about every holder of a port. These files fill whatever is asked for until they end, so
/// a read that comes back short is the end.
pub fn read_proc(pid: u32, file: &str) -> std::io::Result<Vec<u8>> {
    use rustix::fs::{Mode, OFlags, openat};
    let fd = openat(
        rustix::fs::CWD,
        format!("/proc/{pid}/{file}"),
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut out = Vec::with_capacity(4096);
    loop {
        let n = rustix::io::read(&fd, rustix::buffer::spare_capacity(&mut out))?;
        if n == 0 || out.len() < out.capacity() {
            return Ok(out);
        }
        out.reserve(out.capacity());
    }
}

/// For tests: spawns `command` and returns once its exec is complete. `spawn` returns as soon
/// as the child has left this process's memory, which is before the kernel has closed its
/// close-on-exec descriptors, named it, or set up its environment; a test that looks at the
/// child earlier sees a half-made process. The environment is set up last, so its being
/// readable says the exec is done (the command must have one).
#[cfg(test)]
pub fn spawn_execed(command: &mut std::process::Command) -> std::process::Child {
    let child = command.spawn().expect("the command starts");
    let environ = format!("/proc/{}/environ", child.id());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::fs::read(&environ).map_or(true, |e| e.is_empty()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the child never exec'd"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    child
}

/// Closes every descriptor above stderr that this process inherited: a daemon or keeper
/// must not hold a pipe its caller's caller leaked to it (that would keep, say, the output
/// of `out=$(berth up)` open). Call first thing, before opening anything.
pub fn close_inherited_fds() {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    // Collected first, and the listing's own descriptor (closed with it) skipped below.
    let fds: Vec<i32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&fd| fd > 2)
        .collect();
    for fd in fds {
        // A descriptor that no longer exists (the listing's) answers EBADF and is skipped.
        // SAFETY: called before this process opens anything, so nothing owns these.
        let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        if rustix::io::fcntl_getfd(borrowed).is_ok() {
            unsafe { rustix::io::close(fd) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proc_file_is_read_whole_however_long() {
        // An environment of over 10 KiB: more than the first read asks for.
        let mut sleeper = spawn_execed(
            std::process::Command::new("sleep")
                .arg("30")
                .env("BERTH_TEST_LONG", "x".repeat(10_000)),
        );
        for file in ["environ", "cmdline"] {
            let ours = read_proc(sleeper.id(), file).unwrap();
            let whole = std::fs::read(format!("/proc/{}/{file}", sleeper.id())).unwrap();
            assert_eq!(ours, whole, "{file}");
        }
        assert!(read_proc(sleeper.id(), "environ").unwrap().len() > 10_000);
        sleeper.kill().unwrap();
        sleeper.wait().unwrap();
        assert!(read_proc(sleeper.id(), "cmdline").is_err());
    }
}
