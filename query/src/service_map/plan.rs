//! The DataFusion plans behind the service map, over the `spans` table.
//!
//! Each is SQL text fixed at compile time, with every value (times, service names)
//! bound as a placeholder (`$1`, …) and substituted as a literal into the logical plan
//! before optimisation, so the provider sees `start_time` bounds and prunes files,
//! and no request value is ever spliced into SQL text.

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type};
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;

use crate::error::{QueryError, Result};

/// Protocol of a call, first match wins: messaging (a `messaging.system` attribute or a
/// producer/consumer span), database (`db.system`, or `db.system.name` of newer
/// semantic conventions), RPC (`rpc.system`, reported as `grpc`), HTTP
/// (`http.request.method`, or the older `http.method`), else `other`.
/// `p_*`/`c_*` are the caller's and callee's projected attributes.
macro_rules! edge_kind {
    () => {
        "CASE \
         WHEN c_msg IS NOT NULL OR p_msg IS NOT NULL OR c_kind = 'consumer' OR p_kind = 'producer' THEN 'messaging' \
         WHEN c_db IS NOT NULL OR p_db IS NOT NULL THEN 'database' \
         WHEN c_rpc IS NOT NULL OR p_rpc IS NOT NULL THEN 'grpc' \
         WHEN c_http IS NOT NULL OR p_http IS NOT NULL THEN 'http' \
         ELSE 'other' END"
    };
}

/// The protocol attributes of a span, projected so the join does not carry the maps.
macro_rules! protocol_columns {
    ($prefix:literal) => {
        concat!(
            "attributes['messaging.system'] AS ",
            $prefix,
            "msg, COALESCE(attributes['db.system'], attributes['db.system.name']) AS ",
            $prefix,
            "db, attributes['rpc.system'] AS ",
            $prefix,
            "rpc, COALESCE(attributes['http.request.method'], attributes['http.method']) AS ",
            $prefix,
            "http, kind AS ",
            $prefix,
            "kind"
        )
    };
}

/// Count, errors and exact p50/p95/p99 (linear interpolation) of `duration_ns`.
macro_rules! red_aggregates {
    () => {
        "COUNT(*) AS calls, \
         CAST(SUM(CASE WHEN status_code = 'error' THEN 1 ELSE 0 END) AS BIGINT) AS errors, \
         CAST(ROUND(percentile_cont(0.5) WITHIN GROUP (ORDER BY CAST(duration_ns AS DOUBLE))) AS BIGINT) AS p50, \
         CAST(ROUND(percentile_cont(0.95) WITHIN GROUP (ORDER BY CAST(duration_ns AS DOUBLE))) AS BIGINT) AS p95, \
         CAST(ROUND(percentile_cont(0.99) WITHIN GROUP (ORDER BY CAST(duration_ns AS DOUBLE))) AS BIGINT) AS p99"
    };
}

macro_rules! edge_calls {
    () => {
        concat!(
            "WITH callee AS (SELECT trace_id, parent_span_id, service_name, duration_ns, status_code, ",
            protocol_columns!("c_"),
            " FROM spans WHERE start_time >= $1 AND start_time < $2 AND parent_span_id IS NOT NULL AND parent_span_id <> ''), ",
            "caller AS (SELECT trace_id AS p_trace_id, span_id AS p_span_id, service_name AS source, ",
            protocol_columns!("p_"),
            " FROM spans WHERE start_time >= $3 AND start_time < $4), ",
            "calls AS (SELECT source, service_name AS target, duration_ns, status_code, ",
            edge_kind!(),
            " AS kind ",
            "FROM callee JOIN caller ON callee.trace_id = caller.p_trace_id AND callee.parent_span_id = caller.p_span_id ",
            "WHERE caller.source <> callee.service_name) ",
        )
    };
}

/// Calls between instrumented services: a callee span starting in `[$1, $2)` whose
/// parent (same trace, `parent_span_id = span_id`, starting in `[$3, $4)`) is in
/// another service. Columns: source, target, kind, calls, errors, p50, p95, p99.
pub const EDGES: &str = concat!(
    edge_calls!(),
    "SELECT source, target, kind, ",
    red_aggregates!(),
    " FROM calls GROUP BY source, target, kind"
);

/// The calls of [`EDGES`], one row each: source, target, kind, duration_ns, status_code.
pub const EDGE_ROWS: &str = concat!(edge_calls!(), "SELECT source, target, kind, duration_ns, status_code FROM calls");

macro_rules! virtual_calls {
    () => {
        concat!(
            "WITH call AS (SELECT trace_id, span_id, service_name AS source, duration_ns, status_code, ",
            "attributes['peer.service'] AS peer, attributes['server.address'] AS address, ",
            protocol_columns!("c_"),
            " FROM spans WHERE start_time >= $1 AND start_time < $2 AND kind IN ('client', 'producer')), ",
            "child AS (SELECT DISTINCT trace_id AS ch_trace_id, parent_span_id AS ch_parent FROM spans ",
            "WHERE start_time >= $3 AND start_time < $4 AND parent_span_id IS NOT NULL AND parent_span_id <> ''), ",
            "calls AS (SELECT source, COALESCE(peer, c_db, c_msg, address) AS target, duration_ns, status_code, ",
            "CASE WHEN c_msg IS NOT NULL OR c_kind = 'producer' THEN 'messaging' WHEN c_db IS NOT NULL THEN 'database' \
             WHEN c_rpc IS NOT NULL THEN 'grpc' WHEN c_http IS NOT NULL THEN 'http' ELSE 'external' END AS kind, ",
            "CASE WHEN c_db IS NOT NULL THEN 'database' ELSE 'external' END AS node_kind ",
            "FROM call LEFT ANTI JOIN child ON call.trace_id = child.ch_trace_id AND call.span_id = child.ch_parent ",
            "WHERE COALESCE(peer, c_db, c_msg, address) IS NOT NULL) ",
        )
    };
}

/// Calls to peers that send no spans: client/producer spans starting in `[$1, $2)` that
/// name a peer (`peer.service`, `db.system`, `messaging.system`, `server.address`, first
/// present) and have no child span starting in `[$3, $4)`. Latency is the client
/// span's. Columns: source, target, kind, node_kind, peer_kind, calls, errors, p50, p95,
/// p99; the rows with a null `source` (grouping set `(target)`) are the virtual nodes,
/// of kind `peer_kind` (`database` if any call named `db.system`, else `external`).
pub const VIRTUAL_EDGES: &str = concat!(
    virtual_calls!(),
    "SELECT source, target, kind, node_kind, MIN(node_kind) AS peer_kind, ",
    red_aggregates!(),
    " FROM calls GROUP BY GROUPING SETS ((source, target, kind, node_kind), (target))"
);

/// The calls of [`VIRTUAL_EDGES`], one row each: source, target, kind, node_kind,
/// duration_ns, status_code.
pub const VIRTUAL_ROWS: &str =
    concat!(virtual_calls!(), "SELECT source, target, kind, node_kind, duration_ns, status_code FROM calls");

/// The requests of [`NODES`], one row each: service, duration_ns, status_code.
pub const NODE_ROWS: &str = "SELECT service_name AS service, duration_ns, status_code FROM spans \
    WHERE start_time >= $1 AND start_time < $2 AND kind IN ('server', 'consumer')";

/// Requests of each service: its server and consumer spans starting in `[$1, $2)`.
/// Columns: service, calls, errors, p50, p95, p99.
pub const NODES: &str = concat!(
    "SELECT service_name AS service, ",
    red_aggregates!(),
    " FROM spans WHERE start_time >= $1 AND start_time < $2 AND kind IN ('server', 'consumer') GROUP BY service_name"
);

/// A timestamp literal of the `spans` table's type.
pub fn ts(ns: i64) -> ScalarValue {
    ScalarValue::TimestampNanosecond(Some(ns), Some("UTC".into()))
}

/// Plans `sql` with `params` bound to `$1..` and collects the result.
pub async fn run(ctx: &SessionContext, sql: &str, params: Vec<ScalarValue>) -> Result<Vec<RecordBatch>> {
    let frame = ctx.sql(sql).await?.with_param_values(params)?;
    Ok(frame.collect().await?)
}

/// Typed access to a result column by name (strings through a cast, so Utf8View or
/// dictionaries read the same).
pub struct Columns<'a> {
    batch: &'a RecordBatch,
}

impl<'a> Columns<'a> {
    pub fn new(batch: &'a RecordBatch) -> Self {
        Columns { batch }
    }

    fn column(&self, name: &str) -> Result<&'a ArrayRef> {
        self.batch.column_by_name(name).ok_or_else(|| QueryError::Layout(format!("no column {name} in the result")))
    }

    pub fn strings(&self, name: &str) -> Result<Vec<Option<String>>> {
        let array = cast(self.column(name)?, &DataType::Utf8)?;
        let strings = array.as_string::<i32>();
        Ok((0..strings.len()).map(|i| strings.is_valid(i).then(|| strings.value(i).to_string())).collect())
    }

    pub fn ints(&self, name: &str) -> Result<Vec<Option<i64>>> {
        let array = cast(self.column(name)?, &DataType::Int64)?;
        let ints = array.as_primitive::<Int64Type>();
        Ok((0..ints.len()).map(|i| ints.is_valid(i).then(|| ints.value(i))).collect())
    }
}

#[cfg(test)]
mod tests;
