//! Who holds which port: the machine's listening sockets (netlink sock_diag, `/proc/net` as
//! fallback) and the processes that own them. Used for readiness (does the service's process
//! tree listen on its port yet?) and by the `ports` commands. Linux-specific, like `process`.

pub mod holders;
pub mod netlink;
pub mod owners;
pub mod parallel;
pub mod plan;
pub mod proc_net;
pub mod protect;
pub mod socket_table;

pub use socket_table::{Listener, Proto};
