//! The daemon's table of services. `up` starts each wanted service as soon as its
//! dependencies meet their conditions (so the graph starts in parallel where it allows),
//! leaving unchanged running services alone and restarting changed ones; `down` stops
//! services after everything that depends on them; `status` reports each service with its
//! process tree's CPU and memory.

mod alerting;
mod blame;
mod restart;
mod scale;
mod watching;

use super::port_plan::Assigned;
use super::rediscover::{Earlier, Markings};
use super::spawner::Spawner;
use super::supervisor::{HealthState, Keeper, Launch, ServiceState, ServiceStatus, Supervisor};
use crate::api::types::{DaemonInfo, ServiceView, StackHealth, StatusResponse, UpRequest};
use crate::history::History;
use crate::logs::time::now_ms;
use crate::monitor::sampler::{Monitor, Subject};
use crate::monitor::score;
use crate::stack::graph::Graph;
use crate::stack::service::Condition;
use crate::stack::{Service, Stack};
use blame::{Cause, End};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct Orchestrator {
    spawner: Arc<Spawner>,
    inner: Mutex<Inner>,
    /// Every service's port as assigned (moved ones where they went), across `up`s.
    ports: Arc<Assigned>,
    history: History,
    /// The latest usage of every running service and of the machine.
    monitor: Monitor,
    /// Rung when a service's state or health changes, and after every sampling round.
    bell: Arc<super::bell::Bell>,
    alerting: Arc<crate::alerts::runtime::Alerting>,
    /// The one file watcher of the daemon, for every service with `watch:`.
    watcher: crate::watch::Watcher,
}

#[derive(Default)]
struct Inner {
    stack: Option<Arc<Stack>>,
    slots: BTreeMap<String, Slot>,
    /// Bumped on every change of a slot, so a gate acting on a stale view stands down.
    generation: u64,
    /// Supervisors being stopped, per service: a new one starts only when these are gone, so
    /// two shims of one service never run at once (they would share its run file).
    retiring: BTreeMap<String, Vec<Arc<Supervisor>>>,
    /// The environment of the last `up`'s caller, for restarts the daemon makes itself.
    env: Arc<BTreeMap<String, String>>,
    /// Why a service was last restarted by the daemon itself (an alert's action), until the
    /// next `up` of it.
    restarted_by: BTreeMap<String, String>,
}

/// Why a request was refused, changing nothing: the caller's mistake, or a condition of
/// this machine (the state dir cannot be written).
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    BadRequest(String),
    Unavailable(String),
}

impl Inner {
    /// Whether `up` leaves `name` as it is: started with the same definition, and alive.
    fn keeps(&self, stack: &Stack, name: &str) -> bool {
        matches!(
            (self.slots.get(name), stack.service(name)),
            (Some(Slot::Started { supervisor, definition: old }), Some(definition))
                if runs_the_same(old, definition) && is_alive(&supervisor.status())
        )
    }
}

#[derive(Clone)]
enum Slot {
    /// Waiting for its dependencies (or for an older instance to stop).
    Waiting { generation: u64, reason: String },
    /// Could not be started: a dependency failed (`cause`, the root down the dependencies),
    /// or it could not be supervised (no cause but itself).
    Blocked {
        reason: String,
        cause: Option<Cause>,
    },
    Started {
        supervisor: Arc<Supervisor>,
        definition: Box<Service>,
    },
}

/// How often a waiting service looks at its dependencies again.
const GATE_POLL: Duration = Duration::from_millis(2);

impl Orchestrator {
    /// The orchestrator, with its sampler running (it samples once the first `up` brings a
    /// stack).
    pub fn new(
        spawner: Arc<Spawner>,
        history: History,
        state_dir: &std::path::Path,
    ) -> Arc<Orchestrator> {
        let bell: Arc<super::bell::Bell> = Arc::default();
        let me = Arc::new_cyclic(|me| Orchestrator {
            watcher: Orchestrator::new_watcher(me),
            spawner,
            inner: Mutex::new(Inner::default()),
            ports: Arc::default(),
            history: history.clone(),
            monitor: Monitor::default(),
            alerting: crate::alerts::runtime::Alerting::new(
                state_dir,
                history.clone(),
                Arc::clone(&bell),
            ),
            bell,
        });
        let weak = Arc::downgrade(&me);
        if let Err(e) = me.monitor.start(
            move || weak.upgrade()?.subjects(),
            history,
            Arc::clone(&me.bell),
        ) {
            crate::daemon::log(format_args!(
                "cannot start the sampler, usage will not be shown: {e}"
            ));
        }
        me.start_alerting();
        me
    }

    pub fn history(&self) -> &History {
        &self.history
    }

    pub fn monitor(&self) -> &Monitor {
        &self.monitor
    }

    /// The stack the daemon runs, once an `up` brought one.
    pub fn stack(&self) -> Option<Arc<Stack>> {
        self.lock().stack.clone()
    }

    /// An `up` of `services` with the stack and the caller's environment of the last `up`,
    /// for the starts the daemon makes for it (`POST /v1/services/{name}/start`).
    pub fn up_again(&self, services: Vec<String>) -> Option<UpRequest> {
        let inner = self.lock();
        Some(UpRequest {
            stack: (**inner.stack.as_ref()?).clone(),
            services,
            env: (*inner.env).clone(),
        })
    }

    /// What each started service's supervisor knows now.
    pub fn supervised(&self) -> BTreeMap<String, ServiceStatus> {
        self.lock()
            .slots
            .iter()
            .filter_map(|(name, slot)| match slot {
                Slot::Started { supervisor, .. } => Some((name.clone(), supervisor.status())),
                _ => None,
            })
            .collect()
    }

    /// The services running now, for the sampler; `None` while no stack is loaded.
    fn subjects(&self) -> Option<Vec<Subject>> {
        let inner = self.lock();
        inner.stack.as_ref()?;
        Some(
            inner
                .slots
                .iter()
                .filter_map(|(name, slot)| match slot {
                    Slot::Started { supervisor, .. } => Some((name, supervisor.status())),
                    _ => None,
                })
                .filter(|(_, s)| is_alive(s))
                .filter_map(|(name, s)| {
                    Some(Subject {
                        name: name.clone(),
                        pid: s.main?.pid,
                        healthy: s.state == ServiceState::Running
                            && s.health == HealthState::Healthy,
                    })
                })
                .collect(),
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Brings the requested services and their dependencies up; returns them in start order.
    pub fn up(self: &Arc<Self>, request: UpRequest) -> Result<Vec<String>, Refusal> {
        validate(&request).map_err(Refusal::BadRequest)?;
        let stack = Arc::new(request.stack);
        let wanted = stack.wanted(&request.services);
        let ports = Arc::clone(&self.ports);
        let env = Arc::new(request.env);
        let launch = |name: &String, earlier: Option<Earlier>| Launch {
            stack: Arc::clone(&stack),
            service: name.clone(),
            base_env: Arc::clone(&env),
            ports: Arc::clone(&ports),
            spawner: Arc::clone(&self.spawner),
            history: self.history.clone(),
            bell: Arc::clone(&self.bell),
            earlier,
        };
        let mut gates = Vec::new();
        let markings = Markings::default();
        {
            let mut inner = self.lock();
            // Starting anything needs the state dir; keeping what runs does not.
            if wanted.iter().any(|name| !inner.keeps(&stack, name)) {
                crate::state::check_writable(&stack.state_dir).map_err(Refusal::Unavailable)?;
            }
            // What starts anew starts from its configured port (and moves again if need be);
            // what is kept keeps the port it has.
            for service in &stack.services {
                if let Some(port) = service.port
                    && !inner.keeps(&stack, &service.name)
                {
                    ports.set(&service.name, port);
                }
            }
            inner.stack = Some(Arc::clone(&stack));
            inner.env = Arc::clone(&env);
            self.configure_monitoring(&stack);
            self.alerting.configure(&stack);
            // Services no longer in the config are stopped.
            let removed: Vec<String> = inner
                .slots
                .keys()
                .filter(|name| stack.service(name).is_none())
                .cloned()
                .collect();
            for name in removed {
                ports.forget(&name);
                if let Some(Slot::Started { supervisor, .. }) = inner.slots.remove(&name) {
                    self.retire(&mut inner, &name, supervisor);
                }
            }
            for name in &wanted {
                inner.restarted_by.remove(name);
                if inner.keeps(&stack, name) {
                    continue;
                }
                let definition = stack.service(name).expect("in the stack");
                // An instance left running by an earlier daemon is adopted, not started again;
                // the remains of one whose shim died are stopped first. Only where this
                // daemon has no slot at all: an existing slot is some gate's business, and a
                // second supervisor over one instance would outlive the slot.
                let earlier = match inner.slots.contains_key(name) {
                    true => None,
                    false => markings.earlier(&stack, name),
                };
                // An instance an earlier daemon adopted is adopted again the same way.
                if let Some(found @ (Earlier::Running(_) | Earlier::Adopted(_))) = earlier {
                    let launch = launch(name, Some(found));
                    let slot = match Supervisor::start(launch) {
                        Ok(supervisor) => Slot::Started {
                            supervisor: Arc::new(supervisor),
                            definition: Box::new(definition.clone()),
                        },
                        Err(e) => Slot::Blocked {
                            reason: format!("cannot supervise it: {e}"),
                            cause: None,
                        },
                    };
                    inner.slots.insert(name.clone(), slot);
                    continue;
                }
                inner.generation += 1;
                let generation = inner.generation;
                let previous = inner.slots.insert(
                    name.clone(),
                    Slot::Waiting {
                        generation,
                        reason: "waiting for its dependencies".into(),
                    },
                );
                if let Some(Slot::Started { supervisor, .. }) = previous {
                    self.retire(&mut inner, name, supervisor);
                }
                gates.push((name.clone(), generation, earlier));
            }
            self.sync_watches(&inner);
        }
        self.stop_past_count(&stack);
        for (name, generation, earlier) in gates {
            // Most services have nothing to wait for: they start here, and only those that
            // wait get a thread to wait on.
            let Some(waiting) = self.pass_gate(launch(&name, earlier), generation) else {
                continue;
            };
            let me = Arc::clone(self);
            std::thread::Builder::new()
                .name(format!("gate {name}"))
                .spawn(move || me.gate(waiting, generation))
                .map_err(|e| Refusal::Unavailable(format!("cannot start a thread: {e}")))?;
        }
        Ok(wanted)
    }

    /// Sampling and history as the stack's `monitor:` section says.
    fn configure_monitoring(&self, stack: &Stack) {
        let disks = match stack.monitor.disks.is_empty() {
            true => vec![stack.state_dir.clone()],
            false => stack.monitor.disks.clone(),
        };
        self.monitor.configure(crate::monitor::sampler::Settings {
            interval: stack.monitor.interval,
            disks,
        });
        self.history.configure(crate::history::Settings {
            retention: stack.monitor.retention,
            max_size: stack.monitor.max_size,
        });
    }

    /// Stops `supervisor` in the background; the service's next supervisor waits for that.
    fn retire(self: &Arc<Self>, inner: &mut Inner, name: &str, supervisor: Arc<Supervisor>) {
        inner
            .retiring
            .entry(name.to_string())
            .or_default()
            .push(Arc::clone(&supervisor));
        let me = Arc::clone(self);
        let name = name.to_string();
        std::thread::spawn(move || {
            supervisor.stop();
            let mut inner = me.lock();
            if let Some(list) = inner.retiring.get_mut(&name) {
                list.retain(|s| !Arc::ptr_eq(s, &supervisor));
            }
        });
    }

    /// Waits until the service's dependencies allow it to start (and any earlier supervisor
    /// of it has finished stopping), then starts it.
    fn gate(&self, mut launch: Launch, generation: u64) {
        while let Some(waiting) = self.pass_gate(launch, generation) {
            launch = waiting;
            std::thread::sleep(GATE_POLL);
        }
    }

    /// One look at the service's gate: started (or found superseded, or blocked), or handed
    /// back to wait. Checking and starting happen under one lock, so a started supervisor is
    /// always in the table.
    fn pass_gate(&self, launch: Launch, generation: u64) -> Option<Launch> {
        let mut inner = self.lock();
        let service = launch.stack.service(&launch.service).expect("in the stack");
        match inner.slots.get(&service.name) {
            Some(Slot::Waiting { generation: g, .. }) if *g == generation => {}
            _ => return None, // superseded by a later up or down
        }
        let retiring = inner
            .retiring
            .get(&service.name)
            .is_some_and(|l| !l.is_empty());
        let verdict = if retiring {
            Gate::Wait
        } else {
            // The stack as it is now: a `scale` since this gate began changes what it waits for.
            let current = inner
                .stack
                .clone()
                .unwrap_or_else(|| Arc::clone(&launch.stack));
            dependencies_verdict(&inner, &current, service)
        };
        match verdict {
            Gate::Wait => return Some(launch),
            Gate::Blocked { cause, via } => {
                let reason = cause.reason(&via);
                let cause = Some(cause);
                inner
                    .slots
                    .insert(service.name.clone(), Slot::Blocked { reason, cause });
            }
            Gate::Open => {
                let definition = Box::new(service.clone());
                let name = service.name.clone();
                let slot = match Supervisor::start(launch) {
                    Ok(supervisor) => Slot::Started {
                        supervisor: Arc::new(supervisor),
                        definition,
                    },
                    Err(e) => Slot::Blocked {
                        reason: format!("cannot supervise it: {e}"),
                        cause: None,
                    },
                };
                inner.slots.insert(name, slot);
            }
        }
        None
    }

    /// Stops the named services and everything that depends on them (all when empty),
    /// dependents first, each group in parallel. Returns what was stopped.
    pub fn down(
        &self,
        names: &[String],
        timeout: Option<Duration>,
    ) -> Result<Vec<String>, Refusal> {
        self.take_down(names, timeout, true)
    }

    /// `down`; with `unwatch`, what is stopped is no longer watched (a restart keeps it).
    fn take_down(
        &self,
        names: &[String],
        timeout: Option<Duration>,
        unwatch: bool,
    ) -> Result<Vec<String>, Refusal> {
        let (order, supervisors) = {
            let mut inner = self.lock();
            let Some(stack) = inner.stack.clone() else {
                return Ok(Vec::new());
            };
            for name in names {
                if !stack.knows(name) {
                    return Err(Refusal::BadRequest(format!(
                        "no service `{name}` in the config"
                    )));
                }
            }
            let graph = Graph::new(&stack.services);
            let targets: Vec<String> = if names.is_empty() {
                stack.services.iter().map(|s| s.name.clone()).collect()
            } else {
                let roots: Vec<&str> = names.iter().map(String::as_str).collect();
                graph
                    .with_dependents(&roots)
                    .into_iter()
                    .map(String::from)
                    .collect()
            };
            let mut supervisors = BTreeMap::new();
            inner.generation += 1;
            for name in &targets {
                // A service still at its gate sees its slot gone and stands down.
                if let Some(Slot::Started { supervisor, .. }) = inner.slots.remove(name) {
                    supervisors.insert(name.clone(), supervisor);
                }
            }
            if unwatch {
                self.sync_watches(&inner);
            }
            let levels: Vec<Vec<String>> = graph
                .levels()
                .into_iter()
                .map(|l| l.into_iter().map(String::from).collect())
                .collect();
            (levels, supervisors)
        };
        let mut stopped = Vec::new();
        for level in order.into_iter().rev() {
            let group: Vec<(String, Arc<Supervisor>)> = level
                .into_iter()
                .filter_map(|name| supervisors.get(&name).map(|s| (name, Arc::clone(s))))
                .collect();
            std::thread::scope(|scope| {
                for (_, supervisor) in &group {
                    scope.spawn(|| supervisor.stop_within(timeout));
                }
            });
            stopped.extend(group.into_iter().map(|(name, _)| name));
        }
        // Instances being replaced by an `up` that this `down` overtook stop too.
        loop {
            let retiring: Vec<Arc<Supervisor>> =
                self.lock().retiring.values().flatten().cloned().collect();
            if retiring.is_empty() {
                break;
            }
            for supervisor in retiring {
                supervisor.stop();
            }
            std::thread::sleep(GATE_POLL);
        }
        Ok(stopped)
    }

    /// Every service's state and score; with `usage`, its process tree's CPU and memory too,
    /// from the latest sampling round (a service newer than that round asks for one).
    pub fn status(&self, usage: bool) -> StatusResponse {
        let inner = self.lock();
        let Some(stack) = inner.stack.clone() else {
            return StatusResponse {
                project: String::new(),
                health: StackHealth::Stopped,
                daemon: DaemonInfo {
                    running: true,
                    pid: Some(std::process::id()),
                    api: None,
                    history: Some(self.history.health()),
                },
                services: Vec::new(),
                score: None,
                score_reasons: Vec::new(),
            };
        };
        let now = now_ms();
        let slots: Vec<(&Service, Option<Slot>)> = stack
            .services
            .iter()
            .map(|s| (s, inner.slots.get(&s.name).cloned()))
            .collect();
        let statuses: BTreeMap<&str, ServiceStatus> = slots
            .iter()
            .filter_map(|(service, slot)| match slot {
                Some(Slot::Started { supervisor, .. }) => {
                    Some((service.name.as_str(), supervisor.status()))
                }
                _ => None,
            })
            .collect();
        let latest = self.monitor.latest();
        let mut services = Vec::new();
        let mut uncovered = false;
        for (service, slot) in slots {
            let mut view = ServiceView::stopped(service);
            match slot {
                None => {}
                Some(Slot::Waiting { reason, .. }) => {
                    view.state = ServiceState::Waiting;
                    view.reason = Some(reason);
                }
                Some(Slot::Blocked { reason, cause }) => {
                    view.state = ServiceState::Failed;
                    view.health = HealthState::Unhealthy;
                    view.reason = Some(reason);
                    view.blocked_by = cause.map(|c| c.root);
                }
                Some(Slot::Started { .. }) => {
                    let s = &statuses[service.name.as_str()];
                    view.state = s.state;
                    view.health = s.health;
                    view.port = s.port;
                    view.configured_port = service.port.filter(|c| s.port != Some(*c));
                    view.note = s.note.clone();
                    view.adopted = is_alive(s) && s.keeper == Some(Keeper::Adopted);
                    view.restarts = s.restarts;
                    view.exit_code = s.exit_code;
                    view.reason = s.reason.clone();
                    if let (Some(main), true) = (s.main, is_alive(s)) {
                        view.pid = Some(main.pid);
                        view.uptime_s = s
                            .started_at_ms
                            .map(|t| now.saturating_sub(t) as f64 / 1000.0);
                        match latest.services.get(&service.name) {
                            Some(reading) if reading.pid == main.pid => {
                                if usage {
                                    view.rss_bytes = Some(reading.usage.rss_bytes);
                                    view.cpu_percent = Some(reading.cpu_percent);
                                }
                            }
                            _ => uncovered = true,
                        }
                    }
                    let alerts = self.alerting.firing_on(&service.name);
                    let scored = score::service(&facts(service, s, now, alerts));
                    if let Some(why) = inner.restarted_by.get(&service.name) {
                        view.note = Some(why.clone());
                    }
                    view.score = scored.value;
                    view.score_reasons = scored.reasons;
                }
            }
            if view.state == ServiceState::Failed && view.score.is_none() {
                view.score = Some(0);
                view.score_reasons = vec!["failed: 0".into()];
            }
            services.push(view);
        }
        drop(inner);
        if uncovered && usage {
            self.monitor.poke();
        }
        let stack_score = stack_score(&services);
        StatusResponse {
            project: stack.project.clone(),
            score: stack_score.value,
            score_reasons: stack_score.reasons,
            health: StackHealth::of(&services),
            daemon: DaemonInfo {
                running: true,
                pid: Some(std::process::id()),
                api: None,
                history: Some(self.history.health()),
            },
            services,
        }
    }
}

/// Whether an `up` request can be acted on. The CLI sends a validated config, but any
/// client may call the API: a stack no config would give (a name twice, a dependency on
/// nothing, a cycle) would leave gates waiting forever, so it is refused here.
pub fn validate(request: &UpRequest) -> Result<(), String> {
    let services = &request.stack.services;
    for (i, service) in services.iter().enumerate() {
        if services[..i].iter().any(|s| s.name == service.name) {
            return Err(format!("service `{}` is defined twice", service.name));
        }
        for dep in &service.depends_on {
            if request.stack.members(&dep.service).is_empty() {
                return Err(format!(
                    "`{}` depends on `{}`, which is not in the config",
                    service.name, dep.service
                ));
            }
        }
    }
    if let Some(cycle) = Graph::new(services).cycles().first() {
        return Err(format!("dependency cycle: {}", cycle.join(" -> ")));
    }
    for name in &request.services {
        if !request.stack.knows(name) {
            return Err(format!("no service `{name}` in the config"));
        }
    }
    Ok(())
}

/// What a running service's score is computed from.
/// `alerts`: the firing alerts on it, (warning, critical).
pub fn facts(
    service: &Service,
    s: &ServiceStatus,
    now_ms: u64,
    alerts: (u32, u32),
) -> score::Facts {
    score::Facts {
        state: s.state,
        health: s.health,
        restarts_in_window: s.restarts_within(service.restart.window, now_ms),
        restart_window: service.restart.window,
        failed_checks: s.failed_checks(),
        warning_alerts: alerts.0,
        critical_alerts: alerts.1,
    }
}

/// The stack's score from its services' views.
pub fn stack_score(services: &[ServiceView]) -> score::Score {
    let members: Vec<score::Member> = services
        .iter()
        .map(|v| score::Member {
            name: &v.name,
            critical: v.critical,
            score: v.score,
            running: v.state == ServiceState::Running,
        })
        .collect();
    score::stack(&members)
}

enum Gate {
    Open,
    Wait,
    /// Never: `cause` ended, reached through the dependency `via`.
    Blocked {
        cause: Cause,
        via: String,
    },
}

/// Whether a started instance of `old` is what `new` would start: everything but `watch:`,
/// which changes what restarts it, not what runs.
fn runs_the_same(old: &Service, new: &Service) -> bool {
    match old.watch == new.watch {
        true => old == new,
        false => {
            let mut new = new.clone();
            new.watch.clone_from(&old.watch);
            *old == new
        }
    }
}

fn is_alive(s: &ServiceStatus) -> bool {
    !matches!(
        s.state,
        ServiceState::Stopped | ServiceState::Failed | ServiceState::Exited
    )
}

/// Whether every dependency of `service` meets its condition, may still, or never will. A
/// dependency on a replicated service is one on each of its instances.
fn dependencies_verdict(inner: &Inner, stack: &Stack, service: &Service) -> Gate {
    let instances = service.depends_on.iter().flat_map(|dep| {
        stack
            .members(&dep.service)
            .into_iter()
            .map(move |m| (m.name.as_str(), dep.condition))
    });
    for (dependency, condition) in instances {
        let blocked = |root: &str, what| Gate::Blocked {
            cause: Cause {
                root: root.to_string(),
                what,
            },
            via: dependency.to_string(),
        };
        let status = match inner.slots.get(dependency) {
            Some(Slot::Started { supervisor, .. }) => supervisor.status(),
            Some(Slot::Waiting { .. }) => return Gate::Wait,
            // The root that kept the dependency back keeps this one back too.
            Some(Slot::Blocked {
                cause: Some(cause), ..
            }) => {
                return Gate::Blocked {
                    cause: cause.clone(),
                    via: dependency.to_string(),
                };
            }
            Some(Slot::Blocked { cause: None, .. }) | None => {
                return blocked(dependency, End::NotStarted);
            }
        };
        let met = match condition {
            Condition::Started => {
                status.main.is_some()
                    || matches!(status.state, ServiceState::Running | ServiceState::Exited)
            }
            Condition::Healthy => {
                (status.state == ServiceState::Running && status.health == HealthState::Healthy)
                    || status.state == ServiceState::Exited
            }
            Condition::Completed => status.state == ServiceState::Exited,
        };
        if met {
            continue;
        }
        // Its own reason (how it failed) is its own to tell, once: not repeated here.
        match status.state {
            ServiceState::Failed => return blocked(dependency, End::Failed),
            ServiceState::Stopped => return blocked(dependency, End::Stopped),
            _ => return Gate::Wait,
        }
    }
    Gate::Open
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{self, Options};
    use crate::stack::service::Dependency;

    fn request() -> (tempfile::TempDir, UpRequest) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("berth.yaml");
        std::fs::write(
            &file,
            "services:\n  db:\n    command: db\n  api:\n    command: api\n    depends_on: [db]\n",
        )
        .unwrap();
        let stack = config::load(&file, &Options::default()).unwrap();
        let request = UpRequest {
            stack,
            services: vec!["api".into()],
            env: Default::default(),
        };
        (dir, request)
    }

    #[test]
    fn a_stack_no_config_would_give_is_refused() {
        let (_dir, good) = request();
        assert_eq!(validate(&good), Ok(()));

        let mut cycle = request().1;
        cycle.stack.services[0].depends_on.push(Dependency {
            service: "api".into(),
            condition: Condition::Started,
        });
        assert!(
            validate(&cycle)
                .unwrap_err()
                .starts_with("dependency cycle: ")
        );

        let mut twice = request().1;
        let copy = twice.stack.services[0].clone();
        twice.stack.services.push(copy);
        assert_eq!(
            validate(&twice),
            Err("service `db` is defined twice".into())
        );

        let mut dangling = request().1;
        dangling.stack.services[1].depends_on[0].service = "cache".into();
        assert_eq!(
            validate(&dangling),
            Err("`api` depends on `cache`, which is not in the config".into())
        );

        let mut unknown = request().1;
        unknown.services = vec!["web".into()];
        assert_eq!(
            validate(&unknown),
            Err("no service `web` in the config".into())
        );
    }
}
