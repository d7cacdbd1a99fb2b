//! Cycle finding for the name graphs resources form (`dependsOn`, formula `needs`, `extends`).

use std::collections::{BTreeMap, BTreeSet};

/// Every cycle reachable in `edges` (node → the nodes it points at), each reported once as the
/// path from its smallest node back to that node. Edges to unknown nodes are ignored (they
/// are reported as missing references elsewhere).
pub fn cycles(edges: &BTreeMap<&str, Vec<&str>>) -> Vec<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Unseen,
        OnStack,
        Done,
    }
    let mut marks: BTreeMap<&str, Mark> = edges.keys().map(|k| (*k, Mark::Unseen)).collect();
    let mut found: BTreeSet<Vec<String>> = BTreeSet::new();

    // Iterative depth-first search so deep graphs cannot overflow the stack.
    for &start in edges.keys() {
        if marks[start] != Mark::Unseen {
            continue;
        }
        let mut path: Vec<&str> = vec![start];
        let mut next_edge: Vec<usize> = vec![0];
        marks.insert(start, Mark::OnStack);
        while let Some(&node) = path.last() {
            let i = *next_edge.last().expect("same length as path");
            let targets = &edges[node];
            if i < targets.len() {
                *next_edge.last_mut().expect("non-empty") += 1;
                let target = targets[i];
                match marks.get(target).copied() {
                    Some(Mark::Unseen) => {
                        marks.insert(target, Mark::OnStack);
                        path.push(target);
                        next_edge.push(0);
                    }
                    Some(Mark::OnStack) => {
                        let from = path.iter().position(|n| *n == target).expect("on stack");
                        found.insert(rotate(&path[from..]));
                    }
                    Some(Mark::Done) | None => {}
                }
            } else {
                marks.insert(node, Mark::Done);
                path.pop();
                next_edge.pop();
            }
        }
    }
    found.into_iter().collect()
}

/// The cycle starting at its smallest member, closed by repeating it: `[a, b, a]`.
fn rotate(cycle: &[&str]) -> Vec<String> {
    let min = (0..cycle.len()).min_by_key(|&i| cycle[i]).unwrap_or(0);
    let mut out: Vec<String> =
        cycle[min..].iter().chain(&cycle[..min]).map(|s| (*s).to_owned()).collect();
    out.push(out[0].clone());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_self_loops_and_longer_cycles_once() {
        let edges: BTreeMap<&str, Vec<&str>> = [
            ("a", vec!["b"]),
            ("b", vec!["c", "missing"]),
            ("c", vec!["a"]),
            ("d", vec!["d"]),
            ("e", vec!["a"]),
        ]
        .into_iter()
        .collect();
        assert_eq!(cycles(&edges), vec![vec!["a", "b", "c", "a"], vec!["d", "d"]]);
    }

    #[test]
    fn acyclic_graphs_have_no_cycles() {
        let edges: BTreeMap<&str, Vec<&str>> =
            [("a", vec!["b", "c"]), ("b", vec!["c"]), ("c", vec![])].into_iter().collect();
        assert!(cycles(&edges).is_empty());
    }
}
