//! Version-5 frames: the bytes a batch was converted from, instead of the batch. An OTLP
//! metrics request is ~4× smaller as received (protobuf, ~110 B a point on the otel-demo
//! recordings) than as an Arrow IPC message (~450 B: every row repeats its metric's name,
//! description, unit and scope, and carries the histogram columns a gauge leaves null), so its
//! frame costs less to build, write and fsync. Replay turns the bytes back into the batch with
//! the [`SourceDecoder`] given to [`crate::Storage::open_with`]: storage depends on no crate of
//! ours, and the conversion belongs to the collector.
//!
//! Payload: `[u8 table][u8 5][u8 codec][source bytes]`. What the source bytes are is the
//! codec's business (the collector's: the limits it converted with, then the request).

use std::fmt;

use arrow::array::RecordBatch;

use super::{seal_with_tail, HEADER};
use crate::error::{Result, StorageError};
use crate::Table;

/// The schema version byte of source frames.
pub const SOURCE_VERSION: u8 = 5;

/// Turns the source bytes of a version-5 frame back into the batch that was appended with them.
pub trait SourceDecoder: Send + Sync + fmt::Debug {
    /// Whether this decoder reads `codec` for `table`. Replay refuses to start on a frame no
    /// decoder knows rather than skip rows that were acknowledged.
    fn knows(&self, table: Table, codec: u8) -> bool;

    /// The batch, in `table`'s physical schema, exactly as appended with `source`.
    fn decode(&self, table: Table, codec: u8, source: &[u8]) -> Result<RecordBatch>;
}

/// The start of a version-5 frame (header included) of the source bytes `head` then `tail`,
/// sealed over both: the frame is this, then `tail` as it is (not copied: a metrics piece is
/// ~512 KiB, and copying it was ~2.7 % of a hipstershop ingest, page faults included).
pub(super) fn encode(table: Table, codec: u8, head: &[u8], tail: &[u8]) -> Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(HEADER + 3 + head.len());
    buf.extend_from_slice(&[0u8; HEADER]);
    buf.extend_from_slice(&[table.code(), SOURCE_VERSION, codec]);
    buf.extend_from_slice(head);
    seal_with_tail(buf, tail)
}

/// The codec and source bytes of a version-5 payload, after its table and version bytes.
pub(super) fn split(rest: &[u8]) -> Result<(u8, &[u8])> {
    match rest {
        [codec, source @ ..] => Ok((*codec, source)),
        [] => Err(StorageError::Corrupt("version-5 WAL payload has no codec".into())),
    }
}

/// Decodes a version-5 payload's rest with `decoder`, checking the batch is in the table's
/// physical schema.
pub(super) fn decode(table: Table, rest: &[u8], decoder: Option<&dyn SourceDecoder>) -> Result<RecordBatch> {
    let (codec, source) = split(rest)?;
    let decoder =
        decoder.filter(|d| d.knows(table, codec)).ok_or_else(|| StorageError::Internal(unknown_codec(table, codec)))?;
    let batch = decoder.decode(table, codec, source)?;
    if batch.schema().fields() != table.physical_schema().fields() {
        return Err(StorageError::Corrupt(format!("source frame decoded off the {} schema", table.name())));
    }
    Ok(batch)
}

/// Why replay stops at a source frame nothing can decode.
pub(super) fn unknown_codec(table: Table, codec: u8) -> String {
    format!(
        "the WAL holds {} frames of source codec {codec}, which no source decoder given to storage reads; \
         refusing to start rather than drop acknowledged rows",
        table.name()
    )
}

#[cfg(test)]
mod tests;
