//! `poll` timeouts from `Duration`s: the one conversion every waiting loop needs.

use rustix::event::Timespec;
use std::time::Duration;

pub fn timespec(d: Duration) -> Timespec {
    Timespec {
        tv_sec: d.as_secs() as i64,
        tv_nsec: d.subsec_nanos() as i64,
    }
}
