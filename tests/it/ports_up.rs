//! `up` against ports that are taken: moving to an alternative (and dependents told the new
//! port), the strategies, protected holders, reserved and exhausted alternatives, two services
//! competing for one alternative, and a port grabbed while the service starts.

use crate::engine::alive;
use crate::support::{Project, Squatter, free_port, test_service, wait_until};
use std::net::TcpListener;
use std::time::Duration;

/// `db` on `db_port` with `alt_ports`, and `api` that is told db's port; `top` goes first
/// (e.g. a `ports:` section).
fn project(top: &str, db_port: u16, alt: &[u16]) -> Project {
    let service = test_service().display().to_string();
    let alt: Vec<String> = alt.iter().map(u16::to_string).collect();
    let api_port = free_port();
    Project::new(&format!(
        "{top}services:\n  db:\n    command: [\"{service}\"]\n    port: {db_port}\n    alt_ports: [{}]\n  api:\n    command: [\"{service}\"]\n    port: {api_port}\n    depends_on: [db]\n    env: {{ DB_URL: \"127.0.0.1:${{services.db.port}}\" }}\n",
        alt.join(", ")
    ))
}

pub fn view(status: &serde_json::Value, name: &str) -> serde_json::Value {
    status["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap()
        .clone()
}

pub fn environ(pid: u64) -> String {
    String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/environ")).unwrap()).into_owned()
}

/// `down` when dropped, so a failed test leaves nothing running.
pub struct Down<'a>(pub &'a Project);

impl Drop for Down<'_> {
    fn drop(&mut self) {
        let _ = self.0.berth(&["down"]).output_any();
    }
}

#[test]
fn a_foreign_holder_makes_the_service_move_and_dependents_follow() {
    let (db_port, alt) = (free_port(), free_port());
    let mut squatter = Squatter::on(db_port, None).expect("the squatter listens");
    let project = project("", db_port, &[alt]);
    let _down = Down(&project);
    let up = project.berth(&["up"]).code(0);
    up.stderr_has(&format!(
        "↪ db: port {db_port} is held by pid {} (",
        squatter.child.id()
    ))
    .stderr_has(&format!("moved to {alt}"));
    let status = project.berth(&["status", "--json"]).code(0).json();
    let db = view(&status, "db");
    assert_eq!(db["port"], alt);
    assert_eq!(db["configured_port"], db_port);
    let api = view(&status, "api");
    let env = environ(api["pid"].as_u64().unwrap());
    assert!(env.contains(&format!("DB_URL=127.0.0.1:{alt}\0")), "{env}");
    assert!(env.contains(&format!("BERTH_DB_PORT={alt}\0")), "{env}");
    assert!(
        squatter.alive(),
        "intelligent never stops a foreign process"
    );
    let moved = |events: &serde_json::Value| {
        events.as_array().unwrap().iter().any(|e| {
            e["kind"] == "port"
                && e["message"]
                    .as_str()
                    .unwrap()
                    .ends_with(&format!("moved to {alt}"))
        })
    };
    let events = wait_until(Duration::from_secs(5), || {
        let events = project
            .berth(&["events", "db", "--json"])
            .code(0)
            .json_lines();
        moved(&events).then_some(events)
    });
    assert!(events.is_some(), "the move is in the event log");
}

#[test]
fn a_udp_socket_on_the_port_does_not_take_it_from_a_tcp_service() {
    let (db_port, alt) = (free_port(), free_port());
    // TCP and UDP ports are separate: the service binds TCP beside it.
    let _udp = std::net::UdpSocket::bind(("127.0.0.1", db_port)).expect("udp binds");
    let project = project("", db_port, &[alt]);
    let _down = Down(&project);
    let up = project.berth(&["up"]).code(0);
    assert!(!up.stderr().contains("moved to"), "{}", up.stderr());
    let status = project.berth(&["status", "--json"]).code(0).json();
    let db = view(&status, "db");
    assert_eq!(db["port"], db_port);
    assert!(db["configured_port"].is_null(), "{db}");
}

#[test]
fn aggressive_stops_a_foreign_holder_and_takes_its_port() {
    let db_port = free_port();
    let mut squatter = Squatter::on(db_port, None).expect("the squatter listens");
    let project = project("ports: { strategy: aggressive }\n", db_port, &[]);
    let _down = Down(&project);
    project
        .berth(&["up"])
        .code(0)
        .stderr_has(&format!(
            "db: port {db_port} was held by pid {}",
            squatter.child.id()
        ))
        .stderr_has("stopped it");
    wait_until(Duration::from_secs(5), || (!squatter.alive()).then_some(())).unwrap();
    let status = project.berth(&["status", "--json"]).code(0).json();
    assert_eq!(view(&status, "db")["port"], db_port);
}

#[test]
fn another_users_process_is_never_stopped_even_by_aggressive() {
    let (db_port, alt) = (free_port(), free_port());
    let Some(mut squatter) = Squatter::on(db_port, Some("nobody")) else {
        eprintln!("skipped: cannot run a listener as `nobody` here");
        return;
    };
    let project = project("ports: { strategy: aggressive }\n", db_port, &[alt]);
    let _down = Down(&project);
    project
        .berth(&["up"])
        .code(0)
        .stderr_has("another user (nobody)")
        .stderr_has(&format!("moved to {alt}"));
    assert!(squatter.alive());
}

#[test]
fn an_instance_recognised_by_match_is_adopted_replaced_or_moved_from_by_strategy() {
    for strategy in ["intelligent", "aggressive", "conservative"] {
        let (db_port, alt) = (free_port(), free_port());
        // The service as someone started it by hand: `match` recognises its command line.
        let mut stale = Squatter::on(db_port, None).expect("the squatter listens");
        let service = test_service().display().to_string();
        let project = Project::new(&format!(
            "ports: {{ strategy: {strategy} }}\nservices:\n  db:\n    command: [\"{service}\"]\n    port: {db_port}\n    alt_ports: [{alt}]\n    match: \"http\\\\.server {db_port}\"\n"
        ));
        let _down = Down(&project);
        project.berth(&["up", "-q"]).code(0);
        let db = service_port(&project);
        let status = project.berth(&["status", "--json"]).code(0).json();
        let pid = view(&status, "db")["pid"].as_u64();
        match strategy {
            // Healthy (no health check: it listens on the port), so adopted as it is.
            "intelligent" => {
                assert!(stale.alive(), "{strategy}");
                assert_eq!(pid, Some(u64::from(stale.child.id())), "{strategy}");
                assert_eq!(db, db_port, "{strategy}");
            }
            "aggressive" => {
                wait_until(Duration::from_secs(5), || (!stale.alive()).then_some(())).unwrap();
                assert_eq!(db, db_port, "{strategy}");
            }
            _ => {
                assert!(stale.alive(), "{strategy}");
                assert_eq!(db, alt, "{strategy}");
            }
        }
    }
}

fn service_port(project: &Project) -> u16 {
    let status = project.berth(&["status", "--json"]).code(0).json();
    view(&status, "db")["port"].as_u64().unwrap() as u16
}

#[test]
fn no_free_alternative_fails_the_start_naming_the_holder_and_the_ways_out() {
    let (db_port, alt) = (free_port(), free_port());
    let squatter = Squatter::on(db_port, None).expect("the squatter listens");
    let _also_taken = TcpListener::bind(("127.0.0.1", alt)).unwrap();
    let project = project("", db_port, &[alt]);
    let _down = Down(&project);
    project
        .berth(&["up"])
        .code(1)
        .stderr_has(&format!(
            "error: db failed: port {db_port} is held by pid {} (",
            squatter.child.id()
        ))
        .stderr_has("and no alternative is free")
        .stderr_has(&format!("berth ports free {db_port}"));
}

#[test]
fn reserved_ports_are_skipped_and_two_services_never_share_an_alternative() {
    let (a, b) = (free_port(), free_port());
    let alts = [free_port(), free_port(), free_port()];
    let _sa = TcpListener::bind(("127.0.0.1", a)).unwrap();
    let _sb = TcpListener::bind(("127.0.0.1", b)).unwrap();
    let service = test_service().display().to_string();
    let list: Vec<String> = alts.iter().map(u16::to_string).collect();
    let list = list.join(", ");
    let project = Project::new(&format!(
        "ports: {{ reserved: [{}] }}\nservices:\n  a:\n    command: [\"{service}\"]\n    port: {a}\n    alt_ports: [{list}]\n  b:\n    command: [\"{service}\"]\n    port: {b}\n    alt_ports: [{list}]\n",
        alts[0]
    ));
    let _down = Down(&project);
    project.berth(&["up", "-q"]).code(0);
    let status = project.berth(&["status", "--json"]).code(0).json();
    let mut got = [
        view(&status, "a")["port"].as_u64().unwrap() as u16,
        view(&status, "b")["port"].as_u64().unwrap() as u16,
    ];
    got.sort();
    let mut expected = [alts[1], alts[2]];
    expected.sort();
    assert_eq!(got, expected);
}

#[test]
fn a_port_grabbed_while_the_service_starts_is_planned_again_once() {
    let (port, alt) = (free_port(), free_port());
    let service = test_service().display().to_string();
    let project = Project::new(&format!(
        "services:\n  slow:\n    command: [\"{service}\", \"--slow-start\", \"700\"]\n    port: {port}\n    alt_ports: [{alt}]\n"
    ));
    let _down = Down(&project);
    project.berth(&["up", "--no-wait"]).code(0);
    // Once it has started (and so its plan is made), someone takes the port.
    wait_until(Duration::from_secs(10), || {
        let status = project.berth(&["status", "--json"]).output_any().json();
        view(&status, "slow")["pid"].as_u64()
    })
    .expect("it started");
    let grabber = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let status = wait_until(Duration::from_secs(20), || {
        let status = project.berth(&["status", "--json"]).output_any().json();
        (view(&status, "slow")["state"] == "running").then_some(status)
    })
    .expect("it runs after all");
    let slow = view(&status, "slow");
    assert_eq!(slow["port"], alt);
    assert_eq!(
        slow["restarts"], 0,
        "planned again, not restarted by its policy"
    );
    let note = slow["note"].as_str().unwrap_or_default();
    assert!(note.contains("moved to"), "{slow}");
    let expected = format!("slow: port {port} was taken by pid {}", std::process::id());
    let events = wait_until(Duration::from_secs(5), || {
        let events = project.berth(&["events", "--json"]).code(0).stdout();
        events.contains(&expected).then_some(events)
    });
    assert!(events.is_some(), "the event log names the grabber");
    drop(grabber);
    assert!(alive(slow["pid"].as_u64().unwrap()));
}

#[test]
fn ports_check_says_what_up_would_do_and_fails_when_up_would() {
    let (db_port, alt) = (free_port(), free_port());
    let project = project("", db_port, &[alt]);
    let _down = Down(&project);
    let free = project.berth(&["ports", "check", "--json"]).code(0).json();
    assert_eq!(free[0]["service"], "db");
    assert_eq!(free[0]["action"], "free");

    let squatter = Squatter::on(db_port, None).expect("the squatter listens");
    let moving = project.berth(&["ports", "check"]).code(0).stdout();
    assert!(
        moving.contains(&format!(
            "↪ db   {db_port}  move: port {db_port} is held by pid {}",
            squatter.child.id()
        )),
        "{moving}"
    );
    let _alt_taken = TcpListener::bind(("127.0.0.1", alt)).unwrap();
    let failing = project.berth(&["ports", "check", "--json"]).code(1).json();
    assert_eq!(failing[0]["action"], "fail");
    drop(squatter);
    drop(_alt_taken);

    project.berth(&["up", "-q"]).code(0);
    let ours = project.berth(&["ports", "check", "--json"]).code(0).json();
    assert_eq!(ours[0]["action"], "ours");
    assert_eq!(ours[1]["action"], "ours");
}

#[test]
fn an_ipv6_only_listener_on_the_unspecified_address_counts_as_taken() {
    let (db_port, alt) = (free_port(), free_port());
    let script = format!(
        "import socket, time\ns = socket.socket(socket.AF_INET6)\ns.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)\ns.bind(('::', {db_port}))\ns.listen()\nprint('ready', flush=True)\ntime.sleep(60)\n"
    );
    let mut holder = std::process::Command::new("python3")
        .args(["-c", &script])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    if line.trim() != "ready" {
        let _ = holder.kill();
        let _ = holder.wait();
        eprintln!("skipped: no IPv6 here");
        return;
    }
    let project = project("", db_port, &[alt]);
    let _down = Down(&project);
    project
        .berth(&["up"])
        .code(0)
        .stderr_has(&format!("moved to {alt}"));
    let _ = holder.kill();
    let _ = holder.wait();
}
