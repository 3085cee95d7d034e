//! Customer-lifetime-value models for non-contractual settings (customers may stop buying at
//! any time without telling anyone), after Fader, Hardie and Lee.
//!
//! The pipeline:
//!
//! 1. [`CustomerSummary::from_purchases`] reduces each customer's purchases over a calibration
//!    period to `(x, t_x, T, z̄)`: repeat purchase days, recency, age and mean repeat spend.
//! 2. [`fit_bgnbd`] fits the BG/NBD purchase-count model (Fader, Hardie & Lee 2005, "Counting
//!    Your Customers the Easy Way: An Alternative to the Pareto/NBD Model", Marketing Science
//!    24(2), 275–284) by maximum likelihood: [`BgNbdParams`] `(r, α, a, b)`, giving expected
//!    future purchases ([`BgNbdParams::conditional_expected_purchases`]) and the probability
//!    that a customer is still active ([`BgNbdParams::probability_alive`]).
//! 3. [`fit_gamma_gamma`] fits the Gamma-Gamma spend model (Fader & Hardie 2013, "The
//!    Gamma-Gamma Model of Monetary Value"; Fader, Hardie & Lee 2005, "RFM and CLV: Using
//!    Iso-Value Curves for Customer Base Analysis", Journal of Marketing Research 42(4)) on the
//!    customers with repeat purchases: [`GammaGammaParams`] `(p, q, γ)`, giving the expected
//!    spend per purchase ([`GammaGammaParams::conditional_expected_spend`]).
//! 4. [`customer_lifetime_value`] discounts expected purchases × expected spend month by month
//!    over a horizon, as the `lifetimes` Python package does.
//!
//! All times are in one [`TimeUnit`] (days or weeks) throughout: a model fitted on weekly
//! summaries has `α` per week and must be asked about weeks.
//!
//! The fits maximise the log-likelihood with argmin's L-BFGS over the logarithms of the
//! parameters (so they stay positive), on the analytic gradient (digamma terms), from a cheap
//! moment-based starting point, until the gradient norm of the mean log-likelihood is below
//! 1e-7; Nelder-Mead (restarted from its optimum until a restart no longer improves it) takes
//! over when L-BFGS fails. Each fit's [`FitReport`] says which method converged, its iterations
//! and the final gradient norm. The likelihood is evaluated once per distinct `(x, t_x, T)`
//! triple (BG/NBD) or `(x, z̄)` pair (Gamma-Gamma), weighted by its count, with the terms that
//! depend on `x`, `T` or `t_x` alone computed once per distinct value: the same sum as over
//! every customer, at a fraction of the cost. On the CDNOW sample (2,357 customers, weeks)
//! they reproduce the published estimates: BG/NBD `r = 0.243, α = 4.414, a = 0.793,
//! b = 2.426` (LL −9582.4) and Gamma-Gamma `p = 6.25, q = 3.74, γ = 15.44`.
//!
//! ```
//! use chrono::NaiveDate;
//! use crm_domain::analytics::clv::{
//!     customer_lifetime_value, BgNbdParams, CustomerSummary, GammaGammaParams, TimeUnit,
//! };
//!
//! let day = |m, d| NaiveDate::from_ymd_opt(1997, m, d).expect("a valid date");
//! let purchases = [(day(1, 1), 29.33), (day(1, 18), 29.73), (day(8, 2), 14.96)];
//! let summary = CustomerSummary::from_purchases(&purchases, day(9, 30), TimeUnit::Week)
//!     .expect("purchases before the calibration end");
//! assert_eq!(summary.frequency, 2.0);
//!
//! // The published CDNOW estimates (weeks).
//! let bg = BgNbdParams { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 };
//! let gg = GammaGammaParams { p: 6.25, q: 3.74, gamma: 15.44 };
//! let next_39_weeks = bg.conditional_expected_purchases(39.0, &summary);
//! let alive = bg.probability_alive(&summary);
//! let clv = customer_lifetime_value(&bg, &gg, &summary, 12, 0.01, TimeUnit::Week);
//! assert!(next_39_weeks > 0.0 && alive > 0.0 && alive < 1.0 && clv > 0.0);
//! ```

mod bgnbd;
mod gamma_gamma;
mod optimize;
mod special;
mod summary;
mod value;

pub use bgnbd::{BgNbdFit, BgNbdParams, fit_bgnbd};
pub use gamma_gamma::{GammaGammaFit, GammaGammaParams, fit_gamma_gamma};
pub use summary::{CustomerSummary, TimeUnit};
pub use value::customer_lifetime_value;

string_enum!(
    /// The optimiser that produced a fit's estimates.
    #[derive(serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    FitMethod {
        /// argmin's L-BFGS with the Moré-Thuente line search on the analytic gradient
        /// (Nocedal & Wright 2006, "Numerical Optimization", §7.2).
        Lbfgs => "lbfgs",
        /// argmin's Nelder-Mead simplex with restarts, the fallback when L-BFGS fails.
        NelderMead => "nelder_mead",
    }
);

/// How a maximum-likelihood fit ended.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FitReport {
    /// The method whose answer this is.
    pub method: FitMethod,
    /// Iterations: L-BFGS's, plus Nelder-Mead's when it fell back.
    pub iterations: u64,
    /// Evaluations of the log-likelihood (each with its gradient for L-BFGS).
    pub evaluations: u64,
    /// Euclidean norm of the gradient of the mean log-likelihood per customer with respect to
    /// the log-parameters, at the estimates (dimensionless; ≤ 1e-7 when L-BFGS converged).
    pub gradient_norm: f64,
}

/// Why a model could not be fitted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FitError {
    /// Fewer usable customers than the model needs: at least 2 summaries for BG/NBD, at least
    /// 2 customers with `x > 0` and `z̄ > 0` for Gamma-Gamma.
    #[error(
        "too few customers to fit the {model} model: {found} usable, at least {required} needed"
    )]
    TooFewCustomers {
        /// `"BG/NBD"` or `"Gamma-Gamma"`.
        model: &'static str,
        /// Usable customers in the input.
        found: usize,
        /// Minimum needed.
        required: usize,
    },
    /// No customer made a repeat purchase, so the BG/NBD likelihood has no interior maximum
    /// (it grows without bound as `r → 0`).
    #[error("no customer made a repeat purchase: the BG/NBD model is not identified")]
    NoRepeatPurchases,
    /// A summary has a negative or non-finite field.
    #[error("customer summary {index} is invalid: {problem}")]
    InvalidSummary {
        /// Position of the summary in the input slice.
        index: usize,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The optimiser reported an error or stopped for a reason other than convergence.
    #[error("the optimiser failed: {0}")]
    Optimizer(String),
    /// The optimiser reached its iteration cap before converging.
    #[error("the optimiser did not converge within {iterations} iterations")]
    NotConverged {
        /// Nelder-Mead iterations done.
        iterations: u64,
    },
    /// The log-likelihood is not finite at the starting point or at the optimum.
    #[error("the log-likelihood is not finite")]
    NonFiniteLikelihood,
    /// Every customer who takes part in the Gamma-Gamma model has the same mean spend `z̄`:
    /// the likelihood grows without bound (a spike at that value), so there is no estimate.
    #[error(
        "every repeat customer has the same mean spend: the Gamma-Gamma model is not identified"
    )]
    IdenticalSpend,
    /// The likelihood's supremum lies on the boundary of the parameter space (a parameter went
    /// to 0 or ∞), so there is no finite estimate: typically too few or too uniform customers.
    #[error("the {model} likelihood has no interior maximum: {parameter} went to {limit}")]
    Boundary {
        /// `"BG/NBD"` or `"Gamma-Gamma"`.
        model: &'static str,
        /// The parameter's name.
        parameter: &'static str,
        /// `"0"` or `"infinity"`.
        limit: &'static str,
    },
}

/// Largest `|ln θ|` a fitted parameter may have (θ between e^−30 ≈ 1e-13 and e^30 ≈ 1e13):
/// beyond it the optimiser is walking off to the boundary of the parameter space, not
/// converging on an estimate.
pub(crate) const MAX_ABS_LOG_PARAM: f64 = 30.0;

/// [`FitError::Boundary`] for the first log-parameter beyond [`MAX_ABS_LOG_PARAM`].
pub(crate) fn check_interior(
    model: &'static str,
    names: &[&'static str],
    logs: &[f64],
) -> Result<(), FitError> {
    for (name, value) in names.iter().zip(logs) {
        if !value.is_finite() || value.abs() > MAX_ABS_LOG_PARAM {
            return Err(FitError::Boundary {
                model,
                parameter: name,
                limit: if *value > 0.0 { "infinity" } else { "0" },
            });
        }
    }
    Ok(())
}

/// Groups identical items (compared by `key`, which must be a total order) and counts them:
/// `(representative, count)`. Weighting the log-likelihood of each distinct summary by its
/// count gives the same sum as evaluating every customer.
pub(crate) fn group_identical<T: Copy, K: Ord>(
    items: impl IntoIterator<Item = T>,
    key: impl Fn(&T) -> K,
) -> Vec<(T, f64)> {
    let mut items: Vec<T> = items.into_iter().collect();
    items.sort_by_key(&key);
    let mut groups: Vec<(T, f64)> = Vec::new();
    for item in items {
        match groups.last_mut() {
            Some((last, count)) if key(last) == key(&item) => *count += 1.0,
            _ => groups.push((item, 1.0)),
        }
    }
    groups
}

/// A total-order key for a float: its IEEE bits, ordered as `f64::total_cmp` orders them.
pub(crate) fn float_key(value: f64) -> i64 {
    let bits = value.to_bits() as i64;
    bits ^ ((((bits >> 63) as u64) >> 1) as i64)
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! The CDNOW 1/10 sample, as shipped with the `lifetimes` package (MIT).

    use super::CustomerSummary;

    /// `CDNOW_sample.txt`: no header; customer_id, sample_id, date (YYYYMMDD), number_of_cds,
    /// dollar_value, whitespace-separated. `sample_id` is the summary file's `ID`.
    pub const CDNOW_SAMPLE: &str = include_str!("../../../tests/fixtures/cdnow/CDNOW_sample.txt");

    /// `cdnow_customers_summary_with_transactions.csv`: ID,x,t_x,T,zbar; weeks; 2 decimals.
    pub const CDNOW_SUMMARY: &str =
        include_str!("../../../tests/fixtures/cdnow/cdnow_customers_summary_with_transactions.csv");

    /// The summary file's rows as `(ID, summary)`.
    pub fn cdnow_summary() -> Vec<(u32, CustomerSummary)> {
        let mut lines = CDNOW_SUMMARY.lines();
        assert_eq!(lines.next(), Some("ID,x,t_x,T,zbar"));
        lines
            .filter(|l| !l.trim().is_empty())
            .map(|line| {
                let cols: Vec<&str> = line.trim().split(',').collect();
                assert_eq!(cols.len(), 5, "line {line:?}");
                let num = |i: usize| cols[i].parse::<f64>().unwrap();
                (
                    cols[0].parse().unwrap(),
                    CustomerSummary {
                        frequency: num(1),
                        recency: num(2),
                        age: num(3),
                        monetary: num(4),
                    },
                )
            })
            .collect()
    }

    /// `got` within `tolerance` of `want`, naming `what` otherwise.
    pub fn assert_close(got: f64, want: f64, tolerance: f64, what: &str) {
        assert!(
            (got - want).abs() <= tolerance,
            "{what}: got {got}, want {want} ± {tolerance}"
        );
    }

    /// Each component of `gradient` (of `value` at `theta`) equals the central difference
    /// `(value(θ + h eᵢ) − value(θ − h eᵢ)) / 2h` with the relative step `h = 1e-5 θᵢ` (error
    /// O(h²), about 1e-10 relative), to `1e-5 · max(|difference|, 1)`.
    pub fn assert_gradient_matches_central_differences(
        theta: &[f64],
        gradient: &[f64],
        value: impl Fn(&[f64]) -> f64,
        what: &str,
    ) {
        for i in 0..theta.len() {
            let h = 1e-5 * theta[i];
            let at = |delta: f64| {
                let mut t = theta.to_vec();
                t[i] += delta;
                value(&t)
            };
            let numeric = (at(h) - at(-h)) / (2.0 * h);
            assert_close(
                gradient[i],
                numeric,
                1e-5 * numeric.abs().max(1.0),
                &format!("∂ℓ/∂θ{i} at {what}"),
            );
        }
    }

    /// Just the summaries.
    pub fn cdnow_summaries() -> Vec<CustomerSummary> {
        cdnow_summary().into_iter().map(|(_, s)| s).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_key_orders_like_total_cmp() {
        let values = [-3.5, -0.0, 0.0, 1e-300, 2.0, 38.86, f64::INFINITY];
        for pair in values.windows(2) {
            assert!(float_key(pair[0]) < float_key(pair[1]), "{pair:?}");
        }
    }

    #[test]
    fn group_identical_counts_duplicates() {
        let groups = group_identical([3.0, 1.0, 3.0, 2.0, 3.0], |v: &f64| float_key(*v));
        assert_eq!(groups, vec![(1.0, 1.0), (2.0, 1.0), (3.0, 3.0)]);
    }
}
