//! The conformance table: TraceQL query → the traces it must return, over a
//! fixed hand-built dataset; parser errors as snapshots.

use super::*;
use crate::search::TimeWindow;
use crate::test_support::{get_json, span, Span, T0};
use osprey_storage::attributes::AttrRef;

use super::fixture::*;

fn window() -> TimeWindow {
    TimeWindow { start_ns: T0, end_ns: T0 + 100 * SEC }
}

/// (query, traces newest first)
const TABLE: &[(&str, &[&str])] = &[
    ("{}", &[T4, T3, T2, T1]),
    ("{ true }", &[T4, T3, T2, T1]),
    (r#"{ name = "charge" }"#, &[T3, T1]),
    (r#"{ name != "charge" }"#, &[T4, T3, T2, T1]),
    (r#"{ name =~ "GET.*" }"#, &[T2, T1]),
    (r#"{ name =~ "GET" }"#, &[]),
    (r#"{ name !~ "GET.*|charge|pay|get|set|consume" }"#, &[T4]),
    (r#"{ name > "publish" }"#, &[T2]),
    (r#"{ name <= "GET /cart" }"#, &[T1]),
    ("{ status = error }", &[T1]),
    ("{ status = ok }", &[T4]),
    ("{ status != unset }", &[T4, T1]),
    (r#"{ statusMessage = "card declined" }"#, &[T1]),
    ("{ kind = producer }", &[T4, T3]),
    ("{ kind = consumer }", &[T3]),
    ("{ kind = client }", &[T1]),
    ("{ duration > 1s }", &[T2]),
    ("{ duration >= 300ms && duration < 1s }", &[T1]),
    ("{ duration <= 10ms }", &[T4, T2]),
    ("{ span.http.status_code = 500 }", &[T2]),
    ("{ span.http.status_code >= 200 }", &[T2, T1]),
    ("{ span.http.status_code < 300 }", &[T1]),
    ("{ span.amount > 12.4 }", &[T1]),
    ("{ span.amount = 12.5 }", &[T1]),
    ("{ span.retry = true }", &[T1]),
    ("{ span.retry != nil }", &[T1]),
    (r#"{ resource.cluster = "eu" }"#, &[T1]),
    (r#"{ .cluster = "us" }"#, &[T4]),
    (r#"{ .messaging.system = "kafka" }"#, &[T4]),
    (r#"{ span.cluster = "eu" }"#, &[]),
    (r#"{ resource.cluster =~ "e.*" }"#, &[T1]),
    (r#"{ resource.cluster !~ "e.*" }"#, &[T4]),
    (r#"{ resource.service.name = "cache" }"#, &[T2]),
    (r#"{ rootName = "GET /home" }"#, &[T2]),
    (r#"{ rootServiceName = "frontend" }"#, &[T2, T1]),
    ("{ traceDuration > 1500ms }", &[T2]),
    (r#"{ event:name = "exception" }"#, &[T1]),
    (r#"{ link:traceID = "11111111111111111111111111111111" }"#, &[T2]),
    (r#"{ name = "GET /cart" } && { name = "pay" }"#, &[T1]),
    (r#"{ name = "GET /cart" } && { name = "publish" }"#, &[]),
    (r#"{ name = "charge" } || { name = "publish" }"#, &[T4, T3, T1]),
    (r#"{ name = "GET /cart" } > { name = "charge" }"#, &[T1]),
    (r#"{ name = "GET /cart" } > { name = "pay" }"#, &[]),
    (r#"{ name = "GET /cart" } >> { name = "pay" }"#, &[T1]),
    (r#"{ name = "pay" } < { name = "charge" }"#, &[T1]),
    (r#"{ name = "pay" } < { name = "GET /cart" }"#, &[]),
    (r#"{ name = "pay" } << { name = "GET /cart" }"#, &[T1]),
    (r#"{ name = "get" } ~ { name = "set" }"#, &[T2]),
    (r#"{ name = "charge" } ~ { }"#, &[]),
    ("{ } | count() > 2", &[T2, T1]),
    ("{ } | count() = 1", &[T4]),
    ("{ } | avg(duration) > 500ms", &[T2]),
    ("{ } | max(duration) >= 2s", &[T2]),
    ("{ } | min(duration) < 6ms", &[T4]),
    ("{ } | sum(duration) >= 1500ms", &[T2, T1]),
    ("{ kind = server } | count() = 2", &[T1]),
    ("{ kind = server } | select(span.http.status_code)", &[T2, T1]),
    (r#"({ name = "charge" } | count() = 1) && { status = error }"#, &[T1]),
    ("{ } | { status = error }", &[T1]),
    (r#"{ name = "GET /cart" || name = "publish" }"#, &[T4, T1]),
    (r#"{ (name = "charge" || name = "pay") && kind = server }"#, &[T1]),
];

#[tokio::test]
async fn conformance_table() {
    let s = dataset();
    let mut failures = Vec::new();
    for (query, want) in TABLE {
        let got: Vec<String> = match search(&s, query, window(), 20, None).await {
            Ok(found) => found.into_iter().map(|t| t.summary.trace_id).collect(),
            Err(e) => vec![format!("error: {e}")],
        };
        if got != *want {
            failures.push(format!("{query}\n  want {want:?}\n  got  {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} queries wrong:\n{}", failures.len(), TABLE.len(), failures.join("\n"));
}

#[tokio::test]
async fn matched_spans_carry_typed_attributes() {
    let s = dataset();
    let found = search(&s, "{ span.http.status_code >= 200 } | select(resource.cluster)", window(), 20, None)
        .await
        .expect("search");
    let t1 = found.iter().find(|t| t.summary.trace_id == T1).expect("t1");
    assert_eq!(t1.matched, 1);
    assert_eq!(t1.spans[0].name, "GET /cart");
    assert_eq!(
        t1.spans[0].attributes,
        vec![
            ("service.name".to_string(), AttrValue::Str("frontend".into())),
            ("http.status_code".to_string(), AttrValue::Int(200)),
            ("cluster".to_string(), AttrValue::Str("eu".into())),
        ]
    );
    // spss caps the listed spans, not the count.
    let found = search_spss(&s, "{ }", window(), 20, 1, None).await.expect("search").traces;
    let t1 = found.iter().find(|t| t.summary.trace_id == T1).expect("t1");
    assert_eq!((t1.spans.len(), t1.matched), (1, 3));
    assert_eq!(t1.spans[0].name, "GET /cart");
}

#[tokio::test]
async fn limit_applies_after_exact_evaluation() {
    let s = dataset();
    let found = search(&s, "{ } | count() > 2", window(), 1, None).await.expect("search");
    let ids: Vec<_> = found.iter().map(|t| t.summary.trace_id.as_str()).collect();
    assert_eq!(ids, [T2]);
}

#[test]
fn parser_errors() {
    let queries = [
        "",
        "{",
        "{ name = }",
        "{ resource.cluster = }",
        "{ name = \"x\" ",
        "{ name \"x\" }",
        "{ duration > \"slow\" }",
        "{ status = 3 }",
        "{ kind = 1.5 }",
        "{ foo = 1 }",
        "{ span.x =~ 3 }",
        "{ span.x > true }",
        "{ span.x > nil }",
        "{ name =~ \"(\" }",
        "{ } | count() > \"x\"",
        "{ } | avg(span.x) > 1s",
        "{ } | by(name)",
        "{ } | avg(duration) > 3",
        "{ } >",
        "{ } {",
        "{ name = \"unterminated }",
        "{ duration > 10x }",
        "{ span.a = 1 } && ",
        "{ name = \"x\" # }",
        "{ 1 = 2 }",
        "{ span.a = span.b }",
        "{ name = \"é\" && }",
    ];
    let rendered: Vec<String> = queries
        .iter()
        .map(|q| match parse(q) {
            Ok(_) => format!("{q:?} → parsed"),
            Err(e) => format!("{q:?} → {} {e}", e.status().as_u16()),
        })
        .collect();
    insta::assert_snapshot!(rendered.join("\n"));
}

#[test]
fn oversized_query_is_refused() {
    let query = format!("{{ name = \"{}\" }}", "x".repeat(MAX_QUERY_BYTES));
    let err = parse(&query).err().expect("too long");
    assert_eq!(err.status(), axum::http::StatusCode::BAD_REQUEST);
    assert!(err.to_string().contains("more than the limit"), "{err}");
}

#[test]
fn deep_nesting_is_refused_not_a_stack_overflow() {
    let query = format!("{}{{ name = \"x\" }}{}", "(".repeat(5_000), ")".repeat(5_000));
    let err = parse(&query).err().expect("too deep");
    assert!(err.to_string().contains("levels of nesting"), "{err}");
}

#[tokio::test]
async fn native_search_with_q() {
    let s = dataset();
    let start = T0 / SEC;
    let end = start + 100;
    let uri = format!("/api/v1/traces?q=%7B%20status%20%3D%20error%20%7D&start={start}&end={end}");
    let (status, body) = get_json(&s, &uri).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["traces"].as_array().map(Vec::len), Some(1));
    assert_eq!(body["traces"][0]["trace_id"], T1);
    assert_eq!(body["traces"][0]["root_service"], "frontend");
    // q and the classic filters combine.
    let uri = format!("/api/v1/traces?q=%7B%7D&service=queue&start={start}&end={end}");
    let (_, body) = get_json(&s, &uri).await;
    let ids: Vec<&str> =
        body["traces"].as_array().expect("traces").iter().filter_map(|t| t["trace_id"].as_str()).collect();
    assert_eq!(ids, [T4, T3]);
    let (status, body) = get_json(&s, &format!("/api/v1/traces?q=%7B%20foo%20%7D&start={start}&end={end}")).await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().is_some_and(|e| e.contains("line 1, column 3")), "{body}");
}

/// One trace per way a client may send `http.status_code` and `http.request.method`; the find scan
/// reads their dedicated columns, the exact evaluation the maps, and both must agree with
/// the text semantics of the map (a numeric literal matches what `TRY_CAST` makes a number).
#[tokio::test]
async fn dedicated_columns_match_what_the_attribute_map_matches() {
    let values = [
        ("http.status_code", AttrRef::Int(500)),
        ("http.status_code", AttrRef::Str("500")),
        ("http.status_code", AttrRef::Double(500.0)),
        ("http.status_code", AttrRef::Str("abc")),
        ("http.status_code", AttrRef::Bool(true)),
        ("http.request.method", AttrRef::Str("GET")),
        ("http.request.method", AttrRef::Int(7)),
        ("other", AttrRef::Str("GET")),
    ];
    let ids: Vec<String> = (1..=values.len()).map(|i| format!("{i:032x}")).collect();
    let batches = values
        .iter()
        .zip(&ids)
        .enumerate()
        .map(|(i, ((key, value), id))| {
            let at = (i as i64 + 1) * SEC;
            let root =
                Span { attributes: vec![(*key, value.clone())], ..span("00000000000000a1", "", "web", at, at + MS) };
            crate::test_support::batch(id, &[root])
        })
        .collect();
    let s = crate::test_support::service(batches);
    let trace = |i: usize| ids[i - 1].as_str();
    let cases: &[(&str, &[usize])] = &[
        ("{ span.http.status_code = 500 }", &[3, 2, 1]),
        ("{ span.http.status_code > 499.5 && span.http.status_code < 500.5 }", &[3, 2, 1]),
        ("{ span.http.status_code != 500 }", &[]),
        ("{ span.http.status_code != nil }", &[5, 4, 3, 2, 1]),
        (r#"{ span.http.status_code = "abc" }"#, &[4]),
        ("{ span.http.status_code = true }", &[5]),
        ("{ .http.status_code = 500 }", &[3, 2, 1]),
        (r#"{ span.http.request.method = "GET" }"#, &[6]),
        (r#"{ span.http.request.method =~ "G.*" }"#, &[6]),
        (r#"{ span.http.request.method !~ "G.*" }"#, &[7]),
        ("{ span.http.request.method = 7 }", &[7]),
        ("{ span.http.request.method = nil }", &[8, 5, 4, 3, 2, 1]),
    ];
    let window = TimeWindow { start_ns: T0, end_ns: T0 + 100 * SEC };
    let mut failures = Vec::new();
    for (query, want) in cases {
        let want: Vec<&str> = want.iter().map(|&i| trace(i)).collect();
        let got: Vec<String> = match search(&s, query, window, 20, None).await {
            Ok(found) => found.into_iter().map(|t| t.summary.trace_id).collect(),
            Err(e) => vec![format!("error: {e}")],
        };
        if got != want {
            failures.push(format!("{query}\n  want {want:?}\n  got  {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_find_scan_reads_dedicated_columns_and_the_exact_evaluation_the_map() {
    let query = "{ span.http.status_code = 500 && span.http.request.method = \"GET\" && .http.route = \"/\" }";
    let program = parse(query).expect("parse").program;
    let find = format!("{}", program.leaf_expr(0, compile::Target::Find).expect("find"));
    let exact = format!("{}", program.leaf_expr(0, compile::Target::Exact).expect("exact"));
    assert!(find.contains("http_status_code = Float64(500)"), "{find}");
    assert!(find.contains("http_request_method = Utf8(\"GET\")"), "{find}");
    assert!(find.contains("get_field(resource_attributes"), "unscoped attributes read both maps: {find}");
    assert!(!exact.contains("http_status_code") && !exact.contains("http_request_method"), "{exact}");
}
