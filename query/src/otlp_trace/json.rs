//! OTLP/JSON encoding of traces, per the OTLP specification's JSON rules
//! (<https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding>): lowerCamelCase
//! field names, trace and span ids as lowercase hex (not base64), enums as integers,
//! 64-bit integers (`*UnixNano`, `intValue`) as decimal strings, `bytesValue` as base64,
//! and fields holding their default value left out — except `traceId`, `spanId`, `name`,
//! `kind`, `startTimeUnixNano` and `endTimeUnixNano`, which every span carries because
//! clients read them unconditionally.
//!
//! Why not `opentelemetry-proto`'s serde derive (`with-serde`): tested in `tests.rs`
//! (`upstream_serde_differs`), it writes every default field (`"parentSpanId":""`,
//! `"droppedAttributesCount":0`, `"schemaUrl":""`, …) and turns a NaN or infinite `doubleValue` into `null` (proto3 JSON wants
//! the strings `"NaN"`, `"Infinity"`, `"-Infinity"`). Writing the few messages by hand is
//! shorter than patching its output.

use base64::Engine as _;
use osprey_proto::common::{any_value::Value as Any, AnyValue, InstrumentationScope, KeyValue};
use osprey_proto::resource::Resource;
use osprey_proto::trace::{span, ResourceSpans, ScopeSpans, Span, Status};
use serde_json::{Map, Value};

/// `{"resourceSpans":[...]}`: the OTLP `TracesData` message (what Jaeger's API v3 wraps
/// in `{"result":…}` and Tempo's v2 trace API in `{"trace":…}`).
pub fn traces_data(resource_spans: &[ResourceSpans]) -> Value {
    let mut out = Map::new();
    out.insert("resourceSpans".into(), Value::Array(resource_spans.iter().map(resource_spans_json).collect()));
    Value::Object(out)
}

/// One `ResourceSpans` message.
pub fn resource_spans_json(rs: &ResourceSpans) -> Value {
    let mut out = Map::new();
    if let Some(resource) = &rs.resource {
        out.insert("resource".into(), resource_json(resource));
    }
    out.insert("scopeSpans".into(), Value::Array(rs.scope_spans.iter().map(scope_spans_json).collect()));
    non_empty_str(&mut out, "schemaUrl", &rs.schema_url);
    Value::Object(out)
}

fn resource_json(resource: &Resource) -> Value {
    let mut out = Map::new();
    attributes(&mut out, &resource.attributes, resource.dropped_attributes_count);
    Value::Object(out)
}

fn scope_spans_json(ss: &ScopeSpans) -> Value {
    let mut out = Map::new();
    if let Some(scope) = &ss.scope {
        out.insert("scope".into(), scope_json(scope));
    }
    out.insert("spans".into(), Value::Array(ss.spans.iter().map(span_json).collect()));
    non_empty_str(&mut out, "schemaUrl", &ss.schema_url);
    Value::Object(out)
}

fn scope_json(scope: &InstrumentationScope) -> Value {
    let mut out = Map::new();
    non_empty_str(&mut out, "name", &scope.name);
    non_empty_str(&mut out, "version", &scope.version);
    attributes(&mut out, &scope.attributes, scope.dropped_attributes_count);
    Value::Object(out)
}

/// One `Span` message.
pub fn span_json(span: &Span) -> Value {
    let mut out = Map::new();
    out.insert("traceId".into(), Value::String(hex::encode(&span.trace_id)));
    out.insert("spanId".into(), Value::String(hex::encode(&span.span_id)));
    non_empty_str(&mut out, "traceState", &span.trace_state);
    if !span.parent_span_id.is_empty() {
        out.insert("parentSpanId".into(), Value::String(hex::encode(&span.parent_span_id)));
    }
    non_zero(&mut out, "flags", span.flags);
    out.insert("name".into(), Value::String(span.name.clone()));
    out.insert("kind".into(), Value::from(span.kind));
    out.insert("startTimeUnixNano".into(), Value::String(span.start_time_unix_nano.to_string()));
    out.insert("endTimeUnixNano".into(), Value::String(span.end_time_unix_nano.to_string()));
    attributes(&mut out, &span.attributes, span.dropped_attributes_count);
    if !span.events.is_empty() {
        out.insert("events".into(), Value::Array(span.events.iter().map(event_json).collect()));
    }
    non_zero(&mut out, "droppedEventsCount", span.dropped_events_count);
    if !span.links.is_empty() {
        out.insert("links".into(), Value::Array(span.links.iter().map(link_json).collect()));
    }
    non_zero(&mut out, "droppedLinksCount", span.dropped_links_count);
    if let Some(status) = &span.status {
        out.insert("status".into(), status_json(status));
    }
    Value::Object(out)
}

fn event_json(event: &span::Event) -> Value {
    let mut out = Map::new();
    out.insert("timeUnixNano".into(), Value::String(event.time_unix_nano.to_string()));
    out.insert("name".into(), Value::String(event.name.clone()));
    attributes(&mut out, &event.attributes, event.dropped_attributes_count);
    Value::Object(out)
}

fn link_json(link: &span::Link) -> Value {
    let mut out = Map::new();
    out.insert("traceId".into(), Value::String(hex::encode(&link.trace_id)));
    out.insert("spanId".into(), Value::String(hex::encode(&link.span_id)));
    non_empty_str(&mut out, "traceState", &link.trace_state);
    attributes(&mut out, &link.attributes, link.dropped_attributes_count);
    non_zero(&mut out, "flags", link.flags);
    Value::Object(out)
}

fn status_json(status: &Status) -> Value {
    let mut out = Map::new();
    non_empty_str(&mut out, "message", &status.message);
    non_zero(&mut out, "code", status.code);
    Value::Object(out)
}

fn attributes(out: &mut Map<String, Value>, attributes: &[KeyValue], dropped: u32) {
    if !attributes.is_empty() {
        out.insert("attributes".into(), Value::Array(attributes.iter().map(key_value_json).collect()));
    }
    non_zero(out, "droppedAttributesCount", dropped);
}

/// One `KeyValue`: `{"key": "...", "value": <AnyValue>}` (`value` left out when absent).
pub fn key_value_json(kv: &KeyValue) -> Value {
    let mut out = Map::new();
    out.insert("key".into(), Value::String(kv.key.clone()));
    if let Some(value) = &kv.value {
        out.insert("value".into(), any_value_json(value));
    }
    Value::Object(out)
}

/// One `AnyValue`: `{"stringValue": ...}`, `{"intValue": "<i64>"}`, …; `{}` when empty.
pub fn any_value_json(value: &AnyValue) -> Value {
    let mut out = Map::new();
    let (name, json) = match &value.value {
        None => return Value::Object(out),
        Some(Any::StringValue(s)) => ("stringValue", Value::String(s.clone())),
        Some(Any::BoolValue(b)) => ("boolValue", Value::Bool(*b)),
        Some(Any::IntValue(i)) => ("intValue", Value::String(i.to_string())),
        Some(Any::DoubleValue(d)) => ("doubleValue", double_json(*d)),
        Some(Any::BytesValue(b)) => ("bytesValue", Value::String(base64::engine::general_purpose::STANDARD.encode(b))),
        Some(Any::ArrayValue(a)) => {
            let values = a.values.iter().map(any_value_json).collect();
            ("arrayValue", Value::Object(Map::from_iter([("values".to_string(), Value::Array(values))])))
        }
        Some(Any::KvlistValue(kvs)) => {
            let values = kvs.values.iter().map(key_value_json).collect();
            ("kvlistValue", Value::Object(Map::from_iter([("values".to_string(), Value::Array(values))])))
        }
        // Profiles-only string-table reference: never stored, so never read back.
        Some(Any::StringValueStrindex(i)) => ("stringValueStrindex", Value::from(*i)),
    };
    out.insert(name.into(), json);
    Value::Object(out)
}

/// proto3 JSON for a double: a number, or `"NaN"` / `"Infinity"` / `"-Infinity"`.
fn double_json(d: f64) -> Value {
    match serde_json::Number::from_f64(d) {
        Some(n) => Value::Number(n),
        None if d.is_nan() => Value::String("NaN".into()),
        None if d > 0.0 => Value::String("Infinity".into()),
        None => Value::String("-Infinity".into()),
    }
}

fn non_empty_str(out: &mut Map<String, Value>, key: &str, value: &str) {
    if !value.is_empty() {
        out.insert(key.into(), Value::String(value.to_string()));
    }
}

fn non_zero<N: Into<Value> + Default + PartialEq>(out: &mut Map<String, Value>, key: &str, value: N) {
    if value != N::default() {
        out.insert(key.into(), value.into());
    }
}
