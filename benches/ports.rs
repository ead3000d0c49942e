//! The port table on a machine with 1,000 listening sockets held by 50 processes: `berth
//! ports --json` against `ss -ltnp` and `lsof -nP -iTCP -sTCP:LISTEN`, and `berth ports who
//! PORT`, interleaved in one run after a warm-up, medians (min–max) and ratios taken pair by
//! pair; with them the least any `/proc`-based table can cost here (what it must read from
//! `/proc`, read on every core, plus a process start), to show how much of the time is the
//! kernel's and how much berth's. A tool that is not installed is reported so, never faked.
//!
//! Run with `cargo bench --bench ports` (`cargo bench --bench compare` includes it).

mod support;

use support::port_table::{self, PROCESSES, SOCKETS_EACH};
use support::samples::Samples;

const RUNS: usize = 20;

fn show(name: &str, samples: &Samples) {
    if samples.is_empty() {
        println!("{name:<44} not measured (not installed, or it failed)");
    } else {
        println!("{name:<44} {}", samples.show());
    }
}

fn main() {
    let table = port_table::measure(RUNS);
    println!(
        "port table, {} listening sockets held by {PROCESSES} processes",
        PROCESSES * SOCKETS_EACH
    );
    show("berth ports --json", &table.berth);
    show("ss -ltnp", &table.ss);
    show("lsof -nP -iTCP -sTCP:LISTEN", &table.lsof);
    show(&format!("berth ports who {}", table.probe), &table.who);
    show("least: /proc reads alone + a process start", &table.least);
    if let Some(r) = table.berth.ratio(&table.ss) {
        println!("{:<44} {r:.2} (target ≤ 1)", "berth / ss, pair by pair");
    }
    if let Some(r) = table.berth.ratio(&table.lsof) {
        println!("{:<44} {r:.3} (target ≤ 0.1)", "berth / lsof, pair by pair");
    }
    if let Some(r) = table.least.ratio(&table.lsof) {
        println!("{:<44} {r:.3}", "least / lsof, pair by pair");
    }
    if let Some(r) = table.berth.ratio(&table.least) {
        println!("{:<44} {r:.2}", "berth / least, pair by pair");
    }
}
