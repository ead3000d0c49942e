//! Decoding one service: every key of the service table in SPEC.md, with its default.

use super::env_files;
use crate::config::interpolate::Scope;
use crate::config::keys;
use crate::config::reader::{Fields, Reader, at};
use crate::config::source::Span;
use crate::config::yaml::{Kind, Node};
use crate::stack::Service;
use crate::stack::health::Probe;
use crate::stack::ranges::RangeList;
use crate::stack::replicas::MAX;
use crate::stack::service::{
    Condition, Dependency, Export, LogPolicy, RestartMode, RestartPolicy, StopPolicy, defaults,
};
use crate::stack::signal::Signal;
use crate::stack::template::Template;
use std::collections::BTreeMap;
use std::path::Path;

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
    /// `replicas`, and where it was written.
    pub replicas: Option<(u32, Span)>,
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
        replicas: node
            .get("replicas")
            .and_then(|n| replicas(r, n, &format!("{path}.replicas")).map(|c| (c, n.span))),
    }
}

/// `replicas: N`, 1 to `replicas::MAX`; 0 is refused with the ways to have no instance.
fn replicas(r: &mut Reader, node: &Node, path: &str) -> Option<u32> {
    if node
        .scalar()
        .is_none_or(|t| t.trim().parse::<i64>() != Ok(0))
    {
        return r.int(node, path, 1, i64::from(MAX)).map(|c| c as u32);
    }
    r.error(
        node.span,
        at(
            path,
            "0 instances: a service runs at least one; to keep it defined without starting it, use `autostart: false`",
        ),
    );
    None
}

/// `${replica}` stands only in `command`, `env` and `cwd` of a service with `replicas`:
/// anywhere else, one value for all instances is read.
fn replica_refs(r: &mut Reader, fields: &Fields, service: &Service, replicated: bool, path: &str) {
    let mut placed: Vec<(&str, bool)> = vec![
        (
            "command",
            service.command.templates().iter().any(|t| t.uses_replica()),
        ),
        ("cwd", service.cwd.uses_replica()),
        ("env", service.env.values().any(Template::uses_replica)),
    ];
    let elsewhere = [
        (
            "stop_command",
            service
                .stop
                .command
                .as_ref()
                .is_some_and(Template::uses_replica),
        ),
        (
            "health",
            service.health.as_ref().is_some_and(|h| match &h.probe {
                Probe::Http { url, .. } => url.uses_replica(),
                Probe::Tcp { address } => address.uses_replica(),
                Probe::Exec { command } => command.templates().iter().any(|t| t.uses_replica()),
            }),
        ),
    ];
    if replicated {
        placed.clear();
    }
    for (key, uses) in placed.into_iter().chain(elsewhere) {
        let Some(node) = fields.get(key).filter(|_| uses) else {
            continue;
        };
        let why = if replicated {
            "only `command`, `env` and `cwd` may use it"
        } else {
            "this service has no `replicas`"
        };
        r.error(
            node.span,
            format!("{path}.{key}: `${{replica}}` is the instance's number, and {why}"),
        );
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
        .map(|n| env_files(r, n, &p("env_file"), ctx.process_env))
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
        Some(n) => r
            .template(n, &p("cwd"), &scope)
            .map(|t| r.from_root(t, n.span)),
        None => Some(r.from_root(Template::default(), outline.name_span)),
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

    let ready_log = fields
        .get("ready_log")
        .map(|n| r.pattern(n, &p("ready_log")));
    let notify = r.key_or(&fields, &path, "notify", false, Reader::bool);
    let start_timeout = r.key_or(
        &fields,
        &path,
        "start_timeout",
        defaults::START_TIMEOUT,
        Reader::positive_duration,
    );
    let restart = restart_policy(r, &fields, &path);
    let success_codes = r.key_or(&fields, &path, "success_codes", vec![0], |r, n, p| {
        let items = r.one_or_many(n);
        let codes: Vec<_> = items
            .iter()
            .map(|i| r.int(i, p, 0, 255).map(|c| c as i32))
            .collect();
        codes.into_iter().collect()
    });
    let stop_signal = r.key_or(&fields, &path, "stop_signal", Signal::TERM, Reader::signal);
    let stop_timeout = r.key_or(
        &fields,
        &path,
        "stop_timeout",
        defaults::STOP_TIMEOUT,
        Reader::duration,
    );
    let stop_command = fields
        .get("stop_command")
        .map(|n| r.template(n, &p("stop_command"), &scope));
    let pidfile = fields
        .get("pidfile")
        .map(|n| r.string(n, &p("pidfile")).map(Into::into));
    let matches = fields.get("match").map(|n| r.pattern(n, &p("match")));
    let critical = r.key_or(&fields, &path, "critical", true, Reader::bool);
    let autostart = r.key_or(&fields, &path, "autostart", true, Reader::bool);
    let log = log_policy(r, fields.get("log"), &p("log"));
    let export = export(r, fields.get("export"), &p("export"));
    // Watched paths are checked against the directory the service would run in with its
    // configured port (a `cwd` naming a port that moves at start is watched as configured).
    let directory = cwd.as_ref().map(|t| {
        crate::stack::service::directory(t, ctx.dir, &|n| ctx.ports.get(n).copied().flatten())
    });
    let watch = fields
        .get("watch")
        .map(|n| super::watch::decode(r, n, &p("watch"), directory.as_deref()));

    if r.diags.len() > start_errors {
        return None;
    }
    let service = Service {
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
        export: export?,
        watch: watch.flatten(),
        replica: None,
    };
    replica_refs(r, &fields, &service, outline.replicas.is_some(), &path);
    (r.diags.len() == start_errors).then_some(service)
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
    let mode = r.key_or(
        fields,
        path,
        "restart",
        RestartMode::OnFailure,
        |r, n, p| r.choice(n, p, &RestartMode::NAMES, RestartMode::parse),
    );
    let delay = r.key_or(
        fields,
        path,
        "restart_delay",
        defaults::RESTART_DELAY,
        Reader::duration,
    );
    let delay_max = r.key_or(
        fields,
        path,
        "restart_delay_max",
        defaults::RESTART_DELAY_MAX,
        Reader::duration,
    );
    let min_uptime = r.key_or(
        fields,
        path,
        "min_uptime",
        defaults::MIN_UPTIME,
        Reader::duration,
    );
    let window = r.key_or(
        fields,
        path,
        "restart_window",
        defaults::RESTART_WINDOW,
        Reader::positive_duration,
    );
    let max_restarts = r.key_or(
        fields,
        path,
        "max_restarts",
        defaults::MAX_RESTARTS,
        |r, n, p| r.int(n, p, 0, 10_000).map(|n| n as u32),
    );
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
    let max_size = r.key_or(
        &fields,
        path,
        "max_size",
        defaults::LOG_MAX_SIZE,
        |r, n, p| {
            let size = r.size(n, p)?;
            if size < 1024 {
                r.error(n.span, format!("{p}: at least 1KiB, so a log line fits"));
                return None;
            }
            Some(size)
        },
    );
    let keep = r.key_or(&fields, path, "keep", defaults::LOG_KEEP, |r, n, p| {
        r.int(n, p, 0, 1000).map(|k| k as u32)
    });
    Some(LogPolicy {
        max_size: max_size?,
        keep: keep?,
    })
}

/// `export: {image, replicas}`: an image is one word (`ghcr.io/acme/api:1.4`), replicas 1–1000.
fn export(r: &mut Reader, node: Option<&Node>, path: &str) -> Option<Export> {
    let Some(node) = node else {
        return Some(Export::default());
    };
    let fields = r.map(node, path, keys::EXPORT)?;
    let image = match fields.get("image") {
        Some(n) => {
            let image = r.string(n, &format!("{path}.image"))?;
            if image.is_empty() || image.contains(char::is_whitespace) {
                r.error(
                    n.span,
                    format!("{path}.image: `{image}` is not an image reference; write e.g. `ghcr.io/acme/api:1.4`"),
                );
                return None;
            }
            Some(image.to_string())
        }
        None => None,
    };
    let replicas = r.key_or(&fields, path, "replicas", 1, |r, n, p| {
        r.int(n, p, 1, 1000).map(|n| n as u32)
    });
    Some(Export {
        image,
        replicas: replicas?,
    })
}
