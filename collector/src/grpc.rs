//! The OTLP/gRPC receivers: one [`ExportServer`] per [`Signal`] (`server.rs`), whose handler
//! [`Receiver::export`] admits the message's bytes and hands them to the shared receive path,
//! which decodes them ([`crate::ingest`]). A signal whose service is not registered is answered
//! `UNIMPLEMENTED` by tonic.
//!
//! tonic checks `max_decoding_message_size` itself: an uncompressed message over it is
//! answered `OUT_OF_RANGE` (which OTLP clients retry), a compressed one that inflates past it
//! `RESOURCE_EXHAUSTED`; a body it cannot decompress is answered `INTERNAL`. [`RequestFailures`]
//! wraps the service and rewrites those answers of tonic's to what OTLP asks for: any
//! oversize message → `RESOURCE_EXHAUSTED` without `RetryInfo` (not retryable), undecodable →
//! `INVALID_ARGUMENT`. It only rewrites responses of requests that never reached our handler
//! (marked through a request extension), so a status of ours is never changed. A message that
//! is not valid protobuf reaches the handler, which answers `INVALID_ARGUMENT` itself.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::future::BoxFuture;
use http::HeaderValue;
use tonic::codec::CompressionEncoding;
use tonic::server::NamedService;
use tonic::{Request, Response, Status};

use crate::error::CollectorError;
use crate::ingest::{Incoming, Ingest, Transport};
use crate::signal::Signal;

mod server;

use crate::receiving::{self, AdmittedBody, Receiving};
pub use server::ExportServer;

/// The gRPC service of one signal.
pub struct Receiver<S: Signal> {
    ingest: Arc<Ingest<S>>,
}

impl<S: Signal> Clone for Receiver<S> {
    fn clone(&self) -> Self {
        Self { ingest: self.ingest.clone() }
    }
}

impl<S: Signal> Receiver<S> {
    pub fn new(ingest: Arc<Ingest<S>>) -> Self {
        Self { ingest }
    }

    /// What every `Export` does: mark the request as reached (see [`RequestFailures`]), admit
    /// its memory (on top of what its body holds already: [`receiving`]), store it, answer.
    pub async fn export(&self, request: Request<Bytes>) -> Result<Response<S::Response>, Status> {
        if let Some(reached) = request.extensions().get::<Reached>() {
            reached.0.store(true, Ordering::SeqCst);
        }
        // The body's permits are kept until the request is answered, like the one admitted here.
        let (_received, held) = request.extensions().get::<Arc<Receiving>>().map_or((Vec::new(), 0), |r| r.take());
        let retry_after = self.ingest.config.retry_after_secs;
        let body = request.into_inner();
        let _permit = match self.ingest.admit_beyond(body.len(), held) {
            Ok(p) => p,
            Err(e) => {
                self.ingest.failed_before_decoding(Transport::Grpc, &e);
                return Err(e.to_grpc(retry_after));
            }
        };
        match self.ingest.export(Incoming::Protobuf(body), Transport::Grpc).await {
            Ok(response) => Ok(Response::new(response)),
            Err(e) => Err(e.to_grpc(retry_after)),
        }
    }
}

/// Set by the handler when it runs.
#[derive(Clone, Default)]
struct Reached(Arc<AtomicBool>);

/// The `Export` service of signal `S`, configured: gzip and zstd accepted, the size limit set,
/// tonic's failure codes rewritten (see the module docs).
pub fn service<S: Signal>(ingest: Arc<Ingest<S>>) -> RequestFailures<ExportServer<S>, S> {
    let limit = ingest.config.max_request_bytes;
    let server = ExportServer::new(Receiver::new(ingest.clone()))
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd)
        .max_decoding_message_size(limit);
    RequestFailures::new(server, ingest)
}

/// Rewrites tonic's own answers to requests that never reached the handler of signal `Sig`.
pub struct RequestFailures<S, Sig: Signal> {
    inner: S,
    ingest: Arc<Ingest<Sig>>,
}

impl<S, Sig: Signal> RequestFailures<S, Sig> {
    /// Wraps `inner`, the configured tonic server of `Sig`'s service.
    pub fn new(inner: S, ingest: Arc<Ingest<Sig>>) -> Self {
        Self { inner, ingest }
    }
}

impl<S: Clone, Sig: Signal> Clone for RequestFailures<S, Sig> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone(), ingest: self.ingest.clone() }
    }
}

impl<S: NamedService, Sig: Signal> NamedService for RequestFailures<S, Sig> {
    const NAME: &'static str = S::NAME;
}

const GRPC_STATUS: &str = "grpc-status";

impl<S, Sig: Signal, B> tower::Service<http::Request<B>> for RequestFailures<S, Sig>
where
    S: tower::Service<http::Request<AdmittedBody<B>>, Response = http::Response<tonic::body::Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let reached = Reached::default();
        request.extensions_mut().insert(reached.clone());
        let receiving = Arc::new(Receiving::default());
        request.extensions_mut().insert(receiving.clone());
        let ingest = self.ingest.clone();
        let admit: receiving::Admit = Arc::new(move |bytes| ingest.admit_received(bytes));
        let retry_after = self.ingest.config.retry_after_secs;
        let request = request.map(|body| AdmittedBody::new(body, receiving.clone(), admit, retry_after));
        let future = self.inner.call(request);
        let ingest = self.ingest.clone();
        Box::pin(async move {
            let mut response = future.await?;
            if let Some(error) = receiving.take_refused() {
                ingest.failed_before_decoding(Transport::Grpc, &error);
                return Ok(response);
            }
            if reached.0.load(Ordering::SeqCst) {
                return Ok(response);
            }
            let code = response.headers().get(GRPC_STATUS).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
            let error = match code.map(tonic::Code::from_i32) {
                Some(tonic::Code::OutOfRange | tonic::Code::ResourceExhausted) => {
                    CollectorError::TooLarge { limit: ingest.config.max_request_bytes }
                }
                Some(tonic::Code::Internal) => CollectorError::Undecodable(grpc_message(&response)),
                _ => return Ok(response),
            };
            ingest.failed_before_decoding(Transport::Grpc, &error);
            let code = error.grpc_code() as i32;
            response.headers_mut().insert(GRPC_STATUS, HeaderValue::from(code));
            tracing::debug!(
                signal = Sig::NAME,
                code,
                "rewrote tonic's status for a request that did not reach the handler"
            );
            Ok(response)
        })
    }
}

fn grpc_message(response: &http::Response<tonic::body::Body>) -> String {
    response.headers().get("grpc-message").and_then(|v| v.to_str().ok()).unwrap_or("invalid protobuf").to_string()
}

#[cfg(test)]
mod tests;
