//! A docker compose file: per service its `image`, `command`, `environment`, `ports`,
//! `depends_on` with conditions, a `healthcheck` from `health` (or the port), `restart`,
//! `stop_signal`, `stop_grace_period` and `deploy.replicas`.

use super::{Exported, File, Notes, Options, argv, environment, host_port};
use crate::config::units::format_duration;
use crate::stack::health::Probe;
use crate::stack::service::{Command, Condition, RestartMode};
use crate::stack::{Service, Stack};
use crate::yaml_writer::to_yaml;
use serde_json::{Map, Value, json};

pub fn export(stack: &Stack, options: &Options) -> Result<Exported, String> {
    let mut notes = Notes::default();
    let services = super::without_image(stack, options, &mut notes)?;
    let exported: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
    let mut out = Map::new();
    for s in &services {
        out.insert(s.name.clone(), service(stack, s, &exported, &mut notes));
    }
    let body = to_yaml(&json!({"services": out}));
    Ok(Exported {
        files: vec![File {
            name: "compose.yaml".to_string(),
            text: format!(
                "# The {} stack, exported by `berth export compose`.\n{body}",
                stack.project
            ),
        }],
        notes: notes.into_vec(),
    })
}

/// compose interpolates `$`: a literal one is `$$`.
fn escape(text: &str) -> String {
    text.replace('$', "$$")
}

fn service(stack: &Stack, s: &Service, exported: &[&str], notes: &mut Notes) -> Value {
    let mut out = Map::new();
    let mut put = |k: &str, v: Value| {
        out.insert(k.to_string(), v);
    };
    put("image", json!(s.export.image));
    put(
        "command",
        json!(
            argv(stack, &s.command)
                .iter()
                .map(|a| escape(a))
                .collect::<Vec<_>>()
        ),
    );
    let env = environment(stack, s);
    if !env.is_empty() {
        put(
            "environment",
            Value::Object(
                env.iter()
                    .map(|(k, v)| (k.clone(), json!(escape(v))))
                    .collect(),
            ),
        );
    }
    if let Some(port) = s.port {
        // The long form: YAML 1.1 readers take a short `80:30` for a number in base 60.
        put("ports", json!([{"target": port, "published": port}]));
    }
    let mut deps = Map::new();
    for d in &s.depends_on {
        if !exported.contains(&d.service.as_str()) {
            notes.add(
                &s.name,
                &format!("depends_on.{}", d.service),
                "the dependency is not exported; left out",
            );
            continue;
        }
        let dep = stack
            .service(&d.service)
            .expect("a stack's dependencies exist");
        let condition = match d.condition {
            Condition::Started => "service_started",
            Condition::Completed => "service_completed_successfully",
            Condition::Healthy if healthcheck(stack, dep).is_some() => "service_healthy",
            Condition::Healthy => "service_started",
        };
        deps.insert(d.service.clone(), json!({"condition": condition}));
    }
    if !deps.is_empty() {
        put("depends_on", Value::Object(deps));
    }
    if let Some(check) = healthcheck(stack, s) {
        put("healthcheck", check);
    }
    put(
        "restart",
        json!(match s.restart.mode {
            RestartMode::OnFailure => "on-failure",
            RestartMode::Always => "always",
            RestartMode::Never => "no",
        }),
    );
    put("stop_signal", json!(format!("SIG{}", s.stop.signal.name())));
    put("stop_grace_period", json!(format_duration(s.stop.timeout)));
    if s.export.replicas > 1 {
        put("deploy", json!({"replicas": s.export.replicas}));
        if s.port.is_some() {
            notes.add(&s.name, "export.replicas", "copies cannot all publish the same host port; drop `ports` or put a proxy in front");
        }
    }
    lost(stack, s, notes);
    Value::Object(out)
}

/// The check as the container runs it: the command itself for `exec`, `wget` for `http` and
/// `nc -z` for `tcp` or the port (so the image needs those, as busybox and most bases have).
fn healthcheck(stack: &Stack, s: &Service) -> Option<Value> {
    let test = match s.health.as_ref().map(|h| &h.probe) {
        Some(Probe::Exec {
            command: Command::Exec(args),
        }) => {
            let mut test = vec!["CMD".to_string()];
            test.extend(args.iter().map(|a| escape(&super::render(stack, a))));
            test
        }
        Some(Probe::Exec {
            command: Command::Shell(line),
        }) => {
            vec!["CMD-SHELL".to_string(), escape(&super::render(stack, line))]
        }
        Some(Probe::Http { url, .. }) => vec![
            "CMD-SHELL".to_string(),
            format!(
                "wget -q -O /dev/null '{}' || exit 1",
                escape(&super::render(stack, url))
            ),
        ],
        Some(Probe::Tcp { address }) => {
            let (host, port) = host_port(&super::render(stack, address))?;
            vec![
                "CMD-SHELL".to_string(),
                format!("nc -z {host} {port} || exit 1"),
            ]
        }
        None => vec![
            "CMD-SHELL".to_string(),
            format!("nc -z 127.0.0.1 {} || exit 1", s.port?),
        ],
    };
    let mut check = json!({"test": test});
    if let Some(h) = &s.health {
        check["interval"] = json!(format_duration(h.interval));
        check["timeout"] = json!(format_duration(h.timeout));
        check["retries"] = json!(h.retries);
    }
    Some(check)
}

fn lost(stack: &Stack, s: &Service, notes: &mut Notes) {
    if let Some(Probe::Http { status, .. }) = s.health.as_ref().map(|h| &h.probe)
        && status != &crate::stack::health::default_status()
    {
        notes.add(&s.name, "health.status", "wget takes any 2xx as healthy");
    }
    if !s.cwd.parts().is_empty() {
        notes.add(
            &s.name,
            "cwd",
            "a path of this machine; the image sets the working directory",
        );
    }
    if s.ready_log.is_some() {
        notes.add(&s.name, "ready_log", "compose cannot wait for a log line");
    }
    if s.stop.command.is_some() {
        notes.add(
            &s.name,
            "stop_command",
            "compose stops with stop_signal only",
        );
    }
    if super::local_references(stack, s) {
        notes.add(&s.name, "env", "refers to other services by 127.0.0.1 and their port; in compose they are found by service name");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_are_escaped_for_compose() {
        assert_eq!(escape("a $HOME $$"), "a $$HOME $$$$");
    }
}
