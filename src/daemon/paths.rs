//! Where a daemon's files are: its lock, its socket and its log, all derived from the state
//! dir. A socket path longer than the OS allows (108 bytes on Linux) moves to
//! `$XDG_RUNTIME_DIR` (or `/tmp`) under a name derived from the state dir, so every client
//! finds it by the same rule.

use std::path::{Path, PathBuf};

/// `sun_path` holds 108 bytes including the terminating NUL.
const SOCKET_PATH_MAX: usize = 107;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    pub state_dir: PathBuf,
    pub socket: PathBuf,
    pub lock: PathBuf,
    pub log: PathBuf,
}

impl Paths {
    pub fn new(state_dir: &Path) -> Paths {
        Paths {
            state_dir: state_dir.to_path_buf(),
            socket: socket_path(
                state_dir,
                std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from),
            ),
            lock: state_dir.join("daemon.lock"),
            log: state_dir.join("daemon.log"),
        }
    }
}

fn socket_path(state_dir: &Path, runtime_dir: Option<PathBuf>) -> PathBuf {
    let beside = state_dir.join("berth.sock");
    if beside.as_os_str().len() <= SOCKET_PATH_MAX {
        return beside;
    }
    let dir = runtime_dir
        .filter(|d| d.is_absolute())
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    dir.join(format!(
        "berth-{:016x}.sock",
        fnv1a(state_dir.as_os_str().as_encoded_bytes())
    ))
}

/// A stable hash (the same in every berth process and version), unlike std's randomized one.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_paths_stay_beside_the_state_long_ones_move() {
        let short = Path::new("/home/a/shop/.berth");
        assert_eq!(socket_path(short, None), short.join("berth.sock"));
        let long = PathBuf::from(format!("/home/a/{}/.berth", "x".repeat(120)));
        let moved = socket_path(&long, Some("/run/user/1000".into()));
        assert!(moved.starts_with("/run/user/1000"));
        assert!(moved.as_os_str().len() <= SOCKET_PATH_MAX);
        assert_eq!(
            moved,
            socket_path(&long, Some("/run/user/1000".into())),
            "stable"
        );
        assert!(socket_path(&long, None).starts_with("/tmp"));
        assert_ne!(
            socket_path(&long, None),
            socket_path(&long.join("other"), None)
        );
    }
}
