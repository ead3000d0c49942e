//! The daemon process: one per state dir (a lock on `daemon.lock` guarantees it), serving the
//! control API on its Unix socket (mode 0600). SIGTERM, SIGINT or `POST /v1/daemon/stop` end
//! it and leave every service running: they outlive the supervisor.

use super::alert_routes;
use super::history_routes;
use super::log_routes;
use super::orchestrator::{Orchestrator, Refusal};
use super::paths::Paths;
use super::port_routes;
use super::query_string::Query;
use super::service_routes;
use super::spawner::Spawner;
use super::stream_routes;
use super::web_routes;
use crate::api::types::{
    DashboardResponse, DownRequest, ErrorBody, ScaleRequest, UpRequest, UpResponse,
};
use axum::body::Bytes;
use axum::extract::Path;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::borrow::Borrow;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::Notify;

#[derive(Clone)]
struct App {
    orchestrator: Arc<Orchestrator>,
    shutdown: Arc<Notify>,
    /// The API on TCP, as the last `up`'s config said.
    tcp: Arc<super::tcp::Listener>,
}

/// What the daemon writes on stdout once it serves, when asked to announce it.
pub const ANNOUNCEMENT: &[u8] = b"ready\n";

/// Runs the daemon in the foreground until it is told to stop. With `announce`, it says
/// [`ANNOUNCEMENT`] on stdout once it serves and then lets go of stdout (its starter waits for
/// that instead of trying to connect again and again).
pub fn run(paths: &Paths, berth: PathBuf, announce: bool) -> Result<(), String> {
    crate::state::make_private(&paths.state_dir).map_err(|e| {
        format!(
            "cannot create the state dir {}: {e}",
            paths.state_dir.display()
        )
    })?;
    let _lock = lock(paths)?;
    // We hold the lock, so no other daemon serves this state dir: a socket file is stale.
    let _ = std::fs::remove_file(&paths.socket);
    let listener = std::os::unix::net::UnixListener::bind(&paths.socket)
        .map_err(|e| format!("cannot listen on {}: {e}", paths.socket.display()))?;
    std::fs::set_permissions(&paths.socket, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("cannot restrict {}: {e}", paths.socket.display()))?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    if announce {
        let mut stdout = std::io::stdout();
        let _ = stdout.write_all(ANNOUNCEMENT).and_then(|()| stdout.flush());
        // Nothing the daemon starts may hold its starter's pipe.
        let null =
            std::fs::File::open("/dev/null").map_err(|e| format!("opening /dev/null: {e}"))?;
        rustix::stdio::dup2_stdout(&null).map_err(|e| format!("letting go of stdout: {e}"))?;
    }

    // Before anything is started: the sampler's held files need room, and what the daemon
    // starts is given the limit it had.
    crate::process::limits::raise();
    let spawner = Arc::new(Spawner::new(berth));
    spawner.warm();
    let app = App {
        orchestrator: Orchestrator::new(
            spawner,
            crate::history::History::start(&paths.state_dir),
            &paths.state_dir,
        ),
        shutdown: Arc::new(Notify::new()),
        tcp: Arc::default(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let served = runtime.block_on(async move {
        let listener = tokio::net::UnixListener::from_std(listener)?;
        let shutdown = Arc::clone(&app.shutdown);
        let history = app.orchestrator.history().clone();
        let orchestrator = Arc::clone(&app.orchestrator);
        let socket = paths.socket.clone();
        let tcp = Arc::clone(&app.tcp);
        let router = router(app);
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let mut term =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
                let term = async {
                    match term.as_mut() {
                        Some(t) => {
                            t.recv().await;
                        }
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = term => {}
                    _ = tokio::signal::ctrl_c() => {}
                    _ = shutdown.notified() => {}
                }
                // Open streams would hold the graceful shutdown up for ever.
                stream_routes::close_all();
            })
            .await;
        // Clients and a next daemon see it go at once; what is queued for history is
        // written before the lock is let go.
        let _ = std::fs::remove_file(&socket);
        tcp.close_dashboard(&paths.state_dir);
        // What a `down` stopped resolves its alerts, and they are told before the daemon goes.
        let _ = tokio::task::spawn_blocking(move || orchestrator.settle_alerts(LAST_ALERTS)).await;
        history.flush(LAST_HISTORY);
        served
    });
    let _ = std::fs::remove_file(&paths.socket);
    served.map_err(|e| format!("serving the API: {e}"))
}

/// Every route, for the Unix socket and (behind `api::auth`) the TCP listener.
fn router(app: App) -> Router {
    Router::new()
        .route("/v1/status", get(status))
        .route("/v1/up", post(up))
        .route("/v1/down", post(down))
        .route("/v1/scale", post(scale))
        .route("/v1/daemon/stop", post(stop))
        .route("/v1/stats", get(reading(history_routes::stats)))
        .route("/v1/events", get(reading(stream_routes::events)))
        .route("/v1/history", get(reading(history_routes::history)))
        .route("/v1/alerts", get(reading(alert_routes::alerts)))
        .route("/v1/alerts/history", get(reading(alert_routes::history)))
        .route("/v1/alerts/silence", post(acting(alert_routes::silence)))
        .route(
            "/v1/alerts/unsilence",
            post(acting(alert_routes::unsilence)),
        )
        .route("/v1/alerts/test", post(acting(alert_routes::test)))
        .route("/metrics", get(metrics))
        .route(
            "/v1/services/{name}",
            get(reading_service(service_routes::detail)),
        )
        .route(
            "/v1/services/{name}/start",
            post(acting_on_service(service_routes::start)),
        )
        .route(
            "/v1/services/{name}/stop",
            post(acting_on_service(service_routes::stop)),
        )
        .route(
            "/v1/services/{name}/restart",
            post(acting_on_service(service_routes::restart)),
        )
        .route("/v1/logs/{name}", get(reading_service(log_routes::logs)))
        .route("/v1/ports", get(reading(port_routes::ports)))
        .route("/v1/stream", get(reading(stream_routes::stream)))
        .route("/v1/openapi.json", get(openapi))
        .route("/v1/dashboard", post(dashboard))
        // The dashboard's page; on the Unix socket too, where it is as private as the rest.
        .route("/", get(web_routes::index))
        .route("/ui/{file}", get(web_routes::file))
        .method_not_allowed_fallback(|uri: Uri| async move {
            error(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("{} does not take this method", uri.path()),
            )
        })
        .fallback(|uri: Uri| async move {
            error(StatusCode::NOT_FOUND, format!("no route {}", uri.path()))
        })
        .with_state(app)
}

/// A route's answer, or the status and message of its refusal.
type Answer = Result<Response, (StatusCode, String)>;
/// What a route handler returns to axum.
type Handled = std::pin::Pin<Box<dyn Future<Output = Response> + Send>>;

/// A GET route answered from the query string, off the async thread. `O` is the
/// orchestrator itself, or its `Arc` for a streaming answer, which goes on being fed after it
/// is returned.
fn reading<O: ?Sized + Sync + 'static>(
    route: fn(&O, &Query) -> Answer,
) -> impl Fn(State<App>, Uri) -> Handled + Clone
where
    Arc<Orchestrator>: Borrow<O>,
{
    move |State(app): State<App>, uri: Uri| {
        Box::pin(async move {
            let query = Query::parse(uri.query());
            answered(move || route(app.orchestrator.borrow(), &query)).await
        })
    }
}

/// A POST route taking a JSON body, off the async thread; a body that does not parse is
/// refused with the parser's words, and nothing is done.
fn acting<T: serde::de::DeserializeOwned + Send + 'static>(
    route: fn(&Orchestrator, T) -> Answer,
) -> impl Fn(State<App>, JsonBody) -> Handled + Clone {
    move |State(app): State<App>, body: JsonBody| {
        Box::pin(async move {
            let request: T = match json_object(body) {
                Ok(request) => request,
                Err((status, message)) => return error(status, message),
            };
            answered(move || route(&app.orchestrator, request)).await
        })
    }
}

/// A route of one service (`{name}` in the path), with the orchestrator shared: it may act
/// or stream after it has answered.
type OnService = fn(&Arc<Orchestrator>, &str, &Query) -> Answer;
/// The `{name}` of a route's path, and a body, as axum extracts them.
type NamePart = Result<Path<String>, PathRejection>;
type BodyPart = Result<Bytes, BytesRejection>;

/// A GET route of one service, answered from its name and the query string, off the async
/// thread.
fn reading_service(route: OnService) -> impl Fn(State<App>, NamePart, Uri) -> Handled + Clone {
    move |State(app): State<App>, name: NamePart, uri: Uri| {
        Box::pin(async move {
            let Path(name) = match name {
                Ok(name) => name,
                Err(rejection) => return error(rejection.status(), rejection.body_text()),
            };
            let query = Query::parse(uri.query());
            answered(move || route(&app.orchestrator, &name, &query)).await
        })
    }
}

/// A POST route of one service whose JSON body may be left out (it reads as `{}`); a body
/// that does not parse is refused with the parser's words, and nothing is done.
fn acting_on_service<T: serde::de::DeserializeOwned + Send + 'static>(
    route: fn(&Arc<Orchestrator>, &str, T) -> Answer,
) -> impl Fn(State<App>, NamePart, BodyPart) -> Handled + Clone {
    move |State(app): State<App>, name: NamePart, body: BodyPart| {
        Box::pin(async move {
            let Path(name) = match name {
                Ok(name) => name,
                Err(rejection) => return error(rejection.status(), rejection.body_text()),
            };
            let body = match body {
                Ok(body) => body,
                Err(rejection) => return error(rejection.status(), rejection.body_text()),
            };
            let text: &[u8] = match body.iter().all(u8::is_ascii_whitespace) {
                true => b"{}",
                false => &body,
            };
            let request: T = match serde_json::from_slice(text) {
                Ok(value) => match object(value) {
                    Ok(request) => request,
                    Err((status, message)) => return error(status, message),
                },
                Err(e) => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        format!("the body is not the JSON expected: {e}"),
                    );
                }
            };
            answered(move || route(&app.orchestrator, &name, request)).await
        })
    }
}

async fn metrics(State(app): State<App>, headers: HeaderMap) -> Response {
    answered(move || history_routes::metrics(&app.orchestrator, &headers)).await
}

/// How long a starting daemon waits for one that is leaving (its socket gone) to let go of
/// the lock: longer than the leaving one spends on its last history.
const LEAVING: std::time::Duration = std::time::Duration::from_secs(5);
/// How long a leaving daemon waits for its last alerts' deliveries.
const LAST_ALERTS: std::time::Duration = std::time::Duration::from_secs(2);
/// How long a leaving daemon gives its history writer to finish.
const LAST_HISTORY: std::time::Duration = std::time::Duration::from_secs(1);

/// Takes the state dir's daemon lock, recording our pid in it; fails if another daemon has it.
fn lock(paths: &Paths) -> Result<File, String> {
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&paths.lock)
        .map_err(|e| format!("cannot open {}: {e}", paths.lock.display()))?;
    // A daemon on its way out has removed its socket but may still be writing its last
    // history: wait for it (briefly), rather than leave the stack with no daemon at all.
    let deadline = std::time::Instant::now() + LEAVING;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(TryLockError::WouldBlock)
                if !paths.socket.exists() && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(TryLockError::WouldBlock) => {
                return Err(format!(
                    "a daemon already runs for {}",
                    paths.state_dir.display()
                ));
            }
            Err(TryLockError::Error(e)) => {
                return Err(format!("cannot lock {}: {e}", paths.lock.display()));
            }
        }
    }
    let _ = file
        .set_len(0)
        .and_then(|()| writeln!(file, "{}", std::process::id()));
    Ok(file)
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        Json(ErrorBody {
            error: message.into(),
        }),
    )
        .into_response()
}

/// A JSON body as axum reads it (`Content-Type: application/json`, at most 2 MiB).
type JsonBody = Result<Json<serde_json::Value>, JsonRejection>;

/// A request's JSON body as `T`, or its refusal: 413 when it is too large, else 400 whatever
/// the reason (axum says 415 for a missing content type; SPEC.md's 400 covers it).
fn json_object<T: serde::de::DeserializeOwned>(body: JsonBody) -> Result<T, (StatusCode, String)> {
    match body {
        Ok(Json(value)) => object(value),
        Err(rejection) => Err((
            match rejection.status() {
                StatusCode::PAYLOAD_TOO_LARGE => StatusCode::PAYLOAD_TOO_LARGE,
                _ => StatusCode::BAD_REQUEST,
            },
            rejection.body_text(),
        )),
    }
}

/// `value` as the request `T`, which only a JSON object can be: serde reads a struct from an
/// array too, and `[[]]` would be taken for a down of `{"services": []}`, every service.
fn object<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
) -> Result<T, (StatusCode, String)> {
    let refused = |why: String| {
        (
            StatusCode::BAD_REQUEST,
            format!("the body is not the JSON expected: {why}"),
        )
    };
    if !value.is_object() {
        return Err(refused("an object `{…}` is expected".to_string()));
    }
    serde_json::from_value(value).map_err(|e| refused(e.to_string()))
}

/// A route's work, run off the async thread, as the response: its answer, or its refusal as
/// `{"error"}` with the status it gave.
async fn answered(work: impl FnOnce() -> Answer + Send + 'static) -> Response {
    match blocking(work).await {
        Ok(Ok(response)) => response,
        Ok(Err((status, message))) => error(status, message),
        Err(response) => response,
    }
}

/// Runs blocking orchestrator work off the async thread.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Response> {
    tokio::task::spawn_blocking(work).await.map_err(|e| {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("internal error: {e}"),
        )
    })
}

/// The services an `up` or `down` acted on, or why it refused (a bad request).
fn answer(outcome: Result<Result<Vec<String>, Refusal>, Response>) -> Response {
    answer_with(outcome, Vec::new())
}

fn answer_with(
    outcome: Result<Result<Vec<String>, Refusal>, Response>,
    notes: Vec<String>,
) -> Response {
    match outcome {
        Ok(Ok(services)) => Json(UpResponse { services, notes }).into_response(),
        Ok(Err(Refusal::BadRequest(message))) => error(StatusCode::BAD_REQUEST, message),
        Ok(Err(Refusal::Unavailable(message))) => error(StatusCode::SERVICE_UNAVAILABLE, message),
        Err(response) => response,
    }
}

/// `GET /v1/status`; `?usage=false` leaves out CPU and memory (what `up` polls while it
/// waits: new processes would otherwise have the process table read on every call).
async fn status(State(app): State<App>, uri: Uri) -> Response {
    let usage = !uri
        .query()
        .unwrap_or("")
        .split('&')
        .any(|pair| pair == "usage=false");
    let tcp = Arc::clone(&app.tcp);
    match blocking(move || app.orchestrator.status(usage)).await {
        Ok(mut status) => {
            status.daemon.api = tcp.info();
            Json(status).into_response()
        }
        Err(response) => response,
    }
}

async fn up(State(app): State<App>, body: JsonBody) -> Response {
    let request: UpRequest = match json_object(body) {
        Ok(request) => request,
        Err((status, message)) => return error(status, message),
    };
    let orchestrator = Arc::clone(&app.orchestrator);
    let api = request.stack.api.clone();
    let state_dir = request.stack.state_dir.clone();
    let outcome = blocking(move || orchestrator.up(request)).await;
    // The API's port follows the config the stack was brought up with; its problems are
    // told, never a reason for the stack not to run.
    let notes = match &outcome {
        Ok(Ok(_)) => app.tcp.ensure(&api, &state_dir, router(app.clone())),
        _ => Vec::new(),
    };
    answer_with(outcome, notes)
}

async fn down(State(app): State<App>, body: JsonBody) -> Response {
    let request: DownRequest = match json_object(body) {
        Ok(request) => request,
        Err((status, message)) => return error(status, message),
    };
    let orchestrator = Arc::clone(&app.orchestrator);
    let timeout = request.timeout_ms.map(std::time::Duration::from_millis);
    answer(blocking(move || orchestrator.down(&request.services, timeout)).await)
}

/// `POST /v1/scale`: instances added or taken away in the running stack.
async fn scale(State(app): State<App>, body: JsonBody) -> Response {
    let request: ScaleRequest = match json_object(body) {
        Ok(request) => request,
        Err((status, message)) => return error(status, message),
    };
    let orchestrator = Arc::clone(&app.orchestrator);
    match blocking(move || orchestrator.scale(&request.services)).await {
        Ok(Ok(scaled)) => Json(scaled).into_response(),
        Ok(Err(Refusal::BadRequest(message))) => error(StatusCode::BAD_REQUEST, message),
        Ok(Err(Refusal::Unavailable(message))) => error(StatusCode::SERVICE_UNAVAILABLE, message),
        Err(response) => response,
    }
}

/// `POST /v1/dashboard`: a login address for the dashboard, on the API's TCP listener or on
/// the dashboard's own (started now on a free loopback port and kept while the daemon runs).
async fn dashboard(State(app): State<App>) -> Response {
    let Some(stack) = app.orchestrator.stack() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "no stack loaded yet: run `berth up` first",
        );
    };
    let listen = match app
        .tcp
        .dashboard(&stack.api, &stack.state_dir, router(app.clone()))
    {
        Ok(listen) => listen,
        Err(why) => return error(StatusCode::SERVICE_UNAVAILABLE, why),
    };
    let code = match app.tcp.new_login(&stack.state_dir) {
        Ok(code) => code,
        Err(e) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("cannot make a login code: {e}"),
            );
        }
    };
    // The page is opened on loopback, whatever address the API listens on besides.
    let host = match listen.ip().is_unspecified() {
        true => std::net::SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), listen.port()),
        false => listen,
    };
    Json(DashboardResponse {
        url: format!("http://{host}{}?code={code}", super::tcp::LOGIN_PATH),
        listen: listen.to_string(),
        expires_in_s: crate::api::session::LOGIN_VALID.as_secs(),
    })
    .into_response()
}

/// `GET /v1/openapi.json`: the document describing every route (no stack needed).
async fn openapi() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        crate::api::openapi::json(),
    )
        .into_response()
}

async fn stop(State(app): State<App>) -> Response {
    app.shutdown.notify_one();
    Json(serde_json::json!({"stopping": true})).into_response()
}
