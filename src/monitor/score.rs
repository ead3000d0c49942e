//! The health score (0–100) of a service and of the stack, exactly as SPEC.md defines it: a
//! pure function of what the supervisor knows, with every point lost explained in words, so
//! `status`, `top`, the dashboard and `/metrics` show one number and the reasons behind it.

use crate::daemon::supervisor::{HealthState, ServiceState};
use std::time::Duration;

/// What a service's score is computed from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Facts {
    pub state: ServiceState,
    pub health: HealthState,
    /// Restarts within `restart_window`.
    pub restarts_in_window: u32,
    pub restart_window: Duration,
    /// Failed health checks among the last ten.
    pub failed_checks: u32,
    pub warning_alerts: u32,
    pub critical_alerts: u32,
}

/// A score, or none (`null`), with the deductions that made it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Score {
    pub value: Option<u8>,
    pub reasons: Vec<String>,
}

/// Per restart within the window, and at most.
const RESTART: u32 = 10;
const RESTARTS_MAX: u32 = 40;
/// Per failed check among the last ten, and at most.
const CHECK: u32 = 5;
const CHECKS_MAX: u32 = 30;
const WARNING: u32 = 10;
const CRITICAL: u32 = 30;
/// What a service waiting to be restarted scores.
const BACKOFF: u8 = 25;
/// A non-critical service under this caps the stack at `NON_CRITICAL_CAP`.
const NON_CRITICAL_LOW: u8 = 50;
const NON_CRITICAL_CAP: u8 = 80;

fn plural(n: u32, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

pub fn service(f: &Facts) -> Score {
    let zero = |why: &str| Score {
        value: Some(0),
        reasons: vec![format!("{why}: 0")],
    };
    match f.state {
        ServiceState::Failed => return zero("failed"),
        ServiceState::Backoff => {
            return Score {
                value: Some(BACKOFF),
                reasons: vec![format!("waiting to restart: {BACKOFF}")],
            };
        }
        ServiceState::Running if f.health == HealthState::Unhealthy => return zero("unhealthy"),
        ServiceState::Running => {}
        // Stopped, exited, not started yet, or on its way to one of those: no score.
        _ => return Score::default(),
    }
    let mut score = 100u32;
    let mut reasons = Vec::new();
    let mut deduct = |points: u32, why: String| {
        if points > 0 {
            score = score.saturating_sub(points);
            reasons.push(format!("{why}: -{points}"));
        }
    };
    deduct(
        (f.restarts_in_window * RESTART).min(RESTARTS_MAX),
        format!(
            "{} in the last {}s",
            plural(f.restarts_in_window, "restart", "restarts"),
            f.restart_window.as_secs()
        ),
    );
    deduct(
        (f.failed_checks * CHECK).min(CHECKS_MAX),
        format!(
            "{} among the last 10",
            plural(
                f.failed_checks,
                "failed health check",
                "failed health checks"
            )
        ),
    );
    deduct(
        f.warning_alerts * WARNING,
        plural(
            f.warning_alerts,
            "warning alert firing",
            "warning alerts firing",
        ),
    );
    deduct(
        f.critical_alerts * CRITICAL,
        plural(
            f.critical_alerts,
            "critical alert firing",
            "critical alerts firing",
        ),
    );
    Score {
        value: Some(score as u8),
        reasons,
    }
}

/// One service as the stack's score sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Member<'a> {
    pub name: &'a str,
    pub critical: bool,
    pub score: Option<u8>,
    /// Whether it runs (a failed or waiting service is scored but does not run).
    pub running: bool,
}

/// The lowest score of the critical services; a non-critical one under 50 caps it at 80.
/// With nothing running, none.
pub fn stack(members: &[Member]) -> Score {
    if !members.iter().any(|m| m.running) {
        return Score::default();
    }
    let mut reasons = Vec::new();
    let lowest = members
        .iter()
        .filter(|m| m.critical)
        .filter_map(|m| Some((m.score?, m.name)))
        .min();
    let mut value = 100;
    if let Some((score, name)) = lowest.filter(|(s, _)| *s < 100) {
        value = score;
        reasons.push(format!("{name} scores {score}"));
    }
    let low: Vec<&str> = members
        .iter()
        .filter(|m| !m.critical && m.score.is_some_and(|s| s < NON_CRITICAL_LOW))
        .map(|m| m.name)
        .collect();
    if !low.is_empty() && value > NON_CRITICAL_CAP {
        value = NON_CRITICAL_CAP;
        reasons.push(format!(
            "non-critical {} under {NON_CRITICAL_LOW}: at most {NON_CRITICAL_CAP}",
            low.join(", ")
        ));
    }
    Score {
        value: Some(value),
        reasons,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(state: ServiceState, health: HealthState) -> Facts {
        Facts {
            state,
            health,
            restarts_in_window: 0,
            restart_window: Duration::from_secs(60),
            failed_checks: 0,
            warning_alerts: 0,
            critical_alerts: 0,
        }
    }

    fn running() -> Facts {
        facts(ServiceState::Running, HealthState::Healthy)
    }

    #[test]
    fn every_rule_of_the_service_score() {
        use HealthState::*;
        use ServiceState::*;
        // (facts, score, reasons)
        let table: Vec<(Facts, Option<u8>, Vec<&str>)> = vec![
            (running(), Some(100), vec![]),
            (facts(Failed, Unhealthy), Some(0), vec!["failed: 0"]),
            (facts(Running, Unhealthy), Some(0), vec!["unhealthy: 0"]),
            (
                facts(Backoff, Unhealthy),
                Some(25),
                vec!["waiting to restart: 25"],
            ),
            (facts(Stopped, Unknown), None, vec![]),
            (facts(Exited, Unknown), None, vec![]),
            (facts(Starting, Unknown), None, vec![]),
            (facts(Waiting, Unknown), None, vec![]),
            (facts(Stopping, Healthy), None, vec![]),
            (
                Facts {
                    restarts_in_window: 2,
                    ..running()
                },
                Some(80),
                vec!["2 restarts in the last 60s: -20"],
            ),
            (
                Facts {
                    restarts_in_window: 1,
                    ..running()
                },
                Some(90),
                vec!["1 restart in the last 60s: -10"],
            ),
            // At most 40 for restarts.
            (
                Facts {
                    restarts_in_window: 7,
                    ..running()
                },
                Some(60),
                vec!["7 restarts in the last 60s: -40"],
            ),
            (
                Facts {
                    failed_checks: 3,
                    ..running()
                },
                Some(85),
                vec!["3 failed health checks among the last 10: -15"],
            ),
            // At most 30 for checks.
            (
                Facts {
                    failed_checks: 9,
                    ..running()
                },
                Some(70),
                vec!["9 failed health checks among the last 10: -30"],
            ),
            (
                Facts {
                    warning_alerts: 2,
                    ..running()
                },
                Some(80),
                vec!["2 warning alerts firing: -20"],
            ),
            (
                Facts {
                    critical_alerts: 1,
                    ..running()
                },
                Some(70),
                vec!["1 critical alert firing: -30"],
            ),
            // Never below 0.
            (
                Facts {
                    restarts_in_window: 5,
                    failed_checks: 10,
                    critical_alerts: 2,
                    ..running()
                },
                Some(0),
                vec![
                    "5 restarts in the last 60s: -40",
                    "10 failed health checks among the last 10: -30",
                    "2 critical alerts firing: -60",
                ],
            ),
            // Health unknown while running (no check yet) is not a deduction.
            (facts(Running, Unknown), Some(100), vec![]),
        ];
        for (f, value, reasons) in table {
            let s = service(&f);
            assert_eq!(
                (
                    s.value,
                    s.reasons.iter().map(String::as_str).collect::<Vec<_>>()
                ),
                (value, reasons),
                "{f:?}"
            );
        }
    }

    #[test]
    fn every_rule_of_the_stack_score() {
        let m = |name, critical, score: Option<u8>| Member {
            name,
            critical,
            score,
            running: score.is_some_and(|s| s > 0),
        };
        let table: Vec<(Vec<Member>, Option<u8>, Vec<&str>)> = vec![
            (vec![], None, vec![]),
            (
                vec![m("api", true, None), m("web", false, None)],
                None,
                vec![],
            ),
            (
                vec![m("api", true, Some(100)), m("db", true, Some(100))],
                Some(100),
                vec![],
            ),
            // The lowest critical one.
            (
                vec![m("api", true, Some(70)), m("db", true, Some(90))],
                Some(70),
                vec!["api scores 70"],
            ),
            // A non-critical one does not lower it below its own rule…
            (
                vec![m("api", true, Some(100)), m("docs", false, Some(60))],
                Some(100),
                vec![],
            ),
            // …but under 50 caps it at 80.
            (
                vec![m("api", true, Some(100)), m("docs", false, Some(0))],
                Some(80),
                vec!["non-critical docs under 50: at most 80"],
            ),
            // The cap does not raise a lower score.
            (
                vec![m("api", true, Some(30)), m("docs", false, Some(0))],
                Some(30),
                vec!["api scores 30"],
            ),
            // Only non-critical services run.
            (vec![m("docs", false, Some(100))], Some(100), vec![]),
        ];
        for (members, value, reasons) in table {
            let s = stack(&members);
            assert_eq!(
                (
                    s.value,
                    s.reasons.iter().map(String::as_str).collect::<Vec<_>>()
                ),
                (value, reasons),
                "{members:?}"
            );
        }
    }
}
