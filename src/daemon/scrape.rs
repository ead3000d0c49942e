//! What `GET /metrics` shows, gathered from the orchestrator's status, its supervisors and
//! the latest sampling round; rendered by `api::metrics`. Reads no `/proc` itself.

use super::orchestrator::Orchestrator;
use super::supervisor::ServiceState;
use crate::api::metrics::{ServiceMetrics, Snapshot};
use crate::api::types::ServiceView;

pub fn snapshot(orchestrator: &Orchestrator) -> Snapshot {
    let status = orchestrator.status(true);
    let supervised = orchestrator.supervised();
    let latest = orchestrator.monitor().latest();
    let mut port_decisions = Vec::new();
    let services = status
        .services
        .iter()
        .map(|view: &ServiceView| {
            let s = supervised.get(&view.name);
            let reading = latest
                .services
                .get(&view.name)
                .filter(|r| Some(r.pid) == view.pid);
            if let Some(s) = s {
                for (kind, n) in &s.port_decisions {
                    port_decisions.push((view.name.clone(), *kind, *n));
                }
            }
            let start = s
                .and_then(|s| s.main)
                .filter(|_| view.pid.is_some())
                .and_then(|m| crate::process::table::started_at_ms(m.start_time));
            ServiceMetrics {
                name: view.name.clone(),
                state: view.state.name(),
                healthy: view.state == ServiceState::Running
                    && view.health == super::supervisor::HealthState::Healthy,
                score: view.score,
                restarts_total: u64::from(view.restarts),
                cpu_seconds_total: reading.map(|r| r.cpu_seconds_total),
                rss_bytes: reading.map(|r| r.usage.rss_bytes),
                open_fds: reading.map(|r| r.usage.open_fds),
                threads: reading.map(|r| r.usage.threads),
                processes: reading.map(|r| u64::from(r.usage.processes)),
                start_time_seconds: start.map(|ms| ms as f64 / 1000.0),
                ready_duration_seconds: s.and_then(|s| s.ready_ms).map(|ms| ms as f64 / 1000.0),
                port: view.port.filter(|_| view.pid.is_some()),
                checks: s.map(|s| s.check_durations.clone()).unwrap_or_default(),
                check_failures_total: s.map(|s| s.check_failures).unwrap_or(0),
            }
        })
        .collect();
    Snapshot {
        project: status.project.clone(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        services,
        stack_score: status.score,
        system: latest.system.clone(),
        port_decisions,
        alerts_firing: firing(orchestrator),
    }
}

/// Firing alerts as `berth_alerts_firing` labels them: (rule, service or subject, severity).
fn firing(orchestrator: &Orchestrator) -> Vec<(String, String, String)> {
    let alerting = orchestrator.alerting();
    alerting
        .active(crate::logs::time::now_ms())
        .into_iter()
        .filter_map(|a| match a.phase {
            crate::alerts::engine::Phase::Firing { severity, .. } => {
                Some((a.rule, a.subject, severity.name().to_string()))
            }
            crate::alerts::engine::Phase::Pending { .. } => None,
        })
        .collect()
}
