//! A service for berth's own tests, built from this repository (`cargo test` builds it as
//! `target/debug/examples/test-service`). By default it serves HTTP on 127.0.0.1:$PORT with
//! `/health`; flags make it misbehave in the ways real services do:
//!
//!   --slow-start MS        wait before listening
//!   --exit-after MS        exit by itself after MS (with --code N, default 0)
//!   --code N               the exit code
//!   --ignore-term          ignore SIGTERM (only SIGKILL ends it)
//!   --grandchildren N      fork N processes that sleep forever (they inherit --ignore-term)
//!   --escape               the grandchildren leave the process group (setsid)
//!   --flood N              write N numbered lines to stdout at once (`line 000001` …)
//!   --line-bytes B         with --flood: lines of B bytes (`line 0000000001 xxx…`), written
//!                          in 64 KiB chunks
//!   --no-listen            do not listen at all (a worker)
//!   --notify               send READY=1 to $NOTIFY_SOCKET once listening (or started)
//!   --log-requests         write each HTTP request's path to stdout (`request /path`)
//!   --say-bind-time        once listening, print when (`bound at MICROSECONDS_SINCE_EPOCH`)
//!   --daemonize PIDFILE    start a copy of itself in a new session, write its pid to
//!                          PIDFILE, and exit 0 (as `nginx` or `memcached -d` do)
//!   --sleep                (internal) be a grandchild: sleep forever

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

fn flag(args: &[String], name: &str) -> bool {
    args.iter().any(|a| a == name)
}

fn value(args: &[String], name: &str) -> Option<u64> {
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1)?.parse().ok()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if flag(&args, "--ignore-term") {
        // A handler that only sets a flag: SIGTERM no longer ends the process.
        signal_hook::flag::register(
            signal_hook::consts::SIGTERM,
            Arc::new(AtomicBool::new(false)),
        )
        .unwrap();
    }
    if flag(&args, "--sleep") {
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    if let Some(i) = args.iter().position(|a| a == "--daemonize") {
        let pidfile = args.get(i + 1).expect("--daemonize PIDFILE").clone();
        let mut rest = args.clone();
        rest.drain(i..i + 2);
        let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
        cmd.args(&rest).stdin(std::process::Stdio::null());
        use std::os::unix::process::CommandExt;
        // SAFETY: setsid is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                rustix::process::setsid()?;
                Ok(())
            });
        }
        #[allow(clippy::zombie_processes)]
        let daemon = cmd.spawn().unwrap();
        std::fs::write(&pidfile, daemon.id().to_string()).unwrap();
        println!("daemonized as {}", daemon.id());
        std::process::exit(0);
    }
    println!("test-service {} starting", std::process::id());
    for _ in 0..value(&args, "--grandchildren").unwrap_or(0) {
        let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
        cmd.arg("--sleep");
        if flag(&args, "--ignore-term") {
            cmd.arg("--ignore-term");
        }
        if flag(&args, "--escape") {
            use std::os::unix::process::CommandExt;
            // SAFETY: setsid is async-signal-safe.
            unsafe {
                cmd.pre_exec(|| {
                    rustix::process::setsid()?;
                    Ok(())
                });
            }
        }
        // Never waited for on purpose: leftover grandchildren are what the tests need.
        #[allow(clippy::zombie_processes)]
        let child = cmd.spawn().unwrap();
        println!("grandchild {}", child.id());
    }
    if let Some(n) = value(&args, "--flood") {
        let stdout = std::io::stdout();
        match value(&args, "--line-bytes") {
            None => {
                let mut out = stdout.lock();
                for i in 1..=n {
                    writeln!(out, "line {i:06}").unwrap();
                }
                out.flush().unwrap();
            }
            Some(bytes) => {
                // Written in large chunks: the benchmark measures the reader, not this.
                let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
                let pad = "x".repeat((bytes as usize).saturating_sub(17));
                for i in 1..=n {
                    writeln!(out, "line {i:010} {pad}").unwrap();
                }
                out.flush().unwrap();
            }
        }
    }
    if let Some(ms) = value(&args, "--exit-after") {
        let code = value(&args, "--code").unwrap_or(0) as i32;
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(ms));
            eprintln!("exiting with code {code}");
            std::process::exit(code);
        });
    }
    if let Some(ms) = value(&args, "--slow-start") {
        std::thread::sleep(Duration::from_millis(ms));
    }
    let notify = || {
        if flag(&args, "--notify") {
            notify_ready();
        }
    };
    if flag(&args, "--no-listen") {
        notify();
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    let port = std::env::var("PORT").expect("PORT is set");
    let listener = TcpListener::bind(format!("127.0.0.1:{port}")).expect("bind");
    if flag(&args, "--say-bind-time") {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        println!("bound at {}", now.as_micros());
    }
    println!("listening on {port}");
    notify();
    let log_requests = flag(&args, "--log-requests");
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || {
            let mut request = String::new();
            let mut reader = BufReader::new(&stream);
            if reader.read_line(&mut request).is_err() {
                return;
            }
            if log_requests {
                let path = request.split(' ').nth(1).unwrap_or("");
                // Never `println!`: a service must survive its output going nowhere.
                let _ = writeln!(std::io::stdout(), "request {path}");
            }
            let status = if request.starts_with("GET /health ") {
                "200 OK"
            } else {
                "404 Not Found"
            };
            let _ = write!(
                &stream,
                "HTTP/1.1 {status}\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"
            );
        });
    }
}

/// sd_notify: `READY=1` to the datagram socket named by `NOTIFY_SOCKET` (`@` = abstract).
fn notify_ready() {
    use std::os::linux::net::SocketAddrExt;
    let Ok(target) = std::env::var("NOTIFY_SOCKET") else {
        eprintln!("no NOTIFY_SOCKET");
        return;
    };
    let address = match target.strip_prefix('@') {
        Some(name) => std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()),
        None => std::os::unix::net::SocketAddr::from_pathname(&target),
    }
    .unwrap();
    let socket = std::os::unix::net::UnixDatagram::unbound().unwrap();
    socket
        .send_to_addr(b"READY=1\nSTATUS=serving\n", &address)
        .unwrap();
}
