//! `berth doctor`: what it finds in a project's state, and what `--fix` repairs.

use crate::support::{Project, free_port};

fn project(port: u16) -> Project {
    Project::new(&format!(
        "services:\n  api:\n    command: ./api\n    port: {port}\n  db:\n    command: ./db\n"
    ))
}

#[test]
fn a_fresh_project_is_healthy() {
    let p = project(free_port());
    p.berth(&["doctor"])
        .code(0)
        .stdout_has("does not exist yet")
        .stdout_has("no daemon runs");
}

#[test]
fn stale_and_corrupt_files_are_found_and_fixed() {
    let p = project(free_port());
    let state = p.path().join(".berth");
    std::fs::create_dir_all(state.join("run")).unwrap();
    // A socket nobody serves any more.
    drop(std::os::unix::net::UnixListener::bind(state.join("berth.sock")).unwrap());
    std::fs::write(state.join("run/api.json"), b"{ not json").unwrap();
    // A record whose keeper is long gone.
    let record = serde_json::json!({
        "project": "x", "service": "db",
        "shim": {"pid": 4_000_000u32, "start_time": 1}, "main": {"pid": 4_000_001u32, "start_time": 1},
        "pgid": 4_000_001u32, "port": null, "log": "/dev/null", "started_at_ms": 0,
        "outcome": {"state": "running"}
    });
    std::fs::write(
        state.join("run/db.json"),
        serde_json::to_vec(&record).unwrap(),
    )
    .unwrap();

    let out = p.berth(&["doctor"]).code(1);
    let text = out.stdout();
    assert!(text.contains("! stale socket"), "{text}");
    assert!(
        text.contains("✗ run file") && text.contains("corrupt"),
        "{text}"
    );
    assert!(
        text.contains("`db` is recorded as running but its keeper (pid 4000000) is gone"),
        "{text}"
    );

    let fixed = p.berth(&["doctor", "--fix", "--json"]).code(0).json();
    assert_eq!(fixed["fixed"].as_array().unwrap().len(), 3, "{fixed}");
    assert!(!state.join("berth.sock").exists());
    assert!(!state.join("run/api.json").exists() && !state.join("run/db.json").exists());
    p.berth(&["doctor"]).code(0);
}

#[test]
fn a_configured_port_held_by_a_stranger_is_named() {
    let stranger = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = stranger.local_addr().unwrap().port();
    let p = project(port);
    p.berth(&["doctor"]).code(0).stdout_has(&format!(
        "! port {port} of `api` is held by pid {}",
        std::process::id()
    ));
}

#[test]
fn a_temporary_file_whose_writer_died_is_removed_and_a_live_writers_kept() {
    let p = project(free_port());
    let run = p.path().join(".berth/run");
    std::fs::create_dir_all(&run).unwrap();
    // What a writer killed between writing and putting its file in place leaves behind.
    let dead = run.join(".api.json.4000000.tmp");
    let live = run.join(format!(".db.json.{}.tmp", std::process::id()));
    std::fs::write(&dead, b"{}").unwrap();
    std::fs::write(&live, b"{}").unwrap();

    let text = p.berth(&["doctor"]).code(0).stdout();
    assert!(
        text.contains("! leftover temporary file")
            && text.contains(".api.json.4000000.tmp")
            && !text.contains(".db.json."),
        "{text}"
    );
    let fixed = p.berth(&["doctor", "--fix", "--json"]).code(0).json();
    assert_eq!(fixed["fixed"].as_array().unwrap().len(), 1, "{fixed}");
    assert!(!dead.exists());
    assert!(live.exists());
}

/// SPEC: `doctor` checks the history database and the API's listener; a state dir readable
/// by others is named.
#[test]
fn the_history_the_listener_and_an_open_state_dir_are_reported() {
    use std::os::unix::fs::PermissionsExt;
    let stranger = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = stranger.local_addr().unwrap();
    let p = Project::new(&format!(
        "api:\n  listen: {listen}\nservices:\n  api:\n    command: ./api\n    port: {}\n",
        free_port()
    ));
    let state = p.path().join(".berth");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
    // A held API port with no daemon: the daemon would serve on the Unix socket only.
    p.berth(&["doctor"])
        .code(1)
        .stdout_has(&format!("api.listen {listen} is held by"))
        .stdout_has("can be read by others")
        .stdout_has("no history yet");
    drop(stranger);
    // Not a database: named as damaged, with what to do.
    std::fs::write(state.join("history.db"), vec![0x5a; 8192]).unwrap();
    p.berth(&["doctor"])
        .code(1)
        .stdout_has(&format!("api.listen {listen} is free"))
        .stdout_has("moves a damaged database aside");
}
