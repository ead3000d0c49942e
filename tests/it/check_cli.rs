//! `berth check`, `berth config` and `berth schema` as users and scripts run them: output,
//! exit codes, flags anywhere, config discovery and the environment variables.

use crate::support::{Project, Run, fixture};

const VALID: &str = "services:\n  db:\n    command: ./db\n    port: 5432\n  api:\n    command: ./api --port ${port}\n    port: 8000\n    depends_on: [db]\n  worker:\n    command: ./worker\n    depends_on: [db]\n";

#[test]
fn valid_config_prints_a_one_line_summary() {
    Project::new(VALID)
        .berth(&["check"])
        .code(0)
        .stdout_is("✓ berth.yaml is valid: 3 services, start order: db → api, worker\n")
        .stderr_is("");
}

#[test]
fn verbose_lists_each_service_in_start_order() {
    Project::new(VALID)
        .berth(&["check", "-v"])
        .code(0)
        .stdout_is(
            "✓ berth.yaml is valid: 3 services, start order: db → api, worker
  db      ./db  [port 5432]
  api     ./api --port 8000  [port 8000; after db healthy]
  worker  ./worker  [after db healthy]
",
        );
}

#[test]
fn quiet_prints_nothing() {
    Project::new(VALID)
        .berth(&["check", "-q"])
        .code(0)
        .stdout_is("")
        .stderr_is("");
}

#[test]
fn invalid_config_shows_each_problem_with_its_line_and_exits_2() {
    let p = Project::new("services:\n  api:\n    comand: ./api\n    port: 99999\n");
    p.berth(&["check"]).code(2).stdout_is("").stderr_is(
        "berth.yaml:2:3: services.api: missing `command`: what to run, e.g. `command: ./server --port ${port}`
 2 |   api:
   |   ^^^
berth.yaml:3:5: unknown key `comand` in `services.api`; did you mean `command`?
 3 |     comand: ./api
   |     ^^^^^^
berth.yaml:4:11: services.api.port: port 99999 is out of range; use 1 to 65535
 4 |     port: 99999
   |           ^^^^^
error: berth.yaml: 3 problems found
",
    );
}

#[test]
fn json_reports_validity_and_every_error() {
    let p = Project::new(
        "services:\n  api:\n    command: ./api\n    depends_on: [dbb]\n  db:\n    command: ./db\n",
    );
    let out = p.berth(&["check", "--json"]).code(2).stderr_is("").json();
    assert_eq!(
        out,
        serde_json::json!({"valid": false, "errors": [{
            "file": "berth.yaml", "line": 4, "column": 18,
            "message": "services.api.depends_on: no service `dbb`; did you mean `db`?"
        }]})
    );
    let out = Project::new(VALID)
        .berth(&["--json", "check"])
        .code(0)
        .json();
    assert_eq!(out["valid"], true);
    assert_eq!(out["errors"], serde_json::json!([]));
    assert_eq!(out["services"], 3);
    assert_eq!(
        out["start_order"],
        serde_json::json!([["db"], ["api", "worker"]])
    );
}

#[test]
fn flags_may_stand_before_or_after_the_subcommand() {
    let p = Project::new(VALID);
    p.write(
        "other/berth.yaml",
        "services:\n  only:\n    command: ./only\n",
    );
    for args in [
        &["-f", "other/berth.yaml", "check"][..],
        &["check", "-f", "other/berth.yaml"],
        &["check", "--file=other/berth.yaml"],
    ] {
        p.berth(args).code(0).stdout_has("1 service,");
    }
}

#[test]
fn config_is_found_in_parent_directories() {
    let p = Project::new(VALID);
    std::fs::create_dir_all(p.path().join("src/deep")).unwrap();
    Run::new(&["check"])
        .dir(&p.path().join("src/deep"))
        .code(0)
        .stdout_has("is valid: 3 services");
    let yml = Project::new(VALID);
    std::fs::rename(yml.path().join("berth.yaml"), yml.path().join("berth.yml")).unwrap();
    yml.berth(&["check"])
        .code(0)
        .stdout_has("berth.yml is valid");
}

#[test]
fn berth_file_and_berth_profile_come_from_the_environment() {
    let p = Project::new(
        "profiles:\n  prod:\n    services:\n      a: { port: 9999 }\nservices:\n  a:\n    command: ./a\n    port: 1000\n",
    );
    std::fs::rename(p.path().join("berth.yaml"), p.path().join("stack.yaml")).unwrap();
    let file = p.path().join("stack.yaml");
    let out = Run::new(&["config", "--json"])
        .dir(p.path())
        .env("BERTH_FILE", file.to_str().unwrap())
        .env("BERTH_PROFILE", "prod")
        .code(0)
        .json();
    assert_eq!(out["services"]["a"]["port"], 9999);
    // The flag wins over the variable.
    let out = Run::new(&["config", "--json", "--profile", "prod", "-f", "stack.yaml"])
        .dir(p.path())
        .env("BERTH_FILE", "/nonexistent/berth.yaml")
        .code(0)
        .json();
    assert_eq!(out["services"]["a"]["port"], 9999);
}

#[test]
fn a_missing_config_is_exit_2_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    Run::new(&["check"])
        .dir(dir.path())
        .code(2)
        .stderr_has("no berth.yaml (or berth.yml) in")
        .stderr_has("-f FILE or BERTH_FILE");
    Run::new(&["check", "-f", "nope.yaml"])
        .dir(dir.path())
        .code(2)
        .stderr_is("error: config file nope.yaml not found\n");
    let out = Run::new(&["check", "--json"])
        .dir(dir.path())
        .code(2)
        .json();
    assert_eq!(out["valid"], false);
    assert!(
        out["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("no berth.yaml")
    );
}

#[test]
fn an_unknown_profile_is_a_config_error() {
    let p = Project::new(
        "profiles:\n  production: {}\n  staging: {}\nservices:\n  a:\n    command: ./a\n",
    );
    p.berth(&["check", "--profile", "prod"]).code(2).stderr_has(
        "berth.yaml:1:1: unknown profile `prod`; this config defines: production, staging",
    );
    let p = Project::new("services:\n  a:\n    command: ./a\n");
    p.berth(&["config", "--profile", "dev"])
        .code(2)
        .stderr_has("unknown profile `dev`: this config defines no profiles");
}

#[test]
fn check_without_profile_checks_every_profile() {
    let p = Project::new(
        "profiles:\n  prod:\n    services:\n      api: { stop_signal: SIGNOPE }\nservices:\n  api:\n    command: ./api\n",
    );
    p.berth(&["check"])
        .code(2)
        .stderr_has("berth.yaml:4:27: services.api.stop_signal: unknown signal `SIGNOPE`")
        .stderr_has("(with profile `prod`)");
    // Applying another profile, or none, the service itself is fine.
    p.berth(&["config"]).code(0);
}

#[test]
fn no_colour_when_output_is_not_a_terminal() {
    let p = Project::new("services:\n  api:\n    port: x\n");
    let ran = p.berth(&["check"]).env_remove("NO_COLOR").code(2);
    assert!(!ran.stderr().contains('\x1b'), "{:?}", ran.stderr());
}

#[test]
fn config_prints_the_resolved_config_as_yaml_or_json() {
    let p = Project::new(
        "env: { LEVEL: info }\nservices:\n  api:\n    command: ./api --port ${port}\n    port: 8000\n",
    );
    let yaml = p.berth(&["config"]).code(0).stdout();
    assert!(
        yaml.contains("  api:\n    command: ./api --port 8000\n"),
        "{yaml}"
    );
    assert!(yaml.contains("    env:\n      LEVEL: info\n"), "{yaml}");
    assert!(yaml.contains("    stop_timeout: 10s\n"), "{yaml}");
    let json = p.berth(&["config", "--json"]).code(0).json();
    assert_eq!(json["services"]["api"]["restart"], "on-failure");
    assert_eq!(json["services"]["api"]["health"], serde_json::Value::Null);
    p.berth(&["config"]).env("NO_COLOR", "1").code(0);
}

#[test]
fn schema_is_a_draft_07_json_schema() {
    let schema = Run::new(&["schema"]).code(0).stderr_is("").json();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    // `services`, or `include` to bring them from other files.
    assert_eq!(
        schema["anyOf"],
        serde_json::json!([{"required": ["services"]}, {"required": ["include"]}])
    );
}

#[test]
fn help_has_examples_and_bad_usage_is_exit_2() {
    Run::new(&["--help"])
        .code(0)
        .stdout_has("Examples:")
        .stdout_has("berth check --json");
    Run::new(&["check", "--help"])
        .code(0)
        .stdout_has("--profile");
    Run::new(&["frobnicate"])
        .code(2)
        .stderr_has("unrecognized subcommand");
    Run::new(&["check", "--bogus"]).code(2);
}

#[test]
fn problems_inside_env_files_point_into_the_env_file() {
    Run::new(&[
        "check",
        "-f",
        fixture("invalid", "env-file-syntax.yaml").to_str().unwrap(),
    ])
    .code(2)
    .stderr_has("env-file-syntax.env:2:1: expected `KEY=VALUE`\n 2 | this line has no equals\n");
}
