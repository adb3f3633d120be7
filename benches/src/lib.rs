//! Shared pieces of Osprey's benchmarks: the otel-demo corpus reader and the
//! replay rewriter used by the load generator and the criterion benches.

pub mod corpus;
pub mod data_dir;
pub mod log_lines;
pub mod process;
