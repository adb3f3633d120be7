use std::io::Write as _;
use std::time::{Duration, Instant};

use osprey_proto::trace::Span;
use osprey_proto::{ExportTraceServiceResponse, RpcStatus};
use osprey_storage::attributes::AttrValue;
use prost::encoding::{encode_key, encode_varint, WireType};
use serde_json::json;

use super::*;
use crate::fixtures::*;
use crate::sink::Failure;
use crate::CollectorConfig;

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

async fn post(servers: &Servers, content_type: &str, encoding: Option<&str>, body: Vec<u8>) -> reqwest::Response {
    let mut request = reqwest::Client::new().post(servers.http_url("/v1/traces")).header("content-type", content_type);
    if let Some(encoding) = encoding {
        request = request.header("content-encoding", encoding);
    }
    request.body(body).send().await.unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

async fn rpc_status(response: reqwest::Response) -> RpcStatus {
    assert_eq!(response.headers()["content-type"], PROTOBUF);
    RpcStatus::decode(response.bytes().await.unwrap()).unwrap()
}

async fn json_body(response: reqwest::Response) -> serde_json::Value {
    assert_eq!(response.headers()["content-type"], JSON);
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

async fn still_serving(servers: &Servers) {
    let before = servers.sink.rows();
    let response = post(servers, PROTOBUF, None, rich_request().encode_to_vec()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(servers.sink.rows(), before + 2);
}

fn json_span(trace_id: &str, span_id: &str) -> serde_json::Value {
    json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "cart"}}]},
        "scopeSpans": [{"scope": {"name": "lib"}, "spans": [{
            "traceId": trace_id, "spanId": span_id, "name": "GET /cart", "kind": 2,
            "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000000001000",
            "status": {"code": 1},
            "attributes": [
                {"key": "n", "value": {"intValue": "9007199254740993"}},
                {"key": "list", "value": {"arrayValue": {"values": [{"boolValue": true}, {"doubleValue": 1.5}]}}},
                {"key": "map", "value": {"kvlistValue": {"values": [{"key": "b", "value": {"bytesValue": "AAH/"}}]}}}
            ],
            "events": [{"timeUnixNano": "1700000000000000500", "name": "retry"}],
            "links": [{"traceId": trace_id, "spanId": span_id}]
        }]}]
    }]})
}

#[tokio::test]
async fn protobuf_plain_gzip_and_zstd() {
    let servers = Servers::start(CollectorConfig::default()).await;
    let body = rich_request().encode_to_vec();
    for (encoding, bytes) in
        [(None, body.clone()), (Some("gzip"), gzip(&body)), (Some("zstd"), zstd::encode_all(&body[..], 3).unwrap())]
    {
        let response = post(&servers, PROTOBUF, encoding, bytes).await;
        assert_eq!(response.status(), 200, "{encoding:?}");
        assert_eq!(response.headers()["content-type"], PROTOBUF);
        let decoded = ExportTraceServiceResponse::decode(response.bytes().await.unwrap()).unwrap();
        assert_eq!(decoded.partial_success, None);
    }
    assert_eq!(servers.sink.rows(), 6);
    assert_eq!(servers.metric("received", &[("signal", "traces"), ("transport", "http")]), 6);
    assert_eq!(servers.metric("accepted", &[("signal", "traces")]), 6);
}

#[tokio::test]
async fn json_with_hex_ids_and_int64_strings() {
    let servers = Servers::start(CollectorConfig::default()).await;
    let body = json_span(&TRACE_HEX.to_uppercase(), SPAN_HEX).to_string().into_bytes();
    let response = post(&servers, "application/json; charset=utf-8", None, body).await;
    assert_eq!(response.status(), 200);
    assert_eq!(json_body(response).await, json!({}));
    let batch = &servers.sink.batches()[0];
    assert_eq!(strings(batch, "trace_id")[0].as_deref(), Some(TRACE_HEX));
    assert_eq!(strings(batch, "span_id")[0].as_deref(), Some(SPAN_HEX));
    assert_eq!(strings(batch, "service_name")[0].as_deref(), Some("cart"));
    assert_eq!(strings(batch, "status_code")[0].as_deref(), Some("ok"));
    let got = attrs(batch, "attributes", "attribute_types", 0);
    assert_eq!(got[0].1, AttrValue::Int(9_007_199_254_740_993));
    assert_eq!(got[1].1, AttrValue::Array(vec![AttrValue::Bool(true), AttrValue::Double(1.5)]));
    assert_eq!(got[2].1, AttrValue::KvList(vec![("b".into(), AttrValue::Bytes(vec![0, 1, 255]))]));
    let start = batch.column_by_name("start_time").unwrap();
    let start = start.as_any().downcast_ref::<arrow::array::TimestampNanosecondArray>().unwrap();
    assert_eq!(start.value(0), 1_700_000_000_000_000_000);
}

#[tokio::test]
async fn json_with_base64_ids_gzip_and_zstd() {
    let servers = Servers::start(CollectorConfig::default()).await;
    let body = json_span("W47/95gDgQPSabYzgT/GDA==", "7uGbfsPBsXQ=").to_string().into_bytes();
    for (encoding, bytes) in [(Some("gzip"), gzip(&body)), (Some("zstd"), zstd::encode_all(&body[..], 3).unwrap())] {
        let response = post(&servers, JSON, encoding, bytes).await;
        assert_eq!(response.status(), 200, "{encoding:?}");
    }
    for batch in servers.sink.batches() {
        assert_eq!(strings(&batch, "trace_id")[0].as_deref(), Some(TRACE_HEX));
        assert_eq!(strings(&batch, "span_id")[0].as_deref(), Some(SPAN_HEX));
    }
    assert_eq!(servers.sink.rows(), 2);
}

#[tokio::test]
async fn wrong_length_ids_are_a_partial_success() {
    let servers = Servers::start(CollectorConfig::default()).await;
    let mut body = json_span(TRACE_HEX, SPAN_HEX);
    let spans = body["resourceSpans"][0]["scopeSpans"][0]["spans"].as_array_mut().unwrap();
    let mut bad = spans[0].clone();
    bad["traceId"] = json!("abcd");
    spans.push(bad);
    let response = post(&servers, JSON, None, body.to_string().into_bytes()).await;
    assert_eq!(response.status(), 200);
    let json = json_body(response).await;
    assert_eq!(json["partialSuccess"]["rejectedSpans"], "1");
    assert!(json["partialSuccess"]["errorMessage"].as_str().unwrap().contains("trace_id must be 16 bytes"));
    assert_eq!(servers.sink.rows(), 1);
    // protobuf too
    let request = request_of(vec![Span { trace_id: vec![1; 15], ..span(1) }, span(2)]);
    let response = post(&servers, PROTOBUF, None, request.encode_to_vec()).await;
    let decoded = ExportTraceServiceResponse::decode(response.bytes().await.unwrap()).unwrap();
    assert_eq!(decoded.partial_success.unwrap().rejected_spans, 1);
}

#[tokio::test]
async fn empty_requests_succeed_without_partial_success() {
    let servers = Servers::start(CollectorConfig::default()).await;
    let response = post(&servers, PROTOBUF, None, Vec::new()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(ExportTraceServiceResponse::decode(response.bytes().await.unwrap()).unwrap().partial_success, None);
    let response = post(&servers, JSON, None, b"{}".to_vec()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(json_body(response).await, json!({}));
    assert_eq!(servers.sink.rows(), 0);
}

#[tokio::test]
async fn undecodable_bodies_are_400_with_a_status_in_the_request_encoding() {
    let servers = Servers::start(CollectorConfig::default()).await;
    let response = post(&servers, PROTOBUF, None, vec![0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2]).await;
    assert_eq!(response.status(), 400);
    assert!(rpc_status(response).await.message.contains("protobuf"));
    let mut truncated = rich_request().encode_to_vec();
    truncated.truncate(truncated.len() - 7);
    assert_eq!(post(&servers, PROTOBUF, None, truncated).await.status(), 400);
    // invalid UTF-8 in ResourceSpans.schema_url
    let response = post(&servers, PROTOBUF, None, vec![0x0a, 0x04, 0x1a, 0x02, 0xff, 0xfe]).await;
    assert_eq!(response.status(), 400);
    let response = post(&servers, JSON, None, b"{\"resourceSpans\": [".to_vec()).await;
    assert_eq!(response.status(), 400);
    assert_eq!(json_body(response).await["code"], 3);
    let response = post(&servers, JSON, None, b"{\"resourceSpans\":[{\"schemaUrl\":\"\xff\"}]}".to_vec()).await;
    assert_eq!(response.status(), 400);
    let response = post(&servers, PROTOBUF, Some("gzip"), b"not gzip at all".to_vec()).await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        servers.metric("requests", &[("signal", "traces"), ("transport", "http"), ("outcome", "undecodable")]),
        6
    );
    still_serving(&servers).await;
}

/// Bytes of a request whose one span has an attribute nested `depth` arrays deep, built
/// without recursion (prost's encoder would recurse as deep).
fn nested_protobuf(depth: usize) -> Vec<u8> {
    fn wrap(tag: u32, inner: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(inner.len() + 8);
        encode_key(tag, WireType::LengthDelimited, &mut out);
        encode_varint(inner.len() as u64, &mut out);
        out.extend_from_slice(inner);
        out
    }
    let mut value = wrap(1, b"leaf"); // AnyValue.string_value
    for _ in 1..depth {
        value = wrap(5, &wrap(1, &value)); // AnyValue.array_value { values: [value] }
    }
    let mut key_value = wrap(1, b"deep");
    key_value.extend(wrap(2, &value));
    let mut span_bytes = span(1).encode_to_vec();
    span_bytes.extend(wrap(9, &key_value));
    let scope_spans = wrap(2, &span_bytes);
    let resource_spans = wrap(2, &scope_spans);
    wrap(1, &resource_spans)
}

#[tokio::test]
async fn deep_nesting_is_refused_or_cut() {
    let servers = Servers::start(CollectorConfig::default()).await;
    let response = post(&servers, PROTOBUF, None, nested_protobuf(10_000)).await;
    assert_eq!(response.status(), 400);
    assert!(rpc_status(response).await.message.contains("recursion limit"));
    let mut value = String::from("{\"stringValue\":\"leaf\"}");
    for _ in 0..10_000 {
        value = format!("{{\"arrayValue\":{{\"values\":[{value}]}}}}");
    }
    let body = json_span(TRACE_HEX, SPAN_HEX).to_string();
    let text =
        body.replacen("\"attributes\":[", &format!("\"attributes\":[{{\"key\":\"deep\",\"value\":{value}}},"), 1);
    assert!(text.len() > 200_000);
    let response = post(&servers, JSON, None, text.into_bytes()).await;
    assert_eq!(response.status(), 400);
    assert!(json_body(response).await["message"].as_str().unwrap().contains("recursion limit"));

    // prost allows 100 nested messages; a nested array value costs two (AnyValue, ArrayValue),
    // the envelope five, so 48 levels is the deepest a protobuf request can carry.
    let response = post(&servers, PROTOBUF, None, nested_protobuf(49)).await;
    assert_eq!(response.status(), 400);
    let response = post(&servers, PROTOBUF, None, nested_protobuf(48)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(servers.metric("limited", &[("signal", "traces"), ("limit", "value_depth")]), 1);
    let batch = &servers.sink.batches()[0];
    let mut value = attrs(batch, "attributes", "attribute_types", 0).remove(0).1;
    let mut depth = 1;
    while let AttrValue::Array(mut items) = value {
        value = items.remove(0);
        depth += 1;
    }
    assert_eq!((depth, value), (32, AttrValue::Empty));
}

#[tokio::test]
async fn hundred_thousand_attributes_are_cut_and_counted() {
    let servers = Servers::start(CollectorConfig::default()).await;
    let attributes = (0..100_000).map(|i| kv(&format!("k{i}"), osprey_proto::common::any_value::Value::IntValue(i)));
    let request = request_of(vec![Span { attributes: attributes.collect(), ..span(1) }]);
    let response = post(&servers, PROTOBUF, Some("gzip"), gzip(&request.encode_to_vec())).await;
    assert_eq!(response.status(), 200);
    let batch = &servers.sink.batches()[0];
    assert_eq!(attrs(batch, "attributes", "attribute_types", 0).len(), 512);
    assert_eq!(u32s(batch, "dropped_attributes_count")[0], 100_000 - 512);
    assert_eq!(servers.metric("limited", &[("signal", "traces"), ("limit", "attributes_per_item")]), 99_488);
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::test]
async fn oversize_bodies_and_bombs_are_413() {
    let config = CollectorConfig { max_request_bytes: 8 << 20, ..Default::default() };
    let servers = Servers::start(config).await;
    let response = post(&servers, PROTOBUF, None, vec![0; (8 << 20) + 1]).await;
    assert_eq!(response.status(), 413);
    assert!(rpc_status(response).await.message.contains("exceeds the limit"));

    // 1 GiB of zeros: 1024 gzip members of 1 MiB each (and 1024 zstd frames)
    let member = gzip(&vec![0u8; 1 << 20]);
    let gzip_bomb: Vec<u8> = member.iter().copied().cycle().take(member.len() * 1024).collect();
    let frame = zstd::encode_all(&vec![0u8; 1 << 20][..], 3).unwrap();
    let zstd_bomb: Vec<u8> = frame.iter().copied().cycle().take(frame.len() * 1024).collect();
    let rss_before = peak_rss_kib();
    for (encoding, bomb) in [("gzip", gzip_bomb), ("zstd", zstd_bomb)] {
        let started = Instant::now();
        let response = post(&servers, PROTOBUF, Some(encoding), bomb).await;
        assert_eq!(response.status(), 413, "{encoding}");
        assert!(started.elapsed() < Duration::from_secs(20), "{encoding}: {:?}", started.elapsed());
    }
    if let (Some(before), Some(after)) = (rss_before, peak_rss_kib()) {
        assert!(after - before < 512 * 1024, "peak RSS grew by {} KiB", after - before);
    }
    assert_eq!(servers.metric("requests", &[("signal", "traces"), ("transport", "http"), ("outcome", "too_large")]), 3);
    assert_eq!(servers.sink.admitted(), 0, "permits released");
    still_serving(&servers).await;
}

#[tokio::test]
async fn unsupported_media_types_and_encodings_are_415() {
    let servers = Servers::start(CollectorConfig::default()).await;
    let body = rich_request().encode_to_vec();
    assert_eq!(post(&servers, "text/plain", None, body.clone()).await.status(), 415);
    let response = reqwest::Client::new().post(servers.http_url("/v1/traces")).body(body.clone()).send().await.unwrap();
    assert_eq!(response.status(), 415);
    assert_eq!(post(&servers, PROTOBUF, Some("br"), body).await.status(), 415);
    still_serving(&servers).await;
}

#[tokio::test]
async fn overload_is_429_or_503_with_retry_after() {
    let config = CollectorConfig { retry_after_secs: 4, ..Default::default() };
    let servers = Servers::start(config).await;
    let body = rich_request().encode_to_vec();
    for (failure, status) in [(Failure::MemoryBudget, 429), (Failure::DiskFull, 503), (Failure::ShuttingDown, 503)] {
        servers.sink.fail_with(Some(failure));
        let response = post(&servers, PROTOBUF, None, body.clone()).await;
        assert_eq!(response.status(), status, "{failure:?}");
        assert_eq!(response.headers()["retry-after"], "4");
        assert_eq!(rpc_status(response).await.code, tonic::Code::Unavailable as i32);
    }
    servers.sink.fail_with(None);
    assert_eq!(servers.sink.rows(), 0);
    still_serving(&servers).await;
}

#[tokio::test]
async fn failed_append_is_500_and_counted() {
    let servers = Servers::start(CollectorConfig::default()).await;
    servers.sink.fail_with(Some(Failure::AppendIo));
    let response = post(&servers, JSON, None, json_span(TRACE_HEX, SPAN_HEX).to_string().into_bytes()).await;
    assert_eq!(response.status(), 500);
    assert_eq!(servers.sink.rows(), 0);
    assert_eq!(servers.metric("rejected", &[("signal", "traces"), ("reason", "internal")]), 1);
}

#[tokio::test]
async fn received_equals_accepted_plus_rejected() {
    let mut config = CollectorConfig::default();
    config.limits.max_spans_per_trace = 2;
    let servers = Servers::start(config).await;
    let request = request_of(vec![span(1), Span { span_id: vec![], ..span(2) }, span(3), span(4)]);
    let response = post(&servers, PROTOBUF, None, request.encode_to_vec()).await;
    let partial = ExportTraceServiceResponse::decode(response.bytes().await.unwrap()).unwrap().partial_success.unwrap();
    assert_eq!(partial.rejected_spans, 2);
    servers.sink.fail_with(Some(Failure::AppendIo));
    post(&servers, PROTOBUF, None, request_of(vec![span(9)]).encode_to_vec()).await;
    let received = servers.metric("received", &[("signal", "traces"), ("transport", "http")]);
    let accepted = servers.metric("accepted", &[("signal", "traces")]);
    let rejected: u64 = ["invalid", "limit", "overload", "internal"]
        .iter()
        .map(|reason| servers.metric("rejected", &[("signal", "traces"), ("reason", reason)]))
        .sum();
    assert_eq!((received, accepted, rejected), (5, 2, 3));
}
