//! Finding berth.yaml: `-f`/`BERTH_FILE`, else the current directory and then its parents.

use std::path::{Path, PathBuf};

pub const NAMES: [&str; 2] = ["berth.yaml", "berth.yml"];

/// Where the config is, or a message saying where berth looked and what to do.
pub fn find(explicit: Option<&Path>, cwd: &Path) -> Result<PathBuf, String> {
    if let Some(path) = explicit {
        // Canonical, so `..` and links do not leak into the state dir or project name.
        let full = cwd
            .join(path)
            .canonicalize()
            .unwrap_or_else(|_| cwd.join(path));
        return if full.is_file() {
            Ok(full)
        } else if full.is_dir() {
            find_in(&full)
                .ok_or_else(|| format!("no berth.yaml (or berth.yml) in {}", path.display()))
        } else {
            Err(format!("config file {} not found", path.display()))
        };
    }
    for dir in cwd.ancestors() {
        if let Some(found) = find_in(dir) {
            return Ok(found);
        }
    }
    Err(format!(
        "no berth.yaml (or berth.yml) in {} or any parent directory; create one, or point at it with -f FILE or BERTH_FILE",
        cwd.display()
    ))
}

fn find_in(dir: &Path) -> Option<PathBuf> {
    NAMES.iter().map(|n| dir.join(n)).find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looks_upwards_and_prefers_yaml() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().canonicalize().unwrap();
        let tmp = tmp.as_path();
        let deep = tmp.join("a/b");
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::write(tmp.join("berth.yml"), "").unwrap();
        assert_eq!(find(None, &deep).unwrap(), tmp.join("berth.yml"));
        std::fs::write(tmp.join("a/berth.yaml"), "").unwrap();
        assert_eq!(find(None, &deep).unwrap(), tmp.join("a/berth.yaml"));
        assert_eq!(
            find(Some(Path::new("../..")), &deep).unwrap(),
            tmp.join("berth.yml")
        );
        assert!(
            find(Some(Path::new("nope.yaml")), &deep)
                .unwrap_err()
                .contains("not found")
        );
    }
}
