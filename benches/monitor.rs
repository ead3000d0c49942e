//! Monitoring's figures (release builds), each against a baseline measured in the same run,
//! interleaved, printed as one table of medians (min–max) with each target and PASS/MISS:
//!
//! 1. 200 services of the test service, two processes each (`--grandchildren 1`), sampled
//!    with the machine every 1 s: the daemon's CPU (`utime + stime` from `/proc`, pid from
//!    `.berth/daemon.lock`) over `BERTH_BENCH_SECS` (60), against sampling every 1 h (off
//!    after its first round), windows interleaved round by round; split by thread.
//! 2. One sampling round as the daemon takes it, in this process through the library
//!    (`HeldTrees::read` of the 200 main pids, files held from round to round, +
//!    `SystemSampler::read`), against spawning `ps -eo pid,ppid,rss,pcpu >/dev/null`,
//!    alternating, 31 each after a warm-up.
//! 3. `GET /metrics` with 200 services over TCP (`api.listen`, `metrics_without_token`) and
//!    over the Unix socket, wall time of one request on a fresh connection, against Debian's
//!    `prometheus-node-exporter` answering its own `/metrics` (started here on a free port
//!    of 127.0.0.1, killed by pid at the end; "not installed" when it is missing); once
//!    without health checks, once with them (the check histograms in the answer).
//! 4. 20 services' history written through `berth::history::store::Store` with fake times
//!    (14 days at 5 s, checks every 5 s, rolled up and retained as the writer does: see
//!    `monitor/synthetic.rs`): the file and its `-wal` as the writer leaves them; `berth stats
//!    --since 24h` on it with the daemon down, against `berth --version`; one 24 h series
//!    over the Unix socket of a daemon running on it, against `GET /v1/status?usage=false`.
//! 5. `berth status --json` with the 200 services: back to back, 1.1 s apart and 5.5 s
//!    apart, each against `berth --version` right after it; spaced, `--version` and the
//!    daemon's answer alone, each after the same pause: added, the floor of any status.
//! 6. The 200 services with `health: {http: .../health, interval: 5s}`: the daemon's CPU over
//!    the window, against the same 200 without health checks, interleaved; split by thread.
//! 7. 20 services (history on): `status --json` and `ensure` against `berth --version`; the
//!    daemon's RSS after a window's worth of sampling, writing and a roll-up.
//!
//! `cargo bench --bench monitor`. Environment: `BERTH_BENCH_SECS` (60) the CPU windows;
//! `BERTH_BENCH_ROUNDS` (3) how many windows of each case; `BERTH_BENCH_HISTORY_DAYS` (14);
//! `BERTH_BENCH_PARTS` (e.g. `1,6`; all by default). About 17 minutes with the defaults.

#[path = "monitor/http.rs"]
mod http;
#[path = "monitor/project.rs"]
mod project;
mod support;
#[path = "monitor/synthetic.rs"]
mod synthetic;
#[path = "monitor/table.rs"]
mod table;
#[path = "monitor/threads.rs"]
mod threads;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use berth::monitor::held::HeldTrees;
use berth::monitor::system::SystemSampler;
use berth::process::table::Snapshot;
use project::{Project, test_service_entry};
use support::procs::{Started, rss_kib};
use support::samples::{Samples, Unit};
use support::{free_ports, test_service, time_quietly};
use table::Row;

const BIG: usize = 200;
const SMALL: usize = 20;
/// Pairs of quick calls (after one warm-up pair).
const QUICK: usize = 31;
/// After an `up` that changed only `monitor:`, and after one that restarted every service.
const SETTLE: Duration = Duration::from_secs(3);
const SETTLE_RESTARTED: Duration = Duration::from_secs(6);

struct Settings {
    window: Duration,
    rounds: usize,
    days: u64,
    parts: Vec<u8>,
}

impl Settings {
    fn from_env() -> Settings {
        let number = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .map(|v| {
                    v.trim()
                        .parse()
                        .unwrap_or_else(|_| panic!("{name}: not a number: {v}"))
                })
                .unwrap_or(default)
        };
        let parts = std::env::var("BERTH_BENCH_PARTS")
            .ok()
            .map(|v| {
                v.split(',')
                    .filter(|p| !p.trim().is_empty())
                    .map(|p| p.trim().parse().expect("BERTH_BENCH_PARTS: numbers 1-7"))
                    .collect()
            })
            .unwrap_or_else(|| (1..=7).collect());
        Settings {
            window: Duration::from_secs(number("BERTH_BENCH_SECS", 60).max(1)),
            rounds: number("BERTH_BENCH_ROUNDS", 3).max(1) as usize,
            days: number("BERTH_BENCH_HISTORY_DAYS", 14).max(2),
            parts,
        }
    }

    fn has(&self, part: u8) -> bool {
        self.parts.contains(&part)
    }
}

/// What the run found, row by row (kept in part order when printed), and what it noticed.
#[derive(Default)]
struct Report {
    rows: Vec<(u8, Row)>,
    notes: Vec<String>,
    /// Per case of the CPU windows: each window's split and the shims' and forker's CPU.
    splits: Vec<(&'static str, Vec<(threads::Split, f64)>)>,
}

impl Report {
    fn row(&mut self, part: u8, row: Row) {
        self.rows.push((part, row));
    }

    fn note(&mut self, note: impl Into<String>) {
        let note = note.into();
        eprintln!("   note: {note}");
        self.notes.push(note);
    }
}

fn times(unit: Unit, v: &[Duration]) -> Samples {
    let mut s = Samples::new(unit);
    v.iter().for_each(|d| s.push_time(*d));
    s
}

/// The median of a[i] − b[i].
fn median_difference(a: &[f64], b: &[f64]) -> f64 {
    Samples::of(Unit::Count, a.iter().zip(b).map(|(x, y)| x - y)).median()
}

fn berth_time(dir: &Path, args: &[&str]) -> Duration {
    let (took, ok) = time_quietly(&mut support::berth_in(dir, args));
    // `status` answers 3 while something is not healthy; the rest must work.
    assert!(ok || args[0] == "status", "berth {args:?} failed");
    took
}

fn kib_field(pid: i32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Runs `f`; a panic is noted as that part's failure instead of ending the bench.
fn guarded<T>(report: &mut Report, part: &str, f: impl FnOnce(&mut Report) -> T) -> Option<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut *report))) {
        Ok(t) => Some(t),
        Err(e) => {
            let why = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            report.note(format!("**part {part} failed**: {why}"));
            None
        }
    }
}

fn main() {
    let begun = Instant::now();
    let left = Started::clear_ledger();
    if left > 0 {
        eprintln!("killed {left} processes an interrupted run left behind");
    }
    let settings = Settings::from_env();
    let program = test_service();
    let mut report = Report::default();
    eprintln!(
        "monitor bench: windows of {} s, {} rounds, parts {:?}",
        settings.window.as_secs(),
        settings.rounds,
        settings.parts
    );

    // A part that fails is said in the notes; the others' figures are still printed.
    let small = settings
        .has(7)
        .then(|| guarded(&mut report, "7", |r| small_start(&program, r)))
        .flatten();
    // The 20 idle meanwhile: their daemon's RSS is read once it has sampled, written and
    // rolled up for a while.
    let history = settings
        .has(4)
        .then(|| guarded(&mut report, "4", |r| history_write(&settings, r)))
        .flatten();
    if let Some(small) = small {
        guarded(&mut report, "7", |r| small_finish(small, &settings, r));
    }
    if let Some(history) = history {
        guarded(&mut report, "4", |r| history_read(history, r));
    }
    if [1, 2, 3, 5, 6].iter().any(|&p| settings.has(p)) {
        guarded(&mut report, "the 200 services' parts", |r| {
            big(&program, &settings, r)
        });
    }

    let took = begun.elapsed();
    println!();
    println!(
        "berth monitoring, {} cores, CPU windows of {} s × {} rounds, the whole bench {:.0} s",
        berth::ports::parallel::cores(),
        settings.window.as_secs(),
        settings.rounds,
        took.as_secs_f64()
    );
    println!();
    report.rows.sort_by_key(|(part, _)| *part);
    let rows: Vec<Row> = report.rows.into_iter().map(|(_, r)| r).collect();
    table::print(&rows);
    if !report.splits.is_empty() {
        println!();
        print_splits(&report.splits);
    }
    if !report.notes.is_empty() {
        println!();
        for note in &report.notes {
            println!("- {note}");
        }
    }
}

/// The daemon's CPU by thread group, medians over the windows of each case.
fn print_splits(splits: &[(&'static str, Vec<(threads::Split, f64)>)]) {
    println!(
        "The daemon's CPU by thread, % of one core, median of the windows (each group's own median, so the parts need not add up to the total):"
    );
    println!();
    let mut header = vec!["case".to_string(), "daemon total".to_string()];
    header.extend(threads::GROUPS.iter().map(|g| g.to_string()));
    header.push("shims + forker".into());
    println!("| {} |", header.join(" | "));
    println!("|{}", "---|".repeat(header.len()));
    for (case, windows) in splits {
        let median = |f: &dyn Fn(&(threads::Split, f64)) -> f64| {
            Samples::of(Unit::Count, windows.iter().map(f)).median()
        };
        let mut cells = vec![
            format!("{case} ({} windows)", windows.len()),
            format!("{:.3}", median(&|w| w.0.total)),
        ];
        for g in threads::GROUPS {
            cells.push(format!(
                "{:.3}",
                median(&|w| w.0.groups.get(g).copied().unwrap_or(0.0))
            ));
        }
        cells.push(format!("{:.3}", median(&|w| w.1)));
        println!("| {} |", cells.join(" | "));
    }
}

// ---------------------------------------------------------------------------------------------
// Part 7: 20 services.

struct Small {
    project: Project,
    up_at: Instant,
}

fn small_start(program: &Path, report: &mut Report) -> Small {
    eprintln!("== 7. 20 services: status, ensure");
    let ports = free_ports(SMALL);
    let mut yaml = String::from("services:\n");
    for (i, port) in ports.iter().enumerate() {
        yaml.push_str(&test_service_entry(
            &format!("s{i}"),
            program,
            *port,
            false,
            false,
        ));
    }
    let mut project = Project::new(&yaml);
    project.up();
    let up_at = Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    let d = project.dir().to_path_buf();
    let (mut status, mut ensure, mut version) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..=QUICK {
        let s = berth_time(&d, &["status", "--json"]);
        let e = berth_time(&d, &["ensure"]);
        let v = berth_time(&d, &["--version"]);
        if round > 0 {
            status.push(s);
            ensure.push(e);
            version.push(v);
        }
    }
    let (mut spaced, mut spaced_version) = (Vec::new(), Vec::new());
    for _ in 0..6 {
        std::thread::sleep(Duration::from_millis(1100));
        spaced.push(berth_time(&d, &["status", "--json"]));
        spaced_version.push(berth_time(&d, &["--version"]));
    }
    let version_s = times(Unit::Ms, &version);
    for (name, v, base) in [
        ("`status --json`, back to back", &status, &version_s),
        ("`ensure`, all ready", &ensure, &version_s),
        (
            "`status --json`, 1.1 s apart",
            &spaced,
            &times(Unit::Ms, &spaced_version),
        ),
    ] {
        let s = times(Unit::Ms, v);
        let ratio = s.ratio(base).unwrap_or(f64::NAN);
        report.row(
            7,
            Row::new(format!("7. {name}, {SMALL} services"), s.show())
                .baseline("`berth --version`", &base.show())
                .relation(format!("{ratio:.2} × pair by pair"))
                .at_most(s.median(), 5.0, " ms", 2),
        );
    }
    Small { project, up_at }
}

fn small_finish(mut small: Small, settings: &Settings, report: &mut Report) {
    let pid = small
        .project
        .daemon_pid()
        .expect("the 20 services' daemon runs");
    // A window's worth of rounds, a roll-up of a complete minute (every minute) and the first
    // retention pass (at the writer's first upkeep) have happened by then.
    let until = small.up_at + settings.window.max(Duration::from_secs(10)) + Duration::from_secs(5);
    let wait = until.saturating_duration_since(Instant::now());
    eprintln!(
        "== 7. the daemon's RSS, {:.0} s from now",
        wait.as_secs_f64()
    );
    std::thread::sleep(wait);
    let rss = rss_kib(pid).unwrap_or(0) as f64 / 1024.0;
    let hwm = kib_field(pid, "VmHWM:").unwrap_or(0) as f64 / 1024.0;
    let db = berth::history::path(&small.project.state_dir());
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len()) / 1024;
    let mut wal = db.clone().into_os_string();
    wal.push("-wal");
    let (db_kib, wal_kib) = (size(&db), size(Path::new(&wal)));
    report.row(
        7,
        Row::new(
            format!(
                "7. daemon RSS, {SMALL} services, history on, {:.0} s after `up`",
                small.up_at.elapsed().as_secs_f64()
            ),
            format!("{rss:.1} MiB (peak {hwm:.1})"),
        )
        .at_most(rss.max(hwm), 16.0, " MiB", 1),
    );
    report.note(format!(
        "7. the 20 services' history.db was {db_kib} KiB and its -wal {wal_kib} KiB when the RSS was read"
    ));
    small.project.down();
}

// ---------------------------------------------------------------------------------------------
// Part 4: two weeks of history of 20 services.

struct HistoryPart {
    project: Project,
    written: synthetic::Written,
    days: u64,
}

fn history_write(settings: &Settings, report: &mut Report) -> HistoryPart {
    eprintln!(
        "== 4. writing {} days of history of {SMALL} services",
        settings.days
    );
    let names: Vec<String> = (0..SMALL).map(|i| format!("s{i}")).collect();
    let mut yaml = String::from("services:\n");
    for name in &names {
        // Nothing runs: the daemon is only there to answer from the history.
        yaml.push_str(&format!(
            "  {name}:\n    command: [\"sleep\", \"100000\"]\n    autostart: false\n"
        ));
    }
    let project = Project::new(&yaml);
    let end_ms = berth::logs::time::now_ms() / 5000 * 5000;
    let written = synthetic::write(&project.state_dir(), &names, end_ms, settings.days);
    report.note(format!(
        "4. writing {} days of history ({} samples, {} checks) took {:.1} s",
        settings.days,
        written.samples,
        written.checks,
        written.took.as_secs_f64()
    ));
    HistoryPart {
        project,
        written,
        days: settings.days,
    }
}

fn history_read(mut h: HistoryPart, report: &mut Report) {
    let w = &h.written;
    let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
    let total = mib(w.db_bytes + w.wal_bytes);
    report.row(
        4,
        Row::new(
            format!(
                "4. history.db + -wal, {SMALL} services, {} days (last 24 h raw at 5 s, checks every 5 s)",
                h.days
            ),
            format!(
                "{total:.1} MiB (file {:.1} + wal {:.1}; live pages {:.1})",
                mib(w.db_bytes),
                mib(w.wal_bytes),
                mib(w.live_bytes)
            ),
        )
        .at_most(total, 64.0, " MiB", 1),
    );
    let ms = |v: &[Duration]| times(Unit::Ms, v).show();
    report.note(format!(
        "4. the writer's steps on that database, in process: a round (20 samples, the machine, 20 checks) in one transaction {}; rolling up one minute {}; a retention pass that drops nothing {}",
        ms(&w.write_round),
        ms(&w.roll_up_minute),
        ms(&w.retain_pass)
    ));
    report.note(format!(
        "4. the roll-up's read of raw samples (`WHERE t >= ? AND t < ?`) is planned as: {}",
        w.roll_up_plan
    ));

    // `berth stats` with the daemon down.
    eprintln!("== 4. berth stats --since 24h, daemon down");
    let d = h.project.dir().to_path_buf();
    assert!(
        h.project.daemon_pid().is_none(),
        "no daemon for the history project yet"
    );
    let out = Command::new(support::berth())
        .args(["stats", "--since", "24h", "--json"])
        .current_dir(&d)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "berth stats failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let s0 = &stats["services"][0];
    let f = |v: &serde_json::Value| v.as_f64().map_or("-".to_string(), |x| format!("{x:.3}"));
    report.note(format!(
        "4. `stats --since 24h` read: s0 CPU avg {} %, max {} %, healthy {}, check p50 {} ms, p95 {} ms, failed {}, restarts {}",
        f(&s0["cpu_avg_percent"]),
        f(&s0["cpu_max_percent"]),
        f(&s0["healthy_ratio"]),
        f(&s0["check_p50_ms"]),
        f(&s0["check_p95_ms"]),
        s0["checks_failed"],
        s0["restarts"]
    ));
    // The query alone, in this process: what of the command is reading the database.
    {
        let conn = berth::history::query::open(&h.project.state_dir())
            .unwrap()
            .expect("the history exists");
        let names: Vec<String> = (0..SMALL).map(|i| format!("s{i}")).collect();
        let mut took = Vec::new();
        for _ in 0..11 {
            let until = berth::logs::time::now_ms();
            let start = Instant::now();
            let out =
                berth::history::query::stats(&conn, until - 86_400_000, until, &names).unwrap();
            took.push(start.elapsed());
            std::hint::black_box(out);
        }
        let plan = |sql: &str| -> String {
            let mut s = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let rows: Vec<String> = s
                .query_map([], |r| r.get::<_, String>(3))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            rows.join("; ")
        };
        report.note(format!(
            "4. in process, `history::query::stats` over the last 24 h: {}; the rollups of a window are read as: {}; its raw edges as: {}",
            times(Unit::Ms, &took).show(),
            plan("SELECT service, sum(n) FROM rollups WHERE m >= 1 AND m < 2 AND n > 0 GROUP BY service"),
            plan("SELECT service, count(*) FROM samples WHERE ((t >= 1 AND t < 2) OR (t >= 3 AND t < 4)) GROUP BY service"),
        ));
    }
    assert!(
        s0["cpu_avg_percent"].is_number() && s0["check_p50_ms"].is_number(),
        "stats found no history: {s0}"
    );
    let (mut stats_t, mut version) = (Vec::new(), Vec::new());
    for round in 0..=QUICK {
        let s = berth_time(&d, &["stats", "--since", "24h"]);
        let v = berth_time(&d, &["--version"]);
        if round > 0 {
            stats_t.push(s);
            version.push(v);
        }
    }
    let (s, v) = (times(Unit::Ms, &stats_t), times(Unit::Ms, &version));
    report.row(
        4,
        Row::new("4. `berth stats --since 24h`, daemon down", s.show())
            .baseline("`berth --version`", &v.show())
            .relation(format!(
                "{:.2} × pair by pair",
                s.ratio(&v).unwrap_or(f64::NAN)
            ))
            .at_most(s.median(), 50.0, " ms", 2),
    );

    // One series over the API of a daemon running on that database.
    eprintln!("== 4. GET /v1/history over the Unix socket");
    h.project.up();
    std::thread::sleep(SETTLE);
    let socket = h.project.socket();
    let path = "/v1/history?service=s7&metric=cpu_percent&since=24h";
    let first = http::unix(&socket, path);
    assert_eq!(
        first.status,
        200,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    let series: serde_json::Value = serde_json::from_slice(&first.body).unwrap();
    let points = series["points"].as_array().map_or(0, |p| p.len());
    report.note(format!(
        "4. the 24 h series has {points} points ({} bytes of JSON)",
        first.body_bytes
    ));
    let (mut series_t, mut status_t) = (Vec::new(), Vec::new());
    for round in 0..=QUICK {
        let a = http::unix(&socket, path);
        let b = http::unix(&socket, "/v1/status?usage=false");
        assert!(a.status == 200 && b.status == 200);
        if round > 0 {
            series_t.push(a.took);
            status_t.push(b.took);
        }
    }
    let (s, b) = (times(Unit::Ms, &series_t), times(Unit::Ms, &status_t));
    report.row(
        4,
        Row::new(
            "4. `GET /v1/history?service=S&metric=cpu_percent&since=24h`, Unix socket",
            s.show(),
        )
        .baseline("`GET /v1/status?usage=false`", &b.show())
        .relation(format!(
            "{:.2} × pair by pair",
            s.ratio(&b).unwrap_or(f64::NAN)
        ))
        .at_most(s.median(), 20.0, " ms", 2),
    );
    h.project.down();
}

// ---------------------------------------------------------------------------------------------
// Parts 1, 2, 3, 5, 6: 200 services of two processes each.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Case {
    Every1s,
    Every1h,
    Plain,
    Health,
}

impl Case {
    fn monitor(self) -> &'static str {
        match self {
            Case::Every1s => "interval: 1s",
            Case::Every1h => "interval: 1h",
            Case::Plain | Case::Health => "interval: 5s",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Case::Every1s => "sampling every 1 s, no health checks",
            Case::Every1h => "sampling every 1 h (off), no health checks",
            Case::Plain => "sampling every 5 s, no health checks",
            Case::Health => "sampling every 5 s, HTTP health checks every 5 s",
        }
    }
}

struct Big {
    project: Project,
    program: PathBuf,
    ports: Vec<u16>,
    api_port: u16,
    case: Case,
}

impl Big {
    fn yaml(&self, case: Case) -> String {
        let mut yaml = format!(
            "monitor:\n  {}\napi:\n  listen: 127.0.0.1:{}\n  metrics_without_token: true\nservices:\n",
            case.monitor(),
            self.api_port
        );
        for (i, port) in self.ports.iter().enumerate() {
            yaml.push_str(&test_service_entry(
                &format!("s{i}"),
                &self.program,
                *port,
                true,
                case == Case::Health,
            ));
        }
        yaml
    }

    /// Brings the stack to `case`: `monitor:` alone changes in place; health checks on or
    /// off change every service's definition, so `up` restarts them all.
    fn switch(&mut self, case: Case) {
        if case == self.case {
            return;
        }
        let restarts = (case == Case::Health) != (self.case == Case::Health);
        self.project.configure(&self.yaml(case));
        let took = self.project.up();
        eprintln!(
            "   now {} (`up` {:.2} s{})",
            case.label(),
            took.as_secs_f64(),
            if restarts {
                ", every service restarted"
            } else {
                ""
            }
        );
        self.case = case;
        std::thread::sleep(if restarts { SETTLE_RESTARTED } else { SETTLE });
    }
}

fn big(program: &Path, settings: &Settings, report: &mut Report) {
    eprintln!("== starting {BIG} services of two processes each");
    let mut ports = free_ports(BIG + 1);
    let api_port = ports.pop().unwrap();
    let mut big = Big {
        project: Project::new(""),
        program: program.to_path_buf(),
        ports,
        api_port,
        case: Case::Plain,
    };
    big.project.configure(&big.yaml(Case::Plain));
    let took = big.project.up();
    eprintln!("   up of {BIG} took {:.2} s", took.as_secs_f64());
    std::thread::sleep(SETTLE_RESTARTED);

    if settings.has(5) {
        guarded(report, "5", |r| status_part(&big, r));
    }
    if settings.has(3) {
        guarded(report, "3", |r| metrics_part(&big, "no health checks", r));
    }
    if settings.has(2) {
        guarded(report, "2", |r| {
            big.switch(Case::Every1h);
            round_part(&big, r)
        });
    }
    if settings.has(1) || settings.has(6) {
        guarded(report, "1 and 6", |r| windows(&mut big, settings, r));
    }
    if settings.has(3) {
        guarded(report, "3", |r| {
            big.switch(Case::Health);
            metrics_part(&big, "HTTP health checks every 5 s", r)
        });
    }
    big.project.down();
}

/// Part 5.
fn status_part(big: &Big, report: &mut Report) {
    eprintln!("== 5. status with {BIG} services");
    let d = big.project.dir();
    let pair = || {
        (
            berth_time(d, &["status", "--json"]),
            berth_time(d, &["--version"]),
        )
    };
    let mut cases = Vec::new();
    let (mut s, mut v, mut api) = (Vec::new(), Vec::new(), Vec::new());
    let mut json_bytes = 0;
    for round in 0..=QUICK {
        let (a, b) = pair();
        // The daemon's side alone: the request the CLI makes, with no process to start.
        let c = http::unix(&big.project.socket(), "/v1/status");
        json_bytes = c.body_bytes;
        if round > 0 {
            s.push(a);
            v.push(b);
            api.push(c.took);
        }
    }
    let options = berth::config::Options::from_env(None, None);
    let mut loads = Vec::new();
    for _ in 0..11 {
        let start = Instant::now();
        let stack = berth::config::load(&d.join("berth.yaml"), &options).expect("the config loads");
        loads.push(start.elapsed());
        std::hint::black_box(stack);
    }
    report.note(format!(
        "5. `config::load` of the {BIG}-service berth.yaml, in process (what every CLI command does first): {}",
        times(Unit::Ms, &loads).show()
    ));
    report.note(format!(
        "5. back to back, `GET /v1/status` alone (the daemon's answer, {json_bytes} bytes for {BIG} services, no process start) takes {}",
        times(Unit::Ms, &api).show()
    ));
    cases.push(("back to back".to_string(), s, v));
    for (gap, n) in [
        (Duration::from_millis(1100), 8),
        (Duration::from_millis(5500), 5),
    ] {
        let (mut s, mut v) = (Vec::new(), Vec::new());
        let (mut cold_version, mut alone) = (Vec::new(), Vec::new());
        for _ in 0..n {
            std::thread::sleep(gap);
            let (a, b) = pair();
            s.push(a);
            v.push(b);
            // Each half of what any status that asks the daemon pays, after the same pause
            // (the `--version` above runs warm, right after a status): starting the process,
            // and the daemon's answer alone.
            std::thread::sleep(gap);
            cold_version.push(berth_time(d, &["--version"]));
            std::thread::sleep(gap);
            alone.push(http::unix(&big.project.socket(), "/v1/status").took);
        }
        let floor: Vec<Duration> = cold_version
            .iter()
            .zip(&alone)
            .map(|(v, a)| *v + *a)
            .collect();
        report.note(format!(
            "5. {:.1} s apart: `berth --version` after the pause takes {}, `GET /v1/status` alone {}; the two added, the floor of a status that asks the daemon: {}",
            gap.as_secs_f64(),
            times(Unit::Ms, &cold_version).show(),
            times(Unit::Ms, &alone).show(),
            times(Unit::Ms, &floor).show()
        ));
        cases.push((format!("{:.1} s apart, {n} calls", gap.as_secs_f64()), s, v));
    }
    for (how, s, v) in cases {
        let (s, v) = (times(Unit::Ms, &s), times(Unit::Ms, &v));
        report.row(
            5,
            Row::new(
                format!("5. `status --json`, {BIG} services, {how}"),
                s.show(),
            )
            .baseline("`berth --version`", &v.show())
            .relation(format!(
                "{:.2} × pair by pair",
                s.ratio(&v).unwrap_or(f64::NAN)
            ))
            .at_most(s.median(), 5.0, " ms", 2),
        );
    }
}

/// Part 2.
fn round_part(big: &Big, report: &mut Report) {
    eprintln!("== 2. one sampling round against ps");
    let roots = big.project.service_pids();
    assert_eq!(roots.len(), BIG, "every service runs");
    let disks = vec![big.project.state_dir()];
    let mut held = HeldTrees::new(berth::process::limits::sampler_budget());
    let trees = held.read(&roots);
    let two = trees.iter().filter(|t| t.usage.processes == 2).count();
    let processes = Snapshot::take().iter().count();
    report.note(format!(
        "2. {two} of the {BIG} services' trees are exactly two processes, {} of their processes' files held; the machine has {processes} processes (ps reads them all, the round only the trees)",
        held.holding()
    ));
    let mut sampler = SystemSampler::default();
    sampler.read(&disks, berth::logs::time::now_ms());
    let (mut round_t, mut ps_t, mut round_cpu, mut ps_cpu) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // Per round: wall time of the snapshot, the trees, the machine; CPU on the calling thread
    // and on the helper threads it starts.
    let mut steps: Vec<[Duration; 8]> = Vec::new();
    for i in 0..=QUICK {
        let mut one_round = || {
            let (cpu, own) = (usage(libc::RUSAGE_SELF), usage(libc::RUSAGE_THREAD));
            let start = Instant::now();
            // What the scan was: the round no longer takes one.
            let (took_snapshot, cpu_snapshot) = (start.elapsed(), usage(libc::RUSAGE_SELF));
            let trees = held.read(&roots);
            let (took_trees, cpu_trees) = (start.elapsed(), usage(libc::RUSAGE_SELF));
            let system = sampler.read(&disks, berth::logs::time::now_ms());
            let took = start.elapsed();
            std::hint::black_box((trees, system));
            let (cpu_end, own) = (usage(libc::RUSAGE_SELF), usage(libc::RUSAGE_THREAD) - own);
            steps.push([
                took_snapshot,
                took_trees - took_snapshot,
                took - took_trees,
                own,
                (cpu_end - cpu).saturating_sub(own),
                cpu_snapshot - cpu,
                cpu_trees - cpu_snapshot,
                cpu_end - cpu_trees,
            ]);
            (took, cpu_end - cpu)
        };
        let ps = || {
            let cpu = usage(libc::RUSAGE_CHILDREN);
            let start = Instant::now();
            let ok = Command::new("ps")
                .args(["-eo", "pid,ppid,rss,pcpu"])
                .stdout(Stdio::null())
                .status()
                .expect("ps runs")
                .success();
            let took = start.elapsed();
            assert!(ok, "ps failed");
            (took, usage(libc::RUSAGE_CHILDREN) - cpu)
        };
        // Alternating which goes first.
        let ((a, ac), (b, bc)) = if i % 2 == 0 {
            let r = one_round();
            (r, ps())
        } else {
            let p = ps();
            (one_round(), p)
        };
        if i > 0 {
            round_t.push(a);
            round_cpu.push(ac);
            ps_t.push(b);
            ps_cpu.push(bc);
        }
    }
    // The warm-up's.
    steps.remove(0);
    let (r, p) = (times(Unit::Ms, &round_t), times(Unit::Ms, &ps_t));
    let ratio = r.ratio(&p).unwrap_or(f64::NAN);
    report.row(
        2,
        Row::new(
            format!("2. one sampling round, {BIG} trees + the machine, in process"),
            r.show(),
        )
        .baseline("`ps -eo pid,ppid,rss,pcpu`", &p.show())
        .relation(format!("{ratio:.3} × pair by pair"))
        .target("≤ 0.3 × ps", table::verdict(ratio, 0.3, " × ps", 3)),
    );
    let step = |k: usize| times(Unit::Ms, &steps.iter().map(|s| s[k]).collect::<Vec<_>>()).show();
    report.note(format!(
        "2. CPU time: a round {}, ps {}; a round's wall time is `HeldTrees::read` {}, `SystemSampler::read` {}; its CPU is `HeldTrees::read` {}, `SystemSampler::read` {}, or by thread: the calling one {}, others {}",
        times(Unit::Ms, &round_cpu).show(),
        times(Unit::Ms, &ps_cpu).show(),
        step(1),
        step(2),
        step(6),
        step(7),
        step(3),
        step(4)
    ));
}

/// User plus system CPU time of this process (its threads, ended ones included) or of its
/// waited-for children.
fn usage(who: libc::c_int) -> Duration {
    // SAFETY: getrusage fills the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(who, &mut u) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// Debian's node exporter on a free port of 127.0.0.1, or why not.
struct Exporter {
    child: Child,
    port: u16,
    version: String,
    _started: Started,
}

impl Exporter {
    const PROGRAM: &'static str = "/usr/bin/prometheus-node-exporter";

    fn start() -> Result<Exporter, String> {
        if !Path::new(Exporter::PROGRAM).exists() {
            return Err("not installed".into());
        }
        let version = Command::new(Exporter::PROGRAM)
            .arg("--version")
            .output()
            .ok()
            .and_then(|o| {
                let text = String::from_utf8_lossy(&o.stdout).to_string()
                    + &String::from_utf8_lossy(&o.stderr);
                text.split_whitespace()
                    .skip_while(|w| *w != "version")
                    .nth(1)
                    .map(str::to_string)
            })
            .unwrap_or_default();
        let port = free_ports(1)[0];
        let child = Command::new(Exporter::PROGRAM)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("not started: {e}"))?;
        let mut started = Started::default();
        started.add(child.id() as i32);
        let mut exporter = Exporter {
            child,
            port,
            version,
            _started: started,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !support::answers(port) {
            if Instant::now() > deadline || exporter.child.try_wait().ok().flatten().is_some() {
                exporter.stop();
                return Err("started, but never answered".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(exporter)
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Part 3.
fn metrics_part(big: &Big, case: &str, report: &mut Report) {
    eprintln!("== 3. /metrics, {case}");
    let mut exporter = Exporter::start();
    let socket = big.project.socket();
    let (mut tcp, mut unix, mut node) = (Vec::new(), Vec::new(), Vec::new());
    let (mut berth_bytes, mut node_bytes, mut checks) = (0, 0, 0.0);
    for i in 0..=QUICK {
        // Each goes first in turn.
        for k in 0..3 {
            match (i + k) % 3 {
                0 => {
                    let a = http::tcp(big.api_port, "/metrics");
                    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
                    berth_bytes = a.body_bytes;
                    checks = check_count(&a.body);
                    if i > 0 {
                        tcp.push(a.took);
                    }
                }
                1 => {
                    let a = http::unix(&socket, "/metrics");
                    assert_eq!(a.status, 200);
                    if i > 0 {
                        unix.push(a.took);
                    }
                }
                _ => {
                    if let Ok(e) = &exporter {
                        let a = http::tcp(e.port, "/metrics");
                        assert_eq!(a.status, 200);
                        node_bytes = a.body_bytes;
                        if i > 0 {
                            node.push(a.took);
                        }
                    }
                }
            }
        }
    }
    let (t, u) = (times(Unit::Ms, &tcp), times(Unit::Ms, &unix));
    let row = Row::new(
        format!("3. `GET /metrics` over TCP, {BIG} services, {case}"),
        t.show(),
    );
    let row = match &exporter {
        Ok(e) => {
            let n = times(Unit::Ms, &node);
            let ratio = t.ratio(&n).unwrap_or(f64::NAN);
            let fast = table::verdict(t.median(), 10.0, " ms", 2);
            let beside = table::verdict(ratio, 1.0, " × node exporter", 2);
            let verdict = if fast == "PASS" && beside == "PASS" {
                "PASS".to_string()
            } else {
                format!("≤ 10 ms: {fast}; ≤ node exporter: {beside}")
            };
            row.baseline(
                &format!("node exporter {} `/metrics`", e.version),
                &n.show(),
            )
            .relation(format!("{ratio:.2} × pair by pair"))
            .target("≤ 10 ms and ≤ 1 × node exporter", verdict)
        }
        Err(why) => row
            .baseline("node exporter", why)
            .at_most(t.median(), 10.0, " ms", 2),
    };
    report.row(3, row);
    report.row(
        3,
        Row::new(
            format!("3. `GET /metrics` over the Unix socket, {BIG} services, {case}"),
            u.show(),
        )
        .relation(format!("{:.2} × the TCP figure", u.median() / t.median()))
        .at_most(u.median(), 10.0, " ms", 2),
    );
    report.note(format!(
        "3. ({case}) berth's /metrics is {berth_bytes} bytes{}{}",
        match &exporter {
            Ok(_) => format!(", the node exporter's {node_bytes}"),
            Err(_) => String::new(),
        },
        if checks > 0.0 {
            format!("; it counts {checks} health checks so far")
        } else {
            String::new()
        }
    ));
    if let Ok(e) = &mut exporter {
        e.stop();
    }
}

/// CPU on this thread of one plain HTTP probe of each port's `/health`, median, and how many
/// probes failed: what the daemon's probe does on the wire (a connect with a timeout, the
/// same request in one write, reading until the status line, closing), with nothing around it.
fn bare_probes(ports: &[u16]) -> (Option<Duration>, usize) {
    use std::io::{Read, Write};
    let probe = |port: u16| -> std::io::Result<bool> {
        let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let mut stream = std::net::TcpStream::connect_timeout(&address, Duration::from_secs(2))?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        let request = format!(
            "GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: berth\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes())?;
        let mut head = Vec::new();
        let mut buf = [0u8; 512];
        while !head.windows(2).any(|w| w == b"\r\n") {
            match stream.read(&mut buf)? {
                0 => break,
                n => head.extend_from_slice(&buf[..n]),
            }
        }
        Ok(head.starts_with(b"HTTP/1.1 200"))
    };
    let (mut cpu, mut failed) = (Vec::new(), 0);
    for &port in ports {
        let before = usage(libc::RUSAGE_THREAD);
        let ok = matches!(probe(port), Ok(true));
        let used = usage(libc::RUSAGE_THREAD) - before;
        if ok {
            cpu.push(used);
        } else {
            failed += 1;
        }
    }
    cpu.sort();
    (cpu.get(cpu.len() / 2).copied(), failed)
}

/// The health checks `/metrics` counts, over every service.
fn check_count(body: &[u8]) -> f64 {
    String::from_utf8_lossy(body)
        .lines()
        .filter(|l| l.starts_with("berth_health_check_duration_seconds_count"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Parts 1 and 6: CPU windows, the cases interleaved round by round (ABCD, DCBA, …: health
/// checks on or off restart every service, so they change twice a round at most).
fn windows(big: &mut Big, settings: &Settings, report: &mut Report) {
    let mut order = Vec::new();
    if settings.has(1) {
        order.extend([Case::Every1s, Case::Every1h]);
    }
    if settings.has(6) {
        order.extend([Case::Plain, Case::Health]);
    }
    let mut found: Vec<(Case, Vec<(threads::Split, f64)>)> =
        order.iter().map(|c| (*c, Vec::new())).collect();
    for round in 0..settings.rounds {
        let mut cases = order.clone();
        if round % 2 == 1 {
            cases.reverse();
        }
        for case in cases {
            big.switch(case);
            let daemon = big.project.daemon_pid().expect("the daemon runs");
            let keepers = big.project.keepers();
            eprintln!(
                "== {}. round {}: the daemon's CPU over {} s, {}",
                if matches!(case, Case::Every1s | Case::Every1h) {
                    1
                } else {
                    6
                },
                round + 1,
                settings.window.as_secs(),
                case.label()
            );
            let (split, others) = threads::window(daemon, &keepers, settings.window);
            let groups: Vec<String> = threads::GROUPS
                .iter()
                .filter_map(|g| {
                    let v = split.groups.get(g).copied().unwrap_or(0.0);
                    (v > 0.0005).then(|| format!("{g} {v:.3}"))
                })
                .collect();
            eprintln!(
                "   {:.3} % ({}; shims + forker {others:.3})",
                split.total,
                groups.join(", ")
            );
            if case == Case::Health {
                let a = http::tcp(big.api_port, "/metrics");
                report.note(format!(
                    "6. round {}: /metrics counted {} health checks after the window",
                    round + 1,
                    check_count(&a.body)
                ));
            }
            found
                .iter_mut()
                .find(|(c, _)| *c == case)
                .unwrap()
                .1
                .push((split, others));
        }
    }
    let totals = |case: Case| -> Vec<f64> {
        found
            .iter()
            .find(|(c, _)| *c == case)
            .map(|(_, w)| w.iter().map(|(s, _)| s.total).collect())
            .unwrap_or_default()
    };
    let secs = settings.window.as_secs();
    for (part, case, base, limit) in [
        (1u8, Case::Every1s, Case::Every1h, 1.0),
        (6u8, Case::Health, Case::Plain, 0.3),
    ] {
        if !settings.has(part) {
            continue;
        }
        let (a, b) = (totals(case), totals(base));
        let (sa, sb) = (
            Samples::of(Unit::Cpu, a.clone()),
            Samples::of(Unit::Cpu, b.clone()),
        );
        let diff = median_difference(&a, &b);
        report.row(
            part,
            Row::new(
                format!(
                    "{part}. the daemon's CPU, {BIG} services × 2 processes, {}, over {secs} s (% of one core)",
                    case.label()
                ),
                format!("{} [{} windows]", sa.show(), a.len()),
            )
            .baseline(base.label(), &sb.show())
            .relation(format!("+{diff:.3} % of a core, pair by pair"))
            .at_most(sa.median(), limit, " %", 3),
        );
    }
    for (case, windows) in &found {
        let name = match case {
            Case::Every1s => "1. every 1 s",
            Case::Every1h => "1. baseline: every 1 h",
            Case::Plain => "6. baseline: every 5 s, no checks",
            Case::Health => "6. every 5 s + HTTP checks every 5 s",
        };
        report.splits.push((name, windows.clone()));
    }
    // What a round and a probe cost the daemon, from the splits.
    let group_median = |case: Case, groups: &[&str]| -> Option<f64> {
        let (_, w) = found.iter().find(|(c, _)| *c == case)?;
        let v = w.iter().map(|(s, _)| {
            groups
                .iter()
                .map(|g| s.groups.get(g).copied().unwrap_or(0.0))
                .sum::<f64>()
        });
        Some(Samples::of(Unit::Count, v).median())
    };
    let sampling = ["sampler", "ended in the window"];
    for (case, interval_s) in [(Case::Every1s, 1.0), (Case::Plain, 5.0)] {
        if let Some(p) = group_median(case, &sampling) {
            report.note(format!(
                "{}. in the daemon, {}: the sampler thread and the threads that ended (its helpers) use {p:.3} % of a core, {:.2} ms of CPU a round",
                if case == Case::Every1s { 1 } else { 6 },
                case.label(),
                p / 100.0 * interval_s * 1000.0
            ));
        }
    }
    if let (Some(with), Some(without)) = (
        group_median(Case::Health, &["supervisors"]),
        group_median(Case::Plain, &["supervisors"]),
    ) {
        let per_second = BIG as f64 / 5.0;
        let (floor, failed) = bare_probes(&big.ports);
        report.note(format!(
            "6. the supervisors use {with:.3} % of a core with the checks ({without:.3} % without): {:.0} µs of CPU a probe ({per_second:.0} probes a second); a bare probe from this process's thread (connect, GET /health, read the status line, close) costs {} µs of CPU (median of {} probes, one to each service{})",
            (with - without) / 100.0 / per_second * 1e6,
            floor.map_or("—".to_string(), |f| format!("{:.0}", f.as_secs_f64() * 1e6)),
            big.ports.len() - failed,
            if failed > 0 { format!("; {failed} failed") } else { String::new() }
        ));
        for (g, label) in [
            ("history writer", "the history writer"),
            ("ended in the window", "threads that ended"),
        ] {
            if let (Some(a), Some(b)) = (
                group_median(Case::Health, &[g]),
                group_median(Case::Plain, &[g]),
            ) {
                report.note(format!(
                    "6. {label}: {a:.3} % of a core with the checks, {b:.3} % without"
                ));
            }
        }
    }
}
