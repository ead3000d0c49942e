//! Carrying out a tool call: its arguments read and checked, then the CLI's own functions (which
//! ask the daemon over its socket, start it as `up` does, or read the history and logs), the
//! outcome as a short text and JSON, or a message saying what went wrong. Blocking: the server
//! runs each call on a thread of its own.

use super::tools;
use crate::api::types::ServiceView;
use crate::cli::args::Global;
use crate::cli::up::{Report, Voice, bring_up, check_services, command_line};
use crate::cli::{Failure, config_path, options};
use crate::config::{self, LoadError};
use crate::daemon::supervisor::ServiceState;
use crate::logs::time::now_ms;
use crate::stack::Stack;
use crate::stack::graph::Graph;
use crate::style::Style;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::time::Duration;

/// What a tool returns: the text a model reads and the same facts as JSON.
#[derive(Debug)]
pub struct Done {
    pub text: String,
    pub json: Value,
}

const START_TIMEOUT: Duration = crate::cli::ensure::DEFAULT_TIMEOUT;

/// Runs tool `name` with `arguments`; `Err` is the message of an error result.
pub fn call(global: &Global, name: &str, arguments: Value) -> Result<Done, String> {
    match name {
        "status" => status(global, &parse::<tools::Services>(arguments)?.services),
        "ensure" | "up" => start(global, parse(arguments)?),
        "down" => down(global, &parse::<tools::Services>(arguments)?.services),
        "restart" => restart(global, parse(arguments)?),
        "logs" => logs(global, parse(arguments)?),
        "events" => events(global, parse(arguments)?),
        "stats" => stats(global, parse(arguments)?),
        "ports_who" => ports_who(parse(arguments)?),
        _ => Err(format!("no tool `{name}`")),
    }
}

fn parse<T: DeserializeOwned>(arguments: Value) -> Result<T, String> {
    serde_json::from_value(arguments).map_err(|e| format!("bad arguments: {e}"))
}

fn duration(what: &str, text: Option<&str>, default: Duration) -> Result<Duration, String> {
    match text {
        None => Ok(default),
        Some(text) => config::units::parse_duration(text).map_err(|e| format!("bad `{what}`: {e}")),
    }
}

/// The config, loaded as the CLI loads it, with every named service checked to be in it.
fn load(global: &Global, services: &[String]) -> Result<Stack, String> {
    let path = config_path(global).map_err(|f| f.message)?;
    let stack = config::load(&path, &options(global)).map_err(|e| match e {
        LoadError::Read { .. } => e.to_string(),
        LoadError::Invalid { file, diagnostics } => {
            let mut text: String = diagnostics.iter().map(|d| d.render(Style::PLAIN)).collect();
            text.push_str(&format!("{file}: {} problem(s) found", diagnostics.len()));
            text
        }
    })?;
    check_services(&stack, services).map_err(|f| f.message)?;
    Ok(stack)
}

fn status(global: &Global, services: &[String]) -> Result<Done, String> {
    let stack = load(global, services)?;
    let status = crate::cli::status::collect(&stack, services).map_err(|f| f.message)?;
    Ok(Done {
        text: crate::cli::status::table(&status, Style::PLAIN),
        json: serde_json::to_value(&status).expect("status serializes"),
    })
}

fn start(global: &Global, args: tools::Start) -> Result<Done, String> {
    let timeout = duration("timeout", args.timeout.as_deref(), START_TIMEOUT)?;
    let stack = load(global, &args.services)?;
    let retry = command_line("up", &args.services);
    let began = now_ms();
    let started = bring_up(
        &stack,
        &args.services,
        false,
        Some(timeout),
        Voice::Silent,
        &retry,
    );
    ready_or_why(&stack, &args.services, started, (&retry, began))
}

fn restart(global: &Global, args: tools::Start) -> Result<Done, String> {
    let timeout = duration("timeout", args.timeout.as_deref(), START_TIMEOUT)?;
    let stack = load(global, &args.services)?;
    let quiet = Global {
        file: Some(stack.file.clone()),
        profile: global.profile.clone(),
        json: false,
        quiet: true,
        verbose: 0,
    };
    let began = now_ms();
    let restarted = crate::cli::restart::run(&quiet, &args.services, Some(timeout));
    let retry = command_line("restart", &args.services);
    ready_or_why(&stack, &args.services, restarted, (&retry, began))
}

/// After a start (which `began` then, and `retry` tries again): the services' status, or why
/// one did not get ready (the report the CLI shows on stderr: each root cause once with its
/// log, each service it kept back a line).
fn ready_or_why<T>(
    stack: &Stack,
    services: &[String],
    outcome: Result<T, Failure>,
    (retry, began): (&str, u64),
) -> Result<Done, String> {
    let failure = match outcome {
        Ok(_) => {
            let status = crate::cli::status::collect(stack, services).map_err(|f| f.message)?;
            let names: Vec<&str> = status.services.iter().map(|s| s.name.as_str()).collect();
            return Ok(Done {
                text: format!(
                    "ready: {}\n{}",
                    names.join(", "),
                    crate::cli::status::table(&status, Style::PLAIN)
                ),
                json: serde_json::to_value(&status).expect("status serializes"),
            });
        }
        Err(failure) => failure,
    };
    let mut text = failure.message;
    // The services started: those asked and what they depend on (a root among them).
    let asked: Vec<&str> = services.iter().map(String::as_str).collect();
    let started = Graph::new(&stack.services).with_dependencies(&asked);
    let everything = crate::cli::status::collect(stack, &[]).ok();
    let views: Vec<&ServiceView> = everything
        .iter()
        .flat_map(|s| &s.services)
        .filter(|v| services.is_empty() || started.contains(&v.name.as_str()))
        .collect();
    if views.iter().any(|v| v.state == ServiceState::Failed) {
        let report = Report {
            retry,
            kept_back: true,
            since: Some(began),
        };
        text.push_str(&report.render(stack, &views, None, Style::PLAIN));
    }
    if text.is_empty() {
        text = "the services did not get ready".into();
    }
    Err(text.trim_end().to_string())
}

fn down(global: &Global, services: &[String]) -> Result<Done, String> {
    let stack = load(global, services)?;
    let stopped = crate::cli::down::take_down(&stack, services, None).map_err(|f| f.message)?;
    let text = if stopped.is_empty() {
        "nothing was running".to_string()
    } else {
        format!("stopped {}", stopped.join(", "))
    };
    Ok(Done {
        text,
        json: json!({ "stopped": stopped }),
    })
}

/// The config and the window of `logs` and `events`.
fn recent(global: &Global, args: &tools::Recent) -> Result<(Stack, Option<Duration>), String> {
    let since = args
        .since
        .as_deref()
        .map(|s| duration("since", Some(s), Duration::ZERO))
        .transpose()?;
    Ok((load(global, &args.services)?, since))
}

/// Lines as one text, or `none` when there are none.
fn joined(lines: impl Iterator<Item = String>, none: &str) -> String {
    let text: String = lines.map(|l| l + "\n").collect();
    if text.is_empty() {
        none.to_string()
    } else {
        text
    }
}

fn logs(global: &Global, args: tools::Recent) -> Result<Done, String> {
    let (stack, since) = recent(global, &args)?;
    let names: Vec<String> = if args.services.is_empty() {
        stack.services.iter().map(|s| s.name.clone()).collect()
    } else {
        stack.expand_names(&args.services)
    };
    let lines = args.lines.unwrap_or(100) as usize;
    let records = crate::cli::logs::last_lines(&stack, &names, lines, since);
    // Timed, so that a model can line the output up with events.
    let format = crate::cli::log_lines::LogLines::new(&names, true, Style::PLAIN);
    let text = joined(
        records.iter().map(|(name, r)| format.format(name, r)),
        "no log lines",
    );
    let json: Vec<Value> = records
        .iter()
        .map(|(name, r)| json!({ "service": name, "time": r.time, "stream": r.stream, "text": r.text }))
        .collect();
    Ok(Done {
        text,
        json: json!({ "lines": json }),
    })
}

fn events(global: &Global, args: tools::Recent) -> Result<Done, String> {
    let (stack, since) = recent(global, &args)?;
    let filter = crate::history::query::EventFilter {
        since_ms: since.map(|d| crate::logs::time::now_ms().saturating_sub(d.as_millis() as u64)),
        services: stack.expand_names(&args.services),
        kinds: Vec::new(),
        after_id: None,
        last: Some(args.lines.unwrap_or(50) as usize),
    };
    let views: Vec<_> = crate::cli::events::read(&stack, &filter)
        .map_err(|f| f.message)?
        .iter()
        .map(|e| e.view())
        .collect();
    let width = views
        .iter()
        .map(|v| v.service.as_deref().unwrap_or("berth").len())
        .max()
        .unwrap_or(0);
    let text = joined(
        views
            .iter()
            .map(|v| crate::cli::events::line(v, Style::PLAIN, width)),
        "no events yet",
    );
    Ok(Done {
        text,
        json: json!({ "events": views }),
    })
}

fn stats(global: &Global, args: tools::Stats) -> Result<Done, String> {
    let since = duration("since", args.since.as_deref(), Duration::from_secs(3600))?;
    let stack = load(global, &args.services)?;
    let until = crate::logs::time::now_ms();
    let report = crate::history::query::report(
        &stack,
        &args.services,
        until.saturating_sub(since.as_millis() as u64),
        until,
    )?;
    Ok(Done {
        text: crate::cli::stats::table(&report, since, Style::PLAIN),
        json: serde_json::to_value(&report).expect("stats serialize"),
    })
}

fn ports_who(args: tools::PortsWho) -> Result<Done, String> {
    if args.port == 0 {
        return Err("bad `port`: 0 is no port; give 1 to 65535".into());
    }
    let holders = crate::ports::holders::on_port(args.port)
        .map_err(|e| format!("cannot read the socket table: {e}"))?;
    let text = if holders.is_empty() {
        format!("port {} is free: nothing listens on it", args.port)
    } else {
        crate::cli::ports::who_text(args.port, &holders)
    };
    Ok(Done {
        text,
        json: json!({ "port": args.port, "free": holders.is_empty(), "holders": holders }),
    })
}
