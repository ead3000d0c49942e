//! The view's screens drawn on ratatui's test backend and compared, character for character,
//! with the text kept in `src/tui/snapshots/NAME.txt`. `BERTH_UPDATE_SNAPSHOTS=1` writes them
//! anew (to be read before committing). The models are built by hand with fixed times, so
//! nothing in a screen depends on the clock.

use super::state::tests::{service, status};
use super::state::{Key, Link, Model, Update};
use super::view::{self, Palette, ViewState};
use crate::api::alerts::AlertView;
use crate::api::monitoring::EventView;
use crate::api::services::{LogLine, SampleView, ServiceSampleView};
use crate::api::types::{ServiceView, StackHealth};
use crate::daemon::supervisor::{HealthState, ServiceState};
use crate::monitor::system::SystemReading;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::Color;
use std::path::PathBuf;

const WIDTH: u16 = 120;
const HEIGHT: u16 = 40;
/// The fixed "now" of every model here: 2026-11-22T04:30:00Z.
const NOW_MS: u64 = 1_795_321_800_000;

/// The buffer as lines of text, trailing blanks cut.
pub fn text(buffer: &Buffer) -> String {
    let area = buffer.area;
    let mut out = String::new();
    for y in 0..area.height {
        let line: String = (0..area.width).map(|x| buffer[(x, y)].symbol()).collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn render(model: &Model, palette: Palette) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(WIDTH, HEIGHT)).unwrap();
    let mut view = ViewState::default();
    terminal
        .draw(|frame| view::draw(frame, model, &mut view, palette))
        .unwrap();
    terminal.backend().buffer().clone()
}

#[track_caller]
fn matches_snapshot(name: &str, model: &Model) {
    let screen = text(&render(model, Palette { colour: true }));
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("src/tui/snapshots")
        .join(format!("{name}.txt"));
    if std::env::var_os("BERTH_UPDATE_SNAPSHOTS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, &screen).unwrap();
        return;
    }
    let kept = std::fs::read_to_string(&file).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; BERTH_UPDATE_SNAPSHOTS=1 writes it. The screen:\n{screen}",
            file.display()
        )
    });
    assert!(
        kept == screen,
        "{name} differs from {}\n--- kept\n{kept}\n--- now\n{screen}",
        file.display()
    );
}

fn system() -> SystemReading {
    SystemReading {
        at_ms: NOW_MS,
        cpu_percent: Some(12.5),
        cores: 8,
        load: [0.42, 0.31, 0.2],
        memory_total_bytes: 16 << 30,
        memory_available_bytes: 12 << 30,
        swap_used_bytes: 0,
        disks: Vec::new(),
        net_rx_bytes: 0,
        net_tx_bytes: 0,
    }
}

/// A service with a pid, a port and an uptime of its own.
fn numbered(name: &str, i: u32) -> ServiceView {
    let mut s = service(name, f64::from(i % 7) * 1.5, 8 + u64::from(i % 5) * 4);
    s.pid = Some(4300 + i);
    s.port = Some(8000 + i as u16);
    s.uptime_s = Some(f64::from(60 + i * 37));
    s
}

/// A model with these services, the machine and a few sampling rounds for the sparklines.
fn model_of(services: Vec<ServiceView>) -> Model {
    let mut m = Model::new("shop");
    let mut status = status(services);
    status.score = Some(100);
    m.apply(Update::Status(status.clone()), NOW_MS);
    for round in 0..12u64 {
        let sample = SampleView {
            time: String::new(),
            services: status
                .services
                .iter()
                .enumerate()
                .map(|(i, s)| ServiceSampleView {
                    name: s.name.clone(),
                    pid: s.pid.unwrap_or(0),
                    cpu_percent: ((round + i as u64) % 6) as f64 * 4.0,
                    rss_bytes: (10 + round + i as u64 % 3) << 20,
                    open_fds: 10,
                    threads: 2,
                    processes: 1,
                })
                .collect(),
            system: Some(SystemReading {
                at_ms: NOW_MS - (12 - round) * 5_000,
                ..system()
            }),
        };
        m.apply(Update::Sample(sample), NOW_MS);
    }
    m
}

fn event(time: &str, service: &str, kind: &str, message: &str, pid: u32) -> EventView {
    EventView {
        time: time.into(),
        service: Some(service.into()),
        kind: kind.into(),
        message: message.into(),
        data: serde_json::json!({ "pid": pid }),
    }
}

fn log_lines(m: &mut Model, service: &str, lines: &[(&str, &str)]) {
    m.apply(
        Update::LogStarted {
            generation: 1,
            service: service.into(),
        },
        NOW_MS,
    );
    for (stream, line) in lines {
        m.apply(
            Update::Log {
                generation: 1,
                line: LogLine {
                    time: None,
                    stream: (*stream).into(),
                    line: (*line).into(),
                },
            },
            NOW_MS,
        );
    }
}

/// The shop of the README: a web front, an API, a worker, a database, a cache.
fn shop() -> Model {
    let mut services = vec![
        numbered("web", 1),
        numbered("api", 2),
        numbered("worker", 3),
        numbered("db", 4),
        numbered("cache", 5),
    ];
    services[2].port = None;
    let mut m = model_of(services);
    log_lines(
        &mut m,
        "api",
        &[
            ("berth", "started (pid 4302)"),
            ("out", "listening on 127.0.0.1:8002"),
            ("out", "GET /items 200 3ms"),
            ("err", "GET /items/9 404 1ms"),
        ],
    );
    m.apply(
        Update::Events(vec![
            event("2026-11-22T04:20:00.100Z", "db", "started", "", 4304),
            event(
                "2026-11-22T04:20:00.300Z",
                "db",
                "ready",
                "ready in 200ms",
                4304,
            ),
            event("2026-11-22T04:20:01.000Z", "api", "started", "", 4302),
            event(
                "2026-11-22T04:20:01.122Z",
                "api",
                "ready",
                "ready in 122ms",
                4302,
            ),
        ]),
        NOW_MS,
    );
    m
}

#[test]
fn many_services_scrolled_to_the_selection() {
    let services = (0..200)
        .map(|i| numbered(&format!("svc-{i:03}"), i))
        .collect();
    let mut m = model_of(services);
    for _ in 0..150 {
        m.on_key(Key::Char('j'), NOW_MS);
    }
    assert_eq!(m.selected_name(), Some("svc-150"));
    matches_snapshot("many", &m);
}

#[test]
fn a_failed_service_with_an_alert() {
    let mut m = shop();
    let mut status = m.status.clone().unwrap();
    let worker = &mut status.services[2];
    worker.state = ServiceState::Failed;
    worker.health = HealthState::Unhealthy;
    worker.pid = None;
    worker.uptime_s = None;
    worker.cpu_percent = None;
    worker.rss_bytes = None;
    worker.restarts = 5;
    worker.exit_code = Some(1);
    worker.score = Some(0);
    worker.reason = Some("exited with code 1, 5 times in 60s".into());
    status.health = StackHealth::Unhealthy;
    status.score = Some(0);
    m.apply(Update::Status(status), NOW_MS);
    m.apply(
        Update::Event(event(
            "2026-11-22T04:29:58.000Z",
            "worker",
            "failed",
            "exited with code 1, 5 times in 60s",
            4303,
        )),
        NOW_MS,
    );
    m.apply(
        Update::Alerts(vec![AlertView {
            rule: "worker-down".into(),
            service: Some("worker".into()),
            subject: "worker".into(),
            state: "firing".into(),
            severity: "critical".into(),
            value: "failed".into(),
            since: "2026-11-22T04:29:58.000Z".into(),
            silenced: false,
        }]),
        NOW_MS,
    );
    m.on_key(Key::End, NOW_MS);
    assert_eq!(m.selected_name(), Some("worker"));
    log_lines(
        &mut m,
        "worker",
        &[
            ("out", "connecting to the queue at 127.0.0.1:5672"),
            ("err", "fatal: connection refused"),
            ("berth", "exited with code 1"),
        ],
    );
    matches_snapshot("failed", &m);
    // In colour the failed state is red; with NO_COLOR nothing is.
    let buffer = render(&m, Palette { colour: true });
    let cell = find(&buffer, "failed").expect("a failed row");
    assert_eq!(buffer[cell].fg, Color::Red);
    let plain = render(&m, Palette { colour: false });
    assert!(
        plain.content().iter().all(|c| c.fg == Color::Reset),
        "NO_COLOR: no colour at all"
    );
}

/// Where `text` first shows in the table (below the header).
fn find(buffer: &Buffer, text: &str) -> Option<(u16, u16)> {
    let screen = super::snapshots::text(buffer);
    screen.lines().enumerate().skip(2).find_map(|(y, line)| {
        let at = line.find(text)?;
        Some((line[..at].chars().count() as u16, y as u16))
    })
}

#[test]
fn a_moved_port_shows_the_configured_one() {
    let mut m = shop();
    let mut status = m.status.clone().unwrap();
    status.services[1].port = Some(8012);
    status.services[1].configured_port = Some(8002);
    status.services[1].note = Some("port 8002 was taken (pid 812, python3): moved to 8012".into());
    m.apply(Update::Status(status), NOW_MS);
    matches_snapshot("moved_port", &m);
}

#[test]
fn the_help_screen() {
    let mut m = shop();
    m.on_key(Key::Char('?'), NOW_MS);
    matches_snapshot("help", &m);
}

#[test]
fn the_daemon_down_keeps_the_last_figures_under_a_banner() {
    let mut m = shop();
    m.apply(Update::Down("daemon not running".into()), NOW_MS);
    assert!(matches!(m.link, Link::Down { .. }));
    matches_snapshot("down", &m);
}

#[test]
fn the_detail_screen_charts_the_service() {
    let mut m = shop();
    m.on_key(Key::Enter, NOW_MS);
    m.watch_detail(Some("api"));
    let series = |scale: f64| -> Vec<(u64, f64)> {
        (0..180u64)
            .map(|i| (NOW_MS - (180 - i) * 5_000, (i % 30) as f64 * scale))
            .collect()
    };
    for (metric, scale) in [
        (super::state::Metric::Cpu, 1.0),
        (super::state::Metric::Memory, (1 << 20) as f64),
    ] {
        m.apply(
            Update::DetailHistory {
                service: "api".into(),
                metric,
                points: series(scale),
            },
            NOW_MS,
        );
    }
    matches_snapshot("detail", &m);
}

#[test]
fn filtering_and_the_stop_question_show_in_the_footer() {
    let mut m = shop();
    for c in "/wor".chars() {
        m.on_key(Key::Char(c), NOW_MS);
    }
    let screen = text(&render(&m, Palette { colour: false }));
    assert!(screen.contains("/wor█"), "{screen}");
    assert!(
        screen.contains("worker") && !screen.contains("cache"),
        "{screen}"
    );
    m.on_key(Key::Enter, NOW_MS);
    m.on_key(Key::Char('s'), NOW_MS);
    let screen = text(&render(&m, Palette { colour: false }));
    assert_eq!(screen.lines().last(), Some("stop worker? y/n"), "{screen}");
}
