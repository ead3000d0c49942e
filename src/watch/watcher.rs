//! The daemon's one file watcher: one inotify instance (through notify) and one thread for
//! every watching service. Directories are registered one by one (not notify's recursive
//! mode), so what is ignored or gitignored (a `node_modules`, a `target`) costs no inotify
//! watch; a directory that appears is walked and registered, and the files found in it count
//! as changes (they may have been written before its watch existed). When the kernel's limit
//! of watches is reached the service is told how to raise it, and watching goes on with what
//! could be registered.
//!
//! Bursts are collapsed here per service with each one's own `debounce` (see `bursts`), rather
//! than by notify's debouncer, whose single timeout would be waited out on top of every
//! service's own and cannot differ between services.

use super::bursts::{Bursts, named};
use super::rules::{GitignoreCache, Rules};
use notify::event::{EventKind, ModifyKind, RenameMode};
use notify::{RecommendedWatcher, RecursiveMode, Watcher as _};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// What the watcher tells its owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// A burst of changes to `service`'s files: restart it. `file` is the one named (relative
    /// to the service's directory when under it), `files` how many distinct ones changed.
    /// The handler returns when the restart is done.
    Changed {
        service: String,
        file: String,
        files: usize,
    },
    /// Watching `service` (or all, `None`) is not complete, and why.
    Trouble {
        service: Option<String>,
        message: String,
    },
}

pub type Handler = Arc<dyn Fn(Notice) + Send + Sync>;

enum Message {
    Event(notify::Result<notify::Event>),
    Configure(Vec<Rules>),
    Done(String),
}

/// The handle; the thread and the inotify instance start with the first service to watch.
pub struct Watcher {
    handler: Handler,
    sender: Mutex<Option<Sender<Message>>>,
    /// The rules in force, so that an `up` that changes nothing re-registers nothing.
    current: Mutex<Vec<Rules>>,
}

/// What the limit message tells the user to raise.
const LIMIT_HINT: &str = "the system's limit of inotify watches is reached; raise it, e.g. \
    `sudo sysctl fs.inotify.max_user_watches=524288` (and in /etc/sysctl.conf to keep it), \
    then run `berth up` again";

impl Watcher {
    pub fn new(handler: Handler) -> Watcher {
        Watcher {
            handler,
            sender: Mutex::new(None),
            current: Mutex::new(Vec::new()),
        }
    }

    /// Watches what `rules` say, and only that.
    pub fn configure(&self, rules: Vec<Rules>) {
        {
            let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
            if *current == rules {
                return;
            }
            *current = rules.clone();
        }
        let mut sender = self.sender.lock().unwrap_or_else(|e| e.into_inner());
        if sender.is_none() {
            if rules.is_empty() {
                return;
            }
            match self.start() {
                Ok(tx) => *sender = Some(tx),
                Err(message) => {
                    (self.handler)(Notice::Trouble {
                        service: None,
                        message,
                    });
                    return;
                }
            }
        }
        if let Some(tx) = sender.as_ref() {
            let _ = tx.send(Message::Configure(rules));
        }
    }

    fn start(&self) -> Result<Sender<Message>, String> {
        let (tx, rx) = channel();
        let events = tx.clone();
        let notify = notify::recommended_watcher(move |e| {
            let _ = events.send(Message::Event(e));
        })
        .map_err(|e| match e.kind {
            notify::ErrorKind::MaxFilesWatch => format!("cannot watch files: {LIMIT_HINT}"),
            _ => format!(
                "cannot watch files: {e} (if the limit of inotify instances is reached, raise \
                 `fs.inotify.max_user_instances` with sysctl)"
            ),
        })?;
        let handler = Arc::clone(&self.handler);
        let done = tx.clone();
        std::thread::Builder::new()
            .name("watch".into())
            .spawn(move || {
                Loop {
                    notify,
                    rules: Vec::new(),
                    watched: BTreeSet::new(),
                    cache: GitignoreCache::default(),
                    bursts: Bursts::default(),
                    handler,
                    done,
                }
                .run(rx)
            })
            .map_err(|e| format!("cannot start the watch thread: {e}"))?;
        Ok(tx)
    }
}

struct Loop {
    notify: RecommendedWatcher,
    rules: Vec<Rules>,
    /// Directories registered with inotify.
    watched: BTreeSet<PathBuf>,
    cache: GitignoreCache,
    bursts: Bursts,
    handler: Handler,
    /// For restarts to say they are done.
    done: Sender<Message>,
}

impl Loop {
    fn run(mut self, rx: Receiver<Message>) {
        loop {
            let message = match self.bursts.next() {
                Some(at) => match rx.recv_timeout(at.saturating_duration_since(Instant::now())) {
                    Ok(m) => Some(m),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => return,
                },
                None => match rx.recv() {
                    Ok(m) => Some(m),
                    Err(_) => return,
                },
            };
            match message {
                Some(Message::Event(Ok(event))) => self.event(event),
                Some(Message::Event(Err(e))) => {
                    crate::daemon::log(format_args!("watching files: {e}"));
                }
                Some(Message::Configure(rules)) => self.configure(rules),
                Some(Message::Done(service)) => self.bursts.done(&service),
                None => {}
            }
            self.fire();
        }
    }

    /// Hands out the bursts that are due, each restart on a thread of its own.
    fn fire(&mut self) {
        for burst in self.bursts.due(Instant::now()) {
            let Some(rules) = self.rules.iter().find(|r| r.service == burst.service) else {
                self.bursts.done(&burst.service);
                continue;
            };
            let file = named(&burst.files, |f| f.exists())
                .map(|f| rules.shown(f))
                .unwrap_or_default();
            let notice = Notice::Changed {
                service: burst.service.clone(),
                file,
                files: burst.changed,
            };
            let (handler, done) = (Arc::clone(&self.handler), self.done.clone());
            let service = burst.service;
            let spawned = std::thread::Builder::new()
                .name(format!("watch restart {service}"))
                .spawn(move || {
                    handler(notice);
                    let _ = done.send(Message::Done(service));
                });
            if let Err(e) = spawned {
                crate::daemon::log(format_args!("cannot restart for a change: {e}"));
            }
        }
    }

    fn configure(&mut self, rules: Vec<Rules>) {
        self.rules = rules;
        self.bursts
            .retain(|name| self.rules.iter().any(|r| r.service == name));
        let mut wanted = BTreeSet::new();
        for rules in &self.rules {
            for root in &rules.roots {
                if let Some(parent) = root.path.parent() {
                    wanted.insert(parent.to_path_buf());
                }
                walk(rules, &root.path, &mut self.cache, &mut wanted, &mut |_| {});
            }
        }
        for gone in self
            .watched
            .difference(&wanted)
            .cloned()
            .collect::<Vec<_>>()
        {
            let _ = self.notify.unwatch(&gone);
            self.watched.remove(&gone);
        }
        let new: Vec<PathBuf> = wanted.difference(&self.watched).cloned().collect();
        self.register(new);
    }

    /// Registers `dirs`; at the limit, says so once for each service that misses some.
    fn register(&mut self, dirs: Vec<PathBuf>) {
        let mut limited = BTreeSet::new();
        for dir in dirs {
            match self.notify.watch(&dir, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    self.watched.insert(dir);
                }
                Err(e) if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) => {
                    for rules in &self.rules {
                        if rules.watches(&dir, &mut self.cache) {
                            limited.insert(rules.service.clone());
                        }
                    }
                }
                // Gone in the meantime: its parent's watch sees it come back.
                Err(_) => {}
            }
        }
        for service in limited {
            (self.handler)(Notice::Trouble {
                message: format!("some of its files are not watched: {LIMIT_HINT}"),
                service: Some(service),
            });
        }
    }

    fn event(&mut self, event: notify::Event) {
        if event.need_rescan() {
            crate::daemon::log(format_args!(
                "watching files: the kernel dropped events (its queue overflowed); changes in \
                 that moment may have been missed"
            ));
        }
        // Opening and reading are not changes; a write, a `touch` (metadata), a rename, a
        // creation and a removal are.
        let relevant = matches!(
            event.kind,
            EventKind::Create(_) | EventKind::Remove(_) | EventKind::Modify(_)
        );
        if !relevant {
            return;
        }
        // Told by the kind, not by looking: a directory removed and made again at once
        // exists by the time its removal is read. (A rename also comes as `Both`, after its
        // `From` and `To`, which say all of it.)
        let (gone, came) = match event.kind {
            EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(RenameMode::From)) => {
                (true, false)
            }
            EventKind::Create(_) | EventKind::Modify(ModifyKind::Name(RenameMode::To)) => {
                (false, true)
            }
            _ => (false, false),
        };
        let now = Instant::now();
        for path in &event.paths {
            let path = crate::stack::watch::normal(path);
            self.cache.changed(&path);
            let mut changed = vec![path.clone()];
            if gone {
                // Its watch, and those of the directories under it, went with it.
                self.watched.retain(|w| !w.starts_with(&path));
            } else if came && path.is_dir() {
                changed.extend(self.arrived(&path));
            }
            for file in changed {
                for rules in &self.rules {
                    if rules.wants(&file, &mut self.cache) {
                        self.bursts.note(&rules.service, rules.debounce, &file, now);
                    }
                }
            }
        }
    }

    /// A directory appeared (made, or moved in): registers what of it is watched, and returns
    /// the files found in it.
    fn arrived(&mut self, dir: &Path) -> Vec<PathBuf> {
        let mut wanted = BTreeSet::new();
        let mut files = Vec::new();
        for rules in &self.rules {
            if rules.watches(dir, &mut self.cache) {
                walk(rules, dir, &mut self.cache, &mut wanted, &mut |f| {
                    files.push(f.to_path_buf())
                });
            }
        }
        let new: Vec<PathBuf> = wanted.difference(&self.watched).cloned().collect();
        self.register(new);
        files
    }
}

/// Collects the directories under `dir` (itself included) that `rules` watch, and calls
/// `file` for each file found in them.
fn walk(
    rules: &Rules,
    dir: &Path,
    cache: &mut GitignoreCache,
    out: &mut BTreeSet<PathBuf>,
    file: &mut dyn FnMut(&Path),
) {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        if !rules.watches(&dir, cache) || !dir.is_dir() {
            continue;
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        out.insert(dir.clone());
        for entry in entries.flatten() {
            let path = entry.path();
            // Not followed through symlinks: a link to `/` must not be walked.
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(path),
                Ok(_) => file(&path),
                Err(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::watch::Watch;
    use std::sync::mpsc;
    use std::time::Duration;

    /// How long a test waits for the watcher to see something.
    const PATIENCE: Duration = Duration::from_secs(10);

    fn watching(dir: &Path, paths: &[&str]) -> (Watcher, mpsc::Receiver<Notice>) {
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        let watcher = Watcher::new(Arc::new(move |n| {
            let _ = tx.lock().unwrap().send(n);
        }));
        let watch = Watch {
            paths: paths.iter().map(|s| s.to_string()).collect(),
            ignore: vec![],
            debounce: Duration::from_millis(50),
            gitignore: true,
        };
        let rules = Rules::new("api", &watch, dir, Some(dir.to_path_buf()), vec![]).unwrap();
        watcher.configure(vec![rules]);
        (watcher, rx)
    }

    #[test]
    fn a_write_and_a_new_directory_s_files_are_changes() {
        let d = tempfile::tempdir().unwrap();
        let dir = std::fs::canonicalize(d.path()).unwrap();
        std::fs::create_dir(dir.join("src")).unwrap();
        let (_watcher, rx) = watching(&dir, &["src"]);
        // Registration happens on the watcher's thread; a change made before it is not seen.
        std::thread::sleep(Duration::from_millis(200));
        std::fs::write(dir.join("src/a.py"), "1").unwrap();
        match rx.recv_timeout(PATIENCE).unwrap() {
            Notice::Changed { service, file, .. } => {
                assert_eq!((service.as_str(), file.as_str()), ("api", "src/a.py"))
            }
            other => panic!("{other:?}"),
        }
        std::fs::create_dir_all(dir.join("src/new/deeper")).unwrap();
        std::fs::write(dir.join("src/new/deeper/b.py"), "1").unwrap();
        match rx.recv_timeout(PATIENCE).unwrap() {
            Notice::Changed { file, .. } => assert!(file.starts_with("src/new"), "{file}"),
            other => panic!("{other:?}"),
        }
    }
}
