//! OTLP/JSON for metrics: `ExportMetricsServiceRequest`, with the same two steps and rules as
//! traces (see [`super`]): ids of exemplars hex or base64, enum names
//! (`AGGREGATION_TEMPORALITY_CUMULATIVE`) or numbers, 64-bit ints as strings or numbers,
//! `null` fields removed, unknown fields ignored.
//!
//! ## Doubles
//! Point values are doubles that may be `NaN` or infinite, which JSON numbers cannot carry:
//! exporters send the strings `"NaN"`, `"Infinity"`, `"-Infinity"` (proto3 JSON mapping), and
//! some send any double as a string. Upstream's derive reads those only for summary quantiles.
//! So every double field of a point (`asDouble`, `sum`, `min`, `max`, `zeroThreshold`,
//! `explicitBounds`, exemplar `asDouble`) that is a string is parsed here: a finite one becomes
//! a JSON number; a non-finite one is replaced by 0 and remembered with its position, and put
//! back into the decoded message after the derive has run. A string that is no number is left
//! alone: in `sum`/`min`/`max`/bounds the derive refuses the request as undecodable; as
//! `asDouble` (a flattened oneof) it decodes as a point without a value, which the collector
//! rejects per point.

use serde_json::{Map, Value};

use super::{
    each, enum_field, id, message, normalize_attributes_holder, u32_fields, JsonError, SPAN_ID_LEN, TRACE_ID_LEN,
};
use crate::metrics::metric::Data;
use crate::metrics::AggregationTemporality;
use crate::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};

/// Decodes an OTLP/JSON `ExportMetricsServiceRequest` (see the module docs for the rules).
pub fn decode_metrics_request(body: &[u8]) -> Result<ExportMetricsServiceRequest, JsonError> {
    let mut value: Value = serde_json::from_slice(body)?;
    if !value.is_object() {
        return Err(JsonError(serde::de::Error::custom("the request must be a JSON object")));
    }
    let mut specials = Vec::new();
    if let Some(obj) = message(&mut value) {
        let mut ri = 0;
        each(obj, "resourceMetrics", |rm| {
            normalize_resource_metrics(rm, ri, &mut specials);
            ri += 1;
        });
    }
    let mut request: ExportMetricsServiceRequest = serde_json::from_value(value)?;
    for special in specials {
        special.apply(&mut request);
    }
    Ok(request)
}

/// Encodes an `ExportMetricsServiceResponse` as OTLP/JSON: `{}` for full success, else
/// `{"partialSuccess":{"rejectedDataPoints":"<int64 as string>","errorMessage":"..."}}`.
pub fn encode_metrics_response(response: &ExportMetricsServiceResponse) -> Vec<u8> {
    let mut out = Map::new();
    if let Some(partial) = &response.partial_success {
        let mut p = Map::new();
        p.insert("rejectedDataPoints".into(), Value::String(partial.rejected_data_points.to_string()));
        p.insert("errorMessage".into(), Value::String(partial.error_message.clone()));
        out.insert("partialSuccess".into(), Value::Object(p));
    }
    Value::Object(out).to_string().into_bytes()
}

/// Which double of a point a non-finite value belongs to.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Field {
    Value,
    Sum,
    Min,
    Max,
    ZeroThreshold,
    Bound(usize),
    Exemplar(usize),
}

/// A non-finite double taken out before the derive and put back after it.
#[derive(Debug, Clone, Copy)]
struct Special {
    /// resource, scope, metric, point indices.
    at: [usize; 4],
    field: Field,
    value: f64,
}

impl Special {
    fn apply(self, request: &mut ExportMetricsServiceRequest) {
        let [ri, si, mi, pi] = self.at;
        let Some(metric) = request
            .resource_metrics
            .get_mut(ri)
            .and_then(|r| r.scope_metrics.get_mut(si))
            .and_then(|s| s.metrics.get_mut(mi))
        else {
            return;
        };
        use crate::metrics::exemplar::Value as E;
        use crate::metrics::number_data_point::Value as N;
        let exemplar = |exemplars: &mut Vec<crate::metrics::Exemplar>, i: usize, v: f64| {
            if let Some(e) = exemplars.get_mut(i) {
                e.value = Some(E::AsDouble(v));
            }
        };
        let v = self.value;
        match (&mut metric.data, self.field) {
            (Some(Data::Gauge(crate::metrics::Gauge { data_points })), field)
            | (Some(Data::Sum(crate::metrics::Sum { data_points, .. })), field) => {
                let Some(p) = data_points.get_mut(pi) else { return };
                match field {
                    Field::Value => p.value = Some(N::AsDouble(v)),
                    Field::Exemplar(i) => exemplar(&mut p.exemplars, i, v),
                    _ => {}
                }
            }
            (Some(Data::Histogram(h)), field) => {
                let Some(p) = h.data_points.get_mut(pi) else { return };
                match field {
                    Field::Sum => p.sum = Some(v),
                    Field::Min => p.min = Some(v),
                    Field::Max => p.max = Some(v),
                    Field::Bound(i) => {
                        if let Some(b) = p.explicit_bounds.get_mut(i) {
                            *b = v;
                        }
                    }
                    Field::Exemplar(i) => exemplar(&mut p.exemplars, i, v),
                    _ => {}
                }
            }
            (Some(Data::ExponentialHistogram(h)), field) => {
                let Some(p) = h.data_points.get_mut(pi) else { return };
                match field {
                    Field::Sum => p.sum = Some(v),
                    Field::Min => p.min = Some(v),
                    Field::Max => p.max = Some(v),
                    Field::ZeroThreshold => p.zero_threshold = v,
                    Field::Exemplar(i) => exemplar(&mut p.exemplars, i, v),
                    _ => {}
                }
            }
            (Some(Data::Summary(s)), Field::Sum) => {
                if let Some(p) = s.data_points.get_mut(pi) {
                    p.sum = v;
                }
            }
            _ => {}
        }
    }
}

fn normalize_resource_metrics(value: &mut Value, ri: usize, specials: &mut Vec<Special>) {
    let Some(obj) = message(value) else { return };
    if let Some(resource) = obj.get_mut("resource").and_then(message) {
        normalize_attributes_holder(resource);
    }
    let mut si = 0;
    each(obj, "scopeMetrics", |scope_metrics| {
        if let Some(obj) = message(scope_metrics) {
            if let Some(scope) = obj.get_mut("scope").and_then(message) {
                normalize_attributes_holder(scope);
            }
            let mut mi = 0;
            each(obj, "metrics", |metric| {
                normalize_metric(metric, [ri, si, mi], specials);
                mi += 1;
            });
        }
        si += 1;
    });
}

const DATA_KEYS: [&str; 5] = ["gauge", "sum", "histogram", "exponentialHistogram", "summary"];

fn normalize_metric(value: &mut Value, at: [usize; 3], specials: &mut Vec<Special>) {
    let Some(metric) = message(value) else { return };
    each(metric, "metadata", super::normalize_key_value);
    for key in DATA_KEYS {
        let Some(data) = metric.get_mut(key).and_then(message) else { continue };
        enum_field(data, "aggregationTemporality", temporality_number);
        let mut pi = 0;
        each(data, "dataPoints", |point| {
            let [ri, si, mi] = at;
            let mut found = |field, value| specials.push(Special { at: [ri, si, mi, pi], field, value });
            normalize_point(point, &mut found);
            pi += 1;
        });
    }
}

fn normalize_point(value: &mut Value, found: &mut impl FnMut(Field, f64)) {
    let Some(point) = message(value) else { return };
    normalize_attributes_holder(point);
    u32_fields(point, &["flags"]);
    i32_fields(point, &["scale"]);
    for (key, field) in [
        ("asDouble", Field::Value),
        ("sum", Field::Sum),
        ("min", Field::Min),
        ("max", Field::Max),
        ("zeroThreshold", Field::ZeroThreshold),
    ] {
        if let Some(v) = point.get_mut(key) {
            double(v, |x| found(field, x));
        }
    }
    let mut bi = 0;
    each(point, "explicitBounds", |v| {
        double(v, |x| found(Field::Bound(bi), x));
        bi += 1;
    });
    for key in ["positive", "negative"] {
        if let Some(buckets) = point.get_mut(key).and_then(message) {
            i32_fields(buckets, &["offset"]);
        }
    }
    let mut ei = 0;
    each(point, "exemplars", |exemplar| {
        if let Some(e) = message(exemplar) {
            id(e, "traceId", TRACE_ID_LEN);
            id(e, "spanId", SPAN_ID_LEN);
            each(e, "filteredAttributes", super::normalize_key_value);
            if let Some(v) = e.get_mut("asDouble") {
                double(v, |x| found(Field::Exemplar(ei), x));
            }
        }
        ei += 1;
    });
}

/// A double given as a string: finite → number; non-finite → 0, reported to `special`.
fn double(value: &mut Value, mut special: impl FnMut(f64)) {
    let Value::String(text) = value else { return };
    let Some(x) = parse_double(text) else { return };
    match serde_json::Number::from_f64(x) {
        Some(n) => *value = Value::Number(n),
        None => {
            special(x);
            *value = Value::from(0.0);
        }
    }
}

/// Proto3 JSON's `"NaN"`, `"Infinity"`, `"-Infinity"` and any decimal Rust reads.
fn parse_double(text: &str) -> Option<f64> {
    match text.trim() {
        "NaN" => Some(f64::NAN),
        "Infinity" | "+Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        t => t.parse().ok(),
    }
}

fn i32_fields(obj: &mut Map<String, Value>, keys: &[&str]) {
    for key in keys {
        if let Some(value) = obj.get_mut(*key) {
            if let Some(n) = value.as_str().and_then(|t| t.trim().parse::<i32>().ok()) {
                *value = Value::from(n);
            }
        }
    }
}

fn temporality_number(name: &str) -> Option<i32> {
    AggregationTemporality::from_str_name(name).map(|t| t as i32)
}

#[cfg(test)]
mod tests;
