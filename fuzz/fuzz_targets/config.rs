//! Any text as a berth.yaml: loading never panics or hangs, and every problem it reports
//! points at a line the file has.
#![no_main]

use berth::config::source::Source;
use berth::config::{self, Options};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // A directory that does not exist: env files the text names are simply missing.
    let source = Source::new(Path::new("/nonexistent/berth.yaml"), text.to_string());
    let options = Options {
        profile: None,
        state_dir: None,
        env: Default::default(),
    };
    if let Err(diagnostics) = config::load_source(&source, &options) {
        assert!(!diagnostics.is_empty());
        let lines = source.text.split('\n').count();
        for d in diagnostics.iter().filter(|d| d.file == source.display) {
            assert!(
                d.line >= 1 && d.line <= lines + 1,
                "line {} of {lines}",
                d.line
            );
        }
    }
});
