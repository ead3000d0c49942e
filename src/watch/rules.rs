//! Which service a changed path belongs to, and what is skipped: one service's `watch:`
//! compiled into absolute globs, its `ignore` globs, its `.gitignore` files (cached per
//! directory, dropped when one changes) and what is never watched (the state dir, `.git`).
//! No watching here: the watcher asks, these answer.
//!
//! `.gitignore` files are read from the service's directory's repository root (the nearest
//! ancestor holding `.git`; without one, the config file's directory) down to the changed
//! path, the deepest deciding, as git does. A repository is not required: a `.gitignore`
//! beside `berth.yaml` is honoured outside git too.

use crate::stack::watch::{Watch, normal, reach};
use crate::stack::{Service, Stack};
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use ignore::Match;
use ignore::gitignore::Gitignore;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A directory under which matches lie, at most `depth` levels below (`None`: any).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Root {
    pub path: PathBuf,
    pub depth: Option<usize>,
}

/// One service's watch, compiled.
#[derive(Clone, Debug)]
pub struct Rules {
    pub service: String,
    /// The service's directory: what messages name files relative to.
    pub base: PathBuf,
    pub roots: Vec<Root>,
    pub debounce: Duration,
    include: GlobSet,
    ignore: GlobSet,
    /// Where `.gitignore` files are looked for from; `None`: not honoured.
    gitignore_top: Option<PathBuf>,
    /// Never a change: berth's own state dir (its logs would restart the service forever).
    never: Vec<PathBuf>,
    /// What these were compiled from, to tell whether a new stack changes them.
    source: (Watch, PathBuf, Vec<PathBuf>),
}

impl PartialEq for Rules {
    fn eq(&self, other: &Rules) -> bool {
        self.service == other.service && self.source == other.source
    }
}

/// The rules of `names` (those of them with `watch:`), with ports as configured.
pub fn for_stack<'a>(stack: &Stack, names: impl IntoIterator<Item = &'a str>) -> Vec<Rules> {
    let dir = stack.file.parent().unwrap_or(Path::new("/"));
    names
        .into_iter()
        .filter_map(|name| stack.service(name))
        .filter_map(|service| {
            let watch = service.watch.as_ref()?;
            let base = normal(&service_dir(stack, service, dir));
            let top = watch.gitignore.then(|| repository_top(&base, dir));
            Rules::new(
                &service.name,
                watch,
                &base,
                top,
                vec![normal(&stack.state_dir)],
            )
            .ok()
        })
        .collect()
}

fn service_dir(stack: &Stack, service: &Service, dir: &Path) -> PathBuf {
    service.directory(dir, &|n| stack.configured_port(n))
}

/// The nearest ancestor of `base` holding `.git`; else `config_dir` when `base` is under it,
/// else `base` itself.
fn repository_top(base: &Path, config_dir: &Path) -> PathBuf {
    match base.ancestors().find(|a| a.join(".git").exists()) {
        Some(repo) => repo.to_path_buf(),
        None if base.starts_with(config_dir) => config_dir.to_path_buf(),
        None => base.to_path_buf(),
    }
}

/// The globs of `pattern` under `base`: its fixed part made absolute (and escaped, so a
/// `[` in a directory's name is no class), its glob part as written; a plain path matches
/// itself and everything under it. `/` is matched literally, `**` crosses it.
fn globs_of(base: &Path, pattern: &str) -> Result<(Root, Vec<globset::Glob>), globset::Error> {
    let r = reach(pattern);
    let root = normal(&base.join(&r.root));
    let fixed = globset::escape(root.to_string_lossy().trim_end_matches('/'));
    let texts = match r.glob {
        true => vec![format!("{fixed}/{}", r.rest)],
        false => vec![fixed.clone(), format!("{fixed}/**")],
    };
    let globs = texts
        .iter()
        .map(|t| GlobBuilder::new(t).literal_separator(true).build())
        .collect::<Result<_, _>>()?;
    Ok((
        Root {
            path: root,
            depth: r.depth,
        },
        globs,
    ))
}

impl Rules {
    pub fn new(
        service: &str,
        watch: &Watch,
        base: &Path,
        gitignore_top: Option<PathBuf>,
        never: Vec<PathBuf>,
    ) -> Result<Rules, globset::Error> {
        let mut include = GlobSetBuilder::new();
        let mut roots = Vec::new();
        for pattern in &watch.paths {
            let (root, globs) = globs_of(base, pattern)?;
            globs.into_iter().for_each(|g| {
                include.add(g);
            });
            roots.push(root);
        }
        let mut ignore = GlobSetBuilder::new();
        for pattern in &watch.ignore {
            let pattern = pattern.trim_end_matches('/');
            // As in .gitignore: a name alone matches at any depth.
            let pattern = match pattern.contains('/') {
                true => pattern.to_string(),
                false => format!("**/{pattern}"),
            };
            let (_, globs) = globs_of(base, &pattern)?;
            globs.into_iter().for_each(|g| {
                ignore.add(g);
            });
            // What is under an ignored directory is ignored.
            let (_, under) = globs_of(base, &format!("{pattern}/**"))?;
            under.into_iter().for_each(|g| {
                ignore.add(g);
            });
        }
        Ok(Rules {
            service: service.to_string(),
            base: base.to_path_buf(),
            roots,
            debounce: watch.debounce,
            include: include.build()?,
            ignore: ignore.build()?,
            source: (watch.clone(), base.to_path_buf(), never.clone()),
            gitignore_top,
            never,
        })
    }

    /// Whether a change of `path` (absolute, normalised) restarts this service.
    pub fn wants(&self, path: &Path, cache: &mut GitignoreCache) -> bool {
        self.include.is_match(path) && !self.skips(path, false, cache)
    }

    /// Whether `path` is excluded: never watched, ignored, or gitignored.
    pub fn skips(&self, path: &Path, is_dir: bool, cache: &mut GitignoreCache) -> bool {
        if self.never.iter().any(|n| path.starts_with(n))
            || path.components().any(|c| c.as_os_str() == ".git")
            || self.ignore.is_match(path)
        {
            return true;
        }
        match &self.gitignore_top {
            Some(top) => cache.ignored(top, path, is_dir),
            None => false,
        }
    }

    /// Whether directory `dir` must be watched for this service: within a root's reach and
    /// not skipped. A root's parent is watched too, so a root deleted and made again is seen.
    pub fn watches(&self, dir: &Path, cache: &mut GitignoreCache) -> bool {
        let reached = self.roots.iter().any(|root| {
            if root.path.parent() == Some(dir) {
                return true;
            }
            match dir.strip_prefix(&root.path) {
                Ok(rest) => root.depth.is_none_or(|d| rest.components().count() <= d),
                Err(_) => false,
            }
        });
        reached && !self.skips(dir, true, cache)
    }

    /// `path` as messages show it: relative to the service's directory when under it.
    pub fn shown(&self, path: &Path) -> String {
        path.strip_prefix(&self.base)
            .unwrap_or(path)
            .display()
            .to_string()
    }
}

/// The `.gitignore` of each directory asked about, read once, until it changes.
#[derive(Default)]
pub struct GitignoreCache {
    files: HashMap<PathBuf, Option<Gitignore>>,
}

impl GitignoreCache {
    /// A `.gitignore` changed (or appeared, or went): read it again when next asked.
    pub fn changed(&mut self, path: &Path) {
        if path.file_name().is_some_and(|n| n == ".gitignore")
            && let Some(dir) = path.parent()
        {
            self.files.remove(dir);
        }
    }

    fn of(&mut self, dir: &Path) -> Option<&Gitignore> {
        self.files
            .entry(dir.to_path_buf())
            .or_insert_with(|| {
                let file = dir.join(".gitignore");
                file.is_file().then(|| Gitignore::new(&file).0)
            })
            .as_ref()
    }

    /// Whether `path` or a directory on its way down from `top` is ignored by the
    /// `.gitignore` files from `top` down: for each, the deepest file that has a say decides.
    pub fn ignored(&mut self, top: &Path, path: &Path, is_dir: bool) -> bool {
        let Ok(rest) = path.strip_prefix(top) else {
            return false;
        };
        let mut current = top.to_path_buf();
        let parts: Vec<_> = rest.components().collect();
        for (i, part) in parts.iter().enumerate() {
            current.push(part);
            let dir_like = is_dir || i + 1 < parts.len();
            let mut verdict = Match::None;
            for dir in current.ancestors().skip(1) {
                if let Some(g) = self.of(dir) {
                    verdict = g.matched(&current, dir_like).map(|_| ());
                    if !verdict.is_none() {
                        break;
                    }
                }
                if dir == top {
                    break;
                }
            }
            if verdict.is_ignore() {
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn watch(paths: &[&str], ignore: &[&str]) -> Watch {
        Watch {
            paths: paths.iter().map(|s| s.to_string()).collect(),
            ignore: ignore.iter().map(|s| s.to_string()).collect(),
            debounce: Duration::from_millis(300),
            gitignore: true,
        }
    }

    #[test]
    fn paths_globs_and_ignores() {
        let base = Path::new("/p/api");
        let rules = Rules::new(
            "api",
            &watch(
                &[
                    "src/**/*.py",
                    "config/*.toml",
                    "Makefile",
                    "lib",
                    "../shared/*.py",
                ],
                &["*.tmp", "lib/gen"],
            ),
            base,
            None,
            vec!["/p/api/.berth".into()],
        )
        .unwrap();
        let mut cache = GitignoreCache::default();
        let table: &[(&str, bool)] = &[
            ("/p/api/src/app.py", true),
            ("/p/api/src/deep/er/app.py", true),
            ("/p/api/src/app.pyc", false),
            ("/p/api/config/a.toml", true),
            ("/p/api/config/sub/a.toml", false),
            ("/p/api/Makefile", true),
            ("/p/api/Makefile.bak", false),
            ("/p/api/lib/x.rs", true),
            ("/p/api/lib/gen/x.rs", false),
            ("/p/api/lib/x.tmp", false),
            ("/p/api/src/a/b.tmp", false),
            ("/p/api/.berth/logs/api.log", false),
            ("/p/api/src/.git/index", false),
            ("/p/web/src/app.py", false),
            ("/p/shared/a.py", true),
            ("/p/shared/sub/a.py", false),
        ];
        for (path, want) in table {
            assert_eq!(rules.wants(Path::new(path), &mut cache), *want, "{path}");
        }
        assert_eq!(rules.shown(Path::new("/p/api/src/app.py")), "src/app.py");
        assert_eq!(rules.shown(Path::new("/q/x")), "/q/x");
        // `.` is the service's whole directory; a `[` in a directory's name is no class.
        let here = Rules::new("w", &watch(&["."], &[]), Path::new("/p/[x]"), None, vec![]);
        let here = here.unwrap();
        assert!(here.wants(Path::new("/p/[x]/a/b.rs"), &mut cache));
        assert!(!here.wants(Path::new("/p/x/a.rs"), &mut cache));
    }

    #[test]
    fn the_directories_watched() {
        let rules = Rules::new(
            "api",
            &watch(&["src/**/*.py", "config/*.toml"], &["node_modules"]),
            Path::new("/p"),
            None,
            vec!["/p/.berth".into()],
        )
        .unwrap();
        let mut cache = GitignoreCache::default();
        let table: &[(&str, bool)] = &[
            ("/p", true), // the roots' parent
            ("/p/src", true),
            ("/p/src/a/b/c", true),
            ("/p/src/node_modules", false),
            ("/p/config", true),
            ("/p/config/sub", false),
            ("/p/other", false),
            ("/p/.berth", false),
        ];
        for (dir, want) in table {
            assert_eq!(rules.watches(Path::new(dir), &mut cache), *want, "{dir}");
        }
    }

    #[test]
    fn gitignore_files_from_the_top_down_the_deepest_deciding() {
        let top = tempfile::tempdir().unwrap();
        let t = top.path();
        fs::create_dir_all(t.join("src/gen")).unwrap();
        fs::create_dir_all(t.join("target/debug")).unwrap();
        fs::write(t.join(".gitignore"), "target/\n*.log\n").unwrap();
        fs::write(t.join("src/.gitignore"), "gen/\n!keep.log\n").unwrap();
        let mut cache = GitignoreCache::default();
        let table: &[(&str, bool, bool)] = &[
            ("src/app.py", false, false),
            ("target", true, true),
            ("target/debug/x", false, true),
            ("a.log", false, true),
            ("src/a.log", false, true),
            ("src/keep.log", false, false),
            ("src/gen/x.py", false, true),
        ];
        for (path, is_dir, want) in table {
            assert_eq!(cache.ignored(t, &t.join(path), *is_dir), *want, "{path}");
        }
        // A .gitignore changed: read again.
        fs::write(t.join("src/.gitignore"), "").unwrap();
        assert!(cache.ignored(t, &t.join("src/gen/x.py"), false));
        cache.changed(&t.join("src/.gitignore"));
        assert!(!cache.ignored(t, &t.join("src/gen/x.py"), false));
        assert!(!cache.ignored(t, Path::new("/elsewhere/x"), false));
    }

    #[test]
    fn the_gitignore_top_is_the_repository_or_the_config_dir() {
        let d = tempfile::tempdir().unwrap();
        let repo = d.path().join("repo");
        fs::create_dir_all(repo.join(".git")).unwrap();
        fs::create_dir_all(repo.join("app/svc")).unwrap();
        fs::create_dir_all(d.path().join("plain/svc")).unwrap();
        let plain = d.path().join("plain");
        assert_eq!(
            repository_top(&repo.join("app/svc"), &repo.join("app")),
            repo
        );
        assert_eq!(repository_top(&plain.join("svc"), &plain), plain);
        assert_eq!(
            repository_top(&plain.join("svc"), &d.path().join("x")),
            plain.join("svc")
        );
    }
}
