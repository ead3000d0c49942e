//! Links the berth binary as a fixed-address (non-PIE) executable. Every service has a shim
//! (an exec of this binary) beside it; in a position-independent binary the loader must
//! relocate 270 KiB of tables (vtables, string tables) in every process, which makes them
//! private, dirty memory: half of each shim's footprint, and most of its start-up page
//! faults. Resolved at link time instead, those pages stay shared with the file.
fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
