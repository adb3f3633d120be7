//! Version-4 frames: an IPC stream without its schema message. Each thread keeps one
//! `StreamEncoder` per table whose schema message was already emitted (and discarded), so an
//! encode yields only the record batch message; replay puts the table's schema message, built
//! once per table, back in front.

use std::cell::RefCell;
use std::sync::OnceLock;

use arrow::array::RecordBatch;
use arrow::buffer::Buffer;
use arrow::ipc::writer::{StreamEncoder, StreamWriter};

use super::ipc_options;
use crate::error::{Result, StorageError};
use crate::Table;

thread_local! {
    /// Per table code, an encoder past its schema message.
    static ENCODERS: RefCell<Vec<(u8, StreamEncoder)>> = const { RefCell::new(Vec::new()) };
}

/// The IPC messages of `batch` (in `table`'s physical schema), schema message left out.
pub(super) fn encode(table: Table, batch: &RecordBatch) -> Result<Vec<Buffer>> {
    ENCODERS.with(|cell| {
        let mut encoders = cell.borrow_mut();
        let index = match encoders.iter().position(|(code, _)| *code == table.code()) {
            Some(index) => index,
            None => {
                let schema = table.physical_schema();
                let mut encoder = StreamEncoder::try_new_with_options(&schema, ipc_options())?;
                // The first encode emits the schema message; it is not kept.
                encoder.encode(&RecordBatch::new_empty(schema))?;
                encoders.push((table.code(), encoder));
                encoders.len() - 1
            }
        };
        let (_, encoder) = encoders.get_mut(index).ok_or_else(|| StorageError::Internal("encoder lost".into()))?;
        let encoded = encoder.encode(batch);
        if encoded.is_err() {
            // Whatever state a failed encode left, the next one starts afresh.
            encoders.swap_remove(index);
        }
        Ok(encoded?)
    })
}

/// The IPC schema message of `table`'s physical schema, as a stream writer begins with it.
pub(super) fn schema_message(table: Table) -> Result<&'static [u8]> {
    static MESSAGES: [OnceLock<Vec<u8>>; Table::ALL.len()] = [const { OnceLock::new() }; Table::ALL.len()];
    let slot = Table::ALL
        .iter()
        .position(|t| *t == table)
        .and_then(|i| MESSAGES.get(i))
        .ok_or_else(|| StorageError::Internal(format!("no schema slot for {}", table.name())))?;
    if let Some(message) = slot.get() {
        return Ok(message);
    }
    let mut bytes = Vec::new();
    drop(StreamWriter::try_new_with_options(&mut bytes, &table.physical_schema(), ipc_options())?);
    Ok(slot.get_or_init(|| bytes))
}

/// A version-4 payload must begin with a record batch message (a schema message there would
/// make the reader take the batch in another layout than the table's).
pub(super) fn check_starts_with_a_batch(ipc: &[u8]) -> Result<()> {
    let corrupt = |what: &str| StorageError::Corrupt(format!("version-4 WAL payload {what}"));
    let (Some(continuation), Some(length)) = (ipc.get(0..4), ipc.get(4..8)) else {
        return Err(corrupt("shorter than a message header"));
    };
    if continuation != [0xff; 4] {
        return Err(corrupt("does not start with an IPC message"));
    }
    let length = i32::from_le_bytes([length[0], length[1], length[2], length[3]]);
    let metadata = usize::try_from(length)
        .ok()
        .and_then(|n| ipc.get(8..8 + n))
        .ok_or_else(|| corrupt("has a truncated message header"))?;
    let message = arrow::ipc::root_as_message(metadata).map_err(|e| corrupt(&format!("has a bad message: {e}")))?;
    match message.header_type() {
        arrow::ipc::MessageHeader::RecordBatch => Ok(()),
        other => Err(corrupt(&format!("starts with a {other:?} message, not a record batch"))),
    }
}
