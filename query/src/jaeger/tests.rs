//! Tests of the Jaeger API: not written yet (see the branch report).
