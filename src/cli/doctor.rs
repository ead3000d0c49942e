//! `berth doctor`: check the state dir, stale files, pids, disk space and ports; `--fix`
//! removes what is stale and safe to remove. Exit 1 while a problem remains.

use super::args::Global;
use super::up::load_with_services;
use super::{Exit, Failure};
use crate::doctor::{Level, examine, fix};
use crate::style::Style;

pub fn run(global: &Global, apply: bool) -> Result<Exit, Failure> {
    let stack = load_with_services(global, &[])?;
    let mut findings = examine(&stack);
    let fixed = if apply { fix(&findings) } else { Vec::new() };
    if !fixed.is_empty() {
        findings = examine(&stack);
    }
    if global.json {
        let out = serde_json::json!({"findings": findings, "fixed": fixed});
        println!("{out}");
    } else if !global.quiet {
        let style = Style::stdout();
        for f in &findings {
            let mark = match f.level {
                Level::Ok => style.green("✓"),
                Level::Warning => style.yellow("!"),
                Level::Problem => style.red("✗"),
            };
            let hint = if f.fix.is_some() {
                " (`berth doctor --fix` removes it)"
            } else {
                ""
            };
            println!("{mark} {}{hint}", f.message);
        }
        for path in &fixed {
            println!("fixed: removed {}", path.display());
        }
    }
    let problems = findings.iter().any(|f| f.level == Level::Problem);
    Ok(if problems { Exit::Failed } else { Exit::Done })
}
