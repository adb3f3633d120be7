//! The critical path of a trace: the spans that determine its end-to-end latency.
//!
//! The algorithm is Jaeger UI's (`computeCriticalPath`), without recursion.
//!
//! **Clipping.** Each child is first clipped to its parent's (already clipped)
//! interval: a child starting before its parent is taken to start with it, one
//! ending after its parent to end with it (the parent did not wait for the
//! rest); a child lying entirely outside its parent is ignored, with its subtree.
//!
//! **Walk.** Start at the root with the *point* at its end. Repeatedly, among
//! the current span's children not yet chosen, pick the one whose (clipped) end
//! is the latest but not after the point (ties: the earliest start, then span
//! id). A picked child is on the critical path: walk into it the same way (its
//! point starting at its own end), and when done, move the parent's point back
//! to that child's start and pick again. A span whose children are exhausted
//! hands control back to its parent. The root is always on the path.
//!
//! The gaps between picked children are the parent's own critical time; the
//! picked children are the work it waited for. The result is the set of spans
//! the walk picked; the waterfall lists them in its depth-first order, so a
//! single chain reads root → leaf and sequential children read in time order.

use crate::span_tree::SpanTree;
use crate::waterfall::SpanTiming;

/// A span being walked: its clipped interval, its point, and its children as
/// candidates `(clipped end, clipped start, node)` sorted by end, latest first.
struct Frame {
    point: i64,
    candidates: Vec<(i64, i64, u32)>,
    next: usize,
}

impl Frame {
    fn new(spans: &[SpanTiming<'_>], tree: &SpanTree, node: u32, start: i64, end: i64) -> Self {
        let mut candidates: Vec<(i64, i64, u32)> = tree
            .children(node)
            .iter()
            .filter_map(|&c| {
                let span = &spans[tree.nodes[c as usize]];
                if span.start_unix_nano > end || span.end_unix_nano < start {
                    return None;
                }
                let cs = span.start_unix_nano.max(start);
                let ce = span.end_unix_nano.min(end).max(cs);
                Some((ce, cs, c))
            })
            .collect();
        // Children arrive by start time (then id); a stable sort keeps that order among equal ends.
        candidates.sort_by_key(|c| std::cmp::Reverse(c.0));
        Frame { point: end, candidates, next: 0 }
    }

    /// The next child to walk into: the latest-ending one not after the point.
    /// Candidates skipped here end after the point, and the point only moves
    /// back, so they can never be picked later.
    fn pick(&mut self) -> Option<(i64, i64, u32)> {
        while let Some(&(end, start, node)) = self.candidates.get(self.next) {
            self.next += 1;
            if end <= self.point {
                self.point = start;
                return Some((end, start, node));
            }
        }
        None
    }
}

/// Marks the nodes on the critical path below (and including) `root`.
pub(crate) fn critical_nodes(spans: &[SpanTiming<'_>], tree: &SpanTree, root: u32) -> Vec<bool> {
    let mut on_path = vec![false; tree.len()];
    on_path[root as usize] = true;
    let span = &spans[tree.nodes[root as usize]];
    let end = span.end_unix_nano.max(span.start_unix_nano);
    let mut stack = vec![Frame::new(spans, tree, root, span.start_unix_nano, end)];
    while let Some(frame) = stack.last_mut() {
        match frame.pick() {
            Some((end, start, child)) => {
                on_path[child as usize] = true;
                stack.push(Frame::new(spans, tree, child, start, end));
            }
            None => {
                stack.pop();
            }
        }
    }
    on_path
}

#[cfg(test)]
mod tests;
