use std::io::Read as _;

use arrow::array::{Array, AsArray, RecordBatch, StructArray};
use osprey_proto::common::ArrayValue;
use osprey_storage::attributes::AttrValue;
use prost::Message as _;

use super::*;
use crate::fixtures::*;

fn run(request: &ExportTraceServiceRequest, limits: &LimitsConfig) -> Conversion<TraceTally> {
    let table = TraceTable::new(limits.max_spans_per_trace, limits.max_tracked_traces);
    convert(request, limits, &table).unwrap()
}

fn list_item(batch: &RecordBatch, column: &str, row: usize) -> StructArray {
    batch.column_by_name(column).unwrap().as_list::<i32>().value(row).as_struct().clone()
}

#[test]
fn converts_every_field() {
    let conversion = run(&rich_request(), &LimitsConfig::default());
    assert_eq!((conversion.received, conversion.accepted, conversion.rejected()), (2, 2, 0));
    let batch = conversion.batch.unwrap();
    assert_eq!(batch.num_rows(), 2);
    assert_eq!(strings(&batch, "trace_id")[0].as_deref(), Some(TRACE_HEX));
    assert_eq!(strings(&batch, "span_id")[0].as_deref(), Some("eee19b7ec3c1b101"));
    assert_eq!(strings(&batch, "parent_span_id"), vec![Some("0102030405060708".into()), None]);
    assert_eq!(strings(&batch, "trace_state")[0].as_deref(), Some("vendor=x"));
    assert_eq!(u32s(&batch, "flags")[0], 0x101);
    assert_eq!(strings(&batch, "service_name")[0].as_deref(), Some("checkout"));
    assert_eq!(strings(&batch, "name")[0].as_deref(), Some("span-1"));
    assert_eq!(strings(&batch, "kind"), vec![Some("server".into()), Some("client".into())]);
    assert_eq!(strings(&batch, "status_code"), vec![Some("error".into()), Some("unset".into())]);
    assert_eq!(strings(&batch, "status_message")[0].as_deref(), Some("boom"));
    let start = batch.column_by_name("start_time").unwrap().as_primitive::<arrow::datatypes::TimestampNanosecondType>();
    assert_eq!(start.value(0), START as i64);
    let duration = batch.column_by_name("duration_ns").unwrap().as_primitive::<arrow::datatypes::Int64Type>();
    assert_eq!(duration.value(0), 1_000);
    assert_eq!(u32s(&batch, "dropped_attributes_count")[0], 2);
    assert_eq!(u32s(&batch, "dropped_events_count")[0], 3);
    assert_eq!(u32s(&batch, "dropped_links_count")[0], 4);

    let request = rich_request();
    let otlp = &request.resource_spans[0].scope_spans[0].spans[0];
    let got = attrs(&batch, "attributes", "attribute_types", 0);
    let want: Vec<_> = otlp.attributes.iter().map(|kv| (kv.key.clone(), expected(kv.value.as_ref()))).collect();
    assert_eq!(got, want);
    assert!(matches!(&got[5].1, AttrValue::Array(items) if items.len() == 2));
    assert!(matches!(&got[6].1, AttrValue::KvList(kvs) if kvs[0].0 == "inner"));

    let resource = attrs(&batch, "resource_attributes", "resource_attribute_types", 1);
    assert_eq!(resource[0], ("service.name".into(), AttrValue::Str("checkout".into())));
    assert_eq!(resource[1], ("process.pid".into(), AttrValue::Int(42)));
    assert_eq!(u32s(&batch, "resource_dropped_attributes_count")[1], 1);
    assert_eq!(strings(&batch, "resource_schema_url")[0].as_deref(), Some("https://opentelemetry.io/schemas/1.26.0"));
    assert_eq!(strings(&batch, "scope_name")[1].as_deref(), Some("io.opentelemetry.http"));
    assert_eq!(strings(&batch, "scope_version")[1].as_deref(), Some("1.2.3"));
    assert_eq!(strings(&batch, "scope_schema_url")[1].as_deref(), Some("scope-schema"));
    assert_eq!(attrs(&batch, "scope_attributes", "scope_attribute_types", 0)[0].1, AttrValue::Str("s".into()));

    let events = list_item(&batch, "events", 0);
    assert_eq!(events.len(), 1);
    assert_eq!(events.column_by_name("name").unwrap().as_string::<i32>().value(0), "exception");
    let time = events.column_by_name("time").unwrap().as_primitive::<arrow::datatypes::TimestampNanosecondType>();
    assert_eq!(time.value(0), START as i64 + 500);
    let links = list_item(&batch, "links", 0);
    assert_eq!(links.column_by_name("trace_id").unwrap().as_string::<i32>().value(0), "11".repeat(16));
    assert_eq!(links.column_by_name("span_id").unwrap().as_string::<i32>().value(0), "22".repeat(8));
    assert_eq!(links.column_by_name("trace_state").unwrap().as_string::<i32>().value(0), "l=1");
    assert_eq!(list_item(&batch, "events", 1).len(), 0);
}

#[test]
fn invalid_spans_are_rejected_and_named_valid_ones_kept() {
    let bad_trace = Span { trace_id: vec![1, 2], ..span(1) };
    let zero_span = Span { span_id: vec![0; 8], ..span(2) };
    let bad_parent = Span { parent_span_id: vec![1; 3], ..span(3) };
    let bad_link = Span {
        links: vec![osprey_proto::trace::span::Link { trace_id: vec![1; 16], span_id: vec![], ..Default::default() }],
        ..span(4)
    };
    let zero_parent_is_root = Span { parent_span_id: vec![0; 8], ..span(5) };
    let request = request_of(vec![bad_trace, zero_span, bad_parent, bad_link, zero_parent_is_root, span(6)]);
    let conversion = run(&request, &LimitsConfig::default());
    assert_eq!((conversion.received, conversion.accepted, conversion.rejected_invalid), (6, 2, 4));
    let msg = conversion.error_message("spans");
    assert!(msg.starts_with("rejected 4 of 6 spans"), "{msg}");
    assert!(msg.contains("trace_id must be 16 bytes, got 2"), "{msg}");
    assert!(msg.contains("span_id is all zero"), "{msg}");
    assert!(msg.contains("parent_span_id must be empty or 8 bytes"), "{msg}");
    assert!(msg.contains("link 0 span_id must be 8 bytes"), "{msg}");
    let batch = conversion.batch.unwrap();
    assert_eq!(strings(&batch, "parent_span_id"), vec![None, None]);
}

#[test]
fn error_message_names_only_the_first_few() {
    let spans = (0..20).map(|i| Span { trace_id: vec![], ..span(i) }).collect();
    let conversion = run(&request_of(spans), &LimitsConfig::default());
    assert_eq!(conversion.rejected(), 20);
    assert!(conversion.batch.is_none());
    assert!(conversion.error_message("spans").ends_with("; and 15 more"), "{}", conversion.error_message("spans"));
}

#[test]
fn empty_request_converts_to_nothing() {
    let conversion = run(&ExportTraceServiceRequest::default(), &LimitsConfig::default());
    assert!(conversion.batch.is_none());
    assert_eq!(conversion.received, 0);
}

#[test]
fn unknown_service_without_service_name() {
    let mut request = request_of(vec![span(1)]);
    request.resource_spans[0].resource = None;
    let batch = run(&request, &LimitsConfig::default()).batch.unwrap();
    assert_eq!(strings(&batch, "service_name")[0].as_deref(), Some(UNKNOWN_SERVICE));
}

#[test]
fn hundred_thousand_attributes_are_cut_to_the_limit() {
    let attributes = (0..100_000).map(|i| kv(&format!("k{i}"), Value::IntValue(i))).collect();
    let conversion = run(&request_of(vec![Span { attributes, ..span(1) }]), &LimitsConfig::default());
    let batch = conversion.batch.unwrap();
    assert_eq!(attrs(&batch, "attributes", "attribute_types", 0).len(), 512);
    assert_eq!(u32s(&batch, "dropped_attributes_count")[0], 100_000 - 512);
    assert_eq!(conversion.limits.dropped_attributes, 100_000 - 512);
}

fn depth(v: &AttrValue) -> usize {
    match v {
        AttrValue::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        AttrValue::KvList(kvs) => 1 + kvs.iter().map(|(_, v)| depth(v)).max().unwrap_or(0),
        _ => 1,
    }
}

#[test]
fn fifty_deep_value_is_cut_to_max_value_depth() {
    let mut value = any(Value::StringValue("leaf".into()));
    for _ in 1..50 {
        value = any(Value::ArrayValue(ArrayValue { values: vec![value] }));
    }
    let attributes = vec![KeyValue { key: "deep".into(), value: Some(value), ..Default::default() }];
    let conversion = run(&request_of(vec![Span { attributes, ..span(1) }]), &LimitsConfig::default());
    assert_eq!(conversion.limits.cut_subtrees, 1);
    let batch = conversion.batch.unwrap();
    let got = attrs(&batch, "attributes", "attribute_types", 0);
    assert_eq!(depth(&got[0].1), 32);
}

#[test]
fn spans_past_the_trace_limit_are_rejected() {
    let limits = LimitsConfig { max_spans_per_trace: 3, ..LimitsConfig::default() };
    let conversion = run(&request_of((1..=5).map(span).collect()), &limits);
    assert_eq!((conversion.accepted, conversion.rejected_limit), (3, 2));
    assert_eq!(conversion.limits.spans_over_trace_limit, 2);
    assert!(conversion.error_message("spans").contains("max_spans_per_trace"));
}

/// Every span of the OpenTelemetry demo recording comes back with the same typed attributes.
#[test]
fn real_data_round_trips_attributes() {
    let path = std::env::var("OSPREY_OTEL_DEMO_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/otel-demo"))
        .join("astronomy-oteltraces.zst");
    let Ok(file) = std::fs::File::open(&path) else {
        eprintln!("SKIPPED real_data_round_trips_attributes: {} not found", path.display());
        return;
    };
    let mut data = Vec::new();
    zstd::stream::read::Decoder::new(file).unwrap().read_to_end(&mut data).unwrap();
    let limits = LimitsConfig { max_attribute_value_bytes: usize::MAX, ..LimitsConfig::default() };
    let (mut messages, mut spans, mut pos) = (0, 0, 0);
    while pos < data.len() {
        let len = u32::from_be_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
        let request = ExportTraceServiceRequest::decode(&data[pos + 4..pos + 4 + len]).unwrap();
        pos += 4 + len;
        messages += 1;
        let conversion = run(&request, &limits);
        assert_eq!(conversion.rejected(), 0, "{}", conversion.error_message("spans"));
        let Some(batch) = conversion.batch else { continue };
        let mut row = 0;
        let span_ids = strings(&batch, "span_id");
        for rs in &request.resource_spans {
            let resource = rs.resource.as_ref().map(|r| &r.attributes[..]).unwrap_or_default();
            let want_resource: Vec<_> =
                resource.iter().map(|kv| (kv.key.clone(), expected(kv.value.as_ref()))).collect();
            for ss in &rs.scope_spans {
                for span in &ss.spans {
                    let want: Vec<_> =
                        span.attributes.iter().map(|kv| (kv.key.clone(), expected(kv.value.as_ref()))).collect();
                    assert_eq!(attrs(&batch, "attributes", "attribute_types", row), want, "span row {row}");
                    assert_eq!(attrs(&batch, "resource_attributes", "resource_attribute_types", row), want_resource);
                    assert_eq!(span_ids[row], Some(hex::encode(&span.span_id)));
                    row += 1;
                    spans += 1;
                }
            }
        }
        assert_eq!(row, batch.num_rows());
    }
    assert_eq!(messages, 465);
    assert_eq!(spans, 64_151);
}
