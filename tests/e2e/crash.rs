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
