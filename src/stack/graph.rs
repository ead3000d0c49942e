//! The dependency graph of a stack: start order, the groups that can start in parallel,
//! the closure of what a command touches, and every cycle named with its full path.

use super::Service;
use std::collections::{BTreeSet, VecDeque};

/// Services by index; `deps[i]` are the services `i` depends on.
#[derive(Debug, Clone)]
pub struct Graph<'a> {
    names: Vec<&'a str>,
    deps: Vec<Vec<usize>>,
}

impl<'a> Graph<'a> {
    pub fn new(services: &'a [Service]) -> Graph<'a> {
        Graph::from_deps(
            services
                .iter()
                .map(|s| {
                    (
                        s.name.as_str(),
                        s.depends_on.iter().map(|d| d.service.as_str()).collect(),
                    )
                })
                .collect(),
        )
    }

    /// Builds the graph from `(name, dependencies)`; dependencies naming no node are ignored
    /// (validation reports them).
    pub fn from_deps(nodes: Vec<(&'a str, Vec<&'a str>)>) -> Graph<'a> {
        let names: Vec<&str> = nodes.iter().map(|(n, _)| *n).collect();
        let index = |name: &str| names.iter().position(|n| *n == name);
        let deps = nodes
            .iter()
            .map(|(_, ds)| {
                let mut v: Vec<usize> = ds.iter().filter_map(|d| index(d)).collect();
                v.dedup();
                v
            })
            .collect();
        Graph { names, deps }
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| *n == name)
    }

    /// Groups in start order: every service comes after all of its dependencies, and the
    /// services of one group do not depend on each other. Within a group, config order.
    /// Services on a cycle are left out (a valid stack has none).
    pub fn levels(&self) -> Vec<Vec<&'a str>> {
        let n = self.names.len();
        let mut remaining: Vec<usize> = self.deps.iter().map(|d| d.len()).collect();
        let mut dependents = vec![Vec::new(); n];
        for (i, ds) in self.deps.iter().enumerate() {
            for &d in ds {
                dependents[d].push(i);
            }
        }
        let mut level: Vec<usize> = (0..n).filter(|&i| remaining[i] == 0).collect();
        let mut out = Vec::new();
        while !level.is_empty() {
            let mut next = Vec::new();
            for &i in &level {
                for &j in &dependents[i] {
                    remaining[j] -= 1;
                    if remaining[j] == 0 {
                        next.push(j);
                    }
                }
            }
            next.sort_unstable();
            out.push(level.iter().map(|&i| self.names[i]).collect());
            level = next;
        }
        out
    }

    /// The named services and everything they depend on, directly or not, in start order.
    pub fn with_dependencies(&self, roots: &[&str]) -> Vec<&'a str> {
        self.closure(roots, |i| self.deps[i].clone())
    }

    /// The named services and everything that depends on them, directly or not, in start
    /// order (stop them in reverse).
    pub fn with_dependents(&self, roots: &[&str]) -> Vec<&'a str> {
        self.closure(roots, |i| {
            (0..self.names.len())
                .filter(|&j| self.deps[j].contains(&i))
                .collect()
        })
    }

    fn closure(&self, roots: &[&str], next: impl Fn(usize) -> Vec<usize>) -> Vec<&'a str> {
        let mut seen = BTreeSet::new();
        let mut queue: VecDeque<usize> = roots.iter().filter_map(|r| self.index(r)).collect();
        while let Some(i) = queue.pop_front() {
            if seen.insert(i) {
                queue.extend(next(i));
            }
        }
        self.levels()
            .into_iter()
            .flatten()
            .filter(|name| self.index(name).is_some_and(|i| seen.contains(&i)))
            .collect()
    }

    /// Every cycle, as a closed walk through all members of one strongly connected group,
    /// starting and ending at its first member in config order: `["api", "worker", "api"]`.
    pub fn cycles(&self) -> Vec<Vec<&'a str>> {
        let mut out = Vec::new();
        for group in self.strongly_connected() {
            let self_loop = group.len() == 1 && self.deps[group[0]].contains(&group[0]);
            if group.len() > 1 || self_loop {
                out.push(
                    self.walk(&group)
                        .into_iter()
                        .map(|i| self.names[i])
                        .collect(),
                );
            }
        }
        out.sort();
        out
    }

    /// A closed walk from `group[0]` visiting every member, following dependency edges.
    fn walk(&self, group: &[usize]) -> Vec<usize> {
        let mut path = vec![group[0]];
        let mut current = group[0];
        for &target in group.iter().skip(1).chain(std::iter::once(&group[0])) {
            if target != group[0] && path.contains(&target) {
                continue;
            }
            let hop = self.shortest_path(current, target, group);
            path.extend(hop);
            current = target;
        }
        path
    }

    /// The nodes after `from` on a shortest path to `to` inside `within` (at least one step).
    fn shortest_path(&self, from: usize, to: usize, within: &[usize]) -> Vec<usize> {
        let mut previous = vec![usize::MAX; self.names.len()];
        let mut queue = VecDeque::from([from]);
        while let Some(i) = queue.pop_front() {
            for &d in &self.deps[i] {
                if within.contains(&d) && previous[d] == usize::MAX {
                    previous[d] = i;
                    if d == to {
                        let mut path = vec![to];
                        let mut at = i;
                        while at != from {
                            path.push(at);
                            at = previous[at];
                        }
                        path.reverse();
                        return path;
                    }
                    queue.push_back(d);
                }
            }
        }
        vec![to]
    }

    /// Tarjan's algorithm; each group sorted by config order.
    fn strongly_connected(&self) -> Vec<Vec<usize>> {
        struct State {
            index: Vec<Option<usize>>,
            low: Vec<usize>,
            on_stack: Vec<bool>,
            stack: Vec<usize>,
            next: usize,
            groups: Vec<Vec<usize>>,
        }
        fn visit(g: &Graph, v: usize, s: &mut State) {
            s.index[v] = Some(s.next);
            s.low[v] = s.next;
            s.next += 1;
            s.stack.push(v);
            s.on_stack[v] = true;
            for &w in &g.deps[v] {
                match s.index[w] {
                    None => {
                        visit(g, w, s);
                        s.low[v] = s.low[v].min(s.low[w]);
                    }
                    Some(iw) if s.on_stack[w] => s.low[v] = s.low[v].min(iw),
                    Some(_) => {}
                }
            }
            if Some(s.low[v]) == s.index[v] {
                let mut group = Vec::new();
                while let Some(w) = s.stack.pop() {
                    s.on_stack[w] = false;
                    group.push(w);
                    if w == v {
                        break;
                    }
                }
                group.sort_unstable();
                s.groups.push(group);
            }
        }
        let n = self.names.len();
        let mut s = State {
            index: vec![None; n],
            low: vec![0; n],
            on_stack: vec![false; n],
            stack: Vec::new(),
            next: 0,
            groups: Vec::new(),
        };
        for v in 0..n {
            if s.index[v].is_none() {
                visit(self, v, &mut s);
            }
        }
        s.groups
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph<'a>(spec: &[(&'a str, &[&'a str])]) -> Graph<'a> {
        Graph::from_deps(spec.iter().map(|(n, d)| (*n, d.to_vec())).collect())
    }

    #[test]
    fn levels_group_what_can_start_together() {
        let g = graph(&[
            ("web", &["api"]),
            ("api", &["db", "cache"]),
            ("db", &[]),
            ("cache", &[]),
            ("worker", &["db"]),
        ]);
        assert_eq!(
            g.levels(),
            vec![vec!["db", "cache"], vec!["api", "worker"], vec!["web"]]
        );
        assert!(g.cycles().is_empty());
    }

    #[test]
    fn closures_follow_edges_both_ways() {
        let g = graph(&[("web", &["api"]), ("api", &["db"]), ("db", &[]), ("x", &[])]);
        assert_eq!(g.with_dependencies(&["web"]), ["db", "api", "web"]);
        assert_eq!(g.with_dependents(&["db"]), ["db", "api", "web"]);
        assert_eq!(g.with_dependencies(&["x"]), ["x"]);
    }

    #[test]
    fn cycles_name_every_member() {
        let g = graph(&[("api", &["worker"]), ("worker", &["api"]), ("db", &[])]);
        assert_eq!(g.cycles(), vec![vec!["api", "worker", "api"]]);

        let g = graph(&[("a", &["a"])]);
        assert_eq!(g.cycles(), vec![vec!["a", "a"]]);

        // a <-> b <-> c: no simple cycle holds all three; the walk still names each.
        let g = graph(&[("a", &["b"]), ("b", &["a", "c"]), ("c", &["b"])]);
        let walk = &g.cycles()[0];
        assert_eq!(walk.first(), Some(&"a"));
        assert_eq!(walk.last(), Some(&"a"));
        for member in ["a", "b", "c"] {
            assert!(walk.contains(&member), "{walk:?}");
        }
        for pair in walk.windows(2) {
            assert!(g.deps[g.index(pair[0]).unwrap()].contains(&g.index(pair[1]).unwrap()));
        }
    }

    #[test]
    fn two_separate_cycles_are_both_reported() {
        let g = graph(&[("a", &["b"]), ("b", &["a"]), ("c", &["d"]), ("d", &["c"])]);
        assert_eq!(g.cycles().len(), 2);
        assert!(g.levels().is_empty());
    }
}
