//! Alerts end to end, against the real binary and real receivers started here: a threaded
//! HTTP receiver recording every request (path, headers, body), an HTTPS one (rustls, with a
//! CA and a server certificate made by the `openssl` command) and a real Alertmanager (Debian
//! package `prometheus-alertmanager`). Rules fire, resolve and notify through every kind of
//! channel; a hung, failing or absent receiver delays nobody else and never the daemon;
//! silences, `repeat`, flapping, `action: restart`, 200 services and daemon restarts behave as
//! SPEC's "Alerts" says. Services are the test service, `sleep`, or `hog.py`, a python3
//! script that holds 64 MiB while a file exists. Without the Alertmanager binary its test is
//! skipped, except under CI (`CI` set), where it fails.
//!
//! How `SSL_CERT_FILE` reaches the daemon: the daemon is started by the first CLI command
//! that needs it (`up`), as a child of that command, so it inherits the command's whole
//! environment (plus `BERTH_STATE_DIR`); the `up` request's `env` is only for the services.
//! The daemon reads its trusted roots once, from its own environment, at its first `https`
//! delivery: the `SSL_CERT_FILE` that counts is the one of the command that started it.

use crate::api_tcp::exchange;
use crate::support::{Project, Run, Squatter, free_port, test_service, wait_until};
use serde_json::Value;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------
// Receivers

/// A request as a receiver got it.
#[derive(Clone, Debug)]
struct Request {
    method: String,
    path: String,
    /// Names lowercased.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    at: Instant,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    #[track_caller]
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "the body of {} is not JSON ({e}): {}",
                self.path,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// What a receiver does with each request.
#[derive(Clone, Copy, Debug)]
enum Answer {
    /// Answers this status.
    Status(u16),
    /// Reads the request, records it, and never answers (until the client gives up).
    Hang,
}

/// An HTTP(S) server on 127.0.0.1, a thread per connection, recording every request it reads
/// in full. Stopped when dropped.
struct Receiver {
    port: u16,
    scheme: &'static str,
    log: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
}

impl Receiver {
    fn http(answer: Answer) -> Receiver {
        Receiver::start(answer, None)
    }

    fn https(answer: Answer, certs: &Certs) -> Receiver {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&certs.cert)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(&certs.key).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
        Receiver::start(answer, Some(Arc::new(config)))
    }

    fn start(answer: Answer, tls: Option<Arc<rustls::ServerConfig>>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let scheme = if tls.is_some() { "https" } else { "http" };
        let (log2, stop2) = (Arc::clone(&log), Arc::clone(&stop));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (log, stop, tls) = (Arc::clone(&log2), Arc::clone(&stop2), tls.clone());
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
                    match tls {
                        None => handle(stream, answer, &log, &stop),
                        Some(config) => {
                            let conn = rustls::ServerConnection::new(config).unwrap();
                            handle(rustls::StreamOwned::new(conn, stream), answer, &log, &stop)
                        }
                    }
                });
            }
        });
        Receiver {
            port,
            scheme,
            log,
            stop,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}://127.0.0.1:{}{path}", self.scheme, self.port)
    }

    fn requests(&self) -> Vec<Request> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The bodies (as JSON) of the requests so far.
    fn bodies(&self) -> Vec<Value> {
        self.requests().iter().map(Request::json).collect()
    }

    /// The requests once `enough` holds of them; fails after `timeout`.
    #[track_caller]
    fn wait_for(&self, what: &str, enough: impl Fn(&[Request]) -> bool) -> Vec<Request> {
        wait_until(WAIT, || {
            let requests = self.requests();
            enough(&requests).then_some(requests)
        })
        .unwrap_or_else(|| {
            panic!(
                "{what}: not received within {WAIT:?}; got: {:#?}",
                self.requests()
                    .iter()
                    .map(|r| String::from_utf8_lossy(&r.body).into_owned())
                    .collect::<Vec<_>>()
            )
        })
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Reads into `buf`, going on through read timeouts until `deadline`; `None` at the end of
/// the stream, on an error, or past the deadline.
fn read_some(stream: &mut impl Read, buf: &mut [u8], deadline: Instant) -> Option<usize> {
    loop {
        match stream.read(buf) {
            Ok(0) => return None,
            Ok(n) => return Some(n),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if Instant::now() >= deadline {
                    return None;
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

fn handle(
    mut stream: impl Read + Write,
    answer: Answer,
    log: &Mutex<Vec<Request>>,
    stop: &AtomicBool,
) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        // A client that gave up (one that does not trust the certificate ends here).
        let Some(n) = read_some(&mut stream, &mut buf, deadline) else {
            return;
        };
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_string();
    let path = first.next().unwrap_or("").to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let mut body = data[head_end..].to_vec();
    if let Some(length) = header("content-length").and_then(|l| l.parse::<usize>().ok()) {
        while body.len() < length {
            let Some(n) = read_some(&mut stream, &mut buf, deadline) else {
                break;
            };
            body.extend_from_slice(&buf[..n]);
        }
    } else if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        while !body.ends_with(b"0\r\n\r\n") {
            let Some(n) = read_some(&mut stream, &mut buf, deadline) else {
                break;
            };
            body.extend_from_slice(&buf[..n]);
        }
        body = unchunk(&body);
    }
    log.lock().unwrap_or_else(|e| e.into_inner()).push(Request {
        method,
        path,
        headers,
        body,
        at: Instant::now(),
    });
    match answer {
        Answer::Status(status) => {
            let text = if (200..300).contains(&status) {
                "ok"
            } else {
                "it went wrong"
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
            let _ = stream.flush();
        }
        Answer::Hang => {
            // Holds the connection, answering nothing, until the client closes it.
            while !stop.load(Ordering::SeqCst) {
                match stream.read(&mut buf) {
                    Ok(0) => return,
                    Ok(_) => {}
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                    Err(_) => return,
                }
            }
        }
    }
}

fn unchunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&rest[..eol]).into_owned();
        let Ok(size) = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16)
        else {
            break;
        };
        if size == 0 || rest.len() < eol + 2 + size {
            break;
        }
        out.extend_from_slice(&rest[eol + 2..eol + 2 + size]);
        rest = &rest[(eol + 4 + size).min(rest.len())..];
    }
    out
}

/// The notifications among `bodies` of `rule` with `status`.
fn of(bodies: &[Value], rule: &str, status: &str) -> Vec<Value> {
    bodies
        .iter()
        .filter(|b| b["rule"] == rule && b["status"] == status)
        .cloned()
        .collect()
}

fn count(requests: &[Request], rule: &str, status: &str) -> usize {
    requests
        .iter()
        .filter(|r| {
            let b = r.json();
            b["rule"] == rule && b["status"] == status
        })
        .count()
}

/// Whether `still` stays true for the whole of `period`, polled: for checks that something
/// does *not* happen.
fn holds_for(period: Duration, mut still: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + period;
    while Instant::now() < end {
        if !still() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    still()
}

// ---------------------------------------------------------------------------------------
// Certificates

/// A CA and a server certificate for 127.0.0.1 it signed, made by the `openssl` command.
struct Certs {
    _dir: tempfile::TempDir,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn certs() -> Certs {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    std::fs::write(
        path("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    let steps = [
        format!("req -x509 {ec} -keyout ca.key -out ca.pem -days 2 -subj /CN=berth-alerts-test-CA"),
        format!("req {ec} -keyout server.key -out server.csr -subj /CN=127.0.0.1"),
        "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile server.ext".to_string(),
    ];
    for step in steps {
        let args: Vec<&str> = step.split(' ').collect();
        let out = std::process::Command::new("openssl")
            .args(&args)
            .current_dir(dir.path())
            .output()
            .expect("the openssl command, to make test certificates");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Certs {
        ca: path("ca.pem"),
        cert: path("server.pem"),
        key: path("server.key"),
        _dir: dir,
    }
}

// ---------------------------------------------------------------------------------------
// Projects

/// A project, brought down (services and daemon) when dropped.
struct Stack {
    project: Project,
}

impl Stack {
    fn new(config: &str) -> Stack {
        let project = Project::new(config);
        project.write("hog.py", HOG);
        Stack { project }
    }

    fn path(&self) -> &Path {
        self.project.path()
    }

    fn berth(&self, args: &[&str]) -> Run {
        self.project.berth(args)
    }

    fn up(&self) {
        self.berth(&["up", "--timeout", "60s"]).code(0);
    }

    fn status(&self) -> Value {
        self.berth(&["status", "--json"]).code_any_json()
    }

    fn project_name(&self) -> String {
        self.status()["project"].as_str().unwrap().to_string()
    }

    /// `status --json`'s row of `name`.
    #[track_caller]
    fn service(&self, name: &str) -> Value {
        let status = self.status();
        status["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} in {status}"))
    }

    /// `berth alerts --json`'s alerts.
    fn alerts(&self) -> Vec<Value> {
        let answer = self.berth(&["alerts", "--json"]).code(0).json();
        answer["alerts"].as_array().unwrap().clone()
    }

    /// `berth alerts --json`'s alert of `rule` on `service`, if pending or firing.
    fn alert(&self, rule: &str, service: &str) -> Option<Value> {
        self.alerts()
            .into_iter()
            .find(|a| a["rule"] == rule && a["service"] == service)
    }

    /// `berth alerts history --json`: every transition and delivery, oldest first.
    fn history(&self) -> Vec<Value> {
        self.berth(&["alerts", "history", "--json"])
            .code(0)
            .json_lines()
            .as_array()
            .unwrap()
            .clone()
    }

    /// The transitions of `rule` on `subject`, as `from → to`.
    fn transitions(&self, rule: &str, subject: &str) -> Vec<String> {
        self.history()
            .iter()
            .filter(|e| e["data"]["rule"] == rule && e["data"]["subject"] == subject)
            .filter_map(|e| {
                Some(format!(
                    "{} → {}",
                    e["data"]["from"].as_str()?,
                    e["data"]["to"].as_str()?
                ))
            })
            .collect()
    }

    /// The deliveries to `channel` recorded so far.
    fn deliveries(&self, channel: &str) -> Vec<Value> {
        self.history()
            .into_iter()
            .filter(|e| e["data"]["channel"] == channel)
            .collect()
    }

    /// The first delivery to `channel` whose message has `part`, once recorded.
    #[track_caller]
    fn delivery(&self, channel: &str, part: &str) -> Value {
        wait_until(WAIT, || {
            self.deliveries(channel)
                .into_iter()
                .find(|e| e["message"].as_str().unwrap_or("").contains(part))
        })
        .unwrap_or_else(|| {
            panic!(
                "no delivery to {channel} with {part:?} recorded; alerts history: {:#?}",
                self.history()
            )
        })
    }

    /// `GET /metrics` on the Unix socket.
    fn metrics(&self) -> String {
        let socket =
            std::os::unix::net::UnixStream::connect(self.path().join(".berth/berth.sock")).unwrap();
        let reply = exchange(socket, "localhost", "GET", "/metrics", &[], None);
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.body
    }

    /// How long one `berth status --json` takes.
    fn status_took(&self) -> Duration {
        let started = Instant::now();
        self.berth(&["status", "--json"]).output_any();
        started.elapsed()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.berth(&["down", "--force"]).output_any();
    }
}

/// `berth_alerts_firing`'s value for `rule` on `service`, when it has that series.
fn firing_gauge(metrics: &str, rule: &str, service: &str) -> Option<f64> {
    metrics
        .lines()
        .filter(|l| l.starts_with("berth_alerts_firing{"))
        .find(|l| {
            l.contains(&format!("rule=\"{rule}\"")) && l.contains(&format!("service=\"{service}\""))
        })
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// An RFC 3339 time as berth writes it (`2026-12-01T10:02:03.123Z`), in unix ms.
#[track_caller]
fn unix_ms(time: &Value) -> u64 {
    let text = time
        .as_str()
        .unwrap_or_else(|| panic!("not a time: {time}"));
    let n = |range: std::ops::Range<usize>| -> i64 {
        text.get(range)
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("not an RFC 3339 time: {text}"))
    };
    assert!(text.len() == 24 && text.ends_with('Z'), "{text}");
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let ms = ((days * 24 + n(11..13)) * 60 + n(14..16)) * 60_000 + n(17..19) * 1000 + n(20..23);
    ms as u64
}

/// Holds 64 MiB while the file named by its argument exists (checked every 50 ms).
const HOG: &str = r#"import os, sys, time
held = None
while True:
    if os.path.exists(sys.argv[1]):
        if held is None:
            held = b"x" * (64 << 20)
    else:
        held = None
    time.sleep(0.05)
"#;

/// The test service as `name` on `port`, as lines of `services:`.
fn test_svc(name: &str, port: u16) -> String {
    format!(
        "  {name}:\n    command: [\"{}\"]\n    port: {port}\n",
        test_service().display()
    )
}

/// `hog.py` as `name`, holding memory while `flag` (in the project) exists.
fn hog_svc(name: &str, flag: &str) -> String {
    format!("  {name}:\n    command: [\"python3\", \"hog.py\", \"{flag}\"]\n")
}

/// A config: `interval: 1s` sampling, then `channels`, `rules` and `services` (each already
/// indented as the lines of its mapping).
fn config(channels: &str, rules: &str, services: &str) -> String {
    format!(
        "monitor:\n  interval: 1s\nalerts:\n  channels:\n{channels}  rules:\n{rules}services:\n{services}"
    )
}

/// A line of `channels:`, `NAME: { KIND: "TARGET" }`.
fn channel(name: &str, kind: &str, target: &str) -> String {
    format!("    {name}: {{ {kind}: \"{target}\" }}\n")
}

/// The keys of SPEC's webhook body.
const WEBHOOK_KEYS: [&str; 13] = [
    "version",
    "status",
    "rule",
    "severity",
    "project",
    "service",
    "value",
    "threshold",
    "since",
    "summary",
    "suggestion",
    "logs",
    "dashboard",
];

// ---------------------------------------------------------------------------------------
// Tests

#[test]
fn a_webhook_hears_firing_then_resolved_and_every_view_shows_it() {
    let hook = Receiver::http(Answer::Status(200));
    let (svc_port, other_port) = (free_port(), free_port());
    let stack = Stack::new(&config(
        &format!(
            "    hook: {{ webhook: \"{}\", headers: {{ X-Key: sekrit }} }}\n",
            hook.url("/hook")
        ),
        "    - name: big\n      when: memory > 1MiB\n      for: 1s\n      services: [svc]\n    - name: huge\n      when: memory > 1MiB\n      for: 1s\n      severity: critical\n      services: [other]\n",
        &(test_svc("svc", svc_port) + &test_svc("other", other_port)),
    ));
    stack.up();
    let project = stack.project_name();

    let got = hook.wait_for("big firing", |r| count(r, "big", "firing") == 1);
    let request = got
        .iter()
        .find(|r| r.json()["rule"] == "big")
        .unwrap()
        .clone();
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/hook")
    );
    assert_eq!(
        request.header("x-key"),
        Some("sekrit"),
        "{:?}",
        request.headers
    );
    assert!(
        request
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/json")),
        "{:?}",
        request.headers
    );
    let body = request.json();
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut sorted_keys = keys.clone();
    sorted_keys.sort();
    let mut spec_keys = WEBHOOK_KEYS.to_vec();
    spec_keys.sort();
    assert_eq!(sorted_keys, spec_keys, "{body}");
    assert_eq!(body["version"], 1, "{body}");
    assert_eq!(body["status"], "firing", "{body}");
    assert_eq!(body["severity"], "warning", "{body}");
    assert_eq!(body["project"], project.as_str(), "{body}");
    assert_eq!(body["service"], "svc", "{body}");
    let value = body["value"].as_str().unwrap_or_else(|| panic!("{body}"));
    assert!(value.ends_with("MiB"), "value {value:?}");
    let threshold = body["threshold"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"));
    assert!(
        threshold.contains("memory") && threshold.contains('>') && threshold.contains("MiB"),
        "threshold {threshold:?}"
    );
    let summary = body["summary"].as_str().unwrap();
    assert!(
        summary.contains("svc") && summary.contains("big"),
        "{summary:?}"
    );
    assert!(!summary.contains('\n'), "one line: {summary:?}");
    let suggestion = body["suggestion"].as_str().unwrap();
    assert!(
        suggestion.contains("berth ") && suggestion.contains("svc"),
        "{suggestion:?}"
    );
    let logs: Vec<&str> = body["logs"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(logs.len() <= 10, "{logs:?}");
    assert!(
        logs.contains(&format!("listening on {svc_port}").as_str()),
        "{logs:?}"
    );
    assert!(
        body["dashboard"].is_null(),
        "no dashboard is served: {body}"
    );
    // `since` is when the condition became true: the pending transition's time.
    let pending_at = wait_until(WAIT, || {
        stack
            .history()
            .into_iter()
            .find(|e| e["data"]["rule"] == "big" && e["data"]["to"] == "pending")
    })
    .expect("a pending transition");
    let (since, pending) = (unix_ms(&body["since"]), unix_ms(&pending_at["time"]));
    assert!(
        since <= pending && pending - since < 100,
        "since {} against the pending transition at {}",
        body["since"],
        pending_at["time"]
    );

    // While it fires: `alerts`, the score, `/metrics`.
    hook.wait_for("huge firing", |r| count(r, "huge", "firing") == 1);
    let table = stack.berth(&["alerts"]).code(0).stdout();
    let row = table
        .lines()
        .find(|l| l.starts_with("big "))
        .unwrap_or_else(|| panic!("no row for big:\n{table}"));
    for part in ["svc", "firing", "warning", "MiB"] {
        assert!(row.contains(part), "{part} in {row:?}");
    }
    let big = stack.alert("big", "svc").expect("big is listed");
    assert_eq!(
        (&big["state"], &big["severity"], &big["silenced"]),
        (
            &Value::from("firing"),
            &Value::from("warning"),
            &Value::from(false)
        ),
        "{big}"
    );
    assert_eq!(big["since"], body["since"], "{big}");
    let huge = stack.alert("huge", "other").expect("huge is listed");
    assert_eq!(
        (&huge["state"], &huge["severity"]),
        (&Value::from("firing"), &Value::from("critical"))
    );
    let scored = wait_until(WAIT, || {
        let (svc, other) = (stack.service("svc"), stack.service("other"));
        (svc["score"] == 90 && other["score"] == 70).then_some((svc, other))
    });
    let (svc, other) = scored.unwrap_or_else(|| panic!("scores: {}", stack.status()));
    let reasons = |s: &Value| s["score_reasons"].to_string();
    assert!(
        reasons(&svc).contains("warning") && reasons(&svc).contains("-10"),
        "{svc}"
    );
    assert!(
        reasons(&other).contains("critical") && reasons(&other).contains("-30"),
        "{other}"
    );
    assert_eq!(stack.status()["score"], 70, "the lowest critical service's");
    let metrics = stack.metrics();
    assert_eq!(firing_gauge(&metrics, "big", "svc"), Some(1.0), "{metrics}");
    assert_eq!(
        firing_gauge(&metrics, "huge", "other"),
        Some(1.0),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("berth_alerts_firing{")
                && l.contains("rule=\"huge\"")
                && l.contains("severity=\"critical\"")),
        "{metrics}"
    );

    // A stopped service resolves its alerts.
    stack.berth(&["down", "svc"]).code(0);
    let got = hook.wait_for("big resolved", |r| count(r, "big", "resolved") == 1);
    let resolved = of(
        &got.iter().map(Request::json).collect::<Vec<_>>(),
        "big",
        "resolved",
    )
    .remove(0);
    assert_eq!(
        (&resolved["service"], &resolved["severity"]),
        (&Value::from("svc"), &Value::from("warning")),
        "{resolved}"
    );
    assert_eq!(resolved["version"], 1);
    assert_eq!(resolved["since"], body["since"], "{resolved}");
    assert!(wait_until(WAIT, || stack.alert("big", "svc").is_none().then_some(())).is_some());
    assert!(stack.alert("huge", "other").is_some());
    assert_eq!(
        firing_gauge(&stack.metrics(), "big", "svc").unwrap_or(0.0),
        0.0
    );
    stack.berth(&["down", "other"]).code(0);
    hook.wait_for("huge resolved", |r| count(r, "huge", "resolved") == 1);
    assert!(
        wait_until(WAIT, || stack.alerts().is_empty().then_some(())).is_some(),
        "{:?}",
        stack.alerts()
    );
    assert_eq!(
        count(&hook.requests(), "big", "firing"),
        1,
        "exactly one firing"
    );

    // The history has every transition and every delivery (written within moments).
    let expected = [
        "inactive → pending",
        "pending → firing",
        "firing → resolved",
    ];
    assert!(
        wait_until(WAIT, || (stack.transitions("big", "svc") == expected)
            .then_some(()))
        .is_some(),
        "{:?}: {:#?}",
        stack.transitions("big", "svc"),
        stack.history()
    );
    for status in ["firing", "resolved"] {
        let d = stack.delivery("hook", &format!("big {status} → hook"));
        assert_eq!(d["kind"], "alert", "{d}");
        assert_eq!(d["service"], "svc", "{d}");
        assert_eq!(
            (
                &d["data"]["delivered"],
                &d["data"]["tries"],
                &d["data"]["detail"]
            ),
            (&Value::from(true), &Value::from(1), &Value::from("200")),
            "{d}"
        );
    }
    let recent = stack
        .berth(&["alerts", "history", "--since", "1h", "--json"])
        .code(0)
        .json_lines();
    assert_eq!(
        recent.as_array().unwrap().len(),
        stack.history().len(),
        "{recent}"
    );
}

#[test]
fn a_port_move_is_one_event_notification() {
    let hook = Receiver::http(Answer::Status(200));
    let (port, alt) = (free_port(), free_port());
    let _squatter = Squatter::on(port, None).expect("a python3 http.server on the port");
    let stack = Stack::new(&config(
        &channel("hook", "webhook", &hook.url("/hook")),
        "    - name: moved\n      on: [port]\n",
        &format!("{}    alt_ports: [{alt}]\n", test_svc("svc", port)),
    ));
    stack.up();
    assert_eq!(stack.service("svc")["port"], alt);
    let got = hook.wait_for("the port event", |r| !r.is_empty());
    let body = got[0].json();
    assert_eq!(
        (&body["status"], &body["rule"], &body["service"]),
        (
            &Value::from("event"),
            &Value::from("moved"),
            &Value::from("svc")
        ),
        "{body}"
    );
    let said = format!("{} {}", body["summary"], body["value"]);
    assert!(
        said.contains(&port.to_string()) && said.contains(&format!("moved to {alt}")),
        "{body}"
    );
    // Only the port event: not its start, nor its readiness.
    assert!(
        holds_for(Duration::from_secs(3), || hook.requests().len() == 1),
        "{:#?}",
        hook.bodies()
    );
}

#[test]
fn slack_and_exec_channels() {
    let slack = Receiver::http(Answer::Status(200));
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().display().to_string();
    let channels = format!(
        "{}    run: {{ exec: \"env | grep ^BERTH_ALERT_ | sort > {dir}/env.txt; cat > {dir}/stdin.tmp && mv {dir}/stdin.tmp {dir}/stdin.json\" }}\n    hang: {{ exec: \"echo $$$$ > {dir}/hang.pid; exec sleep 60\", timeout: 1s }}\n    fail: {{ exec: \"echo about to fail; echo 'boom: no such thing' >&2; exit 3\" }}\n",
        channel("team", "slack", &slack.url("/services/T000/B000/XXXX"))
    );
    let stack = Stack::new(&config(
        &channels,
        "    - name: big\n      when: memory > 1MiB\n",
        &test_svc("svc", free_port()),
    ));
    stack.up();

    // Slack: an incoming-webhook message.
    let got = slack.wait_for("the slack message", |r| !r.is_empty());
    assert_eq!(got[0].path, "/services/T000/B000/XXXX");
    let message = got[0].json();
    let text = message["text"]
        .as_str()
        .unwrap_or_else(|| panic!("{message}"));
    assert!(text.contains("big") && text.contains("svc"), "{text}");
    let blocks = message["blocks"]
        .as_array()
        .unwrap_or_else(|| panic!("{message}"));
    assert!(!blocks.is_empty(), "{message}");
    for block in blocks {
        assert!(block["type"].is_string(), "{block}");
    }

    // exec: the variables and the webhook's JSON on stdin.
    let stdin = wait_until(WAIT, || std::fs::read(out.path().join("stdin.json")).ok())
        .expect("the exec channel ran");
    let stdin: Value = serde_json::from_slice(&stdin).unwrap();
    assert_eq!(
        (
            &stdin["version"],
            &stdin["status"],
            &stdin["rule"],
            &stdin["service"]
        ),
        (
            &Value::from(1),
            &Value::from("firing"),
            &Value::from("big"),
            &Value::from("svc")
        ),
        "{stdin}"
    );
    let env = std::fs::read_to_string(out.path().join("env.txt")).unwrap();
    let var = |name: &str| {
        env.lines()
            .find_map(|l| l.strip_prefix(&format!("BERTH_ALERT_{name}=")))
            .unwrap_or_else(|| panic!("no BERTH_ALERT_{name} in:\n{env}"))
            .to_string()
    };
    assert_eq!(var("STATUS"), "firing");
    assert_eq!(var("RULE"), "big");
    assert_eq!(var("SEVERITY"), "warning");
    assert_eq!(var("SERVICE"), "svc");
    assert_eq!(var("VALUE"), stdin["value"].as_str().unwrap());
    assert_eq!(var("SUMMARY"), stdin["summary"].as_str().unwrap());
    assert!(stack.delivery("run", "big firing → run")["data"]["delivered"] == true);

    // A command that hangs is killed at its timeout, and recorded as failed.
    let hung = stack.delivery("hang", "big firing → hang");
    assert_eq!(hung["data"]["delivered"], false, "{hung}");
    let detail = hung["data"]["detail"].as_str().unwrap();
    assert!(
        detail.contains("within 1s") && detail.contains("killed"),
        "{detail}"
    );
    let took = hung["data"]["took_ms"].as_u64().unwrap();
    assert!((1000..5000).contains(&took), "took {took} ms");
    let pid = std::fs::read_to_string(out.path().join("hang.pid")).unwrap();
    let pid = pid.trim();
    assert!(
        wait_until(Duration::from_secs(5), || {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok();
            // Gone, or a zombie nobody will wait for.
            stat.is_none_or(|s| s.contains(") Z ")).then_some(())
        })
        .is_some(),
        "the hung command {pid} still runs"
    );

    // A command that fails is recorded as failed, with what it wrote to stderr.
    let failed = stack.delivery("fail", "big firing → fail");
    assert_eq!(failed["data"]["delivered"], false, "{failed}");
    let detail = failed["data"]["detail"].as_str().unwrap();
    assert!(
        detail.contains("boom: no such thing") && detail.contains('3'),
        "{detail}"
    );
}

const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";

/// Whether the Alertmanager binary is there; when it is not, fails under CI and says the test
/// is skipped elsewhere.
fn have_alertmanager() -> bool {
    if Path::new(ALERTMANAGER).exists() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{ALERTMANAGER} is missing: CI must install the Debian package `prometheus-alertmanager` \
         (apt-get install -y --no-install-recommends prometheus-alertmanager)"
    );
    eprintln!(
        "skipped: {ALERTMANAGER} is missing (apt-get install -y --no-install-recommends prometheus-alertmanager)"
    );
    false
}

/// The Alertmanager this test started: that child only is killed when dropped.
struct Alertmanager {
    child: std::process::Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Alertmanager {
    fn start() -> Alertmanager {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("alertmanager.yml");
        std::fs::write(
            &config,
            "route:\n  receiver: none\nreceivers:\n  - name: none\n",
        )
        .unwrap();
        let port = free_port();
        let log = dir.path().join("alertmanager.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = std::process::Command::new(ALERTMANAGER)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .current_dir(dir.path())
            .stdin(std::process::Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {ALERTMANAGER}: {e}"));
        let mut am = Alertmanager {
            child,
            port,
            log,
            _dir: dir,
        };
        let ready = wait_until(WAIT, || am.get("/api/v2/status"));
        assert!(ready.is_some(), "alertmanager did not start:\n{}", am.log());
        am
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET PATH` as JSON; `None` while it does not answer. Fails if it has exited.
    fn get(&mut self, path: &str) -> Option<Value> {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("alertmanager exited ({status}):\n{}", self.log());
        }
        TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        let reply = crate::api_tcp::request(self.port, "GET", path, &[], None);
        (reply.status == 200).then(|| reply.json())
    }

    /// The alerts it holds named `rule`.
    fn alerts(&mut self, query: &str, rule: &str) -> Vec<Value> {
        self.get(&format!("/api/v2/alerts{query}"))
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
            .into_iter()
            .filter(|a| a["labels"]["alertname"] == rule)
            .collect()
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_real_alertmanager_shows_the_alert_while_firing_and_not_after() {
    if !have_alertmanager() {
        return;
    }
    let mut am = Alertmanager::start();
    let stack = Stack::new(&config(
        &channel(
            "am",
            "alertmanager",
            &format!("http://127.0.0.1:{}", am.port),
        ),
        "    - name: api-memory\n      when: memory > 1MiB\n      for: 1s\n      severity: critical\n",
        &test_svc("api", free_port()),
    ));
    stack.up();
    let project = stack.project_name();
    let alert = wait_until(WAIT, || am.alerts("", "api-memory").into_iter().next())
        .unwrap_or_else(|| panic!("no alert in alertmanager; history: {:#?}", stack.history()));
    let labels = &alert["labels"];
    assert_eq!(labels["alertname"], "api-memory", "{alert}");
    assert_eq!(labels["project"], project.as_str(), "{alert}");
    assert_eq!(labels["service"], "api", "{alert}");
    assert_eq!(labels["severity"], "critical", "{alert}");
    assert_eq!(alert["status"]["state"], "active", "{alert}");
    assert!(
        alert["annotations"]["summary"]
            .as_str()
            .is_some_and(|s| s.contains("api")),
        "{alert}"
    );
    assert!(alert["annotations"]["description"].is_string(), "{alert}");
    assert!(alert["startsAt"].is_string(), "{alert}");
    assert_eq!(am.alerts("?active=true", "api-memory").len(), 1);
    assert_eq!(
        stack.delivery("am", "api-memory firing → am")["data"]["delivered"],
        true
    );

    stack.berth(&["down", "api"]).code(0);
    stack.delivery("am", "api-memory resolved → am");
    let gone = wait_until(WAIT, || {
        am.alerts("?active=true", "api-memory")
            .is_empty()
            .then_some(())
    });
    assert!(
        gone.is_some(),
        "still active after the resolve: {:#?}",
        am.alerts("", "api-memory")
    );
    for a in am.alerts("", "api-memory") {
        assert_ne!(a["status"]["state"], "active", "{a}");
    }
}

#[test]
fn https_is_trusted_through_the_daemons_ssl_cert_file() {
    let certs = certs();
    let secure = Receiver::https(Answer::Status(200), &certs);
    let make = || {
        Stack::new(&config(
            &channel("secure", "webhook", &secure.url("/hook")),
            "    - name: big\n      when: memory > 1MiB\n",
            &test_svc("svc", free_port()),
        ))
    };

    // The daemon started by an `up` with SSL_CERT_FILE trusts its CA.
    let trusting = make();
    trusting
        .berth(&["up", "--timeout", "60s"])
        .env("SSL_CERT_FILE", certs.ca.to_str().unwrap())
        .env_remove("SSL_CERT_DIR")
        .code(0);
    let got = secure.wait_for("the firing over https", |r| count(r, "big", "firing") == 1);
    assert_eq!(got[0].json()["project"], trusting.project_name().as_str());
    let d = trusting.delivery("secure", "big firing → secure");
    assert_eq!(d["data"]["delivered"], true, "{d}");
    trusting
        .berth(&["alerts", "test", "secure"])
        .code(0)
        .stdout_has("secure");

    // One started without it does not.
    let doubting = make();
    doubting
        .berth(&["up", "--timeout", "60s"])
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .code(0);
    let d = doubting.delivery("secure", "big firing → secure");
    assert_eq!(d["data"]["delivered"], false, "{d}");
    let detail = d["data"]["detail"].as_str().unwrap();
    eprintln!("without SSL_CERT_FILE: {detail}");
    assert!(detail.contains("not trusted"), "{detail}");
    assert!(
        d["message"].as_str().unwrap().contains("not trusted"),
        "{d}"
    );
    let ran = doubting.berth(&["alerts", "test", "secure"]).code(1);
    let out = ran.stdout();
    let line = out
        .lines()
        .find(|l| l.contains("secure"))
        .unwrap_or_else(|| panic!("no line names the channel:\n{out}"));
    assert!(line.contains("not trusted"), "{out}");
    let project = doubting.project_name();
    assert!(
        secure
            .bodies()
            .iter()
            .all(|b| b["project"] != project.as_str()),
        "nothing of the doubting project got through"
    );
}

#[test]
fn a_hung_receiver_delays_nobody_else_and_never_the_daemon() {
    let hung = Receiver::http(Answer::Hang);
    let good = Receiver::http(Answer::Status(200));
    let broken = Receiver::http(Answer::Status(500));
    let refused = free_port();
    let stack = Stack::new(&config(
        &[
            channel("a", "webhook", &hung.url("/a")),
            channel("b", "webhook", &good.url("/b")),
            channel("c", "webhook", &broken.url("/c")),
            channel("d", "webhook", &format!("http://127.0.0.1:{refused}/d")),
        ]
        .concat(),
        "    - name: big\n      when: memory > 1MiB\n",
        &test_svc("svc", free_port()),
    ));
    stack.up();

    // The daemon's answers are timed throughout, from another thread.
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (dir, done) = (stack.path().to_path_buf(), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut slowest = Duration::ZERO;
            let mut runs = 0;
            while !done.load(Ordering::SeqCst) {
                let started = Instant::now();
                let code = Run::new(&["status", "--json"])
                    .dir(&dir)
                    .output_any()
                    .output
                    .status
                    .code();
                assert_eq!(code, Some(0), "status failed");
                slowest = slowest.max(started.elapsed());
                runs += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            (slowest, runs)
        })
    };

    let a = hung.wait_for("a's request", |r| !r.is_empty())[0].clone();
    let b = good.wait_for("b's request", |r| !r.is_empty())[0].clone();
    let late = b.at.max(a.at) - b.at.min(a.at);
    eprintln!("a's and b's notifications came {late:?} apart, a hanging");
    assert!(late < Duration::from_millis(500), "b came {late:?} after a");
    assert_eq!(b.json()["rule"], "big");

    // 500: retried, three tries in all, and recorded as failed.
    broken.wait_for("c's three tries", |r| r.len() == 3);
    let c = stack.delivery("c", "big firing → c");
    assert_eq!(
        (&c["data"]["delivered"], &c["data"]["tries"]),
        (&Value::from(false), &Value::from(3)),
        "{c}"
    );
    assert!(c["data"]["detail"].as_str().unwrap().contains("500"), "{c}");
    // A refused connection: failed, recorded.
    let d = stack.delivery("d", "big firing → d");
    assert_eq!(d["data"]["delivered"], false, "{d}");
    assert!(
        d["data"]["detail"].as_str().unwrap().contains("refused"),
        "{d}"
    );

    // `alerts test`: a is stuck behind its hung notification, b answers.
    let started = Instant::now();
    let ran = stack.berth(&["alerts", "test", "a", "b"]).code(1);
    let out = ran.stdout();
    eprintln!("alerts test a b took {:?}:\n{out}", started.elapsed());
    let line = |name: &str| {
        out.lines()
            .find(|l| l.contains(&format!(" {name}: ")))
            .unwrap_or_else(|| panic!("no line for {name}:\n{out}"))
            .to_string()
    };
    assert!(line("a").starts_with('✗'), "{out}");
    assert!(line("b").starts_with('✓'), "{out}");

    // a's notification is recorded too, as failed after its three tries of 5 s.
    let a = stack.delivery("a", "big firing → a");
    assert_eq!(
        (&a["data"]["delivered"], &a["data"]["tries"]),
        (&Value::from(false), &Value::from(3)),
        "{a}"
    );
    assert!(
        a["data"]["detail"].as_str().unwrap().contains("timed out"),
        "{a}"
    );
    assert!(
        hung.requests().len() >= 3,
        "a saw {} tries",
        hung.requests().len()
    );
    assert_eq!(broken.requests().len(), 3, "c: three tries, no more");

    done.store(true, Ordering::SeqCst);
    let (slowest, runs) = watcher.join().unwrap();
    eprintln!("status: {runs} runs, slowest {slowest:?}");
    assert!(runs > 10, "{runs}");
    assert!(slowest < Duration::from_secs(1), "status took {slowest:?}");

    // Nor does it hold up a `down` (whose resolves go to the hung channel too).
    let started = Instant::now();
    stack.berth(&["down"]).code(0);
    let took = started.elapsed();
    eprintln!("down with a hung channel: {took:?}");
    assert!(took < Duration::from_secs(8), "down took {took:?}");
}

#[test]
fn a_flapping_condition_never_notifies() {
    let hook = Receiver::http(Answer::Status(200));
    let stack = Stack::new(&config(
        &channel("hook", "webhook", &hook.url("/hook")),
        "    - name: flappy\n      when: memory > 32MiB\n      for: 5s\n",
        &hog_svc("hog", "big"),
    ));
    stack.up();
    let flag = stack.path().join("big");
    let pendings = |stack: &Stack| {
        stack
            .transitions("flappy", "hog")
            .iter()
            .filter(|t| t.as_str() == "inactive → pending")
            .count()
    };
    // Three times true for a second or two, each time false again well before `for`.
    for round in 1..=3 {
        std::fs::write(&flag, "").unwrap();
        assert!(
            wait_until(WAIT, || (pendings(&stack) == round).then_some(())).is_some(),
            "round {round}: never pending: {:?}",
            stack.transitions("flappy", "hog")
        );
        std::fs::remove_file(&flag).unwrap();
        assert!(
            wait_until(WAIT, || stack
                .alert("flappy", "hog")
                .is_none()
                .then_some(()))
            .is_some(),
            "round {round}: still pending"
        );
    }
    assert!(holds_for(Duration::from_secs(2), || hook
        .requests()
        .is_empty()));
    let transitions = stack.transitions("flappy", "hog");
    assert!(
        !transitions.iter().any(|t| t.ends_with("firing")),
        "{transitions:?}"
    );
    assert_eq!(hook.requests().len(), 0, "{:#?}", hook.bodies());
}

#[test]
fn repeat_holds_then_reminds() {
    let hook = Receiver::http(Answer::Status(200));
    let stack = Stack::new(&config(
        &channel("hook", "webhook", &hook.url("/hook")),
        "    - name: again\n      when: memory > 1MiB\n      repeat: 1m\n",
        &test_svc("svc", free_port()),
    ));
    stack.up();
    let first = hook.wait_for("the first firing", |r| count(r, "again", "firing") == 1)[0].clone();
    // No second notification within `repeat`…
    let quiet = holds_for(
        Duration::from_secs(55).saturating_sub(first.at.elapsed()),
        || hook.requests().len() == 1,
    );
    assert!(
        quiet,
        "a second notification within repeat: {:#?}",
        hook.bodies()
    );
    // … and one once it has passed.
    let second = wait_until(Duration::from_secs(20), || hook.requests().get(1).cloned())
        .unwrap_or_else(|| panic!("no reminder after repeat: {:#?}", hook.bodies()));
    let gap = second.at - first.at;
    eprintln!("the reminder came {gap:?} after the first");
    assert!(gap >= Duration::from_secs(58), "{gap:?}");
    let body = second.json();
    assert_eq!(
        (&body["status"], &body["rule"]),
        (&Value::from("firing"), &Value::from("again")),
        "{body}"
    );
    assert_eq!(body["since"], first.json()["since"], "the same alert");
}

/// SPEC: an `alertmanager` channel's alert is "re-sent every minute while firing", so that
/// Alertmanager (which ends an alert at its `endsAt`, five minutes on) keeps it active.
#[test]
fn alertmanager_is_told_again_every_minute_while_firing() {
    let am = Receiver::http(Answer::Status(200));
    let stack = Stack::new(&config(
        &channel("am", "alertmanager", &am.url("")),
        "    - name: to-am\n      when: memory > 1MiB\n",
        &test_svc("svc", free_port()),
    ));
    stack.up();
    let first = am.wait_for("the first post", |r| !r.is_empty())[0].clone();
    let posts = wait_until(Duration::from_secs(70), || {
        let posts = am.requests();
        (posts.len() >= 2).then_some(posts)
    });
    // Before 30d0381 this failed: nothing re-sent a firing alert to an
    // `alertmanager` channel, so a rule without `repeat` reached Alertmanager once, and
    // Alertmanager resolved it by itself at its `endsAt` while berth still had it firing.
    let posts = posts.unwrap_or_else(|| {
        panic!(
            "alertmanager got {} post(s) in {:?} of firing; SPEC says it is re-sent every minute: {:#?}",
            am.requests().len(),
            first.at.elapsed(),
            am.bodies()
        )
    });
    let gap = posts[1].at - first.at;
    assert!(
        (Duration::from_secs(50)..Duration::from_secs(70)).contains(&gap),
        "re-sent after {gap:?}"
    );
    for post in &posts {
        assert_eq!(
            (post.method.as_str(), post.path.as_str()),
            ("POST", "/api/v2/alerts")
        );
        let alert = &post.json()[0];
        assert_eq!(alert["labels"]["alertname"], "to-am", "{alert}");
        assert!(
            unix_ms(&alert["endsAt"]) > unix_ms(&alert["startsAt"]),
            "{alert}"
        );
    }
    assert_eq!(stack.alert("to-am", "svc").unwrap()["state"], "firing");
}

#[test]
fn two_hundred_services_fire_at_once_exactly_once_each() {
    const SERVICES: usize = 200;
    let hook = Receiver::http(Answer::Status(200));
    let services: String = (0..SERVICES)
        .map(|i| format!("  s{i:03}:\n    command: sleep 100000\n"))
        .collect();
    let stack = Stack::new(&config(
        &channel("hook", "webhook", &hook.url("/hook")),
        "    - name: running\n      when: state == running\n",
        &services,
    ));
    let started = Instant::now();
    stack.berth(&["up", "-q", "--timeout", "120s"]).code(0);
    eprintln!("up of {SERVICES} services: {:?}", started.elapsed());
    let got = hook.wait_for("200 firing notifications", |r| {
        count(r, "running", "firing") >= SERVICES
    });
    eprintln!("{SERVICES} notifications after {:?}", started.elapsed());
    assert!(holds_for(Duration::from_secs(3), || hook.requests().len()
        == got.len()));
    let bodies = hook.bodies();
    let firing = of(&bodies, "running", "firing");
    assert_eq!(firing.len(), SERVICES, "no more than one each");
    let mut names: Vec<&str> = firing
        .iter()
        .map(|b| b["service"].as_str().unwrap())
        .collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), SERVICES, "no duplicates");
    assert_eq!(
        bodies.len(),
        SERVICES,
        "nothing else: {:?}",
        bodies
            .iter()
            .filter(|b| b["status"] != "firing")
            .collect::<Vec<_>>()
    );
    let slowest = (0..5).map(|_| stack.status_took()).max().unwrap();
    eprintln!("status with {SERVICES} alerts firing: {slowest:?}");
    assert!(slowest < Duration::from_secs(1), "{slowest:?}");
    assert_eq!(stack.alerts().len(), SERVICES);
}

/// One service `svc` up, with the rule `big` (`memory > 1MiB`, `for: 1s`) firing once to
/// a webhook receiver.
fn big_firing() -> (Receiver, Stack) {
    let hook = Receiver::http(Answer::Status(200));
    let stack = Stack::new(&config(
        &channel("hook", "webhook", &hook.url("/hook")),
        "    - name: big\n      when: memory > 1MiB\n      for: 1s\n",
        &test_svc("svc", free_port()),
    ));
    stack.up();
    hook.wait_for("the firing", |r| count(r, "big", "firing") == 1);
    (hook, stack)
}

#[test]
fn a_daemon_restart_keeps_firing_alerts_without_notifying_again() {
    let (hook, stack) = big_firing();
    let pid = stack.service("svc")["pid"].clone();
    let since = stack.alert("big", "svc").unwrap()["since"].clone();

    stack.berth(&["daemon", "stop"]).code(0);
    stack.up();
    assert_eq!(stack.service("svc")["pid"], pid, "the service kept running");
    // A few intervals: nothing new is sent.
    assert!(
        holds_for(Duration::from_secs(5), || hook.requests().len() == 1),
        "{:#?}",
        hook.bodies()
    );
    let alert = stack.alert("big", "svc").expect("still listed");
    assert_eq!(alert["state"], "firing", "{alert}");
    assert_eq!(alert["since"], since, "{alert}");
    assert_eq!(stack.service("svc")["score"], 90);
}

/// `berth down` with no names stops every service, then the daemon. SPEC: "A stopped service
/// resolves its alerts" (notify unless `resolved: false`).
#[test]
fn down_of_everything_resolves_its_alerts() {
    let (hook, stack) = big_firing();
    stack.berth(&["down"]).code(0);
    let resolved = wait_until(Duration::from_secs(10), || {
        (count(&hook.requests(), "big", "resolved") == 1).then_some(())
    });
    let saved =
        std::fs::read_to_string(stack.path().join(".berth/alerts.json")).unwrap_or_default();
    // Started afresh, the service meets the condition again: a new firing.
    stack.up();
    let again = wait_until(Duration::from_secs(10), || {
        (count(&hook.requests(), "big", "firing") == 2).then_some(())
    });
    // Before 30d0381 this failed: the daemon exited before the alerts were
    // evaluated again, so no `resolved` was sent, the alert stayed `firing` in
    // .berth/alerts.json (an Alertmanager kept it active), and the next daemon took it as
    // still firing: the fresh start that met the condition again was not notified either.
    assert!(
        resolved.is_some() && again.is_some(),
        "resolved on down: {}, firing again after up: {}; alerts.json after down: {saved}; got: {:#?}",
        resolved.is_some(),
        again.is_some(),
        hook.bodies()
    );
}

#[test]
fn action_restart_restarts_the_service_and_says_why() {
    let hook = Receiver::http(Answer::Status(200));
    let stack = Stack::new(&config(
        &channel("hook", "webhook", &hook.url("/hook")),
        "    - name: bloat\n      when: memory > 32MiB\n      for: 1s\n      action: restart\n",
        // A fresh start lets go of the memory: the flag goes with the old process.
        "  hog:\n    command: \"rm -f big; exec python3 hog.py big\"\n",
    ));
    stack.up();
    let before = stack.service("hog")["pid"].as_u64().expect("a pid");
    std::fs::write(stack.path().join("big"), "").unwrap();
    let after = wait_until(WAIT, || {
        let s = stack.service("hog");
        let pid = s["pid"].as_u64()?;
        (s["state"] == "running" && pid != before).then_some(s)
    })
    .unwrap_or_else(|| panic!("not restarted: {}", stack.status()));
    hook.wait_for("the firing", |r| count(r, "bloat", "firing") == 1);
    let note = after["note"]
        .as_str()
        .unwrap_or_else(|| panic!("no note: {after}"));
    assert!(note.contains("bloat"), "{note}");
    let restarting = || {
        stack
            .berth(&["events", "--json", "--kind", "restarting"])
            .code(0)
            .json_lines()
    };
    let named = wait_until(WAIT, || {
        restarting()
            .as_array()
            .unwrap()
            .iter()
            .find(|e| {
                e["service"] == "hog" && e["message"].as_str().unwrap_or("").contains("bloat")
            })
            .cloned()
    });
    assert!(
        named.is_some(),
        "no restarting event names the rule: {}",
        restarting()
    );
    // Once restarted it is small again: resolved, and not restarted again.
    hook.wait_for("the resolve", |r| count(r, "bloat", "resolved") == 1);
    let pid = after["pid"].clone();
    assert!(holds_for(
        Duration::from_secs(3),
        || stack.service("hog")["pid"] == pid
    ));
    assert_eq!(count(&hook.requests(), "bloat", "firing"), 1);
}

#[test]
fn a_silence_mutes_notifications_not_state() {
    let hook = Receiver::http(Answer::Status(200));
    let stack = Stack::new(&config(
        &channel("hook", "webhook", &hook.url("/hook")),
        "    - name: bloat\n      when: memory > 32MiB\n      for: 1s\n",
        &hog_svc("hog", "big"),
    ));
    stack.up();
    stack
        .berth(&["alerts", "silence", "bloat/hog", "--for", "10m"])
        .code(0)
        .stdout_has("silenced bloat on hog until");
    let listed = stack.berth(&["alerts", "--json"]).code(0).json();
    assert_eq!(listed["silences"][0]["rule"], "bloat", "{listed}");
    assert_eq!(listed["silences"][0]["service"], "hog", "{listed}");

    std::fs::write(stack.path().join("big"), "").unwrap();
    let alert = wait_until(WAIT, || {
        stack
            .alert("bloat", "hog")
            .filter(|a| a["state"] == "firing")
    })
    .expect("it fires, silenced");
    assert_eq!(alert["silenced"], true, "{alert}");
    assert!(
        holds_for(Duration::from_secs(3), || hook.requests().is_empty()),
        "{:#?}",
        hook.bodies()
    );
    assert_eq!(stack.alert("bloat", "hog").unwrap()["state"], "firing");

    stack
        .berth(&["alerts", "unsilence", "bloat/hog"])
        .code(0)
        .stdout_has("silence lifted");
    assert_eq!(stack.alert("bloat", "hog").unwrap()["silenced"], false);
    std::fs::remove_file(stack.path().join("big")).unwrap();
    let got = hook.wait_for("the resolve", |r| !r.is_empty());
    assert_eq!(got.len(), 1, "{:#?}", hook.bodies());
    let body = got[0].json();
    assert_eq!(
        (&body["status"], &body["rule"]),
        (&Value::from("resolved"), &Value::from("bloat")),
        "{body}"
    );

    // Unknown rules and services are bad usage.
    stack
        .berth(&["alerts", "silence", "nope", "--for", "10m"])
        .code(2)
        .stderr_has("nope");
    stack
        .berth(&["alerts", "silence", "bloat/nope", "--for", "10m"])
        .code(2)
        .stderr_has("nope");
    stack.berth(&["alerts", "unsilence", "nope"]).code(2);
}
