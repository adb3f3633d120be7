use std::time::Duration;

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;

use super::*;
use crate::test_support::{batch, span, Span, TRACE};
use crate::QueryConfig;

fn spans() -> Vec<Span> {
    vec![
        span("00000000000000a1", "", "frontend", 0, 100),
        span("00000000000000a2", "00000000000000a1", "checkout", 10, 90),
        span("00000000000000a3", "00000000000000a2", "checkout", 20, 60),
    ]
}

fn engine_with(config: SqlConfig) -> crate::QueryService {
    let table =
        datafusion::datasource::MemTable::try_new(osprey_storage::spans::schema(), vec![vec![batch(TRACE, &spans())]])
            .expect("memtable");
    crate::QueryService::with_config(Arc::new(table), QueryConfig { sql: config, ..QueryConfig::default() })
        .expect("service")
}

fn engine() -> crate::QueryService {
    engine_with(SqlConfig::default())
}

async fn run(service: &crate::QueryService, sql: &str) -> Result<SqlResult> {
    service.sql().run(sql.to_string()).await
}

#[tokio::test]
async fn counts_per_service() {
    let service = engine();
    let result = run(&service, "SELECT service_name, count(*) AS n FROM spans GROUP BY service_name ORDER BY n DESC")
        .await
        .expect("ok");
    assert_eq!(result.row_count, 2);
    let batch = &result.batches[0];
    assert_eq!(batch.column(0).as_string::<i32>().value(0), "checkout");
    assert_eq!(batch.column(1).as_primitive::<Int64Type>().value(0), 2);
}

#[tokio::test]
async fn show_describe_and_explain_work() {
    let service = engine();
    let tables = run(&service, "SHOW TABLES").await.expect("show tables");
    assert!(tables.row_count >= 1);
    let describe = run(&service, "DESCRIBE spans").await.expect("describe");
    assert_eq!(describe.row_count, osprey_storage::spans::schema().fields().len());
    let columns = run(&service, "SHOW COLUMNS FROM spans").await.expect("show columns");
    assert!(columns.row_count > 10);
    let explain =
        run(&service, &format!("EXPLAIN SELECT * FROM spans WHERE trace_id = '{TRACE}'")).await.expect("explain");
    assert!(explain.row_count >= 1);
    run(&service, "EXPLAIN ANALYZE SELECT count(*) FROM spans").await.expect("explain analyze");
    run(&service, "SHOW datafusion.execution.batch_size").await.expect("show variable");
}

#[tokio::test]
async fn hex_helpers_and_attribute_access() {
    let service = engine();
    let r =
        run(&service, "SELECT encode(decode(span_id, 'hex'), 'hex') = span_id AS same FROM spans").await.expect("hex");
    assert_eq!(r.row_count, 3);
    let r = run(&service, "SELECT attributes['http.route'] FROM spans").await.expect("map access");
    assert_eq!(r.row_count, 3);
}

#[tokio::test]
async fn user_errors_are_bad_requests() {
    let service = engine();
    for sql in [
        "SELECT * FROM nope",
        "SELECT nope FROM spans",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_parquet('/etc/passwd')",
        "SELECT * FROM '/etc/passwd'",
        "SELECT * FROM 'file:///etc/passwd'",
        "SELECT 1 +",
        "SELECT CAST('abc' AS INT)",
    ] {
        let e = run(&service, sql).await.expect_err(sql);
        assert_eq!(e.status().as_u16(), 400, "{sql}: {e}");
    }
    let e = run(&service, "SELECT * FROM nope").await.expect_err("unknown");
    assert!(e.to_string().contains("nope"), "{e}");
}

#[tokio::test]
async fn the_second_wall_refuses_what_the_planner_would_write() {
    let ctx = SessionContext::new();
    for sql in ["CREATE TABLE t AS SELECT 1", "INSERT INTO t VALUES (1)", "SET datafusion.execution.batch_size = 1"] {
        let plan = ctx.state().create_logical_plan(sql).await;
        if let Ok(plan) = plan {
            assert!(read_only().verify_plan(&plan).is_err(), "{sql}");
        }
    }
}

#[tokio::test]
async fn the_row_cap_is_a_422_naming_the_cap() {
    let service = engine_with(SqlConfig { max_rows: 2, ..SqlConfig::default() });
    let e = run(&service, "SELECT * FROM spans").await.expect_err("3 rows > 2");
    assert_eq!(e.status().as_u16(), 422);
    assert!(e.to_string().contains("more than 2 rows"), "{e}");
    run(&service, "SELECT * FROM spans LIMIT 2").await.expect("2 rows are fine");
}

#[tokio::test]
async fn the_memory_pool_is_a_422_naming_the_limit() {
    let service = engine_with(SqlConfig { memory_bytes: 1 << 20, ..SqlConfig::default() });
    let e = run(&service, "SELECT x, count(*) FROM generate_series(1, 2000000) t(x) GROUP BY x")
        .await
        .expect_err("a large group by in 1 MiB");
    assert_eq!(e.status().as_u16(), 422, "{e}");
    assert!(e.to_string().contains("memory limit of 1048576 bytes"), "{e}");
    let e = run(
        &service,
        "SELECT a.x FROM generate_series(1, 3000) a(x) CROSS JOIN generate_series(1, 3000) b(y) ORDER BY a.x + b.y",
    )
    .await
    .expect_err("a sorted cross join in 1 MiB");
    assert_eq!(e.status().as_u16(), 422, "{e}");
    // The next query gets a fresh pool.
    run(&service, "SELECT count(*) FROM spans").await.expect("still serving");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timeout_is_a_408_naming_the_limit() {
    let service = engine_with(SqlConfig { timeout: Duration::from_millis(300), ..SqlConfig::default() });
    let started = std::time::Instant::now();
    let e = run(&service, "SELECT count(*) FROM generate_series(1, 100000) a CROSS JOIN generate_series(1, 100000) b")
        .await
        .expect_err("10^10 rows");
    assert_eq!(e.status().as_u16(), 408, "{e}");
    assert!(e.to_string().contains("300 ms"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_is_a_429() {
    let service = engine_with(SqlConfig { max_concurrent: 1, max_queued: 0, ..SqlConfig::default() });
    let slow = "SELECT count(*) FROM generate_series(1, 30000) a CROSS JOIN generate_series(1, 30000) b";
    let background = {
        let service = service.clone();
        tokio::spawn(async move { run(&service, slow).await })
    };
    // Wait until the slow query holds the only slot.
    let mut refused = None;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if let Err(e) = run(&service, "SELECT 1").await {
            refused = Some(e);
            break;
        }
    }
    let e = refused.expect("a second query is refused while the first runs");
    assert_eq!(e.status().as_u16(), 429, "{e}");
    background.abort();
}

#[tokio::test]
async fn deep_expressions_within_the_limit_run_and_5000_terms_are_a_400() {
    let service = engine();
    let depth = SqlConfig::default().max_depth - 5;
    let sql = format!("SELECT {} AS n FROM spans", vec!["duration_ns"; depth / 2].join(" + "));
    let r = run(&service, &sql).await.expect("runs");
    assert_eq!(r.row_count, 3);
    let sql = format!("SELECT {}", vec!["1"; 5000].join(" + "));
    let e = run(&service, &sql).await.expect_err("5000 terms");
    assert_eq!(e.status().as_u16(), 400, "{e}");
}

#[tokio::test]
async fn the_deepest_text_parsed_on_a_runtime_thread_is_a_400_not_a_crash() {
    let service = engine();
    // `1+1+…` nests one level per two bytes: the deepest AST a text parsed inline can have.
    let terms = (INLINE_PARSE_MAX_BYTES - "SELECT 1".len()) / 2;
    let sql = format!("SELECT 1{}", "+1".repeat(terms));
    assert!(sql.len() <= INLINE_PARSE_MAX_BYTES);
    let e = run(&service, &sql).await.expect_err("thousands of levels");
    assert_eq!(e.status().as_u16(), 400, "{e}");
    // One byte more goes to a parser thread, with the same answer.
    let e = run(&service, &format!("{sql}+1")).await.expect_err("one level more");
    assert_eq!(e.status().as_u16(), 400, "{e}");
    run(&service, "SELECT count(*) FROM spans").await.expect("still serving");
}
