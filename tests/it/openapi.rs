//! The OpenAPI document (`GET /v1/openapi.json`) against real answers of a running daemon:
//! every GET route's answer and the POSTs' answers and refusals, on the Unix socket and on
//! TCP, are validated against the schema the document gives for their status and content
//! type (JSON bodies whole, NDJSON line by line, Server-Sent Events event by event with
//! their `data`). The document is served before any `up`, and every operation it lists is
//! routed.
//!
//! The document leaves objects open (a client should take a field it does not know); here
//! every object with properties is closed (`additionalProperties: false`), so that a field
//! the daemon writes and the document lacks fails the test as surely as a missing one.

use crate::api_faults::{call, head};
use crate::api_tcp::Reply;
use crate::support::{Project, free_port, test_service, wait_until};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The document, as the daemon serves it, with its objects closed.
pub struct Doc(Value);

impl Doc {
    pub fn fetch(socket: &Path) -> Doc {
        let reply = call(socket, "GET", "/v1/openapi.json", &[], None);
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.header("content-type"), Some("application/json"));
        let mut doc = reply.json();
        assert_eq!(doc["openapi"], "3.1.0");
        close_objects(&mut doc["components"]);
        Doc(doc)
    }

    /// The response `method path` documents for `status` (following a `$ref`).
    fn response(&self, method: &str, path: &str, status: u16) -> &Value {
        let operation = &self.0["paths"][path][method.to_ascii_lowercase()];
        assert!(
            operation.is_object(),
            "{method} {path} is not in the document"
        );
        let response = &operation["responses"][status.to_string()];
        assert!(
            response.is_object(),
            "{method} {path}: the document has no {status} (it has {:?})",
            operation["responses"]
                .as_object()
                .unwrap()
                .keys()
                .collect::<Vec<_>>()
        );
        match response["$ref"].as_str() {
            Some(pointer) => self.pointer(pointer),
            None => response,
        }
    }

    fn pointer(&self, reference: &str) -> &Value {
        let pointer = reference.strip_prefix('#').expect("a local reference");
        self.0
            .pointer(pointer)
            .unwrap_or_else(|| panic!("{reference} is not in the document"))
    }

    /// A validator for `schema`, its references resolved within the document.
    fn validator(&self, schema: &Value) -> jsonschema::Validator {
        let mut root = schema.clone();
        let object = root.as_object_mut().expect("a schema object");
        object.insert("components".into(), self.0["components"].clone());
        object.insert(
            "$schema".into(),
            json!("https://json-schema.org/draft/2020-12/schema"),
        );
        jsonschema::validator_for(&root).unwrap_or_else(|e| panic!("{schema}: {e}"))
    }

    /// Checks `reply` to `method path` (a path of the document, `{name}` and all) against the
    /// document: its status is documented, its content type is one documented for it, and
    /// its body matches the schema (each line of NDJSON, each event of a stream).
    #[track_caller]
    pub fn check(&self, method: &str, path: &str, reply: &Reply) {
        let what = format!("{method} {path} ({})", reply.status);
        let response = self.response(method, path, reply.status);
        let given = reply
            .header("content-type")
            .unwrap_or_else(|| panic!("{what}: no content type"));
        let media = given.split(';').next().unwrap().trim();
        let content = &response["content"][media];
        assert!(
            content.is_object(),
            "{what}: `{given}` is not documented (the document has {})",
            response["content"]
        );
        let schema = &content["schema"];
        let validator = self.validator(schema);
        let valid = |value: &Value, whose: &str| {
            let errors: Vec<String> = validator
                .iter_errors(value)
                .map(|e| format!("{e} at {}", e.instance_path()))
                .collect();
            assert!(errors.is_empty(), "{what}{whose}: {errors:#?}\nin {value}");
        };
        match media {
            "application/json" => valid(&reply.json(), ""),
            "application/x-ndjson" => {
                for (i, line) in reply.body.lines().enumerate() {
                    let value = serde_json::from_str(line)
                        .unwrap_or_else(|e| panic!("{what}: line {i} is not JSON ({e}): {line}"));
                    valid(&value, &format!(", line {i}"));
                }
            }
            "text/event-stream" => {
                for (event, data) in events(&reply.body) {
                    let framed = json!({"event": event, "data": data});
                    valid(&framed, &format!(", event {event}"));
                    // `data`'s own schema, by the event's name.
                    let branch = self.pointer(schema["$ref"].as_str().unwrap())["oneOf"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|b| {
                            b["properties"]["event"]["enum"]
                                .as_array()
                                .unwrap()
                                .contains(&json!(event))
                        })
                        .unwrap_or_else(|| panic!("{what}: no schema for event {event}"))
                        .clone();
                    let data: Value = serde_json::from_str(&data).unwrap();
                    let errors: Vec<String> = self
                        .validator(&branch["properties"]["data"]["contentSchema"])
                        .iter_errors(&data)
                        .map(|e| format!("{e} at {}", e.instance_path()))
                        .collect();
                    assert!(
                        errors.is_empty(),
                        "{what}, {event}'s data: {errors:#?}\n{data}"
                    );
                }
            }
            _ => assert!(
                schema["type"] == "string",
                "{what}: a text answer with {schema}"
            ),
        }
    }
}

/// Closes every object schema that lists its properties, throughout `value`.
fn close_objects(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            map.values_mut().for_each(close_objects);
        }
        Value::Array(items) => items.iter_mut().for_each(close_objects),
        _ => {}
    }
}

/// The `(event, data)` of each complete Server-Sent Event in `text` (comments and the
/// `retry:` field aside).
fn events(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let complete = &text[..text.rfind("\n\n").map_or(0, |i| i + 2)];
    for block in complete.split("\n\n") {
        let mut event = None;
        let mut data = None;
        for line in block.lines() {
            if let Some(name) = line.strip_prefix("event: ") {
                event = Some(name.to_string());
            } else if let Some(d) = line.strip_prefix("data: ") {
                data = Some(d.to_string());
            }
        }
        if let (Some(event), Some(data)) = (event, data) {
            out.push((event, data));
        }
    }
    out
}

/// `GET path` on the socket, read for `for_` and then let go: what an answer that stays
/// open (`follow=1`, the stream) has sent by then, its chunks put together.
fn read_open(socket: &Path, path: &str, for_: Duration) -> Reply {
    let mut connection = UnixStream::connect(socket).expect("the daemon serves");
    write!(connection, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let deadline = Instant::now() + for_;
    let mut raw = Vec::new();
    let mut block = [0; 65536];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        connection
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match connection.read(&mut block) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&block[..n]),
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (status, headers, mut rest) = head(&text, &format!("GET {path}"));
    // Chunked: size, CRLF, data, CRLF; only whole chunks are kept.
    let mut body = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || after.len() < size + 2 {
            break;
        }
        body.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
    Reply {
        status,
        headers,
        body,
    }
}

/// `web` (HTTP, with a port) and `worker` (which depends on it), an alert rule, the API on
/// TCP; `down` when dropped.
struct Stack {
    project: Project,
    port: u16,
    token: String,
}

impl Stack {
    fn configured() -> Stack {
        let service = test_service().display().to_string();
        let port = free_port();
        let token = "openapi-test-token-0123456789".to_string();
        let project = Project::new(&format!(
            "monitor:\n  interval: 1s\napi:\n  listen: 127.0.0.1:{port}\n  token: {token}\nalerts:\n  rules:\n    - name: web-down\n      when: health == unhealthy\n      for: 1m\n      services: [web]\nservices:\n  web:\n    command: [\"{service}\", \"--log-requests\"]\n    port: {}\n  worker:\n    command: [\"{service}\", \"--no-listen\"]\n    depends_on: [web]\n  pool:\n    command: [\"{service}\", \"--no-listen\"]\n    replicas: 1\n",
            free_port()
        ));
        Stack {
            project,
            port,
            token,
        }
    }

    fn socket(&self) -> PathBuf {
        self.project.path().join(".berth/berth.sock")
    }

    fn get(&self, path: &str) -> Reply {
        call(&self.socket(), "GET", path, &[], None)
    }

    fn post(&self, path: &str, body: &str) -> Reply {
        let json = [("Content-Type", "application/json")];
        call(&self.socket(), "POST", path, &json, Some(body))
    }

    fn state(&self, name: &str) -> String {
        let detail = self.get(&format!("/v1/services/{name}")).json();
        detail["service"]["state"].as_str().unwrap().to_string()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.project.berth(&["down", "--force"]).output_any();
    }
}

#[test]
fn every_answer_matches_the_document() {
    let stack = Stack::configured();
    stack.project.berth(&["up", "--timeout", "30s"]).code(0);
    let doc = Doc::fetch(&stack.socket());
    // Once the services have a few events and sampling rounds, every series has points.
    wait_until(Duration::from_secs(30), || {
        let series = stack
            .get("/v1/history?metric=rss_bytes&service=web&since=5m")
            .json();
        (series["points"].as_array()?.len() >= 2).then_some(())
    })
    .expect("two samples of web within 30 s");

    // Every GET route, with the values its parameters take.
    let gets = [
        ("/v1/status", "/v1/status"),
        ("/v1/status", "/v1/status?usage=false"),
        ("/v1/services/{name}", "/v1/services/web"),
        ("/v1/services/{name}", "/v1/services/worker"),
        ("/v1/logs/{name}", "/v1/logs/web?lines=50&since=1h"),
        ("/v1/logs/{name}", "/v1/logs/worker"),
        (
            "/v1/events",
            "/v1/events?service=web&kind=started&kind=ready&lines=10",
        ),
        ("/v1/events", "/v1/events?since=1h"),
        (
            "/v1/history",
            "/v1/history?metric=cpu_percent&service=web&since=5m&step=1s",
        ),
        ("/v1/history", "/v1/history?metric=rss_bytes&service=worker"),
        ("/v1/history", "/v1/history?metric=system.load1&since=1h"),
        ("/v1/history", "/v1/history?metric=system.memory_used_bytes"),
        ("/v1/history", "/v1/history?metric=system.disk_used_bytes"),
        ("/v1/history", "/v1/history?metric=check_ms&service=web"),
        ("/v1/stats", "/v1/stats"),
        ("/v1/stats", "/v1/stats?since=24h&service=web"),
        ("/v1/alerts", "/v1/alerts"),
        ("/v1/alerts/history", "/v1/alerts/history?since=1h"),
        ("/v1/ports", "/v1/ports"),
        ("/v1/ports", "/v1/ports?all=1"),
        ("/metrics", "/metrics"),
        ("/v1/openapi.json", "/v1/openapi.json"),
    ];
    for (template, path) in gets {
        let reply = stack.get(path);
        assert!(
            reply.status < 300,
            "GET {path}: {} {}",
            reply.status,
            reply.body
        );
        doc.check("GET", template, &reply);
    }
    let openmetrics = call(
        &stack.socket(),
        "GET",
        "/metrics",
        &[("Accept", "application/openmetrics-text")],
        None,
    );
    doc.check("GET", "/metrics", &openmetrics);
    // The answers that stay open: what they send first, and what follows.
    let logs = read_open(
        &stack.socket(),
        "/v1/logs/web?lines=5&follow=1",
        Duration::from_secs(1),
    );
    assert!(!logs.body.is_empty(), "no lines from web's log");
    doc.check("GET", "/v1/logs/{name}", &logs);
    let events = read_open(
        &stack.socket(),
        "/v1/events?lines=5&follow=1",
        Duration::from_secs(1),
    );
    assert!(!events.body.is_empty(), "no events");
    doc.check("GET", "/v1/events", &events);
    let stream = read_open(&stack.socket(), "/v1/stream", Duration::from_millis(2500));
    let names: Vec<String> = events_of(&stream.body);
    assert!(
        names.iter().any(|n| n == "status") && names.iter().any(|n| n == "sample"),
        "{names:?}"
    );
    doc.check("GET", "/v1/stream", &stream);

    // The POSTs: what they answer, and their refusals.
    let silence = stack.post(
        "/v1/alerts/silence",
        r#"{"rule": "web-down", "service": "web", "for": "10m"}"#,
    );
    doc.check("POST", "/v1/alerts/silence", &silence);
    let alerts = stack.get("/v1/alerts");
    assert_eq!(alerts.json()["silences"].as_array().unwrap().len(), 1);
    doc.check("GET", "/v1/alerts", &alerts);
    let unsilence = stack.post(
        "/v1/alerts/unsilence",
        r#"{"rule": "web-down", "service": "web"}"#,
    );
    doc.check("POST", "/v1/alerts/unsilence", &unsilence);
    let posts = [
        (
            "/v1/alerts/silence",
            "/v1/alerts/silence",
            r#"{"rule": "nope", "for": "1m"}"#,
            404,
        ),
        (
            "/v1/alerts/silence",
            "/v1/alerts/silence",
            r#"{"rule": "web-down", "for": "0s"}"#,
            400,
        ),
        ("/v1/alerts/unsilence", "/v1/alerts/unsilence", "{", 400),
        ("/v1/alerts/test", "/v1/alerts/test", "{}", 409),
        (
            "/v1/alerts/test",
            "/v1/alerts/test",
            r#"{"channels": 1}"#,
            400,
        ),
        (
            "/v1/up",
            "/v1/up",
            r#"{"stack": {}, "services": [], "env": {}}"#,
            400,
        ),
        ("/v1/down", "/v1/down", r#"{"services": ["nope"]}"#, 400),
        ("/v1/scale", "/v1/scale", r#"{"services": {"web": 2}}"#, 400),
        (
            "/v1/scale",
            "/v1/scale",
            r#"{"services": {"pool": "x"}}"#,
            400,
        ),
        (
            "/v1/scale",
            "/v1/scale",
            r#"{"services": {"pool": 2}}"#,
            200,
        ),
        (
            "/v1/services/{name}/start",
            "/v1/services/nope/start",
            "{}",
            404,
        ),
        (
            "/v1/services/{name}/start",
            "/v1/services/web/start",
            r#"{"timeout_ms": 1}"#,
            400,
        ),
        (
            "/v1/services/{name}/stop",
            "/v1/services/web/stop",
            r#"{"force": true}"#,
            400,
        ),
        (
            "/v1/services/{name}/restart",
            "/v1/services/nope/restart",
            "",
            404,
        ),
        (
            "/v1/services/{name}/start",
            "/v1/services/web/start",
            "{}",
            202,
        ),
    ];
    for (template, path, body, status) in posts {
        let reply = stack.post(path, body);
        assert_eq!(reply.status, status, "POST {path} {body}: {}", reply.body);
        doc.check("POST", template, &reply);
    }
    for (template, path, body) in [
        (
            "/v1/services/{name}/restart",
            "/v1/services/worker/restart",
            "",
        ),
        (
            "/v1/services/{name}/stop",
            "/v1/services/worker/stop",
            r#"{"timeout_ms": 2000}"#,
        ),
    ] {
        let reply = stack.post(path, body);
        assert_eq!(reply.status, 202, "POST {path}: {}", reply.body);
        doc.check("POST", template, &reply);
        // While it is under way, another is a 409.
        let again = stack.post(path, body);
        if again.status == 409 {
            doc.check("POST", template, &again);
        }
        wait_until(Duration::from_secs(20), || {
            let state = stack.state("worker");
            (state == "running" || state == "stopped").then_some(())
        })
        .expect("worker settles");
    }
    let dashboard = stack.post("/v1/dashboard", "");
    doc.check("POST", "/v1/dashboard", &dashboard);

    // On TCP: the same document, and the refusals without the token.
    let bearer = format!("Bearer {}", stack.token);
    let tcp = crate::api_tcp::request(
        stack.port,
        "GET",
        "/v1/status",
        &[("Authorization", &bearer)],
        None,
    );
    doc.check("GET", "/v1/status", &tcp);
    let anonymous = crate::api_tcp::request(stack.port, "GET", "/v1/services/web", &[], None);
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    doc.check("GET", "/v1/services/{name}", &anonymous);
    let foreign = crate::api_tcp::request(
        stack.port,
        "GET",
        "/v1/stats",
        &[("Authorization", &bearer), ("Host", "evil.example")],
        None,
    );
    assert_eq!(foreign.status, 403, "{}", foreign.body);
    doc.check("GET", "/v1/stats", &foreign);

    // Last, what ends things: a down of one service, then the daemon's stop.
    let down = stack.post(
        "/v1/down",
        r#"{"services": ["worker"], "timeout_ms": 2000}"#,
    );
    assert_eq!(down.status, 200, "{}", down.body);
    doc.check("POST", "/v1/down", &down);
    let stop = call(&stack.socket(), "POST", "/v1/daemon/stop", &[], None);
    doc.check("POST", "/v1/daemon/stop", &stop);
}

/// The names of the complete events in a stream's text.
fn events_of(text: &str) -> Vec<String> {
    events(text).into_iter().map(|(name, _)| name).collect()
}

#[test]
fn before_any_up_the_document_is_served_and_the_refusals_match_it() {
    let stack = Stack::configured();
    let mut daemon = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("daemon")
        .current_dir(stack.project.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let socket = stack.socket();
    wait_until(Duration::from_secs(20), || {
        UnixStream::connect(&socket).ok()
    })
    .expect("the daemon serves");
    let doc = Doc::fetch(&socket);
    for (template, path) in [
        ("/v1/services/{name}", "/v1/services/web"),
        ("/v1/logs/{name}", "/v1/logs/web"),
        ("/v1/events", "/v1/events"),
        ("/v1/history", "/v1/history?metric=system.load1"),
        ("/v1/stats", "/v1/stats"),
        ("/v1/alerts/history", "/v1/alerts/history"),
    ] {
        let reply = stack.get(path);
        assert_eq!(reply.status, 503, "GET {path}: {}", reply.body);
        doc.check("GET", template, &reply);
    }
    for (template, path) in [
        ("/v1/status", "/v1/status"),
        ("/v1/alerts", "/v1/alerts"),
        ("/v1/ports", "/v1/ports"),
        ("/metrics", "/metrics"),
    ] {
        let reply = stack.get(path);
        assert_eq!(reply.status, 200, "GET {path}: {}", reply.body);
        doc.check("GET", template, &reply);
    }
    let stream = read_open(&socket, "/v1/stream", Duration::from_millis(500));
    doc.check("GET", "/v1/stream", &stream);
    let start = stack.post("/v1/services/web/start", "");
    doc.check("POST", "/v1/services/{name}/start", &start);
    let dashboard = stack.post("/v1/dashboard", "");
    doc.check("POST", "/v1/dashboard", &dashboard);

    // Every operation of the document is routed: none falls to the fallback's 404 or 405.
    let operations: Vec<(String, String)> = doc.0["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(|method| (method.to_ascii_uppercase(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(operations.len() >= 20, "{operations:?}");
    for (method, path) in &operations {
        if path == "/v1/stream"
            || path == "/v1/daemon/stop"
            || (method == "POST" && path == "/v1/up")
        {
            continue;
        }
        let concrete = path.replace("{name}", "web");
        let body = (method == "POST").then_some("{}");
        let json = [("Content-Type", "application/json")];
        let reply = call(&socket, method, &concrete, &json, body);
        assert!(
            reply.status != 405 && !reply.body.contains("no route"),
            "{method} {path} is documented but not routed: {} {}",
            reply.status,
            reply.body
        );
    }
    let stop = call(&socket, "POST", "/v1/daemon/stop", &[], None);
    doc.check("POST", "/v1/daemon/stop", &stop);
    let ended = wait_until(Duration::from_secs(20), || daemon.try_wait().unwrap());
    assert!(ended.is_some(), "the daemon did not stop");
}
