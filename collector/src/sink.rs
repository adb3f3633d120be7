//! Where accepted spans go: [`Sink`], implemented by `osprey_storage::Storage` (forwarding)
//! and by [`MemorySink`], an in-memory sink for tests that can be told to fail.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use arrow::array::RecordBatch;
use bytes::Bytes;
use futures::future::BoxFuture;
use osprey_storage::wal::Encoded;
use osprey_storage::{SourceDecoder as _, Storage, StorageError, Table};

/// Bytes of the memory budget held by one request; released when dropped.
pub struct Permit(#[allow(dead_code)] Box<dyn Send + Sync>);

impl Permit {
    pub fn new(holder: impl Send + Sync + 'static) -> Self {
        Permit(Box::new(holder))
    }
}

/// A batch made ready to append by [`Sink::prepare`].
#[derive(Debug)]
pub enum Prepared {
    /// Storage's: the batch with its encoded WAL frame.
    Frame(Encoded),
    /// A [`MemorySink`]'s: the batch as it came.
    Batch(Table, RecordBatch),
}

/// The storage side of the collector.
pub trait Sink: Send + Sync + 'static {
    /// Reserves `bytes` of the memory budget for a request being read and decoded, or refuses
    /// with a retryable error (`MemoryBudget`, `DiskFull`, `ShuttingDown`).
    fn admit(&self, bytes: usize) -> Result<Permit, StorageError>;

    /// The CPU-bound work of appending a batch in `table`'s schema, done by the caller (on the
    /// blocking pool); `None` for an empty batch.
    fn prepare(&self, table: Table, batch: RecordBatch) -> Result<Option<Prepared>, StorageError>;

    /// [`Sink::prepare`] for a batch converted from `head` then `source` (the request's bytes,
    /// kept without a copy), which `codec` of [`crate::replay::Replay`] converts again to exactly
    /// `batch` on WAL replay.
    fn prepare_from_source(
        &self,
        table: Table,
        batch: RecordBatch,
        codec: u8,
        head: &[u8],
        source: Bytes,
    ) -> Result<Option<Prepared>, StorageError>;

    /// Appends prepared batches as one unit; resolves once all are durable.
    fn append(&self, batches: Vec<Prepared>) -> BoxFuture<'_, Result<(), StorageError>>;
}

impl Sink for Storage {
    fn admit(&self, bytes: usize) -> Result<Permit, StorageError> {
        Storage::admit(self, bytes).map(Permit::new)
    }

    fn prepare(&self, table: Table, batch: RecordBatch) -> Result<Option<Prepared>, StorageError> {
        Ok(Storage::prepare(table, batch)?.map(Prepared::Frame))
    }

    fn prepare_from_source(
        &self,
        table: Table,
        batch: RecordBatch,
        codec: u8,
        head: &[u8],
        source: Bytes,
    ) -> Result<Option<Prepared>, StorageError> {
        Ok(Storage::prepare_from_source(table, batch, codec, head, source)?.map(Prepared::Frame))
    }

    fn append(&self, batches: Vec<Prepared>) -> BoxFuture<'_, Result<(), StorageError>> {
        let frames = batches
            .into_iter()
            .map(|p| match p {
                Prepared::Frame(frame) => Ok(frame),
                Prepared::Batch(table, _) => {
                    Err(StorageError::InvalidInput(format!("a {} batch was not prepared by storage", table.name())))
                }
            })
            .collect::<Result<Vec<_>, _>>();
        Box::pin(async move { self.append_frames(frames?).await })
    }
}

/// How a [`MemorySink`] is told to fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    MemoryBudget,
    DiskFull,
    ShuttingDown,
    /// `append` fails with an I/O error (admission succeeds).
    AppendIo,
}

impl Failure {
    fn error(self) -> StorageError {
        match self {
            Failure::MemoryBudget => StorageError::MemoryBudget { in_use: 1, budget: 1 },
            Failure::DiskFull => StorageError::DiskFull { path: "/test".into(), free: 0, reserve: 1 },
            Failure::ShuttingDown => StorageError::ShuttingDown,
            Failure::AppendIo => StorageError::io("/test/wal", std::io::Error::other("injected")),
        }
    }
}

/// An in-memory [`Sink`] for tests: keeps every appended batch, tracks admitted bytes.
#[derive(Default)]
pub struct MemorySink {
    batches: Mutex<Vec<(Table, RecordBatch)>>,
    failure: Mutex<Option<Failure>>,
    in_use: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    /// Admission refuses past this many bytes in use, as storage's budget does.
    limit: Mutex<Option<usize>>,
    /// Batches prepared from a source that replays to them.
    sources: AtomicUsize,
}

struct MemoryPermit {
    bytes: usize,
    in_use: Arc<AtomicUsize>,
}

impl Drop for MemoryPermit {
    fn drop(&mut self) {
        self.in_use.fetch_sub(self.bytes, Ordering::SeqCst);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl MemorySink {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Makes later calls fail (`None`: succeed again).
    pub fn fail_with(&self, failure: Option<Failure>) {
        *lock(&self.failure) = failure;
    }

    /// Makes admission refuse what would take the bytes admitted past `limit` (`None`: no limit).
    pub fn set_limit(&self, limit: Option<usize>) {
        *lock(&self.limit) = limit;
    }

    /// Every batch appended so far.
    pub fn batches(&self) -> Vec<RecordBatch> {
        lock(&self.batches).iter().map(|(_, b)| b.clone()).collect()
    }

    /// Rows appended so far.
    pub fn rows(&self) -> usize {
        lock(&self.batches).iter().map(|(_, b)| b.num_rows()).sum()
    }

    /// Batches prepared from a source frame (each checked to replay to its rows).
    pub fn source_frames(&self) -> usize {
        self.sources.load(Ordering::SeqCst)
    }

    /// The most bytes ever admitted at once.
    pub fn peak_admitted(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    /// Bytes admitted now (by requests in flight).
    pub fn admitted(&self) -> usize {
        self.in_use.load(Ordering::SeqCst)
    }
}

impl Sink for MemorySink {
    fn admit(&self, bytes: usize) -> Result<Permit, StorageError> {
        match *lock(&self.failure) {
            Some(f) if f != Failure::AppendIo => return Err(f.error()),
            _ => {}
        }
        let limit = *lock(&self.limit);
        let mut in_use = self.in_use.load(Ordering::SeqCst);
        loop {
            if let Some(budget) = limit.filter(|l| in_use.saturating_add(bytes) > *l) {
                return Err(StorageError::MemoryBudget { in_use, budget });
            }
            match self.in_use.compare_exchange(in_use, in_use + bytes, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => break,
                Err(actual) => in_use = actual,
            }
        }
        let now = in_use + bytes;
        self.peak.fetch_max(now, Ordering::SeqCst);
        Ok(Permit::new(MemoryPermit { bytes, in_use: self.in_use.clone() }))
    }

    fn prepare(&self, table: Table, batch: RecordBatch) -> Result<Option<Prepared>, StorageError> {
        Ok((batch.num_rows() > 0).then_some(Prepared::Batch(table, batch)))
    }

    /// Checks what storage's replay would do: `source` converts again to exactly `batch`.
    fn prepare_from_source(
        &self,
        table: Table,
        batch: RecordBatch,
        codec: u8,
        head: &[u8],
        source: Bytes,
    ) -> Result<Option<Prepared>, StorageError> {
        let replayed = crate::replay::Replay.decode(table, codec, &[head, &source].concat())?;
        if replayed != table.to_physical(&batch)? {
            return Err(StorageError::Internal(format!("{} source frame replays to other rows", table.name())));
        }
        self.sources.fetch_add(1, Ordering::SeqCst);
        self.prepare(table, batch)
    }

    fn append(&self, batches: Vec<Prepared>) -> BoxFuture<'_, Result<(), StorageError>> {
        let failure = *lock(&self.failure);
        Box::pin(async move {
            if let Some(f) = failure {
                return Err(f.error());
            }
            let mut stored = lock(&self.batches);
            for prepared in batches {
                match prepared {
                    Prepared::Batch(table, batch) => stored.push((table, batch)),
                    Prepared::Frame(frame) => {
                        return Err(StorageError::InvalidInput(format!("a frame of {} rows", frame.num_rows())))
                    }
                }
            }
            Ok(())
        })
    }
}
