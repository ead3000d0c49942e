//! The daemon's alerting: the engine with the stack's rules, fed by one thread that wakes at
//! every sampling round and every change of a service's state or health (the bell), and
//! carries out what the engine decides: notifications to each channel's queue (built here
//! with a summary, a suggestion and the service's last log lines), transitions and
//! deliveries into history (kind `alert`), restarts for `action: restart`. Firing alerts and
//! silences are kept in `.berth/alerts.json`, so a new daemon does not notify them as new.

use super::engine::{
    Active, Effect, Engine, Note, NoteKind, Observation, Phase, Saved, ServiceFacts, Silence,
};
use super::notifier::{Notifier, Outcome};
use super::payload::{Notification, Status};
use crate::daemon::bell::Bell;
use crate::history::History;
use crate::monitor::system::SystemReading;
use crate::stack::Stack;
use crate::stack::alerts::{Channel, ChannelKind, Rule, Severity};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the alerts thread asks the daemon for at each evaluation.
pub struct Snapshot {
    pub services: Vec<ServiceFacts>,
    pub system: Option<SystemReading>,
}

/// Restarts a service (its name) because a rule (its name) fired.
pub type RestartHook = Box<dyn Fn(&str, &str) + Send + Sync>;

/// How the thread reaches the daemon: what runs now, and how to restart a service.
pub struct Hooks {
    pub observe: Box<dyn Fn() -> Option<Snapshot> + Send + Sync>,
    pub restart: RestartHook,
}

struct State {
    engine: Engine,
    /// When each firing alert was last sent to the Alertmanager channels.
    reminded: std::collections::HashMap<(String, String), u64>,
    rules: Vec<Rule>,
    channels: Vec<Channel>,
    project: String,
    state_dir: Option<PathBuf>,
}

pub struct Alerting {
    state: Mutex<State>,
    bell: Arc<Bell>,
    notifier: Notifier,
    history: History,
    file: PathBuf,
}

/// The longest the thread sleeps without a ring: rules with `for`, `repeat` and `escalate`
/// move on the clock too.
const TICK: Duration = Duration::from_secs(1);
/// How often a firing alert is sent to Alertmanager again.
const ALERTMANAGER_EVERY_MS: u64 = 60_000;
/// A burst of rings (an `up` of 200 services) is gathered into one evaluation.
const GATHER: Duration = Duration::from_millis(20);

fn file(state_dir: &Path) -> PathBuf {
    state_dir.join("alerts.json")
}

impl Alerting {
    /// The alerting of the daemon of `state_dir`, restored from its file.
    pub fn new(state_dir: &Path, history: History, bell: Arc<Bell>) -> Arc<Alerting> {
        let file = file(state_dir);
        let saved: Saved = std::fs::read(&file)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let recorder = history.clone();
        let notifier = Notifier::start(Vec::new(), move |outcome: Outcome| {
            record_delivery(&recorder, &outcome);
        });
        Arc::new(Alerting {
            state: Mutex::new(State {
                engine: Engine::restore(saved),
                reminded: Default::default(),
                rules: Vec::new(),
                channels: Vec::new(),
                project: String::new(),
                state_dir: None,
            }),
            bell,
            notifier,
            history,
            file,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes the stack's rules and channels (at every `up`).
    pub fn configure(&self, stack: &Stack) {
        let mut state = self.lock();
        // A rule on a service with `replicas` is a rule on each of its instances (as many as
        // the stack has now: `scale` configures again).
        state.rules = stack.alerts.rules.clone();
        for rule in &mut state.rules {
            rule.services = stack.expand_names(&rule.services);
        }
        state.project = stack.project.clone();
        state.state_dir = Some(stack.state_dir.clone());
        if state.channels != stack.alerts.channels {
            state.channels = stack.alerts.channels.clone();
            self.notifier.reconfigure(state.channels.clone());
        }
        drop(state);
        self.bell.ring();
    }

    /// Starts the thread that evaluates the rules.
    pub fn start(self: &Arc<Self>, hooks: Hooks) -> std::io::Result<()> {
        let me = Arc::clone(self);
        std::thread::Builder::new()
            .name("alerts".into())
            .spawn(move || {
                let mut seen = 0;
                loop {
                    let rung = me.bell.wait(seen, TICK);
                    if rung != seen {
                        std::thread::sleep(GATHER);
                        seen = me.bell.wait(rung, Duration::ZERO);
                    }
                    let Some(snapshot) = (hooks.observe)() else {
                        continue;
                    };
                    let now = crate::logs::time::now_ms();
                    for (service, rule) in me.evaluate(&snapshot, now) {
                        (hooks.restart)(&service, &rule);
                    }
                }
            })
            .map(drop)
    }

    /// One evaluation; returns the restarts to carry out (service, rule).
    pub fn evaluate(&self, snapshot: &Snapshot, now_ms: u64) -> Vec<(String, String)> {
        self.evaluate_tracked(snapshot, now_ms, None)
    }

    /// A last evaluation before the daemon goes (a `down` has just stopped the services, so
    /// their alerts resolve), waiting up to `timeout` for its notifications to be delivered.
    pub fn settle(&self, snapshot: &Snapshot, timeout: Duration) {
        let mut pending = Vec::new();
        self.evaluate_tracked(snapshot, crate::logs::time::now_ms(), Some(&mut pending));
        let deadline = std::time::Instant::now() + timeout;
        for p in pending {
            let _ = p.wait(deadline.saturating_duration_since(std::time::Instant::now()));
        }
    }

    fn evaluate_tracked(
        &self,
        snapshot: &Snapshot,
        now_ms: u64,
        track: Option<&mut Vec<super::notifier::Pending>>,
    ) -> Vec<(String, String)> {
        let mut state = self.lock();
        if state.rules.is_empty() && state.engine.active(now_ms).is_empty() {
            return Vec::new();
        }
        let obs = Observation {
            now_ms,
            services: &snapshot.services,
            system: snapshot.system.as_ref(),
        };
        let rules = std::mem::take(&mut state.rules);
        let effects = state.engine.evaluate(&rules, &obs);
        state.rules = rules;
        let restarts = self.carry_out(&state, effects, track);
        self.remind_alertmanagers(&mut state, now_ms);
        restarts
    }

    /// Alertmanager forgets an alert at its `endsAt` (five minutes on): a firing one is sent
    /// again every minute, to the Alertmanager channels only, so it stays active there for
    /// as long as it fires and ends by itself if berth goes away.
    fn remind_alertmanagers(&self, state: &mut State, now_ms: u64) {
        let managers: Vec<&Channel> = state
            .channels
            .iter()
            .filter(|c| matches!(c.kind, ChannelKind::Alertmanager { .. }))
            .collect();
        if managers.is_empty() {
            return;
        }
        let mut due = Vec::new();
        let actives = state.engine.active(now_ms);
        // Alerts no longer firing are forgotten here.
        let firing: std::collections::HashSet<(&str, &str)> = actives
            .iter()
            .filter(|a| matches!(a.phase, Phase::Firing { .. }))
            .map(|a| (a.rule.as_str(), a.subject.as_str()))
            .collect();
        state
            .reminded
            .retain(|(rule, subject), _| firing.contains(&(rule.as_str(), subject.as_str())));
        for active in &actives {
            let Phase::Firing {
                since_ms, severity, ..
            } = active.phase
            else {
                continue;
            };
            let key = (active.rule.clone(), active.subject.clone());
            let last = state.reminded.get(&key).copied().unwrap_or(now_ms);
            state.reminded.entry(key.clone()).or_insert(now_ms);
            if active.silenced || now_ms.saturating_sub(last) < ALERTMANAGER_EVERY_MS {
                continue;
            }
            state.reminded.insert(key, now_ms);
            let Some(rule) = state.rules.iter().find(|r| r.name == active.rule) else {
                continue;
            };
            let service = super::engine::service_of(&active.subject).map(str::to_string);
            due.push((
                Note {
                    kind: NoteKind::Reminder,
                    rule: rule.name.clone(),
                    subject: active.subject.clone(),
                    service,
                    severity,
                    value: active.value.clone(),
                    condition: super::engine::describe(&rule.trigger),
                    since_ms,
                    ended_ms: None,
                    notify: rule.notify.clone(),
                },
                rule.notify.clone(),
            ));
        }
        for (note, notify) in due {
            let notification = build(state, &note);
            for m in &managers {
                if notify.is_empty() || notify.contains(&m.name) {
                    self.notifier.send(&m.name, notification.clone());
                }
            }
        }
    }

    /// An event for the `on:` rules. Alerts' own events never trigger rules (a delivery
    /// would notify of itself).
    pub fn event(&self, kind: &str, service: Option<&str>, message: &str) {
        if kind == "alert" {
            return;
        }
        let state = self.lock();
        if state.rules.is_empty() {
            return;
        }
        let now = crate::logs::time::now_ms();
        let effects = state
            .engine
            .on_event(&state.rules, kind, service, message, now);
        self.carry_out(&state, effects, None);
    }

    fn carry_out(
        &self,
        state: &State,
        effects: Vec<Effect>,
        mut track: Option<&mut Vec<super::notifier::Pending>>,
    ) -> Vec<(String, String)> {
        let mut restarts = Vec::new();
        let mut changed = false;
        for effect in effects {
            match effect {
                Effect::Notify(note) => self.notify(state, &note, track.as_deref_mut()),
                Effect::Restart { service, rule } => restarts.push((service, rule)),
                Effect::Transition {
                    rule,
                    subject,
                    from,
                    to,
                    value,
                } => {
                    changed = true;
                    let service = super::engine::service_of(&subject);
                    let shown = if value.is_empty() {
                        String::new()
                    } else {
                        format!(" ({value})")
                    };
                    self.history.event(
                        service,
                        "alert",
                        &format!("{rule}: {from} → {to}{shown}"),
                        serde_json::json!({
                            "rule": rule, "subject": subject, "from": from, "to": to, "value": value,
                        }),
                    );
                }
            }
        }
        if changed {
            self.save(state);
        }
        restarts
    }

    fn save(&self, state: &State) {
        if let Ok(bytes) = serde_json::to_vec(&state.engine.save()) {
            // Best effort: a full state dir loses the memory of what fired, never a service.
            let _ = crate::state::write_atomic(&self.file, &bytes);
        }
    }

    /// Builds `note`'s notification and puts it on each of its channels' queues.
    fn notify(
        &self,
        state: &State,
        note: &Note,
        mut track: Option<&mut Vec<super::notifier::Pending>>,
    ) {
        let notification = build(state, note);
        for channel in channels_of(&state.channels, &note.notify) {
            match track.as_deref_mut() {
                Some(pending) => {
                    if let Ok(p) = self
                        .notifier
                        .send_tracked(&channel.name, notification.clone())
                    {
                        pending.push(p);
                    }
                }
                None => {
                    self.notifier.send(&channel.name, notification.clone());
                }
            }
        }
    }

    pub fn active(&self, now_ms: u64) -> Vec<Active> {
        self.lock().engine.active(now_ms)
    }

    /// Firing alerts on a service: (warning, critical), what its score loses.
    pub fn firing_on(&self, service: &str) -> (u32, u32) {
        self.lock().engine.firing_on(service)
    }

    /// The rules' severities, for `/metrics` and `berth alerts`.
    pub fn severity_now(&self, active: &Active) -> Severity {
        match &active.phase {
            super::engine::Phase::Firing { severity, .. } => *severity,
            super::engine::Phase::Pending { .. } => self
                .lock()
                .rules
                .iter()
                .find(|r| r.name == active.rule)
                .map(|r| r.severity)
                .unwrap_or(Severity::Warning),
        }
    }

    pub fn rules(&self) -> Vec<Rule> {
        self.lock().rules.clone()
    }

    pub fn silence(&self, silence: Silence) {
        let mut state = self.lock();
        self.history.event(
            silence.service.as_deref(),
            "alert",
            &format!(
                "{} silenced until {}",
                silence.rule,
                crate::logs::time::rfc3339_ms(silence.until_ms)
            ),
            serde_json::json!({ "rule": silence.rule, "silenced_until": silence.until_ms }),
        );
        state.engine.silence(silence);
        self.save(&state);
    }

    pub fn unsilence(&self, rule: &str, service: Option<&str>) -> bool {
        let mut state = self.lock();
        let lifted = state.engine.unsilence(rule, service);
        if lifted {
            self.history.event(
                service,
                "alert",
                &format!("{rule}: silence lifted"),
                serde_json::json!({ "rule": rule }),
            );
            self.save(&state);
        }
        lifted
    }

    pub fn silences(&self, now_ms: u64) -> Vec<Silence> {
        self.lock().engine.silences(now_ms)
    }

    /// `berth alerts test`: a test notification through each named channel (all when
    /// empty), through its own queue; how each went.
    pub fn test(
        &self,
        names: &[String],
        timeout: Duration,
    ) -> Vec<(String, Result<String, String>)> {
        let state = self.lock();
        let note = Note {
            kind: NoteKind::Event,
            rule: "test".into(),
            subject: "system".into(),
            service: None,
            severity: Severity::Info,
            value: String::new(),
            condition: "berth alerts test".into(),
            since_ms: crate::logs::time::now_ms(),
            ended_ms: None,
            notify: Vec::new(),
        };
        let mut notification = build(&state, &note);
        notification.status = Status::Test;
        notification.summary = format!("{}: a test notification from berth", state.project);
        notification.suggestion = "nothing to do: this is a test".into();
        let channels: Vec<Channel> = channels_of(&state.channels, names);
        drop(state);
        // Sent to every channel first, then waited for: a hung one does not hold up the rest.
        let pending: Vec<_> = channels
            .iter()
            .map(|c| {
                let tracked = self.notifier.send_tracked(&c.name, notification.clone());
                (c.name.clone(), tracked)
            })
            .collect();
        let deadline = std::time::Instant::now() + timeout;
        pending
            .into_iter()
            .map(|(name, tracked)| {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                (name, tracked.and_then(|p| p.wait(left)))
            })
            .collect()
    }
}

fn channels_of(all: &[Channel], names: &[String]) -> Vec<Channel> {
    all.iter()
        .filter(|c| names.is_empty() || names.contains(&c.name))
        .cloned()
        .collect()
}

/// Records a delivery's outcome in history (kind `alert`).
fn record_delivery(history: &History, o: &Outcome) {
    let (ok, detail) = match &o.result {
        Ok(d) => (true, d.clone()),
        Err(e) => (false, e.clone()),
    };
    history.event(
        o.service.as_deref(),
        "alert",
        &format!(
            "{} {} → {}: {} ({}, {}, {} ms)",
            o.rule,
            o.status,
            o.channel,
            if ok { "delivered" } else { "not delivered" },
            detail,
            if o.tries == 1 {
                "1 try".to_string()
            } else {
                format!("{} tries", o.tries)
            },
            o.took_ms
        ),
        serde_json::json!({
            "rule": o.rule, "channel": o.channel, "delivered": ok, "detail": detail,
            "tries": o.tries, "took_ms": o.took_ms,
        }),
    );
}

/// A note in words: summary, suggestion, the service's last log lines.
fn build(state: &State, note: &Note) -> Notification {
    let who = note.service.clone().unwrap_or_else(|| note.subject.clone());
    let summary = match note.kind {
        NoteKind::Firing | NoteKind::Reminder => {
            format!(
                "{who}: {} ({}; now {})",
                note.rule, note.condition, note.value
            )
        }
        NoteKind::Resolved => format!("{who}: {} resolved ({})", note.rule, note.value),
        // Events name their service already (`api: port 8000 …`).
        NoteKind::Event if note.value.starts_with(&format!("{who}:")) => note.value.clone(),
        NoteKind::Event => format!("{who}: {}", note.value),
    };
    let logs = match (&note.service, &state.state_dir) {
        (Some(service), Some(dir)) => {
            let log = dir.join("logs").join(format!("{service}.log"));
            crate::logs::read::tail(&log, Some(10), &|_| true)
                .into_iter()
                .map(|r| r.text)
                .collect()
        }
        _ => Vec::new(),
    };
    Notification {
        status: match note.kind {
            NoteKind::Firing | NoteKind::Reminder => Status::Firing,
            NoteKind::Resolved => Status::Resolved,
            NoteKind::Event => Status::Event,
        },
        rule: note.rule.clone(),
        severity: note.severity,
        project: state.project.clone(),
        service: note.service.clone(),
        value: Some(note.value.clone()).filter(|v| !v.is_empty()),
        threshold: Some(note.condition.clone()),
        since_ms: note.since_ms,
        ended_ms: note.ended_ms,
        summary,
        suggestion: suggestion(note),
        logs,
        dashboard: None,
    }
}

/// What to run next, by what the rule watches.
fn suggestion(note: &Note) -> String {
    let Some(service) = &note.service else {
        return if note.subject.starts_with("disk:") {
            format!("df -h {}; berth stats --since 1h", &note.subject[5..])
        } else {
            "berth stats --since 1h; berth status".into()
        };
    };
    let c = &note.condition;
    if c.starts_with("memory")
        || c.starts_with("cpu")
        || c.starts_with("fds")
        || c.starts_with("threads")
    {
        format!("berth stats {service} --since 1h; berth restart {service}")
    } else if c.contains("port") {
        format!("berth ports check; berth events {service} --kind port")
    } else {
        format!("berth logs {service} -n 50; berth restart {service}")
    }
}
