//! berth's `/metrics` as a real Prometheus sees it: a Prometheus server (Debian package
//! `prometheus`) scrapes the API on TCP with the token from the state dir and finds every
//! service up, and `promtool check metrics` finds nothing wrong with the exposition. Without
//! the binaries the tests are skipped, except under CI (`CI` set), where they fail.

use crate::api_tcp::{Reply, request};
use crate::support::{Project, free_port, test_service, wait_until};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PROMETHEUS: &str = "/usr/bin/prometheus";
const PROMTOOL: &str = "/usr/bin/promtool";
const SERVICES: [&str; 2] = ["db", "web"];

/// Whether `path` is there; when it is not, fails under CI and says the test is skipped
/// elsewhere.
fn have(path: &str) -> bool {
    if Path::new(path).exists() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{path} is missing: CI must install the Debian package `prometheus` \
         (apt-get install -y --no-install-recommends prometheus)"
    );
    eprintln!("skipped: {path} is missing (apt-get install -y --no-install-recommends prometheus)");
    false
}

/// Two test services (`web` with an HTTP health check), sampled every second, the API on a
/// free port of 127.0.0.1, brought up; `down` when dropped.
struct Berth {
    project: Project,
    port: u16,
}

impl Berth {
    fn up() -> Berth {
        let port = free_port();
        let service = test_service().display().to_string();
        let project = Project::new(&format!(
            "monitor:\n  interval: 1s\napi:\n  listen: 127.0.0.1:{port}\nservices:\n  db:\n    command: [\"{service}\"]\n    port: {}\n  web:\n    command: [\"{service}\"]\n    port: {}\n    depends_on: [db]\n    health: {{ http: \"http://127.0.0.1:${{port}}/health\", interval: 1s }}\n",
            free_port(),
            free_port()
        ));
        let berth = Berth { project, port };
        berth.project.berth(&["up", "--timeout", "30s"]).code(0);
        berth
    }

    fn state_dir(&self) -> PathBuf {
        self.project.path().join(".berth")
    }

    /// `GET /metrics` in the classic text format, with the token.
    fn metrics(&self) -> Reply {
        let token = std::fs::read_to_string(self.state_dir().join("token")).unwrap();
        let bearer = format!("Bearer {}", token.trim());
        request(
            self.port,
            "GET",
            "/metrics",
            &[("Authorization", &bearer)],
            None,
        )
    }
}

impl Drop for Berth {
    fn drop(&mut self) {
        let _ = self.project.berth(&["down", "--force"]).output_any();
    }
}

/// The Prometheus server this test started; killed (that child only) and waited for when
/// dropped.
struct Prometheus {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Scraping `target` every second as job `berth`, with the token in `token_file`.
    fn start(target: u16, token_file: &Path) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: berth\n    scrape_interval: 1s\n    scrape_timeout: 1s\n    authorization:\n      type: Bearer\n      credentials_file: {}\n    static_configs:\n      - targets: [\"127.0.0.1:{target}\"]\n",
                token_file.display()
            ),
        )
        .unwrap();
        let port = free_port();
        let log = dir.path().join("prometheus.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {PROMETHEUS}: {e}"));
        Prometheus {
            child,
            port,
            log,
            _dir: dir,
        }
    }

    /// Its log so far, for failure messages.
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The answer to `GET PATH` (a query string already encoded); `None` while it does not
    /// listen yet. Fails if Prometheus has exited.
    fn get(&mut self, path: &str) -> Option<Value> {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("prometheus exited ({status}):\n{}", self.log());
        }
        std::net::TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        let reply = request(self.port, "GET", path, &[], None);
        (reply.status == 200).then(|| reply.json())
    }

    /// The instant vector `query` gives now (empty when nothing matches).
    fn query(&mut self, query: &str) -> Option<Vec<Value>> {
        let answer = self.get(&format!("/api/v1/query?query={}", encode(query)))?;
        assert_eq!(answer["status"], "success", "{query}: {answer}");
        answer["data"]["result"].as_array().cloned()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `text` percent-encoded for a query string.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn prometheus_scrapes_every_service_up() {
    if !have(PROMETHEUS) {
        return;
    }
    let started = Instant::now();
    let berth = Berth::up();
    let mut prometheus = Prometheus::start(berth.port, &berth.state_dir().join("token"));

    let deadline = started + Duration::from_secs(30);
    let mut queries = vec![r#"up{job="berth"} == 1"#.to_string()];
    for service in SERVICES {
        queries.push(format!(
            r#"berth_service_up{{job="berth",service="{service}"}} == 1"#
        ));
        queries.push(format!(
            r#"berth_service_memory_rss_bytes{{job="berth",service="{service}"}} > 0"#
        ));
    }
    queries.push(r#"berth_service_healthy{job="berth",service="web"} == 1"#.to_string());
    for query in &queries {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut last = None;
        let found = wait_until(left, || {
            let result = prometheus.query(query);
            let hit = result.as_ref().is_some_and(|r| !r.is_empty());
            last = result;
            if !hit {
                std::thread::sleep(Duration::from_millis(100));
            }
            hit.then_some(())
        });
        if found.is_none() {
            let targets = prometheus.get("/api/v1/targets");
            panic!(
                "`{query}` did not hold within 30 s of the start (last result: {last:?})\ntargets: {targets:?}\nberth's /metrics: {}\nprometheus' log:\n{}",
                berth.metrics().body,
                prometheus.log()
            );
        }
    }
    // The series are about this project's services.
    let up = prometheus
        .query(r#"berth_service_up{job="berth"}"#)
        .unwrap();
    let mut names: Vec<&str> = up
        .iter()
        .map(|s| s["metric"]["service"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, SERVICES, "{up:?}");
    assert!(
        up.iter().all(|s| s["metric"]["project"].is_string()),
        "{up:?}"
    );
}

#[test]
fn promtool_finds_nothing_wrong_with_the_metrics() {
    if !have(PROMTOOL) {
        return;
    }
    let berth = Berth::up();
    // Once every service has been sampled and web health-checked, so that every series is in.
    let metrics = wait_until(Duration::from_secs(30), || {
        let reply = berth.metrics();
        assert_eq!(reply.status, 200, "{}", reply.body);
        let has = |name: &str, service: &str| {
            reply.body.lines().any(|l| {
                l.starts_with(&format!("{name}{{")) && l.contains(&format!("service=\"{service}\""))
            })
        };
        let complete = SERVICES
            .iter()
            .all(|s| has("berth_service_memory_rss_bytes", s))
            && has("berth_health_check_duration_seconds_count", "web");
        if !complete {
            std::thread::sleep(Duration::from_millis(100));
        }
        complete.then_some(reply)
    })
    .expect("every series within 30 s");
    assert!(
        metrics
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/plain")),
        "{:?}",
        metrics.headers
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("metrics.txt");
    std::fs::write(&file, &metrics.body).unwrap();
    let checked = Command::new(PROMTOOL)
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&file).unwrap())
        .output()
        .unwrap_or_else(|e| panic!("running {PROMTOOL}: {e}"));
    assert!(
        checked.status.success(),
        "promtool check metrics: {}\nstdout:\n{}\nstderr:\n{}\nthe metrics:\n{}",
        checked.status,
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr),
        metrics.body
    );
}
