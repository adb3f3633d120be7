use std::time::Duration;

use arrow::array::{Float64Array, Int64Array, IntervalMonthDayNanoArray, StringArray};
use arrow::datatypes::IntervalMonthDayNano;
use arrow::ipc::reader::StreamReader;
use axum::http::HeaderValue;
use osprey_storage::attributes::AttrRef;

use super::*;
use crate::test_support::{batch, service, Span, TRACE};

fn accept(s: &'static str) -> Result<OutputFormat, QueryError> {
    OutputFormat::from_accept(Some(&HeaderValue::from_static(s)))
}

#[test]
fn accept_picks_the_first_type_we_produce() {
    assert_eq!(OutputFormat::from_accept(None).expect("none"), OutputFormat::Json);
    assert_eq!(accept("*/*").expect("any"), OutputFormat::Json);
    assert_eq!(accept("text/csv").expect("csv"), OutputFormat::Csv);
    assert_eq!(accept("application/vnd.apache.arrow.stream").expect("arrow"), OutputFormat::ArrowStream);
    assert_eq!(accept("image/png, text/csv;q=0.9, */*;q=0.1").expect("csv first"), OutputFormat::Csv);
    assert_eq!(accept("Application/JSON; charset=utf-8").expect("case"), OutputFormat::Json);
    assert_eq!(accept("image/png").expect_err("none").status().as_u16(), 406);
}

/// One span with every kind of value the `spans` schema holds.
fn rich_span() -> Span {
    Span {
        id: "00000000000000a1",
        parent: "",
        service: "checkout",
        name: "GET /cart",
        kind: 2,
        start: 0,
        end: 1_500_000,
        status: 2,
        status_message: Some("boom \"quoted\""),
        attributes: vec![
            ("http.route", AttrRef::Str("/cart")),
            ("http.response.status_code", AttrRef::Int(503)),
            ("ratio", AttrRef::Double(0.25)),
            ("cached", AttrRef::Bool(false)),
        ],
        resource_attributes: vec![("host.name", AttrRef::Str("h1"))],
        events: vec![(500, "retry", vec![("attempt", AttrRef::Int(2))])],
        links: vec![(TRACE, "00000000000000b2", Some("k=v"))],
    }
}

async fn rich_result() -> SqlResult {
    let svc = service(vec![batch(TRACE, &[rich_span()])]);
    let sql = "SELECT trace_id, span_id, parent_span_id, service_name, name, kind, start_time, end_time, duration_ns, \
               status_code, status_message, flags, attributes, attributes['http.route'] AS route, \
               resource_attributes, events, links, CAST(NULL AS BIGINT) AS nothing, 1.5 AS half, true AS yes \
               FROM spans";
    let mut result = svc.sql().run(sql.into()).await.expect("query");
    result.elapsed = Duration::from_millis(12);
    result
}

#[tokio::test]
async fn json_shape_for_every_type_of_the_spans_table() {
    let result = rich_result().await;
    let json: serde_json::Value = serde_json::from_slice(&json(&result).expect("json")).expect("valid JSON");
    insta::assert_json_snapshot!(json);
    // Spot checks that don't depend on reading the snapshot.
    let row = &json["rows"][0];
    assert_eq!(row[6], "2023-11-14T22:13:20.000000000+00:00");
    assert_eq!(row[8], 1_500_000);
    assert_eq!(row[12]["http.route"], "/cart");
    assert_eq!(row[13], "/cart");
    assert!(row[17].is_null());
    assert_eq!(json["columns"][6]["type"], "Timestamp(ns, \"UTC\")");
    assert_eq!(json["row_count"], 1);
    assert_eq!(json["elapsed_ms"], 12.0);
}

#[tokio::test]
async fn csv_matches_json_and_encodes_nested_values_as_json_text() {
    let result = rich_result().await;
    let text = String::from_utf8(csv(&result.schema, &result.batches).expect("csv")).expect("utf-8");
    let mut reader = text.lines();
    let header = reader.next().expect("header");
    assert!(header.starts_with("trace_id,span_id,parent_span_id,service_name"), "{header}");
    let row = reader.next().expect("row");
    assert!(row.contains("2023-11-14T22:13:20.000000000+00:00"), "{row}");
    assert!(row.contains(r#""{""http.route"":""/cart"""#), "{row}");
    assert!(row.contains(r#""boom ""quoted""""#), "{row}");
    assert!(reader.next().is_none());
}

#[test]
fn csv_of_no_rows_has_the_header() {
    let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
    assert_eq!(csv(&schema, &[]).expect("csv"), b"n\n");
}

#[tokio::test]
async fn arrow_stream_round_trips() {
    let result = rich_result().await;
    let bytes = arrow_stream(&result.schema, &result.batches).expect("ipc");
    let reader = StreamReader::try_new(bytes.as_slice(), None).expect("reader");
    assert_eq!(reader.schema(), result.schema);
    let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().expect("batches");
    assert_eq!(batches, result.batches);
}

#[test]
fn values_without_a_json_encoder_become_text_and_floats_stay_numbers() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("i", DataType::Interval(arrow::datatypes::IntervalUnit::MonthDayNano), true),
        Field::new("f", DataType::Float64, true),
        Field::new("n", DataType::Int64, true),
        Field::new("s", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(IntervalMonthDayNanoArray::from(vec![Some(IntervalMonthDayNano::new(1, 2, 3)), None])),
            Arc::new(Float64Array::from(vec![Some(f64::NAN), Some(2.5)])),
            Arc::new(Int64Array::from(vec![Some(i64::MAX), None])),
            Arc::new(StringArray::from(vec![Some("é\n\"x\""), None])),
        ],
    )
    .expect("batch");
    let result = SqlResult { schema, batches: vec![batch], row_count: 2, elapsed: Duration::ZERO };
    let json: serde_json::Value = serde_json::from_slice(&json(&result).expect("json")).expect("valid");
    let rows = &json["rows"];
    assert!(rows[0][0].is_string(), "{rows}");
    assert!(rows[1][0].is_null());
    assert!(rows[0][1].is_null(), "NaN is null: {rows}");
    assert_eq!(rows[1][1], 2.5);
    assert_eq!(rows[0][2], serde_json::json!(i64::MAX));
    assert_eq!(rows[0][3], "é\n\"x\"");
}
