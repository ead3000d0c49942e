//! The API's GET routes (release build) with 20 services of the test service running and a
//! day of history behind them (written through `berth::history::store::Store` with fake
//! times before the daemon starts: see `monitor/synthetic.rs`): the wall time of each route
//! over the Unix socket, one request per connection (connect to last byte, as `curl` pays
//! it), rounds interleaved route by route, printed as one table of medians (min–max) against
//! the target of ≤ 10 ms. The baseline of each row is a `404` from the same round (connect,
//! route, refusal): what any answer costs. The answers that stay open (`follow=1`, the
//! stream) are timed to their first event or lines.
//!
//! `cargo bench --bench api`. Environment: `BERTH_BENCH_ROUNDS` (31) the timed rounds;
//! `BERTH_BENCH_HISTORY_DAYS` (1). About a minute.

// benches/monitor's modules: this bench uses a part of each.
#[allow(dead_code)]
#[path = "monitor/http.rs"]
mod http;
mod support;
#[allow(dead_code)]
#[path = "monitor/synthetic.rs"]
mod synthetic;
#[allow(dead_code)]
#[path = "monitor/table.rs"]
mod table;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::samples::{Samples, Unit};
use support::{berth_in, free_ports, run_quietly, test_service, time_quietly};
use table::Row;

const SERVICES: usize = 20;
const TARGET_MS: f64 = 10.0;
/// After `up`: a few sampling rounds (every second here) into the history.
const SETTLE: Duration = Duration::from_secs(4);

/// What is timed: a whole answer, or an open one until a piece of text has come.
enum Reading {
    Whole,
    Until(&'static str),
}

/// Every GET route of the router, with the parameters a client would give.
const ROUTES: &[(&str, Reading)] = &[
    ("/v1/status", Reading::Whole),
    ("/v1/status?usage=false", Reading::Whole),
    ("/v1/services/s7", Reading::Whole),
    ("/v1/logs/s7", Reading::Whole),
    ("/v1/logs/s7?lines=0&follow=1", Reading::Until("\r\n\r\n")),
    ("/v1/events", Reading::Whole),
    ("/v1/events?since=24h&service=s7", Reading::Whole),
    ("/v1/events?lines=10&follow=1", Reading::Until("\"kind\"")),
    (
        "/v1/history?service=s7&metric=cpu_percent&since=24h",
        Reading::Whole,
    ),
    (
        "/v1/history?service=s7&metric=rss_bytes&since=24h&step=1m",
        Reading::Whole,
    ),
    (
        "/v1/history?metric=system.cpu_percent&since=24h",
        Reading::Whole,
    ),
    ("/v1/stats?since=24h", Reading::Whole),
    ("/v1/stats", Reading::Whole),
    ("/v1/alerts", Reading::Whole),
    ("/v1/alerts/history?since=24h", Reading::Whole),
    ("/v1/ports", Reading::Whole),
    ("/metrics", Reading::Whole),
    ("/v1/openapi.json", Reading::Whole),
    ("/v1/stream", Reading::Until("event: status")),
];

/// The project: its services, its daemon; `down` and `daemon stop` when dropped (only what
/// it started).
struct Stack {
    dir: tempfile::TempDir,
}

impl Stack {
    fn socket(&self) -> PathBuf {
        berth::daemon::paths::Paths::new(&self.dir.path().join(".berth")).socket
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = time_quietly(&mut berth_in(self.dir.path(), &["down", "-q"]));
        let _ = time_quietly(&mut berth_in(self.dir.path(), &["daemon", "stop"]));
    }
}

fn number(name: &str, default: u64) -> u64 {
    std::env::var(name).map_or(default, |v| {
        v.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}: not a number: {v}"))
    })
}

/// `GET path`, read until `marker` has come in the answer (its head included); the time
/// from before the connect.
fn until(socket: &Path, path: &str, marker: &str) -> Duration {
    let start = Instant::now();
    let mut stream = UnixStream::connect(socket).expect("the daemon's socket accepts");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let mut block = [0; 65536];
    while !String::from_utf8_lossy(&raw).contains(marker) {
        let n = stream.read(&mut block).expect("the answer comes");
        assert!(n > 0, "GET {path} ended before `{marker}`");
        raw.extend_from_slice(&block[..n]);
    }
    let took = start.elapsed();
    assert!(raw.starts_with(b"HTTP/1.1 200"), "GET {path}: {raw:?}");
    took
}

fn time(socket: &Path, path: &str, read: &Reading) -> Duration {
    match read {
        Reading::Whole => {
            let answer = http::unix(socket, path);
            assert!(
                answer.status == 200,
                "GET {path}: {} {}",
                answer.status,
                String::from_utf8_lossy(&answer.body)
            );
            answer.took
        }
        Reading::Until(marker) => until(socket, path, marker),
    }
}

fn main() {
    let rounds = number("BERTH_BENCH_ROUNDS", 31) as usize;
    let days = number("BERTH_BENCH_HISTORY_DAYS", 1);
    let program = test_service();
    let ports = free_ports(SERVICES);
    let names: Vec<String> = (0..SERVICES).map(|i| format!("s{i}")).collect();
    let mut yaml = String::from("monitor:\n  interval: 1s\nservices:\n");
    for (name, port) in names.iter().zip(&ports) {
        yaml.push_str(&format!(
            "  {name}:\n    command: [{:?}, \"--log-requests\"]\n    port: {port}\n    health: {{ http: \"http://127.0.0.1:${{port}}/health\", interval: 5s }}\n",
            program.display().to_string()
        ));
    }
    let stack = Stack {
        dir: tempfile::tempdir().unwrap(),
    };
    std::fs::write(stack.dir.path().join("berth.yaml"), yaml).unwrap();
    eprintln!("== writing {days} day(s) of history of {SERVICES} services");
    let end_ms = berth::logs::time::now_ms() / 5000 * 5000;
    let written = synthetic::write(&stack.dir.path().join(".berth"), &names, end_ms, days);
    eprintln!(
        "   {} samples, {} checks in {:.1} s",
        written.samples,
        written.checks,
        written.took.as_secs_f64()
    );
    run_quietly(&mut berth_in(
        stack.dir.path(),
        &["up", "-q", "--timeout", "120s"],
    ));
    std::thread::sleep(SETTLE);
    let socket = stack.socket();
    let series = http::unix(&socket, ROUTES[8].0);
    let points: serde_json::Value = serde_json::from_slice(&series.body).unwrap();
    let points = points["points"].as_array().map_or(0, Vec::len);

    eprintln!("== {rounds} rounds of {} routes", ROUTES.len());
    let mut taken: Vec<Samples> = ROUTES.iter().map(|_| Samples::new(Unit::Ms)).collect();
    let mut floor = Samples::new(Unit::Ms);
    let mut floors: Vec<Vec<f64>> = ROUTES.iter().map(|_| Vec::new()).collect();
    for round in 0..=rounds {
        for (i, (path, read)) in ROUTES.iter().enumerate() {
            let took = time(&socket, path, read);
            let missing = http::unix(&socket, "/v1/nothing");
            assert_eq!(missing.status, 404);
            // The first round warms up (the history's pages, the page cache).
            if round > 0 {
                taken[i].push_time(took);
                floors[i].push(missing.took.as_secs_f64() * 1000.0);
                floor.push_time(missing.took);
            }
        }
    }

    let rows: Vec<Row> = ROUTES
        .iter()
        .zip(&taken)
        .zip(&floors)
        .map(|(((path, read), s), f)| {
            let figure = match read {
                Reading::Whole => format!("`GET {path}`"),
                Reading::Until(marker) => format!("`GET {path}`, to `{}`", marker.escape_debug()),
            };
            let f = Samples::of(Unit::Ms, f.iter().copied());
            Row::new(figure, s.show())
                .baseline("a 404", &f.show())
                .relation(format!("{:.2} ×", s.ratio(&f).unwrap_or(f64::NAN)))
                .at_most(s.median(), TARGET_MS, " ms", 2)
        })
        .collect();
    println!();
    println!(
        "berth's API, {} cores, {SERVICES} services running with {days} day(s) of history, {rounds} rounds, one request per connection on the Unix socket",
        berth::ports::parallel::cores()
    );
    println!();
    table::print(&rows);
    println!();
    println!(
        "- the 24 h series of one service has {points} points; a 404 costs {}",
        floor.show()
    );
}
