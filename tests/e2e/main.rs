//! End-to-end tests: the real `osprey` binary, real OTLP clients, real faults.

mod harness;
mod sdk;

mod bad_input;
mod crash;
mod roundtrip;
mod search;
mod service_map;
mod sql;
mod waterfall;
