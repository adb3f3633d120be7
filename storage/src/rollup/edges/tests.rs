use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::Int64Type;

use super::*;
use crate::attributes::AttrRef;
use crate::spans::{SpanRecord, SpanScope, SpansBuilder};
use crate::testdata::T0;

/// (span, parent, service, kind, start ms, duration ms, error, attributes); ids are
/// one byte, repeated.
type Spec = (u8, u8, &'static str, i32, i64, i64, bool, Vec<(&'static str, AttrRef<'static>)>);

/// `span_key` of trace 1, span 2 since the column was introduced.
const GOLDEN: i64 = -1_211_274_664_761_577_749;

fn spans(specs: Vec<Spec>) -> RecordBatch {
    let trace = [9u8; 16];
    let mut builder = SpansBuilder::new();
    for (id, parent, service, kind, start_ms, duration_ms, error, attributes) in specs {
        let (id, parent_id) = ([id; 8], [parent; 8]);
        let scope = SpanScope { service_name: service, ..Default::default() };
        let start = T0 + start_ms * 1_000_000;
        let record = SpanRecord {
            trace_id: &trace,
            span_id: &id,
            parent_span_id: if parent == 0 { &[] } else { &parent_id },
            name: "op",
            kind,
            start_time_unix_nano: start,
            end_time_unix_nano: start + duration_ms * 1_000_000,
            status_code: if error { 2 } else { 0 },
            attributes,
            ..Default::default()
        };
        builder.append(&scope, &record).expect("append");
    }
    builder.finish().expect("finish")
}

/// (row_kind, source, target, kind, calls, errors) of every row.
fn rows(batch: &RecordBatch) -> Vec<(String, String, String, String, i64, i64)> {
    let text = |name: &str| batch.column_by_name(name).expect(name).as_string::<i32>().clone();
    let (row_kind, source, target, kind) = (text("row_kind"), text("source"), text("target"), text("kind"));
    let calls = batch.column_by_name("call_count").expect("calls").as_primitive::<Int64Type>().clone();
    let errors = batch.column_by_name("error_count").expect("errors").as_primitive::<Int64Type>().clone();
    (0..batch.num_rows())
        .map(|i| {
            let opt =
                |a: &arrow::array::StringArray| if a.is_null(i) { "-".to_string() } else { a.value(i).to_string() };
            (opt(&row_kind), opt(&source), opt(&target), opt(&kind), calls.value(i), errors.value(i))
        })
        .collect()
}

fn row(k: &str, s: &str, t: &str, kind: &str, calls: i64, errors: i64) -> (String, String, String, String, i64, i64) {
    (k.into(), s.into(), t.into(), kind.into(), calls, errors)
}

#[test]
fn one_flush_resolves_what_it_holds_and_records_the_rest() {
    let http = || vec![("http.request.method", AttrRef::Str("GET"))];
    let batch = spans(vec![
        (1, 0, "frontend", 2, 0, 100, false, http()),
        (2, 1, "frontend", 3, 10, 80, false, http()),
        (3, 2, "checkout", 2, 20, 60, true, vec![]),
        // Its parent (04 04 …) is in another flush: pending.
        (5, 4, "payment", 2, 30, 10, false, vec![("rpc.system", AttrRef::Str("grpc"))]),
        // A database call with no child: peer.
        (6, 3, "checkout", 3, 40, 5, false, vec![("db.system", AttrRef::Str("postgresql"))]),
        // peer.service but its child is here: no peer row; the child makes an edge.
        (7, 3, "checkout", 3, 50, 5, false, vec![("peer.service", AttrRef::Str("cart"))]),
        (8, 7, "cart", 2, 51, 3, false, vec![]),
        // Same service: no edge.
        (9, 3, "checkout", 1, 55, 1, false, vec![]),
    ]);
    let out =
        arrow::compute::concat_batches(&edges_schema(), &derive_edges(&[batch]).expect("derive")).expect("concat");
    let mut got = rows(&out);
    got.sort();
    assert_eq!(
        got,
        vec![
            // Each call of the edge rows once more, alone, with its exact start.
            row("call", "checkout", "cart", "other", 1, 0),
            row("call", "frontend", "checkout", "http", 1, 1),
            // Every client span is an open side; the ones with a child here are marked (1).
            row("caller", "checkout", "checkout", "-", 1, 0),
            row("caller", "checkout", "checkout", "database", 0, 0),
            row("caller", "frontend", "frontend", "http", 1, 0),
            row("edge", "checkout", "cart", "other", 1, 0),
            row("edge", "frontend", "checkout", "http", 1, 1),
            row("peer", "checkout", "postgresql", "database", 1, 0),
            row("pending", "-", "payment", "-", 1, 0),
            // The other server spans, alone: the node side of windows shorter than a minute
            // (cart's and checkout's are counted by their `call` rows).
            row("request", "-", "frontend", "server", 1, 0),
            row("request", "-", "payment", "server", 1, 0),
        ]
    );
    let hint = out.column_by_name("callee_hint").expect("hint").as_string::<i32>();
    let key = out.column_by_name("span_key").expect("span_key").as_primitive::<Int64Type>();
    let pending = (0..out.num_rows()).find(|i| rows(&out)[*i].0 == "pending").expect("pending row");
    let parent = span_key(&"09".repeat(16), "0404040404040404");
    assert_eq!((hint.value(pending), Some(key.value(pending))), ("grpc", parent));
}

#[test]
fn span_keys_are_stable_and_tell_spans_apart() {
    let hex = |trace: u128, span: u64| span_key(&format!("{trace:032x}"), &format!("{span:016x}"));
    // Written to disk: the function must not change between versions.
    assert_eq!(hex(1, 2), Some(GOLDEN));
    // Small, sequential ids (test tools make them) do not collide across traces.
    let keys: std::collections::HashSet<Option<i64>> =
        (0..64u128).flat_map(|t| (0..64u64).map(move |s| hex(t, s))).collect();
    assert_eq!(keys.len(), 64 * 64);
    assert_eq!(span_key("zz", "00"), None);
    assert_eq!(span_key(&"g".repeat(32), &"0".repeat(16)), None);
    assert_eq!(span_key(&"0".repeat(31), &"0".repeat(16)), None);
}

#[test]
fn edge_kinds_take_the_strongest_protocol_of_either_side() {
    assert_eq!(edge_kind(Some("http"), Some("grpc")), "grpc");
    assert_eq!(edge_kind(None, Some("messaging")), "messaging");
    assert_eq!(edge_kind(Some("database"), Some("http")), "database");
    assert_eq!(edge_kind(None, None), "other");
    let none = Hints::default();
    assert_eq!(protocol_hint("producer", &none, false), Some("messaging"));
    assert_eq!(protocol_hint("producer", &none, true), None);
    assert_eq!(protocol_hint("consumer", &none, true), Some("messaging"));
}
