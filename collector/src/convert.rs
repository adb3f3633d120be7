//! OTLP `ExportTraceServiceRequest` → a `spans` [`RecordBatch`], with per-span validation and
//! the limits of [`crate::limits`].
//!
//! A span is rejected (and reported in `partial_success`) when its trace id is not 16 bytes or
//! all zero, its span id not 8 bytes or all zero, its parent span id neither empty nor 8 bytes,
//! any link's ids are invalid the same way, a time does not fit in signed 64-bit nanoseconds,
//! or its trace is already at `max_spans_per_trace`. An all-zero 8-byte parent span id is read
//! as "no parent". The other spans of the request are kept.

use osprey_proto::common::{any_value::Value, InstrumentationScope, KeyValue};
use osprey_proto::resource::Resource;
use osprey_proto::trace::Span;
use osprey_proto::ExportTraceServiceRequest;
use osprey_storage::spans::{SpanEventRecord, SpanLinkRecord, SpanRecord, SpanScope, SpansBuilder, UNKNOWN_SERVICE};
use osprey_storage::StorageError;

use crate::config::LimitsConfig;
use crate::conversion::Conversion;
use crate::limits::{LimitCounts, Limiter, TraceTable, TraceTally};

/// Converts `request`; fails only if the batch cannot be built (a bug, not bad input).
pub fn convert(
    request: &ExportTraceServiceRequest,
    limits: &LimitsConfig,
    traces: &TraceTable,
) -> Result<Conversion<TraceTally>, StorageError> {
    convert_part(request, limits, traces, 0)
}

/// Converts `request`, a part of a larger one starting at its resource `first_resource`.
pub fn convert_part(
    request: &ExportTraceServiceRequest,
    limits: &LimitsConfig,
    traces: &TraceTable,
    first_resource: usize,
) -> Result<Conversion<TraceTally>, StorageError> {
    let mut out = Conversion::<TraceTally>::default();
    let mut limiter = Limiter::new(limits);
    let mut builder = SpansBuilder::new();
    for (ri, resource_spans) in request.resource_spans.iter().enumerate() {
        let ri = first_resource + ri;
        let resource = resource_spans.resource.as_ref();
        let (resource_attributes, resource_dropped) = attributes_of(&mut limiter, resource);
        for (si, scope_spans) in resource_spans.scope_spans.iter().enumerate() {
            let scope = scope_spans.scope.as_ref();
            let (scope_attributes, scope_dropped) = scope_attributes_of(&mut limiter, scope);
            let span_scope = SpanScope {
                service_name: service_name(resource),
                resource_attributes: resource_attributes.clone(),
                resource_dropped_attributes_count: resource_dropped,
                resource_schema_url: Some(resource_spans.schema_url.as_str()),
                scope_name: scope.map(|s| s.name.as_str()),
                scope_version: scope.map(|s| s.version.as_str()),
                scope_attributes,
                scope_dropped_attributes_count: scope_dropped,
                scope_schema_url: Some(scope_spans.schema_url.as_str()),
            };
            for (pi, span) in scope_spans.spans.iter().enumerate() {
                out.received += 1;
                if let Err(problem) = validate(span) {
                    out.rejected_invalid += 1;
                    out.reject(|| format!("span {pi} (resource {ri}, scope {si}): {problem}"));
                    continue;
                }
                let mut trace = [0u8; 16];
                trace.copy_from_slice(&span.trace_id);
                if !traces.try_add(&mut out.pending, trace) {
                    out.rejected_limit += 1;
                    out.limits.spans_over_trace_limit += 1;
                    out.reject(|| {
                        format!(
                            "span {pi} (resource {ri}, scope {si}): trace {} has reached limits.max_spans_per_trace",
                            hex::encode(trace)
                        )
                    });
                    continue;
                }
                builder.append(&span_scope, &record(&mut limiter, span))?;
                out.accepted += 1;
            }
        }
    }
    let cut = limiter.counts;
    out.limits = LimitCounts { spans_over_trace_limit: out.limits.spans_over_trace_limit, ..cut };
    if !builder.is_empty() {
        out.batch = Some(builder.finish_physical()?);
    }
    Ok(out)
}

pub(crate) type Attrs<'a> = Vec<(&'a str, osprey_storage::attributes::AttrRef<'a>)>;

pub(crate) fn attributes_of<'a>(limiter: &mut Limiter<'_>, resource: Option<&'a Resource>) -> (Attrs<'a>, u32) {
    resource.map(|r| limiter.attributes(&r.attributes, r.dropped_attributes_count)).unwrap_or_default()
}

pub(crate) fn scope_attributes_of<'a>(
    limiter: &mut Limiter<'_>,
    scope: Option<&'a InstrumentationScope>,
) -> (Attrs<'a>, u32) {
    scope.map(|s| limiter.attributes(&s.attributes, s.dropped_attributes_count)).unwrap_or_default()
}

/// `service.name` of the resource (a non-empty string), else `unknown_service`.
pub(crate) fn service_name(resource: Option<&Resource>) -> &str {
    resource
        .and_then(|r| r.attributes.iter().find(|kv: &&KeyValue| kv.key == "service.name"))
        .and_then(|kv| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(Value::StringValue(s)) if !s.is_empty() => Some(s.as_str()),
            _ => None,
        })
        .unwrap_or(UNKNOWN_SERVICE)
}

fn record<'a>(limiter: &mut Limiter<'_>, span: &'a Span) -> SpanRecord<'a> {
    let (attributes, dropped_attributes_count) = limiter.attributes(&span.attributes, span.dropped_attributes_count);
    let events = span
        .events
        .iter()
        .map(|event| {
            let (attributes, dropped_attributes_count) =
                limiter.attributes(&event.attributes, event.dropped_attributes_count);
            SpanEventRecord {
                time_unix_nano: nanos(event.time_unix_nano),
                name: &event.name,
                attributes,
                dropped_attributes_count,
            }
        })
        .collect();
    let links = span
        .links
        .iter()
        .map(|link| {
            let (attributes, dropped_attributes_count) =
                limiter.attributes(&link.attributes, link.dropped_attributes_count);
            SpanLinkRecord {
                trace_id: &link.trace_id,
                span_id: &link.span_id,
                trace_state: Some(&link.trace_state),
                flags: link.flags,
                attributes,
                dropped_attributes_count,
            }
        })
        .collect();
    let parent: &[u8] = if is_zero(&span.parent_span_id) { &[] } else { &span.parent_span_id };
    SpanRecord {
        trace_id: &span.trace_id,
        span_id: &span.span_id,
        parent_span_id: parent,
        trace_state: Some(&span.trace_state),
        flags: span.flags,
        name: &span.name,
        kind: span.kind,
        start_time_unix_nano: nanos(span.start_time_unix_nano),
        end_time_unix_nano: nanos(span.end_time_unix_nano),
        status_code: span.status.as_ref().map_or(0, |s| s.code),
        status_message: span.status.as_ref().map(|s| s.message.as_str()),
        attributes,
        dropped_attributes_count,
        events,
        dropped_events_count: span.dropped_events_count,
        links,
        dropped_links_count: span.dropped_links_count,
    }
}

/// Validated times fit; others are clamped (only event times can reach here unvalidated).
fn nanos(t: u64) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

pub(crate) fn is_zero(id: &[u8]) -> bool {
    id.iter().all(|b| *b == 0)
}

fn check_id(id: &[u8], len: usize, what: &str) -> Result<(), String> {
    if id.len() != len {
        return Err(format!("{what} must be {len} bytes, got {}", id.len()));
    }
    if is_zero(id) {
        return Err(format!("{what} is all zero"));
    }
    Ok(())
}

fn validate(span: &Span) -> Result<(), String> {
    check_id(&span.trace_id, 16, "trace_id")?;
    check_id(&span.span_id, 8, "span_id")?;
    if !span.parent_span_id.is_empty() && span.parent_span_id.len() != 8 {
        return Err(format!("parent_span_id must be empty or 8 bytes, got {}", span.parent_span_id.len()));
    }
    for (li, link) in span.links.iter().enumerate() {
        check_id(&link.trace_id, 16, &format!("link {li} trace_id"))?;
        check_id(&link.span_id, 8, &format!("link {li} span_id"))?;
    }
    let too_late = |t: u64| i64::try_from(t).is_err();
    if too_late(span.start_time_unix_nano) || too_late(span.end_time_unix_nano) {
        return Err("a time is beyond year 2262 (more than i64::MAX nanoseconds)".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests;
