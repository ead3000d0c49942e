//! Monitoring as its users see it (SPEC.md, Monitoring): `berth events` from history with
//! `--since`, `--kind`, `-n`, `-f` and `--json`; `berth stats` in the documented shape, with
//! the daemon up or down; the health score in `status`; and monitoring's config errors at
//! their place.

use crate::history::{
    Bed, HEALTH_1S, answers, service_in, service_yaml, started, two_services, wait_for_event,
};
use crate::support::{Project, wait_until};
use berth::process::ProcessId;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// `2026-12-01T10:02:03.123Z`: RFC 3339, UTC, milliseconds.
fn is_rfc3339_ms(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 24
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'.',
            23 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

/// The keys of a JSON object, sorted.
fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect();
    k.sort();
    k
}

fn sorted(names: &[&str]) -> Vec<String> {
    let mut k: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    k.sort();
    k
}

fn kinds(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect()
}

/// Kills `pid` with SIGKILL (if it is still that process).
fn kill_9(pid: u64) {
    crate::support::kill_9(ProcessId::of(pid as u32).unwrap());
}

#[test]
fn events_filter_by_since_kind_service_and_count_one_json_object_a_line() {
    let (bed, _, _) = two_services();
    // Three hours ago, as an older berth wrote it: imported into history by the first `up`.
    let at = berth::logs::time::rfc3339_ms(berth::logs::time::now_ms() - 3 * 3_600_000);
    bed.project.write(
        ".berth/events.jsonl",
        &format!(
            "{}\n",
            serde_json::json!({"at": at, "service": "api", "event": "failed", "detail": "long ago"})
        ),
    );
    bed.berth(&["up", "-q"]).code(0);
    let api = bed.running_pid("api", None);
    let web = bed.running_pid("web", None);
    wait_for_event(&bed, &["api"], "of api's readiness", |e| {
        e["kind"] == "ready"
    });
    wait_for_event(&bed, &["web"], "of web's readiness", |e| {
        e["kind"] == "ready"
    });

    let all = bed.events(&["-n", "1000"]);
    for e in &all {
        assert_eq!(
            keys(e),
            sorted(&["time", "service", "kind", "message", "data"]),
            "{e}"
        );
        assert!(e["time"].as_str().is_some_and(is_rfc3339_ms), "{e}");
        assert!(e["message"].is_string(), "{e}");
        assert!(e["service"].is_string() || e["service"].is_null(), "{e}");
    }
    // (That the whole log is oldest first is history.rs's
    // `the_log_stays_oldest_first_across_an_import`.)
    assert!(all.iter().any(started("api", api)), "{all:#?}");
    assert!(all.iter().any(started("web", web)), "{all:#?}");
    let old = all
        .iter()
        .find(|e| e["message"] == "long ago")
        .unwrap_or_else(|| panic!("{all:#?}"));
    assert_eq!(
        (&old["time"], &old["kind"]),
        (&Value::from(at.as_str()), &Value::from("failed"))
    );
    assert_eq!(all[0], *old, "the event of three hours ago comes first");

    // --since: the event of three hours ago is outside the last hour, inside the last four.
    let hour = bed.events(&["--since", "1h", "-n", "1000"]);
    assert!(
        !hour.iter().any(|e| e["message"] == "long ago"),
        "{hour:#?}"
    );
    assert_eq!(hour.len(), all.len() - 1, "{hour:#?}");
    let four = bed.events(&["--since", "4h", "-n", "1000"]);
    assert_eq!(four, all);

    // --kind, repeatable: only those kinds.
    let some = bed.events(&["--kind", "started", "--kind", "failed", "-n", "1000"]);
    assert_eq!(
        some.len(),
        all.iter()
            .filter(|e| e["kind"] == "started" || e["kind"] == "failed")
            .count()
    );
    assert!(
        some.iter()
            .all(|e| e["kind"] == "started" || e["kind"] == "failed"),
        "{some:#?}"
    );
    assert!(
        some.iter().any(|e| e["kind"] == "failed") && some.iter().any(|e| e["kind"] == "started")
    );
    let ready = bed.events(&["--kind", "ready", "--since", "1h"]);
    assert_eq!(kinds(&ready), ["ready", "ready"], "{ready:#?}");

    // A service: only its events.
    let of_web = bed.events(&["web", "-n", "1000"]);
    assert!(
        !of_web.is_empty() && of_web.iter().all(|e| e["service"] == "web"),
        "{of_web:#?}"
    );

    // -n: the newest N, still oldest first.
    let last2 = bed.events(&["-n", "2"]);
    let everything = bed.events(&["-n", "1000"]);
    assert_eq!(last2, everything[everything.len() - 2..].to_vec());
    assert_eq!(bed.events(&["-n", "1"]).len(), 1);

    // Bad usage is exit 2 and says what is wrong.
    bed.berth(&["events", "--kind", "bogus"])
        .code(2)
        .stderr_has("bogus");
    bed.berth(&["events", "nosuch"])
        .code(2)
        .stderr_has("nosuch");
    bed.berth(&["events", "--since", "soon"]).code(2);
}

/// Lines a child prints, as they come, on a channel.
fn lines_of(child: &mut std::process::Child) -> mpsc::Receiver<String> {
    let out = child.stdout.take().unwrap();
    let (send, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if send.send(line).is_err() {
                break;
            }
        }
    });
    lines
}

/// The child `berth events -f`, killed (by its pid) when dropped.
struct Follower(std::process::Child);

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits for a line that parses to an event matching `wanted`; all lines seen so far.
fn wait_line(
    lines: &mpsc::Receiver<String>,
    seen: &mut Vec<Value>,
    what: &str,
    wanted: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                let e: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|err| panic!("not JSON ({err}): {line}"));
                seen.push(e.clone());
                if wanted(&e) {
                    return e;
                }
            }
            Err(_) => panic!("`events -f` printed no event {what}; it printed:\n{seen:#?}"),
        }
    }
}

#[test]
fn events_follow_prints_new_events_as_they_happen() {
    let (bed, _, _) = two_services();
    bed.berth(&["up", "-q"]).code(0);
    let api = bed.running_pid("api", None);
    wait_for_event(&bed, &["api"], "of api's readiness", |e| {
        e["kind"] == "ready"
    });

    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["events", "-f", "--json"])
        .current_dir(bed.project.path())
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = lines_of(&mut child);
    let mut follower = Follower(child);
    let mut seen = Vec::new();
    // First what is already there, then it keeps going.
    wait_line(&lines, &mut seen, "api ready (already logged)", |e| {
        e["service"] == "api" && e["kind"] == "ready"
    });
    bed.berth(&["restart", "api"]).code(0);
    let new_api = bed.running_pid("api", Some(api));
    wait_line(
        &lines,
        &mut seen,
        "api started again",
        started("api", new_api),
    );
    let ready = wait_line(&lines, &mut seen, "api ready again", |e| {
        e["service"] == "api" && e["kind"] == "ready"
    });
    assert_eq!(ready["data"]["pid"], new_api, "{ready}");
    assert!(
        follower.0.try_wait().unwrap().is_none(),
        "`events -f` ended by itself"
    );
    let _ = follower.0.kill();
    follower.0.wait().unwrap();
}

#[test]
fn stats_json_has_the_spec_shape_with_the_daemon_up_and_down() {
    let (bed, _, _) = two_services();
    bed.berth(&["up", "-q"]).code(0);

    // A few one-second rounds, and api's health checks (every second) among them.
    let stats = wait_until(Duration::from_secs(20), || {
        let stats = bed.stats(&[]);
        let api = service_in(&stats, "api");
        let web = service_in(&stats, "web");
        (api["check_p50_ms"].is_number()
            && api["rss_max_bytes"].is_number()
            && web["rss_max_bytes"].is_number()
            && api["ready_ms"].is_number()
            && web["ready_ms"].is_number()
            && stats["system"]["disks"]
                .as_array()
                .is_some_and(|d| !d.is_empty()))
        .then_some(stats)
    })
    .unwrap_or_else(|| panic!("stats never had it all: {}", bed.stats(&[])));

    assert_eq!(
        keys(&stats),
        sorted(&["project", "since", "until", "services", "system"]),
        "{stats}"
    );
    for end in ["since", "until"] {
        assert!(stats[end].is_string(), "{stats}");
    }
    let (since, until) = (
        berth::logs::time::parse_rfc3339_ms(stats["since"].as_str().unwrap()).unwrap(),
        berth::logs::time::parse_rfc3339_ms(stats["until"].as_str().unwrap()).unwrap(),
    );
    assert_eq!(
        until - since,
        3_600_000,
        "the window is an hour by default: {stats}"
    );
    let names: Vec<&str> = stats["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["api", "web"], "{stats}");
    for s in stats["services"].as_array().unwrap() {
        assert_eq!(
            keys(s),
            sorted(&[
                "name",
                "cpu_avg_percent",
                "cpu_max_percent",
                "rss_avg_bytes",
                "rss_max_bytes",
                "restarts",
                "healthy_ratio",
                "check_p50_ms",
                "check_p95_ms",
                "checks_failed",
                "ready_ms"
            ]),
            "{s}"
        );
        let f = |k: &str| s[k].as_f64().unwrap_or_else(|| panic!("{k} in {s}"));
        assert!(f("rss_max_bytes") > 0.0, "{s}");
        assert!(
            f("rss_avg_bytes") > 0.0 && f("rss_avg_bytes") <= f("rss_max_bytes"),
            "{s}"
        );
        assert!(
            f("cpu_avg_percent") >= 0.0 && f("cpu_avg_percent") <= f("cpu_max_percent"),
            "{s}"
        );
        let ratio = f("healthy_ratio");
        assert!((0.0..=1.0).contains(&ratio), "{s}");
        assert_eq!(s["restarts"], 0, "{s}");
        assert!(s["ready_ms"].is_u64(), "{s}");
    }
    let api = service_in(&stats, "api");
    let (p50, p95) = (
        api["check_p50_ms"].as_f64().unwrap(),
        api["check_p95_ms"]
            .as_f64()
            .unwrap_or_else(|| panic!("{api}")),
    );
    assert!(p50 > 0.0 && p50 <= p95, "{api}");
    assert_eq!(api["checks_failed"], 0, "{api}");
    let web = service_in(&stats, "web");
    assert_eq!(
        (&web["check_p50_ms"], &web["check_p95_ms"]),
        (&Value::Null, &Value::Null),
        "web has no health check: {web}"
    );
    let system = &stats["system"];
    assert_eq!(
        keys(system),
        sorted(&["cpu_max_percent", "memory_max_bytes", "load1_max", "disks"]),
        "{system}"
    );
    assert!(
        system["memory_max_bytes"].as_u64().is_some_and(|m| m > 0),
        "{system}"
    );
    assert!(system["load1_max"].is_number(), "{system}");
    for d in system["disks"].as_array().unwrap() {
        assert_eq!(
            keys(d),
            sorted(&["path", "used_max_bytes", "total_bytes"]),
            "{d}"
        );
        let (used, total) = (
            d["used_max_bytes"].as_u64().unwrap(),
            d["total_bytes"].as_u64().unwrap(),
        );
        assert!(total > 0 && used <= total, "{d}");
    }
    // By default the state dir's file system is the disk tracked.
    let state = bed.state_dir().canonicalize().unwrap();
    assert!(
        system["disks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| std::path::Path::new(d["path"].as_str().unwrap()) == state),
        "{system}"
    );

    // Named services only; a name the config does not have is exit 2.
    let only = bed.stats(&["web"]);
    assert_eq!(only["services"].as_array().unwrap().len(), 1, "{only}");
    assert_eq!(only["services"][0]["name"], "web");
    bed.berth(&["stats", "nosuch"]).code(2).stderr_has("nosuch");
    bed.berth(&["stats", "--since", "soon"]).code(2);

    // With the daemon stopped: the same services, from the database.
    bed.berth(&["daemon", "stop"]).code(0);
    assert_eq!(bed.status()["daemon"]["running"], false);
    let offline = bed.stats(&[]);
    let names: Vec<&str> = offline["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["api", "web"], "{offline}");
    for s in offline["services"].as_array().unwrap() {
        assert!(
            s["rss_max_bytes"].as_u64().is_some_and(|r| r > 0),
            "{offline}"
        );
    }
    assert!(
        service_in(&offline, "api")["check_p50_ms"].is_number(),
        "{offline}"
    );
    bed.berth(&["stats", "nosuch"]).code(2);
    // The table too.
    bed.berth(&["stats"])
        .code(0)
        .stdout_has("CHECK P50")
        .stdout_has("api")
        .stdout_has("machine:");
}

#[test]
fn status_has_a_score_per_service_and_for_the_stack() {
    let (bed, _, _) = two_services();
    bed.berth(&["up", "-q"]).code(0);
    let status = bed.status();
    for s in status["services"].as_array().unwrap() {
        assert_eq!(s["score"], 100, "{status}");
        assert_eq!(s["score_reasons"], serde_json::json!([]), "{status}");
    }
    assert_eq!(status["score"], 100, "{status}");
    let table = bed.berth(&["status"]).code(0).stdout();
    let header = table.lines().next().unwrap();
    assert!(header.split_whitespace().any(|c| c == "SCORE"), "{table}");

    // Killed twice in a row (restart_window 60s): two restarts, 10 points each.
    let first = bed.running_pid("web", None);
    kill_9(first);
    let second = bed.running_pid("web", Some(first));
    kill_9(second);
    bed.running_pid("web", Some(second));
    let web = wait_until(Duration::from_secs(10), || {
        let web = bed.service("web");
        (web["restarts"] == 2 && web["state"] == "running").then_some(web)
    })
    .unwrap_or_else(|| panic!("{}", bed.status()));
    assert_eq!(web["score"], 80, "{web}");
    let reasons = web["score_reasons"].as_array().unwrap();
    assert!(
        reasons.len() == 1 && reasons[0].as_str().unwrap().contains("2 restarts"),
        "{web}"
    );
    let status = bed.status();
    assert_eq!(
        status["score"], 80,
        "the lowest critical service's: {status}"
    );
    assert_eq!(service_in(&status, "api")["score"], 100, "{status}");
    let table = bed.berth(&["status"]).code(0).stdout();
    let columns: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    let at = columns.iter().position(|c| *c == "SCORE").unwrap();
    let row: Vec<&str> = table
        .lines()
        .find(|l| l.starts_with("web "))
        .unwrap_or_else(|| panic!("{table}"))
        .split_whitespace()
        .collect();
    assert_eq!(row[at], "80", "{table}");
    assert!(table.contains("2 restarts"), "{table}");
    // History counts them too.
    let stats = wait_until(Duration::from_secs(10), || {
        let stats = bed.stats(&["web"]);
        (stats["services"][0]["restarts"] == 2).then_some(stats)
    });
    assert!(stats.is_some(), "{}", bed.stats(&["web"]));

    // A stopped service has no score; the stack's is that of what runs.
    bed.berth(&["down", "web"]).code(0);
    let status = bed.status();
    let web = service_in(&status, "web");
    assert_eq!(web["state"], "stopped", "{status}");
    assert_eq!(web["score"], Value::Null, "{status}");
    assert_eq!(web["score_reasons"], serde_json::json!([]), "{status}");
    assert_eq!(status["score"], 100, "{status}");
    let table = bed.berth(&["status"]).output_any().stdout();
    let row: Vec<&str> = table
        .lines()
        .find(|l| l.starts_with("web "))
        .unwrap_or_else(|| panic!("{table}"))
        .split_whitespace()
        .collect();
    assert_eq!(row[at], "-", "{table}");

    // Nothing running: no score for the stack.
    bed.berth(&["down"]).code(0);
    let status = bed.status();
    assert_eq!(status["score"], Value::Null, "{status}");
}

#[test]
fn a_health_check_gives_check_durations_in_stats() {
    let port = crate::support::free_port();
    let bed = Bed::new(&format!(
        "monitor: {{ interval: 1s }}\nservices:\n{}",
        service_yaml("api", port, HEALTH_1S)
    ));
    bed.berth(&["up", "-q"]).code(0);
    assert!(answers(port));
    let stats = wait_until(Duration::from_secs(15), || {
        let stats = bed.stats(&["api"]);
        stats["services"][0]["check_p50_ms"]
            .is_number()
            .then_some(stats)
    })
    .unwrap_or_else(|| panic!("no check durations: {}", bed.stats(&["api"])));
    let api = &stats["services"][0];
    assert!(api["check_p50_ms"].as_f64().unwrap() > 0.0, "{api}");
    assert!(api["check_p95_ms"].is_number(), "{api}");
    assert_eq!(api["checks_failed"], 0, "{api}");
}

/// A daemon that stops and a new one that takes the service over is no new start: the
/// service's time to ready (`stats`: "time to ready of its last start") stays what its
/// start took, and the log says `adopted`, not `started` and `ready` again. (An adopted
/// instance once went through readiness like a new one and was logged as started, ready in
/// the time since its original start.)
#[test]
fn taking_a_service_over_is_not_a_new_start() {
    let port = crate::support::free_port();
    let bed = Bed::new(&format!(
        "monitor: {{ interval: 1s }}\nservices:\n{}",
        service_yaml("api", port, "")
    ));
    bed.berth(&["up", "-q"]).code(0);
    let pid = bed.running_pid("api", None);
    wait_for_event(&bed, &["api"], "of api's readiness", |e| {
        e["kind"] == "ready"
    });
    let ready_ms = bed.stats(&["api"])["services"][0]["ready_ms"].clone();
    assert!(ready_ms.is_u64(), "{ready_ms}");
    // Long enough running that a time since its start is told apart from its time to ready.
    wait_until(Duration::from_secs(10), || {
        (bed.service("api")["uptime_s"].as_f64()? > 1.5).then_some(())
    })
    .unwrap();
    bed.berth(&["daemon", "stop"]).code(0);
    bed.berth(&["up", "-q"]).code(0);
    assert_eq!(bed.running_pid("api", None), pid, "api was started again");
    let adopted = wait_for_event(&bed, &["api"], "of api's adoption", |e| {
        e["kind"] == "adopted"
    });
    assert_eq!(adopted["data"]["pid"], pid, "{adopted}");
    // What the new daemon logged from its adoption on (flushed by the next status rounds).
    wait_until(Duration::from_secs(5), || {
        let events = bed.events(&["api", "-n", "1000"]);
        let at = events.iter().position(|e| e["kind"] == "adopted")?;
        (events.len() > at + 1).then_some(())
    });
    let events = bed.events(&["api", "-n", "1000"]);
    let at = events.iter().position(|e| e["kind"] == "adopted").unwrap();
    let after: Vec<String> = kinds(&events[at + 1..]);
    let now_ms = bed.stats(&["api"])["services"][0]["ready_ms"].clone();
    assert!(
        now_ms == ready_ms && !after.iter().any(|k| k == "started" || k == "ready"),
        "after a take-over: stats ready_ms {now_ms} (its start took {ready_ms}); logged after \
         `adopted`: {:#?}",
        &events[at + 1..]
    );
}

/// `monitor:` and `api:` written in flow style are reported at their place by the CLI,
/// every problem at once, exit 2, and `up` starts nothing (config_errors.rs covers the block
/// style fixtures through the library).
#[test]
fn monitoring_config_errors_in_flow_style_are_reported_at_their_place() {
    let p = Project::new(
        "monitor: {interval: 0s}\napi: {listen: \"0.0.0.0:9400\"}\nservices:\n  web: {command: ./web}\n",
    );
    p.berth(&["check"])
        .code(2)
        .stderr_has("berth.yaml:1:21: monitor.interval: 0s is out of range; use 1s to 1h")
        .stderr_has("berth.yaml:2:15: api.listen: 0.0.0.0:9400 is not a loopback address")
        .stderr_has("2 problems found");
    let json = p.berth(&["check", "--json"]).code(2).json();
    let at: Vec<(u64, u64)> = json["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["line"].as_u64().unwrap(), e["column"].as_u64().unwrap()))
        .collect();
    assert_eq!(at, [(1, 21), (2, 15)], "{json}");
    p.berth(&["up"]).code(2).stderr_has("berth.yaml:1:21:");
    assert!(!p.path().join(".berth").exists(), "up started something");
}
