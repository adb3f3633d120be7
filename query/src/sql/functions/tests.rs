use arrow::array::AsArray;

use crate::error::QueryError;
use crate::test_support::{batch, service, span, TRACE};

async fn one_row(sql: &str) -> Vec<String> {
    let service = service(vec![batch(TRACE, &[span("00000000000000a1", "", "frontend", 0, 100)])]);
    let result = service.sql().run(sql.to_string()).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let b = &result.batches[0];
    let options = arrow::util::display::FormatOptions::default().with_null("NULL");
    b.columns()
        .iter()
        .map(|c| arrow::util::display::ArrayFormatter::try_new(c.as_ref(), &options).expect("fmt").value(0).to_string())
        .collect()
}

#[tokio::test]
async fn unhex_and_hex_round_trip_ids() {
    let row = one_row(
        "SELECT hex(unhex(trace_id)) = trace_id, octet_length(hex(unhex(trace_id))), arrow_typeof(unhex(trace_id)) \
         FROM spans",
    )
    .await;
    assert_eq!(row, ["true", "32", "Binary"]);
    // Upper case in, lowercase out, as ids are stored.
    let row = one_row("SELECT hex(unhex('0AF7651916CD43DD8448EB211C80319C'))").await;
    assert_eq!(row, [TRACE]);
    // hex of text is the hex of its UTF-8.
    assert_eq!(one_row("SELECT hex('hi'), hex(decode('00ff', 'hex'))").await, ["6869", "00ff"]);
}

#[tokio::test]
async fn bad_hex_is_null_and_bad_types_are_plan_errors() {
    let row = one_row("SELECT unhex('abc'), unhex('zz'), unhex(NULL), hex(NULL), unhex('')").await;
    assert_eq!(row, ["NULL", "NULL", "NULL", "NULL", ""]);
    let service = service(vec![batch(TRACE, &[span("00000000000000a1", "", "frontend", 0, 100)])]);
    for sql in ["SELECT hex(42)", "SELECT unhex(42)", "SELECT unhex('a', 'b')"] {
        let e = service.sql().run(sql.to_string()).await.expect_err(sql);
        assert!(matches!(e, QueryError::SqlPlan(_)), "{sql}: {e:?}");
        assert_eq!(e.status(), axum::http::StatusCode::BAD_REQUEST);
    }
    // A column of bytes.
    let result = service.sql().run("SELECT unhex(span_id) FROM spans".into()).await.expect("unhex column");
    assert_eq!(result.batches[0].column(0).as_binary::<i32>().value(0), [0, 0, 0, 0, 0, 0, 0, 0xa1]);
}
