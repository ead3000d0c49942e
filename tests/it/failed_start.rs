//! What `up`, `ensure` and `restart` say when a service fails to start: the root cause once,
//! with its own log folded; each service it kept back one line naming it; the next command.
//! A real stack whose `db` exits 1 at once, with `api`, `web` and `e2e` waiting on it in a
//! chain; the whole of stderr checked, piped and on a real terminal of a fixed width.

use crate::support::{Project, free_port, test_service};
use crate::top::pty::Pty;
use std::process::Command;
use std::time::Duration;

/// The project, stopped when dropped.
struct Chain(Project);

impl Drop for Chain {
    fn drop(&mut self) {
        let _ = self.0.berth(&["down", "--force"]).output_any();
    }
}

/// `db` refuses to run (twice restarted, then failed); it has a port it never listens on, so
/// `api`, which wants it healthy, never starts, nor `web` after `api`, nor `e2e` after `web`.
fn chain() -> Chain {
    let service = test_service().display().to_string();
    let db = "echo 'initdb: error: cannot be run as root'; echo 'FATAL: root execution of the PostgreSQL server is not permitted, log in as the user that will own the server process'; exit 1";
    Chain(Project::new(&format!(
        "services:
  db:
    command: [\"sh\", \"-c\", \"{db}\"]
    port: {port}
    max_restarts: 2
    restart_delay: 10ms
  api:
    command: [\"{service}\", \"--no-listen\"]
    depends_on: {{ db: {{ condition: healthy }} }}
  web:
    command: [\"{service}\", \"--no-listen\"]
    depends_on: [api]
  e2e:
    command: [\"{service}\", \"--no-listen\"]
    depends_on: [web]
",
        port = free_port()
    )))
}

const KEPT_BACK: &str = "\
· api not started: db failed
· web not started: db failed (via api)
· e2e not started: db failed (via web)
";

/// The root cause as told once, `retry` the command it says to run again.
fn root_cause(retry: &str) -> String {
    format!(
        "\
error: db failed: it exited with code 1 after 2 restarts within 1m; the circuit is open until `berth restart`
  last lines of db's log:
  | initdb: error: cannot be run as root
  | FATAL: root execution of the PostgreSQL server is not permitted, log in as the user that will own the server process
  | exited with code 1
  … ×3 (the 3 lines above)
help: `berth logs db` shows all of its log; once it is fixed, run `{retry}` again
"
    )
}

#[test]
fn a_failed_start_tells_its_root_cause_once_and_each_service_it_kept_back_in_a_line() {
    let stack = chain();
    let up = stack.0.berth(&["up"]).code(1);
    // Not a terminal: no line is wrapped, for a log or a pipe to keep whole.
    assert_eq!(
        up.stderr(),
        format!("{KEPT_BACK}{}", root_cause("berth up"))
    );

    // `status` and the API say the same in as few words, naming the root.
    let status = stack.0.berth(&["status", "--json"]).code(3).json();
    let service = |name: &str| {
        let all = status["services"].as_array().unwrap();
        all.iter().find(|s| s["name"] == name).unwrap().clone()
    };
    assert_eq!(service("db")["blocked_by"], serde_json::Value::Null);
    for (name, reason) in [
        ("api", "not started: db failed"),
        ("web", "not started: db failed (via api)"),
        ("e2e", "not started: db failed (via web)"),
    ] {
        let view = service(name);
        assert_eq!(
            (view["state"].as_str(), view["reason"].as_str()),
            (Some("failed"), Some(reason))
        );
        assert_eq!(view["blocked_by"], "db", "{view}");
    }

    // `ensure` prints no progress: the services kept back are in the report itself. Only
    // this start's lines of the log are folded, not the earlier one's.
    let ensure = stack.0.berth(&["ensure", "e2e"]).code(1);
    assert_eq!(
        ensure.stderr(),
        format!("{KEPT_BACK}{}", root_cause("berth ensure e2e"))
    );

    // `restart db` brings back db alone (nothing that depends on it was running).
    let restart = stack.0.berth(&["restart", "db"]).code(1);
    assert_eq!(restart.stderr(), root_cause("berth restart db"));
}

#[test]
fn on_a_terminal_the_report_fits_its_width_and_the_block_is_drawn_once() {
    const COLS: u16 = 64;
    let stack = chain();
    let mut command = Command::new(env!("CARGO_BIN_EXE_berth"));
    command.arg("up").current_dir(stack.0.path());
    for var in ["BERTH_FILE", "BERTH_PROFILE", "BERTH_STATE_DIR", "NO_COLOR"] {
        command.env_remove(var);
    }
    let mut pty = Pty::spawn(&mut command, COLS, 40);
    let status = pty.wait_exit(Duration::from_secs(30)).expect("up ends");
    assert_eq!(status.code(), Some(1));
    let screen = pty
        .wait_for(Duration::from_secs(5), |text| text.contains("help:"))
        .unwrap_or_else(|text| panic!("no report:\n{text}"));
    assert_eq!(
        screen.trim_end(),
        "\
✗ db  failed
· api not started: db failed
· web not started: db failed (via api)
· e2e not started: db failed (via web)
error: db failed: it exited with code 1 after 2 restarts within
       1m; the circuit is open until `berth restart`
  last lines of db's log:
  | initdb: error: cannot be run as root
  | FATAL: root execution of the PostgreSQL server is not
  |   permitted, log in as the user that will own the server
  |   process
  | exited with code 1
  … ×3 (the 3 lines above)
help: `berth logs db` shows all of its log; once it is fixed,
      run `berth up` again"
    );
    // Every line fitted the terminal (none went on on the next row by itself).
    assert_eq!(pty.wrapped(), 0, "{screen}");
}
