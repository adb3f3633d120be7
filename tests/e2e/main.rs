//! End-to-end tests: the real `osprey` binary, real OTLP clients, real faults.

mod harness;
mod python_env;
mod sdk;

mod bad_input;
mod crash;
mod flight_sql;
mod logs;
mod metrics;
mod roundtrip;
mod search;
mod service_map;
mod sql;
mod waterfall;
