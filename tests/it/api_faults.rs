//! Bad input against a real daemon on its Unix socket (SPEC.md, The API: "No request can
//! crash the daemon or change anything when it is refused"): malformed JSON and wrong types
//! on every route that takes a body, a body with no JSON content type, unknown services and
//! routes, path tricks (encoded slashes and dots, `..` segments, very long names), bodies
//! over 2 MiB, negative and absurd query values. Each is a 4xx with `{"error": "…"}`, and
//! afterwards the services, the daemon and the silences are as they were.

use crate::api_tcp::{Reply, exchange};
use crate::support::{Project, daemon_pid, free_port, test_service, wait_until};
use serde_json::Value;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `web` and `worker` (which depends on it), one alert rule; brought up, and `down` when
/// dropped.
struct Stack {
    project: Project,
}

impl Stack {
    fn up() -> Stack {
        let service = test_service().display().to_string();
        let project = Project::new(&format!(
            "alerts:\n  rules:\n    - name: web-down\n      when: health == unhealthy\n      for: 1m\n      services: [web]\nservices:\n  web:\n    command: [\"{service}\"]\n    port: {}\n  worker:\n    command: [\"{service}\", \"--no-listen\"]\n    depends_on: [web]\n",
            free_port()
        ));
        project.berth(&["up", "--timeout", "30s"]).code(0);
        Stack { project }
    }

    fn socket(&self) -> PathBuf {
        self.project.path().join(".berth/berth.sock")
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Reply {
        call(&self.socket(), method, path, headers, body)
    }

    /// A JSON body, as a client that says what it sends would send it.
    fn post_json(&self, path: &str, body: &str) -> Reply {
        self.send(
            "POST",
            path,
            &[("Content-Type", "application/json")],
            Some(body),
        )
    }

    /// What a refusal must leave as it was: each service's state, pid and restarts, the
    /// daemon's pid, the silences.
    fn snapshot(&self) -> Value {
        let status = self.send("GET", "/v1/status", &[], None).json();
        let services: Vec<Value> = status["services"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| serde_json::json!([s["name"], s["state"], s["pid"], s["restarts"]]))
            .collect();
        let alerts = self.send("GET", "/v1/alerts", &[], None).json();
        serde_json::json!({
            "services": services,
            "daemon": daemon_pid(self.project.path()),
            "silences": alerts["silences"],
        })
    }

    /// Checks, a moment after the refusals (an action would have begun by then), that nothing
    /// changed since `before`.
    #[track_caller]
    fn unchanged(&self, before: &Value) {
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(
            &self.snapshot(),
            before,
            "a refused request changed something"
        );
    }

    /// Waits until both services run.
    fn running(&self) -> Value {
        wait_until(Duration::from_secs(30), || {
            let snapshot = self.snapshot();
            snapshot["services"]
                .as_array()
                .unwrap()
                .iter()
                .all(|s| s[1] == "running")
                .then_some(snapshot)
        })
        .expect("web and worker run")
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.project.berth(&["down", "--force"]).output_any();
    }
}

/// One request on the daemon's Unix socket, and its whole answer.
pub fn call(
    socket: &Path,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Reply {
    let connection = UnixStream::connect(socket).expect("the daemon serves");
    exchange(connection, "localhost", method, path, headers, body)
}

/// An answer's status and headers (names lowercased), and what follows its head.
pub fn head<'a>(text: &'a str, what: &str) -> (u16, Vec<(String, String)>, &'a str) {
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("{what}: no answer ({} bytes)", text.len()));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1)?.parse().ok())
        .unwrap_or_else(|| panic!("{what}: bad status line in {head}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, rest)
}

/// `request` (head and body) sent as it is, to a daemon that may refuse it before it has
/// read it all: it answers, then closes, so the rest cannot be written (a broken pipe) and
/// the answer is read all the same, as curl reads it.
fn send_unread(socket: &Path, what: &str, request: &[u8]) -> Reply {
    let mut connection = UnixStream::connect(socket).expect("the daemon serves");
    connection
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let _ = connection.write_all(request);
    let mut raw = Vec::new();
    let _ = connection.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (status, headers, body) = head(&text, what);
    Reply {
        status,
        headers,
        body: body.to_string(),
    }
}

/// `POST path` with a JSON `body`, which the daemon may refuse before reading it all.
fn post_unread(socket: &Path, path: &str, body: &str) -> Reply {
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    send_unread(socket, &format!("POST {path}"), request.as_bytes())
}

/// A refusal as SPEC.md says every one is: `status`, a JSON content type, a message.
#[track_caller]
fn refused(reply: &Reply, status: u16, what: &str) -> String {
    assert_eq!(reply.status, status, "{what}: {}", reply.body);
    assert!(
        reply
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/json")),
        "{what}: content type {:?}",
        reply.header("content-type")
    );
    let body: Value = serde_json::from_str(&reply.body)
        .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {}", reply.body));
    let message = body["error"].as_str().unwrap_or_default().to_string();
    assert!(!message.is_empty(), "{what}: no error message in {body}");
    assert_eq!(body.as_object().unwrap().len(), 1, "{what}: {body}");
    message
}

/// The routes that take a JSON body, each with a body it would take (so that only what the
/// case changes is wrong).
const BODIES: &[(&str, &str)] = &[
    ("/v1/up", r#"{"stack": {}, "services": [], "env": {}}"#),
    ("/v1/down", r#"{"services": []}"#),
    ("/v1/alerts/silence", r#"{"rule": "web-down", "for": "1m"}"#),
    ("/v1/alerts/unsilence", r#"{"rule": "web-down"}"#),
    ("/v1/alerts/test", r#"{"channels": []}"#),
    ("/v1/services/web/start", "{}"),
    ("/v1/services/web/stop", "{}"),
    ("/v1/services/web/restart", "{}"),
];

#[test]
fn malformed_json_wrong_types_and_no_json_type_are_400s() {
    let stack = Stack::up();
    let before = stack.running();
    for (path, _) in BODIES {
        for body in [
            "{",
            "not json",
            "[1, 2",
            "\"just a string",
            "{\"a\": 1,}",
            "\u{0}",
        ] {
            let what = format!("POST {path} {body:?}");
            refused(&stack.post_json(path, body), 400, &what);
        }
    }
    // The right syntax, the wrong types (or shapes).
    for (path, body) in [
        ("/v1/down", r#"{"services": 3}"#),
        ("/v1/down", r#"{"services": ["web"], "timeout_ms": -1}"#),
        ("/v1/down", r#"{"services": ["web"], "timeout_ms": "soon"}"#),
        ("/v1/down", "[]"),
        // serde reads a struct from an array too: `[[]]` would be a down of every service.
        ("/v1/down", "[[]]"),
        ("/v1/down", "[[], 0]"),
        ("/v1/alerts/test", "[[]]"),
        ("/v1/alerts/unsilence", r#"["web-down"]"#),
        ("/v1/up", r#"{"stack": 1, "services": [], "env": {}}"#),
        ("/v1/up", r#"{"services": [], "env": {}}"#),
        ("/v1/alerts/silence", r#"{"rule": 5, "for": "1m"}"#),
        ("/v1/alerts/silence", r#"{"rule": "web-down"}"#),
        (
            "/v1/alerts/silence",
            r#"{"rule": "web-down", "for": "1m", "extra": 1}"#,
        ),
        ("/v1/alerts/unsilence", r#"{"rule": ["web-down"]}"#),
        ("/v1/alerts/test", r#"{"channels": "all"}"#),
        ("/v1/services/web/stop", r#"{"timeout_ms": -5}"#),
        ("/v1/services/web/stop", r#"{"timeout_ms": 1e400}"#),
        ("/v1/services/web/stop", r#"{"timeout_ms": "soon"}"#),
        ("/v1/services/web/stop", "null"),
        ("/v1/services/web/restart", "[]"),
        ("/v1/services/web/stop", "[0]"),
        ("/v1/services/web/start", "[]"),
    ] {
        refused(
            &stack.post_json(path, body),
            400,
            &format!("POST {path} {body}"),
        );
    }
    // A body that is JSON, sent without saying so (or saying it is something else).
    for (path, body) in BODIES
        .iter()
        .filter(|(p, _)| !p.starts_with("/v1/services/"))
    {
        let what = format!("POST {path} with no JSON content type");
        refused(&stack.send("POST", path, &[], Some(body)), 400, &what);
        let as_text = [("Content-Type", "text/plain")];
        refused(&stack.send("POST", path, &as_text, Some(body)), 400, &what);
    }
    stack.unchanged(&before);
}

#[test]
fn unknown_services_routes_and_path_tricks_are_404s() {
    let stack = Stack::up();
    let before = stack.running();
    let long = "a".repeat(4000);
    let unknown_services = [
        ("GET", "/v1/services/nope".to_string()),
        ("GET", "/v1/services/..%2f..".to_string()),
        ("GET", "/v1/services/..%2F..%2Fberth.yaml".to_string()),
        ("GET", "/v1/services/%2e%2e".to_string()),
        ("GET", "/v1/services/web%2Fstart".to_string()),
        ("GET", "/v1/services/web%00".to_string()),
        ("GET", "/v1/services/%20web".to_string()),
        ("GET", format!("/v1/services/{long}")),
        ("GET", "/v1/logs/..%2F..%2F..%2Fetc%2Fpasswd".to_string()),
        ("GET", "/v1/logs/%2e%2e%2fweb".to_string()),
        ("GET", format!("/v1/logs/{long}")),
        ("POST", "/v1/services/..%2fweb/stop".to_string()),
        ("POST", "/v1/services/web%2F..%2Fworker/restart".to_string()),
        ("POST", format!("/v1/services/{long}/stop")),
        ("GET", "/v1/stats?service=nope".to_string()),
        ("GET", "/v1/events?service=..%2Fweb".to_string()),
        (
            "GET",
            "/v1/history?metric=cpu_percent&service=%2e%2e".to_string(),
        ),
    ];
    for (method, path) in &unknown_services {
        let message = refused(&stack.send(method, path, &[], None), 404, path);
        assert!(message.contains("no service"), "{method} {path}: {message}");
    }
    let unknown_routes = [
        ("GET", "/v1/nothing"),
        ("GET", "/v2/status"),
        ("GET", "/v1/status/extra"),
        ("GET", "/v1/services"),
        ("GET", "/v1/services/"),
        ("GET", "/v1/services/web/"),
        ("GET", "//v1/status"),
        ("GET", "/v1//status"),
        ("GET", "/V1/STATUS"),
        ("GET", "/v1/status%2F"),
        // `..` segments are not resolved: they never reach another route.
        ("POST", "/v1/services/web/../../daemon/stop"),
        ("POST", "/v1/services/web/stop/../../../down"),
        ("GET", "/v1/logs/web/../../status"),
        ("POST", "/v1/%2e%2e/v1/daemon/stop"),
    ];
    for (method, path) in unknown_routes {
        let message = refused(&stack.send(method, path, &[], None), 404, path);
        assert!(
            message.starts_with("no route"),
            "{method} {path}: {message}"
        );
    }
    // A request line over 64 KiB is refused by the HTTP layer before any route sees it:
    // 414, with no body (hyper writes it; it cannot be `{"error"}`).
    let huge_name = "a".repeat(70_000);
    let request = format!("GET /v1/services/{huge_name} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let reply = send_unread(
        &stack.socket(),
        "a 70,000-character name",
        request.as_bytes(),
    );
    assert_eq!(
        reply.status,
        414,
        "{}",
        &reply.body[..reply.body.len().min(200)]
    );
    // A route asked with a method it does not take.
    for (method, path) in [
        ("DELETE", "/v1/services/web"),
        ("PUT", "/v1/status"),
        ("GET", "/v1/daemon/stop"),
        ("POST", "/v1/openapi.json"),
    ] {
        refused(&stack.send(method, path, &[], None), 405, path);
    }
    stack.unchanged(&before);
}

#[test]
fn bodies_over_two_mib_are_413s() {
    let stack = Stack::up();
    let before = stack.running();
    // Valid JSON, just too much of it: the size alone is refused.
    let huge = format!(r#"{{"services": [], "pad": "{}"}}"#, "x".repeat(3 << 20));
    for (path, _) in BODIES {
        let message = refused(&post_unread(&stack.socket(), path, &huge), 413, path);
        assert!(!message.is_empty());
    }
    // Just under the limit is read (and refused for what it says, not for its size).
    let under = format!(r#"{{"services": ["{}"]}}"#, "x".repeat((2 << 20) - 100));
    let reply = stack.post_json("/v1/down", &under);
    assert_eq!(
        reply.status,
        400,
        "{}",
        &reply.body[..reply.body.len().min(300)]
    );
    stack.unchanged(&before);
}

#[test]
fn negative_and_absurd_query_values_are_400s() {
    let stack = Stack::up();
    let before = stack.running();
    for path in [
        "/v1/logs/web?lines=-1",
        "/v1/logs/web?lines=1000001",
        "/v1/logs/web?lines=99999999999999999999999",
        "/v1/logs/web?lines=1.5",
        "/v1/logs/web?lines=",
        "/v1/logs/web?lines=0x10",
        "/v1/logs/web?since=-5m",
        "/v1/logs/web?since=99999999999999999999d",
        "/v1/logs/web?since=100000d",
        "/v1/logs/web?since=5",
        "/v1/logs/web?follow=maybe",
        "/v1/logs/web?follow=2",
        "/v1/events?lines=0",
        "/v1/events?lines=-3",
        "/v1/events?lines=18446744073709551616",
        "/v1/events?since=-1h",
        "/v1/events?kind=nope",
        "/v1/events?kind=",
        "/v1/events?follow=yes",
        "/v1/alerts/history?since=soon",
        "/v1/alerts/history?lines=0",
        "/v1/stats?since=-5m",
        "/v1/stats?since=1y",
        "/v1/stats?since=",
        "/v1/history",
        "/v1/history?metric=",
        "/v1/history?metric=nope",
        "/v1/history?metric=cpu_percent",
        "/v1/history?metric=cpu_percent&service=web&since=-1h",
        "/v1/history?metric=cpu_percent&service=web&step=0s",
        "/v1/history?metric=cpu_percent&service=web&step=999ms",
        "/v1/history?metric=cpu_percent&service=web&since=3650d&step=1s",
        "/v1/history?metric=cpu_percent&service=web&step=-1s",
        "/v1/history?metric=system.load1&since=99999999999999d",
        "/v1/ports?all=2",
        "/v1/ports?all=-1",
    ] {
        refused(&stack.send("GET", path, &[], None), 400, path);
    }
    // Silences: a known rule, an impossible length.
    for body in [
        r#"{"rule": "web-down", "for": "0s"}"#,
        r#"{"rule": "web-down", "for": "-1m"}"#,
        r#"{"rule": "web-down", "for": "366d"}"#,
        r#"{"rule": "web-down", "for": "99999999999999999999d"}"#,
        r#"{"rule": "web-down", "for": ""}"#,
    ] {
        refused(&stack.post_json("/v1/alerts/silence", body), 400, body);
    }
    refused(
        &stack.post_json("/v1/alerts/silence", r#"{"rule": "nope", "for": "1m"}"#),
        404,
        "an unknown rule",
    );
    refused(
        &stack.post_json(
            "/v1/alerts/silence",
            r#"{"rule": "web-down", "service": "nope", "for": "1m"}"#,
        ),
        404,
        "an unknown service",
    );
    stack.unchanged(&before);
}
