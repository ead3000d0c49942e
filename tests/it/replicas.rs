//! Replicas on a real daemon: instances `worker.1` … `worker.N` in status, the API, metrics
//! and logs; `${replica}`, `BERTH_REPLICA` and ports in order; a dependent that waits for
//! every instance; restarting one instance or all; `berth scale` up and down at runtime; and
//! instances taken over again after the daemon is killed.

use crate::support::{Project, free_port, kill_9, test_service, wait_until};
use berth::process::ProcessId;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

/// A pool of three workers (each a web server on its own port, the later ones slower to
/// listen) and a `web` that depends on the pool and is told its ports.
struct Pool {
    project: Project,
    ports: [u16; 4],
}

impl Pool {
    fn new() -> Pool {
        let ports = [free_port(), free_port(), free_port(), free_port()];
        let service = test_service().display().to_string();
        let config = format!(
            "alerts:
  rules:
    - {{ name: pool-up, when: state == running, for: 1h, services: [worker] }}
services:
  worker:
    command: \"printf '%s %s %s %s %s\\\\n' \\\"$BERTH_REPLICA\\\" ${{replica}} \\\"$PORT\\\" \\\"$SLOT\\\" \\\"$(basename \\\"$PWD\\\")\\\" > ../out-${{replica}}; exec {service} --slow-start $(( (${{replica}} - 1) * 300 )) --say-bind-time\"
    cwd: w${{replica}}
    env: {{ SLOT: 'slot-${{replica}}' }}
    port: {}
    alt_ports: [{}, {}, {}]
    replicas: 3
    health: {{ http: 'http://127.0.0.1:${{port}}/health' }}
  web:
    command: \"echo ${{services.worker.port}} ${{services.worker.ports}} > web-ports; date +%s%6N > web-started; exec {service} --no-listen\"
    depends_on: [worker]
",
            ports[0], ports[1], ports[2], ports[3]
        );
        let project = Project::new(&config);
        for i in 1..=4 {
            std::fs::create_dir(project.path().join(format!("w{i}"))).unwrap();
        }
        Pool { project, ports }
    }

    fn berth(&self, args: &[&str]) -> crate::support::Run {
        self.project.berth(args)
    }

    fn socket(&self) -> PathBuf {
        self.project.path().join(".berth/berth.sock")
    }

    fn status(&self) -> Value {
        self.berth(&["status", "--json"]).code_any_json()
    }

    /// Each service's name and pid, in status order.
    fn pids(&self) -> Vec<(String, Option<u64>)> {
        self.status()["services"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["name"].as_str().unwrap().to_string(), s["pid"].as_u64()))
            .collect()
    }

    fn pid(&self, name: &str) -> u64 {
        let pids: BTreeMap<String, Option<u64>> = self.pids().into_iter().collect();
        pids[name].unwrap_or_else(|| panic!("{name} has no pid"))
    }

    fn names(&self) -> Vec<String> {
        self.pids().into_iter().map(|(n, _)| n).collect()
    }

    fn read(&self, name: &str) -> String {
        let path = self.project.path().join(name);
        wait_until(Duration::from_secs(10), || {
            std::fs::read_to_string(&path).ok()
        })
        .unwrap_or_else(|| panic!("{name} was never written"))
        .trim()
        .to_string()
    }

    fn api(&self, path: &str) -> Value {
        berth::api::client::call::<(), Value>(
            &self.socket(),
            "GET",
            path,
            None,
            Duration::from_secs(10),
        )
        .unwrap()
    }

    /// A GET answered as text (`/metrics`).
    fn text(&self, path: &str) -> String {
        let mut stream = std::os::unix::net::UnixStream::connect(self.socket()).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: berth\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).unwrap();
        out
    }

    fn kill_daemon(&self) {
        let pid = self.status()["daemon"]["pid"]
            .as_u64()
            .expect("a daemon runs");
        kill_9(ProcessId::of(pid as u32).unwrap());
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let _ = self.berth(&["down", "--force"]).output_any();
    }
}

fn alive(pid: u64) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn instances_are_services_everywhere_with_their_number_and_ports_in_order() {
    let pool = Pool::new();
    pool.berth(&["up", "-q", "--timeout", "60s"]).code(0);
    assert_eq!(pool.names(), ["worker.1", "worker.2", "worker.3", "web"]);
    let [p0, p1, p2, _] = pool.ports;
    let status = pool.status();
    for (i, port) in [p0, p1, p2].into_iter().enumerate() {
        let row = &status["services"][i];
        assert_eq!(row["state"], "running", "{row}");
        assert_eq!(
            row["port"],
            port,
            "instance {} gets the {}th port",
            i + 1,
            i + 1
        );
        // ${replica} and BERTH_REPLICA, PORT, ${replica} in env and cwd.
        let n = i + 1;
        assert_eq!(
            pool.read(&format!("out-{n}")),
            format!("{n} {n} {port} slot-{n} w{n}")
        );
    }
    assert_eq!(
        pool.read("web-ports"),
        format!("{p0} {p0},{p1},{p2}"),
        "${{services.worker.port}} is the first instance's, .ports all of them"
    );

    // The dependent started only once the slowest instance listened (it depends on each).
    let log =
        std::fs::read_to_string(pool.project.path().join(".berth/logs/worker.3.log")).unwrap();
    let bound: u64 = log
        .lines()
        .find_map(|l| l.split("bound at ").nth(1))
        .and_then(|t| t.trim_end_matches(['"', '}', ' ']).parse().ok())
        .unwrap_or_else(|| panic!("no bind time in {log}"));
    let web_started: u64 = pool.read("web-started").parse().unwrap();
    assert!(
        web_started >= bound,
        "web started at {web_started}, before worker.3 listened at {bound}"
    );

    let only: Vec<String> = pool.berth(&["status", "--json", "worker"]).code(0).json()["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(only, ["worker.1", "worker.2", "worker.3"]);

    // The API: status rows, one instance's page (its definition the service's), stats.
    let api = pool.api("/v1/status");
    assert_eq!(api["services"][1]["name"], "worker.2");
    let detail = pool.api("/v1/services/worker.2");
    assert_eq!(detail["service"]["port"], p1);
    assert_eq!(detail["definition"]["replicas"], 3);
    let stats = pool.api("/v1/stats?service=worker");
    let named: Vec<&str> = stats["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(named, ["worker.1", "worker.2", "worker.3"]);
    let refused = berth::api::client::call::<(), Value>(
        &pool.socket(),
        "GET",
        "/v1/services/worker",
        None,
        Duration::from_secs(10),
    )
    .unwrap_err()
    .to_string();
    assert!(
        refused.contains("`worker` has instances `worker.1` … `worker.3`: name one"),
        "{refused}"
    );
    // A rule on the service is a rule on each instance.
    let alerts = wait_until(Duration::from_secs(10), || {
        let alerts = pool.api("/v1/alerts");
        let mut on: Vec<String> = alerts["alerts"]
            .as_array()?
            .iter()
            .filter(|a| a["rule"] == "pool-up")
            .filter_map(|a| Some(a["service"].as_str()?.to_string()))
            .collect();
        on.sort();
        (on.len() == 3).then_some(on)
    })
    .expect("a pending alert on each instance");
    assert_eq!(alerts, ["worker.1", "worker.2", "worker.3"]);
    let metrics = pool.text("/metrics");
    assert!(
        metrics.contains("service=\"worker.2\""),
        "no worker.2 label in\n{metrics}"
    );

    // Logs: one instance, or every instance of the service, each line with its name.
    let one = pool.berth(&["logs", "worker.2"]).code(0).stdout();
    assert!(
        one.contains("bound at") && !one.contains("worker.1"),
        "{one}"
    );
    let all = pool
        .berth(&["logs", "worker", "-n", "1000"])
        .code(0)
        .stdout();
    for n in 1..=3 {
        assert!(
            all.contains(&format!("worker.{n}")),
            "worker.{n} not in\n{all}"
        );
    }
    assert!(!all.contains("web"), "{all}");
    // Events: each instance's own, and the service's name for all of them (history is
    // written behind the daemon's back: the last one may take a moment).
    let ready = wait_until(Duration::from_secs(10), || {
        let events = pool
            .berth(&["events", "worker", "--kind", "ready", "--json"])
            .code(0)
            .json_lines();
        let mut ready: Vec<String> = events
            .as_array()?
            .iter()
            .filter_map(|e| Some(e["service"].as_str()?.to_string()))
            .collect();
        ready.sort();
        (ready.len() == 3).then_some(ready)
    })
    .expect("a ready event of each instance");
    assert_eq!(ready, ["worker.1", "worker.2", "worker.3"]);
    pool.berth(&["logs", "worker.x"])
        .code(2)
        .stderr_has("no service `worker.x`");
}

#[test]
fn restart_of_one_instance_leaves_the_others_and_restart_of_the_service_takes_all() {
    let pool = Pool::new();
    pool.berth(&["up", "-q", "--timeout", "60s"]).code(0);
    let before: BTreeMap<String, Option<u64>> = pool.pids().into_iter().collect();

    pool.berth(&["restart", "-q", "worker.2"]).code(0);
    let after: BTreeMap<String, Option<u64>> = pool.pids().into_iter().collect();
    assert_ne!(after["worker.2"], before["worker.2"], "worker.2 restarted");
    for name in ["worker.1", "worker.3", "web"] {
        assert_eq!(after[name], before[name], "{name} was left alone");
    }

    pool.berth(&["restart", "-q", "worker"]).code(0);
    let again: BTreeMap<String, Option<u64>> = pool.pids().into_iter().collect();
    for name in ["worker.1", "worker.2", "worker.3"] {
        assert_ne!(again[name], after[name], "{name} restarted");
        assert!(again[name].is_some(), "{name} runs");
    }
    assert_ne!(
        again["web"], after["web"],
        "the dependent came back with the pool"
    );

    // `down NAME.K` stops that instance only.
    pool.berth(&["down", "worker.3"])
        .code(0)
        .stderr_has("stopped worker.3");
    let down: BTreeMap<String, Option<u64>> = pool.pids().into_iter().collect();
    assert_eq!(down["worker.3"], None);
    assert_eq!(down["web"], again["web"]);
    assert!(!alive(again["worker.3"].unwrap()));
}

#[test]
fn scale_adds_and_removes_instances_of_the_running_stack_and_up_goes_back_to_the_file() {
    let pool = Pool::new();
    pool.berth(&["up", "-q", "--timeout", "60s"]).code(0);
    let before: BTreeMap<String, Option<u64>> = pool.pids().into_iter().collect();

    let scaled = pool
        .berth(&["scale", "worker=4", "--json", "--timeout", "60s"])
        .code(0)
        .json();
    assert_eq!(
        scaled["services"],
        serde_json::json!([{"service": "worker", "from": 3, "to": 4}])
    );
    assert_eq!(scaled["started"], serde_json::json!(["worker.4"]));
    assert_eq!(scaled["stopped"], serde_json::json!([]));
    assert_eq!(
        pool.names(),
        ["worker.1", "worker.2", "worker.3", "worker.4", "web"]
    );
    let status = pool.status();
    assert_eq!(status["services"][3]["state"], "running");
    assert_eq!(status["services"][3]["port"], pool.ports[3]);
    assert_eq!(
        pool.read("out-4"),
        format!("4 4 {} slot-4 w4", pool.ports[3])
    );
    let now: BTreeMap<String, Option<u64>> = pool.pids().into_iter().collect();
    for name in ["worker.1", "worker.2", "worker.3", "web"] {
        assert_eq!(now[name], before[name], "{name} was left alone");
    }

    // A restart and an ensure keep the running count; `logs worker` reads the new
    // instance too.
    pool.berth(&["restart", "-q", "worker.1"]).code(0);
    assert_eq!(pool.names().len(), 5);
    pool.berth(&["ensure"]).code(0);
    assert_eq!(pool.names().len(), 5);
    assert_eq!(pool.pid("worker.4"), now["worker.4"].unwrap());
    let logs = pool
        .berth(&["logs", "worker", "-n", "1000"])
        .code(0)
        .stdout();
    assert!(logs.contains("worker.4"), "{logs}");

    // Not enough ports: refused, nothing changed.
    pool.berth(&["scale", "worker=5"])
        .code(1)
        .stderr_has("5 instances need 5 ports");
    pool.berth(&["scale", "web=2"])
        .code(1)
        .stderr_has("`web` has no `replicas` key");
    pool.berth(&["scale", "worker"])
        .code(2)
        .stderr_has("write NAME=COUNT");
    assert_eq!(pool.names().len(), 5);

    // Down to one: the highest go, one after the other.
    let four = pool.pid("worker.4");
    let three = pool.pid("worker.3");
    let scaled = pool.berth(&["scale", "worker=1", "--json"]).code(0).json();
    assert_eq!(
        scaled["stopped"],
        serde_json::json!(["worker.4", "worker.3", "worker.2"])
    );
    assert!(!alive(four) && !alive(three));
    assert_eq!(pool.names(), ["worker.1", "web"]);
    assert_eq!(pool.pid("web"), before["web"].unwrap());

    // The next `up` applies the file: three instances again.
    pool.berth(&["up", "-q", "--timeout", "60s"]).code(0);
    assert_eq!(pool.names(), ["worker.1", "worker.2", "worker.3", "web"]);
    assert!(pool.pids().iter().all(|(_, pid)| pid.is_some()));
}

#[test]
fn instances_are_taken_over_after_the_daemon_is_killed() {
    let pool = Pool::new();
    pool.berth(&["up", "-q", "--timeout", "60s"]).code(0);
    let before = pool.pids();
    pool.kill_daemon();
    // One instance's run file lost too: it is found by its marks (BERTH_SERVICE=worker.2).
    std::fs::remove_file(pool.project.path().join(".berth/run/worker.2.json")).unwrap();
    let offline = pool.status();
    assert_eq!(offline["daemon"]["running"], false);
    pool.berth(&["up", "-q", "--timeout", "60s"]).code(0);
    assert_eq!(pool.status()["daemon"]["running"], true);
    assert_eq!(pool.pids(), before, "the same processes, adopted");
    // And under control again.
    pool.berth(&["down"]).code(0);
    for (name, pid) in before {
        assert!(!alive(pid.unwrap()), "{name} survived down");
    }
}

#[test]
fn an_instance_scale_made_is_stopped_by_the_next_up_after_the_daemon_was_killed() {
    let pool = Pool::new();
    pool.berth(&["up", "-q", "--timeout", "60s"]).code(0);
    pool.berth(&["scale", "-q", "worker=4", "--timeout", "60s"])
        .code(0);
    let fourth = pool.pid("worker.4");
    let before = pool.pids();
    pool.kill_daemon();
    assert!(alive(fourth), "services outlive their daemon");
    // The file says three: the three are adopted, the fourth is not left to run unwatched.
    pool.berth(&["up", "-q", "--timeout", "60s"]).code(0);
    assert_eq!(pool.names(), ["worker.1", "worker.2", "worker.3", "web"]);
    let kept: Vec<(String, Option<u64>)> = before
        .into_iter()
        .filter(|(name, _)| name != "worker.4")
        .collect();
    assert_eq!(pool.pids(), kept);
    wait_until(Duration::from_secs(20), || (!alive(fourth)).then_some(()))
        .expect("worker.4 was stopped");
}

#[test]
fn without_a_daemon_down_stops_the_instances_scale_made() {
    let pool = Pool::new();
    pool.berth(&["up", "-q", "--timeout", "60s"]).code(0);
    pool.berth(&["scale", "-q", "worker=4", "--timeout", "60s"])
        .code(0);
    let pids = pool.pids();
    pool.berth(&["daemon", "stop"]).code(0);
    wait_until(Duration::from_secs(10), || {
        (pool.status()["daemon"]["running"] == false).then_some(())
    })
    .expect("the daemon left");
    // Status and down read the run files: four instances, all stopped.
    assert_eq!(
        pool.pids(),
        pids,
        "status without the daemon shows worker.4"
    );
    pool.berth(&["down"]).code(0).stderr_has("worker.4");
    for (name, pid) in pids {
        assert!(!alive(pid.unwrap()), "{name} survived down");
    }
}
