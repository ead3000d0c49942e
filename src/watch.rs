//! Restarting services when their files change (`watch:`). One watcher serves the whole
//! daemon: `rules` decides, without touching the kernel, which service a changed path belongs
//! to and what is ignored; `bursts` collapses a burst of changes into one restart per service;
//! `watcher` is the only side of it that talks to inotify (through notify), registering
//! directories and feeding changes to the other two.

pub mod bursts;
pub mod rules;
pub mod watcher;

pub use watcher::{Notice, Watcher};
