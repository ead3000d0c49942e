//! `up --foreground` and `up` on a terminal: prefixed output of every service until Ctrl-C
//! stops the stack (a second one kills it), and progress redrawn in place on a terminal.

use crate::engine::{Stack, alive};
use crate::support::{test_service, wait_until};
use berth::process::ProcessId;
use rustix::process::Signal;
use std::io::Read;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `berth up -F` running in the background, its output collected as it comes.
struct Attached {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Attached {
    fn start(stack: &Stack) -> Attached {
        let mut child = stack.spawn(&["up", "-F"]);
        let mut readers = Vec::new();
        let mut collect = |mut pipe: Box<dyn Read + Send>| {
            let text = Arc::new(Mutex::new(String::new()));
            let sink = Arc::clone(&text);
            readers.push(std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    sink.lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }));
            text
        };
        let stdout = collect(Box::new(child.stdout.take().unwrap()));
        let stderr = collect(Box::new(child.stderr.take().unwrap()));
        Attached {
            child,
            stdout,
            stderr,
            readers,
        }
    }

    fn wait_for(&self, stream: &Arc<Mutex<String>>, text: &str) {
        let seen = wait_until(Duration::from_secs(20), || {
            stream.lock().unwrap().contains(text).then_some(())
        });
        assert!(
            seen.is_some(),
            "never saw {text:?}\nstdout:\n{}\nstderr:\n{}",
            self.stdout.lock().unwrap(),
            self.stderr.lock().unwrap()
        );
    }

    /// What a Ctrl-C on the terminal sends.
    fn interrupt(&self) {
        ProcessId::of(self.child.id())
            .unwrap()
            .signal(Signal::INT)
            .unwrap();
    }

    /// Waits for the end, and for every byte it wrote to be collected.
    fn exit_code(&mut self) -> Option<i32> {
        let status = wait_until(Duration::from_secs(20), || self.child.try_wait().unwrap());
        for reader in self.readers.drain(..) {
            reader.join().unwrap();
        }
        status.expect("up -F did not end").code()
    }
}

#[test]
fn foreground_shows_every_service_prefixed_and_ctrl_c_stops_the_stack() {
    let stack = Stack::new();
    let mut attached = Attached::start(&stack);
    attached.wait_for(&attached.stderr, "attached: Ctrl-C stops the stack");
    // Lines the services wrote while starting, each after its name.
    attached.wait_for(
        &attached.stdout,
        &format!("db  | listening on {}", stack.db_port),
    );
    attached.wait_for(
        &attached.stdout,
        &format!("api | listening on {}", stack.api_port),
    );
    let pids = stack.pids();
    assert!(pids.values().all(Option::is_some), "{pids:?}");

    attached.interrupt();
    assert_eq!(attached.exit_code(), Some(0));
    let stderr = attached.stderr.lock().unwrap().clone();
    assert!(
        stderr.contains("stopping (Ctrl-C again to kill at once)"),
        "{stderr}"
    );
    assert!(stderr.contains("stopped api, db"), "{stderr}");
    // The shims' notes about the stop are shown too.
    assert!(
        attached
            .stdout
            .lock()
            .unwrap()
            .contains("db  | [berth] stopping: sending SIGTERM")
    );
    for pid in pids.values().flatten() {
        assert!(!alive(*pid), "pid {pid} survived");
    }
}

#[test]
fn a_second_ctrl_c_kills_what_would_take_long_to_stop() {
    let service = test_service().display().to_string();
    let stack = Stack::with(&format!(
        "  stubborn:\n    command: [\"{service}\", \"--no-listen\", \"--ignore-term\"]\n    stop_timeout: 60s\n"
    ));
    let mut attached = Attached::start(&stack);
    attached.wait_for(&attached.stderr, "attached: Ctrl-C stops the stack");
    let stubborn = stack.pids()["stubborn"].unwrap();

    attached.interrupt();
    attached.wait_for(
        &attached.stdout,
        "stubborn | [berth] stopping: sending SIGTERM",
    );
    let started = Instant::now();
    attached.interrupt();
    assert_eq!(attached.exit_code(), Some(0));
    // Long before its 60 s stop timeout.
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(attached.stderr.lock().unwrap().contains("killing"));
    assert!(!alive(stubborn));
}

/// Runs `berth ARGS` on a pseudo-terminal (through python3's `pty`), returns what it wrote.
fn on_a_terminal(stack: &Stack, args: &[&str]) -> String {
    const HARNESS: &str = r#"
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
out = b""
while True:
    try:
        chunk = os.read(fd, 65536)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
os.waitpid(pid, 0)
sys.stdout.buffer.write(out)
"#;
    let output = Command::new("python3")
        .arg("-c")
        .arg(HARNESS)
        .arg(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .current_dir(stack.project.path())
        .env("TERM", "xterm")
        .env_remove("NO_COLOR")
        .output()
        .expect("python3 runs");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn up_on_a_terminal_redraws_one_line_per_service_in_place() {
    let stack = Stack::new();
    let screen = on_a_terminal(&stack, &["up"]);
    // The block of two lines is drawn, then redrawn from its top.
    assert!(screen.contains("\x1b[2A"), "{screen:?}");
    assert!(screen.contains("api starting"), "{screen:?}");
    let last = screen.rsplit("\x1b[2A").next().unwrap();
    assert!(last.contains("db  ready in"), "{last:?}");
    assert!(last.contains("api ready in"), "{last:?}");
    // Colour on a terminal.
    assert!(screen.contains("\x1b[32m✓\x1b[0m"), "{screen:?}");
}
