//! The sampling thread: every `monitor.interval`, one pass over `/proc` (each running
//! service's tree, its files held open between rounds: see `held`) and the machine; the round is kept as the latest
//! reading, which `status`, `/metrics` and the API answer from (none of them reads `/proc` on
//! its request), and sent to history. A service whose main process is new since the last
//! round asks for a round now (`poke`), at most every `MIN_GAP`.

use super::held::HeldTrees;
use super::system::{SystemReading, SystemSampler};
use super::tree::TreeUsage;
use crate::history::{History, Round, ServiceSample};
use crate::logs::time::now_ms;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Rounds asked for by `poke` come no closer together than this.
const MIN_GAP: Duration = Duration::from_millis(250);

/// A running service, as the sampler is told of it each round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    pub name: String,
    pub pid: u32,
    pub healthy: bool,
}

/// One service's reading.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ServiceReading {
    /// The main process the reading is of.
    pub pid: u32,
    /// CPU over the time since the previous round (over the process's life at its first).
    pub cpu_percent: f64,
    /// CPU of the tree since berth first read this main process: it only grows while that
    /// process lives; a new one starts it afresh (a counter reset, to Prometheus).
    pub cpu_seconds_total: f64,
    pub usage: TreeUsage,
}

/// The latest round.
#[derive(Clone, Debug, Default)]
pub struct Latest {
    pub at_ms: u64,
    pub services: BTreeMap<String, ServiceReading>,
    pub system: Option<SystemReading>,
}

/// What the sampler is set to, from the stack's `monitor:` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub interval: Duration,
    pub disks: Vec<PathBuf>,
}

#[derive(Default)]
struct Control {
    settings: Option<Settings>,
    poked: bool,
}

#[derive(Default)]
struct Shared {
    latest: Mutex<Arc<Latest>>,
    control: Mutex<Control>,
    wake: Condvar,
}

/// The daemon's handle on its sampler.
#[derive(Clone, Default)]
pub struct Monitor {
    shared: Arc<Shared>,
}

impl Monitor {
    /// Starts the thread; `subjects` says what runs now (`None` while no stack is loaded).
    pub fn start(
        &self,
        subjects: impl Fn() -> Option<Vec<Subject>> + Send + 'static,
        history: History,
        bell: Arc<crate::daemon::bell::Bell>,
    ) -> std::io::Result<()> {
        let shared = Arc::clone(&self.shared);
        std::thread::Builder::new()
            .name("sampler".into())
            .spawn(move || run(&shared, &subjects, &history, &bell))
            .map(drop)
    }

    /// Applies the stack's settings (sampling starts with the first).
    pub fn configure(&self, settings: Settings) {
        let mut control = self.lock_control();
        if control.settings.as_ref() != Some(&settings) {
            control.settings = Some(settings);
            control.poked = true;
            self.shared.wake.notify_all();
        }
    }

    /// Asks for a round soon (a service has a new main process).
    pub fn poke(&self) {
        let mut control = self.lock_control();
        if !control.poked {
            control.poked = true;
            self.shared.wake.notify_all();
        }
    }

    /// The latest round; cheap (shared, not copied).
    pub fn latest(&self) -> Arc<Latest> {
        Arc::clone(&self.shared.latest.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn lock_control(&self) -> std::sync::MutexGuard<'_, Control> {
        self.shared
            .control
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

fn run(
    shared: &Shared,
    subjects: &dyn Fn() -> Option<Vec<Subject>>,
    history: &History,
    bell: &crate::daemon::bell::Bell,
) {
    let mut rounds = Rounds::default();
    let mut last: Option<Instant> = None;
    loop {
        // Wait for the next round: the interval after the last, or a poke after the gap.
        let settings = {
            let mut control = shared.control.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                let due = match (&control.settings, last) {
                    (None, _) => None,
                    (Some(_), None) => Some(Instant::now()),
                    (Some(s), Some(at)) if control.poked => Some(at + MIN_GAP.min(s.interval)),
                    (Some(s), Some(at)) => Some(at + s.interval),
                };
                match due {
                    Some(due) if Instant::now() >= due => break,
                    Some(due) => {
                        let wait = due.saturating_duration_since(Instant::now());
                        control = shared
                            .wake
                            .wait_timeout(control, wait)
                            .unwrap_or_else(|e| e.into_inner())
                            .0;
                    }
                    None => {
                        control = shared.wake.wait(control).unwrap_or_else(|e| e.into_inner());
                    }
                }
            }
            control.poked = false;
            control.settings.clone().expect("due only with settings")
        };
        last = Some(Instant::now());
        let Some(now_subjects) = subjects() else {
            continue;
        };
        let (latest, round) = rounds.take(&now_subjects, &settings.disks, now_ms());
        *shared.latest.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(latest);
        history.round(round);
        // Alerts are evaluated at every sample.
        bell.ring();
    }
}

/// What one round needs of the one before.
struct Rounds {
    system: SystemSampler,
    trees: HeldTrees,
    /// By service: the previous reading and when it was taken.
    previous: BTreeMap<String, (ServiceReading, u64)>,
}

impl Default for Rounds {
    fn default() -> Rounds {
        Rounds {
            system: SystemSampler::default(),
            trees: HeldTrees::new(crate::process::limits::sampler_budget()),
            previous: BTreeMap::new(),
        }
    }
}

impl Rounds {
    /// Takes a round of `subjects` and the machine at `now_ms`.
    fn take(&mut self, subjects: &[Subject], disks: &[PathBuf], now_ms: u64) -> (Latest, Round) {
        let roots: Vec<u32> = subjects.iter().map(|s| s.pid).collect();
        let trees = self.trees.read(&roots);
        let hz = rustix::param::clock_ticks_per_second().max(1) as f64;
        let mut services = BTreeMap::new();
        let mut samples = Vec::with_capacity(subjects.len());
        for (subject, tree) in subjects.iter().zip(trees) {
            let usage = tree.usage;
            if usage.processes == 0 {
                // Gone since the subjects were listed: nothing to say of it this round.
                continue;
            }
            let reading = match self.previous.get(&subject.name) {
                Some((before, at)) if before.pid == subject.pid => ServiceReading {
                    pid: subject.pid,
                    cpu_percent: crate::process::usage::cpu_percent(
                        ticks(before.usage),
                        ticks(usage),
                        now_ms.saturating_sub(*at),
                    ),
                    cpu_seconds_total: before.cpu_seconds_total
                        + usage.cpu_ticks.saturating_sub(before.usage.cpu_ticks) as f64 / hz,
                    usage,
                },
                _ => ServiceReading {
                    pid: subject.pid,
                    cpu_percent: lifetime_percent(tree.root, usage, now_ms),
                    cpu_seconds_total: usage.cpu_ticks as f64 / hz,
                    usage,
                },
            };
            samples.push(ServiceSample {
                service: subject.name.clone(),
                cpu_percent: reading.cpu_percent,
                rss_bytes: usage.rss_bytes,
                open_fds: usage.open_fds,
                threads: usage.threads,
                processes: usage.processes,
                read_bytes: usage.read_bytes,
                write_bytes: usage.write_bytes,
                healthy: subject.healthy,
            });
            services.insert(subject.name.clone(), reading);
        }
        self.previous = services
            .iter()
            .map(|(name, r)| (name.clone(), (*r, now_ms)))
            .collect();
        let system = self.system.read(disks, now_ms);
        let latest = Latest {
            at_ms: now_ms,
            services,
            system: Some(system.clone()),
        };
        let round = Round {
            at_ms: now_ms,
            services: samples,
            system: Some(system),
        };
        (latest, round)
    }
}

fn ticks(usage: TreeUsage) -> crate::process::usage::Usage {
    crate::process::usage::Usage {
        cpu_ticks: usage.cpu_ticks,
        rss_bytes: usage.rss_bytes,
    }
}

/// A new service's CPU over its main process's life so far: the best a first reading can say.
fn lifetime_percent(
    root: Option<crate::process::table::Stat>,
    usage: TreeUsage,
    now_ms: u64,
) -> f64 {
    let started = root.and_then(|s| crate::process::table::started_at_ms(s.start_time));
    match started {
        Some(at) => crate::process::usage::cpu_percent(
            crate::process::usage::Usage::default(),
            ticks(usage),
            now_ms.saturating_sub(at).max(1),
        ),
        None => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_reads_each_tree_and_the_machine_and_counts_cpu_on() {
        let mut busy = crate::process::spawn_execed(
            std::process::Command::new("sh").args(["-c", "while :; do :; done"]),
        );
        let subjects = vec![
            Subject {
                name: "busy".into(),
                pid: busy.id(),
                healthy: true,
            },
            // Listed, but gone: left out.
            Subject {
                name: "gone".into(),
                pid: u32::MAX - 1,
                healthy: false,
            },
        ];
        let mut rounds = Rounds::default();
        let started = now_ms();
        let (first, round) = rounds.take(&subjects, &[PathBuf::from("/")], started);
        assert_eq!(first.services.len(), 1);
        assert_eq!(round.services.len(), 1);
        assert!(round.services[0].healthy);
        assert!(first.system.as_ref().unwrap().memory_total_bytes > 0);
        std::thread::sleep(Duration::from_millis(300));
        let ended = now_ms();
        let (second, _) = rounds.take(&subjects, &[], ended);
        busy.kill().unwrap();
        busy.wait().unwrap();
        let (a, b) = (first.services["busy"], second.services["busy"]);
        // A busy loop over 300 ms: the counter went up, and the percentage is what it rose
        // by over the time between the rounds. How much of a core the loop got depends on
        // what else the machine runs, so that is not pinned, only that it got some.
        assert!(b.cpu_seconds_total > a.cpu_seconds_total, "{a:?} {b:?}");
        let rose = (b.cpu_seconds_total - a.cpu_seconds_total) * 1000.0 / (ended - started) as f64;
        assert!(b.cpu_percent > 1.0, "{b:?}");
        assert!(
            (b.cpu_percent - rose * 100.0).abs() < 10.0,
            "{b:?}: the counter rose by {rose} s a second"
        );
        assert!(b.usage.rss_bytes > 0 && b.usage.processes == 1);
    }

    #[test]
    fn the_thread_samples_once_configured_and_when_poked() {
        let monitor = Monitor::default();
        let me = std::process::id();
        monitor
            .start(
                move || {
                    Some(vec![Subject {
                        name: "me".into(),
                        pid: me,
                        healthy: true,
                    }])
                },
                History::off(),
                Arc::default(),
            )
            .unwrap();
        // Nothing before it is configured.
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(monitor.latest().at_ms, 0);
        monitor.configure(Settings {
            interval: Duration::from_secs(3600),
            disks: Vec::new(),
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while monitor.latest().at_ms == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let first = monitor.latest().at_ms;
        assert!(first > 0);
        assert!(monitor.latest().services["me"].usage.rss_bytes > 0);
        // An hour's interval, yet a poke brings a round within the gap.
        monitor.poke();
        while monitor.latest().at_ms == first && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(monitor.latest().at_ms > first, "a poke took a round");
    }
}
