//! [`Conversion`]: what converting one decoded OTLP request produced, for any signal — the
//! Arrow batch of accepted items, the counts that make `received = accepted + rejected`, what
//! the limits cut, and the first few problems for `partial_success.error_message`.

use arrow::array::RecordBatch;

use crate::limits::LimitCounts;

/// How many problems `partial_success.error_message` names.
const PROBLEMS_NAMED: usize = 5;

/// The result of converting one request. `P` is signal-specific state to commit once the batch
/// is stored (the spans-per-trace tally for traces; `()` for signals without one).
#[derive(Debug, Default)]
pub struct Conversion<P = ()> {
    /// The accepted items in the table's physical schema; `None` when there are none.
    pub batch: Option<RecordBatch>,
    pub received: u64,
    pub accepted: u64,
    /// Items rejected by validation.
    pub rejected_invalid: u64,
    /// Items rejected by a limit (e.g. `max_spans_per_trace`).
    pub rejected_limit: u64,
    pub limits: LimitCounts,
    /// Committed by the signal after the batch is stored.
    pub pending: P,
    /// The receive time given to items without a time of their own (logs), which the WAL's
    /// source frame records so that replay converts to the same rows ([`crate::replay`]).
    pub now: Option<i64>,
    problems: Vec<String>,
}

impl<P> Conversion<P> {
    pub fn rejected(&self) -> u64 {
        self.rejected_invalid + self.rejected_limit
    }

    /// The `partial_success.error_message`: the count, the first few problems, how many more.
    /// `items` names what was counted ("spans", "log records", "data points").
    pub fn error_message(&self, items: &str) -> String {
        let mut msg =
            format!("rejected {} of {} {items}: {}", self.rejected(), self.received, self.problems.join("; "));
        let unnamed = self.rejected().saturating_sub(self.problems.len() as u64);
        if unnamed > 0 {
            msg.push_str(&format!("; and {unnamed} more"));
        }
        msg
    }

    /// Adds the counts and problems of `other`, the conversion of the part after this one's
    /// items, and hands back its pending state (its batch, if any, is dropped: take it first).
    pub fn absorb<Q>(&mut self, other: Conversion<Q>) -> Q {
        self.received += other.received;
        self.accepted += other.accepted;
        self.rejected_invalid += other.rejected_invalid;
        self.rejected_limit += other.rejected_limit;
        self.limits += other.limits;
        for problem in other.problems {
            self.reject(|| problem);
        }
        other.pending
    }

    /// Records a rejected item's problem (only the first few are kept; the text is built only then).
    pub fn reject(&mut self, problem: impl FnOnce() -> String) {
        if self.problems.len() < PROBLEMS_NAMED {
            self.problems.push(problem());
        }
    }
}
