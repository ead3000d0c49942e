//! PM2's file watching (`watch`, `ignore_watch`, `watch_delay`, `watch_options`) as a
//! service's `watch:`: what PM2 watches, what it skips (its own default when `ignore_watch`
//! is not set), and, listed, what berth's watcher has no setting for.

use super::{Exists, Locate, millis};
use crate::import::draft::Watch;
use crate::import::leftover::Leftover;
use crate::import::tree::Tree;
use crate::stack::watch::reach;
use std::path::Path;

/// What PM2 skips when `ignore_watch` is not set (its `/[\/\\]\.|node_modules/`): dotfiles and
/// `node_modules`, as globs without a `/`, which berth matches as a name at any depth.
pub const PM2_IGNORED: [&str; 2] = [".*", "node_modules"];

/// The key a JavaScript ecosystem file's regular expression is given in the JSON `node`
/// makes of it (JSON has no regular expressions: plain `JSON.stringify` writes `{}`).
pub const REGEXP_KEY: &str = "$regexp";

/// An app's watching keys, as met in its entry.
#[derive(Default)]
pub struct Keys<'t, 'a> {
    pub watch: Option<&'t Tree<'a>>,
    pub ignore: Option<&'t Tree<'a>>,
    pub delay: Option<&'t Tree<'a>>,
    pub options: Option<&'t Tree<'a>>,
}

impl<'t, 'a> Keys<'t, 'a> {
    /// Takes `key` when it is one of them.
    pub fn take(&mut self, key: &str, value: &'t Tree<'a>) -> bool {
        let slot = match key {
            "watch" => &mut self.watch,
            "ignore_watch" => &mut self.ignore,
            "watch_delay" => &mut self.delay,
            "watch_options" => &mut self.options,
            _ => return false,
        };
        *slot = Some(value);
        true
    }
}

/// The app the keys belong to, and how to ask about its files.
pub struct At<'a> {
    pub file: &'a str,
    pub app: &'a str,
    /// Its `cwd` as written (empty: the ecosystem file's directory), which PM2, like berth,
    /// reads the watched paths from.
    pub cwd: &'a Path,
    pub locate: Locate<'a>,
    pub exists: Exists<'a>,
}

/// The service's `watch:`, `None` when PM2 does not watch (then the other keys do nothing in
/// PM2 either, so nothing is listed) or when none of what it watches exists. What cannot be
/// carried over goes to `left`.
pub fn convert(keys: &Keys, at: &At, left: &mut Vec<Leftover>) -> Result<Option<Watch>, String> {
    let Some(watch) = keys.watch else {
        return Ok(None);
    };
    let (file, app, locate) = (at.file, at.app, at.locate);
    let what = |key: &str| format!("apps.{app}.{key}");
    let paths: Vec<String> = if watch.is_seq() {
        watch
            .strings(&what("watch"))?
            .into_iter()
            .map(String::from)
            .collect()
    } else {
        match watch.text(&what("watch"))? {
            "false" => return Ok(None),
            "true" => Vec::new(),
            path => vec![path.to_string()],
        }
    };
    let mut note = |at: &Tree, key: &str, why: String| {
        left.push(Leftover::new(file, locate(at, app, key), key, why).on(app))
    };
    // `true` and an empty list both watch the app's working directory, which berth calls `.`.
    let paths = if paths.is_empty() {
        vec![".".to_string()]
    } else {
        // PM2 watches nothing at a path that is not there; berth refuses the config.
        let (there, missing): (Vec<String>, Vec<String>) = paths
            .into_iter()
            .partition(|p| (at.exists)(&at.cwd.join(reach(p).root)));
        for path in &missing {
            note(
                watch,
                "watch",
                format!(
                    "`{path}` does not exist (relative to the app's cwd), and berth refuses to \
                     watch what is not there: create it, then add it to `watch`"
                ),
            );
        }
        if there.is_empty() {
            return Ok(None);
        }
        there
    };
    let ignore = match keys.ignore {
        None => PM2_IGNORED.map(String::from).to_vec(),
        Some(list) => {
            let items = if list.is_seq() {
                list.items()
            } else {
                vec![list.clone()]
            };
            let mut globs = Vec::new();
            for item in &items {
                match pattern(item, &what("ignore_watch"))? {
                    Ok(glob) => globs.push(glob),
                    Err(why) => note(item, "ignore_watch", why),
                }
            }
            globs
        }
    };
    let debounce = match keys.delay {
        Some(d) => Some(millis(d, &what("watch_delay"))?).filter(|d| !d.is_zero()),
        None => None,
    };
    if let Some(options) = keys.options {
        note(
            options,
            "watch_options",
            "chokidar's options (polling, symlinks, …): berth watches through inotify, and its \
             settings are `watch`'s `ignore`, `debounce` and `gitignore`"
                .to_string(),
        );
    }
    Ok(Some(Watch {
        paths,
        ignore,
        debounce,
    }))
}

/// One `ignore_watch` entry: a glob berth reads, or why it is not one (the text of `Err`).
fn pattern(item: &Tree, what: &str) -> Result<Result<String, String>, String> {
    if let Some(source) = item.get(REGEXP_KEY) {
        let flags = item.get("flags").map(|f| f.text(what)).transpose()?;
        let shown = format!("/{}/{}", source.text(what)?, flags.unwrap_or(""));
        return Ok(Err(regex_why(&shown)));
    }
    Ok(glob(item.text(what)?))
}

/// A string of `ignore_watch` as a glob (chokidar reads strings as globs), unless it reads as
/// a regular expression (anchors, alternation, classes like `\d`) or is no glob at all.
pub fn glob(text: &str) -> Result<String, String> {
    let regex_like = text.starts_with('^')
        || text.ends_with('$')
        || text.contains('|')
        || ["\\d", "\\w", "\\s", "\\b"]
            .iter()
            .any(|c| text.contains(c));
    if regex_like {
        return Err(regex_why(&format!("`{text}`")));
    }
    if text.trim().is_empty() {
        return Err("an empty pattern ignores nothing".to_string());
    }
    globset::Glob::new(text)
        .map(|_| text.to_string())
        .map_err(|e| format!("`{text}` is not a glob: {}", e.kind()))
}

fn regex_why(shown: &str) -> String {
    format!(
        "{shown} is a regular expression, and berth ignores by glob: add the files it means to \
         `watch.ignore` as globs (`*.log`, `tmp`)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_are_taken_and_regular_expressions_and_bad_globs_are_not() {
        for (text, ok) in [
            ("node_modules", true),
            ("*.log", true),
            ("src/**/*.test.js", true),
            (".*", true),
            ("\\.git", true),
            ("^logs", false),
            ("\\.tmp$", false),
            ("dist|build", false),
            ("cache\\d+", false),
            ("a[b", false),
            (" ", false),
        ] {
            assert_eq!(glob(text).is_ok(), ok, "{text}: {:?}", glob(text));
        }
        assert!(
            glob("^logs")
                .unwrap_err()
                .contains("`^logs` is a regular expression")
        );
        assert!(glob("a[b").unwrap_err().starts_with("`a[b` is not a glob"));
    }
}
