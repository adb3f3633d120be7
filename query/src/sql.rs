//! The SQL API's engine: `POST /api/v1/sql` runs one read-only statement over
//! the session's tables, within per-query limits.
//!
//! A query goes through:
//! 1. [`guard::check`] on a [`parser`] thread with a large stack: text size cap,
//!    parser with a recursion limit, one statement, read-only, nesting depth;
//! 2. [`admission`]: a slot among `max_concurrent`, else a place in the queue;
//! 3. planning on a copy of the session, then DataFusion's `SQLOptions` (no DDL,
//!    DML or statements) as a second wall;
//! 4. execution in a `RuntimeEnv` with its own memory pool of `memory_bytes` (no
//!    spilling), streamed until the end or past `max_rows` rows;
//!
//! all of 2–4 under `timeout`. Each limit has its error (see [`crate::error`]):
//! timeout 408, memory pool and row cap 422, full queue 429, text size 413.

pub mod admission;
pub mod endpoint;
pub mod format;
pub mod functions;
pub mod guard;
mod parser;

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::error::DataFusionError;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::{SessionState, TaskContext};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::execute_stream;
use datafusion::prelude::{SQLOptions, SessionContext};
use datafusion::sql::parser::Statement;
use futures::StreamExt as _;
use serde::Deserialize;

use crate::error::{datafusion_class, ErrorClass, QueryError, Result};
use admission::Admission;
use guard::GuardLimits;
use parser::Parser;

/// Limits of the SQL API (`query.sql` in the config file).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SqlConfig {
    /// Time budget of one query, from admission to the last row (waiting in the
    /// queue counts too). Past it: HTTP 408.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Largest result, in rows. Past it: HTTP 422.
    pub max_rows: usize,
    /// Memory pool of one query (joins, aggregations, sorts), in bytes. Past it: HTTP 422.
    pub memory_bytes: usize,
    /// Largest SQL text, in bytes. Past it: HTTP 413.
    pub max_text_bytes: usize,
    /// Queries running at once.
    pub max_concurrent: usize,
    /// Queries waiting for a slot; past it: HTTP 429 with `Retry-After`.
    pub max_queued: usize,
    /// Deepest nesting of expressions, subqueries, joins and set operations. Past it: HTTP 400.
    pub max_depth: usize,
    /// The SQL parser's recursion limit (nested parentheses and subqueries). Past it: HTTP 400.
    pub parser_recursion_limit: usize,
    /// Worker threads of the SQL runtime, and SQL parser threads (0: one per CPU).
    pub threads: usize,
}

impl Default for SqlConfig {
    fn default() -> Self {
        SqlConfig {
            timeout: Duration::from_secs(30),
            max_rows: 100_000,
            memory_bytes: 256 << 20,
            max_text_bytes: 64 << 10,
            max_concurrent: 4,
            max_queued: 64,
            max_depth: 200,
            parser_recursion_limit: 64,
            threads: 0,
        }
    }
}

impl SqlConfig {
    fn guard_limits(&self) -> GuardLimits {
        GuardLimits {
            max_text_bytes: self.max_text_bytes,
            parser_recursion_limit: self.parser_recursion_limit,
            max_depth: self.max_depth,
        }
    }
}

/// What a query returned.
#[derive(Debug)]
pub struct SqlResult {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub row_count: usize,
    /// From receiving the text to the last row.
    pub elapsed: Duration,
}

/// Stack of the SQL runtime's threads: room for plans as deep as `max_depth` allows.
const SQL_THREAD_STACK_BYTES: usize = 16 << 20;

/// Largest text parsed on a SQL runtime thread rather than a [`parser`] thread. Parsing and
/// dropping an AST recurse once per level, at well under 1 KiB a level even in debug builds,
/// and a text of n bytes nests at most n/2 levels (`a+b+…`); so a text of this size needs under
/// half the runtime threads' stack. Trace lookups and dashboards' queries are far smaller.
const INLINE_PARSE_MAX_BYTES: usize = SQL_THREAD_STACK_BYTES / 2048;

/// SQL text on its way to the query's task: parsed already, or to be parsed there.
enum Text {
    Raw(String),
    Parsed(Box<Statement>),
}

pub struct SqlEngine {
    ctx: Arc<SessionContext>,
    config: SqlConfig,
    admission: Admission,
    parser: Parser,
    runtime: SqlRuntime,
}

impl SqlEngine {
    pub fn new(ctx: Arc<SessionContext>, config: SqlConfig) -> Result<Self> {
        let admission = Admission::new(config.max_concurrent, config.max_queued);
        let threads = match config.threads {
            0 => std::thread::available_parallelism().map_or(2, usize::from),
            n => n,
        };
        let parser = Parser::new(threads, config.guard_limits())?;
        let runtime = SqlRuntime::new(threads)?;
        Ok(SqlEngine { ctx, config, admission, parser, runtime })
    }

    pub fn config(&self) -> &SqlConfig {
        &self.config
    }

    /// Runs one read-only statement within the limits.
    ///
    /// Planning and execution run as a task on the SQL runtime, so CPU-bound
    /// operators never hold up the server's runtime (HTTP, timers, ingest) and
    /// the timeout answers on time; on timeout (or when the request goes away)
    /// the task is aborted and stops at its next yield point, freeing its slot.
    pub async fn run(self: &Arc<Self>, sql: String) -> Result<SqlResult> {
        let started = Instant::now();
        let text_bytes = sql.len();
        let statement = self.checked_outside(sql).await?;
        let timeout = self.config.timeout;
        let engine = Arc::clone(self);
        let (schema, batches, row_count) = self
            .in_task(text_bytes, async move {
                let statement = engine.checked_inside(statement)?;
                let _slot = engine.admission.admit(timeout).await?;
                engine.execute(statement).await
            })
            .await?;
        let elapsed = started.elapsed();
        tracing::debug!(
            text_bytes,
            rows = row_count,
            elapsed_ms = elapsed.as_secs_f64() * 1e3,
            queued = self.admission.queued(),
            "sql query served"
        );
        Ok(SqlResult { schema, batches, row_count, elapsed })
    }

    /// The schema of a statement's result without running it: the same guard and
    /// planning as [`Self::run`], under the same timeout, but no slot (planning
    /// reads no data). Flight SQL answers `GetFlightInfo` with it.
    pub async fn describe(self: &Arc<Self>, sql: String) -> Result<SchemaRef> {
        let text_bytes = sql.len();
        let statement = self.checked_outside(sql).await?;
        let engine = Arc::clone(self);
        self.in_task(text_bytes, async move {
            let statement = engine.checked_inside(statement)?;
            let (_, plan) = engine.plan(statement).await?;
            Ok(Arc::clone(plan.schema().inner()))
        })
        .await
    }

    /// The first half of [`guard::check`]: texts too large to parse on a SQL runtime thread are
    /// parsed on a [`parser`] thread here; the others pass through, to be parsed by
    /// [`Self::checked_inside`] in the query's task (one thread hand-off less per query: a trace
    /// lookup's whole server time is ~2 ms, and each hand-off is two wake-ups).
    async fn checked_outside(&self, sql: String) -> Result<Text> {
        match sql.len() <= INLINE_PARSE_MAX_BYTES {
            true => Ok(Text::Raw(sql)),
            false => Ok(Text::Parsed(Box::new(self.parser.check(sql).await?))),
        }
    }

    /// The second half: parses a small text on the SQL runtime thread running the query, whose
    /// stack has room for its deepest AST (see [`INLINE_PARSE_MAX_BYTES`]).
    fn checked_inside(&self, text: Text) -> Result<Statement> {
        match text {
            Text::Raw(sql) => guard::check(&sql, self.config.guard_limits()),
            Text::Parsed(statement) => Ok(*statement),
        }
    }

    /// Runs `work` in the background on the SQL runtime (it stops with the engine).
    pub(crate) fn spawn(&self, work: impl std::future::Future<Output = ()> + Send + 'static) -> Result<()> {
        self.runtime.handle()?.spawn(work);
        Ok(())
    }

    /// Runs `work` as a task on the SQL runtime under the query timeout.
    async fn in_task<T: Send + 'static>(
        &self,
        text_bytes: usize,
        work: impl std::future::Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        let timeout = self.config.timeout;
        let task = self.runtime.handle()?.spawn(work);
        let _abort = AbortOnDrop(task.abort_handle());
        match tokio::time::timeout(timeout, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join_error)) => Err(QueryError::Task(format!("the SQL query task failed: {join_error}"))),
            Err(_elapsed) => {
                tracing::warn!(text_bytes, timeout_ms = timeout.as_millis() as u64, "sql query timed out");
                Err(QueryError::SqlTimeout(timeout))
            }
        }
    }

    /// A read-only logical plan of `statement`, on a per-query copy of the session.
    async fn plan(&self, statement: Statement) -> Result<(SessionState, LogicalPlan)> {
        let state = self.ctx.state();
        let plan = state.statement_to_plan(statement).await.map_err(|e| self.error(e))?;
        read_only().verify_plan(&plan).map_err(|e| self.error(e))?;
        Ok((state, plan))
    }

    async fn execute(&self, statement: Statement) -> Result<(SchemaRef, Vec<RecordBatch>, usize)> {
        let (state, plan) = self.plan(statement).await?;
        let physical = state.create_physical_plan(&plan).await.map_err(|e| self.error(e))?;
        let task = TaskContext::from(&state).with_runtime(self.query_runtime()?);
        let mut stream = execute_stream(physical, Arc::new(task)).map_err(|e| self.error(e))?;
        let schema = stream.schema();
        let mut batches = Vec::new();
        let mut row_count = 0usize;
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|e| self.error(e))?;
            row_count += batch.num_rows();
            if row_count > self.config.max_rows {
                return Err(QueryError::RowLimit { limit: self.config.max_rows });
            }
            if batch.num_rows() > 0 {
                batches.push(batch);
            }
        }
        Ok((schema, batches, row_count))
    }

    /// The session's runtime (object stores, caches) with a fresh memory pool for this
    /// query's execution. (Planning reserves no memory, so it runs on the shared session.)
    fn query_runtime(&self) -> Result<Arc<RuntimeEnv>> {
        let runtime = RuntimeEnvBuilder::from_runtime_env(self.ctx.runtime_env().as_ref())
            .with_memory_limit(self.config.memory_bytes, 1.0)
            .build_arc()?;
        Ok(runtime)
    }

    /// A DataFusion error as the user should see it.
    fn error(&self, e: DataFusionError) -> QueryError {
        let root = e.find_root();
        match datafusion_class(&e) {
            ErrorClass::LimitExceeded => {
                QueryError::MemoryLimit { limit: self.config.memory_bytes, detail: root.strip_backtrace() }
            }
            ErrorClass::BadRequest => QueryError::SqlPlan(root.strip_backtrace()),
            _ => QueryError::DataFusion(e),
        }
    }
}

/// A multi-threaded tokio runtime of its own for DataFusion (its recommended
/// set-up for CPU-bound work next to I/O). Shut down in the background on drop,
/// which is allowed from async code.
struct SqlRuntime(Option<tokio::runtime::Runtime>);

impl SqlRuntime {
    fn new(threads: usize) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("osprey-sql")
            .thread_stack_size(SQL_THREAD_STACK_BYTES)
            .enable_all()
            .build()
            .map_err(|e| QueryError::Task(format!("cannot start the SQL runtime: {e}")))?;
        Ok(SqlRuntime(Some(runtime)))
    }

    fn handle(&self) -> Result<&tokio::runtime::Handle> {
        self.0.as_ref().map(|rt| rt.handle()).ok_or_else(|| QueryError::Task("the SQL runtime is shut down".into()))
    }
}

impl Drop for SqlRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// Aborts the query task when the request is done with it (answered, timed out, or cancelled).
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The second wall behind [`guard`]: DataFusion refuses DDL, DML and statements
/// (`SET`, transactions, `PREPARE`) in the plan.
pub fn read_only() -> SQLOptions {
    SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false)
}

#[cfg(test)]
mod tests;
