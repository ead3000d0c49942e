//! Adopting a healthy instance nobody keeps (SPEC.md, Ports: *Adopt*): one carrying the
//! stack's marks with no keeper, or one `match` recognises, is watched with its own pid under
//! `intelligent`: its dependents start against it, its exit starts a kept instance, `down`
//! stops it, a killed daemon is followed by one that adopts it again. An unhealthy one is
//! replaced; `conservative` moves away from one and leaves it running. Every process killed
//! here is one this test started or berth started for it.

use crate::engine::alive;
use crate::ports_up::{Down, environ};
use crate::support::{Project, Squatter, free_port, kill_9, test_service, wait_until};
use berth::process::ProcessId;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// `db` on `db_port` (health `health`, then `extra` keys) and `api`, which depends on it
/// and is told its port, under `strategy`.
fn project(strategy: &str, db_port: u16, db_keys: &str) -> Project {
    let service = test_service().display().to_string();
    let api_port = free_port();
    let project = Project::new(&format!(
        "project: adopt\nports: {{ strategy: {strategy} }}\nservices:\n  db:\n    command: [\"{service}\"]\n    port: {db_port}\n{db_keys}  api:\n    command: [\"{service}\"]\n    port: {api_port}\n    depends_on: [db]\n    env: {{ DB_PORT: \"${{services.db.port}}\" }}\n"
    ));
    std::fs::create_dir_all(project.path().join(".berth")).unwrap();
    project
}

fn state_dir(project: &Project) -> PathBuf {
    project.path().join(".berth").canonicalize().unwrap()
}

/// An instance of a service started by hand with the stack's marks (as a tool that ran
/// berth's command itself, or one whose keeper died with its daemon, leaves it): no keeper.
struct Stranger(Child);

impl Stranger {
    /// `db`, listening on `port`.
    fn marked(project: &Project, port: u16) -> Stranger {
        let stranger = Stranger::of(project, "db", &[("PORT", &port.to_string())], &[]);
        wait_until(Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        })
        .expect("the stranger listens");
        stranger
    }

    /// The test service as `service`, with `env` and `args`.
    fn of(project: &Project, service: &str, env: &[(&str, &str)], args: &[&str]) -> Stranger {
        let child = Command::new(test_service())
            .args(args)
            .envs(env.iter().copied())
            .env("BERTH_STACK", state_dir(project))
            .env("BERTH_PROJECT", "adopt")
            .env("BERTH_SERVICE", service)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Stranger(child)
    }

    fn pid(&self) -> u64 {
        u64::from(self.0.id())
    }

    fn alive(&mut self) -> bool {
        self.0.try_wait().unwrap().is_none()
    }
}

impl Drop for Stranger {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `name`'s row of `status --json` (the daemon's, or the run files' without one).
fn view(project: &Project, name: &str) -> serde_json::Value {
    let status = project.berth(&["status", "--json"]).output_any().json();
    crate::ports_up::view(&status, name)
}

const HEALTH: &str = "    health: { http: \"http://127.0.0.1:${port}/health\", interval: 200ms }\n";

#[test]
fn a_healthy_marked_instance_is_adopted_its_dependents_start_against_it_and_its_exit_starts_a_kept_one()
 {
    let db_port = free_port();
    let project = project("intelligent", db_port, HEALTH);
    let mut stranger = Stranger::marked(&project, db_port);
    let _down = Down(&project);
    project
        .berth(&["up"])
        .code(0)
        .stderr_has(&format!(
            "db: port {db_port} is held by an instance of it berth did not start (pid {}), and its health passes, so it was adopted: output not captured",
            stranger.pid()
        ));
    let db = view(&project, "db");
    assert_eq!(db["pid"], stranger.pid(), "{db}");
    assert_eq!(
        (&db["state"], &db["health"]),
        (&"running".into(), &"healthy".into())
    );
    assert_eq!(db["adopted"], true, "{db}");
    assert_eq!(db["port"], db_port);
    // Sampled like any other: its tree's memory is read from the adopted pid.
    let sampled = wait_until(Duration::from_secs(10), || {
        view(&project, "db")["rss_bytes"]
            .as_u64()
            .filter(|b| *b > 0)
    });
    assert!(sampled.is_some(), "the adopted instance is never sampled");
    let api = view(&project, "api");
    assert_eq!(api["state"], "running", "{api}");
    let env = environ(api["pid"].as_u64().unwrap());
    assert!(env.contains(&format!("DB_PORT={db_port}\0")), "{env}");
    assert!(stranger.alive());
    // Shown honestly: the table, the log, the events.
    project
        .berth(&["status"])
        .code(0)
        .stdout_has("db: adopted: output not captured");
    project.berth(&["logs", "db"]).code(0).stdout_has(&format!(
        "adopted pid {} (started outside berth): its output is not captured",
        stranger.pid()
    ));
    // The API says so in a shape its document gives (objects closed: no field undocumented),
    // and its log route gives the note too.
    let socket = project.path().join(".berth/berth.sock");
    let doc = crate::openapi::Doc::fetch(&socket);
    for (documented, path) in [
        ("/v1/status", "/v1/status"),
        ("/v1/services/{name}", "/v1/services/db"),
        ("/v1/logs/{name}", "/v1/logs/db"),
    ] {
        let reply = crate::api_faults::call(&socket, "GET", path, &[], None);
        doc.check("GET", documented, &reply);
        assert!(
            reply.body.contains("not captured"),
            "{path}: {}",
            reply.body
        );
    }
    assert_has_event(&project, "adopted");

    // Its exit is seen at once, and the restart policy starts a kept instance.
    kill_9(ProcessId::of(stranger.0.id()).unwrap());
    assert!(!stranger.alive());
    let kept = wait_until(Duration::from_secs(10), || {
        let db = view(&project, "db");
        (db["state"] == "running" && db["pid"] != stranger.pid() && db["pid"].is_u64())
            .then_some(db)
    })
    .expect("a kept instance starts");
    assert!(kept["adopted"].is_null(), "{kept}");
    assert_eq!(kept["restarts"], 1, "{kept}");
    assert_eq!(kept["port"], db_port);
    std::net::TcpStream::connect(("127.0.0.1", db_port)).expect("the kept db answers");
}

/// `db`'s event log holds an event of `kind`.
#[track_caller]
fn assert_has_event(project: &Project, kind: &str) {
    let events = project
        .berth(&["events", "db", "--json"])
        .code(0)
        .json_lines();
    let kinds: Vec<&serde_json::Value> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["kind"])
        .collect();
    assert!(kinds.iter().any(|k| *k == kind), "no {kind} in {kinds:?}");
}

/// A `python3 -m http.server` someone started on db's port, which db's `match` recognises
/// (`extra`: more keys of db), under `intelligent`.
fn recognised_by_match(extra: &str) -> (Project, Squatter, u16) {
    let db_port = free_port();
    let squatter = Squatter::on(db_port, None).expect("the squatter listens");
    let keys = format!("    match: \"http\\\\.server {db_port}\"\n{extra}");
    (project("intelligent", db_port, &keys), squatter, db_port)
}

#[test]
fn an_instance_match_recognises_is_adopted_with_no_health_check_and_down_stops_it() {
    // No health check: listening on its configured port is what passes.
    let (project, mut squatter, _) = recognised_by_match("");
    let _down = Down(&project);
    project.berth(&["up", "-q"]).code(0);
    let db = view(&project, "db");
    assert_eq!(db["pid"], squatter.child.id(), "{db}");
    assert_eq!(db["adopted"], true, "{db}");
    assert!(squatter.alive());
    // It carries no marks, yet it is the stack's own to `ports`: not a conflict.
    let checks = project.berth(&["ports", "check", "--json"]).code(0).json();
    let check = checks
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["service"] == "db")
        .unwrap();
    assert_eq!(check["action"], "ours", "{check}");
    let who = project.berth(&["ports", "--json"]).code(0).json();
    let listed = who
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["port"] == db["port"])
        .unwrap();
    assert_eq!(listed["service"], "db", "{listed}");
    project
        .berth(&["down"])
        .code(0)
        .stderr_has("stopped api, db");
    wait_until(Duration::from_secs(5), || (!squatter.alive()).then_some(()))
        .expect("down stops the adopted instance");
    assert_eq!(view(&project, "db")["state"], "stopped");
}

#[test]
fn an_unhealthy_instance_is_replaced() {
    // http.server answers 404 for /health: recognised by `match`, but not healthy.
    let (project, mut squatter, db_port) = recognised_by_match(HEALTH);
    let _down = Down(&project);
    project
        .berth(&["up"])
        .code(0)
        .stderr_has("whose health fails; stopped it");
    wait_until(Duration::from_secs(5), || (!squatter.alive()).then_some(()))
        .expect("the unhealthy instance is stopped");
    let db = view(&project, "db");
    assert_ne!(db["pid"], squatter.child.id());
    assert!(db["adopted"].is_null(), "{db}");
    assert_eq!(
        (&db["state"], &db["port"]),
        (&"running".into(), &db_port.into())
    );
}

#[test]
fn conservative_moves_away_from_a_marked_instance_and_leaves_it_running() {
    let (db_port, alt) = (free_port(), free_port());
    let project = project(
        "conservative",
        db_port,
        &format!("    alt_ports: [{alt}]\n{HEALTH}"),
    );
    let mut stranger = Stranger::marked(&project, db_port);
    let _down = Down(&project);
    project.berth(&["up"]).code(0).stderr_has(&format!(
        "db: port {db_port} is held by an instance of it berth does not keep (conservative); moved to {alt}"
    ));
    let db = view(&project, "db");
    assert_eq!(
        (&db["port"], &db["configured_port"]),
        (&alt.into(), &db_port.into())
    );
    assert_ne!(db["pid"], stranger.pid());
    assert!(db["adopted"].is_null(), "{db}");
    let api = view(&project, "api");
    let env = environ(api["pid"].as_u64().unwrap());
    assert!(env.contains(&format!("DB_PORT={alt}\0")), "{env}");
    project.berth(&["down"]).code(0);
    assert!(
        stranger.alive(),
        "what berth moved away from is not its to stop"
    );
}

#[test]
fn an_adopted_instance_is_adopted_again_after_the_daemon_is_killed_with_or_without_its_record() {
    let db_port = free_port();
    let project = project("intelligent", db_port, HEALTH);
    let mut stranger = Stranger::marked(&project, db_port);
    let _down = Down(&project);
    project.berth(&["up", "-q"]).code(0);
    assert_eq!(view(&project, "db")["pid"], stranger.pid());
    let record = state_dir(&project).join("run/db.json");
    for lose_the_record in [false, true] {
        let daemon = crate::support::daemon_pid(project.path()).expect("a daemon runs");
        kill_9(ProcessId::of(daemon).unwrap());
        if lose_the_record {
            std::fs::remove_file(&record).unwrap();
        } else {
            // With no daemon, status reads the record: adopted, same pid.
            let offline = project.berth(&["status", "--json"]).output_any().json();
            assert_eq!(offline["daemon"]["running"], false);
            let db = &offline["services"][0];
            assert_eq!(
                (&db["pid"], &db["adopted"]),
                (&stranger.pid().into(), &true.into()),
                "{db}"
            );
        }
        project.berth(&["up", "-q"]).code(0);
        let db = view(&project, "db");
        assert_eq!(db["pid"], stranger.pid(), "lost record: {lose_the_record}");
        assert_eq!(db["adopted"], true, "{db}");
        assert!(stranger.alive());
    }
    // `doctor` reads the record as an adopted instance, not as a corrupt run file.
    let doctor = project.berth(&["doctor"]).output_any();
    let said = doctor.stdout() + &doctor.stderr();
    assert!(
        said.contains(&format!(
            "`db` runs (pid {}, adopted: output not captured)",
            stranger.pid()
        )),
        "{said}"
    );
    assert!(!said.contains("corrupt"), "{said}");
    // The new daemon watches it too: its exit starts a kept instance.
    kill_9(ProcessId::of(stranger.0.id()).unwrap());
    let kept = wait_until(Duration::from_secs(10), || {
        let db = view(&project, "db");
        (db["state"] == "running" && db["pid"].as_u64().is_some_and(|p| p != stranger.pid()))
            .then_some(db)
    })
    .expect("a kept instance starts");
    let pid = kept["pid"].as_u64().unwrap();
    project.berth(&["down"]).code(0);
    assert!(!alive(pid));
}

#[test]
fn an_adopted_instance_deaf_to_its_stop_signal_is_killed_after_its_stop_timeout() {
    let db_port = free_port();
    let project = project("intelligent", db_port, "    stop_timeout: 300ms\n");
    let port = db_port.to_string();
    let mut stranger = Stranger::of(&project, "db", &[("PORT", &port)], &["--ignore-term"]);
    wait_until(Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", db_port)).ok()
    })
    .expect("the stranger listens");
    let _down = Down(&project);
    project.berth(&["up", "-q"]).code(0);
    assert_eq!(view(&project, "db")["pid"], stranger.pid());
    let began = std::time::Instant::now();
    project.berth(&["down", "db"]).code(0);
    assert!(!stranger.alive(), "SIGKILL after the stop timeout");
    assert!(
        began.elapsed() >= Duration::from_millis(300),
        "it ignores SIGTERM: only the SIGKILL after 300ms ends it"
    );
}

#[test]
fn a_marked_worker_with_no_port_is_adopted_under_intelligent_and_replaced_under_conservative() {
    for (strategy, adopted) in [("intelligent", true), ("conservative", false)] {
        let service = test_service().display().to_string();
        let project = Project::new(&format!(
            "project: adopt\nports: {{ strategy: {strategy} }}\nservices:\n  worker:\n    command: [\"{service}\", \"--no-listen\"]\n"
        ));
        std::fs::create_dir_all(project.path().join(".berth")).unwrap();
        let mut stranger = Stranger::of(&project, "worker", &[], &["--no-listen"]);
        let _down = Down(&project);
        project.berth(&["up", "-q"]).code(0);
        let worker = view(&project, "worker");
        if adopted {
            assert_eq!(worker["pid"], stranger.pid(), "{worker}");
            assert_eq!(worker["adopted"], true, "{worker}");
        } else {
            // Nothing to move away from: a second worker beside it would be a duplicate.
            wait_until(Duration::from_secs(5), || (!stranger.alive()).then_some(()))
                .expect("replaced");
            assert_ne!(worker["pid"], stranger.pid(), "{worker}");
            assert!(worker["adopted"].is_null(), "{worker}");
        }
    }
}

#[test]
fn an_adopted_instance_is_health_checked_and_replaced_by_a_kept_one_when_it_fails() {
    let db_port = free_port();
    let flag = tempfile::NamedTempFile::new().unwrap();
    let health = format!(
        "    health: {{ exec: \"test -f {}\", interval: 100ms, retries: 2 }}\n",
        flag.path().display()
    );
    let project = project("intelligent", db_port, &health);
    let mut stranger = Stranger::marked(&project, db_port);
    let _down = Down(&project);
    project.berth(&["up", "-q"]).code(0);
    assert_eq!(view(&project, "db")["pid"], stranger.pid());
    // Its health fails from now on: after `retries` checks it is stopped like any other.
    let path = flag.path().to_path_buf();
    flag.close().unwrap();
    wait_until(Duration::from_secs(10), || {
        (!stranger.alive()).then_some(())
    })
    .expect("the unhealthy adopted instance is stopped");
    std::fs::write(&path, b"").unwrap();
    let kept = wait_until(Duration::from_secs(10), || {
        let db = view(&project, "db");
        (db["state"] == "running" && db["health"] == "healthy" && db["pid"] != stranger.pid())
            .then_some(db)
    })
    .expect("a kept instance starts");
    assert!(kept["adopted"].is_null(), "{kept}");
    assert_has_event(&project, "health");
    std::fs::remove_file(&path).unwrap();
}
