//! Which holders of a port berth may stop, decided from facts alone (pure): berth's own
//! services are left to `down`; another user's process, pid 1, berth itself and the processes
//! it runs under, and command lines matching `ports.protect` are protected whatever the flags;
//! the rest, the same user's, are foreign and may be stopped when asked.

use super::holders::Holder;
use crate::stack::pattern::Pattern;
use std::collections::HashSet;

/// What kind of holder a process is, to berth.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Class {
    /// A service of this stack: stop it with `berth down`.
    Ours(String),
    /// A service of another berth stack (its state dir, project and name).
    OtherStack {
        stack: String,
        project: String,
        service: String,
    },
    /// Never to be signalled; why.
    Protected(String),
    /// The same user's process, not berth's.
    Foreign,
    /// The socket's process cannot be seen (another user's, without privilege).
    Unseen,
}

/// What `classify` needs to know about berth's own situation.
pub struct Context {
    /// The user berth runs as.
    pub uid: u32,
    /// Berth's own pid and its ancestors: stopping them would stop the caller.
    pub lineage: HashSet<u32>,
    /// The state dir of the stack in hand, when there is a config.
    pub stack: Option<String>,
    /// `ports.protect` of the config in hand.
    pub protect: Vec<Pattern>,
    /// Instances of the stack's services that berth adopted (they may carry no marks: found
    /// by `match`), with their service.
    pub adopted: Vec<(crate::process::ProcessId, String)>,
}

impl Context {
    /// For this process and `stack`'s ports (its state dir and `ports.protect`), or no stack.
    pub fn for_stack(stack: Option<&crate::stack::Stack>) -> Context {
        let mut context = Context::here(
            stack.map(|s| s.state_dir.to_string_lossy().into_owned()),
            stack.map(|s| s.ports.protect.clone()).unwrap_or_default(),
        );
        context.adopted = stack.map(adopted_instances).unwrap_or_default();
        context
    }

    /// For this process: its uid and its chain of parents up to pid 1.
    pub fn here(stack: Option<String>, protect: Vec<Pattern>) -> Context {
        let mut lineage = HashSet::new();
        let mut pid = std::process::id();
        while pid > 1 && lineage.insert(pid) {
            match crate::process::table::stat(pid) {
                Ok(stat) => pid = stat.ppid,
                Err(_) => break,
            }
        }
        Context {
            uid: rustix::process::geteuid().as_raw(),
            lineage,
            stack,
            protect,
            adopted: Vec::new(),
        }
    }
}

impl Context {
    /// Names the service of each holder that is an adopted instance (its marks, when it has
    /// any, already did), so `ports` shows it as the stack's.
    pub fn credit_adopted(&self, holders: &mut [Holder]) {
        for holder in holders.iter_mut().filter(|h| h.service.is_none()) {
            if let Some((_, service)) = self
                .adopted
                .iter()
                .find(|(id, _)| holder.process == Some(*id))
            {
                holder.service = Some(service.clone());
            }
        }
    }
}

/// The live adopted instances `stack`'s run files record.
fn adopted_instances(stack: &crate::stack::Stack) -> Vec<(crate::process::ProcessId, String)> {
    stack
        .services
        .iter()
        .filter_map(|s| {
            let path = crate::daemon::launch::run_file_path(stack, &s.name);
            let adoption = crate::state::run_file::Record::live_adoption(&path)?;
            Some((adoption.adopted, s.name.clone()))
        })
        .collect()
}

pub fn classify(holder: &Holder, context: &Context) -> Class {
    let Some(pid) = holder.pid else {
        return Class::Unseen;
    };
    if let (Some(stack), Some(service)) = (&holder.stack, &holder.service) {
        if context.stack.as_deref() == Some(stack.as_str()) {
            return Class::Ours(service.clone());
        }
        return Class::OtherStack {
            stack: stack.clone(),
            project: holder.project.clone().unwrap_or_default(),
            service: service.clone(),
        };
    }
    // Adopted by pid and start time: a later process on the same pid is not it.
    if let Some((_, service)) = context
        .adopted
        .iter()
        .find(|(id, _)| holder.process == Some(*id))
    {
        return Class::Ours(service.clone());
    }
    if pid == 1 {
        return Class::Protected("it is pid 1, the system's init".into());
    }
    if context.lineage.contains(&pid) {
        return Class::Protected("it is berth itself or a process berth runs under".into());
    }
    // Root could signal anyone: another user's process stays protected all the same.
    if holder.uid != context.uid {
        return Class::Protected(format!("it belongs to another user ({})", user(holder)));
    }
    let command = holder.command.as_deref().unwrap_or("");
    if let Some(pattern) = context.protect.iter().find(|p| p.is_match(command)) {
        return Class::Protected(format!(
            "its command line matches `ports.protect` entry `{}`",
            pattern.as_str()
        ));
    }
    Class::Foreign
}

fn user(holder: &Holder) -> String {
    holder
        .user
        .clone()
        .unwrap_or_else(|| holder.uid.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::Proto;

    fn holder(pid: Option<u32>, uid: u32, command: &str) -> Holder {
        Holder {
            port: 8000,
            proto: Proto::Tcp,
            address: "0.0.0.0".into(),
            pid,
            user: Some(format!("u{uid}")),
            command: Some(command.into()),
            service: None,
            project: None,
            stack: None,
            process: None,
            uid,
        }
    }

    fn context() -> Context {
        Context {
            uid: 1000,
            lineage: HashSet::from([500, 400]),
            stack: Some("/shop/.berth".into()),
            protect: vec![Pattern::new("^postgres: .*").unwrap()],
            adopted: vec![(
                crate::process::ProcessId {
                    pid: 88,
                    start_time: 7,
                },
                "web".into(),
            )],
        }
    }

    #[test]
    fn every_class() {
        let c = context();
        assert_eq!(
            classify(&holder(Some(77), 1000, "python3 -m http.server"), &c),
            Class::Foreign
        );
        assert_eq!(classify(&holder(None, 1000, ""), &c), Class::Unseen);
        for protected in [
            holder(Some(1), 1000, "init"),
            holder(Some(400), 1000, "bash"),
            holder(Some(77), 0, "sshd"),
            holder(Some(77), 1000, "postgres: main"),
        ] {
            assert!(
                matches!(classify(&protected, &c), Class::Protected(_)),
                "{protected:?}"
            );
        }
        let mut ours = holder(Some(77), 1000, "api");
        ours.stack = Some("/shop/.berth".into());
        ours.service = Some("api".into());
        ours.project = Some("shop".into());
        assert_eq!(classify(&ours, &c), Class::Ours("api".into()));
        ours.stack = Some("/other/.berth".into());
        assert!(matches!(classify(&ours, &c), Class::OtherStack { .. }));
        // An adopted instance with no marks (found by `match`) is the stack's too, by pid and
        // start time.
        let mut adopted = holder(Some(88), 1000, "npm run dev");
        adopted.process = Some(crate::process::ProcessId {
            pid: 88,
            start_time: 7,
        });
        assert_eq!(classify(&adopted, &c), Class::Ours("web".into()));
        adopted.process = Some(crate::process::ProcessId {
            pid: 88,
            start_time: 8,
        });
        assert_eq!(classify(&adopted, &c), Class::Foreign);
    }

    #[test]
    fn root_does_not_make_other_users_fair_game() {
        let mut c = context();
        c.uid = 0;
        assert!(matches!(
            classify(&holder(Some(77), 1000, "x"), &c),
            Class::Protected(_)
        ));
        assert_eq!(classify(&holder(Some(77), 0, "x"), &c), Class::Foreign);
    }
}
