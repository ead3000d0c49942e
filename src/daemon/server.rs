//! The daemon process: one per state dir (a lock on `daemon.lock` guarantees it), serving the
//! control API on its Unix socket (mode 0600). SIGTERM, SIGINT or `POST /v1/daemon/stop` end
//! it and leave every service running: they outlive the supervisor.

use super::orchestrator::{Orchestrator, Refusal};
use super::paths::Paths;
use super::spawner::Spawner;
use crate::api::types::{DownRequest, ErrorBody, UpRequest, UpResponse};
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
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
}

/// What the daemon writes on stdout once it serves, when asked to announce it.
pub const ANNOUNCEMENT: &[u8] = b"ready\n";

/// Runs the daemon in the foreground until it is told to stop. With `announce`, it says
/// [`ANNOUNCEMENT`] on stdout once it serves and then lets go of stdout (its starter waits for
/// that instead of trying to connect again and again).
pub fn run(paths: &Paths, berth: PathBuf, announce: bool) -> Result<(), String> {
    std::fs::create_dir_all(&paths.state_dir).map_err(|e| {
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

    let spawner = Arc::new(Spawner::new(berth));
    spawner.warm();
    let app = App {
        orchestrator: Orchestrator::new(spawner),
        shutdown: Arc::new(Notify::new()),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let served = runtime.block_on(async move {
        let listener = tokio::net::UnixListener::from_std(listener)?;
        let shutdown = Arc::clone(&app.shutdown);
        let router = Router::new()
            .route("/v1/status", get(status))
            .route("/v1/up", post(up))
            .route("/v1/down", post(down))
            .route("/v1/daemon/stop", post(stop))
            .with_state(app);
        axum::serve(listener, router)
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
            })
            .await
    });
    let _ = std::fs::remove_file(&paths.socket);
    served.map_err(|e| format!("serving the API: {e}"))
}

/// Takes the state dir's daemon lock, recording our pid in it; fails if another daemon has it.
fn lock(paths: &Paths) -> Result<File, String> {
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&paths.lock)
        .map_err(|e| format!("cannot open {}: {e}", paths.lock.display()))?;
    match file.try_lock() {
        Ok(()) => {}
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
    match outcome {
        Ok(Ok(services)) => Json(UpResponse { services }).into_response(),
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
    match blocking(move || app.orchestrator.status(usage)).await {
        Ok(status) => Json(status).into_response(),
        Err(response) => response,
    }
}

async fn up(State(app): State<App>, body: Result<Json<UpRequest>, JsonRejection>) -> Response {
    let Json(request) = match body {
        Ok(body) => body,
        Err(rejection) => return error(rejection.status(), rejection.body_text()),
    };
    let orchestrator = Arc::clone(&app.orchestrator);
    answer(blocking(move || orchestrator.up(request)).await)
}

async fn down(State(app): State<App>, body: Result<Json<DownRequest>, JsonRejection>) -> Response {
    let Json(request) = match body {
        Ok(body) => body,
        Err(rejection) => return error(rejection.status(), rejection.body_text()),
    };
    let orchestrator = Arc::clone(&app.orchestrator);
    let timeout = request.timeout_ms.map(std::time::Duration::from_millis);
    answer(blocking(move || orchestrator.down(&request.services, timeout)).await)
}

async fn stop(State(app): State<App>) -> Response {
    app.shutdown.notify_one();
    Json(serde_json::json!({"stopping": true})).into_response()
}
