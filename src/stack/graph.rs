//! The dependency graph of a stack: start order, the groups that can start in parallel,
//! the closure of what a command touches, and every cycle named with its full path.

use super::Service;
use std::collections::{BTreeSet, VecDeque};

/// Services by index; `deps[i]` are the services `i` depends on.
#[derive(Debug, Clone)]
pub struct Graph<'a> {
    names: Vec<&'a str>,
    deps: Vec<Vec<usize>>,
    /// Replicated services and their instances: a name that stands for all of them, as a
    /// dependency and as a root.
    groups: Vec<(&'a str, Vec<usize>)>,
}

impl<'a> Graph<'a> {
    /// A dependency on a replicated service is one on every instance of it.
    pub fn new(services: &'a [Service]) -> Graph<'a> {
        let mut groups: Vec<(&str, Vec<usize>)> = Vec::new();
        for (i, s) in services.iter().enumerate() {
            if let Some(r) = &s.replica {
                match groups.iter_mut().find(|(g, _)| *g == r.of) {
                    Some((_, members)) => members.push(i),
                    None => groups.push((r.of.as_str(), vec![i])),
                }
            }
        }
        let members = |dep: &'a str| -> Vec<&'a str> {
            match groups.iter().find(|(g, _)| *g == dep) {
                Some((_, m)) => m.iter().map(|&i| services[i].name.as_str()).collect(),
                None => vec![dep],
            }
        };
        let mut graph = Graph::from_deps(
            services
                .iter()
                .map(|s| {
                    (
                        s.name.as_str(),
                        s.depends_on
                            .iter()
                            .flat_map(|d| members(d.service.as_str()))
                            .collect(),
                    )
                })
                .collect(),
        );
        graph.groups = groups;
        graph
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
        Graph {
            names,
            deps,
            groups: Vec::new(),
        }
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| *n == name)
    }

    /// The nodes a root stands for: a service, or every instance of a replicated one.
    fn roots(&self, roots: &[&str]) -> Vec<usize> {
        roots
            .iter()
            .flat_map(|r| match self.groups.iter().find(|(g, _)| g == r) {
                Some((_, members)) => members.clone(),
                None => self.index(r).into_iter().collect(),
            })
            .collect()
    }

    /// Whether `i`, once in `seen`, takes its dependents along: a plain service does; an
    /// instance only with every other instance of its service (one instance stopped leaves
    /// the pool, and what depends on it, running).
    fn carries(&self, i: usize, seen: &BTreeSet<usize>) -> bool {
        self.groups
            .iter()
            .find(|(_, members)| members.contains(&i))
            .is_none_or(|(_, members)| members.iter().all(|m| seen.contains(m)))
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
        self.closure(roots, |i, _| self.deps[i].clone())
    }

    /// The named services and everything that depends on them, directly or not, in start
    /// order (stop them in reverse).
    pub fn with_dependents(&self, roots: &[&str]) -> Vec<&'a str> {
        self.closure(roots, |i, seen| {
            // The last instance of a service to be reached brings its dependents along.
            let instances: Vec<usize> = match self.groups.iter().find(|(_, m)| m.contains(&i)) {
                Some((_, members)) if self.carries(i, seen) => members.clone(),
                Some(_) => return Vec::new(),
                None => vec![i],
            };
            (0..self.names.len())
                .filter(|&j| instances.iter().any(|i| self.deps[j].contains(i)))
                .collect()
        })
    }

    fn closure(
        &self,
        roots: &[&str],
        next: impl Fn(usize, &BTreeSet<usize>) -> Vec<usize>,
    ) -> Vec<&'a str> {
        let mut seen = BTreeSet::new();
        let mut queue: VecDeque<usize> = self.roots(roots).into_iter().collect();
        while let Some(i) = queue.pop_front() {
            if seen.insert(i) {
                queue.extend(next(i, &seen));
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
    fn a_replicated_service_stands_for_every_instance() {
        let (_dir, stack) = crate::stack::replicas::load(
            "services:\n  db: { command: db }\n  api: { command: api, replicas: 3, depends_on: [db] }\n  web: { command: web, depends_on: [api] }\n",
        );
        let g = Graph::new(&stack.services);
        assert_eq!(
            g.levels(),
            [vec!["db"], vec!["api.1", "api.2", "api.3"], vec!["web"]],
            "web waits for every instance"
        );
        assert_eq!(g.with_dependencies(&["web"]).len(), 5);
        assert_eq!(
            g.with_dependents(&["api"]),
            ["api.1", "api.2", "api.3", "web"]
        );
        assert_eq!(
            g.with_dependents(&["db"]),
            ["db", "api.1", "api.2", "api.3", "web"]
        );
        // One instance stopped or restarted leaves the pool, and what depends on it, running.
        assert_eq!(g.with_dependents(&["api.2"]), ["api.2"]);
        assert_eq!(g.with_dependencies(&["api.2"]), ["db", "api.2"]);
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
