//! The writer's side of the database: rows in, one-minute rollups of every complete minute,
//! retention and the size cap. Every function takes the time it acts at, so rollups and
//! retention are tested with a fake clock; only `writer.rs` passes the real one.

use super::quantile::Histogram;
use super::schema;
use super::{CheckResult, EventRecord, Round};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

/// Raw samples and checks are kept this long; rollups for `retention`.
pub const RAW_KEPT_MS: u64 = 24 * 3_600_000;

/// How a database could not be used.
#[derive(Debug)]
pub enum OpenError {
    /// The file is not a database, or is damaged: it is to be moved aside.
    Corrupt(String),
    /// Anything else (locked, read-only, no space): try again later.
    Other(String),
}

pub struct Store {
    conn: Connection,
    /// Name ids, so a round does not look every name up.
    ids: HashMap<(&'static str, String), i64>,
}

/// Whether an error means the file itself is damaged (rather than busy or unwritable).
pub fn is_corruption(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
    )
}

fn classify(e: rusqlite::Error) -> OpenError {
    if is_corruption(&e) {
        OpenError::Corrupt(e.to_string())
    } else {
        OpenError::Other(e.to_string())
    }
}

impl Store {
    /// Opens (creating) the database at `path` for writing, checks it is whole, and brings
    /// its schema up to date.
    pub fn open(path: &Path) -> Result<Store, OpenError> {
        let conn = Connection::open(path).map_err(classify)?;
        Store::with(conn)
    }

    pub fn with(mut conn: Connection) -> Result<Store, OpenError> {
        schema::configure(&conn, super::writer::BUSY).map_err(classify)?;
        let check: String = conn
            .query_row("PRAGMA quick_check(1)", [], |r| r.get(0))
            .map_err(classify)?;
        if check != "ok" {
            return Err(OpenError::Corrupt(check));
        }
        schema::configure_writer(&conn).map_err(classify)?;
        schema::migrate(&mut conn).map_err(classify)?;
        Ok(Store {
            conn,
            ids: HashMap::new(),
        })
    }

    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    fn id(&mut self, kind: &'static str, name: &str) -> rusqlite::Result<i64> {
        if let Some(id) = self.ids.get(&(kind, name.to_string())) {
            return Ok(*id);
        }
        self.conn.execute(
            "INSERT OR IGNORE INTO names (kind, name) VALUES (?1, ?2)",
            params![kind, name],
        )?;
        let id = self.conn.query_row(
            "SELECT id FROM names WHERE kind = ?1 AND name = ?2",
            params![kind, name],
            |r| r.get(0),
        )?;
        self.ids.insert((kind, name.to_string()), id);
        Ok(id)
    }

    /// Writes a batch in one transaction: everything in it is kept, or nothing.
    pub fn write(
        &mut self,
        rounds: &[Round],
        checks: &[CheckResult],
        events: &[EventRecord],
    ) -> rusqlite::Result<()> {
        // Names first, outside the statements that use them.
        let mut service_ids = BTreeMap::new();
        let mut disk_ids = BTreeMap::new();
        for name in rounds
            .iter()
            .flat_map(|r| r.services.iter().map(|s| &s.service))
            .chain(checks.iter().map(|c| &c.service))
        {
            if !service_ids.contains_key(name) {
                service_ids.insert(name.clone(), self.id("service", name)?);
            }
        }
        for disk in rounds
            .iter()
            .filter_map(|r| r.system.as_ref())
            .flat_map(|s| s.disks.iter())
        {
            let path = disk.path.display().to_string();
            if !disk_ids.contains_key(&path) {
                disk_ids.insert(path.clone(), self.id("disk", &path)?);
            }
        }
        let tx = self.conn.transaction()?;
        {
            let mut sample = tx.prepare_cached(
                "INSERT OR REPLACE INTO samples (service, t, cpu, rss, fds, threads, procs, read_kib, write_kib, healthy)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?;
            let mut system = tx.prepare_cached(
                "INSERT OR REPLACE INTO system (t, cpu, mem_used, mem_total, swap_used, load1, load5, load15, net_rx, net_tx)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?;
            let mut disk = tx.prepare_cached(
                "INSERT OR REPLACE INTO disks (disk, t, used, total) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for round in rounds {
                let t = (round.at_ms / 1000) as i64;
                for s in &round.services {
                    sample.execute(params![
                        service_ids[&s.service],
                        t,
                        hundredths(s.cpu_percent),
                        kib(s.rss_bytes),
                        s.open_fds as i64,
                        s.threads as i64,
                        i64::from(s.processes),
                        s.read_bytes.map(kib),
                        s.write_bytes.map(kib),
                        s.healthy,
                    ])?;
                }
                if let Some(m) = &round.system {
                    system.execute(params![
                        t,
                        m.cpu_percent.map(hundredths),
                        kib(m.memory_used_bytes()),
                        kib(m.memory_total_bytes),
                        kib(m.swap_used_bytes),
                        hundredths(m.load[0]),
                        hundredths(m.load[1]),
                        hundredths(m.load[2]),
                        m.net_rx_bytes as i64,
                        m.net_tx_bytes as i64,
                    ])?;
                    for d in &m.disks {
                        disk.execute(params![
                            disk_ids[&d.path.display().to_string()],
                            t,
                            kib(d.used_bytes),
                            kib(d.total_bytes),
                        ])?;
                    }
                }
            }
            let mut check = tx.prepare_cached(
                "INSERT OR REPLACE INTO checks (service, t, ok, us) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for c in checks {
                check.execute(params![
                    service_ids[&c.service],
                    c.at_ms as i64,
                    c.ok,
                    c.duration_us.min(i64::MAX as u64) as i64
                ])?;
            }
            let mut event = tx.prepare_cached(
                "INSERT INTO events (t, service, kind, message, data) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for e in events {
                let data = (!e.data.is_null()).then(|| e.data.to_string());
                event.execute(params![e.at_ms as i64, e.service, e.kind, e.message, data])?;
            }
        }
        tx.commit()
    }

    fn meta(&self, key: &str) -> rusqlite::Result<Option<String>> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
    }

    fn set_meta(&self, key: &str, value: &str) -> rusqlite::Result<()> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
                params![key, value],
            )
            .map(drop)
    }

    /// Rolls every complete minute before `now_ms` that is not rolled yet into one-minute
    /// rows. Returns how many minutes the pass covered.
    pub fn roll_up(&mut self, now_ms: u64) -> rusqlite::Result<i64> {
        let until = (now_ms / 60_000) as i64;
        let from = match self.meta("rolled_until")? {
            Some(v) => v.parse().unwrap_or(until),
            None => {
                // The first minute anything was written in.
                let first: Option<i64> = self.conn.query_row(
                    "SELECT min(m) FROM (SELECT min(t) / 60 AS m FROM samples
                       UNION ALL SELECT min(t) / 60 FROM system
                       UNION ALL SELECT min(t) / 60000 FROM checks)",
                    [],
                    |r| r.get(0),
                )?;
                first.unwrap_or(until).min(until)
            }
        };
        if from >= until {
            return Ok(0);
        }
        let tx = self.conn.transaction()?;
        let (s0, s1) = (from * 60, until * 60);
        tx.execute(
            "INSERT OR REPLACE INTO rollups (service, m, n, healthy, cpu_sum, cpu_max, rss_sum, rss_max, fds_sum, threads_sum, checks, checks_failed, check_us_sum, check_hist)
             SELECT service, t / 60, count(*), sum(healthy), sum(cpu), max(cpu), sum(rss), max(rss), sum(fds), sum(threads), 0, 0, 0, NULL
             FROM samples WHERE t >= ?1 AND t < ?2 GROUP BY service, t / 60",
            params![s0, s1],
        )?;
        tx.execute(
            "INSERT OR REPLACE INTO system_rollups (m, n, cpu_sum, cpu_n, cpu_max, mem_used_sum, mem_used_max, mem_total, load1_sum, load1_max)
             SELECT t / 60, count(*), coalesce(sum(cpu), 0), count(cpu), max(cpu), sum(mem_used), max(mem_used), max(mem_total), sum(load1), max(load1)
             FROM system WHERE t >= ?1 AND t < ?2 GROUP BY t / 60",
            params![s0, s1],
        )?;
        tx.execute(
            "INSERT OR REPLACE INTO disk_rollups (disk, m, used_sum, used_max, n, total)
             SELECT disk, t / 60, sum(used), max(used), count(*), max(total)
             FROM disks WHERE t >= ?1 AND t < ?2 GROUP BY disk, t / 60",
            params![s0, s1],
        )?;
        // Checks: counted and histogrammed per service and minute, then added to the row.
        let mut per: BTreeMap<(i64, i64), (i64, i64, i64, Histogram)> = BTreeMap::new();
        {
            let mut rows = tx.prepare(
                "SELECT service, t / 60000, ok, us FROM checks WHERE t >= ?1 AND t < ?2",
            )?;
            let mut rows = rows.query(params![from * 60_000, until * 60_000])?;
            while let Some(row) = rows.next()? {
                let key = (row.get::<_, i64>(0)?, row.get::<_, i64>(1)?);
                let (ok, us): (bool, i64) = (row.get(2)?, row.get(3)?);
                let entry = per.entry(key).or_default();
                entry.0 += 1;
                entry.1 += i64::from(!ok);
                entry.2 += us;
                entry.3.observe(us.max(0) as u64);
            }
        }
        {
            let mut upsert = tx.prepare(
                "INSERT INTO rollups (service, m, n, healthy, cpu_sum, cpu_max, rss_sum, rss_max, fds_sum, threads_sum, checks, checks_failed, check_us_sum, check_hist)
                 VALUES (?1, ?2, 0, 0, 0, 0, 0, 0, 0, 0, ?3, ?4, ?5, ?6)
                 ON CONFLICT (service, m) DO UPDATE SET checks = excluded.checks,
                   checks_failed = excluded.checks_failed, check_us_sum = excluded.check_us_sum,
                   check_hist = excluded.check_hist",
            )?;
            for ((service, m), (n, failed, us, hist)) in &per {
                upsert.execute(params![service, m, n, failed, us, hist.encode()])?;
            }
        }
        tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('rolled_until', ?1)",
            [until.to_string()],
        )?;
        roll_up_hours(&tx, until / 60)?;
        tx.commit()?;
        Ok(until - from)
    }

    /// Drops raw rows older than a day and rollups and events older than `retention`, then,
    /// while the database is over `max_size`, the oldest history in steps (rollups and events
    /// a day at a time, then raw rows an hour at a time). Returns the rows deleted.
    pub fn retain(
        &mut self,
        now_ms: u64,
        retention: Duration,
        max_size: u64,
    ) -> rusqlite::Result<u64> {
        let raw_ms = now_ms.saturating_sub(RAW_KEPT_MS) as i64;
        let kept_ms = now_ms.saturating_sub(retention.as_millis() as u64) as i64;
        let mut deleted = self.delete_before(raw_ms, kept_ms)?;
        self.reclaim()?;
        let mut guard = 0;
        while self.size()? > max_size && guard < 10_000 {
            guard += 1;
            let oldest_rollup: Option<i64> =
                self.conn
                    .query_row("SELECT min(m) FROM system_rollups", [], |r| r.get(0))?;
            let oldest_raw: Option<i64> =
                self.conn
                    .query_row("SELECT min(t) FROM system", [], |r| r.get(0))?;
            let step = match (oldest_rollup, oldest_raw) {
                // Rollups older than the raw rows go first, a day at a time.
                (Some(m), raw) if raw.is_none_or(|t| m * 60 < t) => {
                    let until = (m + 1440) * 60_000;
                    self.delete_before(raw_ms.min(until), until)?
                }
                (_, Some(t)) => self.delete_before((t + 3600) * 1000, kept_ms)?,
                _ => 0,
            };
            if step == 0 {
                // Nothing left that is ours to delete: the cap cannot be met.
                break;
            }
            deleted += step;
            self.reclaim()?;
        }
        Ok(deleted)
    }

    /// Deletes raw rows before `raw_ms` and rollups and events before `kept_ms`.
    fn delete_before(&mut self, raw_ms: i64, kept_ms: i64) -> rusqlite::Result<u64> {
        let tx = self.conn.transaction()?;
        let (raw_s, kept_m) = (raw_ms / 1000, kept_ms / 60_000);
        let mut n = 0;
        for (sql, bound) in [
            ("DELETE FROM samples WHERE t < ?1", raw_s),
            ("DELETE FROM system WHERE t < ?1", raw_s),
            ("DELETE FROM disks WHERE t < ?1", raw_s),
            ("DELETE FROM checks WHERE t < ?1", raw_ms),
            ("DELETE FROM rollups WHERE m < ?1", kept_m),
            // Hours wholly before the kept minutes.
            (
                "DELETE FROM hour_rollups WHERE h < ?1",
                kept_m.div_euclid(60),
            ),
            ("DELETE FROM system_rollups WHERE m < ?1", kept_m),
            ("DELETE FROM disk_rollups WHERE m < ?1", kept_m),
            ("DELETE FROM events WHERE t < ?1", kept_ms),
        ] {
            n += tx.execute(sql, [bound])? as u64;
        }
        tx.commit()?;
        Ok(n)
    }

    /// Gives freed pages back to the file system.
    fn reclaim(&self) -> rusqlite::Result<()> {
        self.conn.execute_batch("PRAGMA incremental_vacuum")
    }

    /// The bytes the database's live pages take.
    pub fn size(&self) -> rusqlite::Result<u64> {
        let pages: i64 = self.conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
        let free: i64 = self
            .conn
            .query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
        let page: i64 = self.conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        Ok(((pages - free).max(0) * page) as u64)
    }

    /// Whether a one-time job (an import) was done; marks it done.
    pub fn once(&self, key: &str) -> rusqlite::Result<bool> {
        if self.meta(key)?.is_some() {
            return Ok(false);
        }
        self.set_meta(key, "done")?;
        Ok(true)
    }
}

/// Hundredths, for percentages and load averages.
fn hundredths(value: f64) -> i64 {
    (value * 100.0).round() as i64
}

fn kib(bytes: u64) -> i64 {
    (bytes / 1024) as i64
}

/// Rolls the one-minute rollups of every complete hour before `until_h` that is not rolled
/// yet into hourly rows: sums added, maxima of the minutes that had samples, the checks'
/// histograms merged. Hours already rolled never change again (their minutes are complete).
fn roll_up_hours(tx: &rusqlite::Transaction, until_h: i64) -> rusqlite::Result<()> {
    let done: Option<String> = tx
        .query_row(
            "SELECT value FROM meta WHERE key = 'hours_until'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    let from_h = match done.and_then(|v| v.parse::<i64>().ok()) {
        Some(h) => h,
        None => tx
            .query_row("SELECT min(m) / 60 FROM rollups", [], |r| {
                r.get::<_, Option<i64>>(0)
            })?
            .unwrap_or(until_h),
    };
    if from_h < until_h {
        let (m0, m1) = (from_h * 60, until_h * 60);
        tx.execute(
            "INSERT OR REPLACE INTO hour_rollups (service, h, n, healthy, cpu_sum, cpu_max, rss_sum, rss_max, checks_failed, check_hist)
             SELECT service, m / 60, sum(n), sum(healthy), sum(cpu_sum),
                    max(CASE WHEN n > 0 THEN cpu_max END), sum(rss_sum),
                    max(CASE WHEN n > 0 THEN rss_max END), sum(checks_failed), NULL
             FROM rollups WHERE m >= ?1 AND m < ?2 GROUP BY service, m / 60",
            params![m0, m1],
        )?;
        let mut merged: BTreeMap<(i64, i64), Histogram> = BTreeMap::new();
        {
            let mut rows = tx.prepare(
                "SELECT service, m / 60, check_hist FROM rollups
                 WHERE m >= ?1 AND m < ?2 AND check_hist IS NOT NULL",
            )?;
            let mut rows = rows.query(params![m0, m1])?;
            while let Some(row) = rows.next()? {
                let blob: Vec<u8> = row.get(2)?;
                merged
                    .entry((row.get(0)?, row.get(1)?))
                    .or_default()
                    .merge(&Histogram::decode(&blob));
            }
        }
        let mut set =
            tx.prepare("UPDATE hour_rollups SET check_hist = ?3 WHERE service = ?1 AND h = ?2")?;
        for ((service, h), hist) in &merged {
            set.execute(params![service, h, hist.encode()])?;
        }
    }
    tx.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('hours_until', ?1)",
        [from_h.max(until_h).to_string()],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::ServiceSample;
    use super::*;

    pub fn round(at_ms: u64, cpu: f64) -> Round {
        Round {
            at_ms,
            services: vec![ServiceSample {
                service: "api".into(),
                cpu_percent: cpu,
                rss_bytes: 10 << 20,
                open_fds: 12,
                threads: 3,
                processes: 2,
                read_bytes: Some(4096),
                write_bytes: None,
                healthy: true,
            }],
            system: None,
        }
    }

    fn store() -> Store {
        Store::with(Connection::open_in_memory().unwrap()).unwrap()
    }

    fn count(store: &Store, table: &str) -> i64 {
        store
            .conn
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }

    const T0: u64 = 1_764_000_000_000 / 60_000 * 60_000; // a whole minute

    #[test]
    fn complete_minutes_are_rolled_up_once_with_sums_and_maxima() {
        let mut s = store();
        let rounds: Vec<Round> = (0..24).map(|i| round(T0 + i * 5_000, i as f64)).collect();
        let checks: Vec<CheckResult> = (0..24)
            .map(|i| CheckResult {
                service: "api".into(),
                at_ms: T0 + i * 5_000,
                ok: i % 6 != 0,
                duration_us: 1_000 + i * 10,
            })
            .collect();
        s.write(&rounds, &checks, &[]).unwrap();
        // The first sample's minute is the first rolled; the minute still running is not.
        assert_eq!(s.roll_up(T0 + 90_000).unwrap(), 1);
        let (n, cpu_sum, cpu_max, checks, failed): (i64, i64, i64, i64, i64) = s
            .conn
            .query_row(
                "SELECT n, cpu_sum, cpu_max, checks, checks_failed FROM rollups WHERE m = ?1",
                [(T0 / 60_000) as i64],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .unwrap();
        assert_eq!(
            (n, cpu_sum, cpu_max),
            (12, (0..12).sum::<i64>() * 100, 1100)
        );
        assert_eq!((checks, failed), (12, 2));
        // Again at the same time: nothing more; a minute later: the second minute.
        assert_eq!(s.roll_up(T0 + 90_000).unwrap(), 0);
        assert_eq!(s.roll_up(T0 + 120_000).unwrap(), 1);
        assert_eq!(count(&s, "rollups"), 2);
    }

    #[test]
    fn retention_drops_raw_rows_after_a_day_and_rollups_after_retention() {
        let mut s = store();
        let day = 86_400_000;
        let event = |at_ms| EventRecord {
            at_ms,
            service: Some("api".into()),
            kind: "ready".into(),
            message: String::new(),
            data: serde_json::Value::Null,
        };
        s.write(
            &[round(T0, 1.0), round(T0 + 2 * day, 1.0)],
            &[],
            &[event(T0), event(T0 + 2 * day)],
        )
        .unwrap();
        s.roll_up(T0 + 60_000).unwrap();
        let retention = Duration::from_millis(3 * day);
        // Two days on: the first raw sample is gone, its rollup and event are kept.
        s.retain(T0 + 2 * day + 1, retention, u64::MAX).unwrap();
        assert_eq!(count(&s, "samples"), 1);
        assert_eq!(count(&s, "rollups"), 1);
        assert_eq!(count(&s, "events"), 2);
        // Past the retention: the rollup and the old event go too.
        s.retain(T0 + 3 * day + 60_001, retention, u64::MAX)
            .unwrap();
        assert_eq!(count(&s, "rollups"), 0);
        assert_eq!(count(&s, "events"), 1);
    }

    #[test]
    fn the_size_cap_deletes_the_oldest_history_first() {
        let mut s = store();
        // Ten days of one-minute rollups, written directly.
        let first_m = (T0 / 60_000) as i64;
        {
            let tx = s.conn.transaction().unwrap();
            for m in first_m..first_m + 10 * 1440 {
                tx.execute(
                    "INSERT INTO system_rollups VALUES (?1, 12, 100, 12, 10, 5, 5, 5, 1, 1)",
                    [m],
                )
                .unwrap();
                tx.execute(
                    "INSERT INTO rollups VALUES (1, ?1, 12, 12, 100, 10, 5, 5, 5, 5, 0, 0, 0, NULL)",
                    [m],
                )
                .unwrap();
            }
            tx.commit().unwrap();
        }
        let now = T0 + 10 * 86_400_000;
        let full = s.size().unwrap();
        s.retain(now, Duration::from_secs(30 * 86_400), full / 2)
            .unwrap();
        assert!(s.size().unwrap() <= full / 2);
        let oldest: i64 = s
            .conn
            .query_row("SELECT min(m) FROM rollups", [], |r| r.get(0))
            .unwrap();
        let newest: i64 = s
            .conn
            .query_row("SELECT max(m) FROM rollups", [], |r| r.get(0))
            .unwrap();
        assert!(oldest > first_m + 1440, "the oldest days went first");
        assert_eq!(newest, first_m + 10 * 1440 - 1, "the newest stayed");
    }

    #[test]
    fn a_file_that_is_not_a_database_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.db");
        std::fs::write(&path, vec![0x5a; 8192]).unwrap();
        assert!(matches!(Store::open(&path), Err(OpenError::Corrupt(_))));
    }
}
