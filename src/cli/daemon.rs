//! `berth daemon` (run the supervisor in the foreground), `berth daemon stop` (stop it, leave
//! the services running), and starting it in the background for the other commands.

use super::args::Global;
use super::{Exit, Failure, config_path, options, report};
use crate::api::client::{ClientError, call};
use crate::config;
use crate::daemon::paths::Paths;
use crate::daemon::server;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a command waits for a daemon it started to answer.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// The state dir: `BERTH_STATE_DIR`, or the config's.
pub fn state_dir(global: &Global) -> Result<PathBuf, Failure> {
    if let Some(dir) = options(global).state_dir {
        return Ok(dir);
    }
    let path = config_path(global)?;
    Ok(config::load(&path, &options(global))
        .map_err(report)?
        .state_dir)
}

pub fn run(global: &Global, stop: bool, announce: bool) -> Result<Exit, Failure> {
    let paths = Paths::new(&state_dir(global)?);
    if stop {
        return match call::<(), serde_json::Value>(
            &paths.socket,
            "POST",
            "/v1/daemon/stop",
            None,
            Duration::from_secs(10),
        ) {
            Ok(_) => {
                if !global.quiet {
                    eprintln!("daemon stopped; services keep running");
                }
                Ok(Exit::Done)
            }
            Err(ClientError::NotRunning) => {
                if !global.quiet {
                    eprintln!("no daemon runs for {}", paths.state_dir.display());
                }
                Ok(Exit::Done)
            }
            Err(e) => Err(Failure::failed(e.to_string())),
        };
    }
    let berth = std::env::current_exe()
        .map_err(|e| Failure::usage(format!("cannot find the berth binary: {e}")))?;
    crate::process::close_inherited_fds();
    server::run(&paths, berth, announce).map_err(Failure::failed)?;
    Ok(Exit::Done)
}

/// Makes sure a daemon serves `paths`, starting one in the background if none does. Any
/// number of callers may race here: the daemon's lock lets exactly one of them win.
pub fn ensure(paths: &Paths) -> Result<(), Failure> {
    if std::os::unix::net::UnixStream::connect(&paths.socket).is_ok() {
        return Ok(());
    }
    crate::state::check_writable(&paths.state_dir).map_err(Failure::failed)?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&paths.log)
        .map_err(|e| Failure::failed(format!("cannot write {}: {e}", paths.log.display())))?;
    let berth = std::env::current_exe()
        .map_err(|e| Failure::usage(format!("cannot find the berth binary: {e}")))?;
    // The daemon says `ready` on this pipe once it serves: no polling for its socket.
    let (ready, announce) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| Failure::failed(format!("cannot start the daemon: {e}")))?;
    let mut command = Command::new(berth);
    command
        .args(["daemon", "--announce"])
        .env("BERTH_STATE_DIR", &paths.state_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::from(announce))
        // The daemon's own messages go to its log, never to the caller's terminal or pipe.
        .stderr(Stdio::from(log));
    // SAFETY: setsid is async-signal-safe. A session of its own: no terminal, no SIGHUP.
    unsafe {
        command.pre_exec(|| {
            rustix::process::setsid()?;
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .map_err(|e| Failure::failed(format!("cannot start the daemon: {e}")))?;
    // Our copy of the pipe's write end goes with the command, so the pipe ends if the
    // daemon exits without a word (it lost the race for the lock, or failed).
    drop(command);
    let deadline = Instant::now() + START_TIMEOUT;
    if announced(&ready, deadline) {
        return Ok(());
    }
    loop {
        if std::os::unix::net::UnixStream::connect(&paths.socket).is_ok() {
            return Ok(());
        }
        // A daemon that lost the race for the lock exits at once; the winner's socket comes.
        let _ = child.try_wait();
        if Instant::now() >= deadline {
            return Err(Failure::failed(format!(
                "the daemon did not start within {}s; see {}",
                START_TIMEOUT.as_secs(),
                paths.log.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Whether the daemon said `ready` on `pipe` before `deadline`; `false` once the pipe ends
/// without it.
fn announced(pipe: &impl std::os::fd::AsFd, deadline: Instant) -> bool {
    use rustix::event::{PollFd, PollFlags, poll};
    let mut said = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut fds = [PollFd::new(pipe, PollFlags::IN)];
        match poll(&mut fds, Some(&crate::timeout::timespec(left))) {
            Ok(0) => return false,
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return false,
        }
        let mut buf = [0u8; 16];
        match rustix::io::read(pipe, &mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => said.extend_from_slice(&buf[..n]),
        }
        if said.starts_with(server::ANNOUNCEMENT) {
            return true;
        }
    }
}
