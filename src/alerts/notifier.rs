//! Delivering without waiting: each channel has its own thread and bounded queue, so a
//! receiver that hangs delays its own channel's notifications and nobody else's, and
//! `send` never blocks the daemon. Every delivery ends in an `Outcome` (delivered, failed
//! after its tries, or dropped because the queue was full) handed to a callback, which the
//! daemon records in `alerts history`.

use super::deliver::{self, Policy, Roots};
use super::payload::{Notification, Status};
use crate::stack::alerts::{Channel, ChannelKind};
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Notifications waiting per channel. Far more than a stack makes in the 15 s a hung
/// receiver holds each one (three tries of 5 s): reached only when a receiver is down for
/// long while alerts keep coming, and then dropping the newest costs less than memory.
pub const QUEUE: usize = 256;

/// What became of one notification on one channel.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    pub channel: String,
    pub rule: String,
    pub service: Option<String>,
    pub status: Status,
    pub summary: String,
    /// The receiver's answer (`"200"`, `"exit 0"`), or why it was not delivered.
    pub result: Result<String, String>,
    /// Tries made (0 when it was dropped).
    pub tries: u32,
    /// From the first try to the last one's end, waits between tries included.
    pub took_ms: u64,
    /// When it was decided (unix ms).
    pub at_ms: u64,
    /// Never tried: the channel's queue was full (or the channel unknown).
    pub dropped: bool,
}

/// How channels are tried; the daemon's are the defaults (5 s a try, three tries).
#[derive(Clone, Debug)]
pub struct Options {
    pub policy: Policy,
    pub queue: usize,
    /// The roots trusted for `https`; `None`: the system's (or `SSL_CERT_FILE`'s).
    pub roots: Option<Roots>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            policy: Policy::default(),
            queue: QUEUE,
            roots: None,
        }
    }
}

type Callback = Arc<dyn Fn(Outcome) + Send + Sync>;

struct Job {
    notification: Notification,
    /// For `send_and_wait`: the result, once the outcome is known.
    reply: Option<SyncSender<Result<String, String>>>,
}

struct Worker {
    kind: ChannelKind,
    queue: SyncSender<Job>,
}

pub struct Notifier {
    workers: Mutex<HashMap<String, Worker>>,
    options: Options,
    on_outcome: Callback,
}

impl Notifier {
    /// A thread per channel, with the daemon's options.
    pub fn start(
        channels: Vec<Channel>,
        on_outcome: impl Fn(Outcome) + Send + Sync + 'static,
    ) -> Notifier {
        Notifier::start_with(channels, Options::default(), on_outcome)
    }

    pub fn start_with(
        channels: Vec<Channel>,
        options: Options,
        on_outcome: impl Fn(Outcome) + Send + Sync + 'static,
    ) -> Notifier {
        let notifier = Notifier {
            workers: Mutex::new(HashMap::new()),
            options,
            on_outcome: Arc::new(on_outcome),
        };
        notifier.reconfigure(channels);
        notifier
    }

    /// Replaces the set of channels. A channel whose name and definition are unchanged keeps
    /// its thread and queue; the thread of a removed or changed one ends once it has
    /// delivered what was already queued to it (as it was configured when queued).
    pub fn reconfigure(&self, channels: Vec<Channel>) {
        let mut workers = self.lock();
        let mut old = std::mem::take(&mut *workers);
        for channel in channels {
            let worker = match old.remove(&channel.name) {
                Some(w) if w.kind == channel.kind => w,
                _ => self.spawn(&channel),
            };
            workers.insert(channel.name, worker);
        }
        // Dropping the old senders lets their threads drain and end.
    }

    /// The names of the channels, sorted.
    pub fn channels(&self) -> Vec<String> {
        let mut names: Vec<String> = self.lock().keys().cloned().collect();
        names.sort();
        names
    }

    /// Queues `notification` for `channel` and returns at once: false when it was dropped
    /// (queue full, unknown channel), which is reported as an outcome too.
    pub fn send(&self, channel: &str, notification: Notification) -> bool {
        self.enqueue(channel, notification, None).is_ok()
    }

    /// Queues `notification` like `send` (so it meets what a real one would: the queue, the
    /// tries) and waits up to `timeout` for its result: `berth alerts test`.
    pub fn send_and_wait(
        &self,
        channel: &str,
        notification: Notification,
        timeout: Duration,
    ) -> Result<String, String> {
        self.send_tracked(channel, notification)?.wait(timeout)
    }

    /// Queues `notification` like `send` and returns at once a handle to wait for its result
    /// with: to test several channels, send to each and then wait for each against one
    /// deadline, so that a hung channel holds up none of the others.
    pub fn send_tracked(
        &self,
        channel: &str,
        notification: Notification,
    ) -> Result<Pending, String> {
        let (reply, result) = mpsc::sync_channel(1);
        self.enqueue(channel, notification, Some(reply))?;
        Ok(Pending { result })
    }

    fn enqueue(
        &self,
        channel: &str,
        notification: Notification,
        reply: Option<SyncSender<Result<String, String>>>,
    ) -> Result<(), String> {
        let job = Job {
            notification,
            reply,
        };
        // The lock is let go before the callback runs: it may take its time, or call back.
        let refused = match self.lock().get(channel) {
            None => Some((job, format!("no channel named `{channel}`"))),
            Some(worker) => match worker.queue.try_send(job) {
                Ok(()) => None,
                Err(TrySendError::Full(job)) => Some((
                    job,
                    format!(
                        "dropped: {} notifications are already waiting for `{channel}`",
                        self.options.queue
                    ),
                )),
                Err(TrySendError::Disconnected(job)) => {
                    Some((job, format!("dropped: the thread of `{channel}` ended")))
                }
            },
        };
        match refused {
            None => Ok(()),
            Some((job, message)) => {
                (self.on_outcome)(Outcome {
                    dropped: true,
                    ..outcome(channel, &job.notification, Err(message.clone()), 0, 0)
                });
                Err(message)
            }
        }
    }

    fn spawn(&self, channel: &Channel) -> Worker {
        let (queue, jobs) = mpsc::sync_channel(self.options.queue.max(1));
        let name = channel.name.clone();
        let kind = channel.kind.clone();
        let options = self.options.clone();
        let on_outcome = Arc::clone(&self.on_outcome);
        let spawned = std::thread::Builder::new()
            .name(format!("alerts-{name}"))
            .spawn(move || run(name, kind, jobs, options, on_outcome));
        if let Err(e) = spawned {
            // The receiver is gone with the closure: sends to this channel report it.
            crate::daemon::log(format_args!(
                "cannot start the thread of alert channel `{}`: {e}",
                channel.name
            ));
        }
        Worker {
            kind: channel.kind.clone(),
            queue,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Worker>> {
        self.workers.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A notification queued by `send_tracked`, its result to come.
pub struct Pending {
    result: Receiver<Result<String, String>>,
}

impl Pending {
    /// Its result, or why there is none within `timeout` (the delivery goes on, and its
    /// outcome is reported all the same).
    pub fn wait(self, timeout: Duration) -> Result<String, String> {
        match self.result.recv_timeout(timeout) {
            Ok(result) => result,
            Err(mpsc::RecvTimeoutError::Timeout) => Err(format!(
                "no outcome within {}: the channel is still busy (its outcome will be in `alerts history`)",
                crate::config::units::format_duration(timeout)
            )),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err("the channel's thread ended before delivering it".to_string())
            }
        }
    }
}

fn outcome(
    channel: &str,
    n: &Notification,
    result: Result<String, String>,
    tries: u32,
    took_ms: u64,
) -> Outcome {
    Outcome {
        channel: channel.to_string(),
        rule: n.rule.clone(),
        service: n.service.clone(),
        status: n.status,
        summary: n.summary.clone(),
        result,
        tries,
        took_ms,
        at_ms: crate::logs::time::now_ms(),
        dropped: false,
    }
}

/// One channel's thread: delivers its queue in order until the notifier lets go of it.
fn run(
    name: String,
    kind: ChannelKind,
    jobs: Receiver<Job>,
    options: Options,
    on_outcome: Callback,
) {
    // Made on the first delivery, here: loading the system's roots is this thread's cost,
    // not the daemon's, and only for channels that send something.
    let mut agent = None;
    for job in jobs {
        let agent = agent.get_or_insert_with(|| match &options.roots {
            Some(roots) => deliver::agent_with_roots(roots, options.policy.try_timeout),
            None => deliver::agent(options.policy.try_timeout),
        });
        let started = Instant::now();
        // A panic (a bug) costs this notification, not the channel's thread.
        let delivered = std::panic::catch_unwind(AssertUnwindSafe(|| {
            deliver::deliver_with(&kind, &job.notification, agent, &options.policy)
        }));
        let (result, tries) = match delivered {
            Ok(d) => (d.result.map_err(|e| e.to_string()), d.tries),
            Err(_) => (Err("delivery failed: internal error".to_string()), 1),
        };
        let took_ms = started.elapsed().as_millis() as u64;
        let done = outcome(&name, &job.notification, result.clone(), tries, took_ms);
        let _ = std::panic::catch_unwind(AssertUnwindSafe(|| on_outcome(done)));
        if let Some(reply) = job.reply {
            let _ = reply.try_send(result);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::deliver::testing::{Reply, serve};
    use crate::stack::alerts::Severity;

    fn notification(rule: &str) -> Notification {
        Notification {
            status: Status::Firing,
            rule: rule.into(),
            severity: Severity::Critical,
            project: "shop".into(),
            service: Some("api".into()),
            value: None,
            threshold: None,
            since_ms: 1_796_122_680_000,
            ended_ms: None,
            summary: format!("{rule} fired"),
            suggestion: String::new(),
            logs: vec![],
            dashboard: None,
        }
    }

    fn webhook(name: &str, url: &str) -> Channel {
        Channel {
            name: name.into(),
            kind: ChannelKind::Webhook {
                url: url.into(),
                headers: vec![],
            },
        }
    }

    /// 300 ms a try, three tries, short waits: the daemon's policy at a sixteenth the time.
    fn options(queue: usize, retries: usize) -> Options {
        Options {
            policy: Policy {
                try_timeout: Duration::from_millis(300),
                backoff: [20, 50][..retries]
                    .iter()
                    .map(|&ms| Duration::from_millis(ms))
                    .collect(),
            },
            queue,
            roots: Some(Roots::none()),
        }
    }

    fn collector() -> (impl Fn(Outcome) + Send + Sync + 'static, Receiver<Outcome>) {
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        (
            move |o| {
                let _ = tx.lock().unwrap().send(o);
            },
            rx,
        )
    }

    const WAIT: Duration = Duration::from_secs(10);

    #[test]
    fn a_hung_receiver_delays_only_its_own_channel() {
        let hung = serve(vec![Reply::Hang]);
        let good = serve(vec![Reply::Status(200, "ok")]);
        let (on_outcome, outcomes) = collector();
        let notifier = Notifier::start_with(
            vec![webhook("a", &hung.url), webhook("b", &good.url)],
            options(QUEUE, 2),
            on_outcome,
        );
        let sent = Instant::now();
        assert!(notifier.send("a", notification("first")));
        assert!(notifier.send("a", notification("second")));
        assert!(notifier.send("b", notification("third")));
        let arrived = good.requests.recv_timeout(WAIT).unwrap();
        let b_took = arrived.at - sent;
        eprintln!("b's notification arrived {b_took:?} after sending, a hanging");
        assert!(b_took < Duration::from_millis(200), "{b_took:?}");
        assert_eq!(arrived.json()["rule"], "third");
        // `a` is at its first try (its request in, no answer) when `b` is done.
        assert_eq!(
            hung.requests.recv_timeout(WAIT).unwrap().json()["rule"],
            "first"
        );
        assert_eq!(hung.requests.try_iter().count(), 0);

        let b = outcomes.recv_timeout(WAIT).unwrap();
        assert_eq!(
            (
                b.channel.as_str(),
                b.rule.as_str(),
                &b.result,
                b.tries,
                b.dropped
            ),
            ("b", "third", &Ok("200".to_string()), 1, false)
        );
        assert_eq!(b.service.as_deref(), Some("api"));
        assert_eq!(b.status, Status::Firing);
        assert_eq!(b.summary, "third fired");

        let a = outcomes.recv_timeout(WAIT).unwrap();
        assert_eq!(
            (a.channel.as_str(), a.rule.as_str(), a.tries),
            ("a", "first", 3)
        );
        assert_eq!(
            a.result,
            Err(format!("{}: timed out after 300ms", hung.url))
        );
        // Three tries of 300 ms and the waits between them.
        assert!((900..2000).contains(&a.took_ms), "{}", a.took_ms);
        let a_done = sent.elapsed();
        assert!(a_done >= Duration::from_millis(900), "{a_done:?}");
        // Its channel's next notification came after it, in order.
        let next = outcomes.recv_timeout(WAIT).unwrap();
        assert_eq!((next.channel.as_str(), next.rule.as_str()), ("a", "second"));
        assert!(next.at_ms >= a.at_ms);
    }

    #[test]
    fn a_full_queue_drops_and_says_so() {
        let hung = serve(vec![Reply::Hang]);
        let (on_outcome, outcomes) = collector();
        let notifier =
            Notifier::start_with(vec![webhook("a", &hung.url)], options(2, 0), on_outcome);
        let started = Instant::now();
        let queued = (0..6)
            .filter(|i| notifier.send("a", notification(&format!("n{i}"))))
            .count();
        assert!(
            started.elapsed() < Duration::from_millis(50),
            "send never blocks"
        );
        // Two wait in the queue, one more if the thread took the first already.
        assert!((2..=3).contains(&queued), "{queued}");
        let dropped: Vec<Outcome> = outcomes.try_iter().collect();
        assert_eq!(dropped.len(), 6 - queued);
        for o in &dropped {
            assert!(o.dropped);
            assert_eq!(o.tries, 0);
            assert_eq!(
                o.result,
                Err("dropped: 2 notifications are already waiting for `a`".to_string())
            );
        }
        // The queued ones are still tried.
        for _ in 0..queued {
            let o = outcomes.recv_timeout(WAIT).unwrap();
            assert!(!o.dropped);
            assert_eq!(o.tries, 1);
        }

        assert!(!notifier.send("nope", notification("x")));
        let o = outcomes.recv_timeout(WAIT).unwrap();
        assert!(o.dropped);
        assert_eq!(o.result, Err("no channel named `nope`".to_string()));
    }

    #[test]
    fn send_and_wait_goes_through_the_queue() {
        let good = serve(vec![Reply::Status(200, "ok")]);
        let hung = serve(vec![Reply::Hang]);
        let (on_outcome, outcomes) = collector();
        let notifier = Notifier::start_with(
            vec![webhook("good", &good.url), webhook("hung", &hung.url)],
            options(QUEUE, 0),
            on_outcome,
        );
        let started = Instant::now();
        assert_eq!(
            notifier.send_and_wait("good", notification("test"), WAIT),
            Ok("200".to_string())
        );
        eprintln!("send_and_wait to 127.0.0.1: {:?}", started.elapsed());
        // Recorded like any delivery.
        assert_eq!(outcomes.recv_timeout(WAIT).unwrap().channel, "good");

        let err = notifier
            .send_and_wait("hung", notification("test"), Duration::from_millis(100))
            .unwrap_err();
        assert!(err.starts_with("no outcome within 100ms"), "{err}");
        // … and its outcome still comes.
        let o = outcomes.recv_timeout(WAIT).unwrap();
        assert!(o.result.unwrap_err().ends_with("timed out after 300ms"));

        assert_eq!(
            notifier.send_and_wait("nope", notification("test"), WAIT),
            Err("no channel named `nope`".to_string())
        );
        let _ = outcomes.recv_timeout(WAIT).unwrap();

        // Sent to both, then waited for: the hung one first does not delay the good one.
        let started = Instant::now();
        let hung_one = notifier.send_tracked("hung", notification("t2")).unwrap();
        let good_one = notifier.send_tracked("good", notification("t2")).unwrap();
        assert_eq!(good_one.wait(WAIT), Ok("200".to_string()));
        assert!(
            started.elapsed() < Duration::from_millis(200),
            "{:?}",
            started.elapsed()
        );
        assert!(
            hung_one
                .wait(WAIT)
                .unwrap_err()
                .ends_with("timed out after 300ms")
        );
    }

    #[test]
    fn reconfigure_keeps_replaces_and_drains() {
        let one = serve(vec![Reply::Status(200, "")]);
        let two = serve(vec![Reply::Status(200, "")]);
        let hung = serve(vec![Reply::Hang]);
        let (on_outcome, outcomes) = collector();
        let notifier = Notifier::start_with(
            vec![webhook("x", &one.url), webhook("y", &hung.url)],
            options(QUEUE, 0),
            on_outcome,
        );
        // Two notifications queued on `y`, then `y` removed: both are still tried.
        assert!(notifier.send("y", notification("y1")));
        assert!(notifier.send("y", notification("y2")));
        notifier.reconfigure(vec![webhook("x", &one.url), webhook("z", &two.url)]);
        assert_eq!(notifier.channels(), ["x", "z"]);
        assert!(!notifier.send("y", notification("y3")));
        assert!(outcomes.recv_timeout(WAIT).unwrap().dropped);
        let mut drained: Vec<String> = (0..2)
            .map(|_| outcomes.recv_timeout(WAIT).unwrap())
            .inspect(|o| assert_eq!(o.channel, "y"))
            .map(|o| o.rule)
            .collect();
        drained.sort();
        assert_eq!(drained, ["y1", "y2"]);

        // `x` changed: it goes to the new receiver.
        assert!(notifier.send("x", notification("x1")));
        assert!(one.requests.recv_timeout(WAIT).is_ok());
        notifier.reconfigure(vec![webhook("x", &two.url)]);
        assert!(notifier.send("x", notification("x2")));
        assert_eq!(
            two.requests.recv_timeout(WAIT).unwrap().json()["rule"],
            "x2"
        );
    }
}
