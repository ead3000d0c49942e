//! Alerts: rules evaluated against every sample and every state change (`engine`, a pure
//! state machine), notifications built for each kind of channel (`payload`), and delivered
//! by one thread and queue per channel with timeouts and retries (`notifier`, `deliver`).

pub mod deliver;
pub mod engine;
pub mod notifier;
pub mod payload;
pub mod runtime;
