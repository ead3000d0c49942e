//! A bell any thread rings when something the alerts look at changed (a service's state or
//! health, a sampling round), and one thread waits on: a counter under a mutex, so a ring
//! between two waits is never missed and a burst of rings wakes the waiter once.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

#[derive(Default)]
pub struct Bell {
    rung: Mutex<u64>,
    wake: Condvar,
}

impl Bell {
    pub fn ring(&self) {
        *self.rung.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.wake.notify_all();
    }

    /// Waits until the bell has rung since `seen` (or `timeout` passes); returns the count
    /// to pass next time.
    pub fn wait(&self, seen: u64, timeout: Duration) -> u64 {
        let rung = self.rung.lock().unwrap_or_else(|e| e.into_inner());
        let (rung, _) = self
            .wake
            .wait_timeout_while(rung, timeout, |r| *r == seen)
            .unwrap_or_else(|e| e.into_inner());
        *rung
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_ring_before_the_wait_is_not_missed() {
        let bell = Arc::new(Bell::default());
        let seen = bell.wait(0, Duration::ZERO);
        bell.ring();
        assert_eq!(bell.wait(seen, Duration::from_secs(10)), seen + 1);
        // Nothing rung: the wait times out with the same count.
        assert_eq!(bell.wait(seen + 1, Duration::from_millis(10)), seen + 1);
        let ringer = Arc::clone(&bell);
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            ringer.ring();
        });
        assert_eq!(bell.wait(seen + 1, Duration::from_secs(10)), seen + 2);
        t.join().unwrap();
    }
}
