//! Phrases found without positions equal the memtable matcher's and the positional index's.

use arrow::array::RecordBatch;

use super::super::matcher::matching_rows;
use super::super::query::parse;
use super::super::rows::LogRows;
use super::super::tests::{index_finds, T0};
use crate::attributes::AttrRef;
use crate::logs::{LogRecord, LogScope, LogsBuilder};

/// Lines whose words are often all present but not in the phrase's order, across services
/// (files are sorted by service, so a file's documents are not in the batch's order).
fn tricky_lines() -> RecordBatch {
    let shapes = [
        "connection reset by peer",
        "peer reset connection by",
        "connection by peer reset",
        "connection reset by PEER while reading",
        "reset by peer",
        "connection-reset-by-peer",
        "ConnectionResetByPeer",
        "order ORD-00010 placed",
        "order ord 00010",
        "00010 ORD",
    ];
    let mut builder = LogsBuilder::new();
    for i in 0..600 {
        let service = ["payment", "cart", "frontend"][i % 3];
        let scope = LogScope { service_name: service, ..Default::default() };
        let body = format!("{} #{i}", shapes[(i * 7) % shapes.len()]);
        let record = LogRecord { time_unix_nano: T0 + i as i64, body: AttrRef::Str(&body), ..Default::default() };
        builder.append(&scope, &record).expect("append");
    }
    builder.finish().expect("finish")
}

#[test]
fn phrases_without_positions_equal_the_matcher_and_the_positional_index() {
    let batch = tricky_lines();
    let rows = LogRows::new(&batch).expect("rows");
    for q in [
        "\"connection reset by peer\"",
        "connection-reset-by-peer",
        "ORD-00010",
        "\"reset by\" AND service:cart",
        "NOT \"connection reset by peer\"",
        "\"connection reset\" OR \"by peer\" OR placed",
        "\"peer reset\" -\"reset connection\"",
        "ConnectionResetByPeer",
        "\"nothing like this\"",
    ] {
        let query = parse(q).expect("parse");
        let want = matching_rows(&rows, &query, (i64::MIN, i64::MAX));
        assert_eq!(index_finds(&batch, &query, false), want, "without positions: {q}");
        assert_eq!(index_finds(&batch, &query, true), want, "with positions: {q}");
    }
    let phrase = parse("\"connection reset by peer\"").expect("parse");
    assert_eq!(matching_rows(&rows, &phrase, (i64::MIN, i64::MAX)).len(), 240, "four shapes of ten hold it");
}

#[tokio::test]
async fn files_indexed_either_way_search_together_and_ranges_narrow_the_candidates() {
    let dir = tempfile::tempdir().expect("dir");
    let mut config = crate::testdata::config(dir.path());
    config.flush.logs_index_positions = true;
    let storage = crate::Storage::open(config.clone()).await.expect("open");
    storage.append(crate::Table::Logs, tricky_lines()).await.expect("append");
    storage.flush().await.expect("flush with positions");
    storage.close().await.expect("close");
    drop(storage);
    config.flush.logs_index_positions = false;
    let storage = crate::Storage::open(config).await.expect("reopen");
    storage.append(crate::Table::Logs, tricky_lines()).await.expect("append");
    storage.flush().await.expect("flush without positions");
    storage.append(crate::Table::Logs, tricky_lines()).await.expect("memtable");
    let query = parse("\"connection reset by peer\"").expect("parse");
    let all = storage.search_logs(&query, i64::MIN, i64::MAX, usize::MAX).expect("search");
    assert_eq!(all.total, 3 * 240, "two files (one of each kind) and the memtable");
    let ranged = storage.search_logs(&query, T0 + 100, T0 + 199, 5).expect("range");
    let batch = tricky_lines();
    let rows = LogRows::new(&batch).expect("rows");
    let in_range = matching_rows(&rows, &query, (T0 + 100, T0 + 199)).len();
    assert_eq!(ranged.total, 3 * in_range);
    assert_eq!(ranged.hits.len(), 5);
    assert!(ranged.hits.windows(2).all(|w| w[0].time_ns >= w[1].time_ns), "newest first");
}

#[test]
fn without_positions_a_missing_parquet_file_is_an_error_not_a_panic() {
    let batch = tricky_lines();
    let dir = tempfile::tempdir().expect("dir");
    let config = crate::config::FlushConfig { logs_index_positions: false, ..Default::default() };
    let files = crate::flush::write_table(dir.path(), "default", crate::Table::Logs, &[batch], &config).expect("write");
    let file = &files[0];
    std::fs::remove_file(dir.path().join(&file.path)).expect("remove parquet");
    let index = super::super::open(&super::super::index_dir(dir.path(), &file.path)).expect("open");
    let query = parse("\"connection reset\"").expect("parse");
    let mut hits = Vec::new();
    let err = super::super::search::search_file(dir.path(), &index, file, &query, (i64::MIN, i64::MAX), 10, &mut hits)
        .expect_err("no bodies to check");
    assert!(err.to_string().contains(&file.path), "{err}");
    let term = parse("connection").expect("parse");
    super::super::search::search_file(dir.path(), &index, file, &term, (i64::MIN, i64::MAX), 10, &mut hits)
        .expect("a term needs no bodies");
}
