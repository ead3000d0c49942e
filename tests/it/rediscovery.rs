//! Lost state never means duplicates: run files deleted or corrupt while the services run,
//! a killed shim with or without its daemon. Services are found again by their markers and
//! adopted, or, when nothing keeps them any more, stopped and started once.

use crate::engine::{Stack, alive};
use crate::support::kill_9;
use berth::process::ProcessId;
use std::path::PathBuf;
use std::time::Duration;

impl Stack {
    fn state_dir(&self) -> PathBuf {
        self.project.path().join(".berth").canonicalize().unwrap()
    }

    fn shim_of(&self, service: &str) -> ProcessId {
        let path = self.state_dir().join(format!("run/{service}.json"));
        let record: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        serde_json::from_value(record["shim"].clone()).unwrap()
    }
}

#[test]
fn deleted_truncated_and_corrupt_run_files_rediscover_the_running_services() {
    let service = crate::support::test_service().display().to_string();
    let stack = Stack::with(&format!(
        "  worker:\n    command: [\"{service}\", \"--no-listen\"]\n"
    ));
    stack.berth(&["up", "-q"]).code(0);
    let before = stack.pids();
    stack.kill_daemon();
    let run = stack.state_dir().join("run");
    std::fs::remove_file(run.join("db.json")).unwrap();
    std::fs::write(run.join("api.json"), b"{\"shim\": garbage").unwrap();
    std::fs::write(run.join("worker.json"), b"").unwrap();

    // Status finds them by their markers without a daemon; the next up adopts them.
    stack.assert_taken_over(&before);
    for service in ["db", "api", "worker"] {
        assert_eq!(stack.instances(service).len(), 1, "{service}");
    }
    // And they are under control again.
    stack.assert_down_leaves_nothing(&before, "stopped api, db, worker");
}

#[test]
fn run_files_lost_with_no_daemon_still_let_down_stop_everything() {
    let stack = Stack::new();
    stack.berth(&["up", "-q"]).code(0);
    let before = stack.pids();
    stack.kill_daemon();
    std::fs::remove_dir_all(stack.state_dir().join("run")).unwrap();
    stack.assert_down_leaves_nothing(&before, "stopped api, db");
}

#[test]
fn a_killed_shim_is_replaced_not_duplicated() {
    let stack = Stack::new();
    stack.berth(&["up", "-q"]).code(0);
    let old = stack.pids()["db"].unwrap();
    kill_9(stack.shim_of("db"));
    // The daemon stops what the shim kept and starts db once more.
    let new = crate::support::wait_until(Duration::from_secs(10), || {
        let pid = stack.pids()["db"]?;
        (pid != old && stack.instances("db") == [pid as u32]).then_some(pid)
    })
    .unwrap();
    assert!(!alive(old), "the unkept instance {old} still runs");
    stack.berth(&["status", "--json"]).code(0);
    std::net::TcpStream::connect(("127.0.0.1", stack.db_port)).expect("db answers");
    let status = stack.berth(&["status", "--json"]).code(0).json();
    let db = &status["services"].as_array().unwrap()[0];
    assert_eq!(
        (db["name"].as_str(), db["pid"].as_u64()),
        (Some("db"), Some(new))
    );
    assert_eq!(db["restarts"], 1);
}

#[test]
fn a_shim_killed_with_its_daemon_leaves_an_orphan_that_up_adopts() {
    let stack = Stack::new();
    stack.berth(&["up", "-q"]).code(0);
    let old = stack.pids()["db"].unwrap();
    stack.kill_daemon();
    kill_9(stack.shim_of("db"));
    assert!(alive(old), "the service outlives its shim for now");

    let offline = stack.berth(&["status", "--json", "db"]).code(3).json();
    let db = &offline["services"].as_array().unwrap()[0];
    assert!(
        db["reason"]
            .as_str()
            .unwrap()
            .contains("keeper process is gone"),
        "{db}"
    );

    // Healthy (it listens on its port), so `intelligent` adopts it: same pid, no duplicate.
    stack.berth(&["up", "-q"]).code(0);
    let status = stack.berth(&["status", "--json", "db"]).code(0).json();
    let db = &status["services"].as_array().unwrap()[0];
    assert_eq!(db["pid"].as_u64(), Some(old), "{db}");
    assert_eq!(db["adopted"], true, "{db}");
    assert_eq!(stack.instances("db"), [old as u32]);
    stack.berth(&["down"]).code(0);
    assert!(!alive(old), "down stops the adopted orphan {old}");
}

#[test]
fn under_aggressive_an_orphan_is_replaced() {
    let stack = Stack::new();
    let config = stack.project.path().join("berth.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("ports: {{ strategy: aggressive }}\n{text}"),
    )
    .unwrap();
    stack.berth(&["up", "-q"]).code(0);
    let old = stack.pids()["db"].unwrap();
    stack.kill_daemon();
    kill_9(stack.shim_of("db"));
    stack.berth(&["up", "-q"]).code(0);
    let new = stack.pids()["db"].unwrap();
    assert_ne!(new, old);
    assert!(!alive(old), "the orphan {old} still runs");
    assert_eq!(stack.instances("db"), [new as u32]);
}
