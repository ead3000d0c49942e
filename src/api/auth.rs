//! Who may use the API on TCP: the bearer token, the `Host` and `Origin` checks.
//!
//! Pure decisions, so that every rule is a table row in the tests; the TCP listener calls
//! `check` on each request and turns a refusal into the response. The Unix socket needs none
//! of this: its mode (0600) is the authentication.

use axum::http::{HeaderMap, Method, StatusCode, header};
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use super::session::{self, Sessions};

/// What the TCP listener knows to decide on a request.
pub struct Guard {
    pub token: String,
    pub listen: std::net::SocketAddr,
    pub metrics_without_token: bool,
    /// The dashboard's sessions, which stand in for the token.
    pub sessions: std::sync::Arc<Sessions>,
}

/// Allowed, or refused with this status (401 or 403) and message.
///
/// In this order: the `Host` must name the listener (403 otherwise: a page on another site
/// that rebinds its DNS name to 127.0.0.1 still sends its own name as `Host`); then the token
/// or the dashboard's session cookie (401); then, for methods that change something, an `Origin`, when the browser sends one,
/// must be the listener's own (403: a form or `fetch` from another site). On a 401 the server
/// adds `WWW-Authenticate: Bearer`; this function only decides.
pub fn check(
    guard: &Guard,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
) -> Result<(), (StatusCode, String)> {
    let forbidden = |message: &str| (StatusCode::FORBIDDEN, message.to_string());
    let host = check_host(guard, headers)?;

    if !(guard.metrics_without_token && path == "/metrics") {
        credentials(guard, headers)?;
    }

    // GET, HEAD and OPTIONS change nothing, and a cross-origin page cannot read their answers
    // (no CORS headers are sent), so only the other methods need the Origin check.
    let safe = [Method::GET, Method::HEAD, Method::OPTIONS].contains(method);
    if !safe && headers.contains_key(header::ORIGIN) {
        let own = format!("http://{host}");
        // `Origin: null` (sandboxed frames, redirects, file:// pages) never matches.
        let same = single(headers, header::ORIGIN).is_some_and(|o| o.eq_ignore_ascii_case(&own));
        if !same {
            return Err(forbidden("cross-origin request refused"));
        }
    }
    Ok(())
}

/// The `Host` the request names, when it names the listener (403 otherwise): the first check
/// of every request, the dashboard's login too.
pub fn check_host<'h>(
    guard: &Guard,
    headers: &'h HeaderMap,
) -> Result<&'h str, (StatusCode, String)> {
    single(headers, header::HOST)
        .filter(|host| host_names_listener(host, guard.listen))
        .ok_or_else(|| (StatusCode::FORBIDDEN, "host not allowed".to_string()))
}

/// The value of a header sent exactly once, as text. Twice is ambiguous (which one would a
/// proxy in front have looked at?), so it counts as not sent.
fn single(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    let mut values = headers.get_all(name).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    value.to_str().ok()
}

/// Whether `Host` names this listener: a loopback address (127.0.0.0/8, `[::1]`) or
/// `localhost`, or the listener's own address when that is not loopback, each with no port
/// or the listener's. An unspecified address (`0.0.0.0`, `[::]`) is never a name for it:
/// browsers send requests for `http://0.0.0.0` to the machine itself, which would make it a
/// way around this check.
fn host_names_listener(host: &str, listen: SocketAddr) -> bool {
    let Some((name, port)) = split_host(host) else {
        return false;
    };
    if port.is_some_and(|p| p != listen.port()) {
        return false;
    }
    let ip = if name.eq_ignore_ascii_case("localhost") {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else if let Some(v6) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        match v6.parse::<Ipv6Addr>() {
            Ok(ip) => IpAddr::V6(ip),
            Err(_) => return false,
        }
    } else {
        // Only dotted quads: `Ipv4Addr` parsing refuses `0x7f.1` and `2130706433`, forms some
        // resolvers accept, so nothing but the plain form passes.
        match name.parse::<Ipv4Addr>() {
            Ok(ip) => IpAddr::V4(ip),
            Err(_) => return false,
        }
    };
    if ip.is_unspecified() {
        return false;
    }
    ip.is_loopback() || ip == listen.ip()
}

/// `NAME` or `NAME:PORT`, NAME possibly `[v6]`. `None` when the port is there but not a port.
fn split_host(host: &str) -> Option<(&str, Option<u16>)> {
    let (name, port) = if host.starts_with('[') {
        let end = host.find(']')?;
        let (name, rest) = host.split_at(end + 1);
        match rest {
            "" => (name, None),
            _ => (name, Some(rest.strip_prefix(':')?)),
        }
    } else {
        match host.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        }
    };
    let port = match port {
        None => None,
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => Some(p.parse().ok()?),
        Some(_) => return None,
    };
    Some((name, port))
}

/// The dashboard's session cookie, else `Authorization: Bearer TOKEN`. A stale cookie is
/// not an error when a token is sent too (a script on a machine with a browser's cookies).
fn credentials(guard: &Guard, headers: &HeaderMap) -> Result<(), (StatusCode, String)> {
    let name = session::cookie_name(guard.listen.port());
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|h| session::cookie(h, &name));
    match cookie {
        Some(id) if guard.sessions.valid(id) => Ok(()),
        Some(_) if !headers.contains_key(header::AUTHORIZATION) => Err((
            StatusCode::UNAUTHORIZED,
            "the dashboard's session has ended; run `berth dashboard` for a new login link"
                .to_string(),
        )),
        _ => bearer(guard, headers),
    }
}

/// `Authorization: Bearer TOKEN`, the scheme in any case.
fn bearer(guard: &Guard, headers: &HeaderMap) -> Result<(), (StatusCode, String)> {
    let how = "send `Authorization: Bearer TOKEN`, with the token from `api.token` in berth.yaml or from .berth/token";
    let unauthorized = |what: &str| Err((StatusCode::UNAUTHORIZED, format!("{what}; {how}")));
    if !headers.contains_key(header::AUTHORIZATION) {
        return unauthorized("this API needs a token");
    }
    let Some(value) = single(headers, header::AUTHORIZATION) else {
        return unauthorized("unreadable `Authorization` header");
    };
    let (scheme, credentials) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return unauthorized("not a bearer token");
    }
    if !token_matches(&guard.token, credentials.trim_start_matches(' ')) {
        return unauthorized("wrong token");
    }
    Ok(())
}

/// Whether `given` is `expected`, in time that depends on the length of `expected` only: every
/// byte is compared and the differences folded with `|`, with no exit at the first one that
/// differs, so the time taken tells a guesser nothing about how much of a guess was right. A
/// guess of another length is false but still costs a full pass. An empty `expected` matches
/// nothing.
pub fn token_matches(expected: &str, given: &str) -> bool {
    let (e, g) = (expected.as_bytes(), given.as_bytes());
    let mut diff = u8::from(e.len() != g.len() || e.is_empty());
    for (i, &byte) in e.iter().enumerate() {
        // Branches on `given`'s length only, which the caller sent and knows.
        let other = if i < g.len() { g[i] } else { !byte };
        diff |= byte ^ other;
    }
    // Keeps the optimiser from turning the fold into an early exit.
    std::hint::black_box(diff) == 0
}

/// The file under the state dir that holds the generated token.
pub const TOKEN_FILE: &str = "token";

/// The token to use: the configured one, else `.berth/token` (created with 32 random bytes as
/// 64 hex chars, mode 0600, atomically — created with O_EXCL at a temporary name and renamed
/// into place without replacing; if it exists but is readable by group/others, tightened to
/// 0600).
pub fn load_or_create_token(state_dir: &Path, configured: Option<&str>) -> io::Result<String> {
    if let Some(token) = configured {
        return Ok(token.to_string());
    }
    let path = state_dir.join(TOKEN_FILE);
    // Two tries: if another process puts its token in place between our read and our
    // rename, the second read finds it.
    for _ in 0..2 {
        match read_token(&path)? {
            Some(token) => return Ok(token),
            None => {
                if let Some(token) = create_token(state_dir, &path)? {
                    return Ok(token);
                }
            }
        }
    }
    Err(io::Error::other(format!(
        "{}: could not read or create the API token",
        path.display()
    )))
}

/// The token in `path`, tightened to 0600 first; `None` when there is no file.
fn read_token(path: &Path) -> io::Result<Option<String>> {
    // O_NOFOLLOW: the token is read from the state dir's own file, never through a link.
    let mut file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
    };
    let mode = file.metadata()?.permissions().mode();
    if mode & 0o077 != 0 {
        // On the open file, not the path: what is tightened is what is read.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    let mut text = String::new();
    file.read_to_string(&mut text)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    // A trailing newline from an editor is not part of the token.
    let token = text.trim();
    // Never replaced here, even when bad: someone may be using what is in it, and replacing
    // it races with another process doing the same. Ours are synced before they are put in
    // place, so a crash cannot leave an empty one.
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{}: the token file is empty or holds whitespace or unprintable characters; fix it, or remove it to have a new one generated",
                path.display()
            ),
        ));
    }
    Ok(Some(token.to_string()))
}

/// Writes a new token at a temporary name and moves it to `path` unless a token is there
/// by then (`None`: read that one instead).
fn create_token(state_dir: &Path, path: &Path) -> io::Result<Option<String>> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(state_dir)?;
    let bytes = random_bytes::<36>()?;
    let (secret, nonce) = bytes.split_at(32);
    let token = hex(secret);
    // `.NAME.PID.tmp`, the state dir's pattern for temporary files, so that `doctor` clears
    // one a killed writer left; the nonce (never part of the token) keeps two threads of one
    // process apart.
    let tmp = state_dir.join(format!(
        ".{TOKEN_FILE}.{}.{}.tmp",
        hex(nonce),
        std::process::id()
    ));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)?;
        // The umask can only take bits away; this makes it exactly 0600 whatever it was.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        file.write_all(token.as_bytes())?;
        // A token handed out must still be there after a crash.
        file.sync_all()?;
        place_new(&tmp, path)
    })();
    let _ = std::fs::remove_file(&tmp);
    match result {
        Ok(true) => Ok(Some(token)),
        Ok(false) => Ok(None),
        Err(e) => Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
    }
}

/// Moves `tmp` to `path` unless something is there: `false` then. A plain rename would
/// replace a token another process just handed out.
fn place_new(tmp: &Path, path: &Path) -> io::Result<bool> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    use rustix::io::Errno;
    let placed = match renameat_with(CWD, tmp, CWD, path, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        // File systems without RENAME_NOREPLACE: a hard link also refuses to replace (`tmp`
        // is removed by the caller either way).
        Err(Errno::INVAL | Errno::NOSYS) => std::fs::hard_link(tmp, path),
        Err(e) => Err(io::Error::from(e)),
    };
    match placed {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// Random bytes from the kernel's generator (rustix is built without its `rand` feature).
pub(crate) fn random_bytes<const N: usize>() -> io::Result<[u8; N]> {
    let mut bytes = [0u8; N];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    fn guard(listen: &str, metrics_without_token: bool) -> Guard {
        Guard {
            token: TOKEN.to_string(),
            listen: listen.parse().unwrap(),
            metrics_without_token,
            sessions: std::sync::Arc::new(Sessions::load(Path::new(""))),
        }
    }

    fn headers(list: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in list {
            map.append(
                header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    /// The status a request gets: 200 for allowed.
    fn status(g: &Guard, method: Method, path: &str, list: &[(&str, &str)]) -> (u16, String) {
        match check(g, &method, path, &headers(list)) {
            Ok(()) => (200, String::new()),
            Err((status, message)) => (status.as_u16(), message),
        }
    }

    const BEARER: (&str, &str) = ("authorization", "Bearer 0123456789abcdef0123456789abcdef");

    #[test]
    fn host_must_name_the_listener() {
        let local = guard("127.0.0.1:9400", false);
        let remote = guard("192.168.1.5:9400", false);
        let v6 = guard("[::1]:9400", false);
        let any = guard("0.0.0.0:9400", false);
        for (g, host, allowed) in [
            (&local, "127.0.0.1:9400", true),
            (&local, "127.0.0.1", true),
            (&local, "127.1.2.3:9400", true),
            (&local, "localhost:9400", true),
            (&local, "LocalHost", true),
            (&local, "[::1]:9400", true),
            (&local, "[::1]", true),
            (&local, "evil.example", false),
            (&local, "evil.example:9400", false),
            (&local, "localhost.evil.example:9400", false),
            (&local, "127.0.0.1:9401", false),
            (&local, "127.0.0.1:http", false),
            (&local, "127.0.0.1:", false),
            (&local, "127.0.0.1:99999", false),
            (&local, "2130706433:9400", false),
            (&local, "0x7f.0.0.1:9400", false),
            (&local, "192.168.1.5:9400", false),
            (&local, "[::1]9400", false),
            (&local, "[::1:9400", false),
            (&local, "::1:9400", false),
            (&local, "", false),
            (&remote, "192.168.1.5:9400", true),
            (&remote, "192.168.1.5", true),
            (&remote, "127.0.0.1:9400", true),
            (&remote, "192.168.1.6:9400", false),
            (&remote, "192.168.1.5:9401", false),
            (&v6, "[::1]:9400", true),
            (&v6, "localhost:9400", true),
            (&any, "127.0.0.1:9400", true),
            (&any, "0.0.0.0:9400", false),
            (&any, "[::]:9400", false),
        ] {
            let got = status(g, Method::GET, "/v1/status", &[("host", host), BEARER]);
            let want = if allowed {
                (200, String::new())
            } else {
                (403, "host not allowed".to_string())
            };
            assert_eq!(got, want, "Host: {host:?} on {}", g.listen);
        }
    }

    #[test]
    fn a_missing_or_repeated_host_is_refused() {
        let g = guard("127.0.0.1:9400", false);
        assert_eq!(status(&g, Method::GET, "/v1/status", &[BEARER]).0, 403);
        let twice = [("host", "127.0.0.1:9400"), ("host", "evil.example"), BEARER];
        assert_eq!(status(&g, Method::GET, "/v1/status", &twice).0, 403);
    }

    #[test]
    fn every_request_needs_the_token() {
        let g = guard("127.0.0.1:9400", false);
        let host = ("host", "127.0.0.1:9400");
        let last_byte_differs = "Bearer 0123456789abcdef0123456789abcdee";
        let prefix = "Bearer 0123456789abcdef";
        let longer = "Bearer 0123456789abcdef0123456789abcdef0";
        for (authorization, allowed) in [
            (Some("Bearer 0123456789abcdef0123456789abcdef"), true),
            (Some("bearer 0123456789abcdef0123456789abcdef"), true),
            (Some("BEARER 0123456789abcdef0123456789abcdef"), true),
            (Some("Bearer  0123456789abcdef0123456789abcdef"), true),
            (None, false),
            (Some("Bearer wrong-token-wrong-token-00"), false),
            (Some(last_byte_differs), false),
            (Some(prefix), false),
            (Some(longer), false),
            (Some("Bearer"), false),
            (Some("Bearer "), false),
            (Some("Basic 0123456789abcdef0123456789abcdef"), false),
            (Some("0123456789abcdef0123456789abcdef"), false),
        ] {
            let mut list = vec![host];
            list.extend(authorization.map(|a| ("authorization", a)));
            let (code, message) = status(&g, Method::GET, "/v1/status", &list);
            if allowed {
                assert_eq!(code, 200, "{authorization:?}: {message}");
            } else {
                assert_eq!(code, 401, "{authorization:?}");
                assert!(
                    message.contains("send `Authorization: Bearer TOKEN`"),
                    "{message}"
                );
            }
        }
        let twice = [host, BEARER, BEARER];
        assert_eq!(status(&g, Method::GET, "/v1/status", &twice).0, 401);
    }

    #[test]
    fn metrics_may_go_without_the_token() {
        let host = ("host", "127.0.0.1:9400");
        for (open, path, with_token, want) in [
            (true, "/metrics", false, 200),
            (true, "/metrics", true, 200),
            (true, "/v1/status", false, 401),
            (true, "/metrics/", false, 401),
            (true, "/v1/metrics", false, 401),
            (false, "/metrics", false, 401),
            (false, "/metrics", true, 200),
        ] {
            let g = guard("127.0.0.1:9400", open);
            let mut list = vec![host];
            if with_token {
                list.push(BEARER);
            }
            assert_eq!(
                status(&g, Method::GET, path, &list).0,
                want,
                "metrics_without_token: {open}, {path}, token: {with_token}"
            );
        }
        // The Host check still applies to the open /metrics.
        let g = guard("127.0.0.1:9400", true);
        let evil = [("host", "evil.example")];
        assert_eq!(status(&g, Method::GET, "/metrics", &evil).0, 403);
    }

    #[test]
    fn changes_from_another_origin_are_refused() {
        let g = guard("127.0.0.1:9400", false);
        let host = ("host", "127.0.0.1:9400");
        for (method, origin, want) in [
            (Method::POST, None, 200),
            (Method::POST, Some("http://127.0.0.1:9400"), 200),
            (Method::POST, Some("HTTP://127.0.0.1:9400"), 200),
            (Method::POST, Some("http://evil.example"), 403),
            (Method::POST, Some("http://127.0.0.1:9401"), 403),
            (Method::POST, Some("https://127.0.0.1:9400"), 403),
            (Method::POST, Some("http://localhost:9400"), 403),
            (Method::POST, Some("null"), 403),
            (Method::PUT, Some("http://evil.example"), 403),
            (Method::DELETE, Some("http://evil.example"), 403),
            (Method::PATCH, Some("null"), 403),
            (Method::GET, Some("http://evil.example"), 200),
            (Method::HEAD, Some("http://evil.example"), 200),
            (Method::OPTIONS, Some("null"), 200),
        ] {
            let mut list = vec![host, BEARER];
            list.extend(origin.map(|o| ("origin", o)));
            let got = status(&g, method.clone(), "/v1/up", &list);
            let want = match want {
                200 => (200, String::new()),
                _ => (403, "cross-origin request refused".to_string()),
            };
            assert_eq!(got, want, "{method} with Origin {origin:?}");
        }
        // The origin follows the Host that passed.
        let local = [
            ("host", "localhost:9400"),
            BEARER,
            ("origin", "http://localhost:9400"),
        ];
        assert_eq!(status(&g, Method::POST, "/v1/up", &local).0, 200);
        let twice = [
            host,
            BEARER,
            ("origin", "http://127.0.0.1:9400"),
            ("origin", "null"),
        ];
        assert_eq!(status(&g, Method::POST, "/v1/up", &twice).0, 403);
    }

    #[test]
    fn a_dashboard_session_stands_in_for_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let mut g = guard("127.0.0.1:9400", false);
        g.sessions = std::sync::Arc::new(Sessions::load(dir.path()));
        let id = g.sessions.log_in(&g.sessions.new_login().unwrap()).unwrap();
        let host = ("host", "127.0.0.1:9400");
        let ours = format!("theme=dark; berth_session_9400={id}");
        let other_port = format!("berth_session_9401={id}");
        let stale = "berth_session_9400=0123456789abcdef0123456789abcdef";
        let own_origin = ("origin", "http://127.0.0.1:9400");
        let evil = ("origin", "http://evil.example");
        for (method, list, want) in [
            (Method::GET, vec![host, ("cookie", ours.as_str())], 200),
            (Method::POST, vec![host, ("cookie", &ours), own_origin], 200),
            // The cookie does not lift the Origin check.
            (Method::POST, vec![host, ("cookie", &ours), evil], 403),
            (
                Method::GET,
                vec![("host", "evil.example"), ("cookie", &ours)],
                403,
            ),
            // Another project's dashboard on another port.
            (Method::GET, vec![host, ("cookie", &other_port)], 401),
            (Method::GET, vec![host, ("cookie", stale)], 401),
            (Method::GET, vec![host, ("cookie", stale), BEARER], 200),
        ] {
            let got = status(&g, method.clone(), "/v1/status", &list);
            assert_eq!(got.0, want, "{method} {list:?}: {}", got.1);
        }
        let (_, message) = status(&g, Method::GET, "/", &[host, ("cookie", stale)]);
        assert!(message.contains("berth dashboard"), "{message}");
    }

    #[test]
    fn host_first_then_token_then_origin() {
        let g = guard("127.0.0.1:9400", false);
        let evil = ("host", "evil.example");
        let foreign = ("origin", "http://evil.example");
        let host = ("host", "127.0.0.1:9400");
        assert_eq!(status(&g, Method::POST, "/v1/up", &[evil, foreign]).0, 403);
        assert_eq!(
            status(&g, Method::POST, "/v1/up", &[evil, foreign]).1,
            "host not allowed"
        );
        assert_eq!(status(&g, Method::POST, "/v1/up", &[host, foreign]).0, 401);
        assert_eq!(
            status(&g, Method::POST, "/v1/up", &[host, BEARER, foreign]),
            (403, "cross-origin request refused".to_string())
        );
    }

    #[test]
    fn tokens_compare_whole() {
        for (expected, given, same) in [
            (TOKEN, TOKEN, true),
            (TOKEN, "0123456789abcdef0123456789abcdee", false),
            (TOKEN, "1123456789abcdef0123456789abcdef", false),
            (TOKEN, "0123456789abcdef", false),
            (TOKEN, "0123456789abcdef0123456789abcdef0", false),
            (TOKEN, "", false),
            ("", "", false),
            ("a", "b", false),
            // A byte past the end of `given` never matches by accident.
            ("\u{0}", "", false),
        ] {
            assert_eq!(
                token_matches(expected, given),
                same,
                "{expected:?} {given:?}"
            );
        }
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn the_token_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join(".berth");
        let first = load_or_create_token(&state, None).unwrap();
        assert_eq!(first.len(), 64);
        assert!(
            first
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        let file = state.join("token");
        assert_eq!(mode(&file), 0o600);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), first);
        assert_eq!(load_or_create_token(&state, None).unwrap(), first);
        // Nothing but the token is left in the state dir.
        let names: Vec<_> = std::fs::read_dir(&state)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["token"]);
        // Another state dir, another token.
        let other = load_or_create_token(&dir.path().join("other"), None).unwrap();
        assert_ne!(other, first);
    }

    #[test]
    fn a_token_file_readable_by_others_is_tightened() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, format!("{TOKEN}\n")).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(load_or_create_token(dir.path(), None).unwrap(), TOKEN);
        assert_eq!(mode(&file), 0o600);
    }

    #[test]
    fn the_configured_token_wins() {
        let dir = tempfile::tempdir().unwrap();
        let configured = "configured-token-0123456789";
        assert_eq!(
            load_or_create_token(dir.path(), Some(configured)).unwrap(),
            configured
        );
        assert!(!dir.path().join("token").exists(), "no file is written");
        std::fs::write(dir.path().join("token"), TOKEN).unwrap();
        assert_eq!(
            load_or_create_token(dir.path(), Some(configured)).unwrap(),
            configured
        );
    }

    #[test]
    fn a_bad_token_file_is_refused_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        for bad in ["", "\n", "two words"] {
            std::fs::write(&file, bad).unwrap();
            let e = load_or_create_token(dir.path(), None).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{bad:?}");
            assert!(e.to_string().contains("remove it"), "{e}");
            assert_eq!(std::fs::read_to_string(&file).unwrap(), bad);
        }
    }

    #[test]
    fn a_token_file_behind_a_link_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = dir.path().join("elsewhere");
        std::fs::write(&elsewhere, TOKEN).unwrap();
        std::os::unix::fs::symlink(&elsewhere, dir.path().join("token")).unwrap();
        assert!(load_or_create_token(dir.path(), None).is_err());
    }

    #[test]
    fn callers_at_once_all_get_the_one_token() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().to_path_buf();
        let tokens: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| load_or_create_token(&state, None).unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(tokens.iter().all(|t| *t == tokens[0]), "{tokens:?}");
        assert_eq!(
            std::fs::read_to_string(state.join("token")).unwrap(),
            tokens[0]
        );
    }
}
