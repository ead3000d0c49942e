//! The peers: PM2 (from npm) and supervisord (from PyPI), taken from PATH when there, else
//! installed under `target/peers/`. A peer that cannot be had is reported with the reason,
//! and its column stays empty.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Peer {
    /// PM2: the `pm2` program; supervisord: the directory holding `supervisord` and
    /// `supervisorctl`.
    pub path: PathBuf,
    pub version: String,
}

fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/peers")
}

/// What `program args` printed, trimmed, if it ran and succeeded.
fn output(program: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Runs an installer, showing what it does; on failure, the last line it wrote.
fn install(program: &str, args: &[&str]) -> Result<(), String> {
    eprintln!("installing: {program} {}", args.join(" "));
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program} could not run: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&out.stderr);
    Err(format!(
        "{program} failed: {}",
        said.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("")
    ))
}

fn on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(program))
        .find(|p| p.is_file())
}

pub fn pm2() -> Result<Peer, String> {
    let local = peers_dir().join("npm/node_modules/.bin/pm2");
    let path = match on_path("pm2") {
        Some(p) => p,
        None if local.is_file() => local,
        None => {
            let prefix = peers_dir().join("npm");
            install(
                "npm",
                &[
                    "install",
                    "--no-audit",
                    "--no-fund",
                    "--prefix",
                    prefix.to_str().unwrap(),
                    "pm2@7",
                ],
            )?;
            local
        }
    };
    // From its package.json: `pm2 --version` would start a daemon.
    let package = std::fs::canonicalize(&path)
        .ok()
        .and_then(|bin| Some(bin.parent()?.parent()?.join("package.json")))
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|text| serde_json::from_slice::<serde_json::Value>(&text).ok())
        .ok_or_else(|| format!("no package.json beside {}", path.display()))?;
    Ok(Peer {
        path,
        version: package["version"].as_str().unwrap_or("?").to_owned(),
    })
}

pub fn supervisord() -> Result<Peer, String> {
    let venv = peers_dir().join("venv/bin");
    let dir = match on_path("supervisord").and_then(|p| p.parent().map(Path::to_path_buf)) {
        Some(d) if d.join("supervisorctl").is_file() => d,
        _ if venv.join("supervisord").is_file() => venv,
        _ => {
            let root = peers_dir().join("venv");
            install("python3", &["-m", "venv", root.to_str().unwrap()])?;
            install(
                venv.join("pip").to_str().unwrap(),
                &["install", "--quiet", "supervisor"],
            )?;
            venv
        }
    };
    let version =
        output(&dir.join("supervisord"), &["--version"]).ok_or("supervisord --version failed")?;
    Ok(Peer { path: dir, version })
}
