//! Log throughput: one service writes 1 GiB of numbered 128-byte lines to stdout as fast as
//! it can and exits; each supervisor carries them into its (rotated) log file. Timed from the
//! start command until the last line is in the file, against the same service writing
//! straight to a file (the floor); then every file is read back and every line number
//! checked: none may be missing.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::Peers;
use crate::figures::Contenders;
use crate::manager::{Manager, Service, Stack};
use crate::support::samples::{Samples, Unit};
use crate::table::{Row, Table};

const LINE_BYTES: u64 = 128;
const ROUNDS: usize = 3;

/// The log figure's size in MiB (`BERTH_BENCH_LOG_MIB`, 1024 by default).
pub fn size_mib() -> u64 {
    match std::env::var("BERTH_BENCH_LOG_MIB") {
        Err(_) => 1024,
        Ok(v) => v.parse().ok().filter(|&m| m > 0).unwrap_or_else(|| {
            panic!("BERTH_BENCH_LOG_MIB must be a number of MiB above 0, like 256; got {v:?}")
        }),
    }
}

fn flood_args(lines: u64) -> Vec<String> {
    [
        "--flood".to_owned(),
        lines.to_string(),
        "--line-bytes".into(),
        LINE_BYTES.to_string(),
        "--no-listen".into(),
        "--exit-after".into(),
        "0".into(),
    ]
    .into()
}

/// Whether the last line is in `file` (the current log: the shortest name).
fn finished(files: &[PathBuf], last: &[u8]) -> bool {
    let Some(current) = files.iter().min_by_key(|f| f.as_os_str().len()) else {
        return false;
    };
    let Ok(mut file) = std::fs::File::open(current) else {
        return false;
    };
    use std::io::{Read, Seek, SeekFrom};
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(4 * LINE_BYTES)));
    let mut tail = Vec::new();
    let _ = file.read_to_end(&mut tail);
    tail.windows(last.len()).any(|w| w == last)
}

/// How many of the lines 1..=`lines` are in none of `files`.
fn missing(files: &[PathBuf], lines: u64) -> u64 {
    let mut seen = vec![false; lines as usize + 1];
    let mut line = Vec::new();
    for path in files {
        let mut reader = BufReader::with_capacity(1 << 20, std::fs::File::open(path).unwrap());
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line).unwrap() == 0 {
                break;
            }
            // `line 0000000042 xxx…`, after whatever the supervisor puts before it.
            let Some(at) = line.windows(5).position(|w| w == b"line ") else {
                continue;
            };
            let number = line
                .get(at + 5..at + 15)
                .and_then(|d| std::str::from_utf8(d).ok()?.parse::<usize>().ok());
            if let Some(n) = number.filter(|&n| n >= 1 && n <= lines as usize) {
                seen[n] = true;
            }
        }
    }
    seen[1..].iter().filter(|s| !**s).count() as u64
}

/// Total size of `files`.
fn size(files: &[PathBuf]) -> u64 {
    files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum()
}

/// One run through `m`: how long until the last line was in its log (or, when it never
/// arrives, until the log last grew), and how many lines are missing from it.
fn through(m: &mut dyn Manager, lines: u64) -> (Duration, u64) {
    const GIVE_UP: Duration = Duration::from_secs(3);
    let last = format!("line {lines:010} ").into_bytes();
    let start = Instant::now();
    m.start();
    let (mut grown, mut grew) = (0, start);
    let took = loop {
        let files = m.log_files("flood");
        if finished(&files, &last) {
            break start.elapsed();
        }
        let now = size(&files);
        if now != grown {
            (grown, grew) = (now, Instant::now());
        } else if grew.elapsed() > GIVE_UP {
            eprintln!("{}: the last line never reached the log", m.name());
            break grew - start;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let files = m.log_files("flood");
    let lost = missing(&files, lines);
    m.stop();
    files.iter().for_each(|f| {
        let _ = std::fs::remove_file(f);
    });
    (took, lost)
}

/// The floor: the service writing straight to a file.
fn straight(program: &Path, lines: u64) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let file = std::fs::File::create(dir.path().join("flood.log")).unwrap();
    let start = Instant::now();
    let status = Command::new(program)
        .args(flood_args(lines))
        .stdout(Stdio::from(file))
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    start.elapsed()
}

pub fn log_throughput(table: &mut Table, peers: &Peers, program: &Path) {
    let mib = size_mib();
    let lines = mib * 1024 * 1024 / LINE_BYTES;
    // Room for every line with the supervisor's prefix: 6 files of 0.4 × the payload.
    let rotate = ((mib * 2 / 5).max(1) * 1024 * 1024, 5);
    let stack = Stack {
        program: program.to_path_buf(),
        services: vec![Service {
            name: "flood".into(),
            port: None,
            args: flood_args(lines),
            restart: false,
            health: false,
            log: Some(rotate),
        }],
    };
    let stacks = vec![stack; 1 + Peers::COUNT];
    let mut c = Contenders::launch(peers, stacks, "");
    eprintln!("== log throughput: {mib} MiB of {LINE_BYTES}-byte lines, {ROUNDS} rounds");
    let mut times = c.samples(Unit::Seconds);
    let mut rates = c.samples(Unit::MBps);
    let mut lost = c.samples(Unit::Count);
    let mut floor = Samples::new(Unit::Seconds);
    let mut floor_rate = Samples::new(Unit::MBps);
    let bytes = (lines * LINE_BYTES) as f64;
    for _ in 0..ROUNDS {
        c.each(|i, m, _| {
            let (took, missing) = through(m, lines);
            times[i].push_time(took);
            rates[i].push(bytes / took.as_secs_f64() / 1e6);
            lost[i].push(missing as f64);
        });
        let took = straight(program, lines);
        floor.push_time(took);
        floor_rate.push(bytes / took.as_secs_f64() / 1e6);
    }
    let cells = |all| c.split(all);
    let (b, p) = cells(times);
    table.add(
        Row::new(
            format!(
                "7. log: {mib} MiB of lines into the log file, time (floor: straight to a file)"
            ),
            b,
        )
        .peers(p)
        .floor("straight to a file", floor),
    );
    let (b, p) = cells(rates);
    table.add(
        Row::new(format!("7. log: {mib} MiB of lines, throughput"), b)
            .peers(p)
            .floor("straight to a file", floor_rate),
    );
    let (b, p) = cells(lost);
    table.add(Row::new("7. log: lines missing from the log files", b).peers(p));
}
