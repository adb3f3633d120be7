//! [`Ingest`]: what the HTTP and gRPC receivers of one [`Signal`] share once a request is
//! read — decode, convert (validate, limit), append durably, count, and build the response.

use std::sync::Arc;

use bytes::Bytes;
use prost::Message as _;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::config::CollectorConfig;
use crate::conversion::Conversion;
use crate::error::CollectorError;
use crate::metrics::CollectorMetrics;
use crate::parts::{self, Part};
use crate::replay::SourceHead;
use crate::signal::{ProtobufFailure, Signal};
use crate::sink::{Permit, Prepared, Sink};

/// How many bytes of the memory budget a request of `n` wire bytes reserves: the body, the
/// decoded messages and the Arrow batch built from them.
pub const DECODED_SIZE_FACTOR: usize = 3;

/// `transport` label values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Grpc,
    Http,
    /// The Prometheus scraper ([`crate::scrape`]).
    Scrape,
}

impl Transport {
    pub fn label(self) -> &'static str {
        match self {
            Transport::Grpc => "grpc",
            Transport::Http => "http",
            Transport::Scrape => "scrape",
        }
    }
}

/// The receive path of one signal, shared by its HTTP and gRPC servers.
pub struct Ingest<S: Signal> {
    pub(crate) config: CollectorConfig,
    pub(crate) metrics: CollectorMetrics,
    sink: Arc<dyn Sink>,
    signal: S,
    converting: Converting,
}

/// Slots for requests (or their parts) being decoded and converted, shared by the signals: two per
/// core. With more, the cores would be no busier, but every request admitted would hold its decoded
/// messages, its batch and its frame at once, instead of only its bytes while it waits for a slot.
#[derive(Clone)]
pub struct Converting(Arc<Semaphore>);

impl Converting {
    pub fn new() -> Self {
        Self(Arc::new(Semaphore::new(Self::slots())))
    }

    fn slots() -> usize {
        2 * parts::cores()
    }

    async fn enter(&self, parts: usize) -> Result<SemaphorePermit<'_>, Failure> {
        let n = u32::try_from(parts.min(Self::slots())).unwrap_or(1);
        self.0.acquire_many(n).await.map_err(|e| Failure::Conversion {
            received: 0,
            error: CollectorError::Internal(format!("conversion slots: {e}")),
        })
    }
}

impl Default for Converting {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: Signal> Ingest<S> {
    pub fn new(
        config: CollectorConfig,
        sink: Arc<dyn Sink>,
        metrics: CollectorMetrics,
        signal: S,
        converting: Converting,
    ) -> Self {
        Self { config, metrics, sink, signal, converting }
    }

    /// Reserves memory for a request of `wire_bytes` (times [`DECODED_SIZE_FACTOR`]).
    pub fn admit(&self, wire_bytes: usize) -> Result<Permit, CollectorError> {
        self.admit_beyond(wire_bytes, 0)
    }

    /// [`Ingest::admit`] for a request whose body holds `held` bytes of the budget already
    /// (admitted as it arrived: [`Ingest::admit_received`]).
    pub fn admit_beyond(&self, wire_bytes: usize, held: usize) -> Result<Permit, CollectorError> {
        Ok(self.sink.admit(wire_bytes.saturating_mul(DECODED_SIZE_FACTOR).saturating_sub(held))?)
    }

    /// Reserves memory for `bytes` of a request body as they arrive, before it is whole.
    pub fn admit_received(&self, bytes: usize) -> Result<Permit, CollectorError> {
        Ok(self.sink.admit(bytes)?)
    }

    /// Counts a request that failed before it was decoded (no items are known).
    pub fn failed_before_decoding(&self, transport: Transport, error: &CollectorError) {
        self.metrics.request(S::NAME, transport.label(), error.reason());
        tracing::warn!(signal = S::NAME, transport = transport.label(), reason = error.reason(), error = %error, "OTLP request refused");
    }

    /// Stores a request and answers it. Nothing is acknowledged that was not appended.
    ///
    /// Decoding and conversion are CPU-bound (up to `max_request_bytes` of items), so they run on
    /// the blocking pool, except for a small protobuf request ([`parts::INLINE_BYTES`]); a large
    /// request is cut into parts ([`crate::parts`]) that are decoded, converted and encoded in
    /// parallel, then appended as one unit.
    pub async fn export(
        self: &Arc<Self>,
        incoming: Incoming<S::Request>,
        transport: Transport,
    ) -> Result<S::Response, CollectorError> {
        let t = transport.label();
        let parts = match self.convert(incoming).await {
            Ok(parts) => parts,
            Err(Failure::Undecodable(error)) => {
                self.failed_before_decoding(transport, &error);
                return Err(error);
            }
            Err(Failure::Conversion { received, error }) => return Err(self.fail_decoded(t, received, error)),
        };
        let mut conversion = Conversion::<()>::default();
        let mut pending = Vec::with_capacity(parts.len());
        let mut batches = Vec::with_capacity(parts.len());
        for part in parts {
            batches.extend(part.prepared);
            pending.push(conversion.absorb(part.conversion));
        }
        self.metrics.received(S::NAME, t, conversion.received);
        if !batches.is_empty() {
            if let Err(e) = self.sink.append(batches).await {
                let error = CollectorError::from(e);
                self.metrics.rejected(S::NAME, error.reason(), conversion.accepted);
                self.metrics.rejected(S::NAME, "invalid", conversion.rejected_invalid);
                self.metrics.rejected(S::NAME, "limit", conversion.rejected_limit);
                self.metrics.request(S::NAME, t, error.reason());
                tracing::warn!(signal = S::NAME, transport = t, items = conversion.received, reason = error.reason(), error = %error, "OTLP items not stored");
                return Err(error);
            }
        }
        let limits = &conversion.limits;
        self.metrics.accepted(S::NAME, conversion.accepted);
        self.metrics.rejected(S::NAME, "invalid", conversion.rejected_invalid);
        self.metrics.rejected(S::NAME, "limit", conversion.rejected_limit);
        self.metrics.limited(S::NAME, "attribute_value_bytes", limits.truncated_values);
        self.metrics.limited(S::NAME, "attributes_per_item", limits.dropped_attributes);
        self.metrics.limited(S::NAME, "value_depth", limits.cut_subtrees);
        self.metrics.limited(S::NAME, "spans_per_trace", limits.spans_over_trace_limit);
        self.metrics.limited(S::NAME, "log_body_bytes", limits.truncated_log_bodies);
        let partial = if conversion.rejected() > 0 {
            let error_message = conversion.error_message(S::ITEMS);
            tracing::info!(signal = S::NAME, transport = t, received = conversion.received, rejected = conversion.rejected(), message = %error_message, "OTLP request partially accepted");
            Some((i64::try_from(conversion.rejected()).unwrap_or(i64::MAX), error_message))
        } else {
            None
        };
        self.metrics.request(S::NAME, t, if partial.is_some() { "partial_success" } else { "success" });
        for p in pending {
            self.signal.commit(p);
        }
        tracing::debug!(signal = S::NAME, transport = t, accepted = conversion.accepted, "OTLP items stored");
        Ok(S::response(partial))
    }

    /// Decodes (if need be) and converts `incoming`, in parts when it is large.
    async fn convert(self: &Arc<Self>, incoming: Incoming<S::Request>) -> Result<Vec<Converted<S::Pending>>, Failure> {
        match incoming {
            Incoming::Protobuf(body) => {
                let parts = parts::parts_for_bytes(body.len());
                let _slots = self.converting.enter(parts).await?;
                if body.len() <= parts::INLINE_BYTES {
                    // The common case of an SDK's export: done here, where a trip to the
                    // blocking pool would cost more in thread wake-ups than the work itself.
                    return self.convert_source(body, 0).map(|c| vec![c]);
                }
                let pieces = if S::RESOURCES_INDEPENDENT { parts::pieces_for_bytes(body.len()) } else { parts };
                if pieces == 1 {
                    // Decoded and converted in one trip to the blocking pool.
                    let ingest = self.clone();
                    return blocking(move || ingest.convert_source(body, 0).map(|c| vec![c])).await;
                }
                if S::RESOURCES_INDEPENDENT {
                    let cuts = parts::cut_protobuf(body, pieces).map_err(undecodable)?;
                    return self.convert_pieces(parts::lanes(cuts, parts)).await;
                }
                let cuts = parts::cut_protobuf(body, parts).map_err(undecodable)?;
                let decoding = cuts.into_iter().map(|cut| {
                    move || {
                        let request = decode::<S>(&cut.bytes)?;
                        Ok(Part { request, first_resource: cut.first_resource, source: kept_source::<S>(cut.bytes) })
                    }
                });
                let decoded = in_parallel(decoding.collect()).await.into_iter().collect::<Result<Vec<_>, _>>()?;
                self.convert_parts(decoded).await
            }
            Incoming::Decoded(request) => {
                let parts = parts::parts_for_items(S::count(&request));
                let _slots = self.converting.enter(parts).await?;
                if parts == 1 {
                    let ingest = self.clone();
                    let part = Part { request, first_resource: 0, source: None };
                    return blocking(move || ingest.convert_part(part).map(|c| vec![c])).await;
                }
                self.convert_parts(parts::split_decoded::<S>(request, parts)).await
            }
        }
    }

    /// Decodes and converts the pieces of one request, a lane of consecutive pieces per core, a
    /// piece at a time: only a piece's decoded messages are held at once in each lane. If a piece
    /// is not valid protobuf, the whole request is refused (nothing of it was appended yet).
    async fn convert_pieces(
        self: &Arc<Self>,
        lanes: Vec<Vec<parts::Cut>>,
    ) -> Result<Vec<Converted<S::Pending>>, Failure> {
        let jobs = lanes.into_iter().map(|lane| {
            let ingest = self.clone();
            move || {
                let mut done = Vec::with_capacity(lane.len());
                for cut in lane {
                    done.push(ingest.convert_source(cut.bytes, cut.first_resource)?);
                }
                Ok(done)
            }
        });
        let (mut done, mut failure) = (Vec::new(), None);
        for result in in_parallel(jobs.collect()).await {
            match result {
                Ok(converted) => done.extend(converted),
                // An undecodable piece decides the answer (400, nothing received) over a failed conversion.
                Err(f) if failure.is_none() || matches!(f, Failure::Undecodable(_)) => failure = Some(f),
                Err(_) => {}
            }
        }
        match failure {
            None => Ok(done),
            // Counted with every item converted before the failure: those were received too.
            Some(Failure::Conversion { received, error }) => {
                let converted: u64 = done.iter().map(|c| c.conversion.received).sum();
                Err(Failure::Conversion { received: received + converted, error })
            }
            Some(undecodable) => Err(undecodable),
        }
    }

    /// Converts the parts of one request, in parallel if they are [`Signal::independent`].
    async fn convert_parts(
        self: &Arc<Self>,
        parts: Vec<Part<S::Request>>,
    ) -> Result<Vec<Converted<S::Pending>>, Failure> {
        let parts = if self.signal.independent(&parts) { parts } else { vec![parts::join::<S>(parts)] };
        let received: u64 = parts.iter().map(|p| S::count(&p.request)).sum();
        let converting = parts.into_iter().map(|part| {
            let ingest = self.clone();
            move || ingest.convert_part(part)
        });
        let (mut done, mut failure) = (Vec::new(), None);
        for result in in_parallel(converting.collect()).await {
            match result {
                Ok(converted) => done.push(converted),
                Err(f) => drop(failure.get_or_insert(f)),
            }
        }
        match failure {
            None => Ok(done),
            // Counted as a whole: every part's items were received.
            Some(Failure::Conversion { error, .. }) => Err(Failure::Conversion { received, error }),
            Some(undecodable) => Err(undecodable),
        }
    }

    /// Converts one decoded part and prepares its batch for the sink (CPU-bound: on the blocking
    /// pool), with a WAL frame of the part's protobuf bytes where the signal has a source codec.
    fn convert_part(&self, part: Part<S::Request>) -> Result<Converted<S::Pending>, Failure> {
        let received = S::count(&part.request);
        let conversion = self
            .signal
            .convert(&part.request, &self.config.limits, part.first_resource)
            .map_err(|e| Failure::Conversion { received, error: e.into() })?;
        let Part { source, .. } = part;
        self.prepare(conversion, source)
    }

    /// Converts a protobuf request, or a run of whole resources of one, from its bytes
    /// ([`Signal::convert_protobuf`]) and prepares its batch for the sink (CPU-bound: on the
    /// blocking pool, or on the receiving task for a small request).
    fn convert_source(&self, bytes: Bytes, first_resource: usize) -> Result<Converted<S::Pending>, Failure> {
        let conversion =
            self.signal.convert_protobuf(&bytes, &self.config.limits, first_resource).map_err(|f| match f {
                ProtobufFailure::Undecodable(e) => undecodable(e),
                ProtobufFailure::Conversion { received, error } => {
                    Failure::Conversion { received, error: error.into() }
                }
            })?;
        self.prepare(conversion, kept_source::<S>(bytes))
    }

    /// The batch of `conversion` ready for the sink: a WAL frame of `source` where the signal
    /// has a source codec, else of the batch.
    fn prepare(
        &self,
        mut conversion: Conversion<S::Pending>,
        source: Option<Bytes>,
    ) -> Result<Converted<S::Pending>, Failure> {
        let received = conversion.received;
        let failed = |error: CollectorError| Failure::Conversion { received, error };
        let prepared = match (conversion.batch.take(), S::SOURCE_CODEC.zip(source)) {
            (Some(batch), Some((codec, source))) => {
                let head = SourceHead::new(&self.config.limits, conversion.now);
                self.sink
                    .prepare_from_source(S::TABLE, batch, codec, head.as_bytes(), source)
                    .map_err(|e| failed(e.into()))?
            }
            (Some(batch), None) => self.sink.prepare(S::TABLE, batch).map_err(|e| failed(e.into()))?,
            (None, _) => None,
        };
        Ok(Converted { conversion, prepared })
    }

    fn fail_decoded(&self, transport: &'static str, received: u64, error: CollectorError) -> CollectorError {
        self.metrics.received(S::NAME, transport, received);
        self.metrics.rejected(S::NAME, error.reason(), received);
        self.metrics.request(S::NAME, transport, error.reason());
        tracing::error!(signal = S::NAME, transport, items = received, error = %error, "OTLP conversion failed");
        error
    }
}

/// A request as a receiver hands it over.
pub enum Incoming<R> {
    /// An OTLP/protobuf body, decoded on the blocking pool (in parts when large); a scrape is
    /// encoded where it is built and handed over as one.
    Protobuf(Bytes),
    /// A request decoded already (OTLP/JSON).
    Decoded(R),
}

/// What converting one part produced: its counts, and its batch ready for the sink.
struct Converted<P> {
    conversion: Conversion<P>,
    prepared: Option<Prepared>,
}

/// Why a request was not converted.
enum Failure {
    /// Not a valid protobuf message: nothing was received.
    Undecodable(CollectorError),
    /// Decoded, `received` items, but not converted (a bug, not bad input).
    Conversion { received: u64, error: CollectorError },
}

fn undecodable(e: impl std::fmt::Display) -> Failure {
    Failure::Undecodable(CollectorError::Undecodable(format!("protobuf: {e}")))
}

fn decode<S: Signal>(body: &[u8]) -> Result<S::Request, Failure> {
    S::Request::decode(body).map_err(undecodable)
}

/// The bytes a part was decoded from, if its signal writes them to the WAL (else freed now).
fn kept_source<S: Signal>(bytes: Bytes) -> Option<Bytes> {
    S::SOURCE_CODEC.map(|_| bytes)
}

fn join_failure(e: tokio::task::JoinError) -> Failure {
    Failure::Conversion { received: 0, error: CollectorError::Internal(e.to_string()) }
}

/// Runs `job` on the blocking pool.
async fn blocking<T: Send + 'static>(job: impl FnOnce() -> Result<T, Failure> + Send + 'static) -> Result<T, Failure> {
    tokio::task::spawn_blocking(job).await.unwrap_or_else(|e| Err(join_failure(e)))
}

/// Runs `jobs` on the blocking pool at once; their results in order.
async fn in_parallel<T, F>(jobs: Vec<F>) -> Vec<Result<T, Failure>>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, Failure> + Send + 'static,
{
    let running: Vec<_> = jobs.into_iter().map(tokio::task::spawn_blocking).collect();
    let mut results = Vec::with_capacity(running.len());
    for job in running {
        results.push(job.await.unwrap_or_else(|e| Err(join_failure(e))));
    }
    results
}
