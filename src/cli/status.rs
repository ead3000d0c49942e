//! `berth status` (`ps`): one row per service, then the stack's health. Asks the daemon; with
//! no daemon, reads the run files and checks them against the live process table. Exit 3
//! unless every service asked about (default: every autostart one) is running and healthy
//! (or a one-shot that completed).

use super::args::Global;
use super::up::check_services;
use super::{Exit, Failure, config_path, options, report};
use crate::api::client::{ClientError, Sent, send_request};
use crate::api::types::{DaemonInfo, ServiceView, StackHealth, StatusResponse};
use crate::config;
use crate::daemon::adopted::NOT_CAPTURED;
use crate::daemon::launch::run_file_path;
use crate::daemon::paths::Paths;
use crate::daemon::rediscover::{Earlier, Markings};
use crate::daemon::supervisor::{HealthState, ServiceState};
use crate::logs::time::now_ms;
use crate::process::usage::Usage;
use crate::stack::Stack;
use crate::state::run_file::{Outcome, RunFile};
use crate::style::Style;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub fn run(global: &Global, services: &[String]) -> Result<Exit, Failure> {
    let path = config_path(global)?;
    let options = options(global);
    let early = Early::ask(&config::likely_state_dir(&path, &options));
    let stack = config::load(&path, &options).map_err(report)?;
    check_services(&stack, services)?;
    let answer = gather(&stack, services, early.answer_for(&stack))?;
    let status = &answer.status;
    let asked: Vec<&ServiceView> = status
        .services
        .iter()
        .filter(|s| !services.is_empty() || stack.service(&s.name).is_some_and(|d| d.autostart))
        .collect();
    let all_well = asked.iter().all(|s| {
        (s.state == ServiceState::Running && s.health == HealthState::Healthy)
            || (s.state == ServiceState::Exited && s.exit_code == Some(0))
    });
    if global.json {
        let mut out = std::io::stdout().lock();
        // The daemon's own bytes when they are the whole answer: decoding and encoding them
        // again would give the same text, later.
        let printed = match &answer.raw {
            Some(raw) => out.write_all(raw),
            None => serde_json::to_writer(&mut out, status).map_err(std::io::Error::from),
        };
        printed.and_then(|()| writeln!(out)).ok();
    } else if !global.quiet {
        print!("{}", table(status, Style::stdout()));
    }
    Ok(if all_well {
        Exit::Done
    } else {
        Exit::NotHealthy
    })
}

/// The status of `services` (all when empty): from the daemon, or without one from the run
/// files.
pub fn collect(stack: &Stack, services: &[String]) -> Result<StatusResponse, Failure> {
    let socket = Paths::new(&stack.state_dir).socket;
    Ok(gather(stack, services, ask(&socket))?.status)
}

/// A status, and the daemon's answer as it came when that is the whole of it.
struct Answer {
    status: StatusResponse,
    raw: Option<Vec<u8>>,
}

type Asked = Result<(Vec<u8>, StatusResponse), ClientError>;

const STATUS_TIMEOUT: Duration = Duration::from_secs(10);

fn ask(socket: &Path) -> Asked {
    decoded(send_request(
        socket,
        "GET",
        "/v1/status",
        &[],
        STATUS_TIMEOUT,
    ))
}

fn decoded(sent: Result<Sent, ClientError>) -> Asked {
    let raw = sent?.answer()?;
    let status = serde_json::from_slice(&raw).map_err(|e| ClientError::Protocol(e.to_string()))?;
    Ok((raw, status))
}

fn gather(stack: &Stack, services: &[String], asked: Asked) -> Result<Answer, Failure> {
    let mut answer = match asked {
        Ok((raw, status)) if status.project == stack.project => Answer {
            status,
            raw: Some(raw),
        },
        // No daemon, or one going away mid-answer: the run files still tell the truth.
        Ok(_) | Err(ClientError::NotRunning | ClientError::Io(_)) => Answer {
            status: from_run_files(&super::replicas::as_left(stack.clone())),
            raw: None,
        },
        Err(e) => return Err(super::daemon_failure(e)),
    };
    if !services.is_empty() {
        // `worker` is each of its instances, the ones `berth scale` made too.
        answer.status.services.retain(|s| {
            services.contains(&s.name)
                || super::replicas::instance_of(stack, &s.name)
                    .is_some_and(|(of, _)| services.iter().any(|n| n == of))
        });
        answer.raw = None;
    }
    Ok(answer)
}

/// The daemon asked before the config is read, at the socket of the state dir the config
/// most likely has, and its answer read after: the daemon builds it while this process reads
/// the config. Taken cold (the first status in a while), each takes about a millisecond, and
/// only the socket's place is needed to ask. A config that moves its state dir elsewhere
/// makes the guess wrong: its answer is then left unread and the right socket asked.
struct Early {
    socket: PathBuf,
    sent: Result<Sent, ClientError>,
}

impl Early {
    fn ask(state_dir: &Path) -> Early {
        let socket = Paths::new(state_dir).socket;
        let sent = send_request(&socket, "GET", "/v1/status", &[], STATUS_TIMEOUT);
        Early { socket, sent }
    }

    fn answer_for(self, stack: &Stack) -> Asked {
        let socket = Paths::new(&stack.state_dir).socket;
        if socket != self.socket {
            return ask(&socket);
        }
        decoded(self.sent)
    }
}

const ORPHANED: &str = "its keeper process is gone: `berth up` adopts it if its health passes, or replaces it (as `ports.strategy` says); `berth down` stops it";

/// What the run files say, checked against `/proc`: no health (only the daemon probes).
fn from_run_files(stack: &Stack) -> StatusResponse {
    let now = now_ms();
    let markings = Markings::default();
    let services: Vec<ServiceView> = stack
        .services
        .iter()
        .map(|service| {
            let mut view = ServiceView::stopped(service);
            // A run file that says running when its shim is dead is as good as lost.
            let mut record = RunFile::read(&run_file_path(stack, &service.name)).filter(|r| {
                !matches!(r.outcome, Outcome::Running | Outcome::Stopping) || r.shim.is_alive()
            });
            // A lost or corrupt run file: the service may still run, found by its markers.
            if record.is_none() {
                match markings.earlier(stack, &service.name) {
                    Some(Earlier::Running(found)) => record = Some(found),
                    Some(Earlier::Adopted(adoption)) => {
                        let main = adoption.adopted;
                        view.state = ServiceState::Running;
                        view.pid = Some(main.pid);
                        view.port = adoption.port;
                        view.uptime_s =
                            Some(now.saturating_sub(adoption.started_at_ms) as f64 / 1000.0);
                        view.rss_bytes = Some(Usage::of_live_tree(main.pid).rss_bytes);
                        view.adopted = true;
                        view.note = Some(NOT_CAPTURED.into());
                    }
                    Some(Earlier::Orphaned(remains)) => {
                        view.state = ServiceState::Running;
                        view.health = HealthState::Unhealthy;
                        view.pid = remains.first().map(|id| id.pid);
                        view.reason = Some(ORPHANED.into());
                    }
                    None => {}
                }
            }
            match record {
                Some(RunFile {
                    main: Some(main),
                    outcome: Outcome::Running | Outcome::Stopping,
                    port,
                    started_at_ms,
                    ..
                }) if main.is_alive() => {
                    view.state = ServiceState::Running;
                    view.pid = Some(main.pid);
                    view.port = port;
                    view.uptime_s = Some(now.saturating_sub(started_at_ms) as f64 / 1000.0);
                    // A few services' trees: walked from their roots, not from a scan of
                    // every process on the machine.
                    view.rss_bytes = Some(Usage::of_live_tree(main.pid).rss_bytes);
                }
                Some(RunFile {
                    outcome: Outcome::Exited { code, .. },
                    ..
                }) => view.exit_code = code,
                Some(RunFile {
                    outcome: Outcome::FailedToStart { error },
                    ..
                }) => {
                    view.state = ServiceState::Failed;
                    view.reason = Some(error);
                }
                _ => {}
            }
            // Without the daemon there is no restart or check history: only the state counts.
            let scored = crate::monitor::score::service(&crate::monitor::score::Facts {
                state: view.state,
                health: view.health,
                restarts_in_window: 0,
                restart_window: service.restart.window,
                failed_checks: 0,
                warning_alerts: 0,
                critical_alerts: 0,
            });
            view.score = scored.value;
            view.score_reasons = scored.reasons;
            view
        })
        .collect();
    let score = crate::daemon::orchestrator::stack_score(&services);
    StatusResponse {
        project: stack.project.clone(),
        health: StackHealth::of(&services),
        daemon: DaemonInfo {
            running: false,
            pid: None,
            api: None,
            history: None,
        },
        services,
        score: score.value,
        score_reasons: score.reasons,
    }
}

pub fn table(status: &StatusResponse, style: Style) -> String {
    let mut rows = vec![
        [
            "NAME", "STATE", "HEALTH", "SCORE", "PID", "PORT", "UPTIME", "RESTARTS", "CPU", "MEM",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for s in &status.services {
        let dash = || "-".to_string();
        rows.push(vec![
            s.name.clone(),
            s.state.name().to_string(),
            s.health.name().to_string(),
            s.score.map(|p| p.to_string()).unwrap_or_else(dash),
            s.pid.map(|p| p.to_string()).unwrap_or_else(dash),
            s.port.map(|p| p.to_string()).unwrap_or_else(dash),
            s.uptime_s
                .map(|u| crate::config::units::format_duration(Duration::from_secs(u as u64)))
                .unwrap_or_else(dash),
            s.restarts.to_string(),
            s.cpu_percent
                .map(|c| format!("{c:.1}%"))
                .unwrap_or_else(dash),
            s.rss_bytes
                .map(|b| format!("{:.1}MiB", b as f64 / (1 << 20) as f64))
                .unwrap_or_else(dash),
        ]);
    }
    let mut out = super::table::render(&rows, &style);
    // An adopted instance runs without berth's keeper: what that costs is said, not hidden.
    for s in status.services.iter().filter(|s| s.adopted) {
        out.push_str(&style.dim(&format!("{}: {NOT_CAPTURED}", s.name)));
        out.push('\n');
    }
    // Why a score is under 100, service by service.
    for s in status
        .services
        .iter()
        .filter(|s| !s.score_reasons.is_empty())
    {
        out.push_str(&style.dim(&format!("{}: {}", s.name, s.score_reasons.join("; "))));
        out.push('\n');
    }
    let health = status.health.name();
    let score = status
        .score
        .map(|s| format!(", score {s}"))
        .unwrap_or_default();
    let daemon = if status.daemon.running {
        ""
    } else {
        " (daemon not running: from run files)"
    };
    out.push_str(&format!("stack: {health}{score}{daemon}\n"));
    out
}
