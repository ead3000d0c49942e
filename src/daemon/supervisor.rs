//! One service's life: start it through a shim, wait until it is ready, watch it (its shim's
//! exit, its health every `interval`), and on an ending ask the restart policy whether to
//! back off and start again, call it done, or give up (`failed`). Runs on a thread of its
//! own that sleeps in `poll` on the shim's pidfd and a wake-up socket, so a quiet service
//! costs nothing; a stop request wakes it at once.

use super::adopted::{self, Adopted};
use super::launch::shim_spec;
use super::policy::{self, Ending};
use super::port_plan::{self, Assigned};
use super::probe;
use super::readiness::{self, Readiness};
use super::rediscover::{self, Earlier};
use super::spawner::{Shim, Spawner};
use crate::api::metrics::CheckHistogram;
use crate::history::{CheckResult, History};
use crate::logs::time::now_ms;
use crate::ports::plan::{self, Decision};
use crate::process::ProcessId;
use crate::stack::Stack;
use crate::state::run_file::{Outcome, RunFile};
use crate::timeout::timespec;
use rustix::event::{PollFd, PollFlags, poll};
use rustix::process::Signal;
use rustix::process::{PidfdFlags, pidfd_open};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The states of SPEC.md's `status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ServiceState {
    Stopped,
    Waiting,
    Starting,
    Running,
    Stopping,
    Exited,
    Backoff,
    Failed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HealthState {
    Healthy,
    Unhealthy,
    Unknown,
}

impl ServiceState {
    pub const ALL: [ServiceState; 8] = [
        ServiceState::Stopped,
        ServiceState::Waiting,
        ServiceState::Starting,
        ServiceState::Running,
        ServiceState::Stopping,
        ServiceState::Exited,
        ServiceState::Backoff,
        ServiceState::Failed,
    ];

    /// The JSON's spelling, which `status`, `/metrics`, alert rules and the clients show.
    pub const fn name(self) -> &'static str {
        match self {
            ServiceState::Stopped => "stopped",
            ServiceState::Waiting => "waiting",
            ServiceState::Starting => "starting",
            ServiceState::Running => "running",
            ServiceState::Stopping => "stopping",
            ServiceState::Exited => "exited",
            ServiceState::Backoff => "backoff",
            ServiceState::Failed => "failed",
        }
    }
}

impl HealthState {
    pub const ALL: [HealthState; 3] = [
        HealthState::Healthy,
        HealthState::Unhealthy,
        HealthState::Unknown,
    ];

    /// The JSON's spelling.
    pub const fn name(self) -> &'static str {
        match self {
            HealthState::Healthy => "healthy",
            HealthState::Unhealthy => "unhealthy",
            HealthState::Unknown => "unknown",
        }
    }
}

/// What the supervisor knows of its service right now.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceStatus {
    pub state: ServiceState,
    pub health: HealthState,
    /// What keeps the current instance; `None` before one runs.
    pub keeper: Option<Keeper>,
    pub main: Option<ProcessId>,
    pub port: Option<u16>,
    pub restarts: u32,
    pub exit_code: Option<i32>,
    /// Why it failed, or the last problem seen.
    pub reason: Option<String>,
    /// What was decided about its port at its last start.
    pub note: Option<String>,
    pub started_at_ms: Option<u64>,
    /// When each restart decided within the last `restart_window` was (ms), oldest first.
    pub restart_times: Vec<u64>,
    /// The last ten health checks, oldest first: whether each passed.
    pub recent_checks: VecDeque<bool>,
    pub check_durations: CheckHistogram,
    pub check_failures: u64,
    /// The last health check's duration.
    pub last_check_ms: Option<f64>,
    /// Start to ready, of the last start that became ready.
    pub ready_ms: Option<u64>,
    /// Port decisions made for it, by kind (`moved`, `replaced`, …).
    pub port_decisions: BTreeMap<&'static str, u64>,
}

/// What keeps a service's instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keeper {
    /// Its shim, which holds its output and sees its exit status.
    Shim(ProcessId),
    /// Nothing: an instance berth adopted, watched from the outside (`main` is it).
    Adopted,
}

/// How many health checks the score looks back on.
pub const RECENT_CHECKS: usize = 10;

impl ServiceStatus {
    /// The shim keeping the current instance; `None` for an adopted one, or before one runs.
    pub fn shim(&self) -> Option<ProcessId> {
        match self.keeper? {
            Keeper::Shim(id) => Some(id),
            Keeper::Adopted => None,
        }
    }

    /// Failed checks among the last ten.
    pub fn failed_checks(&self) -> u32 {
        self.recent_checks.iter().filter(|ok| !**ok).count() as u32
    }

    /// Restarts within the `window` before `now_ms`.
    pub fn restarts_within(&self, window: Duration, now_ms: u64) -> u32 {
        let since = now_ms.saturating_sub(window.as_millis() as u64);
        self.restart_times.iter().filter(|t| **t >= since).count() as u32
    }

    fn checked(&mut self, ok: bool, took: Duration) {
        if self.recent_checks.len() == RECENT_CHECKS {
            self.recent_checks.pop_front();
        }
        self.recent_checks.push_back(ok);
        self.check_durations.observe(took.as_secs_f64());
        self.last_check_ms = Some(took.as_secs_f64() * 1000.0);
        self.check_failures += u64::from(!ok);
    }
}

/// What a supervisor needs to start its service.
#[derive(Clone)]
pub struct Launch {
    pub stack: Arc<Stack>,
    pub service: String,
    /// The caller's environment, under the service's own.
    pub base_env: Arc<BTreeMap<String, String>>,
    /// Every service's port as assigned (shared: a move is seen by dependents started after).
    pub ports: Arc<Assigned>,
    /// What starts the shims.
    pub spawner: Arc<Spawner>,
    /// Where events and health checks are recorded.
    pub history: History,
    /// Rung on every change of the status (the alerts look at it at once).
    pub bell: Arc<super::bell::Bell>,
    /// What runs of the service already: an instance to watch instead of starting one (a new
    /// daemon re-adopting it), or the remains of one to stop before starting.
    pub earlier: Option<Earlier>,
}

/// Dropping a supervisor leaves its service running: services outlive the supervisor.
pub struct Supervisor {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

struct Shared {
    status: Mutex<ServiceStatus>,
    changed: Condvar,
    stop: AtomicBool,
    /// A stop timeout overriding the service's (`down --timeout`, or zero for `--force`).
    stop_timeout: Mutex<Option<Duration>>,
    wake: UnixStream,
    bell: Arc<super::bell::Bell>,
}

impl Shared {
    fn update(&self, change: impl FnOnce(&mut ServiceStatus)) {
        let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
        let before = (status.state, status.health);
        change(&mut status);
        let after = (status.state, status.health);
        self.changed.notify_all();
        drop(status);
        if before != after {
            self.bell.ring();
        }
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

impl Supervisor {
    pub fn start(launch: Launch) -> io::Result<Supervisor> {
        let (wake_read, wake) = UnixStream::pair()?;
        wake_read.set_nonblocking(true)?;
        let shared = Arc::new(Shared {
            status: Mutex::new(ServiceStatus {
                state: ServiceState::Starting,
                health: HealthState::Unknown,
                keeper: None,
                main: None,
                port: launch.ports.get(&launch.service),
                restarts: 0,
                exit_code: None,
                reason: None,
                note: None,
                started_at_ms: None,
                restart_times: Vec::new(),
                recent_checks: VecDeque::new(),
                check_durations: CheckHistogram::default(),
                check_failures: 0,
                last_check_ms: None,
                ready_ms: None,
                port_decisions: BTreeMap::new(),
            }),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
            stop_timeout: Mutex::new(None),
            wake,
            bell: Arc::clone(&launch.bell),
        });
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(format!("supervise {}", launch.service))
            .spawn(move || supervise(&launch, &thread_shared, &wake_read))?;
        Ok(Supervisor {
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    pub fn status(&self) -> ServiceStatus {
        self.shared
            .status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Waits until `done` holds for the status, or `timeout` passes; returns the status then.
    pub fn wait_for(
        &self,
        timeout: Duration,
        done: impl Fn(&ServiceStatus) -> bool,
    ) -> ServiceStatus {
        let deadline = Instant::now() + timeout;
        let mut status = self.shared.status.lock().unwrap_or_else(|e| e.into_inner());
        while !done(&status) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            status = self
                .shared
                .changed
                .wait_timeout(status, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        status.clone()
    }

    /// Stops the service (its shim applies the stop signal or command, then SIGKILL after the
    /// stop timeout) and waits until nothing of it runs.
    pub fn stop(&self) -> ServiceStatus {
        self.stop_within(None)
    }

    /// Stops the service with `timeout` instead of its own stop timeout (zero: SIGKILL at once).
    pub fn stop_within(&self, timeout: Option<Duration>) -> ServiceStatus {
        *self
            .shared
            .stop_timeout
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = timeout;
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = (&self.shared.wake).write_all(b"s");
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
        self.status()
    }
}

/// How a run begins.
enum Begin {
    /// Watch the instance a live shim keeps (left by an earlier daemon).
    Kept(RunFile),
    /// Watch an instance no shim keeps. `first`: adopted now, not again by a new daemon.
    Adopt { id: ProcessId, first: bool },
    /// Start a new instance through a shim.
    Start,
}

/// What the port plan left to do.
enum Settled {
    Start,
    Adopt(ProcessId),
}

/// The instance `watch` watches: kept by a shim, or adopted with none.
enum Instance<'a> {
    Kept(&'a mut ShimHandle),
    Adopted(&'a mut Adopted),
}

impl Instance<'_> {
    /// A descriptor readable once the instance (its shim, when it has one) has ended.
    fn take_pidfd(&mut self) -> Option<OwnedFd> {
        match self {
            Instance::Kept(shim) => shim.take_pidfd(),
            Instance::Adopted(adopted) => adopted.take_pidfd(),
        }
    }

    /// Waits until it has ended, then says how. An adopted instance's exit status cannot be
    /// seen: it was not berth's child.
    fn ended(&mut self, spec: &crate::shim::ShimSpec) -> RunEnd {
        match self {
            Instance::Kept(shim) => {
                shim.wait();
                ended_from_file(spec)
            }
            Instance::Adopted(adopted) => {
                adopted.id.wait_gone();
                RunEnd::Ended {
                    ending: Ending::Vanished,
                    code: None,
                }
            }
        }
    }

    /// Stops it and waits until nothing of it runs.
    fn stop(&mut self, w: &Watched) {
        match self {
            Instance::Kept(shim) => stop_shim(shim, w.shared, &w.spec.run_file),
            Instance::Adopted(adopted) => {
                w.shared.update(|s| s.state = ServiceState::Stopping);
                let timeout = *w
                    .shared
                    .stop_timeout
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                adopted.stop(
                    w.stack,
                    w.service,
                    timeout.unwrap_or(w.service.stop.timeout),
                );
            }
        }
    }
}

/// The shim of the current run: one this supervisor started, or one found running.
enum ShimHandle {
    /// Run by this daemon: its child, whose pid no other process takes before it is reaped.
    Child(Child),
    /// Not this daemon's child (forked by the forker, or left by an earlier daemon): held
    /// through a pidfd opened while it was this very process (`None`: none could be had, or it was handed to `watch`).
    /// Its outcome is read from the run file.
    Other {
        id: ProcessId,
        pidfd: Option<OwnedFd>,
    },
}

impl ShimHandle {
    fn other(id: ProcessId) -> ShimHandle {
        ShimHandle::Other {
            id,
            pidfd: id.pidfd().ok().flatten(),
        }
    }

    fn pid(&self) -> u32 {
        match self {
            ShimHandle::Child(child) => child.id(),
            ShimHandle::Other { id, .. } => id.pid,
        }
    }

    fn id(&self) -> Option<ProcessId> {
        match self {
            ShimHandle::Child(child) => ProcessId::of(child.id()).ok(),
            ShimHandle::Other { id, .. } => Some(*id),
        }
    }

    /// A pidfd of the shim, readable once it has exited; `None` if none can be had. The
    /// handle's own is handed over (one descriptor per service, not two).
    fn take_pidfd(&mut self) -> Option<OwnedFd> {
        match self {
            ShimHandle::Child(child) => crate::process::pid(child.id())
                .and_then(|pid| pidfd_open(pid, PidfdFlags::empty()).ok()),
            ShimHandle::Other { pidfd, .. } => pidfd.take(),
        }
    }

    /// Waits until the shim has exited.
    fn wait(&mut self) {
        match self {
            ShimHandle::Child(child) => {
                let _ = child.wait();
            }
            ShimHandle::Other {
                pidfd: Some(pidfd), ..
            } => crate::process::identity::wait_exit(pidfd),
            ShimHandle::Other { id, pidfd: None } => id.wait_gone(),
        }
    }
}

/// A shim still alive from an earlier run (its service ending) must be gone before a new one
/// writes the same run file.
fn retire_previous(run_file: &std::path::Path) {
    if let Some(previous) = RunFile::read(run_file)
        && previous.shim.is_alive()
    {
        let _ = previous.shim.signal(rustix::process::Signal::TERM);
        previous.shim.wait_gone();
    }
}

/// How one run of the service ended.
enum RunEnd {
    /// Stopped on request: the supervisor is done.
    Stopped,
    /// Ended by itself (or unhealthy): the policy decides.
    Ended { ending: Ending, code: Option<i32> },
    /// Cannot go on: the supervisor is done, the service `failed`.
    Failed(String),
}

fn supervise(launch: &Launch, shared: &Shared, wake: &UnixStream) {
    let stack = &launch.stack;
    let Some(service) = stack.service(&launch.service) else {
        shared.update(|s| {
            s.state = ServiceState::Failed;
            s.reason = Some(format!("no service `{}`", launch.service));
        });
        return;
    };
    let port_of = |name: &str| launch.ports.get(name);
    let journal = |kind: &str, pid: Option<u32>, message: &str| {
        let data = match pid {
            Some(pid) => serde_json::json!({ "pid": pid }),
            None => serde_json::Value::Null,
        };
        launch
            .history
            .event(Some(&service.name), kind, message, data);
    };
    let mut restarts = policy::History::default();
    // Whether this start already planned its port a second time (see below).
    let mut replanned = false;
    // What runs of the service already, looked at before the first start only.
    let mut earlier = launch.earlier.clone();
    loop {
        if shared.stopping() {
            shared.update(|s| s.state = ServiceState::Stopped);
            return;
        }
        shared.update(|s| {
            s.state = ServiceState::Starting;
            s.health = HealthState::Unknown;
        });
        let begin = match earlier.take() {
            Some(Earlier::Running(record)) if record.shim.is_alive() => {
                if let Some(port) = record.port {
                    launch.ports.set(&service.name, port);
                }
                Begin::Kept(record)
            }
            Some(Earlier::Adopted(adoption)) if adoption.adopted.is_alive() => {
                if let Some(port) = adoption.port {
                    launch.ports.set(&service.name, port);
                }
                Begin::Adopt {
                    id: adoption.adopted,
                    first: false,
                }
            }
            found => {
                let unkept = match found {
                    Some(Earlier::Orphaned(remains)) => remains,
                    _ => Vec::new(),
                };
                let healthy = |holds_port: bool| {
                    let spec = shim_spec(stack, service, &launch.base_env, &port_of);
                    adopted::healthy(service, &spec, &port_of, holds_port)
                };
                match settle_port(
                    stack,
                    service,
                    &launch.ports,
                    shared,
                    &launch.history,
                    &unkept,
                    &healthy,
                ) {
                    Ok(Settled::Adopt(id)) => Begin::Adopt { id, first: true },
                    Ok(Settled::Start) => Begin::Start,
                    Err(why) => {
                        return shared.update(|s| {
                            s.state = ServiceState::Failed;
                            s.health = HealthState::Unhealthy;
                            s.reason = Some(why);
                        });
                    }
                }
            }
        };
        let spec = shim_spec(stack, service, &launch.base_env, &port_of);
        let watched = Watched {
            stack,
            service,
            spec: &spec,
            shared,
            wake,
            port_of: &port_of,
            history: &launch.history,
        };
        let (end, started_ms) = match begin {
            Begin::Adopt { id, first } => {
                let mut adopted =
                    Adopted::take(stack, service, id, launch.ports.get(&service.name), first);
                let started_ms = adopted.started_at_ms();
                journal(
                    "adopted",
                    Some(id.pid),
                    &format!(
                        "pid {} is watched from the outside: {}",
                        id.pid,
                        adopted::NOT_CAPTURED
                    ),
                );
                shared.update(|s| {
                    s.keeper = Some(Keeper::Adopted);
                    s.main = Some(id);
                    s.started_at_ms = Some(started_ms);
                    s.state = ServiceState::Running;
                    s.health = HealthState::Healthy;
                    s.reason = None;
                    // Adopted again by this daemon: the decision of the first is gone.
                    if !first {
                        s.note = Some(adopted::NOT_CAPTURED.to_string());
                    }
                });
                (
                    watch(&watched, &mut Instance::Adopted(&mut adopted)),
                    started_ms,
                )
            }
            begin => {
                let log_offset = std::fs::metadata(&spec.log).map(|m| m.len()).unwrap_or(0);
                let adopting = matches!(begin, Begin::Kept(_));
                let (mut shim, started_ms) = match begin {
                    Begin::Kept(record) => {
                        journal("adopted", record.main.map(|m| m.pid), "");
                        (ShimHandle::other(record.shim), record.started_at_ms)
                    }
                    _ => {
                        retire_previous(&spec.run_file);
                        match launch.spawner.spawn(&spec) {
                            Ok(Shim::Child(child)) => (ShimHandle::Child(child), now_ms()),
                            Ok(Shim::Forked(id)) => (ShimHandle::other(id), now_ms()),
                            Err(e) => {
                                return shared.update(|s| {
                                    s.state = ServiceState::Failed;
                                    s.reason =
                                        Some(format!("cannot start its keeper process: {e}"));
                                });
                            }
                        }
                    }
                };
                let shim_id = shim.id();
                shared.update(|s| {
                    s.keeper = shim_id.map(Keeper::Shim);
                    s.main = None;
                    s.started_at_ms = Some(started_ms);
                });
                let ready = readiness::wait(
                    service,
                    &spec,
                    shim.pid(),
                    log_offset,
                    &port_of,
                    &|main| {
                        shared.update(|s| s.main = Some(main));
                        // An adopted instance was started before; its `adopted` event says so.
                        if !adopting {
                            journal("started", Some(main.pid), "");
                        }
                    },
                    &|| shared.stopping(),
                );
                let main = RunFile::read(&spec.run_file).and_then(|r| r.main);
                shared.update(|s| s.main = main);
                let never_ready = matches!(ready, Readiness::Exited(_) | Readiness::TimedOut(_));
                let end = match ready {
                    Readiness::Ready => {
                        replanned = false;
                        // An adopted instance became ready before this daemon: its `adopted` event
                        // stands for this, and the time its start took was logged back then.
                        let ready_ms = (!adopting).then(|| now_ms().saturating_sub(started_ms));
                        if let Some(ms) = ready_ms {
                            launch.history.event(
                                Some(&service.name),
                                "ready",
                                &format!("ready in {ms}ms"),
                                serde_json::json!({ "pid": shared_main(shared), "ready_ms": ms }),
                            );
                        }
                        shared.update(|s| {
                            s.state = ServiceState::Running;
                            s.health = HealthState::Healthy;
                            s.reason = None;
                            s.ready_ms = ready_ms.or(s.ready_ms);
                        });
                        watch(&watched, &mut Instance::Kept(&mut shim))
                    }
                    Readiness::Cancelled => {
                        stop_shim(&mut shim, shared, &spec.run_file);
                        RunEnd::Stopped
                    }
                    Readiness::FailedToStart(error) => {
                        shim.wait();
                        RunEnd::Failed(error)
                    }
                    Readiness::Exited(outcome) => {
                        shim.wait();
                        ended(&outcome)
                    }
                    Readiness::TimedOut(why) => {
                        stop_shim(&mut shim, shared, &spec.run_file);
                        RunEnd::Failed(format!(
                            "not ready within {}: {why}",
                            crate::config::units::format_duration(service.start_timeout)
                        ))
                    }
                };
                // The port grabbed between the plan and the service's bind: plan once more rather
                // than crash-loop against the new holder.
                if never_ready && !replanned {
                    let port = spec.port.filter(|_| service.port.is_some());
                    if let Some((port, who)) =
                        port.and_then(|p| Some((p, port_plan::grabbed(p, shim.pid())?)))
                    {
                        replanned = true;
                        let note = format!(
                            "{}: port {port} was taken by {who} while it started; planning again",
                            service.name
                        );
                        journal("port", None, &note);
                        shared.update(|s| s.note = Some(note));
                        continue;
                    }
                }
                (end, started_ms)
            }
        };
        let (ending, code) = match end {
            RunEnd::Stopped => {
                journal("stopped", None, "");
                let outcome = RunFile::read(&spec.run_file).map(|r| r.outcome);
                return shared.update(|s| {
                    s.state = ServiceState::Stopped;
                    s.health = HealthState::Unknown;
                    s.exit_code = outcome.and_then(|o| match o {
                        Outcome::Exited { code, .. } => code,
                        _ => None,
                    });
                });
            }
            RunEnd::Failed(reason) => {
                journal("failed", None, &reason);
                return shared.update(|s| {
                    s.state = ServiceState::Failed;
                    s.health = HealthState::Unhealthy;
                    s.reason = Some(reason);
                });
            }
            RunEnd::Ended { ending, code } => (ending, code),
        };
        journal(
            "exited",
            shared_main(shared),
            &format!("it {}", ending.describe()),
        );
        if ending == Ending::KeeperLost {
            let record = RunFile::read(&spec.run_file);
            stop_remains(
                service,
                &rediscover::remains(stack, &service.name, record.as_ref()),
            );
        }
        let jitter = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish() as f64
            / u64::MAX as f64;
        let decision = policy::decide(
            &service.restart,
            &service.success_codes,
            &mut restarts,
            ending,
            Duration::from_millis(now_ms().saturating_sub(started_ms)),
            now_ms(),
            jitter,
        );
        shared.update(|s| s.exit_code = code);
        match decision {
            policy::Decision::Restart { after } => {
                let now = now_ms();
                let window = service.restart.window;
                shared.update(|s| {
                    s.state = ServiceState::Backoff;
                    s.health = HealthState::Unhealthy;
                    s.restarts += 1;
                    let since = now.saturating_sub(window.as_millis() as u64);
                    s.restart_times.retain(|t| *t >= since);
                    s.restart_times.push(now);
                });
                let restarts = shared
                    .status
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .restarts;
                journal(
                    "restarting",
                    None,
                    &format!("restart {restarts} in {}ms", after.as_millis()),
                );
                if sleep_unless_stopped(after, shared, wake) {
                    return shared.update(|s| s.state = ServiceState::Stopped);
                }
            }
            policy::Decision::Completed => {
                journal("completed", None, "");
                return shared.update(|s| {
                    s.state = ServiceState::Exited;
                    s.health = HealthState::Unknown;
                });
            }
            policy::Decision::Failed { reason } => {
                journal("failed", None, &reason);
                return shared.update(|s| {
                    s.state = ServiceState::Failed;
                    s.health = HealthState::Unhealthy;
                    s.reason = Some(reason);
                });
            }
        }
    }
}

/// What `watch` needs besides the instance.
struct Watched<'a> {
    stack: &'a Stack,
    service: &'a crate::stack::Service,
    spec: &'a crate::shim::ShimSpec,
    shared: &'a Shared,
    wake: &'a UnixStream,
    port_of: &'a dyn Fn(&str) -> Option<u16>,
    history: &'a History,
}

/// Watches a ready service until its instance ends, it turns unhealthy, or a stop is
/// requested.
fn watch(w: &Watched, instance: &mut Instance) -> RunEnd {
    let (service, shared, history) = (w.service, w.shared, w.history);
    let Some(pidfd) = instance.take_pidfd() else {
        return instance.ended(w.spec);
    };
    let mut failures = 0u32;
    let mut next_check = service.health.as_ref().map(|h| Instant::now() + h.interval);
    loop {
        let timeout = next_check.map(|at| timespec(at.saturating_duration_since(Instant::now())));
        let mut fds = [
            PollFd::new(&pidfd, PollFlags::IN),
            PollFd::new(w.wake, PollFlags::IN),
        ];
        match poll(&mut fds, timeout.as_ref()) {
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => std::thread::sleep(readiness::POLL),
            Ok(_) => {}
        }
        let exited = !fds[0].revents().is_empty();
        drain(w.wake);
        if shared.stopping() {
            instance.stop(w);
            return RunEnd::Stopped;
        }
        if exited {
            return instance.ended(w.spec);
        }
        if let (Some(health), Some(at)) = (&service.health, next_check)
            && Instant::now() >= at
        {
            let began = Instant::now();
            let verdict = probe::check(health, w.port_of, &w.spec.env, &w.spec.cwd);
            let took = began.elapsed();
            history.check(CheckResult {
                service: service.name.clone(),
                at_ms: now_ms(),
                ok: verdict.is_ok(),
                duration_us: took.as_micros() as u64,
            });
            shared.update(|s| s.checked(verdict.is_ok(), took));
            match verdict {
                Ok(()) => {
                    if failures > 0 {
                        history.event(
                            Some(&service.name),
                            "health",
                            "health check passes again",
                            serde_json::json!({ "ok": true }),
                        );
                    }
                    failures = 0;
                    shared.update(|s| {
                        s.health = HealthState::Healthy;
                        s.reason = None;
                    });
                }
                Err(why) => {
                    failures += 1;
                    history.event(
                        Some(&service.name),
                        "health",
                        &format!(
                            "health check failed ({failures} of {}): {why}",
                            health.retries
                        ),
                        serde_json::json!({ "ok": false, "failures": failures }),
                    );
                    shared.update(|s| s.reason = Some(why.clone()));
                    if failures >= health.retries {
                        shared.update(|s| s.health = HealthState::Unhealthy);
                        instance.stop(w);
                        return RunEnd::Ended {
                            ending: Ending::Unhealthy,
                            code: None,
                        };
                    }
                }
            }
            next_check = Some(Instant::now() + health.interval);
        }
    }
}

fn ended_from_file(spec: &crate::shim::ShimSpec) -> RunEnd {
    match RunFile::read(&spec.run_file) {
        Some(record) => ended(&record.outcome),
        None => RunEnd::Ended {
            ending: Ending::KeeperLost,
            code: None,
        },
    }
}

fn ended(outcome: &Outcome) -> RunEnd {
    match outcome {
        Outcome::Exited {
            code: Some(code), ..
        } => RunEnd::Ended {
            ending: Ending::Code(*code),
            code: Some(*code),
        },
        Outcome::Exited { signal, .. } => RunEnd::Ended {
            ending: Ending::Signal(signal.unwrap_or(0)),
            code: None,
        },
        Outcome::FailedToStart { error } => RunEnd::Failed(error.clone()),
        // The shim was killed: what it kept is stopped before anything else happens.
        Outcome::Running | Outcome::Stopping => RunEnd::Ended {
            ending: Ending::KeeperLost,
            code: None,
        },
    }
}

/// Makes the service's port usable before a start, as `ports::plan` decides: keeps it,
/// adopts a healthy instance of the service on it, stops a stale instance (or, aggressive, a
/// foreign holder) on it, or moves to an alternative. `unkept`: an instance of the service
/// that no shim keeps, found by its marks (an orphan), which the same table decides for.
/// `healthy` checks such an instance's health (given whether it holds the port). The decision
/// is noted in the status (for `up` to print) and in the event history. `Err`: the start
/// must fail, for this reason.
fn settle_port(
    stack: &Stack,
    service: &crate::stack::Service,
    ports: &Assigned,
    shared: &Shared,
    history: &History,
    unkept: &[ProcessId],
    healthy: &dyn Fn(bool) -> bool,
) -> Result<Settled, String> {
    // One plan at a time in the daemon: two services moving at once must not both pick the
    // same alternative. Held until the port is assigned, not while a holder is stopped.
    static PLANNING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let planning = PLANNING.lock().unwrap_or_else(|e| e.into_inner());
    let decision = port_plan::decide(stack, service, ports, &|| healthy(true));
    let note = decision.as_ref().and_then(|d| d.describe(&service.name));
    if let Some(note) = &note {
        history.event(
            Some(&service.name),
            "port",
            note,
            serde_json::json!({ "decision": decision.as_ref().and_then(Decision::kind) }),
        );
    }
    if let Some(kind) = decision.as_ref().and_then(Decision::kind) {
        shared.update(|s| *s.port_decisions.entry(kind).or_default() += 1);
    }
    let (port, to_stop, adopt) = match decision {
        None => (None, Vec::new(), None),
        Some(Decision::Use(port)) => (Some(port), Vec::new(), None),
        Some(Decision::Adopt { port, ids }) => (
            Some(port),
            Vec::new(),
            adopted::main_of(stack, &service.name, &ids),
        ),
        Some(Decision::Stop { port, ids, .. }) => (Some(port), ids, None),
        Some(Decision::Move { to, .. }) => (Some(to), Vec::new(), None),
        Some(Decision::Refuse(why)) => return Err(why),
    };
    if let Some(port) = port {
        ports.set(&service.name, port);
    }
    drop(planning);
    shared.update(|s| {
        s.port = port.or(s.port);
        s.note = note;
    });
    if let Some(id) = adopt {
        return Ok(Settled::Adopt(id));
    }
    // An orphan holding none of the ports in question (a service with no port, or one not
    // listening): adopted when healthy under `intelligent`, else replaced, since starting
    // beside it would make a duplicate. One the plan moved away from is left running.
    let moved = port.is_some() && port != service.port;
    let in_the_way = !unkept.is_empty() && !moved && to_stop.is_empty();
    if in_the_way
        && plan::unkept(stack.ports.strategy, healthy(false)) == plan::Unkept::Adopt
        && let Some(top) = adopted::top_of(unkept)
    {
        let note = format!(
            "{}: pid {} is an instance of it no keeper held, and its health passes, so it was adopted: output not captured",
            service.name, top.pid
        );
        shared.update(|s| s.note = Some(note));
        return Ok(Settled::Adopt(top));
    }
    // The holder's graceful stop, then SIGKILL after the service's own stop timeout.
    crate::process::terminate::terminate(&to_stop, Signal::TERM.as_raw(), service.stop.timeout);
    // Replacing an orphan stops all of it (not only what holds the port), the way its shim
    // would have.
    if !to_stop.is_empty() || in_the_way {
        stop_remains(service, unkept);
    }
    Ok(Settled::Start)
}

/// The main process as last recorded.
fn shared_main(shared: &Shared) -> Option<u32> {
    let status = shared.status.lock().unwrap_or_else(|e| e.into_inner());
    status.main.map(|m| m.pid)
}

/// Stops what is left of an instance nobody keeps, the way its shim would have: the stop
/// signal, then SIGKILL after the stop timeout.
fn stop_remains(service: &crate::stack::Service, remains: &[ProcessId]) {
    crate::process::terminate::terminate(
        remains,
        service.stop.signal.number(),
        service.stop.timeout,
    );
}

/// Asks the shim to stop the service and waits until it has (the shim enforces the timeout).
fn stop_shim(shim: &mut ShimHandle, shared: &Shared, run_file: &std::path::Path) {
    shared.update(|s| s.state = ServiceState::Stopping);
    let timeout = *shared
        .stop_timeout
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Ok(id) = ProcessId::of(shim.pid()) {
        let _ = crate::shim::stop::request(run_file, id, timeout);
    }
    shim.wait();
}

/// Sleeps for `duration` unless a stop is requested first; returns whether it was.
fn sleep_unless_stopped(duration: Duration, shared: &Shared, wake: &UnixStream) -> bool {
    let deadline = Instant::now() + duration;
    while !shared.stopping() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        let _ = poll(
            &mut [PollFd::new(wake, PollFlags::IN)],
            Some(&timespec(left)),
        );
        drain(wake);
    }
    true
}

fn drain(wake: &UnixStream) {
    let mut buf = [0u8; 16];
    while matches!((&*wake).read(&mut buf), Ok(n) if n > 0) {}
}
