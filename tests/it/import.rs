//! `berth import` on a corpus of real-looking files per format (tests/fixtures/import/FORMAT/):
//! each gives exactly its expected berth.yaml (`SOURCE.berth.yaml`) and leftovers on stderr
//! (`SOURCE.stderr`), and what it gives passes `berth check`; a Procfile and a
//! process-compose file of small services are brought `up` and answer.

use crate::support::{Project, Run, fixture, free_port, wait_until};
use std::path::Path;
use std::time::Duration;

/// The sources of the corpus; `true` when reading it needs `node`.
const CORPUS: &[(&str, &str, bool)] = &[
    ("procfile", "Procfile", false),
    ("process-compose", "process-compose.yaml", false),
    ("pm2", "ecosystem.json", false),
    ("pm2", "ecosystem.config.js", true),
];

/// Whether `node` runs here; when it does not, fails under CI and says the test is skipped.
fn have_node() -> bool {
    let ok = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "node is missing: CI must install the Debian package `nodejs`"
        );
        eprintln!("skipped: node is missing (apt-get install -y --no-install-recommends nodejs)");
    }
    ok
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every file of `from` copied into `to`, directories (a watched `src`) with what they hold.
fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let into = to.join(path.file_name().unwrap());
        if path.is_dir() {
            std::fs::create_dir_all(&into).unwrap();
            copy_dir(&path, &into);
        } else {
            std::fs::copy(&path, into).unwrap();
        }
    }
}

#[test]
fn every_source_of_the_corpus_gives_its_expected_berth_yaml_and_leftovers_and_passes_check() {
    for &(format, source, needs_node) in CORPUS {
        if needs_node && !have_node() {
            continue;
        }
        let dir = fixture("import", format);
        let ran = Run::new(&["import", source])
            .dir(&dir)
            .env_remove("PORT")
            .code(0);
        let expected = read(&dir.join(format!("{source}.berth.yaml")));
        assert_eq!(ran.stdout(), expected, "{format}/{source}: berth.yaml");
        let leftovers = read(&dir.join(format!("{source}.stderr")));
        assert_eq!(ran.stderr(), leftovers, "{format}/{source}: leftovers");
        assert!(
            !leftovers.is_empty(),
            "{format}/{source} lists what it leaves"
        );
        // berth's own check, beside the files the source refers to.
        let project = Project::new(&ran.stdout());
        copy_dir(&dir, project.path());
        project.write("berth.yaml", &ran.stdout());
        project
            .berth(&["check"])
            .code(0)
            .stdout_has("berth.yaml is valid");
    }
}

#[test]
fn the_output_file_holds_the_same_and_stderr_says_so() {
    let project = Project::new("");
    std::fs::remove_file(project.path().join("berth.yaml")).unwrap();
    let source = fixture("import", "pm2").join("ecosystem.json");
    let shown = source.display().to_string();
    let ran = project
        .berth(&["import", &shown, "-o", "berth.yaml"])
        .code(0);
    assert!(ran.stdout().is_empty());
    ran.stderr_has("wrote berth.yaml (2 services)");
    project.berth(&["check"]).code(0);
    // An existing file is replaced only when asked.
    project
        .berth(&["import", &shown, "-o", "berth.yaml"])
        .code(1)
        .stderr_has("berth.yaml exists; berth import does not replace a file unless given --force");
    project
        .berth(&["import", &shown, "-o", "berth.yaml", "--force"])
        .code(0);
}

#[test]
fn the_json_form_carries_the_config_and_the_leftovers() {
    let dir = fixture("import", "pm2");
    let out = Run::new(&["import", "ecosystem.json", "--json"])
        .dir(&dir)
        .code(0)
        .json();
    assert_eq!(
        out["config"].as_str().unwrap(),
        read(&dir.join("ecosystem.json.berth.yaml"))
    );
    assert_eq!(out["leftovers"][0]["line"], 12);
    assert_eq!(out["leftovers"][0]["key"], "merge_logs");
}

#[test]
fn a_bad_source_is_refused_at_its_place_and_nothing_is_written() {
    let project = Project::new("");
    project.write("Procfile", "web: ./web\nthis is not a process\n");
    project
        .berth(&["import", "Procfile", "-o", "out.yaml"])
        .code(2)
        .stderr_has("Procfile:2:1: expected `NAME: COMMAND`");
    assert!(!project.path().join("out.yaml").exists());
    project.write(
        "process-compose.yaml",
        "processes:\n  a:\n    command: x\n    depends_on:\n      b: { condition: process_ready }\n  b:\n    command: y\n",
    );
    project
        .berth(&["import", "process-compose.yaml"])
        .code(2)
        .stderr_has("process-compose.yaml:5:23: unknown condition `process_ready`");
    project.write("process-compose.yaml", "processes:\n  a: [\n");
    project
        .berth(&["import", "process-compose.yaml"])
        .code(2)
        .stderr_has("process-compose.yaml:");
    project.write("apps.txt", "web: x\n");
    project
        .berth(&["import", "apps.txt"])
        .code(2)
        .stderr_has("say it with --from procfile, --from process-compose or --from pm2");
    project
        .berth(&["import", "apps.txt", "--from", "procfile"])
        .code(0);
}

#[test]
fn a_javascript_ecosystem_file_without_node_says_to_install_it_or_convert_to_json() {
    let project = Project::new("");
    project.write("ecosystem.config.js", "module.exports = { apps: [] };\n");
    // A PATH with sh and nothing else of this machine's tools.
    let bin = project.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    project
        .berth(&["import", "ecosystem.config.js"])
        .env("PATH", bin.to_str().unwrap())
        .code(1)
        .stderr_has("needs `node`, which is not installed: install Node.js")
        .stderr_has("or convert the file to JSON");
}

#[test]
fn an_extended_file_is_read_first_and_named_at_its_own_lines() {
    let dir = fixture("import", "process-compose");
    let ran = Run::new(&["import", "process-compose.yaml"])
        .dir(&dir)
        .code(0);
    // `is_tty` is set in base.yaml only; the extending file's keys are named at theirs.
    let out = ran.stdout();
    let ran = ran
        .stderr_has("base.yaml:14: is_tty: berth gives services no terminal")
        .stderr_has("process-compose.yaml:41: namespace:");
    assert!(ran.stdout() == out);
    // The base's command and the extending file's probe, merged into one service.
    let db = &out[out.find("  db:").unwrap()..out.find("  api:").unwrap()];
    assert!(db.contains("command: python3 -m http.server 7501"), "{db}");
    assert!(
        db.contains("health: { http: \"http://127.0.0.1:7501/\""),
        "{db}"
    );
}

/// `berth down` when the test ends, however it ends.
struct Down<'a>(&'a Project);

impl Drop for Down<'_> {
    fn drop(&mut self) {
        let _ = self.0.berth(&["down", "--force"]).output_any();
    }
}

fn answers(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// A port with the next 100 free too (foreman's second process type gets base + 100).
fn foreman_base() -> u16 {
    loop {
        let base = free_port();
        if base < 65_000 && std::net::TcpListener::bind(("127.0.0.1", base + 100)).is_ok() {
            return base;
        }
    }
}

#[test]
fn an_imported_procfile_comes_up_with_foreman_s_ports() {
    let project = Project::new("");
    let base = foreman_base();
    project.write(
        "Procfile",
        "web: python3 -m http.server $PORT --bind 127.0.0.1\napi: python3 -m http.server ${PORT} --bind 127.0.0.1\nworker: python3 -u -c \"import os, time; print('worker sees PORT', os.environ['PORT'], flush=True); time.sleep(600)\"\n",
    );
    project
        .berth(&["import", "Procfile", "-o", "berth.yaml", "--force"])
        .env("PORT", &base.to_string())
        .code(0);
    let _down = Down(&project);
    project.berth(&["up", "--timeout", "30s"]).code(0);
    assert!(answers(base), "web on {base}");
    assert!(answers(base + 100), "api on {}", base + 100);
    let worker_port = (base + 200).to_string();
    let seen = wait_until(Duration::from_secs(10), || {
        let ran = project.berth(&["logs", "worker"]).output_any();
        ran.stdout()
            .contains(&format!("worker sees PORT {worker_port}"))
            .then_some(())
    });
    assert!(
        seen.is_some(),
        "the worker is given PORT as foreman gives it"
    );
}

#[test]
fn an_imported_process_compose_file_comes_up_in_order_with_its_probes() {
    let project = Project::new("");
    let (db, api) = (free_port(), free_port());
    project.write(
        "process-compose.yaml",
        &format!(
            "version: \"0.5\"\nprocesses:\n  db:\n    command: \"python3 -m http.server {db} --bind 127.0.0.1\"\n    readiness_probe:\n      http_get: {{ host: 127.0.0.1, port: {db}, path: / }}\n      period_seconds: 1\n  migrate:\n    command: \"echo migrated\"\n    depends_on:\n      db: {{ condition: process_healthy }}\n  api:\n    command: \"python3 -m http.server {api} --bind 127.0.0.1\"\n    depends_on:\n      migrate: {{ condition: process_completed_successfully }}\n    readiness_probe:\n      exec: {{ command: \"python3 -c 'import socket; socket.create_connection((\\\"127.0.0.1\\\", {api}))'\" }}\n      period_seconds: 1\n    availability: {{ restart: on_failure }}\n"
        ),
    );
    project
        .berth(&[
            "import",
            "process-compose.yaml",
            "-o",
            "berth.yaml",
            "--force",
        ])
        .code(0);
    let _down = Down(&project);
    project.berth(&["up", "--timeout", "30s"]).code(0);
    assert!(answers(db) && answers(api));
    let status = project.berth(&["status", "--json"]).code_any_json();
    let services = status["services"].as_array().unwrap();
    let state = |name: &str| {
        services
            .iter()
            .find(|s| s["name"] == name)
            .map(|s| s["state"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert_eq!(
        state("migrate"),
        "exited",
        "it ran to its end before api started"
    );
    assert_eq!(state("api"), "running");
}

#[test]
fn an_imported_pm2_app_watching_its_directory_restarts_on_a_save_and_not_on_a_dotfile() {
    let project = Project::new("");
    let port = free_port();
    project.write(
        "ecosystem.json",
        &format!(
            "{{\"apps\": [{{\"name\": \"web\", \"script\": \"python3\", \"interpreter\": \"none\", \"args\": [\"-m\", \"http.server\", \"{port}\", \"--bind\", \"127.0.0.1\"], \"watch\": true}}]}}\n"
        ),
    );
    project.write("app.py", "print(1)\n");
    project
        .berth(&["import", "ecosystem.json", "-o", "berth.yaml", "--force"])
        .code(0);
    let _down = Down(&project);
    project.berth(&["up", "--timeout", "30s"]).code(0);
    let pid = || {
        let status = project.berth(&["status", "--json"]).code_any_json();
        status["services"][0]["pid"].as_u64()
    };
    let first = pid().expect("web runs");
    // An editor's swap file (PM2 skips dotfiles) and a save, in one burst: the save alone
    // restarts it.
    project.write(".app.py.swp", "x");
    project.write("app.py", "print(2)\n");
    let restarted = wait_until(Duration::from_secs(20), || pid().filter(|&p| p != first));
    assert!(restarted.is_some(), "web was not restarted by a save");
    let event = wait_until(Duration::from_secs(20), || {
        let events = project
            .berth(&["events", "--kind", "watch", "--json"])
            .code(0)
            .json_lines();
        events.as_array().unwrap().first().cloned()
    })
    .expect("a watch event");
    assert_eq!(event["data"]["file"], "app.py", "{event:#}");
    assert_eq!(
        event["data"]["files"], 1,
        "the dotfile counts for nothing: {event:#}"
    );
}
