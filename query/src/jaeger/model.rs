//! OTLP → Jaeger's UI JSON model, as Jaeger itself produces it, so Jaeger UI and Grafana's
//! Jaeger data source read our traces unchanged.
//!
//! Shapes: `internal/uimodel/model.go` and `internal/uimodel/converter/v1/json/from_domain.go`
//! in jaegertracing/jaeger (trace, span, reference, process, log, typed key-value; int64
//! values outside ±(2^53−1) become strings, as `from_domain.go` does for JavaScript).
//! Mapping: the OTLP → Jaeger translator (`pkg/translator/jaeger/traces_to_jaegerproto.go`
//! in opentelemetry-collector-contrib), tag order included: `otel.scope.name`,
//! `otel.scope.version`, the span's attributes, `span.kind`, `otel.status_code`, `error`,
//! `otel.status_description`, `w3c.tracestate`. Events become logs (an `event` field with the
//! name first, unless an attribute is already named `event`); the parent becomes the first
//! reference (`CHILD_OF`); links become `FOLLOWS_FROM` references (`CHILD_OF` when the link
//! has `opentracing.ref_type=child_of`; a link to the parent itself only retypes that
//! reference); resource attributes other than `service.name` become the process's tags.
//! Arrays and kvlists become `string` tags holding their JSON text; bytes become `binary`
//! tags holding base64.
//!
//! Differences from Jaeger, on purpose: a resource without `service.name` is the service
//! `unknown_service` (the name Osprey stores and lists, so search and display agree; Jaeger
//! writes `OTLPResourceNoServiceName`); `flags` carries the W3C trace flags (the low byte
//! of OTLP `flags`; Jaeger's translator leaves it 0, which is omitted).

use base64::Engine as _;
use osprey_proto::common::{any_value::Value as Any, AnyValue, KeyValue as OtlpKeyValue};
use osprey_proto::trace::{span, ResourceSpans, ScopeSpans, Span as OtlpSpan};
use osprey_storage::spans::UNKNOWN_SERVICE;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::otlp_trace::OtlpTrace;

/// Largest integer a JavaScript number holds exactly (`jsMaxSafeInteger` in `from_domain.go`).
const JS_MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

#[derive(Debug, Clone, Serialize)]
pub struct Trace {
    #[serde(rename = "traceID")]
    pub trace_id: String,
    pub spans: Vec<Span>,
    /// `p1`, `p2`, … in the order of each process's first span (serde_json keeps insertion order).
    pub processes: Map<String, Value>,
    pub warnings: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Span {
    #[serde(rename = "traceID")]
    pub trace_id: String,
    #[serde(rename = "spanID")]
    pub span_id: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub flags: u32,
    pub operation_name: String,
    pub references: Vec<Reference>,
    /// Microseconds since the epoch.
    pub start_time: u64,
    /// Microseconds.
    pub duration: u64,
    pub tags: Vec<Tag>,
    pub logs: Vec<Log>,
    #[serde(rename = "processID")]
    pub process_id: String,
    pub warnings: Option<Vec<String>>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reference {
    #[serde(rename = "refType")]
    pub ref_type: &'static str,
    #[serde(rename = "traceID")]
    pub trace_id: String,
    #[serde(rename = "spanID")]
    pub span_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Process {
    #[serde(rename = "serviceName")]
    pub service_name: String,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Log {
    pub timestamp: u64,
    pub fields: Vec<Tag>,
}

/// A typed Jaeger key-value: `type` is `string`, `bool`, `int64`, `float64` or `binary`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tag {
    pub key: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub value: Value,
}

impl Tag {
    fn string(key: &str, value: &str) -> Tag {
        Tag { key: key.into(), kind: "string", value: Value::String(value.into()) }
    }
}

/// A trace id as Jaeger prints it (`model.TraceID.String()`): 16 hex digits when the high
/// half is zero, else 32.
pub fn trace_id_text(bytes: &[u8]) -> String {
    let hex = hex::encode(bytes);
    match hex.strip_prefix("0000000000000000") {
        Some(low) if hex.len() == 32 => low.to_string(),
        _ => hex,
    }
}

/// One trace in Jaeger's model.
pub fn trace(otlp: &OtlpTrace) -> Trace {
    let mut processes: Vec<(String, Process)> = Vec::new();
    let mut spans = Vec::with_capacity(otlp.span_count());
    for rs in &otlp.resource_spans {
        let process = process(rs);
        let process_id = match processes.iter().find(|(_, p)| *p == process) {
            Some((id, _)) => id.clone(),
            None => {
                let id = format!("p{}", processes.len() + 1);
                processes.push((id.clone(), process));
                id
            }
        };
        for ss in &rs.scope_spans {
            spans.extend(ss.spans.iter().map(|s| span(ss, s, &process_id)));
        }
    }
    let processes = processes
        .into_iter()
        .map(|(id, p)| (id, serde_json::to_value(p).unwrap_or(Value::Null)))
        .collect::<Map<String, Value>>();
    let trace_id = spans.first().map(|s| s.trace_id.clone()).unwrap_or_else(|| otlp.trace_id.clone());
    Trace { trace_id, spans, processes, warnings: None }
}

/// The service name of a resource: its `service.name` string, else `unknown_service`.
pub fn service_name(rs: &ResourceSpans) -> &str {
    rs.resource
        .iter()
        .flat_map(|r| &r.attributes)
        .find(|kv| kv.key == "service.name")
        .and_then(|kv| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(Any::StringValue(s)) if !s.is_empty() => Some(s.as_str()),
            _ => None,
        })
        .unwrap_or(UNKNOWN_SERVICE)
}

fn process(rs: &ResourceSpans) -> Process {
    let tags = rs.resource.iter().flat_map(|r| &r.attributes).filter(|kv| kv.key != "service.name").map(tag).collect();
    Process { service_name: service_name(rs).to_string(), tags }
}

fn span(ss: &ScopeSpans, span: &OtlpSpan, process_id: &str) -> Span {
    let micros = |ns: u64| ns / 1_000;
    Span {
        trace_id: trace_id_text(&span.trace_id),
        span_id: hex::encode(&span.span_id),
        flags: span.flags & 0xff,
        operation_name: span.name.clone(),
        references: references(span),
        start_time: micros(span.start_time_unix_nano),
        duration: micros(span.end_time_unix_nano.saturating_sub(span.start_time_unix_nano)),
        tags: span_tags(ss, span),
        logs: span.events.iter().map(log).collect(),
        process_id: process_id.to_string(),
        warnings: None,
    }
}

/// `span.kind` values by OTLP `SpanKind` number (`unspecified` has no tag).
const KIND_TAGS: [Option<&str>; 6] =
    [None, Some("internal"), Some("server"), Some("client"), Some("producer"), Some("consumer")];

fn span_tags(ss: &ScopeSpans, span: &OtlpSpan) -> Vec<Tag> {
    let mut tags = Vec::with_capacity(span.attributes.len() + 6);
    if let Some(scope) = &ss.scope {
        if !scope.name.is_empty() {
            tags.push(Tag::string("otel.scope.name", &scope.name));
        }
        if !scope.version.is_empty() {
            tags.push(Tag::string("otel.scope.version", &scope.version));
        }
    }
    tags.extend(span.attributes.iter().map(tag));
    if let Some(Some(kind)) = usize::try_from(span.kind).ok().and_then(|k| KIND_TAGS.get(k)) {
        tags.push(Tag::string("span.kind", kind));
    }
    let status = span.status.clone().unwrap_or_default();
    match status.code {
        1 => tags.push(Tag::string("otel.status_code", "OK")),
        2 => {
            tags.push(Tag::string("otel.status_code", "ERROR"));
            tags.push(Tag { key: "error".into(), kind: "bool", value: Value::Bool(true) });
        }
        _ => {}
    }
    if !status.message.is_empty() {
        tags.push(Tag::string("otel.status_description", &status.message));
    }
    if !span.trace_state.is_empty() {
        tags.push(Tag::string("w3c.tracestate", &span.trace_state));
    }
    tags
}

fn references(span: &OtlpSpan) -> Vec<Reference> {
    let trace_id = trace_id_text(&span.trace_id);
    let mut refs = Vec::with_capacity(span.links.len() + 1);
    let has_parent = !span.parent_span_id.is_empty() && span.parent_span_id.iter().any(|b| *b != 0);
    if has_parent {
        refs.push(Reference {
            ref_type: "CHILD_OF",
            trace_id: trace_id.clone(),
            span_id: hex::encode(&span.parent_span_id),
        });
    }
    for link in &span.links {
        let ref_type = link_ref_type(link);
        if has_parent && link.trace_id == span.trace_id && link.span_id == span.parent_span_id {
            if let Some(parent) = refs.first_mut() {
                parent.ref_type = ref_type;
            }
            continue;
        }
        refs.push(Reference { ref_type, trace_id: trace_id_text(&link.trace_id), span_id: hex::encode(&link.span_id) });
    }
    refs
}

/// `FOLLOWS_FROM` unless the link says `opentracing.ref_type=child_of`.
fn link_ref_type(link: &span::Link) -> &'static str {
    let child_of = link.attributes.iter().any(|kv| {
        kv.key == "opentracing.ref_type"
            && matches!(kv.value.as_ref().and_then(|v| v.value.as_ref()), Some(Any::StringValue(s)) if s == "child_of")
    });
    if child_of {
        "CHILD_OF"
    } else {
        "FOLLOWS_FROM"
    }
}

fn log(event: &span::Event) -> Log {
    let mut fields = Vec::with_capacity(event.attributes.len() + 1);
    if !event.name.is_empty() && !event.attributes.iter().any(|kv| kv.key == "event") {
        fields.push(Tag::string("event", &event.name));
    }
    fields.extend(event.attributes.iter().map(tag));
    Log { timestamp: event.time_unix_nano / 1_000, fields }
}

/// An OTLP attribute as a typed Jaeger tag.
pub fn tag(kv: &OtlpKeyValue) -> Tag {
    let (kind, value) = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        None | Some(Any::StringValueStrindex(_)) => ("string", Value::String(String::new())),
        Some(Any::StringValue(s)) => ("string", Value::String(s.clone())),
        Some(Any::BoolValue(b)) => ("bool", Value::Bool(*b)),
        Some(Any::IntValue(i)) if (-JS_MAX_SAFE_INTEGER..=JS_MAX_SAFE_INTEGER).contains(i) => {
            ("int64", Value::from(*i))
        }
        Some(Any::IntValue(i)) => ("int64", Value::String(i.to_string())),
        Some(Any::DoubleValue(d)) => ("float64", double(*d)),
        Some(Any::BytesValue(b)) => ("binary", Value::String(base64::engine::general_purpose::STANDARD.encode(b))),
        Some(composite @ (Any::ArrayValue(_) | Any::KvlistValue(_))) => {
            ("string", Value::String(raw_json(&AnyValue { value: Some(composite.clone()) }).to_string()))
        }
    };
    Tag { key: kv.key.clone(), kind, value }
}

fn double(d: f64) -> Value {
    serde_json::Number::from_f64(d).map(Value::Number).unwrap_or_else(|| Value::String(format!("{d}")))
}

/// The JSON text `pcommon.Value.AsString()` gives a composite: plain JSON values, bytes
/// as base64, an empty value as `null`.
fn raw_json(value: &AnyValue) -> Value {
    match &value.value {
        None | Some(Any::StringValueStrindex(_)) => Value::Null,
        Some(Any::StringValue(s)) => Value::String(s.clone()),
        Some(Any::BoolValue(b)) => Value::Bool(*b),
        Some(Any::IntValue(i)) => Value::from(*i),
        Some(Any::DoubleValue(d)) => double(*d),
        Some(Any::BytesValue(b)) => Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
        Some(Any::ArrayValue(a)) => Value::Array(a.values.iter().map(raw_json).collect()),
        Some(Any::KvlistValue(kvs)) => Value::Object(
            kvs.values
                .iter()
                .map(|kv| (kv.key.clone(), kv.value.as_ref().map(raw_json).unwrap_or(Value::Null)))
                .collect(),
        ),
    }
}
