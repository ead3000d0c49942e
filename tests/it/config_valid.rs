//! Valid configs: every example and fixture passes, `berth config` output is itself a valid
//! config that resolves to the same thing, and the model holds what SPEC.md promises.

use crate::support::{Project, fixture, repo, valid_configs};
use berth::config::resolved::resolved;
use berth::config::{self, Options};
use berth::stack::alerts::{
    Action, ChannelKind, Condition as When, Escalation, Metric, Op, Severity, Threshold, Trigger,
};
use berth::stack::health::Probe;
use berth::stack::service::{Command, Condition, RestartMode};
use berth::stack::{Stack, Strategy};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn options(env: &[(&str, &str)], profile: Option<&str>) -> Options {
    Options {
        profile: profile.map(String::from),
        state_dir: None,
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

fn load(path: &Path, env: &[(&str, &str)], profile: Option<&str>) -> Stack {
    config::load(path, &options(env, profile)).unwrap_or_else(|e| match e {
        config::LoadError::Invalid { diagnostics, .. } => {
            panic!("{}: {diagnostics:#?}", path.display())
        }
        e => panic!("{e}"),
    })
}

fn env_of(stack: &Stack, service: &str) -> BTreeMap<String, String> {
    let port_of = |name: &str| stack.configured_port(name);
    stack
        .service(service)
        .unwrap()
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.render(&port_of)))
        .collect()
}

#[test]
fn a_dozen_realistic_configs_pass_check_under_every_profile() {
    let files = valid_configs();
    assert!(files.len() >= 12, "{files:?}");
    for file in files {
        config::check(&file, &options(&[], None)).unwrap_or_else(|e| match e {
            config::LoadError::Invalid { diagnostics, .. } => {
                panic!("{}: {diagnostics:#?}", file.display())
            }
            e => panic!("{e}"),
        });
    }
}

#[test]
fn resolved_config_is_a_valid_config_that_resolves_to_itself() {
    let tmp = tempfile::tempdir().unwrap();
    for file in valid_configs() {
        let first = resolved(&load(&file, &[], None));
        let copy = tmp.path().join("berth.yaml");
        std::fs::write(&copy, berth::yaml_writer::to_yaml(&first)).unwrap();
        let second = resolved(&load(&copy, &[], None));
        assert_eq!(first, second, "{}", file.display());
    }
}

#[test]
fn every_default_is_the_documented_one() {
    let p = Project::new("services:\n  app:\n    command: ./app\n");
    let stack = load(&p.path().join("berth.yaml"), &[], None);
    let app = &stack.services[0];
    assert_eq!(
        stack.project,
        p.path()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .trim_start_matches('.')
    );
    assert_eq!(stack.state_dir, p.path().join(".berth"));
    assert_eq!(stack.ports.strategy, Strategy::Intelligent);
    assert_eq!(
        app.command,
        Command::Shell(berth::stack::template::Template::literal("./app"))
    );
    assert_eq!(app.port, None);
    assert!(app.alt_ports.is_empty() && app.depends_on.is_empty() && app.health.is_none());
    assert_eq!(app.start_timeout, Duration::from_secs(60));
    assert_eq!(app.restart.mode, RestartMode::OnFailure);
    assert_eq!(app.restart.delay, Duration::from_millis(100));
    assert_eq!(app.restart.delay_max, Duration::from_secs(30));
    assert_eq!(app.restart.min_uptime, Duration::from_secs(10));
    assert_eq!(app.restart.max_restarts, 5);
    assert_eq!(app.restart.window, Duration::from_secs(60));
    assert_eq!(app.success_codes, [0]);
    assert_eq!(app.stop.signal.name(), "TERM");
    assert_eq!(app.stop.timeout, Duration::from_secs(10));
    assert!(app.critical && app.autostart && !app.notify);
    assert_eq!((app.log.max_size, app.log.keep), (10 << 20, 5));
    assert_eq!(stack.monitor.interval, Duration::from_secs(5));
    assert_eq!(stack.monitor.retention, Duration::from_secs(14 * 86_400));
    assert_eq!(stack.monitor.max_size, 200 << 20);
    assert!(
        stack.monitor.disks.is_empty(),
        "the state dir's file system"
    );
    assert_eq!(stack.api, berth::stack::ApiConfig::default());
    assert!(stack.api.listen.is_none() && stack.api.token.is_none());
    assert!(!stack.api.metrics_without_token && !stack.api.allow_remote);
}

#[test]
fn monitor_and_api_sections_are_read() {
    let file = fixture("valid", "monitor-and-api.yaml");
    let stack = load(&file, &[], None);
    let m = &stack.monitor;
    assert_eq!(m.interval, Duration::from_secs(10));
    assert_eq!(m.retention, Duration::from_secs(30 * 86_400));
    assert_eq!(m.max_size, 1 << 30);
    // Relative disks are relative to the config's directory.
    assert_eq!(
        m.disks,
        [PathBuf::from("/"), file.parent().unwrap().to_path_buf()]
    );
    let api = &stack.api;
    assert_eq!(api.listen, Some("0.0.0.0:9400".parse().unwrap()));
    assert_eq!(api.token.as_deref(), Some("fixture-token-0123456789abcdef"));
    assert!(api.metrics_without_token && api.allow_remote);
    // `${BERTH_TOKEN}` comes from the environment when it is set.
    let from_env = load(&file, &[("BERTH_TOKEN", "from-the-environment-0123")], None);
    assert_eq!(
        from_env.api.token.as_deref(),
        Some("from-the-environment-0123")
    );
    let printed = resolved(&from_env);
    assert_eq!(printed["api"]["token"], "from-the-environment-0123");
    assert_eq!(printed["api"]["listen"], "0.0.0.0:9400");
    assert_eq!(printed["monitor"]["retention"], "30d");
    assert_eq!(printed["monitor"]["max_size"], "1GiB");
}

#[test]
fn watch_shorthand_and_full_form_are_read() {
    let stack = load(&fixture("valid", "watching.yaml"), &[], None);
    let api = stack.service("api").unwrap().watch.clone().unwrap();
    assert_eq!(api.paths, ["*.yaml", "../invalid"]);
    assert!(api.ignore.is_empty() && api.gitignore);
    assert_eq!(api.debounce, Duration::from_millis(300));
    let web = stack.service("web").unwrap().watch.clone().unwrap();
    assert_eq!(web.paths, ["valid/**/*.yaml", "invalid/"]);
    assert_eq!(web.ignore, ["*.tmp", "history"]);
    assert_eq!(web.debounce, Duration::from_secs(1));
    assert!(!web.gitignore);
    assert_eq!(
        stack.services.iter().filter(|s| s.watch.is_none()).count(),
        0
    );
    let printed = resolved(&stack);
    assert_eq!(printed["services"]["web"]["watch"]["debounce"], "1s");
    assert_eq!(printed["services"]["api"]["watch"]["gitignore"], true);
}

#[test]
fn the_api_token_may_come_from_an_env_file_and_keeps_its_dollars() {
    let p = Project::new(
        "env_file: .env\napi:\n  listen: localhost:9400\n  token: ${BERTH_TOKEN}$$x\nservices:\n  a:\n    command: ./a\n",
    );
    p.write(".env", "BERTH_TOKEN=from-the-env-file-0123\n");
    let file = p.path().join("berth.yaml");
    let stack = load(&file, &[("BERTH_TOKEN", "not-this-one-0123456789")], None);
    assert_eq!(stack.api.token.as_deref(), Some("from-the-env-file-0123$x"));
    assert_eq!(stack.api.listen, Some("127.0.0.1:9400".parse().unwrap()));
    // Printed with `$$`, so that loading the output gives the same token.
    let printed = resolved(&stack);
    assert_eq!(printed["api"]["token"], "from-the-env-file-0123$$x");
    let copy = p.write("copy.yaml", &berth::yaml_writer::to_yaml(&printed));
    assert_eq!(load(&copy, &[], None).api, stack.api);
}

#[test]
fn no_token_is_printed_unless_the_config_gives_one() {
    let p = Project::new("api:\n  listen: \"[::1]:9400\"\nservices:\n  a:\n    command: ./a\n");
    let stack = load(&p.path().join("berth.yaml"), &[], None);
    let printed = resolved(&stack);
    assert_eq!(
        printed["api"],
        serde_json::json!({"listen": "[::1]:9400", "metrics_without_token": false, "allow_remote": false})
    );
    let plain = Project::new("services:\n  a:\n    command: ./a\n");
    let printed = resolved(&load(&plain.path().join("berth.yaml"), &[], None));
    assert_eq!(
        printed["api"],
        serde_json::json!({"metrics_without_token": false, "allow_remote": false})
    );
    assert_eq!(printed["monitor"]["disks"], serde_json::json!([]));
}

#[test]
fn alerts_channels_and_rules_are_read() {
    let file = fixture("valid", "alerts.yaml");
    let stack = load(&file, &[], None);
    let alerts = &stack.alerts;
    let names: Vec<&str> = alerts.channels.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["team", "ops", "desk", "log", "am"]);
    let kind = |name: &str| {
        let channel = alerts.channels.iter().find(|c| c.name == name).unwrap();
        channel.kind.clone()
    };
    // The Slack URL comes from the env file.
    assert_eq!(
        kind("team"),
        ChannelKind::Slack {
            url: "https://hooks.slack.com/services/T000/B000/XXXX".into()
        }
    );
    assert_eq!(
        kind("ops"),
        ChannelKind::Webhook {
            url: "http://127.0.0.1:9000/hook".into(),
            headers: vec![
                ("X-Key".into(), "dev-key".into()),
                ("X-Source".into(), "berth".into())
            ],
        }
    );
    // `$NAME` is the shell's; `$$` is a literal `$`; the timeout defaults to 10s.
    assert_eq!(
        kind("desk"),
        ChannelKind::Exec {
            command: "notify-send berth \"$BERTH_ALERT_SUMMARY\"".into(),
            timeout: Duration::from_secs(5),
        }
    );
    assert_eq!(
        kind("log"),
        ChannelKind::Exec {
            command: "logger -t berth ${BERTH_ALERT_RULE}".into(),
            timeout: Duration::from_secs(10),
        }
    );
    assert_eq!(
        kind("am"),
        ChannelKind::Alertmanager {
            url: "https://alertmanager.internal:9093".into()
        }
    );

    let rule = |name: &str| alerts.rules.iter().find(|r| r.name == name).unwrap();
    let api_memory = rule("api-memory");
    assert_eq!(
        api_memory.trigger,
        Trigger::When {
            condition: When::Compare {
                metric: Metric::Memory,
                op: Op::Gt,
                threshold: Threshold::Amount((500u64 << 20) as f64),
            },
            for_: Duration::from_secs(60),
        }
    );
    assert_eq!(api_memory.services, ["api"]);
    assert_eq!(api_memory.severity, Severity::Warning);
    assert_eq!(
        api_memory.escalate,
        Some(Escalation {
            after: Duration::from_secs(600),
            to: Severity::Critical
        })
    );
    assert_eq!(api_memory.repeat, Some(Duration::from_secs(4 * 3600)));
    assert_eq!(api_memory.action, Some(Action::Restart));
    assert_eq!(api_memory.notify, ["team", "ops"]);
    // Defaults: every service, warning, no escalation or repeat, resolved notices, every
    // channel, at once.
    let defaults = rule("descriptors");
    assert!(defaults.services.is_empty() && defaults.notify.is_empty());
    assert_eq!(defaults.severity, Severity::Warning);
    assert!(defaults.escalate.is_none() && defaults.repeat.is_none() && defaults.action.is_none());
    assert!(defaults.resolved);
    assert!(matches!(defaults.trigger, Trigger::When { for_, .. } if for_.is_zero()));
    assert!(!rule("low-score").resolved);
    assert_eq!(rule("memory-share").services, ["worker"]);
    assert_eq!(rule("memory-share").notify, ["desk"]);

    let condition = |name: &str| match &rule(name).trigger {
        Trigger::When { condition, .. } => condition.clone(),
        other => panic!("{name}: {other:?}"),
    };
    let threshold = |name: &str| match condition(name) {
        When::Compare { threshold, .. } => threshold,
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(threshold("memory-share"), Threshold::Percent(50.0));
    assert_eq!(threshold("hot"), Threshold::Amount(80.0));
    assert_eq!(threshold("threads"), Threshold::Amount(500.0));
    assert_eq!(threshold("slow-checks"), Threshold::Amount(200.0));
    assert_eq!(threshold("machine-cpu"), Threshold::Amount(90.0));
    assert_eq!(
        threshold("machine-memory"),
        Threshold::Amount((14u64 << 30) as f64)
    );
    assert_eq!(threshold("disk"), Threshold::Percent(90.0));
    assert_eq!(threshold("load"), Threshold::Amount(4.5));
    assert!(condition("swap").is_system() && !condition("hot").is_system());
    assert_eq!(
        condition("flapping"),
        When::Restarts {
            op: Op::Gt,
            count: 3,
            within: Duration::from_secs(600)
        }
    );
    assert!(matches!(
        condition("unhealthy"),
        When::Health { equal: true, .. }
    ));
    assert!(matches!(
        condition("not-running"),
        When::State { equal: false, .. }
    ));
    assert_eq!(
        rule("moved").trigger,
        Trigger::On {
            kinds: vec!["port".into(), "failed".into()]
        }
    );
    assert_eq!(
        rule("adopted").trigger,
        Trigger::On {
            kinds: vec!["adopted".into()]
        }
    );

    // Env files before the environment; the environment before a default.
    let from_env = load(
        &file,
        &[
            ("SLACK_WEBHOOK_URL", "https://not.this.one/x"),
            ("OPS_KEY", "from-the-environment"),
        ],
        None,
    );
    let channel = |name: &str| {
        let c = from_env.alerts.channels.iter().find(|c| c.name == name);
        c.unwrap().kind.clone()
    };
    assert!(
        matches!(channel("team"), ChannelKind::Slack { url } if url.starts_with("https://hooks.slack.com/"))
    );
    assert!(
        matches!(channel("ops"), ChannelKind::Webhook { headers, .. } if headers[0].1 == "from-the-environment")
    );
}

#[test]
fn alerts_are_printed_as_berth_yaml_with_their_defaults() {
    let stack = load(&fixture("valid", "alerts.yaml"), &[], None);
    let printed = resolved(&stack);
    let alerts = &printed["alerts"];
    assert_eq!(
        alerts["channels"]["ops"],
        serde_json::json!({"webhook": "http://127.0.0.1:9000/hook", "headers": {"X-Key": "dev-key", "X-Source": "berth"}})
    );
    assert_eq!(
        alerts["channels"]["log"],
        serde_json::json!({"exec": "logger -t berth $${BERTH_ALERT_RULE}", "timeout": "10s"})
    );
    assert_eq!(
        alerts["rules"][0],
        serde_json::json!({
            "name": "api-memory", "when": "memory > 500MiB", "for": "1m", "services": ["api"],
            "severity": "warning", "escalate": {"after": "10m", "to": "critical"},
            "repeat": "4h", "resolved": true, "action": "restart", "notify": ["team", "ops"]
        })
    );
    // Defaults are filled in; "every service" and "every channel" are left out.
    let rule = |name: &str| {
        let rules = alerts["rules"].as_array().unwrap();
        rules.iter().find(|r| r["name"] == name).unwrap().clone()
    };
    assert_eq!(
        rule("threads"),
        serde_json::json!({"name": "threads", "when": "threads > 500", "for": "0s", "severity": "warning", "resolved": true})
    );
    assert_eq!(rule("memory-share")["when"], "memory >= 50%");
    assert_eq!(rule("machine-memory")["when"], "system.memory > 14GiB");
    assert_eq!(rule("flapping")["when"], "restarts > 3 in 10m");
    assert_eq!(rule("not-running")["when"], "state != running");
    // An `on:` rule gets none of the keys it may not have.
    assert_eq!(
        rule("moved"),
        serde_json::json!({"name": "moved", "on": ["port", "failed"], "severity": "warning"})
    );
    let plain = Project::new("services:\n  a:\n    command: ./a\n");
    let printed = resolved(&load(&plain.path().join("berth.yaml"), &[], None));
    assert_eq!(
        printed["alerts"],
        serde_json::json!({"channels": {}, "rules": []})
    );
}

#[test]
fn check_verbose_lists_each_alert_rule() {
    Project::new(
        "alerts:
  channels:
    team: { exec: \"true\" }
    ops: { exec: \"true\" }
  rules:
    - name: api-memory
      when: memory > 500MiB
      for: 1m
      services: [api]
      escalate: { after: 10m, to: critical }
      action: restart
      notify: [team, ops]
    - name: disk
      when: system.disk > 90%
      severity: critical
      repeat: 4h
      resolved: false
    - name: moved
      on: [port, failed, exited]
      notify: ops
services:
  api:
    command: ./api
",
    )
    .berth(&["check", "-v"])
    .code(0)
    .stdout_is(
        "✓ berth.yaml is valid: 1 service, start order: api
  api  ./api
  alert api-memory: memory > 500MiB for 1m on api → team, ops (warning, escalates to critical after 10m, restarts it)
  alert disk: system.disk > 90% → team, ops (critical, repeats every 4h, no notice when resolved)
  alert moved: each port, failed or exited event on every service → ops (warning)
",
    );
}

#[test]
fn health_defaults_and_probe_kinds() {
    let stack = load(&fixture("valid", "readiness-signals.yaml"), &[], None);
    let health = |name: &str| stack.service(name).unwrap().health.clone().unwrap();
    let http = health("by-http");
    assert_eq!(
        (http.interval, http.timeout, http.retries),
        (Duration::from_secs(5), Duration::from_millis(500), 3)
    );
    match http.probe {
        Probe::Http { url, status } => {
            assert_eq!(url.render(&|_| Some(7002)), "http://[::1]:7002/ready");
            assert!(status.contains(204) && status.contains(304) && !status.contains(301));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(health("by-tcp").probe, Probe::Tcp { .. }));
    assert!(matches!(health("by-exec").probe, Probe::Exec { .. }));
    let deps = &stack.service("after-one-shot").unwrap().depends_on;
    assert_eq!(deps[0].condition, Condition::Completed);
    assert_eq!(deps[1].condition, Condition::Started);
    let spec = load(&fixture("valid", "spec-example.yaml"), &[], None);
    assert_eq!(
        spec.service("api").unwrap().depends_on[0].condition,
        Condition::Healthy
    );
}

/// process env < top env_file < top env < profile env < service env_file < service env.
#[test]
fn environment_layers_merge_in_the_documented_order() {
    let p = Project::new(
        "env_file: top.env\nenv: { B: top-env, C: top-env, D: top-env, E: top-env }\nprofiles:\n  prod:\n    env: { C: profile-env }\n    services:\n      app: { env: { F: profile-service-env } }\nservices:\n  app:\n    command: ./app\n    env_file: svc.env\n    env: { E: svc-env, F: svc-env }\n",
    );
    p.write("top.env", "A=top-file\nB=top-file\n");
    p.write("svc.env", "D=svc-file\nE=svc-file\n");
    let file = p.path().join("berth.yaml");
    let env = env_of(&load(&file, &[("A", "process")], None), "app");
    assert_eq!(env["A"], "top-file");
    assert_eq!(env["B"], "top-env");
    assert_eq!(env["C"], "top-env");
    assert_eq!(env["D"], "svc-file");
    assert_eq!(env["E"], "svc-env");
    assert_eq!(env["F"], "svc-env");
    let env = env_of(&load(&file, &[], Some("prod")), "app");
    assert_eq!(env["C"], "profile-env");
    assert_eq!(env["F"], "profile-service-env");
    assert_eq!(env["E"], "svc-env");
}

/// `${VAR}` looks in the service's env files, then the top-level ones, then the environment.
#[test]
fn variables_come_from_env_files_then_the_environment() {
    let p = Project::new(
        "env_file: top.env\nservices:\n  app:\n    command: echo ${X} ${Y} ${Z} ${W:-dflt}\n    env_file: [svc.env, { path: missing.env, required: false }]\n",
    );
    p.write("top.env", "X=top\nY=top\n");
    p.write("svc.env", "X=svc\n");
    let stack = load(
        &p.path().join("berth.yaml"),
        &[("X", "env"), ("Y", "env"), ("Z", "env")],
        None,
    );
    let argv = stack.services[0].command.argv(&|_| None);
    assert_eq!(argv, ["sh", "-c", "echo svc top env dflt"]);
}

#[test]
fn profiles_replace_service_keys_and_are_named_in_the_stack() {
    let file = repo("examples/profiles/berth.yaml");
    let base = load(&file, &[], None);
    let debug = load(&file, &[], Some("debug"));
    let perf = load(&file, &[], Some("perf"));
    let argv = |s: &Stack| s.service("search").unwrap().command.argv(&|_| Some(7700));
    assert_eq!(argv(&base)[0], "./target/release/search");
    assert_eq!(argv(&debug)[0], "./target/debug/search");
    assert_eq!(
        debug.service("search").unwrap().restart.mode,
        RestartMode::Never
    );
    assert_eq!(
        perf.service("search").unwrap().start_timeout,
        Duration::from_secs(120)
    );
    assert_eq!(env_of(&perf, "gateway")["SEARCH_CACHE_MB"], "4096");
    assert_eq!(env_of(&perf, "gateway")["LOG_LEVEL"], "warn");
    assert_eq!(env_of(&base, "gateway")["OTEL_SERVICE_NAME"], "gateway");
    assert_eq!(perf.profile.as_deref(), Some("perf"));
    assert!(matches!(
        perf.service("gateway")
            .unwrap()
            .health
            .as_ref()
            .unwrap()
            .probe,
        Probe::Http { .. }
    ));
}

#[test]
fn port_references_follow_a_moved_port() {
    let stack = load(&fixture("valid", "spec-example.yaml"), &[], None);
    let web = stack.service("web").unwrap();
    let moved = |name: &str| {
        if name == "api" {
            Some(8002)
        } else {
            stack.configured_port(name)
        }
    };
    assert_eq!(web.env["API_URL"].render(&moved), "http://127.0.0.1:8002");
    assert_eq!(web.env["API_URL"].port_refs().collect::<Vec<_>>(), ["api"]);
    let api = stack.service("api").unwrap();
    assert_eq!(
        api.command.argv(&moved),
        ["./target/release/api", "--port", "8002"]
    );
}

#[test]
fn state_dir_and_project_can_be_set() {
    let p =
        Project::new("project: shop\nstate_dir: var/state\nservices:\n  a:\n    command: ./a\n");
    let file = p.path().join("berth.yaml");
    let stack = load(&file, &[], None);
    assert_eq!(stack.project, "shop");
    assert_eq!(stack.state_dir, p.path().join("var/state"));
    let mut o = options(&[], None);
    o.state_dir = Some(PathBuf::from("/elsewhere"));
    assert_eq!(
        config::load(&file, &o).unwrap().state_dir,
        PathBuf::from("/elsewhere")
    );
}

#[test]
fn start_order_groups_what_can_start_together() {
    let stack = load(&fixture("valid", "monorepo.yaml"), &[], None);
    assert_eq!(
        stack.start_levels(),
        vec![
            vec!["auth", "inventory", "docs"],
            vec!["users", "search"],
            vec!["orders"],
            vec!["payments", "mailer", "admin"],
            vec!["shop"],
        ]
    );
}

#[test]
fn the_stack_survives_a_round_trip_through_json() {
    // The CLI sends the stack to the daemon as JSON.
    for file in valid_configs() {
        let stack = load(&file, &[], None);
        let text = serde_json::to_string(&stack).unwrap();
        let back: Stack = serde_json::from_str(&text).unwrap();
        assert_eq!(stack, back, "{}", file.display());
    }
}
