//! Source settings whose berth key this berth does not have yet: `replicas` (N copies of a
//! service) and `watch` (restart on file changes). Each mapping lives here alone, so that
//! the day the config accepts the key only these functions change.

use super::leftover::Leftover;

/// Where a setting stands in the source.
pub struct At<'a> {
    pub file: &'a str,
    pub line: Option<usize>,
    pub key: &'a str,
    pub service: &'a str,
}

/// `replicas: N` / PM2 `instances`: more than one copy of the service. One copy is what berth
/// runs anyway, so that is carried over as it is.
pub fn replicas(count: Option<u64>, spelled: &str, at: &At) -> Option<Leftover> {
    if count == Some(1) {
        return None;
    }
    Some(
        Leftover::new(
            at.file,
            at.line,
            at.key,
            format!(
                "{spelled} copies: this berth runs one copy of a service (no `replicas` yet); \
                 define more services to run more copies"
            ),
        )
        .on(at.service),
    )
}

/// `watch`: restart when files change. `paths` are the globs the source watches (empty when
/// it watches the whole working directory).
pub fn watch(paths: &[String], at: &At) -> Option<Leftover> {
    let what = if paths.is_empty() {
        "its working directory".to_string()
    } else {
        paths.join(", ")
    };
    Some(
        Leftover::new(
            at.file,
            at.line,
            at.key,
            format!(
                "restarts on changes to {what}: this berth does not watch files (no `watch` yet); \
                 run `berth restart {}` after a change",
                at.service
            ),
        )
        .on(at.service),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: At = At {
        file: "process-compose.yaml",
        line: Some(7),
        key: "replicas",
        service: "api",
    };

    #[test]
    fn one_copy_carries_over_and_more_are_listed() {
        assert_eq!(replicas(Some(1), "1", &AT), None);
        let l = replicas(Some(3), "3", &AT).unwrap();
        assert_eq!(l.line, Some(7));
        assert!(l.why.starts_with("3 copies: "), "{}", l.why);
        assert_eq!(l.comment_on.as_deref(), Some("api"));
        assert!(
            replicas(None, "max", &AT)
                .unwrap()
                .why
                .starts_with("max copies")
        );
    }

    #[test]
    fn watching_says_what_and_what_to_do() {
        let l = watch(&["src".into()], &AT).unwrap();
        assert!(l.why.contains("changes to src"), "{}", l.why);
        assert!(l.why.contains("berth restart api"), "{}", l.why);
        assert!(
            watch(&[], &AT)
                .unwrap()
                .why
                .contains("its working directory")
        );
    }
}
