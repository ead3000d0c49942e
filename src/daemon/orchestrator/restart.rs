//! Restarts the daemon makes for the stack it runs (an alert's `action`, the API's
//! `POST /v1/services/{name}/restart`): as `berth restart` does, the services stopped and
//! then brought up again with the dependents that were running, with the last `up`'s config
//! and environment.

use super::{Orchestrator, Refusal};
use crate::api::types::UpRequest;
use crate::stack::Stack;
use crate::stack::graph::Graph;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The stack the daemon runs and the last `up`'s environment.
type Running = (Arc<Stack>, Arc<BTreeMap<String, String>>);

impl Orchestrator {
    /// The stack the daemon runs and its environment, or why there is none yet.
    pub(super) fn running(&self) -> Result<Running, Refusal> {
        let inner = self.lock();
        let Some(stack) = inner.stack.clone() else {
            return Err(Refusal::Unavailable(
                "no stack loaded yet: run `berth up` first".into(),
            ));
        };
        Ok((stack, Arc::clone(&inner.env)))
    }

    /// Restarts `services`; `reason`, when given, is shown in their status until the next
    /// `up` of them. Returns what was brought up again.
    pub fn restart(
        self: &Arc<Self>,
        services: &[String],
        reason: Option<&str>,
    ) -> Result<Vec<String>, Refusal> {
        let (stack, env) = self.running()?;
        for name in services {
            if !stack.knows(name) {
                return Err(Refusal::BadRequest(format!(
                    "no service `{name}` in the config"
                )));
            }
        }
        let running: Vec<String> = self
            .supervised()
            .into_iter()
            .filter(|(_, s)| super::is_alive(s))
            .map(|(name, _)| name)
            .collect();
        // `api` means each of its instances, each brought up again even if it had failed.
        let instances = stack.expand_names(services);
        let roots: Vec<&str> = instances.iter().map(String::as_str).collect();
        let again: Vec<String> = Graph::new(&stack.services)
            .with_dependents(&roots)
            .into_iter()
            .filter(|n| roots.contains(n) || running.iter().any(|r| r == n))
            .map(String::from)
            .collect();
        crate::state::check_writable(&stack.state_dir).map_err(Refusal::Unavailable)?;
        self.take_down(services, None, false)?;
        let started = self.up(UpRequest {
            stack: (*stack).clone(),
            services: again,
            env: (*env).clone(),
        })?;
        if let Some(why) = reason {
            let mut inner = self.lock();
            for name in services {
                inner.restarted_by.insert(name.clone(), why.to_string());
            }
        }
        Ok(started)
    }
}
