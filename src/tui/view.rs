//! How `berth top` looks: the model drawn with ratatui. Only what fits the window is built
//! (the rows in view, the log lines that show), so a frame of 200 services costs what one of
//! 20 does; ratatui then writes only the cells that changed.

use super::format;
use super::state::{Detail, Link, Mode, Model, Screen, Sort, Trend};
use crate::api::types::{ServiceView, StackHealth};
use crate::daemon::supervisor::{HealthState, ServiceState};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Axis, Block, Borders, Cell, Chart, Dataset, GraphType, HighlightSpacing, Paragraph, Row, Table,
    TableState,
};

/// The keys, as the help screen and `berth top --help` list them.
pub const KEYS: &str = "\
Keys:
  j, k, arrows   select a service (PageUp, PageDown, Home, End: further)
  Enter          details of the selected service, with charts (Esc: back)
  r              restart the selected service
  s              stop the selected service (asks y/n), or start it when stopped
  l              the selected service's log, full screen (arrows scroll, End follows)
  /              filter by name (Enter keeps it, Esc clears it)
  c              sort by CPU, memory, name (in turn)
  ?              this help
  q, Ctrl-C      quit";

/// Colours, or none (`NO_COLOR`): then only bold, dim and reverse tell things apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Palette {
    pub colour: bool,
}

impl Palette {
    fn fg(self, colour: Color) -> Style {
        if self.colour {
            Style::new().fg(colour)
        } else {
            Style::new()
        }
    }

    fn good(self) -> Style {
        self.fg(Color::Green)
    }

    fn warn(self) -> Style {
        self.fg(Color::Yellow)
    }

    fn bad(self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    fn quiet(self) -> Style {
        if self.colour {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new().add_modifier(Modifier::DIM)
        }
    }

    fn title(self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    fn state(self, state: ServiceState) -> Style {
        match state {
            ServiceState::Running => self.good(),
            ServiceState::Failed => self.bad(),
            ServiceState::Waiting
            | ServiceState::Starting
            | ServiceState::Backoff
            | ServiceState::Stopping => self.warn(),
            ServiceState::Stopped | ServiceState::Exited => self.quiet(),
        }
    }

    fn health(self, health: HealthState) -> Style {
        match health {
            HealthState::Healthy => self.good(),
            HealthState::Unhealthy => self.bad(),
            HealthState::Unknown => self.quiet(),
        }
    }

    fn stack(self, health: StackHealth) -> Style {
        match health {
            StackHealth::Healthy => self.good(),
            StackHealth::Degraded => self.warn(),
            StackHealth::Unhealthy => self.bad(),
            StackHealth::Stopped => self.quiet(),
        }
    }

    fn score(self, score: Option<u8>) -> Style {
        match score {
            Some(90..) => self.good(),
            Some(60..) => self.warn(),
            Some(_) => self.bad(),
            None => self.quiet(),
        }
    }
}

/// What the view keeps between frames: where the table is scrolled to.
#[derive(Clone, Debug, Default)]
pub struct ViewState {
    offset: usize,
}

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, model: &Model, view: &mut ViewState, palette: Palette) {
    let area = frame.area();
    match model.screen {
        Screen::Help => help(frame, area, palette),
        Screen::Log { scroll } => {
            let [body, footer] =
                Layout::vertical([Constraint::Fill(1), Constraint::Length(1)]).areas(area);
            log_pane(frame, body, model, scroll, palette);
            footer_line(frame, footer, model, palette);
        }
        Screen::Detail => detail_screen(frame, area, model, palette),
        Screen::Main => main_screen(frame, area, model, view, palette),
    }
}

fn main_screen(frame: &mut Frame, area: Rect, model: &Model, view: &mut ViewState, p: Palette) {
    let banner = u16::from(model.link != Link::Live);
    // The log and the foot give way to the table on a short window.
    let room = area.height.saturating_sub(2 + banner);
    let (log, foot) = match room {
        30.. => (10, 7),
        20.. => (6, 5),
        12.. => (0, 5),
        _ => (0, 0),
    };
    let [header, banner_area, table, log_area, foot_area, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(banner),
        Constraint::Fill(1),
        Constraint::Length(log),
        Constraint::Length(foot),
        Constraint::Length(1),
    ])
    .areas(area);
    header_line(frame, header, model, p);
    if banner > 0 {
        banner_line(frame, banner_area, model, p);
    }
    services_table(frame, table, model, view, p);
    if log > 0 {
        log_pane(frame, log_area, model, 0, p);
    }
    if foot > 0 {
        let [events, alerts] =
            Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)])
                .spacing(1)
                .areas(foot_area);
        events_pane(frame, events, &model.events, p);
        alerts_pane(frame, alerts, model, p);
    }
    footer_line(frame, footer, model, p);
}

fn header_line(frame: &mut Frame, area: Rect, model: &Model, p: Palette) {
    let mut spans = vec![Span::styled(
        format!("berth top · {}", model.project),
        p.title(),
    )];
    if let Some(status) = &model.status {
        spans.push(Span::raw("   stack "));
        spans.push(Span::styled(status.health.name(), p.stack(status.health)));
        if let Some(score) = status.score {
            spans.push(Span::raw("  score "));
            spans.push(Span::styled(score.to_string(), p.score(Some(score))));
        }
    }
    if let Some(system) = &model.system {
        let cpu = system.cpu_percent.map_or("-".into(), format::percent);
        spans.push(Span::raw(format!(
            "   cpu {cpu} of {} cores   mem {} of {}   load {:.2} {:.2} {:.2}",
            system.cores,
            format::bytes(system.memory_used_bytes() as f64),
            format::bytes(system.memory_total_bytes as f64),
            system.load[0],
            system.load[1],
            system.load[2],
        )));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn banner_line(frame: &mut Frame, area: Rect, model: &Model, p: Palette) {
    let text = match &model.link {
        Link::Connecting => " connecting to the daemon…".to_string(),
        Link::Down { reason } if model.status.is_some() => {
            format!(" {reason} — retrying; the figures below are the last it gave")
        }
        Link::Down { reason } => format!(" {reason} — retrying"),
        Link::Live => String::new(),
    };
    frame.render_widget(
        Paragraph::new(text).style(p.warn().add_modifier(Modifier::BOLD | Modifier::REVERSED)),
        area,
    );
}

/// The table's fixed columns: their headers and widths (the name's and the port's follow
/// the longest value).
struct Columns {
    name: u16,
    port: u16,
    /// Each sparkline's width; 0 leaves them out.
    spark: u16,
}

const STATE_W: u16 = 8;
const HEALTH_W: u16 = 9;
const SCORE_W: u16 = 5;
const PID_W: u16 = 7;
const UPTIME_W: u16 = 6;
const RESTARTS_W: u16 = 8;
const CPU_W: u16 = 6;
const MEM_W: u16 = 9;
const HIGHLIGHT: &str = "▶ ";

impl Columns {
    fn fit(services: &[ServiceView], width: u16) -> Columns {
        let longest = |f: &dyn Fn(&ServiceView) -> usize, floor: usize, cap: usize| {
            services.iter().map(f).max().unwrap_or(0).clamp(floor, cap) as u16
        };
        let name = longest(&|s| s.name.chars().count(), 4, 24);
        let port = longest(&|s| format::port(s).len(), 4, 13);
        let fixed = name
            + STATE_W
            + HEALTH_W
            + SCORE_W
            + PID_W
            + port
            + UPTIME_W
            + RESTARTS_W
            + CPU_W
            + MEM_W;
        // Ten columns, each followed by a space, then the two sparklines and their space.
        let left = width.saturating_sub(fixed + 10 + 1 + HIGHLIGHT.len() as u16 - 2);
        let spark = (left / 2).min(30);
        Columns {
            name,
            port,
            spark: if spark >= 4 { spark } else { 0 },
        }
    }

    fn widths(&self) -> Vec<Constraint> {
        let mut w = vec![
            self.name, STATE_W, HEALTH_W, SCORE_W, PID_W, self.port, UPTIME_W, RESTARTS_W, CPU_W,
        ];
        if self.spark > 0 {
            w.push(self.spark);
        }
        w.push(MEM_W);
        if self.spark > 0 {
            w.push(self.spark);
        }
        w.into_iter().map(Constraint::Length).collect()
    }
}

fn services_table(frame: &mut Frame, area: Rect, model: &Model, view: &mut ViewState, p: Palette) {
    let services = model.services();
    let visible = model.visible();
    let columns = Columns::fit(services, area.width);
    let height = area.height.saturating_sub(1) as usize;
    let selected = model.selected_row();
    // Scroll just enough to keep the selection in view.
    if let Some(at) = selected {
        if at < view.offset {
            view.offset = at;
        } else if height > 0 && at >= view.offset + height {
            view.offset = at + 1 - height;
        }
    }
    view.offset = view.offset.min(visible.len().saturating_sub(height));
    let live = model.link == Link::Live;
    let rows = visible
        .iter()
        .skip(view.offset)
        .take(height)
        .map(|&i| service_row(&services[i], model, &columns, live, p));
    let sort = |label: &str, key: Sort| {
        if model.sort == key {
            format!("{label}▼")
        } else {
            label.to_string()
        }
    };
    let mut header = vec![
        sort("NAME", Sort::Name),
        "STATE".into(),
        "HEALTH".into(),
        "SCORE".into(),
        "PID".into(),
        "PORT".into(),
        "UPTIME".into(),
        "RESTARTS".into(),
        sort("CPU", Sort::Cpu),
    ];
    if columns.spark > 0 {
        header.push(String::new());
    }
    header.push(sort("MEM", Sort::Memory));
    let mut table = Table::new(rows, columns.widths())
        .header(Row::new(header).style(p.title()))
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
        .highlight_symbol(HIGHLIGHT)
        .highlight_spacing(HighlightSpacing::Always);
    if !live {
        table = table.style(p.quiet());
    }
    let mut state = TableState::new().with_selected(selected.map(|at| at - view.offset));
    frame.render_stateful_widget(table, area, &mut state);
    if visible.is_empty() {
        let why = if model.status.is_none() {
            "waiting for the daemon…".to_string()
        } else if !model.filter.is_empty() {
            format!("no service matches `{}`", model.filter)
        } else {
            "no services".to_string()
        };
        let below = Rect {
            y: area.y + 1,
            height: area.height.saturating_sub(1),
            ..area
        };
        frame.render_widget(Paragraph::new(format!("  {why}")).style(p.quiet()), below);
    }
}

fn service_row<'a>(
    s: &'a ServiceView,
    model: &Model,
    columns: &Columns,
    live: bool,
    p: Palette,
) -> Row<'a> {
    // Greyed as a whole while the daemon is away: no colour says "this is now".
    let p = if live { p } else { Palette { colour: false } };
    let dash = || "-".to_string();
    let trends = model.trends.get(&s.name);
    let width = columns.spark as usize;
    fn values(trend: Option<&Trend>) -> impl DoubleEndedIterator<Item = f64> + '_ {
        trend.into_iter().flat_map(Trend::values)
    }
    let port_style = if s.configured_port.is_some_and(|c| Some(c) != s.port) {
        p.warn()
    } else {
        Style::new()
    };
    let mut cells = vec![
        Cell::from(format::fit(&s.name, columns.name as usize)),
        Cell::from(s.state.name()).style(p.state(s.state)),
        Cell::from(s.health.name()).style(p.health(s.health)),
        Cell::from(s.score.map_or_else(dash, |v| v.to_string())).style(p.score(s.score)),
        Cell::from(s.pid.map_or_else(dash, |v| v.to_string())),
        Cell::from(format::port(s)).style(port_style),
        Cell::from(s.uptime_s.map_or_else(dash, format::uptime)),
        Cell::from(s.restarts.to_string()).style(if s.restarts > 0 {
            p.warn()
        } else {
            Style::new()
        }),
        Cell::from(s.cpu_percent.map_or_else(dash, format::percent)),
    ];
    if columns.spark > 0 {
        // One core's tenth as the floor: an idle service shows a flat line, not noise.
        let line = format::sparkline(values(trends.map(|t| &t.cpu)), width, 10.0);
        cells.push(Cell::from(line).style(p.fg(Color::Cyan)));
    }
    cells.push(Cell::from(
        s.rss_bytes.map_or_else(dash, |b| format::bytes(b as f64)),
    ));
    if columns.spark > 0 {
        let line = format::sparkline_range(values(trends.map(|t| &t.rss)), width);
        cells.push(Cell::from(line).style(p.fg(Color::Magenta)));
    }
    Row::new(cells)
}

/// The selected service's log: its last lines that fit (`scroll` lines up from the
/// newest), under a title that also says why the service is not well, when it is not.
fn log_pane(frame: &mut Frame, area: Rect, model: &Model, scroll: usize, p: Palette) {
    let selected = model.selected();
    let who = selected.map_or("-", |s| s.name.as_str());
    let mut title = vec![Span::styled(format!(" log · {who} "), p.title())];
    match model.screen {
        Screen::Log { scroll: 0 } => title.push(Span::raw("(following; Esc: back) ")),
        Screen::Log { scroll } => title.push(Span::raw(format!(
            "({scroll} lines up; End follows, Esc: back) "
        ))),
        _ => {}
    }
    if let Some(why) = selected.and_then(|s| s.reason.as_deref().or(s.note.as_deref())) {
        title.push(Span::styled(format!("· {why} "), p.warn()));
    }
    let block = Block::new().borders(Borders::TOP).title(Line::from(title));
    let inner = block.inner(area);
    // Until its follower has begun, the lines are another service's.
    let ours = model.log.service.as_deref() == selected.map(|s| s.name.as_str());
    let lines = &model.log.lines;
    let end = lines.len().saturating_sub(scroll);
    let start = end.saturating_sub(inner.height as usize);
    let text: Vec<Line> = match (selected, ours) {
        (None, _) => Vec::new(),
        (Some(_), false) => vec![Line::styled("reading the log…", p.quiet())],
        (Some(_), true) if lines.is_empty() => {
            vec![Line::styled("(nothing logged yet)", p.quiet())]
        }
        (Some(_), true) => lines
            .range(start..end)
            .map(|l| {
                if l.stream == "berth" {
                    Line::styled(format!("[berth] {}", l.line), p.quiet())
                } else {
                    Line::raw(l.line.as_str())
                }
            })
            .collect(),
    };
    frame.render_widget(Paragraph::new(text).block(block), area);
}

/// `04:30:00` of an RFC 3339 time.
fn clock(time: &str) -> &str {
    time.get(11..19).unwrap_or(time)
}

fn events_pane<'a>(
    frame: &mut Frame,
    area: Rect,
    events: impl IntoIterator<
        Item = &'a crate::api::monitoring::EventView,
        IntoIter: DoubleEndedIterator,
    >,
    p: Palette,
) {
    let block = Block::new()
        .borders(Borders::TOP)
        .title(" events ")
        .title_style(p.title());
    let height = block.inner(area).height as usize;
    let mut lines: Vec<Line> = events
        .into_iter()
        .rev()
        .take(height)
        .map(|e| {
            let kind_style = match e.kind.as_str() {
                "failed" | "exited" => p.bad(),
                "ready" | "completed" | "adopted" => p.good(),
                "restarting" | "port" | "health" | "alert" => p.warn(),
                _ => Style::new(),
            };
            let pid = e
                .data
                .get("pid")
                .and_then(|v| v.as_u64())
                .map(|pid| format!(" pid {pid}"))
                .unwrap_or_default();
            let message = if e.message.is_empty() {
                String::new()
            } else {
                format!(": {}", e.message)
            };
            Line::from(vec![
                Span::styled(format!("{} ", clock(&e.time)), p.quiet()),
                Span::raw(format!("{} ", e.service.as_deref().unwrap_or("berth"))),
                Span::styled(e.kind.clone(), kind_style),
                Span::raw(format!("{pid}{message}")),
            ])
        })
        .collect();
    lines.reverse();
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn alerts_pane(frame: &mut Frame, area: Rect, model: &Model, p: Palette) {
    let firing = model.alerts.iter().filter(|a| a.state == "firing").count();
    let block = Block::new()
        .borders(Borders::TOP)
        .title(format!(" alerts: {firing} firing "))
        .title_style(p.title());
    let lines: Vec<Line> = if model.alerts.is_empty() {
        vec![Line::styled("none", p.quiet())]
    } else {
        model
            .alerts
            .iter()
            .map(|a| {
                let style = match (a.state.as_str(), a.severity.as_str()) {
                    ("firing", "critical") => p.bad(),
                    ("firing", _) => p.warn(),
                    _ => p.quiet(),
                };
                let silenced = if a.silenced { " (silenced)" } else { "" };
                Line::from(vec![
                    Span::styled(format!("{:<7} ", a.state), style),
                    Span::raw(format!("{} {} {}{silenced}", a.rule, a.subject, a.value)),
                ])
            })
            .collect()
    };
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn footer_line(frame: &mut Frame, area: Rect, model: &Model, p: Palette) {
    let line = match (&model.mode, &model.notice) {
        (Mode::Filter, _) => Line::from(vec![
            Span::styled("/", p.title()),
            Span::raw(model.filter.clone()),
            Span::styled("█", p.quiet()),
            Span::styled("   Enter: keep · Esc: clear", p.quiet()),
        ]),
        (Mode::ConfirmStop(name), _) => Line::styled(
            format!("stop {name}? y/n"),
            p.warn().add_modifier(Modifier::BOLD),
        ),
        (Mode::Browse, Some(notice)) => Line::styled(
            notice.text.clone(),
            if notice.error { p.bad() } else { p.good() },
        ),
        (Mode::Browse, None) => {
            let filter = if model.filter.is_empty() {
                String::new()
            } else {
                format!("filter `{}` · ", model.filter)
            };
            let sort = model.sort.label();
            let mut keys = format!(
                "{filter}j/k select · Enter details · r restart · s stop/start · l log · / filter · c sort: {sort} · ? help · q quit"
            );
            // A narrow window gets the keys alone; `?` says the rest.
            if keys.chars().count() > area.width as usize {
                keys = format!("{filter}j/k · Enter · r · s · l · / · c: {sort} · ? help · q quit");
            }
            Line::styled(keys, p.quiet())
        }
    };
    frame.render_widget(Paragraph::new(line), area);
}

fn help(frame: &mut Frame, area: Rect, p: Palette) {
    let block = Block::bordered()
        .title(" berth top: help (any key: back) ")
        .title_style(p.title());
    let mut lines: Vec<Line> = KEYS.lines().map(Line::raw).collect();
    lines.extend([
        Line::raw(""),
        Line::raw("The table shows each service: state, health, score, pid, port (a port berth"),
        Line::raw("moved shows the configured one in parentheses), uptime, restarts, CPU and"),
        Line::raw("memory with their recent history. Below: the selected service's log, the"),
        Line::raw("latest events, and the alerts pending or firing."),
    ]);
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn detail_screen(frame: &mut Frame, area: Rect, model: &Model, p: Palette) {
    let Some(detail) = &model.detail else {
        return main_screen(frame, area, model, &mut ViewState::default(), p);
    };
    let [head, charts, foot, footer] = Layout::vertical([
        Constraint::Length(4),
        Constraint::Fill(1),
        Constraint::Length(8.min(area.height / 4)),
        Constraint::Length(1),
    ])
    .areas(area);
    detail_head(frame, head, model, detail, p);
    let [cpu, memory] =
        Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(charts);
    chart(
        frame,
        cpu,
        "cpu %",
        &detail.trends.cpu,
        format::percent,
        p.fg(Color::Cyan),
        p,
    );
    chart(
        frame,
        memory,
        "memory",
        &detail.trends.rss,
        format::bytes,
        p.fg(Color::Magenta),
        p,
    );
    let [events, alerts] =
        Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)])
            .spacing(1)
            .areas(foot);
    let own: Vec<_> = detail.info.iter().flat_map(|i| i.events.iter()).collect();
    events_pane(frame, events, own, p);
    alerts_pane(frame, alerts, model, p);
    footer_line(frame, footer, model, p);
}

fn detail_head(frame: &mut Frame, area: Rect, model: &Model, detail: &Detail, p: Palette) {
    let row = model
        .services()
        .iter()
        .find(|s| s.name == detail.service)
        .or(detail.info.as_ref().map(|i| &i.service));
    let mut lines = vec![Line::styled(
        format!("{} · details (Esc: back)", detail.service),
        p.title(),
    )];
    if let Some(s) = row {
        let dash = || "-".to_string();
        lines.push(Line::from(vec![
            Span::styled(s.state.name(), p.state(s.state)),
            Span::raw("  "),
            Span::styled(s.health.name(), p.health(s.health)),
            Span::raw(format!(
                "  score {}  pid {}  port {}  up {}  restarts {}  cpu {}  mem {}",
                s.score.map_or_else(dash, |v| v.to_string()),
                s.pid.map_or_else(dash, |v| v.to_string()),
                format::port(s),
                s.uptime_s.map_or_else(dash, format::uptime),
                s.restarts,
                s.cpu_percent.map_or_else(dash, format::percent),
                s.rss_bytes.map_or_else(dash, |b| format::bytes(b as f64)),
            )),
        ]));
        let why: Vec<&str> = s
            .score_reasons
            .iter()
            .map(String::as_str)
            .chain(s.reason.as_deref())
            .chain(s.note.as_deref())
            .collect();
        if !why.is_empty() {
            lines.push(Line::styled(why.join("; "), p.warn()));
        }
    }
    if let Some(command) = detail.info.as_ref().map(|i| &i.definition["command"]) {
        let text = match command {
            serde_json::Value::Array(argv) => argv
                .iter()
                .map(|a| a.as_str().unwrap_or_default())
                .collect::<Vec<_>>()
                .join(" "),
            serde_json::Value::String(line) => line.clone(),
            _ => String::new(),
        };
        lines.push(Line::styled(format!("command: {text}"), p.quiet()));
    }
    frame.render_widget(Paragraph::new(lines), area);
}

/// One series over its window, newest at the right edge, seconds before it on the x axis.
fn chart(
    frame: &mut Frame,
    area: Rect,
    title: &str,
    trend: &Trend,
    show: fn(f64) -> String,
    line: Style,
    p: Palette,
) {
    let newest = trend.points.back().map_or(0, |(t, _)| *t);
    let oldest = trend.points.front().map_or(0, |(t, _)| *t);
    let data: Vec<(f64, f64)> = trend
        .points
        .iter()
        .map(|&(t, v)| (t as f64 / 1000.0 - newest as f64 / 1000.0, v))
        .collect();
    let span = ((newest - oldest) as f64 / 1000.0).max(60.0);
    let top = trend.values().fold(0.0, f64::max).max(f64::MIN_POSITIVE);
    let block = Block::new()
        .borders(Borders::TOP)
        .title(format!(" {title} "))
        .title_style(p.title());
    if data.is_empty() {
        frame.render_widget(
            Paragraph::new(Line::styled("no history yet", p.quiet())).block(block),
            area,
        );
        return;
    }
    let dataset = Dataset::default()
        .marker(Marker::Braille)
        .graph_type(GraphType::Line)
        .style(line)
        .data(&data);
    let widget = Chart::new(vec![dataset])
        .block(block)
        .x_axis(
            Axis::default()
                .bounds([-span, 0.0])
                .labels([format!("-{}", format::uptime(span)), "now".to_string()])
                .style(p.quiet()),
        )
        .y_axis(
            Axis::default()
                .bounds([0.0, top * 1.1])
                .labels([show(0.0), show(top)])
                .style(p.quiet()),
        );
    frame.render_widget(widget, area);
}
