//! `service_edges`: the calls between services, derived per flush like `service_red`
//! (see the parent module for how derived tables are written and scanned).
//!
//! A flush sees only its own spans, yet parents and children arrive independently and
//! may land in different flushes. Each flush writes these kinds of rows (`row_kind`):
//!
//! - `edge`: calls whose child and parent are in different services, aggregated per
//!   (minute of the child's start, source, target, kind) with a count, an error count and
//!   a DDSketch of the child durations. Final: the reader sums them. Calls whose sides
//!   are both in this flush are derived here; calls whose other side was in an earlier
//!   flush are added by [`super::late_join`].
//! - `peer`: one row per client/producer span that names its peer (`peer.service`,
//!   `db.system`, `messaging.system`, `server.address`) and has no child in this flush:
//!   a call to an uninstrumented peer *unless* a child turns up later, which writes a
//!   `joined` row for it (see [`super::late_join`]); the reader drops the peers that
//!   some `joined` row names.
//! - `call`: one row per call of an `edge` row (source, target, kind, the callee's duration,
//!   error and exact `start_time`; `node_kind` = the callee's span kind when it is a
//!   server/consumer span paired in this flush, so the row also counts as its request),
//!   and `request`: one row per other server/consumer span (its service as `target`, span
//!   kind, duration, error, `start_time`). Queries read
//!   them only for the parts of a window shorter than a minute, so a window that does
//!   not fall on minute boundaries is still exact without scanning spans.
//! - `joined`: a marker written when a late join gave a caller its child
//!   (the caller's `span_key`, in the caller's bucket).
//! - `caller`: one row per client/producer span (`source` = its service, `kind` = the
//!   protocol it names, its `span_key`; `call_count` = 1 when it has a child in this flush): the open
//!   side a later child can join (a retried request, a message fanned out to several
//!   consumers). Not read by queries. Only the unpaired ones are written to Parquet (the
//!   late-join state is rebuilt from them on start); the paired ones live in memory.
//! - `pending`: one row per span whose parent is not in this flush (the `span_key` of
//!   its parent, its service as `target`, its duration and error, and
//!   `callee_hint`, the protocol its own attributes say): the open side a later parent
//!   can join. Not read by queries either.
//!
//! Spans are named by [`span_key`], a 64-bit hash of (trace id, span id), not by their
//! ids: 8 bytes instead of the 24 bytes of entropy in two random ids, on ~1 row in 10 spans.
//! Durations of single rows are moved to the centre of their sketch bin
//! ([`super::binned_duration`]): these rows only ever feed sketches.
//!
//! The edge kind is the strongest protocol either side names, in the order
//! messaging > database > grpc > http, else `other` (peers: `external`), the same rule
//! as the query side's exact plan.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, MapArray, RecordBatch, StringArray, TimestampNanosecondArray,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef, TimeUnit, TimestampNanosecondType};
use foldhash::fast::RandomState;
use sketches_ddsketch::DDSketch;

use super::{new_sketch, BUCKET_NS};
use crate::error::{Result, StorageError};
use crate::spans::col;

pub mod edge_col {
    pub const BUCKET_START: &str = "bucket_start";
    pub const ROW_KIND: &str = "row_kind";
    pub const SOURCE: &str = "source";
    pub const TARGET: &str = "target";
    pub const KIND: &str = "kind";
    pub const NODE_KIND: &str = "node_kind";
    pub const CALL_COUNT: &str = "call_count";
    pub const ERROR_COUNT: &str = "error_count";
    pub const DURATION_SKETCH: &str = "duration_sketch";
    pub const DURATION_NS: &str = "duration_ns";
    pub const SPAN_KEY: &str = "span_key";
    pub const CALLEE_HINT: &str = "callee_hint";
    /// The span's start in whole **microseconds** (rounded down), unlike every other time of
    /// Osprey's: these rows are read only for the head and tail of a window shorter than a
    /// minute, `start_time >= start AND start_time < end`, which is exact at this precision
    /// whenever the window's bounds are whole microseconds (the map's reader asks for nothing
    /// else), and the delta-packed column takes ~10 bits a row less (−0.8 B/span).
    pub const START_TIME: &str = "start_time";
}

/// The `service_edges` schema (logical = physical).
pub fn edges_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            use edge_col::*;
            let text = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
            Arc::new(Schema::new(vec![
                Field::new(BUCKET_START, DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())), false),
                text(ROW_KIND, false),
                text(SOURCE, true),
                text(TARGET, false),
                text(KIND, true),
                text(NODE_KIND, true),
                Field::new(CALL_COUNT, DataType::Int64, false),
                Field::new(ERROR_COUNT, DataType::Int64, false),
                Field::new(DURATION_SKETCH, DataType::Binary, true),
                Field::new(DURATION_NS, DataType::Int64, true),
                Field::new(SPAN_KEY, DataType::Int64, true),
                text(CALLEE_HINT, true),
                Field::new(START_TIME, DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), true),
            ]))
        })
        .clone()
}

/// The key of span `span_id` of trace `trace_id` in `service_edges` (`span_key`): a 64-bit
/// hash, stable across versions since it is written to disk. Within a trace it is one-to-one
/// (the last step is a bijection of `span_id`); across traces two spans share a key with
/// probability 2⁻⁶⁴ — at most a few million open sides are remembered at once, and a collision
/// would only pair one call wrongly in the map. `None` for ids that are not 32 and 16 hex digits.
pub fn span_key(trace_id: &str, span_id: &str) -> Option<i64> {
    if trace_id.len() != 32 || span_id.len() != 16 {
        return None;
    }
    let trace = u128::from_str_radix(trace_id, 16).ok()?;
    let span = u64::from_str_radix(span_id, 16).ok()?;
    let trace = mix(mix((trace >> 64) as u64) ^ trace as u64);
    Some(mix(trace ^ span) as i64)
}

/// splitmix64's finaliser: a bijection of `u64` that spreads every input bit over the output.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Protocols by strength: the edge kind is the strongest either side names.
const PROTOCOLS: [&str; 4] = ["http", "grpc", "database", "messaging"];

/// The strongest protocol one span names (`None`: no hint). Producer spans (as callers)
/// and consumer spans (as callees) are messaging whatever their attributes.
pub fn protocol_hint(span_kind: &str, attrs: &Hints<'_>, as_callee: bool) -> Option<&'static str> {
    let messaging_kind = if as_callee { span_kind == "consumer" } else { span_kind == "producer" };
    if attrs.messaging.is_some() || messaging_kind {
        Some("messaging")
    } else if attrs.db.is_some() {
        Some("database")
    } else if attrs.rpc {
        Some("grpc")
    } else if attrs.http {
        Some("http")
    } else {
        None
    }
}

/// The edge kind from both sides' hints.
pub fn edge_kind(caller: Option<&str>, callee: Option<&str>) -> &'static str {
    let rank = |h: Option<&str>| h.and_then(|h| PROTOCOLS.iter().position(|p| *p == h));
    match rank(caller).max(rank(callee)) {
        Some(i) => PROTOCOLS.get(i).copied().unwrap_or("other"),
        None => "other",
    }
}

/// The protocol attributes of a span, borrowed from its batch.
#[derive(Debug, Default, Clone)]
pub struct Hints<'a> {
    pub messaging: Option<&'a str>,
    pub db: Option<&'a str>,
    pub rpc: bool,
    pub http: bool,
    pub peer_service: Option<&'a str>,
    pub server_address: Option<&'a str>,
}

impl<'a> Hints<'a> {
    fn read(map: &'a MapArray, row: usize) -> Hints<'a> {
        let mut h = Hints::default();
        if map.is_null(row) {
            return h;
        }
        let (Some(keys), Some(values)) = (map.keys().as_string_opt::<i32>(), map.values().as_string_opt::<i32>())
        else {
            return h;
        };
        let offsets = map.value_offsets();
        let (Some(start), Some(end)) = (offsets.get(row), offsets.get(row + 1)) else { return h };
        for i in (*start as usize)..(*end as usize) {
            let value = (!values.is_null(i)).then(|| values.value(i));
            match keys.value(i) {
                "messaging.system" => h.messaging = value,
                // `db.system` wins over the newer `db.system.name`, as in the query side's COALESCE.
                "db.system" => h.db = value.or(h.db),
                "db.system.name" => h.db = h.db.or(value),
                "rpc.system" => h.rpc = true,
                "http.request.method" | "http.method" => h.http = true,
                "peer.service" => h.peer_service = value,
                "server.address" => h.server_address = value,
                _ => {}
            }
        }
        h
    }

    /// The name of the peer a client span calls, first present of `peer.service`,
    /// `db.system`, `messaging.system`, `server.address`.
    pub fn peer(&self) -> Option<&'a str> {
        self.peer_service.or(self.db).or(self.messaging).or(self.server_address)
    }
}

/// One span, as the edge derivation needs it, borrowed from its batch's columns.
struct SpanView<'a> {
    trace_id: &'a str,
    span_id: &'a str,
    /// Empty for a root.
    parent_span_id: &'a str,
    service: &'a str,
    kind: &'a str,
    start_ns: i64,
    duration_ns: i64,
    error: bool,
    hints: Hints<'a>,
}

/// The columns of one span batch the derivation reads, in known types.
struct BatchColumns {
    trace: StringArray,
    span: StringArray,
    parent: StringArray,
    service: StringArray,
    kind: StringArray,
    status: StringArray,
    starts: TimestampNanosecondArray,
    durations: Int64Array,
    attributes: MapArray,
}

impl BatchColumns {
    fn read(batch: &RecordBatch) -> Result<BatchColumns> {
        let text = |name: &str| -> Result<StringArray> {
            let array = cast(column(batch, name)?, &DataType::Utf8)?;
            array
                .as_string_opt::<i32>()
                .cloned()
                .ok_or_else(|| StorageError::Internal(format!("spans.{name} not text")))
        };
        let starts = column(batch, col::START_TIME)?
            .as_primitive_opt::<TimestampNanosecondType>()
            .ok_or_else(|| StorageError::Internal("spans.start_time is not a timestamp".into()))?
            .clone();
        let durations = cast(column(batch, col::DURATION_NS)?, &DataType::Int64)?.as_primitive::<Int64Type>().clone();
        let attributes = column(batch, col::ATTRIBUTES)?
            .as_map_opt()
            .ok_or_else(|| StorageError::Internal("spans.attributes is not a map".into()))?
            .clone();
        Ok(BatchColumns {
            trace: text(col::TRACE_ID)?,
            span: text(col::SPAN_ID)?,
            parent: text(col::PARENT_SPAN_ID)?,
            service: text(col::SERVICE_NAME)?,
            kind: text(col::KIND)?,
            status: text(col::STATUS_CODE)?,
            starts,
            durations,
            attributes,
        })
    }

    fn views(&self) -> impl Iterator<Item = SpanView<'_>> {
        (0..self.trace.len()).map(move |row| SpanView {
            trace_id: self.trace.value(row),
            span_id: self.span.value(row),
            parent_span_id: if self.parent.is_null(row) { "" } else { self.parent.value(row) },
            service: self.service.value(row),
            kind: self.kind.value(row),
            start_ns: self.starts.value(row),
            duration_ns: self.durations.value(row),
            error: self.status.value(row) == "error",
            hints: Hints::read(&self.attributes, row),
        })
    }
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef> {
    batch.column_by_name(name).ok_or_else(|| StorageError::Internal(format!("spans batch without {name}")))
}

/// Calls of one edge key: count, errors, sketch of the callee durations.
#[derive(Default)]
pub(super) struct Aggregate {
    calls: i64,
    errors: i64,
    sketch: Option<DDSketch>,
}

impl Aggregate {
    pub(super) fn add(&mut self, duration_ns: i64, error: bool) {
        self.calls += 1;
        self.errors += i64::from(error);
        self.sketch.get_or_insert_with(new_sketch).add(duration_ns as f64);
    }
}

/// Edge rows keyed by (bucket, source, target, kind).
pub(super) type EdgeCells<'a> = BTreeMap<(i64, &'a str, &'a str, &'static str), Aggregate>;

/// Whether a span of this kind calls out (its children in other services are its calls).
pub(super) fn calls_out(kind: &str) -> bool {
    kind == "client" || kind == "producer"
}

/// The `service_edges` rows of one flush's spans: the rows to write, then (in a batch of
/// their own, so a flush drops it whole) the `caller` rows of callers paired here, which
/// only the in-memory late-join state needs. Empty batches are left out.
pub fn derive_edges(spans: &[RecordBatch]) -> Result<Vec<RecordBatch>> {
    let columns =
        spans.iter().filter(|b| b.num_rows() > 0).map(BatchColumns::read).collect::<Result<Vec<BatchColumns>>>()?;
    let spans: Vec<SpanView<'_>> = columns.iter().flat_map(BatchColumns::views).collect();
    let by_id: HashMap<(&str, &str), &SpanView<'_>, RandomState> =
        spans.iter().map(|s| ((s.trace_id, s.span_id), s)).collect();
    let has_child: HashSet<(&str, &str), RandomState> =
        spans.iter().filter(|s| !s.parent_span_id.is_empty()).map(|s| (s.trace_id, s.parent_span_id)).collect();

    let mut edges = EdgeCells::new();
    let (mut rows, mut paired_callers) = (Rows::default(), Rows::default());
    for s in &spans {
        let bucket = s.start_ns.div_euclid(BUCKET_NS) * BUCKET_NS;
        // A server/consumer span is a request of its service's node: counted by its `call`
        // row when it has one, else by a `request` row.
        let request = s.kind == "server" || s.kind == "consumer";
        let mut counted = false;
        if !s.parent_span_id.is_empty() {
            let callee_hint = protocol_hint(s.kind, &s.hints, true);
            match by_id.get(&(s.trace_id, s.parent_span_id)) {
                Some(parent) if parent.service != s.service => {
                    let kind = edge_kind(protocol_hint(parent.kind, &parent.hints, false), callee_hint);
                    edges.entry((bucket, parent.service, s.service, kind)).or_default().add(s.duration_ns, s.error);
                    let node = request.then_some(s.kind);
                    rows.call(bucket, s.start_ns, parent.service, s.service, kind, (s.duration_ns, s.error), node);
                    counted = request;
                }
                Some(_) => {}
                None => rows.pending(bucket, s, callee_hint),
            }
        }
        if request && !counted {
            rows.request(bucket, s);
        }
        if calls_out(s.kind) {
            // Every caller is an open side: a client retried, a producer fanned out to
            // several consumers, so a caller with a child here may get another one later.
            let hint = protocol_hint(s.kind, &s.hints, false);
            if has_child.contains(&(s.trace_id, s.span_id)) {
                paired_callers.caller(bucket, s, hint, true);
            } else {
                rows.caller(bucket, s, hint, false);
                if let Some(peer) = s.hints.peer() {
                    rows.peer(bucket, s, peer);
                }
            }
        }
    }
    rows.edges(edges);
    Ok([rows.finish()?, paired_callers.finish()?].into_iter().flatten().collect())
}

mod rows;

pub(super) use rows::Rows;

#[cfg(test)]
mod tests;
