use super::*;

pub(crate) fn t<'a>(id: &'a str, parent: &'a str, service: &'a str, start: i64, end: i64) -> SpanTiming<'a> {
    SpanTiming {
        span_id: id,
        parent_span_id: Some(parent).filter(|p| !p.is_empty()),
        service,
        start_unix_nano: start,
        end_unix_nano: end,
        is_error: false,
    }
}

/// (id, depth, self time) of each span, in waterfall order.
fn layout<'a>(w: &Waterfall<'_>, spans: &[SpanTiming<'a>]) -> Vec<(&'a str, u32, i64)> {
    w.spans.iter().map(|p| (spans[p.index].span_id, p.depth, p.self_time_ns)).collect()
}

fn path<'a>(w: &Waterfall<'_>, spans: &[SpanTiming<'a>]) -> Vec<&'a str> {
    w.critical_path.iter().map(|&i| spans[i].span_id).collect()
}

/// frontend a [0,100]
///   checkout b [10,60]
///     db d [20,40], db e [30,50]      (overlapping: b's self time counts 20..50 once)
///   payment c [55,95]                 (overlaps b: a's children cover 10..95)
///     payment f [60,70], error
fn multi_service() -> Vec<SpanTiming<'static>> {
    let mut f = t("f", "c", "payment", 60, 70);
    f.is_error = true;
    // Deliberately not in tree order.
    vec![
        t("e", "b", "db", 30, 50),
        f,
        t("c", "a", "payment", 55, 95),
        t("d", "b", "db", 20, 40),
        t("a", "", "frontend", 0, 100),
        t("b", "a", "checkout", 10, 60),
    ]
}

#[test]
fn multi_service_tree() {
    let spans = multi_service();
    let w = Waterfall::build(&spans);
    assert_eq!(
        layout(&w, &spans),
        vec![("a", 0, 15), ("b", 1, 20), ("d", 2, 20), ("e", 2, 20), ("c", 1, 30), ("f", 2, 10)]
    );
    assert_eq!(w.root.map(|r| spans[r].span_id), Some("a"));
    assert_eq!((w.start_time_unix_nano, w.duration_ns), (0, 100));
    assert_eq!(path(&w, &spans), vec!["a", "c", "f"]);
    assert_eq!(
        w.services,
        vec![
            ServiceSummary { name: "frontend", span_count: 1, error_count: 0 },
            ServiceSummary { name: "checkout", span_count: 1, error_count: 0 },
            ServiceSummary { name: "db", span_count: 2, error_count: 0 },
            ServiceSummary { name: "payment", span_count: 2, error_count: 1 },
        ]
    );
    assert!(w.warnings.is_empty(), "{:?}", w.warnings);
}

#[test]
fn siblings_with_equal_start_are_ordered_by_id() {
    let spans = vec![t("r", "", "s", 0, 10), t("y", "r", "s", 1, 2), t("x", "r", "s", 1, 3)];
    let w = Waterfall::build(&spans);
    assert_eq!(layout(&w, &spans).iter().map(|l| l.0).collect::<Vec<_>>(), vec!["r", "x", "y"]);
}

#[test]
fn self_time_clips_children_to_the_span() {
    // Child c1 starts before and c2 ends after the parent: only the parts inside count.
    let spans = vec![
        t("r", "", "s", 0, 1000),
        t("p", "r", "s", 100, 200),
        t("c1", "p", "s", 50, 120),
        t("c2", "p", "s", 150, 300),
        t("c3", "p", "s", 400, 500),
    ];
    let w = Waterfall::build(&spans);
    let p = layout(&w, &spans).into_iter().find(|l| l.0 == "p").expect("p");
    assert_eq!(p.2, 100 - 20 - 50);
    // The root's only child p covers 100..200.
    assert_eq!(layout(&w, &spans)[0], ("r", 0, 900));
}

#[test]
fn orphans_are_kept_at_depth_zero_after_the_root() {
    let spans = vec![
        t("o2", "missing2", "s", 5, 6),
        t("r", "", "s", 10, 20),
        t("k", "r", "s", 11, 12),
        t("o1", "missing1", "s", 1, 30),
        t("oc", "o1", "s", 2, 3),
    ];
    let w = Waterfall::build(&spans);
    assert_eq!(layout(&w, &spans), vec![("r", 0, 9), ("k", 1, 1), ("o1", 0, 28), ("oc", 1, 1), ("o2", 0, 1)]);
    assert_eq!(
        w.warnings,
        vec!["orphan span o2: parent missing2 not found", "orphan span o1: parent missing1 not found"]
    );
    // The trace spans all spans, orphans included.
    assert_eq!((w.start_time_unix_nano, w.duration_ns), (1, 29));
    assert_eq!(path(&w, &spans), vec!["r", "k"]);
}

#[test]
fn missing_root_invents_nothing() {
    let spans = vec![t("b", "gone", "s", 20, 30), t("a", "gone", "s", 10, 40), t("c", "a", "s", 15, 16)];
    let w = Waterfall::build(&spans);
    assert_eq!(w.root, None);
    assert!(w.critical_path.is_empty());
    assert_eq!(layout(&w, &spans), vec![("a", 0, 29), ("c", 1, 1), ("b", 0, 10)]);
    assert_eq!(
        w.warnings,
        vec![
            "orphan span b: parent gone not found",
            "orphan span a: parent gone not found",
            "root span not found: every span has a parent; orphans are shown at depth 0",
        ]
    );
}

#[test]
fn several_parentless_spans_the_earliest_is_the_root() {
    let spans =
        vec![t("late", "", "s", 50, 60), t("early", "", "s", 0, 10), t("zero", "0000000000000000", "s", 70, 80)];
    let w = Waterfall::build(&spans);
    assert_eq!(w.root.map(|r| spans[r].span_id), Some("early"));
    assert_eq!(layout(&w, &spans), vec![("early", 0, 10), ("late", 0, 10), ("zero", 0, 10)]);
    assert_eq!(
        w.warnings,
        vec![
            "extra root span late: the trace has several spans without a parent",
            "extra root span zero: the trace has several spans without a parent",
        ]
    );
}

#[test]
fn clock_skew_is_reported_not_corrected() {
    let spans = vec![
        t("r", "", "s", 100, 200),
        t("early", "r", "s", 90, 150),
        t("late", "r", "s", 150, 230),
        t("both", "r", "s", 95, 205),
        t("fine", "r", "s", 100, 200),
    ];
    let w = Waterfall::build(&spans);
    assert_eq!(
        w.warnings,
        vec![
            "clock skew: span early starts 10 ns before its parent r",
            "clock skew: span both starts 5 ns before and ends 5 ns after its parent r",
            "clock skew: span late ends 30 ns after its parent r",
        ]
    );
    // Times are not shifted: offsets and the trace bounds use the reported times.
    assert_eq!((w.start_time_unix_nano, w.duration_ns), (90, 140));
    assert_eq!(layout(&w, &spans)[0], ("r", 0, 0));
}

#[test]
fn duplicate_span_ids_keep_one() {
    let spans = vec![t("r", "", "s", 0, 10), t("c", "r", "s", 1, 5), t("c", "r", "s", 1, 6), t("c", "r", "s", 1, 6)];
    let w = Waterfall::build(&spans);
    assert_eq!(w.spans.len(), 2);
    // The copy that ends last is kept.
    assert_eq!(w.spans[1].index, 2);
    assert_eq!(w.services[0].span_count, 2);
    assert_eq!(w.warnings, vec!["duplicate span c: received 3 times, kept one"]);
}

#[test]
fn parent_cycles_are_kept_and_reported() {
    let spans = vec![t("r", "", "s", 0, 10), t("x", "y", "s", 1, 2), t("y", "x", "s", 3, 4), t("me", "me", "s", 5, 6)];
    let w = Waterfall::build(&spans);
    assert_eq!(layout(&w, &spans), vec![("r", 0, 10), ("me", 0, 1), ("x", 0, 1), ("y", 1, 1)]);
    assert_eq!(
        w.warnings,
        vec![
            "orphan span me: it names itself as its parent",
            "span x: its chain of parents loops; shown at depth 0",
            // x and y cannot both be inside each other.
            "clock skew: span x starts 2 ns before its parent y",
            "clock skew: span y ends 2 ns after its parent x",
        ]
    );
}

#[test]
fn span_ending_before_it_starts_has_zero_duration() {
    let spans = vec![t("r", "", "s", 10, 5)];
    let w = Waterfall::build(&spans);
    assert_eq!(layout(&w, &spans), vec![("r", 0, 0)]);
    assert_eq!(w.duration_ns, 0);
    assert_eq!(w.warnings, vec!["span r ends before it starts"]);
}

#[test]
fn warnings_are_capped() {
    let ids: Vec<String> = (0..150).map(|i| format!("o{i}")).collect();
    let mut spans = vec![t("r", "", "s", 0, 10)];
    spans.extend(ids.iter().map(|id| t(id, "missing", "s", 1, 2)));
    let w = Waterfall::build(&spans);
    assert_eq!(w.warnings.len(), MAX_WARNINGS + 1);
    assert_eq!(w.warnings.last().map(String::as_str), Some("50 more warnings not shown"));
    assert_eq!(w.spans.len(), 151);
}

#[test]
fn a_100000_deep_chain_needs_no_deep_stack() {
    const N: usize = 100_000;
    let worker = std::thread::Builder::new().stack_size(128 * 1024).spawn(|| {
        let ids: Vec<String> = (1..=N).map(|i| format!("{i:016x}")).collect();
        // Each span nests in the previous one, listed leaf first.
        let spans: Vec<SpanTiming<'_>> = (0..N)
            .rev()
            .map(|i| {
                let parent = if i == 0 { "" } else { ids[i - 1].as_str() };
                t(&ids[i], parent, "s", i as i64, (2 * N - i) as i64)
            })
            .collect();
        let w = Waterfall::build(&spans);
        assert_eq!(w.spans.len(), N);
        assert!(w.spans.iter().enumerate().all(|(i, p)| p.depth as usize == i));
        assert_eq!(w.spans[N - 1].self_time_ns, (2 * N - (N - 1) - (N - 1)) as i64);
        assert_eq!(w.critical_path.len(), N);
        assert_eq!(spans[w.critical_path[0]].span_id, ids[0]);
        assert!(w.warnings.is_empty());
    });
    worker.expect("spawn").join().expect("no stack overflow");
}
