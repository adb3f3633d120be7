use crate::waterfall::{SpanTiming, Waterfall};

fn t<'a>(id: &'a str, parent: &'a str, start: i64, end: i64) -> SpanTiming<'a> {
    SpanTiming {
        span_id: id,
        parent_span_id: Some(parent).filter(|p| !p.is_empty()),
        service: "s",
        start_unix_nano: start,
        end_unix_nano: end,
        is_error: false,
    }
}

fn critical_path<'a>(spans: &[SpanTiming<'a>]) -> Vec<&'a str> {
    let w = Waterfall::build(spans);
    w.critical_path.iter().map(|&i| spans[i].span_id).collect()
}

#[test]
fn sequential_children_are_all_on_the_path() {
    // Back to back: each one ends exactly where the next starts.
    let spans = vec![t("p", "", 0, 100), t("c", "p", 60, 90), t("a", "p", 0, 30), t("b", "p", 30, 60)];
    assert_eq!(critical_path(&spans), vec!["p", "a", "b", "c"]);
}

#[test]
fn sequential_children_with_gaps() {
    let spans = vec![t("p", "", 0, 100), t("a", "p", 10, 20), t("b", "p", 40, 50)];
    assert_eq!(critical_path(&spans), vec!["p", "a", "b"]);
}

#[test]
fn parallel_children_only_the_last_finishing_counts() {
    // a and b run in parallel and b finishes last: p waited for b, not a. Inside b,
    // b2 finishes last and b1 ended (50) after b2 started (40): b waited for b2 only.
    let spans =
        vec![t("p", "", 0, 100), t("a", "p", 10, 90), t("b", "p", 20, 95), t("b1", "b", 20, 50), t("b2", "b", 40, 95)];
    assert_eq!(critical_path(&spans), vec!["p", "b", "b2"]);
}

#[test]
fn parallel_then_sequential() {
    // fan-out (a, b in parallel, b last) then c after both.
    let spans = vec![t("p", "", 0, 100), t("a", "p", 0, 40), t("b", "p", 0, 50), t("c", "p", 50, 100)];
    assert_eq!(critical_path(&spans), vec!["p", "b", "c"]);
}

#[test]
fn a_child_ending_after_its_parent_is_clipped_to_it() {
    // b ends after p: clipped to [60,100] it is the last thing p waited for, then a.
    // d lies inside b but after p's end, e entirely after p: both ignored.
    let spans = vec![
        t("p", "", 0, 100),
        t("a", "p", 10, 50),
        t("b", "p", 60, 150),
        t("d", "b", 110, 140),
        t("e", "p", 120, 130),
    ];
    assert_eq!(critical_path(&spans), vec!["p", "a", "b"]);
}

#[test]
fn a_child_starting_before_its_parent_is_clipped_to_it() {
    // c starts before p and is clipped to [0,30]; x lies entirely before p and is ignored.
    let spans = vec![t("p", "", 0, 100), t("c", "p", -20, 30), t("x", "p", -10, -5), t("late", "p", 40, 70)];
    assert_eq!(critical_path(&spans), vec!["p", "c", "late"]);
}

#[test]
fn a_chain_reads_root_to_leaf() {
    let spans = vec![t("leaf", "mid", 20, 30), t("mid", "root", 10, 40), t("root", "", 0, 50), t("side", "root", 1, 5)];
    assert_eq!(critical_path(&spans), vec!["root", "side", "mid", "leaf"]);
}

#[test]
fn zero_length_children_terminate() {
    let spans = vec![t("p", "", 0, 10), t("z1", "p", 5, 5), t("z2", "p", 5, 5), t("z3", "z1", 5, 5)];
    assert_eq!(critical_path(&spans), vec!["p", "z1", "z3", "z2"]);
}

#[test]
fn no_root_no_path() {
    let spans = vec![t("a", "gone", 0, 10), t("b", "a", 1, 2)];
    assert!(critical_path(&spans).is_empty());
}
