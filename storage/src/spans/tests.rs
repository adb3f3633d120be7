use super::*;
use crate::attributes::{read_row, AttrValue};
use arrow::array::{Array, AsArray, MapArray, StringArray};

fn sample() -> (SpanScope<'static>, SpanRecord<'static>) {
    let scope = SpanScope {
        service_name: "checkout",
        resource_attributes: vec![("service.name", AttrRef::Str("checkout")), ("pid", AttrRef::Int(7))],
        scope_name: Some("io.opentelemetry.http"),
        scope_version: Some("1.2.3"),
        ..Default::default()
    };
    let span = SpanRecord {
        trace_id: &[0xab; 16],
        span_id: &[0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08],
        parent_span_id: &[],
        name: "GET /cart",
        kind: 2,
        start_time_unix_nano: 1_700_000_000_000_000_000,
        end_time_unix_nano: 1_700_000_000_250_000_000,
        status_code: 2,
        status_message: Some("boom"),
        attributes: vec![("http.response.status_code", AttrRef::Int(500))],
        events: vec![SpanEventRecord {
            time_unix_nano: 1_700_000_000_100_000_000,
            name: "exception",
            attributes: vec![("exception.type", AttrRef::Str("IOError"))],
            dropped_attributes_count: 1,
        }],
        links: vec![
            SpanLinkRecord { trace_id: &[0x11; 16], span_id: &[0x22; 8], flags: 1, ..Default::default() },
            SpanLinkRecord { trace_id: &[0x33; 16], span_id: &[0x44; 8], ..Default::default() },
        ],
        ..Default::default()
    };
    (scope, span)
}

#[test]
fn builds_a_batch_matching_the_schema() {
    let (scope, span) = sample();
    let mut b = SpansBuilder::new();
    b.append(&scope, &span).expect("append");
    let root_child = SpanRecord { parent_span_id: &[9; 8], kind: 99, status_code: -1, ..span.clone() };
    b.append(&scope, &root_child).expect("append");
    assert_eq!(b.len(), 2);
    let batch = b.finish().expect("finish");
    assert_eq!(batch.schema(), schema());
    assert_eq!(batch.num_rows(), 2);
    assert!(b.is_empty());

    let s = |name: &str| batch.column_by_name(name).expect(name).as_string::<i32>().clone();
    assert_eq!(s(col::TRACE_ID).value(0), "ab".repeat(16));
    assert_eq!(s(col::SPAN_ID).value(0), "0102030405060708");
    assert!(s(col::PARENT_SPAN_ID).is_null(0));
    assert_eq!(s(col::PARENT_SPAN_ID).value(1), "0909090909090909");
    assert_eq!(s(col::KIND).value(0), "server");
    assert_eq!(s(col::KIND).value(1), "unspecified");
    assert_eq!(s(col::STATUS_CODE).value(0), "error");
    assert_eq!(s(col::STATUS_CODE).value(1), "unset");
    let duration = batch.column_by_name(col::DURATION_NS).expect("duration");
    assert_eq!(duration.as_primitive::<arrow::datatypes::Int64Type>().value(0), 250_000_000);

    let attrs = batch.column_by_name(col::ATTRIBUTES).expect("attrs").as_map().clone();
    let types = s(col::ATTRIBUTE_TYPES);
    assert_eq!(
        read_row(&attrs, &types, 0).expect("read"),
        vec![("http.response.status_code".to_string(), AttrValue::Int(500))]
    );

    let events = batch.column_by_name(col::EVENTS).expect("events").as_list::<i32>().clone();
    assert_eq!(events.value_length(0), 1);
    assert_eq!(events.value_length(1), 1);
    let links = batch.column_by_name(col::LINKS).expect("links").as_list::<i32>().clone();
    assert_eq!(links.value_length(0), 2);
    let link_rows = links.value(0);
    let link_rows = link_rows.as_struct();
    let link_trace = link_rows.column_by_name("trace_id").expect("link trace").as_string::<i32>().clone();
    assert_eq!(link_trace.value(1), "33".repeat(16));
    let link_attrs: &MapArray = link_rows.column_by_name("attributes").expect("attrs").as_map();
    let link_types: &StringArray = link_rows.column_by_name("attribute_types").expect("types").as_string();
    assert!(read_row(link_attrs, link_types, 0).expect("read").is_empty());
}
