//! Osprey's query side: the DataFusion session over the stored tables and the
//! native HTTP API. So far: the waterfall of one trace with its critical path.

pub mod critical_path;
mod span_tree;
pub mod waterfall;

pub use waterfall::{PlacedSpan, ServiceSummary, SpanTiming, Waterfall};
