//! End-to-end tests: the real `osprey` binary, real OTLP clients, real faults.

mod harness;
mod sdk;

mod bad_input;
mod crash;
mod metrics;
mod roundtrip;
mod sql;
mod waterfall;
