//! Arrow Flight SQL on its own port, so ADBC, JDBC and BI tools (DBeaver) can
//! query Osprey like a database.
//!
//! It is a second door to the same [`SqlEngine`] as `POST /api/v1/sql`: every
//! statement passes the same read-only guard, parser limits, admission queue,
//! per-query memory pool, row cap and timeout, and fails with the same message
//! (under the gRPC code of its class, see [`crate::error`]).
//!
//! Statements are stateless: `GetFlightInfo` checks and plans the SQL (so a
//! refused statement fails there, and the client learns the result's schema)
//! and hands back a ticket that carries the SQL text; `DoGet` runs it. Prepared
//! statements without parameters (what the JDBC driver sends) work the same way,
//! with the SQL text as their handle. The catalog commands (`GetCatalogs`,
//! `GetDbSchemas`, `GetTables`, `GetTableTypes`) list the session's catalog, so
//! every table registered there (`spans`, `logs`, `metrics`, …) is listed
//! without a list of our own.

mod catalog;
mod service;

use std::future::Future;
use std::net::SocketAddr;

use arrow_flight::flight_service_server::FlightServiceServer;
use serde::Deserialize;
use tokio::net::TcpListener;

pub use service::OspreyFlightSql;

/// The Flight SQL endpoint (`query.flight_sql` in the config file).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlightSqlConfig {
    /// Serve Flight SQL at all.
    pub enabled: bool,
    /// Address of the Flight SQL (gRPC) server.
    pub listen: SocketAddr,
}

impl Default for FlightSqlConfig {
    fn default() -> Self {
        FlightSqlConfig { enabled: true, listen: SocketAddr::from(([0, 0, 0, 0], 50051)) }
    }
}

/// Largest gRPC message accepted or sent: a ticket carries the SQL text (up to
/// `query.sql.max_text_bytes`), and result batches are split by the encoder well
/// below this.
const MAX_MESSAGE_BYTES: usize = 16 << 20;

/// Serves Flight SQL with `service` on `listener` until `shutdown` resolves,
/// then lets running calls finish.
pub async fn serve(
    service: OspreyFlightSql,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let addr = listener.local_addr().ok();
    tracing::info!(?addr, "Flight SQL listening");
    let service = FlightServiceServer::new(service)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    tonic::transport::Server::builder()
        .add_service(service)
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown,
        )
        .await
}

#[cfg(test)]
mod tests;
