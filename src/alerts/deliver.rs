//! Sending a notification: one HTTP client for every request berth makes to the outside
//! (alert channels and `https` health checks), `exec` commands run with a deadline, and each
//! channel kind's payload and transport with timeouts and retries. Blocking: it runs on the
//! notifier's per-channel threads (and the probes' blocking tasks), never on the runtime.

use super::payload::{self, Notification};
use crate::config::units::format_duration;
use crate::stack::alerts::ChannelKind;
use crate::timeout::timespec;
use rustix::event::{PollFd, PollFlags, poll};
use rustix::process::{PidfdFlags, Signal, kill_process_group, pidfd_open};
use serde_json::Value;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};
use ureq::Agent;
use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};

/// How long one try may take, from resolving the name to the end of the answer (SPEC).
pub const TRY_TIMEOUT: Duration = Duration::from_secs(5);

/// The waits between tries: three tries in all (SPEC), the second soon (a receiver
/// restarting, a dropped connection), the third after the receiver had time to come back.
pub const BACKOFF: [Duration; 2] = [Duration::from_millis(500), Duration::from_secs(2)];

/// How much of an error answer's body is kept: enough for Slack's `invalid_payload` or a
/// JSON error, not a whole HTML error page.
const BODY_EXCERPT: usize = 200;

/// Why a delivery failed, in words for `alerts history` and `alerts test`. Messages name the
/// receiver by scheme, host and port only: a Slack webhook's secret is its path.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    #[error("{target}: connection refused (is the receiver running?)")]
    Refused { target: String },
    #[error("{target}: timed out after {}", format_duration(*after))]
    TimedOut { target: String, after: Duration },
    #[error("{target}: name not resolved ({detail})")]
    Unresolved { target: String, detail: String },
    #[error("{target}: the server's certificate is not trusted ({reason}): {hint}")]
    Untrusted {
        target: String,
        reason: String,
        hint: String,
    },
    #[error("{target}: TLS: {reason}")]
    Tls { target: String, reason: String },
    #[error("{target} answered {status}{}", excerpt(body))]
    Status {
        target: String,
        status: u16,
        body: String,
    },
    #[error("{target}: {reason}")]
    Connection { target: String, reason: String },
    #[error("`{command}` {status}{}", excerpt(stderr))]
    ExecFailed {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("`{command}` did not finish within {}: killed", format_duration(*after))]
    ExecTimedOut { command: String, after: Duration },
    #[error("{0}")]
    Other(String),
}

fn excerpt(text: &str) -> String {
    if text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
    }
}

impl DeliveryError {
    /// Whether another try may go better: the receiver was down, slow or overloaded.
    /// A refusal by status (other 4xx: a wrong URL or token), a certificate, or a command
    /// that failed would fail the same way again.
    pub fn is_transient(&self) -> bool {
        match self {
            DeliveryError::Refused { .. }
            | DeliveryError::TimedOut { .. }
            | DeliveryError::Unresolved { .. }
            | DeliveryError::Connection { .. } => true,
            DeliveryError::Status { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

/// The certificates TLS connections trust.
#[derive(Clone, Debug)]
pub struct Roots {
    /// Shared: agents built from one `Roots` compare equal for ureq's pool.
    certs: RootCerts,
    count: usize,
    problems: Vec<String>,
}

impl Roots {
    /// The system's roots, or those of `SSL_CERT_FILE` / `SSL_CERT_DIR` when set (they then
    /// replace the system's), loaded once per process: reading and parsing a few hundred
    /// certificates costs milliseconds, which no delivery or probe should pay again.
    pub fn native() -> &'static Roots {
        static NATIVE: OnceLock<Roots> = OnceLock::new();
        NATIVE.get_or_init(|| {
            let loaded = rustls_native_certs::load_native_certs();
            Roots::from_der(
                loaded.certs.iter().map(|c| c.as_ref()),
                loaded.errors.iter().map(|e| e.to_string()).collect(),
            )
        })
    }

    /// The certificates of one PEM file (a test's CA, a private CA).
    pub fn from_pem_file(path: &std::path::Path) -> Result<Roots, String> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .and_then(|iter| iter.collect())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!("{}: no certificate in it", path.display()));
        }
        Ok(Roots::from_der(
            certs.iter().map(|c| c.as_ref()),
            Vec::new(),
        ))
    }

    /// Trusts nothing: every `https` receiver is refused.
    pub fn none() -> Roots {
        Roots::from_der(std::iter::empty(), Vec::new())
    }

    fn from_der<'a>(ders: impl Iterator<Item = &'a [u8]>, problems: Vec<String>) -> Roots {
        let certs: Vec<Certificate<'static>> = ders
            .map(|der| Certificate::from_der(der).to_owned())
            .collect();
        Roots {
            count: certs.len(),
            certs: RootCerts::from(certs),
            problems,
        }
    }

    /// How many certificates are trusted.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// What could not be read while loading them (an `SSL_CERT_FILE` that does not exist …).
    pub fn problems(&self) -> &[String] {
        &self.problems
    }
}

/// The client for berth's outgoing requests, trusting the system's roots (or
/// `SSL_CERT_FILE`'s): each request ends after `timeout` whatever it is doing.
pub fn agent(timeout: Duration) -> Agent {
    agent_with_roots(Roots::native(), timeout)
}

/// The same client with the given roots (tests, or a CA of one's own).
pub fn agent_with_roots(roots: &Roots, timeout: Duration) -> Agent {
    config(roots, timeout).build().new_agent()
}

/// The client's configuration, for a caller that changes something more (the probes turn
/// the proxy off).
pub fn config(
    roots: &Roots,
    timeout: Duration,
) -> ureq::config::ConfigBuilder<ureq::typestate::AgentScope> {
    Agent::config_builder()
        .tls_config(
            TlsConfig::builder()
                .provider(TlsProvider::Rustls)
                .root_certs(roots.certs.clone())
                .build(),
        )
        // One budget for the whole try: resolving, connecting, TLS, sending, the answer.
        .timeout_global(Some(timeout))
        // Statuses are the caller's to judge (a probe accepts 3xx, a delivery 2xx only) and
        // a redirect is not followed: a POST's body would be lost on the way, and a probe
        // reports what the service itself answered.
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
}

/// `scheme://host[:port]` of a URL: what messages name (a Slack webhook's path is its
/// secret, and user info never belongs in a log).
pub fn origin(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if scheme.is_empty() {
        host.to_string()
    } else {
        format!("{scheme}://{host}")
    }
}

/// A ureq error in the user's words.
pub fn explain(error: ureq::Error, target: &str, timeout: Duration) -> DeliveryError {
    let target = target.to_string();
    match error {
        ureq::Error::Timeout(_) => DeliveryError::TimedOut {
            target,
            after: timeout,
        },
        ureq::Error::HostNotFound => DeliveryError::Unresolved {
            target,
            detail: "no address".into(),
        },
        ureq::Error::Rustls(e) => tls_error(&e, target),
        ureq::Error::Tls(reason) => DeliveryError::Tls {
            target,
            reason: reason.to_string(),
        },
        ureq::Error::Io(e) => {
            // A failed handshake comes as an I/O error carrying rustls' own.
            if let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                return tls_error(tls, target);
            }
            use std::io::ErrorKind;
            match e.kind() {
                ErrorKind::ConnectionRefused => DeliveryError::Refused { target },
                ErrorKind::TimedOut | ErrorKind::WouldBlock => DeliveryError::TimedOut {
                    target,
                    after: timeout,
                },
                _ => {
                    let reason = e.to_string();
                    // std's words for a failed getaddrinfo; it has no ErrorKind of its own.
                    if let Some(detail) =
                        reason.strip_prefix("failed to lookup address information: ")
                    {
                        DeliveryError::Unresolved {
                            target,
                            detail: detail.to_string(),
                        }
                    } else {
                        DeliveryError::Connection { target, reason }
                    }
                }
            }
        }
        ureq::Error::BadUri(uri) => DeliveryError::Other(format!("invalid URL `{uri}`")),
        ureq::Error::Http(e) => DeliveryError::Other(format!("{target}: invalid request: {e}")),
        ureq::Error::Protocol(e) => DeliveryError::Connection {
            target,
            reason: format!("not an HTTP answer ({e})"),
        },
        ureq::Error::ConnectionFailed => DeliveryError::Connection {
            target,
            reason: "connection failed".into(),
        },
        other => DeliveryError::Connection {
            target,
            reason: other.to_string(),
        },
    }
}

fn tls_error(error: &rustls::Error, target: String) -> DeliveryError {
    use rustls::CertificateError as C;
    let reason = match error {
        rustls::Error::InvalidCertificate(C::UnknownIssuer) => "unknown issuer",
        rustls::Error::InvalidCertificate(C::BadSignature) => "bad signature",
        rustls::Error::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => "expired",
        rustls::Error::InvalidCertificate(C::NotValidYet | C::NotValidYetContext { .. }) => {
            "not valid yet"
        }
        rustls::Error::InvalidCertificate(
            C::NotValidForName | C::NotValidForNameContext { .. },
        ) => {
            return DeliveryError::Tls {
                reason: format!(
                    "the server's certificate is not valid for {}",
                    target.split_once("://").map_or(target.as_str(), |(_, h)| h)
                ),
                target,
            };
        }
        other => {
            return DeliveryError::Tls {
                target,
                reason: other.to_string(),
            };
        }
    };
    // Read when it is needed, not cached: what the hint should say is what the process runs
    // with (the daemon's environment, which may not be the shell's of today).
    let hint = match std::env::var_os("SSL_CERT_FILE") {
        Some(file) => format!(
            "SSL_CERT_FILE ({}) does not hold its CA; point it at a file that does",
            std::path::Path::new(&file).display()
        ),
        None => "set SSL_CERT_FILE to its CA, or give the server a certificate from a CA this machine trusts".to_string(),
    };
    DeliveryError::Untrusted {
        target,
        reason: reason.to_string(),
        hint,
    }
}

/// The first bytes of an answer's body, on one line.
fn read_excerpt(body: &mut ureq::Body) -> String {
    let mut bytes = Vec::new();
    let _ = body
        .as_reader()
        .take(BODY_EXCERPT as u64 * 4)
        .read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > BODY_EXCERPT {
        let mut cut: String = line.chars().take(BODY_EXCERPT).collect();
        cut.push('…');
        cut
    } else {
        line
    }
}

/// `POST` of `body` as JSON, one try within `timeout`; the status when it is 2xx.
pub fn post_json(
    url: &str,
    headers: &[(String, String)],
    body: &Value,
    timeout: Duration,
) -> Result<u16, DeliveryError> {
    post_json_with(&agent(timeout), url, headers, body)
}

/// The same through a given client (whose timeout applies).
pub fn post_json_with(
    agent: &Agent,
    url: &str,
    headers: &[(String, String)],
    body: &Value,
) -> Result<u16, DeliveryError> {
    let target = origin(url);
    let timeout = agent.config().timeouts().global.unwrap_or(TRY_TIMEOUT);
    let mut request = agent.post(url);
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        request = request.header("Content-Type", "application/json");
    }
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let bytes = serde_json::to_vec(body).map_err(|e| DeliveryError::Other(e.to_string()))?;
    let mut response = request
        .send(&bytes[..])
        .map_err(|e| explain(e, &target, timeout))?;
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        Ok(status)
    } else {
        Err(DeliveryError::Status {
            target,
            status,
            body: read_excerpt(response.body_mut()),
        })
    }
}

/// `GET` of `url`, one try, redirects not followed: the status whatever it is (a probe
/// judges it). Sent with `Connection: close`, so each probe makes a fresh connection, as a
/// new client of the service would.
pub fn get(agent: &Agent, url: &str) -> Result<u16, DeliveryError> {
    let timeout = agent.config().timeouts().global.unwrap_or(TRY_TIMEOUT);
    let response = agent
        .get(url)
        .header("Connection", "close")
        .call()
        .map_err(|e| explain(e, &format!("GET {url}"), timeout))?;
    Ok(response.status().as_u16())
}

/// How much of a command's stderr is kept to find its last line.
const STDERR_TAIL: usize = 4096;

/// Runs `command` with `sh -c`, `env` added to berth's own environment and `stdin` on its
/// standard input, in a process group of its own so that the whole group (what it started
/// too) is killed when it is still running after `timeout`. A non-zero exit is an error
/// carrying the last line it wrote to stderr.
pub fn run_exec(
    command: &str,
    env: &[(String, String)],
    stdin: &[u8],
    timeout: Duration,
) -> Result<(), DeliveryError> {
    let shown = shorten(command, 60);
    let failed = |status: String, stderr: String| DeliveryError::ExecFailed {
        command: shown.clone(),
        status,
        stderr,
    };
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg(command)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0);
    crate::process::limits::restore_in(&mut sh);
    let mut child = sh
        .spawn()
        .map_err(|e| failed("could not be run".into(), format!("sh: {e}")))?;
    let pid = crate::process::pid(child.id())
        .ok_or_else(|| failed("has no pid".into(), String::new()))?;
    // The pidfd first: from here the group can be killed by its number without racing a
    // reused pid, since the leader is not reaped until `wait` below.
    let pidfd = pidfd_open(pid, PidfdFlags::empty());

    // Written from a thread: a command that never reads its stdin must not hold us past the
    // deadline once the pipe is full. A command that ends without reading makes it EPIPE.
    if let Some(mut input) = child.stdin.take() {
        let data = stdin.to_vec();
        std::thread::spawn(move || {
            let _ = input.write_all(&data);
        });
    }
    // Read from a thread into a shared tail: a background child left holding stderr must
    // not make us wait for its end to learn the last line.
    let tail = Arc::new(Mutex::new(Vec::<u8>::new()));
    let (done_tx, done_rx) = mpsc::channel::<()>();
    if let Some(mut err) = child.stderr.take() {
        let tail = Arc::clone(&tail);
        std::thread::spawn(move || {
            let mut buf = [0u8; 1024];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
                t.extend_from_slice(&buf[..n]);
                if t.len() > STDERR_TAIL {
                    let cut = t.len() - STDERR_TAIL;
                    t.drain(..cut);
                }
            }
            let _ = done_tx.send(());
        });
    }

    let exited = match &pidfd {
        Ok(fd) => {
            let deadline = Instant::now() + timeout;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match poll(&mut [PollFd::new(fd, PollFlags::IN)], Some(&timespec(left))) {
                    Ok(n) if n > 0 => break true,
                    Ok(_) => break false,
                    Err(rustix::io::Errno::INTR) => continue,
                    Err(_) => break wait_polling(&mut child, deadline),
                }
            }
        }
        // No pidfd (an old kernel): poll the exit status.
        Err(_) => wait_polling(&mut child, Instant::now() + timeout),
    };
    if !exited {
        let _ = kill_process_group(pid, Signal::KILL);
        let _ = child.wait();
        return Err(DeliveryError::ExecTimedOut {
            command: shown,
            after: timeout,
        });
    }
    let status = child
        .wait()
        .map_err(|e| failed("could not be waited for".into(), e.to_string()))?;
    if status.success() {
        return Ok(());
    }
    // Its stderr ends with it, unless something it started still holds it.
    let _ = done_rx.recv_timeout(Duration::from_millis(100));
    let bytes = tail.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let text = String::from_utf8_lossy(&bytes);
    let last = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    Err(failed(status.to_string(), shorten(last, 300)))
}

fn wait_polling(child: &mut std::process::Child, deadline: Instant) -> bool {
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut out: String = text.chars().take(max - 1).collect();
        out.push('…');
        out
    }
}

/// How a channel is tried: the budget of each try, and the waits between tries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub try_timeout: Duration,
    /// One entry per retry: `[0.5s, 2s]` is three tries.
    pub backoff: Vec<Duration>,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            try_timeout: TRY_TIMEOUT,
            backoff: BACKOFF.to_vec(),
        }
    }
}

impl Policy {
    pub fn tries(&self) -> u32 {
        self.backoff.len() as u32 + 1
    }
}

/// What a delivery came to, and how many tries it took.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivered {
    /// The receiver's status (`"200"`), `"exit 0"` for a command.
    pub result: Result<String, DeliveryError>,
    pub tries: u32,
}

/// Delivers `n` to `channel` as the daemon does: 5 s a try, three tries.
pub fn deliver(channel: &ChannelKind, n: &Notification) -> Result<String, DeliveryError> {
    let policy = Policy::default();
    deliver_with(channel, n, &agent(policy.try_timeout), &policy).result
}

/// Delivers `n` to `channel` through `agent` (whose timeout should be the policy's), trying
/// again on what may pass (connection refused or lost, timeout, 5xx, 429), not on what would
/// fail the same way (other 4xx, an untrusted certificate). A command is run once, within
/// its own `timeout`: it may have done its work before failing, and running it again could
/// notify twice.
pub fn deliver_with(
    channel: &ChannelKind,
    n: &Notification,
    agent: &Agent,
    policy: &Policy,
) -> Delivered {
    if let ChannelKind::Exec { command, timeout } = channel {
        let stdin = serde_json::to_vec(&payload::webhook_body(n)).unwrap_or_default();
        let result = run_exec(command, &payload::exec_env(n), &stdin, *timeout)
            .map(|()| "exit 0".to_string());
        return Delivered { result, tries: 1 };
    }
    let mut tries = 0;
    loop {
        tries += 1;
        let result = try_http(channel, n, agent).map(|status| status.to_string());
        match result {
            Err(e) if e.is_transient() && (tries as usize) <= policy.backoff.len() => {
                std::thread::sleep(policy.backoff[tries as usize - 1]);
            }
            result => return Delivered { result, tries },
        }
    }
}

/// One try of an HTTP channel, its payload built afresh (Alertmanager's `endsAt` counts
/// from the moment of sending).
fn try_http(channel: &ChannelKind, n: &Notification, agent: &Agent) -> Result<u16, DeliveryError> {
    match channel {
        ChannelKind::Webhook { url, headers } => {
            post_json_with(agent, url, headers, &payload::webhook_body(n))
        }
        ChannelKind::Slack { url } => post_json_with(agent, url, &[], &payload::slack_body(n)),
        ChannelKind::Alertmanager { url } => post_json_with(
            agent,
            &alertmanager_url(url),
            &[],
            &payload::alertmanager_body(n, crate::logs::time::now_ms()),
        ),
        ChannelKind::Exec { .. } => unreachable!("exec is run, not posted"),
    }
}

/// `{base}/api/v2/alerts`, whether the base was written with a trailing `/` or already with
/// the whole path.
pub fn alertmanager_url(base: &str) -> String {
    let base = base.trim_end_matches('/');
    if base.ends_with("/api/v2/alerts") {
        base.to_string()
    } else {
        format!("{base}/api/v2/alerts")
    }
}

/// Receivers for tests, on 127.0.0.1: plain HTTP and TLS (with a CA and a certificate made
/// by the `openssl` command), answering each connection by a script.
#[cfg(test)]
pub(crate) mod testing {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::path::PathBuf;
    use std::sync::{Arc, Mutex, mpsc};
    use std::time::{Duration, Instant};

    /// What the receiver does with a connection.
    #[derive(Clone, Copy, Debug)]
    pub enum Reply {
        /// Answers this status with this body.
        Status(u16, &'static str),
        /// Reads the request and never answers.
        Hang,
    }

    /// A request as received.
    #[derive(Debug)]
    pub struct Received {
        pub head: String,
        pub body: Vec<u8>,
        pub at: Instant,
    }

    impl Received {
        pub fn json(&self) -> serde_json::Value {
            serde_json::from_slice(&self.body).unwrap()
        }

        pub fn header(&self, name: &str) -> Option<String> {
            self.head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_string())
            })
        }
    }

    pub struct Receiver {
        pub port: u16,
        /// `http://127.0.0.1:PORT` (or `https://`).
        pub url: String,
        pub requests: mpsc::Receiver<Received>,
    }

    /// Answers connections by `replies` in turn, the last one repeated.
    pub fn serve(replies: Vec<Reply>) -> Receiver {
        start(replies, None)
    }

    /// The same over TLS with `certs`' server certificate.
    pub fn serve_tls(replies: Vec<Reply>, certs: &Certs) -> Receiver {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&certs.cert)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(&certs.key).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
        start(replies, Some(Arc::new(config)))
    }

    fn start(replies: Vec<Reply>, tls: Option<Arc<rustls::ServerConfig>>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, requests) = mpsc::channel();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let replies = Arc::new(Mutex::new(replies.into_iter().collect::<Vec<_>>()));
        std::thread::spawn(move || {
            let mut n = 0;
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let reply = {
                    let r = replies.lock().unwrap();
                    r[n.min(r.len() - 1)]
                };
                n += 1;
                let tx = tx.clone();
                let tls = tls.clone();
                // A thread per connection: a hanging one must not hold the next try.
                std::thread::spawn(move || match tls {
                    None => answer(stream, reply, &tx),
                    Some(config) => {
                        let conn = rustls::ServerConnection::new(config).unwrap();
                        answer(rustls::StreamOwned::new(conn, stream), reply, &tx)
                    }
                });
            }
        });
        Receiver {
            port,
            url: format!("{scheme}://127.0.0.1:{port}"),
            requests,
        }
    }

    fn answer(mut stream: impl Read + Write, reply: Reply, tx: &mpsc::Sender<Received>) {
        let mut data = Vec::new();
        let mut buf = [0u8; 4096];
        let head_end = loop {
            if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match stream.read(&mut buf) {
                // A client that gave up (an untrusted certificate ends here).
                Ok(0) | Err(_) => return,
                Ok(n) => data.extend_from_slice(&buf[..n]),
            }
        };
        let head = String::from_utf8_lossy(&data[..head_end]).to_string();
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        while data.len() < head_end + length {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => data.extend_from_slice(&buf[..n]),
            }
        }
        let _ = tx.send(Received {
            head,
            body: data[head_end..].to_vec(),
            at: Instant::now(),
        });
        match reply {
            Reply::Hang => std::thread::sleep(Duration::from_secs(120)),
            Reply::Status(status, body) => {
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.flush();
            }
        }
    }

    /// A CA and a server certificate for 127.0.0.1 it signed, in a temporary directory.
    pub struct Certs {
        /// Kept: the files live as long as it.
        pub _dir: tempfile::TempDir,
        pub ca: PathBuf,
        pub cert: PathBuf,
        pub key: PathBuf,
    }

    pub fn certs() -> Certs {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name);
        std::fs::write(
            path("server.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        let steps: [&[&str]; 3] = [
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=berth test CA",
            ],
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.pem",
                "-days",
                "2",
                "-extfile",
                "server.ext",
            ],
        ];
        for args in steps {
            let out = std::process::Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .output()
                .expect("the openssl command, to make test certificates");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Certs {
            ca: path("ca.pem"),
            cert: path("server.pem"),
            key: path("server.key"),
            _dir: dir,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{Reply, certs, serve, serve_tls};
    use super::*;
    use crate::alerts::payload::Status;
    use crate::stack::alerts::Severity;
    use serde_json::json;

    fn notification() -> Notification {
        Notification {
            status: Status::Firing,
            rule: "api-memory".into(),
            severity: Severity::Warning,
            project: "shop".into(),
            service: Some("api".into()),
            value: Some("612.0MiB".into()),
            threshold: Some("> 500MiB".into()),
            since_ms: 1_796_122_680_000,
            ended_ms: None,
            summary: "api uses 612.0MiB".into(),
            suggestion: "berth logs api".into(),
            logs: vec!["started".into()],
            dashboard: None,
        }
    }

    fn fast(try_timeout: Duration) -> Policy {
        Policy {
            try_timeout,
            backoff: vec![Duration::from_millis(20), Duration::from_millis(50)],
        }
    }

    fn webhook(url: &str) -> ChannelKind {
        ChannelKind::Webhook {
            url: format!("{url}/hook"),
            headers: vec![("X-Key".into(), "secret".into())],
        }
    }

    fn closed_port() -> u16 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }

    #[test]
    fn post_json_sends_json_and_takes_2xx() {
        let receiver = serve(vec![Reply::Status(200, "ok")]);
        let started = Instant::now();
        let status = post_json(
            &format!("{}/hook?token=x", receiver.url),
            &[("X-Key".into(), "k1".into())],
            &json!({"a": 1}),
            Duration::from_secs(5),
        );
        let took = started.elapsed();
        assert_eq!(status, Ok(200));
        let got = receiver.requests.recv().unwrap();
        assert!(
            got.head.starts_with("POST /hook?token=x HTTP/1.1\r\n"),
            "{}",
            got.head
        );
        assert_eq!(
            got.header("content-type").as_deref(),
            Some("application/json")
        );
        assert_eq!(got.header("x-key").as_deref(), Some("k1"));
        assert!(got.header("user-agent").unwrap().starts_with("berth/"));
        assert_eq!(got.json(), json!({"a": 1}));
        eprintln!("one POST to 127.0.0.1 with a new client: {took:?}");
        assert!(took < Duration::from_secs(1), "{took:?}");
    }

    #[test]
    fn post_json_errors_say_what_happened() {
        let t = Duration::from_millis(300);
        let receiver = serve(vec![Reply::Status(
            404,
            "no_service\n  (that hook is gone)",
        )]);
        let err = post_json(
            &format!("{}/services/T0/B0/SECRET", receiver.url),
            &[],
            &json!({}),
            t,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{} answered 404: no_service (that hook is gone)",
                receiver.url
            )
        );
        assert!(!err.is_transient());
        assert!(
            !err.to_string().contains("SECRET"),
            "the path is never shown"
        );

        let port = closed_port();
        let err = post_json(&format!("http://127.0.0.1:{port}/"), &[], &json!({}), t).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("http://127.0.0.1:{port}: connection refused (is the receiver running?)")
        );
        assert!(err.is_transient());

        let hang = serve(vec![Reply::Hang]);
        let started = Instant::now();
        let err = post_json(&hang.url, &[], &json!({}), t).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{}: timed out after 300ms", hang.url)
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert!(err.is_transient());

        let err = post_json("http://berth-no-such-host.invalid/", &[], &json!({}), t).unwrap_err();
        assert!(
            matches!(
                err,
                DeliveryError::Unresolved { .. } | DeliveryError::TimedOut { .. }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn deliveries_are_tried_again_on_5xx_and_not_on_4xx() {
        let agent = agent_with_roots(&Roots::none(), Duration::from_secs(2));
        let policy = fast(Duration::from_secs(2));
        let n = notification();

        let flaky = serve(vec![Reply::Status(500, "busy"), Reply::Status(200, "ok")]);
        let d = deliver_with(&webhook(&flaky.url), &n, &agent, &policy);
        assert_eq!(
            d,
            Delivered {
                result: Ok("200".into()),
                tries: 2
            }
        );
        let first = flaky.requests.recv().unwrap();
        let second = flaky.requests.recv().unwrap();
        assert_eq!(first.body, second.body);
        assert_eq!(second.json(), payload::webhook_body(&n));
        assert_eq!(second.header("x-key").as_deref(), Some("secret"));

        let limited = serve(vec![
            Reply::Status(429, ""),
            Reply::Status(503, ""),
            Reply::Status(200, ""),
        ]);
        let d = deliver_with(&webhook(&limited.url), &n, &agent, &policy);
        assert_eq!(d.tries, 3);
        assert_eq!(d.result, Ok("200".into()));

        let gone = serve(vec![Reply::Status(404, "nope"), Reply::Status(200, "")]);
        let d = deliver_with(&webhook(&gone.url), &n, &agent, &policy);
        assert_eq!(d.tries, 1);
        assert_eq!(
            d.result.unwrap_err().to_string(),
            format!("{} answered 404: nope", gone.url)
        );

        let down = serve(vec![Reply::Status(502, "bad gateway")]);
        let d = deliver_with(&webhook(&down.url), &n, &agent, &policy);
        assert_eq!(d.tries, 3);
        assert!(
            d.result
                .unwrap_err()
                .to_string()
                .ends_with("answered 502: bad gateway")
        );
    }

    #[test]
    fn a_hung_receiver_costs_each_try_its_timeout() {
        let t = Duration::from_millis(300);
        let hang = serve(vec![Reply::Hang]);
        let started = Instant::now();
        let d = deliver_with(
            &webhook(&hang.url),
            &notification(),
            &agent_with_roots(&Roots::none(), t),
            &fast(t),
        );
        let took = started.elapsed();
        assert_eq!(d.tries, 3);
        assert_eq!(
            d.result.unwrap_err().to_string(),
            format!("{}: timed out after 300ms", hang.url)
        );
        // 3 × 300 ms plus 70 ms of backoff.
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_secs(3),
            "{took:?}"
        );
        assert_eq!(hang.requests.try_iter().count(), 3);
    }

    #[test]
    fn each_kind_gets_its_payload() {
        let agent = agent_with_roots(&Roots::none(), Duration::from_secs(2));
        let policy = fast(Duration::from_secs(2));
        let n = notification();

        let slack = serve(vec![Reply::Status(200, "ok")]);
        let kind = ChannelKind::Slack {
            url: format!("{}/services/T/B/X", slack.url),
        };
        assert_eq!(
            deliver_with(&kind, &n, &agent, &policy).result,
            Ok("200".into())
        );
        let got = slack.requests.recv().unwrap();
        assert!(got.head.starts_with("POST /services/T/B/X "));
        assert_eq!(got.json(), payload::slack_body(&n));

        let am = serve(vec![Reply::Status(200, "")]);
        let kind = ChannelKind::Alertmanager {
            url: format!("{}/", am.url),
        };
        let before = crate::logs::time::now_ms();
        assert_eq!(
            deliver_with(&kind, &n, &agent, &policy).result,
            Ok("200".into())
        );
        let got = am.requests.recv().unwrap();
        assert!(
            got.head.starts_with("POST /api/v2/alerts HTTP/1.1"),
            "{}",
            got.head
        );
        let body = got.json();
        assert_eq!(body[0]["labels"]["alertname"], "api-memory");
        // Sent with `endsAt` five minutes from the sending.
        let ends = body[0]["endsAt"].as_str().unwrap().to_string();
        assert!(ends >= crate::logs::time::rfc3339_ms(before + payload::ALERTMANAGER_HOLD_MS));
        assert_eq!(
            alertmanager_url("http://am:9093/api/v2/alerts/"),
            "http://am:9093/api/v2/alerts"
        );
    }

    #[test]
    fn exec_gets_the_notification_in_its_environment_and_stdin() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let kind = ChannelKind::Exec {
            command: format!(
                "printf '%s|%s|%s|%s|' \"$BERTH_ALERT_STATUS\" \"$BERTH_ALERT_RULE\" \"$BERTH_ALERT_SERVICE\" \"$BERTH_ALERT_VALUE\" > {0}; cat >> {0}",
                out.display()
            ),
            timeout: Duration::from_secs(5),
        };
        let agent = agent_with_roots(&Roots::none(), Duration::from_secs(1));
        let n = notification();
        let d = deliver_with(&kind, &n, &agent, &Policy::default());
        assert_eq!(
            d,
            Delivered {
                result: Ok("exit 0".into()),
                tries: 1
            }
        );
        let text = std::fs::read_to_string(&out).unwrap();
        let (vars, stdin) = text.split_at(text.match_indices('|').nth(3).unwrap().0 + 1);
        assert_eq!(vars, "firing|api-memory|api|612.0MiB|");
        assert_eq!(
            serde_json::from_str::<Value>(stdin).unwrap(),
            payload::webhook_body(&n)
        );
    }

    #[test]
    fn run_exec_reports_failures_with_stderr_and_kills_on_timeout() {
        let t = Duration::from_secs(5);
        assert_eq!(
            run_exec("read line; test -n \"$line\"", &[], b"{}\n", t),
            Ok(())
        );
        // Stdin too big for a pipe, never read: still done in time.
        assert_eq!(run_exec("exit 0", &[], &vec![b'x'; 1 << 20], t), Ok(()));

        let err = run_exec(
            "echo first >&2; echo 'no desktop here' >&2; echo; exit 3",
            &[],
            b"",
            t,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "`echo first >&2; echo 'no desktop here' >&2; echo; exit 3` exit status: 3: no desktop here"
        );
        let env = [("WHO".to_string(), "berth".to_string())];
        assert_eq!(run_exec("test \"$WHO\" = berth", &env, b"", t), Ok(()));

        // A hung command is killed with what it started.
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("child");
        let started = Instant::now();
        let err = run_exec(
            &format!("sleep 30 & echo $! > {}; wait", pidfile.display()),
            &[],
            b"",
            Duration::from_millis(300),
        )
        .unwrap_err();
        let took = started.elapsed();
        assert!(
            err.to_string()
                .ends_with("did not finish within 300ms: killed"),
            "{err}"
        );
        assert!(took < Duration::from_secs(2), "{took:?}");
        let child: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let gone = (0..100).any(|_| {
            // Gone, or a zombie waiting for a reaper that is not us.
            let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
            let dead = stat.is_empty()
                || stat
                    .rsplit_once(") ")
                    .is_some_and(|(_, r)| r.starts_with('Z'));
            if !dead {
                std::thread::sleep(Duration::from_millis(20));
            }
            dead
        });
        assert!(gone, "the command's child {child} was left running");
        // A background child left holding stderr does not hold the result.
        let started = Instant::now();
        let err = run_exec("sleep 2 & echo oops >&2; exit 1", &[], b"", t).unwrap_err();
        assert!(err.to_string().ends_with("exit status: 1: oops"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn https_trusts_the_given_roots_and_says_when_it_does_not() {
        let certs = certs();
        let receiver = serve_tls(vec![Reply::Status(200, "ok")], &certs);
        let t = Duration::from_secs(5);
        let trusted = agent_with_roots(&Roots::from_pem_file(&certs.ca).unwrap(), t);
        let started = Instant::now();
        assert_eq!(
            post_json_with(&trusted, &receiver.url, &[], &json!({"tls": true})),
            Ok(200)
        );
        eprintln!(
            "one POST over TLS to 127.0.0.1 with a new client: {:?}",
            started.elapsed()
        );
        assert_eq!(
            receiver.requests.recv().unwrap().json(),
            json!({"tls": true})
        );
        let started = Instant::now();
        assert_eq!(
            post_json_with(&trusted, &receiver.url, &[], &json!({})),
            Ok(200)
        );
        eprintln!("the next one: {:?}", started.elapsed());

        for roots in [Roots::none(), Roots::native().clone()] {
            let err = post_json_with(&agent_with_roots(&roots, t), &receiver.url, &[], &json!({}))
                .unwrap_err();
            let text = err.to_string();
            assert!(
                text.starts_with(&format!(
                    "{}: the server's certificate is not trusted (unknown issuer): ",
                    receiver.url
                )),
                "{text}"
            );
            assert!(text.contains("SSL_CERT_FILE"), "{text}");
            if std::env::var_os("SSL_CERT_FILE").is_none() {
                assert!(text.ends_with(": set SSL_CERT_FILE to its CA, or give the server a certificate from a CA this machine trusts"), "{text}");
            }
            assert!(!err.is_transient());
        }
        // The certificate is for 127.0.0.1, not for localhost.
        let err = post_json_with(
            &trusted,
            &format!("https://localhost:{}/", receiver.port),
            &[],
            &json!({}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("not valid for localhost"), "{err}");
    }

    /// `SSL_CERT_FILE` is read once per process, so it is tested in a process of its own:
    /// this test binary again, running only `child_posts_with_the_native_roots`.
    #[test]
    fn https_trusts_ssl_cert_file() {
        let certs = certs();
        let receiver = serve_tls(vec![Reply::Status(200, "ok")], &certs);
        let run = |cert_file: Option<&std::path::Path>| {
            let mut child = std::process::Command::new(std::env::current_exe().unwrap());
            child
                .args([
                    "--exact",
                    "alerts::deliver::tests::child_posts_with_the_native_roots",
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env("BERTH_TEST_POST_URL", &receiver.url)
                .env_remove("SSL_CERT_DIR");
            match cert_file {
                Some(file) => child.env("SSL_CERT_FILE", file),
                None => child.env_remove("SSL_CERT_FILE"),
            };
            let out = child.output().unwrap();
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).to_string()
                    + &String::from_utf8_lossy(&out.stderr),
            )
        };
        let (ok, output) = run(Some(&certs.ca));
        assert!(ok, "{output}");
        assert!(output.contains("posted: 200"), "{output}");
        assert!(
            receiver
                .requests
                .recv_timeout(Duration::from_secs(5))
                .is_ok()
        );
        let (ok, output) = run(None);
        assert!(!ok, "{output}");
        assert!(output.contains("the server's certificate is not trusted (unknown issuer): set SSL_CERT_FILE to its CA"), "{output}");
    }

    #[test]
    #[ignore = "run by https_trusts_ssl_cert_file in a process of its own"]
    fn child_posts_with_the_native_roots() {
        let Some(url) = std::env::var_os("BERTH_TEST_POST_URL") else {
            return;
        };
        let status = post_json(
            url.to_str().unwrap(),
            &[],
            &json!({}),
            Duration::from_secs(5),
        );
        match status {
            Ok(status) => println!("posted: {status}"),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn origin_keeps_scheme_host_and_port() {
        assert_eq!(
            origin("https://hooks.slack.com/services/T/B/SECRET"),
            "https://hooks.slack.com"
        );
        assert_eq!(
            origin("http://user:pw@127.0.0.1:9000/hook?k=v"),
            "http://127.0.0.1:9000"
        );
        assert_eq!(origin("http://[::1]:9093"), "http://[::1]:9093");
    }
}
