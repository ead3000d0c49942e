//! `GET /metrics`: the Prometheus text exposition (classic by default, OpenMetrics on request).
//!
//! Pure: the daemon gathers a [`Snapshot`] at the time of the scrape and [`render`] turns it into
//! text; nothing here reads the clock, `/proc` or the daemon's state.
//!
//! The families are written by one `prometheus-client` [`Collector`] into a [`Registry`] that
//! carries the `project` label as a constant label, so every series has it. The same collector
//! is encoded either by the crate's OpenMetrics encoder (`encoding::text`) or by its classic
//! Prometheus 0.0.4 encoder (`encoding::prometheus_text`, new in 0.26). Encoding the classic
//! format natively is cleaner than rewriting the OpenMetrics text line by line: the crate knows
//! which family is a counter (the classic format names its HELP and TYPE `x_total`, OpenMetrics
//! names them `x`), writes `+Inf` buckets and `le` values the way Go clients do, escapes label
//! values the same way in both, and leaves out `# UNIT` and `# EOF`; a text rewrite would have to
//! re-derive all of that from the output and be kept in step with the crate.
//!
//! A collector rather than registered `Family`s, because a `Family` keeps its series in a hash
//! map (their order would change from scrape to scrape) and drops a family with no series from
//! the output, where an empty family such as `berth_alerts_firing` should still be documented.

use std::borrow::Cow;
use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet, prometheus_text,
    text,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};

use crate::monitor::system::SystemReading;

/// Everything /metrics shows, gathered by the daemon at the time of the scrape.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub project: String,
    /// `env!("CARGO_PKG_VERSION")`, given by the caller.
    pub version: String,
    pub services: Vec<ServiceMetrics>,
    pub stack_score: Option<u8>,
    /// The machine's last reading; `None` before the first one (the families are then empty).
    pub system: Option<SystemReading>,
    /// Port decisions since the daemon started, by (service, decision) where decision is
    /// moved|replaced|stopped|adopted|refused.
    pub port_decisions: Vec<(String, &'static str, u64)>,
    /// Firing alerts: (rule, service, severity). Empty until alerts exist; the family is still
    /// rendered (no samples) so the name is documented.
    pub alerts_firing: Vec<(String, String, String)>,
}

/// One service's numbers. `None` leaves its series out (a stopped service has no RSS, not 0).
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceMetrics {
    pub name: String,
    /// One of [`SERVICE_STATES`].
    pub state: &'static str,
    pub healthy: bool,
    pub score: Option<u8>,
    pub restarts_total: u64,
    pub cpu_seconds_total: Option<f64>,
    pub rss_bytes: Option<u64>,
    pub open_fds: Option<u64>,
    pub threads: Option<u64>,
    pub processes: Option<u64>,
    /// Unix time its main process started.
    pub start_time_seconds: Option<f64>,
    /// Start to ready, last start.
    pub ready_duration_seconds: Option<f64>,
    pub port: Option<u16>,
    pub checks: CheckHistogram,
    pub check_failures_total: u64,
}

/// Every state a service can be in: `berth_service_state` has one series for each, so that a
/// query can sum or compare them without the series appearing and vanishing.
pub const SERVICE_STATES: [&str; 8] = {
    let mut names = [""; 8];
    let mut i = 0;
    while i < names.len() {
        names[i] = crate::daemon::supervisor::ServiceState::ALL[i].name();
        i += 1;
    }
    names
};

/// Health-check durations, as a Prometheus histogram with fixed buckets (seconds): kept per
/// service by the daemon, which calls [`observe`](Self::observe) after each check.
///
/// Our own plain struct, not the crate's `Histogram`: that one is shared behind an `Arc` and
/// locks, and this must be a value the daemon can clone, compare and keep in its state.
/// It counts each observation once, in the first bucket that holds it; the encoders add them up
/// into Prometheus' cumulative buckets, and [`cumulative`](Self::cumulative) does the same.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CheckHistogram {
    /// Observations per bucket (not cumulative): `[i]` counts those in
    /// `(BOUNDS[i-1], BOUNDS[i]]`. Those above the last bound are `count` minus their sum.
    counts: [u64; CheckHistogram::BUCKETS],
    sum: f64,
    count: u64,
}

impl CheckHistogram {
    /// How many finite buckets there are (`+Inf` comes on top).
    pub const BUCKETS: usize = 14;
    /// The buckets' upper bounds, in seconds: from a local `pg_isready` (~1 ms) to an HTTP check
    /// that is about to time out.
    pub const BOUNDS: [f64; Self::BUCKETS] = [
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ];

    /// Records one check that took `seconds`.
    pub fn observe(&mut self, seconds: f64) {
        // A NaN or infinite duration can only come from a clock bug; counting it would poison
        // `_sum` for the daemon's lifetime, so it is dropped. A negative one (the clock stepped
        // back) counts as 0 to keep `_sum` monotonic, as Prometheus expects of it.
        if !seconds.is_finite() {
            return;
        }
        let seconds = seconds.max(0.0);
        // `le` is inclusive: an observation equal to a bound belongs to that bucket.
        let bucket = Self::BOUNDS.partition_point(|&bound| bound < seconds);
        if let Some(count) = self.counts.get_mut(bucket) {
            *count += 1;
        }
        self.sum += seconds;
        self.count += 1;
    }

    /// How many checks were observed (the `+Inf` bucket).
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The total of their durations, in seconds.
    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// The cumulative count of each bucket of [`BOUNDS`](Self::BOUNDS), as exposed.
    pub fn cumulative(&self) -> [u64; Self::BUCKETS] {
        let mut total = 0;
        self.counts.map(|count| {
            total += count;
            total
        })
    }

    /// The buckets as the crate's encoders take them: (upper bound, count in that bucket alone),
    /// with an explicit `+Inf` last, since the OpenMetrics encoder does not add one itself.
    fn encoder_buckets(&self) -> [(f64, u64); Self::BUCKETS + 1] {
        let mut buckets = [(f64::INFINITY, 0); Self::BUCKETS + 1];
        let mut finite = 0;
        for (slot, (&bound, &count)) in buckets
            .iter_mut()
            .zip(Self::BOUNDS.iter().zip(&self.counts))
        {
            *slot = (bound, count);
            finite += count;
        }
        buckets[Self::BUCKETS].1 = self.count - finite;
        buckets
    }
}

/// Renders the exposition; `openmetrics` picks the format (see [`content_type`]).
pub fn render(snapshot: &Snapshot, openmetrics: bool) -> String {
    let project = (
        Cow::Borrowed("project"),
        Cow::Owned(snapshot.project.clone()),
    );
    let mut registry = Registry::with_labels(std::iter::once(project));
    registry.register_collector(Box::new(Scrape(snapshot.clone())));
    // About 3 KB a service with short names (its 17 histogram lines are half of it), and 5 KB for
    // the rest: reserving that up front saves most of the String's regrowths, each of which
    // copies the whole output.
    let mut out = String::with_capacity(5120 + 3072 * snapshot.services.len());
    let written = if openmetrics {
        text::encode(&mut out, &registry)
    } else {
        prometheus_text::encode(&mut out, &registry)
    };
    // The encoders only fail when their writer does, and a String never does.
    written.expect("encoding into a String");
    out
}

/// Whether an Accept header asks for OpenMetrics.
///
/// Yes when `application/openmetrics-text` (any version) is acceptable and preferred at least as
/// much as the classic format (`text/plain`, `text/*` or `*/*`). Prometheus asks for OpenMetrics
/// first by default (2.x: `application/openmetrics-text;version=1.0.0,…,text/plain;
/// version=0.0.4;q=0.5,*/*;q=0.1`); curl's `*/*`, no header, or a scraper configured for the
/// classic format get the classic one.
pub fn wants_openmetrics(accept: Option<&str>) -> bool {
    let Some(accept) = accept else {
        return false;
    };
    let (mut openmetrics, mut classic) = (0.0_f64, 0.0_f64);
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media_type = parts.next().unwrap_or_default().trim();
        let mut quality = 1.0;
        for parameter in parts {
            if let Some((name, value)) = parameter.split_once('=')
                && name.trim().eq_ignore_ascii_case("q")
            {
                // A malformed weight makes the range unusable rather than preferred (RFC 9110
                // gives no meaning to it; ignoring it is what servers commonly do).
                quality = value
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|q| (0.0..=1.0).contains(q))
                    .unwrap_or(0.0);
            }
        }
        if media_type.eq_ignore_ascii_case("application/openmetrics-text") {
            openmetrics = openmetrics.max(quality);
        } else if ["text/plain", "text/*", "*/*"]
            .iter()
            .any(|classic_type| media_type.eq_ignore_ascii_case(classic_type))
        {
            classic = classic.max(quality);
        }
    }
    // On a tie the scraper named OpenMetrics outright, so it gets it.
    openmetrics > 0.0 && openmetrics >= classic
}

/// The Content-Type of each format.
pub fn content_type(openmetrics: bool) -> &'static str {
    if openmetrics {
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    } else {
        prometheus_text::CONTENT_TYPE
    }
}

/// What the registry's collector encodes: an owned copy of the snapshot, because a `Collector`
/// must be `'static` (the registry boxes it) while `render` only borrows the snapshot. For 200
/// services the copy takes about 10 µs, against about 0.7 ms for the encoding.
#[derive(Debug)]
struct Scrape(Snapshot);

// Units are given to the encoders rather than spelled in the names: both formats append them to
// the name, and OpenMetrics also declares them in a `# UNIT` line.
static SECONDS: Unit = Unit::Seconds;
static BYTES: Unit = Unit::Bytes;

const GAUGE: MetricType = MetricType::Gauge;
const COUNTER: MetricType = MetricType::Counter;

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let snapshot = &self.0;
        encode_services(&mut encoder, &snapshot.services)?;
        encode_stack(&mut encoder, snapshot)?;
        encode_system(&mut encoder, snapshot.system.as_ref())?;
        let mut build = encoder.encode_descriptor(
            "berth_build_info",
            "Always 1; the version label is the berth daemon's",
            None,
            GAUGE,
        )?;
        sample(
            &mut build,
            GAUGE,
            &[("version", snapshot.version.as_str())],
            1_u64,
        )
    }
}

fn encode_services(encoder: &mut DescriptorEncoder, services: &[ServiceMetrics]) -> fmt::Result {
    per_service(
        encoder,
        (
            "berth_service_up",
            "1 when the service is running",
            None,
            GAUGE,
        ),
        services,
        |s| Some(s.state == "running"),
    )?;
    per_service(
        encoder,
        (
            "berth_service_healthy",
            "1 when the service is running and healthy",
            None,
            GAUGE,
        ),
        services,
        // Healthy is only meaningful while running: a stopped service's last check result
        // must not show as healthy.
        |s| Some(s.state == "running" && s.healthy),
    )?;

    let mut state = encoder.encode_descriptor(
        "berth_service_state",
        "1 for the service's current state label, 0 for the others",
        None,
        GAUGE,
    )?;
    for service in services {
        for name in SERVICE_STATES {
            let labels = [("service", service.name.as_str()), ("state", name)];
            sample(&mut state, GAUGE, &labels, service.state == name)?;
        }
    }

    per_service(
        encoder,
        (
            "berth_service_health_score",
            "The service's health score, 0 to 100",
            None,
            GAUGE,
        ),
        services,
        |s| s.score,
    )?;
    per_service(
        encoder,
        (
            "berth_service_restarts",
            "Restarts since the daemon started supervising the service",
            None,
            COUNTER,
        ),
        services,
        |s| Some(s.restarts_total),
    )?;
    per_service(
        encoder,
        (
            "berth_service_cpu",
            "CPU time of the service's process tree",
            Some(&SECONDS),
            COUNTER,
        ),
        services,
        |s| s.cpu_seconds_total,
    )?;
    per_service(
        encoder,
        (
            "berth_service_memory_rss",
            "Resident memory of the service's process tree",
            Some(&BYTES),
            GAUGE,
        ),
        services,
        |s| s.rss_bytes,
    )?;
    per_service(
        encoder,
        (
            "berth_service_open_fds",
            "Open file descriptors of the service's process tree",
            None,
            GAUGE,
        ),
        services,
        |s| s.open_fds,
    )?;
    per_service(
        encoder,
        (
            "berth_service_threads",
            "Threads of the service's process tree",
            None,
            GAUGE,
        ),
        services,
        |s| s.threads,
    )?;
    per_service(
        encoder,
        (
            "berth_service_processes",
            "Processes in the service's process tree",
            None,
            GAUGE,
        ),
        services,
        |s| s.processes,
    )?;
    per_service(
        encoder,
        (
            "berth_service_start_time",
            "Unix time the service's main process started",
            Some(&SECONDS),
            GAUGE,
        ),
        services,
        |s| s.start_time_seconds,
    )?;
    per_service(
        encoder,
        (
            "berth_service_ready_duration",
            "Time from start to ready, at the service's last start",
            Some(&SECONDS),
            GAUGE,
        ),
        services,
        |s| s.ready_duration_seconds,
    )?;
    per_service(
        encoder,
        (
            "berth_service_port",
            "The port the service uses",
            None,
            GAUGE,
        ),
        services,
        |s| s.port,
    )?;

    let mut checks = encoder.encode_descriptor(
        "berth_health_check_duration",
        "Durations of the service's health checks",
        Some(&SECONDS),
        MetricType::Histogram,
    )?;
    for service in services {
        let labels = [("service", service.name.as_str())];
        let histogram = &service.checks;
        checks
            .encode_family(&labels)?
            .encode_histogram::<NoLabelSet>(
                histogram.sum,
                histogram.count,
                &histogram.encoder_buckets(),
                None,
            )?;
    }

    per_service(
        encoder,
        (
            "berth_health_check_failures",
            "Failed health checks of the service",
            None,
            COUNTER,
        ),
        services,
        |s| Some(s.check_failures_total),
    )
}

fn encode_stack(encoder: &mut DescriptorEncoder, snapshot: &Snapshot) -> fmt::Result {
    let mut decisions = encoder.encode_descriptor(
        "berth_port_decisions",
        "Port decisions since the daemon started, by decision: moved, replaced, stopped, \
             adopted or refused",
        None,
        COUNTER,
    )?;
    for (service, decision, count) in &snapshot.port_decisions {
        let labels = [("service", service.as_str()), ("decision", *decision)];
        sample(&mut decisions, COUNTER, &labels, *count)?;
    }

    let mut alerts = encoder.encode_descriptor(
        "berth_alerts_firing",
        "1 for each alert firing, by rule, service and severity",
        None,
        GAUGE,
    )?;
    for (rule, service, severity) in &snapshot.alerts_firing {
        let labels = [
            ("rule", rule.as_str()),
            ("service", service.as_str()),
            ("severity", severity.as_str()),
        ];
        sample(&mut alerts, GAUGE, &labels, 1_u64)?;
    }

    single(
        encoder,
        (
            "berth_stack_health_score",
            "The stack's health score, 0 to 100",
            None,
            GAUGE,
        ),
        snapshot.stack_score,
    )
}

/// The machine's families are written even before the first reading, with no samples, so
/// that the set of names does not depend on timing.
fn encode_system(encoder: &mut DescriptorEncoder, machine: Option<&SystemReading>) -> fmt::Result {
    single(
        encoder,
        (
            "berth_system_cpu_usage_ratio",
            "CPU in use on the whole machine, 0 to 1",
            None,
            GAUGE,
        ),
        // The reading is 0–100 of the whole machine; Prometheus' convention is a 0–1 ratio.
        machine
            .and_then(|m| m.cpu_percent)
            .map(|percent| percent / 100.0),
    )?;
    single(
        encoder,
        (
            "berth_system_cpu_cores",
            "CPU cores of the machine (to read the load averages against)",
            None,
            GAUGE,
        ),
        machine.map(|m| m.cores),
    )?;
    let loads = [
        ("berth_system_load1", "Load average over 1 minute"),
        ("berth_system_load5", "Load average over 5 minutes"),
        ("berth_system_load15", "Load average over 15 minutes"),
    ];
    for (index, (name, help)) in loads.into_iter().enumerate() {
        single(
            encoder,
            (name, help, None, GAUGE),
            machine.map(|m| m.load[index]),
        )?;
    }
    single(
        encoder,
        (
            "berth_system_memory_total",
            "Memory of the machine",
            Some(&BYTES),
            GAUGE,
        ),
        machine.map(|m| m.memory_total_bytes),
    )?;
    single(
        encoder,
        (
            "berth_system_memory_available",
            "Memory available for new work without swapping (MemAvailable)",
            Some(&BYTES),
            GAUGE,
        ),
        machine.map(|m| m.memory_available_bytes),
    )?;
    single(
        encoder,
        ("berth_system_swap_used", "Swap in use", Some(&BYTES), GAUGE),
        machine.map(|m| m.swap_used_bytes),
    )?;

    let disks = machine.map_or(&[][..], |m| &m.disks[..]);
    // A path that is not UTF-8 is shown with U+FFFD in place of its odd bytes: label values
    // must be UTF-8.
    let mut used = encoder.encode_descriptor(
        "berth_system_disk_used",
        "Space used on the filesystem holding the path",
        Some(&BYTES),
        GAUGE,
    )?;
    for disk in disks {
        let path = disk.path.to_string_lossy();
        sample(&mut used, GAUGE, &[("path", &*path)], disk.used_bytes)?;
    }
    let mut total = encoder.encode_descriptor(
        "berth_system_disk_total",
        "Size of the filesystem holding the path",
        Some(&BYTES),
        GAUGE,
    )?;
    for disk in disks {
        let path = disk.path.to_string_lossy();
        sample(&mut total, GAUGE, &[("path", &*path)], disk.total_bytes)?;
    }

    single(
        encoder,
        (
            "berth_system_network_receive",
            "Bytes received on the machine's network interfaces, loopback excluded",
            Some(&BYTES),
            COUNTER,
        ),
        machine.map(|m| m.net_rx_bytes),
    )?;
    single(
        encoder,
        (
            "berth_system_network_transmit",
            "Bytes sent on the machine's network interfaces, loopback excluded",
            Some(&BYTES),
            COUNTER,
        ),
        machine.map(|m| m.net_tx_bytes),
    )
}

/// A family's descriptor: the name without its unit or `_total` (the encoders add them), the
/// HELP text, the unit and the type.
type Descriptor<'a> = (&'a str, &'a str, Option<&'a Unit>, MetricType);

/// A sample's value: the crate's const metrics take integers and floats alike, and integers are
/// written without a fraction.
#[derive(Clone, Copy, Debug)]
enum Value {
    Int(u64),
    Float(f64),
}

impl From<bool> for Value {
    fn from(value: bool) -> Self {
        Value::Int(value.into())
    }
}

impl From<u8> for Value {
    fn from(value: u8) -> Self {
        Value::Int(value.into())
    }
}

impl From<u16> for Value {
    fn from(value: u16) -> Self {
        Value::Int(value.into())
    }
}

impl From<u32> for Value {
    fn from(value: u32) -> Self {
        Value::Int(value.into())
    }
}

impl From<u64> for Value {
    fn from(value: u64) -> Self {
        Value::Int(value)
    }
}

impl From<f64> for Value {
    fn from(value: f64) -> Self {
        Value::Float(value)
    }
}

/// Writes one sample of `metric` with `labels` (after the registry's `project`).
fn sample(
    metric: &mut MetricEncoder,
    metric_type: MetricType,
    labels: &impl EncodeLabelSet,
    value: impl Into<Value>,
) -> fmt::Result {
    let encoder = metric.encode_family(labels)?;
    match (metric_type, value.into()) {
        (MetricType::Counter, Value::Int(v)) => ConstCounter::new(v).encode(encoder),
        (MetricType::Counter, Value::Float(v)) => ConstCounter::new(v).encode(encoder),
        (_, Value::Int(v)) => ConstGauge::new(v).encode(encoder),
        (_, Value::Float(v)) => ConstGauge::new(v).encode(encoder),
    }
}

/// A family with a series per service that has a value.
fn per_service<V: Into<Value>>(
    encoder: &mut DescriptorEncoder,
    (name, help, unit, metric_type): Descriptor<'_>,
    services: &[ServiceMetrics],
    value: impl Fn(&ServiceMetrics) -> Option<V>,
) -> fmt::Result {
    let mut metric = encoder.encode_descriptor(name, help, unit, metric_type)?;
    for service in services {
        if let Some(value) = value(service) {
            sample(
                &mut metric,
                metric_type,
                &[("service", service.name.as_str())],
                value,
            )?;
        }
    }
    Ok(())
}

/// A family with at most one series, labelled with the project alone.
fn single<V: Into<Value>>(
    encoder: &mut DescriptorEncoder,
    (name, help, unit, metric_type): Descriptor<'_>,
    value: Option<V>,
) -> fmt::Result {
    let mut metric = encoder.encode_descriptor(name, help, unit, metric_type)?;
    match value {
        Some(value) => sample(&mut metric, metric_type, &NO_LABELS, value),
        None => Ok(()),
    }
}

const NO_LABELS: [(&str, &str); 0] = [];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::system::DiskReading;
    use std::io::Write as _;
    use std::path::PathBuf;
    use std::process::{Command, Stdio};

    fn running(name: &str) -> ServiceMetrics {
        let mut checks = CheckHistogram::default();
        // Powers of two, so that the sum is exact and can be compared as text.
        for seconds in [0.001953125, 0.00390625, 0.015625, 12.0] {
            checks.observe(seconds);
        }
        ServiceMetrics {
            name: name.to_string(),
            state: "running",
            healthy: true,
            score: Some(97),
            restarts_total: 2,
            cpu_seconds_total: Some(12.5),
            rss_bytes: Some(41_943_040),
            open_fds: Some(23),
            threads: Some(9),
            processes: Some(2),
            start_time_seconds: Some(1_764_583_200.5),
            ready_duration_seconds: Some(0.42),
            port: Some(8000),
            checks,
            check_failures_total: 1,
        }
    }

    fn stopped(name: &str) -> ServiceMetrics {
        ServiceMetrics {
            name: name.to_string(),
            state: "stopped",
            healthy: false,
            score: None,
            restarts_total: 0,
            cpu_seconds_total: None,
            rss_bytes: None,
            open_fds: None,
            threads: None,
            processes: None,
            start_time_seconds: None,
            ready_duration_seconds: None,
            port: None,
            checks: CheckHistogram::default(),
            check_failures_total: 0,
        }
    }

    fn reading() -> SystemReading {
        SystemReading {
            at_ms: 1_764_583_260_000,
            cpu_percent: Some(42.5),
            cores: 8,
            load: [1.5, 0.75, 0.25],
            memory_total_bytes: 17_179_869_184,
            memory_available_bytes: 8_589_934_592,
            swap_used_bytes: 0,
            disks: vec![DiskReading {
                path: PathBuf::from("/"),
                used_bytes: 40_000_000_000,
                total_bytes: 100_000_000_000,
            }],
            net_rx_bytes: 123_456,
            net_tx_bytes: 654_321,
        }
    }

    fn two_services() -> Snapshot {
        Snapshot {
            project: "shop".to_string(),
            version: "0.1.0".to_string(),
            services: vec![running("api"), stopped("db")],
            stack_score: Some(88),
            system: Some(reading()),
            port_decisions: vec![("api".to_string(), "moved", 1)],
            alerts_firing: Vec::new(),
        }
    }

    fn many_services(count: usize) -> Snapshot {
        let services = (0..count)
            .map(|i| {
                let mut service = if i % 4 == 3 {
                    stopped(&format!("worker-{i}"))
                } else {
                    running(&format!("svc_{i}"))
                };
                if i % 7 == 0 {
                    service.state = SERVICE_STATES[i % SERVICE_STATES.len()];
                }
                service
            })
            .collect();
        let decisions = ["moved", "replaced", "stopped", "adopted", "refused"];
        Snapshot {
            project: "big".to_string(),
            version: "0.1.0".to_string(),
            services,
            stack_score: Some(71),
            system: Some(reading()),
            port_decisions: (0..count)
                .step_by(10)
                .map(|i| (format!("svc_{i}"), decisions[i % decisions.len()], i as u64))
                .collect(),
            alerts_firing: vec![(
                "high_memory".to_string(),
                "svc_1".to_string(),
                "warning".to_string(),
            )],
        }
    }

    fn assert_has_lines(output: &str, expected: &[&str]) {
        let lines: Vec<&str> = output.lines().collect();
        let missing: Vec<&&str> = expected
            .iter()
            .filter(|line| !lines.contains(line))
            .collect();
        assert!(
            missing.is_empty(),
            "missing lines {missing:#?} in:\n{output}"
        );
    }

    #[test]
    fn classic_exposition_of_a_running_and_a_stopped_service() {
        let output = render(&two_services(), false);
        assert_has_lines(
            &output,
            &[
                "# HELP berth_service_up 1 when the service is running",
                "# TYPE berth_service_up gauge",
                r#"berth_service_up{project="shop",service="api"} 1"#,
                r#"berth_service_up{project="shop",service="db"} 0"#,
                r#"berth_service_healthy{project="shop",service="api"} 1"#,
                r#"berth_service_healthy{project="shop",service="db"} 0"#,
                r#"berth_service_state{project="shop",service="api",state="running"} 1"#,
                r#"berth_service_state{project="shop",service="api",state="stopped"} 0"#,
                r#"berth_service_state{project="shop",service="db",state="stopped"} 1"#,
                r#"berth_service_state{project="shop",service="db",state="failed"} 0"#,
                r#"berth_service_health_score{project="shop",service="api"} 97"#,
                "# HELP berth_service_restarts_total \
                 Restarts since the daemon started supervising the service",
                "# TYPE berth_service_restarts_total counter",
                r#"berth_service_restarts_total{project="shop",service="api"} 2"#,
                r#"berth_service_restarts_total{project="shop",service="db"} 0"#,
                "# TYPE berth_service_cpu_seconds_total counter",
                r#"berth_service_cpu_seconds_total{project="shop",service="api"} 12.5"#,
                "# TYPE berth_service_memory_rss_bytes gauge",
                r#"berth_service_memory_rss_bytes{project="shop",service="api"} 41943040"#,
                r#"berth_service_open_fds{project="shop",service="api"} 23"#,
                r#"berth_service_threads{project="shop",service="api"} 9"#,
                r#"berth_service_processes{project="shop",service="api"} 2"#,
                r#"berth_service_start_time_seconds{project="shop",service="api"} 1764583200.5"#,
                r#"berth_service_ready_duration_seconds{project="shop",service="api"} 0.42"#,
                r#"berth_service_port{project="shop",service="api"} 8000"#,
                "# TYPE berth_health_check_duration_seconds histogram",
                r#"berth_health_check_duration_seconds_bucket{project="shop",service="api",le="0.0005"} 0"#,
                r#"berth_health_check_duration_seconds_bucket{project="shop",service="api",le="0.001"} 0"#,
                r#"berth_health_check_duration_seconds_bucket{project="shop",service="api",le="0.0025"} 1"#,
                r#"berth_health_check_duration_seconds_bucket{project="shop",service="api",le="0.005"} 2"#,
                r#"berth_health_check_duration_seconds_bucket{project="shop",service="api",le="0.025"} 3"#,
                r#"berth_health_check_duration_seconds_bucket{project="shop",service="api",le="10"} 3"#,
                r#"berth_health_check_duration_seconds_bucket{project="shop",service="api",le="+Inf"} 4"#,
                r#"berth_health_check_duration_seconds_sum{project="shop",service="api"} 12.021484375"#,
                r#"berth_health_check_duration_seconds_count{project="shop",service="api"} 4"#,
                r#"berth_health_check_duration_seconds_bucket{project="shop",service="db",le="+Inf"} 0"#,
                r#"berth_health_check_duration_seconds_count{project="shop",service="db"} 0"#,
                "# TYPE berth_health_check_failures_total counter",
                r#"berth_health_check_failures_total{project="shop",service="api"} 1"#,
                r#"berth_health_check_failures_total{project="shop",service="db"} 0"#,
                "# TYPE berth_port_decisions_total counter",
                r#"berth_port_decisions_total{project="shop",service="api",decision="moved"} 1"#,
                "# HELP berth_alerts_firing 1 for each alert firing, by rule, service and severity",
                "# TYPE berth_alerts_firing gauge",
                r#"berth_stack_health_score{project="shop"} 88"#,
                r#"berth_system_cpu_usage_ratio{project="shop"} 0.425"#,
                r#"berth_system_cpu_cores{project="shop"} 8"#,
                r#"berth_system_load1{project="shop"} 1.5"#,
                r#"berth_system_load5{project="shop"} 0.75"#,
                r#"berth_system_load15{project="shop"} 0.25"#,
                r#"berth_system_memory_total_bytes{project="shop"} 17179869184"#,
                r#"berth_system_memory_available_bytes{project="shop"} 8589934592"#,
                r#"berth_system_swap_used_bytes{project="shop"} 0"#,
                r#"berth_system_disk_used_bytes{project="shop",path="/"} 40000000000"#,
                r#"berth_system_disk_total_bytes{project="shop",path="/"} 100000000000"#,
                "# TYPE berth_system_network_receive_bytes_total counter",
                r#"berth_system_network_receive_bytes_total{project="shop"} 123456"#,
                r#"berth_system_network_transmit_bytes_total{project="shop"} 654321"#,
                r#"berth_build_info{project="shop",version="0.1.0"} 1"#,
            ],
        );

        // The stopped service has no series where it has no value, and 8 state series.
        for family in [
            "berth_service_health_score",
            "berth_service_cpu_seconds_total",
            "berth_service_memory_rss_bytes",
            "berth_service_open_fds",
            "berth_service_threads",
            "berth_service_processes",
            "berth_service_start_time_seconds",
            "berth_service_ready_duration_seconds",
            "berth_service_port",
        ] {
            let db = format!(r#"{family}{{project="shop",service="db"}}"#);
            assert!(!output.contains(&db), "{db} should be absent:\n{output}");
        }
        let db_states = output
            .lines()
            .filter(|l| l.starts_with(r#"berth_service_state{project="shop",service="db","#))
            .count();
        assert_eq!(db_states, SERVICE_STATES.len());
        // No firing alert: the family is documented but has no sample.
        assert!(!output.lines().any(|l| l.starts_with("berth_alerts_firing")));

        // Classic, not OpenMetrics; every sample has the project label, every family HELP.
        assert!(!output.contains("# EOF") && !output.contains("# UNIT"));
        assert!(!output.contains("_created"));
        for line in output.lines().filter(|l| !l.starts_with('#')) {
            assert!(line.contains(r#"{project="shop""#), "{line}");
        }
        let helps = output.lines().filter(|l| l.starts_with("# HELP ")).count();
        let types = output.lines().filter(|l| l.starts_with("# TYPE ")).count();
        assert_eq!(helps, types);
        assert_eq!(types, 31, "one HELP and TYPE per family:\n{output}");
    }

    #[test]
    fn openmetrics_exposition() {
        let output = render(&two_services(), true);
        assert!(output.ends_with("# EOF\n"), "{output}");
        assert_has_lines(
            &output,
            &[
                "# TYPE berth_service_restarts counter",
                r#"berth_service_restarts_total{project="shop",service="api"} 2"#,
                "# TYPE berth_service_cpu_seconds counter",
                "# UNIT berth_service_cpu_seconds seconds",
                r#"berth_service_cpu_seconds_total{project="shop",service="api"} 12.5"#,
                "# TYPE berth_health_check_duration_seconds histogram",
                "# UNIT berth_health_check_duration_seconds seconds",
                // This encoder puts `le` before the family's labels; label order has no meaning.
                r#"berth_health_check_duration_seconds_bucket{project="shop",le="+Inf",service="api"} 4"#,
                r#"berth_health_check_duration_seconds_count{project="shop",service="api"} 4"#,
                "# TYPE berth_alerts_firing gauge",
                r#"berth_build_info{project="shop",version="0.1.0"} 1"#,
            ],
        );
    }

    #[test]
    fn before_the_first_system_reading_its_families_are_empty() {
        let mut snapshot = two_services();
        snapshot.system = None;
        snapshot.stack_score = None;
        let output = render(&snapshot, false);
        assert_has_lines(
            &output,
            &[
                "# TYPE berth_system_cpu_usage_ratio gauge",
                "# TYPE berth_system_disk_used_bytes gauge",
                "# TYPE berth_system_network_receive_bytes_total counter",
                "# TYPE berth_stack_health_score gauge",
            ],
        );
        let samples = output
            .lines()
            .filter(|l| l.starts_with("berth_system_") || l.starts_with("berth_stack_"))
            .count();
        assert_eq!(samples, 0, "{output}");
    }

    #[test]
    fn label_values_are_escaped() {
        let mut snapshot = two_services();
        snapshot.project = "my \"shop\"".to_string();
        snapshot.services = vec![stopped("back\\slash \"quoted\"\nnewline")];
        let mut reading = reading();
        reading.disks[0].path = PathBuf::from("/mnt/a \"b\"\\c");
        snapshot.system = Some(reading);
        snapshot.alerts_firing = vec![(
            "rule \"x\"".to_string(),
            "a\\b".to_string(),
            "critical".to_string(),
        )];
        for openmetrics in [false, true] {
            let output = render(&snapshot, openmetrics);
            assert_has_lines(
                &output,
                &[
                    r#"berth_service_up{project="my \"shop\"",service="back\\slash \"quoted\"\nnewline"} 0"#,
                    r#"berth_system_disk_total_bytes{project="my \"shop\"",path="/mnt/a \"b\"\\c"} 100000000000"#,
                    r#"berth_alerts_firing{project="my \"shop\"",rule="rule \"x\"",service="a\\b",severity="critical"} 1"#,
                ],
            );
        }
    }

    #[test]
    fn accept_negotiation() {
        let prometheus_2 = "application/openmetrics-text;version=1.0.0,\
                            application/openmetrics-text;version=0.0.1;q=0.75,\
                            text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        let prometheus_3 = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,\
                            application/openmetrics-text;version=0.0.1;q=0.5,\
                            text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,\
                            text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
        let prometheus_classic_only = "text/plain;version=0.0.4;q=1,*/*;q=0.1";
        for (accept, openmetrics) in [
            (None, false),
            (Some(""), false),
            (Some("*/*"), false),
            (Some("text/plain"), false),
            (Some(prometheus_2), true),
            (Some(prometheus_3), true),
            (Some(prometheus_classic_only), false),
            (Some("application/openmetrics-text"), true),
            (Some("Application/OpenMetrics-Text; Version=1.0.0"), true),
            (Some("application/openmetrics-text; q=0"), false),
            (
                Some("application/openmetrics-text;q=0.3, text/plain;q=0.9"),
                false,
            ),
            (
                Some("text/plain;q=0.3, application/openmetrics-text;q=0.9"),
                true,
            ),
            (Some("application/openmetrics-text, */*"), true),
            (Some("application/openmetrics-text;q=oops"), false),
            (Some("application/json"), false),
        ] {
            assert_eq!(wants_openmetrics(accept), openmetrics, "{accept:?}");
        }
        assert_eq!(
            content_type(false),
            "text/plain; version=0.0.4; charset=utf-8"
        );
        assert!(content_type(true).starts_with("application/openmetrics-text; version=1.0.0"));
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_inf_is_the_count() {
        let mut histogram = CheckHistogram::default();
        for seconds in [0.0001, 0.001, 0.0011, 0.3, 0.3, 7.0, 60.0, -1.0] {
            histogram.observe(seconds);
        }
        // Not observations: they would poison the sum.
        histogram.observe(f64::NAN);
        histogram.observe(f64::INFINITY);
        assert_eq!(histogram.count(), 8);
        assert!(
            (histogram.sum() - 67.6022).abs() < 1e-9,
            "{}",
            histogram.sum()
        );
        // Bounds are inclusive: 0.001 is in le="0.001"; -1 counts as 0; 60 only in +Inf.
        assert_eq!(
            histogram.cumulative(),
            [2, 3, 4, 4, 4, 4, 4, 4, 4, 6, 6, 6, 6, 7]
        );

        let mut snapshot = two_services();
        snapshot.services[0].checks = histogram.clone();
        for openmetrics in [false, true] {
            let output = render(&snapshot, openmetrics);
            // (le, count) of api's buckets, in the order written; the two encoders place `le`
            // differently among the labels.
            let buckets: Vec<(&str, u64)> = output
                .lines()
                .filter(|line| line.starts_with("berth_health_check_duration_seconds_bucket{"))
                .filter(|line| line.contains(r#"service="api""#))
                .map(|line| {
                    let le = line
                        .split(r#"le=""#)
                        .nth(1)
                        .unwrap()
                        .split('"')
                        .next()
                        .unwrap();
                    (le, line.rsplit(' ').next().unwrap().parse().unwrap())
                })
                .collect();
            assert_eq!(buckets.len(), CheckHistogram::BUCKETS + 1, "{output}");
            let counts: Vec<u64> = buckets.iter().map(|&(_, count)| count).collect();
            assert_eq!(&counts[..CheckHistogram::BUCKETS], histogram.cumulative());
            assert!(
                counts.windows(2).all(|pair| pair[0] <= pair[1]),
                "{counts:?}"
            );
            assert_eq!(buckets.last(), Some(&("+Inf", histogram.count())));
            let count = format!(
                r#"berth_health_check_duration_seconds_count{{project="shop",service="api"}} {}"#,
                histogram.count()
            );
            assert!(output.lines().any(|line| line == count), "{output}");
        }
    }

    /// `promtool check metrics` on stdin, or `None` when promtool is not installed.
    fn promtool_check(exposition: &str) -> Option<(bool, String)> {
        let mut child = match Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        {
            Ok(child) => child,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return None,
            Err(error) => panic!("running promtool: {error}"),
        };
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(exposition.as_bytes()).unwrap();
        drop(stdin);
        let output = child.wait_with_output().unwrap();
        let said = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        Some((output.status.success(), said))
    }

    #[test]
    fn promtool_finds_the_classic_exposition_clean() {
        let mut escaped = two_services();
        escaped.services.push(stopped("we\"ird\\name\nhere"));
        escaped.alerts_firing = vec![("down".into(), "db".into(), "critical".into())];
        let mut before_reading = two_services();
        before_reading.system = None;
        for (what, snapshot) in [
            ("2 services", two_services()),
            ("200 services", many_services(200)),
            ("escaped labels", escaped),
            ("no system reading", before_reading),
        ] {
            let exposition = render(&snapshot, false);
            match promtool_check(&exposition) {
                Some((clean, said)) => {
                    assert!(
                        clean && said.trim().is_empty(),
                        "{what}: promtool says:\n{said}"
                    )
                }
                None if std::env::var_os("CI").is_some() => {
                    panic!("promtool is not on PATH, and CI must run this check")
                }
                None => {
                    eprintln!("skipped: promtool is not on PATH (apt-get install prometheus)");
                    return;
                }
            }
        }
    }
}
