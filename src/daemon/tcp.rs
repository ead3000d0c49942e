//! The API on TCP (`api.listen`): the same router as the Unix socket behind `api::auth`'s
//! checks (token, `Host`, `Origin`). Started, moved or stopped by each `up` as its config
//! says. A port that cannot be had is said in `up`'s output, in `status` and `doctor`, and
//! the daemon serves on the Unix socket alone: the API's port never stops the stack.

use crate::api::auth::{self, Guard};
use crate::api::types::ApiListener;
use crate::stack::ApiConfig;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// What the listener does now.
#[derive(Default)]
pub struct Listener {
    current: Mutex<Option<Current>>,
}

struct Current {
    config: ApiConfig,
    state: Phase,
}

enum Phase {
    Serving(tokio::task::AbortHandle),
    Failed(String),
}

impl Drop for Current {
    fn drop(&mut self) {
        if let Phase::Serving(task) = &self.state {
            task.abort();
        }
    }
}

impl Listener {
    /// Serves `router` as `api` says (on a runtime's thread), replacing what served before if
    /// the config changed. Returns what `up` should tell the user.
    pub fn ensure(&self, api: &ApiConfig, state_dir: &Path, router: Router) -> Vec<String> {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let Some(listen) = api.listen else {
            *current = None;
            return Vec::new();
        };
        // Unchanged and serving: nothing to do. One that failed is tried again: the user may
        // have freed the port, as the failure told them to.
        if let Some(c) = current.as_ref()
            && c.config == *api
            && matches!(c.state, Phase::Serving(_))
        {
            return Vec::new();
        }
        // Let go of the old one first: a move to the same port must find it free.
        *current = None;
        let mut notes = Vec::new();
        let state = match start(api, listen, state_dir, router) {
            Ok(task) => {
                if !listen.ip().is_loopback() {
                    notes.push(format!(
                        "the API listens on {listen}, reachable from the network (allow_remote: true): keep the token in .berth/token secret"
                    ));
                }
                Phase::Serving(task)
            }
            Err(why) => {
                notes.push(why.clone());
                Phase::Failed(why)
            }
        };
        *current = Some(Current {
            config: api.clone(),
            state,
        });
        notes
    }

    /// For `status` and `doctor`.
    pub fn info(&self) -> Option<ApiListener> {
        let current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let c = current.as_ref()?;
        Some(ApiListener {
            listen: c.config.listen?.to_string(),
            serving: matches!(c.state, Phase::Serving(_)),
            error: match &c.state {
                Phase::Failed(why) => Some(why.clone()),
                Phase::Serving(_) => None,
            },
        })
    }
}

fn start(
    api: &ApiConfig,
    listen: SocketAddr,
    state_dir: &Path,
    router: Router,
) -> Result<tokio::task::AbortHandle, String> {
    let token = auth::load_or_create_token(state_dir, api.token.as_deref()).map_err(|e| {
        format!(
            "the API is not on {listen}: cannot read or create the token in {}: {e}; serving on the Unix socket only",
            state_dir.display()
        )
    })?;
    let socket = std::net::TcpListener::bind(listen).map_err(|e| taken(listen, &e))?;
    socket
        .set_nonblocking(true)
        .map_err(|e| format!("the API is not on {listen}: {e}"))?;
    let socket = tokio::net::TcpListener::from_std(socket)
        .map_err(|e| format!("the API is not on {listen}: {e}"))?;
    let guard = Arc::new(Guard {
        token,
        listen,
        metrics_without_token: api.metrics_without_token,
    });
    let app = router.layer(axum::middleware::from_fn_with_state(guard, admit));
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(socket, app).await {
            crate::daemon::log(format_args!("the API on {listen} stopped: {e}"));
        }
    });
    Ok(task.abort_handle())
}

/// Why `listen` could not be bound, naming who holds it when someone does.
fn taken(listen: SocketAddr, e: &std::io::Error) -> String {
    let who = (e.kind() == std::io::ErrorKind::AddrInUse)
        .then(|| crate::ports::holders::on_port(listen.port()).ok())
        .flatten()
        .and_then(|holders| holders.first().map(|h| h.describe()))
        .map(|who| format!(" (held by {who})"))
        .unwrap_or_default();
    format!(
        "the API is not on {listen}: {e}{who}; serving on the Unix socket only. Free the port or change `api.listen`, then run `berth up`"
    )
}

/// Lets a request through to the router, or answers 401/403 as `auth::check` decides.
async fn admit(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    match auth::check(
        &guard,
        request.method(),
        request.uri().path(),
        request.headers(),
    ) {
        Ok(()) => next.run(request).await,
        Err((status, message)) => {
            let mut response = (
                status,
                axum::Json(crate::api::types::ErrorBody { error: message }),
            )
                .into_response();
            if status == StatusCode::UNAUTHORIZED {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer realm=\"berth\""),
                );
            }
            response
        }
    }
}
