use super::*;

#[test]
fn registers_and_encodes_with_total_suffix() {
    let metrics = CollectorMetrics::default();
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    metrics.received(TRACES, "http", 5);
    metrics.accepted(TRACES, 4);
    metrics.rejected(TRACES, "invalid", 1);
    metrics.request(TRACES, "http", "partial_success");
    metrics.limited(TRACES, "value_depth", 2);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    assert!(text.contains(r#"osprey_received_items_total{signal="traces",transport="http"} 5"#), "{text}");
    assert!(text.contains(r#"osprey_accepted_items_total{signal="traces"} 4"#), "{text}");
    assert!(text.contains(r#"osprey_rejected_items_total{signal="traces",reason="invalid"} 1"#), "{text}");
    assert!(text.contains(r#"osprey_requests_total{signal="traces",transport="http",outcome="partial_success"} 1"#));
    assert!(text.contains(r#"osprey_limited_values_total{signal="traces",limit="value_depth"} 2"#), "{text}");
    assert_eq!(metrics.value("accepted", &[("signal", TRACES)]), 4);
}
