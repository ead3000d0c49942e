//! `berth doctor`'s checks of a project's berth state: the state dir (writable, private), the
//! daemon's socket, the run files (corrupt, stale, pids reused), free disk space, configured
//! ports held by other processes, the history database and the API's TCP listener. Each
//! finding may carry a fix that is safe to apply (`--fix`).

use crate::daemon::launch::run_file_path;
use crate::daemon::paths::Paths;
use crate::ports::holders::{self, Holder};
use crate::ports::socket_table::listeners;
use crate::process::table::Snapshot;
use crate::stack::Stack;
use crate::state::run_file::{Adoption, Outcome, Record};
use serde::Serialize;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Ok,
    Warning,
    Problem,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub level: Level,
    pub message: String,
    /// A stale file that is safe to remove.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<PathBuf>,
}

fn finding(level: Level, message: impl Into<String>) -> Finding {
    Finding {
        level,
        message: message.into(),
        fix: None,
    }
}

/// Below these, free space in the state dir is a warning, then a problem (logs stop).
const LOW_SPACE: u64 = 100 << 20;
const NO_SPACE: u64 = 10 << 20;

pub fn examine(stack: &Stack) -> Vec<Finding> {
    let paths = Paths::new(&stack.state_dir);
    let mut out = vec![state_dir(&stack.state_dir), daemon(&paths)];
    out.extend(private(&stack.state_dir));
    out.extend(disk(&stack.state_dir));
    out.extend(history(&stack.state_dir, &paths));
    out.extend(listener(stack, &paths));
    out.extend(run_files(stack));
    out.extend(leftover_temporaries(stack));
    out.extend(ports(stack));
    out
}

fn state_dir(dir: &Path) -> Finding {
    if !dir.exists() {
        return finding(
            Level::Ok,
            format!(
                "state dir {} does not exist yet; `berth up` creates it",
                dir.display()
            ),
        );
    }
    let probe = dir.join(format!(".doctor.{}", std::process::id()));
    match std::fs::write(&probe, b"") {
        Ok(()) => {
            let _ = std::fs::remove_file(&probe);
            finding(
                Level::Ok,
                format!("state dir {} is writable", dir.display()),
            )
        }
        Err(e) => finding(
            Level::Problem,
            format!(
                "state dir {} is not writable ({e}): fix its permissions, or point BERTH_STATE_DIR elsewhere",
                dir.display()
            ),
        ),
    }
}

/// Service logs, the history and the token are the user's alone.
fn private(dir: &Path) -> Option<Finding> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir).ok()?.permissions().mode();
    (mode & 0o077 != 0).then(|| {
        finding(
            Level::Warning,
            format!(
                "state dir {} can be read by others (mode {:o}): its logs, history and API token are private; `chmod 700 {}` (the next `berth up` does it too)",
                dir.display(),
                mode & 0o777,
                dir.display()
            ),
        )
    })
}

/// The daemon's status, when one answers.
fn daemon_status(paths: &Paths) -> Option<crate::api::types::StatusResponse> {
    crate::api::client::call::<(), crate::api::types::StatusResponse>(
        &paths.socket,
        "GET",
        "/v1/status?usage=false",
        None,
        std::time::Duration::from_secs(5),
    )
    .ok()
}

/// The history database: there and whole, its size, and what the daemon lost writing it.
fn history(dir: &Path, paths: &Paths) -> Vec<Finding> {
    let path = crate::history::path(dir);
    let mut out = Vec::new();
    let aside = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with("history.db.corrupt-")
                })
                .count()
        })
        .unwrap_or(0);
    if aside > 0 {
        out.push(finding(
            Level::Warning,
            format!(
                "{aside} corrupt history database(s) moved aside in {} (history.db.corrupt-*): delete them when you no longer need them",
                dir.display()
            ),
        ));
    }
    match crate::history::query::open(dir) {
        Ok(None) => out.push(finding(
            Level::Ok,
            "no history yet; the daemon starts one at its first `berth up`",
        )),
        Err(e) => out.push(finding(
            Level::Problem,
            format!(
                "{e}: the daemon moves a damaged database aside and starts afresh when it next opens it (`berth daemon stop`, then `berth up`)"
            ),
        )),
        Ok(Some(conn)) => {
            let check: Result<String, _> =
                conn.query_row("PRAGMA quick_check(1)", [], |r| r.get(0));
            let mut wal = path.clone().into_os_string();
            wal.push("-wal");
            let size = [path.as_os_str(), wal.as_os_str()]
                .iter()
                .filter_map(|p| std::fs::metadata(p).ok())
                .map(|m| m.len())
                .sum::<u64>();
            match check {
                Ok(ok) if ok == "ok" => out.push(finding(
                    Level::Ok,
                    format!(
                        "history {} is whole ({})",
                        path.display(),
                        crate::config::units::format_size(size)
                    ),
                )),
                other => out.push(finding(
                    Level::Problem,
                    format!(
                        "history {} is damaged ({}): the daemon moves it aside and starts afresh when it next opens it (`berth daemon stop`, then `berth up`)",
                        path.display(),
                        match other {
                            Ok(why) => why,
                            Err(e) => e.to_string(),
                        }
                    ),
                )),
            }
        }
    }
    if let Some(health) = daemon_status(paths).and_then(|s| s.daemon.history) {
        if let Some(why) = health.error {
            out.push(finding(
                Level::Problem,
                format!("the daemon cannot write its history: {why}; {} records lost so far (services are not affected)", health.lost),
            ));
        } else if health.lost > 0 {
            out.push(finding(
                Level::Warning,
                format!(
                    "the daemon lost {} history records since it started (see .berth/daemon.log)",
                    health.lost
                ),
            ));
        }
    }
    out
}

/// The API on TCP: serving where the config says, or why not.
fn listener(stack: &Stack, paths: &Paths) -> Option<Finding> {
    let listen = stack.api.listen?;
    if let Some(status) = daemon_status(paths) {
        return Some(match status.daemon.api {
            Some(api) if api.serving => {
                finding(Level::Ok, format!("the API listens on {}", api.listen))
            }
            Some(api) => finding(
                Level::Problem,
                api.error
                    .unwrap_or_else(|| format!("the API is not on {}", api.listen)),
            ),
            None => finding(
                Level::Warning,
                format!("the daemon does not serve the API on {listen} yet: run `berth up`"),
            ),
        });
    }
    // No daemon: will the port be free for it?
    let held = holders::on_port(listen.port()).unwrap_or_default();
    Some(match held.first() {
        Some(holder) => finding(
            Level::Problem,
            format!(
                "api.listen {listen} is held by {}: the daemon will serve on the Unix socket only; free the port or change `api.listen`",
                holder.describe()
            ),
        ),
        None => finding(Level::Ok, format!("api.listen {listen} is free")),
    })
}

fn daemon(paths: &Paths) -> Finding {
    if std::os::unix::net::UnixStream::connect(&paths.socket).is_ok() {
        let pid = std::fs::read_to_string(&paths.lock).unwrap_or_default();
        return finding(
            Level::Ok,
            format!("the daemon answers (pid {})", pid.trim()),
        );
    }
    if paths.socket.exists() {
        return Finding {
            level: Level::Warning,
            message: format!(
                "stale socket {}: no daemon answers on it",
                paths.socket.display()
            ),
            fix: Some(paths.socket.clone()),
        };
    }
    finding(Level::Ok, "no daemon runs; the next `berth up` starts one")
}

fn disk(dir: &Path) -> Option<Finding> {
    let existing = dir.ancestors().find(|d| d.exists())?;
    let stat = rustix::fs::statvfs(existing).ok()?;
    let free = stat.f_bavail * stat.f_frsize;
    let mib = free >> 20;
    Some(if free < NO_SPACE {
        finding(
            Level::Problem,
            format!(
                "only {mib} MiB free for {}: service logs will stop being written",
                dir.display()
            ),
        )
    } else if free < LOW_SPACE {
        finding(
            Level::Warning,
            format!("only {mib} MiB free for {}", dir.display()),
        )
    } else {
        finding(Level::Ok, format!("{mib} MiB free for the state dir"))
    })
}

/// Temporary files of run-file writes whose writer is gone (killed between writing and
/// putting its file in place): nothing reads them, and `--fix` removes them. One whose
/// writer's pid is alive again, reused or not, is left alone.
fn leftover_temporaries(stack: &Stack) -> Vec<Finding> {
    let Ok(dir) = std::fs::read_dir(stack.state_dir.join("run")) else {
        return Vec::new();
    };
    dir.filter_map(|entry| {
        let path = entry.ok()?.path();
        let writer = crate::state::temporary_writer(path.file_name()?.to_str()?)?;
        let gone = crate::process::ProcessId::of(writer).is_err();
        gone.then(|| Finding {
            level: Level::Warning,
            message: format!(
                "leftover temporary file {} of a write that never finished (pid {writer} is gone)",
                path.display()
            ),
            fix: Some(path),
        })
    })
    .collect()
}

fn run_files(stack: &Stack) -> Vec<Finding> {
    let Ok(dir) = std::fs::read_dir(stack.state_dir.join("run")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for path in dir
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
    {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let record = match Record::read(&path) {
            Some(Record::Adopted(adoption)) => {
                out.push(adopted(stack, &name, adoption, path));
                continue;
            }
            Some(Record::Kept(record)) => Some(record),
            None => None,
        };
        let Some(record) = record else {
            out.push(Finding {
                level: Level::Problem,
                message: format!("run file {} is unreadable or corrupt", path.display()),
                fix: Some(path),
            });
            continue;
        };
        let shim_alive = record.shim.is_alive();
        let running = matches!(record.outcome, Outcome::Running | Outcome::Stopping);
        let reused = |id: crate::process::ProcessId| {
            !id.is_alive() && crate::process::ProcessId::of(id.pid).is_ok()
        };
        if stack.service(&name).is_none() && !shim_alive {
            out.push(Finding {
                level: Level::Warning,
                message: format!("run file of `{name}`, which the config no longer has"),
                fix: Some(path),
            });
        } else if running && !shim_alive {
            let pid_note = match record.main {
                Some(main) if reused(main) => format!(
                    "; pid {} now belongs to another process, which berth leaves alone",
                    main.pid
                ),
                _ => String::new(),
            };
            out.push(Finding {
                level: Level::Warning,
                message: format!(
                    "`{name}` is recorded as running but its keeper (pid {}) is gone{pid_note}",
                    record.shim.pid
                ),
                fix: Some(path),
            });
        } else if running {
            out.push(finding(
                Level::Ok,
                format!(
                    "`{name}` runs (pid {})",
                    record.main.map(|m| m.pid).unwrap_or(0)
                ),
            ));
        }
    }
    out
}

/// What a run file recording an adopted instance says: it runs (watched from the outside),
/// or it ended and the file is stale.
fn adopted(stack: &Stack, name: &str, adoption: Adoption, path: PathBuf) -> Finding {
    let pid = adoption.adopted.pid;
    match (adoption.adopted.is_alive(), stack.service(name).is_some()) {
        (true, true) => finding(
            Level::Ok,
            format!(
                "`{name}` runs (pid {pid}, {})",
                crate::daemon::adopted::NOT_CAPTURED
            ),
        ),
        (true, false) => Finding {
            level: Level::Warning,
            message: format!(
                "`{name}`, which the config no longer has, runs adopted (pid {pid}): `berth ports free` it if it should not"
            ),
            fix: None,
        },
        (false, _) => Finding {
            level: Level::Warning,
            message: format!("`{name}` was adopted (pid {pid}), and that instance has ended"),
            fix: Some(path),
        },
    }
}

/// Configured ports that something other than the service itself listens on.
fn ports(stack: &Stack) -> Vec<Finding> {
    let Ok(listening) = listeners(false) else {
        return vec![finding(Level::Warning, "cannot read the socket table")];
    };
    // Only the configured ports' holders are looked up (one scan, which stops once they are
    // found), not every listener's on the machine.
    let configured: HashSet<u16> = stack.services.iter().filter_map(|s| s.port).collect();
    let sockets = holders::resolve(
        listening
            .into_iter()
            .filter(|l| configured.contains(&l.port))
            .collect(),
    );
    let snapshot = Snapshot::take();
    let mut out = Vec::new();
    for service in &stack.services {
        let Some(port) = service.port else {
            continue;
        };
        let held: Vec<&Holder> = sockets.iter().filter(|h| h.port == port).collect();
        if held.is_empty() {
            continue;
        }
        // The keeper's tree, or an adopted instance's own.
        let own: HashSet<u32> = Record::read(&run_file_path(stack, &service.name))
            .map(|r| {
                let root = match r {
                    Record::Kept(r) => r.shim.pid,
                    Record::Adopted(a) => a.adopted.pid,
                };
                let mut tree: HashSet<u32> = snapshot.descendants(root).into_iter().collect();
                tree.insert(root);
                tree
            })
            .unwrap_or_default();
        let Some(other) = held
            .iter()
            .find(|h| h.pid.is_none_or(|pid| !own.contains(&pid)))
        else {
            continue;
        };
        out.push(finding(
            Level::Warning,
            format!(
                "port {port} of `{}` is held by {}: stop it, or give `{}` a free port",
                service.name,
                other.describe(),
                service.name
            ),
        ));
    }
    out
}

/// Removes the stale files the findings name; returns what was removed.
pub fn fix(findings: &[Finding]) -> Vec<PathBuf> {
    findings
        .iter()
        .filter_map(|f| f.fix.clone())
        .filter(|path| std::fs::remove_file(path).is_ok())
        .collect()
}
