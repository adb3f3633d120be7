//! The service map: which service calls which, how often, how many of those calls
//! failed and how long they took, for any time window, computed exactly from the
//! stored spans (see [`plan`] for the DataFusion plans and [`window`] for which calls
//! belong to a window).
//!
//! - An **edge** A→B is a span in service B whose parent span (same trace,
//!   `parent_span_id = span_id`) is in service A ≠ B: client→server, producer→consumer.
//!   Its counts and latency percentiles are of the child (callee) spans; an error is a
//!   child with status error. Edges are per (source, target, kind): a pair talking both
//!   HTTP and gRPC has two.
//! - A **virtual edge** is a client or producer span that names its peer
//!   (`peer.service`, `db.system`, `messaging.system`, `server.address`) and has no
//!   child span: a call to something that sends no spans. Its latency and status are
//!   the client span's; its target becomes a node of kind `database` (with
//!   `db.system`) or `external`.
//! - A **node** is a service with its requests: its server and consumer spans. Services
//!   seen only as callers get zero requests and no percentiles.

pub mod api;
pub mod plan;
pub mod red;
pub mod rollup;
pub mod window;

use std::collections::BTreeMap;

use datafusion::prelude::SessionContext;
use serde::Serialize;

use crate::error::Result;
use plan::{run, ts, Columns};
pub use window::Window;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Node {
    pub service: String,
    /// `service` for an instrumented service, `database` / `external` for a virtual node.
    pub kind: String,
    pub request_count: i64,
    pub error_count: i64,
    pub p50_ns: Option<i64>,
    pub p95_ns: Option<i64>,
    pub p99_ns: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Edge {
    pub source: String,
    pub target: String,
    pub call_count: i64,
    pub error_count: i64,
    pub p50_ns: Option<i64>,
    pub p95_ns: Option<i64>,
    pub p99_ns: Option<i64>,
    /// `http`, `grpc`, `messaging`, `database`, `external` (a virtual edge with no
    /// protocol attribute), or `other` (two instrumented services, no protocol attribute).
    pub kind: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ServiceMap {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

/// Count, errors and percentiles of one aggregated row.
struct Red {
    calls: i64,
    errors: i64,
    p50: Option<i64>,
    p95: Option<i64>,
    p99: Option<i64>,
}

fn red_rows(columns: &Columns<'_>) -> Result<Vec<Red>> {
    let (calls, errors) = (columns.ints("calls")?, columns.ints("errors")?);
    let (p50, p95, p99) = (columns.ints("p50")?, columns.ints("p95")?, columns.ints("p99")?);
    Ok((0..calls.len())
        .map(|i| Red {
            calls: calls.get(i).copied().flatten().unwrap_or(0),
            errors: errors.get(i).copied().flatten().unwrap_or(0),
            p50: p50.get(i).copied().flatten(),
            p95: p95.get(i).copied().flatten(),
            p99: p99.get(i).copied().flatten(),
        })
        .collect())
}

fn text(values: &[Option<String>], i: usize) -> String {
    values.get(i).cloned().flatten().unwrap_or_default()
}

/// The map of `window` (with `service`, its neighbourhood): from the pre-aggregated
/// tables when the session has them and the window holds a whole minute, unless
/// `exact` asks for the recomputation from raw spans ([`compute`]). Counts are the same
/// either way; percentiles differ within the sketches' accuracy (see [`rollup`]).
pub async fn service_map(
    ctx: &SessionContext,
    window: Window,
    service: Option<&str>,
    exact: bool,
) -> Result<ServiceMap> {
    if !exact && rollup::available(ctx).await {
        if let Some(mut map) = rollup::compute(ctx, window).await? {
            if let Some(service) = service {
                map = map.neighbourhood(service);
            }
            tracing::debug!(nodes = map.nodes.len(), edges = map.edges.len(), "service map from buckets");
            return Ok(map);
        }
    }
    compute(ctx, window, service).await
}

/// The exact map of `window` from raw spans; with `service`, only that service, its
/// edges and the nodes at their other ends.
pub async fn compute(ctx: &SessionContext, window: Window, service: Option<&str>) -> Result<ServiceMap> {
    let padded = window.padded();
    let bounds = || vec![ts(window.start_ns), ts(window.end_ns), ts(padded.start_ns), ts(padded.end_ns)];
    let (edge_batches, virtual_batches, node_batches) = futures::try_join!(
        run(ctx, plan::EDGES, bounds()),
        run(ctx, plan::VIRTUAL_EDGES, bounds()),
        run(ctx, plan::NODES, vec![ts(window.start_ns), ts(window.end_ns)]),
    )?;

    let mut edges = Vec::new();
    let mut nodes: BTreeMap<String, Node> = BTreeMap::new();
    let mut virtual_nodes: Vec<Node> = Vec::new();
    for batch in edge_batches.iter().chain(&virtual_batches) {
        let columns = Columns::new(batch);
        let (sources, targets, kinds) =
            (columns.strings("source")?, columns.strings("target")?, columns.strings("kind")?);
        let peer_kinds = match batch.column_by_name("peer_kind") {
            Some(_) => columns.strings("peer_kind")?,
            None => Vec::new(),
        };
        for (i, red) in red_rows(&columns)?.into_iter().enumerate() {
            let target = text(&targets, i);
            let Some(source) = sources.get(i).cloned().flatten() else {
                // The `(target)` grouping set of the virtual edges.
                virtual_nodes.push(node(target, &text(&peer_kinds, i), &red));
                continue;
            };
            edges.push(Edge {
                source,
                target,
                call_count: red.calls,
                error_count: red.errors,
                p50_ns: red.p50,
                p95_ns: red.p95,
                p99_ns: red.p99,
                kind: text(&kinds, i),
            });
        }
    }

    for batch in &node_batches {
        let columns = Columns::new(batch);
        let services = columns.strings("service")?;
        for (i, red) in red_rows(&columns)?.into_iter().enumerate() {
            let name = text(&services, i);
            nodes.insert(name.clone(), node(name, "service", &red));
        }
    }
    // A peer that is also an instrumented service (its child spans were missing for
    // these calls) stays a service node.
    for virtual_node in virtual_nodes {
        nodes.entry(virtual_node.service.clone()).or_insert(virtual_node);
    }
    for edge in &edges {
        for name in [&edge.source, &edge.target] {
            if !nodes.contains_key(name) {
                let idle = Red { calls: 0, errors: 0, p50: None, p95: None, p99: None };
                nodes.insert(name.clone(), node(name.clone(), "service", &idle));
            }
        }
    }

    let mut map = ServiceMap { nodes: nodes.into_values().collect(), edges };
    if let Some(service) = service {
        map = map.neighbourhood(service);
    }
    map.edges.sort_by(|a, b| (&a.source, &a.target, &a.kind).cmp(&(&b.source, &b.target, &b.kind)));
    tracing::debug!(
        start_ns = window.start_ns,
        end_ns = window.end_ns,
        nodes = map.nodes.len(),
        edges = map.edges.len(),
        "service map computed"
    );
    Ok(map)
}

fn node(service: String, kind: &str, red: &Red) -> Node {
    Node {
        service,
        kind: kind.to_string(),
        request_count: red.calls,
        error_count: red.errors,
        p50_ns: red.p50,
        p95_ns: red.p95,
        p99_ns: red.p99,
    }
}

impl ServiceMap {
    /// `service`, the edges touching it and the nodes at their other ends.
    fn neighbourhood(self, service: &str) -> ServiceMap {
        let edges: Vec<Edge> = self.edges.into_iter().filter(|e| e.source == service || e.target == service).collect();
        let keep = |name: &str| name == service || edges.iter().any(|e| e.source == name || e.target == name);
        let nodes = self.nodes.into_iter().filter(|n| keep(&n.service)).collect();
        ServiceMap { nodes, edges }
    }
}

#[cfg(test)]
mod tests;
