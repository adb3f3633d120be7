//! Bad input against the real binary: each answered with the right status, and
//! the server keeps serving. (The collector's own tests cover every case in
//! depth; this checks the wiring of limits and error mapping end to end.)

use std::io::Write;

use crate::harness::Osprey;
use crate::sdk::{exporter, hex_trace, send, SpanSpec, Transport};

async fn post(osprey: &Osprey, body: Vec<u8>, content_type: &str, encoding: Option<&str>) -> (u16, Vec<u8>) {
    let client = reqwest::Client::new();
    let mut req = client.post(osprey.otlp_http("/v1/traces")).header("content-type", content_type).body(body);
    if let Some(e) = encoding {
        req = req.header("content-encoding", e);
    }
    let r = req.send().await.expect("POST");
    let status = r.status().as_u16();
    (status, r.bytes().await.expect("body").to_vec())
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(data).expect("gzip");
    enc.finish().expect("gzip")
}

#[tokio::test]
async fn bad_requests_get_clear_errors_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().expect("tempdir");
    let osprey = Osprey::start(&dir.path().join("data"), &[("OSPREY_COLLECTOR__MAX_REQUEST_BYTES", "1048576")]).await;
    let proto = "application/x-protobuf";

    // Garbage and truncated protobuf.
    assert_eq!(post(&osprey, vec![0xff; 64], proto, None).await.0, 400);
    assert_eq!(post(&osprey, vec![0x0a, 0x80, 0x01, 0x0a], proto, None).await.0, 400);
    // Invalid JSON.
    assert_eq!(post(&osprey, b"{\"resourceSpans\": [".to_vec(), "application/json", None).await.0, 400);
    // A gzip bomb: 64 MiB of zeros in ~64 KiB, limit 1 MiB after decompression.
    let bomb = gzip(&vec![0u8; 64 << 20]);
    assert!(bomb.len() < 1 << 20);
    assert_eq!(post(&osprey, bomb, proto, Some("gzip")).await.0, 413);
    // An oversize plain body, declared by Content-Length and streamed without one: Osprey drains
    // what the client sends (up to a cap) and answers 413, so the client reads the answer.
    let oversize = reqwest::Client::new()
        .post(osprey.otlp_http("/v1/traces"))
        .header("content-type", proto)
        .body(vec![0u8; 2 << 20])
        .send()
        .await
        .expect("oversize body with content-length: the client reads the answer");
    assert_eq!(oversize.status().as_u16(), 413);
    let chunks = futures::stream::iter((0..32).map(|_| Ok::<_, std::io::Error>(vec![0u8; 64 << 10])));
    let streamed = reqwest::Client::new()
        .post(osprey.otlp_http("/v1/traces"))
        .header("content-type", proto)
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .expect("oversize chunked body: the client reads the answer");
    assert_eq!(streamed.status().as_u16(), 413);
    // Unsupported media type.
    assert_eq!(post(&osprey, b"hello".to_vec(), "text/plain", None).await.0, 415);
    // Empty request: success.
    assert_eq!(post(&osprey, Vec::new(), proto, None).await.0, 200);
    // Logs and metrics share the receive path: an empty request is a success there too.
    for path in ["/v1/logs", "/v1/metrics"] {
        let r = reqwest::Client::new()
            .post(osprey.otlp_http(path))
            .header("content-type", proto)
            .body(Vec::new())
            .send()
            .await
            .expect("POST");
        assert_eq!(r.status().as_u16(), 200, "{path}");
    }

    // Still serving: a real SDK export lands and is queryable.
    let trace = 0x1234_5678_9abc_def0_u128;
    let spec = SpanSpec {
        trace,
        span: 1,
        parent: 0,
        name: "after-bad-input",
        kind: opentelemetry::trace::SpanKind::Server,
        start_ms: 0,
        end_ms: 5,
        error: false,
        attributes: vec![],
    };
    send(&exporter(&osprey, Transport::HttpProto, "svc"), vec![spec.build()]).await.expect("ack");
    let (status, w) = osprey.get_json(&format!("/api/v1/traces/{}", hex_trace(trace))).await;
    assert_eq!(status, 200, "{w}");
    assert_eq!(w["span_count"], 1);
    let (status, _) = osprey.get_json("/healthz").await;
    assert_eq!(status, 200);
}
