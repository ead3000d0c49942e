//! What berth says when services did not start (`up`, and `restart`, `ensure` and the MCP
//! server's `up` and `restart`, which start them the same way), as a good compiler says an
//! error: each root cause once, with the service's name, its reason and the last lines of
//! its own log (repeats folded); every service it kept back one short line; then the
//! command to run next. Rendering only: the services' views and the roots' log lines in,
//! text out, fitted to a width when there is one.

use super::fit::wrap;
use super::fold::{Run, fold};
use super::progress::not_started;
use crate::api::types::ServiceView;
use crate::daemon::supervisor::ServiceState;
use crate::style::Style;
use std::collections::BTreeMap;

/// Rows of a root's log shown at most, after folding.
const LOG_ROWS: usize = 20;
/// Lines read from the end of a root's log to fold into those rows: a restart loop writes
/// the same few lines per start, so many more than are shown.
pub const LOG_READ: usize = 200;

/// What the report is made from.
pub struct FailedStart<'a> {
    /// The services being started, in start order, as last seen.
    pub views: &'a [&'a ServiceView],
    /// The last lines of each root's log, oldest first.
    pub logs: &'a BTreeMap<String, Vec<String>>,
    /// The command that tries again (`berth up api`).
    pub retry: &'a str,
    /// Whether the services kept back get their line here (no progress lines showed them).
    pub kept_back: bool,
}

/// Whether a service kept back by another's failure: its line says so, the root says why.
pub fn is_kept_back(view: &ServiceView) -> bool {
    view.state == ServiceState::Failed && view.blocked_by.is_some()
}

/// The services whose own end is the cause: those that failed by themselves, and those that
/// kept another back (stopped, say), in the views' order; each once.
pub fn roots(views: &[&ServiceView]) -> Vec<String> {
    let mut roots: Vec<String> = Vec::new();
    let failed = views
        .iter()
        .filter(|v| v.state == ServiceState::Failed && v.blocked_by.is_none())
        .map(|v| v.name.clone());
    let blamed = views.iter().filter_map(|v| v.blocked_by.clone());
    for name in failed.chain(blamed) {
        if !roots.contains(&name) {
            roots.push(name);
        }
    }
    roots
}

pub fn render(report: &FailedStart, width: Option<usize>, style: Style) -> String {
    let mut out = String::new();
    if report.kept_back {
        for view in report.views.iter().filter(|v| is_kept_back(v)) {
            let line = not_started(&view.name, view.reason.as_deref(), style);
            paragraph(&mut out, "", 0, &line, width);
        }
    }
    let roots = roots(report.views);
    for root in &roots {
        let view = report.views.iter().find(|v| &v.name == root);
        let what = match view {
            Some(v) if v.state == ServiceState::Failed => match &v.reason {
                Some(reason) => format!("{root} failed: {reason}"),
                None => format!("{root} failed"),
            },
            Some(v) if v.state == ServiceState::Stopped => format!("{root} was stopped"),
            _ => format!("{root} did not start"),
        };
        paragraph(&mut out, &style.red("error: "), 7, &what, width);
        if let Some(log) = report.logs.get(root).filter(|l| !l.is_empty()) {
            paragraph(
                &mut out,
                "  ",
                2,
                &format!("last lines of {root}'s log:"),
                width,
            );
            log_rows(&mut out, log, width, style);
        }
    }
    let logged: Vec<&str> = roots
        .iter()
        .filter(|r| report.logs.get(*r).is_some_and(|l| !l.is_empty()))
        .map(String::as_str)
        .collect();
    let again = format!("run `{}` again", report.retry);
    let help = match logged.as_slice() {
        [] => again,
        [one] => format!("`berth logs {one}` shows all of its log; once it is fixed, {again}"),
        many => format!(
            "`berth logs {}` shows all of their logs; once they are fixed, {again}",
            many.join(" ")
        ),
    };
    paragraph(&mut out, &style.bold("help: "), 6, &help, width);
    out
}

/// `text` after `prefix` (`columns` wide), its other rows indented as far.
fn paragraph(out: &mut String, prefix: &str, columns: usize, text: &str, width: Option<usize>) {
    let indent = " ".repeat(columns);
    for (i, piece) in wrap(text, width, columns, columns).iter().enumerate() {
        let lead = if i == 0 { prefix } else { &indent };
        out.push_str(&format!("{lead}{piece}\n"));
    }
}

/// The log's last lines, repeats folded, at most `LOG_ROWS` rows: each line behind a `|`
/// (a wrapped one's other rows indented behind it), each fold `… ×5 (the 3 lines above)`.
fn log_rows(out: &mut String, log: &[String], width: Option<usize>, style: Style) {
    let runs = fold(log);
    let rows = |run: &Run| run.lines.len() + usize::from(run.times > 1);
    let mut shown = 0;
    let mut from = runs.len();
    while from > 0 && (shown == 0 || shown + rows(&runs[from - 1]) <= LOG_ROWS) {
        from -= 1;
        shown += rows(&runs[from]);
    }
    let gutter = style.dim("|");
    for run in &runs[from..] {
        for line in run.lines {
            // A tab's columns depend on where it falls; four spaces take four.
            let line = line.replace('\t', "    ");
            for (i, piece) in wrap(&line, width, 4, 6).iter().enumerate() {
                let lead = if i == 0 { "" } else { "  " };
                out.push_str(&format!("  {gutter} {lead}{piece}\n"));
            }
        }
        if run.times > 1 {
            let above = match run.lines.len() {
                1 => "the line above".to_string(),
                n => format!("the {n} lines above"),
            };
            let fold = style.dim(&format!("… ×{} ({above})", run.times));
            paragraph(out, "  ", 2, &fold, width);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(name: &str, state: ServiceState, reason: &str, blocked_by: &str) -> ServiceView {
        let mut view: ServiceView = serde_json::from_value(serde_json::json!({
            "name": name, "state": state, "health": "unknown", "pid": null, "port": null,
            "uptime_s": null, "restarts": 0, "cpu_percent": null, "rss_bytes": null,
            "exit_code": null,
        }))
        .unwrap();
        view.reason = Some(reason).filter(|r| !r.is_empty()).map(String::from);
        view.blocked_by = Some(blocked_by).filter(|b| !b.is_empty()).map(String::from);
        view
    }

    /// The new user's stack: `db` refuses to run as root, four times over; `migrate` and
    /// `api` wait for it, `web` for `api`.
    fn stack() -> (Vec<ServiceView>, BTreeMap<String, Vec<String>>) {
        let views = vec![
            view(
                "db",
                ServiceState::Failed,
                "it exited with code 1 after 5 restarts within 1m; the circuit is open until `berth restart`",
                "",
            ),
            view(
                "migrate",
                ServiceState::Failed,
                "not started: db failed",
                "db",
            ),
            view("api", ServiceState::Failed, "not started: db failed", "db"),
            view(
                "web",
                ServiceState::Failed,
                "not started: db failed (via api)",
                "db",
            ),
        ];
        let once = [
            "initdb: error: cannot be run as root",
            "FATAL:  root execution of the PostgreSQL server is not permitted.",
            "exited with code 1",
        ];
        let log = std::iter::repeat_n(once, 4).flatten().map(String::from);
        (views, BTreeMap::from([("db".to_string(), log.collect())]))
    }

    fn rendered(kept_back: bool, width: Option<usize>, style: Style) -> String {
        let (views, logs) = stack();
        let views: Vec<&ServiceView> = views.iter().collect();
        let report = FailedStart {
            views: &views,
            logs: &logs,
            retry: "berth up",
            kept_back,
        };
        render(&report, width, style)
    }

    #[test]
    fn the_root_cause_is_told_once_with_its_own_log_folded() {
        assert_eq!(
            rendered(false, None, Style::PLAIN),
            "\
error: db failed: it exited with code 1 after 5 restarts within 1m; the circuit is open until `berth restart`
  last lines of db's log:
  | initdb: error: cannot be run as root
  | FATAL:  root execution of the PostgreSQL server is not permitted.
  | exited with code 1
  … ×4 (the 3 lines above)
help: `berth logs db` shows all of its log; once it is fixed, run `berth up` again
"
        );
    }

    #[test]
    fn on_a_terminal_every_row_fits_its_width_broken_at_spaces() {
        let out = rendered(true, Some(60), Style::PLAIN);
        assert_eq!(
            out,
            "\
· migrate not started: db failed
· api not started: db failed
· web not started: db failed (via api)
error: db failed: it exited with code 1 after 5 restarts
       within 1m; the circuit is open until `berth restart`
  last lines of db's log:
  | initdb: error: cannot be run as root
  | FATAL:  root execution of the PostgreSQL server is not
  |   permitted.
  | exited with code 1
  … ×4 (the 3 lines above)
help: `berth logs db` shows all of its log; once it is
      fixed, run `berth up` again
"
        );
        assert!(out.lines().all(|l| super::super::fit::width_of(l) <= 60));
    }

    #[test]
    fn colours_paint_the_words_not_the_layout() {
        let out = rendered(false, Some(60), Style::coloured());
        assert!(
            out.starts_with("\x1b[1;31merror: \x1b[0mdb failed: it exited"),
            "{out}"
        );
        assert!(
            out.contains("\n  \x1b[2m|\x1b[0m exited with code 1\n"),
            "{out}"
        );
        assert!(
            out.contains("\n\x1b[1mhelp: \x1b[0m`berth logs db`"),
            "{out}"
        );
        assert!(out.lines().all(|l| super::super::fit::width_of(l) <= 60));
    }

    #[test]
    fn a_long_log_shows_its_last_rows_and_a_root_without_a_log_none() {
        let log: Vec<String> = (1..=30).map(|i| format!("line {i}")).collect();
        let db = view("db", ServiceState::Failed, "it exited with code 2", "");
        let cache = view("cache", ServiceState::Failed, "cannot supervise it: no", "");
        let views = [&db, &cache];
        let logs = BTreeMap::from([("db".to_string(), log)]);
        let report = FailedStart {
            views: &views,
            logs: &logs,
            retry: "berth ensure db cache",
            kept_back: true,
        };
        let out = render(&report, None, Style::PLAIN);
        let rows: Vec<&str> = out.lines().filter(|l| l.starts_with("  | ")).collect();
        assert_eq!(rows.len(), 20);
        assert_eq!((rows[0], rows[19]), ("  | line 11", "  | line 30"));
        assert!(
            out.ends_with(
                "error: cache failed: cannot supervise it: no\n\
                 help: `berth logs db` shows all of its log; once it is fixed, run `berth ensure db cache` again\n"
            ),
            "{out}"
        );
    }

    #[test]
    fn a_root_that_was_stopped_is_named_and_nothing_is_told_twice() {
        let db = view("db", ServiceState::Stopped, "", "");
        let api = view(
            "api",
            ServiceState::Failed,
            "not started: db was stopped",
            "db",
        );
        let web = view(
            "web",
            ServiceState::Failed,
            "not started: db was stopped (via api)",
            "db",
        );
        let views = [&db, &api, &web];
        assert_eq!(roots(&views), ["db"]);
        let report = FailedStart {
            views: &views,
            logs: &BTreeMap::new(),
            retry: "berth up web",
            kept_back: true,
        };
        assert_eq!(
            render(&report, None, Style::PLAIN),
            "\
· api not started: db was stopped
· web not started: db was stopped (via api)
error: db was stopped
help: run `berth up web` again
"
        );
    }
}
