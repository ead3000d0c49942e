//! One plain HTTP/1.1 GET per connection (`Connection: close`, the body read to its end), over
//! a Unix socket or TCP on 127.0.0.1, timed from before the connect to the last byte: what a
//! scraper or `curl` pays, with no parsing of the answer on the client's side.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(10);

/// The status code and the body's size (as sent: chunk framing included).
pub struct Answer {
    pub status: u16,
    pub body_bytes: usize,
    pub body: Vec<u8>,
    pub took: Duration,
}

fn exchange(mut stream: impl Read + Write, host: &str, path: &str, start: Instant) -> Answer {
    // One write: `write!` on a socket sends each piece of the format on its own.
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: */*\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .expect("the request is sent");
    let mut raw = Vec::with_capacity(256 * 1024);
    stream.read_to_end(&mut raw).expect("the answer is read");
    let took = start.elapsed();
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(raw.len(), |i| i + 4);
    let status = std::str::from_utf8(&raw[..head_end.min(raw.len())])
        .ok()
        .and_then(|h| h.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = raw[head_end..].to_vec();
    Answer {
        status,
        body_bytes: body.len(),
        body,
        took,
    }
}

pub fn unix(socket: &Path, path: &str) -> Answer {
    let start = Instant::now();
    let stream = UnixStream::connect(socket).expect("the daemon's socket accepts");
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    exchange(stream, "localhost", path, start)
}

pub fn tcp(port: u16, path: &str) -> Answer {
    let start = Instant::now();
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("the port accepts");
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.set_nodelay(true).unwrap();
    exchange(stream, &format!("127.0.0.1:{port}"), path, start)
}
