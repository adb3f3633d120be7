//! Tests of the SQL engine over real storage: a fixed dataset written through
//! [`osprey_storage::Storage`] (part in Parquet, part in the memtable), the
//! `sqllogictest` suite in `query/tests/slt/`, and the pruning seen in
//! `EXPLAIN ANALYZE`.

mod dataset;
mod logic;
mod pruning;
