//! A config over several files: `include:` and the override file, merged as SPEC.md says
//! (maps key by key, lists and scalars replaced), relative paths meaning the directory of the
//! file they are written in, and every command (`config`, `check`, completions, `up`) seeing
//! the merged result.

use crate::support::{Project, fixture, wait_until};
use berth::config::{self, LoadError, Options};
use berth::stack::Stack;
use berth::stack::health::Probe;
use std::path::Path;
use std::time::Duration;

fn load(path: &Path, profile: Option<&str>) -> Stack {
    let options = Options {
        profile: profile.map(String::from),
        ..Options::default()
    };
    config::load(path, &options).unwrap_or_else(|e| match e {
        LoadError::Invalid { diagnostics, .. } => panic!("{diagnostics:#?}"),
        e => panic!("{e}"),
    })
}

fn problems(path: &Path) -> Vec<String> {
    match config::check(path, &Options::default()) {
        Ok(_) => Vec::new(),
        Err(LoadError::Invalid { diagnostics, .. }) => diagnostics
            .iter()
            .map(|d| format!("{}:{}:{}: {}", d.file, d.line, d.column, d.message))
            .collect(),
        Err(e) => panic!("{e}"),
    }
}

fn env(stack: &Stack, service: &str, var: &str) -> Option<String> {
    let port_of = |name: &str| stack.configured_port(name);
    Some(stack.service(service)?.env.get(var)?.render(&port_of))
}

fn cwd(stack: &Stack, service: &str) -> String {
    stack
        .service(service)
        .unwrap()
        .cwd
        .render(&|n| stack.configured_port(n))
}

#[test]
fn a_split_config_merges_maps_key_by_key_and_replaces_lists_and_scalars() {
    let file = fixture("valid", "split/berth.yaml");
    let dir = file.parent().unwrap().canonicalize().unwrap();
    let stack = load(&file, None);
    // Included files first (each after what it includes), then the file's own, then the
    // override's new ones.
    let names: Vec<&str> = stack.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["worker", "api", "db", "web", "mock"]);
    assert_eq!(stack.project, "split-shop");
    // `env`: every file's keys, the later file winning each.
    assert_eq!(env(&stack, "db", "LOG_LEVEL").as_deref(), Some("debug"));
    assert_eq!(env(&stack, "db", "REGION").as_deref(), Some("eu"));
    assert_eq!(env(&stack, "db", "TEAM").as_deref(), Some("shop"));
    // `ports`: strategy from base.yaml, `reserved` (a list) replaced by berth.yaml's.
    assert_eq!(stack.ports.strategy.name(), "conservative");
    assert_eq!(stack.ports.reserved.to_string(), "9000");

    let api = stack.service("api").unwrap();
    // The override merges into the service: its env entry beats the env file's, the probe
    // kind it names replaces the other one and `interval` stays, `depends_on` is replaced.
    assert_eq!(env(&stack, "api", "API_SECRET").as_deref(), Some("mine"));
    assert_eq!(env(&stack, "api", "API_MODE").as_deref(), Some("split"));
    let health = api.health.as_ref().unwrap();
    assert!(matches!(health.probe, Probe::Tcp { .. }), "{health:?}");
    assert_eq!(health.interval, Duration::from_secs(5));
    assert!(api.depends_on.is_empty());
    let web = stack.service("web").unwrap();
    assert_eq!(
        web.command.argv(&|n| stack.configured_port(n))[2],
        "npm run dev -- --port 3000 --open"
    );
    assert_eq!(web.depends_on[0].service, "api");

    // Relative paths mean the directory of the file they are written in, and a service
    // without `cwd` runs in its own file's directory.
    assert_eq!(
        cwd(&stack, "api"),
        dir.join("services").display().to_string()
    );
    assert_eq!(cwd(&stack, "db"), dir.join("data").display().to_string());
    assert_eq!(
        cwd(&stack, "worker"),
        dir.join("services/jobs").display().to_string()
    );
    assert_eq!(cwd(&stack, "web"), "web");
    assert_eq!(cwd(&stack, "mock"), "");

    let files: Vec<String> = stack
        .files
        .iter()
        .map(|f| f.strip_prefix(&dir).unwrap().display().to_string())
        .collect();
    assert_eq!(
        files,
        [
            "base.yaml",
            "services/api.yaml",
            "services/jobs/worker.yaml",
            "services/db.yaml",
            "berth.override.yaml"
        ]
    );
}

#[test]
fn profiles_apply_after_the_merge() {
    // The profile is written in base.yaml, the service it changes in services/api.yaml.
    let stack = load(&fixture("valid", "split/berth.yaml"), Some("ci"));
    assert_eq!(
        stack.service("api").unwrap().restart.mode.name(),
        "never",
        "{:?}",
        stack.service("api").unwrap().restart
    );
    assert_eq!(env(&stack, "web", "LOG_LEVEL").as_deref(), Some("error"));
}

#[test]
fn the_override_belongs_to_the_file_however_it_is_named() {
    let p = Project::new("services:\n  api: { command: ./api, env: { WHO: base } }\n");
    p.write(
        "berth.override.yaml",
        "services:\n  api: { env: { WHO: me } }\n",
    );
    p.write(
        "other.yaml",
        "services:\n  api: { command: ./api, env: { WHO: other } }\n",
    );
    p.write(
        "other.override.yml",
        "services:\n  api: { env: { WHO: other-me } }\n",
    );
    let who = |file: &str| env(&load(&p.path().join(file), None), "api", "WHO");
    assert_eq!(who("berth.yaml").as_deref(), Some("me"));
    // `-f other.yaml`: its own override (`.yml` found as well), not berth.yaml's.
    assert_eq!(who("other.yaml").as_deref(), Some("other-me"));
    std::fs::remove_file(p.path().join("berth.override.yaml")).unwrap();
    assert_eq!(who("berth.yaml").as_deref(), Some("base"));
}

#[test]
fn a_glob_passes_over_its_own_file_and_the_override_and_a_shared_file_is_merged_once() {
    let p = Project::new(
        "include: [\"*.yaml\", \"parts/*.yaml\"]\nservices:\n  web: { command: ./web }\n",
    );
    p.write(
        "berth.override.yaml",
        "services:\n  web: { env: { A: \"1\" } }\n",
    );
    p.write(
        "db.yaml",
        "include: [common.yaml]\nservices:\n  db: { command: ./db }\n",
    );
    p.write("common.yaml", "env: { SHARED: yes }\n");
    p.write(
        "parts/api.yaml",
        "include: [../common.yaml]\nservices:\n  api: { command: ./api }\n",
    );
    let stack = load(&p.path().join("berth.yaml"), None);
    let names: Vec<&str> = stack.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["db", "api", "web"]);
    assert_eq!(env(&stack, "web", "A").as_deref(), Some("1"));
    assert_eq!(env(&stack, "api", "SHARED").as_deref(), Some("yes"));
    // common.yaml is matched by the glob and included by two files: read once.
    assert_eq!(stack.files.len(), 4, "{:?}", stack.files);
}

#[test]
fn every_error_names_its_own_file_even_under_a_profile() {
    let p = Project::new("include: [more.yaml]\nservices:\n  web: { command: ./web }\n");
    p.write(
        "more.yaml",
        "profiles:\n  slow:\n    services:\n      web: { stop_timeout: forever }\n",
    );
    p.write("berth.override.yaml", "services:\n  web: { port: 0 }\n");
    assert_eq!(
        problems(&p.path().join("berth.yaml"))
            .iter()
            .map(|d| d.rsplit_once('/').map_or(d.as_str(), |(_, f)| f))
            .collect::<Vec<_>>(),
        [
            "berth.override.yaml:2:16: services.web.port: port 0 is out of range; use 1 to 65535",
            "more.yaml:4:28: services.web.stop_timeout: invalid duration `forever`; write a number with a unit: `500ms`, `5s`, `2m`, `1h` (with profile `slow`)",
        ]
    );
}

#[test]
fn berth_config_shows_the_merged_result_and_check_names_the_files() {
    let p = Project::new(
        "include: [services/*.yaml]\nenv: { A: from-berth }\nservices:\n  web: { command: ./web }\n",
    );
    p.write(
        "services/api.yaml",
        "env: { A: from-api, B: from-api }\nservices:\n  api: { command: ./api, port: 8000 }\n",
    );
    p.write("berth.override.yaml", "services:\n  api: { port: 8100 }\n");
    let out = p.berth(&["config"]).code(0).stdout();
    assert!(
        out.starts_with("# merged from berth.yaml, services/api.yaml, berth.override.yaml\n"),
        "{out}"
    );
    let json = p.berth(&["config", "--json"]).code(0).json();
    assert_eq!(json["services"]["api"]["port"], 8100);
    assert_eq!(json["services"]["api"]["env"]["A"], "from-berth");
    assert_eq!(json["services"]["web"]["env"]["B"], "from-api");
    assert_eq!(
        json["services"]["api"]["cwd"],
        p.path()
            .canonicalize()
            .unwrap()
            .join("services")
            .display()
            .to_string()
    );

    p.berth(&["check"]).code(0).stdout_has(
        "berth.yaml (with services/api.yaml, berth.override.yaml) is valid: 2 services",
    );
    let check = p.berth(&["check", "--json"]).code(0).json();
    assert_eq!(
        check["files"],
        serde_json::json!(["berth.yaml", "services/api.yaml", "berth.override.yaml"])
    );

    // The override's `port` replaces this one, so only the signal is wrong in the end.
    p.write(
        "services/api.yaml",
        "services:\n  api: { command: ./api, port: x, stop_signal: TREM }\n",
    );
    p.berth(&["check"])
        .code(2)
        .stderr_has("services/api.yaml:2:48: services.api.stop_signal: unknown signal `TREM`")
        .stderr_has("1 problem found");
}

#[test]
fn completions_offer_the_services_of_every_file() {
    let p = Project::new("include: [\"parts/*.yaml\"]\nservices:\n  web: { command: ./web }\n");
    p.write("parts/api.yaml", "services:\n  api: { command: ./api }\n");
    p.write(
        "berth.override.yaml",
        "services:\n  mock: { command: ./mock }\n",
    );
    let out = p
        .berth(&["--", "berth", "up", ""])
        .env("COMPLETE", "bash")
        .env("_CLAP_COMPLETE_INDEX", "2")
        .env("_CLAP_COMPLETE_COMP_TYPE", "9")
        .env("_CLAP_IFS", "\n")
        .code(0)
        .stdout();
    let names: Vec<&str> = out.lines().filter(|l| !l.starts_with('-')).collect();
    assert_eq!(names, ["api", "web", "mock"]);
}

#[test]
fn up_runs_an_included_service_in_its_own_files_directory() {
    let p = Project::new("include: [worker/berth.part.yaml]\n");
    p.write(
        "worker/berth.part.yaml",
        "services:\n  worker:\n    command: pwd > where.txt; printenv MODE >> where.txt; exec sleep 60\n    env_file: worker.env\n    restart: never\n",
    );
    p.write("worker/worker.env", "MODE=part\n");
    p.berth(&["up", "--timeout", "30s"]).code(0);
    let written = p.path().join("worker/where.txt");
    let seen = wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(&written)
            .ok()
            .filter(|t| t.lines().count() == 2)
    });
    p.berth(&["down"]).code(0);
    p.berth(&["daemon", "stop"]).code(0);
    let worker = p.path().canonicalize().unwrap().join("worker");
    assert_eq!(seen, Some(format!("{}\npart\n", worker.display())));
}

#[test]
fn check_counts_many_files_and_lists_them_when_verbose() {
    let p = Project::new("include: [\"parts/*.yaml\"]\n");
    for name in ["a", "b", "c", "d"] {
        p.write(
            &format!("parts/{name}.yaml"),
            &format!("services:\n  {name}: {{ command: ./{name} }}\n"),
        );
    }
    p.berth(&["check"])
        .code(0)
        .stdout_has("berth.yaml (with 4 more files; -v lists them) is valid: 4 services");
    p.berth(&["check", "-v"])
        .code(0)
        .stdout_has("  merged parts/a.yaml\n  merged parts/b.yaml\n  merged parts/c.yaml\n  merged parts/d.yaml\n");
}
