//! Osprey's storage: the data contract (Arrow schemas of `spans`, `logs`,
//! `metrics`), the write-ahead log, the memtable, Parquet files, the manifest
//! that catalogs them, and DataFusion table providers over memtable + Parquet.
//!
//! Depends on no other Osprey crate. See `ARCHITECTURE.md` for the data flow and
//! the durability contract.

pub mod attributes;
pub mod error;
pub mod spans;

pub use error::{ErrorClass, Result, StorageError};
