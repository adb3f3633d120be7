use super::query::parse;
use super::*;
use crate::attributes::AttrRef;
use crate::logs::{LogRecord, LogScope, LogsBuilder};

pub(crate) const T0: i64 = 1_700_000_000_000_000_000;

/// Realistic lines, each with a service, severity, ids and attributes.
pub(crate) fn sample_logs() -> RecordBatch {
    let lines: [(&str, &str, i32, &str); 8] = [
        ("payment", "ERROR", 17, "card_expired for ORD-00010 user=ann"),
        ("payment", "INFO", 9, "charged order_id=42 amount=12.50 EUR"),
        ("checkout", "WARN", 13, "retrying GET /api/cart/items from 10.0.12.1"),
        ("checkout", "INFO", 9, "getUserById took 12ms"),
        ("frontend", "ERROR", 17, "Zahlung fehlgeschlagen: Größe ungültig"),
        ("frontend", "INFO", 9, "request 6f1c2a9e-3b4d-4e5f-9a0b-1c2d3e4f5a6b done"),
        ("payment", "", 21, "Payment service crashed"),
        ("checkout", "DEBUG", 5, "cache miss for key cart:ann"),
    ];
    let mut builder = LogsBuilder::new();
    for (i, (service, severity, number, body)) in lines.iter().enumerate() {
        let scope = LogScope { service_name: service, ..Default::default() };
        let trace = [i as u8 + 1; 16];
        let span = [i as u8 + 1; 8];
        let record = LogRecord {
            time_unix_nano: T0 + i as i64,
            trace_id: &trace,
            span_id: &span,
            severity_number: *number,
            severity_text: Some(severity),
            body: AttrRef::Str(body),
            attributes: vec![("http.route", AttrRef::Str(if i % 2 == 0 { "/cart" } else { "/pay" }))],
            ..Default::default()
        };
        builder.append(&scope, &record).expect("append");
    }
    builder.finish().expect("finish")
}

/// The rows (by time: row `i` of [`sample_logs`] is at `T0 + i`) that the memtable matcher and
/// the index of the flushed file, built with and without positions, find for `q`, checked to be
/// the same.
fn both(q: &str) -> Vec<usize> {
    let batch = sample_logs();
    let query = parse(q).expect("parse");
    let from_memory = matcher::matching_rows(&LogRows::new(&batch).expect("rows"), &query, (i64::MIN, i64::MAX));
    for positions in [false, true] {
        assert_eq!(index_finds(&batch, &query, positions), from_memory, "positions: {positions}, query {q:?}");
    }
    from_memory
}

/// What the index of `batch`, written as the flush writes it, finds for `query`, by time - T0.
pub(crate) fn index_finds(batch: &RecordBatch, query: &super::query::LogQuery, positions: bool) -> Vec<usize> {
    let dir = tempfile::tempdir().expect("dir");
    let config = crate::config::FlushConfig { logs_index_positions: positions, ..Default::default() };
    let files =
        crate::flush::write_table(dir.path(), "default", crate::Table::Logs, std::slice::from_ref(batch), &config)
            .expect("write");
    let mut found = Vec::new();
    for file in &files {
        let index = open(&index_dir(dir.path(), &file.path)).expect("open");
        assert_eq!(index.positions, positions);
        let mut hits = Vec::new();
        search::search_file_for_tests(dir.path(), &index, file, query, &mut hits);
        found.extend(hits.iter().map(|h| usize::try_from(h.time_ns - T0).expect("time")));
    }
    found.sort_unstable();
    found
}

#[test]
fn terms_phrases_and_identifiers() {
    assert_eq!(both("card_expired"), [0]);
    assert_eq!(both("ORD-00010"), [0]);
    assert_eq!(both("ord-00010"), [0], "case-insensitive");
    assert_eq!(both("00010"), [0]);
    assert_eq!(both("order_id=42"), [1]);
    assert_eq!(both("\"order id 42\""), [1]);
    assert_eq!(both("\"42 order\""), Vec::<usize>::new(), "phrases keep order");
    assert_eq!(both("/api/cart/items"), [2]);
    assert_eq!(both("10.0.12.1"), [2]);
    assert_eq!(both("6f1c2a9e-3b4d-4e5f-9a0b-1c2d3e4f5a6b"), [5]);
    assert_eq!(both("user"), [0, 3], "camelCase part and user=ann");
    assert_eq!(both("getUserById"), [3]);
    assert_eq!(both("getuserbyid"), [3]);
    assert_eq!(both("größe"), [4]);
    assert_eq!(both("GRÖSSE"), Vec::<usize>::new(), "no folding of ß beyond lower case");
}

#[test]
fn fields_and_boolean_logic() {
    assert_eq!(both("service:payment"), [0, 1, 6]);
    assert_eq!(both("service:PAYMENT AND severity:error"), [0]);
    assert_eq!(both("severity:fatal"), [6], "from the severity number");
    assert_eq!(both("severity:info -service:checkout"), [1, 5]);
    assert_eq!(both("NOT service:checkout"), [0, 1, 4, 5, 6]);
    assert_eq!(both("card_expired OR crashed"), [0, 6]);
    assert_eq!(both("(card OR cache) AND service:checkout"), [7]);
    assert_eq!(both(&format!("trace_id:{}", "03".repeat(16))), [2]);
    assert_eq!(both(&format!("span_id:{}", "04".repeat(8))), [3]);
    assert_eq!(both("http.route:/cart"), [0, 2, 4, 6]);
    assert_eq!(both(""), [0, 1, 2, 3, 4, 5, 6, 7]);
}

#[test]
fn a_corrupt_index_is_rebuilt_from_parquet() {
    let dir = tempfile::tempdir().expect("dir");
    let files = crate::flush::write_table(
        dir.path(),
        "default",
        crate::Table::Logs,
        &[sample_logs()],
        &crate::config::FlushConfig::default(),
    )
    .expect("write");
    let file = &files[0];
    let index_path = index_dir(dir.path(), &file.path);
    assert!(index_path.join("meta.json").exists(), "built at flush");
    fs::write(index_path.join("meta.json"), b"garbage").expect("corrupt");
    let indexes = LogIndexes::new(false);
    sweep(dir.path(), std::slice::from_ref(file));
    repair(dir.path(), std::slice::from_ref(file), &indexes);
    let index = indexes.get(dir.path(), file).expect("rebuilt");
    assert_eq!(index.reader.searcher().num_docs(), 8);
    fs::create_dir_all(dir.path().join(DIR).join("01ORPHAN")).expect("orphan");
    sweep(dir.path(), std::slice::from_ref(file));
    repair(dir.path(), std::slice::from_ref(file), &indexes);
    assert!(!dir.path().join(DIR).join("01ORPHAN").exists(), "orphan index removed");
}

fn bodies(batch: &RecordBatch) -> Vec<String> {
    use arrow::array::{Array, AsArray};
    let col = batch.column_by_name(crate::logs::col::BODY).expect("body").as_string::<i32>();
    (0..col.len()).map(|i| col.value(i).to_string()).collect()
}

#[tokio::test]
async fn storage_searches_memtable_then_parquet_with_the_same_answers() {
    let dir = tempfile::tempdir().expect("dir");
    let storage = crate::Storage::open(crate::testdata::config(dir.path())).await.expect("open");
    storage.append(crate::Table::Logs, sample_logs()).await.expect("append");
    let query = parse("service:payment OR getUserById").expect("parse");
    let before = storage.search_logs(&query, i64::MIN, i64::MAX, usize::MAX).expect("search memtable");
    let times: Vec<i64> = before.hits.iter().map(|h| h.time_ns - T0).collect();
    assert_eq!(times, [6, 3, 1, 0], "newest first");
    let page = storage.read_log_rows(&before, &before.hits[1..3], None).expect("rows");
    assert_eq!(bodies(&page), ["getUserById took 12ms", "charged order_id=42 amount=12.50 EUR"]);

    storage.flush().await.expect("flush");
    assert_eq!(storage.memtable_rows(crate::Table::Logs), 0);
    let after = storage.search_logs(&query, i64::MIN, i64::MAX, usize::MAX).expect("search parquet");
    assert!(after.hits.iter().all(|h| matches!(h.source, search::Source::File(_))));
    let all = storage.read_log_rows(&after, &after.hits, None).expect("rows");
    assert_eq!(
        bodies(&all),
        [
            "Payment service crashed",
            "getUserById took 12ms",
            "charged order_id=42 amount=12.50 EUR",
            "card_expired for ORD-00010 user=ann"
        ]
    );
    let ranged = storage.search_logs(&query, T0 + 1, T0 + 3, usize::MAX).expect("range");
    assert_eq!(ranged.hits.len(), 2);

    // The index is derived: delete it, reopen, and search still answers (rebuilt).
    storage.close().await.expect("close");
    drop(storage);
    fs::remove_dir_all(dir.path().join(DIR)).expect("remove index");
    let storage = crate::Storage::open(crate::testdata::config(dir.path())).await.expect("reopen");
    let again = storage.search_logs(&query, i64::MIN, i64::MAX, usize::MAX).expect("search rebuilt");
    assert_eq!(again.hits.len(), 4);
}

#[tokio::test]
async fn log_counts_by_span_from_memtable_and_parquet() {
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let dir = tempfile::tempdir().expect("dir");
    let storage = crate::Storage::open(crate::testdata::config(dir.path())).await.expect("open");
    // sample_logs: log i has trace [i+1; 16] and span [i+1; 8]; add a second log to span 3 of trace 3.
    storage.append(crate::Table::Logs, sample_logs()).await.expect("append");
    let trace = hex(&[3u8; 16]);
    let span = hex(&[3u8; 8]);
    let want: std::collections::BTreeMap<String, u64> = [(span.clone(), 1)].into();
    assert_eq!(storage.log_counts_by_span(&trace, i64::MIN, i64::MAX).expect("memtable"), want);
    storage.flush().await.expect("flush");
    storage.append(crate::Table::Logs, sample_logs()).await.expect("append again");
    let want: std::collections::BTreeMap<String, u64> = [(span, 2)].into();
    assert_eq!(storage.log_counts_by_span(&trace, i64::MIN, i64::MAX).expect("file + memtable"), want);
    assert!(storage.log_counts_by_span(&hex(&[99u8; 16]), i64::MIN, i64::MAX).expect("none").is_empty());
}

/// `n` logs at `T0 + times(i)`, every body naming `word` when `i % 3 != 0`.
fn logs_at(n: usize, times: impl Fn(usize) -> i64, word: &str) -> RecordBatch {
    let mut builder = LogsBuilder::new();
    let scope = LogScope { service_name: "payment", ..Default::default() };
    for i in 0..n {
        let body = if i % 3 == 0 { format!("line {i}") } else { format!("line {i} {word}") };
        let record = LogRecord { time_unix_nano: T0 + times(i), body: AttrRef::Str(&body), ..Default::default() };
        builder.append(&scope, &record).expect("append");
    }
    builder.finish().expect("finish")
}

#[tokio::test]
async fn keeping_the_newest_equals_the_full_search_cut_across_files_ranges_and_ties() {
    let dir = tempfile::tempdir().expect("dir");
    let storage = crate::Storage::open(crate::testdata::config(dir.path())).await.expect("open");
    // Three files whose times overlap and repeat (ties across and within files), and a memtable.
    storage.append(crate::Table::Logs, logs_at(300, |i| (i / 7) as i64, "disk")).await.expect("a");
    storage.flush().await.expect("flush a");
    storage.append(crate::Table::Logs, logs_at(200, |i| 20 + (i / 5) as i64, "disk")).await.expect("b");
    storage.flush().await.expect("flush b");
    storage.append(crate::Table::Logs, logs_at(100, |i| 10 + (i % 4) as i64, "disk")).await.expect("c");
    storage.flush().await.expect("flush c");
    storage.append(crate::Table::Logs, logs_at(50, |i| 30 + (i / 10) as i64, "disk")).await.expect("memtable");
    for q in ["disk", "line", "NOT disk", "\"line 7\""] {
        let query = parse(q).expect("parse");
        for (start, end) in [(i64::MIN, i64::MAX), (T0 + 11, T0 + 31), (T0 + 40, T0 + 42), (T0 + 12, T0 + 12)] {
            let all = storage.search_logs(&query, start, end, usize::MAX).expect("all");
            assert_eq!(all.total, all.hits.len(), "{q}");
            for keep in [0, 1, 3, 7, 10, 49, 100, 333, 1000] {
                let some = storage.search_logs(&query, start, end, keep).expect("some");
                assert_eq!(some.total, all.total, "{q} {start}..{end} keep {keep}: total is exact");
                assert_eq!(some.hits, all.hits[..keep.min(all.total)], "{q} {start}..{end} keep {keep}");
            }
        }
    }
    let all = storage.search_logs(&parse("disk").expect("parse"), i64::MIN, i64::MAX, usize::MAX).expect("all");
    assert_eq!(all.total, 650 - (100 + 67 + 34 + 17), "every third line lacks the word");
}

#[tokio::test]
async fn a_page_of_hits_reads_only_the_columns_asked_for_from_memtable_and_many_files() {
    use arrow::array::AsArray;
    let dir = tempfile::tempdir().expect("dir");
    let storage = crate::Storage::open(crate::testdata::config(dir.path())).await.expect("open");
    // Five files (more than the reading threads) and a memtable, hits in each.
    for f in 0..5 {
        storage.append(crate::Table::Logs, logs_at(40, |i| f * 100 + i as i64, "disk")).await.expect("append");
        storage.flush().await.expect("flush");
    }
    storage.append(crate::Table::Logs, logs_at(40, |i| 1000 + i as i64, "disk")).await.expect("memtable");
    let found = storage.search_logs(&parse("disk").expect("parse"), i64::MIN, i64::MAX, usize::MAX).expect("search");
    assert_eq!(found.total, 6 * 26);
    let every = storage.read_log_rows(&found, &found.hits, None).expect("all columns");
    assert_eq!(every.schema(), crate::logs::schema());
    // Asked in another order: the schema's order comes back.
    let columns = [crate::logs::col::BODY, crate::logs::col::TIME, crate::logs::col::ATTRIBUTES];
    let some = storage.read_log_rows(&found, &found.hits, Some(&columns)).expect("some columns");
    let names: Vec<String> = some.schema().fields().iter().map(|f| f.name().to_string()).collect();
    assert_eq!(names, [crate::logs::col::TIME, crate::logs::col::BODY, crate::logs::col::ATTRIBUTES]);
    assert_eq!(bodies(&some), bodies(&every));
    let times = |b: &RecordBatch| {
        let time = b.column_by_name(crate::logs::col::TIME).expect("time");
        let time = arrow::compute::cast(time, &arrow::datatypes::DataType::Int64).expect("cast");
        time.as_primitive::<arrow::datatypes::Int64Type>().values().to_vec()
    };
    assert_eq!(times(&some), times(&every));
    assert_eq!(times(&some), found.hits.iter().map(|h| h.time_ns).collect::<Vec<_>>(), "in the hits' order");
    assert_eq!(
        some.column_by_name(crate::logs::col::ATTRIBUTES).map(|a| a.to_data()),
        every.column_by_name(crate::logs::col::ATTRIBUTES).map(|a| a.to_data())
    );
    // No hits: an empty batch of the columns asked for.
    let none = storage.read_log_rows(&found, &[], Some(&columns)).expect("none");
    assert_eq!((none.num_rows(), none.num_columns()), (0, 3));
    let err = storage.read_log_rows(&found, &found.hits, Some(&["bodyy"])).expect_err("unknown column");
    assert!(err.to_string().contains("bodyy"), "{err}");
}
