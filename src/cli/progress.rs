//! `up`'s progress: one line per service. On a terminal the block of lines is redrawn in
//! place as services move on (waiting, starting, ready in 120ms, failed, not started), each
//! line cut to the terminal's width so that it stays one row; anywhere else each service
//! gets one line, printed when it is ready or kept back. A failure's reason is not here:
//! the report after the block tells it once (`failed_start`). Rendering only: the caller
//! writes what `show` returns, so every frame can be checked in tests.

use super::fit::{cut, wrap};
use crate::api::types::ServiceView;
use crate::daemon::supervisor::ServiceState;
use crate::style::Style;
use std::collections::BTreeMap;

/// Where a service got to, as far as `up` is concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stage {
    Waiting(Option<String>),
    Starting,
    Restarting(u32),
    /// Final: ready (or completed, for a one-shot) this many ms after `up` began.
    Ready {
        ms: u128,
        completed: bool,
    },
    /// Final: it failed by itself (why is the report's to tell).
    Failed,
    /// Final: another's failure kept it back; the reason names that one.
    NotStarted(Option<String>),
}

impl Stage {
    pub fn of(view: &ServiceView, ms: u128) -> Stage {
        match view.state {
            ServiceState::Running => Stage::Ready {
                ms,
                completed: false,
            },
            ServiceState::Exited => Stage::Ready {
                ms,
                completed: true,
            },
            ServiceState::Failed if view.blocked_by.is_some() => {
                Stage::NotStarted(view.reason.clone())
            }
            ServiceState::Failed => Stage::Failed,
            ServiceState::Backoff => Stage::Restarting(view.restarts),
            ServiceState::Starting | ServiceState::Stopping => Stage::Starting,
            ServiceState::Waiting | ServiceState::Stopped => Stage::Waiting(view.reason.clone()),
        }
    }

    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Stage::Ready { .. } | Stage::Failed | Stage::NotStarted(_)
        )
    }
}

pub struct Progress {
    live: bool,
    style: Style,
    names: Vec<String>,
    width: usize,
    stages: BTreeMap<String, Stage>,
    /// What berth decided about each service's port (moved, stopped a holder), as last seen.
    notes: BTreeMap<String, String>,
    /// Lines of the live block on screen (to move the cursor back over them).
    drawn: usize,
}

impl Progress {
    /// `live`: redraw in place (stderr is a terminal that understands cursor movement).
    pub fn new(names: &[String], live: bool, style: Style) -> Progress {
        Progress {
            live,
            style,
            names: names.to_vec(),
            width: names.iter().map(String::len).max().unwrap_or(0),
            stages: BTreeMap::new(),
            notes: BTreeMap::new(),
            drawn: 0,
        }
    }

    /// Takes the latest views (`ms` since `up` began) and returns what to write to stderr,
    /// fitted to `width` (the terminal's; none when not one). A final stage sticks: the time
    /// a service was first seen ready is the time shown.
    pub fn show(&mut self, views: &[&ServiceView], ms: u128, width: Option<usize>) -> String {
        let mut newly_final = Vec::new();
        let mut new_notes = String::new();
        for view in views {
            if !self.names.contains(&view.name) {
                continue;
            }
            if let Some(note) = &view.note
                && self.notes.get(&view.name) != Some(note)
            {
                let line = format!("{} {note}", self.style.yellow("↪"));
                for (i, piece) in wrap(&line, width, 0, 2).iter().enumerate() {
                    let lead = if i == 0 { "" } else { "  " };
                    new_notes.push_str(&format!("{lead}{piece}\n"));
                }
                self.notes.insert(view.name.clone(), note.clone());
            }
            let old = self.stages.get(&view.name);
            if old.is_some_and(Stage::is_final) {
                continue;
            }
            let stage = Stage::of(view, ms);
            if stage.is_final() {
                newly_final.push(view.name.clone());
            }
            self.stages.insert(view.name.clone(), stage);
        }
        if !self.live {
            // A failure is reported by the caller, once, with its log.
            let done: String = newly_final
                .iter()
                .filter(|n| self.stages[*n] != Stage::Failed)
                .flat_map(|n| wrap(&self.line(n, false, ms), width, 0, 2))
                .map(|piece| format!("{piece}\n"))
                .collect();
            return new_notes + &done;
        }
        let mut out = String::new();
        if self.drawn > 0 {
            out.push_str(&format!("\x1b[{}A", self.drawn));
        }
        for name in &self.names {
            out.push_str("\r\x1b[2K");
            out.push_str(&cut(&self.line(name, true, ms), width));
            out.push('\n');
        }
        self.drawn = self.names.len();
        out
    }

    /// One service's line; `pad` aligns the names (the live block), which also shows what
    /// was decided about the port.
    fn line(&self, name: &str, pad: bool, now_ms: u128) -> String {
        let line = self.stage_line(name, pad, now_ms);
        match self.notes.get(name).filter(|_| pad) {
            Some(note) => {
                let note = note.strip_prefix(&format!("{name}: ")).unwrap_or(note);
                format!("{line} {}", self.style.dim(&format!("· {note}")))
            }
            None => line,
        }
    }

    fn stage_line(&self, name: &str, pad: bool, now_ms: u128) -> String {
        let s = self.style;
        let shown = if pad {
            format!("{name:<width$}", width = self.width)
        } else {
            name.to_string()
        };
        match self.stages.get(name) {
            None | Some(Stage::Waiting(None)) => s.dim(&format!("· {shown} waiting")),
            Some(Stage::Waiting(Some(why))) => s.dim(&format!("· {shown} {why}")),
            Some(Stage::Starting) => {
                format!("{} {shown} starting {}", s.yellow("◌"), seconds(now_ms))
            }
            Some(Stage::Restarting(n)) => {
                format!("{} {shown} restarting (restart {n})", s.yellow("↻"))
            }
            Some(Stage::Ready { ms, completed }) => {
                let what = if *completed { "completed" } else { "ready" };
                format!("{} {shown} {what} in {ms}ms", s.green("✓"))
            }
            Some(Stage::Failed) => format!("{} {shown} failed", s.red("✗")),
            Some(Stage::NotStarted(reason)) => not_started(&shown, reason.as_deref(), s),
        }
    }
}

/// The line of a service another's failure kept back, as the daemon gives its reason
/// (`not started: db failed`): dim, as a waiting one's, since it never ran.
pub fn not_started(shown: &str, reason: Option<&str>, style: Style) -> String {
    style.dim(&format!("· {shown} {}", reason.unwrap_or("not started")))
}

fn seconds(ms: u128) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(name: &str, state: ServiceState) -> ServiceView {
        serde_json::from_value(serde_json::json!({
            "name": name, "state": state, "health": "unknown", "pid": null, "port": null,
            "uptime_s": null, "restarts": 0, "cpu_percent": null, "rss_bytes": null,
            "exit_code": null,
        }))
        .unwrap()
    }

    fn names() -> Vec<String> {
        vec!["db".into(), "api".into()]
    }

    #[test]
    fn plain_output_is_one_line_per_service_when_it_is_ready() {
        let mut p = Progress::new(&names(), false, Style::PLAIN);
        let db = view("db", ServiceState::Starting);
        let api = view("api", ServiceState::Waiting);
        assert_eq!(p.show(&[&db, &api], 5, None), "");
        let db = view("db", ServiceState::Running);
        assert_eq!(p.show(&[&db, &api], 120, None), "✓ db ready in 120ms\n");
        // Reported once, with the time it was first seen ready.
        let api = view("api", ServiceState::Exited);
        assert_eq!(
            p.show(&[&db, &api], 300, None),
            "✓ api completed in 300ms\n"
        );
        assert_eq!(p.show(&[&db, &api], 400, None), "");
    }

    #[test]
    fn port_decisions_are_shown_once() {
        let mut plain = Progress::new(&names(), false, Style::PLAIN);
        let mut db = view("db", ServiceState::Starting);
        db.note = Some("db: port 5432 is held by pid 7 (alice: postgres); moved to 5433".into());
        let api = view("api", ServiceState::Waiting);
        assert_eq!(
            plain.show(&[&db, &api], 5, None),
            "↪ db: port 5432 is held by pid 7 (alice: postgres); moved to 5433\n"
        );
        assert_eq!(plain.show(&[&db, &api], 6, None), "");
        // On a terminal that takes no redrawing, wrapped at spaces to its width.
        let mut narrow = Progress::new(&names(), false, Style::PLAIN);
        assert_eq!(
            narrow.show(&[&db, &api], 5, Some(40)),
            "↪ db: port 5432 is held by pid 7 (alice:\n  postgres); moved to 5433\n"
        );
        let mut live = Progress::new(&names(), true, Style::PLAIN);
        let frame = live.show(&[&db, &api], 100, None);
        assert!(
            frame.contains("◌ db  starting 0.1s · port 5432 is held by pid 7 (alice: postgres); moved to 5433\n"),
            "{frame:?}"
        );
    }

    #[test]
    fn live_output_redraws_the_block_in_place() {
        let mut p = Progress::new(&names(), true, Style::PLAIN);
        let mut api = view("api", ServiceState::Waiting);
        api.reason = Some("waiting for its dependencies".into());
        let first = p.show(&[&view("db", ServiceState::Starting), &api], 400, None);
        assert_eq!(
            first,
            "\r\x1b[2K◌ db  starting 0.4s\n\r\x1b[2K· api waiting for its dependencies\n"
        );
        let mut failed = view("api", ServiceState::Failed);
        failed.reason = Some("exited with code 3".into());
        let second = p.show(&[&view("db", ServiceState::Running), &failed], 1200, None);
        // Why it failed is told once, by the report under the block.
        assert_eq!(
            second,
            "\x1b[2A\r\x1b[2K✓ db  ready in 1200ms\n\r\x1b[2K✗ api failed\n"
        );
    }

    /// `db` failed by itself; `api` and `web` were kept back by it.
    fn failed_chain() -> [ServiceView; 3] {
        let db = view("db", ServiceState::Failed);
        let mut api = view("api", ServiceState::Failed);
        api.reason = Some("not started: db failed".into());
        api.blocked_by = Some("db".into());
        let mut web = view("web", ServiceState::Failed);
        web.reason = Some("not started: db failed (via api)".into());
        web.blocked_by = Some("db".into());
        [db, api, web]
    }

    fn chain_names() -> Vec<String> {
        vec!["db".into(), "api".into(), "web".into()]
    }

    #[test]
    fn services_kept_back_get_one_short_line_and_the_failed_one_none_when_plain() {
        let mut p = Progress::new(&chain_names(), false, Style::PLAIN);
        let [db, api, web] = failed_chain();
        assert_eq!(
            p.show(&[&db, &api, &web], 90, None),
            "· api not started: db failed\n· web not started: db failed (via api)\n"
        );
        assert_eq!(p.show(&[&db, &api, &web], 95, None), "");
    }

    #[test]
    fn live_lines_are_cut_to_the_terminals_width_so_the_block_stays_in_place() {
        let mut p = Progress::new(&chain_names(), true, Style::PLAIN);
        let [db, api, web] = failed_chain();
        assert_eq!(
            p.show(&[&db, &api, &web], 90, Some(28)),
            "\r\x1b[2K✗ db  failed\n\
             \r\x1b[2K· api not started: db failed\n\
             \r\x1b[2K· web not started: db faile…\n"
        );
        let mut coloured = Progress::new(&chain_names(), true, Style::coloured());
        let frame = coloured.show(&[&db, &api, &web], 90, Some(20));
        assert!(
            frame.ends_with("\r\x1b[2K\x1b[2m· web not started:…\x1b[0m\n"),
            "{frame:?}"
        );
    }
}
