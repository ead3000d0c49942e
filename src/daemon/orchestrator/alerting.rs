//! The orchestrator's side of alerting: what the alerts thread observes (every service's
//! state, health, usage, last check and restarts, and the machine), and the restarts an
//! alert's `action` asks for, made the way `berth restart` makes them.

use super::Orchestrator;
use crate::alerts::engine::ServiceFacts;
use crate::alerts::runtime::{Hooks, Snapshot};
use crate::daemon::supervisor::ServiceState;
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
        let stack = self.stack()?;
        let status = self.status(true);
        let supervised = self.supervised();
        let latest = self.monitor.latest();
        let now = crate::logs::time::now_ms();
        let services = status
            .services
            .iter()
            .map(|view| {
                let s = supervised.get(&view.name);
                let reading = latest
                    .services
                    .get(&view.name)
                    .filter(|r| Some(r.pid) == view.pid);
                let started = !matches!((view.state, s), (ServiceState::Stopped, _) | (_, None))
                    || view.state == ServiceState::Failed;
                ServiceFacts {
                    name: view.name.clone(),
                    state: started.then_some(view.state),
                    health: started.then_some(view.health),
                    cpu_percent: view.cpu_percent,
                    rss_bytes: view.rss_bytes,
                    fds: reading.map(|r| r.usage.open_fds),
                    threads: reading.map(|r| r.usage.threads),
                    check_ms: s.and_then(|s| s.last_check_ms),
                    // The score without alert deductions: a rule on the score must not keep
                    // itself firing.
                    score: match (s, stack.service(&view.name)) {
                        (Some(s), Some(def)) if view.score.is_some() => {
                            crate::monitor::score::service(&super::facts(def, s, now, (0, 0))).value
                        }
                        _ => view.score,
                    },
                    restart_times: s.map(|s| s.restart_times.clone()).unwrap_or_default(),
                }
            })
            .collect();
        drop(stack);
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
