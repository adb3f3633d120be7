use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use osprey_proto::common::any_value::Value;
use osprey_proto::resource::Resource;
use osprey_proto::trace::{ResourceSpans, ScopeSpans};
use osprey_proto::{ExportTracePartialSuccess, ExportTraceServiceRequest};
use prost::Message as _;

use super::*;
use crate::config::{CollectorConfig, LimitsConfig};
use crate::fixtures::{kv, span, str_kv};
use crate::ingest::{Converting, Incoming, Ingest, Transport};
use crate::limits::TraceTable;
use crate::metric_points::tests::padded_request;
use crate::metrics::CollectorMetrics;
use crate::signal::Traces;
use crate::sink::MemorySink;

/// `resources` resources of `spans` spans each, ~2 kB a span; span `i` of resource `r` has
/// trace `trace_of(r, i)`.
fn request(resources: usize, spans: usize, trace_of: impl Fn(usize, usize) -> u8) -> ExportTraceServiceRequest {
    let padding = "x".repeat(2000);
    let resource_spans = (0..resources)
        .map(|r| ResourceSpans {
            resource: Some(Resource {
                attributes: vec![str_kv("service.name", &format!("service-{r}"))],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: (0..spans)
                    .map(|i| {
                        let mut s = span((i % 250) as u8 + 1);
                        s.span_id[0] = r as u8 + 1;
                        s.trace_id[0] = trace_of(r, i);
                        s.attributes = vec![kv("padding", Value::StringValue(padding.clone()))];
                        s
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest { resource_spans }
}

fn distinct_traces(r: usize, _i: usize) -> u8 {
    r as u8 + 1
}

fn decode_all(cuts: &[Cut]) -> Vec<ResourceSpans> {
    cuts.iter().flat_map(|c| ExportTraceServiceRequest::decode(c.bytes.clone()).unwrap().resource_spans).collect()
}

#[test]
fn the_runs_of_a_cut_body_decode_to_the_whole_request_in_order() {
    let whole = request(10, 30, distinct_traces);
    let body = Bytes::from(whole.encode_to_vec());
    for parts in 1..=4 {
        let cuts = cut_protobuf(body.clone(), parts).unwrap();
        assert_eq!(cuts.len(), parts, "{parts} parts of 10 resources");
        assert_eq!(decode_all(&cuts), whole.resource_spans);
        let mut first = 0;
        for cut in &cuts {
            assert_eq!(cut.first_resource, first);
            first += ExportTraceServiceRequest::decode(cut.bytes.clone()).unwrap().resource_spans.len();
            // About equal shares: no run is over twice its share.
            assert!(cut.bytes.len() <= 2 * body.len() / parts, "{} of {}", cut.bytes.len(), body.len());
        }
    }
}

#[test]
fn a_body_of_one_resource_is_one_run_and_an_empty_body_one_empty_run() {
    let one = Bytes::from(request(1, 30, distinct_traces).encode_to_vec());
    assert_eq!(cut_protobuf(one.clone(), 4).unwrap(), vec![Cut { bytes: one, first_resource: 0 }]);
    assert_eq!(cut_protobuf(Bytes::new(), 2).unwrap(), vec![Cut { bytes: Bytes::new(), first_resource: 0 }]);
}

#[test]
fn unknown_top_level_fields_are_kept_in_runs_and_not_counted_as_resources() {
    let whole = request(6, 10, distinct_traces);
    let mut body = Vec::new();
    for rs in &whole.resource_spans {
        // Field 2 (varint) and field 9 (bytes) between the resources: a newer sender's fields.
        body.extend_from_slice(&[0x10, 0x96, 0x01, 0x4a, 0x03, b'a', b'b', b'c']);
        prost::encoding::message::encode(1, rs, &mut body);
    }
    let cuts = cut_protobuf(Bytes::from(body), 3).unwrap();
    assert_eq!(cuts.len(), 3);
    assert_eq!(decode_all(&cuts), whole.resource_spans);
    assert_eq!(cuts.iter().map(|c| c.first_resource).collect::<Vec<_>>(), vec![0, 2, 4]);
}

#[test]
fn a_malformed_top_level_is_refused_with_where_it_broke() {
    let mut body = request(3, 10, distinct_traces).encode_to_vec();
    body.truncate(body.len() - 5);
    let error = cut_protobuf(Bytes::from(body), 2).unwrap_err();
    assert!(error.to_string().contains("runs past the end"), "{error}");
    // A key with wire type 7 (there is none).
    assert!(cut_protobuf(Bytes::from_static(&[0x0f, 0x00]), 2).is_err());
}

#[test]
fn a_decoded_request_splits_into_parts_of_about_equal_items_in_order() {
    let mut whole = request(9, 10, distinct_traces);
    whole.resource_spans[0].scope_spans[0].spans.truncate(1);
    let parts = split_decoded::<Traces>(whole.clone(), 3);
    assert_eq!(parts.len(), 3);
    let firsts: Vec<usize> = parts.iter().map(|p| p.first_resource).collect();
    let rejoined: Vec<ResourceSpans> = parts.into_iter().flat_map(|p| p.request.resource_spans).collect();
    assert_eq!(rejoined, whole.resource_spans);
    assert_eq!(firsts, vec![0, 4, 7]);
    assert_eq!(split_decoded::<Traces>(whole.clone(), 1).len(), 1);
    assert_eq!(split_decoded::<Traces>(ExportTraceServiceRequest::default(), 2).len(), 1);
}

fn ingest(sink: Arc<MemorySink>, limits: LimitsConfig) -> Arc<Ingest<Traces>> {
    let config = CollectorConfig { limits: limits.clone(), ..CollectorConfig::default() };
    Arc::new(Ingest::new(config, sink, CollectorMetrics::default(), Traces::new(&limits), Converting::new()))
}

fn whole_conversion(request: &ExportTraceServiceRequest, limits: &LimitsConfig) -> crate::conversion::Conversion<()> {
    let traces = TraceTable::new(limits.max_spans_per_trace, limits.max_tracked_traces);
    let mut c = crate::convert::convert(request, limits, &traces).unwrap();
    let mut out = crate::conversion::Conversion::<()>::default();
    out.batch = c.batch.take();
    out.absorb(c);
    out
}

async fn export_in_parts(
    request: &ExportTraceServiceRequest,
    limits: LimitsConfig,
) -> (Option<ExportTracePartialSuccess>, Vec<RecordBatch>) {
    let body = Bytes::from(request.encode_to_vec());
    assert!(parts_for_bytes(body.len()) > 1 || cores() == 1, "{} bytes are cut", body.len());
    let sink = MemorySink::new();
    let response = ingest(sink.clone(), limits).export(Incoming::Protobuf(body), Transport::Grpc).await.unwrap();
    (response.partial_success, sink.batches())
}

#[tokio::test]
async fn a_large_request_stores_in_parts_what_it_converts_to_whole() {
    let mut request = request(40, 40, distinct_traces);
    // An invalid span in a resource of the second half: its position is the whole request's.
    request.resource_spans[33].scope_spans[0].spans[5].span_id = vec![1, 2, 3];
    let limits = LimitsConfig::default();
    let expected = whole_conversion(&request, &limits);
    let (partial, batches) = export_in_parts(&request, limits).await;
    if cores() > 1 {
        assert!(batches.len() > 1, "converted in {} part(s)", batches.len());
    }
    let stored = concat_batches(&batches[0].schema(), &batches).unwrap();
    assert_eq!(Some(stored), expected.batch);
    let partial = partial.expect("one span rejected");
    assert_eq!(partial.rejected_spans, 1);
    assert_eq!(partial.error_message, expected.error_message("spans"));
    assert!(partial.error_message.contains("span 5 (resource 33, scope 0)"), "{}", partial.error_message);
}

#[tokio::test]
async fn a_trace_that_reaches_its_limit_across_parts_is_limited_as_in_one_piece() {
    // Trace 7 has 20 spans in every resource: 800 in all, over the limit of 500.
    let request = request(40, 40, |r, i| if i % 2 == 0 { 7 } else { r as u8 + 10 });
    let limits = LimitsConfig { max_spans_per_trace: 500, ..LimitsConfig::default() };
    let expected = whole_conversion(&request, &limits);
    let (partial, batches) = export_in_parts(&request, limits).await;
    let stored = concat_batches(&batches[0].schema(), &batches).unwrap();
    assert_eq!(Some(stored), expected.batch);
    let partial = partial.expect("spans over the limit");
    assert_eq!(partial.rejected_spans, 300);
    assert_eq!(partial.error_message, expected.error_message("spans"));
}

#[tokio::test]
async fn a_body_that_breaks_in_its_second_half_stores_nothing() {
    let mut body = request(40, 40, distinct_traces).encode_to_vec();
    let n = body.len();
    // A byte that is not UTF-8 in the last span's last string.
    body[n - 3] = 0xff;
    let sink = MemorySink::new();
    let error = ingest(sink.clone(), LimitsConfig::default())
        .export(Incoming::Protobuf(Bytes::from(body)), Transport::Grpc)
        .await
        .unwrap_err();
    assert!(matches!(error, crate::CollectorError::Undecodable(_)), "{error}");
    assert_eq!(sink.rows(), 0);
}

/// Storage right-sizes a batch's buffers for the memtable only if it holds the batch alone: the
/// receive path hands it over rather than keeping a clone (which left every memtable ~2.7× its
/// size in session 9's server).
#[tokio::test]
async fn the_memtable_holds_a_converted_batch_at_its_shrunk_size() {
    let dir = tempfile::tempdir().unwrap();
    let config = osprey_storage::StorageConfig {
        data_dir: dir.path().to_path_buf(),
        disk_reserve_bytes: 0,
        ..Default::default()
    };
    let storage = osprey_storage::Storage::open(config).await.unwrap();
    let limits = LimitsConfig::default();
    let request = request(3, 20, distinct_traces);
    let ingest = Ingest::new(
        CollectorConfig::default(),
        storage.clone(),
        CollectorMetrics::default(),
        Traces::new(&limits),
        Converting::new(),
    );
    Arc::new(ingest).export(Incoming::Protobuf(Bytes::from(request.encode_to_vec())), Transport::Grpc).await.unwrap();

    let built = whole_conversion(&request, &limits).batch.unwrap();
    let (table, built_bytes) = (osprey_storage::Table::Spans, built.get_array_memory_size());
    let physical = table.to_physical(&built).unwrap();
    drop(built);
    let shrunk = osprey_storage::memtable::shrink_to_fit(physical).unwrap();
    assert!(shrunk.get_array_memory_size() < built_bytes, "{} < {built_bytes}", shrunk.get_array_memory_size());
    let held = storage.metrics().memtable_bytes.get_or_create(&osprey_storage::metrics::table_label(table)).get();
    assert_eq!(held as usize, shrunk.get_array_memory_size());
}

fn metrics_ingest(sink: Arc<MemorySink>) -> Arc<Ingest<crate::metric_points::Metrics>> {
    let metrics = crate::metric_points::Metrics;
    Arc::new(Ingest::new(CollectorConfig::default(), sink, CollectorMetrics::default(), metrics, Converting::new()))
}

/// A large metrics request is decoded and converted a piece at a time: many pieces, each its own
/// batch, that together are exactly the whole request's conversion, with a rejected point's
/// position in the whole request.
#[tokio::test]
async fn a_large_metrics_request_converted_piece_by_piece_stores_what_it_converts_to_whole() {
    let mut request = padded_request(100);
    // A point without a value in resource 77.
    if let Some(osprey_proto::metrics::metric::Data::Gauge(g)) =
        &mut request.resource_metrics[77].scope_metrics[0].metrics[0].data
    {
        g.data_points[3].value = None;
    }
    let body = Bytes::from(request.encode_to_vec());
    let pieces = pieces_for_bytes(body.len());
    assert!(pieces >= 6, "{} bytes in {pieces} pieces", body.len());
    let expected = crate::metric_points::convert(&request, &LimitsConfig::default()).unwrap();

    let sink = MemorySink::new();
    let response = metrics_ingest(sink.clone()).export(Incoming::Protobuf(body), Transport::Grpc).await.unwrap();
    let batches = sink.batches();
    assert_eq!(batches.len(), pieces);
    assert_eq!(Some(concat_batches(&batches[0].schema(), &batches).unwrap()), expected.batch);
    let partial = response.partial_success.expect("one point rejected");
    assert_eq!(partial.rejected_data_points, 1);
    assert_eq!(partial.error_message, expected.error_message("data points"));
    assert!(partial.error_message.contains("(resource 77, scope 0)"), "{}", partial.error_message);
}

/// A piece that is not valid protobuf refuses the whole request, even after other pieces were
/// converted: nothing of it is stored.
#[tokio::test]
async fn a_metrics_body_that_breaks_in_a_late_piece_stores_nothing() {
    let mut body = padded_request(100).encode_to_vec();
    let n = body.len();
    body[n - 3] = 0xff;
    let sink = MemorySink::new();
    let error =
        metrics_ingest(sink.clone()).export(Incoming::Protobuf(Bytes::from(body)), Transport::Grpc).await.unwrap_err();
    assert!(matches!(error, crate::CollectorError::Undecodable(_)), "{error}");
    assert_eq!(sink.rows(), 0);
}

/// Lanes are runs of consecutive cuts, about equal in bytes, never more than asked for.
#[test]
fn lanes_keep_the_cuts_in_order() {
    let cuts: Vec<Cut> =
        (0..10).map(|i| Cut { bytes: Bytes::from(vec![0u8; 100 + i * 10]), first_resource: i }).collect();
    for n in 1..=12 {
        let lanes = lanes(cuts.clone(), n);
        assert!(lanes.len() <= n && !lanes.is_empty());
        let order: Vec<usize> = lanes.iter().flatten().map(|c| c.first_resource).collect();
        assert_eq!(order, (0..10).collect::<Vec<_>>(), "{n} lanes");
        assert!(lanes.iter().all(|l| !l.is_empty()), "{n} lanes");
    }
    assert_eq!(lanes(Vec::new(), 2).len(), 1);
}
