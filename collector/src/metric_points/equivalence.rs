//! Converting a request's bytes in place ([`convert_protobuf`]) gives exactly what converting
//! prost's decoding of them gives ([`oracle`], the conversion it replaced): the same rows, counts,
//! limit counts and `partial_success` message, and a request prost refuses is refused with
//! prost's error. Checked on requests of every shape the reader treats apart, on encodings only
//! a hand-written sender produces (fields repeated, unpacked, unknown, groups, nesting at
//! prost's recursion limit), and on thousands of corrupted encodings.

use osprey_proto::common::{any_value::Value as V, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList};
use osprey_proto::metrics::exponential_histogram_data_point::Buckets;
use osprey_proto::metrics::summary_data_point::ValueAtQuantile;
use osprey_proto::metrics::{
    exemplar, number_data_point, Exemplar, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram,
    HistogramDataPoint, NumberDataPoint, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use osprey_proto::resource::Resource;
use prost::encoding::encode_varint;

use super::tests::{every_type, histogram, metric, number, padded_request, request};
use super::*;
use crate::fixtures::{any, kv, str_kv, SPAN_ID, START, TRACE_ID};

#[derive(Debug, PartialEq)]
enum Outcome {
    /// Converted by the in-place reader from the bytes given.
    InPlace,
    /// Left to prost (a merge, or something the reader refused that prost took).
    Fallback,
    /// Refused by prost, and so by us.
    Refused,
}

fn tight() -> LimitsConfig {
    LimitsConfig { max_attribute_value_bytes: 3, max_attributes_per_item: 2, max_value_depth: 2, ..Default::default() }
}

/// Converts `bytes` both ways and checks they agree; `first_resource` 3 checks the positions.
fn same(bytes: &[u8], limits: &LimitsConfig) -> Outcome {
    let ours = convert_protobuf(bytes, limits, 3);
    let request = match ExportMetricsServiceRequest::decode(bytes) {
        Err(e) => {
            match ours {
                Err(ProtobufFailure::Undecodable(message)) => assert_eq!(message, e.to_string()),
                other => panic!("prost refuses {bytes:?} ({e}), we gave {:?}", other.map(|c| c.received)),
            }
            return Outcome::Refused;
        }
        Ok(request) => request,
    };
    let ours = ours.unwrap_or_else(|f| panic!("prost decodes {bytes:?}, we failed: {f:?}"));
    let theirs = oracle::convert_part(&request, limits, 3).expect("the oracle converts");
    assert_eq!(ours.batch, theirs.batch, "rows of {request:?}");
    let counts = |c: &Conversion| (c.received, c.accepted, c.rejected_invalid, c.rejected_limit, c.limits);
    assert_eq!(counts(&ours), counts(&theirs), "counts of {request:?}");
    assert_eq!(ours.error_message("data points"), theirs.error_message("data points"));
    if in_place(bytes, limits, 3).is_ok() {
        Outcome::InPlace
    } else {
        Outcome::Fallback
    }
}

fn same_both_limits(bytes: &[u8]) -> Outcome {
    let outcome = same(bytes, &LimitsConfig::default());
    assert_eq!(same(bytes, &tight()), outcome);
    outcome
}

fn nested(depth: usize) -> AnyValue {
    (0..depth).fold(any(V::StringValue("leaf".into())), |inner, i| {
        if i % 2 == 0 {
            any(V::KvlistValue(KeyValueList {
                values: vec![KeyValue { key: format!("k{i}"), value: Some(inner), ..Default::default() }],
            }))
        } else {
            any(V::ArrayValue(ArrayValue { values: vec![inner, any(V::IntValue(i as i64))] }))
        }
    })
}

/// Every point type, rejected points of each kind, attribute values of every type, resources
/// and scopes present, absent and odd, metrics without data or name.
fn mixed() -> ExportMetricsServiceRequest {
    use number_data_point::Value as N;
    let attributes = vec![
        str_kv("route", "/cart/checkout"),
        kv("ok", V::BoolValue(true)),
        kv("n", V::IntValue(-7)),
        kv("ratio", V::DoubleValue(0.25)),
        kv("raw", V::BytesValue(vec![0, 1, 2, 3, 4])),
        kv("deep", nested(5).value.expect("value")),
        KeyValue { key: "empty".into(), value: Some(AnyValue { value: None }), ..Default::default() },
        KeyValue { key: "absent".into(), value: None, ..Default::default() },
        str_kv("ünïcode", "värde ✓"),
    ];
    let exemplar = Exemplar {
        time_unix_nano: START - 10,
        trace_id: TRACE_ID.to_vec(),
        span_id: SPAN_ID.to_vec(),
        value: Some(exemplar::Value::AsInt(3)),
        filtered_attributes: vec![str_kv("user", "u-1234"), str_kv("tenant", "t")],
    };
    let mut first = every_type();
    let metrics = &mut first.resource_metrics[0].scope_metrics[0].metrics;
    metrics.push(metric(
        "rich",
        Data::Sum(Sum {
            data_points: vec![
                NumberDataPoint {
                    attributes: attributes.clone(),
                    exemplars: vec![exemplar.clone()],
                    ..number(N::AsInt(1))
                },
                NumberDataPoint { value: None, ..number(N::AsInt(1)) },
                NumberDataPoint { value: None, flags: 1, ..number(N::AsInt(1)) },
                NumberDataPoint { time_unix_nano: 0, attributes: attributes.clone(), ..number(N::AsInt(1)) },
                NumberDataPoint { start_time_unix_nano: u64::MAX, ..number(N::AsInt(1)) },
                NumberDataPoint {
                    exemplars: vec![exemplar.clone(), Exemplar { span_id: vec![1], ..exemplar.clone() }],
                    ..number(N::AsDouble(f64::NAN))
                },
            ],
            aggregation_temporality: 1,
            is_monotonic: true,
        }),
    ));
    metrics.push(metric(
        "h",
        Data::Histogram(Histogram {
            data_points: vec![
                HistogramDataPoint { exemplars: vec![exemplar.clone()], ..histogram(4, vec![1, 2, 1], vec![1.0, 5.0]) },
                histogram(4, vec![1, 3], vec![1.0, 5.0]),
                histogram(5, vec![1, 2, 1], vec![1.0, 5.0]),
                histogram(4, vec![1, 2, 1], vec![5.0, 1.0]),
                histogram(4, vec![1, 2, 1], vec![1.0, f64::INFINITY]),
                HistogramDataPoint { flags: 1, ..histogram(9, vec![1], vec![]) },
                HistogramDataPoint { sum: None, min: None, ..histogram(0, vec![], vec![]) },
            ],
            aggregation_temporality: 2,
        }),
    ));
    let exponential = |scale, count, positive: Vec<u64>| ExponentialHistogramDataPoint {
        time_unix_nano: START,
        count,
        scale,
        zero_count: 1,
        zero_threshold: 1e-9,
        positive: Some(Buckets { offset: -3, bucket_counts: positive }),
        negative: Some(Buckets { offset: 2, bucket_counts: vec![1] }),
        attributes: vec![str_kv("a", "b")],
        exemplars: vec![exemplar.clone()],
        ..Default::default()
    };
    metrics.push(metric(
        "e",
        Data::ExponentialHistogram(ExponentialHistogram {
            data_points: vec![
                exponential(3, 5, vec![1, 2]),
                exponential(30, 5, vec![1, 2]),
                exponential(0, 9, vec![1]),
            ],
            aggregation_temporality: 1,
        }),
    ));
    let summary = |quantile: f64| SummaryDataPoint {
        time_unix_nano: START,
        count: 3,
        sum: 1.5,
        quantile_values: vec![ValueAtQuantile { quantile, value: 0.4 }, ValueAtQuantile { quantile: 1.0, value: 0.9 }],
        attributes: attributes.clone(),
        ..Default::default()
    };
    metrics.push(metric("s", Data::Summary(Summary { data_points: vec![summary(0.5), summary(1.5)] })));
    metrics.push(Metric { name: "no data".into(), ..Default::default() });
    metrics.push(metric(
        "",
        Data::Gauge(Gauge {
            data_points: vec![NumberDataPoint { attributes: attributes.clone(), ..number(N::AsInt(1)) }],
        }),
    ));
    metrics.push(Metric {
        metadata: vec![str_kv("m", "d")],
        ..metric("meta", Data::Gauge(Gauge { data_points: vec![number(N::AsInt(2))] }))
    });
    let resource =
        |attributes: Vec<KeyValue>| Some(Resource { attributes, dropped_attributes_count: 2, ..Default::default() });
    let scope = Some(InstrumentationScope {
        name: "lib".into(),
        version: "1.2".into(),
        attributes: vec![str_kv("scope.attr", "x")],
        dropped_attributes_count: 0,
    });
    let gauge = |name: &str| metric(name, Data::Gauge(Gauge { data_points: vec![number(N::AsDouble(1.5))] }));
    let mut more = vec![
        ResourceMetrics {
            resource: None,
            scope_metrics: vec![ScopeMetrics { scope: None, metrics: vec![gauge("a")], schema_url: "s".into() }],
            schema_url: "r".into(),
        },
        ResourceMetrics {
            resource: resource(vec![kv("service.name", V::IntValue(3)), str_kv("host", "h-1")]),
            scope_metrics: vec![ScopeMetrics {
                scope: scope.clone(),
                metrics: vec![gauge("b"), gauge("c")],
                ..Default::default()
            }],
            ..Default::default()
        },
        ResourceMetrics {
            resource: resource(vec![
                str_kv("service.name", ""),
                str_kv("service.name", "second"),
                str_kv("k8s.pod.name", "checkout-6f7d9-abcde"),
            ]),
            scope_metrics: vec![
                ScopeMetrics { scope: scope.clone(), metrics: vec![gauge("d")], ..Default::default() },
                ScopeMetrics { scope: None, metrics: vec![], ..Default::default() },
                ScopeMetrics { scope, metrics: vec![gauge("e"), gauge("f")], ..Default::default() },
            ],
            ..Default::default()
        },
    ];
    first.resource_metrics.append(&mut more);
    first
}

fn varint(v: u64) -> Vec<u8> {
    let mut b = Vec::new();
    encode_varint(v, &mut b);
    b
}

/// A length-delimited field.
fn field(tag: u32, payload: &[u8]) -> Vec<u8> {
    [varint(u64::from(tag << 3 | 2)), varint(payload.len() as u64), payload.to_vec()].concat()
}

fn key(tag: u32, wire_type: u32) -> Vec<u8> {
    varint(u64::from(tag << 3 | wire_type))
}

/// A request of one resource whose `ResourceMetrics` bytes are `rm`.
fn request_of(rm: &[u8]) -> Vec<u8> {
    field(1, rm)
}

fn one_metric_rm(metric: &[u8]) -> Vec<u8> {
    field(2, &field(2, metric))
}

#[test]
fn requests_of_every_shape_convert_in_place_as_prost_decodes_them() {
    for request in [every_type(), mixed(), padded_request(2), ExportMetricsServiceRequest::default()] {
        assert_eq!(same_both_limits(&request.encode_to_vec()), Outcome::InPlace);
    }
}

#[test]
fn hand_encoded_requests_convert_as_prost_decodes_them() {
    use number_data_point::Value as N;
    let gauge = |p: NumberDataPoint| metric("g", Data::Gauge(Gauge { data_points: vec![p] })).encode_to_vec();
    let point = number(N::AsInt(5)).encode_to_vec();
    let kv_bytes =
        |k: &str, v: AnyValue| KeyValue { key: k.into(), value: Some(v), ..Default::default() }.encode_to_vec();
    let mut cases: Vec<(&str, Vec<u8>, Outcome)> = vec![];
    // A singular message sent twice is merged by prost: left to it.
    let resource = |k: &str| Resource { attributes: vec![str_kv(k, "v")], ..Default::default() }.encode_to_vec();
    let rm =
        [field(1, &resource("service.name")), one_metric_rm(&gauge(number(N::AsInt(1)))), field(1, &resource("b"))]
            .concat();
    cases.push(("resource twice", request_of(&rm), Outcome::Fallback));
    let two_gauges =
        [gauge(number(N::AsInt(1))), field(5, &Gauge { data_points: vec![number(N::AsInt(2))] }.encode_to_vec())]
            .concat();
    cases.push(("gauge twice", request_of(&one_metric_rm(&two_gauges)), Outcome::Fallback));
    let then_sum = [
        gauge(number(N::AsInt(1))),
        field(7, &Sum { data_points: vec![number(N::AsInt(2))], ..Default::default() }.encode_to_vec()),
    ]
    .concat();
    cases.push(("gauge then sum", request_of(&one_metric_rm(&then_sum)), Outcome::Fallback));
    // Scalars sent twice: the last wins, in place.
    let renamed = [gauge(number(N::AsInt(1))), field(1, b"renamed")].concat();
    cases.push(("name twice", request_of(&one_metric_rm(&renamed)), Outcome::InPlace));
    let values =
        [point.clone(), key(4, 1), 2.5f64.to_le_bytes().to_vec(), key(6, 1), 9i64.to_le_bytes().to_vec()].concat();
    cases.push((
        "double then int",
        request_of(&one_metric_rm(&[field(1, b"g"), field(5, &field(1, &values))].concat())),
        Outcome::InPlace,
    ));
    // AnyValue variants: last wins; a composite replaced is still read; the same composite twice merges.
    let string_then_int = [field(1, b"text"), key(3, 0), varint(42)].concat();
    let array = field(5, &ArrayValue { values: vec![any(V::IntValue(1))] }.encode_to_vec());
    let list = field(6, &KeyValueList { values: vec![str_kv("x", "y")] }.encode_to_vec());
    for (name, any_bytes, outcome) in [
        ("string then int", string_then_int, Outcome::InPlace),
        ("array then string then list", [array.clone(), field(1, b"s"), list.clone()].concat(), Outcome::InPlace),
        ("array then list", [array.clone(), list.clone()].concat(), Outcome::InPlace),
        ("array twice", [array.clone(), array.clone()].concat(), Outcome::Fallback),
        ("bad string then int", [field(1, &[0xff, 0xfe]), key(3, 0), varint(1)].concat(), Outcome::Refused),
        ("bad array then string", [field(5, &[0x0a, 0x05]), field(1, b"s")].concat(), Outcome::Refused),
    ] {
        let attribute = field(2, &any_bytes);
        let p = [point.clone(), field(7, &[field(1, b"key"), attribute].concat())].concat();
        cases.push((name, request_of(&one_metric_rm(&[field(1, b"g"), field(5, &field(1, &p))].concat())), outcome));
    }
    // Repeated numbers packed or not, and buckets sent twice.
    let h = histogram(4, vec![1, 2, 1], vec![1.0, 5.0]).encode_to_vec();
    let unpacked = [
        HistogramDataPoint { bucket_counts: vec![], explicit_bounds: vec![], ..histogram(4, vec![], vec![]) }
            .encode_to_vec(),
        key(6, 1),
        1u64.to_le_bytes().to_vec(),
        key(7, 1),
        1.0f64.to_le_bytes().to_vec(),
        key(6, 1),
        2u64.to_le_bytes().to_vec(),
        key(7, 1),
        5.0f64.to_le_bytes().to_vec(),
        field(6, &1u64.to_le_bytes()),
    ]
    .concat();
    for (name, p, outcome) in [
        ("packed", h.clone(), Outcome::InPlace),
        ("unpacked and mixed", unpacked, Outcome::InPlace),
        ("packed of 7 bytes", [h.clone(), field(6, &[1; 7])].concat(), Outcome::Refused),
    ] {
        let m = [field(1, b"h"), field(9, &[field(1, &p), key(2, 0), varint(2)].concat())].concat();
        cases.push((name, request_of(&one_metric_rm(&m)), outcome));
    }
    let e = ExponentialHistogramDataPoint {
        time_unix_nano: START,
        count: 3,
        positive: Some(Buckets { offset: 1, bucket_counts: vec![1, 2] }),
        ..Default::default()
    }
    .encode_to_vec();
    let unpacked_buckets = field(8, &[key(1, 0), varint(3), key(2, 0), varint(1), key(2, 0), varint(2)].concat());
    let count3 = [key(3, 1), START.to_le_bytes().to_vec(), key(4, 1), 3u64.to_le_bytes().to_vec()].concat();
    for (name, p, outcome) in [
        ("exponential", e.clone(), Outcome::InPlace),
        ("unpacked buckets", [count3.clone(), unpacked_buckets.clone()].concat(), Outcome::InPlace),
        ("buckets twice", [count3.clone(), unpacked_buckets.clone(), unpacked_buckets].concat(), Outcome::Fallback),
        ("a packed varint past its end", [count3, field(8, &field(2, &[0x80]))].concat(), Outcome::Refused),
    ] {
        let m = [field(1, b"e"), field(10, &field(1, &p))].concat();
        cases.push((name, request_of(&one_metric_rm(&m)), outcome));
    }
    // Unknown fields of every wire type, groups nested in groups, at every level.
    let unknown = [
        key(99, 0),
        varint(300),
        key(98, 1),
        vec![7; 8],
        key(97, 5),
        vec![7; 4],
        field(96, b"zz"),
        key(95, 3),
        key(94, 3),
        key(1, 0),
        varint(1),
        key(94, 4),
        key(95, 4),
    ]
    .concat();
    let p = [
        point.clone(),
        unknown.clone(),
        field(7, &[kv_bytes("k", any(V::StringValue("v".into()))), unknown.clone()].concat()),
    ]
    .concat();
    let m = [field(1, b"g"), unknown.clone(), field(5, &[unknown.clone(), field(1, &p)].concat())].concat();
    let rm = [
        unknown.clone(),
        field(1, &[unknown.clone(), field(1, &kv_bytes("service.name", any(V::StringValue("svc".into()))))].concat()),
        field(2, &[unknown.clone(), field(2, &m)].concat()),
    ]
    .concat();
    cases.push(("unknown fields everywhere", [unknown.clone(), request_of(&rm)].concat(), Outcome::InPlace));
    // Known fields of the wrong wire type, bad strings where nothing is stored, bad groups.
    let bad_rm = |bytes: Vec<u8>| request_of(&[bytes, one_metric_rm(&gauge(number(N::AsInt(1))))].concat());
    cases.push(("schema url not UTF-8", bad_rm(field(3, &[0xc3])), Outcome::Refused));
    cases.push((
        "scope attribute not UTF-8",
        request_of(&field(2, &field(1, &field(3, &field(1, &[0xff]))))),
        Outcome::Refused,
    ));
    cases.push((
        "metadata not UTF-8",
        request_of(&one_metric_rm(&[field(1, b"g"), field(12, &field(1, &[0xff]))].concat())),
        Outcome::Refused,
    ));
    cases.push(("entity ref not UTF-8", request_of(&field(1, &field(3, &field(2, &[0xff])))), Outcome::Refused));
    cases.push(("resource as a varint", bad_rm([key(1, 0), varint(1)].concat()), Outcome::Refused));
    cases.push((
        "time as a varint",
        request_of(&one_metric_rm(&[field(1, b"g"), field(5, &field(1, &[key(3, 0), varint(1)].concat()))].concat())),
        Outcome::Refused,
    ));
    cases.push(("end group alone", bad_rm(key(90, 4)), Outcome::Refused));
    cases.push(("group ended by another", bad_rm([key(90, 3), key(91, 4)].concat()), Outcome::Refused));
    cases.push(("group never ended", bad_rm(key(90, 3)), Outcome::Refused));
    // A rejected point's attributes are still read: malformed ones refuse the request.
    let bad_attribute = field(7, &field(1, &[0xff]));
    let rejected =
        [NumberDataPoint { time_unix_nano: 0, ..number(N::AsInt(1)) }.encode_to_vec(), bad_attribute].concat();
    cases.push((
        "rejected point, bad attribute",
        request_of(&one_metric_rm(&[field(1, b"g"), field(5, &field(1, &rejected))].concat())),
        Outcome::Refused,
    ));
    let nameless = [field(5, &field(1, &[point.clone(), field(5, &field(7, &field(1, &[0xff])))].concat()))].concat();
    cases.push(("nameless metric, bad exemplar attribute", request_of(&one_metric_rm(&nameless)), Outcome::Refused));
    for (name, bytes, outcome) in cases {
        assert_eq!(same_both_limits(&bytes), outcome, "{name}");
    }
}

/// prost refuses messages nested past its recursion limit (100); so do we, at the same depth,
/// in attribute values and in groups of unknown fields.
#[test]
fn nesting_is_refused_at_prosts_recursion_limit() {
    use number_data_point::Value as N;
    let mut outcomes = Vec::new();
    for depth in 25..45 {
        let p = NumberDataPoint {
            attributes: vec![KeyValue { key: "d".into(), value: Some(nested(depth)), ..Default::default() }],
            ..number(N::AsInt(1))
        };
        let bytes = request(vec![metric("g", Data::Gauge(Gauge { data_points: vec![p] }))]).encode_to_vec();
        outcomes.push(same_both_limits(&bytes));
    }
    assert!(outcomes.contains(&Outcome::InPlace) && outcomes.contains(&Outcome::Refused), "{outcomes:?}");
    let mut outcomes = Vec::new();
    for depth in 90..105 {
        let open = (0..depth).map(|_| key(50, 3)).collect::<Vec<_>>().concat();
        let close = (0..depth).map(|_| key(50, 4)).collect::<Vec<_>>().concat();
        for inside in [vec![], [key(51, 0), varint(1)].concat()] {
            let groups = [open.clone(), inside, close.clone()].concat();
            outcomes.push(same_both_limits(&[request(vec![]).encode_to_vec(), groups].concat()));
        }
    }
    assert!(outcomes.contains(&Outcome::InPlace) && outcomes.contains(&Outcome::Refused), "{outcomes:?}");
}

/// Thousands of corrupted encodings (bytes changed, inserted, removed, runs repeated, the end
/// cut): each is refused as prost refuses it or converted as prost decodes it. Most stay
/// readable in place, so the reader's own rules are what is checked.
#[test]
fn corrupted_requests_convert_as_prost_decodes_them() {
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n.max(1) as u64) as usize
    };
    let mut tally = std::collections::HashMap::new();
    for base in [mixed().encode_to_vec(), every_type().encode_to_vec()] {
        for _ in 0..1500 {
            let mut bytes = base.clone();
            for _ in 0..1 + next(3) {
                let at = next(bytes.len());
                match next(5) {
                    0 => bytes[at] = next(256) as u8,
                    1 => bytes.insert(at, next(256) as u8),
                    2 => drop(bytes.drain(at..(at + 1 + next(4)).min(bytes.len()))),
                    3 => {
                        let run = bytes[at..(at + 1 + next(40)).min(bytes.len())].to_vec();
                        bytes.splice(at..at, run);
                    }
                    _ => bytes.truncate(at),
                }
            }
            *tally.entry(format!("{:?}", same_both_limits(&bytes))).or_insert(0) += 1;
        }
    }
    for outcome in ["InPlace", "Refused"] {
        assert!(tally.get(outcome).copied().unwrap_or(0) > 100, "{tally:?}");
    }
}
