//! A state dir that turns read-only or fills up while the stack runs: commands that would
//! start or stop something refuse with a clear message and change nothing, the running
//! services go on (logging what it can, and saying what was lost), and `down` still works.
//! The state dir is a small tmpfs mounted for the test; where mounting is not allowed (no
//! CAP_SYS_ADMIN), the tests say so and skip.

use crate::engine::{Stack, alive};
use crate::support::{free_port, test_service, wait_until};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A tmpfs of `size` mounted on a fresh directory; unmounted when dropped.
struct Tmpfs {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        std::fs::create_dir(&path).unwrap();
        let options = format!("size={size}");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &options, "tmpfs"])
            .arg(&path)
            .output();
        match mounted {
            Ok(out) if out.status.success() => Some(Tmpfs { _dir: dir, path }),
            Ok(out) => {
                eprintln!(
                    "skipped: cannot mount a tmpfs here ({})",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("skipped: cannot run mount ({e})");
                None
            }
        }
    }

    /// Makes the state dir read-only for every new open, as `chmod a-w` would for a user
    /// other than root: a read-only bind mount over it. Descriptors already open stay
    /// writable (a plain `remount,ro` would refuse while any is).
    fn read_only(&self) {
        let bind = Command::new("mount")
            .arg("--bind")
            .arg(&self.path)
            .arg(&self.path)
            .status();
        let ro = Command::new("mount")
            .args(["-o", "remount,bind,ro"])
            .arg(&self.path)
            .status();
        assert!(
            bind.unwrap().success() && ro.unwrap().success(),
            "read-only bind mount"
        );
    }

    /// Undoes `read_only`.
    fn writable(&self) {
        let status = Command::new("umount").arg(&self.path).status().unwrap();
        assert!(status.success(), "umount the read-only layer");
    }

    /// Fills the file system until it refuses another byte.
    fn fill(&self) -> PathBuf {
        let filler = self.path.join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let block = [0u8; 64 * 1024];
        loop {
            if let Err(e) = file.write_all(&block) {
                assert_eq!(e.raw_os_error(), Some(28), "{e}");
                break;
            }
        }
        // Whatever is left below a block goes too.
        while file.write_all(&[0u8]).is_ok() {}
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // The read-only layer, if a test failed before removing it, and the tmpfs.
        while Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
        {}
    }
}

/// The engine's two-service stack with a third, `web`, that logs each request, all with
/// their state dir on `state`.
fn stack_on(state: &Path) -> (Stack, u16) {
    let web_port = free_port();
    let service = test_service().display().to_string();
    let stack = Stack::with(&format!(
        "  web:\n    command: [\"{service}\", \"--log-requests\"]\n    port: {web_port}\nstate_dir: {}\n",
        state.display()
    ));
    (stack, web_port)
}

fn get(port: u16, path: &str) {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("it answers");
    write!(stream, "GET {path} HTTP/1.1\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
}

/// Gives `web` a new variable, so `up` has to restart it.
fn change_web(stack: &Stack, web_port: u16) {
    let path = stack.project.path().join("berth.yaml");
    let config = std::fs::read_to_string(&path).unwrap();
    let changed = config.replace(
        &format!("port: {web_port}\n"),
        &format!("port: {web_port}\n    env: {{ CHANGED: '1' }}\n"),
    );
    assert_ne!(config, changed);
    std::fs::write(path, changed).unwrap();
}

fn refused_and_unchanged(
    stack: &Stack,
    args: &[&str],
    before: &std::collections::BTreeMap<String, Option<u64>>,
    why: &str,
) {
    stack
        .berth(args)
        .code(1)
        .stderr_has("cannot write to the state dir")
        .stderr_has(why)
        .stderr_has("nothing was started or stopped");
    assert_eq!(&stack.pids(), before, "{args:?} changed something");
}

#[test]
fn a_read_only_state_dir_refuses_changes_and_leaves_the_services_running() {
    let Some(tmpfs) = Tmpfs::mount("16m") else {
        return;
    };
    let (stack, web_port) = stack_on(&tmpfs.path);
    stack.berth(&["up", "-q"]).code(0);
    let before = stack.pids();
    tmpfs.read_only();

    stack.berth(&["status", "--json"]).code(0);
    // Nothing to change needs no writing.
    stack.berth(&["up", "-q"]).code(0);
    refused_and_unchanged(
        &stack,
        &["restart", "api"],
        &before,
        "Read-only file system",
    );
    change_web(&stack, web_port);
    refused_and_unchanged(&stack, &["up"], &before, "Read-only file system");
    get(web_port, "/while-read-only");
    // With no daemon either: status still answers, up still refuses.
    stack.kill_daemon();
    assert_eq!(stack.pids(), before);
    stack
        .berth(&["up"])
        .code(1)
        .stderr_has("Read-only file system");
    assert_eq!(stack.pids(), before);

    // Stopping needs no writing: down works, and leaves nothing.
    stack.assert_down_leaves_nothing(&before, "stopped api, db, web");
    tmpfs.writable();
}

#[test]
fn a_full_state_dir_refuses_changes_and_the_log_says_what_it_lost() {
    let Some(tmpfs) = Tmpfs::mount("4m") else {
        return;
    };
    let (stack, web_port) = stack_on(&tmpfs.path);
    stack.berth(&["up", "-q"]).code(0);
    let before = stack.pids();
    let filler = tmpfs.fill();

    // The log's last page may still have room: enough lines to need more than a page.
    const SENT: usize = 200;
    for i in 0..SENT {
        get(web_port, &format!("/while-full/{i}"));
    }
    stack.berth(&["status", "--json"]).code(0);
    change_web(&stack, web_port);
    refused_and_unchanged(&stack, &["up"], &before, "No space left on device");
    refused_and_unchanged(
        &stack,
        &["restart", "db"],
        &before,
        "No space left on device",
    );

    std::fs::remove_file(filler).unwrap();
    get(web_port, "/after");
    let log = tmpfs.path.join("logs/web.log");
    let text = wait_until(Duration::from_secs(5), || {
        let text = std::fs::read_to_string(&log).ok()?;
        text.contains("request /after").then_some(text)
    })
    .unwrap_or_else(|| std::fs::read_to_string(&log).unwrap_or_default());
    assert!(text.contains("request /after"), "{text}");
    // Every line is in the log whole or counted in a note; a line cut short by the full disk
    // counts as lost. (The shim may read the lines while a refused command's probe briefly
    // takes and frees the last bytes of the disk, so the losses can come in more than one
    // note.)
    let whole = (0..SENT)
        .filter(|i| {
            text.lines()
                .any(|l| l.ends_with(&format!(" out request /while-full/{i}")))
        })
        .count();
    let noted: usize = text
        .lines()
        .filter(|l| l.ends_with(')'))
        .filter_map(|l| {
            let note = l.split_once(" berth ")?.1;
            note.split_once(" line(s) lost: the log could not be written (")?
                .0
                .parse::<usize>()
                .ok()
        })
        .sum();
    assert!(whole < SENT, "nothing was lost: the disk was not full");
    assert_eq!(whole + noted, SENT, "{text}");
    assert!(
        text.contains("line(s) lost: the log could not be written (No space left on device"),
        "{text}"
    );
    assert!(before.values().flatten().all(|pid| alive(*pid)));
    stack.assert_down_leaves_nothing(&before, "stopped api, db, web");
}
