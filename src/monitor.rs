//! Monitoring: what the daemon samples every `monitor.interval` (each running service's whole
//! process tree, and the machine), and the health score computed from what it knows.

pub mod held;
pub mod sampler;
pub mod score;
pub mod system;
pub mod tree;
