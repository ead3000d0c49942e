//! `berth check`: validate the config, every problem at once; `--json` for tools.

use super::args::Global;
use super::{Exit, Failure, config_path, options, report, unreadable};
use crate::config::decode::alerts::condition_text;
use crate::config::units::format_duration;
use crate::config::{self, LoadError};
use crate::stack::Stack;
use crate::stack::alerts::{Action, Alerts, Rule, Trigger};
use crate::stack::service::Command;
use crate::style::Style;
use serde_json::json;

pub fn run(global: &Global) -> Result<Exit, Failure> {
    let path = match config_path(global) {
        Ok(path) => path,
        Err(failure) if global.json => {
            print_json(
                false,
                vec![unreadable("berth.yaml", &failure.message)],
                None,
            );
            return Err(Failure {
                message: String::new(),
                ..failure
            });
        }
        Err(failure) => return Err(failure),
    };
    let result = config::check(&path, &options(global));
    if global.json {
        return match result {
            Ok(stack) => {
                print_json(true, Vec::new(), Some(&stack));
                Ok(Exit::Done)
            }
            Err(LoadError::Invalid { diagnostics, .. }) => {
                print_json(false, diagnostics, None);
                Err(Failure::usage(""))
            }
            Err(e @ LoadError::Read { .. }) => {
                let file = config::source::display_path(&path);
                print_json(false, vec![unreadable(&file, &e.to_string())], None);
                Err(Failure::usage(""))
            }
        };
    }
    let stack = result.map_err(report)?;
    if !global.quiet {
        let style = Style::stdout();
        println!("{}", summary(&stack, style));
        if global.verbose > 0 {
            for line in details(&stack, style) {
                println!("{line}");
            }
        }
    }
    Ok(Exit::Done)
}

fn print_json(valid: bool, errors: Vec<config::diagnostic::Diagnostic>, stack: Option<&Stack>) {
    let mut out = json!({"valid": valid, "errors": errors});
    if let Some(stack) = stack {
        out["files"] = json!(config_files(stack));
        out["project"] = json!(stack.project);
        out["services"] = json!(stack.services.len());
        out["start_order"] = json!(stack.start_levels());
    }
    println!("{out}");
}

/// `berth.yaml is valid: 3 services, start order: db, cache → api → web`
fn summary(stack: &Stack, style: Style) -> String {
    let n = stack.services.len();
    let order: Vec<String> = stack
        .start_levels()
        .iter()
        .map(|level| level.join(", "))
        .collect();
    let profile = stack
        .profile
        .as_ref()
        .map(|p| format!(" (profile {p})"))
        .unwrap_or_default();
    let merged = match stack.files.len() {
        0 => String::new(),
        1..=3 => format!(" (with {})", config_files(stack)[1..].join(", ")),
        more => format!(" (with {more} more files; -v lists them)"),
    };
    format!(
        "{} {}{merged} is valid{profile}: {n} service{}, start order: {}",
        style.green("✓"),
        config::source::display_path(&stack.file),
        if n == 1 { "" } else { "s" },
        order.join(" → ")
    )
}

/// With `-v`: per service, in start order, its port, gates, probe and command line; then
/// each alert rule.
fn details(stack: &Stack, style: Style) -> Vec<String> {
    let mut lines: Vec<String> = config_files(stack)[1..]
        .iter()
        .map(|f| format!("  merged {f}"))
        .collect();
    lines.extend(services(stack, style));
    let alerts = &stack.alerts;
    lines.extend(alerts.rules.iter().map(|r| alert_line(alerts, r)));
    lines
}

/// `alert api-memory: memory > 500MiB for 1m on api → team, ops (warning, escalates to
/// critical after 10m, restarts it)`
fn alert_line(alerts: &Alerts, rule: &Rule) -> String {
    let covered = if rule.services.is_empty() {
        "every service".to_string()
    } else {
        rule.services.join(", ")
    };
    let what = match &rule.trigger {
        Trigger::When { condition, for_ } => {
            let mut what = condition_text(condition);
            if !for_.is_zero() {
                what.push_str(&format!(" for {}", format_duration(*for_)));
            }
            if !condition.is_system() {
                what.push_str(&format!(" on {covered}"));
            }
            what
        }
        Trigger::On { kinds } => {
            let kinds = match kinds.as_slice() {
                [] => String::new(),
                [one] => one.clone(),
                [init @ .., last] => format!("{} or {last}", init.join(", ")),
            };
            format!("each {kinds} event on {covered}")
        }
    };
    let channels: Vec<&str> = if rule.notify.is_empty() {
        alerts.channels.iter().map(|c| c.name.as_str()).collect()
    } else {
        rule.notify.iter().map(String::as_str).collect()
    };
    let channels = if channels.is_empty() {
        "no channel".to_string()
    } else {
        channels.join(", ")
    };
    let mut facts = vec![rule.severity.name().to_string()];
    if let Some(e) = &rule.escalate {
        facts.push(format!(
            "escalates to {} after {}",
            e.to.name(),
            format_duration(e.after)
        ));
    }
    if let Some(repeat) = rule.repeat {
        facts.push(format!("repeats every {}", format_duration(repeat)));
    }
    if !rule.resolved {
        facts.push("no notice when resolved".to_string());
    }
    match rule.action {
        Some(Action::Restart) => facts.push("restarts it".to_string()),
        None => {}
    }
    format!(
        "  alert {}: {what} → {channels} ({})",
        rule.name,
        facts.join(", ")
    )
}

fn services(stack: &Stack, style: Style) -> Vec<String> {
    let port_of = |name: &str| stack.configured_port(name);
    let width = stack
        .services
        .iter()
        .map(|s| s.name.len())
        .max()
        .unwrap_or(0);
    stack
        .start_levels()
        .into_iter()
        .flatten()
        .filter_map(|name| stack.service(name))
        .map(|s| {
            let mut facts = Vec::new();
            if let Some(port) = s.port {
                let alternatives = if s.alt_ports.is_empty() {
                    String::new()
                } else {
                    format!(" (or {})", s.alt_ports)
                };
                facts.push(format!("port {port}{alternatives}"));
            }
            if !s.depends_on.is_empty() {
                let gates: Vec<String> = s
                    .depends_on
                    .iter()
                    .map(|d| format!("{} {}", d.service, d.condition.name()))
                    .collect();
                facts.push(format!("after {}", gates.join(", ")));
            }
            if let Some(h) = &s.health {
                facts.push(format!("{} check", h.probe.kind()));
            }
            if !s.autostart {
                facts.push("not autostarted".to_string());
            }
            let argv = s.command.argv(&port_of);
            let command = match &s.command {
                Command::Shell(_) => argv[2].clone(),
                Command::Exec(_) => argv.join(" "),
            };
            format!(
                "  {:<width$}  {}{}",
                s.name,
                style.dim(&command),
                facts_text(&facts)
            )
        })
        .collect()
}

fn facts_text(facts: &[String]) -> String {
    if facts.is_empty() {
        String::new()
    } else {
        format!("  [{}]", facts.join("; "))
    }
}

/// The config file and the files merged into it (included, then the override), as shown.
pub fn config_files(stack: &Stack) -> Vec<String> {
    std::iter::once(&stack.file)
        .chain(&stack.files)
        .map(|f| config::source::display_path(f))
        .collect()
}
