//! Arrow Flight SQL against the real binary with a real client: the Python ADBC
//! Flight SQL driver (`adbc-driver-flightsql` from PyPI) runs queries over spans
//! sent with the SDK (some in Parquet, some in the memtable), lists the tables
//! and a table's schema, and is refused a DDL. Its answers must equal the HTTP
//! SQL API's.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

use crate::harness::Osprey;
use crate::python_env::python_with;
use crate::sdk::hex_trace;
use crate::sql::{ok_json, send_all, trace_id, SENT};

/// What the test installs from PyPI (versions known to work together).
const PACKAGES: [&str; 2] = ["adbc-driver-flightsql==1.13.0", "pyarrow==26.0.1"];

#[tokio::test]
async fn adbc_flight_sql_answers_like_the_http_api() {
    let python = python_with(&PACKAGES, &["adbc_driver_flightsql", "pyarrow"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let osprey = Osprey::start(&dir.path().join("data"), &[("OSPREY_STORAGE__FLUSH__MAX_AGE", "1s")]).await;
    send_all(&osprey).await;

    let id = hex_trace(trace_id(1, 2));
    let queries = [
        "SELECT service_name, count(*) AS n FROM spans GROUP BY service_name ORDER BY service_name".to_string(),
        format!(
            "SELECT span_id, parent_span_id, attributes['http.route'] AS route, duration_ns, kind \
             FROM spans WHERE trace_id = '{id}' ORDER BY span_id"
        ),
        "SELECT service_name, approx_percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ns) AS p50, \
         max(duration_ns) AS max_ns FROM spans GROUP BY service_name ORDER BY service_name"
            .to_string(),
        // Children joined to their parents within a trace.
        "SELECT c.service_name, count(*) AS children FROM spans c JOIN spans p \
         ON c.trace_id = p.trace_id AND c.parent_span_id = p.span_id GROUP BY 1 ORDER BY 1"
            .to_string(),
    ];
    let adbc = run_adbc(&python, &format!("grpc://{}", osprey.flight), &queries);

    for (query, got) in queries.iter().zip(adbc["queries"].as_array().expect("queries")) {
        let http = ok_json(&osprey, query).await;
        let names: Vec<&Value> = http["columns"].as_array().expect("columns").iter().map(|c| &c["name"]).collect();
        assert_eq!(got["columns"].as_array().expect("columns").iter().collect::<Vec<_>>(), names, "{query}");
        assert_eq!(got["rows"], http["rows"], "{query}");
    }
    // And the answers are right, not just equal.
    let counts = &adbc["queries"][0]["rows"];
    let mut want: Vec<Value> = SENT.iter().map(|(s, t, n)| json!([s, *t as u64 * n])).collect();
    want.sort_by_key(|v| v[0].as_str().map(str::to_string));
    assert_eq!(counts, &json!(want));
    assert_eq!(adbc["queries"][1]["rows"].as_array().expect("rows").len(), 2, "{adbc}");
    assert_eq!(adbc["queries"][1]["rows"][0][2], "/checkout/2");
    assert_eq!(adbc["queries"][3]["rows"], json!([["checkout", 3], ["frontend", 8]]));

    // Every column type comes through: timestamps with their zone, attribute maps.
    let all = &adbc["all_columns"];
    assert_eq!(all["rows"], 3, "{all}");
    assert_eq!(all["types"]["start_time"], "timestamp[ns, tz=UTC]", "{all}");
    assert!(all["types"]["attributes"].as_str().unwrap_or_default().starts_with("map<string, string"), "{all}");
    assert!(all["first"]["start_time"].as_str().unwrap_or_default().starts_with(&crate::sdk::epoch_text(' ')), "{all}");
    assert_eq!(all["first"]["attributes"], json!([["http.route", "/frontend/0"]]), "{all}");

    // GetSqlInfo names the server.
    assert_eq!(adbc["vendor_name"], "osprey");

    // The DDL fails with the HTTP API's message.
    let ddl = &adbc["ddl_error"];
    assert!(ddl["message"].as_str().unwrap_or_default().contains("DROP TABLE is not allowed"), "{ddl}");
    assert!(ddl["message"].as_str().unwrap_or_default().contains("InvalidArgument"), "{ddl}");

    // Tables listed from the session, with their columns; the schema of one.
    let tables = adbc["tables"].as_array().expect("tables");
    let spans = tables.iter().find(|t| t["table"] == "spans").unwrap_or_else(|| panic!("no spans: {tables:?}"));
    assert_eq!(spans["catalog"], "datafusion");
    assert_eq!(spans["schema"], "public");
    assert_eq!(spans["type"], "TABLE");
    let columns = spans["columns"].as_array().expect("columns");
    for c in ["trace_id", "span_id", "service_name", "start_time", "duration_ns", "attributes"] {
        assert!(columns.contains(&json!(c)), "{c} missing from {columns:?}");
    }
    assert!(tables.iter().any(|t| t["schema"] == "information_schema" && t["table"] == "tables"), "{tables:?}");
    let schema = adbc["spans_schema"].as_array().expect("spans schema");
    assert_eq!(schema.len(), columns.len());
    assert!(schema.contains(&json!(["duration_ns", "int64"])), "{schema:?}");

    // Still answering over HTTP.
    let after = ok_json(&osprey, "SELECT count(*) FROM spans").await;
    assert_eq!(after["rows"], json!([[20]]));
}

fn run_adbc(python: &Path, uri: &str, queries: &[String]) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/flight_sql.py");
    let out = Command::new(python)
        .arg(&script)
        .arg(uri)
        .arg(serde_json::to_string(queries).expect("queries as JSON"))
        .output()
        .expect("run the ADBC script");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "ADBC script failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("ADBC output is not JSON ({e}): {stdout}"))
}
