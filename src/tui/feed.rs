//! `berth top`'s side of the API, on threads of their own that block on the socket and post
//! what they read to the app's one channel: the Server-Sent Events of `/v1/stream` (status,
//! samples, events, alert changes; polling `/v1/status` instead when a daemon lacks the
//! stream), the selected service's log (`/v1/logs/{name}?follow=1`), and one-off requests
//! (history for the sparklines, events and alerts once connected, the detail screen, the
//! actions). Only the public API: what the CLI's client speaks on the Unix socket.

use super::app::Msg;
use super::state::{Metric, Update, Verb};
use crate::api::alerts::AlertsResponse;
use crate::api::client::{self, ClientError, Closer};
use crate::api::monitoring::Series;
use crate::api::services::{ActionResponse, ServiceDetail};
use crate::api::types::StatusResponse;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A stream that brought nothing for this long is taken as dead (the daemon sends a
/// keepalive every 15 s).
const STREAM_IDLE: Duration = Duration::from_secs(40);
/// One request's limit.
const REQUEST: Duration = Duration::from_secs(10);
/// Waits between attempts to reach a daemon that does not answer: doubling up to the last.
const RETRY_FIRST: Duration = Duration::from_millis(250);
const RETRY_LAST: Duration = Duration::from_secs(4);
/// The sparklines' history (since, step): a few minutes at the sampler's default interval.
const SPARK: (&str, &str) = ("3m", "5s");
/// The detail screen's charts: the last quarter of an hour.
const DETAIL: (&str, &str) = ("15m", "5s");
/// Log lines read before following.
const LOG_BACKLOG: usize = 200;
/// Events read once connected, for the foot.
const EVENT_BACKLOG: usize = 20;

/// What the request thread is asked to fetch.
pub enum Job {
    /// Just connected: the latest events, the alerts, each service's recent history.
    Seed(Vec<String>),
    Alerts,
    Detail(String),
}

/// Starts the stream's thread and the request thread; returns where to send jobs.
pub fn start(socket: &Path, interval: Duration, tx: &Sender<Msg>) -> Sender<Job> {
    let (jobs, queue) = std::sync::mpsc::channel();
    let (s, t, j) = (socket.to_path_buf(), tx.clone(), jobs.clone());
    std::thread::Builder::new()
        .name("top-stream".into())
        .spawn(move || stream(&s, interval, &t, &j))
        .expect("a thread starts");
    let (s, t) = (socket.to_path_buf(), tx.clone());
    std::thread::Builder::new()
        .name("top-requests".into())
        .spawn(move || requests(&s, &queue, &t))
        .expect("a thread starts");
    jobs
}

/// What the user reads when the daemon cannot be reached.
fn down_reason(error: &ClientError) -> String {
    match error {
        ClientError::NotRunning => "daemon not running".into(),
        other => other.to_string(),
    }
}

fn post(tx: &Sender<Msg>, update: Update) -> bool {
    tx.send(Msg::Update(Box::new(update))).is_ok()
}

/// `/v1/stream` for as long as the app runs, reconnecting with a growing wait while the
/// daemon is away.
fn stream(socket: &Path, interval: Duration, tx: &Sender<Msg>, jobs: &Sender<Job>) {
    let mut wait = RETRY_FIRST;
    loop {
        let mut events = match client::open(socket, "/v1/stream", Some(STREAM_IDLE)) {
            Ok(events) => events,
            // A daemon without the stream: ask for the status instead.
            Err(ClientError::Status {
                status: 404 | 405, ..
            }) => return poll(socket, interval, tx, jobs),
            Err(e) => {
                if !post(tx, Update::Down(down_reason(&e))) {
                    return;
                }
                std::thread::sleep(wait);
                wait = (wait * 2).min(RETRY_LAST);
                continue;
            }
        };
        wait = RETRY_FIRST;
        let mut seeded = false;
        while let Ok(Some(event)) = events.event() {
            let update = match event.name.as_str() {
                "status" => match serde_json::from_str::<StatusResponse>(&event.data) {
                    Ok(status) => {
                        if !seeded {
                            seeded = true;
                            let names = status.services.iter().map(|s| s.name.clone()).collect();
                            let _ = jobs.send(Job::Seed(names));
                        }
                        Some(Update::Status(status))
                    }
                    Err(_) => None,
                },
                "sample" => serde_json::from_str(&event.data).ok().map(Update::Sample),
                "event" => serde_json::from_str(&event.data).ok().map(Update::Event),
                "alert" => {
                    let _ = jobs.send(Job::Alerts);
                    None
                }
                _ => None,
            };
            if let Some(update) = update
                && !post(tx, update)
            {
                return;
            }
        }
        // The stream ended (the daemon left, or dropped us): straight back, and if nobody
        // answers, the wait above says so.
    }
}

/// For a daemon without `/v1/stream`: `/v1/status` every `interval`, the alerts every tenth.
fn poll(socket: &Path, interval: Duration, tx: &Sender<Msg>, jobs: &Sender<Job>) {
    let mut seeded = false;
    for round in 0u64.. {
        let update =
            match client::call::<(), StatusResponse>(socket, "GET", "/v1/status", None, REQUEST) {
                Ok(status) => {
                    if !seeded {
                        seeded = true;
                        let _ = jobs.send(Job::Seed(
                            status.services.iter().map(|s| s.name.clone()).collect(),
                        ));
                    } else if round % 10 == 0 {
                        let _ = jobs.send(Job::Alerts);
                    }
                    Update::Status(status)
                }
                Err(e) => {
                    seeded = false;
                    Update::Down(down_reason(&e))
                }
            };
        if !post(tx, update) {
            return;
        }
        std::thread::sleep(interval);
    }
}

fn get<R: serde::de::DeserializeOwned>(socket: &Path, path: &str) -> Result<R, ClientError> {
    client::call::<(), R>(socket, "GET", path, None, REQUEST)
}

fn history(
    socket: &Path,
    service: &str,
    metric: Metric,
    since: &str,
    step: &str,
) -> Option<Vec<(u64, f64)>> {
    let path = format!(
        "/v1/history?service={service}&metric={}&since={since}&step={step}",
        metric.name()
    );
    get::<Series>(socket, &path).ok().map(|s| s.points)
}

/// One-off requests, one at a time, in the order asked.
fn requests(socket: &Path, queue: &Receiver<Job>, tx: &Sender<Msg>) {
    for job in queue {
        let sent = match job {
            Job::Seed(names) => seed(socket, &names, tx),
            Job::Alerts => alerts(socket, tx),
            Job::Detail(name) => detail(socket, &name, tx),
        };
        if !sent {
            return;
        }
    }
}

fn alerts(socket: &Path, tx: &Sender<Msg>) -> bool {
    match get::<AlertsResponse>(socket, "/v1/alerts") {
        Ok(answer) => post(tx, Update::Alerts(answer.alerts)),
        Err(_) => true,
    }
}

fn seed(socket: &Path, names: &[String], tx: &Sender<Msg>) -> bool {
    if let Ok(mut lines) = client::open(
        socket,
        &format!("/v1/events?lines={EVENT_BACKLOG}"),
        Some(REQUEST),
    ) {
        let mut events = Vec::new();
        while let Ok(Some(line)) = lines.line() {
            events.extend(serde_json::from_str(&line).ok());
        }
        if !post(tx, Update::Events(events)) {
            return false;
        }
    }
    if !alerts(socket, tx) {
        return false;
    }
    names.iter().all(|service| {
        histories(socket, service, SPARK, tx, |metric, points| {
            Update::History {
                service: service.clone(),
                metric,
                points,
            }
        })
    })
}

/// A service's CPU and memory over `(since, step)`, each posted as `update` makes it;
/// false once the app is gone.
fn histories(
    socket: &Path,
    service: &str,
    (since, step): (&str, &str),
    tx: &Sender<Msg>,
    update: impl Fn(Metric, Vec<(u64, f64)>) -> Update,
) -> bool {
    for metric in [Metric::Cpu, Metric::Memory] {
        if let Some(points) = history(socket, service, metric, since, step)
            && !post(tx, update(metric, points))
        {
            return false;
        }
    }
    true
}

fn detail(socket: &Path, name: &str, tx: &Sender<Msg>) -> bool {
    if let Ok(info) = get::<ServiceDetail>(socket, &format!("/v1/services/{name}"))
        && !post(tx, Update::Detail(info))
    {
        return false;
    }
    histories(socket, name, DETAIL, tx, |metric, points| {
        Update::DetailHistory {
            service: name.to_string(),
            metric,
            points,
        }
    })
}

/// `POST /v1/services/{name}/{verb}` on a thread of its own (an action never waits behind
/// the history being read); its answer comes as `Update::Acted`.
pub fn act(socket: &Path, verb: Verb, service: String, tx: &Sender<Msg>) {
    let (socket, tx) = (socket.to_path_buf(), tx.clone());
    std::thread::spawn(move || {
        let path = format!("/v1/services/{service}/{}", verb.route());
        let outcome = client::call::<(), ActionResponse>(&socket, "POST", &path, None, REQUEST)
            .map(|a| a.services)
            .map_err(|e| down_reason(&e));
        post(
            &tx,
            Update::Acted {
                verb,
                service,
                outcome,
            },
        );
    });
}

/// The one log being followed. Dropping it ends its connection, and so its thread.
pub struct LogFollower {
    slot: Arc<Mutex<Slot>>,
}

#[derive(Default)]
struct Slot {
    closer: Option<Closer>,
    cancelled: bool,
}

impl LogFollower {
    /// Follows `service`'s log: its last lines, then each new one, tagged `generation`.
    pub fn start(socket: &Path, service: String, generation: u64, tx: &Sender<Msg>) -> LogFollower {
        let slot = Arc::new(Mutex::new(Slot::default()));
        let (socket, tx, shared): (PathBuf, _, _) =
            (socket.to_path_buf(), tx.clone(), slot.clone());
        std::thread::spawn(move || {
            let path = format!("/v1/logs/{service}?lines={LOG_BACKLOG}&follow=1");
            // A quiet log sends nothing for hours: no read timeout; a closed connection
            // (the daemon leaving, or this follower dropped) ends the read.
            let Ok(mut lines) = client::open(&socket, &path, None) else {
                return;
            };
            {
                let mut slot = shared.lock().unwrap_or_else(|e| e.into_inner());
                if slot.cancelled {
                    return;
                }
                slot.closer = lines.closer().ok();
            }
            if !post(
                &tx,
                Update::LogStarted {
                    generation,
                    service,
                },
            ) {
                return;
            }
            while let Ok(Some(line)) = lines.line() {
                if let Ok(line) = serde_json::from_str(&line)
                    && !post(&tx, Update::Log { generation, line })
                {
                    return;
                }
            }
        });
        LogFollower { slot }
    }
}

impl Drop for LogFollower {
    fn drop(&mut self) {
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        slot.cancelled = true;
        if let Some(closer) = &slot.closer {
            closer.close();
        }
    }
}
