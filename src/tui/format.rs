//! How `berth top` writes figures into its narrow columns: uptimes, sizes, percentages, a
//! moved port, and a series as a sparkline of block characters.

use crate::api::types::ServiceView;
use std::time::Duration;

/// The eight heights of a sparkline, lowest first.
const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// At most two units, largest first: `45s`, `12m5s`, `3h4m`, `2d3h`.
pub fn uptime(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    let (d, h, m, s) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) if s == 0 => format!("{m}m"),
        (0, 0, _) => format!("{m}m{s}s"),
        (0, _, 0) => format!("{h}h"),
        (0, _, _) => format!("{h}h{m}m"),
        (_, 0, _) => format!("{d}d"),
        _ => format!("{d}d{h}h"),
    }
}

/// A duration as `uptime` writes it.
pub fn duration(d: Duration) -> String {
    uptime(d.as_secs_f64())
}

/// `22.3MiB`, `1.2GiB`, as `status` writes memory.
pub fn bytes(value: f64) -> String {
    crate::config::units::format_measured_size(value)
}

pub fn percent(value: f64) -> String {
    format!("{value:.1}%")
}

/// The port in use, with the configured one in parentheses when berth moved it:
/// `8001 (8000)`.
pub fn port(service: &ServiceView) -> String {
    match (service.port, service.configured_port) {
        (Some(port), Some(configured)) if configured != port => format!("{port} ({configured})"),
        (Some(port), _) => port.to_string(),
        (None, _) => "-".into(),
    }
}

/// The last `width` values as bars, right-aligned: the newest value is at the right edge,
/// and a short series is padded with spaces on the left. The bars span from `base` (the
/// lowest value shown, 0 or the series' least) over at least `span` (so that noise does not
/// fill the column: a flat series is a flat line at the bottom).
fn bars(last: &[f64], width: usize, base: f64, span: f64) -> String {
    let mut out = " ".repeat(width - last.len());
    for v in last {
        let level = if span > 0.0 && v.is_finite() {
            (((v - base).max(0.0) / span) * (BARS.len() - 1) as f64).round() as usize
        } else {
            0
        };
        out.push(BARS[level.min(BARS.len() - 1)]);
    }
    out
}

fn newest(values: impl DoubleEndedIterator<Item = f64>, width: usize) -> Vec<f64> {
    let mut last: Vec<f64> = values.rev().take(width).collect();
    last.reverse();
    last
}

/// CPU: from 0 to the largest value, or `floor` when all are under it.
pub fn sparkline(values: impl DoubleEndedIterator<Item = f64>, width: usize, floor: f64) -> String {
    let last = newest(values, width);
    let top = last.iter().copied().fold(floor, f64::max);
    bars(&last, width, 0.0, top)
}

/// Memory: from the least value to the largest, over at least a tenth of the largest, so
/// that growth shows and a steady service is a flat line.
pub fn sparkline_range(values: impl DoubleEndedIterator<Item = f64>, width: usize) -> String {
    let last = newest(values, width);
    let finite = || last.iter().copied().filter(|v| v.is_finite());
    let (lo, hi) = (
        finite().fold(f64::INFINITY, f64::min),
        finite().fold(0.0, f64::max),
    );
    bars(&last, width, lo.min(hi), (hi - lo).max(hi * 0.1))
}

/// `text` cut to `width` characters, with `…` as the last when it was cut.
pub fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    if width > 0 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptimes_keep_two_units() {
        assert_eq!(uptime(0.4), "0s");
        assert_eq!(uptime(45.0), "45s");
        assert_eq!(uptime(120.0), "2m");
        assert_eq!(uptime(725.0), "12m5s");
        assert_eq!(uptime(3600.0 * 3.0 + 240.0 + 9.0), "3h4m");
        assert_eq!(uptime(7200.0), "2h");
        assert_eq!(uptime(86_400.0 * 2.0 + 3600.0 * 3.0 + 5.0), "2d3h");
        assert_eq!(uptime(86_400.0), "1d");
    }

    #[test]
    fn a_moved_port_shows_the_configured_one() {
        let mut s: ServiceView = serde_json::from_value(serde_json::json!({
            "name": "api", "state": "running", "health": "healthy", "pid": 1, "port": 8001,
            "configured_port": 8000, "uptime_s": 1.0, "restarts": 0, "cpu_percent": null,
            "rss_bytes": null, "exit_code": null
        }))
        .unwrap();
        assert_eq!(port(&s), "8001 (8000)");
        s.configured_port = None;
        assert_eq!(port(&s), "8001");
        s.port = None;
        assert_eq!(port(&s), "-");
    }

    #[test]
    fn sparklines_scale_to_the_largest_and_pad_on_the_left() {
        assert_eq!(sparkline([0.0, 50.0, 100.0].into_iter(), 5, 1.0), "  ▁▅█");
        assert_eq!(sparkline([1.0, 2.0, 3.0, 4.0].into_iter(), 2, 0.0), "▆█");
        // Below the floor everything stays low.
        assert_eq!(sparkline([0.1, 0.2].into_iter(), 2, 10.0), "▁▁");
        assert_eq!(sparkline(std::iter::empty(), 3, 1.0), "   ");
        assert_eq!(sparkline([f64::NAN].into_iter(), 1, 1.0), "▁");
    }

    #[test]
    fn memory_sparklines_show_growth_and_keep_steady_flat() {
        let mib = |v: f64| v * (1 << 20) as f64;
        assert_eq!(sparkline_range([mib(10.0); 3].into_iter(), 3), "▁▁▁");
        // Growth by less than a tenth of the largest stays short of the top.
        assert_eq!(
            sparkline_range([mib(100.0), mib(105.0), mib(110.0)].into_iter(), 3),
            "▁▄▇"
        );
        assert_eq!(
            sparkline_range([mib(100.0), mib(101.0)].into_iter(), 3),
            " ▁▂"
        );
        assert_eq!(sparkline_range([10.0, 20.0, 40.0].into_iter(), 3), "▁▃█");
        assert_eq!(sparkline_range(std::iter::empty(), 2), "  ");
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis() {
        assert_eq!(fit("api", 5), "api");
        assert_eq!(fit("a-long-name", 6), "a-lon…");
        assert_eq!(fit("x", 0), "");
    }
}
