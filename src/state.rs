//! Files in the state dir that must survive a crash of any process at any moment: written
//! whole to a temporary file, then put in the old one's place in one step, so a reader sees
//! the old content or the new, never a mix. They are not synced to disk: they describe
//! running processes, which do not outlive the machine, and a sync would cost every start a
//! disk flush.

pub mod run_file;

use std::io::{self, Write};
use std::path::Path;

/// Replaces `path` with `bytes` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = temporary_path(path, std::process::id());
    let result = (|| {
        std::fs::File::create(&tmp)?.write_all(bytes)?;
        put_in_place(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// How the temporary file of a write ends: `.NAME.PID.tmp`, PID the writer's.
const TEMPORARY: &str = ".tmp";

/// Where process `pid` writes `path`'s next content before putting it in place.
fn temporary_path(path: &Path, pid: u32) -> std::path::PathBuf {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("state");
    dir.join(format!(".{name}.{pid}{TEMPORARY}"))
}

/// The pid of the process that was writing `file_name`, when it is one of `write_atomic`'s
/// temporary files (`.NAME.PID.tmp`): a writer killed before putting it in place, or right
/// after a swap, leaves one behind.
pub fn temporary_writer(file_name: &str) -> Option<u32> {
    let rest = file_name.strip_prefix('.')?.strip_suffix(TEMPORARY)?;
    let (name, pid) = rest.rsplit_once('.')?;
    if name.is_empty() {
        return None;
    }
    pid.parse().ok()
}

/// Puts the file `tmp` at `path` in one step. An existing `path` is swapped with `tmp`
/// (`RENAME_EXCHANGE`) and the old content, now at `tmp`, removed: a plain rename over an
/// existing file makes ext4 write the new file's data out first (its guard for programs
/// that never sync), holding the directory's lock meanwhile: with twenty shims recording how
/// their services ended at once (`down`), they queued on it, and the blocks it allocated had
/// to be freed again when the next start removed the old record. Where there is nothing to
/// swap with, or the file system cannot swap, a rename does it.
fn put_in_place(tmp: &Path, path: &Path) -> io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    match renameat_with(CWD, tmp, CWD, path, RenameFlags::EXCHANGE) {
        Ok(()) => {
            // The new content is in place whatever happens to the old copy.
            let _ = std::fs::remove_file(tmp);
            Ok(())
        }
        Err(_) => std::fs::rename(tmp, path),
    }
}

/// Creates the state dir if need be, readable by its owner alone (0700): service logs often
/// hold secrets, and the history, the run files and the API token are nobody else's. An
/// existing one that others could read is tightened.
pub fn make_private(state_dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(state_dir)?;
    let mode = std::fs::metadata(state_dir)?.permissions().mode();
    if mode & 0o077 != 0 {
        std::fs::set_permissions(state_dir, std::fs::Permissions::from_mode(mode & 0o700))?;
    }
    Ok(())
}

/// Whether berth can record what it starts in `state_dir`: a run file's worth of bytes
/// written to `run/` and removed again. Checked before anything is started or stopped, so a
/// read-only or full state dir changes nothing.
pub fn check_writable(state_dir: &Path) -> Result<(), String> {
    let _ = make_private(state_dir);
    let run = state_dir.join("run");
    let probe = run.join(format!(".probe.{}", std::process::id()));
    let result = std::fs::create_dir_all(&run).and_then(|()| {
        // Without a sync: a full disk refuses the write itself (file systems reserve blocks
        // as data is written), and a sync would cost every `up` a disk flush.
        std::fs::File::create(&probe)?.write_all(&[b' '; 4096])
    });
    let _ = std::fs::remove_file(&probe);
    result.map_err(|e| {
        format!(
            "cannot write to the state dir {}: {e}; berth records every service it starts \
             there, so nothing was started or stopped. Free some space or make it writable, \
             or set BERTH_STATE_DIR to another directory",
            state_dir.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_dir_is_made_private_and_an_open_one_tightened() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("a/.berth");
        make_private(&state).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&state), 0o700);
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
        check_writable(&state).unwrap();
        assert_eq!(mode(&state), 0o700);
    }

    #[test]
    fn a_state_dir_that_cannot_be_written_is_named() {
        let dir = tempfile::tempdir().unwrap();
        check_writable(dir.path()).unwrap();
        assert_eq!(
            std::fs::read_dir(dir.path().join("run")).unwrap().count(),
            0
        );
        // A file where the directory should be: not writable as a directory, for any user.
        let blocked = dir.path().join("blocked");
        std::fs::write(&blocked, b"").unwrap();
        let message = check_writable(&blocked).unwrap_err();
        assert!(
            message.starts_with(&format!(
                "cannot write to the state dir {}",
                blocked.display()
            )),
            "{message}"
        );
    }

    #[test]
    fn replaces_content_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_temporary_file_names_its_writer() {
        assert_eq!(temporary_writer(".api.json.4242.tmp"), Some(4242));
        assert_eq!(temporary_writer(".a.b.json.7.tmp"), Some(7));
        for other in [
            "api.json",
            ".api.json",
            ".api.json.x.tmp",
            "..4242.tmp",
            "api.4.tmp",
        ] {
            assert_eq!(temporary_writer(other), None, "{other}");
        }
        // What write_atomic leaves while it writes is one.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.json");
        let tmp = temporary_path(&path, std::process::id());
        std::fs::write(&tmp, b"x").unwrap();
        assert_eq!(
            temporary_writer(tmp.file_name().unwrap().to_str().unwrap()),
            Some(std::process::id())
        );
        write_atomic(&path, b"y").unwrap();
        assert!(
            !tmp.exists(),
            "the write's own temporary file is the same name"
        );
    }

    #[test]
    fn a_reader_always_finds_the_old_content_or_the_new() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.json");
        let (one, two) = (vec![b'1'; 3000], vec![b'2'; 3000]);
        write_atomic(&path, &one).unwrap();
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                for i in 0..500 {
                    write_atomic(&path, if i % 2 == 0 { &two } else { &one }).unwrap();
                }
                done.store(true, std::sync::atomic::Ordering::Relaxed);
            });
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let seen = std::fs::read(&path).expect("never missing");
                assert!(seen == one || seen == two, "{} bytes, mixed", seen.len());
            }
        });
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_missing_directory_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        assert!(write_atomic(&dir.path().join("no/such/dir/run.json"), b"x").is_err());
    }
}
