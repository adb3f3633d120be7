//! The write-ahead log: segments `wal/<id:020>.wal` of checksummed frames
//! `[u32 LE payload len][u32 LE crc32c(payload)][payload]`, payload
//! `[u8 table][u8 schema version][Arrow IPC stream of one RecordBatch]` (version 4: without the
//! stream's schema message, see [`SCHEMA_VERSION`]), or `[u8 table][u8 5][u8 codec][source]`:
//! the bytes the batch was converted from, which replay converts again ([`source`]).
//!
//! Frames are encoded by the appending request (in parallel across requests)
//! and written by the single writer task ([`writer`]), which group-commits them
//! with one fsync and then inserts the batches into the active memtable.
//!
//! Replay on open (see [`replay`]) never fails because of damaged WAL *content*: a torn
//! tail of the last segment is truncated away; a corrupt frame elsewhere is
//! logged, counted, and the rest of its segment skipped. It does fail on a source frame of a
//! codec no [`SourceDecoder`] it was given knows, whose rows it would otherwise drop.

mod schemaless;
pub mod source;
pub mod writer;

use std::fs;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::IpcWriteOptions;
#[cfg(test)]
use arrow::ipc::writer::StreamWriter;
use bytes::Bytes;

use crate::error::{Result, StorageError};
use crate::metrics::{table_label, StorageMetrics};
use crate::Table;
pub use source::{SourceDecoder, SOURCE_VERSION};

pub const DIR: &str = "wal";
/// Bumped when a table's schema changes incompatibly; replay skips frames of unknown versions.
/// 4: batches in the physical schema (spans without `end_time`, with the dedicated columns),
/// as an IPC stream without its schema message: every frame of a table would repeat the same
/// one, and encoding it was a quarter of a metrics frame's encoding (BENCHMARKS.md, issue 5).
/// Replay puts the table's schema message back in front.
pub const SCHEMA_VERSION: u8 = 4;
/// Frames of version 3 hold the same batches as a whole IPC stream (schema included), those of
/// version 2 physical batches without the spans' dedicated columns, those of version 1 logical
/// ones (spans with `end_time`); replay converts them all.
const SCHEMA_VERSION_WITH_SCHEMA: u8 = 3;
const SCHEMA_VERSION_NO_DEDICATED: u8 = 2;
const SCHEMA_VERSION_LOGICAL: u8 = 1;
const HEADER: usize = 8;

pub fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.wal"))
}

/// Segment ids in `dir`, ascending.
pub fn list_segments(dir: &Path) -> Result<Vec<u64>> {
    let mut ids = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| StorageError::io(dir, e))? {
        let entry = entry.map_err(|e| StorageError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(id) = name.strip_suffix(".wal").and_then(|s| s.parse::<u64>().ok()) {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    Ok(ids)
}

/// Deletes the segments below `checkpoint` (their rows are in published Parquet).
pub fn delete_segments_below(dir: &Path, checkpoint: u64) -> Result<usize> {
    let mut deleted = 0;
    for id in list_segments(dir)?.into_iter().filter(|id| *id < checkpoint) {
        let path = segment_path(dir, id);
        fs::remove_file(&path).map_err(|e| StorageError::io(&path, e))?;
        tracing::debug!(segment = id, "wal segment deleted");
        deleted += 1;
    }
    if deleted > 0 {
        crate::manifest::sync_dir(dir)?;
    }
    Ok(deleted)
}

/// IPC options of WAL payloads. Uncompressed: the quick measurement in
/// `wal/tests.rs` (`ipc_compression_measurement`) found LZ4/ZSTD buffers cost
/// more CPU per append than the bytes they save on the fsync path.
fn ipc_options() -> IpcWriteOptions {
    IpcWriteOptions::default()
}

/// A batch ready for the writer: in `table`'s physical schema, and encoded as a complete frame.
/// Built by [`crate::Storage::prepare`] on the caller's thread, so encoding runs in parallel
/// across requests and across the parts of a large one.
#[derive(Debug)]
pub struct Encoded {
    pub(crate) table: Table,
    pub(crate) batch: RecordBatch,
    /// The frame, or its start when it ends with `tail`.
    pub(crate) bytes: Vec<u8>,
    /// The rest of a source frame: the request's bytes as received, written without a copy.
    pub(crate) tail: Option<Bytes>,
}

impl Encoded {
    /// Encodes `batch` (physical schema) of `table`.
    pub(crate) fn new(table: Table, batch: RecordBatch) -> Result<Self> {
        let bytes = encode_frame(table, &batch)?;
        Ok(Self { table, batch, bytes, tail: None })
    }

    /// `batch` (physical schema) of `table` with a frame of the bytes it was converted from,
    /// `head` then `source`, which `codec` of the [`SourceDecoder`] given to storage turns back
    /// into `batch`. `source` is written as it is, not copied into the frame.
    pub(crate) fn from_source(table: Table, batch: RecordBatch, codec: u8, head: &[u8], source: Bytes) -> Result<Self> {
        let bytes = source::encode(table, codec, head, &source)?;
        Ok(Self { table, batch, bytes, tail: Some(source) })
    }

    /// Bytes of the whole frame.
    pub(crate) fn len(&self) -> usize {
        self.bytes.len() + self.tail.as_ref().map_or(0, Bytes::len)
    }

    /// Writes the whole frame.
    pub(crate) fn write_to(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        out.write_all(&self.bytes)?;
        match &self.tail {
            Some(tail) => out.write_all(tail),
            None => Ok(()),
        }
    }

    /// The whole frame in one buffer.
    #[cfg(test)]
    pub(crate) fn frame(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len());
        out.extend_from_slice(&self.bytes);
        out.extend_from_slice(self.tail.as_deref().unwrap_or_default());
        out
    }

    /// Rows it holds.
    pub fn num_rows(&self) -> usize {
        self.batch.num_rows()
    }
}

/// Encodes one batch (logical or physical schema; the frame holds the physical one)
/// as a complete frame (header included), without the IPC schema message (version 4).
pub fn encode_frame(table: Table, batch: &RecordBatch) -> Result<Vec<u8>> {
    let batch = &table.to_physical(batch)?;
    let mut buf = Vec::with_capacity(frame_capacity(batch));
    buf.extend_from_slice(&[0u8; HEADER]);
    buf.push(table.code());
    buf.push(SCHEMA_VERSION);
    for part in schemaless::encode(table, batch)? {
        buf.extend_from_slice(part.as_slice());
    }
    buf.extend_from_slice(&END_OF_STREAM);
    seal(buf)
}

/// The IPC end-of-stream marker: continuation token, then a zero length.
const END_OF_STREAM: [u8; 8] = [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];

/// A version-3 frame (the whole IPC stream, schema included) with the given IPC options: the
/// frames written before version 4, and the IPC compression measurement.
#[cfg(test)]
pub(crate) fn encode_frame_with(table: Table, batch: &RecordBatch, options: IpcWriteOptions) -> Result<Vec<u8>> {
    let batch = &table.to_physical(batch)?;
    let mut buf = Vec::with_capacity(frame_capacity(batch));
    buf.extend_from_slice(&[0u8; HEADER]);
    buf.push(table.code());
    buf.push(SCHEMA_VERSION_WITH_SCHEMA);
    {
        let mut writer = StreamWriter::try_new_with_options(&mut buf, batch.schema_ref(), options)?;
        writer.write(batch)?;
        writer.finish()?;
    }
    seal(buf)
}

/// Fills in the header of a frame whose payload follows it.
fn seal(buf: Vec<u8>) -> Result<Vec<u8>> {
    seal_with_tail(buf, &[])
}

/// Seals a frame whose payload is `buf`'s (after the header) followed by `tail`, which is not in
/// `buf`: the caller writes it right after.
fn seal_with_tail(mut buf: Vec<u8>, tail: &[u8]) -> Result<Vec<u8>> {
    let len = buf.len() + tail.len();
    let payload_len = u32::try_from(len - HEADER)
        .map_err(|_| StorageError::InvalidInput(format!("batch of {len} bytes is too large for a WAL frame")))?;
    let crc = crc32c::crc32c_append(crc32c::crc32c(&buf[HEADER..]), tail);
    buf[0..4].copy_from_slice(&payload_len.to_le_bytes());
    buf[4..8].copy_from_slice(&crc.to_le_bytes());
    Ok(buf)
}

/// The bytes to reserve for a batch's frame, at once, since growing the frame copies it: every
/// buffer with its padding and metadata ([`ipc_body_bytes`]), plus 4 KiB for the message
/// headers (and the schema message of the version-3 frames tests still write).
pub(crate) fn frame_capacity(batch: &RecordBatch) -> usize {
    HEADER + 2 + 4096 + batch.columns().iter().map(|c| ipc_body_bytes(&c.to_data())).sum::<usize>()
}

/// An upper bound of the bytes an array takes in an IPC message: its buffers' lengths (not
/// their capacities), each padded to the IPC alignment (64) and with 32 bytes of metadata,
/// the validity bitmap's likewise, children included.
fn ipc_body_bytes(data: &arrow::array::ArrayData) -> usize {
    let padded = |n: usize| n.div_ceil(64) * 64 + 32;
    let buffers: usize = data.buffers().iter().map(|b| padded(b.len())).sum();
    let nulls = data.nulls().map_or(0, |n| padded(n.buffer().len()));
    buffers + nulls + data.child_data().iter().map(ipc_body_bytes).sum::<usize>()
}

/// Decodes a payload (after the CRC check) into its table and batch; a source frame (version 5)
/// with `decoder`.
pub fn decode_payload(payload: &[u8], decoder: Option<&dyn SourceDecoder>) -> Result<(Table, RecordBatch)> {
    let [code, version, ipc @ ..] = payload else {
        return Err(StorageError::Corrupt("WAL payload shorter than its header".into()));
    };
    let table = Table::from_code(*code).ok_or_else(|| StorageError::Corrupt(format!("unknown table code {code}")))?;
    if *version == SOURCE_VERSION {
        return Ok((table, source::decode(table, ipc, decoder)?));
    }
    let expected = match *version {
        SCHEMA_VERSION | SCHEMA_VERSION_WITH_SCHEMA => table.physical_schema(),
        SCHEMA_VERSION_NO_DEDICATED => without_dedicated(table, table.physical_schema()),
        SCHEMA_VERSION_LOGICAL => without_dedicated(table, table.schema()),
        _ => return Err(StorageError::Corrupt(format!("schema version {version}, expected {SCHEMA_VERSION}"))),
    };
    let schema_message: &[u8] = match *version {
        SCHEMA_VERSION => {
            schemaless::check_starts_with_a_batch(ipc)?;
            schemaless::schema_message(table)?
        }
        _ => &[],
    };
    let mut reader = StreamReader::try_new(Cursor::new(schema_message).chain(Cursor::new(ipc)), None)?;
    let batch = reader.next().ok_or_else(|| StorageError::Corrupt("WAL payload holds no batch".into()))??;
    if batch.schema().fields() != expected.fields() {
        return Err(StorageError::Corrupt(format!("WAL batch does not match the {} schema", table.name())));
    }
    Ok((table, table.to_physical(&batch)?))
}

fn without_dedicated(table: Table, schema: arrow::datatypes::SchemaRef) -> arrow::datatypes::SchemaRef {
    match table {
        Table::Spans => crate::spans::physical::without_dedicated(&schema),
        _ => schema,
    }
}

/// How scanning one segment ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SegmentEnd {
    /// Every frame was whole.
    Clean,
    /// An incomplete or checksum-failing frame at the very end, starting at `offset`.
    TornTail { offset: u64 },
    /// A bad frame at `offset` with more data after it.
    Corrupt { offset: u64, reason: String },
}

/// A frame read back.
#[derive(Debug)]
pub struct Frame {
    pub table: Table,
    pub batch: RecordBatch,
    /// The memory the batch holds: the payload length for an IPC frame (its columns share the
    /// payload's buffer, which `get_array_memory_size` would count once per column), the
    /// batch's own buffers for a source frame.
    pub bytes: usize,
}

/// The frames of one segment that could be read.
#[derive(Debug)]
pub struct SegmentScan {
    pub frames: Vec<Frame>,
    /// Frames whose checksum matched but whose payload did not decode (skipped one by one).
    pub undecodable: u64,
    pub end: SegmentEnd,
}

/// Splits a segment's bytes into frames, decoding source frames with `decoder`. Fails only on a
/// source frame of a codec `decoder` does not know: skipping it would drop acknowledged rows.
pub fn scan_segment(bytes: &[u8], decoder: Option<&dyn SourceDecoder>) -> Result<SegmentScan> {
    let mut payloads: Vec<(u64, &[u8])> = Vec::new();
    let mut pos = 0usize;
    let end = loop {
        let rest = &bytes[pos..];
        if rest.is_empty() {
            break SegmentEnd::Clean;
        }
        let offset = pos as u64;
        let Some((len_bytes, crc_bytes)) = rest.get(0..4).zip(rest.get(4..8)) else {
            break SegmentEnd::TornTail { offset };
        };
        let len = u32::from_le_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]) as usize;
        let crc = u32::from_le_bytes([crc_bytes[0], crc_bytes[1], crc_bytes[2], crc_bytes[3]]);
        if len == 0 {
            // Frames are never empty: zeros are a preallocated or torn tail when nothing else follows.
            if rest.iter().all(|b| *b == 0) {
                break SegmentEnd::TornTail { offset };
            }
            break SegmentEnd::Corrupt { offset, reason: "empty frame".into() };
        }
        let Some(payload) = rest.get(HEADER..HEADER + len) else {
            break SegmentEnd::TornTail { offset };
        };
        if crc32c::crc32c(payload) != crc {
            if HEADER + len == rest.len() {
                break SegmentEnd::TornTail { offset };
            }
            break SegmentEnd::Corrupt { offset, reason: "checksum mismatch".into() };
        }
        if let Some((table, codec)) = source_frame(payload) {
            if !decoder.is_some_and(|d| d.knows(table, codec)) {
                return Err(StorageError::Internal(source::unknown_codec(table, codec)));
            }
        }
        payloads.push((offset, payload));
        pos += HEADER + len;
    };
    let mut frames = Vec::with_capacity(payloads.len());
    let mut undecodable = 0;
    for (&(offset, payload), decoded) in payloads.iter().zip(decode_all(&payloads, decoder)?) {
        match decoded {
            Ok((table, batch)) => {
                let bytes = match source_frame(payload) {
                    Some(_) => batch.get_array_memory_size(),
                    None => payload.len(),
                };
                frames.push(Frame { table, batch, bytes })
            }
            Err(e) => {
                tracing::error!(offset, error = %e, "skipping undecodable WAL frame");
                undecodable += 1;
            }
        }
    }
    Ok(SegmentScan { frames, undecodable, end })
}

/// Decodes `payloads` in order, on as many threads as there are cores (replay converts source
/// frames again, ~1.3× the cost per row of reading IPC frames; BENCHMARKS.md, session 12). Fails
/// only if a decoding thread panicked (its frames' rows must not be dropped silently).
fn decode_all(
    payloads: &[(u64, &[u8])],
    decoder: Option<&dyn SourceDecoder>,
) -> Result<Vec<Result<(Table, RecordBatch)>>> {
    let decode = |part: &[(u64, &[u8])]| -> Vec<Result<(Table, RecordBatch)>> {
        part.iter().map(|(_, payload)| decode_payload(payload, decoder)).collect()
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(payloads.len());
    if threads <= 1 {
        return Ok(decode(payloads));
    }
    std::thread::scope(|scope| {
        let running: Vec<_> =
            payloads.chunks(payloads.len().div_ceil(threads)).map(|part| scope.spawn(move || decode(part))).collect();
        let mut decoded = Vec::with_capacity(payloads.len());
        for thread in running {
            let part = thread.join().map_err(|_| StorageError::Internal("a WAL replay thread panicked".into()))?;
            decoded.extend(part);
        }
        Ok(decoded)
    })
}

/// The table and codec of a version-5 payload.
fn source_frame(payload: &[u8]) -> Option<(Table, u8)> {
    match payload {
        [code, SOURCE_VERSION, codec, ..] => Table::from_code(*code).map(|table| (table, *codec)),
        _ => None,
    }
}

/// What replay found.
#[derive(Debug, Default)]
pub struct ReplayOutcome {
    /// The id the writer's first segment must have (above every existing one, and ≥ the checkpoint).
    pub next_segment: u64,
    pub rows: u64,
    pub frames: u64,
    pub corrupt_frames: u64,
}

/// Deletes segments below `checkpoint` and feeds every readable frame of the
/// others, in order, to `sink`, source frames decoded by `decoder`. Fails on I/O errors and on a
/// source frame no decoder knows, never on corrupt content.
pub fn replay(
    dir: &Path,
    checkpoint: u64,
    metrics: &StorageMetrics,
    decoder: Option<&dyn SourceDecoder>,
    mut sink: impl FnMut(Frame),
) -> Result<ReplayOutcome> {
    fs::create_dir_all(dir).map_err(|e| StorageError::io(dir, e))?;
    let deleted = delete_segments_below(dir, checkpoint)?;
    if deleted > 0 {
        tracing::info!(deleted, checkpoint, "deleted wal segments already in parquet");
    }
    let ids = list_segments(dir)?;
    let mut outcome = ReplayOutcome { next_segment: checkpoint, ..Default::default() };
    let last = ids.last().copied();
    for id in ids {
        outcome.next_segment = outcome.next_segment.max(id + 1);
        let path = segment_path(dir, id);
        let bytes = fs::read(&path).map_err(|e| StorageError::io(&path, e))?;
        if bytes.is_empty() {
            // Holds nothing (e.g. opened, then never written before a restart): no need to keep it.
            fs::remove_file(&path).map_err(|e| StorageError::io(&path, e))?;
            continue;
        }
        let scan = scan_segment(&bytes, decoder)?;
        let mut corrupt = scan.undecodable;
        match &scan.end {
            SegmentEnd::Clean => {}
            SegmentEnd::TornTail { offset } if Some(id) == last => {
                tracing::warn!(
                    segment = id,
                    offset,
                    dropped_bytes = bytes.len() as u64 - offset,
                    "truncating torn wal tail"
                );
                truncate(&path, *offset)?;
            }
            SegmentEnd::TornTail { offset } => {
                tracing::error!(segment = id, offset, "incomplete frame at the end of a closed wal segment; skipped");
                corrupt += 1;
            }
            SegmentEnd::Corrupt { offset, reason } => {
                tracing::error!(segment = id, offset, reason = %reason, "corrupt wal frame; skipping the rest of the segment");
                corrupt += 1;
            }
        }
        metrics.wal_corrupt_frames.inc_by(corrupt);
        outcome.corrupt_frames += corrupt;
        let frames = scan.frames.len() as u64;
        let mut rows = 0u64;
        for frame in scan.frames {
            let n = frame.batch.num_rows() as u64;
            metrics.wal_replayed_rows.get_or_create(&table_label(frame.table)).inc_by(n);
            rows += n;
            sink(frame);
        }
        tracing::info!(segment = id, frames, rows, corrupt, "wal segment replayed");
        outcome.frames += frames;
        outcome.rows += rows;
    }
    Ok(outcome)
}

fn truncate(path: &Path, len: u64) -> Result<()> {
    let file = fs::OpenOptions::new().write(true).open(path).map_err(|e| StorageError::io(path, e))?;
    file.set_len(len).map_err(|e| StorageError::io(path, e))?;
    file.sync_all().map_err(|e| StorageError::io(path, e))
}

#[cfg(test)]
mod tests;
