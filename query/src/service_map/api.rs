//! HTTP routes of the service map:
//! - `GET /api/v1/service-map?start=&end=[&service=][&exact=true]` (contract in `api.md`);
//! - `GET /api/v1/red?service=[&operation=]&start=&end=[&step=]`, RED series;
//! - `GET /jaeger/api/dependencies?endTs=&lookback=` (milliseconds), Jaeger's shape.

use std::collections::BTreeMap;
use std::future::Future;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::red::{parse_step, series, RedSeries};
use super::{service_map, ServiceMap, Window};
use crate::error::{QueryError, Result};
use crate::service::QueryService;

pub fn router(service: QueryService) -> Router {
    Router::new()
        .route("/api/v1/service-map", get(get_service_map))
        .route("/api/v1/red", get(get_red))
        .route("/jaeger/api/dependencies", get(get_dependencies))
        .with_state(service)
}

#[derive(Debug, Default, Deserialize)]
pub struct MapParams {
    start: Option<String>,
    end: Option<String>,
    service: Option<String>,
    /// `true`: recompute from raw spans instead of reading the pre-aggregated buckets.
    #[serde(default)]
    exact: bool,
}

#[derive(Debug, Default, Deserialize)]
pub struct RedParams {
    start: Option<String>,
    end: Option<String>,
    service: Option<String>,
    operation: Option<String>,
    step: Option<String>,
    /// `true`: from raw spans even when the buckets could answer.
    #[serde(default)]
    exact: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DependencyParams {
    end_ts: Option<String>,
    lookback: Option<String>,
}

fn params<T>(raw: std::result::Result<Query<T>, QueryRejection>) -> Result<T> {
    raw.map(|Query(p)| p).map_err(|e| QueryError::InvalidRequest(e.body_text()))
}

/// An empty `service=` means "no filter", as a form with an empty field sends it.
fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

async fn within_timeout<T>(service: &QueryService, work: impl Future<Output = Result<T>>) -> Result<T> {
    let timeout = service.config().timeout;
    tokio::time::timeout(timeout, work).await.map_err(|_| QueryError::Timeout(timeout))?
}

pub async fn get_service_map(
    State(service): State<QueryService>,
    raw: std::result::Result<Query<MapParams>, QueryRejection>,
) -> Result<Json<ServiceMap>> {
    let p = params(raw)?;
    let window = Window::from_params(p.start.as_deref(), p.end.as_deref())?;
    let focus = non_empty(p.service);
    let map = within_timeout(&service, service_map(service.context(), window, focus.as_deref(), p.exact)).await?;
    Ok(Json(map))
}

pub async fn get_red(
    State(service): State<QueryService>,
    raw: std::result::Result<Query<RedParams>, QueryRejection>,
) -> Result<Json<RedSeries>> {
    let p = params(raw)?;
    let window = Window::from_params(p.start.as_deref(), p.end.as_deref())?;
    let step = parse_step(p.step.as_deref())?;
    let name =
        non_empty(p.service).ok_or(QueryError::InvalidParameter { name: "service", reason: "is required".into() })?;
    let operation = non_empty(p.operation);
    let red =
        within_timeout(&service, series(service.context(), window, step, &name, operation.as_deref(), p.exact)).await?;
    Ok(Json(red))
}

/// One link of Jaeger's dependency graph.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Dependency {
    pub parent: String,
    pub child: String,
    #[serde(rename = "callCount")]
    pub call_count: i64,
}

/// Jaeger's query-service envelope. Jaeger UI reads `data` as a list of
/// `{parent, child, callCount}` (jaegertracing/jaeger-ui,
/// `packages/jaeger-ui/src/hooks/useDependencies.ts`, `normalizeDependenciesResponse`);
/// Grafana's Jaeger data source reads `data` the same way and treats a non-null
/// `errors` as a failure (grafana/grafana,
/// `public/app/plugins/datasource/jaeger/dependencyGraphTransform.ts`,
/// `mapJaegerDependenciesResponse`).
#[derive(Debug, Serialize)]
pub struct DependenciesResponse {
    pub data: Vec<Dependency>,
    pub total: usize,
    pub limit: usize,
    pub offset: usize,
    pub errors: Option<Vec<String>>,
}

/// The service map's edges of `[endTs - lookback, endTs)`, summed over edge kinds
/// (virtual edges to databases and external peers included, so the graph shows them).
pub async fn get_dependencies(
    State(service): State<QueryService>,
    raw: std::result::Result<Query<DependencyParams>, QueryRejection>,
) -> Result<Json<DependenciesResponse>> {
    let p = params(raw)?;
    let window = Window::from_jaeger(p.end_ts.as_deref(), p.lookback.as_deref())?;
    let map = within_timeout(&service, service_map(service.context(), window, None, false)).await?;
    let mut links: BTreeMap<(String, String), i64> = BTreeMap::new();
    for edge in map.edges {
        *links.entry((edge.source, edge.target)).or_default() += edge.call_count;
    }
    let data: Vec<Dependency> =
        links.into_iter().map(|((parent, child), call_count)| Dependency { parent, child, call_count }).collect();
    Ok(Json(DependenciesResponse { total: data.len(), data, limit: 0, offset: 0, errors: None }))
}
