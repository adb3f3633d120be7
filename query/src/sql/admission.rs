//! How many SQL queries run at once: a semaphore with a bounded queue in front.
//! A query that finds every slot taken waits in the queue (up to a time limit);
//! a query that finds the queue full is refused at once (HTTP 429).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::QueryError;

pub struct Admission {
    slots: Arc<Semaphore>,
    max_concurrent: usize,
    waiting: AtomicUsize,
    max_queued: usize,
}

/// A running query's slot; dropping it frees the slot.
pub struct Slot {
    _permit: OwnedSemaphorePermit,
}

impl Admission {
    pub fn new(max_concurrent: usize, max_queued: usize) -> Self {
        let max_concurrent = max_concurrent.max(1);
        Admission {
            slots: Arc::new(Semaphore::new(max_concurrent)),
            max_concurrent,
            waiting: AtomicUsize::new(0),
            max_queued,
        }
    }

    /// A slot now, or after waiting in the queue for at most `wait`.
    pub async fn admit(&self, wait: Duration) -> Result<Slot, QueryError> {
        if let Ok(permit) = Arc::clone(&self.slots).try_acquire_owned() {
            return Ok(Slot { _permit: permit });
        }
        let queued = Queued::enter(&self.waiting);
        if queued.position >= self.max_queued {
            return Err(QueryError::Overloaded(format!(
                "{} running and {} queued (query.sql.max_concurrent, query.sql.max_queued)",
                self.max_concurrent, self.max_queued
            )));
        }
        match tokio::time::timeout(wait, Arc::clone(&self.slots).acquire_owned()).await {
            Ok(Ok(permit)) => Ok(Slot { _permit: permit }),
            Ok(Err(_closed)) => Err(QueryError::Task("the SQL admission semaphore is closed".into())),
            Err(_elapsed) => Err(QueryError::Overloaded(format!(
                "waited {} ms in the queue for one of {} slots (query.sql.max_concurrent)",
                wait.as_millis(),
                self.max_concurrent
            ))),
        }
    }

    /// Queries waiting for a slot right now.
    pub fn queued(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }
}

/// One place in the queue, given back on drop (also when the request is cancelled).
struct Queued<'a> {
    waiting: &'a AtomicUsize,
    /// How many were waiting before this one.
    position: usize,
}

impl<'a> Queued<'a> {
    fn enter(waiting: &'a AtomicUsize) -> Self {
        let position = waiting.fetch_add(1, Ordering::AcqRel);
        Queued { waiting, position }
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.waiting.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests;
