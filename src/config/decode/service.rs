//! Decoding one service: every key of the service table in SPEC.md, with its default.

use super::env_files;
use crate::config::interpolate::Scope;
use crate::config::keys;
use crate::config::reader::{Reader, at};
use crate::config::source::Span;
use crate::config::yaml::{Kind, Node};
use crate::stack::Service;
use crate::stack::ranges::RangeList;
use crate::stack::service::{
    Condition, Dependency, LogPolicy, RestartMode, RestartPolicy, StopPolicy, defaults,
};
use crate::stack::signal::Signal;
use crate::stack::template::Template;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// What every service's decoding can see.
pub struct Context<'a> {
    pub dir: &'a Path,
    /// The environment `${VAR}` falls back to.
    pub process_env: &'a BTreeMap<String, String>,
    /// Variables of the top-level (and profile) env files.
    pub top_files: BTreeMap<String, String>,
    /// Top-level `env` entries; interpolated per service, so `${name}` works there.
    pub top_env: Vec<(&'a str, &'a Node, &'a Node)>,
    /// Every service and its configured port.
    pub ports: BTreeMap<String, Option<u16>>,
}

/// What cross-service rules need of a service, read before anything else so that those
/// rules run even when other keys of the service are wrong.
pub struct Outline<'n> {
    pub name: &'n str,
    pub name_span: Span,
    pub node: &'n Node,
    pub port: Option<u16>,
    pub port_span: Option<Span>,
    pub depends_on: Vec<Dependency>,
    /// Each dependency's position, in `depends_on` order.
    pub dep_spans: Vec<Span>,
}

pub fn outline<'n>(r: &mut Reader, name: &'n str, key: &Node, node: &'n Node) -> Outline<'n> {
    let path = format!("services.{name}");
    let port_node = node.get("port");
    let (depends_on, dep_spans) =
        dependencies(r, node.get("depends_on"), &format!("{path}.depends_on"));
    Outline {
        name,
        name_span: key.span,
        node,
        port: port_node.and_then(|p| r.port(p, &format!("{path}.port"))),
        port_span: port_node.map(|n| n.span),
        depends_on,
        dep_spans,
    }
}

pub fn decode(r: &mut Reader, ctx: &Context, outline: &Outline) -> Option<Service> {
    let name = outline.name;
    let path = format!("services.{name}");
    let fields = r.map(outline.node, &path, keys::SERVICE)?;
    let p = |k: &str| format!("{path}.{k}");
    let start_errors = r.diags.len();

    let service_files = fields
        .get("env_file")
        .map(|n| env_files(r, n, &p("env_file"), ctx.dir, ctx.process_env))
        .unwrap_or_default();
    let layers = [&service_files, &ctx.top_files, ctx.process_env];
    let scope = Scope {
        service: Some(name),
        ports: &ctx.ports,
        vars: &layers,
    };

    let command = match fields.get("command") {
        Some(n) => r.command(n, &p("command"), &scope),
        None => {
            r.error(
                outline.name_span,
                format!("{path}: missing `command`: what to run, e.g. `command: ./server --port ${{port}}`"),
            );
            None
        }
    };
    let cwd = match fields.get("cwd") {
        Some(n) => r.template(n, &p("cwd"), &scope),
        None => Some(Template::default()),
    };
    let env = environment(r, ctx, &fields, &path, &scope, &service_files);

    let alt_ports = match fields.entry("alt_ports") {
        Some((k, n)) => {
            let ranges = r.ranges(n, &p("alt_ports"), 1, 65535);
            if fields.get("port").is_none() {
                r.error(
                    k.span,
                    format!("{path}: `alt_ports` needs `port`, the port to try first"),
                );
            }
            ranges
        }
        None => Some(RangeList::default()),
    };
    let health = fields
        .get("health")
        .map(|n| super::health::decode(r, n, &p("health"), &scope, &ctx.ports));

    let duration = |r: &mut Reader, k: &str, default: Duration| match fields.get(k) {
        Some(n) => r.duration(n, &p(k)),
        None => Some(default),
    };
    let positive = |r: &mut Reader, k: &str, default: Duration| match fields.get(k) {
        Some(n) => r.positive_duration(n, &p(k)),
        None => Some(default),
    };
    let flag = |r: &mut Reader, k: &str, default: bool| match fields.get(k) {
        Some(n) => r.bool(n, &p(k)),
        None => Some(default),
    };
    let ready_log = fields
        .get("ready_log")
        .map(|n| r.pattern(n, &p("ready_log")));
    let notify = flag(r, "notify", false);
    let start_timeout = positive(r, "start_timeout", defaults::START_TIMEOUT);
    let restart = restart_policy(r, &fields, &path);
    let success_codes = match fields.get("success_codes") {
        Some(n) => {
            let items = r.one_or_many(n);
            let codes: Vec<_> = items
                .iter()
                .map(|i| r.int(i, &p("success_codes"), 0, 255).map(|c| c as i32))
                .collect();
            codes.into_iter().collect::<Option<Vec<_>>>()
        }
        None => Some(vec![0]),
    };
    let stop_signal = match fields.get("stop_signal") {
        Some(n) => r.signal(n, &p("stop_signal")),
        None => Some(Signal::TERM),
    };
    let stop_timeout = duration(r, "stop_timeout", defaults::STOP_TIMEOUT);
    let stop_command = fields
        .get("stop_command")
        .map(|n| r.template(n, &p("stop_command"), &scope));
    let pidfile = fields
        .get("pidfile")
        .map(|n| r.string(n, &p("pidfile")).map(Into::into));
    let matches = fields.get("match").map(|n| r.pattern(n, &p("match")));
    let critical = flag(r, "critical", true);
    let autostart = flag(r, "autostart", true);
    let log = log_policy(r, fields.get("log"), &p("log"));

    if r.diags.len() > start_errors {
        return None;
    }
    Some(Service {
        name: name.to_string(),
        command: command?,
        cwd: cwd?,
        env: env?,
        port: outline.port,
        alt_ports: alt_ports?,
        depends_on: outline.depends_on.clone(),
        health: health.flatten(),
        ready_log: ready_log.flatten(),
        notify: notify?,
        start_timeout: start_timeout?,
        restart: restart?,
        success_codes: success_codes?,
        stop: StopPolicy {
            signal: stop_signal?,
            timeout: stop_timeout?,
            command: stop_command.flatten(),
        },
        pidfile: pidfile.flatten(),
        matches: matches.flatten(),
        critical: critical?,
        autostart: autostart?,
        log: log?,
    })
}

/// The service's variables, lowest precedence first: top-level env files, top-level `env`
/// (profile entries already merged in), the service's env files, the service's `env`.
fn environment(
    r: &mut Reader,
    ctx: &Context,
    fields: &crate::config::reader::Fields,
    path: &str,
    scope: &Scope,
    service_files: &BTreeMap<String, String>,
) -> Option<BTreeMap<String, Template>> {
    let mut env: BTreeMap<String, Template> = ctx
        .top_files
        .iter()
        .map(|(k, v)| (k.clone(), Template::literal(v)))
        .collect();
    let own = match fields.get("env") {
        Some(n) => r.entries(n, &format!("{path}.env"))?,
        None => Vec::new(),
    };
    let mut ok = true;
    let mut put = |r: &mut Reader,
                   env: &mut BTreeMap<String, Template>,
                   entries: &[(&str, &Node, &Node)],
                   path: &str| {
        for (name, key, value) in entries {
            if name.is_empty() || name.contains(['=', '\0']) {
                r.error(
                    key.span,
                    at(path, format!("invalid variable name `{name}`")),
                );
                ok = false;
                continue;
            }
            let template = match value.kind {
                Kind::Null => Some(Template::default()),
                _ => r.template(value, &format!("{path}.{name}"), scope),
            };
            match template {
                Some(t) => {
                    env.insert(name.to_string(), t);
                }
                None => ok = false,
            }
        }
    };
    put(r, &mut env, &ctx.top_env, "env");
    env.extend(
        service_files
            .iter()
            .map(|(k, v)| (k.clone(), Template::literal(v))),
    );
    put(r, &mut env, &own, &format!("{path}.env"));
    ok.then_some(env)
}

/// `depends_on: [a, b]` or `depends_on: {a: {condition: healthy}}`; the default is `healthy`.
fn dependencies(r: &mut Reader, node: Option<&Node>, path: &str) -> (Vec<Dependency>, Vec<Span>) {
    let mut deps = Vec::new();
    let mut spans = Vec::new();
    let Some(node) = node else {
        return (deps, spans);
    };
    let mut add = |name: &str, span: Span, condition: Condition| {
        deps.push(Dependency {
            service: name.to_string(),
            condition,
        });
        spans.push(span);
    };
    match &node.kind {
        Kind::Map(_) => {
            for (name, key, value) in r.entries(node, path).unwrap_or_default() {
                let condition = match value.kind {
                    Kind::Null => Some(Condition::Healthy),
                    _ => r
                        .map(value, &format!("{path}.{name}"), keys::DEPENDENCY)
                        .and_then(|f| match f.get("condition") {
                            Some(c) => r.choice(
                                c,
                                &format!("{path}.{name}.condition"),
                                &Condition::NAMES,
                                Condition::parse,
                            ),
                            None => Some(Condition::Healthy),
                        }),
                };
                if let Some(condition) = condition {
                    add(name, key.span, condition);
                }
            }
        }
        _ => {
            for item in r.list(node, path).unwrap_or_default() {
                if let Some(name) = r.string(item, path) {
                    add(name, item.span, Condition::Healthy);
                }
            }
        }
    }
    (deps, spans)
}

fn restart_policy(
    r: &mut Reader,
    fields: &crate::config::reader::Fields,
    path: &str,
) -> Option<RestartPolicy> {
    let p = |k: &str| format!("{path}.{k}");
    let get_duration = |r: &mut Reader, k: &str, default: Duration| match fields.get(k) {
        Some(n) => r.duration(n, &p(k)),
        None => Some(default),
    };
    let mode = match fields.get("restart") {
        Some(n) => r.choice(n, &p("restart"), &RestartMode::NAMES, RestartMode::parse),
        None => Some(RestartMode::OnFailure),
    };
    let delay = get_duration(r, "restart_delay", defaults::RESTART_DELAY);
    let delay_max = get_duration(r, "restart_delay_max", defaults::RESTART_DELAY_MAX);
    let min_uptime = get_duration(r, "min_uptime", defaults::MIN_UPTIME);
    let window = match fields.get("restart_window") {
        Some(n) => r.positive_duration(n, &p("restart_window")),
        None => Some(defaults::RESTART_WINDOW),
    };
    let max_restarts = match fields.get("max_restarts") {
        Some(n) => r.int(n, &p("max_restarts"), 0, 10_000).map(|n| n as u32),
        None => Some(defaults::MAX_RESTARTS),
    };
    let (delay, delay_max) = (delay?, delay_max?);
    if delay > delay_max {
        let span = fields
            .get("restart_delay")
            .or(fields.get("restart_delay_max"))
            .map(|n| n.span)
            .unwrap_or_default();
        r.error(
            span,
            format!(
                "{path}: restart_delay ({}) is longer than restart_delay_max ({}); raise restart_delay_max",
                crate::config::units::format_duration(delay),
                crate::config::units::format_duration(delay_max)
            ),
        );
        return None;
    }
    Some(RestartPolicy {
        mode: mode?,
        delay,
        delay_max,
        min_uptime: min_uptime?,
        max_restarts: max_restarts?,
        window: window?,
    })
}

fn log_policy(r: &mut Reader, node: Option<&Node>, path: &str) -> Option<LogPolicy> {
    let Some(node) = node else {
        return Some(LogPolicy {
            max_size: defaults::LOG_MAX_SIZE,
            keep: defaults::LOG_KEEP,
        });
    };
    let fields = r.map(node, path, keys::LOG)?;
    let max_size = match fields.get("max_size") {
        Some(n) => r.size(n, &format!("{path}.max_size")).filter(|size| {
            let fits = *size >= 1024;
            if !fits {
                r.error(
                    n.span,
                    format!("{path}.max_size: at least 1KiB, so a log line fits"),
                );
            }
            fits
        }),
        None => Some(defaults::LOG_MAX_SIZE),
    };
    let keep = match fields.get("keep") {
        Some(n) => r.int(n, &format!("{path}.keep"), 0, 1000).map(|k| k as u32),
        None => Some(defaults::LOG_KEEP),
    };
    Some(LogPolicy {
        max_size: max_size?,
        keep: keep?,
    })
}
