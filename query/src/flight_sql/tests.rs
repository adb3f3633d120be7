//! Flight SQL over a real gRPC connection on an ephemeral port, with the
//! `arrow-flight` crate's own Flight SQL client (the Python ADBC driver is
//! exercised against the real binary in `tests/e2e/flight_sql.rs`).

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array as _, AsArray, RecordBatch};
use arrow::datatypes::{Int64Type, Schema};
use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::sql::{CommandGetDbSchemas, CommandGetTables, CommandStatementQuery, ProstMessageExt, SqlInfo};
use arrow_flight::{FlightDescriptor, FlightInfo, IpcMessage};
use futures::TryStreamExt as _;
use prost::Message as _;
use tokio::net::TcpListener;
use tonic::transport::Channel;

use super::*;
use crate::sql::SqlConfig;
use crate::test_support::{batch, span, TRACE};
use crate::{QueryConfig, QueryService};

fn service_with(sql: SqlConfig) -> QueryService {
    let spans = vec![
        span("00000000000000a1", "", "frontend", 0, 100),
        span("00000000000000a2", "00000000000000a1", "checkout", 10, 90),
        span("00000000000000a3", "00000000000000a2", "checkout", 20, 60),
    ];
    let table =
        datafusion::datasource::MemTable::try_new(osprey_storage::spans::schema(), vec![vec![batch(TRACE, &spans)]])
            .expect("memtable");
    QueryService::with_config(Arc::new(table), QueryConfig { sql, ..QueryConfig::default() }).expect("service")
}

/// Serves Flight SQL over `query` on an ephemeral port; a channel to it.
async fn start(query: QueryService) -> Channel {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let service = OspreyFlightSql::new(query).expect("flight sql service");
    tokio::spawn(serve(service, listener, std::future::pending()));
    Channel::from_shared(format!("http://{addr}")).expect("uri").connect().await.expect("connect")
}

/// Every batch of every endpoint of `info`.
async fn fetch(client: &mut FlightSqlServiceClient<Channel>, info: FlightInfo) -> Vec<RecordBatch> {
    let mut out = Vec::new();
    for endpoint in info.endpoint {
        let ticket = endpoint.ticket.expect("ticket");
        let stream = client.do_get(ticket).await.expect("do_get");
        out.extend(stream.try_collect::<Vec<_>>().await.expect("batches"));
    }
    out
}

fn strings(batches: &[RecordBatch], column: &str) -> Vec<String> {
    batches
        .iter()
        .flat_map(|b| {
            let c = b.column_by_name(column).expect("column").as_string::<i32>();
            (0..c.len()).map(|i| c.value(i).to_string()).collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test]
async fn a_query_returns_what_the_sql_engine_returns() {
    let query = service_with(SqlConfig::default());
    let mut client = FlightSqlServiceClient::new(start(query.clone()).await);
    let sql = "SELECT service_name, count(*) AS n FROM spans GROUP BY service_name ORDER BY service_name";
    let info = client.execute(sql.to_string(), None).await.expect("get flight info");
    let schema = info.clone().try_decode_schema().expect("schema");
    let batches = fetch(&mut client, info).await;
    let direct = query.sql().run(sql.to_string()).await.expect("engine");
    assert_eq!(schema.fields(), direct.schema.fields());
    assert_eq!(batches, direct.batches);
    assert_eq!(strings(&batches, "service_name"), ["checkout", "frontend"]);
    assert_eq!(batches[0].column(1).as_primitive::<Int64Type>().values().to_vec(), vec![2, 1]);

    // A prepared statement (what the JDBC driver sends) gives the same answer.
    let mut prepared = client.prepare(sql.to_string(), None).await.expect("prepare");
    assert_eq!(prepared.dataset_schema().expect("schema").fields(), direct.schema.fields());
    let info = prepared.execute().await.expect("execute prepared");
    assert_eq!(fetch(&mut client, info).await, direct.batches);
    prepared.close().await.expect("close");
}

#[tokio::test]
async fn catalogs_schemas_and_tables_come_from_the_session() {
    let mut client = FlightSqlServiceClient::new(start(service_with(SqlConfig::default())).await);
    let info = client.get_catalogs().await.expect("catalogs");
    let catalogs = fetch(&mut client, info).await;
    assert_eq!(strings(&catalogs, "catalog_name"), ["datafusion"]);

    let schemas = CommandGetDbSchemas { catalog: None, db_schema_filter_pattern: None };
    let info = client.get_db_schemas(schemas).await.expect("schemas");
    let schemas = fetch(&mut client, info).await;
    assert_eq!(strings(&schemas, "db_schema_name"), ["information_schema", "public"]);

    // Without schemas: every table, information_schema's views included.
    let all = CommandGetTables { include_schema: false, ..Default::default() };
    let info = client.get_tables(all).await.expect("tables");
    let all = fetch(&mut client, info).await;
    let names = strings(&all, "table_name");
    assert!(names.contains(&"spans".to_string()) && names.contains(&"columns".to_string()), "{names:?}");
    assert!(all[0].column_by_name("table_schema").is_none());

    // Filtered, with the schema as an IPC message.
    let spans = CommandGetTables {
        db_schema_filter_pattern: Some("pub%".into()),
        table_name_filter_pattern: Some("sp_ns".into()),
        table_types: vec!["TABLE".into()],
        include_schema: true,
        ..Default::default()
    };
    let info = client.get_tables(spans).await.expect("tables");
    let spans = fetch(&mut client, info).await;
    assert_eq!(strings(&spans, "table_name"), ["spans"]);
    assert_eq!(strings(&spans, "table_type"), ["TABLE"]);
    let ipc = spans[0].column_by_name("table_schema").expect("table_schema").as_binary::<i32>().value(0).to_vec();
    let schema = Schema::try_from(IpcMessage(ipc.into())).expect("IPC schema");
    assert_eq!(schema.fields(), osprey_storage::spans::schema().fields());

    let info = client.get_table_types().await.expect("table types");
    let types = fetch(&mut client, info).await;
    assert_eq!(strings(&types, "table_type"), ["LOCAL TEMPORARY", "TABLE", "VIEW"]);

    let info = client.get_sql_info(vec![SqlInfo::FlightSqlServerName, SqlInfo::FlightSqlServerReadOnly]).await;
    let info = fetch(&mut client, info.expect("sql info")).await;
    assert_eq!(info[0].num_rows(), 2);
}

/// `GetFlightInfo` for a statement with the raw Flight client, so the gRPC status is kept.
async fn statement_info(channel: Channel, sql: &str) -> Result<FlightInfo, tonic::Status> {
    let command = CommandStatementQuery { query: sql.to_string(), transaction_id: None };
    let descriptor = FlightDescriptor::new_cmd(command.as_any().encode_to_vec());
    FlightServiceClient::new(channel).get_flight_info(descriptor).await.map(|r| r.into_inner())
}

/// Runs `sql` with the raw Flight client; the status of whichever call fails.
async fn statement_error(channel: Channel, sql: &str) -> tonic::Status {
    let info = match statement_info(channel.clone(), sql).await {
        Ok(info) => info,
        Err(status) => return status,
    };
    let ticket = info.endpoint[0].ticket.clone().expect("ticket");
    let mut stream = match FlightServiceClient::new(channel).do_get(ticket).await {
        Ok(r) => r.into_inner(),
        Err(status) => return status,
    };
    loop {
        match stream.message().await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("{sql} did not fail"),
            Err(status) => return status,
        }
    }
}

#[tokio::test]
async fn refusals_and_limits_have_the_sql_api_messages_under_grpc_codes() {
    let config = SqlConfig { max_rows: 2, timeout: Duration::from_secs(1), ..SqlConfig::default() };
    let channel = start(service_with(config)).await;
    let cases = [
        ("CREATE TABLE t (a INT)", tonic::Code::InvalidArgument, "CREATE TABLE is not allowed"),
        ("COPY spans TO '/tmp/x.csv'", tonic::Code::InvalidArgument, "COPY is not allowed"),
        ("SELECT nope FROM spans", tonic::Code::InvalidArgument, "nope"),
        ("SELECT * FROM spans", tonic::Code::ResourceExhausted, "more than 2 rows"),
        (
            "SELECT count(*) FROM generate_series(1, 10000) a CROSS JOIN generate_series(1, 100000000) b",
            tonic::Code::DeadlineExceeded,
            "time limit of 1000 ms",
        ),
    ];
    for (sql, code, needle) in cases {
        let status = statement_error(channel.clone(), sql).await;
        assert_eq!(status.code(), code, "{sql}: {status:?}");
        assert!(status.message().contains(needle), "{sql}: {:?} should mention {needle:?}", status.message());
    }
    // The DDL is refused already at GetFlightInfo, before any ticket exists.
    let refused = statement_info(channel.clone(), "DROP TABLE spans").await.expect_err("refused");
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    // Still answering.
    let info = statement_info(channel, "SELECT count(*) FROM spans").await.expect("count");
    assert_eq!(info.endpoint.len(), 1);
}

/// Runs `sql` to the end with the raw Flight client.
async fn try_statement(channel: Channel, sql: &str) -> Result<(), tonic::Status> {
    let info = statement_info(channel.clone(), sql).await?;
    let ticket = info.endpoint[0].ticket.clone().expect("ticket");
    let mut stream = FlightServiceClient::new(channel).do_get(ticket).await?.into_inner();
    while stream.message().await?.is_some() {}
    Ok(())
}

#[tokio::test]
async fn a_full_queue_is_unavailable() {
    let config =
        SqlConfig { max_concurrent: 1, max_queued: 0, timeout: Duration::from_secs(5), ..SqlConfig::default() };
    let channel = start(service_with(config)).await;
    let slow = "SELECT count(*) FROM generate_series(1, 10000) a CROSS JOIN generate_series(1, 100000000) b";
    // Once the slow query holds the only slot (and there is no queue), others are
    // refused. The polling queries compete for the slot too: if one of them wins
    // it, the slow query is the one refused, and it starts again.
    let (refused, running) = 'slow: loop {
        let running = tokio::spawn(statement_error(channel.clone(), slow));
        loop {
            match try_statement(channel.clone(), "SELECT count(*) FROM spans").await {
                Err(status) => break 'slow (status, running),
                Ok(()) if running.is_finished() => {
                    let lost = running.await.expect("slow query");
                    assert_eq!(lost.code(), tonic::Code::Unavailable, "{lost:?}");
                    continue 'slow;
                }
                Ok(()) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    };
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
    assert!(refused.message().contains("retry later"), "{:?}", refused.message());
    // Planning takes no slot: a bad statement is still told what is wrong.
    let status = statement_error(channel.clone(), "SELECT nope FROM spans").await;
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert_eq!(running.await.expect("slow query").code(), tonic::Code::DeadlineExceeded);
}
