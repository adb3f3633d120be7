//! Stored `spans` rows back to OTLP: `ResourceSpans` / `ScopeSpans` / `Span`, grouped by
//! resource and scope, every stored field kept, attribute types exact (int, double, bool,
//! bytes, array, kvlist come back from the type-signature column, see
//! `osprey_storage::attributes`). The Tempo API serves this form as protobuf and OTLP/JSON
//! ([`json`]); the Jaeger API maps it to Jaeger's model.
//!
//! What cannot come back because it is not stored: `Resource.entity_refs`, a
//! `KeyValue.key_strindex`, the difference between an absent `status`/`scope`/`resource` and
//! an empty one (an all-default one is returned as absent), and an empty `trace_state`
//! versus none. Spans are ordered by start time, then span id; resources and scopes appear
//! in the order of their first span.

use std::collections::HashMap;
use std::time::Instant;

use arrow::array::{Array, RecordBatch, StringArray};
use datafusion::prelude::{col, lit, Expr, SessionContext};
use osprey_proto::common::{any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList};
use osprey_proto::resource::Resource;
use osprey_proto::trace::{span, ResourceSpans, ScopeSpans, Span, Status};
use osprey_storage::attributes::{read_row, AttrValue};
use osprey_storage::spans::{col as spans_col, KINDS, STATUS_CODES};
use osprey_storage::Table;

use crate::error::{QueryError, Result};
use crate::service::QueryService;
use crate::span_rows::{item_range, opt};
use crate::trace_id::TraceId;

mod columns;
pub mod json;

pub use columns::COLUMNS;
use columns::{Columns, TypedMap};

/// One trace in OTLP form.
#[derive(Debug, Clone, PartialEq)]
pub struct OtlpTrace {
    /// Lowercase hex.
    pub trace_id: String,
    pub resource_spans: Vec<ResourceSpans>,
}

impl OtlpTrace {
    /// Spans across every resource and scope.
    pub fn spans(&self) -> impl Iterator<Item = (&ResourceSpans, &ScopeSpans, &Span)> {
        self.resource_spans
            .iter()
            .flat_map(|rs| rs.scope_spans.iter().flat_map(move |ss| ss.spans.iter().map(move |s| (rs, ss, s))))
    }

    pub fn span_count(&self) -> usize {
        self.resource_spans.iter().flat_map(|rs| &rs.scope_spans).map(|ss| ss.spans.len()).sum()
    }
}

/// `SELECT <COLUMNS> FROM spans WHERE trace_id IN (<ids>)`; the ids are validated
/// [`TraceId`]s passed as literal values, so the provider prunes by trace id.
pub async fn fetch(ctx: &SessionContext, trace_ids: &[TraceId]) -> Result<Vec<RecordBatch>> {
    let Some(filter) = trace_ids.iter().map(|id| col(spans_col::TRACE_ID).eq(lit(id.as_str()))).reduce(Expr::or) else {
        return Ok(Vec::new());
    };
    let batches = ctx.table(Table::Spans.name()).await?.filter(filter)?.select_columns(&COLUMNS)?.collect().await?;
    Ok(batches)
}

/// Fetches and rebuilds the given traces within the service's query timeout; the
/// rebuilding runs off the async workers. Traces with no span are absent from the answer.
pub async fn load(service: &QueryService, trace_ids: &[TraceId]) -> Result<Vec<OtlpTrace>> {
    let started = Instant::now();
    let timeout = service.config().timeout;
    let batches = tokio::time::timeout(timeout, fetch(service.context(), trace_ids))
        .await
        .map_err(|_| QueryError::Timeout(timeout))??;
    let traces = tokio::task::spawn_blocking(move || by_trace(&batches))
        .await
        .map_err(|e| QueryError::Task(e.to_string()))??;
    tracing::debug!(
        asked = trace_ids.len(),
        found = traces.len(),
        ms = started.elapsed().as_secs_f64() * 1e3,
        "OTLP traces loaded"
    );
    Ok(traces)
}

/// One trace by id; [`QueryError::TraceNotFound`] when it has no span.
pub async fn load_one(service: &QueryService, trace_id: &TraceId) -> Result<OtlpTrace> {
    load(service, std::slice::from_ref(trace_id))
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| QueryError::TraceNotFound(trace_id.to_string()))
}

/// Rebuilds every trace found in `batches` (rows with [`COLUMNS`]), ordered by trace id.
pub fn by_trace(batches: &[RecordBatch]) -> Result<Vec<OtlpTrace>> {
    let columns = batches.iter().filter(|b| b.num_rows() > 0).map(Columns::new).collect::<Result<Vec<_>>>()?;
    let mut rows: Vec<(usize, usize)> =
        columns.iter().enumerate().flat_map(|(b, c)| (0..c.trace_id.len()).map(move |r| (b, r))).collect();
    let key = |&(b, r): &(usize, usize)| {
        let c: &Columns = &columns[b];
        (c.trace_id.value(r), c.start.value(r), c.span_id.value(r))
    };
    rows.sort_by(|x, y| key(x).cmp(&key(y)));
    let mut traces = Vec::new();
    let mut rest = rows.as_slice();
    while let Some(&(b, r)) = rest.first() {
        let trace_id = columns[b].trace_id.value(r);
        let len = rest.iter().take_while(|&&(b, r)| columns[b].trace_id.value(r) == trace_id).count();
        let (these, tail) = rest.split_at(len);
        traces.push(OtlpTrace { trace_id: trace_id.to_string(), resource_spans: group(&columns, these)? });
        rest = tail;
    }
    Ok(traces)
}

/// Groups rows (already in span order) by resource, then scope.
fn group(columns: &[Columns], rows: &[(usize, usize)]) -> Result<Vec<ResourceSpans>> {
    let mut resources: Vec<ResourceSpans> = Vec::new();
    let mut resource_index: HashMap<String, usize> = HashMap::new();
    let mut scope_index: HashMap<(usize, String), usize> = HashMap::new();
    let mut key = String::new();
    for &(b, r) in rows {
        let c = &columns[b];
        key.clear();
        c.resource_attributes.write_key(r, &mut key);
        key.push_str(&c.resource_dropped.value(r).to_string());
        key.push('\0');
        key.push_str(opt(&c.resource_schema_url, r).unwrap_or_default());
        let ri = match resource_index.get(&key) {
            Some(&i) => i,
            None => {
                resources.push(resource_spans(c, r)?);
                resource_index.insert(key.clone(), resources.len() - 1);
                resources.len() - 1
            }
        };
        key.clear();
        for text in [&c.scope_name, &c.scope_version, &c.scope_schema_url] {
            key.push_str(opt(text, r).unwrap_or_default());
            key.push('\0');
        }
        key.push_str(&c.scope_dropped.value(r).to_string());
        key.push('\0');
        c.scope_attributes.write_key(r, &mut key);
        let resource = &mut resources[ri];
        let si = match scope_index.get(&(ri, key.clone())) {
            Some(&i) => i,
            None => {
                resource.scope_spans.push(scope_spans(c, r)?);
                scope_index.insert((ri, key.clone()), resource.scope_spans.len() - 1);
                resource.scope_spans.len() - 1
            }
        };
        resource.scope_spans[si].spans.push(span(c, r)?);
    }
    Ok(resources)
}

fn resource_spans(c: &Columns, r: usize) -> Result<ResourceSpans> {
    let resource = Resource {
        attributes: key_values(&c.resource_attributes, r)?,
        dropped_attributes_count: c.resource_dropped.value(r),
        ..Default::default()
    };
    let empty = resource.attributes.is_empty() && resource.dropped_attributes_count == 0;
    Ok(ResourceSpans {
        resource: (!empty).then_some(resource),
        scope_spans: Vec::new(),
        schema_url: text(&c.resource_schema_url, r),
    })
}

fn scope_spans(c: &Columns, r: usize) -> Result<ScopeSpans> {
    let scope = InstrumentationScope {
        name: text(&c.scope_name, r),
        version: text(&c.scope_version, r),
        attributes: key_values(&c.scope_attributes, r)?,
        dropped_attributes_count: c.scope_dropped.value(r),
    };
    let empty = scope == InstrumentationScope::default();
    Ok(ScopeSpans { scope: (!empty).then_some(scope), spans: Vec::new(), schema_url: text(&c.scope_schema_url, r) })
}

fn span(c: &Columns, r: usize) -> Result<Span> {
    let start = u64::try_from(c.start.value(r)).unwrap_or(0);
    let end = start.saturating_add(u64::try_from(c.duration.value(r)).unwrap_or(0));
    let code = position(&STATUS_CODES, c.status.value(r));
    let message = text(&c.status_message, r);
    let status = (code != 0 || !message.is_empty()).then_some(Status { message, code });
    Ok(Span {
        trace_id: id_bytes(c.trace_id.value(r))?,
        span_id: id_bytes(c.span_id.value(r))?,
        trace_state: text(&c.trace_state, r),
        parent_span_id: opt(&c.parent_span_id, r).map(id_bytes).transpose()?.unwrap_or_default(),
        flags: c.flags.value(r),
        name: c.name.value(r).to_string(),
        kind: position(&KINDS, c.kind.value(r)),
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        attributes: key_values(&c.attributes, r)?,
        dropped_attributes_count: c.dropped_attributes.value(r),
        events: events(c, r)?,
        dropped_events_count: c.dropped_events.value(r),
        links: links(c, r)?,
        dropped_links_count: c.dropped_links.value(r),
        status,
    })
}

fn events(c: &Columns, r: usize) -> Result<Vec<span::Event>> {
    let e = &c.events;
    item_range(&e.list, r)
        .map(|i| {
            Ok(span::Event {
                time_unix_nano: u64::try_from(e.time.value(i)).unwrap_or(0),
                name: e.name.value(i).to_string(),
                attributes: key_values(&e.attributes, i)?,
                dropped_attributes_count: e.dropped.value(i),
            })
        })
        .collect()
}

fn links(c: &Columns, r: usize) -> Result<Vec<span::Link>> {
    let l = &c.links;
    item_range(&l.list, r)
        .map(|i| {
            Ok(span::Link {
                trace_id: id_bytes(l.trace_id.value(i))?,
                span_id: id_bytes(l.span_id.value(i))?,
                trace_state: text(&l.trace_state, i),
                attributes: key_values(&l.attributes, i)?,
                dropped_attributes_count: l.dropped.value(i),
                flags: l.flags.value(i),
            })
        })
        .collect()
}

fn text(array: &StringArray, row: usize) -> String {
    opt(array, row).unwrap_or_default().to_string()
}

/// The OTLP enum number of a stored enum name (its index in the storage table of names).
fn position(names: &[&str], value: &str) -> i32 {
    names.iter().position(|n| *n == value).and_then(|i| i32::try_from(i).ok()).unwrap_or(0)
}

fn id_bytes(hex_id: &str) -> Result<Vec<u8>> {
    hex::decode(hex_id).map_err(|_| QueryError::Layout(format!("stored id {hex_id:?} is not hex")))
}

fn key_values(attributes: &TypedMap, row: usize) -> Result<Vec<KeyValue>> {
    Ok(read_row(&attributes.map, &attributes.types, row)?.into_iter().map(key_value).collect())
}

/// A stored attribute as an OTLP `KeyValue`.
pub fn key_value((key, value): (String, AttrValue)) -> KeyValue {
    KeyValue { key, value: Some(any_value(value)), ..Default::default() }
}

/// A stored attribute value as an OTLP `AnyValue` (`Empty` is an `AnyValue` with no value).
pub fn any_value(value: AttrValue) -> AnyValue {
    use any_value::Value;
    let value = match value {
        AttrValue::Empty => None,
        AttrValue::Str(s) => Some(Value::StringValue(s)),
        AttrValue::Int(i) => Some(Value::IntValue(i)),
        AttrValue::Double(d) => Some(Value::DoubleValue(d)),
        AttrValue::Bool(b) => Some(Value::BoolValue(b)),
        AttrValue::Bytes(b) => Some(Value::BytesValue(b)),
        AttrValue::Array(items) => {
            Some(Value::ArrayValue(ArrayValue { values: items.into_iter().map(any_value).collect() }))
        }
        AttrValue::KvList(kvs) => {
            Some(Value::KvlistValue(KeyValueList { values: kvs.into_iter().map(key_value).collect() }))
        }
    };
    AnyValue { value }
}

#[cfg(test)]
mod tests;
