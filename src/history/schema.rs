//! The history database's tables and their versions. `user_version` says which schema a file
//! holds; `migrate` brings any older one up to `VERSION` in place, each step in a transaction,
//! so a database written by an earlier berth opens after an upgrade (tested on a fixture).
//!
//! Numbers are stored as small integers where that is exact enough (CPU in hundredths of a
//! percent, memory in KiB, times in seconds for samples and minutes for rollups): SQLite
//! stores an integer in as few bytes as it needs, a REAL always in eight, and 24 hours of
//! samples plus two weeks of rollups for 20 services must stay well under 64 MiB.

use rusqlite::Connection;

/// The schema this berth writes.
pub const VERSION: i64 = 2;

/// Version 1: samples, checks, rollups, the machine, events, and what is known about them.
const V1: &str = "
CREATE TABLE names (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,          -- 'service' or 'disk'
    name TEXT NOT NULL,
    UNIQUE (kind, name)
);
-- One row per running service per round: t in unix seconds.
CREATE TABLE samples (
    service INTEGER NOT NULL,
    t INTEGER NOT NULL,
    cpu INTEGER NOT NULL,        -- hundredths of a percent of one core
    rss INTEGER NOT NULL,        -- KiB
    fds INTEGER NOT NULL,
    threads INTEGER NOT NULL,
    procs INTEGER NOT NULL,
    read_kib INTEGER,
    write_kib INTEGER,
    healthy INTEGER NOT NULL,    -- 1 when running and healthy
    PRIMARY KEY (service, t)
) WITHOUT ROWID;
-- Every health-check result: t in unix milliseconds, duration in microseconds.
CREATE TABLE checks (
    service INTEGER NOT NULL,
    t INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    us INTEGER NOT NULL,
    PRIMARY KEY (service, t)
) WITHOUT ROWID;
-- One row per round for the machine.
CREATE TABLE system (
    t INTEGER PRIMARY KEY,
    cpu INTEGER,                 -- hundredths of a percent of the machine
    mem_used INTEGER NOT NULL,   -- KiB
    mem_total INTEGER NOT NULL,
    swap_used INTEGER NOT NULL,
    load1 INTEGER NOT NULL,      -- hundredths
    load5 INTEGER NOT NULL,
    load15 INTEGER NOT NULL,
    net_rx INTEGER NOT NULL,     -- bytes since boot
    net_tx INTEGER NOT NULL
);
CREATE TABLE disks (
    disk INTEGER NOT NULL,
    t INTEGER NOT NULL,
    used INTEGER NOT NULL,       -- KiB
    total INTEGER NOT NULL,
    PRIMARY KEY (disk, t)
) WITHOUT ROWID;
-- One-minute rollups (m: unix minutes): sums and maxima, so any window's average is exact.
CREATE TABLE rollups (
    service INTEGER NOT NULL,
    m INTEGER NOT NULL,
    n INTEGER NOT NULL,          -- samples
    healthy INTEGER NOT NULL,    -- of which healthy
    cpu_sum INTEGER NOT NULL,
    cpu_max INTEGER NOT NULL,
    rss_sum INTEGER NOT NULL,
    rss_max INTEGER NOT NULL,
    fds_sum INTEGER NOT NULL,
    threads_sum INTEGER NOT NULL,
    checks INTEGER NOT NULL,
    checks_failed INTEGER NOT NULL,
    check_us_sum INTEGER NOT NULL,
    check_hist BLOB,             -- the checks' durations, see quantile.rs
    PRIMARY KEY (service, m)
) WITHOUT ROWID;
CREATE TABLE system_rollups (
    m INTEGER PRIMARY KEY,
    n INTEGER NOT NULL,
    cpu_sum INTEGER NOT NULL,
    cpu_n INTEGER NOT NULL,
    cpu_max INTEGER,
    mem_used_sum INTEGER NOT NULL,
    mem_used_max INTEGER NOT NULL,
    mem_total INTEGER NOT NULL,
    load1_sum INTEGER NOT NULL,
    load1_max INTEGER NOT NULL
);
CREATE TABLE disk_rollups (
    disk INTEGER NOT NULL,
    m INTEGER NOT NULL,
    used_sum INTEGER NOT NULL,
    used_max INTEGER NOT NULL,
    n INTEGER NOT NULL,
    total INTEGER NOT NULL,
    PRIMARY KEY (disk, m)
) WITHOUT ROWID;
-- The event log: t in unix milliseconds; service NULL for the stack's own events.
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    t INTEGER NOT NULL,
    service TEXT,
    kind TEXT NOT NULL,
    message TEXT NOT NULL,
    data TEXT
);
CREATE INDEX events_by_time ON events (t);
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
";

/// Version 2: hourly rollups of the one-minute ones, so that a day's or a week's stats read 24
/// or 168 rows a service instead of 1,440 or 10,080. Filled by the writer's roll-up, from the
/// oldest minute rollup on (an upgraded database's first roll-up fills its past).
const V2: &str = "
CREATE TABLE hour_rollups (
    service INTEGER NOT NULL,
    h INTEGER NOT NULL,          -- unix hours
    n INTEGER NOT NULL,
    healthy INTEGER NOT NULL,
    cpu_sum INTEGER NOT NULL,
    cpu_max INTEGER,             -- NULL: no sample in the hour (checks only)
    rss_sum INTEGER NOT NULL,
    rss_max INTEGER,
    checks_failed INTEGER NOT NULL,
    check_hist BLOB,
    PRIMARY KEY (service, h)
) WITHOUT ROWID;
";

/// An error of berth's own about a database, worded for the user.
fn refusal(message: String) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
        Some(message),
    )
}

/// Sets the connection up and brings the schema to `VERSION`. A database newer than this
/// berth is refused rather than written in a shape it does not know.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > VERSION {
        return Err(refusal(format!(
            "the history database has schema version {version}, newer than this berth's {VERSION}: upgrade berth, or move it aside"
        )));
    }
    if version == 0 {
        // Only takes effect before the first table exists: lets the size cap give pages back.
        conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL")?;
    }
    let steps: [(i64, &str); 2] = [(1, V1), (2, V2)];
    for (to, sql) in steps {
        if version < to {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", to)?;
            tx.commit()?;
        }
    }
    Ok(())
}

/// The pragmas every connection of berth's uses: WAL (readers never block the writer),
/// `synchronous = NORMAL` (history may lose the last moment in a power cut, never its
/// consistency), and a bounded wait on a lock held by someone else.
pub fn configure(conn: &Connection, busy: std::time::Duration) -> rusqlite::Result<()> {
    conn.busy_timeout(busy)?;
    conn.pragma_update(None, "foreign_keys", false)?;
    Ok(())
}

/// For the writer only: WAL mode is a property of the file, set by whoever writes it.
pub fn configure_writer(conn: &Connection) -> rusqlite::Result<()> {
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    // An in-memory database (the tests') has no file to keep a WAL beside.
    if !mode.eq_ignore_ascii_case("wal") && !mode.eq_ignore_ascii_case("memory") {
        return Err(refusal(format!(
            "the history database cannot use WAL mode (got {mode})"
        )));
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_database_gets_every_table_and_the_version() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, VERSION);
        // Migrating again changes nothing.
        migrate(&mut conn).unwrap();
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        // Version 1's ten and version 2's hourly rollups.
        assert_eq!(tables, 11);
    }

    #[test]
    fn a_database_from_a_newer_berth_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", VERSION + 1)
            .unwrap();
        let err = migrate(&mut conn).unwrap_err().to_string();
        assert!(err.contains("newer than this berth"), "{err}");
    }
}
