//! Test fixtures: sample OTLP requests, servers on ephemeral ports, batch readers.

use std::net::SocketAddr;
use std::sync::Arc;

use arrow::array::{Array, AsArray, MapArray, RecordBatch, StringArray};
use osprey_proto::common::{any_value::Value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList};
use osprey_proto::resource::Resource;
use osprey_proto::trace::{span, ResourceSpans, ScopeSpans, Span, Status};
use osprey_proto::ExportTraceServiceRequest;
use osprey_storage::attributes::{read_row, AttrValue};
use tokio::sync::oneshot;

use crate::{Collector, CollectorConfig, MemorySink};

pub const TRACE_ID: [u8; 16] =
    [0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c];
pub const TRACE_HEX: &str = "5b8efff798038103d269b633813fc60c";
pub const SPAN_ID: [u8; 8] = [0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74];
pub const SPAN_HEX: &str = "eee19b7ec3c1b174";
pub const START: u64 = 1_700_000_000_000_000_000;

pub fn any(v: Value) -> AnyValue {
    AnyValue { value: Some(v) }
}

pub fn kv(key: &str, v: Value) -> KeyValue {
    KeyValue { key: key.into(), value: Some(any(v)), ..Default::default() }
}

pub fn str_kv(key: &str, v: &str) -> KeyValue {
    kv(key, Value::StringValue(v.into()))
}

/// A span with valid ids (`n` distinguishes span ids) and nothing else.
pub fn span(n: u8) -> Span {
    let mut span_id = SPAN_ID.to_vec();
    span_id[7] = n;
    Span {
        trace_id: TRACE_ID.to_vec(),
        span_id,
        name: format!("span-{n}"),
        start_time_unix_nano: START,
        end_time_unix_nano: START + 1_000,
        ..Default::default()
    }
}

pub fn request_of(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource { attributes: vec![str_kv("service.name", "checkout")], ..Default::default() }),
            scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
            ..Default::default()
        }],
    }
}

/// Every typed attribute, events, links, status, resource and scope.
pub fn rich_request() -> ExportTraceServiceRequest {
    let attributes = vec![
        str_kv("http.route", "/cart"),
        kv("http.response.status_code", Value::IntValue(500)),
        kv("ratio", Value::DoubleValue(0.25)),
        kv("cached", Value::BoolValue(true)),
        kv("blob", Value::BytesValue(vec![0, 1, 255])),
        kv(
            "list",
            Value::ArrayValue(ArrayValue {
                values: vec![any(Value::StringValue("a".into())), any(Value::IntValue(2))],
            }),
        ),
        kv("map", Value::KvlistValue(KeyValueList { values: vec![kv("inner", Value::BoolValue(false))] })),
        KeyValue { key: "nothing".into(), value: None, ..Default::default() },
    ];
    let server = Span {
        parent_span_id: vec![1, 2, 3, 4, 5, 6, 7, 8],
        trace_state: "vendor=x".into(),
        flags: 0x101,
        kind: span::SpanKind::Server as i32,
        attributes,
        dropped_attributes_count: 2,
        events: vec![span::Event {
            time_unix_nano: START + 500,
            name: "exception".into(),
            attributes: vec![str_kv("exception.type", "IOError")],
            dropped_attributes_count: 1,
        }],
        dropped_events_count: 3,
        links: vec![span::Link {
            trace_id: vec![0x11; 16],
            span_id: vec![0x22; 8],
            trace_state: "l=1".into(),
            flags: 1,
            attributes: vec![str_kv("link.kind", "follows")],
            ..Default::default()
        }],
        dropped_links_count: 4,
        status: Some(Status { code: 2, message: "boom".into() }),
        ..span(1)
    };
    let mut request = request_of(vec![server, Span { kind: 3, ..span(2) }]);
    let rs = &mut request.resource_spans[0];
    rs.schema_url = "https://opentelemetry.io/schemas/1.26.0".into();
    if let Some(resource) = rs.resource.as_mut() {
        resource.attributes.push(kv("process.pid", Value::IntValue(42)));
        resource.dropped_attributes_count = 1;
    }
    rs.scope_spans[0].scope = Some(InstrumentationScope {
        name: "io.opentelemetry.http".into(),
        version: "1.2.3".into(),
        attributes: vec![str_kv("scope.attr", "s")],
        dropped_attributes_count: 0,
    });
    rs.scope_spans[0].schema_url = "scope-schema".into();
    request
}

/// Servers on 127.0.0.1:0, stopped when dropped.
pub struct Servers {
    pub sink: Arc<MemorySink>,
    pub collector: Collector,
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    _stop: Vec<oneshot::Sender<()>>,
}

impl Servers {
    pub async fn start(config: CollectorConfig) -> Servers {
        let sink = MemorySink::new();
        let collector = Collector::new(config, sink.clone()).unwrap();
        let grpc_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let http_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (grpc, http) = (grpc_listener.local_addr().unwrap(), http_listener.local_addr().unwrap());
        let (stop_grpc, grpc_rx) = oneshot::channel::<()>();
        let (stop_http, http_rx) = oneshot::channel::<()>();
        let c = collector.clone();
        tokio::spawn(async move { c.serve_grpc(grpc_listener, async { grpc_rx.await.unwrap_or(()) }).await.unwrap() });
        let c = collector.clone();
        tokio::spawn(async move { c.serve_http(http_listener, async { http_rx.await.unwrap_or(()) }).await.unwrap() });
        Servers { sink, collector, grpc, http, _stop: vec![stop_grpc, stop_http] }
    }

    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{}", self.http, path)
    }

    pub fn metric(&self, name: &str, labels: &[(&'static str, &'static str)]) -> u64 {
        self.collector.metrics().value(name, labels)
    }
}

pub fn strings(batch: &RecordBatch, column: &str) -> Vec<Option<String>> {
    let array = batch.column_by_name(column).unwrap().as_string::<i32>();
    (0..array.len()).map(|i| (!array.is_null(i)).then(|| array.value(i).to_string())).collect()
}

pub fn u32s(batch: &RecordBatch, column: &str) -> Vec<u32> {
    let array = batch.column_by_name(column).unwrap().as_primitive::<arrow::datatypes::UInt32Type>();
    array.values().to_vec()
}

/// Typed attributes of `row` from a (map, signature) column pair of the batch.
pub fn attrs(batch: &RecordBatch, map: &str, types: &str, row: usize) -> Vec<(String, AttrValue)> {
    let map = batch.column_by_name(map).unwrap().as_any().downcast_ref::<MapArray>().unwrap();
    let types = batch.column_by_name(types).unwrap().as_any().downcast_ref::<StringArray>().unwrap();
    read_row(map, types, row).unwrap()
}

/// What `AttrValue` an OTLP value must come back as (no limits applied).
pub fn expected(value: Option<&AnyValue>) -> AttrValue {
    match value.and_then(|v| v.value.as_ref()) {
        None | Some(Value::StringValueStrindex(_)) => AttrValue::Empty,
        Some(Value::StringValue(s)) => AttrValue::Str(s.clone()),
        Some(Value::BoolValue(b)) => AttrValue::Bool(*b),
        Some(Value::IntValue(i)) => AttrValue::Int(*i),
        Some(Value::DoubleValue(d)) => AttrValue::Double(*d),
        Some(Value::BytesValue(b)) => AttrValue::Bytes(b.clone()),
        Some(Value::ArrayValue(a)) => AttrValue::Array(a.values.iter().map(|v| expected(Some(v))).collect()),
        Some(Value::KvlistValue(k)) => {
            AttrValue::KvList(k.values.iter().map(|kv| (kv.key.clone(), expected(kv.value.as_ref()))).collect())
        }
    }
}
