//! The resolved config (profile applied, env files merged, defaults filled in) in the shape
//! of berth.yaml, for `berth config`. Configured ports are filled in and `$` is written as
//! `$$`, so the output is itself a valid berth.yaml that resolves to the same stack.

use super::decode::alerts::condition_text;
use super::units::{format_duration, format_size};
use crate::stack::alerts::{Action, Alerts, ChannelKind, Rule, Trigger};
use crate::stack::health::Probe;
use crate::stack::ranges::RangeList;
use crate::stack::service::Command;
use crate::stack::template::Template;
use crate::stack::{ApiConfig, Service, Stack};
use serde_json::{Map, Value, json};
use std::path::Path;

pub fn resolved(stack: &Stack) -> Value {
    let dir = stack.file.parent().unwrap_or(Path::new("/"));
    // A replicated service is shown once, as written, with its count; not as its instances.
    let services: Map<String, Value> = stack
        .services
        .iter()
        .filter_map(|s| match &s.replica {
            None => Some((s.name.clone(), service(stack, s, dir))),
            Some(r) if r.index == 1 => {
                let replicated = stack.replicated.get(&r.of)?;
                let mut out = service(stack, &replicated.definition, dir);
                out["replicas"] = json!(replicated.count);
                Some((r.of.clone(), out))
            }
            Some(_) => None,
        })
        .collect();
    json!({
        "project": stack.project,
        "state_dir": stack.state_dir.display().to_string(),
        "ports": {
            "strategy": stack.ports.strategy.name(),
            "reserved": ranges(&stack.ports.reserved),
            "protect": stack.ports.protect.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
        },
        "monitor": {
            "interval": format_duration(stack.monitor.interval),
            "retention": format_duration(stack.monitor.retention),
            "max_size": format_size(stack.monitor.max_size),
            // Empty means the state dir's file system; naming the state dir instead would
            // not load again before the state dir exists.
            "disks": stack.monitor.disks.iter().map(|d| d.display().to_string()).collect::<Vec<_>>(),
        },
        "api": api(&stack.api),
        "alerts": alerts(&stack.alerts),
        "services": services,
    })
}

/// `listen` only when set (the API is off otherwise); `token` only when the config gave one:
/// a generated token lives in `.berth/token` and is never copied into printed output.
fn api(api: &ApiConfig) -> Value {
    let mut out = Map::new();
    if let Some(listen) = api.listen {
        out.insert("listen".into(), json!(listen.to_string()));
    }
    if let Some(token) = &api.token {
        out.insert("token".into(), json!(escape(token)));
    }
    out.insert(
        "metrics_without_token".into(),
        json!(api.metrics_without_token),
    );
    out.insert("allow_remote".into(), json!(api.allow_remote));
    Value::Object(out)
}

/// Channels with every option, rules with their defaults. What stands for "all" is left out
/// (`services` and `notify` as empty lists would say "none"), and so are the keys an `on:`
/// rule does not take.
fn alerts(alerts: &Alerts) -> Value {
    let channels: Map<String, Value> = alerts
        .channels
        .iter()
        .map(|c| {
            let body = match &c.kind {
                ChannelKind::Webhook { url, headers } => json!({
                    "webhook": escape(url),
                    "headers": headers
                        .iter()
                        .map(|(k, v)| (k.clone(), json!(escape(v))))
                        .collect::<Map<String, Value>>(),
                }),
                ChannelKind::Slack { url } => json!({"slack": escape(url)}),
                ChannelKind::Exec { command, timeout } => json!({
                    "exec": escape(command),
                    "timeout": format_duration(*timeout),
                }),
                ChannelKind::Alertmanager { url } => json!({"alertmanager": escape(url)}),
            };
            (c.name.clone(), body)
        })
        .collect();
    json!({
        "channels": channels,
        "rules": alerts.rules.iter().map(rule).collect::<Vec<_>>(),
    })
}

fn rule(rule: &Rule) -> Value {
    let mut out = Map::new();
    out.insert("name".into(), json!(rule.name));
    match &rule.trigger {
        Trigger::When { condition, for_ } => {
            out.insert("when".into(), json!(condition_text(condition)));
            out.insert("for".into(), json!(format_duration(*for_)));
        }
        Trigger::On { kinds } => {
            out.insert("on".into(), json!(kinds));
        }
    }
    if !rule.services.is_empty() {
        out.insert("services".into(), json!(rule.services));
    }
    out.insert("severity".into(), json!(rule.severity.name()));
    if let Trigger::When { .. } = rule.trigger {
        if let Some(e) = &rule.escalate {
            out.insert(
                "escalate".into(),
                json!({"after": format_duration(e.after), "to": e.to.name()}),
            );
        }
        if let Some(repeat) = rule.repeat {
            out.insert("repeat".into(), json!(format_duration(repeat)));
        }
        out.insert("resolved".into(), json!(rule.resolved));
        match rule.action {
            Some(Action::Restart) => {
                out.insert("action".into(), json!("restart"));
            }
            None => {}
        }
    }
    if !rule.notify.is_empty() {
        out.insert("notify".into(), json!(rule.notify));
    }
    Value::Object(out)
}

fn service(stack: &Stack, s: &Service, dir: &Path) -> Value {
    let text = |t: &Template| t.render_escaped(&|name| stack.configured_port(name));
    let command = |c: &Command| match c {
        Command::Shell(line) => json!(text(line)),
        Command::Exec(args) => json!(args.iter().map(text).collect::<Vec<_>>()),
    };
    let mut out = Map::new();
    let mut put = |key: &str, value: Value| {
        out.insert(key.to_string(), value);
    };
    put("command", command(&s.command));
    // Escaped part by part: the directory's `$` doubled, a `${replica}` in `cwd` kept.
    let cwd = s.cwd.render_escaped(&|n| stack.configured_port(n));
    let dir = escape(&dir.display().to_string());
    let cwd = if cwd.is_empty() {
        std::path::PathBuf::from(dir)
    } else {
        Path::new(&dir).join(cwd)
    };
    // `components` drops the `.` segments a relative `cwd: .` would leave.
    let cwd: std::path::PathBuf = cwd.components().collect();
    put("cwd", json!(cwd.display().to_string()));
    put(
        "env",
        Value::Object(
            s.env
                .iter()
                .map(|(k, v)| (k.clone(), json!(text(v))))
                .collect(),
        ),
    );
    if let Some(port) = s.port {
        put("port", json!(port));
        put("alt_ports", ranges(&s.alt_ports));
    }
    let deps: Map<String, Value> = s
        .depends_on
        .iter()
        .map(|d| (d.service.clone(), json!({"condition": d.condition.name()})))
        .collect();
    put("depends_on", Value::Object(deps));
    if let Some(h) = &s.health {
        let mut health = Map::new();
        match &h.probe {
            Probe::Http { url, status } => {
                health.insert("http".into(), json!(text(url)));
                health.insert("status".into(), ranges(status));
            }
            Probe::Tcp { address } => {
                health.insert("tcp".into(), json!(text(address)));
            }
            Probe::Exec { command: c } => {
                health.insert("exec".into(), command(c));
            }
        }
        health.insert("interval".into(), json!(format_duration(h.interval)));
        health.insert("timeout".into(), json!(format_duration(h.timeout)));
        health.insert("retries".into(), json!(h.retries));
        put("health", Value::Object(health));
    }
    if let Some(p) = &s.ready_log {
        put("ready_log", json!(p.as_str()));
    }
    put("notify", json!(s.notify));
    put("start_timeout", json!(format_duration(s.start_timeout)));
    put("restart", json!(s.restart.mode.name()));
    put("restart_delay", json!(format_duration(s.restart.delay)));
    put(
        "restart_delay_max",
        json!(format_duration(s.restart.delay_max)),
    );
    put("min_uptime", json!(format_duration(s.restart.min_uptime)));
    put("max_restarts", json!(s.restart.max_restarts));
    put("restart_window", json!(format_duration(s.restart.window)));
    put("success_codes", json!(s.success_codes));
    put("stop_signal", json!(s.stop.signal.name()));
    put("stop_timeout", json!(format_duration(s.stop.timeout)));
    if let Some(c) = &s.stop.command {
        put("stop_command", json!(text(c)));
    }
    if let Some(p) = &s.pidfile {
        put("pidfile", json!(p.display().to_string()));
    }
    if let Some(p) = &s.matches {
        put("match", json!(p.as_str()));
    }
    put("critical", json!(s.critical));
    put("autostart", json!(s.autostart));
    put(
        "log",
        json!({"max_size": format_size(s.log.max_size), "keep": s.log.keep}),
    );
    let mut export = Map::new();
    if let Some(image) = &s.export.image {
        export.insert("image".into(), json!(image));
    }
    export.insert("replicas".into(), json!(s.export.replicas));
    put("export", Value::Object(export));
    if let Some(w) = &s.watch {
        put(
            "watch",
            json!({
                "paths": w.paths.iter().map(|p| escape(p)).collect::<Vec<_>>(),
                "ignore": w.ignore.iter().map(|p| escape(p)).collect::<Vec<_>>(),
                "debounce": format_duration(w.debounce),
                "gitignore": w.gitignore,
            }),
        );
    }
    Value::Object(out)
}

fn ranges(list: &RangeList) -> Value {
    json!(
        list.ranges()
            .iter()
            .map(|&(a, b)| if a == b {
                json!(a)
            } else {
                json!(format!("{a}-{b}"))
            })
            .collect::<Vec<_>>()
    )
}

/// `$` written as `$$` so that loading the output again yields the same text.
fn escape(text: &str) -> String {
    text.replace('$', "$$")
}
