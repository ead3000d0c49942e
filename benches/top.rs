//! `berth top`'s figures (release build), printed as one table with each target and
//! PASS/MISS:
//!
//! 1. Drawing a frame of 200 services on ratatui's test backend (`tui::view::draw`, the
//!    frame's diff included), each frame after a status in which every uptime moved: on a
//!    120×40 window (the rows in view) and on one tall enough for all 200 rows; the median of
//!    `FRAMES` after a warm-up.
//! 2. 20 services of the test service under berth and the same 20 under PM2 (the compare
//!    bench's install: `pm2@7` from npm under `target/peers/`), both running throughout:
//!    `berth top` at its default refresh, then `pm2 monit`, each on a pseudo-terminal of
//!    120×40 of its own for `BERTH_BENCH_SECS` (60) once its screen shows the services; the
//!    CPU (`utime + stime` from /proc, the process and what it runs) of each, round after
//!    round (`BERTH_BENCH_ROUNDS`, 3), and berth's share of PM2's taken round by round.
//!
//! `cargo bench --bench top`. About 2 × rounds × the window, plus PM2's install once.

#[path = "compare/install.rs"]
#[allow(dead_code)]
mod install;
#[path = "compare/manager.rs"]
#[allow(dead_code)]
mod manager;
#[path = "compare/pm2.rs"]
#[allow(dead_code)]
mod pm2;
#[path = "monitor/project.rs"]
#[allow(dead_code)]
mod project;
#[path = "../tests/it/top/pty.rs"]
#[allow(dead_code)]
mod pty;
mod support;
#[path = "monitor/table.rs"]
#[allow(dead_code)]
mod table;

use berth::api::types::StatusResponse;
use berth::tui::state::{Key, Model, Update};
use berth::tui::view::{self, Palette, ViewState};
use manager::Manager;
use project::{Project, test_service_entry};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::process::Command;
use std::time::{Duration, Instant};
use support::procs::{Started, children_of, cpu_seconds};
use support::samples::{Samples, Unit};
use table::Row;

const SERVICES: usize = 20;
const FRAMES: usize = 300;
const COLS: u16 = 120;
const ROWS: u16 = 40;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}: not a number: {v}"))
        })
        .unwrap_or(default)
}

/// A status of `n` running services whose uptimes are `tick` seconds on.
fn status(n: usize, tick: u32) -> StatusResponse {
    let services: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            serde_json::json!({
                "name": format!("svc-{i:03}"), "state": "running", "health": "healthy",
                "pid": 4000 + i, "port": 8000 + i, "uptime_s": 60 + i as u32 * 7 + tick,
                "restarts": i % 3, "cpu_percent": (i % 9) as f64 * 1.3,
                "rss_bytes": (8 + i % 40) << 20, "exit_code": null, "score": 100,
                "score_reasons": []
            })
        })
        .collect();
    serde_json::from_value(serde_json::json!({
        "project": "bench", "health": "healthy", "score": 100, "score_reasons": [],
        "daemon": {"running": true, "pid": 1}, "services": services
    }))
    .expect("a status")
}

/// Milliseconds per frame of 200 services on `cols` × `rows`.
fn frame_times(cols: u16, rows: u16) -> Samples {
    let mut model = Model::new("bench");
    model.apply(Update::Status(status(200, 0)), 0);
    // Somewhere in the middle, so the table is scrolled.
    for _ in 0..100 {
        model.on_key(Key::Char('j'), 0);
    }
    let mut terminal = Terminal::new(TestBackend::new(cols, rows)).unwrap();
    let mut view = ViewState::default();
    let palette = Palette { colour: true };
    let mut times = Samples::new(Unit::Ms);
    for frame in 0..FRAMES + 20 {
        model.apply(Update::Status(status(200, frame as u32)), 0);
        let start = Instant::now();
        terminal
            .draw(|f| view::draw(f, &model, &mut view, palette))
            .unwrap();
        if frame >= 20 {
            times.push_time(start.elapsed());
        }
    }
    times
}

/// CPU seconds of `pid` and everything under it now.
fn tree_cpu(pid: i32) -> f64 {
    let mut total = cpu_seconds(pid).unwrap_or(0.0);
    let mut queue = children_of(pid);
    while let Some(child) = queue.pop() {
        total += cpu_seconds(child).unwrap_or(0.0);
        queue.extend(children_of(child));
    }
    total
}

/// `command` on a pty until its screen shows `ready`; then its CPU over `window`, in % of
/// one core; then it is ended (by pid).
fn cpu_on_pty(command: &mut Command, ready: &str, window: Duration, started: &mut Started) -> f64 {
    let mut pty = pty::Pty::spawn(command, COLS, ROWS);
    let pid = pty.pid() as i32;
    started.add(pid);
    if let Err(screen) = pty.wait_for(Duration::from_secs(60), |s| s.contains(ready)) {
        panic!("{command:?} never showed {ready:?}:\n{screen}");
    }
    let before = tree_cpu(pid);
    std::thread::sleep(window);
    let used = tree_cpu(pid) - before;
    let _ = pty.child.kill();
    let _ = pty.child.wait();
    used / window.as_secs_f64() * 100.0
}

fn main() {
    let left = Started::clear_ledger();
    if left > 0 {
        eprintln!("killed {left} process(es) an interrupted earlier run left running");
    }
    let window = Duration::from_secs(env_number("BERTH_BENCH_SECS", 60));
    let rounds = env_number("BERTH_BENCH_ROUNDS", 3) as usize;
    let mut rows = Vec::new();

    let small = frame_times(COLS, ROWS);
    eprintln!("frame, 120×40: {}", small.show());
    let tall = frame_times(240, 210);
    eprintln!("frame, all 200 rows: {}", tall.show());
    rows.push(
        Row::new(
            "1. a frame of 200 services, 120×40 (the rows in view)",
            small.show(),
        )
        .at_most(small.median(), 5.0, " ms", 2),
    );
    rows.push(
        Row::new(
            "1. a frame of 200 services, 240×210 (all 200 rows)",
            tall.show(),
        )
        .at_most(tall.median(), 5.0, " ms", 2),
    );

    let program = support::test_service();
    let ports = support::free_ports(2 * SERVICES);
    let mut yaml = String::from("project: bench\nservices:\n");
    for (i, port) in ports[..SERVICES].iter().enumerate() {
        yaml.push_str(&test_service_entry(
            &format!("s{i}"),
            &program,
            *port,
            false,
            false,
        ));
    }
    let mut berth = Project::new(&yaml);
    berth.up();
    let pm2 = install::pm2().map(|peer| {
        let stack = manager::Stack::servers(&program, &ports[SERVICES..]);
        let mut pm2 = pm2::Pm2::new(&peer.path, &peer.version, &stack);
        pm2.start();
        pm2.remember();
        (pm2, peer.version)
    });
    let mut started = Started::default();
    let mut top = Samples::new(Unit::Cpu);
    let mut monit = Samples::new(Unit::Cpu);
    let last = format!("s{}", SERVICES - 1);
    for round in 0..rounds {
        let mut command = Command::new(support::berth());
        command.arg("top").current_dir(berth.dir());
        top.push(cpu_on_pty(
            &mut command,
            &format!("{last} "),
            window,
            &mut started,
        ));
        eprintln!("round {round}: berth top {:.2} %", top.median());
        if let Ok((pm2, _)) = &pm2 {
            let mut command = pm2.command(&["monit"]);
            monit.push(cpu_on_pty(&mut command, &last, window, &mut started));
            eprintln!("round {round}: pm2 monit {:.2} %", monit.median());
        }
    }
    let name = format!(
        "2. `berth top`, {SERVICES} services, over {}s",
        window.as_secs()
    );
    let mut row = Row::new(name, top.show()).at_most(top.median(), 1.0, " %", 2);
    match &pm2 {
        Ok((_, version)) => {
            row = row.baseline(&format!("`pm2 monit` {version}"), &monit.show());
            let share = top.ratio(&monit).unwrap_or(f64::NAN);
            rows.push(row.relation(format!("{:.1} % of PM2's", share * 100.0)));
            rows.push(
                Row::new(
                    "2. `berth top` against `pm2 monit`, same run",
                    format!("{share:.3}×"),
                )
                .target("≤ 1/3 ×", table::verdict(share, 1.0 / 3.0, "×", 3)),
            );
        }
        Err(why) => {
            rows.push(row.baseline("pm2 monit", &format!("not installed: {why}")));
        }
    }
    table::print(&rows);
}
