//! Tag names and values for Grafana's TraceQL editor and search form:
//! `/api/search/tags`, `/api/v2/search/tags`, `/api/search/tag/{tag}/values`,
//! `/api/v2/search/tag/{tag}/values` (shapes: `SearchTagsResponse`,
//! `SearchTagsV2Response`, `SearchTagValuesResponse`, `SearchTagValuesV2Response`
//! in grafana/tempo `pkg/tempopb/tempo.proto`; value types as Tempo names them in
//! `pkg/traceql/util.go`: `string`, `int`, `float`, `bool`, `keyword`).
//!
//! Every lookup is a DataFusion plan over the spans in the time window, bounded
//! by `limit` (clamped to `query.search.max_tag_values`). `q` narrows the spans
//! to those its filters match; a `q` that does not parse (Grafana sends half-typed
//! queries such as `{ resource.cluster = }` while the user types) narrows nothing.

use arrow::array::{Array, AsArray, MapArray, RecordBatch};
use arrow::datatypes::DataType;
use datafusion::functions_aggregate::expr_fn::first_value;
use datafusion::functions_nested::expr_fn::map_keys;
use datafusion::prelude::{col, lit, Expr, SessionContext};
use osprey_storage::attributes::{read_row, AttrValue};
use osprey_storage::rollup::{red_col, BUCKET_NS};
use osprey_storage::spans::{col as spans_col, KINDS, STATUS_CODES};
use osprey_storage::Table;

use crate::error::{QueryError, Result};
use crate::search::plan::{column_as, in_window, timestamp};
use crate::search::{TimeWindow, TraceCondition};
use crate::traceql::ast::{Field, Intrinsic, Scope};
use crate::traceql::compile::field_expr;

/// Intrinsics listed under the `intrinsic` scope: the ones our TraceQL knows.
pub const INTRINSICS: [Intrinsic; 10] = [
    Intrinsic::Duration,
    Intrinsic::EventName,
    Intrinsic::Kind,
    Intrinsic::LinkTraceId,
    Intrinsic::Name,
    Intrinsic::RootName,
    Intrinsic::RootServiceName,
    Intrinsic::Status,
    Intrinsic::StatusMessage,
    Intrinsic::TraceDuration,
];

/// A typed tag value (`TagValue` of `tempo.proto`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct TagValue {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub value: String,
}

/// The spans a `q` narrows tag lookups to: an expression over span columns, or
/// `None` for "all spans" (no `q`, or one that does not parse).
pub fn narrowing(q: Option<&str>) -> Option<Expr> {
    let q = q.map(str::trim).filter(|q| !q.is_empty())?;
    let query = crate::traceql::parse(q).ok()?;
    match query.condition {
        TraceCondition::Span(expr) => Some(expr),
        other => other.leaves().into_iter().cloned().reduce(Expr::or),
    }
}

async fn spans(
    ctx: &SessionContext,
    window: TimeWindow,
    filter: Option<Expr>,
) -> Result<datafusion::dataframe::DataFrame> {
    let predicate = match filter {
        Some(f) => in_window(window).and(f),
        None => in_window(window),
    };
    Ok(ctx.table(Table::Spans.name()).await?.filter(predicate)?)
}

/// Distinct attribute keys of the `attributes` or `resource_attributes` column, sorted.
pub async fn attribute_keys(
    ctx: &SessionContext,
    column: &str,
    window: TimeWindow,
    filter: Option<Expr>,
    limit: usize,
) -> Result<Vec<String>> {
    let batches = spans(ctx, window, filter)
        .await?
        .select(vec![map_keys(col(column)).alias("k")])?
        .unnest_columns(&["k"])?
        .aggregate(vec![col("k")], vec![])?
        .sort(vec![col("k").sort(true, false)])?
        .limit(0, Some(limit))?
        .collect()
        .await?;
    texts(&batches, 0)
}

fn texts(batches: &[RecordBatch], column: usize) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for batch in batches {
        let array = batch.columns().get(column).ok_or_else(|| QueryError::Layout("missing column".into()))?;
        let array = arrow::compute::cast(array, &DataType::Utf8)?;
        let strings = array.as_string_opt::<i32>().ok_or_else(|| QueryError::Layout("expected text".into()))?;
        out.extend(strings.iter().flatten().map(str::to_string));
    }
    Ok(out)
}

/// Distinct values of one field, typed, sorted by value.
pub async fn field_values(
    ctx: &SessionContext,
    field: &Field,
    window: TimeWindow,
    filter: Option<Expr>,
    limit: usize,
) -> Result<Vec<TagValue>> {
    let keyword = |values: &[&str]| values.iter().map(|v| TagValue { kind: "keyword", value: v.to_string() }).collect();
    let text_column = |expr: Expr, filter: Option<Expr>| async move {
        distinct_text(spans(ctx, window, filter).await?, expr, limit).await
    };
    let root = || {
        let parent = col(spans_col::PARENT_SPAN_ID);
        let no_parent = parent.clone().is_null().or(parent.clone().eq(lit(""))).or(parent.eq(lit("0000000000000000")));
        Some(match filter.clone() {
            Some(f) => f.and(no_parent),
            None => no_parent,
        })
    };
    match field {
        Field::Intrinsic(Intrinsic::Status) => Ok(keyword(&STATUS_CODES)),
        Field::Intrinsic(Intrinsic::Kind) => Ok(keyword(&KINDS)),
        Field::Intrinsic(Intrinsic::Duration | Intrinsic::TraceDuration | Intrinsic::LinkTraceId) => Ok(Vec::new()),
        Field::Intrinsic(Intrinsic::Name) if filter.is_none() => {
            rollup_values(ctx, red_col::OPERATION, window, limit).await
        }
        Field::Intrinsic(Intrinsic::Name | Intrinsic::StatusMessage) => text_column(field_expr(field), filter).await,
        Field::Intrinsic(Intrinsic::RootName) => text_column(col(spans_col::NAME), root()).await,
        Field::Intrinsic(Intrinsic::RootServiceName) => text_column(col(spans_col::SERVICE_NAME), root()).await,
        Field::Intrinsic(Intrinsic::EventName) => {
            let events = spans(ctx, window, filter)
                .await?
                .select(vec![col(spans_col::EVENTS)])?
                .unnest_columns(&[spans_col::EVENTS])?;
            let name = datafusion::functions::core::expr_fn::get_field(col(spans_col::EVENTS), "name");
            distinct_text(events, name, limit).await
        }
        Field::Attribute(scope, key) if key == "service.name" && *scope != Scope::Span => match filter {
            None => rollup_values(ctx, red_col::SERVICE_NAME, window, limit).await,
            Some(filter) => text_column(col(spans_col::SERVICE_NAME), Some(filter)).await,
        },
        Field::Attribute(scope, key) => attribute_values(ctx, scope, key, window, filter, limit).await,
    }
}

/// Distinct services or operations (span names) from the `service_red` rollup, which has a
/// row per (minute, service, operation, kind) of every span: a few thousand rows for a day
/// instead of every span (BENCHMARKS.md, issue 8: 458 ms → see there at 10M spans). The
/// values are those of the spans in the minutes the window touches (up to a minute wider
/// than the window at each end, like Tempo's block-granular tag lookups); `q` narrows by
/// span fields the rollup does not have, so a lookup with `q` reads the spans instead.
async fn rollup_values(ctx: &SessionContext, column: &str, window: TimeWindow, limit: usize) -> Result<Vec<TagValue>> {
    let first_bucket = window.start_ns.div_euclid(BUCKET_NS).saturating_mul(BUCKET_NS);
    let in_buckets = col(red_col::BUCKET_START)
        .gt_eq(timestamp(first_bucket))
        .and(col(red_col::BUCKET_START).lt_eq(timestamp(window.end_ns)));
    distinct_text(ctx.table(Table::ServiceRed.name()).await?.filter(in_buckets)?, col(column), limit).await
}

/// The distinct non-null values of `expr` over `rows`, sorted, at most `limit`, as string tags.
async fn distinct_text(rows: datafusion::dataframe::DataFrame, expr: Expr, limit: usize) -> Result<Vec<TagValue>> {
    let batches = rows
        .select(vec![expr.alias("v")])?
        .filter(col("v").is_not_null())?
        .aggregate(vec![col("v")], vec![])?
        .sort(vec![col("v").sort(true, false)])?
        .limit(0, Some(limit))?
        .collect()
        .await?;
    Ok(texts(&batches, 0)?.into_iter().map(|value| TagValue { kind: "string", value }).collect())
}

/// Distinct values of an attribute with their OTLP type: one representative row
/// per text value gives the type (from the type-signature column).
async fn attribute_values(
    ctx: &SessionContext,
    scope: &Scope,
    key: &str,
    window: TimeWindow,
    filter: Option<Expr>,
    limit: usize,
) -> Result<Vec<TagValue>> {
    let columns = [
        spans_col::ATTRIBUTES,
        spans_col::ATTRIBUTE_TYPES,
        spans_col::RESOURCE_ATTRIBUTES,
        spans_col::RESOURCE_ATTRIBUTE_TYPES,
    ];
    let value = field_expr(&Field::Attribute(scope.clone(), key.to_string()));
    let batches = spans(ctx, window, filter)
        .await?
        .filter(value.clone().is_not_null())?
        .aggregate(vec![value.alias("v")], columns.iter().map(|c| first_value(col(*c), vec![]).alias(*c)).collect())?
        .sort(vec![col("v").sort(true, false)])?
        .limit(0, Some(limit))?
        .collect()
        .await?;
    let mut out = Vec::new();
    for batch in &batches {
        let maps = |name: &str, types_name: &str| -> Result<(MapArray, arrow::array::StringArray)> {
            let map = batch.column_by_name(name).ok_or_else(|| QueryError::Layout(format!("{name} missing")))?;
            let map = map.as_map_opt().ok_or_else(|| QueryError::Layout(format!("{name} is not a map")))?.clone();
            let types = column_as(batch, types_name, &DataType::Utf8)?;
            let types = types.as_string_opt::<i32>().ok_or_else(|| QueryError::Layout("types".into()))?.clone();
            Ok((map, types))
        };
        let (span_map, span_types) = maps(spans_col::ATTRIBUTES, spans_col::ATTRIBUTE_TYPES)?;
        let (res_map, res_types) = maps(spans_col::RESOURCE_ATTRIBUTES, spans_col::RESOURCE_ATTRIBUTE_TYPES)?;
        for row in 0..batch.num_rows() {
            let find = |map: &MapArray, types: &arrow::array::StringArray| -> Result<Option<AttrValue>> {
                if map.is_null(row) {
                    return Ok(None);
                }
                Ok(read_row(map, types, row)?.into_iter().rev().find(|(k, _)| k == key).map(|(_, v)| v))
            };
            let typed = match scope {
                Scope::Span => find(&span_map, &span_types)?,
                Scope::Resource => find(&res_map, &res_types)?,
                Scope::Any => match find(&span_map, &span_types)? {
                    Some(v) => Some(v),
                    None => find(&res_map, &res_types)?,
                },
            };
            if let Some(tag) = typed.and_then(|v| tag_value(&v)) {
                out.push(tag);
            }
        }
    }
    out.dedup();
    Ok(out)
}

fn tag_value(value: &AttrValue) -> Option<TagValue> {
    let (kind, value) = match value {
        AttrValue::Empty => return None,
        AttrValue::Str(s) => ("string", s.clone()),
        AttrValue::Int(i) => ("int", i.to_string()),
        AttrValue::Double(_) => ("float", value.to_text()?),
        AttrValue::Bool(b) => ("bool", b.to_string()),
        AttrValue::Bytes(_) | AttrValue::Array(_) | AttrValue::KvList(_) => ("string", value.to_text()?),
    };
    Some(TagValue { kind, value })
}
