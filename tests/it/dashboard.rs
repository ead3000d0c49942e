//! `berth dashboard` against a real daemon: the printed address logs a browser in once and
//! leaves an HttpOnly, SameSite=Strict session cookie; the page and the API take the cookie
//! in place of the token, and refuse without it (in HTML for the page, JSON for the API);
//! the dashboard's own port and its sessions outlive a killed daemon, and a clean stop lets
//! go of both; with `api.listen`, that listener is the one used.

use crate::api_tcp::{Reply, request};
use crate::support::{Project, daemon_pid, free_port, test_service, wait_until};
use serde_json::Value;
use std::time::Duration;

/// A project with one test service, up; `down` when dropped.
struct Stack(Project);

impl Stack {
    fn up(api: &str) -> Stack {
        let service = test_service().display().to_string();
        let project = Project::new(&format!(
            "{api}services:\n  web:\n    command: [\"{service}\"]\n    port: {}\n",
            free_port()
        ));
        project.berth(&["up", "--timeout", "30s"]).code(0);
        Stack(project)
    }

    /// `berth dashboard --json`: the login address, and the port it is on.
    fn dashboard(&self) -> (String, u16) {
        let answer: Value = self.0.berth(&["dashboard", "--json"]).code(0).json();
        let url = answer["url"].as_str().unwrap().to_string();
        let listen: std::net::SocketAddr = answer["listen"].as_str().unwrap().parse().unwrap();
        assert_eq!(answer["expires_in_s"], 900);
        assert!(listen.ip().is_loopback(), "{listen}");
        (url, listen.port())
    }

    /// Opens the login address: the `name=value` of the session cookie it sets.
    fn log_in(&self) -> (String, u16) {
        let (url, port) = self.dashboard();
        let reply = get(port, path_of(&url), &[]);
        assert_eq!(reply.status, 303, "{}", reply.body);
        assert_eq!(reply.header("location"), Some("/"));
        let cookie = reply.header("set-cookie").expect("a session cookie");
        for part in ["HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(cookie.contains(part), "{part} missing in {cookie}");
        }
        let pair = cookie.split(';').next().unwrap().to_string();
        assert!(
            pair.starts_with(&format!("berth_session_{port}=")),
            "{pair}"
        );
        (pair, port)
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.0.berth(&["down", "--force"]).output_any();
    }
}

fn get(port: u16, path: &str, headers: &[(&str, &str)]) -> Reply {
    request(port, "GET", path, headers, None)
}

/// `/login?code=…` of `http://127.0.0.1:PORT/login?code=…`.
fn path_of(url: &str) -> &str {
    let rest = url.strip_prefix("http://").unwrap();
    &rest[rest.find('/').unwrap()..]
}

#[test]
fn the_login_address_works_once_and_the_cookie_opens_page_and_api() {
    let stack = Stack::up("");
    let (url, port) = stack.dashboard();
    // Nothing of the page or the API without a session: the page says how to get one.
    let page = get(port, "/", &[]);
    assert_eq!(page.status, 401);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.body.contains("berth dashboard"), "{}", page.body);
    let api = get(port, "/v1/status", &[]);
    assert_eq!(api.status, 401);
    assert!(api.json()["error"].as_str().unwrap().contains("token"));

    let login = get(port, path_of(&url), &[]);
    assert_eq!(login.status, 303, "{}", login.body);
    let cookie = login.header("set-cookie").unwrap();
    let pair = cookie.split(';').next().unwrap();
    // The code is used up: the same address again is refused, in words.
    let again = get(port, path_of(&url), &[]);
    assert_eq!(again.status, 401);
    assert!(
        again.body.contains("used up or has expired"),
        "{}",
        again.body
    );
    let wrong = get(port, "/login?code=0123456789abcdef0123456789abcdef", &[]);
    assert_eq!(wrong.status, 401);
    assert_eq!(get(port, "/login", &[]).status, 401);

    let with = [("Cookie", pair)];
    let page = get(port, "/", &with);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<html"), "{}", page.body);
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    let status = get(port, "/v1/status", &with);
    assert_eq!(status.status, 200);
    assert_eq!(status.json()["services"][0]["name"], "web");
    assert_eq!(get(port, "/ui/no-such-file.js", &with).status, 404);
    assert_eq!(get(port, "/ui/..%2f..%2fCargo.toml", &with).status, 404);

    // The cookie does not lift the other checks: another site's POST, another Host.
    let host = format!("127.0.0.1:{port}");
    let cross = request(
        port,
        "POST",
        "/v1/services/web/restart",
        &[("Cookie", pair), ("Origin", "http://evil.example")],
        Some("{}"),
    );
    assert_eq!(cross.status, 403);
    let rebound = get(
        port,
        "/v1/status",
        &[("Cookie", pair), ("Host", "evil.example")],
    );
    assert_eq!(rebound.status, 403);
    let own = format!("http://{host}");
    let restart = request(
        port,
        "POST",
        "/v1/services/web/restart",
        &[("Cookie", pair), ("Origin", &own)],
        Some("{}"),
    );
    assert_eq!(restart.status, 202, "{}", restart.body);
    // A session of another port's dashboard is not this one's.
    let other = pair.replace(&format!("_{port}="), &format!("_{}=", port.wrapping_add(1)));
    assert_eq!(get(port, "/v1/status", &[("Cookie", &other)]).status, 401);

    // Neither the code nor the API token is written to the daemon's log.
    let log = std::fs::read_to_string(stack.0.path().join(".berth/daemon.log")).unwrap();
    let token = std::fs::read_to_string(stack.0.path().join(".berth/token")).unwrap();
    let code = url.rsplit('=').next().unwrap();
    assert!(!log.contains(code) && !log.contains(token.trim()), "{log}");
}

#[test]
fn a_killed_daemon_is_replaced_on_the_same_port_with_its_sessions() {
    let stack = Stack::up("");
    let (cookie, port) = stack.log_in();
    let sessions = stack.0.path().join(".berth/sessions");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&sessions).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    // A second `berth dashboard` serves on the same port.
    assert_eq!(stack.dashboard().1, port);

    let pid = daemon_pid(stack.0.path()).unwrap();
    // Gone with its listener. (Whether the port then refuses is not checked: the tests
    // running beside this one may be handed the freed port for a service of theirs.)
    crate::support::kill_9(berth::process::ProcessId::of(pid).unwrap());
    stack.0.berth(&["up", "--timeout", "30s"]).code(0);
    // The page that was open finds the new daemon at the same address, still logged in.
    let status = wait_until(Duration::from_secs(10), || {
        let reply = std::net::TcpStream::connect(("127.0.0.1", port))
            .ok()
            .map(|_| get(port, "/v1/status", &[("Cookie", &cookie)]))?;
        (reply.status == 200).then_some(reply)
    })
    .expect("the dashboard's port serves again after `up`");
    assert_eq!(status.json()["services"][0]["state"], "running");

    // A clean stop ends the listener with the daemon and forgets the port.
    let replaced = daemon_pid(stack.0.path()).unwrap();
    stack.0.berth(&["daemon", "stop"]).code(0);
    wait_until(Duration::from_secs(10), || {
        berth::process::ProcessId::of(replaced)
            .is_err()
            .then_some(())
    })
    .expect("the daemon stops");
    assert!(!stack.0.path().join(".berth/dashboard").exists());
    // A new daemon does not take the port again: `up` serves no dashboard.
    stack.0.berth(&["up", "--timeout", "30s"]).code(0);
    assert!(!stack.0.path().join(".berth/dashboard").exists());
}

#[test]
fn the_configured_api_listener_serves_the_dashboard() {
    let port = free_port();
    let stack = Stack::up(&format!("api:\n  listen: 127.0.0.1:{port}\n"));
    let (cookie, got) = stack.log_in();
    assert_eq!(got, port);
    assert_eq!(get(port, "/v1/status", &[("Cookie", &cookie)]).status, 200);
    // The token goes on working beside the cookie.
    let token = std::fs::read_to_string(stack.0.path().join(".berth/token")).unwrap();
    let bearer = format!("Bearer {}", token.trim());
    assert_eq!(
        get(port, "/v1/status", &[("Authorization", &bearer)]).status,
        200
    );
    assert!(!stack.0.path().join(".berth/dashboard").exists());
}

#[test]
fn without_a_daemon_the_dashboard_says_to_start_the_stack() {
    let project = Project::new("services:\n  web:\n    command: [sleep, '60']\n");
    project.berth(&["dashboard"]).code(1).stderr_has("berth up");
}

#[test]
fn open_hands_the_address_to_the_browser() {
    let stack = Stack::up("");
    let seen = stack.0.path().join("opened");
    let browser = stack.0.write(
        "browser",
        &format!(
            "#!/bin/sh\nprintf '%s' \"$1\" > {:?}\n",
            seen.display().to_string()
        ),
    );
    std::fs::set_permissions(
        &browser,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let ran = stack
        .0
        .berth(&["dashboard", "--open"])
        .env("BROWSER", &format!("no-such-browser:{}", browser.display()))
        .code(0);
    let printed = ran.stdout().trim().to_string();
    let opened = wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(&seen)
            .ok()
            .filter(|s| !s.is_empty())
    })
    .expect("the browser was started with the address");
    assert_eq!(opened, printed);
    // What it was given logs in.
    let port: u16 = printed
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(get(port, path_of(&opened), &[]).status, 303);

    // No browser at all: the address is still printed, and what failed is said.
    stack
        .0
        .berth(&["dashboard", "--open"])
        .env("BROWSER", "no-such-browser")
        .env("PATH", "/nonexistent")
        .code(0)
        .stdout_has("/login?code=")
        .stderr_has("open the address above by hand");
}
