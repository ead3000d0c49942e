//! `berth export systemd|kubernetes|compose`: writes the stack for another engine (stdout or
//! `-o`) and lists on stderr what it could not carry over.

use super::args::Global;
use super::{Exit, Failure, config_path, options, report};
use crate::config;
use crate::export::{self, Options, Target};
use crate::style::Style;
use serde_json::json;
use std::path::Path;

pub fn run(
    global: &Global,
    target: Target,
    output: Option<&Path>,
    opts: &Options,
) -> Result<Exit, Failure> {
    let path = config_path(global)?;
    let stack = config::load(&path, &options(global)).map_err(report)?;
    let exported = export::export(&stack, target, opts).map_err(Failure::failed)?;
    if global.json {
        let files: Vec<_> = exported
            .files
            .iter()
            .map(|f| json!({"name": f.name, "text": f.text}))
            .collect();
        let notes: Vec<_> = exported
            .notes
            .iter()
            .map(|n| json!({"services": n.services, "key": n.key, "why": n.why}))
            .collect();
        println!("{}", json!({"files": files, "not_carried_over": notes}));
        return Ok(Exit::Done);
    }
    let style = Style::stderr();
    for n in &exported.notes {
        eprintln!("{} {n}", style.yellow("not carried over:"));
    }
    match (target, output) {
        (Target::Systemd, Some(dir)) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| Failure::failed(format!("cannot make {}: {e}", dir.display())))?;
            for f in &exported.files {
                write(&dir.join(&f.name), &f.text)?;
            }
            if !global.quiet {
                eprintln!(
                    "wrote {} units into {}; `systemctl --user daemon-reload && systemctl --user start {}.target` starts them",
                    exported.files.len(),
                    dir.display(),
                    stack.project
                );
            }
        }
        (_, Some(file)) => {
            let text: String = exported.files.iter().map(|f| f.text.as_str()).collect();
            write(file, &text)?;
            if !global.quiet {
                eprintln!("wrote {}", file.display());
            }
        }
        (Target::Systemd, None) => {
            for f in &exported.files {
                println!("### {}\n{}", f.name, f.text);
            }
        }
        (_, None) => {
            for f in &exported.files {
                print!("{}", f.text);
            }
        }
    }
    Ok(Exit::Done)
}

/// Writes `text` unless the file holds it already: an unchanged unit keeps its time (and a
/// file system that flushes a replaced file at once is spared the work).
fn write(path: &Path, text: &str) -> Result<(), Failure> {
    if std::fs::read(path).is_ok_and(|old| old == text.as_bytes()) {
        return Ok(());
    }
    std::fs::write(path, text)
        .map_err(|e| Failure::failed(format!("cannot write {}: {e}", path.display())))
}
