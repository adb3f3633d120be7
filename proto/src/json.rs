//! OTLP/JSON for traces and logs (the logs walk is in [`logs`]).
//!
//! ## Decoding: normalize, then deserialize
//! `opentelemetry-proto`'s serde support (feature `with-serde`) was written for its own
//! exporter. Tested against the receiver rules in `shared/api.md` it handles hex ids,
//! 64-bit ints as strings or numbers, integer enums and unknown fields, but it rejects
//! base64 ids, enum names (`"SPAN_KIND_SERVER"`), `null` for a field, 32-bit ints as strings,
//! unpadded or URL-safe base64 in `bytesValue`, a `KeyValue` without `key` and an
//! `arrayValue`/`kvlistValue` without `values`. So decoding is two steps:
//!
//! 1. parse into a `serde_json::Value` (serde_json's recursion limit of 128 bounds nesting,
//!    so a value nested 10,000 deep is an error, not a stack overflow), then walk it along
//!    the OTLP message shapes and rewrite what the derive would refuse: ids to lowercase hex
//!    (see below), enum names to numbers, numeric strings of 32-bit fields to numbers,
//!    `bytesValue` to padded standard base64, `null` fields removed, missing `key`/`values`
//!    filled with their proto3 defaults;
//! 2. deserialize the normalized tree with the derive.
//!
//! The tree costs about two to three times the body in memory while decoding; the collector
//! reserves that from the memory budget before it decodes.
//!
//! ## Ids
//! `traceId` (16 bytes), `spanId` and `parentSpanId` (8 bytes) of spans and links are read as
//! hex when the string is valid hex of the expected length, else as base64 (standard or
//! URL-safe, padded or not) when it decodes to the expected length, else as hex of whatever
//! even length it has. A string that is none of these (or a non-string) becomes the single
//! byte `0x00`: an id of the wrong length, which the collector's per-span validation rejects
//! without failing the rest of the request.
//!
//! Not supported: `"NaN"`/`"Infinity"` strings in `doubleValue` (the request is refused as
//! undecodable).

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::{ExportTraceServiceRequest, ExportTraceServiceResponse};

pub mod metrics;

pub use metrics::{decode_metrics_request, encode_metrics_response};
mod logs;

pub use logs::{decode_logs_request, encode_logs_response};

/// Why an OTLP/JSON body could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("invalid OTLP/JSON: {0}")]
pub struct JsonError(#[from] serde_json::Error);

/// Length in bytes of a trace id.
pub const TRACE_ID_LEN: usize = 16;
/// Length in bytes of a span id.
pub const SPAN_ID_LEN: usize = 8;

/// Decodes an OTLP/JSON `ExportTraceServiceRequest` (see the module docs for the rules).
pub fn decode_trace_request(body: &[u8]) -> Result<ExportTraceServiceRequest, JsonError> {
    let mut value: Value = serde_json::from_slice(body)?;
    if !value.is_object() {
        return Err(JsonError(serde::de::Error::custom("the request must be a JSON object")));
    }
    normalize_request(&mut value);
    Ok(serde_json::from_value(value)?)
}

/// Encodes an `ExportTraceServiceResponse` as OTLP/JSON: `{}` for full success, else
/// `{"partialSuccess":{"rejectedSpans":"<int64 as string>","errorMessage":"..."}}`.
pub fn encode_trace_response(response: &ExportTraceServiceResponse) -> Vec<u8> {
    let mut out = Map::new();
    if let Some(partial) = &response.partial_success {
        let mut p = Map::new();
        p.insert("rejectedSpans".into(), Value::String(partial.rejected_spans.to_string()));
        p.insert("errorMessage".into(), Value::String(partial.error_message.clone()));
        out.insert("partialSuccess".into(), Value::Object(p));
    }
    Value::Object(out).to_string().into_bytes()
}

fn normalize_request(value: &mut Value) {
    if let Some(obj) = message(value) {
        each(obj, "resourceSpans", normalize_resource_spans);
    }
}

fn normalize_resource_spans(value: &mut Value) {
    let Some(obj) = message(value) else { return };
    if let Some(resource) = obj.get_mut("resource").and_then(message) {
        normalize_attributes_holder(resource);
    }
    each(obj, "scopeSpans", |scope_spans| {
        let Some(obj) = message(scope_spans) else { return };
        if let Some(scope) = obj.get_mut("scope").and_then(message) {
            normalize_attributes_holder(scope);
        }
        each(obj, "spans", normalize_span);
    });
}

fn normalize_span(value: &mut Value) {
    let Some(span) = message(value) else { return };
    id(span, "traceId", TRACE_ID_LEN);
    id(span, "spanId", SPAN_ID_LEN);
    id(span, "parentSpanId", SPAN_ID_LEN);
    enum_field(span, "kind", span_kind_number);
    u32_fields(span, &["flags", "droppedEventsCount", "droppedLinksCount"]);
    normalize_attributes_holder(span);
    each(span, "events", |event| {
        if let Some(event) = message(event) {
            normalize_attributes_holder(event);
        }
    });
    each(span, "links", |link| {
        if let Some(link) = message(link) {
            id(link, "traceId", TRACE_ID_LEN);
            id(link, "spanId", SPAN_ID_LEN);
            u32_fields(link, &["flags"]);
            normalize_attributes_holder(link);
        }
    });
    if let Some(status) = span.get_mut("status").and_then(message) {
        enum_field(status, "code", status_code_number);
    }
}

/// A message with `attributes` and `droppedAttributesCount`.
fn normalize_attributes_holder(obj: &mut Map<String, Value>) {
    u32_fields(obj, &["droppedAttributesCount"]);
    each(obj, "attributes", normalize_key_value);
}

fn normalize_key_value(value: &mut Value) {
    let Some(kv) = message(value) else { return };
    kv.entry("key").or_insert_with(|| Value::String(String::new()));
    if let Some(any) = kv.get_mut("value") {
        normalize_any_value(any);
    }
}

fn normalize_any_value(value: &mut Value) {
    let Some(any) = message(value) else { return };
    if let Some(array) = any.get_mut("arrayValue").and_then(message) {
        array.entry("values").or_insert_with(|| Value::Array(Vec::new()));
        each(array, "values", normalize_any_value);
    }
    if let Some(kvlist) = any.get_mut("kvlistValue").and_then(message) {
        kvlist.entry("values").or_insert_with(|| Value::Array(Vec::new()));
        each(kvlist, "values", normalize_key_value);
    }
    if let Some(Value::String(b64)) = any.get_mut("bytesValue") {
        if let Some(bytes) = decode_base64(b64) {
            *b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
        }
    }
    if let Some(Value::String(text)) = any.get("doubleValue") {
        if let Some(number) = text.trim().parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
            any.insert("doubleValue".into(), Value::Number(number));
        }
    }
}

/// The object of a message, with its `null` fields removed (proto3 JSON: null is the default).
fn message(value: &mut Value) -> Option<&mut Map<String, Value>> {
    let obj = value.as_object_mut()?;
    obj.retain(|_, v| !v.is_null());
    Some(obj)
}

/// Applies `f` to every element of the repeated field `key`.
fn each(obj: &mut Map<String, Value>, key: &str, mut f: impl FnMut(&mut Value)) {
    if let Some(Value::Array(items)) = obj.get_mut(key) {
        items.iter_mut().for_each(&mut f);
    }
}

fn id(obj: &mut Map<String, Value>, key: &str, len: usize) {
    let Some(value) = obj.get_mut(key) else { return };
    let bytes = match value {
        Value::String(text) => decode_id(text, len),
        _ => None,
    };
    *value = Value::String(hex::encode(bytes.unwrap_or_else(|| vec![0])));
}

/// Reads an id as hex or base64 (see the module docs). `None` when it is neither.
pub fn decode_id(text: &str, len: usize) -> Option<Vec<u8>> {
    if text.len() == len * 2 {
        if let Ok(bytes) = hex::decode(text) {
            return Some(bytes);
        }
    }
    if let Some(bytes) = decode_base64(text).filter(|b| b.len() == len) {
        return Some(bytes);
    }
    hex::decode(text).ok()
}

fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD].iter().find_map(|engine| engine.decode(text).ok())
}

fn enum_field(obj: &mut Map<String, Value>, key: &str, by_name: fn(&str) -> Option<i32>) {
    if let Some(value) = obj.get_mut(key) {
        if let Value::String(text) = value {
            if let Some(n) = by_name(text).or_else(|| text.trim().parse().ok()) {
                *value = Value::from(n);
            }
        }
    }
}

fn u32_fields(obj: &mut Map<String, Value>, keys: &[&str]) {
    for key in keys {
        if let Some(value) = obj.get_mut(*key) {
            if let Some(n) = value.as_str().and_then(|t| t.trim().parse::<u32>().ok()) {
                *value = Value::from(n);
            }
        }
    }
}

fn span_kind_number(name: &str) -> Option<i32> {
    crate::trace::span::SpanKind::from_str_name(name).map(|k| k as i32)
}

fn status_code_number(name: &str) -> Option<i32> {
    crate::trace::status::StatusCode::from_str_name(name).map(|c| c as i32)
}

#[cfg(test)]
mod tests;
