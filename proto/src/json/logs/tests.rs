use super::*;
use crate::common::any_value::Value as V;
use crate::ExportLogsPartialSuccess;
use serde_json::json;

const TRACE_HEX: &str = "5b8efff798038103d269b633813fc60c";
const SPAN_HEX: &str = "eee19b7ec3c1b174";

fn decode_one(record: serde_json::Value) -> crate::logs::LogRecord {
    let body = json!({"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "payment"}}]},
        "scopeLogs": [{"scope": {"name": "app"}, "logRecords": [record]}]}]});
    let req = decode_logs_request(body.to_string().as_bytes()).unwrap();
    req.resource_logs[0].scope_logs[0].log_records[0].clone()
}

#[test]
fn severity_names_int64_strings_and_hex_ids() {
    let record = decode_one(json!({
        "timeUnixNano": "1700000000000000001", "observedTimeUnixNano": 1700000000000000002u64,
        "severityNumber": "SEVERITY_NUMBER_ERROR", "severityText": "ERROR",
        "traceId": TRACE_HEX, "spanId": SPAN_HEX, "flags": "1", "eventName": "payment.failed",
        "body": {"stringValue": "card_expired"},
        "attributes": [{"key": "order_id", "value": {"intValue": "42"}}],
        "unknownField": {"ignored": true}
    }));
    assert_eq!(record.time_unix_nano, 1_700_000_000_000_000_001);
    assert_eq!(record.observed_time_unix_nano, 1_700_000_000_000_000_002);
    assert_eq!(record.severity_number, 17);
    assert_eq!(record.trace_id, hex::decode(TRACE_HEX).unwrap());
    assert_eq!(record.span_id, hex::decode(SPAN_HEX).unwrap());
    assert_eq!(record.flags, 1);
    assert_eq!(record.event_name, "payment.failed");
    assert_eq!(record.body.unwrap().value, Some(V::StringValue("card_expired".into())));
}

#[test]
fn base64_ids_numeric_severity_and_absent_trace_context() {
    let record =
        decode_one(json!({"traceId": "W47/95gDgQPSabYzgT/GDA==", "spanId": "7uGbfsPBsXQ=", "severityNumber": 9}));
    assert_eq!(record.trace_id, hex::decode(TRACE_HEX).unwrap());
    assert_eq!(record.span_id, hex::decode(SPAN_HEX).unwrap());
    assert_eq!(record.severity_number, 9);
    let record = decode_one(json!({"traceId": "", "spanId": "", "body": null}));
    assert!(record.trace_id.is_empty() && record.span_id.is_empty() && record.body.is_none());
    let bad = decode_one(json!({"traceId": "not an id"}));
    assert_eq!(bad.trace_id, vec![0], "an unreadable id becomes a wrong-length id, rejected per record");
}

#[test]
fn bodies_of_every_any_value_type() {
    let bodies = [
        json!({"stringValue": "s"}),
        json!({"intValue": "-7"}),
        json!({"doubleValue": "0.5"}),
        json!({"boolValue": true}),
        json!({"bytesValue": "AQID"}),
        json!({"arrayValue": {"values": [{"stringValue": "x"}]}}),
        json!({"kvlistValue": {"values": [{"key": "k", "value": {"kvlistValue": {}}}]}}),
    ];
    let decoded: Vec<_> = bodies.iter().map(|b| decode_one(json!({"body": b})).body.unwrap().value.unwrap()).collect();
    assert_eq!(decoded[0], V::StringValue("s".into()));
    assert_eq!(decoded[1], V::IntValue(-7));
    assert_eq!(decoded[2], V::DoubleValue(0.5));
    assert_eq!(decoded[3], V::BoolValue(true));
    assert_eq!(decoded[4], V::BytesValue(vec![1, 2, 3]));
    assert!(matches!(&decoded[5], V::ArrayValue(a) if a.values.len() == 1));
    let V::KvlistValue(kv) = &decoded[6] else { panic!("kvlist") };
    assert_eq!(kv.values[0].key, "k");
}

#[test]
fn non_objects_and_garbage_are_errors() {
    assert!(decode_logs_request(b"[1]").is_err());
    assert!(decode_logs_request(b"{").is_err());
    assert!(decode_logs_request(&[0xff, 0xfe]).is_err());
    assert!(decode_logs_request(b"{}").unwrap().resource_logs.is_empty());
}

#[test]
fn response_json_shape() {
    assert_eq!(encode_logs_response(&ExportLogsServiceResponse::default()), b"{}");
    let partial = ExportLogsServiceResponse {
        partial_success: Some(ExportLogsPartialSuccess { rejected_log_records: 2, error_message: "bad".into() }),
    };
    assert_eq!(
        String::from_utf8(encode_logs_response(&partial)).unwrap(),
        r#"{"partialSuccess":{"rejectedLogRecords":"2","errorMessage":"bad"}}"#
    );
}
