//! The waterfall of one trace, built from its spans' timings: pure, no I/O.
//!
//! - Spans are listed depth-first, siblings by start time (then span id). The
//!   root (the earliest span without a parent) comes first with its subtree; then,
//!   at depth 0 and by start time, extra parentless spans and orphans (spans whose
//!   parent is not in the trace), each with its subtree. Spans caught in a parent
//!   cycle follow, also at depth 0.
//! - `self_time_ns` is the span's duration minus the union of its children's
//!   intervals clipped to the span (overlapping children count once).
//! - Nothing is invented or shifted: a missing root, orphans, duplicates, clock
//!   skew (a child starting before or ending after its parent) and spans ending
//!   before they start are reported in `warnings` (at most [`MAX_WARNINGS`]).
//! - Traversals are iterative: a 100,000-deep chain needs no deep call stack.

use std::collections::HashMap;

use serde::Serialize;

use crate::critical_path;
use crate::span_tree::SpanTree;

/// At most this many warnings are listed; a last line counts the rest.
pub const MAX_WARNINGS: usize = 100;

/// What the waterfall needs to know about one span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpanTiming<'a> {
    pub span_id: &'a str,
    /// `None`, empty or all zeros: no parent.
    pub parent_span_id: Option<&'a str>,
    pub service: &'a str,
    pub start_unix_nano: i64,
    pub end_unix_nano: i64,
    pub is_error: bool,
}

impl SpanTiming<'_> {
    /// End minus start, never negative.
    pub fn duration_ns(&self) -> i64 {
        self.end_unix_nano.saturating_sub(self.start_unix_nano).max(0)
    }
}

/// One span's place in the waterfall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlacedSpan {
    /// Index into the slice given to [`Waterfall::build`].
    pub index: usize,
    pub depth: u32,
    pub self_time_ns: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceSummary<'a> {
    pub name: &'a str,
    pub span_count: usize,
    pub error_count: usize,
}

/// The assembled trace. Indices refer to the slice given to [`Waterfall::build`].
#[derive(Debug, Clone)]
pub struct Waterfall<'a> {
    /// Earliest span start.
    pub start_time_unix_nano: i64,
    /// Latest span end minus the earliest start.
    pub duration_ns: i64,
    /// The root span (`None` when no span lacks a parent).
    pub root: Option<usize>,
    /// Every kept span (duplicates removed), depth-first.
    pub spans: Vec<PlacedSpan>,
    /// Services in order of first appearance in `spans`.
    pub services: Vec<ServiceSummary<'a>>,
    /// The critical path (see [`critical_path`]), in waterfall order: root first.
    pub critical_path: Vec<usize>,
    pub warnings: Vec<String>,
}

impl<'a> Waterfall<'a> {
    pub fn build(spans: &[SpanTiming<'a>]) -> Self {
        let mut warnings = Warnings::default();
        let tree = SpanTree::build(spans, &mut warnings);
        let timing = |n: u32| &spans[tree.nodes[n as usize]];

        let order = depth_first(&tree, spans, &mut warnings);
        let on_path = match tree.root {
            Some(root) => critical_path::critical_nodes(spans, &tree, root),
            None => vec![false; tree.len()],
        };

        let mut placed = Vec::with_capacity(order.len());
        let mut critical = Vec::new();
        let mut services: Vec<ServiceSummary<'a>> = Vec::new();
        let mut service_index: HashMap<&'a str, usize> = HashMap::new();
        let (mut first, mut last) = (i64::MAX, i64::MIN);
        for &(node, depth) in &order {
            let span = timing(node);
            first = first.min(span.start_unix_nano);
            last = last.max(span.end_unix_nano.max(span.start_unix_nano));
            if span.end_unix_nano < span.start_unix_nano {
                warnings.push(|| format!("span {} ends before it starts", span.span_id));
            }
            if let Some(parent) = tree.parent[node as usize] {
                check_skew(span, timing(parent), &mut warnings);
            }
            let service = *service_index.entry(span.service).or_insert_with(|| {
                services.push(ServiceSummary { name: span.service, span_count: 0, error_count: 0 });
                services.len() - 1
            });
            services[service].span_count += 1;
            services[service].error_count += usize::from(span.is_error);
            if on_path[node as usize] {
                critical.push(tree.nodes[node as usize]);
            }
            let self_time_ns = self_time(spans, &tree, node);
            placed.push(PlacedSpan { index: tree.nodes[node as usize], depth, self_time_ns });
        }
        let (start, duration) = if placed.is_empty() { (0, 0) } else { (first, last.saturating_sub(first)) };

        Waterfall {
            start_time_unix_nano: start,
            duration_ns: duration,
            root: tree.root.map(|r| tree.nodes[r as usize]),
            spans: placed,
            services,
            critical_path: critical,
            warnings: warnings.finish(),
        }
    }
}

/// Nodes with their depth, depth-first from each top-level node in turn, then
/// from whatever a parent cycle kept unreachable.
fn depth_first(tree: &SpanTree, spans: &[SpanTiming<'_>], warnings: &mut Warnings) -> Vec<(u32, u32)> {
    let mut visited = vec![false; tree.len()];
    let mut order = Vec::with_capacity(tree.len());
    let mut stack = Vec::new();
    for &top in &tree.tops {
        walk(tree, top, &mut visited, &mut order, &mut stack);
    }
    if order.len() < tree.len() {
        let mut rest: Vec<u32> = (0..tree.len() as u32).filter(|&n| !visited[n as usize]).collect();
        let timing = |n: u32| &spans[tree.nodes[n as usize]];
        rest.sort_unstable_by_key(|&n| (timing(n).start_unix_nano, timing(n).span_id));
        for n in rest {
            if !visited[n as usize] {
                warnings.push(|| format!("span {}: its chain of parents loops; shown at depth 0", timing(n).span_id));
                walk(tree, n, &mut visited, &mut order, &mut stack);
            }
        }
    }
    order
}

fn walk(tree: &SpanTree, top: u32, visited: &mut [bool], order: &mut Vec<(u32, u32)>, stack: &mut Vec<(u32, u32)>) {
    stack.push((top, 0));
    while let Some((node, depth)) = stack.pop() {
        if std::mem::replace(&mut visited[node as usize], true) {
            continue;
        }
        order.push((node, depth));
        stack.extend(tree.children(node).iter().rev().filter(|&&c| !visited[c as usize]).map(|&c| (c, depth + 1)));
    }
}

/// Duration minus the union of the children's intervals clipped to the span.
fn self_time(spans: &[SpanTiming<'_>], tree: &SpanTree, node: u32) -> i64 {
    let span = &spans[tree.nodes[node as usize]];
    let (start, end) = (span.start_unix_nano, span.end_unix_nano.max(span.start_unix_nano));
    let mut covered = 0i64;
    let mut current: Option<(i64, i64)> = None;
    // Children come by start time, and clipping keeps that order.
    for &child in tree.children(node) {
        let c = &spans[tree.nodes[child as usize]];
        let (cs, ce) = (c.start_unix_nano.clamp(start, end), c.end_unix_nano.clamp(start, end));
        if ce <= cs {
            continue;
        }
        current = match current {
            Some((s, e)) if cs <= e => Some((s, e.max(ce))),
            Some((s, e)) => {
                covered += e - s;
                Some((cs, ce))
            }
            None => Some((cs, ce)),
        };
    }
    covered += current.map_or(0, |(s, e)| e - s);
    (end - start) - covered
}

fn check_skew(child: &SpanTiming<'_>, parent: &SpanTiming<'_>, warnings: &mut Warnings) {
    let early = parent.start_unix_nano.saturating_sub(child.start_unix_nano);
    let late = child.end_unix_nano.saturating_sub(parent.end_unix_nano);
    if early <= 0 && late <= 0 {
        return;
    }
    warnings.push(|| {
        let what = match (early > 0, late > 0) {
            (true, false) => format!("starts {early} ns before"),
            (false, true) => format!("ends {late} ns after"),
            _ => format!("starts {early} ns before and ends {late} ns after"),
        };
        format!("clock skew: span {} {what} its parent {}", child.span_id, parent.span_id)
    });
}

/// Warnings, capped at [`MAX_WARNINGS`] (messages past the cap are not even formatted).
#[derive(Debug, Default)]
pub(crate) struct Warnings {
    list: Vec<String>,
    suppressed: usize,
}

impl Warnings {
    pub fn push(&mut self, message: impl FnOnce() -> String) {
        if self.list.len() < MAX_WARNINGS {
            self.list.push(message());
        } else {
            self.suppressed += 1;
        }
    }

    pub fn finish(mut self) -> Vec<String> {
        if self.suppressed > 0 {
            self.list.push(format!("{} more warnings not shown", self.suppressed));
        }
        self.list
    }
}

#[cfg(test)]
mod tests;
