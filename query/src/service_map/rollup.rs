//! The service map from the pre-aggregated tables (`service_edges`, `service_red`, see
//! `osprey_storage::rollup`), so a day's map reads minute buckets instead of spans.
//!
//! The window `[start, end)` splits into the whole minutes inside it, read from the
//! aggregated `edge` rows and `service_red` buckets, and a head and a tail shorter than a
//! minute, read from the single `call`, `request` and `peer` rows of their minute by start
//! time (added to the same sketches; the times are whole microseconds, so this is exact for
//! bounds that are, and other windows take the exact plan). No part reads spans. Counts and
//! error counts equal [`super::compute`]'s (the exact plan over raw spans); percentiles come from merged
//! DDSketches (relative accuracy 1%, of the value at rank ⌊q·(n−1)⌋, where the exact plan
//! interpolates between ranks).
//!
//! Calls whose two sides landed in different flushes were paired by storage's late join
//! (`osprey_storage::rollup::late_join`) into `edge` and `call` rows too; `peer` rows
//! (calls to uninstrumented peers) count unless a `joined` marker cancels them.

use std::collections::{BTreeMap, HashSet};

use arrow::array::{Array, AsArray, RecordBatch};
use datafusion::prelude::SessionContext;
use osprey_storage::rollup::new_sketch;
use osprey_storage::Table;
use sketches_ddsketch::DDSketch;

use datafusion::scalar::ScalarValue;

use super::plan::{run, ts, Columns};
use super::{Edge, Node, ServiceMap, Window};
use crate::error::{QueryError, Result};

const BUCKET_NS: i64 = osprey_storage::rollup::BUCKET_NS;

/// Count, errors and a sketch of durations.
pub(super) struct Acc {
    pub calls: i64,
    pub errors: i64,
    sketch: DDSketch,
}

impl Default for Acc {
    fn default() -> Self {
        Acc { calls: 0, errors: 0, sketch: new_sketch() }
    }
}

impl Acc {
    fn add(&mut self, duration_ns: i64, error: bool) {
        self.calls += 1;
        self.errors += i64::from(error);
        self.sketch.add(duration_ns as f64);
    }

    pub fn merge(&mut self, calls: i64, errors: i64, sketch: Option<&[u8]>) -> Result<()> {
        self.calls += calls;
        self.errors += errors;
        if let Some(bytes) = sketch {
            let other = DDSketch::from_java_bytes(bytes)
                .map_err(|e| QueryError::Layout(format!("undecodable duration sketch: {e}")))?;
            self.sketch.merge(&other).map_err(|e| QueryError::Layout(format!("sketches do not merge: {e}")))?;
        }
        Ok(())
    }

    fn merge_acc(&mut self, other: &Acc) -> Result<()> {
        self.calls += other.calls;
        self.errors += other.errors;
        self.sketch.merge(&other.sketch).map_err(|e| QueryError::Layout(format!("sketches do not merge: {e}")))
    }

    pub fn quantile(&self, q: f64) -> Option<i64> {
        self.sketch.quantile(q).ok().flatten().map(|v| v.round() as i64)
    }
}

#[derive(Default)]
struct Accs {
    edges: BTreeMap<(String, String, String), Acc>,
    nodes: BTreeMap<String, Acc>,
    /// Virtual nodes: peer name → (node kind, calls into it).
    peers: BTreeMap<String, (String, Acc)>,
}

impl Accs {
    /// Adds another part's calls and requests to these.
    fn absorb(&mut self, other: Accs) -> Result<()> {
        for (key, acc) in other.edges {
            self.edges.entry(key).or_default().merge_acc(&acc)?;
        }
        for (key, acc) in other.nodes {
            self.nodes.entry(key).or_default().merge_acc(&acc)?;
        }
        for (name, (kind, acc)) in other.peers {
            let peer = self.peers.entry(name).or_insert_with(|| (kind.clone(), Acc::default()));
            if kind == "database" {
                peer.0 = kind;
            }
            peer.1.merge_acc(&acc)?;
        }
        Ok(())
    }
}

/// Whether the session has the pre-aggregated tables (it does when built over storage).
pub async fn available(ctx: &SessionContext) -> bool {
    ctx.table_exist(Table::ServiceEdges.name()).unwrap_or(false)
        && ctx.table_exist(Table::ServiceRed.name()).unwrap_or(false)
}

/// The map of `window` from the buckets (whole minutes) and single rows (the rest).
/// `None` when the window holds no whole minute, or a bound is not a whole microsecond (the
/// single rows' `start_time` precision): the caller uses the exact plan.
pub async fn compute(ctx: &SessionContext, window: Window) -> Result<Option<ServiceMap>> {
    if window.start_ns % 1000 != 0 || window.end_ns % 1000 != 0 {
        return Ok(None);
    }
    let first = window.start_ns.div_euclid(BUCKET_NS) * BUCKET_NS;
    let aligned_start = if first == window.start_ns { first } else { first.saturating_add(BUCKET_NS) };
    let aligned_end = window.end_ns.div_euclid(BUCKET_NS) * BUCKET_NS;
    if aligned_start >= aligned_end {
        return Ok(None);
    }
    let buckets = Window::new(aligned_start, aligned_end)?;
    // The parts are independent: run them at once (the raw head and tail, which read
    // spans, cost the most).
    let raw = |w: Window| async move {
        let mut accs = Accs::default();
        if w.start_ns < w.end_ns {
            let bucket = w.start_ns.div_euclid(BUCKET_NS) * BUCKET_NS;
            let micros = |ns: i64| ScalarValue::TimestampMicrosecond(Some(ns / 1000), Some("UTC".into()));
            let bounds = vec![micros(w.start_ns), micros(w.end_ns), ts(bucket), ts(bucket.saturating_add(BUCKET_NS))];
            add_edge_rows(ctx, FINE_ROWS, bounds, &mut accs).await?;
        }
        Ok::<Accs, QueryError>(accs)
    };
    let edges = async {
        let mut accs = Accs::default();
        add_edge_rows(ctx, EDGE_TABLE_ROWS, vec![ts(buckets.start_ns), ts(buckets.end_ns)], &mut accs).await?;
        Ok::<Accs, QueryError>(accs)
    };
    let nodes = async {
        let mut accs = Accs::default();
        add_node_buckets(ctx, buckets, &mut accs).await?;
        Ok::<Accs, QueryError>(accs)
    };
    let (head, tail, edges, nodes) = tokio::try_join!(
        raw(Window::new(window.start_ns, aligned_start)?),
        raw(Window::new(aligned_end, window.end_ns)?),
        edges,
        nodes
    )?;
    let mut accs = head;
    for part in [tail, edges, nodes] {
        accs.absorb(part)?;
    }
    Ok(Some(finish(accs)))
}

fn strings_at(values: &[Option<String>], i: usize) -> String {
    values.get(i).cloned().flatten().unwrap_or_default()
}

fn int_at(values: &[Option<i64>], i: usize) -> i64 {
    values.get(i).copied().flatten().unwrap_or(0)
}

/// A call into virtual node `target`: `database` if any call named `db.system`.
fn add_peer(accs: &mut Accs, target: String, node_kind: String, duration: i64, error: bool) {
    let peer = accs.peers.entry(target).or_insert_with(|| (node_kind.clone(), Acc::default()));
    if node_kind == "database" {
        peer.0 = node_kind;
    }
    peer.1.add(duration, error);
}

pub(super) fn sketches(batch: &RecordBatch, name: &str) -> Result<Vec<Option<Vec<u8>>>> {
    let array = batch.column_by_name(name).ok_or_else(|| QueryError::Layout(format!("no column {name}")))?;
    let binary = array.as_binary_opt::<i32>().ok_or_else(|| QueryError::Layout(format!("{name} is not binary")))?;
    Ok((0..binary.len()).map(|i| binary.is_valid(i).then(|| binary.value(i).to_vec())).collect())
}

/// The `service_edges` rows of whole minutes, in **one** scan, so they come from one
/// snapshot. A `joined` marker is in its caller's bucket, as the caller's `peer` row.
const EDGE_TABLE_ROWS: &str = "SELECT row_kind, source, target, kind, node_kind, call_count, error_count, \
    duration_sketch, duration_ns, span_key FROM service_edges \
    WHERE bucket_start >= $1 AND bucket_start < $2 AND row_kind IN ('edge', 'peer', 'joined')";

/// The rows of a slice `[$1, $2)` shorter than a minute, inside the bucket `[$3, $4)`:
/// its calls, requests and peer calls one by one, by exact start, and the bucket's
/// `joined` markers.
const FINE_ROWS: &str = "SELECT row_kind, source, target, kind, node_kind, call_count, error_count, \
    duration_sketch, duration_ns, span_key FROM service_edges \
    WHERE bucket_start >= $3 AND bucket_start < $4 AND (row_kind = 'joined' \
    OR (row_kind IN ('call', 'request', 'peer') AND start_time >= $1 AND start_time < $2))";

/// A client span naming a peer, with no child in its flush.
struct Peer {
    key: Option<i64>,
    source: String,
    target: String,
    kind: String,
    node_kind: String,
    duration: i64,
    error: bool,
}

/// Adds the rows `sql` selects (the columns of [`EDGE_TABLE_ROWS`]): aggregated `edge`
/// rows, single `call` and `request` rows, and the `peer` calls no `joined` marker cancels.
async fn add_edge_rows(ctx: &SessionContext, sql: &str, bounds: Vec<ScalarValue>, accs: &mut Accs) -> Result<()> {
    let mut peers = Vec::new();
    // `span_key`s of the callers that got a child after their flush.
    let mut joined: HashSet<i64> = HashSet::new();
    for batch in run(ctx, sql, bounds).await? {
        let c = Columns::new(&batch);
        let row_kind = c.strings("row_kind")?;
        let (s, t, k, nk) = (c.strings("source")?, c.strings("target")?, c.strings("kind")?, c.strings("node_kind")?);
        let (calls, errors, sk) = (c.ints("call_count")?, c.ints("error_count")?, sketches(&batch, "duration_sketch")?);
        let (d, span_keys) = (c.ints("duration_ns")?, c.ints("span_key")?);
        for i in 0..batch.num_rows() {
            let error = int_at(&errors, i) > 0;
            match strings_at(&row_kind, i).as_str() {
                "edge" => {
                    let acc = accs.edges.entry((strings_at(&s, i), strings_at(&t, i), strings_at(&k, i))).or_default();
                    acc.merge(int_at(&calls, i), int_at(&errors, i), sk.get(i).and_then(|b| b.as_deref()))?;
                }
                "call" => {
                    let key = (strings_at(&s, i), strings_at(&t, i), strings_at(&k, i));
                    accs.edges.entry(key).or_default().add(int_at(&d, i), error);
                    // Also the callee's request (a server/consumer span paired in its flush).
                    if nk.get(i).is_some_and(Option::is_some) {
                        accs.nodes.entry(strings_at(&t, i)).or_default().add(int_at(&d, i), error);
                    }
                }
                "request" => accs.nodes.entry(strings_at(&t, i)).or_default().add(int_at(&d, i), error),
                "joined" => joined.extend(span_keys.get(i).copied().flatten()),
                "peer" => peers.push(Peer {
                    key: span_keys.get(i).copied().flatten(),
                    source: strings_at(&s, i),
                    target: strings_at(&t, i),
                    kind: strings_at(&k, i),
                    node_kind: strings_at(&nk, i),
                    duration: int_at(&d, i),
                    error,
                }),
                _ => {}
            }
        }
    }
    for p in peers {
        if p.key.is_some_and(|k| joined.contains(&k)) {
            continue;
        }
        accs.edges.entry((p.source, p.target.clone(), p.kind)).or_default().add(p.duration, p.error);
        add_peer(accs, p.target, p.node_kind, p.duration, p.error);
    }
    Ok(())
}

const NODE_BUCKETS: &str = "SELECT service_name, request_count, error_count, duration_sketch FROM service_red \
    WHERE kind IN ('server', 'consumer') AND bucket_start >= $1 AND bucket_start < $2";

async fn add_node_buckets(ctx: &SessionContext, w: Window, accs: &mut Accs) -> Result<()> {
    for batch in run(ctx, NODE_BUCKETS, vec![ts(w.start_ns), ts(w.end_ns)]).await? {
        let c = Columns::new(&batch);
        let (s, n, e, sk) = (
            c.strings("service_name")?,
            c.ints("request_count")?,
            c.ints("error_count")?,
            sketches(&batch, "duration_sketch")?,
        );
        for i in 0..batch.num_rows() {
            let acc = accs.nodes.entry(strings_at(&s, i)).or_default();
            acc.merge(int_at(&n, i), int_at(&e, i), sk.get(i).and_then(|b| b.as_deref()))?;
        }
    }
    Ok(())
}

fn node(service: String, kind: &str, acc: Option<&Acc>) -> Node {
    Node {
        service,
        kind: kind.to_string(),
        request_count: acc.map_or(0, |a| a.calls),
        error_count: acc.map_or(0, |a| a.errors),
        p50_ns: acc.and_then(|a| a.quantile(0.5)),
        p95_ns: acc.and_then(|a| a.quantile(0.95)),
        p99_ns: acc.and_then(|a| a.quantile(0.99)),
    }
}

fn finish(accs: Accs) -> ServiceMap {
    let mut nodes: BTreeMap<String, Node> =
        accs.nodes.iter().map(|(name, acc)| (name.clone(), node(name.clone(), "service", Some(acc)))).collect();
    // As in the exact plan: a peer that is also a service stays a service.
    for (name, (kind, acc)) in &accs.peers {
        nodes.entry(name.clone()).or_insert_with(|| node(name.clone(), kind, Some(acc)));
    }
    let edges: Vec<Edge> = accs
        .edges
        .into_iter()
        .map(|((source, target, kind), acc)| Edge {
            source,
            target,
            call_count: acc.calls,
            error_count: acc.errors,
            p50_ns: acc.quantile(0.5),
            p95_ns: acc.quantile(0.95),
            p99_ns: acc.quantile(0.99),
            kind,
        })
        .collect();
    for edge in &edges {
        for name in [&edge.source, &edge.target] {
            nodes.entry(name.clone()).or_insert_with(|| node(name.clone(), "service", None));
        }
    }
    ServiceMap { nodes: nodes.into_values().collect(), edges }
}

#[cfg(test)]
mod tests;
