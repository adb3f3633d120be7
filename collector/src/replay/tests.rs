use osprey_proto::metrics::metric::Data;
use osprey_proto::metrics::{number_data_point, Gauge, NumberDataPoint};
use osprey_proto::{ExportLogsServiceRequest, ExportMetricsServiceRequest};
use prost::Message as _;

use super::*;
use crate::fixtures::str_kv;
use crate::metric_points::tests::{every_type, metric, number, request};

fn limits() -> LimitsConfig {
    LimitsConfig {
        max_attribute_value_bytes: 3,
        max_attributes_per_item: 1,
        max_value_depth: 2,
        max_spans_per_trace: 7,
        max_tracked_traces: 11,
        max_log_body_bytes: 13,
    }
}

fn source(limits: &LimitsConfig, request: &ExportMetricsServiceRequest) -> Vec<u8> {
    [LimitsHeader::new(limits).as_bytes(), &request.encode_to_vec()].concat()
}

#[test]
fn the_limits_header_round_trips() {
    let bytes = source(&limits(), &ExportMetricsServiceRequest::default());
    let (read, rest) = LimitsHeader::read(&bytes).unwrap();
    assert_eq!(read, limits());
    assert!(rest.is_empty());
}

/// Every point type, converted under limits that cut attributes, and points that are rejected:
/// replay gives back exactly the rows conversion gave, under the limits in the frame, not
/// the defaults.
#[test]
fn a_request_replays_to_the_rows_it_was_converted_to() {
    use number_data_point::Value as N;
    let mut mixed = every_type();
    let wide = NumberDataPoint {
        attributes: vec![str_kv("route", "/cart/checkout"), str_kv("zone", "eu")],
        ..number(N::AsInt(3))
    };
    let rejected = NumberDataPoint { time_unix_nano: 0, ..number(N::AsInt(1)) };
    mixed.resource_metrics.extend(
        request(vec![metric("wide", Data::Gauge(Gauge { data_points: vec![wide, rejected] }))]).resource_metrics,
    );
    for limits in [LimitsConfig::default(), limits()] {
        let converted = crate::metric_points::convert(&mixed, &limits).unwrap();
        assert_eq!(converted.rejected_invalid, 1);
        let expected = converted.batch.unwrap();
        let replayed = Replay.decode(Table::Metrics, METRICS_PROTOBUF, &source(&limits, &mixed)).unwrap();
        assert_eq!(replayed, expected);
    }
    let cut = Replay.decode(Table::Metrics, METRICS_PROTOBUF, &source(&limits(), &mixed)).unwrap();
    let full = Replay.decode(Table::Metrics, METRICS_PROTOBUF, &source(&LimitsConfig::default(), &mixed)).unwrap();
    assert_ne!(cut, full, "the limits in the frame apply");
}

#[test]
fn bad_sources_are_corrupt_not_a_panic() {
    let good = source(&limits(), &every_type());
    let mut wrong_version = good.clone();
    wrong_version[0] = 9;
    let mut garbage = good[..LimitsHeader::LEN].to_vec();
    garbage.extend_from_slice(&[0x0a, 0xff, 0xff]);
    let rejected_only =
        request(vec![metric("", Data::Gauge(Gauge { data_points: vec![number(number_data_point::Value::AsInt(1))] }))]);
    let cases = [
        (&good[..3], "shorter than its header"),
        (&wrong_version[..], "limits header version 9"),
        (&garbage[..], "protobuf"),
        (&source(&limits(), &rejected_only)[..], "no rows"),
    ];
    for (bytes, what) in cases {
        let error = Replay.decode(Table::Metrics, METRICS_PROTOBUF, bytes).unwrap_err();
        assert!(matches!(&error, StorageError::Corrupt(m) if m.contains(what)), "{error} for {what}");
    }
    assert!(!Replay.knows(Table::Spans, METRICS_PROTOBUF) && !Replay.knows(Table::Metrics, 2));
    assert!(Replay.decode(Table::Logs, METRICS_PROTOBUF, &good).is_err());
}

/// A request large enough to be cut into pieces: each piece's frame holds the piece's bytes, and
/// each replays to exactly that piece's rows (the test sink checks every one).
#[tokio::test]
async fn each_part_of_a_large_request_is_its_own_source() {
    use osprey_proto::metrics_service_client::MetricsServiceClient;

    use crate::fixtures::Servers;
    use crate::parts::{pieces_for_bytes, MIN_PART_BYTES};
    use crate::CollectorConfig;

    let servers = Servers::start(CollectorConfig::default()).await;
    let mut client = MetricsServiceClient::connect(format!("http://{}", servers.grpc)).await.unwrap();
    let large = crate::metric_points::tests::padded_request(60);
    assert!(large.encoded_len() >= 2 * MIN_PART_BYTES);
    client.export(large.clone()).await.unwrap();
    assert_eq!(servers.sink.rows(), 6000);
    assert_eq!(servers.sink.source_frames(), pieces_for_bytes(large.encoded_len()));
    assert_eq!(servers.sink.batches().len(), servers.sink.source_frames());
}

fn logs_source(limits: &LimitsConfig, now: i64, request: &ExportLogsServiceRequest) -> Vec<u8> {
    [SourceHead::new(limits, Some(now)).as_bytes(), &request.encode_to_vec()].concat()
}

/// Records without a time take the receive time, bodies and attributes are cut by the limits,
/// a bad record is rejected: replay gives back exactly the rows conversion gave, with the
/// receive time and the limits in the frame.
#[test]
fn a_logs_request_replays_to_the_rows_it_was_converted_to() {
    use crate::logs::tests::{log, request_of};
    use osprey_proto::logs::LogRecord;

    let request = request_of(vec![
        log("card_expired for ORD-00010, a body longer than thirteen bytes"),
        LogRecord { time_unix_nano: 0, observed_time_unix_nano: 0, ..log("no time of its own") },
        LogRecord { trace_id: vec![1; 3], ..log("rejected: short trace id") },
    ]);
    let now = 1_764_918_000_123_456_789;
    for limits in [LimitsConfig::default(), limits()] {
        let converted = crate::logs::convert(&request, &limits, now).unwrap();
        assert_eq!((converted.accepted, converted.rejected_invalid, converted.now), (2, 1, Some(now)));
        let expected = Table::Logs.to_physical(&converted.batch.unwrap()).unwrap();
        let replayed = Replay.decode(Table::Logs, LOGS_PROTOBUF, &logs_source(&limits, now, &request)).unwrap();
        assert_eq!(replayed, expected);
    }
    let at = |now| Replay.decode(Table::Logs, LOGS_PROTOBUF, &logs_source(&limits(), now, &request)).unwrap();
    assert_ne!(at(now), at(now + 1), "the receive time in the frame applies");
    let full = Replay.decode(Table::Logs, LOGS_PROTOBUF, &logs_source(&LimitsConfig::default(), now, &request));
    assert_ne!(at(now), full.unwrap(), "the limits in the frame apply");
}

#[test]
fn bad_logs_sources_are_corrupt_not_a_panic() {
    use crate::logs::tests::{log, request_of};

    let head = LimitsHeader::new(&limits());
    let good = logs_source(&limits(), 7, &request_of(vec![log("x")]));
    let mut garbage = SourceHead::new(&limits(), Some(7)).as_bytes().to_vec();
    garbage.extend_from_slice(&[0x0a, 0xff, 0xff]);
    let cases = [
        (&good[..3], "shorter than its header"),
        (&[head.as_bytes(), &[1, 2, 3]].concat()[..], "no receive time"),
        (&garbage[..], "protobuf"),
        (&logs_source(&limits(), 7, &ExportLogsServiceRequest::default())[..], "no rows"),
    ];
    for (bytes, what) in cases {
        let error = Replay.decode(Table::Logs, LOGS_PROTOBUF, bytes).unwrap_err();
        assert!(matches!(&error, StorageError::Corrupt(m) if m.contains(what)), "{error} for {what}");
    }
    assert!(Replay.decode(Table::Metrics, LOGS_PROTOBUF, &good).is_err());
    assert_eq!(SourceHead::new(&limits(), None).as_bytes(), head.as_bytes(), "metrics frames are unchanged");
}
