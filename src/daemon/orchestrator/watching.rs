//! Restarts on file changes (`watch:`): the daemon's one watcher follows the stack (an `up`
//! brings a service's watch, a `down` of it takes it away), and a burst of changes restarts
//! the service through the ordinary restart path by name, with a `watch` event naming the
//! file. Such a restart starts a fresh supervisor, so it is never counted against
//! `max_restarts` and closes an open circuit, as a developer saving a fix expects.

use super::{Inner, Orchestrator, Slot};
use crate::daemon::supervisor::ServiceState;
use crate::watch::{Notice, Watcher, rules};
use std::sync::{Arc, Weak};

impl Orchestrator {
    /// The watcher, its notices handled by this orchestrator while it lives.
    pub(super) fn new_watcher(me: &Weak<Orchestrator>) -> Watcher {
        let me = me.clone();
        Watcher::new(Arc::new(move |notice| {
            if let Some(me) = me.upgrade() {
                me.watch_notice(notice);
            }
        }))
    }

    /// Watches what the services in the table (started, or waiting to be) ask for.
    pub(super) fn sync_watches(&self, inner: &Inner) {
        let rules = match &inner.stack {
            Some(stack) => rules::for_stack(stack, inner.slots.keys().map(String::as_str)),
            None => Vec::new(),
        };
        self.watcher.configure(rules);
    }

    fn watch_notice(self: &Arc<Self>, notice: Notice) {
        match notice {
            Notice::Changed {
                service,
                file,
                files,
            } => self.restart_for_change(&service, &file, files),
            Notice::Trouble { service, message } => {
                crate::daemon::log(format_args!(
                    "watching files{}: {message}",
                    service
                        .as_deref()
                        .map(|s| format!(" of `{s}`"))
                        .unwrap_or_default()
                ));
                self.history.event(
                    service.as_deref(),
                    "watch",
                    &message,
                    serde_json::Value::Null,
                );
            }
        }
    }

    fn restart_for_change(self: &Arc<Self>, service: &str, file: &str, files: usize) {
        let state = match self.lock().slots.get(service) {
            Some(Slot::Started { supervisor, .. }) => Some(supervisor.status().state),
            _ => None,
        };
        if !state.is_some_and(restarts_on_change) {
            return;
        }
        let more = match files {
            0 | 1 => String::new(),
            2 => " (and 1 more file)".to_string(),
            n => format!(" (and {} more files)", n - 1),
        };
        let why = format!("restarted: {file} changed");
        self.history.event(
            Some(service),
            "watch",
            &format!("{file} changed{more}: restarting"),
            serde_json::json!({ "file": file, "files": files }),
        );
        if let Err(e) = self.restart(&[service.to_string()], Some(&why)) {
            crate::daemon::log(format_args!(
                "`{service}`: {file} changed but the restart failed: {e:?}"
            ));
        }
    }
}

/// Whether a change restarts a service in `state`. A running one, one starting or backing
/// off (the change may be its fix), a failed one (as dev servers restart a crashed app on
/// save) and a finished one-shot (a build step run again) do; one already stopping, or
/// waiting for its dependencies, is left to what it is doing. A service the user stopped has
/// no watch at all.
pub fn restarts_on_change(state: ServiceState) -> bool {
    match state {
        ServiceState::Running
        | ServiceState::Starting
        | ServiceState::Backoff
        | ServiceState::Failed
        | ServiceState::Exited => true,
        ServiceState::Waiting | ServiceState::Stopping | ServiceState::Stopped => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_states_a_change_restarts() {
        let table = [
            (ServiceState::Running, true),
            (ServiceState::Starting, true),
            (ServiceState::Backoff, true),
            (ServiceState::Failed, true),
            (ServiceState::Exited, true),
            (ServiceState::Waiting, false),
            (ServiceState::Stopping, false),
            (ServiceState::Stopped, false),
        ];
        assert_eq!(table.len(), ServiceState::ALL.len());
        for (state, want) in table {
            assert_eq!(restarts_on_change(state), want, "{state:?}");
        }
    }
}
