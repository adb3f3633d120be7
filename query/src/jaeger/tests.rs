//! Contract tests: the requests Grafana's Jaeger data source and both Jaeger UI
//! generations send, replayed against the router, on the TraceQL fixture (typed
//! attributes, an event, a link, producer/consumer, a trace whose root never arrived).
//!
//! Request shapes, by client:
//! - Grafana (`public/app/plugins/datasource/jaeger/datasource.ts`): the health check is
//!   `GET /api/services` (needs a non-empty `data`); trace by id
//!   `/api/traces/{encodeURIComponent(id)}` (reads `data[0]`); search
//!   `/api/traces?service=&operation=&tags=<JSON from logfmt>&minDuration=&maxDuration=&limit=&start=<µs>&end=<µs>&lookback=custom`
//!   (empty fields left out); the search form lists `/api/services` and
//!   `/api/services/{encodeURIComponent(service)}/operations`.
//! - Jaeger UI 2.14 (`packages/jaeger-ui/src/api/jaeger.ts`): `/api/operations?service=&spanKind=server`,
//!   `/api/traces?end=&limit=&lookback=1h&maxDuration&minDuration&service=&start=` (bare
//!   duration keys when the form fields are empty), `tags=` as JSON, repeated `traceID=`.
//! - Jaeger UI ≥ 2.15 (`packages/jaeger-ui/src/api/v3/client.ts`, `buildTraceSummariesParams`):
//!   `/api/v3/services`, `/api/v3/operations?service=`, `/api/v3/trace-summaries?query.serviceName=&query.operationName=&query.attributes=<JSON>&query.durationMin=&query.durationMax=&query.searchDepth=&query.startTimeMin=<ISO>&query.startTimeMax=<ISO>`
//!   and `/api/v3/traces/{id}`.
//! - Grafana's v3 client (`pkg/tsdb/jaeger/grpc_client.go`) sends the snake_case aliases
//!   (`query.service_name`, `query.start_time_min`, `query.num_traces`).

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::search::endpoint::now_ns;
use osprey_storage::attributes::AttrRef;

use crate::test_support::{batch, get_json, service, Span, T0};
use crate::traceql::fixture::{traces_at, SEC, T1, T2, T3, T4};

/// `start`/`end` in µs around the fixture (it spans T0+10s .. T0+41s).
fn micros_range() -> String {
    format!("start={}&end={}", T0 / 1_000, (T0 + 100 * SEC) / 1_000)
}

fn rfc3339(ns: i64) -> String {
    let secs = ns.div_euclid(SEC);
    let nanos = ns.rem_euclid(SEC) as u32;
    chrono::DateTime::from_timestamp(secs, nanos).expect("time").to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `encodeURIComponent`.
fn enc(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn v3_range() -> String {
    format!("query.startTimeMin={}&query.startTimeMax={}", rfc3339(T0), rfc3339(T0 + 100 * SEC))
}

/// The TraceQL fixture shifted by `base` ns, with `service.name` among the resource
/// attributes as the collector stores it (Jaeger's process is built from the resource).
fn dataset_at(base: i64) -> crate::QueryService {
    let batches = traces_at(base)
        .into_iter()
        .map(|(trace, spans)| {
            let spans: Vec<Span> = spans
                .into_iter()
                .map(|mut s| {
                    s.resource_attributes.insert(0, ("service.name", AttrRef::Str(s.service)));
                    s
                })
                .collect();
            batch(trace, &spans)
        })
        .collect();
    service(batches)
}

fn dataset() -> crate::QueryService {
    dataset_at(0)
}

/// The fixture, shifted so it ended a minute ago: listings look at recent data only.
fn recent() -> crate::QueryService {
    dataset_at(now_ns() - T0 - 60 * SEC)
}

fn v1_trace_ids(body: &Value) -> Vec<&str> {
    body["data"].as_array().expect("data").iter().filter_map(|t| t["traceID"].as_str()).collect()
}

fn summary_ids(body: &Value) -> Vec<&str> {
    body["summaries"].as_array().expect("summaries").iter().filter_map(|t| t["traceId"].as_str()).collect()
}

/// The v1 error message, checking the envelope around it.
fn v1_error(status: StatusCode, body: &Value, expected: StatusCode) -> String {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["data"], Value::Null, "{body}");
    assert_eq!(body["errors"][0]["code"], json!(expected.as_u16()), "{body}");
    body["errors"][0]["msg"].as_str().expect("msg").to_string()
}

#[tokio::test]
async fn grafana_health_check_and_search_form_listings() {
    let s = recent();
    let (status, body) = get_json(&s, "/jaeger/api/services").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"data": ["cache", "checkout", "frontend", "payment", "queue"], "total": 5, "limit": 0, "offset": 0, "errors": null})
    );
    let (status, body) = get_json(&s, "/jaeger/api/services/checkout/operations").await;
    assert_eq!((status, &body["data"]), (StatusCode::OK, &json!(["charge"])));
    // encodeURIComponent of a name with a space and a slash.
    let (status, body) = get_json(&s, "/jaeger/api/services/no%20such%2Fservice/operations").await;
    assert_eq!((status, &body["data"], &body["total"]), (StatusCode::OK, &json!([]), &json!(0)));
    // Old data is not listed: listings look back `query.search.max_range` from now.
    assert_eq!(get_json(&dataset(), "/jaeger/api/services").await.1["data"], json!([]));
}

#[tokio::test]
async fn jaeger_ui_operations_by_span_kind() {
    let s = recent();
    let (status, body) = get_json(&s, "/jaeger/api/operations?service=checkout").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"],
        json!([{"name": "charge", "spanKind": "client"}, {"name": "charge", "spanKind": "producer"}])
    );
    let (_, body) = get_json(&s, "/jaeger/api/operations?service=frontend&spanKind=server").await;
    assert_eq!(
        body["data"],
        json!([{"name": "GET /cart", "spanKind": "server"}, {"name": "GET /home", "spanKind": "server"}])
    );
    let (_, body) = get_json(&s, "/jaeger/api/operations?service=frontend&spanKind=consumer").await;
    assert_eq!(body["data"], json!([]));
    let (status, body) = get_json(&s, "/jaeger/api/operations?spanKind=server").await;
    assert!(v1_error(status, &body, StatusCode::BAD_REQUEST).contains("service"));
    let (status, body) = get_json(&s, "/jaeger/api/operations?service=frontend&spanKind=sideways").await;
    assert!(v1_error(status, &body, StatusCode::BAD_REQUEST).contains("span kind"));
}

#[tokio::test]
async fn grafana_search_with_logfmt_tags_as_json() {
    let s = dataset();
    // Grafana turns the logfmt `http.status_code=500` into `{"http.status_code":"500"}`.
    let uri = format!(
        "/jaeger/api/traces?service=frontend&tags=%7B%22http.status_code%22%3A%22500%22%7D&limit=20&{}&lookback=custom",
        micros_range()
    );
    let (status, body) = get_json(&s, &uri).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(v1_trace_ids(&body), [T2]);
    insta::assert_json_snapshot!("grafana_search_t2", body);

    let search = |q: &str| format!("/jaeger/api/traces?{q}&{}&lookback=custom", micros_range());
    assert_eq!(v1_trace_ids(&get_json(&s, &search("service=frontend")).await.1), [T2, T1]);
    assert_eq!(v1_trace_ids(&get_json(&s, &search("service=frontend&minDuration=1.5s")).await.1), [T2]);
    assert_eq!(v1_trace_ids(&get_json(&s, &search("service=frontend&maxDuration=1500ms")).await.1), [T1]);
    assert_eq!(v1_trace_ids(&get_json(&s, &search("service=frontend&operation=GET%20%2Fcart")).await.1), [T1]);
    assert_eq!(v1_trace_ids(&get_json(&s, &search("service=frontend&limit=1")).await.1), [T2]);
    // Tags match span attributes, resource attributes and the tags Jaeger derives.
    let tags = |json: &str| search(&format!("service=checkout&tags={}", enc(json)));
    assert_eq!(v1_trace_ids(&get_json(&s, &tags(r#"{"error":"true"}"#)).await.1), [T1]);
    assert_eq!(v1_trace_ids(&get_json(&s, &tags(r#"{"amount":"12.5"}"#)).await.1), [T1]);
    assert_eq!(v1_trace_ids(&get_json(&s, &tags(r#"{"span.kind":"producer"}"#)).await.1), [T3]);
    let cluster = search(&format!("service=queue&tags={}", enc(r#"{"cluster":"us"}"#)));
    assert_eq!(v1_trace_ids(&get_json(&s, &cluster).await.1), [T4]);
    assert_eq!(v1_trace_ids(&get_json(&s, &tags(r#"{"error":"true","retry":"false"}"#)).await.1), Vec::<&str>::new());
}

#[tokio::test]
async fn jaeger_ui_v1_search_with_bare_duration_keys_tag_pairs_and_trace_ids() {
    let s = dataset();
    let uri =
        format!("/jaeger/api/traces?{}&limit=20&lookback=1h&maxDuration&minDuration&service=checkout", micros_range());
    let (status, body) = get_json(&s, &uri).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(v1_trace_ids(&body), [T3, T1]);
    // Whole traces come back, not just the matching spans.
    assert_eq!(body["data"][1]["spans"].as_array().map(Vec::len), Some(3));

    let uri = format!("/jaeger/api/traces?{}&service=checkout&tag=error:true&tag=retry:true", micros_range());
    assert_eq!(v1_trace_ids(&get_json(&s, &uri).await.1), [T1]);

    let missing = "99999999999999999999999999999999";
    let uri = format!("/jaeger/api/traces?traceID={T1}&traceID={T4}&traceID={missing}");
    let (status, body) = get_json(&s, &uri).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut ids = v1_trace_ids(&body);
    ids.sort_unstable();
    assert_eq!(ids, [T1, T4]);
    assert_eq!(body["errors"], json!([{"msg": "trace not found", "traceID": missing}]));
}

#[tokio::test]
async fn trace_by_id_in_jaegers_model_with_typed_tags() {
    let s = dataset();
    let (status, body) = get_json(&s, &format!("/jaeger/api/traces/{T1}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    insta::assert_json_snapshot!("trace_t1", body);
    let trace = &body["data"][0];
    let charge =
        trace["spans"].as_array().expect("spans").iter().find(|s| s["operationName"] == "charge").expect("charge");
    let tag = |key: &str| charge["tags"].as_array().expect("tags").iter().find(|t| t["key"] == key).cloned();
    assert_eq!(tag("retry"), Some(json!({"key": "retry", "type": "bool", "value": true})));
    assert_eq!(tag("amount"), Some(json!({"key": "amount", "type": "float64", "value": 12.5})));
    assert_eq!(tag("error"), Some(json!({"key": "error", "type": "bool", "value": true})));
    assert_eq!(tag("span.kind"), Some(json!({"key": "span.kind", "type": "string", "value": "client"})));
    assert_eq!(tag("otel.status_description").map(|t| t["value"].clone()), Some(json!("card declined")));
    assert_eq!(charge["references"], json!([{"refType": "CHILD_OF", "traceID": T1, "spanID": "00000000000000a1"}]));
    assert_eq!(charge["logs"][0]["fields"][0], json!({"key": "event", "type": "string", "value": "exception"}));
    // Microseconds.
    assert_eq!(charge["startTime"], json!((T0 + 10 * SEC + 100_000_000) / 1_000));
    assert_eq!(charge["duration"], json!(300_000));
    let root =
        trace["spans"].as_array().expect("spans").iter().find(|s| s["operationName"] == "GET /cart").expect("root");
    let status_code = root["tags"].as_array().expect("tags").iter().find(|t| t["key"] == "http.status_code").cloned();
    assert_eq!(status_code, Some(json!({"key": "http.status_code", "type": "int64", "value": 200})));
    let process = &trace["processes"][root["processID"].as_str().expect("pid")];
    assert_eq!(process["serviceName"], "frontend");
    assert_eq!(process["tags"], json!([{"key": "cluster", "type": "string", "value": "eu"}]));

    // A link is a FOLLOWS_FROM reference after the parent.
    let (_, body) = get_json(&s, &format!("/jaeger/api/traces/{T2}")).await;
    let set = body["data"][0]["spans"].as_array().expect("spans").iter().find(|s| s["operationName"] == "set").cloned();
    assert_eq!(
        set.map(|s| s["references"].clone()),
        Some(json!([
            {"refType": "CHILD_OF", "traceID": T2, "spanID": "00000000000000a1"},
            {"refType": "FOLLOWS_FROM", "traceID": T1, "spanID": "00000000000000a1"}
        ]))
    );
    // Grafana's "time parameters" add start/end in µs.
    let uri = format!("/jaeger/api/traces/{T1}?{}", micros_range());
    assert_eq!(v1_trace_ids(&get_json(&s, &uri).await.1), [T1]);
}

#[tokio::test]
async fn v1_errors_are_jaegers_envelope_with_the_right_status() {
    let s = dataset();
    let (status, body) = get_json(&s, "/jaeger/api/traces/99999999999999999999999999999999").await;
    assert_eq!(v1_error(status, &body, StatusCode::NOT_FOUND), "trace not found");
    let (status, body) = get_json(&s, "/jaeger/api/traces/not-hex").await;
    assert!(v1_error(status, &body, StatusCode::BAD_REQUEST).contains("trace"), "{body}");
    let (status, body) = get_json(&s, "/jaeger/api/traces/abc123abc123abc123abc123abc123abc123").await;
    v1_error(status, &body, StatusCode::BAD_REQUEST);

    let search = |q: &str| format!("/jaeger/api/traces?service=frontend&{q}");
    for (query, needle) in [
        ("tags=%7Bnot-json", "tags"),
        ("tags=%7B%22n%22%3A1%7D", "string"),
        ("tag=no-colon", "key:value"),
        ("minDuration=fast", "minDuration"),
        ("minDuration=2s&maxDuration=1s", "maxDuration"),
        ("start=yesterday", "start"),
        ("limit=-3", "limit"),
        ("traceID=xyz", "trace"),
    ] {
        let (status, body) = get_json(&s, &search(query)).await;
        let msg = v1_error(status, &body, StatusCode::BAD_REQUEST);
        assert!(msg.contains(needle), "{query}: {msg}");
    }
    // start after end, a huge limit: refused, not an unbounded scan.
    let (status, body) = get_json(&s, &search(&format!("start={}&end={}", T0 / 1_000 + 10, T0 / 1_000))).await;
    v1_error(status, &body, StatusCode::BAD_REQUEST);
    let (status, body) = get_json(&s, &search("limit=1000000000")).await;
    assert!(status.is_client_error(), "{status} {body}");
    // The server keeps answering.
    assert_eq!(get_json(&s, &format!("/jaeger/api/traces/{T1}")).await.0, StatusCode::OK);
}

#[tokio::test]
async fn jaeger_ui_v3_listings() {
    let s = recent();
    let (status, body) = get_json(&s, "/jaeger/api/v3/services").await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"services": ["cache", "checkout", "frontend", "payment", "queue"]}))
    );
    let (status, body) = get_json(&s, "/jaeger/api/v3/operations?service=checkout").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"operations": [{"name": "charge", "spanKind": "client"}, {"name": "charge", "spanKind": "producer"}]})
    );
    // Unspecified kinds are reported as internal, as Jaeger's gateway does.
    let (_, body) = get_json(&s, "/jaeger/api/v3/operations?service=cache").await;
    assert_eq!(
        body,
        json!({"operations": [{"name": "get", "spanKind": "internal"}, {"name": "set", "spanKind": "internal"}]})
    );
    let (_, body) = get_json(&s, "/jaeger/api/v3/operations?service=checkout&spanKind=producer").await;
    assert_eq!(body, json!({"operations": [{"name": "charge", "spanKind": "producer"}]}));
}

#[tokio::test]
async fn jaeger_ui_v3_trace_summaries() {
    let s = dataset();
    let uri = format!("/jaeger/api/v3/trace-summaries?query.serviceName=checkout&query.searchDepth=20&{}", v3_range());
    let (status, body) = get_json(&s, &uri).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    insta::assert_json_snapshot!("summaries_checkout", body);
    assert_eq!(summary_ids(&body), [T3, T1]);
    // T3's root never arrived: no root names, one orphan; int64s are strings.
    let t3 = &body["summaries"][0];
    assert_eq!((t3["rootServiceName"].as_str(), t3["orphanSpanCount"].as_i64()), (Some(""), Some(1)));
    assert_eq!(t3["minStartTimeUnixNano"], json!((T0 + 30 * SEC).to_string()));
    let t1 = &body["summaries"][1];
    assert_eq!(
        (t1["rootServiceName"].as_str(), t1["rootOperationName"].as_str()),
        (Some("frontend"), Some("GET /cart"))
    );
    assert_eq!((t1["spanCount"].as_i64(), t1["errorSpanCount"].as_i64()), (Some(3), Some(1)));

    let search = |q: &str| format!("/jaeger/api/v3/trace-summaries?{q}&{}", v3_range());
    let ids = |body: &Value| summary_ids(body).iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let attrs = enc(r#"{"http.status_code":"500"}"#);
    assert_eq!(ids(&get_json(&s, &search(&format!("query.attributes={attrs}"))).await.1), [T2]);
    // The UI sends bare numbers as seconds already suffixed ("1.5s").
    assert_eq!(ids(&get_json(&s, &search("query.serviceName=frontend&query.durationMin=1.5s")).await.1), [T2]);
    assert_eq!(
        ids(&get_json(&s, &search("query.serviceName=checkout&query.operationName=charge&query.durationMax=100ms"))
            .await
            .1),
        [T3]
    );
    assert_eq!(ids(&get_json(&s, &search("query.serviceName=nobody")).await.1), Vec::<String>::new());
    // Grafana's snake_case aliases; the `+` of an unencoded offset arrives as a space.
    let uri = format!(
        "/jaeger/api/v3/trace-summaries?query.service_name=queue&query.num_traces=5&query.start_time_min={}&query.start_time_max={}",
        rfc3339(T0).replace('Z', "+00:00"),
        rfc3339(T0 + 100 * SEC)
    );
    let (status, body) = get_json(&s, &uri).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(summary_ids(&body), [T4, T3]);
}

#[tokio::test]
async fn v3_traces_are_otlp_json() {
    let s = dataset();
    let (status, body) = get_json(&s, &format!("/jaeger/api/v3/traces/{T1}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    insta::assert_json_snapshot!("v3_trace_t1", body);
    let resource_spans = body["result"]["resourceSpans"].as_array().expect("resourceSpans");
    assert_eq!(resource_spans.len(), 3);
    let spans: Vec<&Value> = resource_spans
        .iter()
        .flat_map(|rs| rs["scopeSpans"].as_array().into_iter().flatten())
        .flat_map(|ss| ss["spans"].as_array().into_iter().flatten())
        .collect();
    let root = spans.iter().find(|s| s["name"] == "GET /cart").expect("root");
    assert_eq!(root["attributes"][0], json!({"key": "http.status_code", "value": {"intValue": "200"}}));
    assert_eq!(root["startTimeUnixNano"], json!((T0 + 10 * SEC).to_string()));

    let uri = format!("/jaeger/api/v3/traces?query.serviceName=frontend&{}", v3_range());
    let (status, body) = get_json(&s, &uri).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let traces: std::collections::BTreeSet<&str> = body["result"]["resourceSpans"]
        .as_array()
        .expect("resourceSpans")
        .iter()
        .flat_map(|rs| rs["scopeSpans"].as_array().into_iter().flatten())
        .flat_map(|ss| ss["spans"].as_array().into_iter().flatten())
        .filter_map(|s| s["traceId"].as_str())
        .collect();
    assert_eq!(traces.into_iter().collect::<Vec<_>>(), [T1, T2]);
}

#[tokio::test]
async fn v3_errors_are_grpc_gateway_errors() {
    let s = dataset();
    let expect = |status: StatusCode, body: &Value, code: StatusCode| -> String {
        assert_eq!(status, code, "{body}");
        assert_eq!(body["error"]["httpCode"], json!(code.as_u16()), "{body}");
        body["error"]["message"].as_str().expect("message").to_string()
    };
    let (status, body) = get_json(&s, "/jaeger/api/v3/traces/99999999999999999999999999999999").await;
    expect(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = get_json(&s, &format!("/jaeger/api/v3/traces?query.serviceName=nobody&{}", v3_range())).await;
    expect(status, &body, StatusCode::NOT_FOUND);
    for (query, needle) in [
        ("query.startTimeMin=yesterday", "query.startTimeMin"),
        ("query.startTimeMin=1700000000", "RFC 3339"),
        ("query.durationMin=soon", "query.durationMin"),
        ("query.attributes=%5B1%5D", "query.attributes"),
        ("query.searchDepth=many", "query.searchDepth"),
    ] {
        let (status, body) = get_json(&s, &format!("/jaeger/api/v3/trace-summaries?{query}")).await;
        let msg = expect(status, &body, StatusCode::BAD_REQUEST);
        assert!(msg.contains(needle), "{query}: {msg}");
    }
    let (status, body) = get_json(&s, "/jaeger/api/v3/traces/zz").await;
    expect(status, &body, StatusCode::BAD_REQUEST);
    let (status, body) = get_json(&s, &format!("/jaeger/api/v3/traces/{T1}?rawTraces=maybe")).await;
    expect(status, &body, StatusCode::BAD_REQUEST);
}
