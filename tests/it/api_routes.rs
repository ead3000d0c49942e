//! The API's routes of one service, its logs, the ports and the live streams (SPEC.md, The
//! API) against a real daemon over its Unix socket: the shapes, 404 for unknown services and
//! routes, 400 for bad values, 409 for a start or stop that conflicts with one under way, 503
//! before any `up`; `follow=1` and Server-Sent Events delivering what happens as it happens;
//! fifty stream clients and one that never reads leaving `status` fast and the daemon's
//! memory bounded; `daemon stop` with streams open.
//!
//! The client is a small HTTP/1.1 client of this file's own that reads a body as it comes
//! (chunked or not), line by line or event by event.

use crate::support::{Project, Squatter, daemon_pid, free_port, test_service, wait_until};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What the client needs of a connection: reading with a timeout, and writing.
trait Connection: Read + Write + Send {
    fn timeout(&self, timeout: Duration);
}

impl Connection for UnixStream {
    fn timeout(&self, timeout: Duration) {
        self.set_read_timeout(Some(timeout.max(Duration::from_millis(1))))
            .unwrap();
    }
}

impl Connection for TcpStream {
    fn timeout(&self, timeout: Duration) {
        self.set_read_timeout(Some(timeout.max(Duration::from_millis(1))))
            .unwrap();
    }
}

/// An answer being read: its status and headers, and its body as it comes.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    reader: BufReader<Box<dyn Connection>>,
    chunked: bool,
    /// What is left of a `Content-Length` body.
    left: Option<usize>,
    /// Body bytes read and not taken yet.
    buf: Vec<u8>,
    ended: bool,
    /// The body ended without its final chunk: the server cut it off.
    cut: bool,
}

/// One SSE message: its `event:` name and `data:`, or a `:` comment.
#[derive(Debug)]
struct Sse {
    event: String,
    data: String,
    comment: Option<String>,
}

impl Sse {
    fn json(&self) -> Value {
        serde_json::from_str(&self.data)
            .unwrap_or_else(|e| panic!("the data of {self:?} is not JSON: {e}"))
    }
}

/// How long any single read may wait before the test fails.
const PATIENT: Duration = Duration::from_secs(20);

/// Sends `METHOD PATH` (with `headers` and a body) on `connection`; the answer's head is read.
fn send_on(
    mut connection: Box<dyn Connection>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Answer {
    let mut text = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        text.push_str("Host: localhost\r\n");
    }
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = body {
        text.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    text.push_str("\r\n");
    text.push_str(body.unwrap_or(""));
    connection.write_all(text.as_bytes()).unwrap();
    connection.timeout(PATIENT);
    let mut reader = BufReader::new(connection);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').expect("a header");
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let find = |n: &str| headers.iter().find(|(h, _)| h == n).map(|(_, v)| v.clone());
    let chunked = find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    let left = find("content-length").and_then(|v| v.parse().ok());
    Answer {
        status,
        headers,
        reader,
        chunked,
        left,
        buf: Vec::new(),
        ended: false,
        cut: false,
    }
}

fn send(socket: &Path, method: &str, path: &str, body: Option<&str>) -> Answer {
    let connection = UnixStream::connect(socket)
        .unwrap_or_else(|e| panic!("connecting to {}: {e}", socket.display()));
    send_on(Box::new(connection), method, path, &[], body)
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Reads more of the body, until `deadline`; false once it has ended (or time is up).
    fn more(&mut self, deadline: Instant) -> bool {
        if self.ended {
            return false;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        self.reader.get_ref().timeout(deadline - now);
        match self.read_some() {
            Ok(more) => more,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
            Err(_) => {
                // The connection was closed without the final chunk: cut off.
                self.ended = true;
                self.cut = true;
                false
            }
        }
    }

    fn read_some(&mut self) -> std::io::Result<bool> {
        if self.chunked {
            let mut size = String::new();
            if self.reader.read_line(&mut size)? == 0 {
                return Err(ErrorKind::UnexpectedEof.into());
            }
            let size = usize::from_str_radix(size.trim().split(';').next().unwrap(), 16)
                .map_err(|_| std::io::Error::other(format!("bad chunk size {size:?}")))?;
            let mut chunk = vec![0; size + 2];
            self.reader.read_exact(&mut chunk)?;
            if size == 0 {
                self.ended = true;
                return Ok(false);
            }
            self.buf.extend_from_slice(&chunk[..size]);
            return Ok(true);
        }
        let mut block = vec![0; 64 * 1024];
        let want = self.left.map_or(block.len(), |l| l.min(block.len()));
        if want == 0 {
            self.ended = true;
            return Ok(false);
        }
        let n = self.reader.read(&mut block[..want])?;
        if n == 0 {
            self.ended = true;
            return Ok(false);
        }
        if let Some(left) = &mut self.left {
            *left -= n;
        }
        self.buf.extend_from_slice(&block[..n]);
        Ok(true)
    }

    /// The next line of the body (without its `\n`), if one comes by `deadline`.
    fn line(&mut self, deadline: Instant) -> Option<String> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                return Some(String::from_utf8_lossy(&line[..i]).into_owned());
            }
            if !self.more(deadline) {
                return None;
            }
        }
    }

    /// The next line of the body as JSON.
    fn json_line(&mut self, deadline: Instant) -> Option<Value> {
        let line = self.line(deadline)?;
        Some(serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
    }

    /// The next Server-Sent Event (or comment), if one comes by `deadline`.
    fn event(&mut self, deadline: Instant) -> Option<Sse> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buf.drain(..i + 2).collect();
                let text = String::from_utf8_lossy(&block[..i]).into_owned();
                let mut sse = Sse {
                    event: "message".into(),
                    data: String::new(),
                    comment: None,
                };
                for line in text.lines() {
                    if let Some(name) = line.strip_prefix("event: ") {
                        sse.event = name.to_string();
                    } else if let Some(data) = line.strip_prefix("data: ") {
                        sse.data.push_str(data);
                    } else if let Some(comment) = line.strip_prefix(':') {
                        sse.comment = Some(comment.trim().to_string());
                    }
                }
                return Some(sse);
            }
            if !self.more(deadline) {
                return None;
            }
        }
    }

    /// The next event named `name` for which `wanted` holds, skipping others.
    fn event_where(
        &mut self,
        name: &str,
        deadline: Instant,
        wanted: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        loop {
            let sse = self.event(deadline)?;
            if sse.event == name && wanted(&sse.json()) {
                return Some(sse.json());
            }
        }
    }

    /// The whole body.
    fn text(mut self) -> String {
        let deadline = Instant::now() + PATIENT;
        while self.more(deadline) {}
        assert!(self.ended, "the body did not end");
        String::from_utf8_lossy(&self.buf).into_owned()
    }

    #[track_caller]
    fn json(self) -> Value {
        let text = self.text();
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }

    /// A refusal as SPEC says every error is: `{"error": "message"}`; the message.
    #[track_caller]
    fn error(self, status: u16) -> String {
        let got = self.status;
        let body = self.json();
        assert_eq!(got, status, "{body}");
        let message = body["error"].as_str().unwrap_or_default().to_string();
        assert!(!message.is_empty(), "no error message in {body}");
        message
    }
}

fn soon(d: Duration) -> Instant {
    Instant::now() + d
}

/// A project with `web` (logs each request) and `worker` (depends on `web`), both the test
/// service on a port, sampled every second, plus `extra` services; brought up. `down` when
/// dropped.
struct Bed {
    project: Project,
    web_port: u16,
}

impl Bed {
    fn up(extra: &str) -> Bed {
        let bed = Bed::configured(extra);
        bed.project.berth(&["up", "--timeout", "30s"]).code(0);
        bed
    }

    fn configured(extra: &str) -> Bed {
        Bed::with("", extra)
    }

    /// `top`: top-level sections before `services:`; `extra`: more services.
    fn with(top: &str, extra: &str) -> Bed {
        let service = test_service().display().to_string();
        let web_port = free_port();
        let project = Project::new(&format!(
            "monitor:\n  interval: 1s\n{top}services:\n  web:\n    command: [\"{service}\", \"--log-requests\"]\n    port: {web_port}\n  worker:\n    command: [\"{service}\"]\n    port: {}\n    depends_on: [web]\n{extra}",
            free_port()
        ));
        Bed { project, web_port }
    }

    fn socket(&self) -> PathBuf {
        self.project.path().join(".berth/berth.sock")
    }

    fn get(&self, path: &str) -> Answer {
        send(&self.socket(), "GET", path, None)
    }

    fn post(&self, path: &str, body: Option<&str>) -> Answer {
        send(&self.socket(), "POST", path, body)
    }

    fn row(&self, name: &str) -> Value {
        let detail = self.get(&format!("/v1/services/{name}"));
        assert_eq!(detail.status, 200);
        detail.json()["service"].take()
    }

    fn pid(&self, name: &str) -> Option<u64> {
        self.row(name)["pid"].as_u64()
    }

    /// Waits until `name` runs, healthy, with a pid other than `not`; its pid.
    #[track_caller]
    fn running(&self, name: &str, not: Option<u64>) -> u64 {
        wait_until(PATIENT, || {
            let row = self.row(name);
            (row["state"] == "running" && row["health"] == "healthy")
                .then(|| row["pid"].as_u64())
                .flatten()
                .filter(|pid| Some(*pid) != not)
        })
        .unwrap_or_else(|| panic!("{name} is not running: {}", self.row(name)))
    }

    fn daemon_pid(&self) -> u32 {
        daemon_pid(self.project.path()).expect("the daemon runs")
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        let _ = self.project.berth(&["down", "--force"]).output_any();
    }
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

fn alive(pid: u64) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

fn kill_9(pid: u64) {
    crate::support::kill_9(berth::process::ProcessId::of(pid as u32).unwrap());
}

/// The daemon's resident memory, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

/// The daemon's threads, but for the runtime's pool (it keeps idle threads a while after a
/// burst of requests).
fn threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter(|t| {
            std::fs::read_to_string(t.as_ref().unwrap().path().join("comm"))
                .is_ok_and(|c| !c.starts_with("tokio-"))
        })
        .count()
}

#[test]
fn one_service_has_its_row_definition_events_and_alerts() {
    let bed = Bed::up("");
    bed.running("web", None);
    // Once its events are written (the history writer takes up to 200 ms).
    wait_until(PATIENT, || {
        let detail = bed.get("/v1/services/web").json();
        (detail["events"].as_array().unwrap().len() >= 2).then_some(())
    })
    .expect("web's events");
    let detail = bed.get("/v1/services/web");
    assert_eq!(detail.status, 200);
    assert_eq!(detail.header("content-type"), Some("application/json"));
    let detail = detail.json();
    assert_eq!(
        keys(&detail),
        set(&["service", "definition", "events", "alerts"])
    );
    // The row is the one `/v1/status` has.
    let status = bed.get("/v1/status").json();
    let row = status["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "web")
        .unwrap()
        .clone();
    for key in [
        "name", "state", "health", "pid", "port", "restarts", "score",
    ] {
        assert_eq!(detail["service"][key], row[key], "{key}: {detail}");
    }
    assert_eq!(detail["service"]["port"], bed.web_port);
    // The definition as `berth config --json` shows it.
    let config = bed.project.berth(&["config", "--json"]).code(0).json();
    assert_eq!(detail["definition"], config["services"]["web"]);
    assert_eq!(detail["definition"]["restart"], "on-failure");
    // Its own events, at most 10, as `events --json` prints them.
    let events = detail["events"].as_array().unwrap();
    assert!(!events.is_empty() && events.len() <= 10, "{detail}");
    assert!(events.iter().all(|e| e["service"] == "web"), "{detail}");
    assert!(events.iter().any(|e| e["kind"] == "started"), "{detail}");
    assert_eq!(
        keys(&events[0]),
        set(&["time", "service", "kind", "message", "data"])
    );
    assert_eq!(detail["alerts"], serde_json::json!([]));

    // Unknown services and routes are 404s, with words; a wrong method a 405.
    let message = bed.get("/v1/services/wbe").error(404);
    assert_eq!(
        message,
        "no service `wbe` in the config; did you mean `web`?"
    );
    bed.post("/v1/services/nope/start", None).error(404);
    bed.post("/v1/services/nope/stop", None).error(404);
    bed.post("/v1/services/nope/restart", None).error(404);
    bed.get("/v1/logs/nope").error(404);
    bed.get("/v1/events?service=nope&follow=1").error(404);
    assert_eq!(
        bed.post("/v1/services/web/frobnicate", None).error(404),
        "no route /v1/services/web/frobnicate"
    );
    bed.get("/v1/services/web/logs").error(404);
    bed.get("/v1/services/web/start").error(405);
    // A body that is not what a start takes is refused; nothing happens.
    let pid = bed.pid("web");
    assert!(
        bed.post("/v1/services/web/restart", Some("{\"timeout_ms\": 5}"))
            .error(400)
            .contains("only a stop")
    );
    assert!(
        bed.post("/v1/services/web/stop", Some("{\"force\": true}"))
            .error(400)
            .contains("unknown field")
    );
    bed.post("/v1/services/web/stop", Some("not json"))
        .error(400);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(bed.pid("web"), pid, "a refused request changed something");
    assert_eq!(bed.row("web")["state"], "running");
}

/// A daemon given no stack yet answers 503 where a stack is needed; `ports` and `stream`
/// work without.
#[test]
fn before_any_up_the_service_routes_are_503() {
    let bed = Bed::configured("");
    let mut daemon = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("daemon")
        .current_dir(bed.project.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let socket = bed.socket();
    wait_until(PATIENT, || UnixStream::connect(&socket).ok()).expect("the daemon serves");
    for (method, path) in [
        ("GET", "/v1/services/web"),
        ("POST", "/v1/services/web/start"),
        ("POST", "/v1/services/web/stop"),
        ("POST", "/v1/services/web/restart"),
        ("GET", "/v1/logs/web"),
        ("GET", "/v1/logs/web?follow=1"),
        ("GET", "/v1/events?follow=1"),
    ] {
        let message = send(&socket, method, path, None).error(503);
        assert!(message.contains("berth up"), "{path}: {message}");
    }
    let ports = bed.get("/v1/ports");
    assert_eq!(ports.status, 200);
    assert_eq!(ports.json()["services"], serde_json::json!([]));
    let mut stream = bed.get("/v1/stream");
    assert_eq!(stream.status, 200);
    let status = stream
        .event_where("status", soon(PATIENT), |_| true)
        .unwrap();
    assert_eq!(status["services"], serde_json::json!([]));
    drop(stream);
    bed.project.berth(&["daemon", "stop"]).code(0);
    let ended = wait_until(PATIENT, || daemon.try_wait().unwrap());
    assert!(ended.is_some(), "the daemon did not stop");
}

#[test]
fn logs_give_lines_as_ndjson_and_follow_new_ones() {
    let bed = Bed::up("");
    bed.running("web", None);
    let web = format!("http://127.0.0.1:{}", bed.web_port);
    for i in 0..5 {
        let _ = ureq::get(&format!("{web}/before-{i}")).call();
    }
    let log = |query: &str| -> Vec<Value> {
        let answer = bed.get(&format!("/v1/logs/web{query}"));
        assert_eq!(answer.status, 200);
        assert_eq!(answer.header("content-type"), Some("application/x-ndjson"));
        answer
            .text()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let all = wait_until(PATIENT, || {
        let all = log("");
        all.iter()
            .any(|l| l["line"] == "request /before-4")
            .then_some(all)
    })
    .unwrap();
    assert_eq!(keys(&all[0]), set(&["time", "stream", "line"]));
    assert!(
        all.iter()
            .all(|l| l["stream"] == "out" || l["stream"] == "berth")
    );
    assert!(
        all.iter()
            .all(|l| l["time"].as_str().unwrap().ends_with('Z'))
    );
    let last2 = log("?lines=2");
    assert_eq!(last2.len(), 2);
    assert_eq!(last2[1]["line"], "request /before-4");
    assert_eq!(last2, all[all.len() - 2..]);
    assert_eq!(log("?lines=0"), Vec::<Value>::new());
    assert_eq!(log("?since=1h").len(), all.len());

    // Bad values are 400s, saying which.
    for (query, about) in [
        ("lines=-1", "lines"),
        ("lines=x", "lines"),
        ("lines=2000000", "lines"),
        ("since=soon", "since"),
        ("follow=maybe", "follow"),
    ] {
        let message = bed.get(&format!("/v1/logs/web?{query}")).error(400);
        assert!(message.starts_with(about), "{query}: {message}");
    }

    // Following: the last line, then a new one within a second of its being written.
    let mut follow = bed.get("/v1/logs/web?lines=1&follow=1");
    assert_eq!(follow.status, 200);
    assert_eq!(follow.header("content-type"), Some("application/x-ndjson"));
    let first = follow.json_line(soon(PATIENT)).unwrap();
    assert_eq!(first["line"], "request /before-4");
    let _ = ureq::get(&format!("{web}/now")).call();
    let line = follow.json_line(soon(PATIENT)).expect("the new line");
    let seen = berth::logs::time::now_ms();
    assert_eq!(line["line"], "request /now");
    let written = berth::logs::time::parse_rfc3339_ms(line["time"].as_str().unwrap()).unwrap();
    assert!(
        seen.saturating_sub(written) < 1000,
        "the line came {} ms after it was written",
        seen - written
    );
    // The follower goes when its client does.
    let pid = bed.daemon_pid();
    assert_eq!(named_threads(pid, "logs -f web"), 1);
    drop(follow);
    let _ = ureq::get(&format!("{web}/after")).call();
    let gone = wait_until(PATIENT, || {
        (named_threads(pid, "logs -f web") == 0).then_some(())
    });
    assert!(gone.is_some(), "the follower's thread outlived its client");
}

#[test]
fn events_follow_delivers_new_events_within_a_second() {
    let bed = Bed::up("");
    let pid = bed.running("web", None);
    let all = wait_until(PATIENT, || {
        let all = bed.get("/v1/events?service=web").text();
        all.contains("\"ready\"").then_some(all)
    })
    .expect("web's events");
    assert!(all.lines().count() >= 2, "{all}");
    bed.get("/v1/events?follow=maybe").error(400);
    bed.get("/v1/events?follow=1&kind=boom").error(400);
    bed.get("/v1/events?follow=1&since=soon").error(400);

    let mut follow = bed.get("/v1/events?service=web&lines=1&follow=1");
    assert_eq!(follow.status, 200);
    assert_eq!(follow.header("content-type"), Some("application/x-ndjson"));
    let last = follow.json_line(soon(PATIENT)).unwrap();
    assert_eq!(
        keys(&last),
        set(&["time", "service", "kind", "message", "data"])
    );
    assert_eq!(last["service"], "web");
    kill_9(pid);
    let exited = loop {
        let event = follow
            .json_line(soon(PATIENT))
            .expect("an event after the kill");
        assert_eq!(event["service"], "web", "only web's: {event}");
        if event["kind"] == "exited" {
            break event;
        }
    };
    let seen = berth::logs::time::now_ms();
    let at = berth::logs::time::parse_rfc3339_ms(exited["time"].as_str().unwrap()).unwrap();
    assert!(
        seen.saturating_sub(at) < 1000,
        "the event came {} ms after it happened",
        seen - at
    );
    // And the restart that follows.
    let started = loop {
        let event = follow.json_line(soon(PATIENT)).expect("its restart");
        if event["kind"] == "started" {
            break event;
        }
    };
    assert_ne!(started["data"]["pid"], pid);
}

#[test]
fn restart_gives_a_new_pid_and_stop_then_start_brings_it_back() {
    let bed = Bed::up("");
    let web = bed.running("web", None);
    let worker = bed.running("worker", None);

    // Restart: 202 at once with web and its dependent that runs, in start order.
    let answer = bed.post("/v1/services/web/restart", None);
    assert_eq!(answer.status, 202);
    assert_eq!(
        answer.json(),
        serde_json::json!({"services": ["web", "worker"]})
    );
    let web2 = bed.running("web", Some(web));
    let worker2 = bed.running("worker", Some(worker));
    assert!(!alive(web) && !alive(worker), "the old instances are gone");

    // Stop: its dependents first.
    let answer = bed.post("/v1/services/web/stop", None);
    assert_eq!(answer.status, 202);
    assert_eq!(
        answer.json(),
        serde_json::json!({"services": ["worker", "web"]})
    );
    wait_until(PATIENT, || {
        (bed.row("web")["state"] == "stopped" && bed.row("worker")["state"] == "stopped")
            .then_some(())
    })
    .expect("both stop");
    assert!(!alive(web2) && !alive(worker2));
    // A stop of what is stopped affects nothing.
    let answer = bed.post("/v1/services/worker/stop", Some("{}"));
    assert_eq!(answer.status, 202);
    assert_eq!(answer.json(), serde_json::json!({"services": []}));

    // Start: as `up worker`, with what it depends on.
    let answer = bed.post("/v1/services/worker/start", None);
    assert_eq!(answer.status, 202);
    assert_eq!(
        answer.json(),
        serde_json::json!({"services": ["web", "worker"]})
    );
    let web3 = bed.running("web", Some(web2));
    bed.running("worker", Some(worker2));
    // Started with the environment of the last `up`: the marks are there.
    let environ = std::fs::read(format!("/proc/{web3}/environ")).unwrap();
    let environ = String::from_utf8_lossy(&environ);
    assert!(environ.contains("BERTH_SERVICE=web"), "{environ}");
    assert!(environ.contains("PATH="), "{environ}");
    // A start of what runs changes nothing.
    assert_eq!(bed.post("/v1/services/web/start", None).status, 202);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(bed.pid("web"), Some(web3));
    // The stack is whole again.
    let status = bed.get("/v1/status").json();
    assert_eq!(status["health"], "healthy", "{status}");
}

/// While a stop takes its time (the service ignores SIGTERM), a start or restart of it is a
/// 409 and the API shows it `stopping`; once stopped, it starts again.
#[test]
fn a_start_while_stopping_is_a_conflict() {
    let service = test_service().display().to_string();
    let bed = Bed::up(&format!(
        "  stubborn:\n    command: [\"{service}\", \"--ignore-term\", \"--no-listen\"]\n    stop_timeout: 3s\n"
    ));
    let pid = wait_until(PATIENT, || {
        let row = bed.row("stubborn");
        (row["state"] == "running")
            .then(|| row["pid"].as_u64())
            .flatten()
    })
    .unwrap();
    let started = Instant::now();
    let answer = bed.post("/v1/services/stubborn/stop", None);
    assert_eq!(answer.status, 202);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the stop waited"
    );
    assert_eq!(answer.json(), serde_json::json!({"services": ["stubborn"]}));
    assert_eq!(bed.row("stubborn")["state"], "stopping");
    let message = bed.post("/v1/services/stubborn/start", None).error(409);
    assert!(message.contains("`stubborn` is being stopped"), "{message}");
    bed.post("/v1/services/stubborn/restart", None).error(409);
    bed.post("/v1/services/stubborn/stop", None).error(409);
    // Others are not held up.
    assert_eq!(bed.row("web")["state"], "running");
    // SIGKILL after the stop timeout; then it may start again.
    wait_until(PATIENT, || {
        (bed.row("stubborn")["state"] == "stopped").then_some(())
    })
    .expect("it stops");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "the timeout was not waited for"
    );
    assert!(!alive(pid));
    assert_eq!(bed.post("/v1/services/stubborn/start", None).status, 202);
    wait_until(PATIENT, || {
        let row = bed.row("stubborn");
        (row["state"] == "running" && row["pid"].as_u64() != Some(pid)).then_some(())
    })
    .expect("it starts again");
    // A stop with a zero timeout kills at once.
    let started = Instant::now();
    assert_eq!(
        bed.post("/v1/services/stubborn/stop", Some("{\"timeout_ms\": 0}"))
            .status,
        202
    );
    wait_until(PATIENT, || {
        (bed.row("stubborn")["state"] == "stopped").then_some(())
    })
    .expect("it stops");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "it was not killed at once"
    );
}

#[test]
fn the_stream_tells_status_events_and_samples_as_they_happen() {
    let bed = Bed::up("");
    let pid = bed.running("web", None);
    let mut stream = bed.get("/v1/stream");
    assert_eq!(stream.status, 200);
    assert_eq!(stream.header("content-type"), Some("text/event-stream"));
    assert_eq!(stream.header("cache-control"), Some("no-cache"));
    // The stack at once, as `/v1/status` has it.
    let first = stream
        .event_where("status", soon(PATIENT), |_| true)
        .unwrap();
    let status = bed.get("/v1/status").json();
    assert_eq!(keys(&first), keys(&status));
    assert_eq!(first["services"][0]["pid"], pid);
    // A sampling round, with each service's usage and the machine.
    let sample = stream
        .event_where("sample", soon(PATIENT), |s| {
            s["services"].as_array().is_some_and(|l| l.len() == 2)
        })
        .unwrap();
    assert_eq!(keys(&sample), set(&["time", "services", "system"]));
    assert_eq!(
        keys(&sample["services"][0]),
        set(&[
            "name",
            "pid",
            "cpu_percent",
            "rss_bytes",
            "open_fds",
            "threads",
            "processes"
        ])
    );
    assert!(sample["system"]["memory_total_bytes"].as_u64().unwrap() > 0);

    // kill -9: a status without that pid comes within a second, and the exit as an event.
    kill_9(pid);
    let killed = Instant::now();
    let changed = stream
        .event_where("status", soon(PATIENT), |s| {
            s["services"]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v["name"] == "web" && v["pid"] != pid)
        })
        .expect("a status after the kill");
    assert!(
        killed.elapsed() < Duration::from_secs(1),
        "the change came after {:?}: {changed}",
        killed.elapsed()
    );
    let exited = stream
        .event_where("event", soon(PATIENT), |e| {
            e["service"] == "web" && e["kind"] == "exited"
        })
        .unwrap();
    assert_eq!(
        keys(&exited),
        set(&["time", "service", "kind", "message", "data"])
    );
    // While anything runs, a status every second at least.
    let mut times = Vec::new();
    while times.len() < 3 {
        stream
            .event_where("status", soon(Duration::from_secs(3)), |_| true)
            .expect("a status every second");
        times.push(Instant::now());
    }
}

/// An alert rule that fires: its transitions come as `event: alert` (and as events), and
/// the service's page lists the alert.
#[test]
fn alert_transitions_come_on_the_stream() {
    let bed = Bed::with(
        "alerts:\n  rules:\n    - name: big\n      when: memory > 1KiB\n      for: 2s\n      services: [web]\n",
        "",
    );
    bed.project.berth(&["up", "--timeout", "30s"]).code(0);
    let mut stream = bed.get("/v1/stream");
    let firing = stream
        .event_where("alert", soon(PATIENT), |e| e["data"]["to"] == "firing")
        .expect("the alert's firing");
    assert_eq!(firing["kind"], "alert");
    assert_eq!(firing["service"], "web", "{firing}");
    assert_eq!(firing["data"]["rule"], "big", "{firing}");
    let detail = bed.get("/v1/services/web").json();
    let alerts = detail["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{detail}");
    assert_eq!(alerts[0]["rule"], "big");
    assert_eq!(alerts[0]["state"], "firing");
    assert_eq!(
        keys(&alerts[0]),
        keys(&bed.get("/v1/alerts").json()["alerts"][0])
    );
    let worker = bed.get("/v1/services/worker").json();
    assert_eq!(worker["alerts"], serde_json::json!([]));
    let events = detail["events"].as_array().unwrap();
    assert!(events.iter().any(|e| e["kind"] == "alert"), "{detail}");
}

/// Fifty clients of `/v1/stream` and one that never reads: every reader keeps getting its
/// status every second, `status` stays fast, and the daemon's memory and threads stay put.
#[test]
fn fifty_stream_clients_and_one_that_never_reads() {
    let bed = Bed::up("");
    bed.running("web", None);
    bed.running("worker", None);
    let pid = bed.daemon_pid();
    let timed = |n: usize| -> Vec<Duration> {
        let mut times: Vec<Duration> = (0..n)
            .map(|_| {
                let started = Instant::now();
                let answer = bed.get("/v1/status");
                assert_eq!(answer.status, 200);
                answer.text();
                started.elapsed()
            })
            .collect();
        times.sort();
        times
    };
    // Warm up (a first stream starts the hub, which ends with it), then the baseline.
    let mut first = bed.get("/v1/stream");
    first.event(soon(PATIENT)).unwrap();
    drop(first);
    timed(20);
    let before = timed(50);
    let rss_before = rss_kib(pid);
    wait_until(PATIENT, || {
        (named_threads(pid, "stream hub") == 0).then_some(())
    })
    .expect("the hub ends with its last client");
    let threads_before = threads(pid);

    // One that sends its request and never reads a byte.
    let mut sleeper = UnixStream::connect(bed.socket()).unwrap();
    sleeper
        .write_all(b"GET /v1/stream HTTP/1.1\r\nHost: berth\r\n\r\n")
        .unwrap();
    let readers: Vec<_> = (0..50)
        .map(|_| {
            let socket = bed.socket();
            std::thread::spawn(move || {
                let mut stream = send(&socket, "GET", "/v1/stream", None);
                assert_eq!(stream.status, 200);
                let until = soon(Duration::from_secs(5));
                let mut statuses = 0;
                while let Some(sse) = stream.event(until) {
                    statuses += usize::from(sse.event == "status");
                }
                statuses
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    let during = timed(50);
    let rss_during = rss_kib(pid);
    let threads_during = threads(pid);
    let hubs = named_threads(pid, "stream hub");
    for reader in readers {
        let statuses = reader.join().unwrap();
        assert!(statuses >= 4, "a reader got {statuses} statuses in 5 s");
    }
    let median = |t: &[Duration]| t[t.len() / 2];
    assert!(
        median(&during) < median(&before) * 3 + Duration::from_millis(20),
        "status slowed from {:?} to {:?} (median)",
        median(&before),
        median(&during)
    );
    assert!(
        during[during.len() - 1] < Duration::from_millis(500),
        "the slowest status took {:?}",
        during[during.len() - 1]
    );
    assert!(
        rss_during < rss_before + 32 * 1024,
        "the daemon grew from {rss_before} KiB to {rss_during} KiB"
    );
    // Fifty-one streams, one thread for all of them (the sampler's helpers come and go).
    assert_eq!(hubs, 1);
    assert!(
        threads_during < threads_before + 10,
        "threads went from {threads_before} to {threads_during}: {:?}",
        thread_names(pid)
    );
    drop(sleeper);
    // Once they have gone, the hub goes too.
    let back = wait_until(PATIENT, || {
        (named_threads(pid, "stream hub") == 0).then_some(())
    });
    assert!(back.is_some(), "{:?}", thread_names(pid));
}

fn thread_names(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|c| c.trim().to_string())
        .collect()
}

/// Threads of the daemon named `name`.
fn named_threads(pid: u32, name: &str) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter(|t| {
            std::fs::read_to_string(t.as_ref().unwrap().path().join("comm"))
                .is_ok_and(|c| c.trim() == name)
        })
        .count()
}

/// A log that floods (20 MB at once), followed by a client that reads and one that never
/// does: the reader gets every line, the daemon's memory stays bounded, and the one that
/// never reads is cut off after the patience (its stream ends without its final chunk).
#[test]
fn a_follower_that_never_reads_costs_a_bounded_queue() {
    let service = test_service().display().to_string();
    let bed = Bed::up(&format!(
        "  flood:\n    command: [\"sh\", \"-c\", \"while [ ! -e go ]; do sleep 0.05; done; exec {service} --no-listen --flood 100000 --line-bytes 200\"]\n    log: {{ max_size: 100MiB }}\n"
    ));
    let pid = bed.daemon_pid();
    let mut sleeper = UnixStream::connect(bed.socket()).unwrap();
    sleeper
        .write_all(b"GET /v1/logs/flood?lines=0&follow=1 HTTP/1.1\r\nHost: berth\r\n\r\n")
        .unwrap();
    let mut reader = bed.get("/v1/logs/flood?lines=0&follow=1");
    assert_eq!(reader.status, 200);
    wait_until(PATIENT, || {
        (named_threads(pid, "logs -f flood") == 2).then_some(())
    })
    .expect("both follow");
    let rss_before = rss_kib(pid);
    bed.project.write("go", "");
    let mut lines = 0;
    while lines < 100_000 {
        let line = reader
            .json_line(soon(PATIENT))
            .unwrap_or_else(|| panic!("only {lines} lines of the flood came"));
        if line["line"].as_str().unwrap().starts_with("line ") {
            lines += 1;
        }
    }
    // The one that never read is cut off once the patience is over.
    wait_until(Duration::from_secs(30), || {
        (named_threads(pid, "logs -f flood") == 1).then_some(())
    })
    .expect("the sleeper's stream was never ended");
    let rss_after = rss_kib(pid);
    assert!(
        rss_after < rss_before + 48 * 1024,
        "the daemon grew from {rss_before} KiB to {rss_after} KiB"
    );
    sleeper.set_read_timeout(Some(PATIENT)).unwrap();
    let mut got = Vec::new();
    let _ = sleeper.read_to_end(&mut got);
    let got = String::from_utf8_lossy(&got);
    assert!(
        got.starts_with("HTTP/1.1 200"),
        "{}",
        &got[..got.len().min(200)]
    );
    assert!(
        !got.ends_with("0\r\n\r\n"),
        "a stream cut off does not end as a complete one"
    );
    assert!(got.len() < 20_000_000, "it got {} bytes", got.len());
}

#[test]
fn ports_list_the_sockets_with_the_stack_flagged() {
    let idle_port = free_port();
    let service = test_service().display().to_string();
    let bed = Bed::up(&format!(
        "  idle:\n    command: [\"{service}\"]\n    port: {idle_port}\n    autostart: false\n"
    ));
    bed.running("web", None);
    let squatter = Squatter::on(idle_port, None);
    let ports = bed.get("/v1/ports");
    assert_eq!(ports.status, 200);
    let ports = ports.json();
    assert_eq!(keys(&ports), set(&["listening", "services"]));
    let listening = ports["listening"].as_array().unwrap();
    let web = listening
        .iter()
        .find(|l| l["port"] == bed.web_port)
        .unwrap_or_else(|| panic!("web's port is not listed: {ports}"));
    assert_eq!(web["proto"], "tcp");
    assert_eq!(web["service"], "web");
    assert_eq!(web["configured_for"], "web");
    assert_eq!(web["ours"], true);
    assert_eq!(web["pid"], bed.pid("web").unwrap());
    for key in [
        "port", "proto", "address", "pid", "user", "command", "service",
    ] {
        assert!(web.get(key).is_some(), "{key} missing: {web}");
    }
    let services = ports["services"].as_array().unwrap();
    let ours: BTreeSet<u64> = services
        .iter()
        .map(|s| s["port"].as_u64().unwrap())
        .collect();
    for l in listening {
        assert_eq!(l["proto"], "tcp", "UDP only with all=1: {l}");
        let flagged = !l["configured_for"].is_null();
        assert_eq!(flagged, ours.contains(&l["port"].as_u64().unwrap()), "{l}");
    }
    let of = |name: &str| {
        services
            .iter()
            .find(|s| s["service"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(of("web")["state"], "ours");
    assert_eq!(of("worker")["state"], "ours");
    match squatter {
        Some(_) => {
            let idle = of("idle");
            assert_eq!(idle["state"], "conflict", "{idle}");
            assert!(
                idle["holder"].as_str().unwrap().contains("python3"),
                "{idle}"
            );
        }
        None => assert_eq!(of("idle")["state"], "free"),
    }
    // UDP too with all=1; a bad flag is a 400.
    assert_eq!(bed.get("/v1/ports?all=1").status, 200);
    bed.get("/v1/ports?all=perhaps").error(400);
}

/// `berth daemon stop` with streams open: they end, and the daemon goes.
#[test]
fn the_daemon_stops_with_streams_open() {
    let bed = Bed::up("");
    bed.running("web", None);
    let pid = bed.daemon_pid();
    let mut stream = bed.get("/v1/stream");
    let mut logs = bed.get("/v1/logs/web?follow=1");
    let mut events = bed.get("/v1/events?follow=1");
    stream
        .event_where("status", soon(PATIENT), |_| true)
        .unwrap();
    bed.project.berth(&["daemon", "stop"]).code(0);
    let gone = wait_until(Duration::from_secs(10), || {
        (!Path::new(&format!("/proc/{pid}")).exists()).then_some(())
    });
    assert!(gone.is_some(), "the daemon is still there");
    for answer in [&mut stream, &mut logs, &mut events] {
        while answer.more(soon(Duration::from_secs(5))) {}
        assert!(answer.ended, "a stream was left open");
    }
    // The services ran on.
    let status = bed.project.berth(&["status", "--json"]).code_any_json();
    assert_eq!(status["services"][0]["state"], "running", "{status}");
}

/// On TCP the new routes are behind the token like every other; the stream works there too.
#[test]
fn on_tcp_the_routes_need_the_token() {
    let api = free_port();
    let bed = Bed::with(&format!("api:\n  listen: 127.0.0.1:{api}\n"), "");
    bed.project.berth(&["up", "--timeout", "30s"]).code(0);
    let token = std::fs::read_to_string(bed.project.path().join(".berth/token")).unwrap();
    let bearer = format!("Bearer {}", token.trim());
    let host = format!("127.0.0.1:{api}");
    let tcp = |method: &str, path: &str, auth: bool| {
        let mut headers = vec![("Host", host.as_str())];
        if auth {
            headers.push(("Authorization", bearer.as_str()));
        }
        send_on(
            Box::new(TcpStream::connect(("127.0.0.1", api)).unwrap()),
            method,
            path,
            &headers,
            None,
        )
    };
    for (method, path) in [
        ("GET", "/v1/services/web"),
        ("POST", "/v1/services/web/restart"),
        ("GET", "/v1/logs/web"),
        ("GET", "/v1/ports"),
        ("GET", "/v1/stream"),
    ] {
        tcp(method, path, false).error(401);
    }
    assert_eq!(tcp("GET", "/v1/services/web", true).status, 200);
    let mut stream = tcp("GET", "/v1/stream", true);
    assert_eq!(stream.status, 200);
    stream
        .event_where("status", soon(PATIENT), |_| true)
        .unwrap();
}
