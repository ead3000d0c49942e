//! Burst collapse: changes to one service's files are gathered until none has come for its
//! `debounce`, then handed out as one burst (one restart). A service whose restart is still
//! going keeps gathering and gets its next burst only after that restart is done, so two
//! restarts of one service never overlap. Pure: the caller passes the time.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The changed files of a burst kept for naming; the count goes on past it.
const KEPT: usize = 64;

/// One service's changes, collapsed: what restarts it once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Burst {
    pub service: String,
    /// Distinct changed paths, least recently changed first (at most `KEPT`).
    pub files: Vec<PathBuf>,
    /// How many distinct paths changed (one written twice is one).
    pub changed: usize,
}

#[derive(Debug)]
struct Open {
    last: Instant,
    debounce: Duration,
    files: Vec<PathBuf>,
    seen: HashSet<PathBuf>,
}

#[derive(Debug, Default)]
pub struct Bursts {
    open: BTreeMap<String, Open>,
    /// Services whose restart has been handed out and not reported done.
    busy: BTreeSet<String>,
}

impl Bursts {
    /// A change of `file`, which belongs to `service`, seen at `now`.
    pub fn note(&mut self, service: &str, debounce: Duration, file: &Path, now: Instant) {
        let open = self.open.entry(service.to_string()).or_insert(Open {
            last: now,
            debounce,
            files: Vec::new(),
            seen: HashSet::new(),
        });
        open.last = now;
        open.debounce = debounce;
        open.seen.insert(file.to_path_buf());
        // The most recent change last: it is the likeliest to be the file that was saved.
        open.files.retain(|f| f != file);
        if open.files.len() == KEPT {
            open.files.remove(0);
        }
        open.files.push(file.to_path_buf());
    }

    /// The bursts that have been quiet for their debounce at `now`; their services are busy
    /// until [`Bursts::done`].
    pub fn due(&mut self, now: Instant) -> Vec<Burst> {
        let ready: Vec<String> = self
            .open
            .iter()
            .filter(|(name, o)| !self.busy.contains(*name) && o.last + o.debounce <= now)
            .map(|(name, _)| name.clone())
            .collect();
        ready
            .into_iter()
            .map(|service| {
                let open = self.open.remove(&service).expect("listed");
                self.busy.insert(service.clone());
                Burst {
                    service,
                    changed: open.seen.len(),
                    files: open.files,
                }
            })
            .collect()
    }

    /// The restart of `service` has finished; changes seen meanwhile may now come due.
    pub fn done(&mut self, service: &str) {
        self.busy.remove(service);
    }

    /// When the next burst comes due, if one is open and not held back.
    pub fn next(&self) -> Option<Instant> {
        self.open
            .iter()
            .filter(|(name, _)| !self.busy.contains(*name))
            .map(|(_, o)| o.last + o.debounce)
            .min()
    }

    /// Drops what is gathered for services no longer watched.
    pub fn retain(&mut self, watched: impl Fn(&str) -> bool) {
        self.open.retain(|name, _| watched(name));
    }
}

/// The file a burst is said to be about: the most recently changed one that still exists
/// (an editor's temporary file is gone once renamed over the real one), else the last.
pub fn named(files: &[PathBuf], exists: impl Fn(&Path) -> bool) -> Option<&Path> {
    files
        .iter()
        .rev()
        .find(|f| exists(f))
        .or(files.last())
        .map(PathBuf::as_path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: Duration = Duration::from_millis(300);

    fn ms(t0: Instant, n: u64) -> Instant {
        t0 + Duration::from_millis(n)
    }

    #[test]
    fn a_burst_restarts_once_after_its_quiet_period() {
        let t0 = Instant::now();
        let mut b = Bursts::default();
        // (time, service, file): writes 100 ms apart keep one burst open.
        let table: &[(u64, &str, &str)] = &[
            (0, "api", "a.py"),
            (100, "api", "b.py"),
            (200, "api", "a.py"),
            (250, "web", "x.js"),
        ];
        for (t, service, file) in table {
            b.note(service, D, Path::new(file), ms(t0, *t));
        }
        assert_eq!(b.next(), Some(ms(t0, 500)));
        assert!(b.due(ms(t0, 499)).is_empty());
        let due = b.due(ms(t0, 500));
        assert_eq!(
            due,
            [Burst {
                service: "api".into(),
                files: vec!["b.py".into(), "a.py".into()],
                changed: 2,
            }]
        );
        assert_eq!(b.next(), Some(ms(t0, 550)));
        assert_eq!(b.due(ms(t0, 600))[0].service, "web");
        assert_eq!(b.next(), None);
        assert!(b.due(ms(t0, 10_000)).is_empty(), "nothing twice");
    }

    #[test]
    fn a_busy_service_waits_for_its_restart_to_finish() {
        let t0 = Instant::now();
        let mut b = Bursts::default();
        b.note("api", D, Path::new("a.py"), t0);
        assert_eq!(b.due(ms(t0, 300)).len(), 1);
        // Saved again while the restart runs: held, not lost.
        b.note("api", D, Path::new("a.py"), ms(t0, 320));
        assert_eq!(b.next(), None);
        assert!(b.due(ms(t0, 1000)).is_empty());
        b.done("api");
        assert_eq!(b.next(), Some(ms(t0, 620)));
        assert_eq!(b.due(ms(t0, 1000)).len(), 1);
    }

    #[test]
    fn each_service_has_its_own_debounce_and_dropped_ones_are_forgotten() {
        let t0 = Instant::now();
        let mut b = Bursts::default();
        b.note("fast", Duration::from_millis(50), Path::new("f"), t0);
        b.note("slow", Duration::from_secs(2), Path::new("s"), t0);
        assert_eq!(b.due(ms(t0, 50))[0].service, "fast");
        b.retain(|name| name != "slow");
        assert!(b.due(ms(t0, 5000)).is_empty());
    }

    #[test]
    fn many_changes_are_counted_and_the_newest_files_kept() {
        let t0 = Instant::now();
        let mut b = Bursts::default();
        for i in 0..100 {
            b.note("api", D, Path::new(&format!("f{i}")), t0);
        }
        let burst = b.due(ms(t0, 300)).remove(0);
        assert_eq!((burst.changed, burst.files.len()), (100, KEPT));
        assert_eq!(burst.files.last().unwrap(), Path::new("f99"));
    }

    #[test]
    fn the_named_file_is_the_newest_that_still_exists() {
        let files: Vec<PathBuf> = ["app.py", "app.py.tmp"].iter().map(PathBuf::from).collect();
        let table: &[(&[&str], Option<&str>)] = &[
            (&["app.py"], Some("app.py")),
            (&["app.py", "app.py.tmp"], Some("app.py.tmp")),
            (&[], Some("app.py.tmp")),
        ];
        for (existing, want) in table {
            let got = named(&files, |f| existing.iter().any(|e| Path::new(e) == f));
            assert_eq!(got, want.map(Path::new), "{existing:?}");
        }
        assert_eq!(named(&[], |_| true), None);
    }
}
