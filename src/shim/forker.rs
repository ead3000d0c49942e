//! The forker (`berth shim --forker`, hidden): one per daemon, started by it with one end of a
//! socket pair as stdin. For each spec the daemon sends it forks a shim, without an exec: a
//! fork of this small single-threaded process costs a tenth of starting the berth binary
//! again, and starting a stack is mostly starting shims. The daemon itself cannot fork its
//! shims: it is multi-threaded, and a forked child may find a lock held by a thread that did
//! not come along. The forked shims show as `berth shim --forker` (what rediscovery looks for
//! is `berth shim`); the forker never reaps them (SIGCHLD is ignored), so none lingers as a
//! zombie; it exits when the daemon closes its end.
//!
//! The wire: a request is a 4-byte little-endian length and that many bytes of JSON spec; a
//! reply is [`REPLY_LEN`] bytes: the shim's pid and start time, or the errno of a failed
//! fork. A forked shim waits at a gate (a pipe) until the forker has read its start time and
//! answered: until then it cannot end and vanish, and if the answer cannot be given, it is
//! told to exit without starting anything, so no service runs that the daemon does not know.

use crate::process::ProcessId;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

/// A spec is a few KiB; anything near this is not one.
const MAX_REQUEST: usize = 16 << 20;

/// A reply: a tag byte, then a 4-byte pid (or errno) and an 8-byte start time.
pub const REPLY_LEN: usize = 13;

/// What the forker answers to one request.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    /// A shim runs the spec: this process.
    Forked(ProcessId),
    /// The fork failed with this errno.
    Failed(i32),
}

impl Reply {
    pub fn encode(&self) -> [u8; REPLY_LEN] {
        let (tag, number, start_time) = match self {
            Reply::Forked(id) => (0, id.pid, id.start_time),
            Reply::Failed(errno) => (1, *errno as u32, 0),
        };
        let mut out = [0u8; REPLY_LEN];
        out[0] = tag;
        out[1..5].copy_from_slice(&number.to_le_bytes());
        out[5..].copy_from_slice(&start_time.to_le_bytes());
        out
    }

    pub fn decode(bytes: &[u8; REPLY_LEN]) -> io::Result<Reply> {
        let number = u32::from_le_bytes(bytes[1..5].try_into().expect("4 bytes"));
        let start_time = u64::from_le_bytes(bytes[5..].try_into().expect("8 bytes"));
        match bytes[0] {
            0 => Ok(Reply::Forked(ProcessId {
                pid: number,
                start_time,
            })),
            1 => Ok(Reply::Failed(number as i32)),
            tag => Err(io::Error::other(format!("the forker answered tag {tag}"))),
        }
    }
}

/// Writes one request: the spec's length, then the spec.
pub fn write_request(to: &mut impl Write, spec: &[u8]) -> io::Result<()> {
    let len = u32::try_from(spec.len())
        .ok()
        .filter(|&n| n as usize <= MAX_REQUEST)
        .ok_or_else(|| io::Error::other("the spec is too large"))?;
    let mut frame = Vec::with_capacity(4 + spec.len());
    frame.extend_from_slice(&len.to_le_bytes());
    frame.extend_from_slice(spec);
    to.write_all(&frame)
}

/// Reads one request into `into`; `false` at a clean end of input (the daemon is gone).
pub fn read_request(from: &mut impl Read, into: &mut Vec<u8>) -> io::Result<bool> {
    let mut len = [0u8; 4];
    match from.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
        Err(e) => return Err(e),
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_REQUEST {
        return Err(io::Error::other(format!("a request of {len} bytes")));
    }
    into.clear();
    into.resize(len, 0);
    from.read_exact(into)?;
    Ok(true)
}

/// Serves the daemon on stdin until it closes it. `keep` runs in each forked shim with the
/// spec's bytes and returns its exit code.
pub fn serve(keep: impl Fn(&[u8]) -> i32) -> io::Result<()> {
    // A session of its own is a scheduling group of its own where autogroups are on: while
    // the services it forked start, the forker gets a share like each of theirs instead of
    // splitting one with the daemon's threads.
    let _ = rustix::process::setsid();
    // The connection moves off stdin, and stdin becomes /dev/null, so no shim holds it.
    let connection = rustix::io::fcntl_dupfd_cloexec(rustix::stdio::stdin(), 3)?;
    let null = rustix::fs::open(
        "/dev/null",
        rustix::fs::OFlags::RDONLY,
        rustix::fs::Mode::empty(),
    )?;
    rustix::stdio::dup2_stdin(&null)?;
    drop(null);
    let mut connection = UnixStream::from(connection);
    // SAFETY: setting a disposition; this process has one thread and no SIGCHLD handler.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) };
    // Done once here, inherited by every shim forked after: the CPU feature detection that
    // `memchr` (the log writer's line splitter) runs on its first call. On a virtual machine
    // it traps to the hypervisor, and each shim repeating it was 5 % of what a shim cost.
    std::hint::black_box(memchr::memchr(b'\n', std::hint::black_box(b"berth\n")));
    let mut request = Vec::new();
    while read_request(&mut connection, &mut request)? {
        let (gate, open_gate) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
        // SAFETY: this process has a single thread, so the child's copy of every lock is free.
        match unsafe { libc::fork() } {
            0 => {
                drop(open_gate);
                let code = forked(connection.as_raw_fd(), gate, &request, &keep);
                std::process::exit(code);
            }
            -1 => {
                let errno = io::Error::last_os_error().raw_os_error().unwrap_or(0);
                connection.write_all(&Reply::Failed(errno).encode())?;
            }
            pid => {
                drop(gate);
                let reply = match ProcessId::of(pid as u32) {
                    Ok(id) => Reply::Forked(id),
                    Err(e) => Reply::Failed(e.raw_os_error().unwrap_or(0)),
                };
                let answered = connection.write_all(&reply.encode());
                if answered.is_ok() && matches!(reply, Reply::Forked(_)) {
                    let _ = rustix::io::write(&open_gate, b"g");
                }
                // Closed without a word: the shim exits.
                drop(open_gate);
                answered?;
            }
        }
    }
    Ok(())
}

/// The forked shim: it lets go of the daemon's connection and the forker's signal
/// disposition, waits until the forker has answered for it, and keeps the service.
fn forked(connection: i32, gate: OwnedFd, spec: &[u8], keep: &impl Fn(&[u8]) -> i32) -> i32 {
    // SAFETY: the connection is this process's copy, closed here and never used.
    drop(unsafe { OwnedFd::from_raw_fd(connection) });
    // SAFETY: restoring the default; the keeper installs its own handler later.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
    let mut word = [0u8; 1];
    loop {
        match rustix::io::read(&gate, &mut word) {
            Ok(1) => return keep(spec),
            Err(rustix::io::Errno::INTR) => continue,
            // The daemon was not told of this shim: it must not start a service.
            _ => return 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_survive_the_wire() {
        for reply in [
            Reply::Forked(ProcessId {
                pid: 4_194_303,
                start_time: u64::MAX - 1,
            }),
            Reply::Failed(11),
        ] {
            assert_eq!(Reply::decode(&reply.encode()).unwrap(), reply);
        }
        let mut bad = Reply::Failed(1).encode();
        bad[0] = 7;
        assert!(Reply::decode(&bad).is_err());
    }

    #[test]
    fn requests_are_framed_and_a_closed_connection_ends_them() {
        let mut wire = Vec::new();
        write_request(&mut wire, b"{\"a\":1}").unwrap();
        write_request(&mut wire, b"").unwrap();
        let mut from = wire.as_slice();
        let mut got = Vec::new();
        assert!(read_request(&mut from, &mut got).unwrap());
        assert_eq!(got, b"{\"a\":1}");
        assert!(read_request(&mut from, &mut got).unwrap());
        assert!(got.is_empty());
        assert!(!read_request(&mut from, &mut got).unwrap());
    }

    #[test]
    fn a_truncated_or_absurd_request_is_an_error() {
        let mut wire = Vec::new();
        write_request(&mut wire, b"0123456789").unwrap();
        let mut got = Vec::new();
        assert!(read_request(&mut &wire[..8], &mut got).is_err());
        let absurd = (MAX_REQUEST as u32 + 1).to_le_bytes();
        assert!(read_request(&mut &absurd[..], &mut got).is_err());
    }
}
