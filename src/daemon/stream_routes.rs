//! Answers that stay open: what every streaming route shares (a bounded queue per client
//! feeding its response body, a cap on the streams open at once, their end when the daemon
//! leaves), `GET /v1/events?follow=1` (NDJSON) and `GET /v1/stream` (Server-Sent Events).
//!
//! The bounds, so that no client can grow the daemon's memory or slow `status`:
//! - Each answer reads from its own queue (`Outlet` → `Chunks`), bounded in bytes. A producer
//!   never blocks on a client: `send` refuses a chunk that does not fit.
//! - The producers of `follow=1` (one thread per answer, polling every 100 ms) wait for room
//!   while their client is behind and *end* the stream of one that has taken nothing for
//!   `PATIENCE` (its queue is dropped at once and the answer ends with an error, so the
//!   client sees it was cut off rather than a clean end): a client reading slowly loses no
//!   line, one that stopped reading costs at most its queue, then nothing.
//! - `/v1/stream` is fed by one hub thread for all its clients: it reads the status, the new
//!   events and the latest sampling round once per tick, whatever the number of clients, and
//!   gives every client the same chunk (shared, not copied). A client whose queue is full is
//!   *dropped* at once (its queue emptied, its answer ended with an error; an `EventSource`
//!   reconnects): one slow client never holds up the others or the hub.
//! - At most `MAX_STREAMS` streaming answers are open at once (503 beyond), so threads and
//!   queues are bounded too. A client that goes away is noticed by the server (the body is
//!   dropped), and its producer stops at its next tick.
//! - When the daemon stops, `close_all` ends every stream, so that the graceful shutdown,
//!   which waits for every answer to finish, is not held up by the open ones.

use super::history_routes;
use super::orchestrator::Orchestrator;
use super::query_string::Query;
use super::supervisor::ServiceState;
use crate::api::monitoring::EventView;
use crate::api::services::{SampleView, ServiceSampleView};
use crate::api::types::StatusResponse;
use crate::history::query::{self, EventFilter, StoredEvent};
use crate::logs::time::rfc3339_ms;
use crate::monitor::sampler::Latest;
use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

type Answer = Result<Response, (StatusCode, String)>;

/// Streaming answers open at once, of every route together; one more is refused (503).
pub const MAX_STREAMS: usize = 256;
/// What a `follow=1` answer may have queued for its client.
pub const FOLLOW_QUEUE: usize = 1 << 20;
/// What a `/v1/stream` client may have queued: a few dozen status messages of a large stack.
pub const SSE_QUEUE: usize = 1 << 20;
/// How long a `follow=1` producer waits for a client that takes nothing before ending it.
pub const PATIENCE: Duration = Duration::from_secs(10);
/// How often `follow=1` looks for new events (the hub reads them at each tick).
pub const EVENTS_POLL: Duration = Duration::from_millis(100);
/// The hub's tick: how soon a change of state, health or score is told.
pub const HUB_TICK: Duration = Duration::from_millis(100);
/// `event: status` comes at least this often while anything runs.
pub const STATUS_EVERY: Duration = Duration::from_secs(1);
/// A `: keepalive` comment comes this often, so that proxies and clients see the stream
/// alive when nothing happens.
pub const KEEPALIVE: Duration = Duration::from_secs(15);
/// A follow producer's chunks stay under this, so that a burst of lines is many small
/// chunks rather than one the queue cannot take.
pub const CHUNK: usize = 64 * 1024;
/// A read connection to the history is opened afresh this often (the file may have been
/// replaced: a corrupt one is moved aside and started anew).
const REOPEN: Duration = Duration::from_secs(5);

const SLOW: &str = "the client read too slowly: the stream was ended";
const NDJSON: &str = "application/x-ndjson";

static OPEN: AtomicUsize = AtomicUsize::new(0);
static CLOSING: AtomicBool = AtomicBool::new(false);
/// Every pipe not yet ended, for `close_all`.
static PIPES: Mutex<Vec<Weak<Shared>>> = Mutex::new(Vec::new());

fn bad(message: impl Into<String>) -> (StatusCode, String) {
    (StatusCode::BAD_REQUEST, message.into())
}

fn unavailable(e: impl std::fmt::Display) -> (StatusCode, String) {
    (StatusCode::SERVICE_UNAVAILABLE, e.to_string())
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// One of the `MAX_STREAMS`, held by a streaming answer's body until it is dropped.
pub struct Slot(());

impl Slot {
    pub fn take() -> Result<Slot, (StatusCode, String)> {
        if CLOSING.load(Ordering::SeqCst) {
            return Err(unavailable("the daemon is stopping"));
        }
        if OPEN.fetch_add(1, Ordering::SeqCst) >= MAX_STREAMS {
            OPEN.fetch_sub(1, Ordering::SeqCst);
            return Err(unavailable(format!(
                "too many streams open ({MAX_STREAMS}): close one, or try again later"
            )));
        }
        Ok(Slot(()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        OPEN.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Default)]
struct Shared {
    state: Mutex<PipeState>,
}

#[derive(Default)]
struct PipeState {
    queue: VecDeque<Bytes>,
    bytes: usize,
    waker: Option<Waker>,
    end: Option<End>,
    /// The body was dropped: the client went away.
    gone: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// After what is queued, the answer ends.
    Done,
    /// The answer ends with an error, which closes the connection without the final chunk.
    Cut(&'static str),
}

impl PipeState {
    fn wake(&mut self) {
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }
}

/// Why `Outlet::send` did not queue a chunk.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The client has not taken what it has queued; the chunk does not fit beside it.
    Full,
    /// The stream is over: the client went away, or it was ended.
    Gone,
}

/// The producer's end of a streaming answer. Dropping it ends the answer after what is
/// queued.
pub struct Outlet {
    shared: Arc<Shared>,
    limit: usize,
}

/// A streaming answer's body, fed by the `Outlet`, queuing at most `limit` bytes (and one
/// chunk more, when the queue was empty: a chunk is never too large for an empty queue).
pub fn pipe(limit: usize, slot: Slot) -> (Outlet, Body) {
    let shared = Arc::new(Shared::default());
    {
        let mut pipes = lock(&PIPES);
        pipes.retain(|p| p.strong_count() > 0);
        pipes.push(Arc::downgrade(&shared));
    }
    if CLOSING.load(Ordering::SeqCst) {
        lock(&shared.state).end = Some(End::Done);
    }
    let chunks = Chunks {
        shared: Arc::clone(&shared),
        _slot: slot,
    };
    (Outlet { shared, limit }, Body::from_stream(chunks))
}

impl Outlet {
    /// Queues `chunk` for the client, or says why not; never waits.
    pub fn send(&self, chunk: &Bytes) -> Result<(), Refused> {
        let mut state = lock(&self.shared.state);
        if state.gone || state.end.is_some() {
            return Err(Refused::Gone);
        }
        if !state.queue.is_empty() && state.bytes + chunk.len() > self.limit {
            return Err(Refused::Full);
        }
        state.bytes += chunk.len();
        state.queue.push_back(chunk.clone());
        state.wake();
        Ok(())
    }

    /// Queues `chunk`, waiting while the client is behind; a client that makes no room
    /// within `patience` is cut off. Whether the stream goes on.
    pub fn send_waiting(&self, chunk: &Bytes, patience: Duration) -> bool {
        let deadline = Instant::now() + patience;
        loop {
            match self.send(chunk) {
                Ok(()) => return true,
                Err(Refused::Gone) => return false,
                Err(Refused::Full) if Instant::now() >= deadline => {
                    self.cut(SLOW);
                    return false;
                }
                Err(Refused::Full) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    /// Whether the stream is over (the client went away, or it was ended or cut).
    pub fn is_over(&self) -> bool {
        let state = lock(&self.shared.state);
        state.gone || state.end.is_some()
    }

    /// Ends the answer with an error at once, dropping what is queued.
    pub fn cut(&self, why: &'static str) {
        let mut state = lock(&self.shared.state);
        state.queue.clear();
        state.bytes = 0;
        if state.end.is_none() {
            state.end = Some(End::Cut(why));
        }
        state.wake();
    }

    /// What is queued, in bytes.
    pub fn queued(&self) -> usize {
        lock(&self.shared.state).bytes
    }
}

impl Drop for Outlet {
    fn drop(&mut self) {
        let mut state = lock(&self.shared.state);
        if state.end.is_none() {
            state.end = Some(End::Done);
        }
        state.wake();
    }
}

/// The body's side: what the server writes out.
struct Chunks {
    shared: Arc<Shared>,
    _slot: Slot,
}

impl futures_core::Stream for Chunks {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut state = lock(&self.shared.state);
        if let Some(chunk) = state.queue.pop_front() {
            state.bytes -= chunk.len();
            return Poll::Ready(Some(Ok(chunk)));
        }
        match state.end {
            Some(End::Done) => Poll::Ready(None),
            Some(End::Cut(why)) => {
                state.end = Some(End::Done);
                Poll::Ready(Some(Err(std::io::Error::other(why))))
            }
            None => {
                match &state.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => state.waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
        }
    }
}

impl Drop for Chunks {
    fn drop(&mut self) {
        let mut state = lock(&self.shared.state);
        state.gone = true;
        state.queue.clear();
        state.bytes = 0;
    }
}

/// Ends every stream (after what each has queued) and refuses new ones: the daemon is
/// leaving, and its graceful shutdown waits for every answer to finish.
pub fn close_all() {
    CLOSING.store(true, Ordering::SeqCst);
    let pipes: Vec<Arc<Shared>> = lock(&PIPES).iter().filter_map(Weak::upgrade).collect();
    for shared in pipes {
        let mut state = lock(&shared.state);
        if state.end.is_none() {
            state.end = Some(End::Done);
        }
        state.wake();
    }
}

/// A streaming NDJSON answer.
pub fn ndjson(body: Body) -> Response {
    (
        [
            (header::CONTENT_TYPE, NDJSON),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// Starts a producer thread; the stream is refused (503) when no thread can be had.
pub fn spawn(
    name: String,
    work: impl FnOnce() + Send + 'static,
) -> Result<(), (StatusCode, String)> {
    std::thread::Builder::new()
        .name(name)
        .spawn(work)
        .map(drop)
        .map_err(|e| unavailable(format!("cannot start a thread: {e}")))
}

/// The event log read as it grows: each `poll` gives the events written since the last.
pub struct EventTail {
    state_dir: PathBuf,
    conn: Option<(rusqlite::Connection, Instant)>,
    /// The id of the last event seen; `None` until the log was first read.
    cursor: Option<i64>,
}

impl EventTail {
    /// From the events after `cursor` (`None`: after the newest one now).
    pub fn new(state_dir: &Path, cursor: Option<i64>) -> EventTail {
        EventTail {
            state_dir: state_dir.to_path_buf(),
            conn: None,
            cursor,
        }
    }

    /// The newest event's id (0 when there is none), read before a first batch so that
    /// following it loses nothing and tells nothing twice.
    pub fn newest(conn: &rusqlite::Connection) -> rusqlite::Result<i64> {
        let filter = EventFilter {
            last: Some(1),
            ..EventFilter::default()
        };
        Ok(query::events(conn, &filter)?.first().map_or(0, |e| e.id))
    }

    /// The events matching `filter` written since the last poll, oldest first.
    pub fn poll(&mut self, filter: &EventFilter) -> Vec<StoredEvent> {
        if self
            .conn
            .as_ref()
            .is_none_or(|(_, opened)| opened.elapsed() >= REOPEN)
        {
            self.conn = None;
            match query::open(&self.state_dir) {
                Ok(Some(conn)) => {
                    let newest = Self::newest(&conn).unwrap_or(0);
                    self.cursor = match self.cursor {
                        // A log started anew (the old one was corrupt): all of it is new.
                        Some(c) if newest < c => Some(0),
                        Some(c) => Some(c),
                        None => Some(newest),
                    };
                    self.conn = Some((conn, Instant::now()));
                }
                // No log yet: every event it will have is new.
                Ok(None) => {
                    self.cursor.get_or_insert(0);
                    return Vec::new();
                }
                Err(_) => return Vec::new(),
            }
        }
        let Some((conn, _)) = &self.conn else {
            return Vec::new();
        };
        let filter = EventFilter {
            after_id: self.cursor,
            last: None,
            ..filter.clone()
        };
        match query::events(conn, &filter) {
            Ok(events) => {
                if let Some(last) = events.last() {
                    self.cursor = Some(last.id);
                }
                events
            }
            Err(_) => {
                self.conn = None;
                Vec::new()
            }
        }
    }
}

fn event_lines(events: &[StoredEvent]) -> String {
    let mut out = String::new();
    for e in events {
        out.push_str(&serde_json::to_string(&e.view()).expect("serializable"));
        out.push('\n');
    }
    out
}

/// `GET /v1/events?since=D&service=S&kind=K&lines=N&follow=1`: without `follow`, as
/// `history_routes::events`; with it, the same lines and then each new event as it is
/// written, until the client goes away.
pub fn events(orchestrator: &Arc<Orchestrator>, q: &Query) -> Answer {
    if !q.flag("follow").map_err(bad)? {
        return history_routes::events(orchestrator, q);
    }
    let stack = super::service_routes::loaded(orchestrator)?;
    let filter = super::history_routes::event_filter(&stack, q)?;
    let slot = Slot::take()?;
    let (first, cursor) = match query::open(&stack.state_dir).map_err(unavailable)? {
        Some(conn) => {
            let newest = EventTail::newest(&conn).map_err(unavailable)?;
            let events = query::events(&conn, &filter).map_err(unavailable)?;
            let last = events.last().map_or(newest, |e| e.id.max(newest));
            (event_lines(&events), Some(last))
        }
        None => (String::new(), Some(0)),
    };
    let (outlet, body) = pipe(FOLLOW_QUEUE, slot);
    let _ = outlet.send(&Bytes::from(first));
    let mut tail = EventTail::new(&stack.state_dir, cursor);
    spawn("events -f".into(), move || {
        loop {
            std::thread::sleep(EVENTS_POLL);
            if outlet.is_over() {
                return;
            }
            let fresh = tail.poll(&filter);
            for batch in fresh.chunks(256) {
                if !outlet.send_waiting(&Bytes::from(event_lines(batch)), PATIENCE) {
                    return;
                }
            }
        }
    })?;
    Ok(ndjson(body))
}

/// The clients of `/v1/stream` and whether the hub thread runs for them.
struct Hub {
    clients: Vec<Outlet>,
    running: bool,
}

static HUB: Mutex<Hub> = Mutex::new(Hub {
    clients: Vec::new(),
    running: false,
});

/// `GET /v1/stream`: Server-Sent Events. `status` (the `/v1/status` JSON) at once, whenever
/// a service's state, health, score, pid or restarts change, and every second while
/// anything runs; `event` for each new event (`events --json`'s shape) and `alert` besides
/// for those of kind `alert` (alert transitions and deliveries); `sample` after each
/// sampling round; a `: keepalive` comment every 15 s.
pub fn stream(orchestrator: &Arc<Orchestrator>, _q: &Query) -> Answer {
    let slot = Slot::take()?;
    let (outlet, body) = pipe(SSE_QUEUE, slot);
    // A new client sees the stack at once, without waiting for a change.
    let mut first = String::from("retry: 2000\n\n");
    first.push_str(&frame("status", &live_status(orchestrator)));
    let latest = orchestrator.monitor().latest();
    if latest.at_ms != 0 {
        first.push_str(&frame("sample", &sample(&latest)));
    }
    let _ = outlet.send(&Bytes::from(first));
    {
        let mut hub = lock(&HUB);
        hub.clients.push(outlet);
        if !hub.running {
            let weak = Arc::downgrade(orchestrator);
            if let Err(e) = spawn("stream hub".into(), move || run_hub(&weak)) {
                hub.clients.pop();
                return Err(e);
            }
            hub.running = true;
        }
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response())
}

/// The status as `/v1/status` gives it, with the stops and restarts the API has under way.
/// CPU and memory come from the latest round as `status` takes them, but without asking the
/// sampler for a round when a service is newer than it (as `status` does): the hub asks ten
/// times a second.
fn live_status(orchestrator: &Orchestrator) -> StatusResponse {
    let mut status = orchestrator.status(false);
    let latest = orchestrator.monitor().latest();
    for view in &mut status.services {
        if let Some(reading) = latest
            .services
            .get(&view.name)
            .filter(|r| view.pid == Some(r.pid))
        {
            view.rss_bytes = Some(reading.usage.rss_bytes);
            view.cpu_percent = Some(reading.cpu_percent);
        }
    }
    super::service_routes::overlay(&mut status);
    status
}

/// One Server-Sent Event: `data` is one line of JSON.
fn frame(event: &str, data: &impl serde::Serialize) -> String {
    format!(
        "event: {event}\ndata: {}\n\n",
        serde_json::to_string(data).expect("serializable")
    )
}

fn sample(latest: &Latest) -> SampleView {
    SampleView {
        time: rfc3339_ms(latest.at_ms),
        services: latest
            .services
            .iter()
            .map(|(name, r)| ServiceSampleView {
                name: name.clone(),
                pid: r.pid,
                cpu_percent: r.cpu_percent,
                rss_bytes: r.usage.rss_bytes,
                open_fds: r.usage.open_fds,
                threads: r.usage.threads,
                processes: r.usage.processes,
            })
            .collect(),
        system: latest.system.clone(),
    }
}

/// The hub thread: one reading of everything per tick, the same chunk for every client. It
/// ends when the last client has gone (the next client starts another).
fn run_hub(orchestrator: &Weak<Orchestrator>) {
    let mut watch = match orchestrator.upgrade() {
        Some(o) => Watch::new(Instant::now(), o.monitor().latest().at_ms),
        None => return,
    };
    let mut tail: Option<EventTail> = None;
    loop {
        std::thread::sleep(HUB_TICK);
        let orchestrator = orchestrator.upgrade();
        {
            let mut hub = lock(&HUB);
            hub.clients.retain(|c| !c.is_over());
            if hub.clients.is_empty() || orchestrator.is_none() {
                hub.clients.clear();
                hub.running = false;
                return;
            }
        }
        let Some(orchestrator) = orchestrator else {
            return;
        };
        let now = Instant::now();
        let status = live_status(&orchestrator);
        let events: Vec<EventView> = match orchestrator.stack() {
            Some(stack) => tail
                .get_or_insert_with(|| EventTail::new(&stack.state_dir, None))
                .poll(&EventFilter::default())
                .iter()
                .map(StoredEvent::view)
                .collect(),
            None => Vec::new(),
        };
        let latest = orchestrator.monitor().latest();
        drop(orchestrator);
        let Some(chunk) = watch.frames(now, &status, &events, &latest) else {
            continue;
        };
        let chunk = Bytes::from(chunk);
        // A client whose queue is full is dropped: the hub waits for nobody.
        lock(&HUB).clients.retain(|c| match c.send(&chunk) {
            Ok(()) => true,
            Err(Refused::Full) => {
                c.cut(SLOW);
                false
            }
            Err(Refused::Gone) => false,
        });
    }
}

/// What the hub has told, to know what to tell next: a pure function of what it is shown
/// and the time.
struct Watch {
    told: Option<Vec<Told>>,
    status_at: Instant,
    sample_at_ms: u64,
    keepalive_at: Instant,
}

/// What makes a status worth telling when it changes.
#[derive(Debug, PartialEq)]
struct Told {
    name: String,
    state: ServiceState,
    health: crate::daemon::supervisor::HealthState,
    score: Option<u8>,
    pid: Option<u32>,
    restarts: u32,
}

impl Watch {
    /// `sample_at_ms`: the round every client was given when it came (the latest now).
    fn new(now: Instant, sample_at_ms: u64) -> Watch {
        Watch {
            told: None,
            status_at: now,
            sample_at_ms,
            keepalive_at: now,
        }
    }

    /// The frames to send for this tick, in one chunk, if any.
    fn frames(
        &mut self,
        now: Instant,
        status: &StatusResponse,
        events: &[EventView],
        latest: &Latest,
    ) -> Option<String> {
        let mut out = String::new();
        let told: Vec<Told> = status
            .services
            .iter()
            .map(|s| Told {
                name: s.name.clone(),
                state: s.state,
                health: s.health,
                score: s.score,
                pid: s.pid,
                restarts: s.restarts,
            })
            .collect();
        let running = status.services.iter().any(|s| {
            !matches!(
                s.state,
                ServiceState::Stopped | ServiceState::Exited | ServiceState::Failed
            )
        });
        let changed = self.told.as_ref() != Some(&told);
        if changed || (running && now.duration_since(self.status_at) >= STATUS_EVERY) {
            out.push_str(&frame("status", status));
            self.told = Some(told);
            self.status_at = now;
        }
        for e in events {
            out.push_str(&frame("event", e));
            if e.kind == "alert" {
                out.push_str(&frame("alert", e));
            }
        }
        if latest.at_ms != self.sample_at_ms {
            out.push_str(&frame("sample", &sample(latest)));
            self.sample_at_ms = latest.at_ms;
        }
        if now.duration_since(self.keepalive_at) >= KEEPALIVE {
            out.push_str(": keepalive\n\n");
            self.keepalive_at = now;
        }
        (!out.is_empty()).then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_core::Stream;
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn poll(chunks: &mut Chunks, waker: &Waker) -> Poll<Option<Result<Bytes, std::io::Error>>> {
        Pin::new(chunks).poll_next(&mut Context::from_waker(waker))
    }

    fn parts(limit: usize) -> (Outlet, Chunks) {
        let shared = Arc::new(Shared::default());
        let chunks = Chunks {
            shared: Arc::clone(&shared),
            _slot: Slot::take().unwrap(),
        };
        (Outlet { shared, limit }, chunks)
    }

    #[test]
    fn a_pipe_is_bounded_and_a_cut_frees_it_at_once() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&count));
        let (outlet, mut chunks) = parts(10);
        assert!(poll(&mut chunks, &waker).is_pending());
        // A chunk larger than the limit goes into an empty queue; nothing fits beside it.
        outlet.send(&Bytes::from_static(b"0123456789ab")).unwrap();
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "the reader was woken");
        assert_eq!(outlet.send(&Bytes::from_static(b"x")), Err(Refused::Full));
        match poll(&mut chunks, &waker) {
            Poll::Ready(Some(Ok(b))) => assert_eq!(&b[..], b"0123456789ab"),
            other => panic!("{other:?}"),
        }
        outlet.send(&Bytes::from_static(b"12345")).unwrap();
        outlet.send(&Bytes::from_static(b"12345")).unwrap();
        assert_eq!(outlet.send(&Bytes::from_static(b"1")), Err(Refused::Full));
        assert_eq!(outlet.queued(), 10);
        // A client that never reads: a cut drops its queue, and it ends with an error.
        outlet.cut(SLOW);
        assert_eq!(outlet.queued(), 0);
        assert!(outlet.is_over());
        assert_eq!(outlet.send(&Bytes::from_static(b"1")), Err(Refused::Gone));
        assert!(matches!(
            poll(&mut chunks, &waker),
            Poll::Ready(Some(Err(_)))
        ));
        assert!(matches!(poll(&mut chunks, &waker), Poll::Ready(None)));
    }

    #[test]
    fn a_dropped_outlet_ends_after_what_is_queued_and_a_dropped_body_is_seen() {
        let waker = Waker::from(Arc::new(Count(AtomicUsize::new(0))));
        let (outlet, mut chunks) = parts(100);
        outlet.send(&Bytes::from_static(b"last")).unwrap();
        drop(outlet);
        assert!(matches!(
            poll(&mut chunks, &waker),
            Poll::Ready(Some(Ok(_)))
        ));
        assert!(matches!(poll(&mut chunks, &waker), Poll::Ready(None)));

        let (outlet, chunks) = parts(100);
        assert!(!outlet.is_over());
        drop(chunks);
        assert!(outlet.is_over(), "the client went away");
        assert_eq!(outlet.send(&Bytes::from_static(b"x")), Err(Refused::Gone));
        let started = Instant::now();
        assert!(!outlet.send_waiting(&Bytes::from_static(b"x"), PATIENCE));
        assert!(
            started.elapsed() < PATIENCE,
            "no waiting for a client that is gone"
        );
    }

    #[test]
    fn a_client_that_takes_nothing_is_cut_after_the_patience() {
        let (outlet, _chunks) = parts(4);
        assert!(outlet.send_waiting(&Bytes::from_static(b"abcd"), Duration::ZERO));
        let started = Instant::now();
        assert!(!outlet.send_waiting(&Bytes::from_static(b"e"), Duration::from_millis(60)));
        assert!(started.elapsed() >= Duration::from_millis(60));
        assert_eq!(outlet.queued(), 0, "its queue was dropped");
    }

    fn status(services: &[(&str, ServiceState, Option<u32>)]) -> StatusResponse {
        let dir = tempfile::tempdir().unwrap();
        let mut yaml = String::from("services:\n");
        for (name, _, _) in services {
            yaml.push_str(&format!("  {name}:\n    command: x\n"));
        }
        let file = dir.path().join("berth.yaml");
        std::fs::write(&file, yaml).unwrap();
        let stack = crate::config::load(&file, &crate::config::Options::default()).unwrap();
        StatusResponse {
            project: "p".into(),
            health: crate::api::types::StackHealth::Stopped,
            daemon: crate::api::types::DaemonInfo {
                running: true,
                pid: None,
                api: None,
                history: None,
            },
            services: services
                .iter()
                .zip(&stack.services)
                .map(|((_, state, pid), service)| {
                    let mut view = crate::api::types::ServiceView::stopped(service);
                    view.state = *state;
                    view.pid = *pid;
                    view
                })
                .collect(),
            score: None,
            score_reasons: Vec::new(),
        }
    }

    fn event(kind: &str) -> EventView {
        EventView {
            time: rfc3339_ms(0),
            service: Some("api".into()),
            kind: kind.into(),
            message: String::new(),
            data: serde_json::Value::Null,
        }
    }

    fn names(chunk: &str) -> Vec<&str> {
        chunk
            .lines()
            .filter_map(|l| l.strip_prefix("event: ").or(l.strip_prefix(": ")))
            .collect()
    }

    #[test]
    fn the_hub_tells_changes_every_second_while_running_events_alerts_and_keepalives() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut watch = Watch::new(t0, 0);
        let none = Latest::default();
        let stopped = status(&[("api", ServiceState::Stopped, None)]);
        let first = watch.frames(at(100), &stopped, &[], &none).unwrap();
        assert_eq!(names(&first), ["status"]);
        assert!(first.ends_with("\n\n") && first.lines().nth(1).unwrap().starts_with("data: {"));
        // Nothing runs and nothing changed: nothing to tell.
        assert_eq!(watch.frames(at(2000), &stopped, &[], &none), None);
        let running = status(&[("api", ServiceState::Running, Some(7))]);
        assert_eq!(
            names(&watch.frames(at(2100), &running, &[], &none).unwrap()),
            ["status"]
        );
        assert_eq!(watch.frames(at(2200), &running, &[], &none), None);
        // Every second while it runs.
        assert_eq!(
            names(&watch.frames(at(3100), &running, &[], &none).unwrap()),
            ["status"]
        );
        // A new pid is a change, even in the same state.
        let again = status(&[("api", ServiceState::Running, Some(8))]);
        assert_eq!(
            names(&watch.frames(at(3200), &again, &[], &none).unwrap()),
            ["status"]
        );
        // Events, an alert told twice.
        let chunk = watch
            .frames(at(3300), &again, &[event("ready"), event("alert")], &none)
            .unwrap();
        assert_eq!(names(&chunk), ["event", "event", "alert"]);
        // A new sampling round.
        let latest = Latest {
            at_ms: 1,
            ..Latest::default()
        };
        assert_eq!(
            names(&watch.frames(at(3400), &again, &[], &latest).unwrap()),
            ["sample"]
        );
        assert_eq!(watch.frames(at(3500), &again, &[], &latest), None);
        // A keepalive every 15 s.
        let chunk = watch.frames(at(15_000), &stopped, &[], &latest).unwrap();
        assert_eq!(names(&chunk), ["status", "keepalive"]);
        assert_eq!(watch.frames(at(16_000), &stopped, &[], &latest), None);
    }
}
