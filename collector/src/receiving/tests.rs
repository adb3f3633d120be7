use std::convert::Infallible;
use std::time::{Duration, Instant};

use bytes::Bytes;
use prost::Message as _;
use std::net::SocketAddr;
use tokio::sync::mpsc;
use tonic::transport::Channel;
use tower::{Service as _, ServiceExt as _};

use super::*;
use crate::fixtures::*;
use crate::CollectorConfig;

const EXPORT: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// A request body sent a chunk at a time, when the test says.
struct ChannelBody(mpsc::Receiver<Bytes>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|chunk| chunk.map(|bytes| Ok(Frame::data(bytes))))
    }
}

/// An export of 400 spans carrying ~2 KB of attributes each (~0.8 MB), as protobuf.
fn export_message() -> Vec<u8> {
    let spans = (0..400u32)
        .map(|i| {
            let mut s = span((i % 250) as u8);
            s.attributes.push(str_kv(&format!("pad-{i}"), &"x".repeat(2000)));
            s
        })
        .collect();
    request_of(spans).encode_to_vec()
}

/// [`export_message`] framed for gRPC.
fn framed_export() -> Vec<u8> {
    let message = export_message();
    let mut framed = vec![0u8];
    framed.extend_from_slice(&(message.len() as u32).to_be_bytes());
    framed.extend_from_slice(&message);
    framed
}

/// Sends an export whose body comes from `chunks`; resolves to its gRPC status code and message.
async fn export(grpc: SocketAddr, chunks: mpsc::Receiver<Bytes>) -> (i32, String) {
    let mut channel = Channel::from_shared(format!("http://{grpc}")).unwrap().connect().await.unwrap();
    let request = http::Request::builder()
        .method("POST")
        .uri(format!("http://{grpc}{EXPORT}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(tonic::body::Body::new(ChannelBody(chunks)))
        .unwrap();
    let response = channel.ready().await.unwrap().call(request).await.unwrap();
    let (parts, mut body) = response.into_parts();
    let mut headers = parts.headers;
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        if let Ok(trailers) = frame.unwrap().into_trailers() {
            headers.extend(trailers);
        }
    }
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    (text("grpc-status").parse().unwrap_or(-1), text("grpc-message"))
}

/// `body` sent 16 KiB at a time, until the receiver stops taking it: the receiving end, and
/// what was sent of how much once it stopped.
fn send_in_chunks(body: Bytes) -> (mpsc::Receiver<Bytes>, tokio::task::JoinHandle<(usize, usize)>) {
    let (tx, rx) = mpsc::channel(1);
    let sender = tokio::spawn(async move {
        let mut sent = 0;
        for chunk in body.chunks(16 << 10) {
            if tx.send(Bytes::copy_from_slice(chunk)).await.is_err() {
                break;
            }
            sent += chunk.len();
        }
        (sent, body.len())
    });
    (rx, sender)
}

/// Sends the first half of `body`, checks that what arrived, and no more, is admitted, then
/// sends the rest and ends the body.
async fn send_in_halves(servers: &Servers, body: &Bytes, tx: mpsc::Sender<Bytes>) {
    let half = body.len() / 2;
    tx.send(body.slice(..half)).await.unwrap();
    wait_until("half the body admitted", || servers.sink.admitted() >= half).await;
    assert!(servers.sink.admitted() < body.len(), "only what arrived is admitted");
    tx.send(body.slice(half..)).await.unwrap();
}

async fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A body is held in the budget from its first bytes, before the message is whole: half a
/// body sent is half a body admitted. The handler then admits the decoded message on top of
/// it (3× the body in all, as before), and everything is released once it is answered.
#[tokio::test]
async fn a_body_is_admitted_while_it_arrives() {
    let servers = Servers::start(CollectorConfig::default()).await;
    let framed = Bytes::from(framed_export());
    let (tx, rx) = mpsc::channel(1);
    let answer = tokio::spawn(export(servers.grpc, rx));
    send_in_halves(&servers, &framed, tx).await;
    assert_eq!(answer.await.unwrap().0, 0, "OK");
    assert_eq!(servers.sink.rows(), 400);
    let message = framed.len() - 5;
    assert!(servers.sink.peak_admitted() >= 3 * message, "the decoded message admitted on top");
    assert!(servers.sink.peak_admitted() <= 3 * message + 5, "the body is not counted twice");
    assert_eq!(servers.sink.admitted(), 0, "released once answered");
}

/// A body the budget cannot hold is refused while it arrives with a retryable `UNAVAILABLE`,
/// without reading the rest of it, and counted as refused for overload.
#[tokio::test]
async fn a_body_past_the_budget_is_refused_before_it_is_read() {
    let servers = Servers::start(CollectorConfig::default()).await;
    servers.sink.set_limit(Some(100_000));
    let (rx, sender) = send_in_chunks(Bytes::from(framed_export()));
    let (code, message) = export(servers.grpc, rx).await;
    assert_eq!(code, tonic::Code::Unavailable as i32, "{message}");
    assert!(message.contains("memory"), "{message}");
    let (sent, total) = sender.await.unwrap();
    assert!(sent < total, "the body was not read to its end ({sent} of {total} bytes sent)");
    assert!(servers.sink.peak_admitted() <= 100_000);
    assert_eq!(servers.sink.admitted(), 0);
    assert_eq!(servers.sink.rows(), 0);
    assert_eq!(servers.metric("requests", &[("signal", "traces"), ("transport", "grpc"), ("outcome", "overload")]), 1);
}

/// POSTs `chunks` to `/v1/traces` as a chunked body (no `Content-Length`); resolves to the
/// status and the `Retry-After` header.
async fn post_chunked(url: String, chunks: mpsc::Receiver<Bytes>) -> (u16, Option<String>) {
    let stream =
        futures::stream::unfold(chunks, |mut rx| async move { rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx)) });
    let response = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/x-protobuf")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
    (response.status().as_u16(), retry_after)
}

/// An OTLP/HTTP body sent without a `Content-Length` is admitted as it arrives too (where
/// `payload::read_body` reads it): half a body sent is half a body admitted; past the budget it
/// is answered 429 with `Retry-After`, its rest read and thrown away (so that an HTTP/1.1 client
/// reads the answer) without being held.
#[tokio::test]
async fn a_chunked_http_body_is_admitted_while_it_arrives() {
    let servers = Servers::start(CollectorConfig::default()).await;
    let message = Bytes::from(export_message());
    let (tx, rx) = mpsc::channel(1);
    let answer = tokio::spawn(post_chunked(servers.http_url("/v1/traces"), rx));
    send_in_halves(&servers, &message, tx).await;
    assert_eq!(answer.await.unwrap().0, 200);
    assert_eq!(servers.sink.rows(), 400);
    assert!(servers.sink.peak_admitted() <= 3 * message.len(), "the body is not counted twice");
    assert_eq!(servers.sink.admitted(), 0, "released once answered");

    let servers = Servers::start(CollectorConfig::default()).await;
    servers.sink.set_limit(Some(100_000));
    let (rx, sender) = send_in_chunks(message);
    let (status, retry_after) = post_chunked(servers.http_url("/v1/traces"), rx).await;
    assert_eq!(status, 429);
    assert!(retry_after.is_some(), "Retry-After");
    let (sent, total) = sender.await.unwrap();
    assert_eq!(sent, total, "the rest of the body was drained");
    assert!(servers.sink.peak_admitted() <= 100_000, "{}", servers.sink.peak_admitted());
    assert_eq!(servers.sink.admitted(), 0);
    assert_eq!(servers.sink.rows(), 0);
    assert_eq!(servers.metric("requests", &[("signal", "traces"), ("transport", "http"), ("outcome", "overload")]), 1);
}
