//! The `berth` binary.

fn main() {
    std::process::exit(berth::cli::main());
}
