use super::*;
use crate::attributes::{read_row, read_value, AttrValue};
use arrow::array::{Array, AsArray, MapArray, StringArray};
use arrow::datatypes::{Int32Type, TimestampNanosecondType};

fn scope() -> LogScope<'static> {
    LogScope {
        service_name: "payment",
        resource_attributes: vec![("service.name", AttrRef::Str("payment"))],
        scope_name: Some("app.logger"),
        scope_version: Some("2.0"),
        ..Default::default()
    }
}

fn strings<'a>(batch: &'a RecordBatch, name: &str) -> &'a StringArray {
    batch.column_by_name(name).expect("column").as_string::<i32>()
}

#[test]
fn builds_a_batch_matching_the_schema() {
    let mut builder = LogsBuilder::new();
    let log = LogRecord {
        time_unix_nano: 1_700_000_000_000_000_000,
        observed_time_unix_nano: Some(1_700_000_000_500_000_000),
        trace_id: &[0xab; 16],
        span_id: &[0x01; 8],
        flags: 1,
        severity_number: 17,
        severity_text: Some("ERROR"),
        body: AttrRef::Str("card_expired for ORD-00010"),
        event_name: Some("payment.failed"),
        attributes: vec![("order_id", AttrRef::Int(42))],
        dropped_attributes_count: 2,
    };
    builder.append(&scope(), &log).expect("append");
    builder.append(&scope(), &LogRecord { time_unix_nano: 5, ..Default::default() }).expect("append");
    let batch = builder.finish().expect("finish");
    assert_eq!(batch.schema(), schema());
    assert_eq!(batch.num_rows(), 2);
    assert_eq!(strings(&batch, col::TRACE_ID).value(0), "ab".repeat(16));
    assert_eq!(strings(&batch, col::SPAN_ID).value(0), "01".repeat(8));
    assert!(strings(&batch, col::TRACE_ID).is_null(1), "no trace context: NULL id");
    assert_eq!(strings(&batch, col::BODY).value(0), "card_expired for ORD-00010");
    assert!(strings(&batch, col::BODY).is_null(1), "an empty body is NULL");
    assert_eq!(strings(&batch, col::SEVERITY_TEXT).value(0), "ERROR");
    let severity = batch.column_by_name(col::SEVERITY_NUMBER).expect("sev").as_primitive::<Int32Type>();
    assert_eq!(severity.value(0), 17);
    let observed = batch.column_by_name(col::OBSERVED_TIME).expect("obs").as_primitive::<TimestampNanosecondType>();
    assert!(observed.is_null(1));
    let attrs = batch.column_by_name(col::ATTRIBUTES).expect("attrs");
    let attrs = attrs.as_any().downcast_ref::<MapArray>().expect("map");
    let row = read_row(attrs, strings(&batch, col::ATTRIBUTE_TYPES), 0).expect("row");
    assert_eq!(row, vec![("order_id".to_string(), AttrValue::Int(42))]);
}

#[test]
fn structured_bodies_are_json_text_and_round_trip() {
    let bodies = vec![
        AttrRef::KvList(vec![("user", AttrRef::Str("ann")), ("n", AttrRef::Int(3))]),
        AttrRef::Array(vec![AttrRef::Bool(true), AttrRef::Double(1.5)]),
        AttrRef::Int(7),
        AttrRef::Str("7"),
        AttrRef::Bytes(&[0, 1, 2]),
    ];
    let mut builder = LogsBuilder::new();
    for body in &bodies {
        builder.append(&scope(), &LogRecord { body: body.clone(), ..Default::default() }).expect("append");
    }
    let batch = builder.finish().expect("finish");
    let text = strings(&batch, col::BODY);
    let types = strings(&batch, col::BODY_TYPE);
    assert_eq!(text.value(0), r#"{"user":"ann","n":3}"#);
    assert_eq!(text.value(1), "[true,1.5]");
    for (i, body) in bodies.iter().enumerate() {
        let back = read_value(Some(text.value(i)), types.value(i)).expect("read");
        assert_eq!(back.as_ref(), *body, "body {i}");
    }
}

#[test]
fn table_logs_is_wired() {
    use crate::Table;
    assert_eq!(Table::from_name("logs"), Some(Table::Logs));
    assert_eq!(Table::from_code(2), Some(Table::Logs));
    assert_eq!(Table::Logs.time_column(), col::TIME);
    assert!(crate::flush::writer_properties(Table::Logs, 1000).is_ok());
    let batch = LogsBuilder::new().finish().expect("empty");
    assert!(Table::Logs.to_physical(&batch).is_ok());
    assert!(Table::Logs.to_physical(&crate::testdata::many(1, 1, 0)).is_err());
}

#[test]
fn severity_names_follow_the_otlp_ranges() {
    assert_eq!(severity_name(9), Some("info"));
    assert_eq!(severity_name(17), Some("error"));
    assert_eq!(severity_name(24), Some("fatal"));
    assert_eq!(severity_name(0), None);
}
