//! Targets 1 and 2: from a failure to its webhook, through a real daemon.
//!
//! The stack: services of the test service, `restart_delay: 10ms` (and `min_uptime: 1s`,
//! `max_restarts: 10000`, so the backoff stays at 10 ms and no service ends `failed` however
//! often it is killed), `monitor.interval: 1s`, and a rule `when: restarts > 0 in 3s`,
//! `for: 1s`. The bench SIGKILLs a service's main process; the supervisor restarts it, and
//! the restart is what makes the condition true. Its alert goes pending, fires at the first
//! evaluation once it has been pending for `for`, and its webhook is received by a thread of
//! this bench; 3 s after the restart the condition is false again, the alert resolves (its
//! `resolved` notification is waited for), and the service can be killed again.
//!
//! T, the start of each measurement, is the moment of the kill. The condition becomes true
//! inside the daemon, when the supervisor records the restart (the shim's exit seen on its
//! pidfd, the restart policy asked): a moment the bench cannot see without instrumenting
//! berth, and a few milliseconds after the kill. Starting at the kill counts that detection
//! in the latency, so each figure is an upper bound of "condition true → webhook received",
//! and it is what a user lives through (the service died, when did I hear of it). Where the
//! time went is read back afterwards from the event log (`restarting` at the restart's
//! record, the alert's `pending → firing` transition) and the webhook's `since` (when the
//! alert went pending).
//!
//! When an alert fires depends on the sampling rounds (each rings the alerts' bell), and a
//! restart moves them: the restarted service's new process is in no round yet, so the
//! alerts thread's look at the daemon's status pokes the sampler, which takes a round 250 ms
//! after its last at the soonest, and counts its 1 s interval from that round on. A failure
//! alone therefore has a round about `for` after it and fires then (latency − `for` of tens
//! to a few hundred ms), while failures less than a second apart each move the rounds on,
//! and all but the first wait for the round one interval after the last one's: the case the
//! budget of one interval is for. Both are measured: bursts of 10 kills at random moments
//! within 900 ms (every kill's alert pending before the first one's `for` is over) for
//! targets 1 and 2, and kills 1.3 s apart, each alone, for a row of their own.
//!
//! A burst begins an offset after the moment the previous one's last `resolved`
//! notifications began to arrive (just after a sampling round): random in [0, 1 s). For
//! target 2 the two bursts of a pair (`a` answering, then `a` hung) have the same offset
//! and the same moments of their kills, so that both meet the rounds alike and only the
//! channel differs.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::project::{Project, same, sigkill};
use crate::receiver::Receiver;

pub const FOR_MS: f64 = 1000.0;
/// A burst's kills fall within this: all are pending before the first one's `for` ends.
const BURST: Duration = Duration::from_millis(900);
/// After the last kill, the longest a schedule waits for its firings and resolutions.
const ROUND_LIMIT: Duration = Duration::from_secs(15);

/// The stack: `p*` are covered by rule `restarted` (channel `hook`), `q*` by rule
/// `restarted-ab` (channels `a`, then `b`).
pub fn stack_yaml(
    program: &std::path::Path,
    p: &[String],
    q: &[String],
    hook: &str,
    a: &str,
    b: &str,
) -> String {
    let list = |names: &[String]| names.join(", ");
    let mut yaml = format!(
        "project: alerts-latency
monitor:
  interval: 1s
alerts:
  channels:
    hook: {{ webhook: \"{hook}\" }}
    a: {{ webhook: \"{a}\" }}
    b: {{ webhook: \"{b}\" }}
  rules:
    - name: restarted
      when: restarts > 0 in 3s
      for: 1s
      services: [{p}]
      notify: [hook]
    - name: restarted-ab
      when: restarts > 0 in 3s
      for: 1s
      services: [{q}]
      notify: [a, b]
services:
",
        p = list(p),
        q = list(q),
    );
    let ports = crate::support::free_ports(p.len() + q.len());
    for (name, port) in p.iter().chain(q).zip(ports) {
        yaml.push_str(&format!(
            "  {name}:
    command: [\"{}\"]
    port: {port}
    restart_delay: 10ms
    min_uptime: 1s
    max_restarts: 10000
",
            program.display()
        ));
    }
    yaml
}

/// One firing: the kill, and its notification on the channel measured.
#[derive(Clone, Debug)]
pub struct Firing {
    pub service: String,
    pub killed: Instant,
    /// The kill on the wall clock (unix ms), to meet the event log.
    pub killed_ms: u64,
    pub received: Option<Instant>,
    /// When the alert went pending (the webhook's `since`).
    pub since_ms: Option<u64>,
}

impl Firing {
    /// Kill → webhook received, in ms.
    pub fn latency_ms(&self) -> Option<f64> {
        Some(self.received?.duration_since(self.killed).as_secs_f64() * 1000.0)
    }
}

fn now_ms() -> u64 {
    berth::logs::time::now_ms()
}

/// A kill: the service, and how long after the start of its schedule.
pub struct Kill {
    pub service: String,
    pub after: Duration,
}

/// A number in [0, below): the standard library's randomly keyed hasher, as the
/// supervisor's restart jitter.
pub fn random_below(below: u64) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
        % below
}

/// The moments of a burst of `n` kills: the first at 0, the others at random within
/// `BURST`, in order.
pub fn burst_offsets(n: usize) -> Vec<Duration> {
    let mut ms: Vec<u64> = (1..n)
        .map(|_| random_below(BURST.as_millis() as u64))
        .collect();
    ms.sort();
    std::iter::once(Duration::ZERO)
        .chain(ms.into_iter().map(Duration::from_millis))
        .collect()
}

/// `names` killed at `offsets`, in turn.
pub fn burst(names: &[String], offsets: &[Duration]) -> Vec<Kill> {
    names
        .iter()
        .zip(offsets)
        .map(|(n, &after)| Kill {
            service: n.clone(),
            after,
        })
        .collect()
}

/// `count` kills `gap` apart, taking `names` in turn.
pub fn spread(names: &[String], count: usize, gap: Duration) -> Vec<Kill> {
    (0..count)
        .map(|i| Kill {
            service: names[i % names.len()].clone(),
            after: gap * i as u32,
        })
        .collect()
}

/// What a schedule of kills gives: its firings, how many requests `others` drained, and
/// when the last evaluation's `resolved` notifications began to arrive: a moment just
/// after a sampling round (that evaluation was the sampler's), which the next schedule can
/// be placed from.
pub struct Round {
    pub firings: Vec<Firing>,
    pub drained: usize,
    pub anchor: Option<Instant>,
    /// Whether the kills began later than asked (the first was past `start_at`).
    pub late: bool,
    /// From the first kill to the last notification waited for.
    pub took: Duration,
    /// Whether every firing and resolution came within `ROUND_LIMIT`.
    pub complete: bool,
}

impl Round {
    /// One line for stderr: the latencies, rounded to ms.
    pub fn show(&self, label: &str) -> String {
        let ms: Vec<String> = self
            .firings
            .iter()
            .map(|f| f.latency_ms().map_or("—".into(), |l| format!("{l:.0}")))
            .collect();
        format!(
            "{label}: {:.1} s{}; kill → webhook, ms: {}",
            self.took.as_secs_f64(),
            if self.complete { "" } else { ", INCOMPLETE" },
            ms.join(" ")
        )
    }
}

/// Carries out `kills` from `start_at` on and waits for each one's `firing` notification
/// of `rule` on `receiver`, and for every alert to have resolved again. Whatever else
/// `others` receive is drained.
pub fn run(
    project: &mut Project,
    kills: &[Kill],
    rule: &str,
    receiver: &Receiver,
    others: &[&Receiver],
    start_at: Instant,
) -> Round {
    // Nothing left from the round before.
    while receiver.hits.try_recv().is_ok() {}
    let mut firings = Vec::new();
    let late = Instant::now() > start_at + Duration::from_millis(5);
    let start = start_at.max(Instant::now());
    let mut complete = true;
    for kill in kills {
        let name = std::slice::from_ref(&kill.service);
        let (pid, started) = project.running_pids(name)[0];
        if let Some(wait) = (start + kill.after).checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        assert!(
            same(pid, started),
            "{}'s process changed before its kill",
            kill.service
        );
        let (killed, killed_ms) = (Instant::now(), now_ms());
        sigkill(pid);
        firings.push(Firing {
            service: kill.service.clone(),
            killed,
            killed_ms,
            received: None,
            since_ms: None,
        });
    }
    let deadline = Instant::now() + ROUND_LIMIT;
    let mut resolved: HashMap<String, Vec<Instant>> = HashMap::new();
    let all_resolved = |resolved: &HashMap<String, Vec<Instant>>| {
        kills.iter().all(|k| {
            let wanted = kills.iter().filter(|x| x.service == k.service).count();
            resolved.get(&k.service).map_or(0, Vec::len) >= wanted
        })
    };
    while !all_resolved(&resolved) || firings.iter().any(|f| f.received.is_none()) {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            complete = false;
            break;
        };
        let Ok(hit) = receiver.hits.recv_timeout(left) else {
            complete = false;
            break;
        };
        if hit.text("rule") != rule {
            continue;
        }
        let service = hit.text("service").to_string();
        match hit.text("status") {
            "firing" => {
                // The earliest kill of that service not yet notified.
                if let Some(f) = firings
                    .iter_mut()
                    .find(|f| f.service == service && f.received.is_none() && f.killed < hit.at)
                {
                    f.received = Some(hit.at);
                    f.since_ms = berth::logs::time::parse_rfc3339_ms(hit.text("since"));
                }
            }
            "resolved" => resolved.entry(service).or_default().push(hit.at),
            _ => {}
        }
    }
    // The last evaluation's notifications, the first of them to arrive (the later ones
    // waited behind it on their channel's thread).
    let times: Vec<Instant> = resolved.values().flatten().copied().collect();
    let anchor = times.iter().max().map(|&last| {
        times
            .iter()
            .copied()
            .filter(|&t| last.duration_since(t) < Duration::from_millis(150))
            .min()
            .unwrap_or(last)
    });
    let drained = others.iter().map(|r| r.hits.try_iter().count()).sum();
    project.record();
    Round {
        firings,
        drained,
        anchor,
        late,
        took: start.elapsed(),
        complete,
    }
}

/// Where one firing's time went, in ms, from the event log and the webhook.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stages {
    /// The kill → the restart recorded (`restarting`): the condition is true from here.
    pub detect: f64,
    /// The restart recorded → the alert pending (the webhook's `since`): the bell's
    /// gathering (20 ms) and the evaluation.
    pub to_pending: f64,
    /// Pending → firing, beyond `for`: waiting for the next evaluation.
    pub wait: f64,
    /// Firing → the webhook received: building the notification, its queue, the POST.
    pub deliver: f64,
}

/// Each received firing's stages, where the event log has them.
pub fn stages(project: &Project, rule: &str, firings: &[Firing]) -> Vec<Stages> {
    let events = project.events(&["restarting", "alert"]);
    let time = |e: &serde_json::Value| {
        e["time"]
            .as_str()
            .and_then(berth::logs::time::parse_rfc3339_ms)
    };
    firings
        .iter()
        .filter_map(|f| {
            let since = f.since_ms?;
            let latency = f.latency_ms()?;
            // The event log's times are whole milliseconds: a restart may read 1 ms before
            // the kill's own reading.
            let restart = events
                .iter()
                .filter(|e| e["kind"] == "restarting" && e["service"] == f.service.as_str())
                .filter_map(time)
                .find(|&t| t + 1 >= f.killed_ms && t <= f.killed_ms + 5000)?;
            let fired = events
                .iter()
                .filter(|e| {
                    e["kind"] == "alert"
                        && e["data"]["rule"] == rule
                        && e["data"]["subject"] == f.service.as_str()
                        && e["data"]["to"] == "firing"
                })
                .filter_map(time)
                .find(|&t| t >= since)?;
            let received = f.killed_ms as f64 + latency;
            Some(Stages {
                detect: restart as f64 - f.killed_ms as f64,
                to_pending: since as f64 - restart as f64,
                wait: fired as f64 - since as f64 - FOR_MS,
                deliver: received - fired as f64,
            })
        })
        .collect()
}
