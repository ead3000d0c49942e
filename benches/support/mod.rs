//! What the benchmarks share: the binaries under test, free ports and waiting on them,
//! running a command quietly, samples with medians and pair-by-pair ratios, and reading
//! processes from /proc.

// Each benchmark is its own crate and uses a part of this module.
#![allow(dead_code)]

pub mod port_table;
pub mod procs;
pub mod readiness;
pub mod samples;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The berth binary cargo built for this benchmark (release).
pub fn berth() -> &'static str {
    env!("CARGO_BIN_EXE_berth")
}

/// Builds the test service in release mode; returns its path.
pub fn test_service() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--quiet", "--example", "test-service"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the test service failed");
    // Where cargo put it: `CARGO_TARGET_DIR` when set, as for the build just made.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("release/examples/test-service")
}

/// `n` distinct ports that were free a moment ago (all held at once while choosing, so none
/// is handed out twice).
pub fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    held.iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

pub fn answers(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// Polls every 0.2 ms until `port` answers; panics after `limit`.
pub fn wait_answering(port: u16, limit: Duration) {
    let deadline = Instant::now() + limit;
    while !answers(port) {
        assert!(Instant::now() < deadline, "port {port} never answered");
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Polls every millisecond until `port` no longer answers; panics after `limit`.
pub fn wait_silent(port: u16, limit: Duration) {
    let deadline = Instant::now() + limit;
    while answers(port) {
        assert!(Instant::now() < deadline, "port {port} still answers");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Runs `command` with its output discarded; how long it took, and whether it succeeded;
/// `None` when it could not start (not installed).
pub fn try_time_quietly(command: &mut Command) -> Option<(Duration, bool)> {
    let start = Instant::now();
    let status = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?;
    Some((start.elapsed(), status.success()))
}

/// Runs `command` with its output discarded; how long it took, and whether it succeeded.
pub fn time_quietly(command: &mut Command) -> (Duration, bool) {
    try_time_quietly(command).unwrap_or_else(|| panic!("{command:?} could not start"))
}

/// Runs `command` with its output discarded; panics when it fails.
pub fn run_quietly(command: &mut Command) -> Duration {
    let (took, ok) = time_quietly(command);
    assert!(ok, "{command:?} failed");
    took
}

/// A berth command in `dir`.
pub fn berth_in(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(berth());
    command.args(args).current_dir(dir);
    command
}
