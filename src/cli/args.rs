//! The command line: global flags (valid before or after the subcommand) and subcommands.

use clap::{Args, Parser, Subcommand};
use clap_complete::engine::ArgValueCandidates;
use std::ffi::OsString;
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  berth check                    validate ./berth.yaml (or the nearest one above)
  berth check --json             the same, as JSON for scripts and editors
  berth config --profile prod    print the config as the `prod` profile resolves it
  berth schema > berth.schema.json
  berth up                       start the stack and wait until it is ready
  berth status --json            what runs, for scripts
  berth down                     stop everything
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

/// Completes a `SERVICES` argument with the names in the config.
fn service_names() -> ArgValueCandidates {
    ArgValueCandidates::new(super::completions::service_names)
}

fn parse_kube_version(text: &str) -> Result<String, String> {
    let ok = text
        .split('.')
        .map(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        .collect::<Vec<_>>();
    if text.starts_with("1.") && (ok.len() == 2 || ok.len() == 3) && ok.iter().all(|b| *b) {
        Ok(text.to_string())
    } else {
        Err(format!(
            "`{text}` is not a Kubernetes version; write e.g. 1.31"
        ))
    }
}

/// `NAME=COUNT` of `berth scale`.
fn parse_count(text: &str) -> Result<(String, u32), String> {
    let (name, count) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}`: write NAME=COUNT, e.g. `worker=4`"))?;
    let count = count
        .trim()
        .parse::<u32>()
        .map_err(|_| format!("`{text}`: the count is a whole number, e.g. `{name}=4`"))?;
    Ok((name.trim().to_string(), count))
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    crate::config::units::parse_duration(text)
}

#[derive(Debug, Subcommand)]
pub enum DaemonAction {
    /// Stop the daemon and leave every service running
    Stop,
}

#[derive(Debug, Subcommand)]
pub enum AlertsAction {
    /// Every transition (pending, firing, resolved) and delivery, oldest first
    #[command(after_help = "\
From the history database: works with the daemon down.

Examples:
  berth alerts history
  berth alerts history --since 7d --json")]
    History {
        /// From this long ago on
        #[arg(long, value_parser = parse_duration, default_value = "24h")]
        since: std::time::Duration,
    },
    /// Send a test notification through each channel (default: all); exit 1 if one failed
    #[command(after_help = "\
Examples:
  berth alerts test
  berth alerts test team ops")]
    Test {
        /// Channels to try (default: every channel)
        channels: Vec<String>,
    },
    /// Mute a rule's notifications (for one service with RULE/SERVICE); its state goes on
    #[command(after_help = "\
Examples:
  berth alerts silence disk --for 1h
  berth alerts silence api-memory/api --for 30m")]
    Silence {
        /// RULE or RULE/SERVICE
        target: String,
        /// How long
        #[arg(long = "for", value_parser = parse_duration)]
        for_: std::time::Duration,
    },
    /// Lift a silence
    Unsilence {
        /// RULE or RULE/SERVICE
        target: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum PortsAction {
    /// Who holds PORT: pid, user, command line, start time, berth service (exit 3 if free)
    #[command(after_help = "\
Examples:
  berth ports who 8000
  berth ports who 5432 --json")]
    Who {
        /// The port number
        port: u16,
    },
    /// For every configured port: free, ours, or held by whom, and what `up` would do
    #[command(after_help = "\
Exit status: 0 when `up` could start every service, 1 when some port leaves it no way.

Examples:
  berth ports check
  berth ports check --json")]
    Check,
    /// Stop the process holding PORT: its stop signal, then SIGKILL after --timeout
    #[command(after_help = "\
Never stops a protected process: another user's, pid 1, berth or what it runs under, or a
command line matching `ports.protect`. A berth service is left to `berth down`. On a terminal
it asks first; elsewhere it needs --yes.

Examples:
  berth ports free 8000
  berth ports free 3000 --yes --timeout 2s")]
    Free {
        /// The port number
        port: u16,
        /// Do not ask
        #[arg(short, long)]
        yes: bool,
        /// Stop a foreign process without asking (never a protected one)
        #[arg(long)]
        force: bool,
        /// How long to wait after SIGTERM before SIGKILL
        #[arg(long, value_parser = parse_duration, default_value = "5s")]
        timeout: std::time::Duration,
    },
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

    /// Start the services (default: every autostart one) and wait until they are ready
    #[command(after_help = "\
Starts the daemon if needed, then the services and what they depend on, each as soon as its
dependencies are ready. Exit status: 0 all ready, 1 one failed (its reason and last log lines
are shown), 2 bad config or unknown service.

With --foreground it stays attached: every service's output, prefixed with its name, until
Ctrl-C stops the stack (a second Ctrl-C kills it at once).

Examples:
  berth up
  berth up api --timeout 30s
  berth up --no-wait
  berth up -F")]
    Up {
        /// Services to start (with their dependencies)
        #[arg(add = service_names())]
        services: Vec<String>,
        /// Return once the starts are scheduled
        #[arg(long, conflicts_with = "foreground")]
        no_wait: bool,
        /// Stay attached, showing every service's output; Ctrl-C stops the stack
        #[arg(short = 'F', long)]
        foreground: bool,
        /// Give up waiting after this long (e.g. 30s)
        #[arg(long, value_parser = parse_duration)]
        timeout: Option<std::time::Duration>,
    },

    /// Stop services and what depends on them (default: all, then the daemon)
    #[command(after_help = "\
Dependents stop first. Each service gets its stop signal (or stop_command), then SIGKILL after
its stop_timeout; nothing it started stays alive.

Examples:
  berth down
  berth down db
  berth down --timeout 2s")]
    Down {
        /// Services to stop (with their dependents)
        #[arg(add = service_names())]
        services: Vec<String>,
        /// Use this stop timeout for every service instead of its own (e.g. 2s)
        #[arg(long, value_parser = parse_duration)]
        timeout: Option<std::time::Duration>,
        /// SIGKILL at once, no graceful stop
        #[arg(long, conflicts_with = "timeout")]
        force: bool,
    },

    /// Make sure services are up, for scripts and tools: silent, exit 0 once ready
    #[command(after_help = "\
Starts the daemon and the services if needed; prints nothing on success. Any number of
concurrent callers start each service once. Exit status: 0 ready, 1 failed or timed out.

Examples:
  berth ensure && curl http://127.0.0.1:8000/
  berth ensure api --timeout 10s")]
    Ensure {
        /// Services to make sure of (with their dependencies)
        #[arg(add = service_names())]
        services: Vec<String>,
        /// Give up after this long [default: 60s]
        #[arg(long, value_parser = parse_duration)]
        timeout: Option<std::time::Duration>,
    },

    /// Stop services and start them again (a failed one gets a fresh start)
    #[command(after_help = "\
A service with `replicas` means each of its instances; NAME.2 means that instance alone (its
dependents keep running).

Examples:
  berth restart api
  berth restart api.2
  berth restart")]
    Restart {
        /// Services to restart (dependents that were running come back too)
        #[arg(add = service_names())]
        services: Vec<String>,
        /// Give up waiting after this long (e.g. 30s)
        #[arg(long, value_parser = parse_duration)]
        timeout: Option<std::time::Duration>,
    },

    /// Change how many instances of a service with `replicas` run (not the file)
    #[command(after_help = "\
New instances NAME.K are started as `up` starts a service (ports from `port` then
`alt_ports`, after what they depend on), and waited for; the extra ones are stopped, highest
first. Only the running stack changes: the next `berth up` goes back to the file's `replicas`
(`berth restart` and `berth ensure` keep the running count).

Examples:
  berth scale worker=4
  berth scale api=3 worker=1
  berth scale worker=8 --no-wait --json")]
    Scale {
        /// NAME=COUNT, one or more (COUNT from 1 to 1000)
        #[arg(required = true, value_name = "NAME=COUNT", value_parser = parse_count, add = service_names())]
        counts: Vec<(String, u32)>,
        /// Return once the starts are scheduled
        #[arg(long)]
        no_wait: bool,
        /// Give up waiting after this long (e.g. 30s)
        #[arg(long, value_parser = parse_duration)]
        timeout: Option<std::time::Duration>,
    },

    /// Show services' output: the last lines, or follow it
    #[command(after_help = "\
With several services, lines are interleaved by time and prefixed with the service's name.
Lines that berth itself wrote (started, exited, stopping) are marked [berth].

Examples:
  berth logs api
  berth logs -f
  berth logs --since 5m -n 1000 api worker")]
    Logs {
        /// Services to show (default: all)
        #[arg(add = service_names())]
        services: Vec<String>,
        /// How many lines
        #[arg(short = 'n', long = "lines", default_value_t = 100)]
        lines: usize,
        /// Keep printing new lines as they come (`-f` after `logs` means this)
        #[arg(long)]
        follow: bool,
        /// Only lines from this long ago on (e.g. 10m)
        #[arg(long, value_parser = parse_duration)]
        since: Option<std::time::Duration>,
        /// Show each line's time
        #[arg(short, long)]
        timestamps: bool,
    },

    /// Show each service: state, health, pid, port, uptime, restarts, CPU, memory
    #[command(
        visible_alias = "ps",
        after_help = "\
Works with the daemon down too (from the run files, checked against the process table).
Exit status: 0 when every service asked about is running and healthy, 3 otherwise.

Examples:
  berth status
  berth status api --json"
    )]
    Status {
        /// Services to show (default: all)
        #[arg(add = service_names())]
        services: Vec<String>,
    },

    /// Check the state dir, stale files, pids, disk space and ports
    #[command(after_help = "\
Exit status: 0 when nothing is wrong (warnings allowed), 1 while a problem remains.

Examples:
  berth doctor
  berth doctor --fix")]
    Doctor {
        /// Remove what is stale and safe to remove (stale sockets and run files)
        #[arg(long)]
        fix: bool,
    },

    /// What happened to the services: starts, exits, restarts, failures, port decisions
    #[command(after_help = "\
From the history database (.berth/history.db), oldest first; works with the daemon down.
Kinds: started, ready, exited, restarting, failed, stopped, completed, adopted, port,
health, alert, watch, config, history, api.

Examples:
  berth events
  berth events api -n 20
  berth events --since 1h --kind failed --kind restarting
  berth events -f
  berth events --json")]
    Events {
        /// Services to show (default: all)
        #[arg(add = service_names())]
        services: Vec<String>,
        /// How many of the latest events
        #[arg(short = 'n', long, default_value_t = 50)]
        lines: usize,
        /// Only events from this long ago on (e.g. 30m, 2d)
        #[arg(long, value_parser = parse_duration)]
        since: Option<std::time::Duration>,
        /// Only events of this kind (repeatable)
        #[arg(long = "kind", value_name = "KIND", value_parser = clap::builder::PossibleValuesParser::new(crate::api::monitoring::EVENT_KINDS))]
        kinds: Vec<String>,
        /// Keep printing new events as they happen (`-f` after `events` means this)
        #[arg(long)]
        follow: bool,
    },

    /// Usage and health over a window, from history: CPU, memory, restarts, checks
    #[command(after_help = "\
Per service: CPU average and maximum, memory average and maximum, restarts, the share of
the window it was running and healthy, health-check p50/p95 and failures, and the time to
ready of its last start; then the machine's CPU, memory, disk and load maxima. Works with
the daemon down (reads .berth/history.db).

Examples:
  berth stats
  berth stats api --since 24h
  berth stats --since 7d --json")]
    Stats {
        /// Services to show (default: all)
        #[arg(add = service_names())]
        services: Vec<String>,
        /// The window: from this long ago until now
        #[arg(long, value_parser = parse_duration, default_value = "1h")]
        since: std::time::Duration,
    },

    /// Firing and pending alerts; `history`, `test`, `silence`, `unsilence`
    #[command(after_help = "\
Rules and channels are in berth.yaml's `alerts:` section (see docs/alerts.md).

Examples:
  berth alerts
  berth alerts history --since 24h
  berth alerts test team
  berth alerts silence api-memory/api --for 2h
  berth alerts unsilence api-memory/api")]
    Alerts {
        #[command(subcommand)]
        action: Option<AlertsAction>,
    },

    /// Open the web dashboard: prints its address with a one-time login code
    #[command(after_help = "\
The daemon serves the dashboard on the `api.listen` address, or, without one, on a free
loopback port it keeps while it runs (and takes again after it was killed). The printed
address logs the browser in once, within 15 minutes, and leaves a session cookie; run
`berth dashboard` again for another. Needs a running stack (`berth up`).

Examples:
  berth dashboard
  berth dashboard --open
  berth dashboard --json | jq -r .url")]
    Dashboard {
        /// Also open the address in the browser ($BROWSER, else xdg-open)
        #[arg(long)]
        open: bool,
    },

    /// The stack live in the terminal: services, usage, logs, events, alerts; act on them
    #[command(after_help = crate::tui::help())]
    Top {
        /// How often the figures are redrawn (keys always answer at once), e.g. 500ms, 2s
        #[arg(short = 'i', long = "interval", value_name = "D", value_parser = parse_duration, default_value = "1s")]
        interval: std::time::Duration,
    },

    /// The machine's listening sockets and who holds them; `who PORT`, `free PORT`
    #[command(after_help = "\
Works without a config. With one, each configured port is shown as free, ours, or held by
whom.

Examples:
  berth ports
  berth ports --json --all
  berth ports who 8000
  berth ports free 8000")]
    Ports {
        #[command(subcommand)]
        action: Option<PortsAction>,
        /// Include UDP sockets
        #[arg(long)]
        all: bool,
    },

    /// Run the supervisor in the foreground (`berth daemon stop` stops it, services keep running)
    Daemon {
        #[command(subcommand)]
        action: Option<DaemonAction>,
        /// Write `ready` on stdout once serving, then let go of stdout (for the commands
        /// that start the daemon in the background)
        #[arg(long, hide = true)]
        announce: bool,
    },

    /// Print a completion script (subcommands, flags and the config's service names)
    #[command(after_help = "\
The script asks berth itself what to complete, so it follows the binary and the config at
hand: service names come from the config found from the current directory (or -f).

Install (each loads the script anew in every new shell):
  bash:        echo 'source <(berth completions bash)' >> ~/.bashrc
  zsh:         echo 'source <(berth completions zsh)' >> ~/.zshrc
  fish:        echo 'berth completions fish | source' >> ~/.config/fish/config.fish
  elvish:      echo 'eval (berth completions elvish | slurp)' >> ~/.config/elvish/rc.elv
  powershell:  berth completions powershell | Out-String | Invoke-Expression  (in $PROFILE)")]
    Completions {
        /// The shell to complete in
        #[arg(value_enum)]
        shell: super::completions::Shell,
    },

    /// Print the manual page (roff): every command, exit status, environment, files
    #[command(after_help = "\
Examples:
  berth man | man -l -
  berth man up | man -l -
  berth man > ~/.local/share/man/man1/berth.1")]
    Man {
        /// Only this command's page (e.g. `up`, `ports who`)
        command: Vec<String>,
    },

    /// Serve the Model Context Protocol on stdio, for AI agents: status, up, down, logs …
    #[command(after_help = "\
An MCP client (a coding agent) starts it and speaks JSON-RPC on its stdin and stdout; nothing
else is ever written on stdout. The config is found from the server's working directory, or
named with -f. Tools: status, ensure, up, down, restart, logs, events, stats, ports_who.

Example agent configuration:
  {\"mcpServers\": {\"berth\": {\"command\": \"berth\", \"args\": [\"mcp\"]}}}")]
    Mcp,

    /// Write a berth.yaml from a Procfile, a process-compose.yaml or a PM2 ecosystem file
    #[command(after_help = "\
The format is told by the file's name (Procfile*, process-compose*.yaml, ecosystem*.js or
.json) or by --from. The berth.yaml goes to stdout (or -o FILE); each setting that has no
berth equivalent is listed on stderr with its FILE:LINE, and kept as a comment in the output
where it concerns one service. A Procfile's services get PORT as foreman gives it: 5000, 5100,
… (or from PORT in the environment). A JavaScript ecosystem file is evaluated with `node`.
Exit status: 0 written, 1 a file could not be read or node run, 2 the source is invalid.

Examples:
  berth import Procfile -o berth.yaml
  berth import process-compose.yaml > berth.yaml
  berth import ecosystem.config.js -o berth.yaml && berth check
  berth import deploy/apps.json --from pm2")]
    Import {
        /// The file to read
        file: PathBuf,
        /// Its format, when its name does not tell
        #[arg(long, value_enum)]
        from: Option<crate::import::Format>,
        /// Write the berth.yaml here instead of stdout
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
        /// Replace the -o file when it exists
        #[arg(long)]
        force: bool,
    },

    /// Write the stack for systemd, Kubernetes or docker compose, to run it elsewhere
    #[command(after_help = "\
systemd: user units PROJECT-NAME.service and PROJECT.target, into -o DIR (stdout without).
kubernetes: a ConfigMap, a Deployment and, with a port, a Service per service (-o FILE).
compose: a docker compose file (-o FILE). Kubernetes and compose run images: a service needs
`export: { image: ... }` in berth.yaml, or is refused (exit 1) unless --skip-missing.
What a target cannot carry over is listed on stderr.

Examples:
  berth export systemd -o ~/.config/systemd/user && systemctl --user start PROJECT.target
  berth export kubernetes --kube-version 1.30 -o k8s.yaml
  berth export compose --skip-missing -o compose.yaml")]
    Export {
        /// Where the stack goes
        #[arg(value_enum)]
        target: crate::export::Target,
        /// A directory for systemd, a file for the others [default: stdout]
        #[arg(short = 'o', long = "output", value_name = "PATH")]
        output: Option<PathBuf>,
        /// Leave out the services without `export.image` instead of refusing
        #[arg(long)]
        skip_missing: bool,
        /// The Kubernetes version the manifests are for
        #[arg(long, value_name = "MAJOR.MINOR", default_value = "1.31", value_parser = parse_kube_version)]
        kube_version: String,
    },

    /// Keep one service (started by the daemon; the spec comes as JSON on stdin)
    #[command(hide = true)]
    Shim {
        /// Fork a shim for each spec the daemon sends on stdin, until it closes it
        #[arg(long)]
        forker: bool,
    },
}

/// `-f` names the config file, except after `logs` and `events`, where it means `--follow`
/// (as in docker compose). Rewrites that one case so the parser sees one meaning per flag.
pub fn rewrite_logs_follow(args: Vec<OsString>) -> Vec<OsString> {
    let takes_value = ["-f", "--file", "--profile"];
    // The subcommand is the first argument that is neither a flag nor a flag's value.
    let mut at = 1;
    while let Some(arg) = args.get(at) {
        let arg = arg.to_string_lossy();
        if takes_value.contains(&arg.as_ref()) {
            at += 2;
        } else if arg.starts_with('-') {
            at += 1;
        } else {
            break;
        }
    }
    if args.get(at).is_none_or(|a| a != "logs" && a != "events") {
        return args;
    }
    args.into_iter()
        .enumerate()
        .map(|(i, arg)| {
            if i > at && arg == "-f" {
                "--follow".into()
            } else {
                arg
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(line: &str) -> String {
        let args: Vec<OsString> = line.split(' ').map(OsString::from).collect();
        rewrite_logs_follow(args)
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn only_a_dash_f_after_logs_means_follow() {
        assert_eq!(rewrite("berth logs -f api"), "berth logs --follow api");
        assert_eq!(
            rewrite("berth -f x.yaml logs -f"),
            "berth -f x.yaml logs --follow"
        );
        assert_eq!(
            rewrite("berth --profile logs logs -f"),
            "berth --profile logs logs --follow"
        );
        assert_eq!(rewrite("berth up -f x.yaml"), "berth up -f x.yaml");
        assert_eq!(rewrite("berth -f logs check"), "berth -f logs check");
        assert_eq!(rewrite("berth"), "berth");
        assert_eq!(rewrite("berth events -f api"), "berth events --follow api");
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
