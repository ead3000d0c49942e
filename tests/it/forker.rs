//! The shim forker (`berth shim --forker`) on its own: a shim it forks keeps a service like
//! one run directly and shows as `berth shim`; one the daemon was never told of starts nothing.

use crate::shim::spec_in;
use crate::support::wait_until;
use berth::process::ProcessId;
use berth::shim::forker::{self, REPLY_LEN, Reply};
use berth::state::run_file::{Outcome, RunFile};
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A forker reading from `theirs`, marked with `mark` in its environment (and so in every
/// shim it forks).
fn forker(theirs: UnixStream, mark: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["shim", "--forker"])
        .env("BERTH_TEST_FORKER", mark)
        .stdin(Stdio::from(OwnedFd::from(theirs)))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The live processes carrying `mark` in their environment.
fn marked(mark: &str) -> Vec<u32> {
    let needle = format!("BERTH_TEST_FORKER={mark}\0");
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.windows(needle.len()).any(|w| w == needle.as_bytes()))
        })
        .filter(|&pid| ProcessId::of(pid).is_ok_and(|p| p.is_alive()))
        .collect()
}

fn record(path: &std::path::Path) -> Option<RunFile> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

#[test]
fn a_forked_shim_keeps_its_service_and_shows_as_a_shim() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec_in(
        dir.path(),
        vec!["sh".into(), "-c".into(), "echo up; exec sleep 30".into()],
    );
    let (mut ours, theirs) = UnixStream::pair().unwrap();
    let mut process = forker(theirs, "keeps");
    forker::write_request(&mut ours, &serde_json::to_vec(&spec).unwrap()).unwrap();
    let mut reply = [0u8; REPLY_LEN];
    ours.read_exact(&mut reply).unwrap();
    let Reply::Forked(shim) = Reply::decode(&reply).unwrap() else {
        panic!("the fork failed: {reply:?}");
    };
    let main = wait_until(Duration::from_secs(10), || record(&spec.run_file)?.main)
        .expect("the shim recorded the service");
    assert_eq!(record(&spec.run_file).unwrap().shim, shim);
    // Rediscovery knows a shim by its command line.
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", shim.pid)).unwrap();
    assert_eq!(cmdline.split(|&b| b == 0).nth(1), Some(&b"shim"[..]));
    wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(&spec.log)
            .ok()?
            .contains("up")
            .then_some(())
    })
    .expect("the service's output reached its log");

    // The forker ends with its connection; the shim it forked lives on.
    drop(ours);
    process.wait().unwrap();
    assert!(shim.is_alive() && main.is_alive());
    shim.signal(rustix::process::Signal::TERM).unwrap();
    shim.wait_gone();
    assert!(!main.is_alive());
    assert!(matches!(
        record(&spec.run_file).unwrap().outcome,
        Outcome::Exited { .. }
    ));
}

#[test]
fn a_shim_the_daemon_was_never_told_of_starts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let started = dir.path().join("started");
    let spec = spec_in(
        dir.path(),
        vec![
            "sh".into(),
            "-c".into(),
            format!("touch {}; exec sleep 30", started.display()),
        ],
    );
    // The request is in the pipe and the daemon's end already closed when the forker starts:
    // it forks, and its answer cannot be delivered.
    let (mut ours, theirs) = UnixStream::pair().unwrap();
    forker::write_request(&mut ours, &serde_json::to_vec(&spec).unwrap()).unwrap();
    ours.flush().unwrap();
    drop(ours);
    let mut process = forker(theirs, "untold");
    assert!(!process.wait().unwrap().success(), "the forker saw the end");
    wait_until(Duration::from_secs(10), || {
        marked("untold").is_empty().then_some(())
    })
    .expect("the untold shim exited");
    assert!(!started.exists(), "a service nobody knows of was started");
    assert!(!spec.run_file.exists());
}
