//! The figures of a running stack of N servers, berth and each peer on their own ports:
//! `up` → all answering and `down` (against a shell loop and the services' own exit), status
//! latency (daemon up, and berth's with its daemon down), memory, kill -9 → answering again
//! and readiness delay (N = 20), idle CPU with health checks (N = 200).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use rustix::process::Signal;

use crate::berth_stack::Berth;
use crate::manager::{Manager, Stack};
use crate::support::procs::{Proc, Started, cpu_seconds, private_kib, rss_kib};
use crate::support::samples::{Samples, Unit};
use crate::support::{self, free_ports, run_quietly, wait_answering, wait_silent};
use crate::table::{Cell, Row, Table, Target};
use crate::{Peers, absent};

/// Long enough for supervisord's one-second ticks and PM2 starting 200 services.
const PATIENCE: Duration = Duration::from_secs(60);
const IDLE: Duration = Duration::from_secs(60);

/// berth and each peer (in column order), each running its own stack.
pub struct Contenders {
    pub berth: Berth,
    pub peers: Vec<Result<Box<dyn Manager>, String>>,
    pub stacks: Vec<Stack>,
}

impl Contenders {
    /// Each with its own stack (berth's first, then one per peer); `extra` is added to
    /// berth's config.
    pub fn launch(peers: &Peers, stacks: Vec<Stack>, extra: &str) -> Contenders {
        Contenders {
            berth: Berth::new(&stacks[0], extra),
            peers: peers.launch(&stacks[1..]),
            stacks,
        }
    }

    /// Each with its own copy of `n` servers on its own ports.
    fn servers(peers: &Peers, program: &Path, n: usize, late: Option<u16>) -> Contenders {
        let ports = free_ports(n * (1 + Peers::COUNT));
        let stacks: Vec<Stack> = ports
            .chunks(n)
            .map(|p| Stack::servers(program, p))
            .collect();
        let extra = late
            .map(|port| support::readiness::late_service("late", program, port))
            .unwrap_or_default();
        Contenders::launch(peers, stacks, &extra)
    }

    /// Calls `f` on berth and on each installed peer with its stack, in column order.
    pub fn each(&mut self, mut f: impl FnMut(usize, &mut dyn Manager, &Stack)) {
        f(0, &mut self.berth, &self.stacks[0]);
        for (i, peer) in self.peers.iter_mut().enumerate() {
            if let Ok(m) = peer {
                f(i + 1, m.as_mut(), &self.stacks[i + 1]);
            }
        }
    }

    /// One `Samples` per contender.
    pub fn samples(&self, unit: Unit) -> Vec<Samples> {
        (0..=self.peers.len()).map(|_| Samples::new(unit)).collect()
    }

    /// berth's figure and the peers' cells from per-contender samples.
    pub fn split(&self, mut all: Vec<Samples>) -> (Samples, Vec<Cell>) {
        let peers = all.split_off(1);
        let cells = self
            .peers
            .iter()
            .zip(peers)
            .map(|(p, s)| match p {
                Ok(_) => Cell::Measured(s),
                Err(why) => Cell::Absent(why.clone()),
            })
            .collect();
        (all.remove(0), cells)
    }
}

/// Runs `command` on `m`, then `wait`s on each port of `stack`; how long from the command.
fn timed(
    m: &mut dyn Manager,
    stack: &Stack,
    command: fn(&mut dyn Manager),
    wait: fn(u16, Duration),
) -> Duration {
    let start = Instant::now();
    command(m);
    for port in stack.ports() {
        wait(port, PATIENCE);
    }
    start.elapsed()
}

/// Starts `m` and waits until every port of `stack` answers.
fn up(m: &mut dyn Manager, stack: &Stack) -> Duration {
    timed(m, stack, |m| m.start(), wait_answering)
}

/// Stops `m` and waits until no port of `stack` answers.
fn down(m: &mut dyn Manager, stack: &Stack) -> Duration {
    timed(m, stack, |m| m.stop(), wait_silent)
}

/// The floor of `up`: a bash loop that starts the services in the background and polls each
/// port until it answers. Returns how long, and the services it started.
fn shell_loop(program: &Path, ports: &[u16]) -> (Duration, Vec<Proc>) {
    let list = ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(" ");
    let script = format!(
        "for p in {list}; do PORT=$p {} >/dev/null 2>&1 & echo $!; done; for p in {list}; do until (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; do :; done; done",
        program.display()
    );
    let start = Instant::now();
    let out = Command::new("bash").args(["-c", &script]).output().unwrap();
    let took = start.elapsed();
    let pids = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| Proc::seen(l.trim().parse().ok()?))
        .collect();
    (took, pids)
}

/// The floor of `down`: SIGTERM to each service at once, until the last has exited.
fn own_exit(services: &[Proc]) -> Duration {
    let start = Instant::now();
    services.iter().for_each(|p| p.kill(Signal::TERM));
    while services.iter().any(Proc::alive) {
        assert!(start.elapsed() < PATIENCE, "a service ignored SIGTERM");
        std::thread::sleep(Duration::from_micros(200));
    }
    start.elapsed()
}

/// The floor of a restart: the service's own start, until its port answers.
fn own_start(program: &Path, port: u16) -> Duration {
    let start = Instant::now();
    let mut child = Command::new(program)
        .env("PORT", port.to_string())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_answering(port, PATIENCE);
    let took = start.elapsed();
    let _ = child.kill();
    let _ = child.wait();
    took
}

/// The floor of a command: starting berth at all (`berth --version`).
fn process_start() -> Duration {
    run_quietly(Command::new(support::berth()).arg("--version"))
}

fn time_status(m: &dyn Manager) -> Duration {
    // supervisorctl answers 3 when a program is not running: the time is what counts.
    support::time_quietly(&mut m.status_command()).0
}

/// All figures for `n` servers.
pub fn stack_figures(table: &mut Table, peers: &Peers, program: &Path, n: usize) {
    let small = n <= 20;
    let (up_rounds, status_rounds) = if small { (5, 20) } else { (3, 8) };
    let late = small.then(|| free_ports(1)[0]);
    let mut c = Contenders::servers(peers, program, n, late);
    let columns = c.peers.len();

    eprintln!("== {n} services: up and down, {up_rounds} rounds after a warm-up");
    let (mut ups, mut downs) = (c.samples(Unit::Ms), c.samples(Unit::Ms));
    let (mut loop_ups, mut exits) = (Samples::new(Unit::Ms), Samples::new(Unit::Ms));
    for round in 0..=up_rounds {
        let keep = round > 0;
        c.each(|i, m, stack| {
            let took = up(m, stack);
            m.remember();
            let stopped = down(m, stack);
            if keep {
                ups[i].push_time(took);
                downs[i].push_time(stopped);
            }
        });
        let mut spawned = Started::default();
        let (took, services) = shell_loop(program, &c.stacks[0].ports());
        services.iter().for_each(|p| spawned.add(p.pid));
        let exit = own_exit(&services);
        if keep {
            loop_ups.push_time(took);
            exits.push_time(exit);
        }
    }
    let (berth_up, peers_up) = c.split(ups);
    table.add(
        Row::new(
            format!("2. `up` → all answering, N = {n} (floor: a shell loop)"),
            berth_up,
        )
        .peers(peers_up)
        .floor("shell loop", loop_ups)
        .target_if(small, Target::TimesFloor(1.05)),
    );
    let (berth_down, peers_down) = c.split(downs);
    table.add(
        Row::new(
            format!("6. `down` → all gone, N = {n} (floor: SIGTERM, the slowest's exit)"),
            berth_down,
        )
        .peers(peers_down)
        .floor("own exit", exits)
        .target_if(small, Target::FloorPlus(100.0)),
    );

    // From here on, every contender's stack runs at once.
    c.each(|_, m, stack| {
        up(m, stack);
        m.remember();
    });

    eprintln!("== {n} services: status, {status_rounds} rounds after a warm-up");
    let mut statuses = c.samples(Unit::Ms);
    let mut versions = Samples::new(Unit::Ms);
    for round in 0..=status_rounds {
        let keep = round > 0;
        c.each(|i, m, _| {
            let took = time_status(m);
            if keep {
                statuses[i].push_time(took);
            }
        });
        let took = process_start();
        if keep {
            versions.push_time(took);
        }
    }
    let (berth_status, peers_status) = c.split(statuses);
    table.add(
        Row::new(
            format!("1. status, daemon up, N = {n} (floor: `berth --version`)"),
            berth_status,
        )
        .peers(peers_status)
        .floor("berth --version", versions.clone())
        .target_if(small, Target::AtMost(5.0)),
    );

    memory(table, &mut c, n);

    if small {
        restarts(table, &mut c, program);
        eprintln!("== readiness delay, 10 rounds");
        let delays = support::readiness::delays(c.berth.dir(), "late", 10);
        table.add(
            Row::new("3. readiness delay T′ − T (bound → reported ready)", delays)
                .peers(absent(columns, "no readiness"))
                .target(Target::AtMost(10.0)),
        );
    } else {
        idle(table, &mut c, program);
    }

    eprintln!("== {n} services: status with berth's daemon stopped");
    run_quietly(&mut support::berth_in(c.berth.dir(), &["daemon", "stop"]));
    let (mut statuses, mut versions) = (Samples::new(Unit::Ms), Samples::new(Unit::Ms));
    for round in 0..=status_rounds {
        let took = time_status(&c.berth);
        let floor = process_start();
        if round > 0 {
            statuses.push_time(took);
            versions.push_time(floor);
        }
    }
    table.add(
        Row::new(
            format!("1. status, daemon down, N = {n} (floor: `berth --version`)"),
            statuses,
        )
        .peers(absent(columns, "needs its daemon"))
        .floor("berth --version", versions)
        .target_if(small, Target::AtMost(5.0)),
    );
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The daemons' resident memory, and the private memory of berth's shims and forker.
fn memory(table: &mut Table, c: &mut Contenders, n: usize) {
    let mut daemons = c.samples(Unit::MiB);
    let mut totals = c.samples(Unit::MiB);
    let mut shims = Samples::new(Unit::MiB);
    c.each(|i, m, _| {
        let rss = rss_kib(m.daemon_pid()).unwrap_or(0);
        let keepers: Vec<u64> = m.keepers().into_iter().filter_map(private_kib).collect();
        let helpers: u64 = m.helpers().into_iter().filter_map(private_kib).sum();
        if i == 0 {
            keepers.iter().for_each(|&k| shims.push(mib(k)));
        }
        daemons[i].push(mib(rss));
        totals[i].push(mib(rss + keepers.iter().sum::<u64>() + helpers));
    });
    let columns = c.peers.len();
    let (berth, peers) = c.split(daemons);
    table.add(
        Row::new(format!("5. daemon RSS, N = {n}"), berth)
            .peers(peers)
            .target_if(n <= 20, Target::AtMost(10.0)),
    );
    table.add(
        Row::new(format!("5. each shim's private memory, N = {n}"), shims)
            .peers(absent(columns, "no shims"))
            .target_if(n <= 20, Target::AtMost(1.0)),
    );
    let (berth, peers) = c.split(totals);
    table.add(
        Row::new(
            format!("5. all of the supervisor (daemon RSS + others' private), N = {n}"),
            berth,
        )
        .peers(peers),
    );
}

/// kill -9 of a service → its port answers again, against the service's own start.
fn restarts(table: &mut Table, c: &mut Contenders, program: &Path) {
    const ROUNDS: usize = 5;
    eprintln!("== kill -9 → answering again, {ROUNDS} rounds after a warm-up");
    let mut recoveries = c.samples(Unit::Ms);
    let mut own = Samples::new(Unit::Ms);
    let spare = free_ports(1)[0];
    for round in 0..=ROUNDS {
        c.each(|i, m, stack| {
            let victim = &stack.services[round];
            let pid = m
                .service_pids()
                .into_iter()
                .find(|(name, _)| *name == victim.name)
                .map(|(_, pid)| pid)
                .expect("the service runs");
            let port = victim.port.unwrap();
            let process = Proc::seen(pid).expect("the service runs");
            let start = Instant::now();
            process.kill(Signal::KILL);
            wait_silent(port, PATIENCE);
            wait_answering(port, PATIENCE);
            if round > 0 {
                recoveries[i].push_time(start.elapsed());
            }
            m.remember();
        });
        let took = own_start(program, spare);
        if round > 0 {
            own.push_time(took);
        }
    }
    let (berth, peers) = c.split(recoveries);
    table.add(
        Row::new(
            "4. kill -9 → answering again (floor: the service's own start)",
            berth,
        )
        .peers(peers)
        .floor("own start", own)
        .target(Target::FloorPlus(10.0)),
    );
}

/// CPU over a minute of nothing happening, every stack running at once: first as the stacks
/// came up (no health checks anywhere), then with berth probing each service over HTTP every
/// 5 s (the peers have no health checks).
fn idle(table: &mut Table, c: &mut Contenders, program: &Path) {
    let n = c.stacks[0].services.len();
    eprintln!("== idle CPU of {n} services over {} s", IDLE.as_secs());
    idle_window(table, c, &format!("N = {n}, no health checks"));
    let mut with_health = Stack::servers(program, &c.stacks[0].ports());
    with_health
        .services
        .iter_mut()
        .for_each(|s| s.health = true);
    c.berth.reconfigure(&with_health);
    c.berth.start();
    c.berth.remember();
    eprintln!(
        "== idle CPU of {n} services over {} s, berth checking health",
        IDLE.as_secs()
    );
    idle_window(
        table,
        c,
        &format!("N = {n}, berth probing HTTP health every 5 s"),
    );
}

/// One minute of each contender's daemon (and keepers) CPU time, as two rows.
fn idle_window(table: &mut Table, c: &mut Contenders, case: &str) {
    let mut watched: Vec<(usize, Vec<i32>)> = Vec::new();
    c.each(|i, m, _| {
        let mut pids = vec![m.daemon_pid()];
        pids.extend(m.keepers());
        pids.extend(m.helpers());
        watched.push((i, pids));
    });
    let total = |pids: &[i32]| pids.iter().filter_map(|&p| cpu_seconds(p)).sum::<f64>();
    let before: Vec<(f64, f64)> = watched
        .iter()
        .map(|(_, p)| (total(&p[..1]), total(p)))
        .collect();
    std::thread::sleep(IDLE);
    let mut daemons = c.samples(Unit::Cpu);
    let mut wholes = c.samples(Unit::Cpu);
    for ((i, pids), (daemon0, whole0)) in watched.iter().zip(before) {
        let per_cent = |s: f64| s / IDLE.as_secs_f64() * 100.0;
        daemons[*i].push(per_cent(total(&pids[..1]) - daemon0));
        wholes[*i].push(per_cent(total(pids) - whole0));
    }
    let (berth, peers) = c.split(daemons);
    table.add(Row::new(format!("9. idle CPU of the daemon, {case}"), berth).peers(peers));
    let (berth, peers) = c.split(wholes);
    table.add(
        Row::new(
            format!("9. idle CPU of the whole supervisor (daemon, shims, forker), {case}"),
            berth,
        )
        .peers(peers),
    );
}
