//! `berth alerts`: the firing and pending alerts; `history` (every transition and delivery,
//! from the history database, so with the daemon down too); `test` (a notification through
//! each channel, exit 1 if one failed); `silence` / `unsilence RULE[/SERVICE]`.

use super::args::{AlertsAction, Global};
use super::up::load_with_services;
use super::{Exit, Failure};
use crate::api::alerts::{
    AlertsResponse, SilenceRequest, SilenceView, TestRequest, TestResponse, UnsilenceRequest,
};
use crate::api::client::{ClientError, call};
use crate::daemon::paths::Paths;
use crate::stack::Stack;
use crate::style::Style;
use std::time::Duration;

pub fn run(global: &Global, action: Option<&AlertsAction>) -> Result<Exit, Failure> {
    let stack = load_with_services(global, &[])?;
    let paths = Paths::new(&stack.state_dir);
    match action {
        None => list(global, &paths),
        Some(AlertsAction::History { since }) => super::events::run(
            global,
            &[],
            &super::events::Options {
                lines: usize::MAX,
                since: Some(*since),
                kinds: vec!["alert".into()],
                follow: false,
            },
        ),
        Some(AlertsAction::Test { channels }) => test(global, &stack, &paths, channels),
        Some(AlertsAction::Silence { target, for_ }) => {
            let (rule, service) = target_of(&stack, target)?;
            if for_.is_zero() {
                return Err(Failure::usage(
                    "--for: a silence lasts at least 1s, e.g. `--for 30m`",
                ));
            }
            let request = SilenceRequest {
                rule,
                service,
                for_: crate::config::units::format_duration(*for_),
            };
            let done: SilenceView = ask(&paths, "/v1/alerts/silence", &request)?;
            if global.json {
                println!("{}", serde_json::to_string(&done).expect("serializable"));
            } else if !global.quiet {
                let whom = done.service.map(|s| format!(" on {s}")).unwrap_or_default();
                println!("silenced {}{whom} until {}", done.rule, done.until);
            }
            Ok(Exit::Done)
        }
        Some(AlertsAction::Unsilence { target }) => {
            let (rule, service) = target_of(&stack, target)?;
            let request = UnsilenceRequest { rule, service };
            let answer: serde_json::Value = ask(&paths, "/v1/alerts/unsilence", &request)?;
            if !global.quiet {
                match answer["lifted"].as_bool() {
                    Some(true) => println!("silence lifted"),
                    _ => println!("it was not silenced"),
                }
            }
            Ok(Exit::Done)
        }
    }
}

/// `RULE` or `RULE/SERVICE`, each checked against the config (exit 2 when unknown).
fn target_of(stack: &Stack, target: &str) -> Result<(String, Option<String>), Failure> {
    let (rule, service) = match target.split_once('/') {
        Some((r, s)) => (r, Some(s)),
        None => (target, None),
    };
    let rules: Vec<&str> = stack.alerts.rules.iter().map(|r| r.name.as_str()).collect();
    if !rules.contains(&rule) {
        return Err(Failure::usage(format!(
            "no alert rule `{rule}` in the config{}{}",
            crate::config::suggest::hint(rule, rules.iter().copied()),
            if rules.is_empty() {
                String::new()
            } else {
                format!("; it has: {}", rules.join(", "))
            }
        )));
    }
    if let Some(s) = service
        && stack.service(s).is_none()
    {
        return Err(Failure::usage(format!("no service `{s}` in the config")));
    }
    Ok((rule.to_string(), service.map(str::to_string)))
}

fn ask<B: serde::Serialize, R: serde::de::DeserializeOwned>(
    paths: &Paths,
    route: &str,
    body: &B,
) -> Result<R, Failure> {
    call(
        &paths.socket,
        "POST",
        route,
        Some(body),
        Duration::from_secs(30),
    )
    .map_err(|e| match e {
        ClientError::NotRunning => {
            Failure::failed("no daemon runs, so no alert is evaluated: `berth up` starts it")
        }
        e => super::daemon_failure(e),
    })
}

fn list(global: &Global, paths: &Paths) -> Result<Exit, Failure> {
    let response: AlertsResponse = match call::<(), AlertsResponse>(
        &paths.socket,
        "GET",
        "/v1/alerts",
        None,
        Duration::from_secs(10),
    ) {
        Ok(r) => r,
        Err(ClientError::NotRunning) => {
            if global.json {
                println!("{}", serde_json::json!({ "alerts": [], "silences": [] }));
            } else if !global.quiet {
                eprintln!("no daemon runs, so no alert is evaluated");
            }
            return Ok(Exit::Done);
        }
        Err(e) => return Err(super::daemon_failure(e)),
    };
    if global.json {
        println!(
            "{}",
            serde_json::to_string(&response).expect("serializable")
        );
        return Ok(Exit::Done);
    }
    if global.quiet {
        return Ok(Exit::Done);
    }
    let style = Style::stdout();
    if response.alerts.is_empty() {
        println!("no alert is pending or firing");
    } else {
        let mut rows = vec![
            [
                "RULE", "SERVICE", "STATE", "SEVERITY", "VALUE", "SINCE", "SILENCED",
            ]
            .map(String::from)
            .to_vec(),
        ];
        for a in &response.alerts {
            rows.push(vec![
                a.rule.clone(),
                a.subject.clone(),
                a.state.clone(),
                a.severity.clone(),
                a.value.clone(),
                a.since.clone(),
                if a.silenced { "yes".into() } else { "-".into() },
            ]);
        }
        print!("{}", super::table::render(&rows, &style));
    }
    for s in &response.silences {
        let whom = s
            .service
            .as_ref()
            .map(|x| format!(" on {x}"))
            .unwrap_or_default();
        println!(
            "{}",
            style.dim(&format!("silenced: {}{whom} until {}", s.rule, s.until))
        );
    }
    Ok(Exit::Done)
}

fn test(
    global: &Global,
    stack: &Stack,
    paths: &Paths,
    channels: &[String],
) -> Result<Exit, Failure> {
    let names: Vec<&str> = stack
        .alerts
        .channels
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    for c in channels {
        if !names.contains(&c.as_str()) {
            return Err(Failure::usage(format!(
                "no alert channel `{c}` in the config{}",
                crate::config::suggest::hint(c, names.iter().copied())
            )));
        }
    }
    if names.is_empty() {
        return Err(Failure::failed(
            "the config has no alert channels: add some under `alerts.channels` (see docs/alerts.md)",
        ));
    }
    if !global.quiet && !global.json {
        eprintln!(
            "sending a test notification through {}…",
            if channels.is_empty() {
                names.join(", ")
            } else {
                channels.join(", ")
            }
        );
    }
    let response: TestResponse = ask(
        paths,
        "/v1/alerts/test",
        &TestRequest {
            channels: channels.to_vec(),
        },
    )?;
    let style = Style::stdout();
    let mut failed = false;
    for r in &response.results {
        failed |= !r.delivered;
        if global.json {
            continue;
        }
        let mark = if r.delivered {
            style.green("✓")
        } else {
            style.red("✗")
        };
        println!("{mark} {}: {}", r.channel, r.detail);
    }
    if global.json {
        println!(
            "{}",
            serde_json::to_string(&response).expect("serializable")
        );
    }
    Ok(if failed { Exit::Failed } else { Exit::Done })
}
