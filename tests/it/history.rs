//! History's faults (SPEC.md, Monitoring: "nothing here may slow or endanger supervision"):
//! a corrupt database is moved aside and started afresh, an unwritable or locked one loses
//! records (counted in `status`) while the services go on and `status` answers at once, an
//! old `events.jsonl` is imported exactly once, and a database written by today's berth
//! (the v1 fixture) is read with the daemon down and opened in place by `up`.
//!
//! Writes are made to fail for root (whom permissions do not stop) with `chattr +i` (see
//! `Immutable`), and a lock is held by a python3 child (`Locker`). Three tests here fail
//! on bugs in berth, each saying which and where: an unwritable daemon log ends
//! supervision, a locked database makes `daemon stop` + `up` fail, and the log is not
//! oldest first across an import.
//!
//! `Bed` and the small readers below are shared with `monitoring.rs`.

use crate::support::{Project, Run, fixture, free_port, test_service, wait_until};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A project whose stack is brought down (at once) when dropped.
pub struct Bed {
    pub project: Project,
}

impl Bed {
    pub fn new(config: &str) -> Bed {
        Bed {
            project: Project::new(config),
        }
    }

    pub fn berth(&self, args: &[&str]) -> Run {
        self.project.berth(args)
    }

    pub fn state_dir(&self) -> PathBuf {
        self.project.path().join(".berth")
    }

    /// `status --json`, whatever its exit code.
    pub fn status(&self) -> Value {
        self.berth(&["status", "--json"]).code_any_json()
    }

    /// `status --json`, and how long it took to answer.
    pub fn timed_status(&self) -> (Value, Duration) {
        let began = Instant::now();
        let status = self.status();
        (status, began.elapsed())
    }

    /// One service's entry of `status --json`.
    pub fn service(&self, name: &str) -> Value {
        service_in(&self.status(), name)
    }

    /// `events --json ARGS`, one value per line.
    pub fn events(&self, args: &[&str]) -> Vec<Value> {
        let mut all = vec!["events", "--json"];
        all.extend_from_slice(args);
        let out = self.berth(&all).code(0).json_lines();
        out.as_array().unwrap().clone()
    }

    /// `stats --json ARGS`.
    pub fn stats(&self, args: &[&str]) -> Value {
        let mut all = vec!["stats", "--json"];
        all.extend_from_slice(args);
        self.berth(&all).code(0).json()
    }

    /// The main pid of `name`, once it is running (and a different one from `not`).
    pub fn running_pid(&self, name: &str, not: Option<u64>) -> u64 {
        wait_until(Duration::from_secs(15), || {
            let s = self.service(name);
            (s["state"] == "running")
                .then(|| s["pid"].as_u64())
                .flatten()
                .filter(|p| Some(*p) != not)
        })
        .unwrap_or_else(|| panic!("{name} never ran (again): {}", self.status()))
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        let _ = self.berth(&["down", "--force"]).output_any();
    }
}

pub fn service_in(status: &Value, name: &str) -> Value {
    status["services"]
        .as_array()
        .unwrap_or_else(|| panic!("no services in {status}"))
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {status}"))
        .clone()
}

/// A service entry of berth.yaml: the test service on `port`, with `extra` lines (each
/// already indented by four spaces).
pub fn service_yaml(name: &str, port: u16, extra: &str) -> String {
    format!(
        "  {name}:\n    command: [\"{}\"]\n    port: {port}\n{extra}",
        test_service().display()
    )
}

/// The http health check, every second, as a service's extra lines.
pub const HEALTH_1S: &str =
    "    health: { http: \"http://127.0.0.1:${port}/health\", interval: 1s }\n";

/// `api` (health-checked every second) and `web`, sampled every second.
pub fn two_services() -> (Bed, u16, u16) {
    let (api, web) = (free_port(), free_port());
    let bed = Bed::new(&format!(
        "monitor: {{ interval: 1s }}\nservices:\n{}{}",
        service_yaml("api", api, HEALTH_1S),
        service_yaml("web", web, "")
    ));
    (bed, api, web)
}

/// Whether something answers on 127.0.0.1:`port`.
pub fn answers(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// Waits until an event matching `wanted` is in the log (`events --json ARGS`).
pub fn wait_for_event(
    bed: &Bed,
    args: &[&str],
    what: &str,
    wanted: impl Fn(&Value) -> bool,
) -> Value {
    wait_until(Duration::from_secs(15), || {
        bed.events(args).into_iter().find(|e| wanted(e))
    })
    .unwrap_or_else(|| {
        panic!(
            "no event {what}; the log has:\n{:#?}",
            bed.events(&["-n", "1000"])
        )
    })
}

/// A `started` event of `service` with `pid`.
pub fn started(service: &str, pid: u64) -> impl Fn(&Value) -> bool {
    let service = service.to_string();
    move |e: &Value| {
        e["service"] == service.as_str() && e["kind"] == "started" && e["data"]["pid"] == pid
    }
}

/// The pid and restart count of every service in `status`.
fn pids_and_restarts(status: &Value) -> Vec<(String, Option<u64>, Option<u64>)> {
    status["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["pid"].as_u64(),
                s["restarts"].as_u64(),
            )
        })
        .collect()
}

/// The services are still the very processes of `before`, never restarted, and answer.
fn untouched(bed: &Bed, before: &Value, ports: &[u16]) {
    let now = bed.status();
    assert_eq!(pids_and_restarts(&now), pids_and_restarts(before), "{now}");
    for s in now["services"].as_array().unwrap() {
        assert_eq!(s["state"], "running", "{now}");
        assert_eq!(s["restarts"], 0, "{now}");
    }
    for port in ports {
        assert!(answers(*port), "nothing answers on {port} any more");
    }
}

/// `daemon.history` of a running daemon's status: (lost, error).
fn history_health(status: &Value) -> (u64, Option<String>) {
    let h = &status["daemon"]["history"];
    (
        h["lost"]
            .as_u64()
            .unwrap_or_else(|| panic!("no daemon.history.lost in {status}")),
        h["error"].as_str().map(str::to_string),
    )
}

/// Files of `dir` whose names start with `prefix`.
fn files_starting(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix))
        })
        .collect();
    found.sort();
    found
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Waits until history holds samples of `service` and of the machine (`stats`).
fn wait_for_samples(bed: &Bed, service: &str) -> Value {
    wait_until(Duration::from_secs(15), || {
        let stats = bed.stats(&[service]);
        let s = &stats["services"][0];
        (s["rss_max_bytes"].as_u64().is_some_and(|r| r > 0)
            && stats["system"]["disks"]
                .as_array()
                .is_some_and(|d| !d.is_empty()))
        .then_some(stats)
    })
    .unwrap_or_else(|| {
        panic!(
            "no samples of {service} in history: {}",
            bed.stats(&[service])
        )
    })
}

#[test]
fn a_corrupt_history_db_is_moved_aside_and_supervision_goes_on() {
    let (bed, api, web) = two_services();
    bed.berth(&["up", "-q"]).code(0);
    wait_for_samples(&bed, "api");
    let before = bed.status();
    bed.berth(&["daemon", "stop"]).code(0);
    assert_eq!(bed.status()["daemon"]["running"], false);

    // Garbage over the database; its WAL and shared memory gone.
    let db = bed.state_dir().join("history.db");
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    let garbage: Vec<u8> = (0..64 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(&db, &garbage).unwrap();
    for side in ["history.db-wal", "history.db-shm"] {
        let _ = std::fs::remove_file(bed.state_dir().join(side));
    }
    let moved_at = unix_now();

    bed.berth(&["up", "-q"]).code(0);
    // The services were taken over as they were: same processes, nothing restarted.
    untouched(&bed, &before, &[api, web]);
    assert_eq!(bed.status()["daemon"]["running"], true);

    // The garbage is kept aside, byte for byte, as history.db.corrupt-<unix time>.
    let aside = wait_until(Duration::from_secs(10), || {
        files_starting(&bed.state_dir(), "history.db.corrupt-")
            .into_iter()
            .find(|p| {
                !p.to_string_lossy().ends_with("-wal") && !p.to_string_lossy().ends_with("-shm")
            })
    })
    .expect("no history.db.corrupt-* beside the new database");
    let name = aside.file_name().unwrap().to_str().unwrap().to_string();
    let at: u64 = name["history.db.corrupt-".len()..]
        .parse()
        .unwrap_or_else(|e| panic!("{name}: not a unix time ({e})"));
    assert!(
        at + 60 >= moved_at && at <= unix_now() + 1,
        "{name} is not the time it was moved aside ({moved_at})"
    );
    assert_eq!(
        std::fs::read(&aside).unwrap(),
        garbage,
        "{name} is not the old file"
    );

    // An event of kind `history`, of no service, says so.
    let said = wait_for_event(&bed, &["--kind", "history"], "about the corrupt db", |e| {
        e["message"]
            .as_str()
            .is_some_and(|m| m.contains("moved aside"))
    });
    assert_eq!(said["service"], Value::Null, "{said}");
    assert!(
        said["message"].as_str().unwrap().contains(&name),
        "the event does not name {name}: {said}"
    );
    assert!(
        said["data"]["moved_to"]
            .as_str()
            .is_some_and(|p| p.ends_with(&name)),
        "{said}"
    );

    // The fresh database takes new samples and new events.
    wait_for_samples(&bed, "api");
    wait_for_samples(&bed, "web");
    bed.berth(&["restart", "web"]).code(0);
    let new_web = bed.running_pid("web", None);
    assert_ne!(Some(new_web), service_in(&before, "web")["pid"].as_u64());
    wait_for_event(
        &bed,
        &["web"],
        "of web's new start",
        started("web", new_web),
    );
    assert!(
        files_starting(&bed.state_dir(), "history.db.corrupt-")
            .iter()
            .filter(|p| !p.to_string_lossy().ends_with("-wal")
                && !p.to_string_lossy().ends_with("-shm"))
            .count()
            == 1,
        "the fresh database was moved aside too"
    );
}

/// Makes files immutable (`chattr +i`) and undoes it when dropped. For root, who is not
/// stopped by permissions, this is what makes writes fail on this machine's ext4: open for
/// writing fails with EPERM, and so does `write` through a descriptor opened before (which
/// the daemon's SQLite connection is). An immutable directory refuses new names in it.
struct Immutable(Vec<PathBuf>);

impl Immutable {
    /// `None` when `chattr` is missing or the file system does not support the flag.
    fn set(paths: Vec<PathBuf>) -> Option<Immutable> {
        let mut done = Immutable(Vec::new());
        for path in paths {
            let out = Command::new("chattr").arg("+i").arg(&path).output();
            match out {
                Ok(o) if o.status.success() => done.0.push(path),
                Ok(o) => {
                    eprintln!(
                        "skipped: chattr +i {} failed ({})",
                        path.display(),
                        String::from_utf8_lossy(&o.stderr).trim()
                    );
                    return None;
                }
                Err(e) => {
                    eprintln!("skipped: cannot run chattr ({e})");
                    return None;
                }
            }
        }
        Some(done)
    }

    fn undo(&mut self) {
        for path in self.0.drain(..) {
            let _ = Command::new("chattr").arg("-i").arg(&path).status();
        }
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        self.undo();
    }
}

#[test]
fn an_unwritable_state_dir_loses_history_not_services() {
    let (bed, api, web) = two_services();
    bed.berth(&["up", "-q"]).code(0);
    wait_for_samples(&bed, "api");
    let before = bed.status();
    assert_eq!(history_health(&before), (0, None), "{before}");

    // The state dir and the database read-only (for root too). Not history.db-shm: SQLite
    // maps it, and a write fault on an immutable mapping is SIGBUS, a way of making writes
    // fail that no real read-only or full disk has.
    let dir = bed.state_dir();
    let mut paths = vec![dir.join("history.db")];
    if dir.join("history.db-wal").exists() {
        paths.push(dir.join("history.db-wal"));
    }
    paths.push(dir.clone());
    let Some(mut immutable) = Immutable::set(paths) else {
        return;
    };

    // Records are lost, counted, and the count keeps growing; status answers at once.
    let mut slowest = Duration::ZERO;
    let mut timed = || {
        let (status, took) = bed.timed_status();
        slowest = slowest.max(took);
        status
    };
    let first = wait_until(Duration::from_secs(15), || {
        let (lost, error) = history_health(&timed());
        (lost > 0).then_some((lost, error))
    })
    .unwrap_or_else(|| {
        panic!(
            "no records lost with a read-only state dir: {}",
            bed.status()
        )
    });
    assert!(
        first.1.is_some(),
        "lost {} records but no error said",
        first.0
    );
    let later = wait_until(Duration::from_secs(15), || {
        let (lost, _) = history_health(&timed());
        (lost > first.0).then_some(lost)
    })
    .expect("the lost count stopped growing");
    assert!(later > first.0);
    assert!(slowest < Duration::from_secs(1), "status took {slowest:?}");
    untouched(&bed, &before, &[api, web]);
    let log = std::fs::read_to_string(dir.join("daemon.log")).unwrap_or_default();
    assert!(
        log.contains("history") && log.contains("lost"),
        "the daemon's log does not say records were lost:\n{log}"
    );

    // Writable again: writing resumes.
    immutable.undo();
    wait_until(Duration::from_secs(15), || {
        history_health(&bed.status()).1.is_none().then_some(())
    })
    .unwrap_or_else(|| panic!("history still failing once writable: {}", bed.status()));
    bed.berth(&["restart", "web"]).code(0);
    let new_web = bed.running_pid("web", service_in(&before, "web")["pid"].as_u64());
    wait_for_event(
        &bed,
        &["web"],
        "of web's new start",
        started("web", new_web),
    );
    untouched_one(&bed, &before, "api", api);
}

/// A full disk takes the daemon's own log with the database (`.berth/daemon.log` is the
/// daemon's stderr); the SPEC's promise stands: history is lost ("the daemon log says how
/// many" where it can), the services are still supervised. Here daemon.log is made
/// unwritable too (immutable: every write to it fails, as ENOSPC would), and then a
/// service is killed: berth must see it and start it again.
///
/// (This test found that the history's own reports used `eprintln!`, which panics when
/// stderr cannot be written: supervision stopped with the daemon's log.)
#[test]
fn an_unwritable_daemon_log_does_not_end_supervision() {
    let (bed, api, _) = two_services();
    bed.berth(&["up", "-q"]).code(0);
    wait_for_samples(&bed, "api");
    let before = bed.status();
    // What this test may leave running however it ends: a second `down` (see above).
    struct DownAgain<'a>(&'a Bed);
    impl Drop for DownAgain<'_> {
        fn drop(&mut self) {
            let _ = self.0.berth(&["down", "--force"]).output_any();
        }
    }
    let _down_again = DownAgain(&bed);
    let dir = bed.state_dir();
    let mut paths = vec![dir.join("daemon.log"), dir.join("history.db")];
    if dir.join("history.db-wal").exists() {
        paths.push(dir.join("history.db-wal"));
    }
    let Some(mut immutable) = Immutable::set(paths) else {
        return;
    };
    wait_until(Duration::from_secs(15), || {
        (history_health(&bed.status()).0 > 0).then_some(())
    })
    .unwrap_or_else(|| panic!("no records lost: {}", bed.status()));

    let old = service_in(&before, "api")["pid"].as_u64().unwrap();
    crate::support::kill_9(berth::process::ProcessId::of(old as u32).unwrap());
    let restarted = wait_until(Duration::from_secs(15), || {
        let s = bed.service("api");
        (s["state"] == "running" && s["pid"].as_u64().is_some_and(|p| p != old)).then_some(s)
    });
    let status = bed.status();
    immutable.undo();
    assert!(
        restarted.is_some() && answers(api),
        "api was SIGKILLed and not started again (daemon.log unwritable); status: {status}"
    );
    // Writable again: history is written again.
    wait_until(Duration::from_secs(15), || {
        history_health(&bed.status()).1.is_none().then_some(())
    })
    .unwrap_or_else(|| panic!("history still failing once writable: {}", bed.status()));
}

/// `name` is the same process as in `before`, never restarted, and answers.
fn untouched_one(bed: &Bed, before: &Value, name: &str, port: u16) {
    let now = bed.service(name);
    let was = service_in(before, name);
    assert_eq!(
        (&now["pid"], &now["restarts"], &now["state"]),
        (&was["pid"], &Value::from(0), &Value::from("running")),
        "{now}"
    );
    assert!(answers(port));
}

/// A python3 child holding an exclusive lock on a database until its stdin closes (at
/// most a minute); killed when dropped.
struct Locker {
    child: Child,
}

impl Locker {
    fn hold(db: &Path) -> Locker {
        let script = "import signal, sqlite3, sys\n\
                      signal.alarm(60)\n\
                      c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)\n\
                      c.execute('BEGIN EXCLUSIVE')\n\
                      print('locked', flush=True)\n\
                      sys.stdin.readline()\n\
                      c.execute('COMMIT')\n";
        let mut child = Command::new("python3")
            .args(["-c", script])
            .arg(db)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(
            line.trim(),
            "locked",
            "python3 could not lock {}",
            db.display()
        );
        Locker { child }
    }

    /// Lets go of the lock and waits until the child is gone.
    fn release(&mut self) {
        if let Some(mut stdin) = self.child.stdin.take() {
            let _ = stdin.write_all(b"\n");
        }
        let status = self.child.wait().unwrap();
        assert!(status.success(), "the locking child failed: {status}");
    }
}

impl Drop for Locker {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
fn a_locked_history_db_loses_records_and_writing_resumes_after() {
    let (bed, api, web) = two_services();
    bed.berth(&["up", "-q"]).code(0);
    wait_for_samples(&bed, "api");
    let before = bed.status();
    let mut locker = Locker::hold(&bed.state_dir().join("history.db"));

    let mut slowest = Duration::ZERO;
    let (lost, error) = wait_until(Duration::from_secs(15), || {
        let (status, took) = bed.timed_status();
        slowest = slowest.max(took);
        let (lost, error) = history_health(&status);
        (lost > 0 && error.is_some()).then_some((lost, error))
    })
    .unwrap_or_else(|| panic!("nothing lost while the db is locked: {}", bed.status()));
    assert!(lost > 0);
    let error = error.unwrap();
    assert!(
        error.contains("locked"),
        "the error does not say locked: {error}"
    );
    // A few more answers while it stays locked, each at once.
    for _ in 0..5 {
        let (status, took) = bed.timed_status();
        slowest = slowest.max(took);
        assert!(history_health(&status).0 >= lost, "{status}");
    }
    assert!(
        slowest < Duration::from_secs(1),
        "status took {slowest:?} while the db was locked"
    );
    // Readers are not held up by the writer's lock either.
    let began = Instant::now();
    bed.events(&[]);
    assert!(
        began.elapsed() < Duration::from_secs(1),
        "events took {:?}",
        began.elapsed()
    );
    untouched(&bed, &before, &[api, web]);

    // Once the lock is gone, writing resumes: a new start is in the log.
    locker.release();
    bed.berth(&["restart", "web"]).code(0);
    let new_web = bed.running_pid("web", service_in(&before, "web")["pid"].as_u64());
    wait_for_event(
        &bed,
        &["web"],
        "of web's new start",
        started("web", new_web),
    );
    wait_until(Duration::from_secs(15), || {
        history_health(&bed.status()).1.is_none().then_some(())
    })
    .unwrap_or_else(|| panic!("history still failing after the lock: {}", bed.status()));
    untouched_one(&bed, &before, "api", api);
}

/// A locked history must not hold up the supervisor's own life either: `berth daemon stop`
/// and then `berth up` (an upgrade, a restart of the daemon) takes the services over at once.
///
/// (This test found the leaving daemon holding the lock while it flushed its history and
/// the next daemon giving up at once; the leaving one now removes its socket first and a
/// starting one waits for it, briefly.)
#[test]
fn a_locked_history_db_does_not_hold_up_a_new_daemon() {
    let (bed, api, web) = two_services();
    bed.berth(&["up", "-q"]).code(0);
    wait_for_samples(&bed, "api");
    let _locker = Locker::hold(&bed.state_dir().join("history.db"));
    // Records waiting for the writer when the daemon is told to stop.
    wait_until(Duration::from_secs(15), || {
        (history_health(&bed.status()).0 > 0).then_some(())
    })
    .unwrap_or_else(|| panic!("nothing lost while the db is locked: {}", bed.status()));
    // A restart's events keep the writer busy (each batch waits out its busy timeout) just
    // as the daemon is told to stop.
    bed.berth(&["restart", "web"]).code(0);
    let before = bed.status();
    bed.berth(&["daemon", "stop"]).code(0);
    let began = Instant::now();
    let up = bed.berth(&["up", "-q"]).output_any();
    let took = began.elapsed();
    assert!(
        up.output.status.success() && took < Duration::from_secs(3),
        "`up` after `daemon stop` with the history db locked: {} after {took:?}\n{}\ndaemon.log:\n{}",
        up.output.status,
        up.stderr(),
        std::fs::read_to_string(bed.state_dir().join("daemon.log")).unwrap_or_default()
    );
    assert_eq!(bed.status()["daemon"]["running"], true);
    untouched(&bed, &before, &[api, web]);
}

/// One line of the old event log, `ago_ms` before now.
fn old_line(ago_ms: u64, service: &str, event: &str, pid: Option<u32>, detail: &str) -> String {
    let at = berth::logs::time::rfc3339_ms(berth::logs::time::now_ms() - ago_ms);
    let mut line =
        serde_json::json!({"at": at, "service": service, "event": event, "detail": detail});
    if let Some(pid) = pid {
        line["pid"] = pid.into();
    }
    line.to_string()
}

#[test]
fn an_old_events_jsonl_is_imported_once() {
    let (bed, _, _) = two_services();
    let hour = 3_600_000;
    // As berth before history wrote them: the rotated file, then the current one.
    let rotated = [old_line(3 * hour, "api", "started", Some(41), "")];
    let current = [
        old_line(2 * hour, "api", "exited", Some(41), "exited with code 1"),
        old_line(2 * hour - 1, "api", "restarting", None, "in 100ms"),
        old_line(hour, "web", "port", None, "moved to 8001"),
    ];
    bed.project
        .write(".berth/events.jsonl.1", &(rotated.join("\n") + "\n"));
    bed.project
        .write(".berth/events.jsonl", &(current.join("\n") + "\n"));

    bed.berth(&["up", "-q"]).code(0);
    let dir = bed.state_dir();
    let imported = wait_for_event(&bed, &["--kind", "history"], "about the import", |e| {
        e["message"]
            .as_str()
            .is_some_and(|m| m.contains("imported"))
    });
    assert_eq!(imported["data"]["imported"], 4, "{imported}");
    for (old, new) in [
        ("events.jsonl", "events.jsonl.imported"),
        ("events.jsonl.1", "events.jsonl.1.imported"),
    ] {
        assert!(!dir.join(old).exists(), "{old} is still there");
        assert!(dir.join(new).exists(), "{new} is not there");
    }
    // The old lines, oldest first, before anything this daemon did: kind from `event`,
    // message from `detail`, the pid in `data`, the time as written.
    let expected: Vec<(String, &str, &str, &str, Value)> = rotated
        .iter()
        .chain(&current)
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .zip([
            ("api", "started", "", serde_json::json!({"pid": 41})),
            (
                "api",
                "exited",
                "exited with code 1",
                serde_json::json!({"pid": 41}),
            ),
            ("api", "restarting", "in 100ms", Value::Null),
            ("web", "port", "moved to 8001", Value::Null),
        ])
        .map(|(line, (s, k, m, d))| (line["at"].as_str().unwrap().to_string(), s, k, m, d))
        .collect();
    let check = |events: &[Value]| {
        let old: Vec<&Value> = events
            .iter()
            .filter(|e| expected.iter().any(|x| e["time"] == x.0.as_str()))
            .collect();
        assert_eq!(
            old.len(),
            expected.len(),
            "the old events, once each: {events:#?}"
        );
        for (e, (time, service, kind, message, data)) in old.iter().zip(&expected) {
            assert_eq!(
                (
                    &e["time"],
                    &e["service"],
                    &e["kind"],
                    &e["message"],
                    &e["data"]
                ),
                (
                    &Value::from(time.as_str()),
                    &Value::from(*service),
                    &Value::from(*kind),
                    &Value::from(*message),
                    data
                ),
                "{events:#?}"
            );
        }
        let imports = events
            .iter()
            .filter(|e| {
                e["kind"] == "history" && e["message"].as_str().unwrap_or("").contains("imported")
            })
            .count();
        assert_eq!(imports, 1, "imported more than once: {events:#?}");
    };
    let events = bed.events(&["-n", "1000"]);
    check(&events);
    assert_eq!(
        events[..4]
            .iter()
            .map(|e| e["time"].clone())
            .collect::<Vec<_>>(),
        expected
            .iter()
            .map(|x| Value::from(x.0.as_str()))
            .collect::<Vec<_>>(),
        "the old events come first, oldest first"
    );

    // A second daemon imports nothing again.
    bed.berth(&["daemon", "stop"]).code(0);
    bed.berth(&["up", "-q"]).code(0);
    wait_for_event(&bed, &["api"], "of api's adoption", |e| {
        e["kind"] == "adopted"
    });
    check(&bed.events(&["-n", "1000"]));
    assert!(!dir.join("events.jsonl").exists());
}

/// `berth events` is "the daemon's event log, oldest first" (README), and `-n N` the
/// latest N. An old log as big as an older berth kept (`events.jsonl` and `.1`, 1 MiB each)
/// takes the writer a while to import; the services start meanwhile.
///
/// (This test found the writer's own notices inserted ahead of events stamped earlier;
/// each batch is now written in time order.)
#[test]
fn the_log_stays_oldest_first_across_an_import() {
    let (bed, _, _) = two_services();
    let now = berth::logs::time::now_ms();
    let line = |i: u64| {
        let at = berth::logs::time::rfc3339_ms(now - 5 * 3_600_000 + i);
        format!(
            "{{\"at\":\"{at}\",\"service\":\"api\",\"event\":\"started\",\"pid\":{},\"detail\":\"\"}}\n",
            1000 + i
        )
    };
    let mut rotated = String::new();
    let mut i = 0;
    while rotated.len() < 1 << 20 {
        rotated.push_str(&line(i));
        i += 1;
    }
    let mut current = String::new();
    while current.len() < 1 << 20 {
        current.push_str(&line(i));
        i += 1;
    }
    bed.project.write(".berth/events.jsonl.1", &rotated);
    bed.project.write(".berth/events.jsonl", &current);
    bed.berth(&["up", "-q"]).code(0);
    let api = bed.running_pid("api", None);
    let web = bed.running_pid("web", None);
    wait_for_event(&bed, &["api"], "of api's start", started("api", api));
    wait_for_event(&bed, &["web"], "of web's start", started("web", web));
    let imported = wait_for_event(&bed, &["--kind", "history"], "about the import", |e| {
        e["message"]
            .as_str()
            .is_some_and(|m| m.contains("imported"))
    });
    assert_eq!(imported["data"]["imported"], i, "{imported}");

    let all = bed.events(&["-n", "1000000"]);
    assert_eq!(
        all.len() as u64,
        i + 1 + 4,
        "old lines, the notice, two starts, two readies"
    );
    let out_of_order: Vec<(&Value, &Value)> = all
        .windows(2)
        .filter(|w| w[0]["time"].as_str() > w[1]["time"].as_str())
        .map(|w| (&w[0], &w[1]))
        .collect();
    assert!(
        out_of_order.is_empty(),
        "`berth events` is not oldest first; each pair is (listed first, listed next):\n{out_of_order:#?}"
    );
    // The latest 4 are the latest 4 by time.
    let mut by_time = all.clone();
    by_time.sort_by(|a, b| a["time"].as_str().cmp(&b["time"].as_str()));
    assert_eq!(
        bed.events(&["-n", "4"]),
        by_time[by_time.len() - 4..].to_vec()
    );
}

/// Copies the v1 fixture into `bed`'s state dir as its history.
fn install_fixture(bed: &Bed) {
    std::fs::create_dir_all(bed.state_dir()).unwrap();
    std::fs::copy(
        fixture("history", "v1.db"),
        bed.state_dir().join("history.db"),
    )
    .unwrap();
}

/// The events of the v1 fixture, all of `api`: (kind, data.pid).
const FIXTURE_EVENTS: [(&str, Option<u64>); 7] = [
    ("started", Some(30960)),
    ("ready", Some(30960)),
    ("exited", Some(30960)),
    ("restarting", None),
    ("started", Some(31100)),
    ("ready", Some(31100)),
    ("stopped", None),
];

/// A database written by an earlier berth is read as it is and opened in place (SPEC.md:
/// "a database written by an older berth is upgraded in place"); today's schema is 1, so
/// this is the file every later berth must still open.
///
/// `tests/fixtures/history/v1.db` (57,344 bytes) is a history database of schema version 1
/// as berth writes it, made on 2026-12-01 (20:17 UTC) with the berth of that day (debug
/// build, copied to /tmp/berth-gen, and the test service to /tmp/test-service-gen):
///
/// ```sh
/// mkdir /tmp/berth-fixture && cd /tmp/berth-fixture
/// cat > berth.yaml <<'EOF'
/// project: fixture
/// monitor: {interval: 1s}
/// services:
///   api:
///     command: ["/tmp/test-service-gen"]
///     port: 47391
///     health: { http: "http://127.0.0.1:${port}/health", interval: 1s }
/// EOF
/// B=/tmp/berth-gen
/// $B up && sleep 3
/// kill -9 "$($B status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["services"][0]["pid"])')"
/// sleep 3 && $B down                  # one restart in between
/// sqlite3 .berth/history.db 'PRAGMA wal_checkpoint(TRUNCATE);'   # all in the main file
/// sqlite3 .berth/history.db 'PRAGMA integrity_check;'            # ok
/// cp .berth/history.db tests/fixtures/history/v1.db
/// ```
///
/// It holds, for `api`: the 7 events above (ready in 13ms, then exited by signal 9,
/// restarting, ready in 12ms, stopped), 6 samples (RSS max 2,514,944 bytes), 5 health checks
/// (none failed), 7 machine rounds with the disk `/tmp/berth-fixture/.berth`, and no rollups
/// (it did not span a whole minute). It is in WAL mode, as berth leaves it, with no -wal file
/// beside it (the checkpoint put everything in the main file).
#[test]
fn a_v1_history_db_is_read_with_the_daemon_down_and_opened_in_place() {
    let (api, web) = (free_port(), free_port());
    // `api` is the fixture's service, not started here, so its numbers stay the fixture's;
    // a retention of ten years keeps the fixture's history however old it gets.
    let bed = Bed::new(&format!(
        "project: fixture\nmonitor: {{ interval: 1s, retention: 3650d }}\nservices:\n{}{}",
        service_yaml("api", api, &format!("{HEALTH_1S}    autostart: false\n")),
        service_yaml("web", web, "")
    ));
    install_fixture(&bed);
    // The fixture's last event (a window ending now must hold it).
    let made = berth::logs::time::parse_rfc3339_ms("2026-12-01T20:17:09.024Z").unwrap();
    assert!(
        berth::logs::time::now_ms() > made,
        "this machine's clock is before the fixture was made (2026-12-01T20:17Z)"
    );

    // Daemon down: the events and the numbers are read from the file as it is.
    let fixture_events = |events: &[Value]| -> Vec<(String, Option<u64>)> {
        events
            .iter()
            .filter(|e| e["service"] == "api")
            .map(|e| {
                (
                    e["kind"].as_str().unwrap().to_string(),
                    e["data"]["pid"].as_u64(),
                )
            })
            .collect()
    };
    let expected: Vec<(String, Option<u64>)> = FIXTURE_EVENTS
        .iter()
        .map(|(k, p)| (k.to_string(), *p))
        .collect();
    let events = bed.events(&[]);
    assert_eq!(fixture_events(&events), expected, "{events:#?}");
    assert_eq!(events[1]["message"], "ready in 13ms", "{events:#?}");
    assert_eq!(events[1]["data"]["ready_ms"], 13, "{events:#?}");
    assert!(
        events[0]["time"]
            .as_str()
            .is_some_and(|t| t.starts_with("2026-12-01T20:17:02")),
        "{events:#?}"
    );

    let before = bed.stats(&["--since", "3650d"]);
    let numbers = |stats: &Value| {
        let s = service_in(stats, "api");
        (
            s["rss_max_bytes"].clone(),
            s["restarts"].clone(),
            s["ready_ms"].clone(),
            s["checks_failed"].clone(),
        )
    };
    assert_eq!(
        numbers(&before),
        (
            Value::from(2_514_944u64),
            Value::from(1),
            Value::from(12),
            Value::from(0)
        ),
        "{before}"
    );
    let s = service_in(&before, "api");
    let p50 = s["check_p50_ms"]
        .as_f64()
        .unwrap_or_else(|| panic!("{before}"));
    assert!(p50 > 0.0, "{before}");
    let ratio = s["healthy_ratio"]
        .as_f64()
        .unwrap_or_else(|| panic!("{before}"));
    assert!((0.0..=1.0).contains(&ratio) && ratio > 0.0, "{before}");
    assert!(
        before["system"]["disks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["path"] == "/tmp/berth-fixture/.berth"),
        "{before}"
    );
    assert!(
        before["system"]["memory_max_bytes"]
            .as_u64()
            .is_some_and(|m| m > 0)
    );
    let nothing_for_web = service_in(&before, "web");
    assert_eq!(nothing_for_web["rss_max_bytes"], Value::Null, "{before}");

    // `up` opens it in place (nothing moved aside) and writes to it.
    bed.berth(&["up", "-q"]).code(0);
    let web_pid = bed.running_pid("web", None);
    wait_for_event(&bed, &["web"], "of web's start", started("web", web_pid));
    wait_for_samples(&bed, "web");
    // One more batch written after that (a new start of web), so the writer's upkeep after
    // its first batches (rollups of the old minutes, retention) has run too: one thread
    // writes, then keeps up, then writes the next.
    bed.berth(&["restart", "web"]).code(0);
    let new_web = bed.running_pid("web", Some(web_pid));
    wait_for_event(
        &bed,
        &["web"],
        "of web's new start",
        started("web", new_web),
    );
    assert!(
        files_starting(&bed.state_dir(), "history.db.corrupt-").is_empty(),
        "the v1 database was moved aside as corrupt"
    );
    let events = bed.events(&["-n", "1000"]);
    assert_eq!(
        fixture_events(&events),
        expected,
        "the fixture's events are kept: {events:#?}"
    );
    assert!(
        !events.iter().any(|e| e["kind"] == "history"),
        "an event about the history db: {events:#?}"
    );
    let after = bed.stats(&["--since", "3650d"]);
    assert_eq!(numbers(&after), numbers(&before), "{after}");
    let p50_after = service_in(&after, "api")["check_p50_ms"].as_f64().unwrap();
    assert!(
        (p50_after - p50).abs() < 1e-6 * p50.max(1.0),
        "{after} vs {before}"
    );
}
