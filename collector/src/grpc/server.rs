//! [`ExportServer`]: the gRPC service of one [`Signal`], as `tonic-build` would generate it,
//! except that the request message reaches the handler as its raw protobuf bytes
//! ([`RawCodec`]). The receive path decodes them itself, on the blocking pool and, for a
//! large request, in parallel parts (see [`crate::parts`]); tonic's codec would decode the
//! whole message on the connection's task first.

use std::convert::Infallible;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf as _, Bytes};
use futures::future::BoxFuture;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EnabledCompressionEncodings};
use tonic::server::{NamedService, UnaryService};
use tonic::{Request, Response, Status};
use tonic_prost::ProstEncoder;

use super::Receiver;
use crate::signal::Signal;

/// The `Export` service of signal `S`.
pub struct ExportServer<S: Signal> {
    receiver: Arc<Receiver<S>>,
    accept_compression: EnabledCompressionEncodings,
    max_decoding_message_size: Option<usize>,
}

impl<S: Signal> ExportServer<S> {
    pub fn new(receiver: Receiver<S>) -> Self {
        Self {
            receiver: Arc::new(receiver),
            accept_compression: EnabledCompressionEncodings::default(),
            max_decoding_message_size: None,
        }
    }

    /// Accepts requests compressed with `encoding`.
    #[must_use]
    pub fn accept_compressed(mut self, encoding: CompressionEncoding) -> Self {
        self.accept_compression.enable(encoding);
        self
    }

    /// Refuses messages over `limit` bytes (after decompression).
    #[must_use]
    pub fn max_decoding_message_size(mut self, limit: usize) -> Self {
        self.max_decoding_message_size = Some(limit);
        self
    }
}

impl<S: Signal> Clone for ExportServer<S> {
    fn clone(&self) -> Self {
        Self {
            receiver: self.receiver.clone(),
            accept_compression: self.accept_compression,
            max_decoding_message_size: self.max_decoding_message_size,
        }
    }
}

impl<S: Signal> NamedService for ExportServer<S> {
    const NAME: &'static str = S::GRPC_SERVICE;
}

struct Export<S: Signal>(Arc<Receiver<S>>);

impl<S: Signal> UnaryService<Bytes> for Export<S> {
    type Response = S::Response;
    type Future = BoxFuture<'static, Result<Response<S::Response>, Status>>;

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        let receiver = self.0.clone();
        Box::pin(async move { receiver.export(request).await })
    }
}

impl<S, B> tower::Service<http::Request<B>> for ExportServer<S>
where
    S: Signal,
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<tonic::codegen::StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if request.uri().path() != S::GRPC_EXPORT_PATH {
            return Box::pin(async { Ok(Status::unimplemented("no such method").into_http()) });
        }
        let (receiver, accept, limit) =
            (self.receiver.clone(), self.accept_compression, self.max_decoding_message_size);
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(RawCodec::<S::Response>::default())
                .apply_compression_config(accept, EnabledCompressionEncodings::default())
                .apply_max_message_size_config(limit, None);
            Ok(grpc.unary(Export(receiver), request).await)
        })
    }
}

/// Encodes responses with prost; hands requests over as their bytes.
pub struct RawCodec<T>(PhantomData<T>);

impl<T> Default for RawCodec<T> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<T: prost::Message + Send + 'static> Codec for RawCodec<T> {
    type Encode = T;
    type Decode = Bytes;
    type Encoder = ProstEncoder<T>;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawDecoder
    }
}

/// A message's bytes, as they are (no copy: tonic's buffer is split off).
pub struct RawDecoder;

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}
