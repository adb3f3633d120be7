//! kill -9 in the middle of ingest (and of flushes): every acknowledged span is
//! there after restart, exactly once, and nothing appears that was never sent.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::trace::SpanKind;
use opentelemetry::KeyValue;

use crate::harness::Osprey;
use crate::sdk::{exporter, hex_trace, send, SpanSpec, Transport};

const SPANS_PER_BATCH: u64 = 40;
const SENDERS: u128 = 4;

/// One batch = one trace: a root and its children.
fn batch(trace: u128) -> Vec<opentelemetry_sdk::trace::SpanData> {
    (0..SPANS_PER_BATCH)
        .map(|i| {
            SpanSpec {
                trace,
                span: i + 1,
                parent: if i == 0 { 0 } else { 1 },
                name: if i == 0 { "root" } else { "child" },
                kind: if i == 0 { SpanKind::Server } else { SpanKind::Internal },
                start_ms: i,
                end_ms: if i == 0 { 2_000 } else { 1_000 + i },
                error: false,
                attributes: vec![KeyValue::new("batch.trace", format!("{trace:x}")), KeyValue::new("i", i as i64)],
            }
            .build()
        })
        .collect()
}

#[tokio::test]
async fn acknowledged_spans_survive_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Small memtables so flushes run while we kill.
    let mut osprey = Osprey::start(&dir.path().join("data"), &[("OSPREY_STORAGE__FLUSH__MAX_BYTES", "300000")]).await;

    let acked: Arc<Mutex<Vec<u128>>> = Arc::default();
    let unacked: Arc<Mutex<Vec<u128>>> = Arc::default();
    let sent = Arc::new(AtomicUsize::new(0));
    let mut round_acked = Vec::new();
    for round in 0..2u128 {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut tasks = Vec::new();
        for sender in 0..SENDERS {
            let exporter = exporter(&osprey, Transport::Grpc, "crash-test");
            let (acked, unacked, sent, stop) = (acked.clone(), unacked.clone(), sent.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                for n in 0u128.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    // Trace ids: round, sender, sequence — unique and never zero.
                    let trace = (round + 1) << 96 | (sender + 1) << 64 | (n + 1);
                    sent.fetch_add(1, Ordering::Relaxed);
                    match send(&exporter, batch(trace)).await {
                        Ok(()) => acked.lock().expect("lock").push(trace),
                        Err(_) => {
                            // The server is gone: this batch may or may not have landed.
                            unacked.lock().expect("lock").push(trace);
                            break;
                        }
                    }
                }
            }));
        }
        // Kill once enough batches were acknowledged, while the senders keep going.
        let target = (round as usize + 1) * 60;
        loop {
            let done = acked.lock().expect("lock").len();
            if done >= target {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        osprey.kill9();
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(60), t).await;
        }
        round_acked.push(acked.lock().expect("lock").len());
        osprey.restart().await;
    }

    let acked = acked.lock().expect("lock").clone();
    assert!(acked.len() >= 120, "acked {}", acked.len());
    for trace in &acked {
        let (status, w) = osprey.get_json(&format!("/api/v1/traces/{}", hex_trace(*trace))).await;
        assert_eq!(status, 200, "acknowledged trace {trace:x} lost after kill -9 (rounds acked {round_acked:?})");
        assert_eq!(w["span_count"], SPANS_PER_BATCH, "trace {trace:x}: {}", w["warnings"]);
        assert_eq!(w["warnings"], serde_json::json!([]), "trace {trace:x} has duplicates or orphans");
    }
    // Sent but not acknowledged: absent, or whole (a request is one WAL frame).
    let unacked: Vec<u128> = unacked.lock().expect("lock").clone();
    for trace in &unacked {
        let (status, w) = osprey.get_json(&format!("/api/v1/traces/{}", hex_trace(*trace))).await;
        assert!(status == 404 || w["span_count"] == SPANS_PER_BATCH, "unacked trace {trace:x}: {status} {w}");
    }
    // Flushes ran while we killed: Parquet files exist.
    let parquet_files = walk(&osprey.data_dir.join("spans")).iter().filter(|p| p.ends_with(".parquet")).count();
    assert!(parquet_files > 0, "expected flushes during the test");
    // Never sent: absent.
    for never in [(9u128 << 96) | 1, (1u128 << 96) | (1 << 64) | 1_000_000] {
        let (status, _) = osprey.get_json(&format!("/api/v1/traces/{}", hex_trace(never))).await;
        assert_eq!(status, 404);
    }
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path.display().to_string());
        }
    }
    out
}

/// Metrics, whose WAL frames hold the requests as received and are converted again on replay
/// (`collector::replay`): kill -9 in the middle of ingest and of flushes, twice, and every
/// acknowledged point is there after the restart, exactly once.
#[tokio::test]
async fn acknowledged_metric_points_survive_kill_9() {
    use osprey_proto::common::{any_value, AnyValue, KeyValue as Kv};
    use osprey_proto::metrics::{
        metric, number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
    };
    use osprey_proto::metrics_service_client::MetricsServiceClient;
    use osprey_proto::resource::Resource;
    use osprey_proto::ExportMetricsServiceRequest;

    const POINTS: u64 = 50;
    let text = |key: &str, value: String| Kv {
        key: key.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value)) }),
        ..Default::default()
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos() as u64;
    let request = move |id: u64| ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![text("service.name", "crash-metrics".into())],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "crash.points".into(),
                    data: Some(metric::Data::Gauge(Gauge {
                        data_points: (0..POINTS)
                            .map(|i| NumberDataPoint {
                                time_unix_nano: now + i,
                                value: Some(number_data_point::Value::AsInt(i as i64)),
                                attributes: vec![text("req", id.to_string()), text("i", i.to_string())],
                                ..Default::default()
                            })
                            .collect(),
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };

    let dir = tempfile::tempdir().expect("tempdir");
    let mut osprey = Osprey::start(&dir.path().join("data"), &[("OSPREY_STORAGE__FLUSH__MAX_BYTES", "300000")]).await;
    let acked: Arc<Mutex<Vec<u64>>> = Arc::default();
    let unacked: Arc<Mutex<Vec<u64>>> = Arc::default();
    for round in 0..2u64 {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut tasks = Vec::new();
        for sender in 0..SENDERS as u64 {
            let mut client = MetricsServiceClient::connect(osprey.otlp_grpc()).await.expect("connect");
            let (acked, unacked, stop) = (acked.clone(), unacked.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                for n in 0u64.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let id = (round << 40) | (sender << 32) | n;
                    match client.export(request(id)).await {
                        Ok(_) => acked.lock().expect("lock").push(id),
                        Err(_) => {
                            unacked.lock().expect("lock").push(id);
                            break;
                        }
                    }
                }
            }));
        }
        let target = (round as usize + 1) * 150;
        while acked.lock().expect("lock").len() < target {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        osprey.kill9();
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(60), t).await;
        }
        osprey.restart().await;
    }

    let answer = crate::sql::ok_json(
        &osprey,
        "SELECT attributes['req'] AS req, count(*) AS n, count(DISTINCT attributes['i']) AS i \
         FROM metrics WHERE metric_name = 'crash.points' GROUP BY 1",
    )
    .await;
    let stored: std::collections::HashMap<u64, (u64, u64)> = answer["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            let id = r[0].as_str().and_then(|s| s.parse().ok()).expect("req");
            (id, (r[1].as_u64().expect("n"), r[2].as_u64().expect("i")))
        })
        .collect();
    let acked = acked.lock().expect("lock").clone();
    assert!(acked.len() >= 300, "acked {}", acked.len());
    for id in &acked {
        assert_eq!(stored.get(id), Some(&(POINTS, POINTS)), "acknowledged request {id:x} after kill -9");
    }
    // Sent but not acknowledged: absent, or whole (a request is one WAL frame).
    let unacked = unacked.lock().expect("lock").clone();
    for id in &unacked {
        assert!(
            matches!(stored.get(id), None | Some(&(POINTS, POINTS))),
            "unacked request {id:x}: {:?}",
            stored.get(id)
        );
    }
    assert_eq!(stored.len(), acked.len() + unacked.iter().filter(|id| stored.contains_key(id)).count());
    let parquet_files = walk(&osprey.data_dir.join("metrics")).iter().filter(|p| p.ends_with(".parquet")).count();
    assert!(parquet_files > 0, "expected flushes during the test");
}
