//! `berth stats`: usage and health over a window, from history: per service CPU and memory
//! (average and maximum), restarts, the share of the window it was healthy, health-check
//! p50/p95 and failures, time to ready; then the machine's maxima. Reads the database
//! itself, so it works with the daemon down.

use super::args::Global;
use super::up::load_with_services;
use super::{Exit, Failure};
use crate::api::monitoring::StatsResponse;
use crate::logs::time::now_ms;
use crate::style::Style;
use std::time::Duration;

pub fn run(global: &Global, services: &[String], since: Duration) -> Result<Exit, Failure> {
    // Every instance the daemon runs, `berth scale`'s too.
    let stack = super::replicas::as_running(load_with_services(global, services)?);
    let until = now_ms();
    let report = crate::history::query::report(
        &stack,
        services,
        until.saturating_sub(since.as_millis() as u64),
        until,
    )
    .map_err(Failure::failed)?;
    if global.json {
        println!("{}", serde_json::to_string(&report).expect("serializable"));
    } else if !global.quiet {
        print!("{}", table(&report, since, Style::stdout()));
    }
    Ok(Exit::Done)
}

fn mib(bytes: u64) -> String {
    crate::config::units::format_measured_size(bytes as f64)
}

pub fn table(report: &StatsResponse, since: Duration, style: Style) -> String {
    let dash = || "-".to_string();
    let percent = |v: Option<f64>| v.map(|c| format!("{c:.1}%")).unwrap_or_else(dash);
    let ms = |v: Option<f64>| v.map(|c| format!("{c:.1}ms")).unwrap_or_else(dash);
    let mut rows = vec![
        [
            "NAME",
            "CPU AVG",
            "CPU MAX",
            "MEM AVG",
            "MEM MAX",
            "RESTARTS",
            "HEALTHY",
            "CHECK P50",
            "P95",
            "FAILED",
            "READY",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for s in &report.services {
        rows.push(vec![
            s.name.clone(),
            percent(s.cpu_avg_percent),
            percent(s.cpu_max_percent),
            s.rss_avg_bytes.map(mib).unwrap_or_else(dash),
            s.rss_max_bytes.map(mib).unwrap_or_else(dash),
            s.restarts.to_string(),
            percent(s.healthy_ratio.map(|r| r * 100.0)),
            ms(s.check_p50_ms),
            ms(s.check_p95_ms),
            s.checks_failed.to_string(),
            s.ready_ms.map(|r| format!("{r}ms")).unwrap_or_else(dash),
        ]);
    }
    let mut out = style.dim(&format!(
        "over the last {} ({} to {})\n",
        crate::config::units::format_duration(since),
        report.since,
        report.until
    ));
    out.push_str(&super::table::render(&rows, &style));
    let m = &report.system;
    let mut machine = vec![
        format!("CPU max {}", percent(m.cpu_max_percent)),
        format!(
            "memory max {}",
            m.memory_max_bytes.map(mib).unwrap_or_else(dash)
        ),
        format!(
            "load1 max {}",
            m.load1_max.map(|l| format!("{l:.2}")).unwrap_or_else(dash)
        ),
    ];
    for d in &m.disks {
        machine.push(format!(
            "{} {} of {}",
            d.path,
            mib(d.used_max_bytes),
            mib(d.total_bytes)
        ));
    }
    out.push_str(&format!("machine: {}\n", machine.join(", ")));
    out
}
