//! The threads that parse and check SQL text ([`guard::check`]).
//!
//! The AST of an `a+b+c…` chain is as deep as the chain is long (up to half the text size), and
//! parsing and dropping it recurse, at well under 1 KiB a level in debug builds. So the guard runs
//! on threads whose stack is sized for the text cap, and what comes back is nested at most
//! `max_depth` levels (safe to drop anywhere). The threads start once, with the engine: a thread
//! per query with a stack this large cost more CPU than the query itself when the query is a
//! trace lookup (mapping and unmapping the stack, with a TLB shootdown on every core).

use std::panic::AssertUnwindSafe;
use std::sync::{mpsc, Arc, Mutex};

use datafusion::sql::parser::Statement;

use super::guard::{self, GuardLimits};
use crate::error::{QueryError, Result};

type Job = Box<dyn FnOnce() + Send>;

/// A few long-lived threads with large stacks, fed through one queue.
pub(crate) struct Parser {
    jobs: mpsc::Sender<Job>,
    limits: GuardLimits,
}

impl Parser {
    pub fn new(threads: usize, limits: GuardLimits) -> Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads.max(1) {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("osprey-sql-parse-{i}"))
                .stack_size(stack_bytes(limits.max_text_bytes))
                .spawn(move || work(&queue))
                .map_err(|e| QueryError::Task(format!("cannot start the SQL parser threads: {e}")))?;
        }
        Ok(Parser { jobs, limits })
    }

    /// [`guard::check`] of `sql` on one of the parser threads.
    pub async fn check(&self, sql: String) -> Result<Statement> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let limits = self.limits;
        let job: Job = Box::new(move || {
            let checked = guard::check(&sql, limits);
            // If the request is gone, the statement is dropped here, on the large stack.
            let _ = tx.send(checked);
        });
        self.jobs.send(job).map_err(|_| QueryError::Task("the SQL parser threads have stopped".into()))?;
        rx.await.map_err(|_| QueryError::Task("the SQL parser thread stopped without an answer".into()))?
    }
}

/// Runs jobs until the [`Parser`] (the queue's only sender) is dropped. A job that panics
/// answers nobody (its request gets an error) and the thread goes on with the next one.
fn work(queue: &Mutex<mpsc::Receiver<Job>>) {
    loop {
        let job = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        match job {
            Ok(job) => {
                if std::panic::catch_unwind(AssertUnwindSafe(job)).is_err() {
                    tracing::error!("the SQL parser panicked on a query");
                }
            }
            Err(mpsc::RecvError) => return,
        }
    }
}

/// Stack of a parser thread: room for the deepest AST the text cap allows.
fn stack_bytes(max_text_bytes: usize) -> usize {
    (max_text_bytes.saturating_mul(1024)).clamp(16 << 20, 1 << 30)
}
