//! The reading side: events, `stats` over a window, and one series for charts. Opens the
//! database read-only, so `stats` and `events` work with the daemon down and never disturb
//! its writer. A window's complete minutes are read from the rollups and only its ragged
//! edges from the raw rows, so a day of 20 services is a few thousand rows, not 345,600.

use super::EventRecord;
use super::quantile::Histogram;
use crate::api::monitoring::{DiskStats, EventView, ServiceStats, SystemStats};
use crate::logs::time::rfc3339_ms;
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params_from_iter};
use std::collections::HashMap;
use std::path::Path;

/// Opens the history of `state_dir` for reading; `Ok(None)` when there is none yet.
pub fn open(state_dir: &Path) -> Result<Option<Connection>, String> {
    let path = super::path(state_dir);
    if !path.exists() {
        return Ok(None);
    }
    let conn = Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    super::schema::configure(&conn, std::time::Duration::from_secs(2))
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if version == 0 {
        // Created but not set up yet (the daemon is opening it right now).
        return Ok(None);
    }
    if version > super::schema::VERSION {
        return Err(format!(
            "{} was written by a newer berth (schema {version}); upgrade berth to read it",
            path.display()
        ));
    }
    Ok(Some(conn))
}

/// Which events to read.
#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    pub since_ms: Option<u64>,
    pub services: Vec<String>,
    pub kinds: Vec<String>,
    /// Only events after this one (for following).
    pub after_id: Option<i64>,
    /// The newest this many (still returned oldest first).
    pub last: Option<usize>,
}

/// An event with its place in the log.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredEvent {
    pub id: i64,
    pub record: EventRecord,
}

impl StoredEvent {
    pub fn view(&self) -> EventView {
        EventView {
            time: rfc3339_ms(self.record.at_ms),
            service: self.record.service.clone(),
            kind: self.record.kind.clone(),
            message: self.record.message.clone(),
            data: self.record.data.clone(),
        }
    }
}

/// `?1, ?2, …` for an `IN (…)` list starting at placeholder `first`.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn events(conn: &Connection, filter: &EventFilter) -> rusqlite::Result<Vec<StoredEvent>> {
    let mut clauses = Vec::new();
    let mut args: Vec<Value> = Vec::new();
    if let Some(since) = filter.since_ms {
        args.push(Value::Integer(since as i64));
        clauses.push(format!("t >= ?{}", args.len()));
    }
    if let Some(after) = filter.after_id {
        args.push(Value::Integer(after));
        clauses.push(format!("id > ?{}", args.len()));
    }
    if !filter.services.is_empty() {
        clauses.push(format!(
            "service IN ({})",
            placeholders(args.len() + 1, filter.services.len())
        ));
        args.extend(filter.services.iter().cloned().map(Value::Text));
    }
    if !filter.kinds.is_empty() {
        clauses.push(format!(
            "kind IN ({})",
            placeholders(args.len() + 1, filter.kinds.len())
        ));
        args.extend(filter.kinds.iter().cloned().map(Value::Text));
    }
    let filter_sql = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    let limit = filter
        .last
        .map(|n| format!("LIMIT {}", n.min(i64::MAX as usize)))
        .unwrap_or_default();
    // The newest N, put back in order.
    let sql = format!(
        "SELECT id, t, service, kind, message, data FROM
           (SELECT * FROM events {filter_sql} ORDER BY id DESC {limit}) ORDER BY id"
    );
    let mut statement = conn.prepare(&sql)?;
    let rows = statement.query_map(params_from_iter(args), |r| {
        let data: Option<String> = r.get(5)?;
        Ok(StoredEvent {
            id: r.get(0)?,
            record: EventRecord {
                at_ms: r.get::<_, i64>(1)?.max(0) as u64,
                service: r.get(2)?,
                kind: r.get(3)?,
                message: r.get(4)?,
                data: data
                    .and_then(|d| serde_json::from_str(&d).ok())
                    .unwrap_or(serde_json::Value::Null),
            },
        })
    })?;
    rows.collect()
}

/// A number the writer keeps in `meta`, 0 when it is not there: `rolled_until` (the minutes
/// before it are rolled up), `hours_until` (the hours before it are, into hourly rows; not
/// there in a database of schema 1).
fn meta_number(conn: &Connection, key: &str) -> rusqlite::Result<i64> {
    let value: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()?;
    Ok(value.and_then(|v| v.parse().ok()).unwrap_or(0))
}

fn rolled_until(conn: &Connection) -> rusqlite::Result<i64> {
    meta_number(conn, "rolled_until")
}

/// The whole hours of a window's rollup minutes that the hourly rows answer (`h_from..h_to`),
/// and the minutes left on either side (`[m_from, a)` and `[b, m_to)`): a day is then 24 rows
/// and two ragged hours, not 1,440 rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Hours {
    h_from: i64,
    h_to: i64,
    a: i64,
    b: i64,
}

impl Hours {
    fn of(w: &Window, hours_until: i64) -> Hours {
        let h_from = (w.m_from + 59).div_euclid(60);
        let h_to = w.m_to.div_euclid(60).min(hours_until).max(h_from);
        let (a, b) = match h_to > h_from {
            true => (h_from * 60, h_to * 60),
            false => (w.m_to, w.m_to),
        };
        Hours { h_from, h_to, a, b }
    }

    fn any(&self) -> bool {
        self.h_to > self.h_from
    }
}

/// A window split into what the rollups answer (`m_from..m_to`, whole minutes) and the raw
/// rows around it (`[since_s, m_from*60)` and `[m_to*60, until_s)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub since_ms: u64,
    pub until_ms: u64,
    pub m_from: i64,
    pub m_to: i64,
}

impl Window {
    pub fn new(since_ms: u64, until_ms: u64, rolled_until: i64) -> Window {
        let m_from = since_ms.div_ceil(60_000) as i64;
        let m_to = ((until_ms / 60_000) as i64).min(rolled_until).max(m_from);
        Window {
            since_ms,
            until_ms,
            m_from,
            m_to,
        }
    }

    /// The raw-row condition on a column `t` in seconds (`ms`: in milliseconds).
    fn raw(&self, ms: bool) -> (String, [i64; 4]) {
        let k = if ms { 1 } else { 1000 };
        (
            "((t >= ?1 AND t < ?2) OR (t >= ?3 AND t < ?4))".to_string(),
            [
                (self.since_ms / k) as i64,
                self.m_from * 60_000 / k as i64,
                self.m_to * 60_000 / k as i64,
                self.until_ms.div_ceil(k) as i64,
            ],
        )
    }
}

#[derive(Default)]
struct Acc {
    n: i64,
    healthy: i64,
    cpu_sum: i64,
    cpu_max: Option<i64>,
    rss_sum: i64,
    rss_max: Option<i64>,
    checks_failed: i64,
    hist: Histogram,
}

impl Acc {
    /// Adds a row of `sum(n), sum(healthy), sum(cpu), max(cpu), sum(rss), max(rss)`.
    fn add_sums(&mut self, r: &rusqlite::Row) -> rusqlite::Result<()> {
        let sum =
            |i: usize| -> rusqlite::Result<i64> { Ok(r.get::<_, Option<i64>>(i)?.unwrap_or(0)) };
        let max = |have: Option<i64>, i: usize| -> rusqlite::Result<Option<i64>> {
            let new: Option<i64> = r.get(i)?;
            Ok(match (have, new) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            })
        };
        self.n += sum(0)?;
        self.healthy += sum(1)?;
        self.cpu_sum += sum(2)?;
        self.cpu_max = max(self.cpu_max, 3)?;
        self.rss_sum += sum(4)?;
        self.rss_max = max(self.rss_max, 5)?;
        Ok(())
    }

    /// Adds rows of `checks_failed, check_hist`.
    fn add_checks(&mut self, mut rows: rusqlite::Rows) -> rusqlite::Result<()> {
        while let Some(r) = rows.next()? {
            self.checks_failed += r.get::<_, i64>(0)?;
            if let Some(blob) = r.get::<_, Option<Vec<u8>>>(1)? {
                self.hist.merge(&Histogram::decode(&blob));
            }
        }
        Ok(())
    }
}

/// `berth stats`: each of `services` over `[since_ms, until_ms)`, and the machine.
pub fn stats(
    conn: &Connection,
    since_ms: u64,
    until_ms: u64,
    services: &[String],
) -> rusqlite::Result<(Vec<ServiceStats>, SystemStats)> {
    let w = Window::new(since_ms, until_ms, rolled_until(conn)?);
    let hours = Hours::of(&w, meta_number(conn, "hours_until")?);
    let names: HashMap<i64, String> = {
        let mut s = conn.prepare("SELECT id, name FROM names WHERE kind = 'service'")?;
        s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?
    };
    // Service by service, each read a range of the tables' primary keys (service, time):
    // the whole minutes from the rollups, the ragged edges from the raw rows.
    let ids: HashMap<&str, i64> = names.iter().map(|(id, n)| (n.as_str(), *id)).collect();
    let (_, s_args) = w.raw(false);
    let (_, ms_args) = w.raw(true);
    let mut acc: HashMap<String, Acc> = HashMap::new();
    for name in services {
        let Some(&id) = ids.get(name.as_str()) else {
            continue;
        };
        if acc.contains_key(name) {
            // Named twice: counted once.
            continue;
        }
        let a = acc.entry(name.clone()).or_default();
        let mut samples = conn.prepare_cached(
            "SELECT sum(n), sum(h), sum(cs), max(cm), sum(rs), max(rm) FROM (
               SELECT n, healthy AS h, cpu_sum AS cs, cpu_max AS cm, rss_sum AS rs, rss_max AS rm
                 FROM rollups WHERE service = ?1 AND m >= ?2 AND m < ?3 AND n > 0
               UNION ALL
               SELECT n, healthy, cpu_sum, cpu_max, rss_sum, rss_max
                 FROM rollups WHERE service = ?1 AND m >= ?8 AND m < ?9 AND n > 0
               UNION ALL
               SELECT 1, healthy, cpu, cpu, rss, rss FROM samples
                 WHERE service = ?1 AND t >= ?4 AND t < ?5
               UNION ALL
               SELECT 1, healthy, cpu, cpu, rss, rss FROM samples
                 WHERE service = ?1 AND t >= ?6 AND t < ?7)",
        )?;
        let sums = rusqlite::params![
            id, w.m_from, hours.a, s_args[0], s_args[1], s_args[2], s_args[3], hours.b, w.m_to
        ];
        samples.query_row(sums, |r| a.add_sums(r))?;
        let mut rolled = conn.prepare_cached(
            "SELECT checks_failed, check_hist FROM rollups
             WHERE service = ?1 AND m >= ?2 AND m < ?3 AND checks > 0
             UNION ALL
             SELECT checks_failed, check_hist FROM rollups
             WHERE service = ?1 AND m >= ?4 AND m < ?5 AND checks > 0",
        )?;
        let rows = rolled.query(rusqlite::params![id, w.m_from, hours.a, hours.b, w.m_to])?;
        a.add_checks(rows)?;
        // The whole hours between, from the hourly rows (prepared only when there are any: a
        // database of schema 1, read as it is, has no such table).
        if hours.any() {
            let mut hourly = conn.prepare_cached(
                "SELECT sum(n), sum(healthy), sum(cpu_sum), max(cpu_max), sum(rss_sum), max(rss_max)
                 FROM hour_rollups WHERE service = ?1 AND h >= ?2 AND h < ?3 AND n > 0",
            )?;
            hourly.query_row(rusqlite::params![id, hours.h_from, hours.h_to], |r| {
                a.add_sums(r)
            })?;
            let mut checks = conn.prepare_cached(
                "SELECT checks_failed, check_hist FROM hour_rollups
                 WHERE service = ?1 AND h >= ?2 AND h < ?3
                   AND (checks_failed > 0 OR check_hist IS NOT NULL)",
            )?;
            let rows = checks.query(rusqlite::params![id, hours.h_from, hours.h_to])?;
            a.add_checks(rows)?;
        }
        let mut raw = conn.prepare_cached(
            "SELECT ok, us FROM checks WHERE service = ?1 AND t >= ?2 AND t < ?3
             UNION ALL
             SELECT ok, us FROM checks WHERE service = ?1 AND t >= ?4 AND t < ?5",
        )?;
        let mut rows = raw.query(rusqlite::params![
            id, ms_args[0], ms_args[1], ms_args[2], ms_args[3]
        ])?;
        while let Some(r) = rows.next()? {
            a.checks_failed += i64::from(!r.get::<_, bool>(0)?);
            a.hist.observe(r.get::<_, i64>(1)?.max(0) as u64);
        }
    }
    let rounds = system_rounds(conn, &w)?;
    let mut restarts = conn.prepare(
        "SELECT count(*) FROM events WHERE service = ?1 AND kind = 'restarting' AND t >= ?2 AND t < ?3",
    )?;
    let mut ready = conn.prepare(
        "SELECT json_extract(data, '$.ready_ms') FROM events
         WHERE service = ?1 AND kind = 'ready' AND t < ?2 ORDER BY id DESC LIMIT 1",
    )?;
    let mut out = Vec::new();
    for name in services {
        let a = acc.remove(name).unwrap_or_default();
        let has = a.n > 0;
        out.push(ServiceStats {
            name: name.clone(),
            cpu_avg_percent: has.then(|| a.cpu_sum as f64 / a.n as f64 / 100.0),
            cpu_max_percent: a.cpu_max.filter(|_| has).map(|c| c as f64 / 100.0),
            rss_avg_bytes: has.then(|| (a.rss_sum as f64 / a.n as f64 * 1024.0) as u64),
            rss_max_bytes: a.rss_max.filter(|_| has).map(|r| r as u64 * 1024),
            restarts: restarts.query_row(
                rusqlite::params![name, since_ms as i64, until_ms as i64],
                |r| r.get::<_, i64>(0),
            )? as u64,
            healthy_ratio: (rounds > 0).then(|| (a.healthy as f64 / rounds as f64).min(1.0)),
            check_p50_ms: a.hist.quantile_ms(0.5),
            check_p95_ms: a.hist.quantile_ms(0.95),
            checks_failed: a.checks_failed as u64,
            ready_ms: ready
                .query_row(rusqlite::params![name, until_ms as i64], |r| {
                    r.get::<_, Option<i64>>(0)
                })
                .optional()?
                .flatten()
                .map(|v| v.max(0) as u64),
        });
    }
    Ok((out, system(conn, &w)?))
}

/// `berth stats`' report (`/v1/stats` too): `services` (all of the stack's when empty)
/// over `[since_ms, until_ms)`, with nothing for them when there is no history yet.
pub fn report(
    stack: &crate::stack::Stack,
    services: &[String],
    since_ms: u64,
    until_ms: u64,
) -> Result<crate::api::monitoring::StatsResponse, String> {
    // A replicated service's name stands for every instance of it.
    let names: Vec<String> = if services.is_empty() {
        stack.services.iter().map(|s| s.name.clone()).collect()
    } else {
        stack.expand_names(services)
    };
    let (services, system) = match open(&stack.state_dir)? {
        Some(conn) => stats(&conn, since_ms, until_ms, &names)
            .map_err(|e| format!("cannot read the history: {e}"))?,
        None => (
            names
                .iter()
                .map(|name| ServiceStats {
                    name: name.clone(),
                    ..Default::default()
                })
                .collect(),
            Default::default(),
        ),
    };
    Ok(crate::api::monitoring::StatsResponse {
        project: stack.project.clone(),
        since: rfc3339_ms(since_ms),
        until: rfc3339_ms(until_ms),
        services,
        system,
    })
}

/// How many sampling rounds the window holds (one system row each).
fn system_rounds(conn: &Connection, w: &Window) -> rusqlite::Result<i64> {
    let rolled: i64 = conn.query_row(
        "SELECT coalesce(sum(n), 0) FROM system_rollups WHERE m >= ?1 AND m < ?2",
        [w.m_from, w.m_to],
        |r| r.get(0),
    )?;
    let (raw, args) = w.raw(false);
    let edges: i64 = conn.query_row(
        &format!("SELECT count(*) FROM system WHERE {raw}"),
        args,
        |r| r.get(0),
    )?;
    Ok(rolled + edges)
}

fn system(conn: &Connection, w: &Window) -> rusqlite::Result<SystemStats> {
    let (raw, args) = w.raw(false);
    let (cpu, mem, load): (Option<i64>, Option<i64>, Option<i64>) = conn.query_row(
        &format!(
            "SELECT max(c), max(mu), max(l) FROM (
               SELECT max(cpu_max) AS c, max(mem_used_max) AS mu, max(load1_max) AS l
                 FROM system_rollups WHERE m >= ?5 AND m < ?6
               UNION ALL
               SELECT max(cpu), max(mem_used), max(load1) FROM system WHERE {raw})"
        ),
        rusqlite::params![args[0], args[1], args[2], args[3], w.m_from, w.m_to],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let mut disks = Vec::new();
    {
        let mut s = conn.prepare(&format!(
            "SELECT n.name, max(u), max(tot) FROM (
               SELECT disk, used_max AS u, total AS tot FROM disk_rollups WHERE m >= ?5 AND m < ?6
               UNION ALL
               SELECT disk, used, total FROM disks WHERE {raw}) JOIN names n ON n.id = disk
             GROUP BY n.name ORDER BY n.name"
        ))?;
        let mut rows = s.query(rusqlite::params![
            args[0], args[1], args[2], args[3], w.m_from, w.m_to
        ])?;
        while let Some(r) = rows.next()? {
            disks.push(DiskStats {
                path: r.get(0)?,
                used_max_bytes: r.get::<_, i64>(1)?.max(0) as u64 * 1024,
                total_bytes: r.get::<_, i64>(2)?.max(0) as u64 * 1024,
            });
        }
    }
    Ok(SystemStats {
        cpu_max_percent: cpu.map(|c| c as f64 / 100.0),
        memory_max_bytes: mem.map(|m| m.max(0) as u64 * 1024),
        load1_max: load.map(|l| l as f64 / 100.0),
        disks,
    })
}

/// The metrics `/v1/history` serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    CpuPercent,
    RssBytes,
    OpenFds,
    Threads,
    CheckMs,
    SystemCpuPercent,
    SystemMemoryUsedBytes,
    SystemLoad1,
    SystemDiskUsedBytes,
}

impl Metric {
    pub const NAMES: [&'static str; 9] = [
        "cpu_percent",
        "rss_bytes",
        "open_fds",
        "threads",
        "check_ms",
        "system.cpu_percent",
        "system.memory_used_bytes",
        "system.load1",
        "system.disk_used_bytes",
    ];

    pub fn parse(name: &str) -> Option<Metric> {
        use Metric::*;
        let all = [
            CpuPercent,
            RssBytes,
            OpenFds,
            Threads,
            CheckMs,
            SystemCpuPercent,
            SystemMemoryUsedBytes,
            SystemLoad1,
            SystemDiskUsedBytes,
        ];
        Metric::NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| all[i])
    }

    /// Whether the metric is of a service (and needs `service=`).
    pub fn per_service(self) -> bool {
        matches!(
            self,
            Metric::CpuPercent
                | Metric::RssBytes
                | Metric::OpenFds
                | Metric::Threads
                | Metric::CheckMs
        )
    }

    /// (raw table, raw value, time column in ms?, rollup table, rollup value, scale to the
    /// unit served).
    fn sources(
        self,
    ) -> (
        &'static str,
        &'static str,
        bool,
        &'static str,
        &'static str,
        f64,
    ) {
        use Metric::*;
        match self {
            CpuPercent => (
                "samples",
                "cpu",
                false,
                "rollups",
                "1.0 * cpu_sum / n",
                0.01,
            ),
            RssBytes => (
                "samples",
                "rss",
                false,
                "rollups",
                "1.0 * rss_sum / n",
                1024.0,
            ),
            OpenFds => ("samples", "fds", false, "rollups", "1.0 * fds_sum / n", 1.0),
            Threads => (
                "samples",
                "threads",
                false,
                "rollups",
                "1.0 * threads_sum / n",
                1.0,
            ),
            CheckMs => (
                "checks",
                "us",
                true,
                "rollups",
                "1.0 * check_us_sum / checks",
                0.001,
            ),
            SystemCpuPercent => (
                "system",
                "cpu",
                false,
                "system_rollups",
                "1.0 * cpu_sum / cpu_n",
                0.01,
            ),
            SystemMemoryUsedBytes => (
                "system",
                "mem_used",
                false,
                "system_rollups",
                "1.0 * mem_used_sum / n",
                1024.0,
            ),
            SystemLoad1 => (
                "system",
                "load1",
                false,
                "system_rollups",
                "1.0 * load1_sum / n",
                0.01,
            ),
            SystemDiskUsedBytes => (
                "disks",
                "used",
                false,
                "disk_rollups",
                "1.0 * used_sum / n",
                1024.0,
            ),
        }
    }
}

/// One series over `[since_ms, until_ms)`, averaged per `step_ms`. Raw rows while the window
/// is within the last day (`raw_since_ms` is where raw rows begin), rollups before that.
pub fn series(
    conn: &Connection,
    metric: Metric,
    subject: Option<&str>,
    since_ms: u64,
    until_ms: u64,
    step_ms: u64,
    raw_since_ms: u64,
) -> rusqlite::Result<Vec<(u64, f64)>> {
    let step_ms = step_ms.max(1000);
    let (raw_table, raw_value, raw_in_ms, rollup_table, rollup_value, scale) = metric.sources();
    // Whose rows: a service's, a disk's (the first tracked when none is named), or the machine's.
    let (column, id) = match metric {
        m if m.per_service() => {
            let Some(id) = name_id(conn, "service", subject.unwrap_or(""))? else {
                return Ok(Vec::new());
            };
            (Some("service"), id)
        }
        Metric::SystemDiskUsedBytes => {
            let id = match subject {
                Some(path) => name_id(conn, "disk", path)?,
                None => conn
                    .query_row("SELECT min(id) FROM names WHERE kind = 'disk'", [], |r| {
                        r.get(0)
                    })
                    .optional()?
                    .flatten(),
            };
            let Some(id) = id else {
                return Ok(Vec::new());
            };
            (Some("disk"), id)
        }
        _ => (None, 0),
    };
    let who = column.map(|c| format!("{c} = ?4 AND ")).unwrap_or_default();
    let mut points = Vec::new();
    let mut push = |sql: &str, from: i64, to: i64, step: i64| -> rusqlite::Result<()> {
        let mut s = conn.prepare_cached(sql)?;
        let mut args = vec![from, to, step];
        if column.is_some() {
            args.push(id);
        }
        let mut rows = s.query(params_from_iter(args))?;
        while let Some(r) = rows.next()? {
            let (bucket, value): (i64, Option<f64>) = (r.get(0)?, r.get(1)?);
            if let Some(value) = value {
                points.push((bucket.max(0) as u64, value * scale));
            }
        }
        Ok(())
    };
    let step = step_ms as i64;
    if since_ms < raw_since_ms {
        // Before the raw rows: minute rollups, bucketed in milliseconds.
        let until_m = (until_ms.min(raw_since_ms) / 60_000) as i64;
        let filter = match rollup_table {
            "rollups" if metric == Metric::CheckMs => "checks > 0 AND ",
            "rollups" => "n > 0 AND ",
            _ => "",
        };
        push(
            &format!(
                "SELECT m * 60000 / ?3 * ?3 AS b, avg({rollup_value}) FROM {rollup_table}
                 WHERE {who}{filter}m >= ?1 AND m < ?2 GROUP BY b ORDER BY b"
            ),
            (since_ms / 60_000) as i64,
            until_m,
            step,
        )?;
    }
    let from = since_ms.max(raw_since_ms);
    if from < until_ms {
        let (t_ms, k) = if raw_in_ms {
            ("t", 1)
        } else {
            ("t * 1000", 1000)
        };
        push(
            &format!(
                "SELECT {t_ms} / ?3 * ?3 AS b, avg({raw_value}) FROM {raw_table}
                 WHERE {who}t >= ?1 AND t < ?2 GROUP BY b ORDER BY b"
            ),
            (from / k) as i64,
            until_ms.div_ceil(k) as i64,
            step,
        )?;
    }
    Ok(points)
}

fn name_id(conn: &Connection, kind: &str, name: &str) -> rusqlite::Result<Option<i64>> {
    conn.query_row(
        "SELECT id FROM names WHERE kind = ?1 AND name = ?2",
        [kind, name],
        |r| r.get(0),
    )
    .optional()
}

#[cfg(test)]
mod tests {
    use super::super::store::Store;
    use super::super::{CheckResult, Round, ServiceSample};
    use super::*;

    const T0: u64 = 1_764_000_000_000 / 60_000 * 60_000;

    fn sample(service: &str, cpu: f64, healthy: bool) -> ServiceSample {
        ServiceSample {
            service: service.into(),
            cpu_percent: cpu,
            rss_bytes: 8 << 20,
            open_fds: 5,
            threads: 2,
            processes: 1,
            read_bytes: None,
            write_bytes: None,
            healthy,
        }
    }

    fn system(at_ms: u64) -> crate::monitor::system::SystemReading {
        crate::monitor::system::SystemReading {
            at_ms,
            cpu_percent: Some(10.0),
            cores: 2,
            load: [0.5, 0.4, 0.3],
            memory_total_bytes: 8 << 30,
            memory_available_bytes: 6 << 30,
            swap_used_bytes: 0,
            disks: vec![crate::monitor::system::DiskReading {
                path: "/".into(),
                used_bytes: 40 << 30,
                total_bytes: 100 << 30,
            }],
            net_rx_bytes: 1,
            net_tx_bytes: 2,
        }
    }

    /// Ten minutes at 5 s: api at 1 % CPU and healthy, worker at 3 % and unhealthy for the
    /// last half; a check of api every 5 s taking 2 ms, one in ten failing.
    fn history() -> Store {
        let mut store = Store::with(Connection::open_in_memory().unwrap()).unwrap();
        let rounds: Vec<Round> = (0..120)
            .map(|i| Round {
                at_ms: T0 + i * 5_000,
                services: vec![sample("api", 1.0, true), sample("worker", 3.0, i < 60)],
                system: Some(system(T0 + i * 5_000)),
            })
            .collect();
        let checks: Vec<CheckResult> = (0..120)
            .map(|i| CheckResult {
                service: "api".into(),
                at_ms: T0 + i * 5_000,
                ok: i % 10 != 0,
                duration_us: 2_000,
            })
            .collect();
        store.write(&rounds, &checks, &[]).unwrap();
        store
    }

    #[test]
    fn stats_agree_whether_read_from_rollups_or_raw_rows() {
        let mut store = history();
        let names = vec!["api".to_string(), "worker".to_string(), "gone".to_string()];
        let until = T0 + 600_000;
        let (raw, raw_system) = stats(store.connection(), T0, until, &names).unwrap();
        store.roll_up(until).unwrap();
        let (rolled, rolled_system) = stats(store.connection(), T0, until, &names).unwrap();
        assert_eq!(raw, rolled);
        assert_eq!(raw_system, rolled_system);
        let api = &rolled[0];
        assert_eq!(api.cpu_avg_percent, Some(1.0));
        assert_eq!(api.rss_max_bytes, Some(8 << 20));
        assert_eq!(api.healthy_ratio, Some(1.0));
        assert_eq!(api.checks_failed, 12);
        let p50 = api.check_p50_ms.unwrap();
        assert!((p50 - 2.0).abs() < 0.25, "{p50}");
        assert_eq!(rolled[1].healthy_ratio, Some(0.5));
        // Never sampled: healthy in none of the window's rounds.
        assert_eq!(
            rolled[2],
            ServiceStats {
                name: "gone".into(),
                healthy_ratio: Some(0.0),
                ..Default::default()
            }
        );
        assert_eq!(rolled_system.disks[0].total_bytes, 100 << 30);
        assert_eq!(rolled_system.load1_max, Some(0.5));
        // A window with a ragged start and end mixes both and still agrees.
        let (mixed, _) = stats(store.connection(), T0 + 30_000, T0 + 330_000, &names).unwrap();
        // worker was healthy until 300 s: 54 of the 60 rounds from 30 s to 330 s.
        assert_eq!(mixed[1].healthy_ratio, Some(0.9));
        assert_eq!(mixed[0].cpu_max_percent, Some(1.0));
    }

    #[test]
    fn whole_hours_are_read_from_the_hourly_rollups_and_agree_with_the_minutes() {
        let mut store = Store::with(Connection::open_in_memory().unwrap()).unwrap();
        // Three and a half hours at 30 s, figures that vary, a check at each round.
        let n = 7 * 60;
        let rounds: Vec<Round> = (0..n)
            .map(|i| {
                let mut s = sample("api", (i % 7) as f64, i % 11 != 0);
                s.rss_bytes = (8 + i % 13) << 20;
                Round {
                    at_ms: T0 + i * 30_000,
                    services: vec![s, sample("worker", 2.0, true)],
                    system: Some(system(T0 + i * 30_000)),
                }
            })
            .collect();
        let checks: Vec<CheckResult> = (0..n)
            .map(|i| CheckResult {
                service: "api".into(),
                at_ms: T0 + i * 30_000,
                ok: i % 9 != 0,
                duration_us: 500 + (i % 17) * 300,
            })
            .collect();
        store.write(&rounds, &checks, &[]).unwrap();
        let end = T0 + n * 30_000;
        store.roll_up(end).unwrap();
        let conn = store.connection();
        let hourly: i64 = conn
            .query_row("SELECT count(*) FROM hour_rollups", [], |r| r.get(0))
            .unwrap();
        assert!(hourly >= 6, "{hourly} hourly rows");
        let names = vec!["api".to_string(), "worker".to_string()];
        let windows = [
            (T0 + 7 * 60_000 + 13_000, end - 9 * 60_000),
            (T0, end),
            (T0 + 90 * 60_000, T0 + 150 * 60_000),
        ];
        let with_hours: Vec<_> = windows
            .iter()
            .map(|&(a, b)| stats(conn, a, b, &names).unwrap())
            .collect();
        conn.execute_batch("DELETE FROM hour_rollups; DELETE FROM meta WHERE key = 'hours_until';")
            .unwrap();
        for (&(a, b), hours) in windows.iter().zip(&with_hours) {
            assert_eq!(
                &stats(conn, a, b, &names).unwrap(),
                hours,
                "window {a}..{b}"
            );
        }
        let api = &with_hours[1].0[0];
        assert_eq!(api.cpu_max_percent, Some(6.0));
        assert_eq!(
            api.checks_failed,
            (0..n).filter(|i| i % 9 == 0).count() as u64
        );
        // Named twice, counted once.
        let twice = vec!["api".to_string(), "api".to_string()];
        let (s, _) = stats(conn, T0, end, &twice).unwrap();
        assert_eq!(s[0].cpu_avg_percent, with_hours[1].0[0].cpu_avg_percent);
    }

    #[test]
    fn series_are_bucketed_from_raw_rows_and_from_rollups() {
        let mut store = history();
        store.roll_up(T0 + 600_000).unwrap();
        let raw = series(
            store.connection(),
            Metric::CpuPercent,
            Some("worker"),
            T0,
            T0 + 600_000,
            60_000,
            0,
        )
        .unwrap();
        assert_eq!(raw.len(), 10);
        assert_eq!(raw[0], (T0, 3.0));
        // With raw rows said to start later, the early part comes from the rollups.
        let mixed = series(
            store.connection(),
            Metric::RssBytes,
            Some("api"),
            T0,
            T0 + 600_000,
            60_000,
            T0 + 300_000,
        )
        .unwrap();
        assert_eq!(mixed.len(), 10);
        assert!(mixed.iter().all(|(_, v)| *v == (8 << 20) as f64));
        let machine = series(
            store.connection(),
            Metric::SystemLoad1,
            None,
            T0,
            T0 + 600_000,
            300_000,
            0,
        )
        .unwrap();
        assert_eq!(machine, vec![(T0, 0.5), (T0 + 300_000, 0.5)]);
        assert!(
            series(
                store.connection(),
                Metric::CpuPercent,
                Some("nobody"),
                T0,
                T0 + 1,
                1000,
                0
            )
            .unwrap()
            .is_empty()
        );
    }

    #[test]
    fn events_filter_by_time_service_and_kind_and_keep_the_newest() {
        let mut store = history();
        let e = |at_ms, service: &str, kind: &str| EventRecord {
            at_ms,
            service: Some(service.into()),
            kind: kind.into(),
            message: format!("{kind} {service}"),
            data: serde_json::json!({ "n": at_ms }),
        };
        store
            .write(
                &[],
                &[],
                &[
                    e(T0, "api", "started"),
                    e(T0 + 1, "api", "ready"),
                    e(T0 + 2, "db", "ready"),
                ],
            )
            .unwrap();
        let all = events(store.connection(), &EventFilter::default()).unwrap();
        assert_eq!(all.len(), 3);
        let ready = EventFilter {
            kinds: vec!["ready".into()],
            ..Default::default()
        };
        assert_eq!(events(store.connection(), &ready).unwrap().len(), 2);
        let last = EventFilter {
            last: Some(2),
            services: vec!["api".into(), "db".into()],
            ..Default::default()
        };
        let newest = events(store.connection(), &last).unwrap();
        assert_eq!(
            newest
                .iter()
                .map(|e| e.record.kind.as_str())
                .collect::<Vec<_>>(),
            ["ready", "ready"]
        );
        let after = EventFilter {
            after_id: Some(all[0].id),
            since_ms: Some(T0 + 2),
            ..Default::default()
        };
        let view = events(store.connection(), &after).unwrap()[0].view();
        assert_eq!(view.service.as_deref(), Some("db"));
        assert_eq!(view.data["n"], T0 + 2);
    }
}
