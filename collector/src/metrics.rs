//! The collector's counters. For every decoded request,
//! `received = accepted + rejected` (per signal), so "nothing lost" is an equation.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

type Labels<const N: usize> = [(&'static str, &'static str); N];

/// Shared handles (cloning shares the counters).
#[derive(Clone, Default)]
pub struct CollectorMetrics {
    received: Family<Labels<2>, Counter>,
    accepted: Family<Labels<1>, Counter>,
    rejected: Family<Labels<2>, Counter>,
    requests: Family<Labels<3>, Counter>,
    limited: Family<Labels<2>, Counter>,
}

/// `signal` label value of the traces receiver.
pub const TRACES: &str = "traces";

impl CollectorMetrics {
    /// Registers the counters (`_total` is appended by the registry).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "osprey_received_items",
            "Items (spans) in decoded OTLP requests, by signal and transport",
            self.received.clone(),
        );
        registry.register("osprey_accepted_items", "Items durably appended to storage", self.accepted.clone());
        registry.register(
            "osprey_rejected_items",
            "Items of decoded requests not stored, by reason (invalid, limit, overload, internal)",
            self.rejected.clone(),
        );
        registry.register(
            "osprey_requests",
            "OTLP export requests by outcome (success, partial_success, or the failure reason)",
            self.requests.clone(),
        );
        registry.register(
            "osprey_limited_values",
            "Values cut by a limit (truncated, dropped or replaced), by limit",
            self.limited.clone(),
        );
    }

    pub fn received(&self, signal: &'static str, transport: &'static str, n: u64) {
        self.received.get_or_create(&[("signal", signal), ("transport", transport)]).inc_by(n);
    }

    pub fn accepted(&self, signal: &'static str, n: u64) {
        self.accepted.get_or_create(&[("signal", signal)]).inc_by(n);
    }

    pub fn rejected(&self, signal: &'static str, reason: &'static str, n: u64) {
        if n > 0 {
            self.rejected.get_or_create(&[("signal", signal), ("reason", reason)]).inc_by(n);
        }
    }

    pub fn request(&self, signal: &'static str, transport: &'static str, outcome: &'static str) {
        self.requests.get_or_create(&[("signal", signal), ("transport", transport), ("outcome", outcome)]).inc();
    }

    pub fn limited(&self, signal: &'static str, limit: &'static str, n: u64) {
        if n > 0 {
            self.limited.get_or_create(&[("signal", signal), ("limit", limit)]).inc_by(n);
        }
    }

    /// Current value of one counter, for tests and logs. `labels` as `[("signal","traces"),...]`.
    pub fn value(&self, name: &str, labels: &[(&'static str, &'static str)]) -> u64 {
        match (name, labels.len()) {
            ("received", 2) => self.received.get_or_create(&[labels[0], labels[1]]).get(),
            ("accepted", 1) => self.accepted.get_or_create(&[labels[0]]).get(),
            ("rejected", 2) => self.rejected.get_or_create(&[labels[0], labels[1]]).get(),
            ("requests", 3) => self.requests.get_or_create(&[labels[0], labels[1], labels[2]]).get(),
            ("limited", 2) => self.limited.get_or_create(&[labels[0], labels[1]]).get(),
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests;
