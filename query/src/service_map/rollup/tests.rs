//! Cross-check: the map from the pre-aggregated tables equals the exact recomputation
//! from raw spans, with every service's spans in its own "flush" so that nearly every
//! edge goes through storage's late join (and the peer / joined reconciliation).

use std::sync::Arc;

use arrow::array::RecordBatch;
use datafusion::datasource::MemTable;
use osprey_storage::rollup::late_join::LateJoin;
use osprey_storage::Table;

use super::super::tests::{checkout_spans, MS, SEC, TRACE_1, TRACE_2};
use super::super::{compute as exact, service_map, ServiceMap, Window};
use crate::test_support::{batch, Span, T0};
use crate::{QueryConfig, QueryService};

/// Each batch is one flush: the derived tables get the rows each flush would write.
fn service_with_rollups(flushes: Vec<RecordBatch>) -> QueryService {
    let table = |t: Table, batches: Vec<RecordBatch>| -> Arc<dyn datafusion::catalog::TableProvider> {
        let partitions = if batches.is_empty() { vec![vec![]] } else { batches.into_iter().map(|b| vec![b]).collect() };
        Arc::new(MemTable::try_new(t.schema(), partitions).expect("memtable"))
    };
    let red = flushes.iter().flat_map(|f| Table::ServiceRed.derive(std::slice::from_ref(f)).expect("derive")).collect();
    let mut late_join = LateJoin::default();
    let edges = flushes.iter().flat_map(|f| late_join.flush(std::slice::from_ref(f)).expect("derive")).collect();
    let tables = vec![
        (Table::ServiceRed, table(Table::ServiceRed, red)),
        (Table::ServiceEdges, table(Table::ServiceEdges, edges)),
        (Table::Spans, table(Table::Spans, flushes.clone())),
    ];
    QueryService::with_tables(tables, QueryConfig::default()).expect("service")
}

/// Two checkouts (identical latencies, so every percentile is a single value), their
/// spans split into one flush per service: parents and children in different flushes.
fn flushes_by_service() -> Vec<RecordBatch> {
    let traces = [(TRACE_1, checkout_spans(0, 10, false, 2)), (TRACE_2, checkout_spans(SEC, 10, true, 2))];
    ["frontend", "checkout", "payment", "shipping"]
        .iter()
        .flat_map(|service| {
            traces.iter().map(move |(trace, spans)| {
                let mine: Vec<Span> = spans.iter().filter(|s| s.service == *service).cloned().collect();
                batch(trace, &mine)
            })
        })
        .collect()
}

fn assert_same(buckets: &ServiceMap, exact: &ServiceMap) {
    let shape = |m: &ServiceMap| -> Vec<(String, String, String, i64, i64)> {
        m.edges
            .iter()
            .map(|e| (e.source.clone(), e.target.clone(), e.kind.clone(), e.call_count, e.error_count))
            .collect()
    };
    assert_eq!(shape(buckets), shape(exact));
    let nodes = |m: &ServiceMap| -> Vec<(String, String, i64, i64)> {
        m.nodes.iter().map(|n| (n.service.clone(), n.kind.clone(), n.request_count, n.error_count)).collect()
    };
    assert_eq!(nodes(buckets), nodes(exact));
    // DDSketch: within 1% relative (the values are single-valued here).
    let close = |a: Option<i64>, b: Option<i64>| match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() as f64 <= 0.01 * b as f64,
        (a, b) => a == b,
    };
    for (b, e) in buckets.edges.iter().zip(&exact.edges) {
        assert!(close(b.p50_ns, e.p50_ns) && close(b.p95_ns, e.p95_ns) && close(b.p99_ns, e.p99_ns), "{b:?} vs {e:?}");
    }
    for (b, e) in buckets.nodes.iter().zip(&exact.nodes) {
        assert!(close(b.p50_ns, e.p50_ns) && close(b.p99_ns, e.p99_ns), "{b:?} vs {e:?}");
    }
}

#[tokio::test]
async fn buckets_equal_the_exact_recomputation() {
    let service = service_with_rollups(flushes_by_service());
    let ctx = service.context();
    let minute = T0 - T0.rem_euclid(60 * SEC);
    for (start, end) in [
        // Exactly one bucket: everything from the derived tables.
        (minute, minute + 60 * SEC),
        // Ragged head and tail around it (raw), plus the bucket.
        (minute - 30 * SEC, minute + 100 * SEC),
        // Cutting checkout 1 at 25 ms: the first 15 s are raw, the minute after from buckets.
        (T0 + 25 * MS, minute + 120 * SEC),
        // No whole minute: the exact plan.
        (T0 + 25 * MS, T0 + 30 * SEC),
    ] {
        let window = Window::new(start, end).expect("window");
        let buckets = service_map(ctx, window, None, false).await.expect("from buckets");
        let exact = exact(ctx, window, None).await.expect("exact");
        assert_same(&buckets, &exact);
    }

    let whole = Window::new(minute, minute + 60 * SEC).expect("window");
    assert!(super::available(ctx).await);
    let map = super::compute(ctx, whole).await.expect("map").expect("a whole minute is read from the buckets");
    assert!(super::compute(ctx, Window::new(minute, minute + 59 * SEC).expect("w")).await.expect("map").is_none());
    // A bound inside a microsecond: the single rows' start times cannot tell, so the exact plan.
    let ragged = Window::new(minute - 30 * SEC + 1, minute + 100 * SEC).expect("w");
    assert!(super::compute(ctx, ragged).await.expect("map").is_none());
    assert_eq!(map.edges.len(), 5, "{map:?}");
    assert!(map.edges.iter().all(|e| e.call_count == 2), "{map:?}");
    let payment = map.edges.iter().find(|e| e.target == "payment").expect("payment edge");
    assert_eq!((payment.kind.as_str(), payment.error_count), ("grpc", 1));
    // The gRPC client span names `server.address`, but its child came in another flush.
    assert!(map.nodes.iter().all(|n| n.service != "payment:50051"), "{map:?}");
    let focus = service_map(ctx, whole, Some("shipping"), false).await.expect("neighbourhood");
    assert_eq!(focus.edges.len(), 1);
}

#[tokio::test]
async fn the_same_spans_in_one_flush_give_the_same_map() {
    let one_flush: Vec<RecordBatch> =
        vec![batch(TRACE_1, &checkout_spans(0, 10, false, 2)), batch(TRACE_2, &checkout_spans(SEC, 10, true, 2))];
    let minute = T0 - T0.rem_euclid(60 * SEC);
    let window = Window::new(minute, minute + 60 * SEC).expect("window");
    let split = service_with_rollups(flushes_by_service());
    let together = service_with_rollups(one_flush);
    let a = service_map(split.context(), window, None, false).await.expect("split");
    let b = service_map(together.context(), window, None, false).await.expect("together");
    assert_eq!(a, b);
}

#[tokio::test]
async fn red_series_from_buckets_equal_the_raw_series() {
    use super::super::red::series;
    let service = service_with_rollups(flushes_by_service());
    let ctx = service.context();
    let minute = T0 - T0.rem_euclid(60 * SEC);
    let window = Window::new(minute - 60 * SEC, minute + 120 * SEC).expect("window");
    // Span names are the short ids of `checkout_spans`: "c0" is checkout's server span.
    for (name, op) in [("payment", None), ("checkout", Some("c0")), ("checkout", Some("nope"))] {
        let buckets = series(ctx, window, 60 * SEC, name, op, false).await.expect("buckets");
        let raw = series(ctx, window, 60 * SEC, name, op, true).await.expect("raw");
        assert_eq!(buckets.buckets.len(), 3);
        let counts = |s: &super::super::red::RedSeries| -> Vec<(i64, i64, i64)> {
            s.buckets.iter().map(|b| (b.time_unix_nano, b.request_count, b.error_count)).collect()
        };
        assert_eq!(counts(&buckets), counts(&raw), "{name} {op:?}");
        for (b, r) in buckets.buckets.iter().zip(&raw.buckets) {
            match (b.p50_ns, r.p50_ns) {
                (Some(b), Some(r)) => assert!((b - r).abs() as f64 <= 0.01 * r as f64, "{b} vs {r}"),
                (b, r) => assert_eq!(b, r),
            }
        }
    }
    let payment = series(ctx, window, 60 * SEC, "payment", None, false).await.expect("payment");
    assert_eq!((payment.buckets[1].request_count, payment.buckets[1].error_count), (2, 1));
    let c0 = series(ctx, window, 60 * SEC, "checkout", Some("c0"), false).await.expect("c0");
    assert_eq!(c0.buckets.iter().map(|b| b.request_count).collect::<Vec<_>>(), [0, 2, 0]);
}

#[tokio::test]
async fn a_peer_named_with_and_without_db_system_is_one_database_node() {
    use osprey_storage::attributes::AttrRef;
    let call = |id: &'static str, attrs: Vec<(&'static str, AttrRef<'static>)>, start: i64| Span {
        kind: 3,
        attributes: attrs,
        ..crate::test_support::span(id, "00000000000000a0", "api", start, start + 5 * MS)
    };
    let root = Span { kind: 2, ..crate::test_support::span("00000000000000a0", "", "api", 0, 100 * MS) };
    let spans = vec![
        root,
        call("00000000000000a1", vec![("peer.service", AttrRef::Str("pg"))], MS),
        call(
            "00000000000000a2",
            vec![("peer.service", AttrRef::Str("pg")), ("db.system", AttrRef::Str("postgresql"))],
            2 * MS,
        ),
    ];
    let service = service_with_rollups(vec![batch(TRACE_1, &spans)]);
    let minute = T0 - T0.rem_euclid(60 * SEC);
    let window = Window::new(minute, minute + 60 * SEC).expect("window");
    let buckets = service_map(service.context(), window, None, false).await.expect("buckets");
    let exact = exact(service.context(), window, None).await.expect("exact");
    assert_same(&buckets, &exact);
    let pg = exact.nodes.iter().find(|n| n.service == "pg").expect("pg node");
    assert_eq!((pg.kind.as_str(), pg.request_count), ("database", 2));
    let kinds: Vec<&str> = exact.edges.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["database", "external"]);
}
