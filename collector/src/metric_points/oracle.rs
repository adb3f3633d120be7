//! The conversion of decoded messages that the in-place one ([`super::convert_protobuf`])
//! replaced in session 16, kept as the tests' reference: converting prost's decoding of a
//! request must give what converting its bytes in place gives.

use osprey_proto::metrics::exponential_histogram_data_point::Buckets;
use osprey_proto::metrics::{
    exemplar, metric::Data, number_data_point, Exemplar, ExponentialHistogramDataPoint, HistogramDataPoint, Metric,
    NumberDataPoint, SummaryDataPoint,
};
use osprey_proto::ExportMetricsServiceRequest;
use osprey_storage::metric_points::{
    ExemplarRecord, MetricInfo, Number, PointData, PointRecord, PointScope, PointsBuilder, FLAG_NO_RECORDED_VALUE,
};
use osprey_storage::StorageError;

use super::{check_exponential, check_histogram, nanos};
use crate::config::LimitsConfig;
use crate::conversion::Conversion;
use crate::convert::{attributes_of, service_name};
use crate::limits::Limiter;

/// Converts `request`, a part of a larger one starting at its resource `first_resource`.
pub(crate) fn convert_part(
    request: &ExportMetricsServiceRequest,
    limits: &LimitsConfig,
    first_resource: usize,
) -> Result<Conversion, StorageError> {
    let mut out = Conversion::<()>::default();
    let mut limiter = Limiter::new(limits);
    let mut builder = PointsBuilder::new();
    for (ri, resource_metrics) in request.resource_metrics.iter().enumerate() {
        let ri = first_resource + ri;
        let resource = resource_metrics.resource.as_ref();
        let (resource_attributes, _) = attributes_of(&mut limiter, resource);
        for (si, scope_metrics) in resource_metrics.scope_metrics.iter().enumerate() {
            let scope = scope_metrics.scope.as_ref();
            let point_scope = PointScope::new(
                service_name(resource),
                &resource_attributes,
                scope.map(|s| s.name.as_str()),
                scope.map(|s| s.version.as_str()),
            );
            for metric in &scope_metrics.metrics {
                let info = MetricInfo { name: &metric.name, description: &metric.description, unit: &metric.unit };
                for (pi, point) in points(metric).enumerate() {
                    out.received += 1;
                    let record = if metric.name.is_empty() {
                        Err("the metric has no name".to_string())
                    } else {
                        point.and_then(|p| p.record(&mut limiter))
                    };
                    match record {
                        Ok(record) => {
                            builder.append(&point_scope, &info, &record)?;
                            out.accepted += 1;
                        }
                        Err(problem) => {
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
        out.batch = Some(builder.finish()?);
    }
    Ok(out)
}

/// A data point of any type with what its metric says about it.
enum Point<'a> {
    Number { point: &'a NumberDataPoint, sum: Option<(bool, i32)> },
    Histogram { point: &'a HistogramDataPoint, temporality: i32 },
    Exponential { point: &'a ExponentialHistogramDataPoint, temporality: i32 },
    Summary(&'a SummaryDataPoint),
}

/// The points of `metric`, each already checked for what does not depend on conversion.
fn points(metric: &Metric) -> Box<dyn Iterator<Item = Result<Point<'_>, String>> + '_> {
    match &metric.data {
        Some(Data::Gauge(g)) => Box::new(g.data_points.iter().map(|point| Ok(Point::Number { point, sum: None }))),
        Some(Data::Sum(s)) => Box::new(
            s.data_points
                .iter()
                .map(|point| Ok(Point::Number { point, sum: Some((s.is_monotonic, s.aggregation_temporality)) })),
        ),
        Some(Data::Histogram(h)) => Box::new(
            h.data_points.iter().map(|point| Ok(Point::Histogram { point, temporality: h.aggregation_temporality })),
        ),
        Some(Data::ExponentialHistogram(e)) => Box::new(
            e.data_points.iter().map(|point| Ok(Point::Exponential { point, temporality: e.aggregation_temporality })),
        ),
        Some(Data::Summary(s)) => Box::new(s.data_points.iter().map(|point| Ok(Point::Summary(point)))),
        None => Box::new(std::iter::empty()),
    }
}

type Common<'a> = (u64, u64, &'a [osprey_proto::common::KeyValue], u32, &'a [Exemplar]);

impl<'a> Point<'a> {
    fn common(&self) -> Common<'a> {
        match self {
            Point::Number { point: p, .. } => {
                (p.time_unix_nano, p.start_time_unix_nano, &p.attributes, p.flags, &p.exemplars)
            }
            Point::Histogram { point: p, .. } => {
                (p.time_unix_nano, p.start_time_unix_nano, &p.attributes, p.flags, &p.exemplars)
            }
            Point::Exponential { point: p, .. } => {
                (p.time_unix_nano, p.start_time_unix_nano, &p.attributes, p.flags, &p.exemplars)
            }
            Point::Summary(p) => (p.time_unix_nano, p.start_time_unix_nano, &p.attributes, p.flags, &[]),
        }
    }

    /// Validates the point and converts it (see the module docs for what is rejected).
    fn record(&self, limiter: &mut Limiter<'_>) -> Result<PointRecord<'a>, String> {
        let (time, start, attributes, flags, exemplars) = self.common();
        let time = nanos(time).filter(|t| *t > 0).ok_or("time_unix_nano is 0 or beyond year 2262")?;
        let start = nanos(start).ok_or("start_time_unix_nano is beyond year 2262")?;
        let missing = flags & FLAG_NO_RECORDED_VALUE != 0;
        let data = self.data(missing)?;
        let exemplars = exemplars.iter().map(|e| exemplar_record(e, limiter)).collect::<Result<Vec<_>, _>>()?;
        let (attributes, _) = limiter.attributes(attributes, 0);
        Ok(PointRecord { time_unix_nano: time, start_time_unix_nano: start, attributes, flags, data, exemplars })
    }

    fn data(&self, missing: bool) -> Result<PointData<'a>, String> {
        let present = |v: Option<u64>| if missing { None } else { v };
        let present_f = |v: Option<f64>| if missing { None } else { v };
        Ok(match self {
            Point::Number { point, sum } => {
                let value = match (missing, point.value) {
                    (true, _) => Number::None,
                    (false, Some(number_data_point::Value::AsDouble(d))) => Number::Double(d),
                    (false, Some(number_data_point::Value::AsInt(i))) => Number::Int(i),
                    (false, None) => return Err("no value (neither as_double nor as_int)".into()),
                };
                match sum {
                    None => PointData::Gauge(value),
                    Some((is_monotonic, temporality)) => {
                        PointData::Sum { value, is_monotonic: *is_monotonic, temporality: *temporality }
                    }
                }
            }
            Point::Histogram { point: p, temporality } => {
                if !missing {
                    check_histogram(&p.bucket_counts, &p.explicit_bounds, p.count)?;
                }
                PointData::Histogram {
                    temporality: *temporality,
                    count: present(Some(p.count)),
                    sum: present_f(p.sum),
                    min: present_f(p.min),
                    max: present_f(p.max),
                    bucket_counts: &p.bucket_counts,
                    explicit_bounds: &p.explicit_bounds,
                }
            }
            Point::Exponential { point: p, temporality } => {
                if !missing {
                    let counts = |b: &'a Option<Buckets>| b.as_ref().map_or(&[][..], |b| &b.bucket_counts[..]);
                    check_exponential(p.scale, [counts(&p.positive), counts(&p.negative)], p.zero_count, p.count)?;
                }
                let buckets =
                    |b: &'a Option<Buckets>| b.as_ref().map_or((0, &[][..]), |b| (b.offset, &b.bucket_counts[..]));
                PointData::ExponentialHistogram {
                    temporality: *temporality,
                    count: present(Some(p.count)),
                    sum: present_f(p.sum),
                    min: present_f(p.min),
                    max: present_f(p.max),
                    scale: p.scale,
                    zero_count: p.zero_count,
                    zero_threshold: p.zero_threshold,
                    positive: buckets(&p.positive),
                    negative: buckets(&p.negative),
                }
            }
            Point::Summary(p) => {
                if let Some(q) = p.quantile_values.iter().find(|q| !(0.0..=1.0).contains(&q.quantile)) {
                    return Err(format!("quantile {} is outside [0, 1]", q.quantile));
                }
                PointData::Summary {
                    count: present(Some(p.count)),
                    sum: present_f(Some(p.sum)),
                    quantiles: p.quantile_values.iter().map(|q| (q.quantile, q.value)).collect(),
                }
            }
        })
    }
}

fn exemplar_record<'a>(e: &'a Exemplar, limiter: &mut Limiter<'_>) -> Result<ExemplarRecord<'a>, String> {
    if !(e.trace_id.is_empty() || e.trace_id.len() == 16) {
        return Err(format!("exemplar trace_id must be empty or 16 bytes, got {}", e.trace_id.len()));
    }
    if !(e.span_id.is_empty() || e.span_id.len() == 8) {
        return Err(format!("exemplar span_id must be empty or 8 bytes, got {}", e.span_id.len()));
    }
    let value = e.value.map(|v| match v {
        exemplar::Value::AsDouble(d) => Number::Double(d),
        exemplar::Value::AsInt(i) => Number::Int(i),
    });
    let (filtered_attributes, _) = limiter.attributes(&e.filtered_attributes, 0);
    Ok(ExemplarRecord {
        time_unix_nano: nanos(e.time_unix_nano).unwrap_or(i64::MAX),
        value,
        trace_id: &e.trace_id,
        span_id: &e.span_id,
        filtered_attributes,
    })
}
