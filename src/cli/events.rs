//! `berth events`: the latest entries of the daemon's event log, for all services or some.

use super::args::Global;
use super::up::load_with_services;
use super::{Exit, Failure};
use crate::daemon::events::{self, Event};
use crate::style::Style;

pub fn run(global: &Global, services: &[String], lines: usize) -> Result<Exit, Failure> {
    let stack = load_with_services(global, services)?;
    let all: Vec<Event> = events::read(&stack.state_dir)
        .into_iter()
        .filter(|e| services.is_empty() || services.contains(&e.service))
        .collect();
    let shown = &all[all.len().saturating_sub(lines)..];
    if global.json {
        println!("{}", serde_json::to_string(shown).expect("serializable"));
        return Ok(Exit::Done);
    }
    let style = Style::stdout();
    let width = shown.iter().map(|e| e.service.len()).max().unwrap_or(0);
    for e in shown {
        let what = match e.event.as_str() {
            "failed" | "exited" | "keeper_lost" => style.red(&e.event),
            "ready" | "completed" | "adopted" => style.green(&e.event),
            "restarting" | "port" => style.yellow(&e.event),
            _ => e.event.clone(),
        };
        let pid = e.pid.map(|p| format!(" pid {p}")).unwrap_or_default();
        let detail = if e.detail.is_empty() {
            String::new()
        } else {
            format!(": {}", e.detail)
        };
        println!(
            "{} {:<width$} {what}{pid}{detail}",
            style.dim(&e.at),
            e.service
        );
    }
    if shown.is_empty() && !global.quiet {
        eprintln!("no events yet");
    }
    Ok(Exit::Done)
}
