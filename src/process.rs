//! Processes as berth sees them on Linux: identity by pid *and* start time (so a reused pid
//! is never mistaken for the process berth recorded), the process table, and signals sent
//! only after the identity is checked. Everything Linux-specific about processes lives here.

pub mod identity;
pub mod table;
pub mod usage;

pub use identity::ProcessId;
