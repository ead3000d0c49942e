//! The routes that read history and the latest readings: `/v1/stats`, `/v1/events`,
//! `/v1/history` and `/metrics`. Each opens the database read-only for its request (the
//! writer is never held up) and answers 400 for a bad query, 503 before a stack is loaded.

use super::orchestrator::Orchestrator;
use super::query_string::Query;
use super::service_routes::known;
use crate::api::monitoring::Series;
use crate::history::query::{self, EventFilter, Metric};
use crate::logs::time::now_ms;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Duration;

/// The longest window a query may ask for: far beyond any retention, short of overflow.
const LONGEST: Duration = Duration::from_secs(10 * 365 * 86_400);
/// Points a series may have at most; a finer step is refused.
const MAX_POINTS: u64 = 100_000;

type Answer = Result<Response, (StatusCode, String)>;

fn bad(message: impl Into<String>) -> (StatusCode, String) {
    (StatusCode::BAD_REQUEST, message.into())
}

fn unavailable(e: impl std::fmt::Display) -> (StatusCode, String) {
    (StatusCode::SERVICE_UNAVAILABLE, e.to_string())
}

fn stack(orchestrator: &Orchestrator) -> Result<Arc<crate::stack::Stack>, (StatusCode, String)> {
    orchestrator
        .stack()
        .ok_or_else(|| unavailable("no stack loaded yet: run `berth up` first"))
}

fn json(value: &impl serde::Serialize) -> Response {
    axum::Json(value).into_response()
}

/// `GET /v1/stats?since=D`: `stats --json`.
pub fn stats(orchestrator: &Orchestrator, q: &Query) -> Answer {
    let stack = stack(orchestrator)?;
    let since = q
        .duration("since", LONGEST)
        .map_err(bad)?
        .unwrap_or(Duration::from_secs(3600));
    // A replicated service's name stands for every instance of it.
    let services = stack.expand_names(&q.all("service"));
    for name in &services {
        known(&stack, name)?;
    }
    let until = now_ms();
    let report = query::report(
        &stack,
        &services,
        until.saturating_sub(since.as_millis() as u64),
        until,
    )
    .map_err(unavailable)?;
    Ok(json(&report))
}

/// The filter of `GET /v1/events` (`since`, `service`, `kind`, `lines`), checked against the
/// stack: unknown services are a 404, unknown kinds and bad values a 400.
pub fn event_filter(
    stack: &crate::stack::Stack,
    q: &Query,
) -> Result<EventFilter, (StatusCode, String)> {
    let services = stack.expand_names(&q.all("service"));
    for name in &services {
        known(stack, name)?;
    }
    let kinds = q.all("kind");
    if let Some(k) = kinds
        .iter()
        .find(|k| !crate::api::monitoring::EVENT_KINDS.contains(&k.as_str()))
    {
        return Err(bad(format!(
            "kind: unknown event kind `{k}`; one of {}",
            crate::api::monitoring::EVENT_KINDS.join(", ")
        )));
    }
    Ok(EventFilter {
        since_ms: q
            .duration("since", LONGEST)
            .map_err(bad)?
            .map(|d| now_ms().saturating_sub(d.as_millis() as u64)),
        services,
        kinds,
        after_id: None,
        last: Some(
            q.number("lines", 1, 1_000_000)
                .map_err(bad)?
                .unwrap_or(1000) as usize,
        ),
    })
}

/// `GET /v1/events?since=D&service=S&kind=K&lines=N`: NDJSON, oldest first.
pub fn events(orchestrator: &Orchestrator, q: &Query) -> Answer {
    let stack = stack(orchestrator)?;
    let filter = event_filter(&stack, q)?;
    let mut body = String::new();
    if let Some(conn) = query::open(&stack.state_dir).map_err(unavailable)? {
        for e in query::events(&conn, &filter).map_err(unavailable)? {
            body.push_str(&serde_json::to_string(&e.view()).expect("serializable"));
            body.push('\n');
        }
    }
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
}

/// `GET /v1/history?service=S&metric=M&since=D&step=D`: one series.
pub fn history(orchestrator: &Orchestrator, q: &Query) -> Answer {
    let stack = stack(orchestrator)?;
    let name = q.get("metric").ok_or_else(|| {
        bad(format!(
            "metric: missing; one of {}",
            Metric::NAMES.join(", ")
        ))
    })?;
    let metric = Metric::parse(name).ok_or_else(|| {
        bad(format!(
            "metric: unknown metric `{name}`; one of {}",
            Metric::NAMES.join(", ")
        ))
    })?;
    let service = q.get("service");
    match (metric.per_service(), service) {
        (true, None) => {
            return Err(bad(format!(
                "service: `{name}` is a service's metric; name one"
            )));
        }
        (true, Some(s)) => known(&stack, s)?,
        _ => {}
    }
    let subject = if metric.per_service() {
        service
    } else {
        q.get("disk")
    };
    let since = q
        .duration("since", LONGEST)
        .map_err(bad)?
        .unwrap_or(Duration::from_secs(3600));
    let window = since.as_millis() as u64;
    // About 300 points by default, and never a step finer than a second.
    let step = match q.duration("step", LONGEST).map_err(bad)? {
        Some(step) if step.as_millis() < 1000 => return Err(bad("step: at least 1s")),
        Some(step) => step.as_millis() as u64,
        None => (window / 300).max(1000).div_ceil(1000) * 1000,
    };
    if window / step > MAX_POINTS {
        return Err(bad(format!(
            "step: too fine for the window ({} points; at most {MAX_POINTS})",
            window / step
        )));
    }
    let until = now_ms();
    let since_ms = until.saturating_sub(window);
    let raw_since = until.saturating_sub(crate::history::store::RAW_KEPT_MS);
    let points = match query::open(&stack.state_dir).map_err(unavailable)? {
        Some(conn) => query::series(&conn, metric, subject, since_ms, until, step, raw_since)
            .map_err(unavailable)?,
        None => Vec::new(),
    };
    Ok(json(&Series {
        metric: name.to_string(),
        service: service.filter(|_| metric.per_service()).map(str::to_string),
        points,
    }))
}

/// `GET /metrics`: the classic text format, or OpenMetrics when the scraper asks for it.
pub fn metrics(orchestrator: &Orchestrator, headers: &HeaderMap) -> Answer {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let openmetrics = crate::api::metrics::wants_openmetrics(accept);
    let snapshot = super::scrape::snapshot(orchestrator);
    let body = crate::api::metrics::render(&snapshot, openmetrics);
    Ok((
        [(
            header::CONTENT_TYPE,
            crate::api::metrics::content_type(openmetrics),
        )],
        body,
    )
        .into_response())
}
