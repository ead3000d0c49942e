//! `berth export` of every example stack, each checked by the real validator of its target:
//! `systemd-analyze verify` (Debian `systemd`) on the units, the Kubernetes schemas of
//! `--kube-version` (PyPI `kubernetes-validate`, strict, in the venv `.ci/run` makes under
//! target/) on the manifests, `docker-compose config` (Debian `docker-compose`) on the compose
//! file. Without a validator the tests are skipped, except under CI, where they fail.

use crate::support::{Project, Run, repo};
use std::path::{Path, PathBuf};
use std::process::Command;

const SYSTEMD_ANALYZE: &str = "/usr/bin/systemd-analyze";
const DOCKER_COMPOSE: &str = "/usr/bin/docker-compose";

fn kubernetes_validate() -> PathBuf {
    repo("target/export-venv/bin/kubernetes-validate")
}

/// Whether `path` is there; when it is not, fails under CI and says the test is skipped.
fn have(path: &Path, install: &str) -> bool {
    if path.exists() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{} is missing: CI must install it ({install})",
        path.display()
    );
    eprintln!("skipped: {} is missing ({install})", path.display());
    false
}

fn examples() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo("examples"))
        .unwrap()
        .map(|e| e.unwrap().path().join("berth.yaml"))
        .filter(|p| p.exists())
        .collect();
    files.sort();
    assert!(files.len() >= 5, "the examples are found");
    files
}

fn export(config: &Path, args: &[&str]) -> crate::support::Ran {
    let file = config.display().to_string();
    let mut all = vec!["-f", file.as_str(), "export"];
    all.extend(args);
    Run::new(&all).code(0)
}

#[track_caller]
fn validated(what: &str, out: std::process::Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{what}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    // systemd-analyze reports what it ignores as warnings, with exit status 0.
    assert!(stderr.trim().is_empty(), "{what} warns:\n{stderr}");
}

#[test]
fn every_example_s_units_pass_systemd_analyze_verify() {
    if !have(Path::new(SYSTEMD_ANALYZE), "apt-get install systemd") {
        return;
    }
    for config in examples() {
        let out = Project::new("");
        let dir = out.path().join("units");
        export(&config, &["systemd", "-o", dir.to_str().unwrap()]).stderr_has("units into");
        let mut units: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path().display().to_string())
            .collect();
        units.sort();
        assert!(units.iter().any(|u| u.ends_with(".target")));
        // A user manager's runtime directory of its own; verify needs one and no running manager.
        let runtime = out.path().join("runtime");
        std::fs::create_dir(&runtime).unwrap();
        let verified = Command::new(SYSTEMD_ANALYZE)
            .args(["--user", "verify", "--man=no"])
            .args(&units)
            .env("XDG_RUNTIME_DIR", &runtime)
            .output()
            .unwrap();
        validated(
            &format!("{}: systemd-analyze verify", config.display()),
            verified,
        );
    }
}

#[test]
fn every_example_s_manifests_pass_the_kubernetes_schemas_strictly() {
    let validator = kubernetes_validate();
    if !have(
        &validator,
        ".ci/run: python3 -m venv target/export-venv; pip install -r tests/export/requirements.txt",
    ) {
        return;
    }
    for config in examples() {
        for version in ["1.31", "1.29"] {
            let out = Project::new("");
            let file = out.path().join("k8s.yaml");
            export(
                &config,
                &[
                    "kubernetes",
                    "--skip-missing",
                    "--kube-version",
                    version,
                    "-o",
                    file.to_str().unwrap(),
                ],
            );
            let text = std::fs::read_to_string(&file).unwrap();
            assert!(
                text.contains("kind: Deployment"),
                "{}: {text}",
                config.display()
            );
            let checked = Command::new(&validator)
                .args(["--strict", "--quiet", "-k", &format!("{version}.0")])
                .arg(&file)
                .output()
                .unwrap();
            validated(
                &format!("{} for {version}: kubernetes-validate", config.display()),
                checked,
            );
        }
    }
}

#[test]
fn every_example_s_compose_file_passes_docker_compose_config() {
    if !have(Path::new(DOCKER_COMPOSE), "apt-get install docker-compose") {
        return;
    }
    for config in examples() {
        let out = Project::new("");
        let file = out.path().join("compose.yaml");
        export(
            &config,
            &["compose", "--skip-missing", "-o", file.to_str().unwrap()],
        );
        let checked = Command::new(DOCKER_COMPOSE)
            .args(["-f", file.to_str().unwrap(), "config", "--quiet"])
            .current_dir(out.path())
            .output()
            .unwrap();
        validated(
            &format!("{}: docker-compose config", config.display()),
            checked,
        );
    }
}

#[test]
fn a_service_without_an_image_is_refused_for_containers_unless_skipped() {
    let config = repo("examples/ai-tools/berth.yaml");
    let file = config.display().to_string();
    let out = Project::new("");
    let target = out.path().join("k8s.yaml");
    for engine in ["kubernetes", "compose"] {
        Run::new(&[
            "-f",
            &file,
            "export",
            engine,
            "-o",
            target.to_str().unwrap(),
        ])
        .code(1)
        .stderr_has("4 services cannot be exported without an image:")
        .stderr_has("  embeddings: no `export.image`")
        .stderr_has("  gateway: no `export.image`")
        .stderr_has("--skip-missing");
        assert!(!target.exists(), "nothing is written");
    }
    let ran = export(&config, &["compose", "--skip-missing"]);
    let ran = ran.stderr_has("embeddings, mcp-files, mcp-search, gateway: export.image: none given; left out (--skip-missing)");
    assert!(ran.stdout().contains("ollama:") && !ran.stdout().contains("gateway:"));
}

#[test]
fn what_a_target_cannot_carry_is_listed() {
    let config = repo("examples/web-api-db/berth.yaml");
    export(&config, &["systemd"])
        .stderr_has("web: ready_log: systemd cannot wait for a log line")
        .stderr_has("db, api: health: systemd has no health checks")
        .stdout_has("### shop-migrate.service")
        .stdout_has("Type=oneshot");
    export(&config, &["kubernetes"])
        .stderr_has("api: depends_on.migrate: a Deployment cannot wait for another to complete")
        .stdout_has("replicas: 3")
        .stdout_has("initContainers");
    export(&config, &["compose"])
        .stdout_has("condition: service_completed_successfully")
        .stdout_has("replicas: 3");
}

#[test]
fn exports_follow_the_config_s_ports_and_conditions() {
    let project = Project::new(
        "project: demo\nservices:\n  db:\n    command: [\"/usr/bin/env\", \"db\", \"--port\", \"${port}\"]\n    port: 7001\n    export: { image: \"db:1\" }\n    health: { tcp: \"127.0.0.1:${port}\" }\n  api:\n    command: ./api --db 127.0.0.1:${services.db.port}\n    port: 7002\n    depends_on: [db]\n    export: { image: \"api:1\", replicas: 2 }\n    notify: true\n    stop_signal: INT\n",
    );
    let units = project.berth(&["export", "systemd"]).code(0).stdout();
    assert!(
        units.contains("ExecStart=\"/usr/bin/env\" \"db\" \"--port\" \"7001\""),
        "{units}"
    );
    assert!(
        units.contains("ExecStart=/bin/sh -c \"./api --db 127.0.0.1:7001\""),
        "{units}"
    );
    assert!(
        units.contains("Type=notify") && units.contains("KillSignal=SIGINT"),
        "{units}"
    );
    assert!(
        units.contains("Requires=demo-db.service\nAfter=demo-db.service"),
        "{units}"
    );
    let k8s = project.berth(&["export", "kubernetes"]).code(0).stdout();
    assert!(k8s.contains("until nc -z db 7001"), "{k8s}");
    assert!(
        k8s.contains("tcpSocket:\n              port: 7001"),
        "{k8s}"
    );
    let compose = project.berth(&["export", "compose"]).code(0).stdout();
    assert!(compose.contains("condition: service_healthy"), "{compose}");
    assert!(
        compose.contains("nc -z 127.0.0.1 7001 || exit 1"),
        "{compose}"
    );
}
