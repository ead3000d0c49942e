//! Processes as berth sees them on Linux: identity by pid *and* start time (so a reused pid
//! is never mistaken for the process berth recorded), the process table, and signals sent
//! only after the identity is checked. Everything Linux-specific about processes lives here.

pub mod identity;
pub mod table;
pub mod usage;

pub use identity::ProcessId;

/// A kernel pid from a recorded number; `None` for numbers no process can have (a corrupt
/// record must not crash the supervisor).
pub fn pid(number: u32) -> Option<rustix::process::Pid> {
    i32::try_from(number)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
}
