//! `berth scale` (`POST /v1/scale`): a replicated service's count changed in the running
//! stack. The extra instances are stopped first, highest first, one after the other; the
//! new ones are then brought up as `up` brings any service up (their gates, the port plan),
//! leaving every other service as it is.

use super::{Orchestrator, Refusal, Slot};
use crate::api::types::{ScaleResponse, Scaled, UpRequest};
use std::collections::BTreeMap;
use std::sync::Arc;

impl Orchestrator {
    pub fn scale(
        self: &Arc<Self>,
        counts: &BTreeMap<String, u32>,
    ) -> Result<ScaleResponse, Refusal> {
        if counts.is_empty() {
            return Err(Refusal::BadRequest(
                "name a service and its count, e.g. {\"services\": {\"api\": 3}}".into(),
            ));
        }
        let (stack, env) = self.running()?;
        // Every count is checked before anything changes.
        let mut next = (*stack).clone();
        let mut scaled = Vec::new();
        for (name, &count) in counts {
            let from = next.replicated.get(name).map_or(0, |r| r.count);
            next.scale(name, count).map_err(Refusal::BadRequest)?;
            scaled.push(Scaled {
                service: name.clone(),
                from,
                to: count,
            });
        }
        let had = |s: &crate::stack::Stack, name: &str| s.service(name).is_some();
        let added: Vec<String> = next
            .services
            .iter()
            .filter(|s| !had(&stack, &s.name))
            .map(|s| s.name.clone())
            .collect();
        let mut removed: Vec<(u32, String)> = stack
            .services
            .iter()
            .filter(|s| !had(&next, &s.name))
            .filter_map(|s| Some((s.replica.as_ref()?.index, s.name.clone())))
            .collect();
        removed.sort_by(|a, b| b.cmp(a));
        if !added.is_empty() {
            crate::state::check_writable(&next.state_dir).map_err(Refusal::Unavailable)?;
        }
        let next = Arc::new(next);
        let supervisors: Vec<_> = {
            let mut inner = self.lock();
            inner.stack = Some(Arc::clone(&next));
            inner.generation += 1;
            removed
                .iter()
                .filter_map(|(_, name)| {
                    self.ports.forget(name);
                    match inner.slots.remove(name) {
                        Some(Slot::Started { supervisor, .. }) => Some((name.clone(), supervisor)),
                        _ => None, // one at its gate sees its slot gone and stands down
                    }
                })
                .collect()
        };
        let mut stopped = Vec::new();
        for (name, supervisor) in supervisors {
            supervisor.stop();
            stopped.push(name);
        }
        let started = match added.is_empty() {
            true => Vec::new(),
            false => self.up(UpRequest {
                stack: (*next).clone(),
                services: added,
                env: (*env).clone(),
            })?,
        };
        Ok(ScaleResponse {
            services: scaled,
            started,
            stopped,
        })
    }
}
