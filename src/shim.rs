//! The keeper process (`berth shim`, hidden): one per running service. It starts the service
//! in its own process group, owns its stdout/stderr and writes them to the rotated log, records
//! pids and the exit in `run/NAME.json`, stops the service on SIGTERM (stop signal or stop
//! command, then SIGKILL to every descendant after the timeout), and, as a child subreaper,
//! sees and cleans up every process the service leaves behind. It does not depend on the
//! daemon staying alive, and it is synchronous: one `poll` loop, no async runtime.

pub mod forker;
pub mod keeper;
pub mod spec;
pub mod stop;

pub use spec::ShimSpec;
