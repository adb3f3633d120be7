//! A request's body held in the memory budget while it arrives.
//!
//! tonic reads a unary request's whole message before the handler runs, and gRPC sends no
//! `Content-Length` to admit it from beforehand (as OTLP/HTTP usually does). So every gRPC
//! request being received held its body outside the budget: eight 21 MB metrics requests in
//! flight could hold ~250 MB beyond it, most of them only to be refused once read, which is how
//! a hipstershop replay went past the process's 1 GiB (BENCHMARKS.md, issue 5). [`AdmittedBody`]
//! admits each data frame as it arrives; a frame the budget cannot take ends the request with
//! the retryable `UNAVAILABLE` the handler's admission answers, without reading the rest. The
//! handler then admits the decoded message on top of what its body holds ([`Receiving::take`]),
//! so a request is never counted twice. (OTLP/HTTP admits a body sent without a
//! `Content-Length` chunk by chunk where it reads it, `payload::read_body`, and drains what it
//! refuses so that HTTP/1.1 clients read the 429.)

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{ready, Context, Poll};

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};

use crate::error::CollectorError;
use crate::sink::Permit;

/// What a request's body holds in the budget, shared by its [`AdmittedBody`] and the handler.
#[derive(Default)]
pub(crate) struct Receiving {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    permits: Vec<Permit>,
    bytes: usize,
    refused: Option<CollectorError>,
}

impl Receiving {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Hands over the body's permits and the bytes they hold, for the handler to keep.
    pub(crate) fn take(&self) -> (Vec<Permit>, usize) {
        let mut state = self.lock();
        let bytes = std::mem::take(&mut state.bytes);
        (std::mem::take(&mut state.permits), bytes)
    }

    /// Why the body was refused, if it was.
    pub(crate) fn take_refused(&self) -> Option<CollectorError> {
        self.lock().refused.take()
    }
}

/// How a body's bytes are admitted: the signal's [`crate::ingest::Ingest::admit_received`].
pub(crate) type Admit = Arc<dyn Fn(usize) -> Result<Permit, CollectorError> + Send + Sync>;

/// A request body whose data frames are admitted into the memory budget as they arrive.
pub(crate) struct AdmittedBody<B> {
    inner: B,
    receiving: Arc<Receiving>,
    admit: Admit,
    retry_after_secs: u32,
}

impl<B> AdmittedBody<B> {
    pub(crate) fn new(inner: B, receiving: Arc<Receiving>, admit: Admit, retry_after_secs: u32) -> Self {
        Self { inner, receiving, admit, retry_after_secs }
    }
}

impl<B> Body for AdmittedBody<B>
where
    B: Body + Unpin,
    B::Error: Into<tonic::codegen::StdError>,
{
    type Data = B::Data;
    type Error = tonic::codegen::StdError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let frame = match ready!(Pin::new(&mut self.inner).poll_frame(cx)) {
            Some(Ok(frame)) => frame,
            Some(Err(e)) => return Poll::Ready(Some(Err(e.into()))),
            None => return Poll::Ready(None),
        };
        let bytes = frame.data_ref().map_or(0, Buf::remaining);
        if bytes > 0 {
            match (self.admit)(bytes) {
                Ok(permit) => {
                    let mut state = self.receiving.lock();
                    state.permits.push(permit);
                    state.bytes += bytes;
                }
                Err(error) => {
                    let status = error.to_grpc(self.retry_after_secs);
                    self.receiving.lock().refused = Some(error);
                    return Poll::Ready(Some(Err(Box::new(status))));
                }
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests;
