//! OTLP/JSON `ExportLogsServiceRequest`: the same two steps as traces (normalize the
//! `serde_json::Value`, then deserialize with the derive), walking
//! `resourceLogs[].scopeLogs[].logRecords[]`.
//!
//! A log record's `traceId` and `spanId` follow the id rules of the module docs, except that an
//! empty string stays empty (a log without trace context is valid OTLP). `severityNumber` may
//! be a name (`"SEVERITY_NUMBER_INFO"`) or a number (also as a string). `body` is an `AnyValue`
//! of any type, normalized like attribute values.

use serde_json::{Map, Value};

use super::{each, enum_field, id, message, normalize_any_value, normalize_attributes_holder, u32_fields};
use super::{JsonError, SPAN_ID_LEN, TRACE_ID_LEN};
use crate::{ExportLogsServiceRequest, ExportLogsServiceResponse};

/// Decodes an OTLP/JSON `ExportLogsServiceRequest` (see the module docs for the rules).
pub fn decode_logs_request(body: &[u8]) -> Result<ExportLogsServiceRequest, JsonError> {
    let mut value: Value = serde_json::from_slice(body)?;
    let Some(obj) = message(&mut value) else {
        return Err(JsonError(serde::de::Error::custom("the request must be a JSON object")));
    };
    each(obj, "resourceLogs", normalize_resource_logs);
    Ok(serde_json::from_value(value)?)
}

/// Encodes an `ExportLogsServiceResponse`: `{}` for full success, else
/// `{"partialSuccess":{"rejectedLogRecords":"<int64 as string>","errorMessage":"..."}}`.
pub fn encode_logs_response(response: &ExportLogsServiceResponse) -> Vec<u8> {
    let mut out = Map::new();
    if let Some(partial) = &response.partial_success {
        let mut p = Map::new();
        p.insert("rejectedLogRecords".into(), Value::String(partial.rejected_log_records.to_string()));
        p.insert("errorMessage".into(), Value::String(partial.error_message.clone()));
        out.insert("partialSuccess".into(), Value::Object(p));
    }
    Value::Object(out).to_string().into_bytes()
}

fn normalize_resource_logs(value: &mut Value) {
    let Some(obj) = message(value) else { return };
    if let Some(resource) = obj.get_mut("resource").and_then(message) {
        normalize_attributes_holder(resource);
    }
    each(obj, "scopeLogs", |scope_logs| {
        let Some(obj) = message(scope_logs) else { return };
        if let Some(scope) = obj.get_mut("scope").and_then(message) {
            normalize_attributes_holder(scope);
        }
        each(obj, "logRecords", normalize_log_record);
    });
}

fn normalize_log_record(value: &mut Value) {
    let Some(record) = message(value) else { return };
    optional_id(record, "traceId", TRACE_ID_LEN);
    optional_id(record, "spanId", SPAN_ID_LEN);
    enum_field(record, "severityNumber", severity_number);
    u32_fields(record, &["flags"]);
    normalize_attributes_holder(record);
    if let Some(body) = record.get_mut("body") {
        normalize_any_value(body);
    }
}

/// An id that may be absent: `""` stays empty, anything else follows [`id`].
fn optional_id(obj: &mut Map<String, Value>, key: &str, len: usize) {
    if obj.get(key).and_then(Value::as_str).is_some_and(str::is_empty) {
        return;
    }
    id(obj, key, len);
}

fn severity_number(name: &str) -> Option<i32> {
    crate::logs::SeverityNumber::from_str_name(name).map(|n| n as i32)
}

#[cfg(test)]
mod tests;
