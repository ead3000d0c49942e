//! `berth dashboard`: asks the daemon for the dashboard's address with a one-time login code,
//! prints it, and with `--open` hands it to the browser.

use super::args::Global;
use super::{Exit, Failure};
use crate::api::client::{ClientError, call};
use crate::api::types::DashboardResponse;
use crate::daemon::paths::Paths;
use std::process::{Command, Stdio};
use std::time::Duration;

pub fn run(global: &Global, open: bool) -> Result<Exit, Failure> {
    let paths = Paths::new(&super::daemon::state_dir(global)?);
    let answer: DashboardResponse = call::<(), _>(
        &paths.socket,
        "POST",
        "/v1/dashboard",
        None,
        Duration::from_secs(10),
    )
    .map_err(|e| match e {
        ClientError::NotRunning => Failure::failed(
            "no daemon runs, so there is nothing to show: start the stack with `berth up`, then run `berth dashboard`",
        ),
        e => super::daemon_failure(e),
    })?;
    if global.json {
        println!("{}", serde_json::to_string(&answer).expect("serializable"));
    } else if !global.quiet {
        println!("{}", answer.url);
        eprintln!(
            "the address logs a browser in once, within {}; `berth dashboard` again gives another",
            crate::config::units::format_duration(Duration::from_secs(answer.expires_in_s))
        );
    }
    if open && let Err(why) = open_in_browser(&answer.url) {
        eprintln!("berth: {why}; open the address above by hand");
    }
    Ok(Exit::Done)
}

/// Starts the user's browser on `url`: `$BROWSER` (which may list several, `:`-separated, as
/// `xdg-open` and Python's `webbrowser` read it), else `xdg-open`. Detached: the command
/// returns at once and the browser does not hold the terminal.
fn open_in_browser(url: &str) -> Result<(), String> {
    let from_env = std::env::var("BROWSER").unwrap_or_default();
    let mut tried = Vec::new();
    for browser in from_env
        .split(':')
        .filter(|b| !b.trim().is_empty())
        .chain(["xdg-open"])
    {
        let mut words = browser.split_whitespace();
        let Some(program) = words.next() else {
            continue;
        };
        let spawned = Command::new(program)
            .args(words)
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        match spawned {
            // Not waited for: berth exits now, and init reaps the opener.
            Ok(_) => return Ok(()),
            Err(e) => tried.push(format!("{program}: {e}")),
        }
    }
    Err(format!("cannot start a browser ({})", tried.join("; ")))
}
