//! `berth events`: the event log from history, for all services or some, filtered by time and
//! kind, as lines or JSON; `-f` keeps printing new events as they are written. Reads the
//! database itself, so it works with the daemon down.

use super::args::Global;
use super::up::load_with_services;
use super::{Exit, Failure};
use crate::history::query::{self, EventFilter, StoredEvent};
use crate::style::Style;
use std::time::Duration;

pub struct Options {
    pub lines: usize,
    pub since: Option<Duration>,
    pub kinds: Vec<String>,
    pub follow: bool,
}

/// How often `-f` looks for new events.
const FOLLOW_EVERY: Duration = Duration::from_millis(200);

pub fn run(global: &Global, services: &[String], options: &Options) -> Result<Exit, Failure> {
    // `worker` is each of its instances, the ones `berth scale` made too.
    let stack = super::replicas::as_running(load_with_services(global, services)?);
    let services = &stack.expand_names(services);
    let mut filter = EventFilter {
        since_ms: options
            .since
            .map(|d| crate::logs::time::now_ms().saturating_sub(d.as_millis() as u64)),
        services: services.to_vec(),
        kinds: options.kinds.clone(),
        after_id: None,
        last: Some(options.lines),
    };
    let style = Style::stdout();
    let mut printed = 0;
    let mut printer = Printer {
        json: global.json,
        style,
        width: services.iter().map(String::len).max().unwrap_or(0),
    };
    loop {
        let events = read(&stack, &filter)?;
        printed += events.len();
        for e in &events {
            printer.print(e);
        }
        if let Some(last) = events.last() {
            filter.after_id = Some(last.id);
        }
        if !options.follow {
            break;
        }
        // Following: everything new from here on, however much.
        filter.last = None;
        std::thread::sleep(FOLLOW_EVERY);
    }
    if printed == 0 && !global.quiet && !global.json {
        eprintln!("no events yet");
    }
    Ok(Exit::Done)
}

/// The events `filter` selects from the history database (none while it does not exist).
pub fn read(
    stack: &crate::stack::Stack,
    filter: &EventFilter,
) -> Result<Vec<StoredEvent>, Failure> {
    match query::open(&stack.state_dir).map_err(Failure::failed)? {
        Some(conn) => query::events(&conn, filter)
            .map_err(|e| Failure::failed(format!("cannot read the event log: {e}"))),
        None => Ok(Vec::new()),
    }
}

struct Printer {
    json: bool,
    style: Style,
    width: usize,
}

impl Printer {
    fn print(&mut self, e: &StoredEvent) {
        let view = e.view();
        if self.json {
            println!("{}", serde_json::to_string(&view).expect("serializable"));
            return;
        }
        let who = view.service.as_deref().unwrap_or("berth");
        self.width = self.width.max(who.len());
        println!("{}", line(&view, self.style, self.width));
    }
}

/// One event as a line: time, service (padded to `width`), kind, pid, message.
pub fn line(view: &crate::api::monitoring::EventView, style: Style, width: usize) -> String {
    let who = view.service.as_deref().unwrap_or("berth");
    let kind = match view.kind.as_str() {
        "failed" | "exited" => style.red(&view.kind),
        "ready" | "completed" | "adopted" => style.green(&view.kind),
        "restarting" | "port" | "health" | "alert" | "watch" | "history" => {
            style.yellow(&view.kind)
        }
        _ => view.kind.clone(),
    };
    let pid = view
        .data
        .get("pid")
        .and_then(|p| p.as_u64())
        .map(|p| format!(" pid {p}"))
        .unwrap_or_default();
    let message = if view.message.is_empty() {
        String::new()
    } else {
        format!(": {}", view.message)
    };
    format!(
        "{} {:<width$} {kind}{pid}{message}",
        style.dim(&view.time),
        who,
    )
}
