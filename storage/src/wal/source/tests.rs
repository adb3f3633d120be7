use std::path::Path;
use std::sync::Arc;

use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use bytes::Bytes;

use super::*;
use crate::metrics::StorageMetrics;
use crate::testdata::{self, ids, T0};
use crate::wal::{encode_frame, replay, segment_path, Encoded, Frame, ReplayOutcome};
use crate::Storage;

/// Codec 7 of a test decoder: the source is the batch as an IPC stream; "garbage" never decodes.
const IPC: u8 = 7;

#[derive(Debug)]
struct IpcSource;

impl SourceDecoder for IpcSource {
    fn knows(&self, table: Table, codec: u8) -> bool {
        table == Table::Spans && codec == IPC
    }

    fn decode(&self, _table: Table, _codec: u8, source: &[u8]) -> Result<RecordBatch> {
        let mut reader = StreamReader::try_new(source, None)?;
        let batch = reader.next().ok_or_else(|| StorageError::Corrupt("no batch".into()))??;
        Ok(batch)
    }
}

fn ipc_source(batch: &RecordBatch) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut writer = StreamWriter::try_new(&mut bytes, batch.schema_ref()).expect("writer");
    writer.write(batch).expect("write");
    writer.finish().expect("finish");
    drop(writer);
    bytes
}

fn physical(batch: &RecordBatch) -> RecordBatch {
    Table::Spans.to_physical(batch).expect("physical")
}

/// A source frame of `batch`, its IPC stream given in two pieces.
fn source_frame(batch: &RecordBatch) -> Vec<u8> {
    let source = ipc_source(batch);
    let (a, b) = source.split_at(source.len() / 2);
    Encoded::from_source(Table::Spans, batch.clone(), IPC, a, Bytes::copy_from_slice(b)).expect("frame").frame()
}

fn replay_with(dir: &Path, decoder: Option<&dyn SourceDecoder>) -> Result<(Vec<Frame>, ReplayOutcome)> {
    let mut frames = Vec::new();
    let outcome = replay(dir, 0, &StorageMetrics::default(), decoder, |f| frames.push(f))?;
    Ok((frames, outcome))
}

#[test]
fn source_frames_replay_through_their_decoder_between_ipc_frames() {
    let dir = tempfile::tempdir().expect("tempdir");
    let batches: Vec<RecordBatch> = (0..3).map(|i| physical(&testdata::many(5 + i, 2, T0))).collect();
    let mut segment = encode_frame(Table::Spans, &batches[0]).expect("ipc frame");
    let first_payload = segment.len() - HEADER;
    segment.extend(source_frame(&batches[1]));
    segment.extend(encode_frame(Table::Spans, &batches[2]).expect("ipc frame"));
    std::fs::write(segment_path(dir.path(), 0), &segment).expect("write");

    let (frames, outcome) = replay_with(dir.path(), Some(&IpcSource)).expect("replay");
    assert_eq!(outcome.frames, 3);
    assert_eq!(outcome.corrupt_frames, 0);
    let replayed: Vec<&RecordBatch> = frames.iter().map(|f| &f.batch).collect();
    assert_eq!(replayed, batches.iter().collect::<Vec<_>>());
    // Memory: an IPC frame's columns share its payload; a source frame's batch owns its buffers.
    assert_eq!(frames[0].bytes, first_payload);
    assert_eq!(frames[1].bytes, frames[1].batch.get_array_memory_size());
}

#[test]
fn replay_refuses_a_source_frame_no_decoder_knows_and_keeps_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let batch = physical(&testdata::many(4, 2, T0));
    let segment = source_frame(&batch);
    std::fs::write(segment_path(dir.path(), 0), &segment).expect("write");

    #[derive(Debug)]
    struct OtherCodec;
    impl SourceDecoder for OtherCodec {
        fn knows(&self, _table: Table, codec: u8) -> bool {
            codec == IPC + 1
        }
        fn decode(&self, _: Table, _: u8, _: &[u8]) -> Result<RecordBatch> {
            unreachable!("never asked for a codec it does not know")
        }
    }
    for decoder in [None, Some(&OtherCodec as &dyn SourceDecoder)] {
        let error = replay_with(dir.path(), decoder).expect_err("no decoder for codec 7");
        assert!(error.to_string().contains("source codec 7"), "{error}");
    }
    assert_eq!(std::fs::read(segment_path(dir.path(), 0)).expect("read"), segment, "the segment is left as it was");
    let (frames, _) = replay_with(dir.path(), Some(&IpcSource)).expect("replay");
    assert_eq!(frames[0].batch, batch);
}

#[test]
fn a_source_frame_that_does_not_decode_is_skipped_and_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let batch = physical(&testdata::many(4, 2, T0));
    let garbage = Encoded::from_source(Table::Spans, batch.clone(), IPC, b"not ", Bytes::from_static(b"ipc"))
        .expect("frame")
        .frame();
    let logical = ipc_source(&testdata::many(4, 2, T0));
    let off_schema =
        Encoded::from_source(Table::Spans, batch.clone(), IPC, &[], Bytes::from(logical)).expect("frame").frame();
    let mut segment = garbage;
    segment.extend(off_schema);
    segment.extend(source_frame(&batch));
    std::fs::write(segment_path(dir.path(), 0), &segment).expect("write");

    let (frames, outcome) = replay_with(dir.path(), Some(&IpcSource)).expect("replay");
    assert_eq!((outcome.frames, outcome.corrupt_frames), (1, 2));
    assert_eq!(frames[0].batch, batch);
    assert!(matches!(split(&[]), Err(StorageError::Corrupt(_))));
}

/// Through the engine: frames prepared from sources are acknowledged, survive a crash, and
/// come back only when storage is opened with their decoder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_appended_from_sources_survive_a_crash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = [testdata::many(30, 7, T0), testdata::many(5, 5, T0 + 1)];
    let decoder: Arc<dyn SourceDecoder> = Arc::new(IpcSource);
    let storage = Storage::open_with(testdata::config(dir.path()), Some(decoder.clone())).await.expect("open");
    let frames = input
        .iter()
        .filter_map(|b| {
            let source = ipc_source(&physical(b));
            Storage::prepare_from_source(Table::Spans, b.clone(), IPC, &[], Bytes::from(source)).expect("prepare")
        })
        .collect();
    storage.append_frames(frames).await.expect("append");
    assert_eq!(storage.memtable_rows(Table::Spans), 35);
    drop(storage);

    let error = Storage::open(testdata::config(dir.path())).await.expect_err("source frames need their decoder");
    assert!(error.to_string().contains("source codec 7"), "{error}");
    let storage = Storage::open_with(testdata::config(dir.path()), Some(decoder)).await.expect("reopen");
    assert_eq!(storage.memtable_rows(Table::Spans), 35);
    let ctx = datafusion::prelude::SessionContext::new();
    ctx.register_table("spans", storage.table_provider(Table::Spans)).expect("register");
    let rows = ctx.sql("SELECT * FROM spans").await.expect("plan").collect().await.expect("run");
    assert_eq!(ids(&rows), ids(&input));
}

/// Replay decodes a segment's frames on several threads: they still come back in order, a
/// frame that does not decode is still skipped alone.
#[test]
fn many_frames_replay_in_order_whatever_thread_decodes_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let batches: Vec<RecordBatch> =
        (0..25).map(|i| physical(&testdata::many(1 + i % 7, 1 + i % 3, T0 + i as i64))).collect();
    let mut segment = Vec::new();
    for (i, batch) in batches.iter().enumerate() {
        match i {
            13 => segment.extend(
                Encoded::from_source(Table::Spans, batch.clone(), IPC, b"garbage", Bytes::new())
                    .expect("frame")
                    .frame(),
            ),
            i if i % 2 == 0 => segment.extend(source_frame(batch)),
            _ => segment.extend(encode_frame(Table::Spans, batch).expect("ipc frame")),
        }
    }
    std::fs::write(segment_path(dir.path(), 0), &segment).expect("write");

    let (frames, outcome) = replay_with(dir.path(), Some(&IpcSource)).expect("replay");
    assert_eq!((outcome.frames, outcome.corrupt_frames), (24, 1));
    let expected: Vec<&RecordBatch> = batches.iter().enumerate().filter(|(i, _)| *i != 13).map(|(_, b)| b).collect();
    assert_eq!(frames.iter().map(|f| &f.batch).collect::<Vec<_>>(), expected);
}
