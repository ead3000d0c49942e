//! `berth ports`: the machine's listening sockets and who holds them (with a config, each
//! configured port as free, ours or held by whom); `ports who PORT`; `ports free PORT`, which
//! stops a foreign holder under the safety rules of `ports::protect`.

use super::args::{Global, PortsAction};
use super::{Exit, Failure, config_path, options};
use crate::config;
use crate::daemon::adopted;
use crate::daemon::launch::{run_file_path, shim_spec};
use crate::daemon::port_plan::{self, Assigned};
use crate::logs::time::rfc3339_ms;
use crate::ports::holders::{self, Holder};
use crate::ports::plan::Decision;
use crate::ports::protect::{Class, Context, classify};
use crate::process::table;
use crate::process::terminate::terminate;
use crate::stack::Stack;
use crate::state::run_file::{Record, RunFile};
use crate::style::Style;
use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

pub fn run(global: &Global, action: Option<&PortsAction>, udp: bool) -> Result<Exit, Failure> {
    let stack = optional_stack(global)?;
    let context = Context::for_stack(stack.as_ref());
    match action {
        None => list(global, stack.as_ref(), &context, udp),
        Some(PortsAction::Who { port }) => who(global, *port),
        Some(PortsAction::Check) => match &stack {
            Some(stack) => check(global, stack),
            None => Err(Failure::usage(
                "`ports check` needs a config: run it beside berth.yaml, or name one with -f",
            )),
        },
        Some(PortsAction::Free {
            port,
            yes,
            force,
            timeout,
        }) => free(*port, &context, *yes || *force, *timeout),
    }
}

/// The config, when there is one: these commands work without. A config named with `-f` must
/// load; one merely found nearby that does not is reported and left out.
fn optional_stack(global: &Global) -> Result<Option<Stack>, Failure> {
    let path = match config_path(global) {
        Ok(path) => path,
        Err(missing) if global.file.is_some() => return Err(missing),
        Err(_) => return Ok(None),
    };
    match config::load(&path, &options(global)) {
        Ok(stack) => Ok(Some(stack)),
        Err(_) if global.file.is_none() => {
            eprintln!(
                "note: {} does not load (see `berth check`); configured ports are not shown",
                path.display()
            );
            Ok(None)
        }
        Err(e) => Err(super::report(e)),
    }
}

fn read(result: std::io::Result<Vec<Holder>>) -> Result<Vec<Holder>, Failure> {
    result.map_err(|e| Failure::failed(format!("cannot read the socket table: {e}")))
}

fn list(
    global: &Global,
    stack: Option<&Stack>,
    context: &Context,
    udp: bool,
) -> Result<Exit, Failure> {
    let mut all = read(holders::all(udp))?;
    context.credit_adopted(&mut all);
    if global.json {
        println!("{}", serde_json::to_string(&all).expect("serializable"));
        return Ok(Exit::Done);
    }
    let style = Style::stdout();
    let terminal = std::io::stdout().is_terminal();
    let mut rows = vec![
        [
            "PORT", "PROTO", "ADDRESS", "PID", "USER", "SERVICE", "COMMAND",
        ]
        .map(String::from),
    ];
    for h in &all {
        let command = holders::one_line(h.command.as_deref().unwrap_or("-"));
        rows.push([
            h.port.to_string(),
            format!("{:?}", h.proto).to_lowercase(),
            h.address.clone(),
            h.pid.map_or("-".into(), |p| p.to_string()),
            h.user.clone().unwrap_or_else(|| "-".into()),
            service_name(h),
            if terminal {
                shorten(&command, 60)
            } else {
                command
            },
        ]);
    }
    let mut out = String::new();
    let widths: Vec<usize> = (0..7)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for (n, row) in rows.iter().enumerate() {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, cell)| match i {
                6 => cell.clone(),
                _ => format!("{cell:<w$}", w = widths[i]),
            })
            .collect();
        let line = line.join("  ");
        out.push_str(&if n == 0 { style.bold(&line) } else { line });
        out.push('\n');
    }
    if let Some(stack) = stack {
        out.push_str(&configured(stack, &all, context, style));
    }
    print!("{out}");
    Ok(Exit::Done)
}

/// Each configured port: free, ours, or held by whom.
fn configured(stack: &Stack, all: &[Holder], context: &Context, style: Style) -> String {
    let mut out = String::new();
    let services: Vec<_> = stack.services.iter().filter(|s| s.port.is_some()).collect();
    if services.is_empty() {
        return out;
    }
    out.push_str(&format!(
        "\n{}\n",
        style.bold(&format!("ports of {}:", stack.project))
    ));
    let width = services.iter().map(|s| s.name.len()).max().unwrap_or(0);
    for service in services {
        let port = service.port.expect("filtered");
        let holders: Vec<&Holder> = all
            .iter()
            .filter(|h| h.port == port && h.proto == crate::ports::Proto::Tcp)
            .collect();
        let others: Vec<&Holder> = holders
            .iter()
            .copied()
            .filter(|h| classify(h, context) != Class::Ours(service.name.clone()))
            .collect();
        let state = match (holders.is_empty(), others.first()) {
            (true, _) => style.dim("free"),
            (false, None) => style.green("ours"),
            (false, Some(h)) => style.red(&format!("conflict: held by {}", h.describe())),
        };
        out.push_str(&format!("  {:<width$}  {port:<5}  {state}\n", service.name));
    }
    out
}

fn service_name(h: &Holder) -> String {
    match (&h.project, &h.service) {
        (Some(project), Some(service)) => format!("{project}/{service}"),
        _ => "-".into(),
    }
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max - 1).collect();
    format!("{cut}…")
}

fn who(global: &Global, port: u16) -> Result<Exit, Failure> {
    let found = read(holders::on_port(port))?;
    if global.json {
        println!("{}", serde_json::to_string(&found).expect("serializable"));
    } else if found.is_empty() {
        eprintln!("port {port} is free");
    }
    if !global.json {
        print!("{}", who_text(port, &found));
    }
    Ok(if found.is_empty() {
        Exit::NotHealthy
    } else {
        Exit::Done
    })
}

/// Who holds `port`, as `ports who` says it: a few lines per holder.
pub fn who_text(port: u16, found: &[Holder]) -> String {
    let mut out = String::new();
    for h in found {
        let proto = format!("{:?}", h.proto).to_lowercase();
        out.push_str(&format!(
            "port {port}/{proto} on {}: {}\n",
            h.address,
            h.describe()
        ));
        if let Some(started) = h.process.and_then(|p| table::started_at_ms(p.start_time)) {
            out.push_str(&format!("  started {}\n", rfc3339_ms(started)));
        }
        if let (Some(project), Some(service)) = (&h.project, &h.service) {
            out.push_str(&format!(
                "  berth service `{service}` of project `{project}`\n"
            ));
        }
    }
    out
}

/// One configured port as `ports check` reports it.
#[derive(serde::Serialize)]
struct PortCheck {
    service: String,
    port: u16,
    /// `free`, `ours`, `adopt` (a healthy instance of it holds the port), `stop` (a holder
    /// would be stopped), `move`, or `fail`.
    action: &'static str,
    /// The port `up` would start it on, unless it fails.
    #[serde(skip_serializing_if = "Option::is_none")]
    start_on: Option<u16>,
    detail: String,
}

fn check(global: &Global, stack: &Stack) -> Result<Exit, Failure> {
    let assigned = Assigned::default();
    let mut checks = Vec::new();
    for service in stack.services.iter().filter(|s| s.port.is_some()) {
        let port = service.port.expect("filtered");
        assigned.set(&service.name, port);
        // The instance berth runs now holding its own port is no conflict.
        let path = run_file_path(stack, &service.name);
        let running = RunFile::read(&path)
            .filter(RunFile::is_live)
            .filter(|r| r.port == Some(port))
            .map(|r| format!("the running instance (pid {})", r.main.map_or(0, |m| m.pid)));
        let adopted = Record::live_adoption(&path)
            .filter(|a| a.port == Some(port))
            .map(|a| format!("the adopted instance (pid {})", a.adopted.pid));
        if let Some(who) = running.or(adopted) {
            checks.push(PortCheck {
                service: service.name.clone(),
                port,
                action: "ours",
                start_on: Some(port),
                detail: format!("held by {who}"),
            });
            continue;
        }
        // An instance of it holding the port is adopted when its health passes: checked as
        // `up` would, with this environment.
        let healthy = || {
            let port_of = |name: &str| assigned.get(name);
            let spec = shim_spec(stack, service, &std::env::vars().collect(), &port_of);
            adopted::healthy(service, &spec, &port_of, true)
        };
        let decision =
            port_plan::decide(stack, service, &assigned, &healthy).expect("it has a port");
        let (action, start_on) = match &decision {
            Decision::Use(_) => ("free", Some(port)),
            Decision::Adopt { .. } => ("adopt", Some(port)),
            Decision::Stop { .. } => ("stop", Some(port)),
            Decision::Move { to, .. } => ("move", Some(*to)),
            Decision::Refuse(_) => ("fail", None),
        };
        if let Some(to) = start_on {
            assigned.set(&service.name, to);
        }
        let detail = decision
            .describe(&service.name)
            .map(|d| {
                d.trim_start_matches(&format!("{}: ", service.name))
                    .to_string()
            })
            .unwrap_or_else(|| "free".into());
        checks.push(PortCheck {
            service: service.name.clone(),
            port,
            action,
            start_on,
            detail: detail
                .replace("stopped it", "up would stop it")
                .replace("so it was adopted", "so up would adopt it"),
        });
    }
    let fails = checks.iter().any(|c| c.action == "fail");
    if global.json {
        println!("{}", serde_json::to_string(&checks).expect("serializable"));
    } else {
        let style = Style::stdout();
        let width = checks.iter().map(|c| c.service.len()).max().unwrap_or(0);
        for c in &checks {
            let mark = match c.action {
                "free" | "ours" | "adopt" => style.green("✓"),
                "fail" => style.red("✗"),
                _ => style.yellow("↪"),
            };
            let detail = match c.action {
                "free" => String::new(),
                _ => format!(": {}", c.detail),
            };
            println!(
                "{mark} {:<width$}  {:<5}  {}{detail}",
                c.service, c.port, c.action
            );
        }
        if checks.is_empty() {
            println!("no service of {} has a port", stack.project);
        }
    }
    Ok(if fails { Exit::Failed } else { Exit::Done })
}

fn free(port: u16, context: &Context, yes: bool, timeout: Duration) -> Result<Exit, Failure> {
    let found = read(holders::on_port(port))?;
    if found.is_empty() {
        eprintln!("port {port} is already free");
        return Ok(Exit::Done);
    }
    // Every holder must be fair game before any is touched.
    let mut targets = Vec::new();
    for h in &found {
        match classify(h, context) {
            Class::Foreign => targets.push(h),
            Class::Ours(service) => {
                return Err(Failure::failed(format!(
                    "port {port} is held by `{service}` of this stack: stop it with `berth down {service}`"
                )));
            }
            Class::OtherStack {
                stack,
                project,
                service,
            } => {
                return Err(Failure::failed(format!(
                    "port {port} is held by berth service `{service}` of project `{project}` (state dir {stack}): stop it there with `berth down {service}`, or its supervisor will start it again"
                )));
            }
            Class::Protected(why) => {
                return Err(Failure::failed(format!(
                    "port {port} is held by {}, which berth never stops: {why}",
                    h.describe()
                )));
            }
            Class::Unseen => {
                return Err(Failure::failed(format!(
                    "port {port} is held by {}; run berth as that user, or give your service another port",
                    h.describe()
                )));
            }
        }
    }
    // One question per process, however many sockets it holds on the port.
    let mut ids = Vec::new();
    for h in targets {
        let Some(id) = h.process.filter(|id| !ids.contains(id)) else {
            continue;
        };
        if !yes && !confirm(&format!("stop {} holding port {port}?", h.describe()))? {
            eprintln!("left alone");
            return Ok(Exit::Failed);
        }
        ids.push(id);
    }
    let killed = terminate(&ids, rustix::process::Signal::TERM.as_raw(), timeout);
    let still = read(holders::on_port(port))?;
    let pids: Vec<String> = ids.iter().map(|id| id.pid.to_string()).collect();
    let how = if killed > 0 {
        "killed after the timeout"
    } else {
        "stopped"
    };
    if let Some(h) = still.first() {
        return Err(Failure::failed(format!(
            "pid {} {how}, but port {port} is held again, by {}",
            pids.join(", "),
            h.describe()
        )));
    }
    eprintln!("pid {} {how}; port {port} is free", pids.join(", "));
    Ok(Exit::Done)
}

/// Asks on the terminal; without one, refuses (a script must say --yes).
fn confirm(question: &str) -> Result<bool, Failure> {
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Err(Failure::failed(format!(
            "{question} Not asking without a terminal: pass --yes to stop it"
        )));
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Failure::failed(format!("cannot read the answer: {e}")))?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}
