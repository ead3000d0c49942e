//! Build steps: the berth binary linked as a fixed-address executable, and the dashboard's
//! files (`src/web/`) embedded in it.
//!
//! Non-PIE: every service has a shim (an exec of this binary) beside it; in a
//! position-independent binary the loader must relocate 270 KiB of tables (vtables, string
//! tables) in every process, which makes them private, dirty memory: half of each shim's
//! footprint, and most of its start-up page faults. Resolved at link time instead, those
//! pages stay shared with the file.
//!
//! The page: every file of `src/web/` becomes an entry of `$OUT_DIR/web_files.rs`, so a new
//! file is served without a table to keep in step by hand.
use std::fmt::Write as _;
use std::path::Path;

fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    println!("cargo:rerun-if-changed=build.rs");
    embed_web(Path::new("src/web"));
}

/// Writes `WEB_FILES: &[(&str, &[u8])]`, the files of `dir` by name, sorted (so the table is
/// the same on every machine and a lookup can be a binary search).
fn embed_web(dir: &Path) {
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|name| !name.starts_with('.'))
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    let root = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut table = String::from("pub static WEB_FILES: &[(&str, &[u8])] = &[\n");
    for name in &names {
        let path = root.join(name);
        println!("cargo:rerun-if-changed={}", path.display());
        writeln!(
            table,
            "    ({name:?}, include_bytes!({:?})),",
            path.display()
        )
        .unwrap();
    }
    table.push_str("];\n");
    let out =
        Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("web_files.rs");
    std::fs::write(out, table).expect("writing the embedded web files' table");
}
