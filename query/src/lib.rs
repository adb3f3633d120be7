//! Osprey's query side: the DataFusion session over the stored tables and the
//! native HTTP API. So far: `GET /api/v1/traces/{trace_id}`, the waterfall of
//! one trace with its critical path, and `POST /api/v1/sql`, read-only SQL
//! within per-query limits (see [`sql`]).
//!
//! The binary wires it as
//! `osprey_query::router(QueryService::for_storage(storage, config)?)`: every table of
//! `osprey_storage::Table::ALL` is registered under its SQL name.

pub mod api;
pub mod attribute_json;
pub mod critical_path;
pub mod error;
pub mod flight_sql;
pub mod histogram_quantile;
pub mod jaeger;
pub mod log_search;
pub mod otlp_trace;
pub mod page;
pub mod search;
pub mod service;
pub mod service_map;
pub mod span_rows;
mod span_tree;
pub mod sql;
pub mod tempo_api;
pub mod trace_fetch;
pub mod trace_id;
pub mod trace_response;
pub mod traceql;
pub mod waterfall;

pub use api::router;
pub use error::{ErrorClass, QueryError, Result};
pub use flight_sql::FlightSqlConfig;
pub use service::{QueryConfig, QueryService};
pub use sql::SqlConfig;
pub use trace_id::TraceId;
pub use waterfall::{PlacedSpan, ServiceSummary, SpanTiming, Waterfall};

#[cfg(test)]
mod sql_fixture;
#[cfg(test)]
mod test_support;
