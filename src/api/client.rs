//! The CLI's side of the control API: one HTTP/1.1 request per connection over the Unix
//! socket, synchronous, no runtime to start (the CLI is expected to answer in milliseconds).
//! `open` reads an answer that stays open (`follow=1`'s NDJSON, `/v1/stream`'s Server-Sent
//! Events) as it comes, line by line or event by event.

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
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
    let body = match body {
        Some(b) => serde_json::to_vec(b).map_err(|e| ClientError::Protocol(e.to_string()))?,
        None => Vec::new(),
    };
    let answer = call_raw(socket, method, path, &body, timeout)?;
    serde_json::from_slice(&answer).map_err(|e| ClientError::Protocol(e.to_string()))
}

/// Sends `method path` with `body` (JSON, or empty); the answer's body as it came, for a
/// caller that passes it on without decoding it again.
pub fn call_raw(
    socket: &Path,
    method: &str,
    path: &str,
    body: &[u8],
    timeout: Duration,
) -> Result<Vec<u8>, ClientError> {
    send_request(socket, method, path, body, timeout)?.answer()
}

/// A request written to the daemon whose answer is not read yet: the daemon works on it
/// while the caller does something else (`status` reads the config meanwhile), with no
/// thread to wait on.
pub struct Sent {
    stream: UnixStream,
    socket: PathBuf,
}

/// Sends `method path` with `body`; [`Sent::answer`] reads what comes back.
pub fn send_request(
    socket: &Path,
    method: &str,
    path: &str,
    body: &[u8],
    timeout: Duration,
) -> Result<Sent, ClientError> {
    let mut stream = connect(socket)?;
    let sent = stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .and_then(|()| send(&mut stream, method, path, body))
        .map_err(ClientError::from);
    match sent {
        Err(e) if dropped(&e) && gone(socket) => Err(ClientError::NotRunning),
        Err(e) => Err(e),
        Ok(()) => Ok(Sent {
            stream,
            socket: socket.to_path_buf(),
        }),
    }
}

impl Sent {
    /// The answer's body; a refusal as [`ClientError::Status`].
    pub fn answer(self) -> Result<Vec<u8>, ClientError> {
        match receive(&self.stream) {
            Err(e) if dropped(&e) && gone(&self.socket) => Err(ClientError::NotRunning),
            other => other,
        }
    }
}

/// A connection to the daemon; none listening is `NotRunning`.
fn connect(socket: &Path) -> Result<UnixStream, ClientError> {
    match UnixStream::connect(socket) {
        Ok(s) => Ok(s),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
            ) =>
        {
            Err(ClientError::NotRunning)
        }
        Err(e) => Err(e.into()),
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

/// One request and its answer's body on `stream`.
fn receive(stream: &UnixStream) -> Result<Vec<u8>, ClientError> {
    let mut reader = BufReader::new(stream);
    let head = read_head(&mut reader)?;
    // Sized once when the length is known: a status of 200 services is some 40 KB, and
    // growing to it by doubling touches twice the pages.
    let mut body = Vec::with_capacity(head.length.unwrap_or(0));
    Body::new(reader, &head).read_to_end(&mut body)?;
    if !(200..300).contains(&head.status) {
        return Err(refusal(head.status, &body));
    }
    Ok(body)
}

fn send(stream: &mut UnixStream, method: &str, path: &str, body: &[u8]) -> io::Result<()> {
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: berth\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)
}

/// What the status line and headers of an answer say about it.
struct Head {
    status: u16,
    length: Option<usize>,
    chunked: bool,
}

fn read_head(reader: &mut impl BufRead) -> Result<Head, ClientError> {
    let mut status_line = String::new();
    reader.read_line(&mut status_line)?;
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ClientError::Protocol(status_line.trim().to_string()))?;
    let mut head = Head {
        status,
        length: None,
        chunked: false,
    };
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            return Ok(head);
        }
        if let Some((name, value)) = line.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => head.length = value.trim().parse::<usize>().ok(),
                "transfer-encoding" => {
                    head.chunked = value.to_ascii_lowercase().contains("chunked")
                }
                _ => {}
            }
        }
    }
}

/// A refused request: the daemon's `{"error"}`, or the body as it is.
fn refusal(status: u16, body: &[u8]) -> ClientError {
    let message = serde_json::from_slice::<super::types::ErrorBody>(body)
        .map(|b| b.error)
        .unwrap_or_else(|_| String::from_utf8_lossy(body).into_owned());
    ClientError::Status { status, message }
}

/// An answer's body as it comes off the connection: chunked, of a known length, or up to the
/// end of the connection. Reading it gives the bytes of the body alone.
struct Body<R> {
    reader: R,
    framing: Framing,
}

enum Framing {
    /// What is left of the current chunk; `None` before a chunk's size line is read.
    Chunked {
        left: Option<usize>,
    },
    Length {
        left: usize,
    },
    UntilClose,
    Done,
}

impl<R: BufRead> Body<R> {
    fn new(reader: R, head: &Head) -> Body<R> {
        let framing = match (head.chunked, head.length) {
            (true, _) => Framing::Chunked { left: None },
            (false, Some(left)) => Framing::Length { left },
            (false, None) => Framing::UntilClose,
        };
        Body { reader, framing }
    }
}

impl<R: BufRead> Read for Body<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match &mut self.framing {
                Framing::Done => return Ok(0),
                Framing::UntilClose => return self.reader.read(buf),
                Framing::Length { left } => {
                    let want = buf.len().min(*left);
                    if want == 0 {
                        self.framing = Framing::Done;
                        continue;
                    }
                    let n = self.reader.read(&mut buf[..want])?;
                    if n == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                    *left -= n;
                    return Ok(n);
                }
                Framing::Chunked { left: None } => {
                    let mut size = String::new();
                    if self.reader.read_line(&mut size)? == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                    let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16)
                        .map_err(|_| {
                            io::Error::new(io::ErrorKind::InvalidData, "bad chunk size")
                        })?;
                    if n == 0 {
                        // The last chunk, then the CRLF that ends the (empty) trailer.
                        let mut end = String::new();
                        self.reader.read_line(&mut end)?;
                        self.framing = Framing::Done;
                    } else {
                        self.framing = Framing::Chunked { left: Some(n) };
                    }
                }
                Framing::Chunked { left: Some(left) } => {
                    let want = buf.len().min(*left);
                    let n = self.reader.read(&mut buf[..want])?;
                    if n == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                    *left -= n;
                    if *left == 0 {
                        let mut crlf = [0; 2];
                        self.reader.read_exact(&mut crlf)?;
                        self.framing = Framing::Chunked { left: None };
                    }
                    return Ok(n);
                }
            }
        }
    }
}

/// An answer that stays open (`follow=1`, `/v1/stream`), read as it comes: line by line
/// (NDJSON) or event by event (Server-Sent Events).
pub struct Streaming {
    body: BufReader<Body<BufReader<UnixStream>>>,
    /// The same connection, for `Closer`.
    socket: UnixStream,
}

/// Ends a `Streaming` answer from another thread: its blocked read returns at once.
pub struct Closer(UnixStream);

impl Closer {
    pub fn close(&self) {
        let _ = self.0.shutdown(std::net::Shutdown::Both);
    }
}

/// One Server-Sent Event: its `event:` name (`message` when it has none) and its `data:`
/// lines joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub name: String,
    pub data: String,
}

/// `GET path` whose answer is read as it comes. Each read may wait up to `idle` (`None`:
/// for ever) before it fails with a timeout.
pub fn open(socket: &Path, path: &str, idle: Option<Duration>) -> Result<Streaming, ClientError> {
    let mut stream = connect(socket)?;
    // The head comes at once (the daemon answers before it streams); then reads wait `idle`.
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    send(&mut stream, "GET", path, &[])?;
    let socket = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let head = read_head(&mut reader)?;
    let mut body = Body::new(reader, &head);
    if !(200..300).contains(&head.status) {
        let mut text = Vec::new();
        body.read_to_end(&mut text)?;
        return Err(refusal(head.status, &text));
    }
    socket.set_read_timeout(idle)?;
    Ok(Streaming {
        body: BufReader::new(body),
        socket,
    })
}

impl Streaming {
    /// A handle that ends this answer from elsewhere.
    pub fn closer(&self) -> io::Result<Closer> {
        Ok(Closer(self.socket.try_clone()?))
    }

    /// The next line of the body, without its newline; `None` once the body has ended.
    pub fn line(&mut self) -> io::Result<Option<String>> {
        let mut line = String::new();
        if self.body.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        if line.ends_with('\n') {
            line.pop();
            if line.ends_with('\r') {
                line.pop();
            }
        }
        Ok(Some(line))
    }

    /// The next event of a Server-Sent Events body (comments and `retry:` are passed over);
    /// `None` once the body has ended.
    pub fn event(&mut self) -> io::Result<Option<Event>> {
        let mut event = Event {
            name: String::new(),
            data: String::new(),
        };
        let mut has_data = false;
        while let Some(line) = self.line()? {
            if line.is_empty() {
                if has_data {
                    if event.name.is_empty() {
                        event.name = "message".into();
                    }
                    return Ok(Some(event));
                }
                event.name.clear();
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((&line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => event.name = value.to_string(),
                "data" => {
                    if has_data {
                        event.data.push('\n');
                    }
                    event.data.push_str(value);
                    has_data = true;
                }
                _ => {} // a comment (`: keepalive`), `retry:`, `id:`
            }
        }
        Ok(None)
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

    /// A server on a fresh socket that answers one request with `answer`, written in pieces
    /// of `piece` bytes (so chunks and lines are split across reads), then closes.
    fn answering(answer: &'static str, piece: usize) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("berth.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut head = Vec::new();
            let mut byte = [0];
            while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap() == 1 {
                head.push(byte[0]);
            }
            for part in answer.as_bytes().chunks(piece) {
                conn.write_all(part).unwrap();
                conn.flush().unwrap();
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        (dir, socket)
    }

    #[test]
    fn a_chunked_stream_reads_event_by_event() {
        let body = "retry: 2000\n\nevent: status\ndata: {\"a\":1}\n\n: keepalive\n\nevent: event\ndata: x\ndata: y\n\n";
        let chunked: String = body
            .as_bytes()
            .chunks(7)
            .map(|c| format!("{:x}\r\n{}\r\n", c.len(), std::str::from_utf8(c).unwrap()))
            .collect();
        let answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n{chunked}0\r\n\r\n"
        );
        let (_dir, socket) = answering(answer.leak(), 5);
        let mut stream = open(&socket, "/v1/stream", Some(Duration::from_secs(5))).unwrap();
        let event = |name: &str, data: &str| Event {
            name: name.into(),
            data: data.into(),
        };
        assert_eq!(stream.event().unwrap(), Some(event("status", "{\"a\":1}")));
        assert_eq!(stream.event().unwrap(), Some(event("event", "x\ny")));
        assert_eq!(stream.event().unwrap(), None, "the last chunk ends it");
    }

    #[test]
    fn ndjson_reads_line_by_line_and_a_refusal_is_its_message() {
        let (_dir, socket) =
            answering("HTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\n{\"a\":1}\n", 3);
        let mut lines = open(&socket, "/v1/logs/api", None).unwrap();
        assert_eq!(lines.line().unwrap().as_deref(), Some("{\"a\":1}"));
        assert_eq!(lines.line().unwrap(), None);
        let (_dir, socket) = answering(
            "HTTP/1.1 404 Not Found\r\ncontent-length: 19\r\n\r\n{\"error\":\"no such\"}",
            4,
        );
        match open(&socket, "/v1/logs/x", None) {
            Err(ClientError::Status { status, message }) => {
                assert_eq!((status, message.as_str()), (404, "no such"))
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
        let gone = tempfile::tempdir().unwrap();
        assert!(matches!(
            open(&gone.path().join("berth.sock"), "/v1/stream", None),
            Err(ClientError::NotRunning)
        ));
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
