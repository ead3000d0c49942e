//! `berth scale` (`POST /v1/scale`): a replicated service's count changed in the running
//! stack. The extra instances are stopped first, highest first, one after the other; the
//! new ones are then brought up as `up` brings any service up (their gates, the port plan),
//! leaving every other service as it is.

use super::{Orchestrator, Refusal, Slot};
use crate::api::types::{ScaleResponse, Scaled, UpRequest};
use crate::daemon::launch::run_file_path;
use crate::stack::Stack;
use crate::stack::replicas::instance_name;
use crate::state::run_file::RunFile;
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
            // An `up` or another `scale` since the counts were checked: they were checked
            // against a stack that is gone.
            if !inner.stack.as_ref().is_some_and(|s| Arc::ptr_eq(s, &stack)) {
                return Err(Refusal::Unavailable(
                    "the stack changed while scaling (an `up` or another `scale`); run it again"
                        .into(),
                ));
            }
            inner.stack = Some(Arc::clone(&next));
            self.alerting.configure(&next);
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

/// The instances past each replicated service's count among `names` (the state dir's run
/// files, `NAME.K.json`), highest first.
fn past_count<'a>(stack: &Stack, names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<(u32, String)> = names
        .filter_map(|file| {
            let (of, k) = file.strip_suffix(".json")?.rsplit_once('.')?;
            let k: u32 = k.parse().ok()?;
            let count = stack.replicated.get(of)?.count;
            (k > count).then(|| (k, instance_name(of, k)))
        })
        .collect();
    out.sort_by(|a, b| b.cmp(a));
    out.into_iter().map(|(_, name)| name).collect()
}

impl Orchestrator {
    /// Stops, in the background, instances past their service's count that a shim still
    /// keeps: what `berth scale` made before this daemon started (the last one was killed),
    /// now that an `up` brought the file's count; left alone they would run with nobody
    /// watching. An instance this daemon supervises is stopped by `up` itself.
    pub(super) fn stop_past_count(&self, stack: &Stack) {
        if stack.replicated.is_empty() {
            return;
        }
        let Ok(dir) = std::fs::read_dir(stack.state_dir.join("run")) else {
            return;
        };
        let files: Vec<String> = dir
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        let unsupervised: Vec<String> = {
            let inner = self.lock();
            past_count(stack, files.iter().map(String::as_str))
                .into_iter()
                .filter(|name| {
                    !inner.slots.contains_key(name) && !inner.retiring.contains_key(name)
                })
                .collect()
        };
        let kept: Vec<(String, std::path::PathBuf, RunFile)> = unsupervised
            .into_iter()
            .filter_map(|name| {
                let path = run_file_path(stack, &name);
                let record = RunFile::read(&path).filter(|r| r.shim.is_alive())?;
                Some((name, path, record))
            })
            .collect();
        if kept.is_empty() {
            return;
        }
        std::thread::spawn(move || {
            for (name, path, record) in kept {
                crate::daemon::log(format_args!(
                    "stopping `{name}`: past its service's count, left by an earlier daemon"
                ));
                if crate::shim::stop::request(&path, record.shim, None).unwrap_or(false) {
                    record.shim.wait_gone();
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_files_past_the_count_are_found_highest_first() {
        let (_dir, stack) = crate::stack::replicas::load(
            "services:\n  w: { command: w, replicas: 2 }\n  x.9: { command: x }\n",
        );
        let files = [
            "w.1.json",
            "w.3.json",
            "w.12.json",
            "w.2.json",
            "x.9.json",
            "w.x.json",
            "w.4.tmp",
        ];
        assert_eq!(past_count(&stack, files.into_iter()), ["w.12", "w.3"]);
    }
}
