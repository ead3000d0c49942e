//! The alerts' routes: `GET /v1/alerts`, `GET /v1/alerts/history`, `POST /v1/alerts/silence`,
//! `/unsilence` and `/test`. A request naming an unknown rule, service or channel is a 404,
//! a bad duration a 400; nothing changes then.

use super::orchestrator::Orchestrator;
use super::query_string::Query;
use crate::alerts::engine::{Phase, Silence};
use crate::api::alerts::{
    AlertView, AlertsResponse, SilenceRequest, SilenceView, TestRequest, TestResponse, TestResult,
    UnsilenceRequest,
};
use crate::logs::time::{now_ms, rfc3339_ms};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::time::Duration;

type Answer = Result<Response, (StatusCode, String)>;

/// How long `alerts test` waits for its channels: longer than three tries of 5 s.
pub const TEST_WAIT: Duration = Duration::from_secs(20);

fn not_found(message: String) -> (StatusCode, String) {
    (StatusCode::NOT_FOUND, message)
}

pub fn list(orchestrator: &Orchestrator) -> AlertsResponse {
    let alerting = orchestrator.alerting();
    let now = now_ms();
    let alerts = alerting
        .active(now)
        .into_iter()
        .map(|a| {
            let severity = alerting.severity_now(&a).name().to_string();
            let (state, since) = match a.phase {
                Phase::Pending { since_ms } => ("pending", since_ms),
                Phase::Firing { since_ms, .. } => ("firing", since_ms),
            };
            AlertView {
                service: crate::alerts::engine::service_of(&a.subject).map(str::to_string),
                rule: a.rule,
                subject: a.subject,
                state: state.into(),
                severity,
                value: a.value,
                since: rfc3339_ms(since),
                silenced: a.silenced,
            }
        })
        .collect();
    let silences = alerting
        .silences(now)
        .into_iter()
        .map(|s| SilenceView {
            rule: s.rule,
            service: s.service,
            until: rfc3339_ms(s.until_ms),
        })
        .collect();
    AlertsResponse { alerts, silences }
}

pub fn alerts(orchestrator: &Orchestrator, _q: &Query) -> Answer {
    Ok(axum::Json(list(orchestrator)).into_response())
}

/// `GET /v1/alerts/history?since=D`: every transition and delivery, NDJSON.
pub fn history(orchestrator: &Orchestrator, q: &Query) -> Answer {
    let mut q = q.clone();
    q.set("kind", "alert");
    super::history_routes::events(orchestrator, &q)
}

/// Checks that `rule` (and `service`) exist in the stack the daemon runs.
fn known(
    orchestrator: &Orchestrator,
    rule: &str,
    service: Option<&str>,
) -> Result<(), (StatusCode, String)> {
    let stack = orchestrator.stack().ok_or_else(|| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "no stack loaded yet: run `berth up` first".to_string(),
        )
    })?;
    let rules: Vec<&str> = stack.alerts.rules.iter().map(|r| r.name.as_str()).collect();
    if !rules.contains(&rule) {
        return Err(not_found(format!(
            "no alert rule `{rule}` in the config{}",
            crate::config::suggest::hint(rule, rules.iter().copied())
        )));
    }
    if let Some(service) = service
        && stack.service(service).is_none()
    {
        return Err(not_found(format!("no service `{service}` in the config")));
    }
    Ok(())
}

pub fn silence(orchestrator: &Orchestrator, request: SilenceRequest) -> Answer {
    known(orchestrator, &request.rule, request.service.as_deref())?;
    let length = crate::config::units::parse_duration(&request.for_)
        .map_err(|e| (StatusCode::BAD_REQUEST, format!("for: {e}")))?;
    if length.is_zero() || length > Duration::from_secs(365 * 86_400) {
        return Err((
            StatusCode::BAD_REQUEST,
            "for: a silence lasts from 1s to 365d".to_string(),
        ));
    }
    let until_ms = now_ms() + length.as_millis() as u64;
    orchestrator.alerting().silence(Silence {
        rule: request.rule.clone(),
        service: request.service.clone(),
        until_ms,
    });
    Ok(axum::Json(SilenceView {
        rule: request.rule,
        service: request.service,
        until: rfc3339_ms(until_ms),
    })
    .into_response())
}

pub fn unsilence(orchestrator: &Orchestrator, request: UnsilenceRequest) -> Answer {
    known(orchestrator, &request.rule, request.service.as_deref())?;
    let lifted = orchestrator
        .alerting()
        .unsilence(&request.rule, request.service.as_deref());
    Ok(axum::Json(serde_json::json!({ "lifted": lifted })).into_response())
}

pub fn test(orchestrator: &Orchestrator, request: TestRequest) -> Answer {
    let stack = orchestrator.stack().ok_or_else(|| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "no stack loaded yet: run `berth up` first".to_string(),
        )
    })?;
    let names: Vec<&str> = stack
        .alerts
        .channels
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    if names.is_empty() {
        return Err((
            StatusCode::CONFLICT,
            "the config has no alert channels (`alerts.channels`)".to_string(),
        ));
    }
    for c in &request.channels {
        if !names.contains(&c.as_str()) {
            return Err(not_found(format!(
                "no alert channel `{c}` in the config{}",
                crate::config::suggest::hint(c, names.iter().copied())
            )));
        }
    }
    let results = orchestrator
        .alerting()
        .test(&request.channels, TEST_WAIT)
        .into_iter()
        .map(|(channel, result)| TestResult {
            channel,
            delivered: result.is_ok(),
            detail: match result {
                Ok(d) | Err(d) => d,
            },
        })
        .collect();
    Ok(axum::Json(TestResponse { results }).into_response())
}
