//! `berth top`'s loop: one channel that the input, the signals and the feeds post to, a
//! model that each message updates, and a frame drawn only when the model changed — at once
//! for what the user did, at the next refresh for figures that moved. Between messages the
//! thread sleeps on the channel until the next thing it has to do.

use super::feed::{self, Job, LogFollower};
use super::state::{Effect, Key, Model, NOTICE_FOR_MS, Redraw, Update};
use super::terminal;
use super::view::{self, Palette, ViewState};
use crate::logs::time::now_ms;
use std::path::Path;
use std::sync::mpsc::{RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

/// What the loop is woken by.
pub enum Msg {
    Key(Key),
    Resize,
    /// A signal, or the terminal gone.
    Quit,
    /// Boxed: the answers are large, keys and resizes small.
    Update(Box<Update>),
}

/// The log is followed once the selection rests this long (holding `j` opens no connection
/// per row passed).
const LOG_SETTLE: Duration = Duration::from_millis(150);
/// The detail screen's data is asked for again this often.
const DETAIL_EVERY: Duration = Duration::from_secs(5);

/// Runs `berth top` on the terminal until the user quits.
pub fn run(
    socket: &Path,
    project: &str,
    interval: Duration,
    palette: Palette,
) -> std::io::Result<()> {
    let (tx, rx) = std::sync::mpsc::channel();
    super::input::signals(&tx)?;
    let mut session = terminal::enter()?;
    super::input::start(&tx);
    let jobs = feed::start(socket, interval, &tx);
    let mut app = App {
        socket,
        tx: &tx,
        jobs,
        model: Model::new(project),
        follower: None,
        generation: 0,
        log_due: None,
        detail_due: None,
    };
    let mut view = ViewState::default();
    let mut pending = Redraw::No;
    let mut next_frame = Instant::now();
    loop {
        pending = pending.max(app.model.take_redraw());
        let now = Instant::now();
        if pending == Redraw::Now || (pending == Redraw::Soon && now >= next_frame) {
            session
                .screen
                .draw(|frame| view::draw(frame, &app.model, &mut view, palette))?;
            pending = Redraw::No;
            next_frame = now + interval;
        }
        let wake = [
            (pending == Redraw::Soon).then_some(next_frame),
            app.log_due.as_ref().map(|(_, at)| *at),
            app.detail_due.as_ref().map(|(_, at)| *at),
            app.notice_ends(now),
        ]
        .into_iter()
        .flatten()
        .min();
        let msg = match wake {
            Some(at) => match rx.recv_timeout(at.saturating_duration_since(now)) {
                Ok(msg) => Some(msg),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            },
            None => match rx.recv() {
                Ok(msg) => Some(msg),
                Err(_) => return Ok(()),
            },
        };
        let effects = match msg {
            Some(Msg::Quit) => return Ok(()),
            Some(Msg::Resize) => {
                pending = Redraw::Now;
                Vec::new()
            }
            Some(Msg::Key(key)) => app.model.on_key(key, now_ms()),
            Some(Msg::Update(update)) => app.model.apply(*update, now_ms()),
            None => Vec::new(),
        };
        for effect in effects {
            if app.perform(effect) {
                return Ok(());
            }
        }
        app.timers(Instant::now());
        app.model.tick(now_ms());
    }
}

struct App<'a> {
    socket: &'a Path,
    tx: &'a Sender<Msg>,
    jobs: Sender<Job>,
    model: Model,
    follower: Option<LogFollower>,
    generation: u64,
    /// The log to follow once the selection has settled.
    log_due: Option<(Option<String>, Instant)>,
    /// The detail screen's service and when to ask for it again.
    detail_due: Option<(String, Instant)>,
}

impl App<'_> {
    /// Carries out one effect; true to quit.
    fn perform(&mut self, effect: Effect) -> bool {
        match effect {
            Effect::Quit => return true,
            Effect::Act(verb, service) => feed::act(self.socket, verb, service, self.tx),
            Effect::FollowLog(service) => {
                self.log_due = Some((service, Instant::now() + LOG_SETTLE));
            }
            Effect::WatchDetail(service) => {
                self.model.watch_detail(service.as_deref());
                self.detail_due = service.map(|s| (s, Instant::now()));
            }
        }
        false
    }

    /// Does what has come due: following the settled selection's log, refreshing the detail.
    fn timers(&mut self, now: Instant) {
        if let Some((service, at)) = self.log_due.take() {
            if at > now {
                self.log_due = Some((service, at));
            } else {
                // The old follower's connection is closed before the new one opens.
                self.follower = None;
                self.generation += 1;
                self.follower =
                    service.map(|s| LogFollower::start(self.socket, s, self.generation, self.tx));
            }
        }
        if let Some((service, at)) = &mut self.detail_due
            && *at <= now
        {
            let _ = self.jobs.send(Job::Detail(service.clone()));
            *at = now + DETAIL_EVERY;
        }
    }

    /// When the footer's notice is due to go.
    fn notice_ends(&self, now: Instant) -> Option<Instant> {
        let notice = self.model.notice.as_ref()?;
        let left = (notice.at_ms + NOTICE_FOR_MS).saturating_sub(now_ms());
        Some(now + Duration::from_millis(left))
    }
}
