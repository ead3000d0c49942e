//! `berth check`: validate the config, every problem at once; `--json` for tools.

use super::args::Global;
use super::{Exit, Failure, config_path, options, report, unreadable};
use crate::config::{self, LoadError};
use crate::stack::Stack;
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
        println!("{}", summary(&stack, Style::stdout()));
    }
    Ok(Exit::Done)
}

fn print_json(valid: bool, errors: Vec<config::diagnostic::Diagnostic>, stack: Option<&Stack>) {
    let mut out = json!({"valid": valid, "errors": errors});
    if let Some(stack) = stack {
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
    format!(
        "{} {} is valid{profile}: {n} service{}, start order: {}",
        style.green("✓"),
        config::source::display_path(&stack.file),
        if n == 1 { "" } else { "s" },
        order.join(" → ")
    )
}
