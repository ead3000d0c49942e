//! Health probes: `http` (GET, status accepted), `tcp` (connect) and `exec` (exit 0), each
//! bounded by its timeout. Synchronous and cheap on loopback (well under a millisecond), so
//! readiness can poll them every few milliseconds from a blocking task. `http://` is a few
//! lines of HTTP/1.1 written here, for that speed; `https://` goes through berth's HTTP
//! client (`alerts::deliver`), which brings TLS and the system's roots.

use crate::alerts::deliver::{self, Roots};
use crate::stack::health::{Health, Probe};
use crate::stack::ranges::RangeList;
use crate::timeout::timespec;
use rustix::event::{PollFd, PollFlags, poll};
use rustix::process::{PidfdFlags, Signal, kill_process_group, pidfd_open};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Healthy, or why not (shown to the user).
pub type Verdict = Result<(), String>;

/// Runs a service's configured probe, with ports as assigned.
pub fn check(
    health: &Health,
    port_of: &dyn Fn(&str) -> Option<u16>,
    env: &[(String, String)],
    cwd: &Path,
) -> Verdict {
    match &health.probe {
        Probe::Http { url, status } => http(&url.render(port_of), status, health.timeout),
        Probe::Tcp { address } => tcp(&address.render(port_of), health.timeout),
        Probe::Exec { command } => exec(&command.argv(port_of), env, cwd, health.timeout),
    }
}

/// GET `url` (`http://` or `https://host[:port]/path`), redirects not followed; healthy when
/// the status is in `accepted`.
pub fn http(url: &str, accepted: &RangeList, timeout: Duration) -> Verdict {
    if url.starts_with("https://") {
        return https(url, accepted, timeout);
    }
    let deadline = Instant::now() + timeout;
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("`{url}` is not an http:// URL"))?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    let mut stream = connect(authority, 80, deadline)?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: berth\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    );
    stream
        .set_write_timeout(Some(remaining(deadline)?))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("GET {url}: {e}"))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 512];
    while !head.windows(2).any(|w| w == b"\r\n") {
        stream
            .set_read_timeout(Some(remaining(deadline)?))
            .map_err(|e| e.to_string())?;
        match stream.read(&mut buf) {
            Ok(0) => return Err(format!("GET {url}: connection closed before a response")),
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return Err(format!(
                    "GET {url}: no response within {}",
                    crate::config::units::format_duration(timeout)
                ));
            }
            Err(e) => return Err(format!("GET {url}: {e}")),
        }
        if head.len() > 8192 {
            break;
        }
    }
    let line = String::from_utf8_lossy(&head);
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|_| line.starts_with("HTTP/"))
        .ok_or_else(|| format!("GET {url}: not an HTTP response"))?;
    judge(url, status, accepted)
}

fn judge(url: &str, status: u16, accepted: &RangeList) -> Verdict {
    if accepted.contains(status) {
        Ok(())
    } else {
        Err(format!(
            "GET {url} answered {status} (accepted: {accepted})"
        ))
    }
}

/// GET over TLS, trusting the system's roots (or `SSL_CERT_FILE`'s).
fn https(url: &str, accepted: &RangeList, timeout: Duration) -> Verdict {
    https_with(&https_agent(timeout), url, accepted)
}

fn https_with(agent: &ureq::Agent, url: &str, accepted: &RangeList) -> Verdict {
    let status = deliver::get(agent, url).map_err(|e| e.to_string())?;
    judge(url, status, accepted)
}

/// A client per timeout, kept: its TLS configuration (the parsed roots) is built on its
/// first connection, which a probe polled every few milliseconds must not pay each time.
/// Without a proxy: a health check is about the service itself, usually on this machine.
fn https_agent(timeout: Duration) -> ureq::Agent {
    static AGENTS: OnceLock<Mutex<Vec<(Duration, ureq::Agent)>>> = OnceLock::new();
    let agents = AGENTS.get_or_init(|| Mutex::new(Vec::new()));
    let mut agents = agents.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, agent)) = agents.iter().find(|(t, _)| *t == timeout) {
        return agent.clone();
    }
    let agent = deliver::config(Roots::native(), timeout)
        .proxy(None)
        .build()
        .new_agent();
    agents.push((timeout, agent.clone()));
    agent
}

/// Connects to `HOST:PORT`.
pub fn tcp(address: &str, timeout: Duration) -> Verdict {
    connect(address, 0, Instant::now() + timeout).map(|_| ())
}

/// Runs `argv` (in its own process group, so a timeout kills all of it); healthy on exit 0.
pub fn exec(argv: &[String], env: &[(String, String)], cwd: &Path, timeout: Duration) -> Verdict {
    let (program, args) = argv.split_first().ok_or("empty command")?;
    let mut command = Command::new(program);
    command
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    crate::process::limits::restore_in(&mut command);
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot run `{}`: {e}", argv.join(" ")))?;
    let pid = crate::process::pid(child.id()).ok_or("no pid")?;
    let pidfd = pidfd_open(pid, PidfdFlags::empty()).map_err(|e| e.to_string())?;
    // A pidfd becomes readable when the process exits.
    let wait = timespec(timeout);
    let exited = loop {
        match poll(&mut [PollFd::new(&pidfd, PollFlags::IN)], Some(&wait)) {
            Ok(n) => break n > 0,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.to_string()),
        }
    };
    if !exited {
        let _ = kill_process_group(pid, Signal::KILL);
        let _ = child.wait();
        return Err(format!(
            "`{}` did not finish within {}",
            argv.join(" "),
            crate::config::units::format_duration(timeout)
        ));
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` {status}", argv.join(" ")))
    }
}

/// Connects to the first address of `authority` that accepts before `deadline`.
fn connect(authority: &str, default_port: u16, deadline: Instant) -> Result<TcpStream, String> {
    let with_port = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        && !authority.ends_with(']')
    {
        authority.to_string()
    } else if default_port > 0 {
        format!("{authority}:{default_port}")
    } else {
        return Err(format!("`{authority}` has no port"));
    };
    let addresses: Vec<SocketAddr> = with_port
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve `{authority}`: {e}"))?
        .collect();
    let mut last = format!("cannot resolve `{authority}`");
    for address in addresses {
        match TcpStream::connect_timeout(&address, remaining(deadline)?) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = format!("connect to {address}: {e}"),
        }
    }
    Err(last)
}

fn remaining(deadline: Instant) -> Result<Duration, String> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err("timed out".to_string())
    } else {
        Ok(left)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::health::default_status;
    use std::net::TcpListener;

    /// A one-shot HTTP server answering `status` to the next `n` requests.
    fn server(status: u16, n: usize) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(n) {
                let mut stream = stream.unwrap();
                let mut buf = [0u8; 1024];
                let _ = stream.read(&mut buf);
                let _ = write!(stream, "HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n");
            }
        });
        port
    }

    #[test]
    fn http_accepts_the_configured_statuses() {
        let t = Duration::from_secs(2);
        assert_eq!(
            http(
                &format!("http://127.0.0.1:{}/health", server(200, 1)),
                &default_status(),
                t
            ),
            Ok(())
        );
        assert_eq!(
            http(
                &format!("http://localhost:{}/", server(302, 1)),
                &default_status(),
                t
            ),
            Ok(())
        );
        let err = http(
            &format!("http://127.0.0.1:{}/health", server(503, 1)),
            &default_status(),
            t,
        )
        .unwrap_err();
        assert!(err.ends_with("answered 503 (accepted: 200-399)"), "{err}");
        let only_204 = RangeList::new(vec![(204, 204)]);
        assert!(
            http(
                &format!("http://127.0.0.1:{}/", server(200, 1)),
                &only_204,
                t
            )
            .is_err()
        );
    }

    #[test]
    fn http_and_tcp_fail_on_a_closed_port_and_time_out_on_silence() {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let t = Duration::from_millis(500);
        assert!(
            http(&format!("http://127.0.0.1:{port}/"), &default_status(), t)
                .unwrap_err()
                .contains("connect")
        );
        assert!(tcp(&format!("127.0.0.1:{port}"), t).is_err());
        // Accepts but never answers.
        let silent = TcpListener::bind("127.0.0.1:0").unwrap();
        let silent_port = silent.local_addr().unwrap().port();
        assert_eq!(tcp(&format!("127.0.0.1:{silent_port}"), t), Ok(()));
        let started = Instant::now();
        let err = http(
            &format!("http://127.0.0.1:{silent_port}/"),
            &default_status(),
            Duration::from_millis(200),
        )
        .unwrap_err();
        assert!(err.contains("no response within 200ms"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn https_goes_through_berths_client() {
        use crate::alerts::deliver::testing::{Reply, certs, serve_tls};
        let certs = certs();
        let roots = Roots::from_pem_file(&certs.ca).unwrap();
        let t = Duration::from_secs(2);
        let agent = deliver::config(&roots, t).proxy(None).build().new_agent();
        let receiver = serve_tls(
            vec![
                Reply::Status(200, "ok"),
                Reply::Status(302, ""),
                Reply::Status(503, "down"),
            ],
            &certs,
        );
        let url = format!("{}/health", receiver.url);
        let started = Instant::now();
        assert_eq!(https_with(&agent, &url, &default_status()), Ok(()));
        eprintln!("an https probe of 127.0.0.1: {:?}", started.elapsed());
        let got = receiver.requests.recv().unwrap();
        assert!(
            got.head.starts_with("GET /health HTTP/1.1\r\n"),
            "{}",
            got.head
        );
        assert_eq!(got.header("connection").as_deref(), Some("close"));
        // A redirect is the service's answer, not followed.
        assert_eq!(https_with(&agent, &url, &default_status()), Ok(()));
        assert_eq!(
            https_with(&agent, &url, &default_status()),
            Err(format!("GET {url} answered 503 (accepted: 200-399)"))
        );
        // Through `http`, with the system's roots: not trusted, and said so.
        let err = http(&url, &default_status(), t).unwrap_err();
        assert!(
            err.starts_with(&format!(
                "GET {url}: the server's certificate is not trusted (unknown issuer): "
            )),
            "{err}"
        );
        // Silence is a timeout.
        let silent = serve_tls(vec![Reply::Hang], &certs);
        let short = deliver::config(&roots, Duration::from_millis(200))
            .build()
            .new_agent();
        let err = https_with(&short, &silent.url, &default_status()).unwrap_err();
        assert_eq!(err, format!("GET {}: timed out after 200ms", silent.url));
    }

    #[test]
    fn exec_checks_the_exit_status_and_kills_on_timeout() {
        let env = [("PATH".to_string(), std::env::var("PATH").unwrap())];
        let sh = |line: &str| vec!["sh".to_string(), "-c".to_string(), line.to_string()];
        let cwd = std::env::temp_dir();
        let t = Duration::from_secs(5);
        assert_eq!(exec(&sh("exit 0"), &env, &cwd, t), Ok(()));
        assert!(
            exec(&sh("exit 3"), &env, &cwd, t)
                .unwrap_err()
                .contains("exit status: 3")
        );
        let started = Instant::now();
        let err = exec(
            &sh("sleep 30 & sleep 30"),
            &env,
            &cwd,
            Duration::from_millis(200),
        )
        .unwrap_err();
        assert!(err.contains("did not finish within 200ms"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(
            exec(&["/nonexistent/probe".to_string()], &env, &cwd, t)
                .unwrap_err()
                .contains("cannot run")
        );
    }
}
