//! process-compose.yaml: processes with their command, working_dir, environment, env_file,
//! depends_on conditions, probes, ready_log_line, availability, shutdown, disabled, replicas,
//! is_daemon and namespace; the file it `extends` laid under it first.

use super::draft::{Command, Draft, EnvFile, Health, Probe, Service};
use super::leftover::Leftover;
use super::replicas::{self, At, Copies, Source};
use super::tree::Tree;
use crate::stack::service::{Condition, RestartMode};
use crate::stack::signal::Signal;
use std::time::Duration;

/// process-compose tells a replica its number, from 0, in `PC_REPLICA_NUM`; its replicas
/// are separate processes.
const PC_REPLICAS: Source = Source {
    number_var: "PC_REPLICA_NUM",
    shares_port: false,
};

/// Converts the merged tree (base files first) of a process-compose file.
pub fn convert(tree: &Tree, file: &str) -> Result<(Draft, Vec<Leftover>), String> {
    let mut draft = Draft {
        header: vec![format!("Imported from {file} by `berth import`.")],
        ..Draft::default()
    };
    let mut left = Vec::new();
    let processes = tree
        .get("processes")
        .filter(|p| p.is_map())
        .ok_or_else(|| format!("{file}: no `processes:` mapping: nothing to import"))?;
    let names: Vec<&str> = processes
        .entries()
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    for (key, value) in tree.entries() {
        match key.as_str() {
            "processes" | "version" | "log_level" | "extends" => {}
            "environment" => draft.env = environment(value)?,
            other => left.push(top_level(other, value)),
        }
    }
    for (name, body) in processes.entries() {
        draft.services.push(process(name, body, &names, &mut left)?);
    }
    Ok((draft, left))
}

fn top_level(key: &str, value: &Tree) -> Leftover {
    let why = match key {
        "log_location" | "log_configuration" | "log_length" => {
            "berth keeps each service's log in .berth/logs/NAME.log (see `berth logs`)"
        }
        "shell" => "berth runs a command string with `sh -c`",
        "env_cmds" => {
            "berth does not run commands to fill variables; put the values in an env_file"
        }
        "vars" => "berth has no template variables; write the values in",
        "is_strict" => "berth always refuses unknown keys",
        "ordered_shutdown" => "berth always stops dependents first",
        "disable_env_expansion" => "berth expands `${VAR}`; the import escaped none",
        _ => "no berth equivalent",
    };
    Leftover::new(value.file(), Some(value.line()), key, why)
}

fn process(
    name: &str,
    body: &Tree,
    names: &[&str],
    left: &mut Vec<Leftover>,
) -> Result<Service, String> {
    let command = body
        .get("command")
        .ok_or_else(|| format!("{}: process `{name}` has no `command`", body.at()))?
        .text(&format!("processes.{name}.command"))?;
    let mut svc = Service::new(name, Command::Shell(expanded(command)));
    let mut note = |leftover: Leftover| left.push(leftover.on(name));
    for (key, value) in body.entries() {
        let what = format!("processes.{name}.{key}");
        let here = |why: &str| Leftover::new(value.file(), Some(value.line()), key, why);
        match key.as_str() {
            "command" => {}
            "description" => svc.comments.push(value.text(&what)?.to_string()),
            "working_dir" => svc.cwd = Some(expanded(value.text(&what)?)),
            "environment" => svc.env = environment(value)?,
            "env_file" => {
                svc.env_file = value
                    .strings(&what)?
                    .into_iter()
                    .map(|p| EnvFile {
                        path: p.to_string(),
                        required: true,
                    })
                    .collect()
            }
            "depends_on" => svc.depends_on = depends_on(name, value, names, &mut note)?,
            "readiness_probe" | "liveness_probe" => {}
            "ready_log_line" => svc.ready_log = Some(regex::escape(value.text(&what)?)),
            "availability" => availability(&mut svc, value, &mut note)?,
            "shutdown" => shutdown(&mut svc, value, &mut note)?,
            "disabled" => {
                if value.bool(&what)? {
                    svc.autostart = Some(false);
                }
            }
            "replicas" => {
                let n = value.number(&what)?;
                let at = At {
                    file: value.file(),
                    line: Some(value.line()),
                    key,
                    service: name,
                };
                let mapped = replicas::convert(Copies::Exactly(n), 1, &PC_REPLICAS, &at);
                svc.replicas = mapped.replicas;
                if mapped.no_autostart {
                    svc.autostart = Some(false);
                }
                mapped.notes.into_iter().for_each(&mut note);
            }
            "is_daemon" => {
                if value.bool(&what)? {
                    note(here(
                        "the command forks into the background: berth follows such a command through `pidfile:`, the file it writes its pid to",
                    ));
                }
            }
            "namespace" => {
                let ns = value.text(&what)?;
                note(here(&format!("`{ns}`: berth has no namespaces")));
            }
            "log_location" | "log_configuration" => note(here(
                "berth keeps each service's log in .berth/logs/NAME.log",
            )),
            "is_tty" | "is_interactive" => note(here("berth gives services no terminal")),
            "vars" => note(here("berth has no template variables; write the values in")),
            "entrypoint" => note(here(
                "berth runs a command string with `sh -c`; put the entrypoint into `command`",
            )),
            _ => note(here("no berth equivalent")),
        }
    }
    if !matches!(
        svc.restart,
        Some(RestartMode::Always | RestartMode::OnFailure)
    ) {
        // process-compose's default is `restart: no`; berth's is on-failure.
        svc.restart = Some(RestartMode::Never);
        if svc.restart_delay.is_some() || svc.max_restarts.is_some() {
            svc.restart_delay = None;
            svc.restart_delay_max = None;
            svc.max_restarts = None;
        }
    }
    svc.health = probes(body, &mut note)?;
    Ok(svc)
}

/// `${VAR}` is expanded by process-compose when it loads the file, an unset one to nothing:
/// `${VAR:-}` says the same to berth. `${PC_PROC_NAME}` is berth's `${name}`.
fn expanded(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str("$$");
            rest = &rest[start + 1..];
            continue;
        };
        let inner = &after[..end];
        if inner == "PC_PROC_NAME" {
            out.push_str("${name}");
        } else if inner.contains([':', '-', '?']) {
            out.push_str(&format!("${{{inner}}}"));
        } else {
            out.push_str(&format!("${{{inner}:-}}"));
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// `environment: ["K=V", …]` (or a mapping).
fn environment(value: &Tree) -> Result<Vec<(String, String)>, String> {
    if value.is_map() {
        return value
            .entries()
            .iter()
            .map(|(k, v)| Ok((k.clone(), expanded(v.text(k)?))))
            .collect();
    }
    value
        .items()
        .iter()
        .map(|item| {
            let text = item.text("environment")?;
            let (k, v) = text.split_once('=').ok_or_else(|| {
                format!(
                    "{}: environment: expected `NAME=VALUE`, found {text:?}",
                    item.at()
                )
            })?;
            Ok((k.to_string(), expanded(v)))
        })
        .collect()
}

/// The process-compose condition a berth condition stands for, and what is lost on the way.
pub fn condition(text: &str) -> Option<(Condition, Option<&'static str>)> {
    Some(match text {
        "process_started" => (Condition::Started, None),
        "process_healthy" => (Condition::Healthy, None),
        "process_log_ready" => (Condition::Healthy, None),
        "process_completed_successfully" => (Condition::Completed, None),
        "process_completed" => (
            Condition::Completed,
            Some(
                "berth's `completed` needs an exit code of `success_codes` (default 0); list the codes the dependency may end with there",
            ),
        ),
        _ => return None,
    })
}

fn depends_on(
    name: &str,
    value: &Tree,
    names: &[&str],
    note: &mut dyn FnMut(Leftover),
) -> Result<Vec<(String, Condition)>, String> {
    let mut deps = Vec::new();
    for (dep, body) in value.entries() {
        if !names.contains(&dep.as_str()) {
            note(Leftover::new(
                body.file(),
                Some(body.line()),
                &format!("depends_on.{dep}"),
                "no such process in the file; left out",
            ));
            continue;
        }
        let (cond, lost) = match body.get("condition") {
            None => (Condition::Started, None),
            Some(c) => {
                let text = c.text(&format!("processes.{name}.depends_on.{dep}.condition"))?;
                condition(text).ok_or_else(|| {
                    format!("{}: unknown condition `{text}`; process-compose has process_started, process_healthy, process_completed, process_completed_successfully and process_log_ready", c.at())
                })?
            }
        };
        if let Some(why) = lost {
            note(Leftover::new(
                body.file(),
                Some(body.line()),
                &format!("depends_on.{dep}.condition"),
                why,
            ));
        }
        deps.push((dep.clone(), cond));
    }
    Ok(deps)
}

fn seconds(value: &Tree, what: &str) -> Result<Duration, String> {
    let text = value.text(what)?;
    let secs: f64 = text
        .parse()
        .ok()
        .filter(|s: &f64| *s >= 0.0 && s.is_finite())
        .ok_or_else(|| {
            format!(
                "{}: {what}: expected a number of seconds, found {text:?}",
                value.at()
            )
        })?;
    Ok(Duration::from_millis((secs * 1000.0).round() as u64))
}

/// `availability`: `restart` (always, on_failure, exit_on_failure, no), `backoff_seconds` (a
/// fixed delay: berth's first delay and its cap both), `max_restarts` (0: no limit).
fn availability(
    svc: &mut Service,
    value: &Tree,
    note: &mut dyn FnMut(Leftover),
) -> Result<(), String> {
    for (key, v) in value.entries() {
        let what = format!("availability.{key}");
        let here = |why: &str| Leftover::new(v.file(), Some(v.line()), &what, why);
        match key.as_str() {
            "restart" => {
                let text = v.text(&what)?;
                let (mode, lost) = restart(text).ok_or_else(|| {
                    format!("{}: {what}: unknown policy `{text}`; process-compose has always, on_failure, exit_on_failure and no", v.at())
                })?;
                svc.restart = Some(mode);
                if let Some(why) = lost {
                    note(here(why));
                }
            }
            "backoff_seconds" => {
                let d = seconds(v, &what)?;
                svc.restart_delay = Some(d);
                svc.restart_delay_max = Some(d);
            }
            "max_restarts" => {
                let n = v.number(&what)?;
                // 0 is "no limit" there; berth's highest limit is 10000 within restart_window.
                svc.max_restarts = Some(if n == 0 { 10_000 } else { n.min(10_000) as u32 });
            }
            "exit_on_end" => note(here("berth does not stop the stack when one service ends")),
            "exit_on_skipped" => note(here(
                "berth does not stop the stack when a service is skipped",
            )),
            _ => note(here("no berth equivalent")),
        }
    }
    Ok(())
}

/// process-compose's restart policy as berth's, and what is lost on the way.
pub fn restart(text: &str) -> Option<(RestartMode, Option<&'static str>)> {
    Some(match text {
        "always" => (RestartMode::Always, None),
        "on_failure" => (RestartMode::OnFailure, None),
        "no" => (RestartMode::Never, None),
        "exit_on_failure" => (
            RestartMode::Never,
            Some(
                "`exit_on_failure` stops the whole stack on a failure; berth only marks the service failed",
            ),
        ),
        _ => return None,
    })
}

fn shutdown(svc: &mut Service, value: &Tree, note: &mut dyn FnMut(Leftover)) -> Result<(), String> {
    for (key, v) in value.entries() {
        let what = format!("shutdown.{key}");
        match key.as_str() {
            "signal" => {
                let text = v.text(&what)?;
                let signal: Signal = text
                    .parse()
                    .map_err(|e| format!("{}: {what}: {e}", v.at()))?;
                svc.stop_signal = Some(signal.name().to_string());
            }
            "command" => svc.stop_command = Some(expanded(v.text(&what)?)),
            "timeout_seconds" => svc.stop_timeout = Some(seconds(v, &what)?),
            "parent_only" => note(Leftover::new(
                v.file(),
                Some(v.line()),
                &what,
                "berth stops every process of the service",
            )),
            _ => note(Leftover::new(
                v.file(),
                Some(v.line()),
                &what,
                "no berth equivalent",
            )),
        }
    }
    Ok(())
}

/// berth has one health check, which gates readiness and watches liveness: the readiness
/// probe when there is one, else the liveness probe. A second, different one is listed.
fn probes(body: &Tree, note: &mut dyn FnMut(Leftover)) -> Result<Option<Health>, String> {
    let readiness = body
        .get("readiness_probe")
        .map(|p| probe("readiness_probe", p, note))
        .transpose()?;
    let liveness = body
        .get("liveness_probe")
        .map(|p| probe("liveness_probe", p, note))
        .transpose()?;
    Ok(match (readiness.flatten(), liveness.flatten()) {
        (Some(r), Some(l)) => {
            if r != l {
                let p = body.get("liveness_probe").expect("read above");
                note(Leftover::new(
                    p.file(),
                    Some(p.line()),
                    "liveness_probe",
                    "berth has one health check, for readiness and liveness both; the readiness probe is kept",
                ));
            }
            Some(r)
        }
        (r, l) => r.or(l),
    })
}

/// One probe: `http_get` or `exec`, with the timing keys berth has (`period_seconds` →
/// `interval`, `timeout_seconds` → `timeout`, `failure_threshold` → `retries`).
fn probe(which: &str, p: &Tree, note: &mut dyn FnMut(Leftover)) -> Result<Option<Health>, String> {
    let mut health = Health {
        probe: Probe::Http(String::new()),
        interval: None,
        timeout: None,
        retries: None,
    };
    let mut kind = None;
    for (key, v) in p.entries() {
        let what = format!("{which}.{key}");
        let here = |why: &str| Leftover::new(v.file(), Some(v.line()), &what, why);
        match key.as_str() {
            "http_get" => match http_get(v, &what)? {
                Ok(url) => kind = Some(Probe::Http(url)),
                Err(why) => note(here(why)),
            },
            "exec" => {
                let command = v
                    .get("command")
                    .ok_or_else(|| format!("{}: {what}: no `command`", v.at()))?;
                kind = Some(Probe::Exec(expanded(command.text(&what)?)));
                if let Some(dir) = v.get("working_dir") {
                    note(Leftover::new(
                        dir.file(),
                        Some(dir.line()),
                        &format!("{what}.working_dir"),
                        "berth runs a health command in the service's cwd",
                    ));
                }
            }
            "period_seconds" => health.interval = Some(seconds(v, &what)?).filter(|d| !d.is_zero()),
            "timeout_seconds" => health.timeout = Some(seconds(v, &what)?).filter(|d| !d.is_zero()),
            "failure_threshold" => health.retries = Some(v.number(&what)?.clamp(1, 1000) as u32),
            "success_threshold" => {
                if v.number(&what)? > 1 {
                    note(here("berth counts one passing check as healthy"));
                }
            }
            "initial_delay_seconds" => {
                if !seconds(v, &what)?.is_zero() {
                    note(here(
                        "berth checks from the start and waits up to `start_timeout` for a pass",
                    ));
                }
            }
            _ => note(here("no berth equivalent")),
        }
    }
    Ok(kind.map(|probe| Health { probe, ..health }))
}

/// `http_get: {host, scheme, path, port}` as a URL; `Err` with the reason for what berth's
/// checks cannot do.
fn http_get(v: &Tree, what: &str) -> Result<Result<String, &'static str>, String> {
    let field = |k: &str| v.get(k).map(|t| t.text(&format!("{what}.{k}"))).transpose();
    let scheme = field("scheme")?.unwrap_or("http");
    if !scheme.eq_ignore_ascii_case("http") {
        return Ok(Err(
            "berth's HTTP checks speak plain http only; use an exec check (e.g. curl)",
        ));
    }
    let host = field("host")?.unwrap_or("127.0.0.1");
    let port = v
        .get("port")
        .ok_or_else(|| format!("{}: {what}: no `port`", v.at()))?
        .text(&format!("{what}.port"))?;
    let path = field("path")?.unwrap_or("/");
    let slash = if path.starts_with('/') { "" } else { "/" };
    Ok(Ok(expanded(&format!("http://{host}:{port}{slash}{path}"))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::tree::parse;

    fn convert_text(text: &str) -> (Draft, Vec<Leftover>) {
        let p = parse("pc.yaml", text).unwrap();
        convert(&Tree::of(&p), "pc.yaml").unwrap()
    }

    #[test]
    fn every_dependency_condition_is_pinned() {
        assert_eq!(
            condition("process_started"),
            Some((Condition::Started, None))
        );
        assert_eq!(
            condition("process_healthy"),
            Some((Condition::Healthy, None))
        );
        assert_eq!(
            condition("process_log_ready"),
            Some((Condition::Healthy, None))
        );
        assert_eq!(
            condition("process_completed_successfully"),
            Some((Condition::Completed, None))
        );
        let (c, lost) = condition("process_completed").unwrap();
        assert_eq!(c, Condition::Completed);
        assert!(lost.unwrap().contains("success_codes"));
        assert_eq!(condition("process_ready"), None);
    }

    #[test]
    fn every_restart_policy_is_pinned() {
        assert_eq!(restart("always"), Some((RestartMode::Always, None)));
        assert_eq!(restart("on_failure"), Some((RestartMode::OnFailure, None)));
        assert_eq!(restart("no"), Some((RestartMode::Never, None)));
        let (m, lost) = restart("exit_on_failure").unwrap();
        assert_eq!(m, RestartMode::Never);
        assert!(lost.is_some());
        assert_eq!(restart("sometimes"), None);
    }

    #[test]
    fn availability_keys_are_pinned() {
        let (d, left) = convert_text(
            "processes:\n  a:\n    command: x\n    availability: { restart: on_failure, backoff_seconds: 2, max_restarts: 4, exit_on_end: true }\n  b:\n    command: y\n    availability: { restart: always, max_restarts: 0 }\n  c:\n    command: z\n",
        );
        let a = &d.services[0];
        assert_eq!(a.restart, Some(RestartMode::OnFailure));
        assert_eq!(a.restart_delay, Some(Duration::from_secs(2)));
        assert_eq!(a.restart_delay_max, Some(Duration::from_secs(2)));
        assert_eq!(a.max_restarts, Some(4));
        assert_eq!(d.services[1].max_restarts, Some(10_000));
        assert_eq!(
            d.services[2].restart,
            Some(RestartMode::Never),
            "process-compose's default is no"
        );
        assert_eq!(left.len(), 1);
        assert_eq!(
            (left[0].key.as_str(), left[0].line),
            ("availability.exit_on_end", Some(4))
        );
    }

    #[test]
    fn probe_keys_are_pinned() {
        let (d, left) = convert_text(
            "processes:\n  a:\n    command: x\n    readiness_probe:\n      http_get: { host: 127.0.0.1, scheme: http, path: /ready, port: 8080 }\n      initial_delay_seconds: 5\n      period_seconds: 3\n      timeout_seconds: 1\n      success_threshold: 2\n      failure_threshold: 4\n    liveness_probe:\n      exec: { command: pg_isready }\n",
        );
        let h = d.services[0].health.as_ref().unwrap();
        assert_eq!(h.probe, Probe::Http("http://127.0.0.1:8080/ready".into()));
        assert_eq!(h.interval, Some(Duration::from_secs(3)));
        assert_eq!(h.timeout, Some(Duration::from_secs(1)));
        assert_eq!(h.retries, Some(4));
        let keys: Vec<_> = left.iter().map(|l| (l.key.as_str(), l.line)).collect();
        assert_eq!(
            keys,
            [
                ("readiness_probe.initial_delay_seconds", Some(6)),
                ("readiness_probe.success_threshold", Some(9)),
                ("liveness_probe", Some(12)),
            ]
        );
        let (d, _) = convert_text(
            "processes:\n  a:\n    command: x\n    liveness_probe:\n      exec: { command: \"pg_isready -p ${PGPORT}\" }\n",
        );
        assert_eq!(
            d.services[0].health.as_ref().unwrap().probe,
            Probe::Exec("pg_isready -p ${PGPORT:-}".into())
        );
        let (d, left) = convert_text(
            "processes:\n  a:\n    command: x\n    readiness_probe:\n      http_get: { scheme: https, port: 443 }\n",
        );
        assert_eq!(d.services[0].health, None);
        assert_eq!(left[0].key, "readiness_probe.http_get");
    }

    #[test]
    fn load_time_expansion_is_kept() {
        assert_eq!(
            expanded("a ${X} ${Y:-d} ${PC_PROC_NAME} $Z"),
            "a ${X:-} ${Y:-d} ${name} $Z"
        );
        assert_eq!(expanded("${open"), "$${open");
    }
}
