//! Readiness delay: a service prints when it bound its port (T, its own word in its log);
//! the API is polled every 0.2 ms until berth reports it running (T'); T' − T.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::samples::{Samples, Unit};

/// The config entry of a service that binds `port` 100 ms after it starts and says when,
/// started only on request (`up NAME`).
pub fn late_service(name: &str, program: &Path, port: u16) -> String {
    format!(
        "  {name}:\n    command: [\"{}\", \"--slow-start\", \"100\", \"--say-bind-time\"]\n    port: {port}\n    autostart: false\n",
        program.display()
    )
}

fn state_of(socket: &Path, name: &str) -> serde_json::Value {
    let status: serde_json::Value = berth::api::client::call::<(), _>(
        socket,
        "GET",
        "/v1/status?usage=false",
        None,
        Duration::from_secs(5),
    )
    .unwrap();
    status["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .expect("the service is in the status")["state"]
        .clone()
}

/// Starts `name` (a `late_service`) `rounds` times in the stack in `dir`; T' − T each time.
pub fn delays(dir: &Path, name: &str, rounds: usize) -> Samples {
    let socket = dir.join(".berth/berth.sock");
    let log = dir.join(format!(".berth/logs/{name}.log"));
    let mut delays = Samples::new(Unit::Ms);
    for _ in 0..rounds {
        super::run_quietly(&mut super::berth_in(dir, &["up", "--no-wait", name]));
        let seen = loop {
            if state_of(&socket, name) == "running" {
                break SystemTime::now();
            }
            std::thread::sleep(Duration::from_micros(200));
        };
        let text = std::fs::read_to_string(&log).unwrap();
        let bound_us: u64 = text
            .lines()
            .rev()
            .find_map(|l| l.split("bound at ").nth(1))
            .and_then(|t| t.trim().parse().ok())
            .expect("the service said when it bound");
        let bound = UNIX_EPOCH + Duration::from_micros(bound_us);
        delays.push_time(seen.duration_since(bound).unwrap_or_default());
        super::run_quietly(&mut super::berth_in(dir, &["down", "-q", name]));
    }
    delays
}
