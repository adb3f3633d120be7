use std::time::Duration;

use osprey_proto::trace::Span;
use osprey_proto::trace_service_client::TraceServiceClient;
use tonic::transport::Channel;
use tonic::Code;
use tonic_types::StatusExt as _;

use osprey_proto::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use prost::Message as _;

use super::*;
use crate::fixtures::*;
use crate::sink::Failure;
use crate::CollectorConfig;

async fn client(servers: &Servers) -> TraceServiceClient<Channel> {
    TraceServiceClient::connect(format!("http://{}", servers.grpc)).await.unwrap()
}

/// Any message, sent as raw protobuf to any path (for bytes a typed client cannot send).
#[derive(Clone, PartialEq, prost::Message)]
struct Raw {
    #[prost(bytes = "vec", tag = "1")]
    field1: Vec<u8>,
}

async fn raw_call(servers: &Servers, path: &'static str, field1: Vec<u8>) -> Result<(), Status> {
    let channel = Channel::from_shared(format!("http://{}", servers.grpc)).unwrap().connect().await.unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let codec = tonic_prost::ProstCodec::<Raw, ExportTraceServiceResponse>::default();
    let path = http::uri::PathAndQuery::from_static(path);
    grpc.unary(Request::new(Raw { field1 }), path, codec).await.map(|_| ())
}

const EXPORT: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

#[tokio::test]
async fn exports_with_and_without_compression() {
    let servers = Servers::start(CollectorConfig::default()).await;
    let mut plain = client(&servers).await;
    let response = plain.export(rich_request()).await.unwrap().into_inner();
    assert_eq!(response.partial_success, None);
    let mut gzip = client(&servers).await.send_compressed(CompressionEncoding::Gzip);
    gzip.export(rich_request()).await.unwrap();
    let mut zstd = client(&servers).await.send_compressed(CompressionEncoding::Zstd);
    zstd.export(rich_request()).await.unwrap();
    assert_eq!(servers.sink.rows(), 6);
    let batch = &servers.sink.batches()[1];
    assert_eq!(strings(batch, "trace_id")[0].as_deref(), Some(TRACE_HEX));
    assert_eq!(strings(batch, "kind")[0].as_deref(), Some("server"));
    assert_eq!(servers.metric("received", &[("signal", "traces"), ("transport", "grpc")]), 6);
    assert_eq!(servers.metric("accepted", &[("signal", "traces")]), 6);
    assert_eq!(servers.metric("requests", &[("signal", "traces"), ("transport", "grpc"), ("outcome", "success")]), 3);
}

#[tokio::test]
async fn invalid_ids_are_a_partial_success_and_empty_requests_succeed() {
    let servers = Servers::start(CollectorConfig::default()).await;
    let mut client = client(&servers).await;
    let bad = Span { span_id: vec![1, 2, 3], ..span(1) };
    let response = client.export(request_of(vec![bad, span(2)])).await.unwrap().into_inner();
    let partial = response.partial_success.unwrap();
    assert_eq!(partial.rejected_spans, 1);
    assert!(partial.error_message.contains("span_id must be 8 bytes, got 3"), "{}", partial.error_message);
    assert_eq!(servers.sink.rows(), 1);
    let empty = client.export(ExportTraceServiceRequest::default()).await.unwrap().into_inner();
    assert_eq!(empty.partial_success, None);
    assert_eq!(servers.metric("rejected", &[("signal", "traces"), ("reason", "invalid")]), 1);
}

#[tokio::test]
async fn overload_is_unavailable_with_retry_info() {
    let config = CollectorConfig { retry_after_secs: 3, ..Default::default() };
    let servers = Servers::start(config).await;
    let mut client = client(&servers).await;
    for failure in [Failure::MemoryBudget, Failure::DiskFull] {
        servers.sink.fail_with(Some(failure));
        let status = client.export(rich_request()).await.unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{failure:?}");
        assert_eq!(status.get_details_retry_info().unwrap().retry_delay, Some(Duration::from_secs(3)));
    }
    servers.sink.fail_with(None);
    client.export(rich_request()).await.unwrap();
    assert_eq!(servers.sink.rows(), 2);
}

#[tokio::test]
async fn failed_append_is_not_acknowledged_and_is_counted() {
    let servers = Servers::start(CollectorConfig::default()).await;
    servers.sink.fail_with(Some(Failure::AppendIo));
    let status = client(&servers).await.export(rich_request()).await.unwrap_err();
    assert_eq!(status.code(), Code::Internal);
    assert_eq!(servers.sink.rows(), 0);
    assert_eq!(servers.metric("received", &[("signal", "traces"), ("transport", "grpc")]), 2);
    assert_eq!(servers.metric("rejected", &[("signal", "traces"), ("reason", "internal")]), 2);
}

#[tokio::test]
async fn oversize_is_resource_exhausted_without_retry_info() {
    let config = CollectorConfig { max_request_bytes: 2_000, ..Default::default() };
    let servers = Servers::start(config).await;
    let attributes = (0..200).map(|i| str_kv(&format!("key{i}"), "value")).collect();
    let big = request_of(vec![Span { attributes, ..span(1) }]);
    assert!(big.encoded_len() > 2_000);
    let status = client(&servers).await.export(big.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.get_details_retry_info().is_none());
    // compressed below the limit, inflating past it
    let mut gzip = client(&servers).await.send_compressed(CompressionEncoding::Gzip);
    let status = gzip.export(big).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.get_details_retry_info().is_none());
    assert_eq!(servers.metric("requests", &[("signal", "traces"), ("transport", "grpc"), ("outcome", "too_large")]), 2);
    // still serving
    client(&servers).await.export(rich_request()).await.unwrap();
}

#[tokio::test]
async fn undecodable_protobuf_is_invalid_argument() {
    let servers = Servers::start(CollectorConfig::default()).await;
    // resource_spans holding garbage
    let status = raw_call(&servers, EXPORT, vec![0xff, 0xff, 0xff]).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    // ResourceSpans.schema_url with invalid UTF-8
    let status = raw_call(&servers, EXPORT, vec![0x1a, 0x02, 0xff, 0xfe]).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    client(&servers).await.export(rich_request()).await.unwrap();
}

#[tokio::test]
async fn requests_on_either_side_of_the_inline_size_are_stored_alike() {
    use crate::parts::{parts_for_bytes, INLINE_BYTES};
    let servers = Servers::start(CollectorConfig::default()).await;
    let mut client = client(&servers).await;
    let padded = |n: u8| Span { attributes: vec![str_kv("pad", &"x".repeat(1024))], ..span(n) };
    let bad = |n: u8| Span { span_id: vec![n], ..padded(n) };
    // Decoded and converted on the receiving task…
    let small = request_of(vec![padded(1), bad(2), padded(3)]);
    assert!(small.encoded_len() <= INLINE_BYTES);
    // …and on the blocking pool, in one part.
    let large = request_of((1..=40).map(padded).chain([bad(41)]).collect());
    assert!(large.encoded_len() > INLINE_BYTES && parts_for_bytes(large.encoded_len()) == 1);
    for (request, rows, last) in [(small, 2, "span-3"), (large, 40, "span-40")] {
        let response = client.export(request).await.unwrap().into_inner();
        assert_eq!(response.partial_success.map(|p| p.rejected_spans), Some(1));
        let batches = servers.sink.batches();
        let batch = batches.last().unwrap();
        assert_eq!(batch.num_rows(), rows);
        assert_eq!(strings(batch, "name")[rows - 1].as_deref(), Some(last));
    }
    assert_eq!(servers.metric("accepted", &[("signal", "traces")]), 42);
    assert_eq!(servers.metric("rejected", &[("signal", "traces"), ("reason", "invalid")]), 2);
    // Garbage is refused the same way on both paths.
    for len in [16, 2 * INLINE_BYTES] {
        let mut garbage = vec![0x0a, 0x04, 0xff, 0xff, 0xff, 0xff];
        garbage.resize(len, 0xff);
        let status = raw_call(&servers, EXPORT, garbage).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    }
}

#[tokio::test]
async fn shuts_down_gracefully() {
    let sink = crate::MemorySink::new();
    let collector = crate::Collector::new(CollectorConfig::default(), sink).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server =
        tokio::spawn(async move { collector.serve_grpc(listener, async { stopped.await.unwrap_or(()) }).await });
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server).await.unwrap().unwrap().unwrap();
}
