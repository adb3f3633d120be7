//! `POST /api/v1/sql` and `osprey sql` against the real binary: spans sent with
//! the OpenTelemetry SDK (some flushed to Parquet, some still in the memtable)
//! come back through SQL in JSON, CSV and Arrow alike, and
//! bad or heavy SQL gets a clear 4xx while the server keeps answering.

use std::process::Command;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use arrow::ipc::reader::StreamReader;
use opentelemetry::trace::SpanKind;
use opentelemetry::KeyValue;
use serde_json::{json, Value};

use crate::harness::Osprey;
use crate::sdk::{exporter, hex_trace, send, SpanSpec, Transport};

/// (service, number of traces, spans per trace); each trace has its own id.
pub(crate) const SENT: [(&str, u128, u64); 3] = [("frontend", 4, 3), ("checkout", 3, 2), ("payment", 2, 1)];

pub(crate) fn trace_id(service_index: usize, trace: u128) -> u128 {
    0x5a00_0000_0000_0000_0000_0000_0000_0000 + ((service_index as u128) << 32) + trace + 1
}

pub(crate) async fn send_all(osprey: &Osprey) {
    for (i, (service, traces, spans)) in SENT.iter().enumerate() {
        let mut batch = Vec::new();
        for t in 0..*traces {
            for s in 0..*spans {
                let spec = SpanSpec {
                    trace: trace_id(i, t),
                    span: s + 1,
                    parent: s,
                    name: "op",
                    kind: if s == 0 { SpanKind::Server } else { SpanKind::Internal },
                    start_ms: s * 10,
                    end_ms: s * 10 + 5,
                    error: false,
                    attributes: vec![KeyValue::new("http.route", format!("/{service}/{t}"))],
                };
                batch.push(spec.build());
            }
        }
        send(&exporter(osprey, Transport::HttpProto, service), batch).await.expect("ack");
        if i == 0 {
            // The first service's spans reach Parquet; the rest stay in the memtable.
            osprey.wait_metric("osprey_rows_persisted_total", (traces * *spans as u128) as f64).await;
        }
    }
}

struct Answer {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or_else(|| panic!("no error message: {}", self.text())).to_string()
    }
}

async fn sql(osprey: &Osprey, sql: &str, accept: &str) -> Answer {
    let r = reqwest::Client::new()
        .post(osprey.url("/api/v1/sql"))
        .header("content-type", "application/json")
        .header("accept", accept)
        .body(json!({ "sql": sql }).to_string())
        .send()
        .await
        .expect("POST /api/v1/sql");
    let status = r.status().as_u16();
    let content_type = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    Answer { status, content_type, body: r.bytes().await.expect("body").to_vec() }
}

pub(crate) async fn ok_json(osprey: &Osprey, query: &str) -> Value {
    let answer = sql(osprey, query, "application/json").await;
    assert_eq!(answer.status, 200, "{query}: {}", answer.text());
    answer.json()
}

#[tokio::test]
async fn sql_over_spans_sent_with_the_sdk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let osprey = Osprey::start(
        &dir.path().join("data"),
        &[
            ("OSPREY_QUERY__SQL__TIMEOUT", "2s"),
            ("OSPREY_QUERY__SQL__MEMORY_BYTES", "2097152"),
            ("OSPREY_STORAGE__FLUSH__MAX_AGE", "1s"),
        ],
    )
    .await;
    send_all(&osprey).await;

    // Counts per service equal what was sent.
    let counts =
        ok_json(&osprey, "SELECT service_name, count(*) AS n FROM spans GROUP BY service_name ORDER BY service_name")
            .await;
    assert_eq!(counts["columns"], json!([{"name": "service_name", "type": "Utf8"}, {"name": "n", "type": "Int64"}]));
    let mut want: Vec<(String, u64)> = SENT.iter().map(|(s, t, n)| (s.to_string(), *t as u64 * n)).collect();
    want.sort();
    let got: Vec<(String, u64)> = counts["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| (r[0].as_str().expect("service").to_string(), r[1].as_u64().expect("count")))
        .collect();
    assert_eq!(got, want);
    assert_eq!(counts["row_count"], 3);
    assert!(counts["elapsed_ms"].as_f64().is_some());

    // One trace by id, and an attribute as text.
    let id = hex_trace(trace_id(0, 2));
    let trace = ok_json(
        &osprey,
        &format!("SELECT span_id, attributes['http.route'] AS route, start_time FROM spans WHERE trace_id = '{id}' ORDER BY span_id"),
    )
    .await;
    assert_eq!(trace["row_count"], 3);
    assert_eq!(trace["rows"][0][1], "/frontend/2");
    assert!(
        trace["rows"][0][2]
            .as_str()
            .expect("timestamp")
            .starts_with(&format!("{}.000000000", crate::sdk::epoch_text('T'))),
        "{trace}"
    );
    let routed = ok_json(&osprey, "SELECT count(*) FROM spans WHERE attributes['http.route'] = '/checkout/1'").await;
    assert_eq!(routed["rows"], json!([[2]]));

    // JSON, CSV and Arrow agree.
    let q = "SELECT service_name, count(*) AS n FROM spans GROUP BY service_name ORDER BY service_name";
    let csv = sql(&osprey, q, "text/csv").await;
    assert_eq!(csv.status, 200);
    assert!(csv.content_type.starts_with("text/csv"));
    let csv_rows: Vec<(String, u64)> = csv
        .text()
        .lines()
        .skip(1)
        .map(|l| {
            let (s, n) = l.split_once(',').expect("two columns");
            (s.to_string(), n.parse().expect("count"))
        })
        .collect();
    assert_eq!(csv.text().lines().next(), Some("service_name,n"));
    assert_eq!(csv_rows, want);
    let ipc = sql(&osprey, q, "application/vnd.apache.arrow.stream").await;
    assert_eq!(ipc.status, 200);
    assert_eq!(ipc.content_type, "application/vnd.apache.arrow.stream");
    let batches: Vec<RecordBatch> = StreamReader::try_new(ipc.body.as_slice(), None)
        .expect("IPC stream")
        .collect::<Result<_, _>>()
        .expect("batches");
    let mut arrow_rows = Vec::new();
    for b in &batches {
        for i in 0..b.num_rows() {
            let n = b.column(1).as_primitive::<Int64Type>().value(i);
            arrow_rows.push((b.column(0).as_string::<i32>().value(i).to_string(), n as u64));
        }
    }
    assert_eq!(arrow_rows, want);

    // EXPLAIN, SHOW, DESCRIBE.
    let explain = ok_json(&osprey, &format!("EXPLAIN SELECT * FROM spans WHERE trace_id = '{id}'")).await;
    assert!(explain["rows"].to_string().contains("trace_id"), "{explain}");
    assert!(ok_json(&osprey, "SHOW TABLES").await["rows"].to_string().contains("spans"));
    ok_json(&osprey, "DESCRIBE spans").await;

    bad_sql_gets_clear_errors(&osprey).await;
    the_cli_prints_a_table(&osprey);
}

async fn bad_sql_gets_clear_errors(osprey: &Osprey) {
    let five_thousand = format!("SELECT {}", vec!["1"; 5000].join(" + "));
    let cases: Vec<(String, u16, &str)> = vec![
        ("SELECT *\nFROM spans\nWHERE name = = 1".into(), 400, "Line: 3, Column: 14"),
        ("SELECT * FROM nope".into(), 400, "nope"),
        ("SELECT nope FROM spans".into(), 400, "nope"),
        ("CREATE TABLE t (a INT)".into(), 400, "CREATE TABLE is not allowed"),
        ("DROP TABLE spans".into(), 400, "DROP TABLE is not allowed"),
        ("INSERT INTO spans (name) VALUES ('x')".into(), 400, "INSERT is not allowed"),
        ("DELETE FROM spans".into(), 400, "DELETE is not allowed"),
        ("COPY spans TO '/tmp/osprey-e2e-copy.csv'".into(), 400, "COPY is not allowed"),
        ("CREATE EXTERNAL TABLE p STORED AS CSV LOCATION '/etc/passwd'".into(), 400, "CREATE EXTERNAL TABLE"),
        ("SET datafusion.execution.batch_size = 1".into(), 400, "SET is not allowed"),
        ("SELECT * FROM read_csv('/etc/passwd')".into(), 400, "read_csv"),
        ("SELECT * FROM '/etc/passwd'".into(), 400, "/etc/passwd"),
        ("SELECT 1; SELECT 2".into(), 400, "2 statements"),
        (five_thousand, 400, "nested more than"),
        (
            "SELECT s.name, g.value FROM spans s CROSS JOIN generate_series(1, 200000) g ORDER BY g.value DESC, s.name"
                .into(),
            422,
            "memory limit of 2097152 bytes",
        ),
        (
            "SELECT count(*) FROM generate_series(1, 10000) a CROSS JOIN generate_series(1, 100000000) b".into(),
            408,
            "time limit of 2000 ms",
        ),
    ];
    for (query, status, needle) in cases {
        let answer = sql(osprey, &query, "application/json").await;
        let short: String = query.chars().take(80).collect();
        assert_eq!(answer.status, status, "{short}: {}", answer.text());
        let message = answer.error();
        assert!(message.contains(needle), "{short}: {message:?} should mention {needle:?}");
    }
    assert!(std::fs::metadata("/tmp/osprey-e2e-copy.csv").is_err(), "COPY wrote nothing");
    // Still answering.
    let after = ok_json(osprey, "SELECT count(*) FROM spans").await;
    assert_eq!(after["rows"], json!([[12 + 6 + 2]]));
    let (status, _) = osprey.get_json("/healthz").await;
    assert_eq!(status, 200);
}

fn the_cli_prints_a_table(osprey: &Osprey) {
    let api = format!("http://{}", osprey.api);
    let out = Command::new(env!("CARGO_BIN_EXE_osprey"))
        .args(["sql", "SELECT service_name, count(*) AS n FROM spans GROUP BY 1 ORDER BY 1", "--api", &api])
        .output()
        .expect("run osprey sql");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("| service_name | n "), "{stdout}");
    assert!(stdout.contains("| checkout     | 6 "), "{stdout}");
    assert!(stdout.contains("(3 rows"), "{stdout}");

    let out = Command::new(env!("CARGO_BIN_EXE_osprey"))
        .args(["sql", "SELECT 1 AS one", "--api", &api, "--format", "csv"])
        .output()
        .expect("run osprey sql --format csv");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "one\n1\n");

    let out = Command::new(env!("CARGO_BIN_EXE_osprey"))
        .args(["sql", "DROP TABLE spans", "--api", &api])
        .output()
        .expect("run osprey sql with DDL");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("400") && stderr.contains("DROP TABLE is not allowed"), "{stderr}");
}
