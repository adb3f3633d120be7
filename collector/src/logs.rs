//! Logs: `ExportLogsServiceRequest` → the `logs` table, as a [`Signal`] on the shared receive
//! path (both transports, both encodings).
//!
//! A log record is rejected (and reported in `partial_success`) when its trace id is neither
//! empty nor 16 bytes, its span id neither empty nor 8 bytes, or a time does not fit in signed
//! 64-bit nanoseconds. All-zero ids mean "no trace context" (OTLP) and are stored as NULL.
//!
//! Bodies: a string or bytes body longer than `limits.max_log_body_bytes` is **truncated** (at
//! a UTF-8 boundary) and counted in `osprey_limited_values_total{signal="logs",
//! limit="log_body_bytes"}` rather than rejected: the head of a huge line (a stack trace, a
//! dumped payload) is what a reader searches for, and the record still says when and where.
//! Structured (kvlist/array) bodies follow the attribute limits: leaves are cut at
//! `max_attribute_value_bytes`, nesting at `max_value_depth`.

use std::time::{SystemTime, UNIX_EPOCH};

use osprey_proto::common::any_value::Value;
use osprey_proto::logs::{LogRecord as OtlpLogRecord, ResourceLogs};
use osprey_proto::{ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse};
use osprey_storage::attributes::AttrRef;
use osprey_storage::logs::{LogRecord, LogScope, LogsBuilder};
use osprey_storage::{StorageError, Table};

use crate::config::LimitsConfig;
use crate::conversion::Conversion;
use crate::convert::{attributes_of, is_zero, scope_attributes_of, service_name};
use crate::limits::Limiter;
use crate::signal::Signal;

/// The logs signal (stateless: no per-trace tally).
#[derive(Debug, Default)]
pub struct Logs;

impl Signal for Logs {
    type Request = ExportLogsServiceRequest;
    type Response = ExportLogsServiceResponse;
    type Resource = ResourceLogs;
    type Pending = ();

    const NAME: &'static str = "logs";
    const GRPC_SERVICE: &'static str = osprey_proto::service_names::LOGS;
    const GRPC_EXPORT_PATH: &'static str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
    const ITEMS: &'static str = "log records";
    const TABLE: Table = Table::Logs;
    const SOURCE_CODEC: Option<u8> = Some(crate::replay::LOGS_PROTOBUF);

    fn count(request: &Self::Request) -> u64 {
        request.resource_logs.iter().map(Self::resource_items).sum()
    }

    fn into_resources(request: Self::Request) -> Vec<ResourceLogs> {
        request.resource_logs
    }

    fn from_resources(resource_logs: Vec<ResourceLogs>) -> Self::Request {
        ExportLogsServiceRequest { resource_logs }
    }

    fn resource_items(resource: &ResourceLogs) -> u64 {
        resource.scope_logs.iter().map(|s| s.log_records.len() as u64).sum()
    }

    fn decode_json(body: &[u8]) -> Result<Self::Request, osprey_proto::json::JsonError> {
        osprey_proto::json::decode_logs_request(body)
    }

    fn response(partial: Option<(i64, String)>) -> Self::Response {
        ExportLogsServiceResponse {
            partial_success: partial.map(|(rejected_log_records, error_message)| ExportLogsPartialSuccess {
                rejected_log_records,
                error_message,
            }),
        }
    }

    fn encode_json(response: &Self::Response) -> Vec<u8> {
        osprey_proto::json::encode_logs_response(response)
    }

    fn convert(
        &self,
        request: &Self::Request,
        limits: &LimitsConfig,
        first_resource: usize,
    ) -> Result<Conversion<()>, StorageError> {
        convert_part(request, limits, now_nanos(), first_resource)
    }

    fn commit(&self, _pending: ()) {}
}

fn now_nanos() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)).unwrap_or(0)
}

/// Converts `request` (`now` is the time given to records without any); fails only if the
/// batch cannot be built.
pub fn convert(
    request: &ExportLogsServiceRequest,
    limits: &LimitsConfig,
    now: i64,
) -> Result<Conversion, StorageError> {
    convert_part(request, limits, now, 0)
}

/// Converts `request`, a part of a larger one starting at its resource `first_resource`.
pub fn convert_part(
    request: &ExportLogsServiceRequest,
    limits: &LimitsConfig,
    now: i64,
    first_resource: usize,
) -> Result<Conversion, StorageError> {
    let mut out = Conversion::<()>::default();
    out.now = Some(now);
    let mut limiter = Limiter::new(limits);
    let mut builder = LogsBuilder::new();
    let mut truncated_bodies = 0;
    for (ri, resource_logs) in request.resource_logs.iter().enumerate() {
        let ri = first_resource + ri;
        let resource = resource_logs.resource.as_ref();
        let (resource_attributes, resource_dropped) = attributes_of(&mut limiter, resource);
        for (si, scope_logs) in resource_logs.scope_logs.iter().enumerate() {
            let scope = scope_logs.scope.as_ref();
            let (scope_attributes, scope_dropped) = scope_attributes_of(&mut limiter, scope);
            let log_scope = LogScope {
                service_name: service_name(resource),
                resource_attributes: resource_attributes.clone(),
                resource_dropped_attributes_count: resource_dropped,
                resource_schema_url: Some(resource_logs.schema_url.as_str()),
                scope_name: scope.map(|s| s.name.as_str()),
                scope_version: scope.map(|s| s.version.as_str()),
                scope_attributes,
                scope_dropped_attributes_count: scope_dropped,
                scope_schema_url: Some(scope_logs.schema_url.as_str()),
            };
            for (li, log) in scope_logs.log_records.iter().enumerate() {
                out.received += 1;
                if let Err(problem) = validate(log) {
                    out.rejected_invalid += 1;
                    out.reject(|| format!("log record {li} (resource {ri}, scope {si}): {problem}"));
                    continue;
                }
                let (body, truncated) = body(&mut limiter, log, limits.max_log_body_bytes);
                truncated_bodies += u64::from(truncated);
                let (attributes, dropped_attributes_count) =
                    limiter.attributes(&log.attributes, log.dropped_attributes_count);
                let record = LogRecord {
                    time_unix_nano: effective_time(log, now),
                    observed_time_unix_nano: nanos(log.observed_time_unix_nano).filter(|t| *t != 0),
                    trace_id: if is_zero(&log.trace_id) { &[] } else { &log.trace_id },
                    span_id: if is_zero(&log.span_id) { &[] } else { &log.span_id },
                    flags: log.flags,
                    severity_number: log.severity_number,
                    severity_text: Some(&log.severity_text),
                    body,
                    event_name: Some(&log.event_name),
                    attributes,
                    dropped_attributes_count,
                };
                builder.append(&log_scope, &record)?;
                out.accepted += 1;
            }
        }
    }
    out.limits = limiter.counts;
    out.limits.truncated_log_bodies = truncated_bodies;
    if !builder.is_empty() {
        out.batch = Some(builder.finish()?);
    }
    Ok(out)
}

fn nanos(t: u64) -> Option<i64> {
    i64::try_from(t).ok()
}

/// `time_unix_nano`, else the observed time, else `now` (see `osprey_storage::logs`).
fn effective_time(log: &OtlpLogRecord, now: i64) -> i64 {
    [log.time_unix_nano, log.observed_time_unix_nano].into_iter().find(|t| *t != 0).and_then(nanos).unwrap_or(now)
}

/// The body, with string and bytes bodies cut to `max` bytes (and whether they were).
fn body<'a>(limiter: &mut Limiter<'_>, log: &'a OtlpLogRecord, max: usize) -> (AttrRef<'a>, bool) {
    match log.body.as_ref().and_then(|b| b.value.as_ref()) {
        Some(Value::StringValue(s)) if s.len() > max => {
            let mut end = max;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            (AttrRef::Str(s.get(..end).unwrap_or_default()), true)
        }
        Some(Value::StringValue(s)) => (AttrRef::Str(s), false),
        Some(Value::BytesValue(b)) => (AttrRef::Bytes(b.get(..max.min(b.len())).unwrap_or_default()), b.len() > max),
        _ => (limiter.value(log.body.as_ref(), 1), false),
    }
}

fn validate(log: &OtlpLogRecord) -> Result<(), String> {
    if !log.trace_id.is_empty() && log.trace_id.len() != 16 {
        return Err(format!("trace_id must be empty or 16 bytes, got {}", log.trace_id.len()));
    }
    if !log.span_id.is_empty() && log.span_id.len() != 8 {
        return Err(format!("span_id must be empty or 8 bytes, got {}", log.span_id.len()));
    }
    if nanos(log.time_unix_nano).is_none() || nanos(log.observed_time_unix_nano).is_none() {
        return Err("a time is beyond year 2262 (more than i64::MAX nanoseconds)".into());
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests;
