//! Ctrl-C for a command that stays attached (`up --foreground`): counted instead of fatal, so
//! the first one stops the stack gracefully and the second one forcefully. Until `install`
//! is called the count stays zero and Ctrl-C ends berth as usual.

use std::sync::atomic::{AtomicUsize, Ordering};

static COUNT: AtomicUsize = AtomicUsize::new(0);

/// Counts SIGINT and SIGTERM from now on instead of dying of them.
pub fn install() -> std::io::Result<()> {
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // SAFETY: the handler only increments an atomic, which is async-signal-safe.
        unsafe {
            signal_hook::low_level::register(signal, || {
                COUNT.fetch_add(1, Ordering::SeqCst);
            })?;
        }
    }
    Ok(())
}

/// How many interrupts arrived since `install`.
pub fn count() -> usize {
    COUNT.load(Ordering::SeqCst)
}

pub fn requested() -> bool {
    count() > 0
}
