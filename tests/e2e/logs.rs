//! Logs end to end: records built with the OpenTelemetry SDK (`SdkLogRecord`) and sent with
//! the official OTLP log exporters (gRPC, HTTP protobuf, HTTP JSON), found by `GET /api/v1/logs`
//! (terms, phrases, fields, boolean operators, trace ids, paging), joined to their trace, and
//! still found after `kill -9` and after the derived tantivy index is deleted.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::trace::{SpanId, SpanKind, TraceFlags, TraceId};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_otlp::{LogExporter, Protocol, WithExportConfig};
use opentelemetry_sdk::logs::{LogBatch, LogExporter as _, SdkLogRecord, SdkLoggerProvider};
use opentelemetry_sdk::Resource;
use serde_json::Value;

use crate::harness::Osprey;
use crate::sdk::{exporter, send, SpanSpec, Transport};

fn log_exporter(osprey: &Osprey, transport: Transport, service: &str) -> LogExporter {
    let mut exporter = match transport {
        Transport::Grpc => LogExporter::builder()
            .with_tonic()
            .with_endpoint(osprey.otlp_grpc())
            .with_timeout(Duration::from_secs(10))
            .build(),
        Transport::HttpProto | Transport::HttpJson => LogExporter::builder()
            .with_http()
            .with_protocol(if transport == Transport::HttpJson { Protocol::HttpJson } else { Protocol::HttpBinary })
            .with_endpoint(osprey.otlp_http("/v1/logs"))
            .with_timeout(Duration::from_secs(10))
            .build(),
    }
    .expect("build log exporter");
    exporter.set_resource(&Resource::builder_empty().with_service_name(service.to_string()).build());
    exporter
}

/// A log record as an instrumented service emits it (`body` text, severity, attributes,
/// optionally inside a span).
struct Line {
    body: &'static str,
    severity: Severity,
    severity_text: &'static str,
    attributes: Vec<(&'static str, AnyValue)>,
    span: Option<(u128, u64)>,
}

fn record(provider: &SdkLoggerProvider, line: &Line) -> SdkLogRecord {
    let mut r = provider.logger("e2e").create_log_record();
    // A log written inside a span carries a time within it; the others are "just now".
    r.set_timestamp(if line.span.is_some() { crate::sdk::epoch(5) } else { SystemTime::now() });
    r.set_observed_timestamp(SystemTime::now());
    r.set_severity_number(line.severity);
    r.set_severity_text(line.severity_text);
    r.set_body(AnyValue::from(line.body.to_string()));
    for (k, v) in &line.attributes {
        r.add_attribute(*k, v.clone());
    }
    if let Some((trace, span)) = line.span {
        r.set_trace_context(TraceId::from(trace), SpanId::from(span), Some(TraceFlags::SAMPLED));
    }
    r
}

async fn send_logs(exporter: &LogExporter, records: &[SdkLogRecord]) -> Result<(), String> {
    let scope = InstrumentationScope::builder("e2e-logs").build();
    let data: Vec<(&SdkLogRecord, &InstrumentationScope)> = records.iter().map(|r| (r, &scope)).collect();
    exporter.export(LogBatch::new(&data)).await.map_err(|e| e.to_string())
}

async fn search(osprey: &Osprey, q: &str, extra: &str) -> Value {
    let q: String = q
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect();
    // From 2023 on: the logs written inside the test's span are stamped with its (fixed) time.
    let (status, body) = osprey.get_json(&format!("/api/v1/logs?q={q}&start=1700000000{extra}")).await;
    assert_eq!(status, 200, "{q}: {body}");
    body
}

fn bodies(body: &Value) -> Vec<String> {
    body["hits"].as_array().into_iter().flatten().map(|h| h["body"].as_str().unwrap_or("").to_string()).collect()
}

const TRACE: u128 = 0x5b8efff798038103d269b633813fc60c;

#[tokio::test]
async fn sdk_logs_are_searchable_and_joined_to_their_trace() {
    let dir = tempfile::tempdir().expect("tempdir");
    let osprey = Osprey::start(&dir.path().join("data"), &[]).await;
    let provider = SdkLoggerProvider::builder().build();

    // The trace the payment logs belong to.
    let root = SpanSpec {
        trace: TRACE,
        span: 0xa1,
        parent: 0,
        name: "POST /charge",
        kind: SpanKind::Server,
        start_ms: 0,
        end_ms: 30,
        error: true,
        attributes: vec![KeyValue::new("http.route", "/charge")],
    };
    send(&exporter(&osprey, Transport::Grpc, "payment"), vec![root.build()]).await.expect("span acked");

    let in_span = Some((TRACE, 0xa1));
    let payment = [
        Line {
            body: "card_expired for ORD-00010 user=ann",
            severity: Severity::Error,
            severity_text: "ERROR",
            attributes: vec![("order.id", AnyValue::from("ORD-00010".to_string()))],
            span: in_span,
        },
        Line {
            body: "charged order_id=42 amount=12.50 EUR",
            severity: Severity::Info,
            severity_text: "INFO",
            attributes: vec![("order.id", AnyValue::from("ORD-00042".to_string()))],
            span: in_span,
        },
        Line {
            body: "Payment service degraded: retry budget exhausted",
            severity: Severity::Warn,
            severity_text: "WARN",
            attributes: vec![("attempt", AnyValue::Int(3))],
            span: in_span,
        },
    ];
    let checkout = [
        Line {
            body: "GET /api/cart/items from 10.0.12.1 took 12ms",
            severity: Severity::Info,
            severity_text: "INFO",
            attributes: vec![],
            span: None,
        },
        Line {
            body: "getUserById failed: Größe ungültig",
            severity: Severity::Error,
            severity_text: "ERROR",
            attributes: vec![],
            span: None,
        },
    ];
    let frontend = [Line {
        body: "request 6f1c2a9e-3b4d-4e5f-9a0b-1c2d3e4f5a6b done",
        severity: Severity::Debug,
        severity_text: "DEBUG",
        attributes: vec![],
        span: None,
    }];
    // One service per transport: all three encodings land the same way.
    for (transport, service, lines) in [
        (Transport::Grpc, "payment", &payment[..]),
        (Transport::HttpProto, "checkout", &checkout[..]),
        (Transport::HttpJson, "frontend", &frontend[..]),
    ] {
        let records: Vec<SdkLogRecord> = lines.iter().map(|l| record(&provider, l)).collect();
        send_logs(&log_exporter(&osprey, transport, service), &records).await.expect("logs acked");
    }

    // Just acknowledged, still in the memtable: found at once.
    let cases: [(&str, &[&str]); 8] = [
        ("ORD-00010", &["card_expired for ORD-00010 user=ann"]),
        ("\"retry budget\"", &["Payment service degraded: retry budget exhausted"]),
        ("service:checkout AND severity:error", &["getUserById failed: Größe ungültig"]),
        (
            "getuserbyid OR 6f1c2a9e-3b4d-4e5f-9a0b-1c2d3e4f5a6b",
            &["request 6f1c2a9e-3b4d-4e5f-9a0b-1c2d3e4f5a6b done", "getUserById failed: Größe ungültig"],
        ),
        ("order.id:ORD-00042", &["charged order_id=42 amount=12.50 EUR"]),
        ("10.0.12.1", &["GET /api/cart/items from 10.0.12.1 took 12ms"]),
        ("größe", &["getUserById failed: Größe ungültig"]),
        (
            "service:payment AND NOT severity:info",
            &["Payment service degraded: retry budget exhausted", "card_expired for ORD-00010 user=ann"],
        ),
    ];
    for (q, want) in cases {
        let body = search(&osprey, q, "").await;
        let mut got = bodies(&body);
        let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        got.sort();
        want.sort();
        assert_eq!(got, want, "{q}");
        assert_eq!(body["total"], want.len(), "{q}");
    }

    // From the trace to its logs, and from a log hit to its trace.
    let trace_hex = format!("{TRACE:032x}");
    let body = search(&osprey, &format!("trace_id:{trace_hex}"), "").await;
    assert_eq!(body["total"], 3, "{body}");
    for hit in body["hits"].as_array().expect("hits") {
        assert_eq!(hit["trace_id"], trace_hex.as_str());
        assert_eq!(hit["span_id"], format!("{:016x}", 0xa1));
        assert_eq!(hit["service_name"], "payment");
    }
    let (status, waterfall) = osprey.get_json(&format!("/api/v1/traces/{trace_hex}")).await;
    assert_eq!(status, 200, "{waterfall}");
    assert_eq!(waterfall["root_service"], "payment");
    assert_eq!(waterfall["spans"][0]["log_count"], 3, "the waterfall counts the span's logs: {waterfall}");

    // Paging: every log once, newest first, the same pages on every call.
    let all = search(&osprey, "", "&limit=100").await;
    assert_eq!(all["total"], 6);
    let mut paged = Vec::new();
    for offset in [0, 4] {
        paged.extend(bodies(&search(&osprey, "", &format!("&limit=4&offset={offset}")).await));
    }
    assert_eq!(paged, bodies(&all));
    assert_eq!(bodies(&search(&osprey, "", "&limit=4").await), bodies(&search(&osprey, "", "&limit=4").await));

    // A malformed query is a 400 that points at the problem, never a 500.
    for bad in ["(card AND", "service:", "\"unclosed phrase"] {
        let q: String = bad.bytes().map(|b| format!("%{b:02X}")).collect();
        let (status, body) = osprey.get_json(&format!("/api/v1/logs?q={q}&start=1700000000")).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["error"].as_str().unwrap_or("").contains("position"), "{bad}: {body}");
    }
}

const LOGS_PER_BATCH: usize = 20;

#[tokio::test]
async fn acknowledged_logs_survive_kill_9_and_a_lost_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Small memtables so flushes (and index builds) run while we kill.
    let mut osprey = Osprey::start(&dir.path().join("data"), &[("OSPREY_STORAGE__FLUSH__MAX_BYTES", "200000")]).await;
    let acked: Arc<Mutex<Vec<usize>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let (exporter, acked, stop) = (log_exporter(&osprey, Transport::Grpc, "crashy"), acked.clone(), stop.clone());
        tokio::spawn(async move {
            let provider = SdkLoggerProvider::builder().build();
            for n in 0usize.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let records: Vec<SdkLogRecord> = (0..LOGS_PER_BATCH)
                    .map(|i| {
                        let line = Line {
                            body: "order accepted for checkout after fraud screening passed",
                            severity: Severity::Info,
                            severity_text: "INFO",
                            attributes: vec![
                                ("batch", AnyValue::from(format!("b{n}"))),
                                ("i", AnyValue::Int(i as i64)),
                            ],
                            span: None,
                        };
                        record(&provider, &line)
                    })
                    .collect();
                match send_logs(&exporter, &records).await {
                    Ok(()) => acked.lock().expect("lock").push(n),
                    Err(_) => break, // the server is gone: this batch may or may not have landed
                }
            }
        })
    };
    while acked.lock().expect("lock").len() < 150 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    osprey.kill9();
    stop.store(true, Ordering::Relaxed);
    let _ = tokio::time::timeout(Duration::from_secs(60), sender).await;
    let acked = acked.lock().expect("lock").clone();
    let index_dir = osprey.data_dir.join("log_index");
    assert!(index_dir.exists(), "flushes built log indexes before the kill");

    osprey.restart().await;
    let check = |osprey_total: Value, n: usize| assert_eq!(osprey_total, LOGS_PER_BATCH, "batch b{n}");
    for n in &acked {
        check(search(&osprey, &format!("batch:b{n}"), "&limit=1").await["total"].clone(), *n);
    }
    let total = search(&osprey, "fraud", "&limit=1").await["total"].as_u64().unwrap_or(0) as usize;
    assert!(total >= acked.len() * LOGS_PER_BATCH, "{total} < {}", acked.len() * LOGS_PER_BATCH);
    assert_eq!(total % LOGS_PER_BATCH, 0, "a request lands whole or not at all: {total}");

    // `osprey index rebuild` refuses while Osprey runs (one process per data directory)...
    let data_dir = osprey.data_dir.clone();
    let rebuild = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_osprey"))
            .args(["index", "rebuild", "--data-dir"])
            .arg(&data_dir)
            .output()
            .expect("run osprey index rebuild")
    };
    let refused = rebuild();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("in use by another Osprey process"), "{refused:?}");
    // ...and recreates every index from Parquet once it is stopped.
    osprey.kill9();
    let done = rebuild();
    assert!(done.status.success(), "{done:?}");
    assert!(String::from_utf8_lossy(&done.stdout).contains("rebuilt the log index of"), "{done:?}");
    osprey.restart().await;
    for n in acked.iter().step_by(5) {
        check(search(&osprey, &format!("batch:b{n}"), "&limit=1").await["total"].clone(), *n);
    }

    // The index is derived: delete it while stopped, and search answers the same after start.
    osprey.kill9();
    std::fs::remove_dir_all(&index_dir).expect("remove the log index");
    osprey.restart().await;
    for n in acked.iter().step_by(7) {
        check(search(&osprey, &format!("batch:b{n}"), "&limit=1").await["total"].clone(), *n);
    }
    assert_eq!(search(&osprey, "fraud", "&limit=1").await["total"], total);
}

/// Bad input on the logs path: what is cut is counted, what is refused is a clear 400, and
/// logs accepted before are still there.
#[tokio::test]
async fn bad_logs_are_cut_or_refused_and_accepted_ones_stay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let osprey = Osprey::start(&dir.path().join("data"), &[]).await;
    let provider = SdkLoggerProvider::builder().build();
    let plain = |body: &'static str| Line {
        body,
        severity: Severity::Info,
        severity_text: "INFO",
        attributes: vec![],
        span: None,
    };
    let proto = log_exporter(&osprey, Transport::HttpProto, "bad-input");
    send_logs(&proto, &[record(&provider, &plain("accepted before the bad ones"))]).await.expect("ack");

    // A 10 MB body: accepted, cut to `limits.max_log_body_bytes` (1 MiB), counted.
    let mut huge = record(&provider, &plain(""));
    huge.set_body(AnyValue::from(format!("hugebody {}", "x".repeat(10 << 20))));
    send_logs(&proto, &[huge]).await.expect("a 10 MB body is accepted, truncated");
    assert_eq!(osprey.metric("osprey_limited_values_total").await, 1.0);
    let body = search(&osprey, "hugebody", "").await;
    assert_eq!(body["total"], 1);
    assert_eq!(body["hits"][0]["body"].as_str().map(str::len), Some(1 << 20));

    // A kvlist body nested 20 deep: accepted whole, searchable as JSON text.
    let nest = |levels: usize| {
        let mut v = AnyValue::from("deepleaf".to_string());
        for i in 0..levels {
            v = AnyValue::Map(Box::new([(opentelemetry::Key::from(format!("k{i}")), v)].into_iter().collect()));
        }
        v
    };
    let mut nested = record(&provider, &plain(""));
    nested.set_body(nest(20));
    send_logs(&proto, &[nested]).await.expect("a 20-deep body is accepted");
    let body = search(&osprey, "deepleaf", "").await;
    assert_eq!(body["total"], 1, "{body}");
    assert!(body["hits"][0]["body"].as_str().unwrap_or("").starts_with("{\"k19\":{\"k18\":"), "{body}");
    // 150 deep is past the decoders' recursion limits (prost's 100 messages, serde_json's 128
    // levels): the request is refused whole with a 400 over both encodings, never a crash.
    for transport in [Transport::HttpProto, Transport::HttpJson] {
        let mut nested = record(&provider, &plain(""));
        nested.set_body(nest(150));
        let refused = send_logs(&log_exporter(&osprey, transport, "bad-input"), &[nested]).await;
        assert!(refused.as_ref().is_err_and(|e| e.contains("400")), "{transport:?}: {refused:?}");
    }

    // Invalid UTF-8 in a protobuf string (a log body of bytes ff fe): 400, nothing stored.
    let body: Vec<u8> = vec![0x0A, 0x0A, 0x12, 0x08, 0x12, 0x06, 0x2A, 0x04, 0x0A, 0x02, 0xFF, 0xFE];
    let r = reqwest::Client::new()
        .post(osprey.otlp_http("/v1/logs"))
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status().as_u16(), 400);

    // Everything accepted is there; the refused ones are not.
    let all = search(&osprey, "", "").await;
    assert_eq!(all["total"], 3, "{all}");
    assert_eq!(search(&osprey, "accepted", "").await["total"], 1);
}
