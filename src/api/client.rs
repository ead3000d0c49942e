//! The CLI's side of the control API: one HTTP/1.1 request per connection over the Unix
//! socket, synchronous, no runtime to start (the CLI is expected to answer in milliseconds).

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the daemon is not running")]
    NotRunning,
    #[error("talking to the daemon: {0}")]
    Io(#[from] io::Error),
    /// The daemon's own words say what went wrong; the status code adds nothing for a user.
    #[error("{message}")]
    Status { status: u16, message: String },
    #[error("unexpected answer from the daemon: {0}")]
    Protocol(String),
}

/// Sends `method path` with an optional JSON body; decodes the JSON answer.
pub fn call<B: Serialize, R: DeserializeOwned>(
    socket: &Path,
    method: &str,
    path: &str,
    body: Option<&B>,
    timeout: Duration,
) -> Result<R, ClientError> {
    let mut stream = match UnixStream::connect(socket) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Err(ClientError::NotRunning);
        }
        Err(e) => return Err(e.into()),
    };
    match exchange(&mut stream, method, path, body, timeout) {
        Err(e) if dropped(&e) && gone(socket) => Err(ClientError::NotRunning),
        other => other,
    }
}

/// Whether the connection ended before an answer came: what a daemon that is dying (killed
/// while a request arrived) does to its clients.
fn dropped(e: &ClientError) -> bool {
    match e {
        ClientError::Io(e) => matches!(
            e.kind(),
            io::ErrorKind::ConnectionReset
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::UnexpectedEof
        ),
        // Nothing at all where the status line should be.
        ClientError::Protocol(line) => line.is_empty(),
        _ => false,
    }
}

/// Whether no daemon serves `socket` any more, looking for up to 200 ms: a killed daemon's
/// socket stops answering once its last thread is gone. A daemon that still answers dropped
/// the request for some other reason, which the caller must see.
fn gone(socket: &Path) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_millis(200);
    loop {
        match UnixStream::connect(socket) {
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
                ) =>
            {
                return true;
            }
            _ => {}
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// One request and its answer on `stream`.
fn exchange<B: Serialize, R: DeserializeOwned>(
    stream: &mut UnixStream,
    method: &str,
    path: &str,
    body: Option<&B>,
    timeout: Duration,
) -> Result<R, ClientError> {
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let body = match body {
        Some(b) => serde_json::to_vec(b).map_err(|e| ClientError::Protocol(e.to_string()))?,
        None => Vec::new(),
    };
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: berth\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(&body)?;
    let mut reader = BufReader::new(&*stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line)?;
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ClientError::Protocol(status_line.trim().to_string()))?;
    let mut length = None;
    let mut chunked = false;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse::<usize>().ok(),
                "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
                _ => {}
            }
        }
    }
    let body = if chunked {
        read_chunked(&mut reader)?
    } else if let Some(n) = length {
        let mut buf = vec![0; n];
        reader.read_exact(&mut buf)?;
        buf
    } else {
        let mut buf = Vec::new();
        reader.read_to_end(&mut buf)?;
        buf
    };
    if !(200..300).contains(&status) {
        let message = serde_json::from_slice::<super::types::ErrorBody>(&body)
            .map(|b| b.error)
            .unwrap_or_else(|_| String::from_utf8_lossy(&body).into_owned());
        return Err(ClientError::Status { status, message });
    }
    serde_json::from_slice(&body).map_err(|e| ClientError::Protocol(e.to_string()))
}

fn read_chunked(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size)?;
        let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
        let mut chunk = vec![0; n + 2];
        reader.read_exact(&mut chunk)?;
        if n == 0 {
            return Ok(body);
        }
        body.extend_from_slice(&chunk[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    /// A server on a fresh socket that accepts and drops every connection unanswered, for
    /// `serve` (then it closes and removes its socket).
    fn dropping_server(serve: Duration) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("berth.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        listener.set_nonblocking(true).unwrap();
        let path = socket.clone();
        std::thread::spawn(move || {
            let until = std::time::Instant::now() + serve;
            while std::time::Instant::now() < until {
                if let Ok((conn, _)) = listener.accept() {
                    drop(conn);
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            drop(listener);
            let _ = std::fs::remove_file(path);
        });
        (dir, socket)
    }

    fn status(socket: &Path) -> Result<serde_json::Value, ClientError> {
        call::<(), _>(socket, "GET", "/v1/status", None, Duration::from_secs(5))
    }

    #[test]
    fn a_daemon_that_dies_during_a_request_is_not_running() {
        let (_dir, socket) = dropping_server(Duration::from_millis(50));
        assert!(matches!(status(&socket), Err(ClientError::NotRunning)));
    }

    #[test]
    fn a_daemon_that_drops_a_request_but_lives_on_is_an_error() {
        let (_dir, socket) = dropping_server(Duration::from_secs(2));
        let answer = status(&socket);
        assert!(
            matches!(answer, Err(ClientError::Io(_) | ClientError::Protocol(_))),
            "{answer:?}"
        );
    }
}
