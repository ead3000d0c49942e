//! The API on TCP (`api.listen`): the same router as the Unix socket behind `api::auth`'s
//! checks (token or dashboard session, `Host`, `Origin`). Started, moved or stopped by each
//! `up` as its config says. A port that cannot be had is said in `up`'s output, in `status`
//! and `doctor`, and the daemon serves on the Unix socket alone: the API's port never stops
//! the stack.
//!
//! `berth dashboard` uses that listener, or, with no `api.listen`, one of its own on a free
//! loopback port. That port is written to `.berth/dashboard` so that a daemon that replaces
//! a killed one (at the next `up`) serves it again and an open page finds its way back; a
//! daemon that stops cleanly removes the file with its listener.

use super::web_routes;
use crate::api::auth::{self, Guard};
use crate::api::session::{self, Sessions};
use crate::api::types::ApiListener;
use crate::stack::ApiConfig;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

/// What the listeners do now.
#[derive(Default)]
pub struct Listener {
    current: Mutex<Option<Current>>,
    /// The dashboard's own listener, when `berth dashboard` found no `api.listen` to use.
    dashboard: Mutex<Option<Serving>>,
    /// The dashboard's sessions, for every listener of this daemon; read from the state dir
    /// when a listener first starts.
    sessions: OnceLock<Arc<Sessions>>,
}

/// A listener serving on `listen` until it is dropped.
struct Serving {
    listen: SocketAddr,
    task: tokio::task::AbortHandle,
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Current {
    config: ApiConfig,
    state: Phase,
}

enum Phase {
    Serving(Serving),
    Failed(String),
}

impl Listener {
    /// Serves `router` as `api` says (on a runtime's thread), replacing what served before if
    /// the config changed. Returns what `up` should tell the user.
    pub fn ensure(&self, api: &ApiConfig, state_dir: &Path, router: Router) -> Vec<String> {
        let notes = self.ensure_api(api, state_dir, router.clone());
        self.resume_dashboard(api, state_dir, router);
        notes
    }

    fn ensure_api(&self, api: &ApiConfig, state_dir: &Path, router: Router) -> Vec<String> {
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
        let sessions = self.sessions(state_dir);
        let state = match start(api, listen, state_dir, sessions, router) {
            Ok(serving) => {
                if !listen.ip().is_loopback() {
                    notes.push(format!(
                        "the API listens on {listen}, reachable from the network (allow_remote: true): keep the token in .berth/token secret"
                    ));
                }
                Phase::Serving(serving)
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

    fn sessions(&self, state_dir: &Path) -> Arc<Sessions> {
        Arc::clone(
            self.sessions
                .get_or_init(|| Arc::new(Sessions::load(state_dir))),
        )
    }

    /// Where `berth dashboard` sends the browser: the API's listener when it serves, else the
    /// dashboard's own, started now on the port a killed daemon left in `.berth/dashboard`
    /// when that is free, else on any free loopback port.
    pub fn dashboard(
        &self,
        api: &ApiConfig,
        state_dir: &Path,
        router: Router,
    ) -> Result<SocketAddr, String> {
        if let Some(listen) = self.serving_api() {
            return Ok(listen);
        }
        let mut dashboard = self.dashboard.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(serving) = dashboard.as_ref() {
            return Ok(serving.listen);
        }
        let sessions = self.sessions(state_dir);
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        let serving = saved_port(state_dir)
            .and_then(|listen| {
                start(
                    api,
                    listen,
                    state_dir,
                    Arc::clone(&sessions),
                    router.clone(),
                )
                .ok()
            })
            .map_or_else(|| start(api, loopback, state_dir, sessions, router), Ok)?;
        let file = state_dir.join(DASHBOARD_FILE);
        if let Err(e) = std::fs::write(&file, format!("{}\n", serving.listen)) {
            crate::daemon::log(format_args!(
                "cannot write {}: {e}; after a daemon restart the dashboard moves to another port",
                file.display()
            ));
        }
        let listen = serving.listen;
        *dashboard = Some(serving);
        Ok(listen)
    }

    /// The dashboard's listener again after a daemon that was killed, on the port it left in
    /// `.berth/dashboard` (an open page reconnects there). A port taken since is given up:
    /// the next `berth dashboard` picks another.
    fn resume_dashboard(&self, api: &ApiConfig, state_dir: &Path, router: Router) {
        let idle = self
            .dashboard
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_none();
        if idle && self.serving_api().is_none() && saved_port(state_dir).is_some() {
            let _ = self.dashboard(api, state_dir, router);
        }
    }

    /// A one-time code for the dashboard's login address.
    pub fn new_login(&self, state_dir: &Path) -> std::io::Result<String> {
        self.sessions(state_dir).new_login()
    }

    /// The dashboard's listener stops with the daemon, and a clean stop forgets its port.
    pub fn close_dashboard(&self, state_dir: &Path) {
        if self
            .dashboard
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .is_some()
        {
            let _ = std::fs::remove_file(state_dir.join(DASHBOARD_FILE));
        }
    }

    fn serving_api(&self) -> Option<SocketAddr> {
        let current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        match &current.as_ref()?.state {
            Phase::Serving(serving) => Some(serving.listen),
            Phase::Failed(_) => None,
        }
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

/// The file that keeps the dashboard's own port for a daemon that replaces a killed one.
pub const DASHBOARD_FILE: &str = "dashboard";

/// The loopback address in `.berth/dashboard`, if any.
fn saved_port(state_dir: &Path) -> Option<SocketAddr> {
    let text = std::fs::read_to_string(state_dir.join(DASHBOARD_FILE)).ok()?;
    let listen: SocketAddr = text.trim().parse().ok()?;
    listen.ip().is_loopback().then_some(listen)
}

fn start(
    api: &ApiConfig,
    listen: SocketAddr,
    state_dir: &Path,
    sessions: Arc<Sessions>,
    router: Router,
) -> Result<Serving, String> {
    let token = auth::load_or_create_token(state_dir, api.token.as_deref()).map_err(|e| {
        format!(
            "the API is not on {listen}: cannot read or create the token in {}: {e}; serving on the Unix socket only",
            state_dir.display()
        )
    })?;
    let socket = std::net::TcpListener::bind(listen).map_err(|e| taken(listen, &e))?;
    // Port 0 asks for any free port: the guard must know which one it got.
    let listen = socket
        .local_addr()
        .map_err(|e| format!("the API is not on {listen}: {e}"))?;
    socket
        .set_nonblocking(true)
        .map_err(|e| format!("the API is not on {listen}: {e}"))?;
    let socket = tokio::net::TcpListener::from_std(socket)
        .map_err(|e| format!("the API is not on {listen}: {e}"))?;
    let guard = Arc::new(Guard {
        token,
        listen,
        metrics_without_token: api.metrics_without_token,
        sessions,
    });
    let app = router.layer(axum::middleware::from_fn_with_state(guard, admit));
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(socket, app).await {
            crate::daemon::log(format_args!("the API on {listen} stopped: {e}"));
        }
    });
    Ok(Serving {
        listen,
        task: task.abort_handle(),
    })
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

/// Lets a request through to the router, or answers 401/403 as `auth::check` decides; the
/// dashboard's login is answered here, before the router, as it is the one request that comes
/// with neither token nor session.
async fn admit(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if path == LOGIN_PATH {
        return log_in(&guard, &request);
    }
    match auth::check(&guard, request.method(), path, request.headers()) {
        Ok(()) => next.run(request).await,
        Err((status, message)) if web_routes::is_page(path) => {
            web_routes::refusal(status, &message)
        }
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

/// Where the address `berth dashboard` prints leads: `/login?code=CODE`.
pub const LOGIN_PATH: &str = "/login";

/// Exchanges a login code for a session cookie and sends the browser on to the page (303,
/// so that a reload does not try the used code again), or says the code is no good.
fn log_in(guard: &Guard, request: &Request) -> Response {
    if let Err((status, message)) = auth::check_host(guard, request.headers()) {
        return web_routes::refusal(status, &message);
    }
    let code = request
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .find_map(|pair| pair.strip_prefix("code="))
        .unwrap_or("");
    let Some(id) = guard.sessions.log_in(code) else {
        return web_routes::refusal(
            StatusCode::UNAUTHORIZED,
            "this login link is used up or has expired; run `berth dashboard` for a new one",
        );
    };
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response();
    let headers = response.headers_mut();
    if let Ok(cookie) =
        header::HeaderValue::from_str(&session::set_cookie(guard.listen.port(), &id))
    {
        headers.insert(header::SET_COOKIE, cookie);
    }
    // The used code stays in the browser's history only: never sent on as a referrer.
    headers.insert(
        header::REFERRER_POLICY,
        header::HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}
