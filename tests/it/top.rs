//! `berth top` end to end: the real binary on a real pseudo-terminal over a real stack. The
//! screen is read as a terminal would show it, keys are typed, and what they did is checked
//! through the API (a restart gives a new pid); `q` exits 0 with the terminal given back
//! (the alternate screen left, cooked mode again); the daemon going away and coming back; a
//! resize; SIGTERM; and the refusal of anything but a terminal.

pub mod pty;

use crate::support::{Project, free_port, test_service, wait_until};
use pty::Pty;
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

const PATIENT: Duration = Duration::from_secs(30);
const COLS: u16 = 120;
const ROWS: u16 = 40;

/// A project of three test services (`api`, `web` that depends on it, `worker`), sampled
/// every second, brought up; `down --force` when dropped.
struct Stack {
    project: Project,
}

impl Stack {
    fn up() -> Stack {
        let service = test_service().display().to_string();
        let (api, web, worker) = (free_port(), free_port(), free_port());
        let project = Project::new(&format!(
            "project: shop\nmonitor:\n  interval: 1s\nservices:\n  api:\n    command: [\"{service}\"]\n    port: {api}\n  web:\n    command: [\"{service}\"]\n    port: {web}\n    depends_on: [api]\n  worker:\n    command: [\"{service}\"]\n    port: {worker}\n"
        ));
        project.berth(&["up", "--timeout", "30s"]).code(0);
        Stack { project }
    }

    fn status(&self) -> Value {
        self.project.berth(&["status", "--json"]).code_any_json()
    }

    fn row(&self, name: &str) -> Value {
        let status = self.status();
        status["services"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["name"] == name).cloned())
            .unwrap_or_else(|| panic!("no {name} in {status}"))
    }

    /// `berth top ARGS` on a terminal of its own, in the project.
    fn top(&self, args: &[&str]) -> Pty {
        let mut command = Command::new(env!("CARGO_BIN_EXE_berth"));
        command
            .arg("top")
            .args(args)
            .current_dir(self.project.path());
        for var in ["BERTH_FILE", "BERTH_PROFILE", "BERTH_STATE_DIR", "NO_COLOR"] {
            command.env_remove(var);
        }
        Pty::spawn(&mut command, COLS, ROWS)
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.project.berth(&["down", "--force"]).output_any();
    }
}

#[track_caller]
fn shows(top: &Pty, what: &str, ready: impl Fn(&str) -> bool) -> String {
    top.wait_for(PATIENT, ready)
        .unwrap_or_else(|screen| panic!("the screen never showed {what}:\n{screen}"))
}

/// The row of `name` on the screen, if it shows.
fn row_of<'a>(screen: &'a str, name: &str) -> Option<&'a str> {
    let cell = format!("{name} ");
    screen.lines().find(|l| {
        l.strip_prefix("▶ ")
            .or_else(|| l.strip_prefix("  "))
            .is_some_and(|rest| rest.starts_with(&cell))
    })
}

/// Every service shows running and healthy, with its pid.
fn all_running(stack: &Stack) -> impl Fn(&str) -> bool {
    let pids: Vec<(String, u64)> = ["api", "web", "worker"]
        .iter()
        .map(|n| (n.to_string(), stack.row(n)["pid"].as_u64().unwrap()))
        .collect();
    move |screen: &str| {
        pids.iter().all(|(name, pid)| {
            row_of(screen, name).is_some_and(|row| {
                row.contains("running") && row.contains("healthy") && row.contains(&pid.to_string())
            })
        })
    }
}

/// `top` ends with exit 0 (after `how`), the terminal given back: the alternate screen left,
/// cooked mode again.
#[track_caller]
fn ends_cleanly(top: &mut Pty, how: &str) {
    let status = top
        .wait_exit(Duration::from_secs(10))
        .unwrap_or_else(|| panic!("{how} did not end berth top:\n{}", top.text()));
    assert_eq!(status.code(), Some(0), "after {how}: {status:?}");
    // The reader may still be taking the last bytes.
    wait_until(Duration::from_secs(5), || (!top.alternate()).then_some(()))
        .unwrap_or_else(|| panic!("after {how} the alternate screen still shows"));
    assert!(
        top.cooked(),
        "after {how} the terminal is not back in cooked mode"
    );
}

#[test]
fn top_shows_the_stack_restarts_the_selected_service_and_quits_cleanly() {
    let stack = Stack::up();
    let mut top = stack.top(&[]);
    let screen = shows(&top, "the three services running", all_running(&stack));
    assert!(top.alternate(), "on the alternate screen");
    assert!(!top.cooked(), "in raw mode");
    assert!(screen.starts_with("berth top · shop"), "{screen}");
    assert!(screen.contains("stack healthy"), "{screen}");
    assert!(
        row_of(&screen, "api").is_some_and(|r| r.starts_with("▶ api ")),
        "api, first by name, is selected:\n{screen}"
    );
    // The machine's figures come with the first sampling round.
    shows(&top, "the machine's figures", |s| {
        s.contains(" cores ") && s.contains("load ")
    });

    // `j` selects web; `r` restarts it (and nothing else of what does not depend on it).
    let web = stack.row("web")["pid"].as_u64().unwrap();
    let worker = stack.row("worker")["pid"].as_u64().unwrap();
    top.send("j");
    shows(&top, "web selected", |s| {
        s.lines().any(|l| l.starts_with("▶ web "))
    });
    shows(&top, "web's log below", |s| s.contains(" log · web "));
    top.send("r");
    shows(&top, "the restart told in the footer", |s| {
        s.lines()
            .last()
            .is_some_and(|l| l.starts_with("restarting"))
    });
    let restarted = wait_until(PATIENT, || {
        let row = stack.row("web");
        (row["state"] == "running" && row["health"] == "healthy")
            .then(|| row["pid"].as_u64())
            .flatten()
            .filter(|pid| *pid != web)
    })
    .unwrap_or_else(|| {
        panic!(
            "web was not restarted: {}\n{}",
            stack.row("web"),
            top.text()
        )
    });
    assert_eq!(
        stack.row("worker")["pid"].as_u64(),
        Some(worker),
        "worker untouched"
    );
    shows(&top, "web's new pid", |s| {
        row_of(s, "web")
            .is_some_and(|r| r.contains(&restarted.to_string()) && r.contains("running"))
    });

    // For the README: the screen as a terminal shows it.
    println!("{}", top.text());

    // `?` shows the help; any key goes back.
    top.send("?");
    shows(&top, "the help", |s| s.contains("berth top: help"));
    top.send("x");
    shows(&top, "the table again", |s| s.contains("NAME▼"));

    top.send("q");
    ends_cleanly(&mut top, "q");
}

#[test]
fn top_keeps_the_last_figures_while_the_daemon_is_away_and_follows_it_back() {
    let stack = Stack::up();
    let mut top = stack.top(&["-i", "500ms"]);
    shows(&top, "the services", all_running(&stack));
    // The daemon leaves (the services run on): top says so and keeps the table.
    stack.project.berth(&["daemon", "stop"]).code(0);
    let screen = shows(&top, "the daemon gone", |s| {
        s.contains("daemon not running — retrying")
    });
    assert!(
        row_of(&screen, "worker").is_some(),
        "the last figures stay:\n{screen}"
    );
    // An action meanwhile is refused in the footer, not sent.
    top.send("r");
    shows(&top, "the refusal", |s| {
        s.lines()
            .last()
            .is_some_and(|l| l.contains("the daemon is not running"))
    });
    // A new daemon (adopting the services): top finds it by itself.
    stack.project.berth(&["up", "--timeout", "30s"]).code(0);
    let back = all_running(&stack);
    shows(&top, "the daemon back", |s| {
        !s.contains("daemon not running") && back(s)
    });

    // A smaller window: drawn again to its size, the footer on its last line.
    top.resize(100, 20);
    let screen = shows(&top, "the resized screen", |s| {
        let lines: Vec<&str> = s.lines().collect();
        lines.len() == 20
            && lines[19].contains("q quit")
            && lines.iter().all(|l| l.chars().count() <= 100)
    });
    assert!(row_of(&screen, "api").is_some(), "{screen}");

    // SIGTERM ends it as `q` does, the terminal restored.
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(top.pid() as i32).unwrap(),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    ends_cleanly(&mut top, "SIGTERM");
}

#[test]
fn top_refuses_what_is_not_a_terminal() {
    let project = Project::new(&format!(
        "services:\n  api:\n    command: [\"true\"]\n    port: {}\n",
        free_port()
    ));
    // stdout a pipe, stdin not a terminal either: exit 2, pointing at `status`.
    project
        .berth(&["top"])
        .code(2)
        .stderr_is("error: berth top needs a terminal; for a one-shot view use `berth status` (or `berth status --json`)\n");
}

#[test]
fn top_help_lists_the_keys() {
    let help = Project::new("services: {}\n")
        .berth(&["top", "--help"])
        .code(0)
        .stdout();
    for key in [
        "j, k, arrows",
        "Enter",
        "Ctrl-C",
        "-i, --interval <D>",
        "[default: 1s]",
    ] {
        assert!(help.contains(key), "{key} missing from:\n{help}");
    }
}
