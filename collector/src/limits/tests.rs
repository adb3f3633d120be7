use super::*;
use osprey_proto::common::{ArrayValue, KeyValueList};

fn limits() -> LimitsConfig {
    LimitsConfig {
        max_attribute_value_bytes: 5,
        max_attributes_per_item: 2,
        max_value_depth: 3,
        max_spans_per_trace: 3,
        max_tracked_traces: 4,
        max_log_body_bytes: 100,
    }
}

fn any(v: Value) -> AnyValue {
    AnyValue { value: Some(v) }
}

fn kv(key: &str, v: Value) -> KeyValue {
    KeyValue { key: key.into(), value: Some(any(v)), ..Default::default() }
}

fn nested(depth: usize) -> AnyValue {
    let mut v = any(Value::IntValue(1));
    for _ in 1..depth {
        v = any(Value::ArrayValue(ArrayValue { values: vec![v] }));
    }
    v
}

fn depth_of(v: &AttrRef<'_>) -> usize {
    match v {
        AttrRef::Array(items) => 1 + items.iter().map(depth_of).max().unwrap_or(0),
        AttrRef::KvList(kvs) => 1 + kvs.iter().map(|(_, v)| depth_of(v)).max().unwrap_or(0),
        _ => 1,
    }
}

#[test]
fn truncates_strings_at_a_char_boundary_and_bytes() {
    let cfg = limits();
    let mut limiter = Limiter::new(&cfg);
    let kvs = vec![kv("s", Value::StringValue("aé€xyz".into())), kv("b", Value::BytesValue(vec![1; 9]))];
    let (attrs, dropped) = limiter.attributes(&kvs, 0);
    // "a" (1) + "é" (2) = 3 bytes; "€" (3 bytes) would pass 5
    assert_eq!(attrs[0].1, AttrRef::Str("aé"));
    assert_eq!(attrs[1].1, AttrRef::Bytes(&[1; 5]));
    assert_eq!(dropped, 0);
    assert_eq!(limiter.counts.truncated_values, 2);
    let kvs = vec![kv("s", Value::StringValue("short".into()))];
    assert_eq!(limiter.attributes(&kvs, 0).0[0].1, AttrRef::Str("short"));
    assert_eq!(limiter.counts.truncated_values, 2);
}

#[test]
fn drops_attributes_past_the_count_and_adds_them_to_dropped() {
    let cfg = limits();
    let mut limiter = Limiter::new(&cfg);
    let kvs: Vec<_> = (0..5).map(|i| kv(&format!("k{i}"), Value::IntValue(i))).collect();
    let (attrs, dropped) = limiter.attributes(&kvs, 4);
    assert_eq!(attrs.len(), 2);
    assert_eq!(dropped, 7);
    assert_eq!(limiter.counts.dropped_attributes, 3);
}

#[test]
fn cuts_deep_values_to_the_depth_limit() {
    let cfg = limits();
    let mut limiter = Limiter::new(&cfg);
    let deep = nested(10);
    let value = limiter.value(Some(&deep), 1);
    assert_eq!(depth_of(&value), 3);
    assert_eq!(limiter.counts.cut_subtrees, 1);
    let ok = nested(3);
    let value = limiter.value(Some(&ok), 1);
    assert_eq!(depth_of(&value), 3);
    assert_eq!(limiter.counts.cut_subtrees, 1, "a value at the limit is kept whole");
    let kvlist = any(Value::KvlistValue(KeyValueList { values: vec![kv("x", Value::StringValue("y".into()))] }));
    assert_eq!(limiter.value(Some(&kvlist), 1), AttrRef::KvList(vec![("x", AttrRef::Str("y"))]));
    assert_eq!(limiter.value(None, 1), AttrRef::Empty);
}

#[test]
fn trace_table_limits_spans_per_trace_across_requests() {
    let table = TraceTable::new(3, 100);
    let mut tally = TraceTally::default();
    assert!(table.try_add(&mut tally, [1; 16]));
    assert!(table.try_add(&mut tally, [1; 16]));
    assert!(table.try_add(&mut tally, [2; 16]));
    table.commit(tally);
    let mut tally = TraceTally::default();
    assert!(table.try_add(&mut tally, [1; 16]));
    assert!(!table.try_add(&mut tally, [1; 16]), "4th span of trace 1");
    assert!(table.try_add(&mut tally, [2; 16]));
}

#[test]
fn uncommitted_tallies_do_not_count() {
    let table = TraceTable::new(1, 100);
    let mut tally = TraceTally::default();
    assert!(table.try_add(&mut tally, [1; 16]));
    drop(tally); // the append failed
    let mut tally = TraceTally::default();
    assert!(table.try_add(&mut tally, [1; 16]));
}

#[test]
fn trace_table_stays_bounded() {
    let table = TraceTable::new(10, 100);
    for i in 0..10_000u32 {
        let mut id = [0u8; 16];
        id[..4].copy_from_slice(&i.to_be_bytes());
        let mut tally = TraceTally::default();
        assert!(table.try_add(&mut tally, id));
        table.commit(tally);
    }
    assert!(table.len() <= 100, "{}", table.len());
}
