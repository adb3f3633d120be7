//! The single WAL writer. It owns the active segment, runs on its own thread
//! (blocking file I/O, no runtime needed) and processes commands in order:
//!
//! - `Append`s are gathered into a group (everything queued, plus whatever
//!   arrives within `group_commit_window`), written, fsynced once, inserted
//!   into the active memtable, and only then answered.
//! - `Freeze` rotates to a new segment and moves the active memtable to the
//!   frozen list; the new segment's id is the checkpoint. Because inserts happen
//!   on this same thread, no append can slip between the rotation and the swap.
//! - `Drain` answers once everything queued before it is done; `Stop` ends the thread.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use tokio::sync::{oneshot, Notify};

use crate::budget::Budget;
use crate::catalog::{Catalog, Frozen};
use crate::config::WalConfig;
use crate::error::{Result, StorageError};
use crate::metrics::{table_label, StorageMetrics};

use super::Encoded;

/// A commit group stops growing past this many bytes.
const MAX_GROUP_BYTES: usize = 32 << 20;

/// What the writer shares with the rest of the engine.
#[derive(Debug, Clone)]
pub struct Shared {
    pub catalog: Arc<RwLock<Catalog>>,
    pub budget: Arc<Budget>,
    pub metrics: Arc<StorageMetrics>,
    /// Woken when the memtables reach `flush_threshold` bytes.
    pub flush_wanted: Arc<Notify>,
    pub flush_threshold: usize,
}

/// Frames written, fsynced and inserted together: a request's parts are durable and visible at once.
struct Append {
    frames: Vec<Encoded>,
    reply: oneshot::Sender<Result<()>>,
}

impl Append {
    fn bytes(&self) -> usize {
        self.frames.iter().map(Encoded::len).sum()
    }
}

enum Command {
    Append(Append),
    Freeze(oneshot::Sender<Result<Option<Arc<Frozen>>>>),
    Drain(oneshot::Sender<()>),
    Stop,
}

/// Handle to the writer thread. Dropping it ends the thread once the queue is empty.
#[derive(Debug)]
pub struct WalWriter {
    tx: mpsc::Sender<Command>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Command::Append(_) => "Append",
            Command::Freeze(_) => "Freeze",
            Command::Drain(_) => "Drain",
            Command::Stop => "Stop",
        })
    }
}

impl WalWriter {
    /// Creates segment `first_segment` in `dir` and starts the writer thread.
    pub fn start(dir: &Path, first_segment: u64, config: WalConfig, shared: Shared) -> Result<Self> {
        let segment = Segment::create(dir, first_segment)?;
        let (tx, rx) = mpsc::channel();
        let mut task = Writer { dir: dir.to_path_buf(), config, shared, segment, rotate_pending: false };
        std::thread::Builder::new()
            .name("osprey-wal".into())
            .spawn(move || task.run(rx))
            .map_err(|e| StorageError::Internal(format!("starting the wal writer thread: {e}")))?;
        Ok(Self { tx })
    }

    /// Writes `frames` durably and inserts their batches into the active memtable, all in one
    /// commit group. The frames were encoded by the caller ([`Encoded`]).
    pub async fn append(&self, frames: Vec<Encoded>) -> Result<()> {
        let (reply, done) = oneshot::channel();
        self.send(Command::Append(Append { frames, reply }))?;
        done.await.map_err(|_| StorageError::ShuttingDown)?
    }

    /// Rotates the segment and freezes the active memtables (`None` if they were empty).
    pub async fn freeze(&self) -> Result<Option<Arc<Frozen>>> {
        let (reply, done) = oneshot::channel();
        self.send(Command::Freeze(reply))?;
        done.await.map_err(|_| StorageError::ShuttingDown)?
    }

    /// Waits until every command sent before this one is done.
    pub async fn drain(&self) -> Result<()> {
        let (reply, done) = oneshot::channel();
        self.send(Command::Drain(reply))?;
        done.await.map_err(|_| StorageError::ShuttingDown)
    }

    /// Ends the writer after the commands already queued.
    pub fn stop(&self) {
        let _ = self.tx.send(Command::Stop);
    }

    fn send(&self, command: Command) -> Result<()> {
        self.tx.send(command).map_err(|_| StorageError::ShuttingDown)
    }
}

struct Segment {
    id: u64,
    path: PathBuf,
    file: File,
    len: u64,
}

impl Segment {
    fn create(dir: &Path, id: u64) -> Result<Self> {
        let path = super::segment_path(dir, id);
        let file =
            OpenOptions::new().create_new(true).append(true).open(&path).map_err(|e| StorageError::io(&path, e))?;
        crate::manifest::sync_dir(dir)?;
        tracing::debug!(segment = id, "wal segment created");
        Ok(Self { id, path, file, len: 0 })
    }
}

struct Writer {
    dir: PathBuf,
    config: WalConfig,
    shared: Shared,
    segment: Segment,
    /// A rotation failed; retried before the next write.
    rotate_pending: bool,
}

impl Writer {
    fn run(&mut self, rx: mpsc::Receiver<Command>) {
        let mut pending: Option<Command> = None;
        loop {
            let command = match pending.take() {
                Some(c) => c,
                None => match rx.recv() {
                    Ok(c) => c,
                    Err(_) => break,
                },
            };
            match command {
                Command::Append(first) => {
                    let (group, next) = self.gather(&rx, first);
                    pending = next;
                    self.commit(group);
                }
                Command::Freeze(reply) => {
                    let _ = reply.send(self.freeze());
                }
                Command::Drain(reply) => {
                    let _ = reply.send(());
                }
                Command::Stop => break,
            }
        }
        if let Err(e) = self.segment.file.sync_data() {
            tracing::error!(segment = self.segment.id, error = %e, "final wal fsync failed");
        }
        tracing::info!(segment = self.segment.id, "wal writer stopped");
    }

    /// Collects the appends queued after `first` and those arriving within the
    /// group-commit window. Returns the group and a non-append command that ended it.
    fn gather(&self, rx: &mpsc::Receiver<Command>, first: Append) -> (Vec<Append>, Option<Command>) {
        let deadline = Instant::now() + self.config.group_commit_window;
        let mut bytes = first.bytes();
        let mut group = vec![first];
        while bytes < MAX_GROUP_BYTES {
            let next = match rx.try_recv() {
                Ok(c) => c,
                Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left == Duration::ZERO {
                        break;
                    }
                    match rx.recv_timeout(left) {
                        Ok(c) => c,
                        Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                    }
                }
            };
            match next {
                Command::Append(a) => {
                    bytes += a.bytes();
                    group.push(a);
                }
                other => return (group, Some(other)),
            }
        }
        (group, None)
    }

    fn commit(&mut self, group: Vec<Append>) {
        if let Err(e) = self.write_group(&group) {
            tracing::error!(segment = self.segment.id, frames = group.len(), error = %e, "wal write failed");
            let message = e.to_string();
            for a in group {
                let err = StorageError::io(&self.segment.path, std::io::Error::other(message.clone()));
                let _ = a.reply.send(Err(err));
            }
            return;
        }
        let shared = &self.shared;
        let mut replies = Vec::with_capacity(group.len());
        {
            let mut catalog = shared.catalog.write();
            // Inserting can also coalesce small batches, which changes their bytes.
            let before = catalog.active.bytes();
            for a in group {
                for frame in a.frames {
                    let bytes = frame.batch.get_array_memory_size();
                    let rows = frame.batch.num_rows() as u64;
                    shared.metrics.rows_appended.get_or_create(&table_label(frame.table)).inc_by(rows);
                    catalog.active.insert(frame.table, frame.batch, bytes);
                }
                replies.push(a.reply);
            }
            let after = catalog.active.bytes();
            shared.budget.add_memtable(after.saturating_sub(before));
            shared.budget.sub_memtable(before.saturating_sub(after));
            catalog.export_gauges(&shared.metrics);
        }
        for reply in replies {
            let _ = reply.send(Ok(()));
        }
        if shared.budget.memtable() >= shared.flush_threshold {
            shared.flush_wanted.notify_one();
        }
        if self.segment.len >= self.config.segment_bytes {
            if let Err(e) = self.rotate() {
                tracing::error!(segment = self.segment.id, error = %e, "wal segment rotation failed; retrying later");
                self.rotate_pending = true;
            }
        }
    }

    fn write_group(&mut self, group: &[Append]) -> Result<()> {
        if self.rotate_pending {
            self.rotate()?;
        }
        let start = self.segment.len;
        let mut bytes = 0u64;
        let mut write = || -> std::io::Result<()> {
            for frame in group.iter().flat_map(|a| &a.frames) {
                frame.write_to(&mut self.segment.file)?;
                bytes += frame.len() as u64;
            }
            if self.config.fsync {
                let t = Instant::now();
                self.segment.file.sync_data()?;
                self.shared.metrics.wal_fsync_seconds.observe(t.elapsed().as_secs_f64());
                self.shared.metrics.wal_fsyncs.inc();
            }
            Ok(())
        };
        match write() {
            Ok(()) => {
                self.segment.len += bytes;
                self.shared.metrics.wal_bytes.inc_by(bytes);
                self.shared.metrics.wal_frames.inc_by(group.iter().map(|a| a.frames.len() as u64).sum());
                Ok(())
            }
            Err(e) => {
                // Cut off the partial group, then move on to a fresh segment: this one may be unreliable.
                if let Err(te) = self.segment.file.set_len(start) {
                    tracing::error!(segment = self.segment.id, error = %te, "could not cut a failed wal write");
                }
                self.segment.len = start;
                self.rotate_pending = true;
                Err(StorageError::io(&self.segment.path, e))
            }
        }
    }

    /// Closes the current segment and starts the next one.
    fn rotate(&mut self) -> Result<()> {
        self.segment.file.sync_data().map_err(|e| StorageError::io(&self.segment.path, e))?;
        let next = Segment::create(&self.dir, self.segment.id + 1)?;
        let old = std::mem::replace(&mut self.segment, next);
        self.rotate_pending = false;
        tracing::info!(segment = old.id, bytes = old.len, next = self.segment.id, "wal segment rotated");
        Ok(())
    }

    fn freeze(&mut self) -> Result<Option<Arc<Frozen>>> {
        if self.shared.catalog.read().active.is_empty() {
            return Ok(None);
        }
        if self.segment.len > 0 || self.rotate_pending {
            self.rotate()?;
        }
        let checkpoint = self.segment.id;
        let frozen = self.shared.catalog.write().freeze(checkpoint);
        Ok(frozen)
    }
}
