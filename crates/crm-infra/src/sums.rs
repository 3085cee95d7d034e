//! Exact sums of money across customers, on both backends with one code path.
//!
//! Money is a BIGINT count of ten-thousandths, and one customer's total is at most
//! `Amount::MAX_UNITS` (≈ `i64::MAX` ten-thousandths), so two customers' totals already
//! overflow a 64-bit sum: PostgreSQL's `SUM(bigint)` is a `numeric` that no longer casts back
//! to BIGINT, and SQLite's `SUM` of integers raises "integer overflow" (its `total()` is a
//! float, inexact beyond 2^53). So a sum is taken in two parts that each stay far inside a
//! BIGINT: the high part `x / 10^9` (at most ≈ 9.2 × 10^9 per row) and the low part
//! `x % 10^9` (below 10^9 per row), both integer arithmetic on non-negative values on both
//! backends; overflowing either needs about a billion rows in one group. Rust joins them with
//! checked arithmetic into an [`AmountTotal`].

use crm_domain::RepositoryError;
use crm_domain::values::AmountTotal;

/// SQL of the sum of the high parts of the non-negative BIGINT column `col` (0 when no rows).
pub(crate) fn high(col: &str) -> String {
    format!(
        "CAST(COALESCE(SUM({col} / {split}), 0) AS BIGINT)",
        split = AmountTotal::SPLIT
    )
}

/// SQL of the sum of the low parts of the non-negative BIGINT column `col` (0 when no rows).
pub(crate) fn low(col: &str) -> String {
    format!(
        "CAST(COALESCE(SUM({col} % {split}), 0) AS BIGINT)",
        split = AmountTotal::SPLIT
    )
}

/// The total of the two parts read back.
///
/// # Errors
/// [`RepositoryError::Other`] when a part is negative (corrupt storage: amounts are ≥ 0).
pub(crate) fn total(high: i64, low: i64) -> Result<AmountTotal, RepositoryError> {
    AmountTotal::from_scaled_parts(high, low)
        .ok_or_else(|| RepositoryError::Other(format!("money sum parts {high}, {low} are invalid")))
}

/// The error of an addition of totals beyond what an [`AmountTotal`] holds (≈ 7.9 × 10^24
/// units: about 8.5 × 10^9 customers at the largest amount, so not reachable in practice).
pub(crate) fn beyond_range(currency: &str) -> RepositoryError {
    RepositoryError::Other(format!(
        "the revenue in {currency} is beyond the range of an exact decimal sum"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_rejoin_exactly_beyond_an_i64() {
        // Ten customers at i64::MAX ten-thousandths each.
        let x = i64::MAX;
        let (h, l) = (x / AmountTotal::SPLIT, x % AmountTotal::SPLIT);
        let t = total(h * 10, l * 10).unwrap();
        let expected = rust_decimal::Decimal::from_i128_with_scale(i128::from(x) * 10, 4);
        assert_eq!(t.value(), expected.normalize());
        assert!(total(-1, 0).is_err());
    }
}
