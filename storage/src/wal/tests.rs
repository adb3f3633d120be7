use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::ipc::CompressionType;
use parking_lot::RwLock;
use tokio::sync::Notify;

use super::writer::{Shared, WalWriter};
use super::*;
use crate::budget::Budget;
use crate::catalog::Catalog;
use crate::config::WalConfig;
use crate::testdata::{self, T0};

fn shared() -> Shared {
    Shared {
        catalog: Arc::new(RwLock::new(Catalog::default())),
        budget: Arc::new(Budget::new(usize::MAX)),
        metrics: Arc::new(StorageMetrics::default()),
        flush_wanted: Arc::new(Notify::new()),
        flush_threshold: usize::MAX,
    }
}

fn wal_config(window_ms: u64) -> WalConfig {
    WalConfig { fsync: true, group_commit_window: Duration::from_millis(window_ms), segment_bytes: 64 << 20 }
}

/// Writes `batches` as frames into segment `id`, returning each frame's length.
fn write_segment(dir: &Path, id: u64, batches: &[RecordBatch]) -> Vec<usize> {
    let mut bytes = Vec::new();
    let mut lens = Vec::new();
    for b in batches {
        let frame = encode_frame(Table::Spans, b).expect("encode");
        lens.push(frame.len());
        bytes.extend_from_slice(&frame);
    }
    fs::write(segment_path(dir, id), bytes).expect("write segment");
    lens
}

fn replay_all(dir: &Path, checkpoint: u64) -> (Vec<RecordBatch>, ReplayOutcome, StorageMetrics) {
    let metrics = StorageMetrics::default();
    let mut batches = Vec::new();
    let outcome = replay(dir, checkpoint, &metrics, None, |f| {
        assert_eq!(f.table, Table::Spans);
        assert!(f.bytes > 0);
        batches.push(f.batch);
    })
    .expect("replay never fails on content");
    (batches, outcome, metrics)
}

/// Physical batches, as `Storage::append` hands them to the WAL.
fn batches(n: usize) -> Vec<RecordBatch> {
    (0..n).map(|i| physical(&testdata::many(10 + i as u64, 3, T0 + i as i64 * 1_000_000_000))).collect()
}

/// One spans batch, encoded for the writer.
fn spans(batch: RecordBatch) -> Vec<Encoded> {
    vec![Encoded::new(Table::Spans, physical(&batch)).expect("encode")]
}

fn physical(batch: &RecordBatch) -> RecordBatch {
    Table::Spans.to_physical(batch).expect("physical")
}

#[test]
fn frame_round_trip_and_checksum() {
    let batch = testdata::many(25, 5, T0);
    let frame = encode_frame(Table::Spans, &batch).expect("encode");
    let len = u32::from_le_bytes(frame[0..4].try_into().expect("4 bytes")) as usize;
    assert_eq!(len, frame.len() - 8);
    assert_eq!(u32::from_le_bytes(frame[4..8].try_into().expect("4 bytes")), crc32c::crc32c(&frame[8..]));
    assert_eq!(frame[8], Table::Spans.code());
    assert_eq!(frame[9], SCHEMA_VERSION);
    let (table, decoded) = decode_payload(&frame[8..], None).expect("decode");
    assert_eq!(table, Table::Spans);
    // Frames hold the physical schema, whichever form was appended.
    assert_eq!(decoded, physical(&batch));
    assert_eq!(encode_frame(Table::Spans, &physical(&batch)).expect("encode"), frame);
}

#[test]
fn frames_of_older_versions_replay_as_current_physical_batches() {
    let batch = testdata::many(25, 5, T0);
    let frame_of = |version: u8, schema: arrow::datatypes::SchemaRef| {
        let columns = schema.fields().iter().map(|f| batch.column_by_name(f.name()).expect("column").clone());
        let old = RecordBatch::try_new(schema.clone(), columns.collect()).expect("old layout");
        let mut payload = vec![Table::Spans.code(), version];
        let mut writer = StreamWriter::try_new(&mut payload, &schema).expect("writer");
        writer.write(&old).expect("write");
        writer.finish().expect("finish");
        drop(writer);
        payload
    };
    let without = crate::spans::physical::without_dedicated;
    // Version 1: logical batches (with `end_time`), before the dedicated columns.
    let mut v1 = frame_of(1, without(&crate::spans::schema()));
    let (_, decoded) = decode_payload(&v1, None).expect("decode v1");
    assert_eq!(decoded, physical(&batch), "end_time dropped, dedicated columns computed");
    // Version 2: physical batches before the dedicated columns.
    let v2 = frame_of(2, without(&crate::spans::physical_schema()));
    let (_, decoded) = decode_payload(&v2, None).expect("decode v2");
    assert_eq!(decoded, physical(&batch));
    // Version 3: the whole stream, schema message included.
    let v3 = encode_frame_with(Table::Spans, &batch, ipc_options()).expect("v3");
    assert_eq!(v3[9], 3);
    let (_, decoded) = decode_payload(&v3[HEADER..], None).expect("decode v3");
    assert_eq!(decoded, physical(&batch));
    // A frame must hold its version's layout (a whole stream labelled 4, the current version,
    // is refused); unknown versions are refused.
    let v4 = encode_frame(Table::Spans, &batch).expect("v4");
    assert!(v4.len() < v3.len(), "version 4 leaves the schema message out: {} < {}", v4.len(), v3.len());
    for version in [3, SCHEMA_VERSION] {
        v1[1] = version;
        assert!(matches!(decode_payload(&v1, None), Err(StorageError::Corrupt(_))), "v1 payload as version {version}");
    }
    let mut v3_as_v4 = v3[HEADER..].to_vec();
    v3_as_v4[1] = SCHEMA_VERSION;
    assert!(matches!(decode_payload(&v3_as_v4, None), Err(StorageError::Corrupt(_))));
    v1[1] = SOURCE_VERSION + 1;
    assert!(matches!(decode_payload(&v1, None), Err(StorageError::Corrupt(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_then_replay_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shared = shared();
    let writer = WalWriter::start(dir.path(), 0, wal_config(0), shared.clone()).expect("start");
    let input = batches(4);
    for b in &input {
        writer.append(spans(b.clone())).await.expect("append");
    }
    // Acknowledged batches are in the active memtable, in order.
    assert_eq!(shared.catalog.read().active.get(Table::Spans).expect("spans").batches(), &input[..]);
    assert_eq!(shared.metrics.wal_frames.get(), 4);
    writer.stop();
    drop(writer);

    let (replayed, outcome, metrics) = replay_all(dir.path(), 0);
    assert_eq!(replayed, input);
    assert_eq!(outcome.frames, 4);
    assert_eq!(outcome.rows, 10 + 11 + 12 + 13);
    assert_eq!(outcome.next_segment, 1);
    assert_eq!(metrics.wal_replayed_rows.get_or_create(&crate::metrics::table_label(Table::Spans)).get(), 46);
}

#[test]
fn torn_tail_is_truncated_and_earlier_frames_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = batches(3);
    let lens = write_segment(dir.path(), 5, &input);
    let path = segment_path(dir.path(), 5);
    let full = fs::metadata(&path).expect("meta").len();
    let file = fs::OpenOptions::new().write(true).open(&path).expect("open");
    file.set_len(full - 7).expect("tear the tail");
    drop(file);

    let (replayed, outcome, metrics) = replay_all(dir.path(), 0);
    assert_eq!(replayed, input[..2].to_vec());
    assert_eq!(outcome.corrupt_frames, 0);
    assert_eq!(metrics.wal_corrupt_frames.get(), 0);
    assert_eq!(fs::metadata(&path).expect("meta").len(), (lens[0] + lens[1]) as u64, "tail cut at the frame boundary");
    assert_eq!(outcome.next_segment, 6);

    // Replaying again finds a clean segment.
    let (again, outcome, _) = replay_all(dir.path(), 0);
    assert_eq!(again.len(), 2);
    assert_eq!(outcome.corrupt_frames, 0);
}

#[test]
fn checksum_failure_of_the_last_frame_is_a_torn_tail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = batches(2);
    let lens = write_segment(dir.path(), 0, &input);
    let path = segment_path(dir.path(), 0);
    let mut bytes = fs::read(&path).expect("read");
    let last = bytes.len() - 3;
    bytes[last] ^= 0xff;
    fs::write(&path, &bytes).expect("write");

    let (replayed, outcome, _) = replay_all(dir.path(), 0);
    assert_eq!(replayed, input[..1].to_vec());
    assert_eq!(outcome.corrupt_frames, 0);
    assert_eq!(fs::metadata(&path).expect("meta").len(), lens[0] as u64);
}

#[test]
fn corrupt_frame_in_a_closed_segment_skips_the_rest_of_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = batches(3);
    let second = vec![physical(&testdata::many(7, 2, T0 + 100)), physical(&testdata::many(8, 2, T0 + 200))];
    let lens = write_segment(dir.path(), 1, &first);
    write_segment(dir.path(), 2, &second);
    let path = segment_path(dir.path(), 1);
    let mut bytes = fs::read(&path).expect("read");
    let in_second_frame = lens[0] + 8 + 40;
    bytes[in_second_frame] ^= 0x5a;
    fs::write(&path, &bytes).expect("write");

    let (replayed, outcome, metrics) = replay_all(dir.path(), 0);
    let mut expected = vec![first[0].clone()];
    expected.extend(second.iter().cloned());
    assert_eq!(replayed, expected);
    assert_eq!(outcome.corrupt_frames, 1);
    assert_eq!(metrics.wal_corrupt_frames.get(), 1);
    assert_eq!(fs::read(&path).expect("read").len(), bytes.len(), "a closed segment is not truncated");
    assert_eq!(outcome.next_segment, 3);
}

#[test]
fn zero_filled_tail_is_torn_not_corrupt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = batches(1);
    let lens = write_segment(dir.path(), 0, &input);
    let path = segment_path(dir.path(), 0);
    let mut bytes = fs::read(&path).expect("read");
    bytes.extend_from_slice(&[0u8; 4096]);
    fs::write(&path, &bytes).expect("write");
    let (replayed, outcome, _) = replay_all(dir.path(), 0);
    assert_eq!(replayed, input);
    assert_eq!(outcome.corrupt_frames, 0);
    assert_eq!(fs::metadata(&path).expect("meta").len(), lens[0] as u64);
}

#[test]
fn segments_below_the_checkpoint_are_deleted_not_replayed() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_segment(dir.path(), 3, &batches(2));
    write_segment(dir.path(), 4, &batches(1));
    let (replayed, outcome, _) = replay_all(dir.path(), 4);
    assert_eq!(replayed.len(), 1);
    assert!(!segment_path(dir.path(), 3).exists());
    assert!(segment_path(dir.path(), 4).exists());
    assert_eq!(outcome.next_segment, 5);
    // Empty segments are dropped, but the next id still goes past them.
    fs::write(segment_path(dir.path(), 7), b"").expect("empty segment");
    let (replayed, outcome, _) = replay_all(dir.path(), 4);
    assert_eq!(replayed.len(), 1);
    assert!(!segment_path(dir.path(), 7).exists());
    assert_eq!(outcome.next_segment, 8);
    // With no segments left, the next one starts at the checkpoint, never below it.
    let (_, outcome, _) = replay_all(dir.path(), 9);
    assert_eq!(outcome.next_segment, 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_share_fsyncs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shared = shared();
    let writer = Arc::new(WalWriter::start(dir.path(), 0, wal_config(5), shared.clone()).expect("start"));
    let tasks: Vec<_> = (0..100u64)
        .map(|i| {
            let writer = writer.clone();
            tokio::spawn(async move { writer.append(spans(testdata::many(3, 1, T0 + i as i64))).await })
        })
        .collect();
    for t in tasks {
        t.await.expect("join").expect("append");
    }
    let fsyncs = shared.metrics.wal_fsyncs.get();
    assert_eq!(shared.metrics.wal_frames.get(), 100);
    assert!((1..=25).contains(&fsyncs), "100 appends took {fsyncs} fsyncs");
    assert_eq!(shared.catalog.read().active.rows(Table::Spans), 300);
    writer.stop();

    let (replayed, _, _) = replay_all(dir.path(), 0);
    assert_eq!(replayed.iter().map(|b| b.num_rows()).sum::<usize>(), 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_rotate_past_their_size_and_freeze_rotates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shared = shared();
    let config = WalConfig { segment_bytes: 1, ..wal_config(0) };
    let writer = WalWriter::start(dir.path(), 10, config, shared.clone()).expect("start");
    writer.append(spans(testdata::many(3, 1, T0))).await.expect("append");
    writer.append(spans(testdata::many(3, 1, T0))).await.expect("append");
    writer.drain().await.expect("drain"); // rotation happens after the reply
    assert_eq!(list_segments(dir.path()).expect("list"), vec![10, 11, 12]);

    let frozen = writer.freeze().await.expect("freeze").expect("rows were active");
    assert_eq!(frozen.checkpoint, 12, "the empty current segment holds no frozen rows");
    assert_eq!(frozen.tables.rows(Table::Spans), 6);
    assert!(shared.catalog.read().active.is_empty());
    assert!(writer.freeze().await.expect("freeze").is_none(), "nothing to freeze");
    writer.stop();
}

/// The quick measurement behind the choice of uncompressed IPC payloads (see
/// `ipc_options`). Run with `--nocapture` to see the numbers; it asserts only
/// that every variant round-trips.
#[test]
fn ipc_compression_measurement() {
    let batch = testdata::many(2000, 200, T0);
    let variants = [("none", None), ("lz4", Some(CompressionType::LZ4_FRAME)), ("zstd", Some(CompressionType::ZSTD))];
    for (name, compression) in variants {
        let options = IpcWriteOptions::default().try_with_compression(compression).expect("options");
        let start = Instant::now();
        let mut frame = Vec::new();
        for _ in 0..10 {
            frame = encode_frame_with(Table::Spans, &batch, options.clone()).expect("encode");
        }
        let encode = start.elapsed() / 10;
        let start = Instant::now();
        let (_, decoded) = decode_payload(&frame[8..], None).expect("decode");
        let decode = start.elapsed();
        assert_eq!(decoded, physical(&batch));
        let dir = tempfile::tempdir().expect("tempdir");
        let mut file = fs::File::create(dir.path().join("f")).expect("create");
        let start = Instant::now();
        std::io::Write::write_all(&mut file, &frame).expect("write");
        file.sync_data().expect("fsync");
        let write_fsync = start.elapsed();
        println!(
            "ipc {name}: {} bytes, encode {encode:?}, decode {decode:?}, write+fsync {write_fsync:?}",
            frame.len()
        );
    }
}

/// A frame is written into one allocation: its reserved capacity covers the encoded bytes,
/// for a right-sized batch, a builder's batch with spare capacity, and a batch of one row.
#[test]
fn a_frame_is_encoded_without_growing_its_buffer() {
    let batch = physical(&testdata::many(500, 40, T0));
    let shrunk = crate::memtable::shrink_to_fit(batch.clone()).expect("shrink");
    let mut cases = vec![(Table::Spans, batch.clone()), (Table::Spans, shrunk), (Table::Spans, batch.slice(0, 1))];
    // One metrics point: its wide nested schema is most of the frame.
    let mut points = crate::metric_points::PointsBuilder::new();
    let scope = crate::metric_points::PointScope::new("api", &[], None, None);
    let info = crate::metric_points::MetricInfo { name: "m", description: "", unit: "" };
    let point = crate::metric_points::PointRecord {
        time_unix_nano: T0,
        start_time_unix_nano: 0,
        attributes: vec![],
        flags: 0,
        data: crate::metric_points::PointData::Gauge(crate::metric_points::Number::Double(1.0)),
        exemplars: vec![],
    };
    points.append(&scope, &info, &point).expect("append");
    cases.push((Table::Metrics, crate::memtable::shrink_to_fit(points.finish().expect("finish")).expect("shrink")));
    for (table, batch) in cases {
        let frame = encode_frame(table, &batch).expect("frame");
        assert!(frame_capacity(&batch) >= frame.len(), "{} reserved for {}", frame_capacity(&batch), frame.len());
        assert_eq!(frame.capacity(), frame_capacity(&batch), "the frame grew");
    }
}
