//! A service's `watch:` key: the files whose changes restart it, what to skip, and how long a
//! burst of changes is waited out. Also what a watched path says about the directories that
//! must be watched for it (its fixed prefix and how deep below it a match can lie).

use serde::{Deserialize, Serialize};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watch {
    /// Paths and globs as written, relative to the service's `cwd`. A directory means
    /// everything under it.
    pub paths: Vec<String>,
    /// Globs of what never restarts it; one without a `/` matches a name at any depth, as in
    /// `.gitignore`.
    pub ignore: Vec<String>,
    /// How long no change must be seen before the burst restarts the service.
    pub debounce: Duration,
    /// Whether `.gitignore` files are honoured.
    pub gitignore: bool,
}

pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(300);

/// Where a watched path's matches can be: under `root` (its fixed prefix, relative to the
/// service's directory), at most `depth` directories below it (`None`: any depth).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reach {
    pub root: PathBuf,
    pub depth: Option<usize>,
    /// Whether the path has glob syntax; a plain path is matched as itself and everything
    /// under it.
    pub glob: bool,
    /// The glob part after the root (`**/*.py` of `src/**/*.py`), empty for a plain path.
    pub rest: String,
}

/// The characters that make a path component a glob.
fn is_glob(component: &str) -> bool {
    component.contains(['*', '?', '[', '{'])
}

/// What `pattern` reaches: the components before the first glob one are the root.
pub fn reach(pattern: &str) -> Reach {
    let parts: Vec<&str> = pattern
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    let fixed = parts.iter().take_while(|p| !is_glob(p)).count();
    let mut root: PathBuf = parts[..fixed].iter().collect();
    if pattern.starts_with('/') {
        root = Path::new("/").join(root);
    }
    let rest = &parts[fixed..];
    if rest.is_empty() {
        // A plain path: a file, or a directory with everything under it.
        return Reach {
            root,
            depth: None,
            glob: false,
            rest: String::new(),
        };
    }
    let depth = match rest.iter().any(|p| p.contains("**")) {
        true => None,
        // `config/*.toml` matches in `config` itself, `src/*/main.py` one level below.
        false => Some(rest.len() - 1),
    };
    Reach {
        root,
        depth,
        glob: true,
        rest: rest.join("/"),
    }
}

/// `path` with `.` dropped and `..` folded, without asking the file system (a watched path
/// need not be a symlink-free one).
pub fn normal(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_pattern_reaches() {
        let table: &[(&str, &str, Option<usize>, bool)] = &[
            ("src", "src", None, false),
            ("src/", "src", None, false),
            ("./src/app.py", "src/app.py", None, false),
            ("src/**/*.py", "src", None, true),
            ("config/*.toml", "config", Some(0), true),
            ("src/*/main.py", "src", Some(1), true),
            ("*.py", "", Some(0), true),
            ("**", "", None, true),
            ("/etc/app/*.conf", "/etc/app", Some(0), true),
            ("web/{a,b}/x", "web", Some(1), true),
            (".", "", None, false),
            ("../shared/*.py", "../shared", Some(0), true),
        ];
        for (pattern, root, depth, glob) in table {
            let r = reach(pattern);
            assert_eq!(
                (r.root.as_path(), r.depth, r.glob),
                (Path::new(root), *depth, *glob),
                "{pattern}"
            );
        }
        assert_eq!(reach("./src/**/*.py").rest, "**/*.py");
        assert_eq!(reach("src").rest, "");
    }

    #[test]
    fn normal_folds_dots() {
        assert_eq!(normal(Path::new("/a/./b/../c")), Path::new("/a/c"));
        assert_eq!(normal(Path::new("../x")), Path::new("../x"));
    }
}
