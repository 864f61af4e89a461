//! The dependency graph of a revision: what must exist or run before what, in a stable
//! topological order and in parallel levels for the executor.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::fmt::Write as _;

use petgraph::Direction;
use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::kinds::{Object, ObjectRef};

/// Edges run from a dependency to its dependent (`volume/data -> container/app`), the
/// direction in which things are created.
#[derive(Debug, Clone)]
pub struct DependencyGraph {
    graph: DiGraph<ObjectRef, ()>,
    index: HashMap<ObjectRef, NodeIndex>,
    order: Vec<NodeIndex>,
    levels: Vec<usize>,
}

/// The graph has a cycle; validation reports cycles first, so this only guards the API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dependency cycle: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join(" -> "))]
pub struct CycleError(pub Vec<ObjectRef>);

impl DependencyGraph {
    /// Builds the graph of `objects`; references to objects not in the list are ignored
    /// (validation has reported them).
    pub fn build(objects: &[Object]) -> Result<Self, CycleError> {
        let mut graph = DiGraph::with_capacity(objects.len(), objects.len());
        let mut index = HashMap::with_capacity(objects.len());
        let mut sorted: Vec<ObjectRef> = objects.iter().map(Object::object_ref).collect();
        sorted.sort();
        for r in sorted {
            let i = graph.add_node(r.clone());
            index.insert(r, i);
        }
        for object in objects {
            let to = index[&object.object_ref()];
            let mut deps: Vec<ObjectRef> = object.dependencies();
            deps.sort();
            deps.dedup();
            for dep in deps {
                if let Some(&from) = index.get(&dep) {
                    graph.add_edge(from, to, ());
                }
            }
        }
        let (order, levels) = topological(&graph).map_err(|node| {
            let edges: Vec<(ObjectRef, ObjectRef)> = graph
                .edge_indices()
                .filter_map(|e| graph.edge_endpoints(e))
                .map(|(a, b)| (graph[b].clone(), graph[a].clone()))
                .collect();
            find_cycles(&edges)
                .into_iter()
                .next()
                .map_or_else(|| CycleError(vec![graph[node].clone()]), CycleError)
        })?;
        Ok(Self {
            graph,
            index,
            order,
            levels,
        })
    }

    pub fn len(&self) -> usize {
        self.graph.node_count()
    }

    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0
    }

    pub fn contains(&self, object: &ObjectRef) -> bool {
        self.index.contains_key(object)
    }

    /// Every object, dependencies before dependents; ties broken by kind, then name, so
    /// the order is the same on every host and every run.
    pub fn order(&self) -> impl Iterator<Item = &ObjectRef> {
        self.order.iter().map(|&i| &self.graph[i])
    }

    /// Objects grouped by depth: level 0 needs nothing, level n needs only lower levels.
    /// Everything within one level can be worked on in parallel.
    pub fn levels(&self) -> Vec<Vec<&ObjectRef>> {
        let depth = self.levels.iter().copied().max().map_or(0, |d| d + 1);
        let mut out = vec![Vec::new(); depth];
        for &i in &self.order {
            out[self.levels[i.index()]].push(&self.graph[i]);
        }
        out
    }

    /// What `object` needs directly.
    pub fn dependencies(&self, object: &ObjectRef) -> Vec<&ObjectRef> {
        self.neighbors(object, Direction::Incoming)
    }

    /// What needs `object` directly.
    pub fn dependents(&self, object: &ObjectRef) -> Vec<&ObjectRef> {
        self.neighbors(object, Direction::Outgoing)
    }

    /// Everything that needs `object`, directly or not, in topological order: what a
    /// failure of `object` blocks.
    pub fn transitive_dependents(&self, object: &ObjectRef) -> Vec<&ObjectRef> {
        let Some(&start) = self.index.get(object) else {
            return Vec::new();
        };
        let mut reached = vec![false; self.graph.node_count()];
        let mut stack = vec![start];
        while let Some(n) = stack.pop() {
            for m in self.graph.neighbors_directed(n, Direction::Outgoing) {
                if !reached[m.index()] {
                    reached[m.index()] = true;
                    stack.push(m);
                }
            }
        }
        self.order
            .iter()
            .filter(|i| reached[i.index()])
            .map(|&i| &self.graph[i])
            .collect()
    }

    fn neighbors(&self, object: &ObjectRef, direction: Direction) -> Vec<&ObjectRef> {
        let Some(&i) = self.index.get(object) else {
            return Vec::new();
        };
        let mut out: Vec<&ObjectRef> = self
            .graph
            .neighbors_directed(i, direction)
            .map(|n| &self.graph[n])
            .collect();
        out.sort();
        out
    }

    /// Each object on a line with what it needs, grouped by level.
    pub fn to_text(&self) -> String {
        self.to_text_with(|_| None)
    }

    /// Like [`to_text`](Self::to_text), with a note after each object that has one (its
    /// state on a host, for `podctl graph` when a host is reachable).
    pub fn to_text_with(&self, note: impl Fn(&ObjectRef) -> Option<String>) -> String {
        let mut out = String::new();
        for (level, objects) in self.levels().iter().enumerate() {
            let _ = writeln!(out, "level {level}:");
            for object in objects {
                let _ = write!(out, "  {object}");
                if let Some(note) = note(object) {
                    let _ = write!(out, " [{note}]");
                }
                let deps = self.dependencies(object);
                if !deps.is_empty() {
                    let shown: Vec<String> = deps.iter().map(ToString::to_string).collect();
                    let _ = write!(out, " <- {}", shown.join(", "));
                }
                out.push('\n');
            }
        }
        out
    }

    /// Graphviz: `podctl graph --format dot | dot -Tsvg > graph.svg`.
    pub fn to_dot(&self) -> String {
        self.to_dot_with(|_| None)
    }

    /// Like [`to_dot`](Self::to_dot), with a note under each object that has one.
    pub fn to_dot_with(&self, note: impl Fn(&ObjectRef) -> Option<String>) -> String {
        let mut out = String::from(
            "digraph podctl {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n",
        );
        for &i in &self.order {
            let object = &self.graph[i];
            match note(object) {
                Some(note) => {
                    let _ = writeln!(out, "  \"{object}\" [label=\"{object}\\n{note}\"];");
                }
                None => {
                    let _ = writeln!(out, "  \"{object}\";");
                }
            }
        }
        let mut edges: Vec<(&ObjectRef, &ObjectRef)> = self
            .graph
            .edge_indices()
            .filter_map(|e| self.graph.edge_endpoints(e))
            .map(|(a, b)| (&self.graph[a], &self.graph[b]))
            .collect();
        edges.sort();
        for (a, b) in edges {
            let _ = writeln!(out, "  \"{a}\" -> \"{b}\";");
        }
        out.push_str("}\n");
        out
    }
}

/// Kahn's algorithm with a min-heap, so ready nodes come out by `(kind, name)`; also the
/// level of each node (the longest path to it). Fails with a node on a cycle.
fn topological(graph: &DiGraph<ObjectRef, ()>) -> Result<(Vec<NodeIndex>, Vec<usize>), NodeIndex> {
    let n = graph.node_count();
    let mut indegree: Vec<usize> = (0..n)
        .map(|i| {
            graph
                .neighbors_directed(NodeIndex::new(i), Direction::Incoming)
                .count()
        })
        .collect();
    let mut levels = vec![0usize; n];
    // Node indexes were assigned in sorted ObjectRef order, so the smallest index is the
    // smallest (kind, name).
    let mut ready: BinaryHeap<Reverse<usize>> =
        (0..n).filter(|&i| indegree[i] == 0).map(Reverse).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(Reverse(i)) = ready.pop() {
        let node = NodeIndex::new(i);
        order.push(node);
        for m in graph.neighbors_directed(node, Direction::Outgoing) {
            let j = m.index();
            levels[j] = levels[j].max(levels[i] + 1);
            indegree[j] -= 1;
            if indegree[j] == 0 {
                ready.push(Reverse(j));
            }
        }
    }
    if order.len() < n {
        let stuck = (0..n).find(|&i| indegree[i] > 0).unwrap_or(0);
        return Err(NodeIndex::new(stuck));
    }
    Ok((order, levels))
}

/// Every dependency cycle among `edges` (`(dependent, dependency)` pairs), each as the
/// path `a, b, ..., a` where each needs the next, starting at its smallest member.
pub(crate) fn find_cycles(edges: &[(ObjectRef, ObjectRef)]) -> Vec<Vec<ObjectRef>> {
    let mut graph: DiGraph<ObjectRef, ()> = DiGraph::new();
    let mut index: HashMap<&ObjectRef, NodeIndex> = HashMap::new();
    let mut nodes: BTreeSet<&ObjectRef> = BTreeSet::new();
    for (a, b) in edges {
        nodes.insert(a);
        nodes.insert(b);
    }
    for r in nodes {
        index.insert(r, graph.add_node(r.clone()));
    }
    for (a, b) in edges {
        graph.update_edge(index[a], index[b], ());
    }
    let mut cycles: Vec<Vec<ObjectRef>> = tarjan_scc(&graph)
        .into_iter()
        .filter(|scc| scc.len() > 1)
        .filter_map(|scc| cycle_in(&graph, &scc))
        .collect();
    cycles.sort();
    cycles
}

/// A simple cycle through the smallest member of a strongly connected component, found
/// by a depth-first search that prefers smaller neighbours (stable output).
fn cycle_in(graph: &DiGraph<ObjectRef, ()>, scc: &[NodeIndex]) -> Option<Vec<ObjectRef>> {
    let members: BTreeSet<NodeIndex> = scc.iter().copied().collect();
    let start = *scc.iter().min_by_key(|&&i| &graph[i])?;
    let mut path = vec![start];
    let mut visited: BTreeSet<NodeIndex> = BTreeSet::from([start]);
    let mut stack: Vec<Vec<NodeIndex>> = vec![sorted_next(graph, start, &members)];
    while let Some(candidates) = stack.last_mut() {
        match candidates.pop() {
            Some(next) if next == start => {
                let mut cycle: Vec<ObjectRef> = path.iter().map(|&i| graph[i].clone()).collect();
                cycle.push(graph[start].clone());
                return Some(cycle);
            }
            Some(next) if visited.insert(next) => {
                path.push(next);
                stack.push(sorted_next(graph, next, &members));
            }
            Some(_) => {}
            None => {
                stack.pop();
                path.pop();
            }
        }
    }
    None
}

/// Neighbours inside the component, largest first (the stack pops the smallest first).
fn sorted_next(
    graph: &DiGraph<ObjectRef, ()>,
    node: NodeIndex,
    members: &BTreeSet<NodeIndex>,
) -> Vec<NodeIndex> {
    let mut next: Vec<NodeIndex> = graph
        .neighbors_directed(node, Direction::Outgoing)
        .filter(|n| members.contains(n))
        .collect();
    next.sort_by(|a, b| graph[*b].cmp(&graph[*a]));
    next
}
