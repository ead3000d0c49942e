//! What one sampling round of 200 services costs in CPU, berth's way against the floor of
//! any way of reading the same figures (release build, in this process, through the library):
//!
//! - **berth**: what the sampler does each round (`monitor::held::HeldTrees::read` of the 200
//!   main pids): each tree walked through its `children` files, each process's `stat`,
//!   `io`, `fd` directory and `children` held open from round to round and read in place.
//! - **the scan**: what the sampler did before: `Snapshot::take` (every process's `stat`, on
//!   every core, to find who is whose child) and `read_trees` (each tree process's `fd`
//!   count and `io`, opened each round).
//! - **floor**: the same figures of the same processes (the 400 of the 200 trees), each file
//!   opened once beforehand and read again in place (`pread` at 0, `fstat` of the open `fd`
//!   directory; no path lookup, no scan of other processes, no threads), and the
//!   `task/PID/children` file of each, which a way that finds new children without a scan
//!   must read. Only the reads themselves: nothing is parsed.
//! - **trees, opened each round**: the same files of the same 400 processes, but opened,
//!   read and closed every round (the children files instead of the scan): what a way that
//!   walks only the services' trees costs without holding descriptors. Holding them (the
//!   floor) takes four per tree process, 1,600 for 200 services, over the 1,024 that a
//!   process gets by default (`ulimit -n`), which the daemon's services inherit.
//!
//! Each is the CPU (user + system, `getrusage`, all threads) of one round, alternating, after
//! a warm-up; CPU % at `monitor.interval: 1s` is that time per second. The stack: 200 of the
//! test service with a child each (`--grandchildren 1`), sampled every hour by their own
//! daemon (off after its first round), so that only this process reads them.
//!
//! `cargo bench --bench sampling`; `BERTH_BENCH_ROUNDS` (101) rounds of each.

#[allow(dead_code)]
#[path = "monitor/project.rs"]
mod project;
mod support;

use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use berth::monitor::held::HeldTrees;
use berth::monitor::tree::read_trees;
use berth::process::table::Snapshot;
use project::{Project, test_service_entry};
use rustix::fs::{Mode, OFlags};
use support::procs::Started;
use support::samples::{Samples, Unit};
use support::{free_ports, test_service};

const SERVICES: usize = 200;

fn cpu_now() -> Duration {
    // SAFETY: getrusage fills the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(u.ru_utime) + tv(u.ru_stime)
}

fn cpu_of(f: impl FnOnce()) -> Duration {
    let before = cpu_now();
    f();
    cpu_now() - before
}

/// One tree process's files, open for the rounds to come.
struct Held {
    stat: OwnedFd,
    io: OwnedFd,
    fd_dir: OwnedFd,
    children: OwnedFd,
}

/// Opens, reads and closes each of `pid`'s four files, as a tree walk without held
/// descriptors must each round.
fn read_opened(pid: u32, buf: &mut [u8]) -> usize {
    let read = |path: String, buf: &mut [u8]| {
        rustix::fs::open(
            path.as_str(),
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()
        .and_then(|fd| rustix::io::read(&fd, buf).ok())
        .unwrap_or(0)
    };
    let mut n = read(format!("/proc/{pid}/stat"), buf);
    n += read(format!("/proc/{pid}/io"), buf);
    n += read(format!("/proc/{pid}/task/{pid}/children"), buf);
    n + rustix::fs::stat(format!("/proc/{pid}/fd").as_str()).map_or(0, |s| s.st_size as usize)
}

impl Held {
    fn open(pid: u32) -> Option<Held> {
        let file = |path: String, flags: OFlags| {
            rustix::fs::open(path.as_str(), flags | OFlags::CLOEXEC, Mode::empty()).ok()
        };
        Some(Held {
            stat: file(format!("/proc/{pid}/stat"), OFlags::RDONLY)?,
            io: file(format!("/proc/{pid}/io"), OFlags::RDONLY)?,
            fd_dir: file(
                format!("/proc/{pid}/fd"),
                OFlags::RDONLY | OFlags::DIRECTORY,
            )?,
            children: file(format!("/proc/{pid}/task/{pid}/children"), OFlags::RDONLY)?,
        })
    }

    /// The bytes read, so that nothing is optimised away.
    fn read(&self, buf: &mut [u8]) -> usize {
        let mut n = 0;
        for fd in [&self.stat, &self.io, &self.children] {
            n += rustix::io::pread(fd.as_fd(), &mut *buf, 0).unwrap_or(0);
        }
        n + rustix::fs::fstat(&self.fd_dir).map_or(0, |s| s.st_size as usize)
    }
}

fn main() {
    let rounds = std::env::var("BERTH_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(101usize);
    let left = Started::clear_ledger();
    if left > 0 {
        eprintln!("killed {left} processes an interrupted run left behind");
    }
    let program = test_service();
    let mut yaml = String::from("monitor:\n  interval: 1h\nservices:\n");
    for (i, port) in free_ports(SERVICES).into_iter().enumerate() {
        yaml.push_str(&test_service_entry(
            &format!("s{i}"),
            &program,
            port,
            true,
            false,
        ));
    }
    let mut project = Project::new(&yaml);
    eprintln!("bringing up {SERVICES} services…");
    project.up();
    std::thread::sleep(Duration::from_secs(2));
    let roots = project.service_pids();
    assert_eq!(roots.len(), SERVICES, "every service runs");

    let snapshot = Snapshot::take();
    let forest = snapshot.forest();
    let tree_pids: Vec<u32> = roots.iter().flat_map(|&r| forest.tree(r)).collect();
    let held: Vec<Held> = tree_pids.iter().filter_map(|&p| Held::open(p)).collect();
    let processes = snapshot.iter().count();
    eprintln!(
        "{} tree processes of {processes} on the machine; {} rounds of each",
        held.len(),
        rounds
    );

    let mut buf = vec![0u8; 4096];
    let scan_round = || {
        let snapshot = Snapshot::take();
        std::hint::black_box(read_trees(&snapshot, &roots));
    };
    let mut trees = HeldTrees::new(4 * held.len() + 64);
    let mut berth_round = || {
        std::hint::black_box(trees.read(&roots));
    };
    let mut floor_round = || {
        let n: usize = held.iter().map(|h| h.read(&mut buf)).sum();
        std::hint::black_box(n);
    };
    let mut buf2 = vec![0u8; 4096];
    let mut opened_round = || {
        let n: usize = tree_pids.iter().map(|&p| read_opened(p, &mut buf2)).sum();
        std::hint::black_box(n);
    };
    // Warm-up.
    berth_round();
    scan_round();
    floor_round();
    opened_round();
    let mut berth = Samples::new(Unit::Ms);
    let mut scan = Samples::new(Unit::Ms);
    let mut floor = Samples::new(Unit::Ms);
    let mut opened = Samples::new(Unit::Ms);
    for _ in 0..rounds {
        berth.push_time(cpu_of(&mut berth_round));
        scan.push_time(cpu_of(scan_round));
        floor.push_time(cpu_of(&mut floor_round));
        opened.push_time(cpu_of(&mut opened_round));
    }
    drop(project);

    println!();
    println!(
        "one sampling round, {SERVICES} services ({} tree processes of {processes}), {} cores, CPU per round, median (min–max) of {rounds}",
        held.len(),
        berth::ports::parallel::cores()
    );
    println!();
    println!("| way | CPU per round | CPU % at interval 1s |");
    println!("|---|---|---|");
    for (way, s) in [
        ("berth (trees walked, files held: `monitor::held`)", &berth),
        (
            "the scan berth made before (every `stat`, then the trees)",
            &scan,
        ),
        ("trees only, files opened each round", &opened),
        ("floor (held files, reads only)", &floor),
    ] {
        println!("| {way} | {} | {:.2} % |", s.show(), s.median() / 10.0);
    }
    println!();
    println!(
        "berth / floor: {:.2} ×; berth / the scan: {:.2} ×",
        berth.median() / floor.median().max(f64::MIN_POSITIVE),
        berth.median() / scan.median().max(f64::MIN_POSITIVE)
    );
}
