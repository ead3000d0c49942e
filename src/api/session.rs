//! The dashboard's way in: one-time login codes (`berth dashboard` prints one in its address)
//! exchanged for a session, which the browser keeps in an HttpOnly, SameSite=Strict cookie.
//!
//! A code works once and for [`LOGIN_VALID`]; a session for [`SESSION_VALID`] from its login.
//! Sessions are kept in `.berth/sessions` (mode 0600), so a page left open goes on working
//! when a killed daemon is replaced by a new one. The API token itself never appears in an
//! address: codes and sessions are random values of their own, compared in constant time.

use super::auth::{hex, random_bytes, token_matches};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a printed login address works.
pub const LOGIN_VALID: Duration = Duration::from_secs(15 * 60);
/// How long a browser stays logged in.
pub const SESSION_VALID: Duration = Duration::from_secs(7 * 24 * 3600);
/// Sessions kept at most: the oldest goes first (each `berth dashboard` opened in a browser
/// makes one).
const MAX_SESSIONS: usize = 32;
/// The file under the state dir.
pub const SESSIONS_FILE: &str = "sessions";

/// A secret with the time it stops working.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Secret {
    value: String,
    until: u64,
}

impl Secret {
    fn new(valid: Duration, now: u64) -> io::Result<Secret> {
        Ok(Secret {
            value: hex(&random_bytes::<16>()?),
            until: now + valid.as_secs(),
        })
    }
}

/// Logins waiting to be used and sessions given, shared by every TCP listener of a daemon.
pub struct Sessions {
    file: PathBuf,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    logins: Vec<Secret>,
    sessions: Vec<Secret>,
}

impl Sessions {
    /// The sessions of `state_dir`'s file that still work; an unreadable file counts as none
    /// (its browsers log in again).
    pub fn load(state_dir: &Path) -> Sessions {
        let file = state_dir.join(SESSIONS_FILE);
        let now = unix_now();
        let sessions = std::fs::read_to_string(&file)
            .map(|text| parse(&text, now))
            .unwrap_or_default();
        Sessions {
            file,
            inner: Mutex::new(Inner {
                logins: Vec::new(),
                sessions,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new one-time login code.
    pub fn new_login(&self) -> io::Result<String> {
        let now = unix_now();
        let login = Secret::new(LOGIN_VALID, now)?;
        let mut inner = self.lock();
        inner.logins.retain(|l| l.until > now);
        inner.logins.push(login.clone());
        Ok(login.value)
    }

    /// Uses up the login `code`: a new session's id, or `None` when the code is unknown, used
    /// or expired. The session is written to the file before it is given out; a file that
    /// cannot be written makes a session for this daemon's life only.
    pub fn log_in(&self, code: &str) -> Option<String> {
        let now = unix_now();
        let mut inner = self.lock();
        inner.logins.retain(|l| l.until > now);
        let at = take_matching(&inner.logins, code)?;
        inner.logins.remove(at);
        let session = Secret::new(SESSION_VALID, now).ok()?;
        inner.sessions.retain(|s| s.until > now);
        inner.sessions.push(session.clone());
        let excess = inner.sessions.len().saturating_sub(MAX_SESSIONS);
        inner.sessions.drain(..excess);
        if let Err(e) = save(&self.file, &inner.sessions) {
            crate::daemon::log(format_args!(
                "cannot keep the dashboard's sessions in {}: {e}; they last until the daemon stops",
                self.file.display()
            ));
        }
        Some(session.value)
    }

    /// Whether `id` is a session that still works.
    pub fn valid(&self, id: &str) -> bool {
        let now = unix_now();
        let inner = self.lock();
        take_matching(&inner.sessions, id).is_some_and(|at| inner.sessions[at].until > now)
    }
}

/// The index of the secret that is `given`. Every secret is compared, in constant time each,
/// so the time taken says nothing of which came close.
fn take_matching(secrets: &[Secret], given: &str) -> Option<usize> {
    let mut found = None;
    for (at, secret) in secrets.iter().enumerate() {
        if token_matches(&secret.value, given) {
            found = Some(at);
        }
    }
    found
}

/// `VALUE UNTIL` a line; lines that do not read so, and expired sessions, are left out.
fn parse(text: &str, now: u64) -> Vec<Secret> {
    text.lines()
        .filter_map(|line| {
            let (value, until) = line.split_once(' ')?;
            let until: u64 = until.trim().parse().ok()?;
            let ok = value.len() == 32 && value.bytes().all(|b| b.is_ascii_hexdigit());
            (ok && until > now).then(|| Secret {
                value: value.to_string(),
                until,
            })
        })
        .collect()
}

/// Writes the sessions at a temporary name (0600) and renames it into place.
fn save(file: &Path, sessions: &[Secret]) -> io::Result<()> {
    let tmp = file.with_file_name(format!(".{SESSIONS_FILE}.{}.tmp", std::process::id()));
    let text: String = sessions
        .iter()
        .map(|s| format!("{} {}\n", s.value, s.until))
        .collect();
    let written = (|| {
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)?;
        out.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        out.write_all(text.as_bytes())?;
        out.sync_all()?;
        std::fs::rename(&tmp, file)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The session cookie's name for the listener on `port`. Browsers keep cookies by host, not
/// by port: two projects' dashboards on 127.0.0.1 must not take each other's.
pub fn cookie_name(port: u16) -> String {
    format!("berth_session_{port}")
}

/// The `Set-Cookie` value that starts a session.
pub fn set_cookie(port: u16, session: &str) -> String {
    format!(
        "{}={session}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        cookie_name(port),
        SESSION_VALID.as_secs()
    )
}

/// The value of cookie `name` in a `Cookie` header (`a=1; b=2`).
pub fn cookie<'h>(header: &'h str, name: &str) -> Option<&'h str> {
    header.split(';').find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        (key == name).then_some(value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions() -> (tempfile::TempDir, Sessions) {
        let dir = tempfile::tempdir().unwrap();
        let sessions = Sessions::load(dir.path());
        (dir, sessions)
    }

    #[test]
    fn a_login_code_works_once() {
        let (_dir, sessions) = sessions();
        let code = sessions.new_login().unwrap();
        let session = sessions.log_in(&code).expect("a fresh code logs in");
        assert!(sessions.valid(&session));
        assert_eq!(sessions.log_in(&code), None, "a used code is refused");
        assert!(!sessions.valid(&code), "a code is not a session");
    }

    #[test]
    fn unknown_codes_and_sessions_are_refused() {
        let (_dir, sessions) = sessions();
        let code = sessions.new_login().unwrap();
        assert_eq!(sessions.log_in(""), None);
        assert_eq!(sessions.log_in(&code[..31]), None);
        assert_eq!(sessions.log_in(&format!("{code}0")), None);
        assert!(!sessions.valid(""));
        assert!(!sessions.valid("0123456789abcdef0123456789abcdef"));
        // The code was not used up by the wrong tries.
        assert!(sessions.log_in(&code).is_some());
    }

    #[test]
    fn sessions_outlive_the_daemon_in_a_private_file() {
        let (dir, sessions) = sessions();
        let session = sessions.log_in(&sessions.new_login().unwrap()).unwrap();
        let file = dir.path().join(SESSIONS_FILE);
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = Sessions::load(dir.path());
        assert!(again.valid(&session));
    }

    #[test]
    fn expired_and_garbled_lines_are_dropped() {
        let now = 1_000_000;
        let good = "0123456789abcdef0123456789abcdef";
        let text = format!(
            "{good} {}\n{good} {}\nnot a line\nzz23456789abcdef0123456789abcdef {}\n{good}\n",
            now + 10,
            now - 1,
            now + 10
        );
        let kept = parse(&text, now);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].until, now + 10);
    }

    #[test]
    fn only_the_newest_sessions_are_kept() {
        let (_dir, sessions) = sessions();
        let first = sessions.log_in(&sessions.new_login().unwrap()).unwrap();
        for _ in 0..MAX_SESSIONS {
            sessions.log_in(&sessions.new_login().unwrap()).unwrap();
        }
        assert!(!sessions.valid(&first));
    }

    #[test]
    fn cookies_are_read_by_name() {
        let header = "other=1; berth_session_9400=abc; berth_session_9401=def";
        assert_eq!(cookie(header, &cookie_name(9400)), Some("abc"));
        assert_eq!(cookie(header, &cookie_name(9401)), Some("def"));
        assert_eq!(cookie(header, &cookie_name(9402)), None);
        assert_eq!(cookie("berth_session_9400", &cookie_name(9400)), None);
        let set = set_cookie(9400, "abc");
        assert!(set.starts_with("berth_session_9400=abc;"));
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict"));
    }
}
