//! The query side's shared state: one DataFusion session with the tables
//! registered, and the limits every query runs under.

use std::sync::Arc;
use std::time::Duration;

use datafusion::catalog::TableProvider;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use osprey_storage::{Storage, Table};
use serde::Deserialize;

use crate::error::Result;
use crate::flight_sql::FlightSqlConfig;
use crate::search::SearchConfig;
use crate::sql::{SqlConfig, SqlEngine};

/// Limits and session settings of the query side (the `query:` section of the config file).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueryConfig {
    /// DataFusion's target partitions (parallelism of one query).
    pub target_partitions: usize,
    /// Memory for Parquet footers and page indexes kept across queries, in bytes (least
    /// recently used files are evicted past it). A file's entry is read and decoded once
    /// instead of at every query that opens the file; three quarters of it are filled in the
    /// background, newest files first (see `warm_metadata`).
    pub metadata_cache_bytes: usize,
    /// Time budget of one trace lookup; past it the request gets a timeout error.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Limits of `POST /api/v1/sql` (and of Flight SQL, which runs on the same engine).
    pub sql: SqlConfig,
    /// The Arrow Flight SQL endpoint.
    pub flight_sql: FlightSqlConfig,
    /// Guardrails of trace search (native, Tempo and Jaeger APIs).
    pub search: SearchConfig,
}

impl Default for QueryConfig {
    fn default() -> Self {
        QueryConfig {
            target_partitions: 2,
            metadata_cache_bytes: 256 << 20,
            timeout: Duration::from_secs(30),
            sql: SqlConfig::default(),
            flight_sql: FlightSqlConfig::default(),
            search: SearchConfig::default(),
        }
    }
}

/// How often the metadata cache takes in the footers of new files (flushes add a few a minute).
const WARM_EVERY: Duration = Duration::from_secs(10);

/// Keeps the footers and page indexes of live files in the session's metadata cache
/// ([`osprey_storage::metadata_cache::warm`]), and their id bloom filters in storage's
/// ([`Storage::warm_bloom_filters`]): at start, then every [`WARM_EVERY`], until the session is gone.
async fn warm_metadata(ctx: std::sync::Weak<SessionContext>, storage: Arc<Storage>) {
    let mut first = true;
    while let Some(ctx) = ctx.upgrade() {
        let runtime = ctx.runtime_env();
        drop(ctx);
        let url = datafusion::execution::object_store::ObjectStoreUrl::local_filesystem();
        if let Ok(store) = runtime.object_store(url) {
            let cache = runtime.cache_manager.get_file_metadata_cache();
            let started = std::time::Instant::now();
            let warmed = osprey_storage::metadata_cache::warm(&storage, store, cache).await;
            let bloom_files = storage.warm_bloom_filters().await;
            let elapsed_ms = started.elapsed().as_millis() as u64;
            let (files, bytes) = (warmed.files, warmed.bytes);
            if first {
                tracing::info!(files, bytes, bloom_files, elapsed_ms, "parquet metadata and bloom filters warmed");
            } else if files > 0 || bloom_files > 0 {
                tracing::debug!(files, bytes, bloom_files, elapsed_ms, "parquet metadata and bloom filters warmed");
            }
        }
        first = false;
        tokio::time::sleep(WARM_EVERY).await;
    }
}

/// Cheap to clone: the session is shared.
#[derive(Clone)]
pub struct QueryService {
    ctx: Arc<SessionContext>,
    config: QueryConfig,
    sql: Arc<SqlEngine>,
    /// The storage engine behind the tables, for what SQL does not reach (e.g. the log
    /// index); `None` in tests over in-memory tables.
    storage: Option<Arc<Storage>>,
}

impl QueryService {
    /// A session over every table of `storage` ([`Table::ALL`], each under its SQL name).
    pub fn for_storage(storage: Arc<Storage>, config: QueryConfig) -> Result<Self> {
        let tables = Table::ALL.iter().map(|t| (*t, storage.table_provider(*t))).collect();
        let mut service = Self::with_tables(tables, config)?;
        service.sql.spawn(warm_metadata(Arc::downgrade(&service.ctx), Arc::clone(&storage)))?;
        service.storage = Some(storage);
        Ok(service)
    }

    /// A session with `spans` registered, under the default [`QueryConfig`].
    pub fn new(spans: Arc<dyn TableProvider>) -> Result<Self> {
        Self::with_config(spans, QueryConfig::default())
    }

    /// The session: `information_schema` on (for `SHOW TABLES`, `SHOW COLUMNS`),
    /// no spilling to disk (a query past its memory pool fails instead of filling
    /// the disk), no URL tables (`SELECT * FROM '/etc/passwd'` is an unknown table).
    pub fn with_config(spans: Arc<dyn TableProvider>, config: QueryConfig) -> Result<Self> {
        Self::with_tables(vec![(Table::Spans, spans)], config)
    }

    /// A session with the given tables registered under their SQL names (see [`Self::with_config`]).
    pub fn with_tables(tables: Vec<(Table, Arc<dyn TableProvider>)>, config: QueryConfig) -> Result<Self> {
        let session = SessionConfig::new()
            .with_target_partitions(config.target_partitions.max(1))
            .with_information_schema(true)
            // Storage spreads a scan's files over the partitions itself. Splitting them into byte
            // ranges as well made a trace lookup open its one or two files once per range.
            .with_repartition_file_scans(false);
        let runtime = RuntimeEnvBuilder::new()
            .with_metadata_cache_limit(config.metadata_cache_bytes)
            .with_disk_manager_builder(DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled))
            .build_arc()?;
        let state =
            SessionStateBuilder::new().with_config(session).with_runtime_env(runtime).with_default_features().build();
        let ctx = SessionContext::new_with_state(state);
        ctx.register_udf(crate::histogram_quantile::udf());
        ctx.register_udf(osprey_storage::log_index::predicate::udf());
        for (table, provider) in tables {
            ctx.register_table(table.name(), provider)?;
        }
        Self::from_context(Arc::new(ctx), config)
    }

    /// Wraps a session prepared elsewhere; it must have a `spans` table. Osprey's
    /// SQL functions ([`crate::sql::functions`]) are added to it.
    pub fn from_context(ctx: Arc<SessionContext>, config: QueryConfig) -> Result<Self> {
        crate::sql::functions::register(&ctx);
        let sql = Arc::new(SqlEngine::new(Arc::clone(&ctx), config.sql.clone())?);
        Ok(QueryService { ctx, config, sql, storage: None })
    }

    /// The storage engine, when the service was built [`Self::for_storage`].
    pub fn storage(&self) -> Option<&Arc<Storage>> {
        self.storage.as_ref()
    }

    pub fn context(&self) -> &Arc<SessionContext> {
        &self.ctx
    }

    pub fn config(&self) -> &QueryConfig {
        &self.config
    }

    /// The SQL API's engine: read-only guard, limits, execution.
    pub fn sql(&self) -> &Arc<SqlEngine> {
        &self.sql
    }
}
