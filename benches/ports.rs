//! The port table on a machine with 1,000 listening sockets held by 50 processes: `berth
//! ports --json` against `ss -ltnp` and `lsof -nP -iTCP -sTCP:LISTEN`, and `berth ports who
//! PORT`, interleaved in one run (A B C D A B C D …) after a warm-up, medians (min–max) and
//! ratios taken pair by pair. A tool that is not installed is reported so, never faked.
//!
//! Run with `cargo bench --bench ports`.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PROCESSES: usize = 50;
const SOCKETS_EACH: usize = 20;
const RUNS: usize = 20;

/// A python3 process holding `SOCKETS_EACH` listening sockets on 127.0.0.1; prints their
/// ports once bound.
fn holder() -> (Child, Vec<u16>) {
    let script = format!(
        "import socket, sys, time\nsocks = []\nfor _ in range({SOCKETS_EACH}):\n    s = socket.socket()\n    s.bind(('127.0.0.1', 0))\n    s.listen()\n    socks.append(s)\nprint(' '.join(str(s.getsockname()[1]) for s in socks), flush=True)\ntime.sleep(3600)\n"
    );
    let mut child = Command::new("python3")
        .args(["-c", &script])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    let ports = line
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    (child, ports)
}

fn time(program: &str, args: &[&str]) -> Option<Duration> {
    let start = Instant::now();
    let status = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?;
    let took = start.elapsed();
    // `ports who` answers 0 for a held port; anything else is a broken measurement.
    status.success().then_some(took)
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn show(name: &str, v: &mut [Duration]) {
    if v.is_empty() {
        println!("{name:<44} not measured (not installed, or it failed)");
        return;
    }
    let m = median(v);
    println!(
        "{name:<44} {:>8.2} ms ({:.2}–{:.2})",
        m.as_secs_f64() * 1000.0,
        v[0].as_secs_f64() * 1000.0,
        v[v.len() - 1].as_secs_f64() * 1000.0
    );
}

/// The median of `a / b` over the runs, pair by pair.
fn ratio(a: &[Duration], b: &[Duration]) -> Option<f64> {
    if a.len() != b.len() || a.is_empty() {
        return None;
    }
    let mut r: Vec<f64> = a
        .iter()
        .zip(b)
        .map(|(x, y)| x.as_secs_f64() / y.as_secs_f64())
        .collect();
    r.sort_by(f64::total_cmp);
    Some(r[r.len() / 2])
}

fn main() {
    let berth = env!("CARGO_BIN_EXE_berth");
    let mut holders: Vec<(Child, Vec<u16>)> = (0..PROCESSES).map(|_| holder()).collect();
    let probe = holders[PROCESSES / 2].1[SOCKETS_EACH / 2].to_string();
    let dir = tempfile::tempdir().unwrap();
    std::env::set_current_dir(dir.path()).unwrap();

    let (mut ours, mut ss, mut lsof, mut who) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..=RUNS {
        let a = time(berth, &["ports", "--json"]);
        let b = time("ss", &["-ltnp"]);
        let c = time("lsof", &["-nP", "-iTCP", "-sTCP:LISTEN"]);
        let d = time(berth, &["ports", "who", &probe]);
        if round == 0 {
            continue;
        }
        ours.extend(a);
        ss.extend(b);
        lsof.extend(c);
        who.extend(d);
    }
    for (child, _) in &mut holders {
        let _ = child.kill();
        let _ = child.wait();
    }

    println!(
        "port table, {} listening sockets held by {PROCESSES} processes",
        PROCESSES * SOCKETS_EACH
    );
    let vs_ss = ratio(&ours, &ss);
    let vs_lsof = ratio(&ours, &lsof);
    show("berth ports --json", &mut ours.clone());
    show("ss -ltnp", &mut ss.clone());
    show("lsof -nP -iTCP -sTCP:LISTEN", &mut lsof.clone());
    show(&format!("berth ports who {probe}"), &mut who);
    if let Some(r) = vs_ss {
        println!("{:<44} {r:.2} (target ≤ 1)", "berth / ss, pair by pair");
    }
    if let Some(r) = vs_lsof {
        println!("{:<44} {r:.3} (target ≤ 0.1)", "berth / lsof, pair by pair");
    }
}
