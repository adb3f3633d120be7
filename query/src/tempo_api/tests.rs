//! Contract tests: the requests Grafana's Tempo data source sends, replayed
//! against the router. Request shapes from grafana/grafana
//! `public/app/plugins/datasource/tempo/language_provider.ts` (tags with
//! `limit=5000`; tag values with the tag `encodeURIComponent`-ed twice and `q`),
//! `pkg/tsdb/tempo/search.go` (`/api/search?q=&limit=&spss=&start=&end=`) and the
//! data source's health check (`/api/echo`).

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};
use tower::ServiceExt as _;

use crate::search::endpoint::now_ns;
use crate::test_support::{get_json, T0};
use crate::traceql::fixture::{dataset, dataset_at, SEC, T1, T2, T3, T4};
use crate::{router, QueryService};

fn range() -> String {
    format!("start={}&end={}", T0 / SEC, T0 / SEC + 100)
}

async fn get_text(service: &QueryService, uri: &str) -> (StatusCode, String) {
    let request = Request::get(uri).body(Body::empty()).expect("request");
    let response = router(service.clone()).oneshot(request).await.expect("response");
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("body");
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn trace_ids(body: &Value) -> Vec<&str> {
    body["traces"].as_array().expect("traces").iter().filter_map(|t| t["traceID"].as_str()).collect()
}

#[tokio::test]
async fn health_check_and_build_info() {
    let s = dataset();
    assert_eq!(get_text(&s, "/api/echo").await, (StatusCode::OK, "echo".to_string()));
    assert_eq!(get_text(&s, "/ready").await, (StatusCode::OK, "ready".to_string()));
    let (status, body) = get_json(&s, "/api/status/buildinfo").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["version"], super::TEMPO_API_VERSION);
}

#[tokio::test]
async fn traceql_search_as_grafana_sends_it() {
    let s = dataset();
    // URLSearchParams encoding of `{ span.http.status_code >= 200 }`.
    let uri = format!("/api/search?q=%7B+span.http.status_code+%3E%3D+200+%7D&limit=20&spss=3&{}", range());
    let (status, body) = get_json(&s, &uri).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    insta::assert_json_snapshot!(body);
    assert_eq!(trace_ids(&body), [T2, T1]);
    // int64s as strings, typed attributes.
    let span = &body["traces"][1]["spanSets"][0]["spans"][0];
    assert_eq!(span["startTimeUnixNano"], json!((T0 + 10 * SEC).to_string()));
    assert_eq!(span["attributes"][1], json!({"key": "http.status_code", "value": {"intValue": "200"}}));
    assert_eq!(body["traces"][1]["spanSet"], body["traces"][1]["spanSets"][0]);
}

#[tokio::test]
async fn root_not_yet_received() {
    let s = dataset();
    let uri = format!("/api/search?q=%7B+name+%3D+%22consume%22+%7D&{}", range());
    let (_, body) = get_json(&s, &uri).await;
    assert_eq!(trace_ids(&body), [T3]);
    assert_eq!(body["traces"][0]["rootServiceName"], "<root span not yet received>");
    assert!(body["traces"][0].get("rootTraceName").is_none());
}

#[tokio::test]
async fn legacy_tag_search() {
    let s = dataset();
    let (status, body) = get_json(&s, &format!("/api/search?tags=service.name%3Dfrontend&{}", range())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(trace_ids(&body), [T2, T1]);
    let uri = format!("/api/search?tags=service.name%3Dfrontend&minDuration=1500ms&{}", range());
    assert_eq!(trace_ids(&get_json(&s, &uri).await.1), [T2]);
    let uri = format!("/api/search?tags=http.status_code%3D500+service.name%3Dfrontend&{}", range());
    assert_eq!(trace_ids(&get_json(&s, &uri).await.1), [T2]);
    let uri = format!("/api/search?maxDuration=100ms&{}", range());
    assert_eq!(trace_ids(&get_json(&s, &uri).await.1), [T4, T3]);
    // limit=0 and spss=0 mean the defaults.
    let uri = format!("/api/search?limit=0&spss=0&{}", range());
    assert_eq!(trace_ids(&get_json(&s, &uri).await.1), [T4, T3, T2, T1]);
}

#[tokio::test]
async fn bad_search_requests_are_400s() {
    let s = dataset();
    let cases = [
        ("/api/search?q=%7B+foo+%7D".to_string(), "line 1, column 3"),
        ("/api/search?q=%7B%7D&tags=a%3Db".to_string(), "tags and q"),
        ("/api/search?start=200&end=100".to_string(), "after end"),
        ("/api/search?limit=100000".to_string(), "query.search.max_limit"),
        ("/api/search?spss=100000".to_string(), "query.search.max_spss"),
        ("/api/search?minDuration=soon".to_string(), "minDuration"),
        ("/api/v2/search/tags?scope=galaxy".to_string(), "scope"),
    ];
    for (uri, needle) in cases {
        let (status, body) = get_json(&s, &uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert!(body["error"].as_str().is_some_and(|e| e.contains(needle)), "{uri}: {body}");
    }
    // Still serving.
    assert_eq!(get_text(&s, "/api/echo").await.0, StatusCode::OK);
}

/// Grafana asks for tags without a time range (the last hour by default): data
/// from a minute ago.
fn recent() -> QueryService {
    dataset_at(now_ns() - T0 - 60 * SEC)
}

#[tokio::test]
async fn tag_names_by_scope() {
    let s = recent();
    let (status, body) = get_json(&s, "/api/v2/search/tags?limit=5000").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    insta::assert_json_snapshot!(body);
    let (_, body) = get_json(&s, "/api/v2/search/tags?scope=resource").await;
    assert_eq!(body, json!({"scopes": [{"name": "resource", "tags": ["cluster"]}]}));
    let (_, body) = get_json(&s, "/api/search/tags").await;
    assert_eq!(body, json!({"tagNames": ["amount", "cluster", "http.status_code", "messaging.system", "retry"]}));
    // q narrows to the spans it matches.
    let (_, body) = get_json(&s, "/api/v2/search/tags?scope=span&q=%7B+name+%3D+%22charge%22+%7D").await;
    assert_eq!(body, json!({"scopes": [{"name": "span", "tags": ["amount", "retry"]}]}));
}

#[tokio::test]
async fn typed_tag_values() {
    let s = recent();
    let values = |body: &Value| body["tagValues"].clone();
    let (_, body) = get_json(&s, "/api/v2/search/tag/resource.service.name/values?limit=5000").await;
    let names = ["cache", "checkout", "frontend", "payment", "queue"];
    assert_eq!(values(&body), json!(names.map(|n| json!({"type": "string", "value": n}))));
    let (_, body) = get_json(&s, "/api/v2/search/tag/span.http.status_code/values").await;
    assert_eq!(values(&body), json!([{"type": "int", "value": "200"}, {"type": "int", "value": "500"}]));
    let (_, body) = get_json(&s, "/api/v2/search/tag/.amount/values").await;
    assert_eq!(values(&body), json!([{"type": "float", "value": "12.5"}]));
    let (_, body) = get_json(&s, "/api/v2/search/tag/span.retry/values").await;
    assert_eq!(values(&body), json!([{"type": "bool", "value": "true"}]));
    let (_, body) = get_json(&s, "/api/v2/search/tag/status/values").await;
    assert_eq!(values(&body), json!(["unset", "ok", "error"].map(|v| json!({"type": "keyword", "value": v}))));
    let (_, body) = get_json(&s, "/api/v2/search/tag/rootServiceName/values").await;
    assert_eq!(values(&body), json!([{"type": "string", "value": "frontend"}, {"type": "string", "value": "queue"}]));
    let (_, body) = get_json(&s, "/api/v2/search/tag/event:name/values").await;
    assert_eq!(values(&body), json!([{"type": "string", "value": "exception"}]));
    let (_, body) = get_json(&s, "/api/search/tag/cluster/values").await;
    assert_eq!(body, json!({"tagValues": ["eu", "us"]}));
}

#[tokio::test]
async fn tag_values_narrowed_by_q_and_double_encoded() {
    let s = recent();
    // encodeURIComponent(encodeURIComponent("resource.service.name")) has nothing to
    // encode; a tag with a slash does: "http/route" → "http%252Froute".
    let (status, body) = get_json(
        &s,
        "/api/v2/search/tag/resource.service.name/values?limit=5000&q=%7B+span.http.status_code+%3D+500+%7D",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["tagValues"], json!([{"type": "string", "value": "frontend"}]));
    let (status, body) = get_json(&s, "/api/v2/search/tag/resource.cluster%252Fx/values").await;
    assert_eq!((status, body["tagValues"].clone()), (StatusCode::OK, json!([])));
    let (_, body) = get_json(&s, "/api/v2/search/tag/resource%252Ecluster/values").await;
    assert_eq!(body["tagValues"], json!([{"type": "string", "value": "eu"}, {"type": "string", "value": "us"}]));
    // A half-typed query while the user types: all values, not an error.
    let (status, body) =
        get_json(&s, "/api/v2/search/tag/resource.cluster/values?q=%7B+resource.cluster+%3D+%7D").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["tagValues"].as_array().map(Vec::len), Some(2));
}

mod trace_by_id {
    use osprey_proto::common::any_value::Value as Any;
    use prost::Message as _;

    use super::*;
    use crate::tempo_api::trace_by_id::{TempoTrace, TraceByIdResponse};

    async fn get_bytes(service: &QueryService, uri: &str, accept: &str) -> (StatusCode, String, Vec<u8>) {
        let request = Request::get(uri).header("accept", accept).body(Body::empty()).expect("request");
        let response = router(service.clone()).oneshot(request).await.expect("response");
        let status = response.status();
        let content_type =
            response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("body");
        (status, content_type, body.to_vec())
    }

    fn http_status_code(resource_spans: &[osprey_proto::trace::ResourceSpans]) -> Option<i64> {
        resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| &ss.spans)
            .flat_map(|s| &s.attributes)
            .find(|kv| kv.key == "http.status_code")
            .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                Any::IntValue(i) => Some(*i),
                _ => None,
            })
    }

    #[tokio::test]
    async fn protobuf_as_grafana_asks() {
        let s = dataset();
        // grafana/grafana pkg/tsdb/tempo/trace.go: /api/traces/{id}?start=&end=, Accept: application/protobuf.
        let uri = format!("/api/traces/{T1}?{}", range());
        let (status, content_type, body) = get_bytes(&s, &uri, "application/protobuf").await;
        assert_eq!((status, content_type.as_str()), (StatusCode::OK, "application/protobuf"));
        let trace = TempoTrace::decode(body.as_slice()).expect("Tempo Trace");
        let spans: usize = trace.resource_spans.iter().flat_map(|rs| &rs.scope_spans).map(|ss| ss.spans.len()).sum();
        assert_eq!(spans, 3);
        assert_eq!(http_status_code(&trace.resource_spans), Some(200));
        // The same bytes are an OTLP TracesData.
        let data = osprey_proto::trace::TracesData::decode(body.as_slice()).expect("TracesData");
        assert_eq!(data.resource_spans, trace.resource_spans);

        let (status, _, body) = get_bytes(&s, &format!("/api/v2/traces/{T1}"), "application/protobuf").await;
        assert_eq!(status, StatusCode::OK);
        let response = TraceByIdResponse::decode(body.as_slice()).expect("TraceByIDResponse");
        assert_eq!(response.status, 0);
        assert_eq!(response.trace.map(|t| t.resource_spans), Some(trace.resource_spans));
    }

    #[tokio::test]
    async fn json_by_default() {
        let s = dataset();
        let (status, body) = get_json(&s, &format!("/api/traces/{T2}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let spans: usize = body["resourceSpans"]
            .as_array()
            .expect("resourceSpans")
            .iter()
            .flat_map(|rs| rs["scopeSpans"].as_array().cloned().unwrap_or_default())
            .map(|ss| ss["spans"].as_array().map_or(0, Vec::len))
            .sum();
        assert_eq!(spans, 3, "{body}");
        let (status, body) = get_json(&s, &format!("/api/v2/traces/{T2}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let spans = body["trace"]["resourceSpans"][0]["scopeSpans"][0]["spans"].as_array().map(Vec::len);
        assert!(spans.is_some_and(|n| n >= 1), "{body}");
    }

    #[tokio::test]
    async fn missing_and_malformed_ids() {
        let s = dataset();
        let (status, body) = get_json(&s, "/api/traces/abc").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        let (status, body) = get_json(&s, "/api/v2/traces/99999999999999999999999999999999").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        for bad in ["xyz", "111111111111111111111111111111111"] {
            let (status, body) = get_json(&s, &format!("/api/traces/{bad}")).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
            assert!(body["error"].as_str().is_some_and(|e| e.contains("invalid trace id")), "{body}");
        }
    }
}
