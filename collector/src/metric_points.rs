//! Metrics: the [`Metrics`] signal (`ExportMetricsServiceRequest` → the `metrics` table, one row
//! per data point) and its conversion with per-point validation.
//!
//! A data point is rejected (and reported in `partial_success`) when:
//! - its metric has no name, or its time is 0 or beyond i64 nanoseconds;
//! - a gauge/sum point has no value and is not flagged *no recorded value*;
//! - a histogram's `bucket_counts` is neither empty nor one longer than `explicit_bounds`, its
//!   bounds are not strictly increasing finite numbers, or its buckets do not add up to `count`;
//! - an exponential histogram's buckets plus `zero_count` do not add up to `count`, or its
//!   scale is outside -10..=20;
//! - a summary quantile is outside [0, 1];
//! - an exemplar's trace id is neither empty nor 16 bytes, or its span id neither empty nor 8.
//!
//! (These are the OTLP data model's rules, `opentelemetry-proto` `metrics.proto`.) A point
//! flagged *no recorded value* (`flags & 1`) is kept with NULL value, count and sum: it marks
//! a gap (e.g. a Prometheus staleness marker) that queries must see.
//!
//! A request is converted from its protobuf bytes, read in place ([`convert_protobuf`],
//! [`crate::wire`]): no prost messages are built for it. A decoded request (OTLP/JSON) is
//! encoded first ([`convert`]), and a scrape where it is built, so every request takes the
//! same conversion.

use osprey_proto::json::JsonError;
use osprey_proto::metrics::{metric::Data, Metric, ResourceMetrics};
use osprey_proto::{ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use osprey_storage::attributes::EntriesCapacity;
use osprey_storage::metric_points::{
    ExemplarRecord, MetricInfo, Number, PointData, PointRecord, PointScope, PointsBuilder, PointsCapacity,
    FLAG_NO_RECORDED_VALUE,
};
use osprey_storage::spans::UNKNOWN_SERVICE;
use osprey_storage::{StorageError, Table};
use prost::Message as _;

use crate::config::LimitsConfig;
use crate::conversion::Conversion;
use crate::limits::Limiter;
use crate::signal::{ProtobufFailure, Signal};
use crate::wire::{self, WireError};
use messages::{Kind, Outline, PointFields};
use series_rows::SeriesRows;

/// Metrics: `ExportMetricsServiceRequest` → the `metrics` table.
#[derive(Debug, Default)]
pub struct Metrics;

impl Signal for Metrics {
    type Request = ExportMetricsServiceRequest;
    type Response = ExportMetricsServiceResponse;
    type Resource = ResourceMetrics;
    type Pending = ();

    const NAME: &'static str = "metrics";
    const GRPC_SERVICE: &'static str = osprey_proto::service_names::METRICS;
    const GRPC_EXPORT_PATH: &'static str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";
    const ITEMS: &'static str = "data points";
    const TABLE: Table = Table::Metrics;
    const SOURCE_CODEC: Option<u8> = Some(crate::replay::METRICS_PROTOBUF);

    fn count(request: &Self::Request) -> u64 {
        request.resource_metrics.iter().map(Self::resource_items).sum()
    }

    fn into_resources(request: Self::Request) -> Vec<ResourceMetrics> {
        request.resource_metrics
    }

    fn from_resources(resource_metrics: Vec<ResourceMetrics>) -> Self::Request {
        ExportMetricsServiceRequest { resource_metrics }
    }

    fn resource_items(resource: &ResourceMetrics) -> u64 {
        resource.scope_metrics.iter().flat_map(|s| &s.metrics).map(|m| points_in(m) as u64).sum()
    }

    fn decode_json(body: &[u8]) -> Result<Self::Request, JsonError> {
        osprey_proto::json::decode_metrics_request(body)
    }

    fn response(partial: Option<(i64, String)>) -> Self::Response {
        ExportMetricsServiceResponse {
            partial_success: partial.map(|(rejected_data_points, error_message)| ExportMetricsPartialSuccess {
                rejected_data_points,
                error_message,
            }),
        }
    }

    fn encode_json(response: &Self::Response) -> Vec<u8> {
        osprey_proto::json::encode_metrics_response(response)
    }

    fn convert(
        &self,
        request: &Self::Request,
        limits: &LimitsConfig,
        first_resource: usize,
    ) -> Result<Conversion, StorageError> {
        convert_part(request, limits, first_resource)
    }

    fn convert_protobuf(
        &self,
        bytes: &[u8],
        limits: &LimitsConfig,
        first_resource: usize,
    ) -> Result<Conversion, ProtobufFailure> {
        convert_protobuf(bytes, limits, first_resource)
    }

    fn commit(&self, _pending: ()) {}
}

fn points_in(metric: &Metric) -> usize {
    match &metric.data {
        Some(Data::Gauge(g)) => g.data_points.len(),
        Some(Data::Sum(s)) => s.data_points.len(),
        Some(Data::Histogram(h)) => h.data_points.len(),
        Some(Data::ExponentialHistogram(e)) => e.data_points.len(),
        Some(Data::Summary(s)) => s.data_points.len(),
        None => 0,
    }
}

/// Converts a decoded `request` (OTLP/JSON) through its protobuf encoding, the one
/// way every metrics request is converted ([`convert_protobuf`]). Fails only if the batch
/// cannot be built (a bug, not bad input).
pub fn convert(request: &ExportMetricsServiceRequest, limits: &LimitsConfig) -> Result<Conversion, StorageError> {
    convert_part(request, limits, 0)
}

/// [`convert`] for a part of a larger request starting at its resource `first_resource`.
pub fn convert_part(
    request: &ExportMetricsServiceRequest,
    limits: &LimitsConfig,
    first_resource: usize,
) -> Result<Conversion, StorageError> {
    convert_protobuf(&request.encode_to_vec(), limits, first_resource).map_err(|failure| match failure {
        // A request nested past prost's recursion limit, built in memory (JSON's own limit is lower).
        ProtobufFailure::Undecodable(e) => StorageError::InvalidInput(e),
        ProtobufFailure::Conversion { error, .. } => error,
    })
}

/// Converts an `ExportMetricsServiceRequest` in OTLP/protobuf, or a run of whole resources of
/// one starting at its resource `first_resource`, read in place ([`crate::wire`]) instead of
/// decoded into messages first. What the reader leaves to prost (a singular message sent twice)
/// or refuses is decoded by prost: if prost refuses it too, so is the request, with prost's
/// error; else its canonical encoding is converted. So the rows are always those of the
/// request as prost decodes it (`tests::in_place_conversion_equals_prosts`).
pub fn convert_protobuf(
    bytes: &[u8],
    limits: &LimitsConfig,
    first_resource: usize,
) -> Result<Conversion, ProtobufFailure> {
    let stop = match in_place(bytes, limits, first_resource) {
        Ok(conversion) => return Ok(conversion),
        Err(stop) => stop,
    };
    let error = match stop {
        Stop::Storage { received, error } => return Err(ProtobufFailure::Conversion { received, error }),
        Stop::Wire(error) => error,
    };
    let request =
        ExportMetricsServiceRequest::decode(bytes).map_err(|e| ProtobufFailure::Undecodable(e.to_string()))?;
    tracing::debug!(error = %error, "metrics request not read in place; converted from prost's decoding");
    in_place(&request.encode_to_vec(), limits, first_resource).map_err(|stop| match stop {
        Stop::Storage { received, error } => ProtobufFailure::Conversion { received, error },
        Stop::Wire(e) => ProtobufFailure::Conversion {
            received: Metrics::count(&request),
            error: StorageError::Internal(format!("prost's encoding of a request is not read in place: {e}")),
        },
    })
}

/// Why an in-place conversion stopped.
enum Stop {
    Wire(WireError),
    /// The batch could not be built, after `received` points.
    Storage {
        received: u64,
        error: StorageError,
    },
}

impl From<WireError> for Stop {
    fn from(e: WireError) -> Self {
        Stop::Wire(e)
    }
}

fn in_place(bytes: &[u8], limits: &LimitsConfig, first_resource: usize) -> Result<Conversion, Stop> {
    in_place_with(bytes, limits, first_resource, &mut SeriesRows::take(limits))
}

/// [`in_place`] with the series rows kept in `rows` (made under `limits`).
fn in_place_with(
    bytes: &[u8],
    limits: &LimitsConfig,
    first_resource: usize,
    rows: &mut SeriesRows,
) -> Result<Conversion, Stop> {
    let outline = Outline::read(bytes)?;
    let mut out = Conversion::<()>::default();
    let mut limiter = Limiter::new(limits);
    let mut builder = PointsBuilder::sized(&capacity(&outline));
    let (mut point, mut exemplar_attributes) = (PointFields::default(), Vec::new());
    for (ri, resource) in outline.resources.iter().enumerate() {
        let ri = first_resource + ri;
        let kvs = &outline.resource_attributes[resource.attributes.clone()];
        let (resource_attributes, _) = wire::attributes(&mut limiter, kvs, 0)?;
        let service = wire::service_name(kvs)?.unwrap_or(UNKNOWN_SERVICE);
        for (si, scope) in outline.scopes[resource.scopes.clone()].iter().enumerate() {
            let point_scope = PointScope::new(service, &resource_attributes, scope.name, scope.version);
            for metric in &outline.metrics[scope.metrics.clone()] {
                let Some(kind) = metric.kind else { continue };
                let info = MetricInfo { name: metric.name, description: metric.description, unit: metric.unit };
                for (pi, encoded) in outline.points[metric.points.clone()].iter().enumerate() {
                    point.read(kind, *encoded)?;
                    out.received += 1;
                    let record = if metric.name.is_empty() {
                        Err("the metric has no name".to_string())
                    } else {
                        record(&point, kind, &mut limiter, &mut exemplar_attributes)?
                    };
                    match record {
                        Ok(record) => {
                            let appended =
                                append(&mut builder, rows, &mut limiter, (&point_scope, &info), &point, record);
                            let received = out.received;
                            appended?.map_err(|error| Stop::Storage { received, error })?;
                            out.accepted += 1;
                        }
                        Err(problem) => {
                            messages::check_rest(&point)?;
                            out.rejected_invalid += 1;
                            out.reject(|| {
                                format!("data point {pi} of {:?} (resource {ri}, scope {si}): {problem}", metric.name)
                            });
                        }
                    }
                }
            }
        }
    }
    out.limits = limiter.counts;
    if !builder.is_empty() {
        let received = out.received;
        out.batch = Some(builder.finish().map_err(|error| Stop::Storage { received, error })?);
    }
    Ok(out)
}

/// Appends an accepted point with its attributes: as its series row, kept or made
/// ([`SeriesRows::row`]), or read and appended directly.
fn append<'a: 'p, 'p>(
    builder: &mut PointsBuilder,
    rows: &mut SeriesRows,
    limiter: &mut Limiter<'_>,
    (scope, info): (&PointScope<'_>, &MetricInfo<'_>),
    point: &'p PointFields<'a>,
    mut record: PointRecord<'p>,
) -> Result<Result<(), StorageError>, WireError> {
    let make = |limiter: &mut Limiter<'_>| {
        let (attributes, _) = wire::attributes(limiter, &point.lists.attributes, 0)?;
        Ok(scope.series_row(&attributes))
    };
    if let Some(row) = rows.row(scope.series_prefix(), point.attributes_encoded, limiter, make)? {
        return Ok(builder.append_series(scope, info, &record, row));
    }
    (record.attributes, _) = wire::attributes(limiter, &point.lists.attributes, 0)?;
    Ok(builder.append(scope, info, &record))
}

/// At most this many points are allocated for up front; past it the builders grow as usual
/// (a large request is cut into parts anyway).
const MAX_PRESIZED_POINTS: usize = 1 << 16;

/// What converting `outline` will append, estimated before converting it so that the builder's
/// buffers are allocated about once instead of doubled and copied as they fill
/// ([`PointsBuilder::sized`]): rows, metric names and descriptions exactly; attribute text from
/// the encoded size of the points and of the resources' attributes, which bounds it (an entry
/// is guessed at 16 encoded bytes, its text split evenly between key and value).
fn capacity(outline: &Outline<'_>) -> PointsCapacity {
    let estimate =
        |entries: usize, bytes: usize| EntriesCapacity { entries, key_bytes: bytes / 2, value_bytes: bytes / 2 };
    let mut c = PointsCapacity {
        rows: outline.points.len(),
        attributes: estimate(outline.point_bytes / 16, outline.point_bytes),
        ..Default::default()
    };
    for resource in &outline.resources {
        let resource_attributes = estimate(resource.attributes.len(), resource.encoded_attribute_bytes);
        for scope in &outline.scopes[resource.scopes.clone()] {
            for metric in &outline.metrics[scope.metrics.clone()] {
                let n = metric.points.len();
                c.resource_attributes.add(resource_attributes.times(n));
                c.name_bytes += metric.name.len() * n;
                c.description_bytes += metric.description.len() * n;
            }
        }
    }
    if c.rows > MAX_PRESIZED_POINTS {
        let scale = |n: usize| n.saturating_mul(MAX_PRESIZED_POINTS) / c.rows;
        let scale_entries = |e: EntriesCapacity| EntriesCapacity {
            entries: scale(e.entries),
            key_bytes: scale(e.key_bytes),
            value_bytes: scale(e.value_bytes),
        };
        c = PointsCapacity {
            rows: MAX_PRESIZED_POINTS,
            attributes: scale_entries(c.attributes),
            resource_attributes: scale_entries(c.resource_attributes),
            name_bytes: scale(c.name_bytes),
            description_bytes: scale(c.description_bytes),
        };
    }
    c
}

/// Validates a point and converts it (see the module docs for what is rejected): `Ok(Err(_))`
/// is a rejected point, `Err` a request that is not what it claims to be.
fn record<'a: 'p, 'p>(
    p: &'p PointFields<'a>,
    kind: Kind,
    limiter: &mut Limiter<'_>,
    exemplar_attributes: &mut Vec<wire::Message<'a>>,
) -> Result<Result<PointRecord<'p>, String>, WireError> {
    let Some(time) = nanos(p.time).filter(|t| *t > 0) else {
        return Ok(Err("time_unix_nano is 0 or beyond year 2262".into()));
    };
    let Some(start) = nanos(p.start) else { return Ok(Err("start_time_unix_nano is beyond year 2262".into())) };
    let missing = p.flags & FLAG_NO_RECORDED_VALUE != 0;
    let data = match data(p, kind, missing) {
        Ok(data) => data,
        Err(problem) => return Ok(Err(problem)),
    };
    let mut exemplars = Vec::with_capacity(p.lists.exemplars.len());
    for e in &p.lists.exemplars {
        exemplar_attributes.clear();
        let fields = messages::exemplar(*e, exemplar_attributes)?;
        match exemplar_record(fields, exemplar_attributes, limiter)? {
            Ok(record) => exemplars.push(record),
            Err(problem) => return Ok(Err(problem)),
        }
    }
    // The point's attributes come last, as its series row or after it (see `in_place`).
    Ok(Ok(PointRecord {
        time_unix_nano: time,
        start_time_unix_nano: start,
        attributes: Vec::new(),
        flags: p.flags,
        data,
        exemplars,
    }))
}

fn data<'a: 'p, 'p>(p: &'p PointFields<'a>, kind: Kind, missing: bool) -> Result<PointData<'p>, String> {
    let present = |v: u64| (!missing).then_some(v);
    let present_f = |v: Option<f64>| if missing { None } else { v };
    let lists = &p.lists;
    Ok(match kind {
        Kind::Gauge | Kind::Sum { .. } => {
            let value = match (missing, p.number) {
                (true, _) => Number::None,
                (false, Some(messages::Number::Double(d))) => Number::Double(d),
                (false, Some(messages::Number::Int(i))) => Number::Int(i),
                (false, None) => return Err("no value (neither as_double nor as_int)".into()),
            };
            match kind {
                Kind::Sum { is_monotonic, temporality } => PointData::Sum { value, is_monotonic, temporality },
                _ => PointData::Gauge(value),
            }
        }
        Kind::Histogram { temporality } => {
            if !missing {
                check_histogram(&lists.bucket_counts, &lists.explicit_bounds, p.count)?;
            }
            PointData::Histogram {
                temporality,
                count: present(p.count),
                sum: present_f(p.sum),
                min: present_f(p.min),
                max: present_f(p.max),
                bucket_counts: &lists.bucket_counts,
                explicit_bounds: &lists.explicit_bounds,
            }
        }
        Kind::Exponential { temporality } => {
            if !missing {
                check_exponential(p.scale, [&lists.positive, &lists.negative], p.zero_count, p.count)?;
            }
            PointData::ExponentialHistogram {
                temporality,
                count: present(p.count),
                sum: present_f(p.sum),
                min: present_f(p.min),
                max: present_f(p.max),
                scale: p.scale,
                zero_count: p.zero_count,
                zero_threshold: p.zero_threshold,
                positive: (p.positive_offset, &lists.positive),
                negative: (p.negative_offset, &lists.negative),
            }
        }
        Kind::Summary => {
            if let Some((q, _)) = lists.quantiles.iter().find(|(q, _)| !(0.0..=1.0).contains(q)) {
                return Err(format!("quantile {q} is outside [0, 1]"));
            }
            PointData::Summary {
                count: present(p.count),
                sum: present_f(Some(p.sum.unwrap_or(0.0))),
                quantiles: lists.quantiles.clone(),
            }
        }
    })
}

fn check_histogram(bucket_counts: &[u64], explicit_bounds: &[f64], count: u64) -> Result<(), String> {
    let (buckets, bounds) = (bucket_counts.len(), explicit_bounds.len());
    if buckets == 0 && bounds == 0 {
        return Ok(());
    }
    if buckets != bounds + 1 {
        return Err(format!("{buckets} bucket counts for {bounds} explicit bounds (want bounds + 1)"));
    }
    if explicit_bounds.iter().any(|b| !b.is_finite()) || explicit_bounds.windows(2).any(|w| w[0] >= w[1]) {
        return Err("explicit bounds are not strictly increasing finite numbers".into());
    }
    let total = bucket_counts.iter().try_fold(0u64, |a, c| a.checked_add(*c));
    if total != Some(count) {
        return Err(format!("bucket counts add up to {total:?}, not count {count}"));
    }
    Ok(())
}

fn check_exponential(scale: i32, buckets: [&[u64]; 2], zero_count: u64, count: u64) -> Result<(), String> {
    if !(-10..=20).contains(&scale) {
        return Err(format!("scale {scale} is outside -10..=20"));
    }
    let counts = buckets.into_iter().flatten();
    let total = counts.chain([&zero_count]).try_fold(0u64, |a, c| a.checked_add(*c));
    if total != Some(count) {
        return Err(format!("buckets and zero_count add up to {total:?}, not count {count}"));
    }
    Ok(())
}

/// An exemplar checked and converted; `attributes` are its filtered attributes, still encoded.
fn exemplar_record<'a>(
    e: messages::ExemplarFields<'a>,
    attributes: &[wire::Message<'a>],
    limiter: &mut Limiter<'_>,
) -> Result<Result<ExemplarRecord<'a>, String>, WireError> {
    if !(e.trace_id.is_empty() || e.trace_id.len() == 16) {
        return Ok(Err(format!("exemplar trace_id must be empty or 16 bytes, got {}", e.trace_id.len())));
    }
    if !(e.span_id.is_empty() || e.span_id.len() == 8) {
        return Ok(Err(format!("exemplar span_id must be empty or 8 bytes, got {}", e.span_id.len())));
    }
    let value = e.value.map(|v| match v {
        messages::Number::Double(d) => Number::Double(d),
        messages::Number::Int(i) => Number::Int(i),
    });
    let (filtered_attributes, _) = wire::attributes(limiter, attributes, 0)?;
    Ok(Ok(ExemplarRecord {
        time_unix_nano: nanos(e.time).unwrap_or(i64::MAX),
        value,
        trace_id: e.trace_id,
        span_id: e.span_id,
        filtered_attributes,
    }))
}

fn nanos(t: u64) -> Option<i64> {
    i64::try_from(t).ok()
}

mod messages;
mod series_rows;

#[cfg(test)]
mod equivalence;
#[cfg(test)]
mod oracle;
#[cfg(test)]
pub(crate) mod tests;
