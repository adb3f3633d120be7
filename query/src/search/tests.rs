use std::time::Duration;

use osprey_storage::attributes::AttrRef;

use super::*;
use crate::test_support::{batch, service, span, Span, T0};
use crate::QueryService;

const SEC: i64 = 1_000_000_000;
const T1: &str = "11111111111111111111111111111111";
const T2: &str = "22222222222222222222222222222222";
const T3: &str = "33333333333333333333333333333333";
const T4: &str = "44444444444444444444444444444444";
const A: &str = "00000000000000a1";
const B: &str = "00000000000000b2";
const C: &str = "00000000000000c3";

/// T1 (start 10s): frontend GET /a → checkout "charge" (error, http.status_code=500 int)
/// T2 (start 20s): frontend GET /b → db "query" (slow: 2s), resource cluster=eu
/// T3 (start 30s): only a checkout span whose parent never arrived
/// T4 (start 3600s + 40s): frontend GET /a, an hour later
fn dataset() -> QueryService {
    let t1 = vec![
        Span { name: "GET /a", ..span(A, "", "frontend", 10 * SEC, 11 * SEC) },
        Span {
            name: "charge",
            status: 2,
            attributes: vec![("http.status_code", AttrRef::Int(500))],
            ..span(B, A, "checkout", 10 * SEC + 100, 10 * SEC + 500)
        },
    ];
    let t2 = vec![
        Span { name: "GET /b", ..span(A, "", "frontend", 20 * SEC, 23 * SEC) },
        Span {
            name: "query",
            resource_attributes: vec![("cluster", AttrRef::Str("eu"))],
            ..span(C, A, "db", 20 * SEC + 1, 22 * SEC + 1)
        },
    ];
    let t3 = vec![Span { name: "charge", ..span(B, A, "checkout", 30 * SEC, 31 * SEC) }];
    let t4 = vec![Span { name: "GET /a", ..span(A, "", "frontend", 3640 * SEC, 3641 * SEC) }];
    service(vec![batch(T1, &t1), batch(T2, &t2), batch(T3, &t3), batch(T4, &t4)])
}

fn window(from_s: i64, to_s: i64) -> TimeWindow {
    TimeWindow { start_ns: T0 + from_s * SEC, end_ns: T0 + to_s * SEC }
}

async fn ids(
    service: &QueryService,
    condition: Option<TraceCondition>,
    window: TimeWindow,
    limit: usize,
) -> Vec<String> {
    let request = SearchRequest { window, limit, condition };
    search(service, &request).await.expect("search").into_iter().map(|t| t.trace_id).collect()
}

fn filter(f: SpanFilter) -> Option<TraceCondition> {
    f.to_condition()
}

#[tokio::test]
async fn everything_in_the_window_newest_first() {
    let s = dataset();
    assert_eq!(ids(&s, None, window(0, 100), 20).await, [T3, T2, T1]);
    assert_eq!(ids(&s, None, window(0, 4000), 20).await, [T4, T3, T2, T1]);
    assert_eq!(ids(&s, None, window(0, 4000), 2).await, [T4, T3]);
    // The window is on span start times, both ends inclusive.
    assert_eq!(ids(&s, None, window(20, 30), 20).await, [T3, T2]);
}

#[tokio::test]
async fn summaries_describe_whole_traces() {
    let s = dataset();
    let request = SearchRequest { window: window(0, 100), limit: 20, condition: None };
    let found = search(&s, &request).await.expect("search");
    let t1 = found.iter().find(|t| t.trace_id == T1).expect("t1");
    assert_eq!(t1.root_service.as_deref(), Some("frontend"));
    assert_eq!(t1.root_name.as_deref(), Some("GET /a"));
    assert!(!t1.root_missing);
    assert_eq!(t1.start_time_unix_nano, T0 + 10 * SEC);
    assert_eq!(t1.duration_ns, SEC);
    assert_eq!((t1.span_count, t1.error_count), (2, 1));
    assert_eq!(
        t1.services,
        [
            ServiceCount { name: "frontend".into(), span_count: 1, error_count: 0 },
            ServiceCount { name: "checkout".into(), span_count: 1, error_count: 1 },
        ]
    );
    // The root has not arrived: found, and said so; no invented root.
    let t3 = found.iter().find(|t| t.trace_id == T3).expect("t3");
    assert!(t3.root_missing);
    assert_eq!((t3.root_service.as_deref(), t3.root_name.as_deref()), (None, None));
    assert_eq!(t3.span_count, 1);
    let json = serde_json::to_value(t3).expect("json");
    assert_eq!(json["root_service"], serde_json::Value::Null);
    assert_eq!(json["root_missing"], true);
}

#[tokio::test]
async fn a_summary_is_not_cut_by_the_window() {
    let s = dataset();
    // Only T1's child starts after 10s + 50ns, but the summary covers the root too.
    let request = SearchRequest {
        window: TimeWindow { start_ns: T0 + 10 * SEC + 50, end_ns: T0 + 15 * SEC },
        limit: 20,
        condition: None,
    };
    let found = search(&s, &request).await.expect("search");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].span_count, 2);
    assert_eq!(found[0].root_name.as_deref(), Some("GET /a"));
}

#[tokio::test]
async fn classic_filters_hold_on_one_span() {
    let s = dataset();
    let w = window(0, 4000);
    let service = |name: &str| SpanFilter { service: Some(name.into()), ..Default::default() };
    assert_eq!(ids(&s, filter(service("checkout")), w, 20).await, [T3, T1]);
    assert_eq!(ids(&s, filter(service("nobody")), w, 20).await, Vec::<String>::new());
    let op = SpanFilter { service: Some("frontend".into()), operation: Some("GET /a".into()), ..Default::default() };
    assert_eq!(ids(&s, filter(op), w, 20).await, [T4, T1]);
    // service and operation on different spans do not match.
    let split = SpanFilter { service: Some("checkout".into()), operation: Some("GET /a".into()), ..Default::default() };
    assert_eq!(ids(&s, filter(split), w, 20).await, Vec::<String>::new());
    // An int attribute matches its text form; a resource attribute matches too.
    let tag = SpanFilter { tags: vec![("http.status_code".into(), "500".into())], ..Default::default() };
    assert_eq!(ids(&s, filter(tag), w, 20).await, [T1]);
    let res = SpanFilter { tags: vec![("cluster".into(), "eu".into())], ..Default::default() };
    assert_eq!(ids(&s, filter(res), w, 20).await, [T2]);
    let err = SpanFilter { error: true, ..Default::default() };
    assert_eq!(ids(&s, filter(err), w, 20).await, [T1]);
    let slow = SpanFilter { min_duration: Some(Duration::from_millis(1500)), ..Default::default() };
    assert_eq!(ids(&s, filter(slow), w, 20).await, [T2]);
    let fast = SpanFilter { max_duration: Some(Duration::from_nanos(400)), ..Default::default() };
    assert_eq!(ids(&s, filter(fast), w, 20).await, [T1]);
}

#[tokio::test]
async fn conditions_combine_per_trace() {
    let s = dataset();
    let w = window(0, 4000);
    let svc = |name: &str| {
        TraceCondition::Span(SpanFilter { service: Some(name.into()), ..Default::default() }.to_expr().expect("expr"))
    };
    // frontend and checkout in the same trace, on different spans.
    assert_eq!(ids(&s, Some(TraceCondition::All(vec![svc("frontend"), svc("checkout")])), w, 20).await, [T1]);
    assert_eq!(ids(&s, Some(TraceCondition::Any(vec![svc("db"), svc("checkout")])), w, 20).await, [T3, T2, T1]);
    let nested = TraceCondition::All(vec![svc("frontend"), TraceCondition::Any(vec![svc("db"), svc("checkout")])]);
    assert_eq!(ids(&s, Some(nested), w, 20).await, [T2, T1]);
}

#[test]
fn guardrails() {
    let config = SearchConfig::default();
    let now = T0 + 10_000 * SEC;
    let w = config.window(None, None, now).expect("default window");
    assert_eq!((w.start_ns, w.end_ns), (now - 3600 * SEC, now));
    let w = config.window(Some(T0), None, now).expect("start only");
    assert_eq!((w.start_ns, w.end_ns), (T0, T0 + 3600 * SEC));
    let err = config.window(Some(T0 + SEC), Some(T0), now).expect_err("start > end");
    assert!(err.to_string().contains("after end"), "{err}");
    assert_eq!(err.status(), axum::http::StatusCode::BAD_REQUEST);
    let err = config.window(Some(T0 - 8 * 24 * 3600 * SEC), Some(T0), now).expect_err("too long");
    assert!(err.to_string().contains("query.search.max_range"), "{err}");
    assert_eq!(config.limit(None).expect("default"), 20);
    assert_eq!(config.limit(Some(1000)).expect("max"), 1000);
    let err = config.limit(Some(1001)).expect_err("over");
    assert!(err.to_string().contains("query.search.max_limit"), "{err}");
    assert!(config.limit(Some(0)).is_err());
    assert_eq!(config.spss(None).expect("default"), 3);
    assert!(config.spss(Some(101)).is_err());
}

mod endpoint {
    use serde_json::json;

    use super::*;
    use crate::test_support::get_json;

    fn uri(query: &str) -> String {
        let (start, end) = (T0 / SEC, T0 / SEC + 4000);
        format!("/api/v1/traces?start={start}&end={end}{query}")
    }

    fn trace_ids(body: &serde_json::Value) -> Vec<&str> {
        body["traces"].as_array().expect("traces").iter().filter_map(|t| t["trace_id"].as_str()).collect()
    }

    #[tokio::test]
    async fn classic_parameters() {
        let s = dataset();
        let (status, body) = get_json(&s, &uri("")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(trace_ids(&body), [T4, T3, T2, T1]);
        let (_, body) = get_json(&s, &uri("&service=frontend&operation=GET%20%2Fa")).await;
        assert_eq!(trace_ids(&body), [T4, T1]);
        let (_, body) = get_json(&s, &uri("&tags=http.status_code%3D500")).await;
        assert_eq!(trace_ids(&body), [T1]);
        let (_, body) = get_json(&s, &uri("&tags=cluster%3D%22eu%22&min_duration=1500ms")).await;
        assert_eq!(trace_ids(&body), [T2]);
        let (_, body) = get_json(&s, &uri("&status=error&max_duration=1s")).await;
        assert_eq!(trace_ids(&body), [T1]);
        let (_, body) = get_json(&s, &uri("&limit=1")).await;
        assert_eq!(trace_ids(&body), [T4]);
        // RFC 3339 times.
        let (_, body) = get_json(&s, "/api/v1/traces?start=2023-11-14T22:13:39Z&end=2023-11-14T23:13:41%2B01:00").await;
        assert_eq!(trace_ids(&body), [T2]);
    }

    #[tokio::test]
    async fn summary_shape() {
        let s = dataset();
        let (_, body) = get_json(&s, &uri("&service=checkout")).await;
        insta::assert_json_snapshot!(body);
        assert_eq!(body["traces"][0]["root_missing"], json!(true));
    }

    #[tokio::test]
    async fn bad_input_is_a_400_naming_the_problem() {
        let s = dataset();
        let cases = [
            ("/api/v1/traces?start=200&end=100", "after end"),
            ("/api/v1/traces?start=0&end=100000000", "query.search.max_range"),
            ("/api/v1/traces?limit=100000", "query.search.max_limit"),
            ("/api/v1/traces?limit=-1", "limit"),
            ("/api/v1/traces?min_duration=fast", "min_duration"),
            ("/api/v1/traces?max_duration=10", "missing a unit"),
            ("/api/v1/traces?status=ok", "status"),
            ("/api/v1/traces?start=yesterday", "start"),
            ("/api/v1/traces?tags=a%3D%22open", "unterminated quote"),
            ("/api/v1/traces?q=%7B", "TraceQL"),
        ];
        for (uri, needle) in cases {
            let (status, body) = get_json(&s, uri).await;
            assert_eq!(status, 400, "{uri}: {body}");
            let message = body["error"].as_str().unwrap_or_default();
            assert!(message.contains(needle), "{uri}: {message}");
        }
    }
}

/// Over real Parquet files, the find plan reads only the files whose time range
/// meets the window (the storage provider prunes by `start_time`).
#[tokio::test]
async fn find_plan_prunes_parquet_files_by_time() {
    use datafusion::physical_plan::displayable;
    use osprey_storage::{Storage, StorageConfig, Table};

    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = StorageConfig { data_dir: dir.path().to_path_buf(), disk_reserve_bytes: 0, ..Default::default() };
    config.flush.max_age = Duration::from_secs(3600);
    let storage = Storage::open(config).await.expect("open");
    const HOUR: i64 = 3600 * SEC;
    // Two traces two hours apart: two hourly Parquet files.
    storage.append(Table::Spans, batch(T1, &[span(A, "", "early", 0, SEC)])).await.expect("append");
    storage.append(Table::Spans, batch(T2, &[span(A, "", "late", 2 * HOUR, 2 * HOUR + SEC)])).await.expect("append");
    storage.flush().await.expect("flush");
    let service = QueryService::for_storage(storage, crate::QueryConfig::default()).expect("service");

    let late = TimeWindow { start_ns: T0 + 2 * HOUR - SEC, end_ns: T0 + 2 * HOUR + 10 * SEC };
    let df = plan::find_plan(service.context(), late, None, 20, None).await.expect("plan");
    let physical = df.clone().create_physical_plan().await.expect("physical plan");
    let text = displayable(physical.as_ref()).indent(true).to_string();
    assert_eq!(text.matches(".parquet").count(), 1, "one of the two files is scanned:\n{text}");
    let wide = plan::find_plan(service.context(), window(-10, 4 * 3600), None, 20, None).await.expect("plan");
    let text = displayable(wide.create_physical_plan().await.expect("plan").as_ref()).indent(true).to_string();
    assert_eq!(text.matches(".parquet").count(), 2, "both files are scanned:\n{text}");
    assert_eq!(ids(&service, None, late, 20).await, [T2]);
    assert_eq!(ids(&service, None, window(-10, 4 * 3600), 20).await, [T2, T1]);
}

/// The newest-spans shortcut of the find step answers exactly what the full find plan
/// answers, and does answer (rather than always falling back) where the newest matching
/// spans decide. Trace `i` starts at `i` s; its `late` span starts up to 399 s after it, so
/// the newest spans of some queries belong to old traces.
#[tokio::test]
async fn the_newest_spans_shortcut_finds_what_the_full_find_plan_finds() {
    let mut batches = Vec::new();
    for i in 0..400i64 {
        let start = i * SEC;
        let late = start + ((i * 7919) % 400) * SEC;
        let root = if i % 3 == 0 { "web" } else { "api" };
        let spans = vec![
            Span { name: "root", kind: 2, ..span("00000000000000a1", "", root, start, start + SEC) },
            Span { name: "db", ..span("00000000000000b2", "00000000000000a1", "db", start + 1, start + 2) },
            Span { name: "late", ..span("00000000000000c3", "00000000000000a1", "web", late, late + 1) },
        ];
        batches.push(batch(&format!("{:032x}", i + 1), &spans));
    }
    let s = service(batches);
    let ctx = s.context();
    let window = window(0, 1000);
    let queries = [
        "{ }",
        r#"{ name = "db" }"#,
        r#"{ resource.service.name = "web" }"#,
        r#"{ name = "late" }"#,
        r#"{ name = "root" } && { name = "late" }"#,
        r#"{ name = "root" && resource.service.name = "web" }"#,
    ];
    let (mut decided, mut fell_back) = (0, 0);
    for q in queries {
        let condition = crate::traceql::parse(q).expect("parse").condition;
        for limit in [1, 5, 20, 100] {
            let full = plan::find_plan(ctx, window, Some(&condition), limit, None).await.expect("plan");
            let full = full.collect().await.expect("run");
            let full: Vec<String> = strings(&full, 0);
            let shortcut = plan::find_among_newest_spans(ctx, window, Some(&condition), limit).await.expect("shortcut");
            match &shortcut {
                Some(found) => {
                    decided += 1;
                    assert_eq!(found, &full, "{q} limit {limit}");
                }
                None => fell_back += 1,
            }
            let found = plan::find_trace_ids(ctx, window, Some(&condition), limit).await.expect("find");
            assert_eq!(found, full, "{q} limit {limit}");
        }
    }
    assert!(decided >= 8 && fell_back >= 2, "decided {decided}, fell back {fell_back}");
}

fn strings(batches: &[arrow::array::RecordBatch], column: usize) -> Vec<String> {
    use arrow::array::AsArray;
    let mut out = Vec::new();
    for b in batches {
        let c = arrow::compute::cast(b.column(column), &arrow::datatypes::DataType::Utf8).expect("cast");
        out.extend(c.as_string::<i32>().iter().flatten().map(str::to_string));
    }
    out
}
