//! `histogram_quantile(q, bucket_counts, explicit_bounds)`: the φ-quantile of one explicit-bucket
//! histogram point of the `metrics` table, estimated the way Prometheus's `histogram_quantile`
//! does (`promql/quantile.go`, `bucketQuantile`): linear interpolation inside the bucket the
//! rank falls in, the lowest bucket starting at 0 (unless its bound is ≤ 0), and the highest
//! finite bound returned when the rank falls in the `+Inf` bucket.
//!
//! `bucket_counts` are per-bucket (OTLP), not cumulative; they are accumulated here.
//! `q < 0` → `-Inf`, `q > 1` → `+Inf`, no observations or fewer than two buckets → `NaN`,
//! a NULL argument → NULL.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, Float64Builder};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Float64Type};
use datafusion::common::{exec_err, Result};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

/// The UDF, to register in a session.
pub fn udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(HistogramQuantile { signature: Signature::any(3, Volatility::Immutable) })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct HistogramQuantile {
    signature: Signature,
}

fn float_list() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Float64, true)))
}

impl ScalarUDFImpl for HistogramQuantile {
    fn name(&self) -> &str {
        "histogram_quantile"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        let is_list = |t: &DataType| matches!(t, DataType::List(_) | DataType::Null);
        match args {
            [q, counts, bounds] if q.is_numeric() || q.is_null() => {
                if is_list(counts) && is_list(bounds) {
                    Ok(DataType::Float64)
                } else {
                    exec_err!("histogram_quantile(q, bucket_counts, explicit_bounds): the last two must be lists")
                }
            }
            _ => exec_err!("histogram_quantile(q, bucket_counts, explicit_bounds): q must be a number"),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let [q, counts, bounds] = arrays.as_slice() else {
            return exec_err!("histogram_quantile takes 3 arguments");
        };
        let q = cast(q, &DataType::Float64)?;
        let q = q.as_primitive::<Float64Type>();
        let counts = cast(counts, &float_list())?;
        let bounds = cast(bounds, &float_list())?;
        let (counts, bounds) = (counts.as_list::<i32>(), bounds.as_list::<i32>());
        let mut out = Float64Builder::with_capacity(q.len());
        for row in 0..q.len() {
            if q.is_null(row) || counts.is_null(row) || bounds.is_null(row) {
                out.append_null();
                continue;
            }
            let c = counts.value(row);
            let b = bounds.value(row);
            let (c, b): (&Float64Array, &Float64Array) = (c.as_primitive(), b.as_primitive());
            out.append_value(quantile(q.value(row), c.values(), b.values()));
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish()) as ArrayRef))
    }
}

/// Prometheus's `bucketQuantile` over per-bucket `counts` and finite upper `bounds`
/// (`counts` has one more entry: the `+Inf` bucket).
pub fn quantile(q: f64, counts: &[f64], bounds: &[f64]) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    if counts.len() < 2 || counts.len() != bounds.len() + 1 {
        return f64::NAN;
    }
    let cumulative: Vec<f64> = counts
        .iter()
        .scan(0.0, |acc, c| {
            *acc += c;
            Some(*acc)
        })
        .collect();
    let upper = |i: usize| bounds.get(i).copied().unwrap_or(f64::INFINITY);
    let observations = cumulative.last().copied().unwrap_or(0.0);
    if observations == 0.0 || observations.is_nan() {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let b = cumulative.iter().position(|c| *c >= rank).unwrap_or(cumulative.len() - 1);
    if b == cumulative.len() - 1 {
        return upper(cumulative.len() - 2);
    }
    if b == 0 && upper(0) <= 0.0 {
        return upper(0);
    }
    let at = |i: usize| cumulative.get(i).copied().unwrap_or(f64::NAN);
    let (mut start, end, mut count) = (0.0, upper(b), at(b));
    if b > 0 {
        start = upper(b - 1);
        count -= at(b - 1);
        rank -= at(b - 1);
    }
    start + (end - start) * (rank / count)
}

#[cfg(test)]
mod tests;
