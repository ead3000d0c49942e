//! Decoding a service's `watch:`: the shorthand (a path or a list of them) or the full form
//! `{paths, ignore, debounce, gitignore}`. Every path and glob is checked here, at its own
//! position: its syntax, and that what it names (a glob's fixed prefix) exists, so a typo is
//! a config error and not a watch that never fires.

use crate::config::keys;
use crate::config::reader::{Reader, at};
use crate::config::yaml::{Kind, Node};
use crate::stack::watch::{DEFAULT_DEBOUNCE, Watch, reach};
use std::path::Path;

/// `directory`: where the service runs, for checking that the paths exist (`None` when its
/// `cwd` was wrong, already reported).
pub fn decode(r: &mut Reader, node: &Node, path: &str, directory: Option<&Path>) -> Option<Watch> {
    let (paths_node, fields) = match &node.kind {
        Kind::Map(_) => {
            let fields = r.map(node, path, keys::WATCH)?;
            let Some(paths) = fields.get("paths") else {
                r.error(
                    node.span,
                    at(
                        path,
                        "missing `paths`: what to watch, e.g. `paths: [\"src/**/*.py\"]`",
                    ),
                );
                return None;
            };
            (paths, Some(fields))
        }
        _ => (node, None),
    };
    let paths_path = match fields {
        Some(_) => format!("{path}.paths"),
        None => path.to_string(),
    };
    let paths = paths(r, paths_node, &paths_path, directory);
    let (ignore, debounce, gitignore) = match &fields {
        Some(fields) => (
            match fields.get("ignore") {
                Some(n) => globs(r, n, &format!("{path}.ignore")),
                None => Some(Vec::new()),
            },
            r.key_or(
                fields,
                path,
                "debounce",
                DEFAULT_DEBOUNCE,
                Reader::positive_duration,
            ),
            r.key_or(fields, path, "gitignore", true, Reader::bool),
        ),
        None => (Some(Vec::new()), Some(DEFAULT_DEBOUNCE), Some(true)),
    };
    Some(Watch {
        paths: paths?,
        ignore: ignore?,
        debounce: debounce?,
        gitignore: gitignore?,
    })
}

/// The watched paths: valid globs, at least one, each existing up to its first glob part.
fn paths(r: &mut Reader, node: &Node, path: &str, directory: Option<&Path>) -> Option<Vec<String>> {
    let items = r.some_of(
        node,
        path,
        "nothing to watch; list paths or globs, e.g. `watch: [\"src/**/*.py\"]`",
    )?;
    let mut out = Vec::new();
    let mut ok = true;
    for item in items {
        let Some(text) = glob(r, item, path) else {
            ok = false;
            continue;
        };
        if let Some(dir) = directory {
            let reach = reach(&text);
            if !dir.join(&reach.root).exists() {
                let what = match reach.glob {
                    false => format!("`{text}` does not exist"),
                    true => format!(
                        "`{}`, where `{text}` starts, does not exist",
                        reach.root.display()
                    ),
                };
                r.error(
                    item.span,
                    at(
                        path,
                        format!(
                            "{what} (relative to the service's `cwd`); create it or correct the path"
                        ),
                    ),
                );
                ok = false;
                continue;
            }
        }
        out.push(text);
    }
    ok.then_some(out)
}

/// `ignore:`: one glob or a list of them.
fn globs(r: &mut Reader, node: &Node, path: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut ok = true;
    for item in r.one_or_many(node) {
        match glob(r, item, path) {
            Some(g) => out.push(g),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// One glob, checked by the matcher that will use it.
fn glob(r: &mut Reader, node: &Node, path: &str) -> Option<String> {
    let text = r.string(node, path)?;
    if text.trim().is_empty() {
        r.error(node.span, at(path, "an empty path watches nothing"));
        return None;
    }
    if let Err(e) = globset::Glob::new(text) {
        r.error(
            node.span,
            at(path, format!("invalid glob `{text}`: {}", e.kind())),
        );
        return None;
    }
    Some(text.to_string())
}
