//! `watch:` with real files and a real daemon: a burst of saves restarts a service once and
//! the `watch` event names the file; ignored and gitignored changes restart nothing; an
//! editor's rename-into-place is a save; a directory deleted and made again is still
//! watched; such restarts never open the circuit; a stopped service stays stopped; `up -F`
//! says what changed; the kernel's limit of watches is reported with the setting to raise,
//! and what could be watched still is; a watched path that does not exist is a config error.

use crate::support::{Project, free_port, test_service, wait_until};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// A project with `api` (the test service) watching `src`, and what else `extra` adds.
struct Watched {
    project: Project,
}

const DEBOUNCE_MS: u64 = 300;

impl Watched {
    fn new(extra: &str) -> Watched {
        let service = test_service().display().to_string();
        let port = free_port();
        let project = Project::new(&format!(
            "services:\n  api:\n    command: [\"{service}\"]\n    port: {port}\n    max_restarts: 1\n    watch:\n      paths: [src]\n      ignore: [\"*.tmp\"]\n      debounce: {DEBOUNCE_MS}ms\n{extra}"
        ));
        project.write("src/app.py", "print(1)\n");
        project.write(".gitignore", "build/\n*.log\n");
        std::fs::create_dir_all(project.path().join("src/build")).unwrap();
        std::fs::create_dir_all(project.path().join("src/pkg")).unwrap();
        Watched { project }
    }

    fn up(&self) -> u64 {
        self.project.berth(&["up", "-q"]).code(0);
        self.pid("api").expect("api runs")
    }

    /// `service`'s row of `status --json`.
    fn row(&self, service: &str) -> Value {
        let status = self
            .project
            .berth(&["status", "--json"])
            .output_any()
            .json();
        status["services"]
            .as_array()
            .and_then(|rows| rows.iter().find(|s| s["name"] == service).cloned())
            .unwrap_or(Value::Null)
    }

    fn pid(&self, service: &str) -> Option<u64> {
        self.row(service)["pid"].as_u64()
    }

    fn state(&self, service: &str) -> String {
        self.row(service)["state"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// Waits until `service` runs with a pid other than `before`, and returns it.
    #[track_caller]
    fn restarted(&self, service: &str, before: u64) -> u64 {
        wait_until(Duration::from_secs(20), || {
            self.pid(service).filter(|&p| p != before)
        })
        .unwrap_or_else(|| panic!("`{service}` was not restarted (pid {before})"))
    }

    /// The `watch` events so far, once there are `n`.
    #[track_caller]
    fn watch_events(&self, n: usize) -> Vec<Value> {
        let mut last = Vec::new();
        let got = wait_until(Duration::from_secs(20), || {
            let events = self
                .project
                .berth(&["events", "--kind", "watch", "--json"])
                .code(0)
                .json_lines();
            last = events.as_array().unwrap().clone();
            (last.len() >= n).then(|| last.clone())
        });
        got.unwrap_or_else(|| panic!("wanted {n} watch events, have {last:#?}"))
    }

    /// Waits until the newest `watch` event names `file` (it is written as the restart
    /// begins, so it may come just after the new pid).
    #[track_caller]
    fn last_named(&self, file: &str) {
        let named = wait_until(Duration::from_secs(20), || {
            let events = self.watch_events(1);
            (events.last().unwrap()["data"]["file"] == file).then_some(())
        });
        assert!(named.is_some(), "no watch event named {file}");
    }

    fn path(&self, rel: &str) -> std::path::PathBuf {
        self.project.path().join(rel)
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        let _ = self.project.berth(&["down"]).output_any();
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[test]
fn a_burst_of_saves_restarts_once_and_names_the_file() {
    let w = Watched::new("");
    let first = w.up();
    for i in 0..10 {
        write(&w.path("src/app.py"), &format!("print({i})\n"));
        std::thread::sleep(Duration::from_millis(10));
    }
    let second = w.restarted("api", first);
    let events = w.watch_events(1);
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["service"], "api");
    assert_eq!(events[0]["data"]["file"], "src/app.py");
    assert!(
        events[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("src/app.py changed"),
        "{events:#?}"
    );
    // The reason is shown in status.
    let status = w.project.berth(&["status", "--json"]).code(0).json();
    assert_eq!(
        status["services"][0]["note"], "restarted: src/app.py changed",
        "{status:#}"
    );

    // Ignored (`*.tmp`) and gitignored (`build/`, `*.log`) changes count for nothing: saved
    // just before a real change, they would have joined its burst.
    write(&w.path("src/scratch.tmp"), "x");
    write(&w.path("src/build/out.o"), "x");
    write(&w.path("src/debug.log"), "x");
    write(&w.path("src/app.py"), "print('again')\n");
    w.restarted("api", second);
    let events = w.watch_events(2);
    assert_eq!(events.len(), 2, "{events:#?}");
    assert_eq!(events[1]["data"]["file"], "src/app.py");
    assert_eq!(events[1]["data"]["files"], 1, "{events:#?}");
}

#[test]
fn an_editors_rename_into_place_is_a_save() {
    let w = Watched::new("");
    let first = w.up();
    // As editors save: the new text into a temporary file, renamed over the real one.
    write(&w.path("src/.app.py.swx"), "print('saved')\n");
    std::fs::rename(w.path("src/.app.py.swx"), w.path("src/app.py")).unwrap();
    w.restarted("api", first);
    w.last_named("src/app.py");
}

#[test]
fn a_directory_deleted_and_made_again_is_still_watched() {
    let w = Watched::new("");
    let mut pid = w.up();
    // A directory inside the watched one, and the watched one itself.
    for dir in ["src/pkg", "src"] {
        std::fs::remove_dir_all(w.path(dir)).unwrap();
        std::fs::create_dir_all(w.path(dir)).unwrap();
        pid = w.restarted("api", pid);
        let file = format!("{dir}/mod.py");
        write(&w.path(&file), "x = 1\n");
        pid = w.restarted("api", pid);
        w.last_named(&file);
    }
}

#[test]
fn restarts_on_change_do_not_count_against_max_restarts() {
    let w = Watched::new("");
    let mut pid = w.up();
    for i in 0..3 {
        write(&w.path("src/app.py"), &format!("print({i})\n"));
        pid = w.restarted("api", pid);
    }
    w.watch_events(3);
    assert_eq!(w.state("api"), "running");
}

#[test]
fn a_stopped_service_is_not_started_by_a_change() {
    let service = test_service().display().to_string();
    let w = Watched::new(&format!(
        "  web:\n    command: [\"{service}\", \"--no-listen\"]\n    watch: {{ paths: [src], debounce: {DEBOUNCE_MS}ms }}\n"
    ));
    w.up();
    let web = w.pid("web").unwrap();
    w.project.berth(&["down", "api"]).code(0);
    write(&w.path("src/app.py"), "print('changed')\n");
    // `web` watches the same file: once it restarted, the change was seen.
    w.restarted("web", web);
    assert_eq!(w.state("api"), "stopped");
    let events = w.watch_events(1);
    assert!(events.iter().all(|e| e["service"] == "web"), "{events:#?}");
}

#[test]
fn up_in_the_foreground_says_which_file_changed() {
    let w = Watched::new("");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["up", "-F"])
        .current_dir(w.project.path())
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let attached = wait_until(Duration::from_secs(20), || {
        rx.try_recv().ok().filter(|l| l.starts_with("attached"))
    });
    assert!(attached.is_some(), "up -F did not attach");
    let pid = w.pid("api").unwrap();
    write(&w.path("src/app.py"), "print('fg')\n");
    w.restarted("api", pid);
    let said = wait_until(Duration::from_secs(20), || {
        rx.try_recv()
            .ok()
            .filter(|l| l == "api: src/app.py changed: restarting")
    });
    let _ = child.kill();
    let _ = child.wait();
    assert!(said.is_some(), "up -F did not name the changed file");
}

#[test]
fn the_limit_of_inotify_watches_is_reported_and_what_is_watched_still_restarts() {
    let w = Watched::new("");
    for i in 0..30 {
        std::fs::create_dir_all(w.path(&format!("src/d{i:02}"))).unwrap();
    }
    // The daemon started in a user namespace of its own, whose limit of inotify watches is
    // lowered there alone: the project's root, `src` and a few of its 32 directories fit.
    let limited = format!(
        "echo 5 > /proc/sys/user/max_inotify_watches && exec {} up -q",
        env!("CARGO_BIN_EXE_berth")
    );
    let status = std::process::Command::new("unshare")
        .args(["--user", "--map-root-user", "sh", "-c", &limited])
        .current_dir(w.project.path())
        .status()
        .expect("unshare (util-linux) runs");
    assert!(status.success(), "up in a user namespace: {status}");
    let told = wait_until(Duration::from_secs(20), || {
        let events = w.watch_events(1);
        events.into_iter().find(|e| {
            e["service"] == "api"
                && e["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("sudo sysctl fs.inotify.max_user_watches="))
        })
    });
    assert!(told.is_some(), "the limit was not reported");
    let pid = w.pid("api").unwrap();
    write(&w.path("src/app.py"), "print('still watched')\n");
    w.restarted("api", pid);
    w.last_named("src/app.py");
}

#[test]
fn a_watched_path_that_does_not_exist_is_a_config_error() {
    let project =
        Project::new("services:\n  api:\n    command: ./api\n    watch: [src, \"lib/**/*.rs\"]\n");
    std::fs::create_dir(project.path().join("src")).unwrap();
    project
        .berth(&["up"])
        .code(2)
        .stderr_has("berth.yaml:4:18: services.api.watch: `lib`, where `lib/**/*.rs` starts, does not exist (relative to the service's `cwd`); create it or correct the path");
    assert!(
        crate::support::daemon_pid(project.path()).is_none(),
        "a bad config starts nothing"
    );
}
