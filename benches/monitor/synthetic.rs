//! Part 4's database: the history of 20 services written through `berth::history::store::Store`
//! with fake times, as the daemon's writer would have left it after two weeks.
//!
//! How, and why it is faithful: a round every 5 s (every service and the machine, one disk)
//! and a health check of every service every 5 s, for `days` days ending now; so the rollups
//! of the old days hold what twelve samples and twelve checks a minute give (sums, maxima and
//! check histograms), not one. As the real writer does, complete minutes are rolled up, raw
//! rows older than 24 h are dropped and the freed pages given back (`Store::retain`, with
//! the default retention and size cap), so the raw tables never hold more than a day and a
//! bit. What differs, to stay bounded in time: before the last 24 h a transaction holds one
//! simulated hour (the writer commits each round), and roll-up and retention run once a
//! simulated hour (the writer: each minute, and every 5 minutes); in the last 24 h a
//! transaction holds one simulated minute. Events: each service's start and ready, then once
//! a day an exit and a restart. The file is measured as the writer leaves it —
//! still open, no checkpoint, no VACUUM — the database file plus its `-wal`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth::history::store::Store;
use berth::history::{CheckResult, EventRecord, Round, ServiceSample};
use berth::monitor::system::{DiskReading, SystemReading};

const ROUND_MS: u64 = 5_000;
const HOUR_MS: u64 = 3_600_000;
const DAY_MS: u64 = 24 * HOUR_MS;

/// What the generation made and how the writer's own steps cost on it.
pub struct Written {
    pub db_bytes: u64,
    pub wal_bytes: u64,
    /// The bytes of the database's live pages (`Store::size`).
    pub live_bytes: u64,
    pub took: Duration,
    pub samples: u64,
    pub checks: u64,
    /// Re-writing the last round (20 samples, the machine, 20 checks) in one transaction.
    pub write_round: Vec<Duration>,
    /// Rolling up one minute with a day of raw rows present.
    pub roll_up_minute: Vec<Duration>,
    /// A retention pass (nothing old enough to drop: the scans alone).
    pub retain_pass: Vec<Duration>,
    /// `EXPLAIN QUERY PLAN` of the roll-up's read of the raw samples.
    pub roll_up_plan: String,
}

/// xorshift64*: reproducible noise without a dependency.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct Generator {
    services: Vec<String>,
    disk: PathBuf,
    noise: Noise,
    /// Per service: bytes read and written so far (counters only grow).
    io: Vec<(u64, u64)>,
    net: (u64, u64),
}

impl Generator {
    fn round(&mut self, at_ms: u64) -> (Round, Vec<CheckResult>) {
        let mut samples = Vec::with_capacity(self.services.len());
        let mut checks = Vec::with_capacity(self.services.len());
        for i in 0..self.services.len() {
            let base_cpu = 0.5 + (i % 7) as f64 * 2.0;
            let cpu = base_cpu * (0.5 + self.noise.unit())
                + if self.noise.next().is_multiple_of(100) {
                    40.0
                } else {
                    0.0
                };
            let rss = ((30 + 7 * i as u64) << 20) + (self.noise.next() % (8 << 20));
            let io = &mut self.io[i];
            io.0 += self.noise.next() % 20_000;
            io.1 += self.noise.next() % 80_000;
            let (read, write) = *io;
            let ok = !self.noise.next().is_multiple_of(500);
            samples.push(ServiceSample {
                service: self.services[i].clone(),
                cpu_percent: cpu,
                rss_bytes: rss,
                open_fds: 10 + (i as u64 % 5) * 8 + self.noise.next() % 4,
                threads: 2 + (i as u64 % 9) + self.noise.next() % 2,
                processes: 2,
                read_bytes: Some(read),
                write_bytes: Some(write),
                healthy: ok,
            });
            checks.push(CheckResult {
                service: self.services[i].clone(),
                // A check is not on the round's millisecond.
                at_ms: at_ms + 100 + i as u64 * 13,
                ok,
                duration_us: 300 + self.noise.next() % 2_500 + if ok { 0 } else { 2_000_000 },
            });
        }
        self.net.0 += self.noise.next() % 5_000_000;
        self.net.1 += self.noise.next() % 2_000_000;
        let system = SystemReading {
            at_ms,
            cpu_percent: Some(5.0 + self.noise.unit() * 60.0),
            cores: 2,
            load: [
                self.noise.unit() * 3.0,
                self.noise.unit() * 2.0,
                self.noise.unit() * 1.5,
            ],
            memory_total_bytes: 8 << 30,
            memory_available_bytes: (3 << 30) + self.noise.next() % (2 << 30),
            swap_used_bytes: self.noise.next() % (64 << 20),
            disks: vec![DiskReading {
                path: self.disk.clone(),
                used_bytes: (40 << 30) + self.noise.next() % (1 << 30),
                total_bytes: 100 << 30,
            }],
            net_rx_bytes: self.net.0,
            net_tx_bytes: self.net.1,
        };
        (
            Round {
                at_ms,
                services: samples,
                system: Some(system),
            },
            checks,
        )
    }
}

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

fn wal_of(db: &Path) -> PathBuf {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    PathBuf::from(wal)
}

/// Writes `days` days of history of `services` ending at `end_ms` (a multiple of 5 s) into
/// the database of `state_dir`, which must not exist yet.
pub fn write(state_dir: &Path, services: &[String], end_ms: u64, days: u64) -> Written {
    let started = Instant::now();
    let db = berth::history::path(state_dir);
    std::fs::create_dir_all(state_dir).unwrap();
    assert!(!db.exists(), "{} exists already", db.display());
    let mut store = Store::open(&db).unwrap_or_else(|e| panic!("opening {}: {e:?}", db.display()));
    let settings = berth::history::Settings::default();
    let mut g = Generator {
        services: services.to_vec(),
        disk: PathBuf::from("/"),
        noise: Noise(0x9e37_79b9_7f4a_7c15),
        io: vec![(0, 0); services.len()],
        net: (1 << 30, 1 << 29),
    };
    let start_ms = end_ms - days * DAY_MS;
    // Each service started and became ready at the beginning, then exited and was restarted
    // once a day, at midday.
    let mut events: Vec<EventRecord> = Vec::new();
    for (i, name) in services.iter().enumerate() {
        for day in 0..days {
            let midday = if day > 0 { DAY_MS / 2 } else { 0 };
            let at_ms = start_ms + day * DAY_MS + midday + i as u64 * 7;
            for (kind, message, data) in [
                (
                    "exited",
                    "exited with code 1",
                    serde_json::json!({ "code": 1 }),
                ),
                (
                    "restarting",
                    "restart 1 in 0s",
                    serde_json::json!({ "delay_ms": 0 }),
                ),
                ("started", "started", serde_json::json!({ "pid": 1000 + i })),
                ("ready", "ready", serde_json::json!({ "ready_ms": 40 + i })),
            ] {
                if day == 0 && matches!(kind, "exited" | "restarting") {
                    continue;
                }
                events.push(EventRecord {
                    at_ms,
                    service: Some(name.clone()),
                    kind: kind.into(),
                    message: message.into(),
                    data,
                });
            }
        }
    }
    let (mut samples, mut checks) = (0u64, 0u64);
    let mut hour_start = start_ms;
    while hour_start < end_ms {
        let hour_end = (hour_start + HOUR_MS).min(end_ms);
        // One transaction an hour before the last day, one a minute in it.
        let batch_ms = if hour_end <= end_ms - DAY_MS {
            HOUR_MS
        } else {
            60_000
        };
        let mut batch_start = hour_start;
        while batch_start < hour_end {
            let batch_end = (batch_start + batch_ms).min(hour_end);
            let mut rounds = Vec::new();
            let mut batch_checks = Vec::new();
            let mut t = batch_start;
            while t < batch_end {
                let (round, c) = g.round(t);
                samples += round.services.len() as u64;
                checks += c.len() as u64;
                rounds.push(round);
                batch_checks.extend(c);
                t += ROUND_MS;
            }
            let batch_events: Vec<EventRecord> = events
                .iter()
                .filter(|e| e.at_ms >= batch_start && e.at_ms < batch_end)
                .cloned()
                .collect();
            store.write(&rounds, &batch_checks, &batch_events).unwrap();
            batch_start = batch_end;
        }
        store.roll_up(hour_end).unwrap();
        store
            .retain(hour_end, settings.retention, settings.max_size)
            .unwrap();
        hour_start = hour_end;
    }
    let took = started.elapsed();
    // As the writer leaves it: open, no checkpoint.
    let (db_bytes, wal_bytes) = (size(&db), size(&wal_of(&db)));
    let live_bytes = store.size().unwrap();

    // The writer's own steps on a day of raw rows.
    let last = end_ms - ROUND_MS;
    let mut write_round = Vec::new();
    for _ in 0..11 {
        let (round, c) = g.round(last);
        let t = Instant::now();
        store.write(&[round], &c, &[]).unwrap();
        write_round.push(t.elapsed());
    }
    let mut roll_up_minute = Vec::new();
    for _ in 0..7 {
        let conn = store.connection();
        conn.execute(
            "UPDATE meta SET value = CAST(value AS INTEGER) - 1 WHERE key = 'rolled_until'",
            [],
        )
        .unwrap();
        let t = Instant::now();
        let minutes = store.roll_up(end_ms).unwrap();
        roll_up_minute.push(t.elapsed());
        assert_eq!(minutes, 1, "one minute rolled up again");
    }
    let mut retain_pass = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        store
            .retain(end_ms, settings.retention, settings.max_size)
            .unwrap();
        retain_pass.push(t.elapsed());
    }
    let roll_up_plan = {
        let mut s = store
            .connection()
            .prepare(
                "EXPLAIN QUERY PLAN SELECT service, t / 60, count(*) FROM samples
                 WHERE t >= ?1 AND t < ?2 GROUP BY service, t / 60",
            )
            .unwrap();
        let rows: Vec<String> = s
            .query_map([0i64, 1i64], |r| r.get::<_, String>(3))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        rows.join("; ")
    };
    drop(store);
    Written {
        db_bytes,
        wal_bytes,
        live_bytes,
        took,
        samples,
        checks,
        write_round,
        roll_up_minute,
        retain_pass,
        roll_up_plan,
    }
}
