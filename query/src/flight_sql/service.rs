//! The Flight SQL commands Osprey answers (the protocol is in Arrow's
//! `format/FlightSql.proto`; the dispatch from `GetFlightInfo`/`DoGet` to these
//! methods is `arrow_flight::sql::server`). Anything not here (updates, ingest,
//! transactions, Substrait, keys) gets `Unimplemented` from the trait's defaults.

use std::pin::Pin;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{Schema, SchemaRef};
use arrow::ipc::writer::IpcWriteOptions;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::metadata::{SqlInfoData, SqlInfoDataBuilder};
use arrow_flight::sql::server::FlightSqlService;
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest, ActionCreatePreparedStatementResult,
    CommandGetCatalogs, CommandGetDbSchemas, CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables,
    CommandPreparedStatementQuery, CommandStatementQuery, ProstMessageExt, SqlInfo, SqlSupportedTransaction,
    TicketStatementQuery,
};
use arrow_flight::{
    Action, FlightData, FlightDescriptor, FlightEndpoint, FlightInfo, HandshakeRequest, HandshakeResponse, IpcMessage,
    SchemaAsIpc, Ticket,
};
use futures::{Stream, TryStreamExt as _};
use prost::bytes::Bytes;
use prost::Message as _;
use tonic::{Request, Response, Status, Streaming};

use super::catalog;
use crate::service::QueryService;

type DoGetStream = Pin<Box<dyn Stream<Item = Result<FlightData, Status>> + Send + 'static>>;
type HandshakeStream = Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send + 'static>>;

/// Osprey's Flight SQL service: a handle on the query service (cheap to clone).
#[derive(Clone)]
pub struct OspreyFlightSql {
    query: QueryService,
    sql_info: Arc<SqlInfoData>,
}

impl OspreyFlightSql {
    pub fn new(query: QueryService) -> Result<Self, FlightError> {
        Ok(OspreyFlightSql { query, sql_info: Arc::new(server_info()?) })
    }

    /// The schema of `sql`'s result, through the SQL engine's guard and planner.
    async fn describe(&self, sql: &str) -> Result<SchemaRef, Status> {
        Ok(self.query.sql().describe(sql.to_string()).await?)
    }

    /// Runs `sql` within the SQL API's limits and streams its batches.
    async fn run(&self, sql: String) -> Result<Response<DoGetStream>, Status> {
        let result = self.query.sql().run(sql).await?;
        Ok(batches(result.schema, result.batches))
    }
}

/// What `GetSqlInfo` tells a client: who we are, and that we are a read-only
/// SQL server without transactions.
fn server_info() -> Result<SqlInfoData, FlightError> {
    let mut info = SqlInfoDataBuilder::new();
    info.append(SqlInfo::FlightSqlServerName, "osprey");
    info.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
    // The Arrow format version (`format/Schema.fbs`, MetadataVersion V5 = "1.5").
    info.append(SqlInfo::FlightSqlServerArrowVersion, "1.5");
    info.append(SqlInfo::FlightSqlServerReadOnly, true);
    info.append(SqlInfo::FlightSqlServerSql, true);
    info.append(SqlInfo::FlightSqlServerSubstrait, false);
    info.append(SqlInfo::FlightSqlServerTransaction, SqlSupportedTransaction::None as i32);
    info.append(SqlInfo::FlightSqlServerCancel, false);
    info.append(SqlInfo::SqlIdentifierQuoteChar, "\"");
    info.append(SqlInfo::SqlDdlCatalog, false);
    info.append(SqlInfo::SqlDdlSchema, false);
    info.append(SqlInfo::SqlDdlTable, false);
    info.build()
}

/// A `FlightInfo` for `descriptor` whose one endpoint is `ticket` on this server.
fn flight_info(descriptor: FlightDescriptor, ticket: Bytes, schema: &Schema) -> Result<Response<FlightInfo>, Status> {
    let info = FlightInfo::new()
        .try_with_schema(schema)
        .map_err(|e| Status::internal(format!("cannot encode the result schema: {e}")))?
        .with_endpoint(FlightEndpoint::new().with_ticket(Ticket::new(ticket)))
        .with_descriptor(descriptor);
    Ok(Response::new(info))
}

fn batches(schema: SchemaRef, batches: Vec<RecordBatch>) -> Response<DoGetStream> {
    let stream = FlightDataEncoderBuilder::new()
        .with_schema(schema)
        .build(futures::stream::iter(batches.into_iter().map(Ok)))
        .map_err(Status::from);
    Response::new(Box::pin(stream))
}

fn one_batch(batch: Result<RecordBatch, FlightError>) -> Result<Response<DoGetStream>, Status> {
    let batch = batch.map_err(|e| Status::internal(format!("cannot build the catalog listing: {e}")))?;
    Ok(batches(batch.schema(), vec![batch]))
}

/// The SQL text a ticket or a prepared-statement handle carries.
fn sql_of(handle: &Bytes) -> Result<String, Status> {
    String::from_utf8(handle.to_vec())
        .map_err(|_| Status::invalid_argument("the statement handle is not the UTF-8 SQL text Osprey hands out"))
}

fn no_transactions(transaction_id: &Option<Bytes>) -> Result<(), Status> {
    match transaction_id {
        Some(_) => Err(Status::invalid_argument("transactions are not supported: Osprey's SQL is read-only")),
        None => Ok(()),
    }
}

#[tonic::async_trait]
impl FlightSqlService for OspreyFlightSql {
    type FlightService = OspreyFlightSql;

    /// No authentication, like the HTTP API: any handshake is accepted.
    async fn do_handshake(
        &self,
        _request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<HandshakeStream>, Status> {
        let response = HandshakeResponse { protocol_version: 0, payload: Bytes::new() };
        Ok(Response::new(Box::pin(futures::stream::once(async { Ok(response) }))))
    }

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        no_transactions(&query.transaction_id)?;
        let schema = self.describe(&query.query).await?;
        // The ticket carries the SQL itself: nothing is kept between the calls,
        // and `DoGet` runs it through the same guard, so a forged ticket gains nothing.
        let ticket = TicketStatementQuery { statement_handle: Bytes::from(query.query) };
        flight_info(request.into_inner(), ticket.as_any().encode_to_vec().into(), &schema)
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.run(sql_of(&ticket.statement_handle)?).await
    }

    /// A prepared statement is its SQL text (no parameters): planning checks it now.
    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        _request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        no_transactions(&query.transaction_id)?;
        let schema = self.describe(&query.query).await?;
        let IpcMessage(dataset_schema) = SchemaAsIpc::new(&schema, &IpcWriteOptions::default())
            .try_into()
            .map_err(|e: arrow::error::ArrowError| Status::internal(format!("cannot encode the result schema: {e}")))?;
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: Bytes::from(query.query),
            dataset_schema,
            parameter_schema: Bytes::new(),
        })
    }

    async fn do_action_close_prepared_statement(
        &self,
        _query: ActionClosePreparedStatementRequest,
        _request: Request<Action>,
    ) -> Result<(), Status> {
        Ok(())
    }

    async fn get_flight_info_prepared_statement(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = self.describe(&sql_of(&cmd.prepared_statement_handle)?).await?;
        flight_info(request.into_inner(), cmd.as_any().encode_to_vec().into(), &schema)
    }

    async fn do_get_prepared_statement(
        &self,
        cmd: CommandPreparedStatementQuery,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.run(sql_of(&cmd.prepared_statement_handle)?).await
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let ticket = query.as_any().encode_to_vec().into();
        let schema = query.into_builder(&self.sql_info).schema();
        flight_info(request.into_inner(), ticket, &schema)
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        one_batch(query.into_builder(&self.sql_info).build())
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let ticket = query.as_any().encode_to_vec().into();
        flight_info(request.into_inner(), ticket, &query.into_builder().schema())
    }

    async fn do_get_catalogs(
        &self,
        query: CommandGetCatalogs,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let mut builder = query.into_builder();
        let mut names = self.query.context().catalog_names();
        names.sort();
        for name in names {
            builder.append(name);
        }
        one_batch(builder.build())
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let ticket = query.as_any().encode_to_vec().into();
        flight_info(request.into_inner(), ticket, &query.into_builder().schema())
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let mut builder = query.into_builder();
        for (catalog, schema) in catalog::schemas(self.query.context()) {
            builder.append(catalog, schema);
        }
        one_batch(builder.build())
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let ticket = query.as_any().encode_to_vec().into();
        flight_info(request.into_inner(), ticket, &query.into_builder().schema())
    }

    /// The builder applies the command's filters (catalog, schema and table
    /// patterns, table types) and adds each table's schema if asked.
    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let mut builder = query.into_builder();
        for table in catalog::tables(self.query.context()).await? {
            builder
                .append(&table.catalog, &table.schema, &table.name, table.table_type, &table.arrow_schema)
                .map_err(|e| Status::internal(format!("cannot encode the schema of {}: {e}", table.name)))?;
        }
        one_batch(builder.build())
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let ticket = query.as_any().encode_to_vec().into();
        flight_info(request.into_inner(), ticket, &query.into_builder().schema())
    }

    async fn do_get_table_types(
        &self,
        query: CommandGetTableTypes,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let mut builder = query.into_builder();
        for table_type in catalog::TABLE_TYPES {
            builder.append(table_type);
        }
        one_batch(builder.build())
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}
