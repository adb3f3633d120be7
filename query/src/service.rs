//! The query side's shared state: one DataFusion session with the tables
//! registered, and the limits every query runs under.

use std::sync::Arc;
use std::time::Duration;

use datafusion::catalog::TableProvider;
use datafusion::prelude::{SessionConfig, SessionContext};
use osprey_storage::Table;

use crate::error::Result;

/// Limits and session settings of the query side.
#[derive(Debug, Clone)]
pub struct QueryConfig {
    /// DataFusion's target partitions (parallelism of one query).
    pub target_partitions: usize,
    /// Time budget of one query; past it the request gets a timeout error.
    pub timeout: Duration,
}

impl Default for QueryConfig {
    fn default() -> Self {
        QueryConfig { target_partitions: 2, timeout: Duration::from_secs(30) }
    }
}

/// Cheap to clone: the session is shared.
#[derive(Clone)]
pub struct QueryService {
    ctx: Arc<SessionContext>,
    config: QueryConfig,
}

impl QueryService {
    /// A session with `spans` registered, under the default [`QueryConfig`].
    pub fn new(spans: Arc<dyn TableProvider>) -> Result<Self> {
        Self::with_config(spans, QueryConfig::default())
    }

    pub fn with_config(spans: Arc<dyn TableProvider>, config: QueryConfig) -> Result<Self> {
        let session = SessionConfig::new().with_target_partitions(config.target_partitions.max(1));
        let ctx = SessionContext::new_with_config(session);
        ctx.register_table(Table::Spans.name(), spans)?;
        Ok(Self::from_context(Arc::new(ctx), config))
    }

    /// Wraps a session prepared elsewhere; it must have a `spans` table.
    pub fn from_context(ctx: Arc<SessionContext>, config: QueryConfig) -> Self {
        QueryService { ctx, config }
    }

    pub fn context(&self) -> &Arc<SessionContext> {
        &self.ctx
    }

    pub fn config(&self) -> &QueryConfig {
        &self.config
    }
}
