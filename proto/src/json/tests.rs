use super::*;
use crate::common::any_value::Value as V;
use crate::ExportTracePartialSuccess;
use serde_json::json;

const TRACE_HEX: &str = "5b8efff798038103d269b633813fc60c";
const SPAN_HEX: &str = "eee19b7ec3c1b174";

fn trace_bytes() -> Vec<u8> {
    hex::decode(TRACE_HEX).unwrap()
}

fn span_bytes() -> Vec<u8> {
    hex::decode(SPAN_HEX).unwrap()
}

fn one_span(span: serde_json::Value) -> Vec<u8> {
    json!({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}).to_string().into_bytes()
}

fn decode_one(span: serde_json::Value) -> crate::trace::Span {
    let req = decode_trace_request(&one_span(span)).unwrap();
    req.resource_spans[0].scope_spans[0].spans[0].clone()
}

#[test]
fn upstream_serde_alone_refuses_base64_ids_and_enum_names() {
    // Why this module normalizes first: the derive of opentelemetry-proto reads hex only.
    let b64 = json!({"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": "W47/95gDgQPSabYzgT/GDA==", "spanId": "7uGbfsPBsXQ="}]}]}]});
    assert!(serde_json::from_value::<ExportTraceServiceRequest>(b64).is_err());
    let named = json!({"resourceSpans": [{"scopeSpans": [{"spans": [{"kind": "SPAN_KIND_SERVER"}]}]}]});
    assert!(serde_json::from_value::<ExportTraceServiceRequest>(named).is_err());
}

#[test]
fn hex_ids_int64_strings_and_integer_enums() {
    let span = decode_one(json!({
        "traceId": TRACE_HEX.to_uppercase(), "spanId": SPAN_HEX, "parentSpanId": "",
        "name": "GET /", "kind": 2,
        "startTimeUnixNano": "1700000000000000001", "endTimeUnixNano": 1700000000000000999u64,
        "status": {"code": 2, "message": "boom"},
        "attributes": [
            {"key": "i", "value": {"intValue": "-42"}},
            {"key": "j", "value": {"intValue": 7}},
            {"key": "d", "value": {"doubleValue": 0.5}},
            {"key": "b", "value": {"boolValue": true}},
            {"key": "y", "value": {"bytesValue": "AQID"}},
            {"key": "a", "value": {"arrayValue": {"values": [{"stringValue": "x"}, {"intValue": "1"}]}}},
            {"key": "k", "value": {"kvlistValue": {"values": [{"key": "n", "value": {"boolValue": false}}]}}},
            {"key": "e", "value": {}}
        ]
    }));
    assert_eq!(span.trace_id, trace_bytes());
    assert_eq!(span.span_id, span_bytes());
    assert!(span.parent_span_id.is_empty());
    assert_eq!(span.kind, 2);
    assert_eq!(span.start_time_unix_nano, 1_700_000_000_000_000_001);
    assert_eq!(span.end_time_unix_nano, 1_700_000_000_000_000_999);
    assert_eq!(span.status.as_ref().unwrap().code, 2);
    let values: Vec<_> = span.attributes.iter().map(|kv| kv.value.as_ref().and_then(|v| v.value.clone())).collect();
    assert_eq!(values[0], Some(V::IntValue(-42)));
    assert_eq!(values[1], Some(V::IntValue(7)));
    assert_eq!(values[2], Some(V::DoubleValue(0.5)));
    assert_eq!(values[3], Some(V::BoolValue(true)));
    assert_eq!(values[4], Some(V::BytesValue(vec![1, 2, 3])));
    assert!(matches!(&values[5], Some(V::ArrayValue(a)) if a.values.len() == 2));
    assert!(matches!(&values[6], Some(V::KvlistValue(k)) if k.values[0].key == "n"));
    assert_eq!(values[7], None);
}

#[test]
fn base64_ids_are_accepted() {
    let span = decode_one(json!({
        "traceId": "W47/95gDgQPSabYzgT/GDA==", "spanId": "7uGbfsPBsXQ=", "parentSpanId": "7uGbfsPBsXQ",
        "links": [{"traceId": "W47_95gDgQPSabYzgT_GDA", "spanId": SPAN_HEX}]
    }));
    assert_eq!(span.trace_id, trace_bytes());
    assert_eq!(span.span_id, span_bytes());
    assert_eq!(span.parent_span_id, span_bytes());
    assert_eq!(span.links[0].trace_id, trace_bytes());
    assert_eq!(span.links[0].span_id, span_bytes());
}

#[test]
fn bad_ids_do_not_fail_the_request_but_have_a_wrong_length() {
    let span = decode_one(json!({"traceId": "abcd", "spanId": "not an id!", "parentSpanId": 12}));
    assert_eq!(span.trace_id, vec![0xab, 0xcd]);
    assert_eq!(span.span_id, vec![0]);
    assert_eq!(span.parent_span_id, vec![0]);
}

#[test]
fn enum_names_nulls_string_u32s_and_unknown_fields() {
    let span = decode_one(json!({
        "kind": "SPAN_KIND_CLIENT", "status": {"code": "STATUS_CODE_ERROR"}, "flags": "257",
        "droppedAttributesCount": "3", "events": null, "futureField": {"x": [1, 2]},
        "attributes": [{"value": {"doubleValue": "2.5", "unknownValue": 1}}, {"key": "arr", "value": {"arrayValue": {}}}]
    }));
    assert_eq!(span.kind, 3);
    assert_eq!(span.status.unwrap().code, 2);
    assert_eq!(span.flags, 257);
    assert_eq!(span.dropped_attributes_count, 3);
    assert!(span.events.is_empty());
    assert_eq!(span.attributes[0].key, "");
    assert_eq!(span.attributes[0].value.as_ref().unwrap().value, Some(V::DoubleValue(2.5)));
    assert!(matches!(&span.attributes[1].value.as_ref().unwrap().value, Some(V::ArrayValue(a)) if a.values.is_empty()));
}

#[test]
fn resource_scope_and_schema_urls() {
    let body = json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "cart"}}], "droppedAttributesCount": 1},
        "schemaUrl": "https://opentelemetry.io/schemas/1.21.0",
        "scopeSpans": [{"scope": {"name": "lib", "version": "1.0"}, "schemaUrl": "s", "spans": []}]
    }]});
    let req = decode_trace_request(body.to_string().as_bytes()).unwrap();
    let rs = &req.resource_spans[0];
    assert_eq!(rs.resource.as_ref().unwrap().dropped_attributes_count, 1);
    assert_eq!(rs.schema_url, "https://opentelemetry.io/schemas/1.21.0");
    assert_eq!(rs.scope_spans[0].scope.as_ref().unwrap().version, "1.0");
}

#[test]
fn empty_object_is_an_empty_request() {
    assert!(decode_trace_request(b"{}").unwrap().resource_spans.is_empty());
}

#[test]
fn undecodable_bodies_are_errors() {
    assert!(decode_trace_request(b"{\"resourceSpans\": [").is_err());
    assert!(decode_trace_request(b"[]").is_err());
    assert!(decode_trace_request(b"{\"resourceSpans\": 5}").is_err());
    // invalid UTF-8 inside a string
    assert!(decode_trace_request(b"{\"resourceSpans\": [{\"schemaUrl\": \"\xff\xfe\"}]}").is_err());
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let mut value = String::from("{\"stringValue\":\"leaf\"}");
    for _ in 0..10_000 {
        value = format!("{{\"arrayValue\":{{\"values\":[{value}]}}}}");
    }
    let body = format!(
        "{{\"resourceSpans\":[{{\"scopeSpans\":[{{\"spans\":[{{\"attributes\":[{{\"key\":\"deep\",\"value\":{value}}}]}}]}}]}}]}}"
    );
    let err = decode_trace_request(body.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("recursion limit"), "{err}");
}

#[test]
fn response_encoding() {
    assert_eq!(encode_trace_response(&ExportTraceServiceResponse { partial_success: None }), b"{}");
    let partial = ExportTraceServiceResponse {
        partial_success: Some(ExportTracePartialSuccess { rejected_spans: 3, error_message: "bad ids".into() }),
    };
    let json: serde_json::Value = serde_json::from_slice(&encode_trace_response(&partial)).unwrap();
    assert_eq!(json, json!({"partialSuccess": {"rejectedSpans": "3", "errorMessage": "bad ids"}}));
}
