//! Storage errors. Each variant knows its class (how a caller should answer it)
//! and whether the caller may retry. The HTTP and gRPC mappings live with the
//! servers (`collector::error`, `query::error`), in one place each.

use std::path::PathBuf;

/// How an error should be answered, independent of transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The caller sent something wrong (HTTP 400).
    InvalidInput,
    /// The thing asked for does not exist (HTTP 404).
    NotFound,
    /// Temporarily out of memory budget or disk: retry later (HTTP 429/503).
    Overloaded,
    /// A bug or an I/O failure on our side (HTTP 500).
    Internal,
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("memory budget exhausted: {in_use} of {budget} bytes in use; retry later")]
    MemoryBudget { in_use: usize, budget: usize },
    #[error("disk nearly full at {path}: {free} bytes free, {reserve} bytes reserved; retry later")]
    DiskFull { path: PathBuf, free: u64, reserve: u64 },
    #[error("storage is shutting down")]
    ShuttingDown,
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("datafusion: {0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    #[error("corrupt data: {0}")]
    Corrupt(String),
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl StorageError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StorageError::Io { path: path.into(), source }
    }

    pub fn class(&self) -> ErrorClass {
        match self {
            StorageError::MemoryBudget { .. } | StorageError::DiskFull { .. } | StorageError::ShuttingDown => {
                ErrorClass::Overloaded
            }
            StorageError::InvalidInput(_) => ErrorClass::InvalidInput,
            _ => ErrorClass::Internal,
        }
    }

    /// Whether the same request may succeed later.
    pub fn retryable(&self) -> bool {
        self.class() == ErrorClass::Overloaded
    }
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;
