//! The API on TCP (`api.listen`) against a real daemon, in plain HTTP/1.1 over
//! `std::net::TcpStream`: who may use it (token, `Host`, `Origin`), that a refused request
//! changes nothing, `/metrics` with and without a token, a taken listen port, bad queries, and
//! the history routes once the daemon has sampled a few rounds.

use crate::support::{Project, daemon_pid, free_port, test_service, wait_until};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

/// An HTTP answer: status, headers (names lowercased, in order) and body.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("the body is not JSON ({e}):\n{}", self.body))
    }

    /// A refusal as SPEC says every error is: `{"error": "message"}` with a message.
    #[track_caller]
    fn error_json(&self, status: u16) -> String {
        assert_eq!(self.status, status, "status; body: {}", self.body);
        let error = self.json()["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no `error` string in {}", self.body))
            .to_string();
        assert!(!error.is_empty(), "an empty error message");
        error
    }
}

/// `METHOD PATH` to 127.0.0.1:`port`, with `headers` (a `Host` of `127.0.0.1:PORT` unless one
/// is given) and `body`; the whole answer, read until the server closes.
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Reply {
    let stream = TcpStream::connect(("127.0.0.1", port))
        .unwrap_or_else(|e| panic!("connecting to 127.0.0.1:{port}: {e}"));
    exchange(
        stream,
        &format!("127.0.0.1:{port}"),
        method,
        path,
        headers,
        body,
    )
}

/// One request and its answer on `stream` (TCP or the Unix socket), `Connection: close`.
pub fn exchange<S: Read + Write + Timed>(
    mut stream: S,
    default_host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Reply {
    stream.read_timeout(Duration::from_secs(20));
    let mut text = format!("{method} {path} HTTP/1.1\r\n");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        text.push_str(&format!("Host: {default_host}\r\n"));
    }
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("Connection: close\r\n");
    if let Some(body) = body {
        text.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    text.push_str("\r\n");
    text.push_str(body.unwrap_or(""));
    stream.write_all(text.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    parse(&raw)
}

/// What `exchange` needs besides reading and writing: a read timeout, so that a server that
/// never answers fails the test instead of hanging it.
pub trait Timed {
    fn read_timeout(&self, timeout: Duration);
}

impl Timed for TcpStream {
    fn read_timeout(&self, timeout: Duration) {
        self.set_read_timeout(Some(timeout)).unwrap();
    }
}

impl Timed for std::os::unix::net::UnixStream {
    fn read_timeout(&self, timeout: Duration) {
        self.set_read_timeout(Some(timeout)).unwrap();
    }
}

fn parse(raw: &[u8]) -> Reply {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of headers in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    if chunked {
        body = unchunk(&body);
    }
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn unchunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size_text = String::from_utf8_lossy(&rest[..eol]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16)
            .unwrap_or_else(|_| panic!("bad chunk size {size_text:?}"));
        if size == 0 {
            return out;
        }
        let start = eol + 2;
        out.extend_from_slice(&rest[start..start + size]);
        rest = &rest[start + size + 2..];
    }
}

/// A project with two test services (`web`, `worker`), sampled every second, its API on a
/// free port of 127.0.0.1, brought up; `down` when dropped.
struct Daemon {
    project: Project,
    port: u16,
}

impl Daemon {
    /// `api_extra`: more keys of `api:`, each line indented by 2.
    fn up(api_extra: &str) -> Daemon {
        let daemon = Daemon::configured(free_port(), api_extra);
        daemon.project.berth(&["up", "--timeout", "30s"]).code(0);
        daemon
    }

    /// The project, not yet up.
    fn configured(port: u16, api_extra: &str) -> Daemon {
        let service = test_service().display().to_string();
        let project = Project::new(&format!(
            "monitor:\n  interval: 1s\napi:\n  listen: 127.0.0.1:{port}\n{api_extra}services:\n  web:\n    command: [\"{service}\"]\n    port: {}\n  worker:\n    command: [\"{service}\"]\n    port: {}\n",
            free_port(),
            free_port()
        ));
        Daemon { project, port }
    }

    fn token(&self) -> String {
        std::fs::read_to_string(self.project.path().join(".berth/token"))
            .unwrap()
            .trim()
            .to_string()
    }

    fn bearer(&self) -> String {
        format!("Bearer {}", self.token())
    }

    fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        request(self.port, "GET", path, headers, None)
    }

    /// `GET PATH` with the right token.
    fn get_auth(&self, path: &str) -> Reply {
        let bearer = self.bearer();
        self.get(path, &[("Authorization", &bearer)])
    }

    /// Each service's state and pid, from `status --json` through the Unix socket.
    fn services(&self) -> BTreeMap<String, (String, Option<u64>)> {
        let status = self.project.berth(&["status", "--json"]).code_any_json();
        status["services"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["name"].as_str().unwrap().to_string(),
                    (s["state"].as_str().unwrap().to_string(), s["pid"].as_u64()),
                )
            })
            .collect()
    }

    /// Both services run, each with a pid that is alive; what `services` says.
    #[track_caller]
    fn running(&self) -> BTreeMap<String, (String, Option<u64>)> {
        let services = self.services();
        assert_eq!(services.len(), 2, "{services:?}");
        for (name, (state, pid)) in &services {
            assert_eq!(state, "running", "{name}: {services:?}");
            let pid = pid.unwrap_or_else(|| panic!("{name} has no pid"));
            assert!(
                std::path::Path::new(&format!("/proc/{pid}")).exists(),
                "{name}'s pid {pid} is gone"
            );
        }
        services
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.project.berth(&["down", "--force"]).output_any();
    }
}

/// `token` with its last character changed.
fn last_changed(token: &str) -> String {
    let mut t = token.to_string();
    let last = t.pop().unwrap();
    t.push(if last == 'a' { 'b' } else { 'a' });
    t
}

#[test]
fn every_request_needs_the_token() {
    let d = Daemon::up("");
    let token_file = d.project.path().join(".berth/token");
    let mode = std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{} is {mode:o}", token_file.display());
    let token = d.token();
    assert!(token.len() >= 16, "{token:?}");

    let none = d.get("/v1/status", &[]);
    none.error_json(401);
    let challenge = none
        .header("www-authenticate")
        .expect("a 401 says how to authenticate");
    assert!(
        challenge.to_ascii_lowercase().starts_with("bearer"),
        "{challenge}"
    );

    for wrong in [
        "Bearer wrong".to_string(),
        format!("Bearer {}", last_changed(&token)),
        format!("Bearer {token}x"),
        format!("Basic {token}"),
        token.clone(),
    ] {
        let reply = d.get("/v1/status", &[("Authorization", &wrong)]);
        reply.error_json(401);
        assert!(reply.header("www-authenticate").is_some(), "{wrong}");
    }

    let reply = d.get_auth("/v1/status");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let status = reply.json();
    let names: Vec<&str> = status["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web", "worker"], "{status}");
    assert!(
        status["services"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["state"] == "running"),
        "{status}"
    );
    assert_eq!(status["daemon"]["api"]["serving"], true, "{status}");
}

#[test]
fn the_host_must_name_the_listener() {
    let d = Daemon::up("");
    let bearer = d.bearer();
    let auth = ("Authorization", bearer.as_str());

    let evil = d.get("/v1/status", &[("Host", "evil.example"), auth]);
    evil.error_json(403);
    let evil_port = format!("evil.example:{}", d.port);
    d.get("/v1/status", &[("Host", &evil_port), auth])
        .error_json(403);
    let other_port = format!("127.0.0.1:{}", d.port.wrapping_add(1).max(1));
    d.get("/v1/status", &[("Host", &other_port), auth])
        .error_json(403);

    for host in [
        format!("localhost:{}", d.port),
        format!("127.0.0.1:{}", d.port),
        "localhost".to_string(),
    ] {
        let reply = d.get("/v1/status", &[("Host", &host), auth]);
        assert_eq!(reply.status, 200, "Host: {host}: {}", reply.body);
        assert!(reply.json()["services"].is_array(), "{}", reply.body);
    }
}

#[test]
fn a_refused_request_changes_nothing() {
    let d = Daemon::up("");
    let before = d.running();
    let daemon = daemon_pid(d.project.path()).expect("a daemon runs");
    let bearer = d.bearer();
    let auth = ("Authorization", bearer.as_str());
    let json = ("Content-Type", "application/json");
    let down = r#"{"services":[]}"#;

    let cross = request(
        d.port,
        "POST",
        "/v1/down",
        &[auth, json, ("Origin", "http://evil.example")],
        Some(down),
    );
    cross.error_json(403);
    assert_eq!(d.running(), before, "a cross-origin down changed something");

    let anonymous = request(d.port, "POST", "/v1/down", &[json], Some(down));
    anonymous.error_json(401);
    assert_eq!(
        d.running(),
        before,
        "a down without a token changed something"
    );

    let stop = request(d.port, "POST", "/v1/daemon/stop", &[], Some(""));
    stop.error_json(401);
    let stop = request(
        d.port,
        "POST",
        "/v1/daemon/stop",
        &[auth, ("Origin", "null")],
        Some(""),
    );
    stop.error_json(403);

    for body in [r#"{"stack": "#, "not json", r#"{"services": 3}"#, ""] {
        let up = request(d.port, "POST", "/v1/up", &[auth, json], Some(body));
        assert!(
            (400..500).contains(&up.status),
            "POST /v1/up with {body:?}: {} {}",
            up.status,
            up.body
        );
        up.error_json(up.status);
    }
    assert_eq!(d.running(), before, "a malformed up changed something");
    assert_eq!(daemon_pid(d.project.path()), Some(daemon));
    assert!(
        std::path::Path::new(&format!("/proc/{daemon}")).exists(),
        "the daemon is gone"
    );
    assert_eq!(d.get_auth("/v1/status").status, 200);

    // The same down, from the listener's own origin, is let through: the refusals above were
    // the Origin's and the token's doing.
    let own = format!("http://127.0.0.1:{}", d.port);
    let allowed = request(
        d.port,
        "POST",
        "/v1/down",
        &[auth, json, ("Origin", &own)],
        Some(down),
    );
    assert_eq!(allowed.status, 200, "{}", allowed.body);
    let stopped = wait_until(Duration::from_secs(20), || {
        d.services()
            .values()
            .all(|(state, _)| state != "running")
            .then_some(())
    });
    assert!(stopped.is_some(), "still running: {:?}", d.services());
}

#[test]
fn metrics_need_the_token_unless_configured_open() {
    let closed = Daemon::up("");
    closed.get("/metrics", &[]).error_json(401);
    let with_token = closed.get_auth("/metrics");
    assert_eq!(with_token.status, 200, "{}", with_token.body);
    assert!(
        with_token.body.contains("berth_service_up{"),
        "{}",
        with_token.body
    );

    let open = Daemon::up("  metrics_without_token: true\n");
    let reply = open.get("/metrics", &[]);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.body.contains("berth_service_up{"), "{}", reply.body);
    // Only /metrics is open.
    open.get("/v1/status", &[]).error_json(401);
    // And the Host check still holds for it.
    open.get("/metrics", &[("Host", "evil.example")])
        .error_json(403);
}

#[test]
fn a_configured_token_is_the_one_that_works() {
    let configured = "configured-token-0123456789";
    let d = Daemon::up(&format!("  token: {configured}\n"));
    let right = format!("Bearer {configured}");
    let reply = d.get("/v1/status", &[("Authorization", &right)]);
    assert_eq!(reply.status, 200, "{}", reply.body);

    let generated = d.project.path().join(".berth/token");
    let mut wrong = vec![
        format!("Bearer {}", last_changed(configured)),
        format!("Bearer {}", "0123456789abcdef".repeat(4)),
    ];
    if let Ok(text) = std::fs::read_to_string(&generated) {
        wrong.push(format!("Bearer {}", text.trim()));
    }
    for wrong in wrong {
        d.get("/v1/status", &[("Authorization", &wrong)])
            .error_json(401);
    }
}

/// The API's port held by someone else: the stack runs anyway, `up` warns naming the port,
/// `status` says the API does not serve and why, and the Unix socket answers.
#[test]
fn a_taken_api_port_never_stops_the_stack() {
    let stranger = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = stranger.local_addr().unwrap().port();
    let d = Daemon::configured(port, "");
    let up = d.project.berth(&["up", "--timeout", "30s"]).code(0);
    up.stderr_has(&format!("warning: the API is not on 127.0.0.1:{port}"));
    d.running();

    let status = d.project.berth(&["status", "--json"]).code_any_json();
    let api = &status["daemon"]["api"];
    assert_eq!(api["listen"], format!("127.0.0.1:{port}"), "{status}");
    assert_eq!(api["serving"], false, "{status}");
    let error = api["error"].as_str().unwrap_or_default();
    assert!(error.contains(&port.to_string()), "{status}");

    // The stranger still has its port: nobody took it over.
    assert_eq!(stranger.local_addr().unwrap().port(), port);
    let socket = d.project.path().join(".berth/berth.sock");
    let unix = std::os::unix::net::UnixStream::connect(&socket).unwrap();
    let reply = exchange(unix, "localhost", "GET", "/v1/status", &[], None);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["daemon"]["api"]["serving"], false);
    assert_eq!(reply.json()["services"].as_array().unwrap().len(), 2);
}

/// Once the stranger lets go of the port, the next `up` puts the API on it, as the warning
/// says ("Free the port or change `api.listen`, then run `berth up`"). (A listener that had
/// failed was once kept as it was while its config did not change.)
#[test]
fn a_freed_api_port_is_taken_at_the_next_up() {
    let stranger = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = stranger.local_addr().unwrap().port();
    let d = Daemon::configured(port, "");
    d.project
        .berth(&["up", "--timeout", "30s"])
        .code(0)
        .stderr_has(&format!("warning: the API is not on 127.0.0.1:{port}"));
    drop(stranger);
    // Free indeed: anyone may bind it now.
    drop(std::net::TcpListener::bind(("127.0.0.1", port)).expect("the port is free"));

    let again = d.project.berth(&["up", "--timeout", "30s"]).code(0);
    assert!(
        !again.stderr().contains("the API is not on"),
        "the port is free now, yet `up` says:\n{}",
        again.stderr()
    );
    let status = d.project.berth(&["status", "--json"]).code_any_json();
    assert_eq!(status["daemon"]["api"]["serving"], true, "{status}");
    let reply = d.get_auth("/v1/status");
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[test]
fn bad_requests_are_refused_with_json() {
    let d = Daemon::up("");
    let nowhere = d.get_auth("/v1/nowhere");
    nowhere.error_json(404);
    assert!(
        nowhere
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/json")),
        "{:?}",
        nowhere.headers
    );
    for (path, status) in [
        ("/v1/history?metric=nope", 400),
        ("/v1/history?metric=cpu_percent", 400),
        ("/v1/history?service=web", 400),
        ("/v1/history?service=nobody&metric=cpu_percent", 404),
        ("/v1/history?service=web&metric=cpu_percent&since=-5m", 400),
        ("/v1/history?service=web&metric=cpu_percent&step=1ms", 400),
        ("/v1/stats?since=-5m", 400),
        ("/v1/stats?since=soon", 400),
        ("/v1/events?kind=nope", 400),
        ("/v1/events?service=nobody", 404),
        ("/v1/events?lines=0", 400),
    ] {
        let reply = d.get_auth(path);
        assert_eq!(reply.status, status, "GET {path}: {}", reply.body);
        reply.error_json(status);
    }
    // Still serving after all of that.
    assert_eq!(d.get_auth("/v1/status").status, 200);
    d.running();
}

/// After a few sampling rounds (every second) the history routes have the services in them.
#[test]
fn history_stats_and_events_follow_the_services() {
    let d = Daemon::up("");
    let points = wait_until(Duration::from_secs(30), || {
        let reply = d.get_auth("/v1/history?service=web&metric=rss_bytes&since=5m");
        assert_eq!(reply.status, 200, "{}", reply.body);
        let series = reply.json();
        let points = series["points"].as_array()?.clone();
        (points.len() >= 2).then_some((series, points))
    });
    let (series, points) = points.expect("two samples of web's RSS within 30 s");
    assert_eq!(series["metric"], "rss_bytes", "{series}");
    assert_eq!(series["service"], "web", "{series}");
    for point in &points {
        let value = point[1].as_f64().unwrap_or_else(|| panic!("{point}"));
        assert!(value > 0.0, "an RSS of {value}: {series}");
        assert!(point[0].as_u64().is_some_and(|t| t > 0), "{point}");
    }

    let stats = d.get_auth("/v1/stats?since=5m");
    assert_eq!(stats.status, 200, "{}", stats.body);
    let stats = stats.json();
    let web = stats["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "web")
        .unwrap_or_else(|| panic!("no web in {stats}"))
        .clone();
    assert!(
        web["rss_max_bytes"].as_u64().is_some_and(|b| b > 0),
        "{stats}"
    );

    let events = d.get_auth("/v1/events?service=web");
    assert_eq!(events.status, 200, "{}", events.body);
    assert!(
        events
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/x-ndjson")),
        "{:?}",
        events.headers
    );
    let lines: Vec<Value> = events
        .body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    for kind in ["started", "ready"] {
        assert!(
            lines
                .iter()
                .any(|e| e["kind"] == kind && e["service"] == "web"),
            "no `{kind}` event for web in:\n{}",
            events.body
        );
    }
    assert!(
        lines.iter().all(|e| e["service"] == "web"),
        "{}",
        events.body
    );
}
