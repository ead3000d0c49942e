//! Starting shims. A shim is forked by the forker (`berth shim --forker`, one per daemon,
//! started with the daemon so the first service does not wait for it), which costs a fork
//! instead of starting the berth binary again. When the forker cannot serve (it was killed,
//! or never started), the shim is run directly as `berth shim`, and the next start tries a
//! fresh forker.

use crate::process::{ProcessId, markers};
use crate::shim::ShimSpec;
use crate::shim::forker::{self, REPLY_LEN, Reply};
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

/// How long a start waits for the forker's answer before it stops trusting the forker.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(3);

/// A shim just started.
pub enum Shim {
    /// Run directly: the daemon's own child.
    Child(Child),
    /// Forked by the forker: not the daemon's child.
    Forked(ProcessId),
}

pub struct Spawner {
    berth: PathBuf,
    forker: Mutex<Option<Forker>>,
}

impl Spawner {
    /// Shims will be the berth binary at `berth`.
    pub fn new(berth: PathBuf) -> Spawner {
        Spawner {
            berth,
            forker: Mutex::new(None),
        }
    }

    /// Starts the forker now, so the first service started does not wait for it.
    pub fn warm(&self) {
        if let Err(e) = self.with_forker(|_| Ok(())) {
            crate::daemon::log(format_args!("cannot start the shim forker: {e}"));
        }
    }

    /// Starts the shim for `spec`.
    pub fn spawn(&self, spec: &ShimSpec) -> io::Result<Shim> {
        prepare(spec)?;
        let json = serde_json::to_vec(spec).map_err(io::Error::other)?;
        match self.with_forker(|forker| forker.fork(&json)) {
            Ok(id) => Ok(Shim::Forked(id)),
            Err(e) => {
                crate::daemon::log(format_args!(
                    "the shim forker did not start `{}` ({e}); running its shim directly",
                    spec.service
                ));
                run_directly(&self.berth, &json).map(Shim::Child)
            }
        }
    }

    /// Runs `f` with the forker, starting one if there is none; a forker that failed once is
    /// let go (the next start begins a fresh one).
    fn with_forker<T>(&self, f: impl FnOnce(&mut Forker) -> io::Result<T>) -> io::Result<T> {
        let mut slot = self.forker.lock().unwrap_or_else(|e| e.into_inner());
        let forker = match slot.as_mut() {
            Some(forker) => forker,
            None => slot.insert(Forker::start(&self.berth)?),
        };
        let result = f(forker);
        if result.is_err() {
            *slot = None;
        }
        result
    }
}

/// The run directory exists, and no run file (or stop request) of an earlier instance is
/// left to be taken for the new one's.
fn prepare(spec: &ShimSpec) -> io::Result<()> {
    if let Some(dir) = spec.run_file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    for stale in [
        spec.run_file.clone(),
        crate::shim::stop::path(&spec.run_file),
    ] {
        match std::fs::remove_file(&stale) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

/// `berth shim` with the given stdin, detached from the daemon's output: nothing it leaves
/// running keeps a caller's stdout or stderr open.
fn shim_command(berth: &Path, stdin: Stdio) -> Command {
    let mut command = Command::new(berth);
    command
        .arg("shim")
        // The shim itself is no part of the service: only what it starts carries the marks.
        .env_remove(markers::STACK)
        .env_remove(markers::PROJECT)
        .env_remove(markers::SERVICE)
        .stdin(stdin)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // The forker's and every shim's services start with the user's descriptor limit.
    crate::process::limits::restore_in(&mut command);
    command
}

/// Runs `berth shim` and hands it `spec` on stdin.
fn run_directly(berth: &Path, spec: &[u8]) -> io::Result<Child> {
    let mut child = shim_command(berth, Stdio::piped()).spawn()?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    stdin.write_all(spec)?;
    Ok(child)
}

/// The daemon's end of a running forker.
struct Forker {
    process: Child,
    connection: UnixStream,
}

impl Forker {
    fn start(berth: &Path) -> io::Result<Forker> {
        let (ours, theirs) = UnixStream::pair()?;
        ours.set_read_timeout(Some(ANSWER_TIMEOUT))?;
        ours.set_write_timeout(Some(ANSWER_TIMEOUT))?;
        let process = shim_command(berth, Stdio::from(OwnedFd::from(theirs)))
            .arg("--forker")
            .spawn()?;
        Ok(Forker {
            process,
            connection: ours,
        })
    }

    /// Has a shim forked for `spec`. An error means no shim was forked for it, so starting
    /// one another way cannot run the service twice.
    fn fork(&mut self, spec: &[u8]) -> io::Result<ProcessId> {
        // A request that was not sent whole cannot have been acted on.
        forker::write_request(&mut self.connection, spec)?;
        let mut reply = [0u8; REPLY_LEN];
        if let Err(e) = self.connection.read_exact(&mut reply) {
            if !matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) {
                // The end of the connection: the forker is gone without an answer, and a
                // shim it forked but did not answer for exits at its gate.
                return Err(e);
            }
            // A forker too slow to answer is stopped. An answer it gave meanwhile is still
            // read; without one, the end of the connection follows (its shims let go of
            // their copies at once). A shim answered for but not let through its gate
            // exits, and its supervisor sees a start that failed: never a second instance.
            let _ = self.process.kill();
            let _ = self.process.wait();
            self.connection.set_read_timeout(None)?;
            self.connection.read_exact(&mut reply)?;
        }
        match Reply::decode(&reply)? {
            Reply::Forked(id) => Ok(id),
            Reply::Failed(errno) => Err(io::Error::from_raw_os_error(errno)),
        }
    }
}

impl Drop for Forker {
    /// The forker goes with the daemon's end of it (it would exit at the end of its input
    /// anyway); the shims it forked live on, as shims outlive the daemon.
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}
