//! The Tempo HTTP API at the root of the query port, so Grafana's Tempo data
//! source works against Osprey unchanged. Paths and parameters follow grafana/tempo
//! `pkg/api/http.go` (`PathSearch`, `PathSearchTags`, `PathSearchTagValues`,
//! `PathSearchTagsV2`, `PathSearchTagValuesV2`, `PathEcho`, `PathBuildInfo`) and
//! `ParseSearchRequestWithDefault`; what Grafana sends is in grafana/grafana
//! `public/app/plugins/datasource/tempo/language_provider.ts` (tag values with the
//! tag `encodeURIComponent`-ed twice, `limit=5000`) and `pkg/tsdb/tempo/search.go`
//! (`/api/search?q=&limit=&spss=&start=&end=`).
//!
//! - `/api/search`: TraceQL `q`, or the legacy `tags` (logfmt) / `minDuration` /
//!   `maxDuration`, which are turned into the TraceQL filter Tempo builds for
//!   them (`{ .k = "v" && traceDuration >= 100ms }`); `q` and `tags` together are a
//!   400, as in Tempo. `limit` and `spss` of 0 mean the default.
//! - Errors are `{"error": "..."}` with a 4xx status (Tempo answers plain text;
//!   Grafana shows either).

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{QueryError, Result};
use crate::search::endpoint::{now_ns, time_param};
use crate::search::params::{count_param, duration_param, parse_logfmt};
use crate::search::TimeWindow;
use crate::service::QueryService;
use crate::traceql;
use crate::traceql::ast::{Field, Intrinsic, Scope};

pub mod search_json;
pub mod tags;
pub mod trace_by_id;

/// The Tempo routes (state: the query service).
pub fn router(service: QueryService) -> Router {
    Router::new()
        .route("/api/echo", get(|| async { "echo" }))
        .route("/ready", get(|| async { "ready" }))
        .route("/api/status/buildinfo", get(buildinfo))
        .route("/api/search", get(search))
        .route("/api/search/tags", get(tags_v1))
        .route("/api/v2/search/tags", get(tags_v2))
        .route("/api/search/tag/{tag}/values", get(tag_values_v1))
        .route("/api/v2/search/tag/{tag}/values", get(tag_values_v2))
        .route("/api/traces/{trace_id}", get(trace_by_id::trace_v1))
        .route("/api/v2/traces/{trace_id}", get(trace_by_id::trace_v2))
        .with_state(service)
}

/// `/api/status/buildinfo` in the shape of Prometheus' build info, which Tempo
/// serves. `version` is the Tempo API level Osprey implements (Grafana compares it
/// to enable features); Osprey's own version is in `revision` and `branch`.
async fn buildinfo() -> Json<Value> {
    Json(json!({
        "version": TEMPO_API_VERSION,
        "revision": format!("osprey-{}", env!("CARGO_PKG_VERSION")),
        "branch": "osprey",
        "buildUser": "",
        "buildDate": "",
        "goVersion": "",
    }))
}

/// The Tempo release whose HTTP search API (TraceQL, `spss`, tags v2) Osprey serves.
pub const TEMPO_API_VERSION: &str = "2.4.0";

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchParams {
    pub q: Option<String>,
    pub tags: Option<String>,
    pub min_duration: Option<String>,
    pub max_duration: Option<String>,
    pub limit: Option<String>,
    pub spss: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
}

fn query<T>(params: Result<Query<T>, QueryRejection>) -> Result<T> {
    params.map(|Query(p)| p).map_err(|e| QueryError::InvalidRequest(e.body_text()))
}

/// `start`/`end` in unix seconds (or RFC 3339); 0 or absent means "default".
fn window(service: &QueryService, start: Option<&str>, end: Option<&str>) -> Result<TimeWindow> {
    let given = |name, text: Option<&str>| -> Result<Option<i64>> { Ok(time_param(name, text)?.filter(|ns| *ns != 0)) };
    service.config().search.window(given("start", start)?, given("end", end)?, now_ns())
}

/// A tag lookup under the query timeout (`query.timeout`).
async fn within<T>(service: &QueryService, lookup: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    let timeout = service.config().timeout;
    tokio::time::timeout(timeout, lookup).await.map_err(|_| QueryError::Timeout(timeout))?
}

/// Tempo treats 0 as "not given".
fn nonzero(name: &'static str, text: Option<&str>) -> Result<Option<usize>> {
    Ok(count_param(name, text)?.filter(|n| *n != 0))
}

async fn search(
    State(service): State<QueryService>,
    params: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Json<search_json::SearchResponse>> {
    let params = query(params)?;
    let config = &service.config().search;
    let window = window(&service, params.start.as_deref(), params.end.as_deref())?;
    let limit = config.limit(nonzero("limit", params.limit.as_deref())?)?;
    let spss = config.spss(nonzero("spss", params.spss.as_deref())?)?;
    let q = params.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let legacy = legacy_query(&params)?;
    let text = match (q, legacy) {
        (Some(_), Some(_)) => {
            return Err(QueryError::InvalidRequest("can't specify tags and q in the same query".into()))
        }
        (Some(q), None) => q.to_string(),
        (None, Some(legacy)) => legacy,
        (None, None) => "{}".to_string(),
    };
    let outcome = traceql::search_spss(&service, &text, window, limit, spss, None).await?;
    Ok(Json(search_json::response(&outcome)))
}

/// The legacy parameters as the TraceQL filter Tempo makes of them; `None` when
/// none is given. Tag values compare as strings (a stored int `500` matches `500`).
fn legacy_query(params: &SearchParams) -> Result<Option<String>> {
    let mut parts = Vec::new();
    if let Some(tags) = params.tags.as_deref() {
        for (key, value) in parse_logfmt("tags", tags)? {
            parts.push(format!("{} = {}", legacy_field(&key), quoted(&value)));
        }
    }
    if let Some(min) = duration_param("minDuration", params.min_duration.as_deref())? {
        parts.push(format!("traceDuration >= {}ns", min.as_nanos()));
    }
    if let Some(max) = duration_param("maxDuration", params.max_duration.as_deref())? {
        parts.push(format!("traceDuration <= {}ns", max.as_nanos()));
    }
    Ok((!parts.is_empty()).then(|| format!("{{ {} }}", parts.join(" && "))))
}

fn legacy_field(key: &str) -> String {
    match key {
        "name" => "name".to_string(),
        "status" | "status.code" => "status".to_string(),
        _ if key.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '/' | ':')) => format!(".{key}"),
        _ => format!(".{}", quoted(key)),
    }
}

fn quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

#[derive(Debug, Default, Deserialize)]
pub struct TagParams {
    pub scope: Option<String>,
    pub q: Option<String>,
    pub limit: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
}

fn tag_limit(service: &QueryService, params: &TagParams) -> Result<usize> {
    let max = service.config().search.max_tag_values.max(1);
    Ok(nonzero("limit", params.limit.as_deref())?.unwrap_or(max).min(max))
}

/// `/api/search/tags` → `{"tagNames": [...]}`: span and resource attribute keys.
async fn tags_v1(
    State(service): State<QueryService>,
    params: Result<Query<TagParams>, QueryRejection>,
) -> Result<Json<Value>> {
    let params = query(params)?;
    let (window, limit) =
        (window(&service, params.start.as_deref(), params.end.as_deref())?, tag_limit(&service, &params)?);
    let filter = tags::narrowing(params.q.as_deref());
    let ctx = service.context();
    let mut names = within(
        &service,
        tags::attribute_keys(ctx, osprey_storage::spans::col::ATTRIBUTES, window, filter.clone(), limit),
    )
    .await?;
    names.extend(
        within(
            &service,
            tags::attribute_keys(ctx, osprey_storage::spans::col::RESOURCE_ATTRIBUTES, window, filter, limit),
        )
        .await?,
    );
    names.sort();
    names.dedup();
    names.truncate(limit);
    Ok(Json(json!({ "tagNames": names })))
}

/// `/api/v2/search/tags[?scope=resource|span|intrinsic|none]` →
/// `{"scopes": [{"name", "tags"}]}`.
async fn tags_v2(
    State(service): State<QueryService>,
    params: Result<Query<TagParams>, QueryRejection>,
) -> Result<Json<Value>> {
    let params = query(params)?;
    let (window, limit) =
        (window(&service, params.start.as_deref(), params.end.as_deref())?, tag_limit(&service, &params)?);
    let scope = params.scope.as_deref().map(str::trim).filter(|s| !s.is_empty() && *s != "none" && *s != "all");
    let wanted = |name: &str| scope.is_none_or(|s| s == name);
    if let Some(s) = scope {
        if !["resource", "span", "intrinsic"].contains(&s) {
            return Err(QueryError::InvalidParameter {
                name: "scope",
                reason: format!("{s:?}: expected resource, span, intrinsic or none"),
            });
        }
    }
    let filter = tags::narrowing(params.q.as_deref());
    let ctx = service.context();
    let mut scopes = Vec::new();
    for (name, column) in [
        ("resource", osprey_storage::spans::col::RESOURCE_ATTRIBUTES),
        ("span", osprey_storage::spans::col::ATTRIBUTES),
    ] {
        if wanted(name) {
            let tags = within(&service, tags::attribute_keys(ctx, column, window, filter.clone(), limit)).await?;
            scopes.push(json!({ "name": name, "tags": tags }));
        }
    }
    if wanted("intrinsic") {
        let names: Vec<&str> = tags::INTRINSICS.iter().map(|i| i.canonical()).collect();
        scopes.push(json!({ "name": "intrinsic", "tags": names }));
    }
    Ok(Json(json!({ "scopes": scopes })))
}

/// The tag of a values path. Grafana encodes it twice (`encodeURIComponent`
/// applied twice): the router decodes once, so decode what is left.
fn tag_of(path: Result<Path<String>, PathRejection>) -> Result<String> {
    let Path(raw) = path.map_err(|e| QueryError::InvalidRequest(e.body_text()))?;
    let mut tag = raw;
    for _ in 0..2 {
        if !tag.contains('%') {
            break;
        }
        tag = percent_decode(&tag).ok_or_else(|| QueryError::InvalidParameter {
            name: "tag",
            reason: format!("{tag:?} is not valid URL encoding"),
        })?;
    }
    if tag.trim().is_empty() {
        return Err(QueryError::InvalidParameter { name: "tag", reason: "empty tag name".into() });
    }
    Ok(tag)
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A v2 tag: `resource.x`, `span.x`, `.x`, an intrinsic, or a bare name (unscoped).
fn field_v2(tag: &str) -> Field {
    if let Some(i) = Intrinsic::from_name(tag) {
        return Field::Intrinsic(i);
    }
    if let Some(key) = tag.strip_prefix("resource.") {
        return Field::Attribute(Scope::Resource, key.to_string());
    }
    if let Some(key) = tag.strip_prefix("span.") {
        return Field::Attribute(Scope::Span, key.to_string());
    }
    Field::Attribute(Scope::Any, tag.strip_prefix('.').unwrap_or(tag).to_string())
}

/// `/api/search/tag/{tag}/values` → `{"tagValues": ["a", ...]}` (an unscoped attribute name).
async fn tag_values_v1(
    State(service): State<QueryService>,
    tag: Result<Path<String>, PathRejection>,
    params: Result<Query<TagParams>, QueryRejection>,
) -> Result<Json<Value>> {
    let (tag, params) = (tag_of(tag)?, query(params)?);
    let (window, limit) =
        (window(&service, params.start.as_deref(), params.end.as_deref())?, tag_limit(&service, &params)?);
    let field = Field::Attribute(Scope::Any, tag);
    let filter = tags::narrowing(params.q.as_deref());
    let values = within(&service, tags::field_values(service.context(), &field, window, filter, limit)).await?;
    let values: Vec<String> = values.into_iter().map(|v| v.value).collect();
    Ok(Json(json!({ "tagValues": values })))
}

/// `/api/v2/search/tag/{tag}/values` → `{"tagValues": [{"type", "value"}]}`.
async fn tag_values_v2(
    State(service): State<QueryService>,
    tag: Result<Path<String>, PathRejection>,
    params: Result<Query<TagParams>, QueryRejection>,
) -> Result<Json<Value>> {
    let (tag, params) = (tag_of(tag)?, query(params)?);
    let (window, limit) =
        (window(&service, params.start.as_deref(), params.end.as_deref())?, tag_limit(&service, &params)?);
    let filter = tags::narrowing(params.q.as_deref());
    let values =
        within(&service, tags::field_values(service.context(), &field_v2(&tag), window, filter, limit)).await?;
    Ok(Json(json!({ "tagValues": values })))
}

#[cfg(test)]
mod tests;
