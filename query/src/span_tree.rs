//! The parent/child structure of one trace: duplicates removed, parents
//! resolved, children grouped (sorted by start time) in one flat array, and the
//! top-level spans (root, extra roots, orphans) chosen.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use crate::waterfall::{SpanTiming, Warnings};

/// Spans are "nodes" here: the kept spans, numbered in input order.
pub(crate) struct SpanTree {
    /// Input index of each node.
    pub nodes: Vec<usize>,
    /// Parent node of each node, when the parent is in the trace.
    pub parent: Vec<Option<u32>>,
    /// `children[child_offsets[n]..child_offsets[n + 1]]` are the children of `n`, by start time.
    child_offsets: Vec<u32>,
    children: Vec<u32>,
    /// The earliest span without a parent.
    pub root: Option<u32>,
    /// Depth-0 spans in display order: the root, then extra roots and orphans by start time.
    pub tops: Vec<u32>,
}

/// A parent id that means "no parent": absent, empty, or all zeros (invalid per OTLP).
pub(crate) fn real_parent(parent: Option<&str>) -> Option<&str> {
    parent.filter(|p| !p.is_empty() && !p.bytes().all(|b| b == b'0'))
}

impl SpanTree {
    pub fn build(spans: &[SpanTiming<'_>], warnings: &mut Warnings) -> Self {
        let (nodes, index) = dedup(spans, warnings);
        let timing = |n: u32| &spans[nodes[n as usize]];
        // Orders siblings and top-level spans: by start time, then id for determinism.
        let by_start = |a: u32, b: u32| {
            let (x, y) = (timing(a), timing(b));
            x.start_unix_nano.cmp(&y.start_unix_nano).then_with(|| x.span_id.cmp(y.span_id))
        };

        let mut parent = vec![None; nodes.len()];
        let mut root_candidates = Vec::new();
        let mut orphans = Vec::new();
        for n in 0..nodes.len() as u32 {
            let span = timing(n);
            let Some(parent_id) = real_parent(span.parent_span_id) else {
                root_candidates.push(n);
                continue;
            };
            match index.get(parent_id) {
                Some(&p) if p != n => parent[n as usize] = Some(p),
                Some(_) => {
                    warnings.push(|| format!("orphan span {}: it names itself as its parent", span.span_id));
                    orphans.push(n);
                }
                None => {
                    warnings.push(|| format!("orphan span {}: parent {} not found", span.span_id, parent_id));
                    orphans.push(n);
                }
            }
        }

        root_candidates.sort_unstable_by(|&a, &b| by_start(a, b));
        let root = root_candidates.first().copied();
        match root {
            None => warnings
                .push(|| "root span not found: every span has a parent; orphans are shown at depth 0".to_string()),
            Some(_) => {
                for &extra in &root_candidates[1..] {
                    warnings.push(|| {
                        format!(
                            "extra root span {}: the trace has several spans without a parent",
                            timing(extra).span_id
                        )
                    });
                }
            }
        }
        let mut tops: Vec<u32> = root_candidates.get(1..).unwrap_or_default().to_vec();
        tops.extend(orphans);
        tops.sort_unstable_by(|&a, &b| by_start(a, b));
        if let Some(root) = root {
            tops.insert(0, root);
        }

        // Children of all parents in one array, grouped by parent, each group by start time.
        let mut children: Vec<u32> = (0..nodes.len() as u32).filter(|&n| parent[n as usize].is_some()).collect();
        children.sort_unstable_by(|&a, &b| parent[a as usize].cmp(&parent[b as usize]).then_with(|| by_start(a, b)));
        let mut child_offsets = vec![0u32; nodes.len() + 1];
        for &c in &children {
            if let Some(p) = parent[c as usize] {
                child_offsets[p as usize + 1] += 1;
            }
        }
        for i in 1..child_offsets.len() {
            child_offsets[i] += child_offsets[i - 1];
        }

        SpanTree { nodes, parent, child_offsets, children, root, tops }
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Children of `node`, by start time.
    pub fn children(&self, node: u32) -> &[u32] {
        let n = node as usize;
        &self.children[self.child_offsets[n] as usize..self.child_offsets[n + 1] as usize]
    }
}

/// Keeps one span per span id (the copy that ends last: the most complete one;
/// the first of equals) and warns about the others.
fn dedup<'a>(spans: &[SpanTiming<'a>], warnings: &mut Warnings) -> (Vec<usize>, HashMap<&'a str, u32>) {
    let mut nodes: Vec<usize> = Vec::with_capacity(spans.len());
    let mut index: HashMap<&'a str, u32> = HashMap::with_capacity(spans.len());
    // How many copies of each node arrived.
    let mut copies: Vec<u32> = Vec::with_capacity(spans.len());
    for (i, span) in spans.iter().enumerate() {
        match index.entry(span.span_id) {
            Entry::Vacant(e) => {
                e.insert(nodes.len() as u32);
                nodes.push(i);
                copies.push(1);
            }
            Entry::Occupied(e) => {
                let n = *e.get() as usize;
                if span.end_unix_nano > spans[nodes[n]].end_unix_nano {
                    nodes[n] = i;
                }
                copies[n] += 1;
            }
        }
    }
    for (n, &count) in copies.iter().enumerate().filter(|(_, &count)| count > 1) {
        let id = spans[nodes[n]].span_id;
        warnings.push(|| format!("duplicate span {id}: received {count} times, kept one"));
    }
    (nodes, index)
}
