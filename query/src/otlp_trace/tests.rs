use std::sync::Arc;

use arrow::array::RecordBatch;
use datafusion::datasource::MemTable;
use osprey_proto::common::{
    any_value::Value as Any, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use osprey_proto::resource::Resource;
use osprey_proto::trace::{span, ResourceSpans, ScopeSpans, Span, Status};
use osprey_proto::ExportTraceServiceRequest;
use osprey_storage::attributes::AttrRef;
use osprey_storage::spans::{schema, SpanEventRecord, SpanLinkRecord, SpanRecord, SpanScope, SpansBuilder};
use serde_json::json;

use super::json::{any_value_json, traces_data};
use super::*;
use crate::QueryConfig;

pub const TRACE_A: [u8; 16] = [0xa1; 16];
pub const TRACE_B: [u8; 16] = [0xb2; 16];
const T0: u64 = 1_700_000_000_000_000_000;

fn kv(key: &str, value: Any) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
}

fn s(v: &str) -> Any {
    Any::StringValue(v.into())
}

/// Attributes of every OTLP type, nested composites included.
pub fn every_type() -> Vec<KeyValue> {
    vec![
        kv("str", s("text")),
        kv("int", Any::IntValue(-9_007_199_254_740_993)),
        kv("double", Any::DoubleValue(0.1)),
        kv("bool", Any::BoolValue(true)),
        kv("bytes", Any::BytesValue(vec![0, 1, 254, 255])),
        kv(
            "array",
            Any::ArrayValue(ArrayValue {
                values: vec![
                    AnyValue { value: Some(s("a")) },
                    AnyValue { value: Some(Any::IntValue(1)) },
                    AnyValue { value: Some(Any::DoubleValue(1.0)) },
                    AnyValue { value: Some(Any::BoolValue(false)) },
                    AnyValue { value: Some(Any::BytesValue(vec![7])) },
                    AnyValue { value: None },
                ],
            }),
        ),
        kv(
            "kvlist",
            Any::KvlistValue(KeyValueList {
                values: vec![
                    kv("z", Any::IntValue(3)),
                    kv("a", Any::ArrayValue(ArrayValue { values: vec![AnyValue { value: Some(s("x")) }] })),
                    kv("m", Any::KvlistValue(KeyValueList { values: vec![kv("inner", Any::DoubleValue(2.5))] })),
                ],
            }),
        ),
        KeyValue { key: "empty".into(), value: Some(AnyValue { value: None }), ..Default::default() },
    ]
}

fn resource(service: &str, extra: Vec<KeyValue>) -> Resource {
    let mut attributes = vec![kv("service.name", s(service))];
    attributes.extend(extra);
    Resource { attributes, dropped_attributes_count: 0, ..Default::default() }
}

/// A span of trace `trace` starting `start` ns after T0.
pub fn otlp_span(trace: [u8; 16], id: u8, parent: Option<u8>, name: &str, kind: i32, start: u64, end: u64) -> Span {
    Span {
        trace_id: trace.to_vec(),
        span_id: vec![id; 8],
        parent_span_id: parent.map(|p| vec![p; 8]).unwrap_or_default(),
        name: name.into(),
        kind,
        start_time_unix_nano: T0 + start,
        end_time_unix_nano: T0 + end,
        ..Default::default()
    }
}

/// Two resources (one with two scopes), two traces, every field set somewhere.
pub fn request() -> ExportTraceServiceRequest {
    let mut root = otlp_span(TRACE_A, 1, None, "GET /checkout", 2, 0, 5_000_000);
    root.trace_state = "vendor=1".into();
    root.flags = 0x101;
    root.attributes = every_type();
    root.dropped_attributes_count = 2;
    root.status = Some(Status { message: "boom".into(), code: 2 });
    root.events = vec![span::Event {
        time_unix_nano: T0 + 1_000,
        name: "exception".into(),
        attributes: vec![kv("exception.type", s("E")), kv("attempt", Any::IntValue(2))],
        dropped_attributes_count: 1,
    }];
    root.dropped_events_count = 3;
    root.links = vec![span::Link {
        trace_id: TRACE_B.to_vec(),
        span_id: vec![9; 8],
        trace_state: "l=2".into(),
        attributes: vec![kv("link.kind", s("follows"))],
        dropped_attributes_count: 4,
        flags: 1,
    }];
    root.dropped_links_count = 5;
    let mut child = otlp_span(TRACE_A, 2, Some(1), "SELECT", 3, 1_000_000, 2_000_000);
    child.status = Some(Status { message: String::new(), code: 1 });
    let lib_child = otlp_span(TRACE_A, 3, Some(1), "compute", 1, 1_500_000, 1_600_000);
    let db = otlp_span(TRACE_A, 4, Some(2), "query", 2, 1_200_000, 1_900_000);
    let other = otlp_span(TRACE_B, 9, None, "consume", 5, 10, 20);
    let scope = |name: &str, spans: Vec<Span>| ScopeSpans {
        scope: Some(InstrumentationScope {
            name: name.into(),
            version: "1.2.3".into(),
            attributes: vec![kv("scope.attr", Any::BoolValue(true))],
            dropped_attributes_count: 1,
        }),
        spans,
        schema_url: "https://opentelemetry.io/schemas/1.24.0".into(),
    };
    ExportTraceServiceRequest {
        resource_spans: vec![
            ResourceSpans {
                resource: Some(Resource {
                    dropped_attributes_count: 6,
                    ..resource("frontend", vec![kv("host.cores", Any::IntValue(8))])
                }),
                scope_spans: vec![scope("http", vec![root, child]), scope("lib", vec![lib_child])],
                schema_url: "https://opentelemetry.io/schemas/1.21.0".into(),
            },
            ResourceSpans {
                resource: Some(resource("db", vec![])),
                scope_spans: vec![ScopeSpans { scope: None, spans: vec![db, other], schema_url: String::new() }],
                schema_url: String::new(),
            },
        ],
    }
}

fn attr_ref(value: Option<&AnyValue>) -> AttrRef<'_> {
    match value.and_then(|v| v.value.as_ref()) {
        None | Some(Any::StringValueStrindex(_)) => AttrRef::Empty,
        Some(Any::StringValue(s)) => AttrRef::Str(s),
        Some(Any::IntValue(i)) => AttrRef::Int(*i),
        Some(Any::DoubleValue(d)) => AttrRef::Double(*d),
        Some(Any::BoolValue(b)) => AttrRef::Bool(*b),
        Some(Any::BytesValue(b)) => AttrRef::Bytes(b),
        Some(Any::ArrayValue(a)) => AttrRef::Array(a.values.iter().map(|v| attr_ref(Some(v))).collect()),
        Some(Any::KvlistValue(kvs)) => AttrRef::KvList(attr_refs(&kvs.values)),
    }
}

fn attr_refs(kvs: &[KeyValue]) -> Vec<(&str, AttrRef<'_>)> {
    kvs.iter().map(|kv| (kv.key.as_str(), attr_ref(kv.value.as_ref()))).collect()
}

/// The request as stored rows, built with storage's builder the way the collector does
/// (`collector/src/convert.rs`; the collector is not a dependency of query).
pub fn rows(request: &ExportTraceServiceRequest) -> RecordBatch {
    let mut builder = SpansBuilder::new();
    for rs in &request.resource_spans {
        let resource = rs.resource.clone().unwrap_or_default();
        let service = resource
            .attributes
            .iter()
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Any::StringValue(s)) => Some(s.as_str()),
                _ => None,
            })
            .unwrap_or("unknown_service");
        for ss in &rs.scope_spans {
            let scope = ss.scope.clone().unwrap_or_default();
            let span_scope = SpanScope {
                service_name: service,
                resource_attributes: attr_refs(&resource.attributes),
                resource_dropped_attributes_count: resource.dropped_attributes_count,
                resource_schema_url: Some(&rs.schema_url),
                scope_name: Some(&scope.name),
                scope_version: Some(&scope.version),
                scope_attributes: attr_refs(&scope.attributes),
                scope_dropped_attributes_count: scope.dropped_attributes_count,
                scope_schema_url: Some(&ss.schema_url),
            };
            for span in &ss.spans {
                let record = SpanRecord {
                    trace_id: &span.trace_id,
                    span_id: &span.span_id,
                    parent_span_id: &span.parent_span_id,
                    trace_state: Some(&span.trace_state),
                    flags: span.flags,
                    name: &span.name,
                    kind: span.kind,
                    start_time_unix_nano: span.start_time_unix_nano as i64,
                    end_time_unix_nano: span.end_time_unix_nano as i64,
                    status_code: span.status.as_ref().map_or(0, |s| s.code),
                    status_message: span.status.as_ref().map(|s| s.message.as_str()),
                    attributes: attr_refs(&span.attributes),
                    dropped_attributes_count: span.dropped_attributes_count,
                    events: span
                        .events
                        .iter()
                        .map(|e| SpanEventRecord {
                            time_unix_nano: e.time_unix_nano as i64,
                            name: &e.name,
                            attributes: attr_refs(&e.attributes),
                            dropped_attributes_count: e.dropped_attributes_count,
                        })
                        .collect(),
                    dropped_events_count: span.dropped_events_count,
                    links: span
                        .links
                        .iter()
                        .map(|l| SpanLinkRecord {
                            trace_id: &l.trace_id,
                            span_id: &l.span_id,
                            trace_state: Some(&l.trace_state),
                            flags: l.flags,
                            attributes: attr_refs(&l.attributes),
                            dropped_attributes_count: l.dropped_attributes_count,
                        })
                        .collect(),
                    dropped_links_count: span.dropped_links_count,
                };
                builder.append(&span_scope, &record).expect("append");
            }
        }
    }
    builder.finish().expect("finish")
}

/// A query service over a `MemTable` holding `batches`.
pub fn service_over(batches: Vec<RecordBatch>) -> QueryService {
    let partitions = batches.into_iter().map(|b| vec![b]).collect();
    let table = MemTable::try_new(schema(), partitions).expect("memtable");
    QueryService::with_config(Arc::new(table), QueryConfig::default()).expect("service")
}

/// The request's spans of one trace, in the shape [`by_trace`] returns.
fn expected(request: &ExportTraceServiceRequest, trace: [u8; 16]) -> Vec<ResourceSpans> {
    let mut out = request.clone().resource_spans;
    for rs in &mut out {
        for ss in &mut rs.scope_spans {
            ss.spans.retain(|s| s.trace_id == trace);
            ss.spans.sort_by_key(|s| (s.start_time_unix_nano, s.span_id.clone()));
        }
        rs.scope_spans.retain(|ss| !ss.spans.is_empty());
    }
    out.retain(|rs| !rs.scope_spans.is_empty());
    out
}

fn tid(trace: [u8; 16]) -> TraceId {
    TraceId::parse(&hex::encode(trace)).expect("id")
}

#[tokio::test]
async fn round_trip_through_stored_rows_keeps_every_field() {
    let request = request();
    // Rows split over two batches, the second first, so order and batch boundaries are the reader's job.
    let batch = rows(&request);
    let service = service_over(vec![batch.slice(3, 2), batch.slice(0, 3)]);
    let traces = load(&service, &[tid(TRACE_A), tid(TRACE_B)]).await.expect("load");
    assert_eq!(traces.len(), 2);
    assert_eq!(traces[0].trace_id, hex::encode(TRACE_A));
    assert_eq!(traces[0].resource_spans, expected(&request, TRACE_A));
    assert_eq!(traces[1].resource_spans, expected(&request, TRACE_B));
    assert_eq!(traces[0].span_count(), 4);
}

#[tokio::test]
async fn missing_trace_is_not_found_and_no_ids_fetch_nothing() {
    let service = service_over(vec![rows(&request())]);
    let err = load_one(&service, &tid([0x11; 16])).await.expect_err("absent");
    assert!(matches!(err, QueryError::TraceNotFound(_)), "{err}");
    assert!(load(&service, &[]).await.expect("empty").is_empty());
}

#[tokio::test]
async fn json_decodes_back_to_the_same_message_with_the_collectors_decoder() {
    let request = request();
    let service = service_over(vec![rows(&request)]);
    let trace = load_one(&service, &tid(TRACE_A)).await.expect("trace");
    let body = traces_data(&trace.resource_spans).to_string();
    let decoded = osprey_proto::json::decode_trace_request(body.as_bytes()).expect("decodes");
    assert_eq!(decoded.resource_spans, expected(&request, TRACE_A));
}

#[test]
fn json_follows_the_otlp_rules() {
    let trace = by_trace(&[rows(&request())]).expect("rebuild");
    let json = traces_data(&trace[0].resource_spans);
    insta::assert_json_snapshot!("otlp_json_trace", json);
    let root = &json["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    assert_eq!(root["traceId"], json!(hex::encode(TRACE_A)));
    assert_eq!(root["startTimeUnixNano"], json!("1700000000000000000"));
    assert_eq!(root["kind"], json!(2));
    assert_eq!(root["status"], json!({"message": "boom", "code": 2}));
    assert_eq!(root["attributes"][1]["value"], json!({"intValue": "-9007199254740993"}));
    assert!(root.get("parentSpanId").is_none(), "a root has no parentSpanId");
}

#[test]
fn non_finite_doubles_are_proto3_strings() {
    let value = |d| any_value_json(&AnyValue { value: Some(Any::DoubleValue(d)) });
    assert_eq!(value(f64::NAN), json!({"doubleValue": "NaN"}));
    assert_eq!(value(f64::INFINITY), json!({"doubleValue": "Infinity"}));
    assert_eq!(value(f64::NEG_INFINITY), json!({"doubleValue": "-Infinity"}));
    assert_eq!(value(1e300), json!({"doubleValue": 1e300}));
    assert_eq!(any_value_json(&AnyValue { value: None }), json!({}));
}

/// Why `json` exists: what the upstream serde derive writes for the same span.
#[test]
fn upstream_serde_differs() {
    let mut span = otlp_span(TRACE_A, 1, None, "x", 1, 0, 1);
    span.attributes = vec![
        kv("nan", Any::DoubleValue(f64::NAN)),
        KeyValue { key: "empty".into(), value: Some(AnyValue { value: None }), ..Default::default() },
    ];
    let upstream = serde_json::to_value(&span).expect("serialize");
    assert_eq!(upstream["parentSpanId"], json!(""), "writes default fields");
    assert_eq!(upstream["droppedAttributesCount"], json!(0), "writes default fields");
    assert_eq!(upstream["attributes"][0]["value"], json!({"doubleValue": null}), "NaN becomes null");
    assert_eq!(upstream["attributes"][1]["value"], json!({}), "an empty AnyValue is right upstream too");
    let ours = super::json::span_json(&span);
    assert!(ours.get("parentSpanId").is_none());
    assert_eq!(ours["attributes"][0]["value"], json!({"doubleValue": "NaN"}));
    assert_eq!(ours["attributes"][1]["value"], json!({}));
}
