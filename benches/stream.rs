//! The live API's cost with the dashboard's load (release build): 20 services sampled every
//! second, their API on TCP, and 50 clients on `GET /v1/stream` (Server-Sent Events, each on
//! its own connection with the bearer token, read as fast as they come, as 50 open dashboard
//! tabs would) against the same stack with no client, in windows interleaved round by round:
//!
//! 1. the daemon's CPU over each window (`utime + stime`, every thread), as % of one core;
//! 2. `berth status --json` right after each window (11 calls), against `berth --version`;
//! 3. the daemon's RSS at the end of each window.
//!
//! `cargo bench --bench stream`. Environment: `BERTH_BENCH_SECS` (60) a window,
//! `BERTH_BENCH_ROUNDS` (3) windows of each case. About 7 minutes with the defaults.

// The monitor bench's modules: this bench uses a part of each.
#[allow(dead_code)]
#[path = "monitor/project.rs"]
mod project;
mod support;
#[allow(dead_code)]
#[path = "monitor/table.rs"]
mod table;
#[allow(dead_code)]
#[path = "monitor/threads.rs"]
mod threads;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use project::{Project, test_service_entry};
use support::procs::{Started, rss_kib};
use support::samples::{Samples, Unit};
use support::{free_ports, test_service, time_quietly};
use table::Row;

const SERVICES: usize = 20;
const CLIENTS: usize = 50;
const QUICK: usize = 11;

fn number(name: &str, default: u64) -> u64 {
    std::env::var(name).map_or(default, |v| {
        v.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}: not a number: {v}"))
    })
}

/// 50 streams held open and drained by one thread each; closed when dropped.
struct Clients {
    streams: Vec<TcpStream>,
    readers: Vec<std::thread::JoinHandle<()>>,
    bytes: Arc<AtomicU64>,
}

impl Clients {
    fn connect(port: u16, token: &str) -> Clients {
        let bytes = Arc::new(AtomicU64::new(0));
        let mut streams = Vec::new();
        let mut readers = Vec::new();
        for _ in 0..CLIENTS {
            let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("the API accepts");
            let request = format!(
                "GET /v1/stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
            );
            stream.write_all(request.as_bytes()).unwrap();
            let mut reader = stream.try_clone().unwrap();
            let counted = Arc::clone(&bytes);
            readers.push(std::thread::spawn(move || {
                let mut buffer = [0u8; 16 * 1024];
                while let Ok(n @ 1..) = reader.read(&mut buffer) {
                    counted.fetch_add(n as u64, Ordering::Relaxed);
                }
            }));
            streams.push(stream);
        }
        Clients {
            streams,
            readers,
            bytes,
        }
    }

    /// Streams still open: a reader that ended was cut by the daemon.
    fn open(&self) -> usize {
        self.readers.iter().filter(|r| !r.is_finished()).count()
    }
}

impl Drop for Clients {
    fn drop(&mut self) {
        for stream in &self.streams {
            let _ = stream.shutdown(Shutdown::Both);
        }
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }
}

fn berth_time(dir: &Path, args: &[&str]) -> Duration {
    let (took, ok) = time_quietly(&mut support::berth_in(dir, args));
    assert!(ok, "berth {args:?} failed");
    took
}

#[derive(Default)]
struct Case {
    cpu: Vec<f64>,
    status: Vec<Duration>,
    version: Vec<Duration>,
    rss_kib: Vec<f64>,
}

fn main() {
    let window = Duration::from_secs(number("BERTH_BENCH_SECS", 60));
    let rounds = number("BERTH_BENCH_ROUNDS", 3) as usize;
    let begun = Instant::now();
    let left = Started::clear_ledger();
    if left > 0 {
        eprintln!("killed {left} processes an interrupted run left behind");
    }
    let program = test_service();
    let ports = free_ports(SERVICES + 1);
    let api = ports[SERVICES];
    let mut yaml = format!(
        "project: stream-bench\nmonitor:\n  interval: 1s\napi:\n  listen: 127.0.0.1:{api}\nservices:\n"
    );
    for (i, port) in ports[..SERVICES].iter().enumerate() {
        yaml.push_str(&test_service_entry(
            &format!("svc{i:02}"),
            &program,
            *port,
            false,
            true,
        ));
    }
    let mut project = Project::new(&yaml);
    project.up();
    let token = std::fs::read_to_string(project.state_dir().join("token"))
        .expect("the API's token")
        .trim()
        .to_string();
    let daemon = project.daemon_pid().expect("the daemon runs");
    // The first samples and health checks settle before anything is measured.
    std::thread::sleep(Duration::from_secs(3));

    let (mut quiet, mut loaded) = (Case::default(), Case::default());
    let mut streamed = Vec::new();
    for round in 0..rounds {
        for with_clients in [round % 2 == 0, round % 2 == 1] {
            eprintln!(
                "== round {}: {} s, {}",
                round + 1,
                window.as_secs(),
                if with_clients {
                    "50 stream clients"
                } else {
                    "no client"
                }
            );
            let clients = with_clients.then(|| Clients::connect(api, &token));
            // Connected and past their first frames before the window opens.
            std::thread::sleep(Duration::from_millis(500));
            let (split, _) = threads::window(daemon, &[], window);
            let case = if with_clients {
                &mut loaded
            } else {
                &mut quiet
            };
            case.cpu.push(split.total);
            case.rss_kib.push(rss_kib(daemon).unwrap_or(0) as f64);
            for _ in 0..QUICK {
                case.status
                    .push(berth_time(project.dir(), &["status", "--json"]));
                case.version.push(berth_time(project.dir(), &["--version"]));
            }
            if let Some(clients) = clients {
                let open = clients.open();
                let bytes = clients.bytes.load(Ordering::Relaxed);
                eprintln!(
                    "   {:.3} %, {open} streams open, {bytes} bytes read",
                    split.total
                );
                streamed.push((open, bytes));
            } else {
                eprintln!("   {:.3} %", split.total);
            }
        }
    }
    project.down();

    let times = |v: &[Duration]| {
        let mut s = Samples::new(Unit::Ms);
        v.iter().for_each(|d| s.push_time(*d));
        s
    };
    let cpu = Samples::of(Unit::Cpu, loaded.cpu.iter().copied());
    let cpu_base = Samples::of(Unit::Cpu, quiet.cpu.iter().copied());
    let status = times(&loaded.status);
    let status_base = times(&quiet.status);
    let version = times(&loaded.version);
    let rss = Samples::of(Unit::MiB, loaded.rss_kib.iter().map(|k| k / 1024.0));
    let rss_base = Samples::of(Unit::MiB, quiet.rss_kib.iter().map(|k| k / 1024.0));
    let rows = vec![
        Row::new(
            format!("daemon CPU, {SERVICES} services, {CLIENTS} SSE clients, % of a core"),
            cpu.show(),
        )
        .baseline("no client", &cpu_base.show())
        .relation(format!("+{:.3} points", cpu.median() - cpu_base.median()))
        .at_most(cpu.median(), 2.0, " %", 3),
        Row::new(
            format!("`status --json` with {CLIENTS} SSE clients"),
            status.show(),
        )
        .baseline("no client", &status_base.show())
        .relation(format!("`--version`: {}", version.show()))
        .at_most(status.median(), 5.0, " ms", 2),
        Row::new(format!("daemon RSS with {CLIENTS} SSE clients"), rss.show())
            .baseline("no client", &rss_base.show()),
    ];
    println!();
    println!(
        "berth's stream, {} cores, windows of {} s × {rounds} rounds, {:.0} s in all",
        berth::ports::parallel::cores(),
        window.as_secs(),
        begun.elapsed().as_secs_f64()
    );
    println!();
    table::print(&rows);
    println!();
    for (i, (open, bytes)) in streamed.iter().enumerate() {
        println!(
            "- window {} with clients: {open} of {CLIENTS} streams open at its end, {:.1} KiB read by each",
            i + 1,
            *bytes as f64 / 1024.0 / CLIENTS as f64
        );
    }
}
