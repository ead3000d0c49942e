//! The alert state machine, as Alertmanager's users know it: per (rule, subject) a condition
//! that becomes true is `pending`; true for the rule's `for`, `firing` (notify, run the
//! action); false again, `resolved` (notify unless `resolved: false`). While firing it
//! notifies again every `repeat` and once when `escalate.after` has passed; a silence mutes
//! notifications, never state; a stopped service resolves its alerts. Pure: the caller
//! passes what it observed and the time, and gets back what to do (`Effect`s), so every
//! transition is tested with a fake clock.

use crate::daemon::supervisor::{HealthState, ServiceState};
use crate::monitor::system::SystemReading;
use crate::stack::alerts::{Action, Condition, Metric, Rule, Severity, Threshold, Trigger};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// What is known of one service at an evaluation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceFacts {
    pub name: String,
    pub state: Option<ServiceState>,
    pub health: Option<HealthState>,
    pub cpu_percent: Option<f64>,
    pub rss_bytes: Option<u64>,
    pub fds: Option<u64>,
    pub threads: Option<u64>,
    /// The last health check's duration.
    pub check_ms: Option<f64>,
    pub score: Option<u8>,
    /// When its recent restarts were (unix ms).
    pub restart_times: Vec<u64>,
}

impl ServiceFacts {
    /// Stopped, exited or never started: its alerts resolve.
    fn at_rest(&self) -> bool {
        matches!(
            self.state,
            None | Some(ServiceState::Stopped | ServiceState::Exited)
        )
    }
}

/// One evaluation's input.
#[derive(Clone, Copy, Debug)]
pub struct Observation<'a> {
    pub now_ms: u64,
    pub services: &'a [ServiceFacts],
    pub system: Option<&'a SystemReading>,
}

/// Where an alert is: pending since when, or firing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "phase")]
pub enum Phase {
    Pending {
        since_ms: u64,
    },
    Firing {
        since_ms: u64,
        fired_ms: u64,
        /// When a notification last went out (or would have, silenced).
        notified_ms: u64,
        severity: Severity,
        escalated: bool,
    },
}

/// An alert that is pending or firing, for `berth alerts`, `/metrics` and the score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Active {
    pub rule: String,
    /// The service, `system`, or `disk:PATH`.
    pub subject: String,
    pub phase: Phase,
    /// The last value seen, in words.
    pub value: String,
    pub silenced: bool,
}

/// What the caller is to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Send this to the rule's channels.
    Notify(Note),
    /// Restart the service (the rule's `action`), naming the rule as the reason.
    Restart { service: String, rule: String },
    /// A transition, for the history.
    Transition {
        rule: String,
        subject: String,
        from: &'static str,
        to: &'static str,
        value: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteKind {
    Firing,
    /// Firing, notified again (`repeat`) or escalated.
    Reminder,
    Resolved,
    Event,
}

/// A notification to build and send.
#[derive(Clone, Debug, PartialEq)]
pub struct Note {
    pub kind: NoteKind,
    pub rule: String,
    pub subject: String,
    /// The service, when the subject is one.
    pub service: Option<String>,
    pub severity: Severity,
    pub value: String,
    /// The condition as written (`memory > 500MiB`).
    pub condition: String,
    pub since_ms: u64,
    pub ended_ms: Option<u64>,
    /// The rule's channels (empty: every channel).
    pub notify: Vec<String>,
}

/// What survives a daemon restart: firing alerts are not new to the next daemon.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Saved {
    pub alerts: Vec<(String, String, Phase)>,
    pub silences: Vec<Silence>,
}

/// A rule muted (for one service, or all) until a time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Silence {
    pub rule: String,
    pub service: Option<String>,
    pub until_ms: u64,
}

struct Entry {
    phase: Phase,
    value: Shown,
}

#[derive(Default)]
pub struct Engine {
    /// By rule, then by subject.
    states: HashMap<String, HashMap<String, Entry>>,
    silences: Vec<Silence>,
}

/// A value as it will be shown, kept unformatted: a rule is evaluated for every service at
/// every sample, and only a notification needs the words.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Shown {
    Amount(Metric, f64),
    Percent(f64),
    Restarts(usize),
    Word(&'static str),
    Nothing,
}

impl Shown {
    fn words(self) -> String {
        match self {
            Shown::Amount(metric, value) => show(metric, value),
            Shown::Percent(p) => format!("{p:.1}%"),
            Shown::Restarts(1) => "1 restart".to_string(),
            Shown::Restarts(n) => format!("{n} restarts"),
            Shown::Word(w) => w.to_string(),
            Shown::Nothing => String::new(),
        }
    }
}

/// A condition's verdict for one subject: true with the value, false with it, or unknown
/// (no reading yet: nothing changes).
enum Verdict {
    True(Shown),
    False(Shown),
    Unknown,
}

impl Engine {
    pub fn restore(saved: Saved) -> Engine {
        let mut engine = Engine {
            silences: saved.silences,
            ..Engine::default()
        };
        for (rule, subject, phase) in saved.alerts {
            engine.states.entry(rule).or_default().insert(
                subject,
                Entry {
                    phase,
                    value: Shown::Nothing,
                },
            );
        }
        engine
    }

    pub fn save(&self) -> Saved {
        let mut alerts: Vec<(String, String, Phase)> = self
            .states
            .iter()
            .flat_map(|(rule, subjects)| {
                subjects
                    .iter()
                    .filter(|(_, e)| matches!(e.phase, Phase::Firing { .. }))
                    .map(|(subject, e)| (rule.clone(), subject.clone(), e.phase.clone()))
            })
            .collect();
        alerts.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        Saved {
            alerts,
            silences: self.silences.clone(),
        }
    }

    pub fn silence(&mut self, silence: Silence) {
        self.silences
            .retain(|s| !(s.rule == silence.rule && s.service == silence.service));
        self.silences.push(silence);
    }

    /// Lifts a silence; whether there was one.
    pub fn unsilence(&mut self, rule: &str, service: Option<&str>) -> bool {
        let before = self.silences.len();
        self.silences
            .retain(|s| !(s.rule == rule && s.service.as_deref() == service));
        before != self.silences.len()
    }

    pub fn silences(&self, now_ms: u64) -> Vec<Silence> {
        self.silences
            .iter()
            .filter(|s| s.until_ms > now_ms)
            .cloned()
            .collect()
    }

    fn silenced(&self, rule: &str, subject: &str, now_ms: u64) -> bool {
        self.silences.iter().any(|s| {
            s.rule == rule
                && s.until_ms > now_ms
                && s.service.as_deref().is_none_or(|svc| svc == subject)
        })
    }

    /// Pending and firing alerts, by rule and subject.
    pub fn active(&self, now_ms: u64) -> Vec<Active> {
        let mut out: Vec<Active> = self
            .states
            .iter()
            .flat_map(|(rule, subjects)| {
                subjects.iter().map(move |(subject, e)| (rule, subject, e))
            })
            .map(|(rule, subject, e)| Active {
                rule: rule.clone(),
                subject: subject.clone(),
                phase: e.phase.clone(),
                value: e.value.words(),
                silenced: self.silenced(rule, subject, now_ms),
            })
            .collect();
        out.sort_by(|a, b| (&a.rule, &a.subject).cmp(&(&b.rule, &b.subject)));
        out
    }

    /// Firing alerts on `service`, by severity: what its score loses.
    pub fn firing_on(&self, service: &str) -> (u32, u32) {
        let mut counts = (0, 0);
        for subjects in self.states.values() {
            if let Some(Entry {
                phase: Phase::Firing { severity, .. },
                ..
            }) = subjects.get(service)
            {
                match severity {
                    Severity::Warning => counts.0 += 1,
                    Severity::Critical => counts.1 += 1,
                    Severity::Info => {}
                }
            }
        }
        counts
    }

    /// Evaluates every `when:` rule for every subject it covers.
    pub fn evaluate(&mut self, rules: &[Rule], obs: &Observation) -> Vec<Effect> {
        let mut effects = Vec::new();
        // Looked up once per subject an alert is about, whatever the number of services.
        let present: std::collections::HashSet<&str> =
            obs.services.iter().map(|f| f.name.as_str()).collect();
        // Rules no longer in the config leave nothing behind.
        self.states
            .retain(|name, _| rules.iter().any(|r| &r.name == name));
        for rule in rules {
            let Trigger::When { condition, for_ } = &rule.trigger else {
                continue;
            };
            let for_ms = for_.as_millis() as u64;
            if condition.is_system() {
                for (subject, verdict) in system_verdicts(condition, obs.system) {
                    self.step(
                        rule,
                        &subject,
                        None,
                        verdict,
                        for_ms,
                        obs.now_ms,
                        &mut effects,
                    );
                }
                continue;
            }
            for facts in obs.services {
                if !rule.services.is_empty() && !rule.services.contains(&facts.name) {
                    continue;
                }
                let verdict = if facts.at_rest() {
                    Verdict::False(Shown::Nothing)
                } else {
                    service_verdict(condition, facts, obs)
                };
                self.step(
                    rule,
                    &facts.name,
                    Some(&facts.name),
                    verdict,
                    for_ms,
                    obs.now_ms,
                    &mut effects,
                );
            }
            // Services gone from the stack resolve too.
            if let Some(subjects) = self.states.get(&rule.name) {
                let gone: Vec<String> = subjects
                    .keys()
                    .filter(|s| service_of(s).is_some_and(|s| !present.contains(s)))
                    .cloned()
                    .collect();
                for subject in gone {
                    self.step(
                        rule,
                        &subject,
                        Some(&subject),
                        Verdict::False(Shown::Nothing),
                        for_ms,
                        obs.now_ms,
                        &mut effects,
                    );
                }
            }
        }
        effects
    }

    #[allow(clippy::too_many_arguments)]
    fn step(
        &mut self,
        rule: &Rule,
        subject: &str,
        service: Option<&str>,
        verdict: Verdict,
        for_ms: u64,
        now: u64,
        effects: &mut Vec<Effect>,
    ) {
        // The common case, by far: false, and nothing pending or firing. Decided without a
        // lookup that allocates.
        if let Verdict::Unknown = verdict {
            return;
        }
        let known = self
            .states
            .get(&rule.name)
            .is_some_and(|s| s.contains_key(subject));
        if matches!(verdict, Verdict::False(_)) && !known {
            return;
        }
        let silenced = self.silenced(&rule.name, subject, now);
        let note = |kind, severity, value: Shown, since_ms, ended_ms| {
            Effect::Notify(Note {
                kind,
                rule: rule.name.clone(),
                subject: subject.to_string(),
                service: service.map(str::to_string),
                severity,
                value: value.words(),
                condition: describe(&rule.trigger),
                since_ms,
                ended_ms,
                notify: rule.notify.clone(),
            })
        };
        let transition = |from, to, value: Shown| Effect::Transition {
            rule: rule.name.clone(),
            subject: subject.to_string(),
            from,
            to,
            value: value.words(),
        };
        let subjects = self.states.entry(rule.name.clone()).or_default();
        match verdict {
            Verdict::Unknown => {}
            Verdict::False(value) => {
                let Some(entry) = subjects.remove(subject) else {
                    return;
                };
                match entry.phase {
                    Phase::Pending { .. } => {
                        effects.push(transition("pending", "inactive", value));
                    }
                    Phase::Firing {
                        since_ms, severity, ..
                    } => {
                        effects.push(transition("firing", "resolved", value));
                        if rule.resolved && !silenced {
                            // A service gone has no value: say the last one seen.
                            let shown = if value == Shown::Nothing {
                                entry.value
                            } else {
                                value
                            };
                            effects.push(note(
                                NoteKind::Resolved,
                                severity,
                                shown,
                                since_ms,
                                Some(now),
                            ));
                        }
                    }
                }
            }
            Verdict::True(value) => {
                let entry = subjects
                    .entry(subject.to_string())
                    .or_insert_with(|| Entry {
                        phase: Phase::Pending { since_ms: now },
                        value,
                    });
                if !known {
                    effects.push(transition("inactive", "pending", value));
                }
                entry.value = value;
                match entry.phase.clone() {
                    Phase::Pending { since_ms } if now.saturating_sub(since_ms) >= for_ms => {
                        entry.phase = Phase::Firing {
                            since_ms,
                            fired_ms: now,
                            notified_ms: now,
                            severity: rule.severity,
                            escalated: false,
                        };
                        effects.push(transition("pending", "firing", value));
                        if !silenced {
                            effects.push(note(
                                NoteKind::Firing,
                                rule.severity,
                                value,
                                since_ms,
                                None,
                            ));
                        }
                        if let (Some(Action::Restart), Some(service)) = (rule.action, service) {
                            effects.push(Effect::Restart {
                                service: service.to_string(),
                                rule: rule.name.clone(),
                            });
                        }
                    }
                    Phase::Pending { .. } => {}
                    Phase::Firing {
                        since_ms,
                        fired_ms,
                        notified_ms,
                        severity,
                        escalated,
                    } => {
                        let escalate = rule.escalate.filter(|e| {
                            !escalated && now.saturating_sub(fired_ms) >= e.after.as_millis() as u64
                        });
                        let repeat = rule.repeat.is_some_and(|r| {
                            now.saturating_sub(notified_ms) >= r.as_millis() as u64
                        });
                        if escalate.is_none() && !repeat {
                            return;
                        }
                        let severity = escalate.map_or(severity, |e| e.to);
                        entry.phase = Phase::Firing {
                            since_ms,
                            fired_ms,
                            notified_ms: now,
                            severity,
                            escalated: escalated || escalate.is_some(),
                        };
                        if escalate.is_some() {
                            effects.push(transition("firing", "escalated", value));
                        }
                        if !silenced {
                            effects.push(note(NoteKind::Reminder, severity, value, since_ms, None));
                        }
                    }
                }
            }
        }
    }

    /// An `on:` rule's notification for an event of `kind` about `service`.
    pub fn on_event(
        &self,
        rules: &[Rule],
        kind: &str,
        service: Option<&str>,
        message: &str,
        now_ms: u64,
    ) -> Vec<Effect> {
        rules
            .iter()
            .filter(
                |r| matches!(&r.trigger, Trigger::On { kinds } if kinds.iter().any(|k| k == kind)),
            )
            .filter(|r| {
                r.services.is_empty() || service.is_some_and(|s| r.services.iter().any(|x| x == s))
            })
            .filter(|r| !self.silenced(&r.name, service.unwrap_or("system"), now_ms))
            .map(|r| {
                Effect::Notify(Note {
                    kind: NoteKind::Event,
                    rule: r.name.clone(),
                    subject: service.unwrap_or("system").to_string(),
                    service: service.map(str::to_string),
                    severity: r.severity,
                    value: message.to_string(),
                    condition: describe(&r.trigger),
                    since_ms: now_ms,
                    ended_ms: None,
                    notify: r.notify.clone(),
                })
            })
            .collect()
    }
}

/// The service an alert's subject is, if it is one (not `system`, nor `disk:PATH`).
pub fn service_of(subject: &str) -> Option<&str> {
    (subject != "system" && !subject.starts_with("disk:")).then_some(subject)
}

/// A rule's trigger as it reads in berth.yaml.
pub fn describe(trigger: &Trigger) -> String {
    match trigger {
        Trigger::On { kinds } => format!("on {}", kinds.join(", ")),
        Trigger::When { condition, .. } => match condition {
            Condition::Compare {
                metric,
                op,
                threshold,
            } => format!(
                "{} {} {}",
                metric.name(),
                op.symbol(),
                show_threshold(*metric, *threshold)
            ),
            Condition::Restarts { op, count, within } => format!(
                "restarts {} {count} in {}",
                op.symbol(),
                crate::config::units::format_duration(*within)
            ),
            Condition::Health { equal, health } => {
                format!(
                    "health {} {}",
                    if *equal { "==" } else { "!=" },
                    health.name()
                )
            }
            Condition::State { equal, state } => {
                format!(
                    "state {} {}",
                    if *equal { "==" } else { "!=" },
                    state.name()
                )
            }
        },
    }
}

/// A threshold as berth.yaml would write it (`500MiB`, `80%`, `200ms`).
fn show_threshold(metric: Metric, threshold: Threshold) -> String {
    use crate::stack::alerts::Unit;
    match (threshold, metric.unit()) {
        (Threshold::Percent(p), _) => format!("{p}%"),
        (Threshold::Amount(a), Unit::BytesOrPercent) if a.fract() == 0.0 && a >= 0.0 => {
            crate::config::units::format_size(a as u64)
        }
        (Threshold::Amount(a), Unit::Percent) => format!("{a}%"),
        (Threshold::Amount(a), _) => show(metric, a),
    }
}

/// A value of `metric` in words, in its unit.
pub fn show(metric: Metric, value: f64) -> String {
    use crate::stack::alerts::Unit;
    match metric.unit() {
        Unit::Percent => format!("{value:.1}%"),
        Unit::BytesOrPercent => crate::config::units::format_measured_size(value),
        Unit::Duration => format!("{value:.0}ms"),
        Unit::Number => {
            if value.fract() == 0.0 {
                format!("{value:.0}")
            } else {
                format!("{value:.2}")
            }
        }
    }
}

fn compare(
    metric: Metric,
    op: crate::stack::alerts::Op,
    threshold: Threshold,
    value: f64,
    total: Option<f64>,
) -> Verdict {
    let (measured, limit, shown) = match threshold {
        Threshold::Amount(limit) => (value, limit, Shown::Amount(metric, value)),
        Threshold::Percent(limit) => {
            let Some(total) = total.filter(|t| *t > 0.0) else {
                return Verdict::Unknown;
            };
            let percent = value / total * 100.0;
            (percent, limit, Shown::Percent(percent))
        }
    };
    if op.holds(measured, limit) {
        Verdict::True(shown)
    } else {
        Verdict::False(shown)
    }
}

fn service_verdict(condition: &Condition, f: &ServiceFacts, obs: &Observation) -> Verdict {
    let to_f = |v: Option<u64>| v.map(|v| v as f64);
    match condition {
        Condition::Compare {
            metric,
            op,
            threshold,
        } => {
            let value = match metric {
                Metric::Cpu => f.cpu_percent,
                Metric::Memory => to_f(f.rss_bytes),
                Metric::Fds => to_f(f.fds),
                Metric::Threads => to_f(f.threads),
                Metric::CheckLatency => f.check_ms,
                Metric::Score => f.score.map(f64::from),
                _ => None,
            };
            let Some(value) = value else {
                return Verdict::Unknown;
            };
            let total = obs.system.map(|s| s.memory_total_bytes as f64);
            compare(*metric, *op, *threshold, value, total)
        }
        Condition::Restarts { op, count, within } => {
            let since = obs.now_ms.saturating_sub(within.as_millis() as u64);
            let n = f.restart_times.iter().filter(|t| **t >= since).count();
            let shown = Shown::Restarts(n);
            if op.holds(n as f64, f64::from(*count)) {
                Verdict::True(shown)
            } else {
                Verdict::False(shown)
            }
        }
        Condition::Health { equal, health } => match f.health {
            None => Verdict::Unknown,
            Some(h) => {
                let shown = Shown::Word(h.name());
                if (h == *health) == *equal {
                    Verdict::True(shown)
                } else {
                    Verdict::False(shown)
                }
            }
        },
        Condition::State { equal, state } => match f.state {
            None => Verdict::Unknown,
            Some(s) => {
                let shown = Shown::Word(s.name());
                if (s == *state) == *equal {
                    Verdict::True(shown)
                } else {
                    Verdict::False(shown)
                }
            }
        },
    }
}

/// The machine's subjects for a system condition: `system`, or one per disk.
fn system_verdicts(
    condition: &Condition,
    system: Option<&SystemReading>,
) -> Vec<(String, Verdict)> {
    let Condition::Compare {
        metric,
        op,
        threshold,
    } = condition
    else {
        return Vec::new();
    };
    let Some(m) = system else {
        return Vec::new();
    };
    let one = |value: Option<f64>, total: Option<f64>| match value {
        Some(v) => vec![(
            "system".to_string(),
            compare(*metric, *op, *threshold, v, total),
        )],
        None => Vec::new(),
    };
    match metric {
        Metric::SystemCpu => one(m.cpu_percent, None),
        Metric::SystemLoad1 => one(Some(m.load[0]), None),
        Metric::SystemMemory => one(
            Some(m.memory_used_bytes() as f64),
            Some(m.memory_total_bytes as f64),
        ),
        Metric::SystemSwap => one(Some(m.swap_used_bytes as f64), None),
        Metric::SystemDisk => m
            .disks
            .iter()
            .map(|d| {
                (
                    format!("disk:{}", d.path.display()),
                    compare(
                        *metric,
                        *op,
                        *threshold,
                        d.used_bytes as f64,
                        Some(d.total_bytes as f64),
                    ),
                )
            })
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::alerts::{Escalation, Op};
    use std::time::Duration;

    fn rule(condition: Condition, for_s: u64) -> Rule {
        Rule {
            name: "mem".into(),
            trigger: Trigger::When {
                condition,
                for_: Duration::from_secs(for_s),
            },
            services: vec![],
            severity: Severity::Warning,
            escalate: None,
            repeat: None,
            resolved: true,
            action: None,
            notify: vec![],
        }
    }

    fn memory_over(mib: u64) -> Condition {
        Condition::Compare {
            metric: Metric::Memory,
            op: Op::Gt,
            threshold: Threshold::Amount((mib << 20) as f64),
        }
    }

    fn api(rss_mib: u64) -> ServiceFacts {
        ServiceFacts {
            name: "api".into(),
            state: Some(ServiceState::Running),
            health: Some(HealthState::Healthy),
            rss_bytes: Some(rss_mib << 20),
            ..Default::default()
        }
    }

    /// Runs one evaluation at `t` seconds; returns the effects in short form.
    fn at(engine: &mut Engine, rules: &[Rule], t: u64, facts: &[ServiceFacts]) -> Vec<String> {
        let obs = Observation {
            now_ms: t * 1000,
            services: facts,
            system: None,
        };
        engine
            .evaluate(rules, &obs)
            .into_iter()
            .map(|e| match e {
                Effect::Notify(n) => {
                    format!("notify {:?} {} {}", n.kind, n.severity.name(), n.value)
                }
                Effect::Restart { service, .. } => format!("restart {service}"),
                Effect::Transition { from, to, .. } => format!("{from}->{to}"),
            })
            .collect()
    }

    #[test]
    fn pending_firing_resolved_with_for() {
        let rules = [rule(memory_over(500), 60)];
        let mut e = Engine::default();
        assert!(at(&mut e, &rules, 0, &[api(100)]).is_empty());
        assert_eq!(at(&mut e, &rules, 10, &[api(600)]), ["inactive->pending"]);
        // Still under `for`: nothing.
        assert!(at(&mut e, &rules, 60, &[api(610)]).is_empty());
        assert_eq!(
            at(&mut e, &rules, 70, &[api(620)]),
            ["pending->firing", "notify Firing warning 620.0MiB"]
        );
        // Firing, no repeat: silent while true.
        assert!(at(&mut e, &rules, 5000, &[api(620)]).is_empty());
        assert_eq!(e.firing_on("api"), (1, 0));
        assert_eq!(
            at(&mut e, &rules, 5001, &[api(100)]),
            ["firing->resolved", "notify Resolved warning 100.0MiB"]
        );
        assert!(e.active(5_001_000).is_empty());
    }

    #[test]
    fn a_flapping_condition_never_fires_within_for() {
        let rules = [rule(memory_over(500), 30)];
        let mut e = Engine::default();
        for t in 0..100 {
            let rss = if t % 2 == 0 { 600 } else { 100 };
            let out = at(&mut e, &rules, t * 10, &[api(rss)]);
            assert!(out.iter().all(|o| !o.starts_with("notify")), "{t}: {out:?}");
        }
    }

    #[test]
    fn repeat_escalation_and_silence() {
        let mut r = rule(memory_over(500), 0);
        r.repeat = Some(Duration::from_secs(3600));
        r.escalate = Some(Escalation {
            after: Duration::from_secs(600),
            to: Severity::Critical,
        });
        r.action = Some(Action::Restart);
        let rules = [r];
        let mut e = Engine::default();
        // `for: 0`: pending and firing at once, with the action.
        assert_eq!(
            at(&mut e, &rules, 0, &[api(600)]),
            [
                "inactive->pending",
                "pending->firing",
                "notify Firing warning 600.0MiB",
                "restart api"
            ]
        );
        assert!(at(&mut e, &rules, 599, &[api(600)]).is_empty());
        assert_eq!(
            at(&mut e, &rules, 600, &[api(600)]),
            ["firing->escalated", "notify Reminder critical 600.0MiB"]
        );
        assert_eq!(e.firing_on("api"), (0, 1));
        // Repeat counts from the last notification.
        assert!(at(&mut e, &rules, 4199, &[api(600)]).is_empty());
        assert_eq!(
            at(&mut e, &rules, 4200, &[api(600)]),
            ["notify Reminder critical 600.0MiB"]
        );
        // Silenced: state goes on, no notification.
        e.silence(Silence {
            rule: "mem".into(),
            service: Some("api".into()),
            until_ms: 100_000_000,
        });
        assert!(at(&mut e, &rules, 7800, &[api(600)]).is_empty());
        assert!(e.active(7_800_000)[0].silenced);
        assert_eq!(at(&mut e, &rules, 7900, &[api(100)]), ["firing->resolved"]);
        assert!(e.unsilence("mem", Some("api")));
        assert!(!e.unsilence("mem", Some("api")));
    }

    #[test]
    fn a_stopped_or_removed_service_resolves_its_alerts() {
        let rules = [rule(memory_over(500), 0)];
        let mut e = Engine::default();
        at(&mut e, &rules, 0, &[api(600)]);
        let stopped = ServiceFacts {
            state: Some(ServiceState::Stopped),
            rss_bytes: None,
            ..api(0)
        };
        assert_eq!(
            at(&mut e, &rules, 1, &[stopped]),
            ["firing->resolved", "notify Resolved warning 600.0MiB"]
        );
        at(&mut e, &rules, 2, &[api(600)]);
        assert_eq!(
            at(&mut e, &rules, 3, &[]),
            ["firing->resolved", "notify Resolved warning 600.0MiB"]
        );
    }

    #[test]
    fn unknown_values_change_nothing_and_resolved_false_is_quiet() {
        let mut r = rule(memory_over(500), 0);
        r.resolved = false;
        let rules = [r];
        let mut e = Engine::default();
        at(&mut e, &rules, 0, &[api(600)]);
        let unknown = ServiceFacts {
            rss_bytes: None,
            ..api(0)
        };
        assert!(at(&mut e, &rules, 1, &[unknown]).is_empty());
        assert_eq!(e.active(1000).len(), 1);
        assert_eq!(at(&mut e, &rules, 2, &[api(100)]), ["firing->resolved"]);
    }

    #[test]
    fn restarts_health_state_percent_and_system_conditions() {
        let restarts = rule(
            Condition::Restarts {
                op: Op::Gt,
                count: 2,
                within: Duration::from_secs(600),
            },
            0,
        );
        let mut facts = api(10);
        facts.restart_times = vec![100_000, 200_000, 300_000];
        let mut e = Engine::default();
        assert_eq!(
            at(
                &mut e,
                std::slice::from_ref(&restarts),
                400,
                std::slice::from_ref(&facts)
            )[2],
            "notify Firing warning 3 restarts"
        );
        // Ten minutes on, the first has left the window.
        assert_eq!(
            at(&mut e, &[restarts], 750, &[facts])[0],
            "firing->resolved"
        );

        let unhealthy = rule(
            Condition::Health {
                equal: true,
                health: HealthState::Unhealthy,
            },
            0,
        );
        let mut sick = api(10);
        sick.health = Some(HealthState::Unhealthy);
        assert_eq!(
            at(&mut Engine::default(), &[unhealthy], 0, &[sick])[2],
            "notify Firing warning unhealthy"
        );

        let half = rule(
            Condition::Compare {
                metric: Metric::Memory,
                op: Op::Ge,
                threshold: Threshold::Percent(50.0),
            },
            0,
        );
        let system = SystemReading {
            at_ms: 0,
            cpu_percent: Some(95.0),
            cores: 2,
            load: [3.0, 2.0, 1.0],
            memory_total_bytes: 1 << 30,
            memory_available_bytes: 1 << 29,
            swap_used_bytes: 0,
            disks: vec![crate::monitor::system::DiskReading {
                path: "/".into(),
                used_bytes: 95,
                total_bytes: 100,
            }],
            net_rx_bytes: 0,
            net_tx_bytes: 0,
        };
        let obs = Observation {
            now_ms: 0,
            services: &[api(600)],
            system: Some(&system),
        };
        let effects = Engine::default().evaluate(&[half], &obs);
        assert!(
            effects
                .iter()
                .any(|e| matches!(e, Effect::Notify(n) if n.value == "58.6%")),
            "{effects:?}"
        );
        let disk = rule(
            Condition::Compare {
                metric: Metric::SystemDisk,
                op: Op::Gt,
                threshold: Threshold::Percent(90.0),
            },
            0,
        );
        let effects = Engine::default().evaluate(&[disk], &obs);
        assert!(
            effects.iter().any(
                |e| matches!(e, Effect::Notify(n) if n.subject == "disk:/" && n.service.is_none())
            ),
            "{effects:?}"
        );
    }

    #[test]
    fn firing_alerts_survive_a_restart_without_a_new_notification() {
        let rules = [rule(memory_over(500), 0)];
        let mut e = Engine::default();
        at(&mut e, &rules, 0, &[api(600)]);
        let saved = e.save();
        assert_eq!(saved.alerts.len(), 1);
        let mut next =
            Engine::restore(serde_json::from_str(&serde_json::to_string(&saved).unwrap()).unwrap());
        assert!(at(&mut next, &rules, 10, &[api(600)]).is_empty(), "not new");
        assert_eq!(at(&mut next, &rules, 11, &[api(10)])[0], "firing->resolved");
    }

    #[test]
    fn event_rules_notify_once_per_event_of_their_kinds() {
        let r = Rule {
            trigger: Trigger::On {
                kinds: vec!["port".into(), "failed".into()],
            },
            ..rule(memory_over(1), 0)
        };
        let e = Engine::default();
        assert_eq!(
            e.on_event(
                std::slice::from_ref(&r),
                "port",
                Some("api"),
                "moved to 8001",
                5
            )
            .len(),
            1
        );
        assert!(e.on_event(&[r], "ready", Some("api"), "", 5).is_empty());
    }
}
