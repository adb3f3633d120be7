//! The conformance table: TraceQL query → the traces it must return, over a
//! fixed hand-built dataset; parser errors as snapshots.

use osprey_storage::attributes::AttrRef;

use super::*;
use crate::search::TimeWindow;
use crate::test_support::{batch, get_json, service, span, Span, T0};

const MS: i64 = 1_000_000;
const SEC: i64 = 1_000 * MS;
const T1: &str = "11111111111111111111111111111111";
const T2: &str = "22222222222222222222222222222222";
const T3: &str = "33333333333333333333333333333333";
const T4: &str = "44444444444444444444444444444444";
const A: &str = "00000000000000a1";
const B: &str = "00000000000000b2";
const C: &str = "00000000000000c3";
const SERVER: i32 = 2;
const CLIENT: i32 = 3;
const PRODUCER: i32 = 4;
const CONSUMER: i32 = 5;

/// T1 @10s frontend "GET /cart" server 1s (http.status_code=200, cluster=eu)
///          └ checkout "charge" client 300ms, error "card declined", retry=true, amount=12.5, event "exception"
///              └ payment "pay" server 200ms
/// T2 @20s frontend "GET /home" server 2s (http.status_code=500)
///          ├ cache "get" 10ms
///          └ cache "set" 20ms, linked to T1
/// T3 @30s (root not arrived) checkout "charge" producer 50ms └ queue "consume" consumer 40ms
/// T4 @40s queue "publish" producer 5ms, status ok "done" (cluster=us, messaging.system=kafka)
pub fn dataset() -> crate::QueryService {
    let at = |s: i64| s * SEC;
    let t1 = vec![
        Span {
            name: "GET /cart",
            kind: SERVER,
            attributes: vec![("http.status_code", AttrRef::Int(200))],
            resource_attributes: vec![("cluster", AttrRef::Str("eu"))],
            ..span(A, "", "frontend", at(10), at(11))
        },
        Span {
            name: "charge",
            kind: CLIENT,
            status: 2,
            status_message: Some("card declined"),
            attributes: vec![("retry", AttrRef::Bool(true)), ("amount", AttrRef::Double(12.5))],
            events: vec![(at(10) + 200 * MS, "exception", vec![])],
            ..span(B, A, "checkout", at(10) + 100 * MS, at(10) + 400 * MS)
        },
        Span { name: "pay", kind: SERVER, ..span(C, B, "payment", at(10) + 150 * MS, at(10) + 350 * MS) },
    ];
    let t2 = vec![
        Span {
            name: "GET /home",
            kind: SERVER,
            attributes: vec![("http.status_code", AttrRef::Int(500))],
            ..span(A, "", "frontend", at(20), at(22))
        },
        Span { name: "get", ..span(B, A, "cache", at(20) + 10 * MS, at(20) + 20 * MS) },
        Span { name: "set", links: vec![(T1, A, None)], ..span(C, A, "cache", at(20) + 30 * MS, at(20) + 50 * MS) },
    ];
    let t3 = vec![
        Span { name: "charge", kind: PRODUCER, ..span(B, A, "checkout", at(30), at(30) + 50 * MS) },
        Span { name: "consume", kind: CONSUMER, ..span(C, B, "queue", at(30) + 60 * MS, at(30) + 100 * MS) },
    ];
    let t4 = vec![Span {
        name: "publish",
        kind: PRODUCER,
        status: 1,
        status_message: Some("done"),
        attributes: vec![("messaging.system", AttrRef::Str("kafka"))],
        resource_attributes: vec![("cluster", AttrRef::Str("us"))],
        ..span(A, "", "queue", at(40), at(40) + 5 * MS)
    }];
    service(vec![batch(T1, &t1), batch(T2, &t2), batch(T3, &t3), batch(T4, &t4)])
}

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
    let found = search_spss(&s, "{ }", window(), 20, 1, None).await.expect("search");
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
fn deep_nesting_is_refused_not_a_stack_overflow() {
    let query = format!("{}{{ name = \"x\" }}{}", "(".repeat(10_000), ")".repeat(10_000));
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
