//! Why a service was not started: the one service down its dependencies whose end kept it
//! back. A dependent of a dependent names that root too, not the dependency in between, so
//! a failure is told once (in the root's own reason) and every service it kept back says
//! only `not started: db failed`.

/// The service whose end kept a dependent from starting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cause {
    /// The root: a dependency that failed, was stopped, or could not be started itself.
    pub root: String,
    pub what: End,
}

/// What became of the root.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// It ran and failed (its own reason says how).
    Failed,
    /// It was stopped (`down`) while the dependent waited for it.
    Stopped,
    /// It never got a supervisor (its own reason says why).
    NotStarted,
}

impl End {
    fn words(self) -> &'static str {
        match self {
            End::Failed => "failed",
            End::Stopped => "was stopped",
            End::NotStarted => "did not start",
        }
    }
}

impl Cause {
    /// The reason of a dependent it kept back, whose dependency `via` it came through.
    pub fn reason(&self, via: &str) -> String {
        let root = format!("not started: {} {}", self.root, self.what.words());
        if via == self.root {
            root
        } else {
            format!("{root} (via {via})")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dependent_names_the_root_once_and_the_dependency_it_came_through() {
        let cause = |root: &str, what| Cause {
            root: root.into(),
            what,
        };
        let table = [
            (cause("db", End::Failed), "db", "not started: db failed"),
            (
                cause("db", End::Failed),
                "api",
                "not started: db failed (via api)",
            ),
            (
                cause("db", End::Stopped),
                "db",
                "not started: db was stopped",
            ),
            (
                cause("cache", End::NotStarted),
                "worker",
                "not started: cache did not start (via worker)",
            ),
        ];
        for (cause, via, reason) in table {
            assert_eq!(cause.reason(via), reason, "{cause:?} via {via}");
        }
    }
}
