use std::sync::Arc;

use arrow::array::{Array, RecordBatch};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use super::*;
use crate::attributes::AttrRef;
use crate::spans::{physical_schema, SpanRecord, SpanScope, SpansBuilder};

/// One span per entry of `rows`, with those attributes.
fn spans(rows: &[Vec<(&'static str, AttrRef<'static>)>]) -> RecordBatch {
    let scope = SpanScope { service_name: "svc", ..Default::default() };
    let mut builder = SpansBuilder::new();
    for (i, attributes) in rows.iter().enumerate() {
        let (trace_id, span_id) = ([1u8; 16], [i as u8 + 1; 8]);
        let span = SpanRecord {
            trace_id: &trace_id,
            span_id: &span_id,
            name: "op",
            start_time_unix_nano: 1,
            end_time_unix_nano: 2,
            attributes: attributes.clone(),
            ..Default::default()
        };
        builder.append(&scope, &span).expect("append");
    }
    builder.finish_physical().expect("finish")
}

/// Every awkward value a dedicated column's attribute can hold, under every dedicated key.
fn awkward_rows() -> Vec<Vec<(&'static str, AttrRef<'static>)>> {
    let values = [
        AttrRef::Int(500),
        AttrRef::Str("500"),
        AttrRef::Double(500.0),
        AttrRef::Double(499.5),
        AttrRef::Str("5e2"),
        AttrRef::Str(" 500"),
        AttrRef::Str("abc"),
        AttrRef::Str("NaN"),
        AttrRef::Str(""),
        AttrRef::Bool(true),
        AttrRef::Empty,
        AttrRef::Bytes(b"\x01\x02"),
        AttrRef::Array(vec![AttrRef::Int(500)]),
        AttrRef::Int(i64::MAX),
        AttrRef::Str("GET"),
    ];
    let mut rows = Vec::new();
    for d in DEDICATED {
        for v in &values {
            rows.push(vec![("other", AttrRef::Str("x")), (d.key, v.clone())]);
        }
        // A key given twice (invalid OTLP): the first entry counts.
        rows.push(vec![(d.key, AttrRef::Int(200)), (d.key, AttrRef::Int(500))]);
        rows.push(vec![(d.key, AttrRef::Empty), (d.key, AttrRef::Str("POST"))]);
    }
    rows.push(Vec::new());
    rows
}

#[tokio::test]
async fn a_dedicated_column_holds_exactly_what_its_map_lookup_gives_datafusion() {
    let batch = spans(&awkward_rows());
    let ctx = SessionContext::new();
    let table = MemTable::try_new(physical_schema(), vec![vec![batch.clone()]]).expect("table");
    ctx.register_table("spans", Arc::new(table)).expect("register");
    for d in DEDICATED {
        let lookup = format!("attributes['{}']", d.key);
        let expr = match d.form {
            Form::Text => lookup,
            Form::Number => format!("TRY_CAST({lookup} AS DOUBLE)"),
        };
        let query = format!("SELECT {expr} AS expected, {} AS got FROM spans", d.column);
        let out = ctx.sql(&query).await.expect("plan").collect().await.expect("run");
        let out = arrow::compute::concat_batches(&out[0].schema(), &out).expect("concat");
        let as_stored = |a: &dyn Array| arrow::compute::cast(a, &d.form.data_type()).expect("cast");
        let (expected, got) = (as_stored(out.column(0)), as_stored(out.column(1)));
        assert_eq!(expected.len(), batch.num_rows());
        assert_eq!(&expected, &got, "{} ({:?})", d.column, d.form);
        assert!(got.null_count() < got.len(), "{} is never set", d.column);
    }
}

#[test]
fn number_columns_parse_what_try_cast_parses_and_nothing_else() {
    let rows = vec![
        vec![("http.status_code", AttrRef::Int(503))],
        vec![("http.status_code", AttrRef::Str("404"))],
        vec![("http.status_code", AttrRef::Str("teapot"))],
        vec![("http.status_code", AttrRef::Bool(false))],
        vec![("http.request.method", AttrRef::Str("GET"))],
    ];
    let batch = spans(&rows);
    let number = batch.column_by_name("http_status_code").expect("column");
    let number = number.as_any().downcast_ref::<arrow::array::Float64Array>().expect("f64");
    let values: Vec<Option<f64>> = number.iter().collect();
    assert_eq!(values, [Some(503.0), Some(404.0), None, None, None]);
    let text = batch.column_by_name("http_request_method").expect("column");
    assert_eq!(text.null_count(), 4);
    assert_eq!(column_of("http.status_code", Form::Number), Some("http_status_code"));
    assert_eq!(column_of("http.status_code", Form::Text), None);
    assert_eq!(column_of("url.path", Form::Text), None);
}

#[test]
fn batches_of_the_older_layout_get_the_same_columns_the_builder_writes() {
    let batch = spans(&awkward_rows());
    let old_schema = crate::spans::physical::without_dedicated(&physical_schema());
    let columns = old_schema.fields().iter().map(|f| batch.column_by_name(f.name()).expect("column").clone());
    let old = RecordBatch::try_new(old_schema.clone(), columns.collect()).expect("old");
    assert_eq!(old.num_columns() + DEDICATED.len(), batch.num_columns());
    assert_eq!(crate::spans::to_physical(&old).expect("upgrade"), batch);
}
