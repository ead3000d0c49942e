//! berth against its peers (PM2, supervisord) and the physical floors, in one run that
//! prints one table. Every comparison is interleaved (berth, each peer, the floor, then again)
//! after a warm-up round, and reported as median (min–max) with berth's ratios taken round by
//! round. Each supervisor runs its own copy of the stack on its own ports; all run the release
//! build of the test service. A peer that cannot be installed is reported so, never faked;
//! everything started is stopped through its own command and then killed by pid if it is
//! still there.
//!
//! Run with `cargo bench --bench compare` (about 10 minutes on 2 cores).
//! `BERTH_BENCH_LOG_MIB` sets the log throughput's size (default 1024).

mod berth_stack;
mod figures;
mod flood;
mod install;
mod manager;
mod pm2;
mod supervisord;
#[path = "../support/mod.rs"]
mod support;
mod table;

use manager::{Manager, Stack};
use table::{Cell, Row, Table, Target};

/// The supervisors compared with berth, each installed or the reason it is not.
pub struct Peers {
    pm2: Result<install::Peer, String>,
    supervisord: Result<install::Peer, String>,
}

impl Peers {
    fn columns(&self) -> Vec<String> {
        let name = |peer: &Result<install::Peer, String>, what: &str| match peer {
            Ok(p) => format!("{what} {}", p.version),
            Err(_) => what.to_owned(),
        };
        vec![
            name(&self.pm2, "pm2"),
            name(&self.supervisord, "supervisord"),
        ]
    }

    /// How many peer columns there are.
    pub const COUNT: usize = 2;

    /// Each peer running its stack (one each, in column order), or why it cannot.
    fn launch(&self, stacks: &[Stack]) -> Vec<Result<Box<dyn Manager>, String>> {
        let not_installed = |why: &String| format!("not installed: {why}");
        vec![
            self.pm2.as_ref().map_err(not_installed).map(|p| {
                Box::new(pm2::Pm2::new(&p.path, &p.version, &stacks[0])) as Box<dyn Manager>
            }),
            self.supervisord.as_ref().map_err(not_installed).map(|p| {
                Box::new(supervisord::Supervisord::new(
                    &p.path, &p.version, &stacks[1],
                )) as Box<dyn Manager>
            }),
        ]
    }
}

/// Cells for a figure the peers do not have.
fn absent(peers: usize, why: &str) -> Vec<Cell> {
    (0..peers).map(|_| Cell::Absent(why.into())).collect()
}

fn main() {
    let started = std::time::Instant::now();
    // A bad setting is reported now, not after minutes of other figures.
    flood::size_mib();
    let left = support::procs::Started::clear_ledger();
    if left > 0 {
        eprintln!("killed {left} process(es) an interrupted earlier run left running");
    }
    let program = support::test_service();
    let peers = Peers {
        pm2: install::pm2(),
        supervisord: install::supervisord(),
    };
    for (name, peer) in [("pm2", &peers.pm2), ("supervisord", &peers.supervisord)] {
        if let Err(why) = peer {
            eprintln!("{name} is not installed and could not be: {why}");
        }
    }
    let mut table = Table::new(peers.columns());
    let columns = peers.columns().len();

    for n in [20, 200] {
        figures::stack_figures(&mut table, &peers, &program, n);
    }
    flood::log_throughput(&mut table, &peers, &program);

    eprintln!("== port table");
    let ports = support::port_table::measure(20);
    let listeners = support::port_table::PROCESSES * support::port_table::SOCKETS_EACH;
    let none = || absent(columns, "no port table");
    table.add(
        Row::new(
            format!("8. `ports --json`, {listeners} listeners (floor: `ss -ltnp`)"),
            ports.berth.clone(),
        )
        .peers(none())
        .floor("ss -ltnp", ports.ss)
        .target(Target::TimesFloor(1.0)),
    );
    table.add(
        Row::new(
            format!(
                "8. `ports --json`, {listeners} listeners (floor: `lsof -nP -iTCP -sTCP:LISTEN`)"
            ),
            ports.berth,
        )
        .peers(none())
        .floor("lsof", ports.lsof.clone())
        .target(Target::TimesFloor(0.1)),
    );
    table.add(
        Row::new(
            "8. the least a `/proc` port table costs: its reads alone, on every core, + a process start (floor: `lsof`)",
            ports.least,
        )
        .peers(none())
        .floor("lsof", ports.lsof.clone()),
    );
    table.add(
        Row::new("8. `ports who PORT`, same machine state", ports.who)
            .peers(none())
            .target(Target::AtMost(5.0)),
    );

    println!();
    table.print();
    eprintln!(
        "(the whole comparison took {:.0} s)",
        started.elapsed().as_secs_f64()
    );
}
