//! What an exit leads to: restart after a backoff, done, or failed (circuit open). Pure: the
//! caller passes the time, the uptime and the jitter, so every rule is tested without a clock
//! or a process.

use crate::stack::service::{RestartMode, RestartPolicy};
use std::collections::VecDeque;
use std::time::Duration;

/// How a run of the service ended, as far as the policy cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The main process exited with this code.
    Code(i32),
    /// A signal ended it (not one berth sent to stop it).
    Signal(i32),
    /// Health checks failed `retries` times in a row.
    Unhealthy,
    /// Its shim was killed; what it kept was stopped.
    KeeperLost,
    /// An adopted instance (no shim keeps it) ended; how cannot be seen from outside, so it
    /// never counts as a success.
    Vanished,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Start it again after this delay.
    Restart { after: Duration },
    /// It finished with a success code and is not to be restarted: `exited`.
    Completed,
    /// It is `failed` until `berth restart` or `berth up`.
    Failed { reason: String },
}

/// A service's restarts so far: what the backoff and the circuit are computed from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    /// When each recent restart was decided (ms, caller's clock), oldest first.
    restarts: VecDeque<u64>,
    /// Restarts since the service last stayed up for `min_uptime`.
    streak: u32,
}

impl History {
    /// `berth restart` / `berth up`: the circuit closes and the backoff starts over.
    pub fn reset(&mut self) {
        *self = History::default();
    }

    pub fn restarts_in_window(&self) -> usize {
        self.restarts.len()
    }
}

impl Ending {
    fn is_success(self, success_codes: &[i32]) -> bool {
        matches!(self, Ending::Code(c) if success_codes.contains(&c))
    }

    pub fn describe(self) -> String {
        match self {
            Ending::Code(c) => format!("exited with code {c}"),
            Ending::Signal(s) => format!("was killed by signal {s}"),
            Ending::Unhealthy => "failed its health check".to_string(),
            Ending::KeeperLost => "lost its keeper process and was stopped".to_string(),
            Ending::Vanished => "ended (adopted: its exit status cannot be seen)".to_string(),
        }
    }
}

/// Decides what `ending` leads to. `uptime` is how long this run lasted, `now_ms` the time of
/// the decision, `jitter` a number in `[0, 1)` that spreads restarts of many services.
pub fn decide(
    policy: &RestartPolicy,
    success_codes: &[i32],
    history: &mut History,
    ending: Ending,
    uptime: Duration,
    now_ms: u64,
    jitter: f64,
) -> Decision {
    let success = ending.is_success(success_codes);
    let restart = match policy.mode {
        RestartMode::Always => true,
        RestartMode::OnFailure => !success,
        RestartMode::Never => false,
    };
    if !restart {
        return if success {
            Decision::Completed
        } else {
            Decision::Failed {
                reason: format!("it {} (restart: {})", ending.describe(), policy.mode.name()),
            }
        };
    }
    let window = policy.window.as_millis() as u64;
    while history
        .restarts
        .front()
        .is_some_and(|&t| now_ms.saturating_sub(t) >= window)
    {
        history.restarts.pop_front();
    }
    if history.restarts.len() >= policy.max_restarts as usize {
        return Decision::Failed {
            reason: format!(
                "it {} after {} restarts within {}; the circuit is open until `berth restart`",
                ending.describe(),
                history.restarts.len(),
                crate::config::units::format_duration(policy.window)
            ),
        };
    }
    if uptime >= policy.min_uptime {
        history.streak = 0;
    }
    let after = backoff(policy, history.streak, jitter);
    history.streak = history.streak.saturating_add(1);
    history.restarts.push_back(now_ms);
    Decision::Restart { after }
}

/// `restart_delay` doubled per restart in a row, ±10% jitter, never above `restart_delay_max`.
pub fn backoff(policy: &RestartPolicy, streak: u32, jitter: f64) -> Duration {
    let factor = 2u32.checked_pow(streak.min(31)).unwrap_or(u32::MAX);
    let base = policy
        .delay
        .checked_mul(factor)
        .unwrap_or(policy.delay_max)
        .min(policy.delay_max);
    base.mul_f64(0.9 + 0.2 * jitter.clamp(0.0, 1.0))
        .min(policy.delay_max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn policy(mode: RestartMode) -> RestartPolicy {
        RestartPolicy {
            mode,
            delay: Duration::from_millis(100),
            delay_max: Duration::from_secs(30),
            min_uptime: Duration::from_secs(10),
            max_restarts: 5,
            window: Duration::from_secs(60),
        }
    }

    fn once(mode: RestartMode, ending: Ending) -> Decision {
        decide(
            &policy(mode),
            &[0],
            &mut History::default(),
            ending,
            Duration::ZERO,
            0,
            0.5,
        )
    }

    #[test]
    fn each_mode_and_ending() {
        let restart = |d: &Decision| matches!(d, Decision::Restart { .. });
        assert_eq!(
            once(RestartMode::OnFailure, Ending::Code(0)),
            Decision::Completed
        );
        assert!(restart(&once(RestartMode::OnFailure, Ending::Code(1))));
        assert!(restart(&once(RestartMode::OnFailure, Ending::Signal(9))));
        assert!(restart(&once(RestartMode::OnFailure, Ending::Unhealthy)));
        assert!(restart(&once(RestartMode::OnFailure, Ending::KeeperLost)));
        assert!(restart(&once(RestartMode::Always, Ending::Code(0))));
        assert_eq!(
            once(RestartMode::Never, Ending::Code(0)),
            Decision::Completed
        );
        match once(RestartMode::Never, Ending::Code(2)) {
            Decision::Failed { reason } => {
                assert_eq!(reason, "it exited with code 2 (restart: never)")
            }
            other => panic!("{other:?}"),
        }
        let codes = [0, 3];
        let d = decide(
            &policy(RestartMode::OnFailure),
            &codes,
            &mut History::default(),
            Ending::Code(3),
            Duration::ZERO,
            0,
            0.5,
        );
        assert_eq!(d, Decision::Completed);
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = policy(RestartMode::Always);
        let mid: Vec<u128> = (0..12).map(|n| backoff(&p, n, 0.5).as_millis()).collect();
        assert_eq!(
            mid,
            [
                100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000, 30000
            ]
        );
        assert_eq!(backoff(&p, 0, 0.0), Duration::from_millis(90));
        assert_eq!(backoff(&p, 0, 0.999_999).as_millis(), 109);
        assert_eq!(backoff(&p, 40, 0.9), Duration::from_secs(30));
        let zero = RestartPolicy {
            delay: Duration::ZERO,
            ..p
        };
        assert_eq!(backoff(&zero, 5, 0.7), Duration::ZERO);
    }

    #[test]
    fn the_streak_resets_after_min_uptime() {
        let p = policy(RestartMode::Always);
        let mut h = History::default();
        let mut delay_at = |uptime: u64, now: u64| match decide(
            &p,
            &[0],
            &mut h,
            Ending::Code(1),
            Duration::from_secs(uptime),
            now,
            0.5,
        ) {
            Decision::Restart { after } => after.as_millis(),
            other => panic!("{other:?}"),
        };
        assert_eq!(delay_at(0, 0), 100);
        assert_eq!(delay_at(0, 1_000), 200);
        assert_eq!(delay_at(0, 2_000), 400);
        assert_eq!(delay_at(11, 20_000), 100);
    }

    /// `max_restarts: N` allows N restarts within the window; the next failing exit fails.
    #[test]
    fn the_circuit_opens_on_the_exit_after_max_restarts() {
        let p = policy(RestartMode::OnFailure);
        let mut h = History::default();
        for i in 0..5 {
            let d = decide(
                &p,
                &[0],
                &mut h,
                Ending::Code(1),
                Duration::ZERO,
                i * 1000,
                0.5,
            );
            assert!(matches!(d, Decision::Restart { .. }), "restart {i}: {d:?}");
        }
        match decide(
            &p,
            &[0],
            &mut h,
            Ending::Code(1),
            Duration::ZERO,
            5_000,
            0.5,
        ) {
            Decision::Failed { reason } => {
                assert!(reason.contains("after 5 restarts within 1m"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        // Restarts older than the window no longer count.
        let d = decide(
            &p,
            &[0],
            &mut h,
            Ending::Code(1),
            Duration::ZERO,
            61_000,
            0.5,
        );
        assert!(matches!(d, Decision::Restart { .. }), "{d:?}");
        h.reset();
        assert_eq!(h.restarts_in_window(), 0);
    }

    #[test]
    fn max_restarts_zero_never_restarts_a_failure() {
        let p = RestartPolicy {
            max_restarts: 0,
            ..policy(RestartMode::Always)
        };
        let d = decide(
            &p,
            &[0],
            &mut History::default(),
            Ending::Code(1),
            Duration::ZERO,
            0,
            0.5,
        );
        assert!(matches!(d, Decision::Failed { .. }));
    }

    proptest! {
        /// Any sequence of endings: every delay is within the bounds, restarts in any window
        /// never exceed `max_restarts`, and the circuit opens exactly when the window is full.
        #[test]
        fn invariants_hold_for_any_sequence(
            events in prop::collection::vec((0u64..30_000, 0u64..20_000, 0.0f64..1.0, 0i32..3), 1..60),
            delay_ms in 0u64..2_000,
            max_ms in 0u64..60_000,
            max_restarts in 0u32..8,
            window_ms in 1u64..120_000,
        ) {
            let p = RestartPolicy {
                mode: RestartMode::Always,
                delay: Duration::from_millis(delay_ms.min(max_ms)),
                delay_max: Duration::from_millis(max_ms),
                min_uptime: Duration::from_secs(10),
                max_restarts,
                window: Duration::from_millis(window_ms),
            };
            let mut h = History::default();
            let mut now = 0u64;
            let mut decided: Vec<u64> = Vec::new();
            for (gap, uptime, jitter, code) in events {
                now += gap;
                let in_window = decided.iter().filter(|&&t| now - t < window_ms).count();
                match decide(&p, &[0], &mut h, Ending::Code(code), Duration::from_millis(uptime), now, jitter) {
                    Decision::Restart { after } => {
                        prop_assert!(after <= p.delay_max);
                        prop_assert!(after >= p.delay.mul_f64(0.9).min(p.delay_max));
                        prop_assert!(in_window < max_restarts as usize);
                        decided.push(now);
                    }
                    Decision::Failed { .. } => prop_assert_eq!(in_window, max_restarts as usize),
                    Decision::Completed => prop_assert!(false, "always restarts or fails"),
                }
            }
        }
    }
}
