//! `berth import FILE`: writes the berth.yaml equivalent of another tool's file (stdout or
//! `-o`) and lists on stderr, with the source line, what had no equivalent.

use super::args::Global;
use super::{Exit, Failure};
use crate::import::{self, Format, ImportError};
use crate::style::Style;
use serde_json::json;
use std::path::Path;

pub fn run(
    global: &Global,
    file: &Path,
    from: Option<Format>,
    output: Option<&Path>,
    force: bool,
) -> Result<Exit, Failure> {
    let shown = file.display().to_string();
    let format = from.or_else(|| Format::detect(file)).ok_or_else(|| {
        Failure::usage(format!(
            "cannot tell the format of {shown} from its name; say it with --from procfile, --from process-compose or --from pm2"
        ))
    })?;
    if let Some(out) = output
        && out.exists()
        && !force
    {
        return Err(Failure::failed(format!(
            "{} exists; berth import does not replace a file unless given --force",
            out.display()
        )));
    }
    let imported = import::import(file, &shown, format).map_err(|e| match e {
        ImportError::Source(m) => Failure::usage(m),
        ImportError::Tool(m) => Failure::failed(m),
    })?;
    if global.json {
        let leftovers: Vec<_> = imported
            .leftovers
            .iter()
            .map(|l| json!({"file": l.file, "line": l.line, "key": l.key, "why": l.why}))
            .collect();
        println!(
            "{}",
            json!({"config": imported.yaml, "leftovers": leftovers})
        );
        return Ok(Exit::Done);
    }
    let style = Style::stderr();
    for l in &imported.leftovers {
        eprintln!("{} {l}", style.yellow("not carried over:"));
    }
    match output {
        Some(out) => {
            std::fs::write(out, &imported.yaml)
                .map_err(|e| Failure::failed(format!("cannot write {}: {e}", out.display())))?;
            if !global.quiet {
                eprintln!(
                    "wrote {} ({} service{}); check it with `berth check -f {}`",
                    out.display(),
                    imported.services,
                    if imported.services == 1 { "" } else { "s" },
                    out.display()
                );
            }
        }
        None => print!("{}", imported.yaml),
    }
    Ok(Exit::Done)
}
