use super::*;
use crate::fixtures::{any, attrs, kv, str_kv, strings, Servers, SPAN_HEX, SPAN_ID, TRACE_HEX, TRACE_ID};
use crate::CollectorConfig;
use arrow::array::{Array, AsArray};
use arrow::datatypes::{Int32Type, TimestampNanosecondType};
use osprey_proto::common::KeyValueList;
use osprey_proto::logs::{ResourceLogs, ScopeLogs};
use osprey_proto::logs_service_client::LogsServiceClient;
use osprey_proto::resource::Resource;
use osprey_storage::attributes::{read_value, AttrValue};
use osprey_storage::logs::col;
use prost::Message as _;

const T: u64 = 1_700_000_000_000_000_000;

pub(crate) fn log(body: &str) -> OtlpLogRecord {
    OtlpLogRecord {
        time_unix_nano: T,
        observed_time_unix_nano: T + 5,
        severity_number: 17,
        severity_text: "ERROR".into(),
        body: Some(any(Value::StringValue(body.into()))),
        trace_id: TRACE_ID.to_vec(),
        span_id: SPAN_ID.to_vec(),
        attributes: vec![kv("order_id", Value::IntValue(42))],
        event_name: "payment.failed".into(),
        ..Default::default()
    }
}

pub(crate) fn request_of(logs: Vec<OtlpLogRecord>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource { attributes: vec![str_kv("service.name", "payment")], ..Default::default() }),
            scope_logs: vec![ScopeLogs { log_records: logs, ..Default::default() }],
            ..Default::default()
        }],
    }
}

fn convert_now(request: &ExportLogsServiceRequest, limits: &LimitsConfig) -> Conversion {
    convert(request, limits, 99).unwrap()
}

#[test]
fn converts_every_field() {
    let out = convert_now(&request_of(vec![log("card_expired for ORD-00010")]), &LimitsConfig::default());
    let batch = out.batch.unwrap();
    assert_eq!((out.received, out.accepted), (1, 1));
    assert_eq!(strings(&batch, col::BODY), vec![Some("card_expired for ORD-00010".into())]);
    assert_eq!(strings(&batch, col::TRACE_ID), vec![Some(TRACE_HEX.into())]);
    assert_eq!(strings(&batch, col::SPAN_ID), vec![Some(SPAN_HEX.into())]);
    assert_eq!(strings(&batch, col::SERVICE_NAME), vec![Some("payment".into())]);
    assert_eq!(strings(&batch, col::SEVERITY_TEXT), vec![Some("ERROR".into())]);
    assert_eq!(strings(&batch, col::EVENT_NAME), vec![Some("payment.failed".into())]);
    assert_eq!(batch.column_by_name(col::SEVERITY_NUMBER).unwrap().as_primitive::<Int32Type>().value(0), 17);
    let attributes = attrs(&batch, col::ATTRIBUTES, col::ATTRIBUTE_TYPES, 0);
    assert_eq!(attributes, vec![("order_id".to_string(), AttrValue::Int(42))]);
}

#[test]
fn bad_ids_are_rejected_per_record_and_zero_ids_mean_no_context() {
    let records = vec![
        OtlpLogRecord { trace_id: vec![1; 3], ..log("short trace id") },
        OtlpLogRecord { span_id: vec![1; 9], ..log("long span id") },
        OtlpLogRecord { time_unix_nano: u64::MAX, ..log("far future") },
        OtlpLogRecord { trace_id: vec![0; 16], span_id: vec![0; 8], ..log("zero ids") },
        OtlpLogRecord { trace_id: vec![], span_id: vec![], ..log("no context") },
    ];
    let out = convert_now(&request_of(records), &LimitsConfig::default());
    assert_eq!((out.received, out.accepted, out.rejected_invalid), (5, 2, 3));
    let message = out.error_message("log records");
    assert!(message.contains("log record 0") && message.contains("trace_id must be empty or 16 bytes"), "{message}");
    let batch = out.batch.unwrap();
    assert_eq!(strings(&batch, col::TRACE_ID), vec![None, None]);
}

#[test]
fn missing_times_fall_back_to_observed_then_now() {
    let records = vec![
        OtlpLogRecord { time_unix_nano: 0, ..log("observed") },
        OtlpLogRecord { time_unix_nano: 0, observed_time_unix_nano: 0, ..log("now") },
    ];
    let batch = convert_now(&request_of(records), &LimitsConfig::default()).batch.unwrap();
    let time = batch.column_by_name(col::TIME).unwrap().as_primitive::<TimestampNanosecondType>();
    assert_eq!(time.values().to_vec(), vec![(T + 5) as i64, 99]);
    let observed = batch.column_by_name(col::OBSERVED_TIME).unwrap();
    assert!(observed.is_null(1));
}

#[test]
fn huge_bodies_are_truncated_and_counted() {
    let limits = LimitsConfig { max_log_body_bytes: 10, ..Default::default() };
    let records = vec![
        log("ééééééééé"), // 18 bytes: cut at a character boundary
        OtlpLogRecord { body: Some(any(Value::BytesValue(vec![7; 20]))), ..log("") },
        log("short"),
    ];
    let out = convert_now(&request_of(records), &limits);
    assert_eq!(out.limits.truncated_log_bodies, 2);
    assert_eq!(out.accepted, 3);
    let batch = out.batch.unwrap();
    assert_eq!(strings(&batch, col::BODY)[0].as_deref(), Some("ééééé"));
    assert_eq!(strings(&batch, col::BODY)[2].as_deref(), Some("short"));
}

#[test]
fn structured_bodies_are_json_and_deep_ones_are_cut() {
    let mut deep = any(Value::StringValue("leaf".into()));
    for _ in 0..60 {
        deep = any(Value::KvlistValue(KeyValueList {
            values: vec![osprey_proto::common::KeyValue { key: "k".into(), value: Some(deep), ..Default::default() }],
        }));
    }
    let records = vec![
        OtlpLogRecord {
            body: Some(any(Value::KvlistValue(KeyValueList { values: vec![str_kv("user", "ann")] }))),
            ..log("")
        },
        OtlpLogRecord { body: Some(deep), ..log("") },
    ];
    let out = convert_now(&request_of(records), &LimitsConfig::default());
    assert!(out.limits.cut_subtrees > 0);
    let batch = out.batch.unwrap();
    assert_eq!(strings(&batch, col::BODY)[0].as_deref(), Some(r#"{"user":"ann"}"#));
    let types = strings(&batch, col::BODY_TYPE);
    let back = read_value(strings(&batch, col::BODY)[0].as_deref(), types[0].as_deref().unwrap()).unwrap();
    assert_eq!(back, AttrValue::KvList(vec![("user".into(), AttrValue::Str("ann".into()))]));
}

#[tokio::test]
async fn http_json_protobuf_and_grpc_all_store_logs() {
    let servers = Servers::start(CollectorConfig::default()).await;
    let http = reqwest::Client::new();
    let proto = http
        .post(servers.http_url("/v1/logs"))
        .header("content-type", "application/x-protobuf")
        .body(request_of(vec![log("via protobuf")]).encode_to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(proto.status(), 200);
    let json = serde_json::json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"timeUnixNano": T.to_string(), "severityNumber": "SEVERITY_NUMBER_INFO", "body": {"stringValue": "via json"}},
        {"traceId": "abc", "body": {"stringValue": "bad id"}}
    ]}]}]});
    let response = http
        .post(servers.http_url("/v1/logs"))
        .header("content-type", "application/json")
        .body(json.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["partialSuccess"]["rejectedLogRecords"], "1");
    let mut grpc = LogsServiceClient::connect(format!("http://{}", servers.grpc)).await.unwrap();
    let reply = grpc.export(request_of(vec![log("via grpc")])).await.unwrap().into_inner();
    assert!(reply.partial_success.is_none());
    let bodies: Vec<_> = servers.sink.batches().iter().flat_map(|b| strings(b, col::BODY)).flatten().collect();
    assert_eq!(bodies, vec!["via protobuf", "via json", "via grpc"]);
    // Protobuf requests go to the WAL as their bytes (the test sink checks each replays to its
    // rows); a JSON request, decoded into messages, as its batch.
    assert_eq!(servers.sink.source_frames(), 2);
    assert_eq!(servers.metric("accepted", &[("signal", "logs")]), 3);
    assert_eq!(servers.metric("rejected", &[("signal", "logs"), ("reason", "invalid")]), 1);
}

#[tokio::test]
async fn undecodable_bodies_are_400() {
    let servers = Servers::start(CollectorConfig::default()).await;
    for (content_type, body) in
        [("application/json", b"{\"resourceLogs\": 5".to_vec()), ("application/x-protobuf", vec![0xff, 0xff, 0xff])]
    {
        let response = reqwest::Client::new()
            .post(servers.http_url("/v1/logs"))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{content_type}");
    }
    assert_eq!(servers.sink.rows(), 0);
}
