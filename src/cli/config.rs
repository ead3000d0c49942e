//! `berth config`: the config fully resolved (its files merged), as YAML (or JSON with
//! `--json`).

use super::args::Global;
use super::{Exit, Failure, config_path, options, report};
use crate::config::{self, resolved::resolved};
use crate::yaml_writer::to_yaml;

pub fn run(global: &Global) -> Result<Exit, Failure> {
    let path = config_path(global)?;
    let stack = config::load(&path, &options(global)).map_err(report)?;
    let value = resolved(&stack);
    if global.json {
        println!("{value}");
    } else {
        if !stack.files.is_empty() {
            // A comment, so the output stays a config that loads as it is.
            println!(
                "# merged from {}",
                super::check::config_files(&stack).join(", ")
            );
        }
        print!("{}", to_yaml(&value));
    }
    Ok(Exit::Done)
}
