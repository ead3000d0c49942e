//! Reading berth.yaml into a validated `Stack`: read its files (includes, override) into one
//! tree with positions, apply the profile, decode every key, check cross-service rules, and
//! report every problem at once.

pub mod decode;
pub mod diagnostic;
pub mod discover;
pub mod dotenv;
pub mod files;
pub mod glob;
pub mod interpolate;
pub mod keys;
pub mod merge;
pub mod profile;
pub mod reader;
pub mod resolved;
pub mod schema;
pub mod source;
pub mod suggest;
pub mod units;
pub mod validate;
pub mod yaml;

use crate::stack::Stack;
use diagnostic::Diagnostic;
use reader::Reader;
use source::Source;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What loading needs besides the file.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--profile` / `BERTH_PROFILE`.
    pub profile: Option<String>,
    /// `BERTH_STATE_DIR`, already absolute.
    pub state_dir: Option<PathBuf>,
    /// The environment `${VAR}` falls back to.
    pub env: BTreeMap<String, String>,
}

impl Options {
    /// Options from this process's environment.
    pub fn from_env(profile: Option<String>, state_dir: Option<PathBuf>) -> Options {
        Options {
            profile,
            state_dir,
            env: std::env::vars().collect(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{} problem{} in {file}", .diagnostics.len(), if .diagnostics.len() == 1 { "" } else { "s" })]
    Invalid {
        file: String,
        diagnostics: Vec<Diagnostic>,
    },
}

/// The state dir of a config in `dir` that does not set `state_dir`.
pub fn default_state_dir(dir: &Path) -> PathBuf {
    dir.join(".berth")
}

/// The state dir the config at `path` most likely has, known without reading it: the
/// options' own, or the default. A guess to start work early on, never to act on.
pub fn likely_state_dir(path: &Path, options: &Options) -> PathBuf {
    match &options.state_dir {
        Some(dir) => dir.clone(),
        None => default_state_dir(path.parent().unwrap_or(Path::new("."))),
    }
}

/// Loads the config at `path` (absolute), with what it includes and its override, under the
/// options' profile.
pub fn load(path: &Path, options: &Options) -> Result<Stack, LoadError> {
    let tree = read(path)?;
    resolve(&tree, options).map_err(|diagnostics| invalid(&tree, diagnostics))
}

/// Loads and checks the config as every profile sees it (or only the requested one), so a
/// mistake that only one profile makes is still found. Returns the stack without a profile
/// (or with the requested one).
pub fn check(path: &Path, options: &Options) -> Result<Stack, LoadError> {
    let tree = read(path)?;
    let base = resolve(&tree, options);
    if options.profile.is_some() {
        return base.map_err(|diagnostics| invalid(&tree, diagnostics));
    }
    let mut diags = base.as_ref().err().cloned().unwrap_or_default();
    for name in tree.profile_names() {
        let with = Options {
            profile: Some(name.clone()),
            ..options.clone()
        };
        for mut d in resolve(&tree, &with).err().unwrap_or_default() {
            if !diags.contains(&d) {
                d.message.push_str(&format!(" (with profile `{name}`)"));
                diags.push(d);
            }
        }
    }
    if diags.is_empty() {
        return base.map_err(|diagnostics| invalid(&tree, diagnostics));
    }
    diagnostic::normalize(&mut diags);
    Err(invalid(&tree, diags))
}

/// The config's files merged into one tree, not decoded: for what needs only its shape
/// (completions read the service names from it).
pub fn read(path: &Path) -> Result<files::Tree, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|e| LoadError::Read {
        path: source::display_path(path),
        source: e,
    })?;
    Ok(files::gather(Source::new(path, text)))
}

fn invalid(tree: &files::Tree, diagnostics: Vec<Diagnostic>) -> LoadError {
    LoadError::Invalid {
        file: tree.sources.root().display.clone(),
        diagnostics,
    }
}

/// Loads one source (with what it includes, relative to its path); every problem when it is
/// not valid.
pub fn load_source(source: &Source, options: &Options) -> Result<Stack, Vec<Diagnostic>> {
    resolve(&files::gather(source.clone()), options)
}

/// Applies the options' profile to the merged tree and decodes it.
fn resolve(tree: &files::Tree, options: &Options) -> Result<Stack, Vec<Diagnostic>> {
    let mut reader = Reader::new(&tree.sources);
    for (span, message) in &tree.problems {
        reader.error(*span, message.clone());
    }
    let file = &tree.sources.root().path;
    let stack = tree.root.as_ref().and_then(|root| {
        let profile = options
            .profile
            .as_ref()
            .and_then(|name| root.get("profiles")?.get(name));
        match profile {
            Some(profile) => {
                decode::decode(&mut reader, &profile::apply(root, profile), file, options)
            }
            None => decode::decode(&mut reader, root, file, options),
        }
    });
    match stack {
        Some(mut stack) if reader.diags.is_empty() => {
            stack.files = tree.merged_files();
            Ok(stack)
        }
        _ => {
            let mut diagnostics = reader.diags;
            if diagnostics.is_empty() {
                // An empty stream parses to no root without an error of its own.
                diagnostics.push(Diagnostic::new(
                    tree.sources.root(),
                    source::Span::new(1, 1, 1),
                    "the config is empty; add `services:` with at least one service",
                ));
            }
            diagnostic::normalize(&mut diagnostics);
            Err(diagnostics)
        }
    }
}
