//! What the collector writes into the WAL's source frames, and how replay reads them back
//! ([`Replay`], given to `osprey_storage::Storage::open_with`).
//!
//! A metrics request in OTLP/protobuf is ~4× smaller than the Arrow batch it converts to, and
//! a logs request ~0.6× (225 against 390 bytes a line for `logs_load`'s short lines), so their
//! WAL frames hold the request as received instead of the batch; building, writing and
//! fsyncing that frame was ~16 % of a metrics ingest's CPU (BENCHMARKS.md, issue 5). Replay
//! converts the request again, with the limits it was first converted with, which the frame
//! records, and for logs the receive time given to records without a time of their own:
//! conversion is a pure function of the request, the limits and that time, so replay gives
//! back exactly the rows that were acknowledged, the rejected items rejected again. Signals
//! whose conversion keeps state across requests (traces: the spans-per-trace limit) keep
//! writing their batches.
//!
//! Source bytes ([`SourceHead`], then the request): metrics `[limits header]
//! [ExportMetricsServiceRequest]`; logs `[limits header][i64 LE receive time, ns]
//! [ExportLogsServiceRequest]`. The limits header is `[u8 1][6 × u64 LE: every field of
//! LimitsConfig, in declaration order]`: all the limits, not only those a signal reads today, so
//! a limit the conversion starts to read is already in every frame (and a limit added to
//! `LimitsConfig` fails to compile here until the header carries it).

use arrow::array::RecordBatch;
use osprey_proto::ExportLogsServiceRequest;
use osprey_storage::{SourceDecoder, StorageError, Table};
use prost::Message as _;

use crate::config::LimitsConfig;
use crate::signal::ProtobufFailure;

/// Codec of a metrics request in OTLP/protobuf, after its [`LimitsHeader`].
pub const METRICS_PROTOBUF: u8 = 1;
/// Codec of a logs request in OTLP/protobuf, after its [`LimitsHeader`] and receive time.
pub const LOGS_PROTOBUF: u8 = 2;

/// What a source frame's bytes begin with: the [`LimitsHeader`], then, for a conversion that
/// gave items the receive time ([`crate::conversion::Conversion::now`]: logs), that time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceHead {
    bytes: [u8; SourceHead::MAX],
    len: usize,
}

impl SourceHead {
    const MAX: usize = LimitsHeader::LEN + 8;

    pub fn new(limits: &LimitsConfig, now: Option<i64>) -> Self {
        let mut bytes = [0u8; Self::MAX];
        bytes[..LimitsHeader::LEN].copy_from_slice(LimitsHeader::new(limits).as_bytes());
        let len = match now {
            Some(now) => {
                bytes[LimitsHeader::LEN..].copy_from_slice(&now.to_le_bytes());
                Self::MAX
            }
            None => LimitsHeader::LEN,
        };
        Self { bytes, len }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// The limits a request was converted with, as the source bytes begin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitsHeader([u8; LimitsHeader::LEN]);

impl LimitsHeader {
    const VERSION: u8 = 1;
    const FIELDS: usize = 6;
    const LEN: usize = 1 + Self::FIELDS * 8;

    pub fn new(limits: &LimitsConfig) -> Self {
        let LimitsConfig {
            max_attribute_value_bytes,
            max_attributes_per_item,
            max_value_depth,
            max_spans_per_trace,
            max_tracked_traces,
            max_log_body_bytes,
        } = *limits;
        let fields: [u64; Self::FIELDS] = [
            max_attribute_value_bytes as u64,
            max_attributes_per_item as u64,
            max_value_depth as u64,
            u64::from(max_spans_per_trace),
            max_tracked_traces as u64,
            max_log_body_bytes as u64,
        ];
        let mut bytes = [0u8; Self::LEN];
        bytes[0] = Self::VERSION;
        for (i, field) in fields.into_iter().enumerate() {
            bytes[1 + 8 * i..9 + 8 * i].copy_from_slice(&field.to_le_bytes());
        }
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The limits a source begins with, and the rest of it.
    fn read(source: &[u8]) -> Result<(LimitsConfig, &[u8]), StorageError> {
        let corrupt = |what: &str| StorageError::Corrupt(format!("source frame: {what}"));
        let (header, rest) = source.split_at_checked(Self::LEN).ok_or_else(|| corrupt("shorter than its header"))?;
        if header[0] != Self::VERSION {
            return Err(corrupt(&format!("limits header version {}", header[0])));
        }
        let field = |i: usize| -> Result<u64, StorageError> {
            let bytes: [u8; 8] = header[1 + 8 * i..9 + 8 * i].try_into().map_err(|_| corrupt("short limit"))?;
            Ok(u64::from_le_bytes(bytes))
        };
        let size = |i: usize| usize::try_from(field(i)?).map_err(|_| corrupt("limit beyond usize"));
        let limits = LimitsConfig {
            max_attribute_value_bytes: size(0)?,
            max_attributes_per_item: size(1)?,
            max_value_depth: size(2)?,
            max_spans_per_trace: u32::try_from(field(3)?).map_err(|_| corrupt("max_spans_per_trace beyond u32"))?,
            max_tracked_traces: size(4)?,
            max_log_body_bytes: size(5)?,
        };
        Ok((limits, rest))
    }
}

/// Reads the collector's source frames back into batches.
#[derive(Debug, Default, Clone, Copy)]
pub struct Replay;

impl SourceDecoder for Replay {
    fn knows(&self, table: Table, codec: u8) -> bool {
        matches!((table, codec), (Table::Metrics, METRICS_PROTOBUF) | (Table::Logs, LOGS_PROTOBUF))
    }

    fn decode(&self, table: Table, codec: u8, source: &[u8]) -> Result<RecordBatch, StorageError> {
        let name = table.name();
        let unknown = || StorageError::Corrupt(format!("no source codec {codec} for {name}"));
        if !self.knows(table, codec) {
            return Err(unknown());
        }
        let corrupt = |what: String| StorageError::Corrupt(format!("{name} source frame: {what}"));
        let (limits, rest) = LimitsHeader::read(source)?;
        let conversion = match (table, codec) {
            (Table::Metrics, METRICS_PROTOBUF) => {
                crate::metric_points::convert_protobuf(rest, &limits, 0).map_err(|f| match f {
                    ProtobufFailure::Undecodable(e) => corrupt(format!("protobuf: {e}")),
                    ProtobufFailure::Conversion { error, .. } => error,
                })?
            }
            (Table::Logs, LOGS_PROTOBUF) => {
                let (now, request) =
                    rest.split_first_chunk::<8>().ok_or_else(|| corrupt("no receive time".to_string()))?;
                let request =
                    ExportLogsServiceRequest::decode(request).map_err(|e| corrupt(format!("protobuf: {e}")))?;
                crate::logs::convert(&request, &limits, i64::from_le_bytes(*now))?
            }
            _ => return Err(unknown()),
        };
        let batch = conversion.batch.ok_or_else(|| corrupt("converts to no rows".to_string()))?;
        table.to_physical(&batch)
    }
}

#[cfg(test)]
mod tests;
