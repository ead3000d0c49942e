//! The machine: CPU, load, memory, swap, disks and network, read from `/proc` and statvfs.

use std::borrow::Cow;
use std::ffi::CStr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// One reading of the machine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SystemReading {
    /// When it was taken (the caller's clock), in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// All cores busy, in percent of the whole machine (0–100), since the previous reading;
    /// `None` on the first (and when no clock tick passed since the previous one).
    #[schema(required)]
    pub cpu_percent: Option<f64>,
    pub cores: u32,
    /// `/proc/loadavg`: over 1, 5 and 15 minutes.
    #[schema(min_items = 3, max_items = 3)]
    pub load: [f64; 3],
    pub memory_total_bytes: u64,
    /// What the kernel could give to new programs without swapping (`MemAvailable`).
    pub memory_available_bytes: u64,
    pub swap_used_bytes: u64,
    /// One per requested path that statvfs could read.
    pub disks: Vec<DiskReading>,
    /// Received over every interface but `lo`, since boot.
    pub net_rx_bytes: u64,
    pub net_tx_bytes: u64,
}

impl SystemReading {
    pub fn memory_used_bytes(&self) -> u64 {
        self.memory_total_bytes
            .saturating_sub(self.memory_available_bytes)
    }
}

/// The file system holding one path, counted as `df` does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DiskReading {
    #[schema(value_type = String)]
    pub path: PathBuf,
    /// Blocks not free (those reserved for root count as used, as in `df`'s "Used").
    pub used_bytes: u64,
    pub total_bytes: u64,
}

/// Reads the machine again and again: CPU use is the difference between two readings.
#[derive(Debug, Default)]
pub struct SystemSampler {
    previous: Option<CpuTimes>,
    /// Holds each file as it is read: one allocation, grown to the largest, for the whole life
    /// of the sampler.
    buf: Vec<u8>,
}

impl SystemSampler {
    /// A reading now. What cannot be read (a file missing or malformed) reads as 0.
    pub fn read(&mut self, disks: &[PathBuf], now_ms: u64) -> SystemReading {
        let mut cpu_percent = None;
        let mut cores = 0;
        if let Some(text) = slurp(c"/proc/stat", &mut self.buf) {
            cores = count_cores(&text);
            if let Some(now) = text.lines().next().and_then(parse_cpu_line) {
                match self.previous.map(|before| now.percent_since(before)) {
                    // No tick passed: keep the older reading, so the next covers the span.
                    Some(None) => {}
                    Some(percent) => {
                        cpu_percent = percent;
                        self.previous = Some(now);
                    }
                    None => self.previous = Some(now),
                }
            }
        }
        if cores == 0 {
            cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
        }
        let load = slurp(c"/proc/loadavg", &mut self.buf)
            .and_then(|text| parse_loadavg(&text))
            .unwrap_or_default();
        let memory = slurp(c"/proc/meminfo", &mut self.buf)
            .and_then(|text| parse_meminfo(&text))
            .unwrap_or_default();
        let net = slurp(c"/proc/net/dev", &mut self.buf)
            .map(|text| parse_net_dev(&text))
            .unwrap_or_default();
        SystemReading {
            at_ms: now_ms,
            cpu_percent,
            cores,
            load,
            memory_total_bytes: memory.total_bytes,
            memory_available_bytes: memory.available_bytes,
            swap_used_bytes: memory
                .swap_total_bytes
                .saturating_sub(memory.swap_free_bytes),
            disks: disks.iter().filter_map(|path| disk(path)).collect(),
            net_rx_bytes: net.rx_bytes,
            net_tx_bytes: net.tx_bytes,
        }
    }
}

fn disk(path: &std::path::Path) -> Option<DiskReading> {
    let vfs = rustix::fs::statvfs(path).ok()?;
    Some(DiskReading {
        path: path.to_path_buf(),
        used_bytes: vfs
            .f_blocks
            .saturating_sub(vfs.f_bfree)
            .saturating_mul(vfs.f_frsize),
        total_bytes: vfs.f_blocks.saturating_mul(vfs.f_frsize),
    })
}

/// The whole of a `/proc` file into `buf`: one read when it fits (a `/proc` file's read comes
/// back short only at its end), more only while the buffer fills up.
fn slurp<'b>(path: &CStr, buf: &'b mut Vec<u8>) -> Option<Cow<'b, str>> {
    use rustix::fs::{Mode, OFlags};
    let file = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).ok()?;
    buf.clear();
    if buf.capacity() < 4096 {
        buf.reserve(4096);
    }
    loop {
        let room = buf.capacity() - buf.len();
        let n = rustix::io::read(&file, rustix::buffer::spare_capacity(buf)).ok()?;
        if n < room {
            break;
        }
        buf.reserve(buf.capacity());
    }
    // Interface names are bytes, not necessarily UTF-8; numbers are all that is wanted.
    Some(String::from_utf8_lossy(buf))
}

/// The clock ticks of the `cpu ` line of `/proc/stat`, all cores together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuTimes {
    pub busy: u64,
    pub total: u64,
}

impl CpuTimes {
    /// Busy share of the ticks since `before`, 0–100; `None` if no tick passed.
    pub fn percent_since(self, before: CpuTimes) -> Option<f64> {
        let total = self.total.checked_sub(before.total).filter(|&t| t > 0)?;
        let busy = self.busy.saturating_sub(before.busy).min(total);
        Some(busy as f64 * 100.0 / total as f64)
    }
}

/// The aggregate `cpu ` line: user nice system idle iowait irq softirq steal (guest and
/// guest_nice are already within user and nice). Idle and iowait are idle, the rest busy, as
/// in `top`. Old kernels give fewer fields; fewer than four is no line of this kind.
pub fn parse_cpu_line(line: &str) -> Option<CpuTimes> {
    let mut fields = line.strip_prefix("cpu ")?.split_whitespace();
    let mut ticks = [0u64; 8];
    let mut given = 0;
    for (slot, field) in ticks.iter_mut().zip(&mut fields) {
        *slot = field.parse().ok()?;
        given += 1;
    }
    if given < 4 {
        return None;
    }
    let total: u64 = ticks.iter().sum();
    Some(CpuTimes {
        busy: total - ticks[3] - ticks[4],
        total,
    })
}

/// The `cpuN` lines of `/proc/stat`: the cores online.
pub fn count_cores(stat: &str) -> u32 {
    stat.lines()
        .filter(|line| {
            line.strip_prefix("cpu")
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        })
        .count() as u32
}

/// `/proc/meminfo`, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Meminfo {
    pub total_bytes: u64,
    pub available_bytes: u64,
    pub swap_total_bytes: u64,
    pub swap_free_bytes: u64,
}

/// `None` without `MemTotal` and `MemAvailable` (Linux ≥ 3.14); a kernel without swap lists
/// none, which is 0.
pub fn parse_meminfo(text: &str) -> Option<Meminfo> {
    let (mut total, mut available, mut swap_total, mut swap_free) = (None, None, None, None);
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let slot = match key {
            "MemTotal" => &mut total,
            "MemAvailable" => &mut available,
            "SwapTotal" => &mut swap_total,
            "SwapFree" => &mut swap_free,
            _ => continue,
        };
        *slot = Some(kib(value)?);
    }
    Some(Meminfo {
        total_bytes: total?,
        available_bytes: available?,
        swap_total_bytes: swap_total.unwrap_or(0),
        swap_free_bytes: swap_free.unwrap_or(0),
    })
}

/// `   24683652 kB` in bytes.
fn kib(value: &str) -> Option<u64> {
    let number = value.trim().strip_suffix("kB")?.trim_end();
    number.parse::<u64>().ok()?.checked_mul(1024)
}

/// The three load averages of `/proc/loadavg` (`0.72 0.78 0.39 1/87 8753`).
pub fn parse_loadavg(text: &str) -> Option<[f64; 3]> {
    let mut fields = text.split_whitespace();
    let mut load = [0.0; 3];
    for slot in &mut load {
        *slot = fields
            .next()?
            .parse()
            .ok()
            .filter(|l: &f64| l.is_finite() && *l >= 0.0)?;
    }
    Some(load)
}

/// Bytes through the network interfaces, summed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetTotals {
    pub rx_bytes: u64,
    pub tx_bytes: u64,
}

/// `/proc/net/dev`: every interface but the loopback, whose traffic never leaves the machine.
/// The two header lines and any line that does not parse are skipped.
pub fn parse_net_dev(text: &str) -> NetTotals {
    let mut totals = NetTotals::default();
    for line in text.lines() {
        // A wide counter may touch the colon (`eth0:123…`), so split there, not on spaces.
        let Some((name, counters)) = line.split_once(':') else {
            continue;
        };
        if name.trim() == "lo" {
            continue;
        }
        // Received: bytes packets errs drop fifo frame compressed multicast; then transmitted.
        let mut fields = counters.split_whitespace();
        let rx = fields.next().and_then(|f| f.parse::<u64>().ok());
        let tx = fields.nth(7).and_then(|f| f.parse::<u64>().ok());
        if let (Some(rx), Some(tx)) = (rx, tx) {
            totals.rx_bytes = totals.rx_bytes.saturating_add(rx);
            totals.tx_bytes = totals.tx_bytes.saturating_add(tx);
        }
    }
    totals
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_cpu_line_as_top_does() {
        let line = "cpu  31336 0 5702 41429 305 0 29 76 10 0";
        let t = parse_cpu_line(line).unwrap();
        // Guest (10) is inside user already; steal (76) is busy.
        assert_eq!(t.total, 31336 + 5702 + 41429 + 305 + 29 + 76);
        assert_eq!(t.busy, 31336 + 5702 + 29 + 76);
        // Old kernels: only user nice system idle.
        let old = parse_cpu_line("cpu 10 0 10 80").unwrap();
        assert_eq!((old.busy, old.total), (20, 100));
        assert!(parse_cpu_line("cpu0 1 2 3 4 5 6 7 8").is_none());
        assert!(parse_cpu_line("cpu 1 2 3").is_none());
        assert!(parse_cpu_line("cpu 1 2 x 4 5").is_none());
        assert!(parse_cpu_line("").is_none());
    }

    #[test]
    fn cpu_percent_between_two_lines() {
        let a = CpuTimes {
            busy: 100,
            total: 1000,
        };
        let b = CpuTimes {
            busy: 150,
            total: 1200,
        };
        assert_eq!(b.percent_since(a), Some(25.0));
        assert_eq!(a.percent_since(a), None);
        // Counters that go back (a core taken offline) are no reading, not a negative one.
        assert_eq!(a.percent_since(b), None);
        let odd = CpuTimes {
            busy: 500,
            total: 1100,
        };
        assert_eq!(odd.percent_since(a), Some(100.0));
    }

    #[test]
    fn counts_the_cores() {
        let stat = "cpu  1 2 3 4\ncpu0 1 2 3 4\ncpu1 1 2 3 4\nintr 5 6\ncpufoo 1\nctxt 7\n";
        assert_eq!(count_cores(stat), 2);
        assert_eq!(count_cores(""), 0);
    }

    #[test]
    fn parses_meminfo() {
        let text = "MemTotal:       24683652 kB\nMemFree:        22689644 kB\n\
                    MemAvailable:   24307732 kB\nSwapCached:            0 kB\n\
                    SwapTotal:       2097148 kB\nSwapFree:        1048574 kB\n\
                    HugePages_Total:       0\n";
        let m = parse_meminfo(text).unwrap();
        assert_eq!(m.total_bytes, 24683652 * 1024);
        assert_eq!(m.available_bytes, 24307732 * 1024);
        assert_eq!(m.swap_total_bytes - m.swap_free_bytes, 1048574 * 1024);
        let no_swap = parse_meminfo("MemTotal: 10 kB\nMemAvailable: 4 kB\n").unwrap();
        assert_eq!((no_swap.swap_total_bytes, no_swap.swap_free_bytes), (0, 0));
        assert!(parse_meminfo("MemTotal: 10 kB\n").is_none());
        assert!(parse_meminfo("MemTotal: ten kB\nMemAvailable: 4 kB\n").is_none());
        assert!(parse_meminfo("MemTotal: 10\nMemAvailable: 4 kB\n").is_none());
        assert!(parse_meminfo("").is_none());
    }

    #[test]
    fn parses_loadavg() {
        assert_eq!(
            parse_loadavg("0.72 0.78 0.39 1/87 8753\n"),
            Some([0.72, 0.78, 0.39])
        );
        assert_eq!(parse_loadavg("0.72 0.78"), None);
        assert_eq!(parse_loadavg("0.72 x 0.39 1/87 8753"), None);
        assert_eq!(parse_loadavg("NaN 1 1"), None);
        assert_eq!(parse_loadavg(""), None);
    }

    #[test]
    fn sums_every_interface_but_loopback() {
        let text = "Inter-|   Receive                                                |  Transmit\n \
             face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
               lo:    3193      29    0    0    0     0          0         0     3193      29    0    0    0     0       0          0\n  \
             eth0: 72554638    4036    0    0    0     0          0         0   227769    2171    0    0    0     0       0          0\n\
             wlan0:12345678901 1 0 0 0 0 0 0 100 1 0 0 0 0 0 0\n  \
             bad0: 1 2 3\n  \
             bad1: x 0 0 0 0 0 0 0 5 0 0 0 0 0 0 0\n";
        let n = parse_net_dev(text);
        assert_eq!(n.rx_bytes, 72554638 + 12345678901);
        assert_eq!(n.tx_bytes, 227769 + 100);
        assert_eq!(parse_net_dev(""), NetTotals::default());
    }

    #[test]
    fn used_memory_never_goes_below_zero() {
        let mut r = SystemSampler::default().read(&[], 1);
        r.memory_total_bytes = 10;
        r.memory_available_bytes = 20;
        assert_eq!(r.memory_used_bytes(), 0);
        r.memory_available_bytes = 4;
        assert_eq!(r.memory_used_bytes(), 6);
    }

    #[test]
    fn reads_this_machine() {
        let mut sampler = SystemSampler::default();
        let disks = [PathBuf::from("/"), PathBuf::from("/no/such/path")];
        let first = sampler.read(&disks, 1000);
        assert_eq!(first.at_ms, 1000);
        assert_eq!(first.cpu_percent, None);
        assert!(first.cores >= 1);
        assert!(first.memory_total_bytes > 0, "{first:?}");
        assert!(first.memory_available_bytes <= first.memory_total_bytes);
        assert!(first.load.iter().all(|l| *l >= 0.0));
        assert!(
            std::fs::read_to_string("/proc/loadavg").is_ok_and(|t| parse_loadavg(&t).is_some())
        );
        assert_eq!(first.disks.len(), 1, "{first:?}");
        assert_eq!(first.disks[0].path, PathBuf::from("/"));
        assert!(first.disks[0].total_bytes > 0);
        assert!(first.disks[0].used_bytes <= first.disks[0].total_bytes);
        // A clock tick is 10 ms; wait for a few, busy so that some are not idle.
        let until = std::time::Instant::now() + std::time::Duration::from_millis(100);
        while std::time::Instant::now() < until {
            std::hint::black_box(0u64.wrapping_add(1));
        }
        let second = sampler.read(&disks, 1100);
        let percent = second.cpu_percent.expect("a second reading has CPU use");
        assert!((0.0..=100.0).contains(&percent), "{percent}");
        assert!(second.net_rx_bytes >= first.net_rx_bytes);
        // Floats may lose their last bit through JSON; the rest comes back as it was.
        let json = serde_json::to_string(&second).unwrap();
        let back: SystemReading = serde_json::from_str(&json).unwrap();
        assert_eq!((back.at_ms, &back.disks), (second.at_ms, &second.disks));
    }
}
