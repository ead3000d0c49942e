//! A webhook receiver on 127.0.0.1: every request (head and body read whole) is time-stamped
//! and handed over with its JSON body. It answers `200` at once, or, while hung, reads the
//! request and answers nothing (the connection is held until the receiver is told to answer
//! again, or a minute has passed, whichever is first: every wait is bounded).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

/// One request as received.
pub struct Hit {
    /// When its last byte was read.
    pub at: Instant,
    pub body: serde_json::Value,
}

impl Hit {
    pub fn text(&self, key: &str) -> &str {
        self.body[key].as_str().unwrap_or("")
    }
}

pub struct Receiver {
    pub port: u16,
    pub hits: mpsc::Receiver<Hit>,
    hang: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

/// The longest a hung connection is held (the daemon's try gives up after 5 s anyway).
const HOLD: Duration = Duration::from_secs(60);
/// An idle kept-alive connection is closed after this.
const IDLE: Duration = Duration::from_secs(30);

impl Receiver {
    pub fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, hits) = mpsc::channel();
        let hang = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (h, s) = (Arc::clone(&hang), Arc::clone(&stop));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let (tx, h, s) = (tx.clone(), Arc::clone(&h), Arc::clone(&s));
                // A thread per connection: a held one must not hold up the next.
                std::thread::spawn(move || serve(stream, &tx, &h, &s));
            }
        });
        Receiver {
            port,
            hits,
            hang,
            stop,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }

    /// Hung: read each request and answer nothing; not hung: answer `200` at once (and
    /// answer the requests being held now).
    pub fn set_hung(&self, hung: bool) {
        self.hang.store(hung, Ordering::SeqCst);
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.hang.store(false, Ordering::SeqCst);
        // Wakes the accepting thread, which then sees `stop`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Requests on one connection (ureq keeps connections alive) until it is closed, idle too
/// long, or the receiver stops.
fn serve(mut stream: TcpStream, tx: &mpsc::Sender<Hit>, hang: &AtomicBool, stop: &AtomicBool) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(IDLE));
    let mut data: Vec<u8> = Vec::new();
    let mut buf = [0u8; 8192];
    while !stop.load(Ordering::SeqCst) {
        let head_end = loop {
            if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => data.extend_from_slice(&buf[..n]),
            }
        };
        let head = String::from_utf8_lossy(&data[..head_end]).to_string();
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        while data.len() < head_end + length {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => data.extend_from_slice(&buf[..n]),
            }
        }
        let at = Instant::now();
        let body = serde_json::from_slice(&data[head_end..head_end + length])
            .unwrap_or(serde_json::Value::Null);
        data.drain(..head_end + length);
        let _ = tx.send(Hit { at, body });
        if hang.load(Ordering::SeqCst) {
            let held = Instant::now();
            while hang.load(Ordering::SeqCst) && held.elapsed() < HOLD {
                std::thread::sleep(Duration::from_millis(10));
            }
            if hang.load(Ordering::SeqCst) {
                return;
            }
        }
        let answer = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";
        if stream.write_all(answer).is_err() || stream.flush().is_err() {
            return;
        }
    }
}
