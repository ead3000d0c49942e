//! The files an `include:` glob names: `*`, `?`, `[abc]`, `{a,b}` within one path segment,
//! `**` across any number of them, relative to the including file's directory, sorted so that
//! the merge order never depends on the order a directory happens to list its entries in.
//! As in a shell, a wildcard does not match a name starting with `.` (editors' swap files,
//! `.git`) unless the pattern's segment starts with `.` itself.

use globset::{GlobBuilder, GlobMatcher};
use std::path::{Path, PathBuf};

/// How deep `**` goes: far enough for any config tree, and a bound on a symlink loop.
const MAX_DEPTH: usize = 16;

/// Whether an include entry is a pattern rather than a plain path: a plain path must exist,
/// a pattern may match nothing.
pub fn is_pattern(entry: &str) -> bool {
    entry.contains(['*', '?', '[', '{'])
}

/// The regular files (or links to them) below `dir` matching `pattern`, sorted; nothing when
/// the directory the pattern starts from does not exist.
pub fn expand(dir: &Path, pattern: &str) -> Result<Vec<PathBuf>, String> {
    let segments: Vec<&str> = pattern.split('/').collect();
    let literal = segments.iter().take_while(|s| !is_pattern(s)).count();
    let mut base = dir.to_path_buf();
    if pattern.starts_with('/') {
        base = PathBuf::from("/");
    }
    for segment in &segments[..literal] {
        base.push(segment);
    }
    let rest: Vec<&str> = segments[literal..]
        .iter()
        .copied()
        .filter(|s| !s.is_empty())
        .collect();
    if rest.is_empty() {
        // No wildcard after all (the caller only asks for patterns); the file itself.
        return Ok(if base.is_file() {
            vec![base]
        } else {
            Vec::new()
        });
    }
    let matcher = GlobBuilder::new(&rest.join("/"))
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map_err(|e| format!("bad glob `{pattern}`: {}", e.kind()))?
        .compile_matcher();
    let walk = Walk {
        matcher,
        segments: rest,
    };
    let mut found = Vec::new();
    walk.visit(&base, Path::new(""), 0, &mut found);
    found.sort();
    Ok(found)
}

struct Walk<'p> {
    matcher: GlobMatcher,
    segments: Vec<&'p str>,
}

impl Walk<'_> {
    fn recursive(&self) -> bool {
        self.segments.contains(&"**")
    }

    /// Visits `dir` (`rel` below the pattern's base, `depth` segments down).
    fn visit(&self, dir: &Path, rel: &Path, depth: usize, found: &mut Vec<PathBuf>) {
        let limit = if self.recursive() {
            MAX_DEPTH
        } else {
            self.segments.len()
        };
        if depth >= limit {
            return;
        }
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name_text) = name.to_str() else {
                continue;
            };
            if name_text.starts_with('.') && !self.dot_allowed(depth) {
                continue;
            }
            let path = entry.path();
            let rel = rel.join(&name);
            // `metadata` follows links: a linked file or directory counts as what it points to.
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                self.visit(&path, &rel, depth + 1, found);
            } else if meta.is_file() && self.matcher.is_match(&rel) {
                found.push(path);
            }
        }
    }

    /// A name starting with `.` is matched only by a segment written with a leading `.`.
    fn dot_allowed(&self, depth: usize) -> bool {
        !self.recursive() && self.segments.get(depth).is_some_and(|s| s.starts_with('.'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for f in files {
            let path = dir.path().join(f);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "").unwrap();
        }
        dir
    }

    fn names(dir: &Path, pattern: &str) -> Vec<String> {
        expand(dir, pattern)
            .unwrap()
            .iter()
            .map(|p| p.strip_prefix(dir).unwrap().display().to_string())
            .collect()
    }

    #[test]
    fn patterns_match_within_a_segment_and_double_stars_across() {
        let dir = tree(&[
            "services/b.yaml",
            "services/a.yaml",
            "services/a.yaml~",
            "services/.a.yaml.swp",
            "services/.hidden.yaml",
            "services/notes.txt",
            "services/deep/c.yaml",
            "services/.git/d.yaml",
            "other/e.yml",
        ]);
        let d = dir.path();
        let cases: &[(&str, &[&str])] = &[
            ("services/*.yaml", &["services/a.yaml", "services/b.yaml"]),
            (
                "services/**/*.yaml",
                &["services/a.yaml", "services/b.yaml", "services/deep/c.yaml"],
            ),
            ("services/.*.yaml", &["services/.hidden.yaml"]),
            (
                "*/*.{yaml,yml}",
                &["other/e.yml", "services/a.yaml", "services/b.yaml"],
            ),
            ("services/?.yaml", &["services/a.yaml", "services/b.yaml"]),
            ("services/[b-z].yaml", &["services/b.yaml"]),
            ("nowhere/*.yaml", &[]),
            ("services/*.json", &[]),
        ];
        for (pattern, want) in cases {
            assert_eq!(names(d, pattern), *want, "{pattern}");
        }
    }

    #[test]
    fn an_absolute_pattern_ignores_the_directory_and_a_bad_one_says_why() {
        let dir = tree(&["x/a.yaml"]);
        let pattern = format!("{}/x/*.yaml", dir.path().display());
        assert_eq!(
            expand(Path::new("/elsewhere"), &pattern).unwrap(),
            vec![dir.path().join("x/a.yaml")]
        );
        let err = expand(dir.path(), "x/[a.yaml").unwrap_err();
        assert!(err.starts_with("bad glob `x/[a.yaml`: "), "{err}");
        assert!(is_pattern("a/*.yaml") && is_pattern("{a,b}.yaml") && !is_pattern("a/b.yaml"));
    }
}
