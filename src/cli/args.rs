//! The command line: global flags (valid before or after the subcommand) and subcommands.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  berth check                    validate ./berth.yaml (or the nearest one above)
  berth check --json             the same, as JSON for scripts and editors
  berth config --profile prod    print the config as the `prod` profile resolves it
  berth schema > berth.schema.json
";

#[derive(Debug, Parser)]
#[command(
    name = "berth",
    version,
    about = "Start, watch and stop the services of a local stack from one berth.yaml",
    after_help = EXAMPLES,
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// The config file [default: berth.yaml here or in a parent directory]
    #[arg(
        short = 'f',
        long = "file",
        env = "BERTH_FILE",
        global = true,
        value_name = "FILE"
    )]
    pub file: Option<PathBuf>,

    /// Apply this profile from the config's `profiles`
    #[arg(long, env = "BERTH_PROFILE", global = true, value_name = "NAME")]
    pub profile: Option<String>,

    /// Print data as JSON
    #[arg(long, global = true)]
    pub json: bool,

    /// Print less: nothing on success
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Print more detail (repeat for even more)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate the config: every problem at once, as FILE:LINE:COL: message
    #[command(after_help = "\
Without --profile, the config is checked as it stands and as each of its profiles
resolves it. Exit status: 0 valid, 2 invalid or not found.

Examples:
  berth check
  berth check -f deploy/berth.yaml --profile production
  berth check --json | jq '.errors[].message'")]
    Check,

    /// Print the config fully resolved: profile applied, env files merged, defaults filled in
    #[command(after_help = "\
The output is itself a valid berth.yaml. Ports are shown as configured; if a port is
taken at start time, berth may move the service and tells its dependents the new one.

Examples:
  berth config
  berth config --profile production --json")]
    Config,

    /// Print the JSON Schema of berth.yaml, for editors
    #[command(after_help = "\
Save it and point yaml-language-server at it, e.g. with a first line in berth.yaml:
  # yaml-language-server: $schema=./berth.schema.json

Example:
  berth schema > berth.schema.json")]
    Schema,

    /// Keep one service (started by the daemon; the spec comes as JSON on stdin)
    #[command(hide = true)]
    Shim,
}
