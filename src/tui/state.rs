//! What `berth top` knows and what a key does: the stack as the API last told it, the user's
//! choices (selection, sort, filter, screen, a pending question), and the effects asked of the
//! outside (a restart, a log to follow). Pure: no I/O and no clock (times are handed in), so
//! every rule here is a unit test.

use crate::api::alerts::AlertView;
use crate::api::monitoring::EventView;
use crate::api::services::{LogLine, SampleView, ServiceDetail};
use crate::api::types::{ServiceView, StatusResponse};
use crate::daemon::supervisor::ServiceState;
use crate::monitor::system::SystemReading;
use std::collections::{HashMap, VecDeque};

/// A key as `berth top` reads it (from crossterm's events, in `input`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    Char(char),
    /// A letter with Ctrl held.
    Ctrl(char),
    Up,
    Down,
    PageUp,
    PageDown,
    Home,
    End,
    Enter,
    Esc,
    Backspace,
}

/// The order of the rows; `c` cycles CPU, memory, name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Sort {
    #[default]
    Name,
    Cpu,
    Memory,
}

impl Sort {
    pub fn next(self) -> Sort {
        match self {
            Sort::Name => Sort::Cpu,
            Sort::Cpu => Sort::Memory,
            Sort::Memory => Sort::Name,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Sort::Name => "name",
            Sort::Cpu => "cpu",
            Sort::Memory => "memory",
        }
    }
}

/// What fills the screen.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Screen {
    #[default]
    Main,
    /// The selected service in full, with charts.
    Detail,
    /// The selected service's log, full screen; `scroll` lines up from the newest (0: follow).
    Log {
        scroll: usize,
    },
    Help,
}

/// What keys are for right now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    #[default]
    Browse,
    /// Typing the filter after `/`.
    Filter,
    /// `stop NAME? y/n` in the footer.
    ConfirmStop(String),
}

/// What the API's service routes can be asked to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    Restart,
    Stop,
    Start,
}

impl Verb {
    /// The last part of `POST /v1/services/{name}/…`.
    pub fn route(self) -> &'static str {
        match self {
            Verb::Restart => "restart",
            Verb::Stop => "stop",
            Verb::Start => "start",
        }
    }

    fn doing(self) -> &'static str {
        match self {
            Verb::Restart => "restarting",
            Verb::Stop => "stopping",
            Verb::Start => "starting",
        }
    }
}

/// What the model asks of the outside world.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    Quit,
    Act(Verb, String),
    /// Follow this service's log from now on (none: stop following).
    FollowLog(Option<String>),
    /// The detail screen opened on (or moved to) this service: fetch it, and keep it fresh.
    WatchDetail(Option<String>),
}

/// How things stand with the daemon.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Link {
    #[default]
    Connecting,
    Live,
    /// Not answering; what is on screen is the last that was known.
    Down {
        reason: String,
    },
}

/// A line in the footer after an action: what happened to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub text: String,
    pub error: bool,
    /// When it was given, for it to go away after `NOTICE_FOR_MS`.
    pub at_ms: u64,
}

/// How long a notice stays in the footer.
pub const NOTICE_FOR_MS: u64 = 8_000;
/// Points kept per series for the sparklines and the detail charts.
pub const TREND_POINTS: usize = 180;
/// Log lines kept for the selected service.
pub const LOG_LINES: usize = 2_000;
/// Events kept for the foot.
pub const EVENTS: usize = 100;
/// How far PageUp and PageDown move.
const PAGE: usize = 10;

/// One series of a service: `(unix ms, value)`, oldest first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trend {
    pub points: VecDeque<(u64, f64)>,
}

impl Trend {
    /// A live point; one not newer than the last is a repeat and dropped.
    fn push(&mut self, at_ms: u64, value: f64) {
        if self.points.back().is_some_and(|(t, _)| *t >= at_ms) {
            return;
        }
        self.points.push_back((at_ms, value));
        while self.points.len() > TREND_POINTS {
            self.points.pop_front();
        }
    }

    /// History's points before the live ones: those older than the first live point go in
    /// front, so a seed that arrives after live samples neither drops nor repeats them.
    fn seed(&mut self, history: &[(u64, f64)]) {
        let first_live = self.points.front().map_or(u64::MAX, |(t, _)| *t);
        for &point in history.iter().rev().filter(|(t, _)| *t < first_live) {
            self.points.push_front(point);
        }
        while self.points.len() > TREND_POINTS {
            self.points.pop_front();
        }
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = f64> + '_ {
        self.points.iter().map(|(_, v)| *v)
    }
}

/// A service's CPU and memory over time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trends {
    pub cpu: Trend,
    pub rss: Trend,
}

/// Which series of a service history was asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    Cpu,
    Memory,
}

impl Metric {
    /// Its name in `GET /v1/history?metric=`.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Cpu => "cpu_percent",
            Metric::Memory => "rss_bytes",
        }
    }
}

/// The selected service's log.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LogPane {
    /// Which follower's lines are taken (older ones' are dropped).
    pub generation: u64,
    pub service: Option<String>,
    pub lines: VecDeque<LogLine>,
}

/// The detail screen's data, refreshed while it is open.
#[derive(Clone, Debug)]
pub struct Detail {
    pub service: String,
    pub info: Option<ServiceDetail>,
    /// Longer than the sparklines': the charts' window.
    pub trends: Trends,
}

/// Something the API answered or pushed, or a feed's news.
#[derive(Clone, Debug)]
pub enum Update {
    Status(StatusResponse),
    Sample(SampleView),
    Event(EventView),
    /// The latest events, read once the daemon answers (those the stream brings follow).
    Events(Vec<EventView>),
    Alerts(Vec<AlertView>),
    History {
        service: String,
        metric: Metric,
        points: Vec<(u64, f64)>,
    },
    /// A new follower of `service`'s log begins: the lines so far are replaced.
    LogStarted {
        generation: u64,
        service: String,
    },
    Log {
        generation: u64,
        line: LogLine,
    },
    Detail(ServiceDetail),
    DetailHistory {
        service: String,
        metric: Metric,
        points: Vec<(u64, f64)>,
    },
    Acted {
        verb: Verb,
        service: String,
        /// The services it touches, or why it was refused.
        outcome: Result<Vec<String>, String>,
    },
    /// The daemon does not answer (any more).
    Down(String),
}

/// When the screen must be drawn again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Redraw {
    #[default]
    No,
    /// At the next refresh: the figures moved.
    Soon,
    /// At once: the user did something, or the daemon came or went.
    Now,
}

#[derive(Clone, Debug, Default)]
pub struct Model {
    pub project: String,
    /// The last status the daemon gave (none before the first).
    pub status: Option<StatusResponse>,
    pub system: Option<SystemReading>,
    pub trends: HashMap<String, Trends>,
    pub events: VecDeque<EventView>,
    pub alerts: Vec<AlertView>,
    pub log: LogPane,
    pub detail: Option<Detail>,
    pub link: Link,
    pub sort: Sort,
    pub filter: String,
    pub mode: Mode,
    pub screen: Screen,
    pub notice: Option<Notice>,
    /// The selected service, by name, so it stays selected as rows move.
    selected: Option<String>,
    /// Where it was among the visible rows, to select its neighbour if it goes away.
    selected_at: usize,
    redraw: Redraw,
}

impl Model {
    pub fn new(project: &str) -> Model {
        Model {
            project: project.to_string(),
            redraw: Redraw::Now,
            ..Model::default()
        }
    }

    pub fn services(&self) -> &[ServiceView] {
        self.status.as_ref().map_or(&[], |s| &s.services)
    }

    /// What the screen needs drawing for, since the last time this was asked.
    pub fn take_redraw(&mut self) -> Redraw {
        std::mem::take(&mut self.redraw)
    }

    fn mark(&mut self, redraw: Redraw) {
        self.redraw = self.redraw.max(redraw);
    }

    /// The rows shown, as indices into `services()`: those matching the filter, in the sort's
    /// order (the busiest first for CPU and memory; by name among equals).
    pub fn visible(&self) -> Vec<usize> {
        let needle = self.filter.to_lowercase();
        let services = self.services();
        let mut rows: Vec<usize> = (0..services.len())
            .filter(|&i| needle.is_empty() || services[i].name.to_lowercase().contains(&needle))
            .collect();
        let by_name = |a: &ServiceView, b: &ServiceView| a.name.cmp(&b.name);
        let figure = |s: &ServiceView| match self.sort {
            Sort::Cpu => s.cpu_percent.unwrap_or(-1.0),
            Sort::Memory => s.rss_bytes.map_or(-1.0, |b| b as f64),
            Sort::Name => 0.0,
        };
        rows.sort_by(|&a, &b| {
            let (a, b) = (&services[a], &services[b]);
            figure(b).total_cmp(&figure(a)).then_with(|| by_name(a, b))
        });
        rows
    }

    /// The selected service's row among `visible()`.
    pub fn selected_row(&self) -> Option<usize> {
        let name = self.selected.as_deref()?;
        let services = self.services();
        self.visible()
            .iter()
            .position(|&i| services[i].name == name)
    }

    pub fn selected(&self) -> Option<&ServiceView> {
        let name = self.selected.as_deref()?;
        self.services().iter().find(|s| s.name == name)
    }

    pub fn selected_name(&self) -> Option<&str> {
        self.selected.as_deref()
    }

    /// Keeps the selection on a visible service: the same one if it still shows, else the
    /// one now where it was (clamped), else none. Says what follows from a change.
    fn reselect(&mut self, effects: &mut Vec<Effect>) {
        let visible = self.visible();
        let services = self.services();
        let names: Vec<&str> = visible.iter().map(|&i| services[i].name.as_str()).collect();
        let now = match self.selected.as_deref() {
            Some(name) if names.contains(&name) => Some(name.to_string()),
            _ if names.is_empty() => None,
            _ => Some(names[self.selected_at.min(names.len() - 1)].to_string()),
        };
        if let Some(name) = &now {
            self.selected_at = names.iter().position(|n| n == name).unwrap_or(0);
        }
        self.select(now, effects);
    }

    fn select(&mut self, name: Option<String>, effects: &mut Vec<Effect>) {
        if name == self.selected {
            return;
        }
        self.selected = name.clone();
        self.mark(Redraw::Now);
        effects.push(Effect::FollowLog(name.clone()));
        if self.screen == Screen::Detail {
            effects.push(Effect::WatchDetail(name));
        }
    }

    /// Moves the selection by `by` rows, stopping at the ends.
    fn step(&mut self, by: isize, effects: &mut Vec<Effect>) {
        let visible = self.visible();
        if visible.is_empty() {
            return;
        }
        let at = self.selected_row().unwrap_or(0) as isize;
        let to = (at + by).clamp(0, visible.len() as isize - 1) as usize;
        self.selected_at = to;
        let name = self.services()[visible[to]].name.clone();
        self.select(Some(name), effects);
    }

    fn notify(&mut self, text: String, error: bool, now_ms: u64) {
        self.notice = Some(Notice {
            text,
            error,
            at_ms: now_ms,
        });
        self.mark(Redraw::Now);
    }

    /// Time passing: a notice goes away after a while.
    pub fn tick(&mut self, now_ms: u64) {
        if self
            .notice
            .as_ref()
            .is_some_and(|n| now_ms.saturating_sub(n.at_ms) >= NOTICE_FOR_MS)
        {
            self.notice = None;
            self.mark(Redraw::Now);
        }
    }

    /// A key pressed at `now_ms`.
    pub fn on_key(&mut self, key: Key, now_ms: u64) -> Vec<Effect> {
        let mut effects = Vec::new();
        if key == Key::Ctrl('c') {
            effects.push(Effect::Quit);
            return effects;
        }
        self.mark(Redraw::Now);
        match self.mode.clone() {
            Mode::Filter => self.filter_key(key, &mut effects),
            Mode::ConfirmStop(name) => {
                self.mode = Mode::Browse;
                if matches!(key, Key::Char('y' | 'Y')) {
                    self.act(Verb::Stop, name, now_ms, &mut effects);
                } else {
                    self.notify(format!("{name} left running"), false, now_ms);
                }
            }
            Mode::Browse => match self.screen.clone() {
                Screen::Help => match key {
                    Key::Char('q') => effects.push(Effect::Quit),
                    _ => self.screen = Screen::Main,
                },
                Screen::Log { scroll } => self.log_key(key, scroll, now_ms, &mut effects),
                Screen::Main | Screen::Detail => self.browse_key(key, now_ms, &mut effects),
            },
        }
        effects
    }

    fn browse_key(&mut self, key: Key, now_ms: u64, effects: &mut Vec<Effect>) {
        match key {
            Key::Char('q') => effects.push(Effect::Quit),
            Key::Char('j') | Key::Down => self.step(1, effects),
            Key::Char('k') | Key::Up => self.step(-1, effects),
            Key::PageDown => self.step(PAGE as isize, effects),
            Key::PageUp => self.step(-(PAGE as isize), effects),
            Key::Char('g') | Key::Home => self.step(isize::MIN / 2, effects),
            Key::Char('G') | Key::End => self.step(isize::MAX / 2, effects),
            Key::Char('c') => {
                self.sort = self.sort.next();
                self.reselect(effects);
            }
            Key::Char('/') => {
                self.mode = Mode::Filter;
                self.screen = Screen::Main;
            }
            Key::Char('?') => self.screen = Screen::Help,
            Key::Char('l') => self.screen = Screen::Log { scroll: 0 },
            Key::Enter if self.screen == Screen::Main => {
                if let Some(name) = self.selected.clone() {
                    self.screen = Screen::Detail;
                    effects.push(Effect::WatchDetail(Some(name)));
                }
            }
            Key::Enter | Key::Esc if self.screen == Screen::Detail => {
                self.screen = Screen::Main;
                effects.push(Effect::WatchDetail(None));
            }
            Key::Esc if !self.filter.is_empty() => {
                self.filter.clear();
                self.reselect(effects);
            }
            Key::Char('r') => {
                if let Some(name) = self.selected.clone() {
                    self.act(Verb::Restart, name, now_ms, effects);
                }
            }
            Key::Char('s') => self.stop_or_start(now_ms, effects),
            _ => {}
        }
    }

    /// `s`: a service that runs (or is on its way) is stopped once the user says yes; one
    /// that does not is started.
    fn stop_or_start(&mut self, now_ms: u64, effects: &mut Vec<Effect>) {
        let Some(service) = self.selected() else {
            return;
        };
        let name = service.name.clone();
        match service.state {
            ServiceState::Stopped | ServiceState::Exited | ServiceState::Failed => {
                self.act(Verb::Start, name, now_ms, effects)
            }
            ServiceState::Stopping => self.notify(format!("{name} is stopping"), false, now_ms),
            ServiceState::Running
            | ServiceState::Starting
            | ServiceState::Waiting
            | ServiceState::Backoff => self.mode = Mode::ConfirmStop(name),
        }
    }

    fn act(&mut self, verb: Verb, name: String, now_ms: u64, effects: &mut Vec<Effect>) {
        if self.link != Link::Live {
            self.notify(
                format!("cannot {} {name}: the daemon is not running", verb.route()),
                true,
                now_ms,
            );
            return;
        }
        self.notify(format!("{} {name}…", verb.doing()), false, now_ms);
        effects.push(Effect::Act(verb, name));
    }

    fn filter_key(&mut self, key: Key, effects: &mut Vec<Effect>) {
        match key {
            Key::Char(c) => self.filter.push(c),
            Key::Backspace => {
                self.filter.pop();
            }
            Key::Enter => self.mode = Mode::Browse,
            Key::Esc => {
                self.filter.clear();
                self.mode = Mode::Browse;
            }
            Key::Down => self.step(1, effects),
            Key::Up => self.step(-1, effects),
            _ => {}
        }
        self.reselect(effects);
    }

    fn log_key(&mut self, key: Key, scroll: usize, now_ms: u64, effects: &mut Vec<Effect>) {
        let most = self.log.lines.len().saturating_sub(1);
        let scroll = match key {
            Key::Char('k') | Key::Up => scroll + 1,
            Key::Char('j') | Key::Down => scroll.saturating_sub(1),
            Key::PageUp => scroll + PAGE,
            Key::PageDown => scroll.saturating_sub(PAGE),
            Key::Char('g') | Key::Home => most,
            Key::Char('G') | Key::End => 0,
            Key::Esc | Key::Char('l') => {
                self.screen = Screen::Main;
                return;
            }
            Key::Char('?') => {
                self.screen = Screen::Help;
                return;
            }
            _ => return self.browse_key(key, now_ms, effects),
        };
        self.screen = Screen::Log {
            scroll: scroll.min(most),
        };
    }

    /// News from the feeds at `now_ms`.
    pub fn apply(&mut self, update: Update, now_ms: u64) -> Vec<Effect> {
        let mut effects = Vec::new();
        match update {
            Update::Status(status) => {
                let returning = self.link != Link::Live;
                self.link = Link::Live;
                self.project = status.project.clone();
                self.status = Some(status);
                self.mark(if returning { Redraw::Now } else { Redraw::Soon });
                self.reselect(&mut effects);
                // The log's follower ended with the daemon: follow it again.
                if returning && self.selected.is_some() {
                    effects.retain(|e| !matches!(e, Effect::FollowLog(_)));
                    effects.push(Effect::FollowLog(self.selected.clone()));
                }
            }
            Update::Sample(sample) => {
                let at = sample.system.as_ref().map_or(now_ms, |s| s.at_ms);
                for s in &sample.services {
                    let trends = self.trends.entry(s.name.clone()).or_default();
                    trends.cpu.push(at, s.cpu_percent);
                    trends.rss.push(at, s.rss_bytes as f64);
                }
                if let Some(detail) = self.detail.as_mut()
                    && let Some(s) = sample.services.iter().find(|s| s.name == detail.service)
                {
                    detail.trends.cpu.push(at, s.cpu_percent);
                    detail.trends.rss.push(at, s.rss_bytes as f64);
                }
                if sample.system.is_some() {
                    self.system = sample.system;
                }
                self.mark(Redraw::Soon);
            }
            Update::Event(event) => {
                self.push_event(event);
                self.mark(Redraw::Soon);
            }
            Update::Events(events) => {
                for event in events {
                    self.push_event(event);
                }
                self.mark(Redraw::Soon);
            }
            Update::Alerts(alerts) => {
                self.alerts = alerts;
                self.mark(Redraw::Soon);
            }
            Update::History {
                service,
                metric,
                points,
            } => {
                let trends = self.trends.entry(service).or_default();
                trend_of(trends, metric).seed(&points);
                self.mark(Redraw::Soon);
            }
            Update::LogStarted {
                generation,
                service,
            } => {
                self.log = LogPane {
                    generation,
                    service: Some(service),
                    lines: VecDeque::new(),
                };
                self.mark(Redraw::Soon);
            }
            Update::Log { generation, line } if generation == self.log.generation => {
                self.log.lines.push_back(line);
                if self.log.lines.len() > LOG_LINES {
                    self.log.lines.pop_front();
                }
                // Scrolled back in the full-screen log: stay on the same lines.
                if let Screen::Log { scroll } = &mut self.screen
                    && *scroll > 0
                {
                    *scroll = (*scroll + 1).min(self.log.lines.len().saturating_sub(1));
                }
                self.mark(Redraw::Soon);
            }
            Update::Log { .. } => {}
            Update::Detail(info) => {
                if let Some(detail) = self
                    .detail
                    .as_mut()
                    .filter(|d| d.service == info.service.name)
                {
                    detail.info = Some(info);
                    self.mark(Redraw::Soon);
                }
            }
            Update::DetailHistory {
                service,
                metric,
                points,
            } => {
                if let Some(detail) = self.detail.as_mut().filter(|d| d.service == service) {
                    trend_of(&mut detail.trends, metric).seed(&points);
                    self.mark(Redraw::Soon);
                }
            }
            Update::Acted {
                verb,
                service,
                outcome,
            } => match outcome {
                Ok(services) if services.is_empty() => self.notify(
                    format!("{service}: nothing to {}", verb.route()),
                    false,
                    now_ms,
                ),
                Ok(services) => self.notify(
                    format!("{}: {}", verb.doing(), services.join(", ")),
                    false,
                    now_ms,
                ),
                Err(why) => self.notify(
                    format!("{} {service} refused: {why}", verb.route()),
                    true,
                    now_ms,
                ),
            },
            Update::Down(reason) => {
                let down = Link::Down { reason };
                if self.link != down {
                    self.link = down;
                    self.mark(Redraw::Now);
                }
            }
        }
        effects
    }

    /// Opens (or moves, or closes) the detail screen's data to `service`.
    pub fn watch_detail(&mut self, service: Option<&str>) {
        match service {
            Some(name) if self.detail.as_ref().is_some_and(|d| d.service == name) => {}
            Some(name) => {
                self.detail = Some(Detail {
                    service: name.to_string(),
                    info: None,
                    trends: Trends::default(),
                })
            }
            None => self.detail = None,
        }
    }

    /// The same event may come twice: read once the daemon answers, and on the stream that
    /// was opened just before.
    fn push_event(&mut self, event: EventView) {
        if self.events.iter().rev().take(EVENTS).any(|e| *e == event) {
            return;
        }
        self.events.push_back(event);
        while self.events.len() > EVENTS {
            self.events.pop_front();
        }
    }
}

fn trend_of(trends: &mut Trends, metric: Metric) -> &mut Trend {
    match metric {
        Metric::Cpu => &mut trends.cpu,
        Metric::Memory => &mut trends.rss,
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::api::types::{DaemonInfo, StackHealth};
    use crate::daemon::supervisor::HealthState;

    /// A running, healthy service with these figures.
    pub fn service(name: &str, cpu: f64, rss_mib: u64) -> ServiceView {
        ServiceView {
            name: name.to_string(),
            state: ServiceState::Running,
            health: HealthState::Healthy,
            pid: Some(1000),
            port: None,
            configured_port: None,
            uptime_s: Some(60.0),
            restarts: 0,
            cpu_percent: Some(cpu),
            rss_bytes: Some(rss_mib << 20),
            exit_code: None,
            score: Some(100),
            score_reasons: Vec::new(),
            reason: None,
            note: None,
            blocked_by: None,
            adopted: false,
            critical: true,
        }
    }

    pub fn status(services: Vec<ServiceView>) -> StatusResponse {
        StatusResponse {
            project: "shop".into(),
            health: StackHealth::Healthy,
            daemon: DaemonInfo {
                running: true,
                pid: Some(42),
                api: None,
                history: None,
            },
            services,
            score: Some(100),
            score_reasons: Vec::new(),
        }
    }

    fn model(services: Vec<ServiceView>) -> Model {
        let mut m = Model::new("shop");
        m.apply(Update::Status(status(services)), 0);
        m
    }

    fn three() -> Model {
        model(vec![
            service("web", 5.0, 30),
            service("api", 20.0, 10),
            service("db", 1.0, 90),
        ])
    }

    fn names(m: &Model) -> Vec<&str> {
        m.visible()
            .into_iter()
            .map(|i| m.services()[i].name.as_str())
            .collect()
    }

    fn press(m: &mut Model, keys: &str) -> Vec<Effect> {
        keys.chars()
            .flat_map(|c| m.on_key(Key::Char(c), 0))
            .collect()
    }

    #[test]
    fn the_first_status_selects_the_first_row_and_follows_its_log() {
        let mut m = Model::new("shop");
        assert_eq!(m.selected_name(), None);
        let effects = m.apply(Update::Status(status(vec![service("b", 0.0, 1)])), 0);
        assert_eq!(m.selected_name(), Some("b"));
        assert_eq!(effects, vec![Effect::FollowLog(Some("b".into()))]);
        assert_eq!(m.take_redraw(), Redraw::Now);
        // The same again only moves figures: drawn at the next refresh, nothing to do.
        assert!(
            m.apply(Update::Status(status(vec![service("b", 1.0, 1)])), 0)
                .is_empty()
        );
        assert_eq!(m.take_redraw(), Redraw::Soon);
        assert_eq!(m.take_redraw(), Redraw::No);
    }

    #[test]
    fn c_cycles_cpu_memory_name() {
        let mut m = three();
        assert_eq!(names(&m), ["api", "db", "web"]);
        press(&mut m, "c");
        assert_eq!((m.sort, names(&m)), (Sort::Cpu, vec!["api", "web", "db"]));
        press(&mut m, "c");
        assert_eq!(
            (m.sort, names(&m)),
            (Sort::Memory, vec!["db", "web", "api"])
        );
        press(&mut m, "c");
        assert_eq!((m.sort, names(&m)), (Sort::Name, vec!["api", "db", "web"]));
    }

    #[test]
    fn the_selection_stays_on_its_service_across_sorts_and_refreshes() {
        let mut m = three();
        press(&mut m, "j");
        assert_eq!(m.selected_name(), Some("db"));
        // Sorted by CPU db moves to the bottom; it stays selected, and nothing is followed anew.
        assert!(press(&mut m, "c").is_empty());
        assert_eq!((m.selected_name(), m.selected_row()), (Some("db"), Some(2)));
        // A refresh in which db became the busiest moves it to the top, still selected.
        let effects = m.apply(
            Update::Status(status(vec![
                service("web", 5.0, 30),
                service("api", 20.0, 10),
                service("db", 99.0, 90),
            ])),
            0,
        );
        assert!(effects.is_empty());
        assert_eq!((m.selected_name(), m.selected_row()), (Some("db"), Some(0)));
    }

    #[test]
    fn moving_stops_at_the_ends() {
        let mut m = three();
        press(&mut m, "k");
        assert_eq!(m.selected_name(), Some("api"));
        assert_eq!(
            press(&mut m, "jjjj"),
            vec![
                Effect::FollowLog(Some("db".into())),
                Effect::FollowLog(Some("web".into()))
            ]
        );
        assert_eq!(m.selected_name(), Some("web"));
        m.on_key(Key::Home, 0);
        assert_eq!(m.selected_name(), Some("api"));
        m.on_key(Key::End, 0);
        assert_eq!(m.selected_name(), Some("web"));
        m.on_key(Key::PageUp, 0);
        assert_eq!(m.selected_name(), Some("api"));
    }

    #[test]
    fn a_service_that_goes_away_hands_the_selection_to_the_one_in_its_place() {
        let mut m = three();
        press(&mut m, "jj");
        assert_eq!(m.selected_name(), Some("web"));
        let effects = m.apply(
            Update::Status(status(vec![service("api", 0.0, 1), service("db", 0.0, 1)])),
            0,
        );
        assert_eq!(m.selected_name(), Some("db"));
        assert_eq!(effects, vec![Effect::FollowLog(Some("db".into()))]);
        let effects = m.apply(Update::Status(status(vec![])), 0);
        assert_eq!(m.selected_name(), None);
        assert_eq!(effects, vec![Effect::FollowLog(None)]);
    }

    #[test]
    fn the_filter_is_typed_after_a_slash_and_keys_are_letters_meanwhile() {
        let mut m = three();
        press(&mut m, "jj");
        assert!(press(&mut m, "/").is_empty());
        assert_eq!(m.mode, Mode::Filter);
        // `q`, `r` and `s` are letters of the filter, not commands.
        assert_eq!(
            press(&mut m, "qb"),
            vec![Effect::FollowLog(None)],
            "nothing matches `qb`"
        );
        assert!(names(&m).is_empty());
        m.on_key(Key::Backspace, 0);
        m.on_key(Key::Backspace, 0);
        press(&mut m, "D");
        assert_eq!(names(&m), ["db"], "case does not matter");
        assert_eq!(m.selected_name(), Some("db"));
        m.on_key(Key::Enter, 0);
        assert_eq!((m.mode.clone(), m.filter.as_str()), (Mode::Browse, "D"));
        // Esc in browsing clears it; the selection stays.
        m.on_key(Key::Esc, 0);
        assert_eq!((names(&m).len(), m.selected_name()), (3, Some("db")));
        // Esc while typing clears it too.
        press(&mut m, "/a");
        assert_eq!(names(&m), ["api"]);
        m.on_key(Key::Esc, 0);
        assert_eq!((m.mode.clone(), names(&m).len()), (Mode::Browse, 3));
    }

    #[test]
    fn r_restarts_the_selected_service_and_the_answer_is_told() {
        let mut m = three();
        press(&mut m, "j");
        assert_eq!(
            press(&mut m, "r"),
            vec![Effect::Act(Verb::Restart, "db".into())]
        );
        assert_eq!(m.notice.as_ref().unwrap().text, "restarting db…");
        m.apply(
            Update::Acted {
                verb: Verb::Restart,
                service: "db".into(),
                outcome: Ok(vec!["db".into(), "api".into()]),
            },
            1_000,
        );
        assert_eq!(m.notice.as_ref().unwrap().text, "restarting: db, api");
        m.apply(
            Update::Acted {
                verb: Verb::Restart,
                service: "db".into(),
                outcome: Err("`db` is being stopped".into()),
            },
            2_000,
        );
        let notice = m.notice.clone().unwrap();
        assert!(notice.error && notice.text == "restart db refused: `db` is being stopped");
        m.tick(2_000 + NOTICE_FOR_MS - 1);
        assert!(m.notice.is_some());
        m.tick(2_000 + NOTICE_FOR_MS);
        assert!(m.notice.is_none());
    }

    #[test]
    fn s_asks_before_stopping_and_starts_at_once() {
        let mut m = three();
        assert!(press(&mut m, "s").is_empty());
        assert_eq!(m.mode, Mode::ConfirmStop("api".into()));
        assert!(press(&mut m, "n").is_empty());
        assert_eq!(m.mode, Mode::Browse);
        assert_eq!(m.notice.as_ref().unwrap().text, "api left running");
        press(&mut m, "s");
        assert_eq!(
            press(&mut m, "y"),
            vec![Effect::Act(Verb::Stop, "api".into())]
        );
        let mut stopped = service("api", 0.0, 0);
        stopped.state = ServiceState::Stopped;
        m.apply(Update::Status(status(vec![stopped])), 0);
        assert_eq!(
            press(&mut m, "s"),
            vec![Effect::Act(Verb::Start, "api".into())]
        );
    }

    #[test]
    fn with_the_daemon_down_actions_are_refused_and_the_data_kept() {
        let mut m = three();
        m.take_redraw();
        m.apply(Update::Down("the daemon is not running".into()), 0);
        assert_eq!(m.take_redraw(), Redraw::Now);
        assert_eq!(m.services().len(), 3);
        assert!(press(&mut m, "r").is_empty());
        let notice = m.notice.clone().unwrap();
        assert!(notice.error, "{notice:?}");
        // Down again changes nothing on screen.
        m.take_redraw();
        m.apply(Update::Down("the daemon is not running".into()), 0);
        assert_eq!(m.take_redraw(), Redraw::No);
        // Back: drawn at once, and the log followed again.
        let effects = m.apply(Update::Status(status(vec![service("api", 0.0, 1)])), 0);
        assert_eq!(m.link, Link::Live);
        assert_eq!(effects, vec![Effect::FollowLog(Some("api".into()))]);
        assert_eq!(m.take_redraw(), Redraw::Now);
    }

    #[test]
    fn q_and_ctrl_c_quit_but_q_is_a_letter_in_the_filter() {
        let mut m = three();
        assert_eq!(press(&mut m, "q"), vec![Effect::Quit]);
        press(&mut m, "/");
        assert!(!press(&mut m, "q").contains(&Effect::Quit));
        assert_eq!(m.on_key(Key::Ctrl('c'), 0), vec![Effect::Quit]);
    }

    #[test]
    fn screens_open_and_close() {
        let mut m = three();
        press(&mut m, "?");
        assert_eq!(m.screen, Screen::Help);
        press(&mut m, "x");
        assert_eq!(m.screen, Screen::Main);
        assert_eq!(
            m.on_key(Key::Enter, 0),
            vec![Effect::WatchDetail(Some("api".into()))]
        );
        assert_eq!(m.screen, Screen::Detail);
        // Moving in the detail screen moves it to the next service.
        assert_eq!(
            press(&mut m, "j"),
            vec![
                Effect::FollowLog(Some("db".into())),
                Effect::WatchDetail(Some("db".into()))
            ]
        );
        assert_eq!(m.on_key(Key::Esc, 0), vec![Effect::WatchDetail(None)]);
        press(&mut m, "l");
        assert_eq!(m.screen, Screen::Log { scroll: 0 });
        press(&mut m, "l");
        assert_eq!(m.screen, Screen::Main);
    }

    fn line(text: &str) -> LogLine {
        LogLine {
            time: None,
            stream: "out".into(),
            line: text.into(),
        }
    }

    #[test]
    fn log_lines_of_an_older_follower_are_dropped() {
        let mut m = three();
        m.apply(
            Update::LogStarted {
                generation: 2,
                service: "api".into(),
            },
            0,
        );
        m.apply(
            Update::Log {
                generation: 1,
                line: line("old"),
            },
            0,
        );
        m.apply(
            Update::Log {
                generation: 2,
                line: line("new"),
            },
            0,
        );
        assert_eq!(m.log.lines, [line("new")]);
    }

    #[test]
    fn the_full_screen_log_scrolls_within_its_lines_and_holds_still_as_lines_come() {
        let mut m = three();
        m.apply(
            Update::LogStarted {
                generation: 1,
                service: "api".into(),
            },
            0,
        );
        for i in 0..20 {
            m.apply(
                Update::Log {
                    generation: 1,
                    line: line(&i.to_string()),
                },
                0,
            );
        }
        press(&mut m, "l");
        press(&mut m, "kk");
        assert_eq!(m.screen, Screen::Log { scroll: 2 });
        m.on_key(Key::PageUp, 0);
        m.on_key(Key::PageUp, 0);
        assert_eq!(
            m.screen,
            Screen::Log { scroll: 19 },
            "clamped at the oldest"
        );
        m.on_key(Key::End, 0);
        press(&mut m, "k");
        m.apply(
            Update::Log {
                generation: 1,
                line: line("20"),
            },
            0,
        );
        assert_eq!(m.screen, Screen::Log { scroll: 2 });
    }

    #[test]
    fn history_goes_before_the_live_points_without_repeating_them() {
        let mut t = Trend::default();
        t.push(3_000, 3.0);
        t.push(3_000, 9.0);
        t.push(4_000, 4.0);
        t.seed(&[(1_000, 1.0), (2_000, 2.0), (3_000, 3.5)]);
        assert_eq!(t.values().collect::<Vec<_>>(), [1.0, 2.0, 3.0, 4.0]);
        let mut long = Trend::default();
        long.seed(
            &(0..TREND_POINTS as u64 + 5)
                .map(|i| (i, i as f64))
                .collect::<Vec<_>>(),
        );
        assert_eq!(long.points.len(), TREND_POINTS);
        assert_eq!(long.points.back(), Some(&(TREND_POINTS as u64 + 4, 184.0)));
    }

    #[test]
    fn events_read_twice_are_kept_once() {
        let mut m = three();
        let event = EventView {
            time: "2026-11-22T04:30:00.123Z".into(),
            service: Some("api".into()),
            kind: "started".into(),
            message: String::new(),
            data: serde_json::json!({"pid": 1}),
        };
        m.apply(Update::Event(event.clone()), 0);
        m.apply(Update::Events(vec![event.clone()]), 0);
        assert_eq!(m.events.len(), 1);
    }
}
