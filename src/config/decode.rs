//! Decoding the config tree into a `Stack`: the top level, env files, the `ports` section and
//! profiles here; services in `decode/service.rs`; `monitor` and `api` in
//! `decode/monitor.rs`; `alerts` in `decode/alerts.rs`; `watch` in `decode/watch.rs`; cross-service rules in `validate.rs`.

pub mod alerts;
pub mod health;
pub mod monitor;
pub mod replicas;
pub mod service;
pub mod watch;

use super::dotenv;
use super::keys;
use super::reader::{Fields, Reader, at};
use super::source::{Source, display_path};
use super::suggest;
use super::validate;
use super::yaml::{Kind, Node};
use super::{Options, diagnostic::Diagnostic};
use crate::stack::{PortPolicy, Stack, Strategy};
use service::Context;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Decodes a parsed config (profile already applied). `None` when anything is wrong; the
/// reader then holds every problem.
pub fn decode(r: &mut Reader, root: &Node, file: &Path, options: &Options) -> Option<Stack> {
    if root.kind == Kind::Null {
        r.error(
            root.span,
            "the config is empty; add `services:` with at least one service",
        );
        return None;
    }
    if !matches!(root.kind, Kind::Map(_)) {
        r.error(
            root.span,
            format!(
                "a berth config is a mapping with `services:` at the top, found {}",
                root.describe()
            ),
        );
        return None;
    }
    let top = r.map(root, "", keys::TOP)?;
    let dir = file.parent().unwrap_or(Path::new("/"));

    check_profiles(r, &top, options.profile.as_deref());
    let project = project(r, &top, dir);
    let state_dir = state_dir(r, &top, dir, options);
    let ports = top
        .get("ports")
        .and_then(|n| port_policy(r, n))
        .unwrap_or_default();
    let top_files = top
        .get("env_file")
        .map(|n| env_files(r, n, "env_file", &options.env))
        .unwrap_or_default();
    let top_env = match top.get("env") {
        Some(node) => r.entries(node, "env").unwrap_or_default(),
        None => Vec::new(),
    };
    // Read before `services` is required, so that their problems are reported either way.
    let monitor = top
        .get("monitor")
        .and_then(|n| monitor::monitor(r, n))
        .unwrap_or_default();
    let api = top
        .get("api")
        .and_then(|n| monitor::api(r, n, &[&top_files, &options.env], top.get("services")))
        .unwrap_or_default();
    let alerts = top
        .get("alerts")
        .and_then(|n| alerts::alerts(r, n, &[&top_files, &options.env], top.get("services")))
        .unwrap_or_default();

    let Some((services_key, services_node)) = top.entry("services") else {
        r.error(
            root.span,
            "missing `services`: say what to run, e.g. `services: {api: {command: ./api, port: 8000}}`",
        );
        return None;
    };
    let entries = r.entries(services_node, "services")?;
    if entries.is_empty() {
        r.error(
            services_key.span,
            "`services` is empty; define at least one service",
        );
        return None;
    }
    let outlines: Vec<_> = entries
        .iter()
        .map(|(name, key, value)| service::outline(r, name, key, value))
        .collect();
    // Ports first: any string of any service may refer to any service's port.
    let ctx = Context {
        dir,
        process_env: &options.env,
        top_files,
        top_env,
        ports: outlines
            .iter()
            .map(|o| (o.name.to_string(), o.port))
            .collect(),
    };
    // Every name is checked (no short-circuit), so each bad one is reported.
    let invalid_names = outlines
        .iter()
        .filter(|o| !validate::service_name(r, o.name, o.name_span))
        .count();
    let names_valid = invalid_names == 0;
    let services: Vec<_> = outlines
        .iter()
        .map(|o| service::decode(r, &ctx, o))
        .collect();
    if names_valid {
        validate::stack(r, &outlines);
    }
    if !r.diags.is_empty() {
        return None;
    }
    let services = services.into_iter().collect::<Option<Vec<_>>>()?;
    let (services, replicated) = replicas::expand(r, &outlines, services, &ports.reserved)?;
    Some(Stack {
        project: project?,
        file: file.to_path_buf(),
        files: Vec::new(),
        state_dir: state_dir?,
        profile: options.profile.clone(),
        ports,
        monitor,
        api,
        alerts,
        services,
        replicated,
    })
}

/// Checks the shape of every profile (so a typo in one not in use is still found) and that
/// the requested profile exists.
fn check_profiles(r: &mut Reader, top: &Fields, wanted: Option<&str>) {
    let services: Vec<&str> = match top.get("services").map(|s| &s.kind) {
        Some(Kind::Map(entries)) => entries.iter().filter_map(|(k, _)| k.scalar()).collect(),
        _ => Vec::new(),
    };
    let mut names = Vec::new();
    if let Some(profiles) = top.get("profiles") {
        for (name, _, body) in r.entries(profiles, "profiles").unwrap_or_default() {
            names.push(name);
            let path = format!("profiles.{name}");
            let Some(fields) = r.map(body, &path, keys::PROFILE) else {
                continue;
            };
            let Some(overrides) = fields.get("services") else {
                continue;
            };
            for (service, key, changes) in r
                .entries(overrides, &format!("{path}.services"))
                .unwrap_or_default()
            {
                if !services.contains(&service) {
                    r.error(
                        key.span,
                        format!(
                            "{path}.services: no service `{service}` to override{}",
                            suggest::hint(service, services.iter().copied())
                        ),
                    );
                } else if !matches!(changes.kind, Kind::Map(_)) {
                    r.error(
                        changes.span,
                        format!(
                            "{path}.services.{service}: expected a mapping, found {}",
                            changes.describe()
                        ),
                    );
                }
            }
        }
    }
    if let Some(wanted) = wanted
        && !names.contains(&wanted)
    {
        let span = top
            .entry("profiles")
            .map(|(k, _)| k.span)
            .unwrap_or_default();
        let span = if span.start.line == 0 {
            crate::config::source::Span::new(1, 1, 1)
        } else {
            span
        };
        let message = if names.is_empty() {
            format!("unknown profile `{wanted}`: this config defines no profiles")
        } else {
            format!(
                "unknown profile `{wanted}`; this config defines: {}{}",
                names.join(", "),
                suggest::hint(wanted, names.iter().copied())
            )
        };
        r.error(span, message);
    }
}

/// Project names end up in process markers and socket names: letters, digits, `_`, `-`, `.`.
fn project(r: &mut Reader, top: &Fields, dir: &Path) -> Option<String> {
    match top.get("project") {
        Some(node) => {
            let name = r.string(node, "project")?;
            if !validate::is_name(name) {
                r.error(
                    node.span,
                    format!("project: invalid name `{name}`; use letters, digits, `_`, `-` and `.`, starting with a letter or digit"),
                );
                return None;
            }
            Some(name.to_string())
        }
        None => Some(default_project(dir)),
    }
}

/// The directory's name with anything unusable turned into `-`.
pub fn default_project(dir: &Path) -> String {
    let raw = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let cleaned: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_-.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let cleaned = cleaned.trim_start_matches(['-', '_', '.']).to_string();
    if cleaned.is_empty() {
        "berth".to_string()
    } else {
        cleaned
    }
}

fn state_dir(r: &mut Reader, top: &Fields, dir: &Path, options: &Options) -> Option<PathBuf> {
    if let Some(dir) = &options.state_dir {
        return Some(dir.clone());
    }
    match top.get("state_dir") {
        Some(node) => {
            let text = r.string(node, "state_dir")?;
            if text.is_empty() {
                r.error(node.span, "state_dir: empty path");
                return None;
            }
            Some(r.dir(node.span).join(text))
        }
        None => Some(super::default_state_dir(dir)),
    }
}

fn port_policy(r: &mut Reader, node: &Node) -> Option<PortPolicy> {
    let fields = r.map(node, "ports", keys::PORTS)?;
    let mut policy = PortPolicy::default();
    if let Some(n) = fields.get("strategy") {
        policy.strategy = r.choice(n, "ports.strategy", &Strategy::NAMES, Strategy::parse)?;
    }
    if let Some(n) = fields.get("reserved") {
        policy.reserved = r.ranges(n, "ports.reserved", 1, 65535)?;
    }
    if let Some(n) = fields.get("protect") {
        let items = r.list(n, "ports.protect")?;
        let patterns: Vec<_> = items
            .iter()
            .map(|i| r.pattern(i, "ports.protect"))
            .collect();
        policy.protect = patterns.into_iter().collect::<Option<Vec<_>>>()?;
    }
    Some(policy)
}

/// Reads `env_file` entries (a path, `{path, required}`, or a list of them) relative to the
/// file each is written in, later files overriding earlier ones. `${VAR}` inside them sees
/// earlier files, then `env`.
pub fn env_files(
    r: &mut Reader,
    node: &Node,
    path: &str,
    env: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    for item in r.one_or_many(node) {
        let (file_node, required) = match &item.kind {
            Kind::Map(_) => {
                let Some(fields) = r.map(item, path, keys::ENV_FILE) else {
                    continue;
                };
                let required = match fields.get("required") {
                    Some(n) => r.bool(n, &format!("{path}.required")).unwrap_or(true),
                    None => true,
                };
                let Some(file) = fields.get("path") else {
                    r.error(item.span, at(path, "missing `path` of the env file"));
                    continue;
                };
                (file, required)
            }
            _ => (item, true),
        };
        let Some(name) = r.string(file_node, path) else {
            continue;
        };
        let full = r.dir(file_node.span).join(name);
        let text = match std::fs::read_to_string(&full) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if required {
                    r.error(
                        file_node.span,
                        at(
                            path,
                            format!(
                                "env file `{name}` not found (looked for {}); create it, or write `{{path: {name}, required: false}}`",
                                display_path(&full)
                            ),
                        ),
                    );
                }
                continue;
            }
            Err(e) => {
                r.error(
                    file_node.span,
                    at(path, format!("cannot read env file `{name}`: {e}")),
                );
                continue;
            }
        };
        let source = Source::new(&full, text);
        let outer = |var: &str| vars.get(var).or_else(|| env.get(var)).cloned();
        let parsed = dotenv::parse(&source.text, &outer);
        for (span, message) in parsed.problems {
            r.diags.push(Diagnostic::new(&source, span, message));
        }
        vars.extend(parsed.vars);
    }
    vars
}
