//! The port table on a machine with 1,000 listening sockets held by 50 processes: `berth
//! ports --json` against `ss -ltnp` and `lsof -nP -iTCP -sTCP:LISTEN`, and `berth ports who
//! PORT`, interleaved (A B C D A B C D …) after a warm-up. A tool that is not installed, or
//! fails, is left without figures, never faked.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::procs::Started;
use super::samples::{Samples, Unit};

pub const PROCESSES: usize = 50;
pub const SOCKETS_EACH: usize = 20;

pub struct PortTable {
    pub berth: Samples,
    pub ss: Samples,
    pub lsof: Samples,
    pub who: Samples,
    /// The least any port table built from `/proc` can cost on this machine state: what it
    /// must read (every process's descriptor links; each holder's stat, command line and
    /// environment), read on every core by berth's own readers in this process (no socket
    /// table, no output), plus starting a process at all (`/bin/true`). What `ports --json`
    /// does beyond that is its own cost.
    pub least: Samples,
    /// The port `who` asked about.
    pub probe: u16,
}

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

/// Times one run; `None` when the program is missing or fails (for `ports who`, a held port
/// answers 0: anything else is a broken measurement).
fn time(samples: &mut Samples, program: &str, args: &[&str], keep: bool) {
    if let Some((took, true)) = super::try_time_quietly(Command::new(program).args(args))
        && keep
    {
        samples.push_time(took);
    }
}

/// What any `/proc` port table must read here, and nothing else: every process's descriptor
/// links, and of each process holding a listening socket its `stat`, `cmdline` and `environ`
/// (start time, command, berth's marks), the processes shared among the cores (interleaved,
/// so old and new ones are spread alike). Which sockets listen is read before the clock
/// starts: the socket table's own cost is not counted.
fn reads_alone() -> Duration {
    let listening: std::collections::HashSet<u64> = berth::ports::socket_table::listeners(false)
        .unwrap()
        .iter()
        .map(|l| l.inode)
        .collect();
    let listening = &listening;
    let start = Instant::now();
    let pids: Vec<u32> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    let threads = berth::ports::parallel::cores();
    let read: usize = std::thread::scope(|scope| {
        let parts: Vec<_> = (0..threads)
            .map(|first| {
                let pids = &pids;
                scope.spawn(move || {
                    let mut read = 0;
                    for &pid in pids.iter().skip(first).step_by(threads) {
                        if berth::ports::owners::socket_inodes(pid).is_disjoint(listening) {
                            continue;
                        }
                        read += berth::process::table::stat(pid).map_or(0, |s| s.ppid as usize);
                        for file in ["cmdline", "environ"] {
                            read += berth::process::read_proc(pid, file).map_or(0, |b| b.len());
                        }
                    }
                    read
                })
            })
            .collect();
        parts.into_iter().map(|p| p.join().unwrap()).sum()
    });
    std::hint::black_box(read);
    start.elapsed()
}

/// Starts the holders, measures `rounds` interleaved rounds after one warm-up, stops them.
pub fn measure(rounds: usize) -> PortTable {
    let mut started = Started::default();
    let mut holders: Vec<(Child, Vec<u16>)> = (0..PROCESSES).map(|_| holder()).collect();
    for (child, _) in &holders {
        started.add(child.id() as i32);
    }
    let probe = holders[PROCESSES / 2].1[SOCKETS_EACH / 2];
    let probe_arg = probe.to_string();
    let dir = tempfile::tempdir().unwrap();
    let berth = super::berth();
    let mut table = PortTable {
        berth: Samples::new(Unit::Ms),
        ss: Samples::new(Unit::Ms),
        lsof: Samples::new(Unit::Ms),
        who: Samples::new(Unit::Ms),
        least: Samples::new(Unit::Ms),
        probe,
    };
    let here = std::env::current_dir().unwrap();
    // berth looks for a berth.yaml from where it runs: an empty directory has none.
    std::env::set_current_dir(dir.path()).unwrap();
    for round in 0..=rounds {
        let keep = round > 0;
        time(&mut table.berth, berth, &["ports", "--json"], keep);
        time(&mut table.ss, "ss", &["-ltnp"], keep);
        time(
            &mut table.lsof,
            "lsof",
            &["-nP", "-iTCP", "-sTCP:LISTEN"],
            keep,
        );
        time(&mut table.who, berth, &["ports", "who", &probe_arg], keep);
        if let Some((start, true)) = super::try_time_quietly(&mut Command::new("true"))
            && keep
        {
            table.least.push_time(start + reads_alone());
        }
    }
    std::env::set_current_dir(here).unwrap();
    for (child, _) in &mut holders {
        let _ = child.kill();
        let _ = child.wait();
    }
    table
}
