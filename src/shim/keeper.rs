//! The shim's life: start the service, copy its output into the log, stop it when asked,
//! make sure nothing of it survives, record how it ended.

use super::spec::ShimSpec;
use crate::logs::time::now_ms;
use crate::logs::writer::{LineBuffer, LogWriter, Stream};
use crate::process::{ProcessId, table};
use crate::state::run_file::{Outcome, RunFile};
use crate::state::write_atomic;
use crate::timeout::timespec;
use rustix::event::{PollFd, PollFlags, poll};
use rustix::process::{Signal, WaitOptions, WaitStatus};
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long leftovers of a service that exited by itself get to end after the stop signal.
const LEFTOVER_GRACE: Duration = Duration::from_secs(2);

/// How long a daemonizing command's pid file may take to appear after the command exits.
const PIDFILE_WAIT: Duration = Duration::from_secs(5);

/// The size asked for the service's output pipes.
const PIPE_SIZE: usize = 1 << 20;

/// How often to look for processes that end without telling us (not our children).
const RECHECK: Duration = Duration::from_millis(20);

/// Runs the service described by `spec` until it has ended and nothing of it is left.
pub fn run(spec: &ShimSpec) -> io::Result<()> {
    // Its own session: no controlling terminal, untouched by signals sent to the caller's group.
    let _ = rustix::process::setsid();
    let me = ProcessId::of(std::process::id())?;
    rustix::process::set_child_subreaper(Some(rustix::process::getpid()))?;
    let signals = Signals::install()?;
    let mut log = LogWriter::open(&spec.log, spec.log_max_size, spec.log_keep)?;
    let mut record = RunFile {
        project: spec.project.clone(),
        service: spec.service.clone(),
        shim: me,
        main: None,
        pgid: None,
        port: spec.port,
        log: spec.log.clone(),
        started_at_ms: now_ms(),
        outcome: Outcome::Running,
        ready: false,
    };
    let notify = if spec.notify {
        Some(NotifySocket::bind(me.pid)?)
    } else {
        None
    };

    let (out_read, out_write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    let (err_read, err_write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    // A larger pipe lets a chatty service write on while the shim is busy writing its log,
    // with fewer wake-ups on both sides. Best effort: the limit may be lower
    // (/proc/sys/fs/pipe-max-size), and 64 KiB still works.
    for pipe in [&out_read, &err_read] {
        let _ = rustix::pipe::fcntl_setpipe_size(pipe, PIPE_SIZE);
    }
    let mut command = service_command(spec);
    if let Some(n) = &notify {
        command.env("NOTIFY_SOCKET", n.address());
    }
    let spawned = command
        .stdout(Stdio::from(out_write))
        .stderr(Stdio::from(err_write))
        .spawn();
    // Dropping the command closes our copies of the pipes' write ends, so the pipes reach
    // end-of-file once the service and everything it forked have closed theirs.
    drop(command);
    let child = match spawned {
        Ok(child) => child,
        Err(e) => {
            let error = format!("cannot start `{}`: {e}", spec.argv.join(" "));
            log.line(Stream::Berth, error.as_bytes());
            record.outcome = Outcome::FailedToStart { error };
            save(spec, &record, &mut log);
            return Ok(());
        }
    };
    let main = ProcessId::of(child.id())?;
    record.main = Some(main);
    record.pgid = Some(main.pid);
    save(spec, &record, &mut log);

    let mut keeper = Keeper {
        spec,
        me,
        main,
        record,
        notify,
        followed_pidfile: false,
        log,
        status: None,
        stop_requested: false,
        leftovers_signalled: false,
        kill_at: None,
        killed: false,
        read_buf: Vec::with_capacity(64 * 1024),
    };
    keeper.watch(&signals, out_read, err_read)?;

    let (code, signal) = match keeper.status {
        Some(status) => (status.exit_status(), status.terminating_signal()),
        None => (None, None),
    };
    let note = match (code, signal) {
        (Some(c), _) => format!("exited with code {c}"),
        (_, Some(s)) => format!("killed by signal {s}"),
        _ => "ended".to_string(),
    };
    keeper.log.line(Stream::Berth, note.as_bytes());
    let mut record = keeper.record;
    record.outcome = Outcome::Exited {
        code,
        signal,
        stopped: keeper.stop_requested,
        ended_at_ms: now_ms(),
    };
    save(spec, &record, &mut keeper.log);
    Ok(())
}

/// Records the run file. A full or read-only state dir must not cost the service its
/// keeper, so a failure is noted in the log (itself best effort) and the shim carries on.
fn save(spec: &ShimSpec, record: &RunFile, log: &mut LogWriter) {
    let written = serde_json::to_vec_pretty(record)
        .map_err(io::Error::other)
        .and_then(|json| write_atomic(&spec.run_file, &json));
    if let Err(e) = written {
        let note = format!(
            "cannot record the run file {}: {e}",
            spec.run_file.display()
        );
        log.line(Stream::Berth, note.as_bytes());
    }
}

/// The service's command: its own process group, the given environment only, no stdin.
fn service_command(spec: &ShimSpec) -> Command {
    let mut cmd = Command::new(&spec.argv[0]);
    cmd.args(&spec.argv[1..])
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&spec.cwd)
        .stdin(Stdio::null())
        // Its own process group, set by the spawn itself (no code of ours runs in the child,
        // so the standard library can spawn without copying the shim's memory).
        .process_group(0);
    cmd
}

/// SIGTERM/SIGINT/SIGHUP ask for a stop; SIGCHLD says a process ended. Each wakes the loop
/// through a socket pair (the self-pipe pattern), so `poll` is the only place that waits.
struct Signals {
    wake: UnixStream,
    stop: Arc<AtomicBool>,
}

impl Signals {
    fn install() -> io::Result<Signals> {
        use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM};
        let (wake, notify) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        for signal in [SIGTERM, SIGINT, SIGHUP] {
            signal_hook::flag::register(signal, Arc::clone(&stop))?;
            signal_hook::low_level::pipe::register(signal, notify.try_clone()?)?;
        }
        signal_hook::low_level::pipe::register(SIGCHLD, notify)?;
        Ok(Signals { wake, stop })
    }

    /// Empties the wake-up socket; returns whether anything was in it.
    fn drain(&self) -> bool {
        let mut buf = [0u8; 64];
        let mut any = false;
        while let Ok(n) = (&self.wake).read(&mut buf) {
            if n == 0 {
                break;
            }
            any = true;
        }
        any
    }
}

struct Keeper<'a> {
    spec: &'a ShimSpec,
    me: ProcessId,
    main: ProcessId,
    /// What the run file says; saved again when the service reports itself ready.
    record: RunFile,
    notify: Option<NotifySocket>,
    followed_pidfile: bool,
    log: LogWriter,
    status: Option<WaitStatus>,
    stop_requested: bool,
    leftovers_signalled: bool,
    /// When whatever is left gets SIGKILL.
    kill_at: Option<Instant>,
    killed: bool,
    /// Where output is read into (64 KiB, reused).
    read_buf: Vec<u8>,
}

/// One of the service's output pipes.
struct Output {
    fd: Option<OwnedFd>,
    stream: Stream,
    lines: LineBuffer,
}

impl Keeper<'_> {
    fn watch(&mut self, signals: &Signals, out: OwnedFd, err: OwnedFd) -> io::Result<()> {
        let mut outputs = [
            Output {
                fd: Some(out),
                stream: Stream::Out,
                lines: LineBuffer::default(),
            },
            Output {
                fd: Some(err),
                stream: Stream::Err,
                lines: LineBuffer::default(),
            },
        ];
        // Whether something happened that may have ended the last process (a SIGCHLD, a
        // pipe closing, a deadline): only then is the process table scanned.
        let mut may_be_done = true;
        loop {
            if signals.stop.swap(false, Ordering::SeqCst) {
                if self.stop_requested {
                    self.hurry();
                } else {
                    self.begin_stop();
                }
            }
            if self.status.is_some() && !self.leftovers_signalled && !self.follow_pidfile()? {
                self.signal_leftovers();
            }
            if self.kill_at.is_some_and(|at| Instant::now() >= at) && !self.killed {
                self.kill_everything();
                may_be_done = true;
            }
            let pipes_open = outputs.iter().any(|o| o.fd.is_some());
            if self.status.is_some() && may_be_done && !has_descendants(self.me.pid) && !pipes_open
            {
                return Ok(());
            }
            may_be_done = false;

            let timeout = match self.kill_at {
                Some(at) if !self.killed => at.saturating_duration_since(Instant::now()),
                // Killed processes that are not our children send no SIGCHLD: look again soon.
                Some(_) => RECHECK,
                None => Duration::from_secs(1),
            };
            let timeout = timespec(timeout);
            let mut fds: Vec<PollFd> = vec![PollFd::new(&signals.wake, PollFlags::IN)];
            if let Some(n) = &self.notify {
                fds.push(PollFd::new(&n.socket, PollFlags::IN));
            }
            fds.extend(
                outputs
                    .iter()
                    .filter_map(|o| o.fd.as_ref())
                    .map(|fd| PollFd::new(fd, PollFlags::IN)),
            );
            match poll(&mut fds, Some(&timeout)) {
                Ok(0) => may_be_done = true,
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
            drop(fds);

            for output in outputs.iter_mut() {
                if self.read_output(output)? {
                    may_be_done = true;
                }
            }
            if signals.drain() {
                self.reap();
                may_be_done = true;
            }
            self.read_notifications();
            if !pipes_open {
                // Nothing to poll but the signals: a leftover that closed its output still
                // keeps the shim; the timeout above brings the loop round again.
                may_be_done = true;
            }
        }
    }

    /// Reads what the pipe has; returns whether it reached end-of-file.
    fn read_output(&mut self, output: &mut Output) -> io::Result<bool> {
        let Some(fd) = output.fd.as_ref() else {
            return Ok(false);
        };
        // Read into spare capacity: only the pages a read fills are touched, so a quiet
        // service's shim never dirties the whole buffer.
        let buf = &mut self.read_buf;
        buf.clear();
        let log = &mut self.log;
        let stream = output.stream;
        // Non-blocking by way of poll: read once per wake-up; a full buffer comes back next round.
        let mut readable = [PollFd::new(fd, PollFlags::IN)];
        if poll(&mut readable, Some(&timespec(Duration::ZERO)))? == 0 {
            return Ok(false);
        }
        match rustix::io::read(fd.as_fd(), rustix::buffer::spare_capacity(buf)) {
            Ok(0) => {
                output.lines.finish(&mut |line| log.line(stream, line));
                output.fd = None;
                Ok(true)
            }
            Ok(n) => {
                // All the lines of one read in one write.
                output
                    .lines
                    .feed(&buf[..n], &mut |line| log.queue(stream, line));
                log.flush();
                Ok(false)
            }
            Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Takes `READY=1` from the service's notifications (sd_notify) and records it once.
    fn read_notifications(&mut self) {
        let Some(n) = &self.notify else {
            return;
        };
        if !n.ready_sent() || self.record.ready {
            return;
        }
        self.record.ready = true;
        self.log
            .line(Stream::Berth, b"ready (READY=1 through NOTIFY_SOCKET)");
        save(self.spec, &self.record, &mut self.log);
    }

    /// For a `pidfile` service whose command exited with 0 (it daemonized): takes the pid
    /// written in the file as the main process from now on. Returns whether it did.
    fn follow_pidfile(&mut self) -> io::Result<bool> {
        let Some(path) = &self.spec.pidfile else {
            return Ok(false);
        };
        if self.followed_pidfile
            || self.stop_requested
            || self.status.and_then(|s| s.exit_status()) != Some(0)
        {
            return Ok(false);
        }
        self.followed_pidfile = true;
        // The daemon may write its pid file just after the parent exits: wait a little.
        let deadline = Instant::now() + PIDFILE_WAIT;
        let followed = loop {
            let pid = std::fs::read_to_string(path)
                .ok()
                .and_then(|t| t.trim().parse::<u32>().ok());
            if let Some(id) = pid
                .and_then(|p| ProcessId::of(p).ok())
                .filter(ProcessId::is_alive)
            {
                break Some(id);
            }
            if Instant::now() >= deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let Some(daemon) = followed else {
            let note = format!(
                "no live process in the pid file {} after the command exited",
                path.display()
            );
            self.log.line(Stream::Berth, note.as_bytes());
            return Ok(false);
        };
        self.log.line(
            Stream::Berth,
            format!("following pid {} from {}", daemon.pid, path.display()).as_bytes(),
        );
        self.main = daemon;
        self.status = None;
        self.record.main = Some(daemon);
        self.record.pgid = table::stat(daemon.pid).ok().map(|s| s.pgrp);
        save(self.spec, &self.record, &mut self.log);
        Ok(true)
    }

    /// Collects every ended child: the service's main process, and orphans reparented to us.
    /// (`wait`, any child: the service runs in a process group of its own, which
    /// `waitpid(None)`, the caller's group only, would not see.)
    fn reap(&mut self) {
        while let Ok(Some((pid, status))) = rustix::process::wait(WaitOptions::NOHANG) {
            if pid.as_raw_nonzero().get() as u32 == self.main.pid {
                self.status = Some(status);
            }
        }
    }

    /// The stop command, or the stop signal to the service's group; SIGKILL after the timeout.
    fn begin_stop(&mut self) {
        self.stop_requested = true;
        let timeout =
            super::stop::take_override(&self.spec.run_file).unwrap_or(self.spec.stop_timeout);
        self.kill_at = Some(Instant::now() + timeout);
        if timeout.is_zero() {
            // `down --force`: no grace.
            return self.kill_everything();
        }
        if self.status.is_some() {
            return;
        }
        match &self.spec.stop_command {
            Some(argv) => {
                self.log.line(
                    Stream::Berth,
                    format!("stopping: running `{}`", argv.join(" ")).as_bytes(),
                );
                let started = Command::new(&argv[0])
                    .args(&argv[1..])
                    .env_clear()
                    .envs(self.spec.env.iter().map(|(k, v)| (k, v)))
                    .current_dir(&self.spec.cwd)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn();
                if let Err(e) = started {
                    self.log.line(
                        Stream::Berth,
                        format!(
                            "stop command failed: {e}; sending {}",
                            self.spec.stop_signal
                        )
                        .as_bytes(),
                    );
                    self.signal_group(self.spec.stop_signal.number());
                }
            }
            None => {
                self.log.line(
                    Stream::Berth,
                    format!("stopping: sending SIG{}", self.spec.stop_signal).as_bytes(),
                );
                self.signal_group(self.spec.stop_signal.number());
            }
        }
    }

    /// A second stop request while stopping (`down --force` after a `down`, a second Ctrl-C
    /// of `up --foreground`): its timeout override applies if it is sooner.
    fn hurry(&mut self) {
        let Some(timeout) = super::stop::take_override(&self.spec.run_file) else {
            return;
        };
        let at = Instant::now() + timeout;
        self.kill_at = Some(self.kill_at.map_or(at, |old| old.min(at)));
        if timeout.is_zero() && !self.killed {
            self.kill_everything();
        }
    }

    /// After the main process ended: whatever it left gets the stop signal, then SIGKILL.
    fn signal_leftovers(&mut self) {
        self.leftovers_signalled = true;
        if !has_descendants(self.me.pid) {
            return;
        }
        let leftovers = table::descendants(self.me.pid);
        if leftovers.is_empty() {
            return;
        }
        let signal = self.spec.stop_signal.number();
        self.signal_group(signal);
        for pid in &leftovers {
            signal_pid(*pid, signal);
        }
        let grace = Instant::now() + LEFTOVER_GRACE.min(self.spec.stop_timeout);
        self.kill_at = Some(self.kill_at.map_or(grace, |at| at.min(grace)));
        self.log.line(
            Stream::Berth,
            format!(
                "the main process ended; stopping {} process(es) it left",
                leftovers.len()
            )
            .as_bytes(),
        );
    }

    fn kill_everything(&mut self) {
        self.killed = true;
        let left = table::descendants(self.me.pid);
        if left.is_empty() {
            return;
        }
        self.log.line(
            Stream::Berth,
            format!(
                "still running after the stop timeout: killing {} process(es)",
                left.len()
            )
            .as_bytes(),
        );
        self.signal_group(Signal::KILL.as_raw());
        for pid in left {
            signal_pid(pid, Signal::KILL.as_raw());
        }
    }

    /// The service's process group, and its main process when that left the group (a
    /// daemonized one followed through its pid file).
    fn signal_group(&self, signal: i32) {
        let pgid = self.record.pgid.unwrap_or(self.main.pid);
        if let (Some(group), Some(sig)) = (crate::process::pid(pgid), signal_of(signal)) {
            let _ = rustix::process::kill_process_group(group, sig);
        }
        if pgid != self.main.pid {
            signal_pid(self.main.pid, signal);
        }
    }
}

/// Whether anything of the service is left. The shim is a child subreaper with one thread,
/// so every live descendant has an ancestor among its direct children, which the kernel lists
/// in one small file; the whole process table is read only where that file is missing
/// (kernels without CONFIG_PROC_CHILDREN).
fn has_descendants(me: u32) -> bool {
    match table::children(me) {
        Some(children) => !children.is_empty(),
        None => !table::descendants(me).is_empty(),
    }
}

/// Signals a descendant by identity (pid and start time), so a pid reused meanwhile is spared.
fn signal_pid(pid: u32, signal: i32) {
    if let (Ok(id), Some(signal)) = (ProcessId::of(pid), signal_of(signal)) {
        let _ = id.signal(signal);
    }
}

fn signal_of(number: i32) -> Option<Signal> {
    Signal::from_named_raw(number)
}

/// The datagram socket a `notify: true` service reports to, in the abstract namespace (no
/// file to clean up, no path-length limit): `NOTIFY_SOCKET=@berth-notify/<shim pid>`.
struct NotifySocket {
    socket: std::os::unix::net::UnixDatagram,
    name: String,
}

impl NotifySocket {
    fn bind(shim_pid: u32) -> io::Result<NotifySocket> {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("berth-notify/{shim_pid}");
        let address = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
        let socket = std::os::unix::net::UnixDatagram::bind_addr(&address)?;
        socket.set_nonblocking(true)?;
        Ok(NotifySocket { socket, name })
    }

    fn address(&self) -> String {
        format!("@{}", self.name)
    }

    /// Reads every waiting message; whether one of them said `READY=1`.
    fn ready_sent(&self) -> bool {
        let mut buf = [0u8; 4096];
        let mut ready = false;
        while let Ok(n) = self.socket.recv(&mut buf) {
            ready |= String::from_utf8_lossy(&buf[..n])
                .lines()
                .any(|l| l.trim() == "READY=1");
        }
        ready
    }
}
