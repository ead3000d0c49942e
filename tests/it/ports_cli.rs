//! `berth ports`, `ports who`, `ports free` against real listeners: a foreign one, a berth
//! service, another user's (protected), with and without a config.

use crate::engine::{Stack, alive};
use crate::support::{Project, Run, Squatter, free_port};
use berth::process::ProcessId;

/// The listening process of `squatter` (under `runuser`, the server is its child).
fn holder_pid(squatter: &Squatter) -> u32 {
    let who = Run::new(&["ports", "who", &squatter.port.to_string(), "--json"])
        .code(0)
        .json();
    who[0]["pid"].as_u64().unwrap() as u32
}

#[test]
fn ports_lists_a_foreign_listener_and_our_services_without_and_with_a_config() {
    let squatter = Squatter::on(free_port(), None).expect("python3 serves");
    let bare = Project::new("");
    std::fs::remove_file(bare.path().join("berth.yaml")).unwrap();
    let listed = bare.berth(&["ports", "--json"]).code(0).json();
    let entry = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["port"] == squatter.port)
        .expect("the squatter is listed")
        .clone();
    assert_eq!(entry["proto"], "tcp");
    assert_eq!(entry["address"], "127.0.0.1");
    assert_eq!(entry["pid"], squatter.child.id());
    assert!(entry["command"].as_str().unwrap().contains("http.server"));
    assert_eq!(entry["service"], serde_json::Value::Null);
    assert!(entry["user"].is_string());

    let stack = Stack::new();
    stack.berth(&["up", "-q"]).code(0);
    let listed = stack.berth(&["ports", "--json"]).code(0).json();
    let db = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["port"] == stack.db_port)
        .unwrap()
        .clone();
    assert_eq!(db["service"], "db");
    assert_eq!(db["pid"], stack.pids()["db"].unwrap());
    // The table ends with the configured ports.
    let table = stack.berth(&["ports"]).code(0).stdout();
    assert!(table.starts_with("PORT"), "{table}");
    assert!(
        table.contains(&format!("db   {}  ours", stack.db_port)),
        "{table}"
    );
}

#[test]
fn who_names_the_holder_and_exits_3_for_a_free_port() {
    let squatter = Squatter::on(free_port(), None).expect("python3 serves");
    let port = squatter.port.to_string();
    let out = Run::new(&["ports", "who", &port]).code(0).stdout();
    assert!(
        out.contains(&format!("pid {}", squatter.child.id())) && out.contains("started "),
        "{out}"
    );
    let free = free_port().to_string();
    Run::new(&["ports", "who", &free])
        .code(3)
        .stderr_has("is free");
}

#[test]
fn free_stops_a_foreign_holder_only_when_told_to() {
    let mut squatter = Squatter::on(free_port(), None).expect("python3 serves");
    let port = squatter.port.to_string();
    let id = ProcessId::of(squatter.child.id()).unwrap();
    // No terminal, no --yes: nothing happens.
    Run::new(&["ports", "free", &port])
        .code(1)
        .stderr_has("pass --yes");
    assert!(id.is_alive());
    Run::new(&["ports", "free", &port, "--yes"])
        .code(0)
        .stderr_has(&format!("port {port} is free"));
    squatter.child.wait().unwrap();
    assert!(std::net::TcpStream::connect(("127.0.0.1", squatter.port)).is_err());
    Run::new(&["ports", "free", &port])
        .code(0)
        .stderr_has("already free");
}

#[test]
fn free_never_stops_another_users_process_or_a_berth_service() {
    let stack = Stack::new();
    stack.berth(&["up", "-q"]).code(0);
    let db = stack.pids()["db"].unwrap();
    stack
        .berth(&["ports", "free", &stack.db_port.to_string(), "--force"])
        .code(1)
        .stderr_has("berth down db");
    assert!(alive(db));

    let Some(other) = Squatter::on(free_port(), Some("nobody")) else {
        eprintln!("skipped: cannot run a listener as `nobody` here");
        return;
    };
    let pid = holder_pid(&other);
    Run::new(&["ports", "free", &other.port.to_string(), "--force"])
        .code(1)
        .stderr_has("which berth never stops: it belongs to another user (nobody)");
    assert!(alive(pid as u64));
}

#[test]
fn udp_sockets_are_listed_only_with_all() {
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = udp.local_addr().unwrap().port();
    let has = |args: &[&str]| {
        Run::new(args)
            .code(0)
            .json()
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["port"] == port && e["proto"] == "udp" && e["pid"] == std::process::id())
    };
    assert!(has(&["ports", "--json", "--all"]));
    assert!(!has(&["ports", "--json"]));
    // `who` looks at both protocols: a UDP socket holds the port too.
    let out = Run::new(&["ports", "who", &port.to_string()])
        .code(0)
        .stdout();
    assert!(
        out.contains(&format!("pid {}", std::process::id())) && out.contains("udp"),
        "{out}"
    );
}
