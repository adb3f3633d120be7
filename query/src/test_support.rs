//! Hand-built traces for tests: spans in a `MemTable`, and a router over it.

use std::sync::Arc;

use arrow::array::RecordBatch;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use datafusion::catalog::TableProvider;
use datafusion::datasource::MemTable;
use osprey_storage::attributes::AttrRef;
use osprey_storage::spans::{schema, SpanEventRecord, SpanLinkRecord, SpanRecord, SpanScope, SpansBuilder};
use osprey_storage::Table;
use tower::ServiceExt as _;

use crate::{router, QueryConfig, QueryService};

pub const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
/// Nanoseconds of the test epoch (2023-11-14T22:13:20Z); span times are offsets from it.
pub const T0: i64 = 1_700_000_000_000_000_000;

/// Attributes of a hand-built span, event or resource.
pub type Attrs = Vec<(&'static str, AttrRef<'static>)>;

/// One span of a hand-built trace; times are offsets from [`T0`] in ns.
#[derive(Clone, Default)]
pub struct Span {
    pub id: &'static str,
    pub parent: &'static str,
    pub service: &'static str,
    pub name: &'static str,
    pub kind: i32,
    pub start: i64,
    pub end: i64,
    /// OTLP status code: 0 unset, 1 ok, 2 error.
    pub status: i32,
    pub status_message: Option<&'static str>,
    pub attributes: Attrs,
    pub resource_attributes: Attrs,
    pub events: Vec<(i64, &'static str, Attrs)>,
    /// (trace id, span id, trace state)
    pub links: Vec<(&'static str, &'static str, Option<&'static str>)>,
}

/// A span with the essentials; the rest default.
pub fn span(id: &'static str, parent: &'static str, service: &'static str, start: i64, end: i64) -> Span {
    Span { id, parent, service, name: id, kind: 1, start, end, ..Default::default() }
}

fn bytes(hex_id: &str) -> Vec<u8> {
    hex::decode(hex_id).expect("test ids are hex")
}

/// A `spans` batch holding `spans` in trace `trace`.
pub fn batch(trace: &str, spans: &[Span]) -> RecordBatch {
    let mut builder = SpansBuilder::new();
    let trace_id = bytes(trace);
    for s in spans {
        let (id, parent) = (bytes(s.id), bytes(s.parent));
        let links: Vec<(Vec<u8>, Vec<u8>, Option<&str>)> =
            s.links.iter().map(|(t, l, ts)| (bytes(t), bytes(l), *ts)).collect();
        let scope = SpanScope {
            service_name: s.service,
            resource_attributes: s.resource_attributes.clone(),
            scope_name: Some("test"),
            ..Default::default()
        };
        let record = SpanRecord {
            trace_id: &trace_id,
            span_id: &id,
            parent_span_id: &parent,
            name: s.name,
            kind: s.kind,
            start_time_unix_nano: T0 + s.start,
            end_time_unix_nano: T0 + s.end,
            status_code: s.status,
            status_message: s.status_message,
            attributes: s.attributes.clone(),
            events: s
                .events
                .iter()
                .map(|(t, name, attrs)| SpanEventRecord {
                    time_unix_nano: T0 + t,
                    name,
                    attributes: attrs.clone(),
                    dropped_attributes_count: 0,
                })
                .collect(),
            links: links
                .iter()
                .map(|(t, l, ts)| SpanLinkRecord { trace_id: t, span_id: l, trace_state: *ts, ..Default::default() })
                .collect(),
            ..Default::default()
        };
        builder.append(&scope, &record).expect("append");
    }
    builder.finish().expect("finish")
}

/// A query service over a `MemTable` holding `batches` (one partition each), with the
/// tables derived from spans (`service_red`, `service_edges`) derived from them as a flush would.
pub fn service(batches: Vec<RecordBatch>) -> QueryService {
    let mut tables: Vec<(Table, Arc<dyn TableProvider>)> = Vec::new();
    for derived in [Table::ServiceRed, Table::ServiceEdges] {
        let rows = derived.derive(&batches).expect("derive");
        let table = MemTable::try_new(derived.schema(), vec![rows]).expect("derived memtable");
        tables.push((derived, Arc::new(table)));
    }
    let partitions = batches.into_iter().map(|b| vec![b]).collect();
    let table = MemTable::try_new(schema(), partitions).expect("memtable");
    tables.push((Table::Spans, Arc::new(table)));
    QueryService::with_tables(tables, QueryConfig::default()).expect("service")
}

/// `GET uri` through the router; the status and the JSON body.
pub async fn get_json(service: &QueryService, uri: &str) -> (StatusCode, serde_json::Value) {
    let request = Request::get(uri).body(Body::empty()).expect("request");
    let response = router(service.clone()).oneshot(request).await.expect("response");
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("body");
    let json = serde_json::from_slice(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body:?}"));
    (status, json)
}
