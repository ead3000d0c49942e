//! One service through the API: `GET /v1/services/{name}` (its status row, its resolved
//! definition, its last events and its alerts) and `POST /v1/services/{name}/start`, `/stop`
//! and `/restart`, which act as `up NAME`, `down NAME` and `restart NAME` on the stack the
//! daemon runs, with the environment of its last `up`.
//!
//! They answer 202 at once with the services affected. A start is scheduled as `POST /v1/up`
//! schedules it (the gates and supervisors start it on their threads); a stop or restart,
//! which waits for the service to stop, runs on a thread of its own. While one runs, its
//! services are *under way*: another start, stop or restart touching them is refused with
//! 409 (the orchestrator cannot say so itself: a `down` takes the service out of its table
//! before it has stopped, so `status` shows it `stopped` while it still stops), and the
//! views this API gives (`/v1/services/{name}`, `/v1/stream`) show them `stopping` until
//! then. A start of a service that its supervisor is still stopping is a 409 too: `up`
//! would keep it as it is, and it would stop.

use super::alert_routes;
use super::orchestrator::{Orchestrator, Refusal};
use super::query_string::Query;
use super::supervisor::ServiceState;
use crate::api::services::{ActionRequest, ActionResponse, ServiceDetail};
use crate::api::types::StatusResponse;
use crate::history::query::{self, EventFilter};
use crate::stack::Stack;
use crate::stack::graph::Graph;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

type Answer = Result<Response, (StatusCode, String)>;

/// The events `GET /v1/services/{name}` shows.
const LAST_EVENTS: usize = 10;

/// What the API has under way, per service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Underway {
    Stopping,
    Restarting,
}

static UNDERWAY: Mutex<BTreeMap<String, Underway>> = Mutex::new(BTreeMap::new());

fn underway() -> MutexGuard<'static, BTreeMap<String, Underway>> {
    UNDERWAY.lock().unwrap_or_else(|e| e.into_inner())
}

fn no_stack() -> (StatusCode, String) {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "no stack loaded yet: run `berth up` first".to_string(),
    )
}

/// The stack the daemon runs, or 503 before any `up`.
pub fn loaded(orchestrator: &Orchestrator) -> Result<Arc<Stack>, (StatusCode, String)> {
    orchestrator.stack().ok_or_else(no_stack)
}

/// 404 unless `name` is a service of `stack`, an instance of a replicated one being a
/// service (with a "did you mean"; a replicated service's own name is told its instances).
pub fn known(stack: &Stack, name: &str) -> Result<(), (StatusCode, String)> {
    if stack.service(name).is_some() {
        return Ok(());
    }
    let instances = stack.members(name);
    let message = match (instances.first(), instances.last()) {
        (Some(first), Some(last)) => format!(
            "`{name}` has instances `{}` … `{}`: name one",
            first.name, last.name
        ),
        _ => format!(
            "no service `{name}` in the config{}",
            crate::config::suggest::hint(name, stack.nameable().into_iter())
        ),
    };
    Err((StatusCode::NOT_FOUND, message))
}

/// As `known`, a replicated service's own name standing for every instance of it.
fn named(stack: &Stack, name: &str) -> Result<(), (StatusCode, String)> {
    match stack.knows(name) {
        true => Ok(()),
        false => known(stack, name),
    }
}

fn conflict(message: String) -> (StatusCode, String) {
    (StatusCode::CONFLICT, message)
}

fn refused(refusal: Refusal) -> (StatusCode, String) {
    match refusal {
        Refusal::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
        Refusal::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, m),
    }
}

fn accepted(services: Vec<String>) -> Response {
    (
        StatusCode::ACCEPTED,
        axum::Json(ActionResponse { services }),
    )
        .into_response()
}

/// Shows what the API is stopping as `stopping` (the orchestrator says `stopped` as soon as
/// a stop begins, or still `running` until it does), and what it is restarting as
/// `stopping` while the orchestrator says `stopped`.
pub fn overlay(status: &mut StatusResponse) {
    let underway = underway();
    if underway.is_empty() {
        return;
    }
    for view in &mut status.services {
        match underway.get(&view.name) {
            Some(Underway::Stopping) => view.state = ServiceState::Stopping,
            Some(Underway::Restarting) if view.state == ServiceState::Stopped => {
                view.state = ServiceState::Stopping;
            }
            _ => {}
        }
    }
}

/// 409 when one of `names` has a stop or restart under way.
fn free(
    underway: &BTreeMap<String, Underway>,
    names: &[String],
) -> Result<(), (StatusCode, String)> {
    match names.iter().find_map(|n| underway.get(n).map(|u| (n, u))) {
        Some((name, Underway::Stopping)) => Err(conflict(format!(
            "`{name}` is being stopped; try again once it has stopped"
        ))),
        Some((name, Underway::Restarting)) => Err(conflict(format!(
            "`{name}` is being restarted; try again once it has started"
        ))),
        None => Ok(()),
    }
}

/// 409 when one of `names` is stopping in its supervisor.
fn not_stopping(status: &StatusResponse, names: &[String]) -> Result<(), (StatusCode, String)> {
    match status
        .services
        .iter()
        .find(|s| s.state == ServiceState::Stopping && names.contains(&s.name))
    {
        Some(s) => Err(conflict(format!(
            "`{}` is stopping; try again once it has stopped",
            s.name
        ))),
        None => Ok(()),
    }
}

fn no_timeout(request: &ActionRequest, action: &str) -> Result<(), (StatusCode, String)> {
    match request.timeout_ms {
        Some(_) => Err((
            StatusCode::BAD_REQUEST,
            format!("timeout_ms: only a stop takes a timeout, not a {action}"),
        )),
        None => Ok(()),
    }
}

/// `GET /v1/services/{name}`.
pub fn detail(orchestrator: &Arc<Orchestrator>, name: &str, _q: &Query) -> Answer {
    let stack = loaded(orchestrator)?;
    known(&stack, name)?;
    let mut status = orchestrator.status(true);
    overlay(&mut status);
    let service = status
        .services
        .into_iter()
        .find(|s| s.name == name)
        .expect("every service of the stack has a row");
    // An instance's definition is its service's, as written.
    let of = stack
        .service(name)
        .and_then(|s| s.replica.as_ref())
        .map_or(name, |r| r.of.as_str());
    let definition = crate::config::resolved::resolved(&stack)["services"][of].take();
    let filter = EventFilter {
        services: vec![name.to_string()],
        last: Some(LAST_EVENTS),
        ..EventFilter::default()
    };
    let unreadable = |e: String| (StatusCode::SERVICE_UNAVAILABLE, e);
    let events = match query::open(&stack.state_dir).map_err(unreadable)? {
        Some(conn) => query::events(&conn, &filter)
            .map_err(|e| unreadable(format!("cannot read the event log: {e}")))?
            .iter()
            .map(|e| e.view())
            .collect(),
        None => Vec::new(),
    };
    let alerts = alert_routes::list(orchestrator)
        .alerts
        .into_iter()
        .filter(|a| a.service.as_deref() == Some(name))
        .collect();
    Ok(axum::Json(ServiceDetail {
        service,
        definition,
        events,
        alerts,
    })
    .into_response())
}

/// `POST /v1/services/{name}/start`: as `up NAME` (with what it depends on); the services
/// in start order, as `POST /v1/up` gives them.
pub fn start(orchestrator: &Arc<Orchestrator>, name: &str, request: ActionRequest) -> Answer {
    no_timeout(&request, "start")?;
    let stack = loaded(orchestrator)?;
    named(&stack, name)?;
    let wanted = stack.wanted(&[name.to_string()]);
    // Held while `up` schedules the start (it does not wait for it): no stop or restart of
    // these services begins in between.
    let underway = underway();
    free(&underway, &wanted)?;
    not_stopping(&orchestrator.status(false), &wanted)?;
    let request = orchestrator
        .up_again(vec![name.to_string()])
        .ok_or_else(no_stack)?;
    let services = orchestrator.up(request).map_err(refused)?;
    drop(underway);
    Ok(accepted(services))
}

/// `POST /v1/services/{name}/stop` (`{"timeout_ms": N}` optional): as `down NAME`, its
/// dependents first; the services that were not stopped already, in stop order.
pub fn stop(orchestrator: &Arc<Orchestrator>, name: &str, request: ActionRequest) -> Answer {
    let stack = loaded(orchestrator)?;
    named(&stack, name)?;
    let timeout = request.timeout_ms.map(std::time::Duration::from_millis);
    let targets: Vec<String> = Graph::new(&stack.services)
        .with_dependents(&[name])
        .into_iter()
        .rev()
        .map(String::from)
        .collect();
    let underway = underway();
    free(&underway, &targets)?;
    let status = orchestrator.status(false);
    let affected: Vec<String> = targets
        .into_iter()
        .filter(|t| {
            status
                .services
                .iter()
                .any(|s| s.name == *t && s.state != ServiceState::Stopped)
        })
        .collect();
    if affected.is_empty() {
        return Ok(accepted(affected));
    }
    let (me, root) = (Arc::clone(orchestrator), name.to_string());
    in_background(
        underway,
        affected,
        Underway::Stopping,
        format!("api stop {name}"),
        move || {
            if let Err(e) = me.down(std::slice::from_ref(&root), timeout) {
                crate::daemon::log(format_args!("the API could not stop `{root}`: {e:?}"));
            }
        },
    )
}

/// `POST /v1/services/{name}/restart`: as `restart NAME`: stopped, then started again with
/// the dependents that were running (a `failed` one gets a fresh start); those, in start
/// order.
pub fn restart(orchestrator: &Arc<Orchestrator>, name: &str, request: ActionRequest) -> Answer {
    no_timeout(&request, "restart")?;
    let stack = loaded(orchestrator)?;
    named(&stack, name)?;
    // Nothing is stopped that could not be started again.
    crate::state::check_writable(&stack.state_dir)
        .map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, e))?;
    let dependents: Vec<String> = Graph::new(&stack.services)
        .with_dependents(&[name])
        .into_iter()
        .map(String::from)
        .collect();
    let underway = underway();
    free(&underway, &dependents)?;
    not_stopping(&orchestrator.status(false), &[name.to_string()])?;
    // As `Orchestrator::restart` decides: the service (each instance of a replicated one)
    // and its dependents that are alive.
    let instances = stack.expand_names(&[name.to_string()]);
    let supervised = orchestrator.supervised();
    let affected: Vec<String> = dependents
        .into_iter()
        .filter(|d| {
            instances.contains(d)
                || supervised.get(d).is_some_and(|s| {
                    !matches!(
                        s.state,
                        ServiceState::Stopped | ServiceState::Failed | ServiceState::Exited
                    )
                })
        })
        .collect();
    let (me, root) = (Arc::clone(orchestrator), name.to_string());
    in_background(
        underway,
        affected,
        Underway::Restarting,
        format!("api restart {name}"),
        move || {
            if let Err(e) = me.restart(std::slice::from_ref(&root), None) {
                crate::daemon::log(format_args!("the API could not restart `{root}`: {e:?}"));
            }
        },
    )
}

/// Marks `affected` as under way and does `work` on a thread of its own, releasing them when
/// it is done: the request is answered (202) at once.
fn in_background(
    mut underway: MutexGuard<'static, BTreeMap<String, Underway>>,
    affected: Vec<String>,
    what: Underway,
    thread: String,
    work: impl FnOnce() + Send + 'static,
) -> Answer {
    for service in &affected {
        underway.insert(service.clone(), what);
    }
    let names = affected.clone();
    let spawned = std::thread::Builder::new().name(thread).spawn(move || {
        work();
        release(&names);
    });
    if let Err(e) = spawned {
        for service in &affected {
            underway.remove(service);
        }
        return Err((
            StatusCode::SERVICE_UNAVAILABLE,
            format!("cannot start a thread: {e}"),
        ));
    }
    Ok(accepted(affected))
}

fn release(names: &[String]) {
    let mut underway = underway();
    for name in names {
        underway.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_under_way_conflicts_and_shows_as_stopping() {
        let mut underway = BTreeMap::new();
        underway.insert("db-unit-test".to_string(), Underway::Stopping);
        underway.insert("api-unit-test".to_string(), Underway::Restarting);
        assert_eq!(free(&underway, &["web-unit-test".into()]), Ok(()));
        let (status, message) = free(&underway, &["db-unit-test".into()]).unwrap_err();
        assert_eq!(status, StatusCode::CONFLICT);
        assert!(message.contains("being stopped"), "{message}");
        let (_, message) = free(&underway, &["api-unit-test".into()]).unwrap_err();
        assert!(message.contains("being restarted"), "{message}");
        assert!(
            no_timeout(
                &ActionRequest {
                    timeout_ms: Some(1)
                },
                "start"
            )
            .is_err()
        );
        assert!(no_timeout(&ActionRequest::default(), "start").is_ok());
    }
}
