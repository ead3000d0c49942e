//! The orchestrator's side of alerting: what the alerts thread observes (every service's
//! state, health, usage, last check and restarts, and the machine), and the restarts an
//! alert's `action` asks for, made the way `berth restart` makes them.

use super::{Orchestrator, Slot};
use crate::alerts::engine::ServiceFacts;
use crate::alerts::runtime::{Hooks, Snapshot};
use crate::daemon::supervisor::ServiceState;
use crate::daemon::supervisor::{HealthState, ServiceStatus};
use crate::monitor::score;
use std::sync::Arc;

impl Orchestrator {
    /// Starts the alerts thread, reaching back through weak references (the orchestrator
    /// owns the alerting, not the other way round).
    pub(super) fn start_alerting(self: &Arc<Self>) {
        let observe = Arc::downgrade(self);
        let restart = Arc::downgrade(self);
        let events = Arc::downgrade(&self.alerting);
        self.history.listen(move |record| {
            if let Some(alerting) = events.upgrade() {
                alerting.event(&record.kind, record.service.as_deref(), &record.message);
            }
        });
        let hooks = Hooks {
            observe: Box::new(move || observe.upgrade()?.alert_snapshot()),
            restart: Box::new(move |service, rule| {
                if let Some(me) = restart.upgrade() {
                    me.restart_for_alert(service, rule);
                }
            }),
        };
        if let Err(e) = self.alerting.start(hooks) {
            crate::daemon::log(format_args!("cannot start the alerts thread: {e}"));
        }
    }

    /// A last evaluation as the daemon goes, so that a `down` resolves what it stopped,
    /// waiting up to `timeout` for those notifications.
    pub fn settle_alerts(&self, timeout: std::time::Duration) {
        if let Some(snapshot) = self.alert_snapshot() {
            self.alerting.settle(&snapshot, timeout);
        }
    }

    pub fn alerting(&self) -> &crate::alerts::runtime::Alerting {
        &self.alerting
    }

    /// Every service of the stack as the rules see it; `None` before a stack is loaded.
    fn alert_snapshot(&self) -> Option<Snapshot> {
        // Straight from the slots and the latest round: `status()` would also format every
        // service's score reasons and count its firing alerts, which the rules do not look at.
        let (stack, statuses) = {
            let inner = self.lock();
            let stack = inner.stack.clone()?;
            let statuses: Vec<Option<ServiceStatus>> = stack
                .services
                .iter()
                .map(|service| match inner.slots.get(&service.name) {
                    Some(Slot::Started { supervisor, .. }) => Some(supervisor.status()),
                    _ => None,
                })
                .collect();
            let blocked: Vec<bool> = stack
                .services
                .iter()
                .map(|s| matches!(inner.slots.get(&s.name), Some(Slot::Blocked { .. })))
                .collect();
            (stack, statuses.into_iter().zip(blocked).collect::<Vec<_>>())
        };
        let latest = self.monitor.latest();
        let now = crate::logs::time::now_ms();
        let mut uncovered = false;
        let services = stack
            .services
            .iter()
            .zip(statuses)
            .map(|(service, (status, blocked))| {
                let mut facts = ServiceFacts {
                    name: service.name.clone(),
                    ..ServiceFacts::default()
                };
                if blocked {
                    // Could not be started (a dependency failed): failed, as `status` says.
                    facts.state = Some(ServiceState::Failed);
                    facts.health = Some(HealthState::Unhealthy);
                    facts.score = Some(0);
                }
                let Some(s) = status.filter(|s| s.state != ServiceState::Stopped) else {
                    return facts;
                };
                facts.state = Some(s.state);
                facts.health = Some(s.health);
                if super::is_alive(&s)
                    && let Some(main) = s.main
                {
                    match latest
                        .services
                        .get(&service.name)
                        .filter(|r| r.pid == main.pid)
                    {
                        Some(r) => {
                            facts.cpu_percent = Some(r.cpu_percent);
                            facts.rss_bytes = Some(r.usage.rss_bytes);
                            facts.fds = Some(r.usage.open_fds);
                            facts.threads = Some(r.usage.threads);
                        }
                        None => uncovered = true,
                    }
                }
                facts.check_ms = s.last_check_ms;
                // The score without alert deductions: a rule on the score must not keep
                // itself firing.
                facts.score = score::service(&super::facts(service, &s, now, (0, 0))).value;
                facts.restart_times = s.restart_times;
                facts
            })
            .collect();
        if uncovered {
            self.monitor.poke();
        }
        Some(Snapshot {
            services,
            system: latest.system.clone(),
        })
    }

    /// Restarts `service` because `rule` fired, off the alerts thread.
    fn restart_for_alert(self: &Arc<Self>, service: &str, rule: &str) {
        let me = Arc::clone(self);
        let (service, rule) = (service.to_string(), rule.to_string());
        let spawned = std::thread::Builder::new()
            .name(format!("restart {service}"))
            .spawn(move || {
                let why = format!("restarted by alert `{rule}`");
                me.history.event(
                    Some(&service),
                    "restarting",
                    &why,
                    serde_json::json!({ "rule": rule, "by": "alert" }),
                );
                if let Err(e) = me.restart(std::slice::from_ref(&service), Some(&why)) {
                    crate::daemon::log(format_args!(
                        "alert `{rule}` could not restart `{service}`: {e:?}"
                    ));
                }
            });
        if let Err(e) = spawned {
            crate::daemon::log(format_args!("cannot restart for an alert: {e}"));
        }
    }
}
