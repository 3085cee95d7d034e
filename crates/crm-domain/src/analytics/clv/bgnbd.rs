//! The BG/NBD model of repeat-purchase counts: Fader, Hardie & Lee (2005), "Counting Your
//! Customers the Easy Way: An Alternative to the Pareto/NBD Model", Marketing Science 24(2),
//! 275–284; P(alive) from Fader, Hardie & Lee (2008), "Computing P(alive) Using the BG/NBD
//! Model".
//!
//! Assumptions: while active, a customer buys as a Poisson process with rate λ; after each
//! purchase they become inactive with probability p; λ ~ Gamma(shape r, rate α) and
//! p ~ Beta(a, b) across customers, independently.

use std::collections::BTreeMap;

use super::optimize::minimize_smooth;
use super::special::{digamma, hyp2f1_minus_one_over_b, ln_beta, ln_gamma};
use super::{CustomerSummary, FitError, FitReport, check_interior, float_key, group_identical};

/// BG/NBD parameters. `r`, `a`, `b` are dimensionless; `alpha` is in the time unit of the
/// summaries the model was fitted on (the Gamma distribution of purchase rates λ has shape `r`
/// and rate `alpha`, so its mean is `r / alpha` purchases per unit). All four are > 0.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BgNbdParams {
    /// Shape of the Gamma distribution of purchase rates λ.
    pub r: f64,
    /// Rate (inverse scale) of the Gamma distribution of purchase rates λ, per time unit.
    pub alpha: f64,
    /// First shape of the Beta distribution of the drop-out probability p.
    pub a: f64,
    /// Second shape of the Beta distribution of the drop-out probability p.
    pub b: f64,
}

/// The result of [`fit_bgnbd`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BgNbdFit {
    /// The maximum-likelihood estimates.
    pub params: BgNbdParams,
    /// The maximised log-likelihood, summed over all customers (eq. 6 summed, natural log).
    pub log_likelihood: f64,
    /// Customers the model was fitted on.
    pub customers: usize,
    /// How the optimiser ended: method, iterations, gradient norm.
    pub report: FitReport,
}

/// `ln(e^u + e^v)` without overflow.
fn log_add_exp(u: f64, v: f64) -> f64 {
    let (hi, lo) = if u >= v { (u, v) } else { (v, u) };
    if hi == f64::NEG_INFINITY {
        return hi;
    }
    hi + (lo - hi).exp().ln_1p()
}

impl BgNbdParams {
    fn is_valid(&self) -> bool {
        [self.r, self.alpha, self.a, self.b]
            .iter()
            .all(|v| v.is_finite() && *v > 0.0)
    }

    /// The log-likelihood of one customer's `(x, t_x, T)`: the natural log of Fader, Hardie &
    /// Lee (2005), eq. 6,
    ///
    /// `L = B(a, b+x)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+T)^(r+x))
    ///    + δ(x>0) · B(a+1, b+x−1)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+t_x)^(r+x))`,
    ///
    /// computed as `A₁ + A₂ + ln(e^A₃ + δ(x>0) e^A₄)` with `A₁ = ln Γ(r+x) − ln Γ(r) + r ln α`,
    /// `A₂ = ln B(a, b+x) − ln B(a, b)`, `A₃ = −(r+x) ln(α+T)` and
    /// `A₄ = ln a − ln(b+x−1) − (r+x) ln(α+t_x)` (using `B(a+1, b+x−1) = B(a, b+x) · a/(b+x−1)`),
    /// so that no Γ or B is ever exponentiated. `z̄` is not used. NaN for invalid parameters.
    pub fn log_likelihood(&self, summary: &CustomerSummary) -> f64 {
        if !self.is_valid() {
            return f64::NAN;
        }
        let BgNbdParams { r, alpha, a, b } = *self;
        let x = summary.frequency;
        let a1 = ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln();
        let a2 = ln_beta(a, b + x) - ln_beta(a, b);
        let a3 = -(r + x) * (alpha + summary.age).ln();
        if x > 0.0 {
            let a4 = a.ln() - (b + x - 1.0).ln() - (r + x) * (alpha + summary.recency).ln();
            a1 + a2 + log_add_exp(a3, a4)
        } else {
            a1 + a2 + a3
        }
    }

    /// `[1 − (1−z)^(r+x) ₂F₁(r+x, b+x; a+b+x−1; z)] / (a−1)`, the factor shared by eqs. 9
    /// and 10, for `0 ≤ z < 1`.
    ///
    /// Evaluated after Euler's transformation (DLMF 15.8.1),
    /// `(1−z)^(r+x) ₂F₁(r+x, b+x; c; z) = (1−z)^(a−1) ₂F₁(a+b−1−r, a−1; c; z)` with
    /// `c = a+b+x−1`: the transformed series has parameters that do not grow with `x` (no
    /// overflow of its terms for heavy buyers, while `(1−z)^(r+x)` alone could underflow), and
    /// writing it as `1 + (a−1)·U` with `U` from [`hyp2f1_minus_one_over_b`] lets the division
    /// by `a−1` be done exactly:
    /// `[1 − (1−z)^(a−1)]/(a−1) − (1−z)^(a−1)·U`, finite and accurate at and near `a = 1`.
    fn purchases_factor(&self, x: f64, z: f64) -> f64 {
        let BgNbdParams { r, a, b, .. } = *self;
        let a_minus_1 = a - 1.0;
        let ln_1_minus_z = (-z).ln_1p();
        let first = if a_minus_1 == 0.0 {
            -ln_1_minus_z
        } else {
            -(a_minus_1 * ln_1_minus_z).exp_m1() / a_minus_1
        };
        let u = hyp2f1_minus_one_over_b(a + b - 1.0 - r, a_minus_1, a + b + x - 1.0, z);
        first - (a_minus_1 * ln_1_minus_z).exp() * u
    }

    /// `E[X(t)]`: expected number of repeat purchases in `(0, t]` (t in the model's time unit,
    /// ≥ 0) by a customer picked at random, `t` units after their first purchase. Fader, Hardie
    /// & Lee (2005), eq. 9:
    ///
    /// `E[X(t)] = (a+b−1)/(a−1) · [1 − (α/(α+t))^r ₂F₁(r, b; a+b−1; t/(α+t))]`.
    ///
    /// (The equation is numbered 9 in the paper and in the `lifetimes` package.) The `a = 1`
    /// singularity is removable and handled. NaN for invalid parameters or `t < 0`.
    pub fn expected_purchases(&self, t: f64) -> f64 {
        if !self.is_valid() || !t.is_finite() || t < 0.0 {
            return f64::NAN;
        }
        let z = t / (self.alpha + t);
        (self.a + self.b - 1.0) * self.purchases_factor(0.0, z)
    }

    /// `E[Y(t) | x, t_x, T]`: expected number of purchases in the next `t` units (t in the
    /// model's time unit, ≥ 0) by a customer with the given history. Fader, Hardie & Lee (2005),
    /// eq. 10:
    ///
    /// `E[Y(t) | x, t_x, T] = (a+b+x−1)/(a−1)
    ///     · [1 − ((α+T)/(α+T+t))^(r+x) ₂F₁(r+x, b+x; a+b+x−1; t/(α+T+t))]
    ///     / [1 + δ(x>0) · a/(b+x−1) · ((α+T)/(α+t_x))^(r+x)]`.
    ///
    /// The denominator's reciprocal is [`probability_alive`](Self::probability_alive). `z̄` is
    /// not used. NaN for invalid parameters or `t < 0`.
    pub fn conditional_expected_purchases(&self, t: f64, summary: &CustomerSummary) -> f64 {
        if !self.is_valid() || !t.is_finite() || t < 0.0 {
            return f64::NAN;
        }
        let x = summary.frequency;
        let z = t / (self.alpha + summary.age + t);
        (self.a + self.b + x - 1.0) * self.purchases_factor(x, z) * self.probability_alive(summary)
    }

    /// `P(alive | x, t_x, T)`: the probability that the customer is still active at the end of
    /// the calibration period. Fader, Hardie & Lee (2008), "Computing P(alive) Using the BG/NBD
    /// Model", eq. 2:
    ///
    /// `P(alive) = 1 / [1 + δ(x>0) · a/(b+x−1) · ((α+T)/(α+t_x))^(r+x)]`,
    ///
    /// exactly 1 when `x = 0` (in the BG/NBD a customer can only drop out right after a
    /// purchase). Computed as a logistic of the log-odds, so it never overflows. NaN for
    /// invalid parameters.
    pub fn probability_alive(&self, summary: &CustomerSummary) -> f64 {
        if !self.is_valid() {
            return f64::NAN;
        }
        let x = summary.frequency;
        if x <= 0.0 {
            return 1.0;
        }
        let BgNbdParams { r, alpha, a, b } = *self;
        let log_odds_dead = a.ln() - (b + x - 1.0).ln()
            + (r + x) * ((alpha + summary.age).ln() - (alpha + summary.recency).ln());
        if log_odds_dead > 0.0 {
            let e = (-log_odds_dead).exp();
            e / (1.0 + e)
        } else {
            1.0 / (1.0 + log_odds_dead.exp())
        }
    }
}

/// The distinct values of `values` (compared by [`float_key`]), ascending, and the position
/// of each in that list, by key.
pub(crate) fn index_distinct(values: impl Iterator<Item = f64>) -> (Vec<f64>, BTreeMap<i64, u32>) {
    let by_key: BTreeMap<i64, f64> = values.map(|v| (float_key(v), v)).collect();
    let index = by_key
        .keys()
        .enumerate()
        .map(|(position, key)| (*key, position as u32))
        .collect();
    (by_key.into_values().collect(), index)
}

/// Customers with `x > 0` who share `(x, t_x, T)`, by index into [`BgNbdData`]'s tables.
#[derive(Debug, Clone, Copy)]
struct Triple {
    x: u32,
    recency: u32,
    age: u32,
    count: f64,
}

/// A BG/NBD sample prepared for repeated evaluation of the log-likelihood (Fader, Hardie & Lee
/// 2005, eq. 6, summed) and its gradient: customers grouped by distinct `(x, t_x, T)` with
/// their counts, and the distinct values of `x`, `t_x` and `T`, so that every term that
/// depends on one of them alone (ln Γ, ψ, ln(α+T), ...) is computed once per distinct value
/// per evaluation. Customers with `x = 0` only need `T`: they are grouped by `T`.
#[derive(Debug, Clone)]
pub(crate) struct BgNbdData {
    /// Distinct `x > 0`, ascending.
    xs: Vec<f64>,
    /// Customers per entry of `xs`.
    x_counts: Vec<f64>,
    /// Distinct `t_x` of the customers with `x > 0`.
    recencies: Vec<f64>,
    /// Distinct `T` of all customers.
    ages: Vec<f64>,
    /// Customers with `x > 0`, grouped.
    triples: Vec<Triple>,
    /// Customers with `x = 0`: `(index into ages, count)`.
    zeros: Vec<(u32, f64)>,
    /// Customers in all.
    customers: usize,
    /// Σ x and Σ T over all customers, for the starting point.
    total_x: f64,
    total_age: f64,
    /// Identical summaries (`z̄` dropped) with their counts: the Nelder-Mead fallback's
    /// likelihood, evaluated as before L-BFGS.
    grouped: Vec<(CustomerSummary, f64)>,
}

/// Scratch tables of one evaluation, per distinct `x`, `t_x`, `T`.
#[derive(Default)]
struct Tables {
    ln_age: Vec<f64>,
    inv_age: Vec<f64>,
    ln_recency: Vec<f64>,
    inv_recency: Vec<f64>,
    ln_odds: Vec<f64>,
    inv_b_x_1: Vec<f64>,
}

impl BgNbdData {
    /// Groups validated summaries.
    pub(crate) fn new(summaries: &[CustomerSummary]) -> Self {
        let repeaters = || summaries.iter().filter(|s| s.frequency > 0.0);
        let (xs, x_index) = index_distinct(repeaters().map(|s| s.frequency));
        let (recencies, recency_index) = index_distinct(repeaters().map(|s| s.recency));
        let (ages, age_index) = index_distinct(summaries.iter().map(|s| s.age));
        let mut x_counts = vec![0.0; xs.len()];
        let mut triples: BTreeMap<(u32, u32, u32), f64> = BTreeMap::new();
        let mut zeros: BTreeMap<u32, f64> = BTreeMap::new();
        for s in summaries {
            let age = age_index[&float_key(s.age)];
            if s.frequency > 0.0 {
                let x = x_index[&float_key(s.frequency)];
                x_counts[x as usize] += 1.0;
                let recency = recency_index[&float_key(s.recency)];
                *triples.entry((x, recency, age)).or_insert(0.0) += 1.0;
            } else {
                *zeros.entry(age).or_insert(0.0) += 1.0;
            }
        }
        BgNbdData {
            xs,
            x_counts,
            recencies,
            ages,
            triples: triples
                .into_iter()
                .map(|((x, recency, age), count)| Triple {
                    x,
                    recency,
                    age,
                    count,
                })
                .collect(),
            zeros: zeros.into_iter().collect(),
            customers: summaries.len(),
            total_x: summaries.iter().map(|s| s.frequency).sum(),
            total_age: summaries.iter().map(|s| s.age).sum(),
            grouped: group_identical(
                summaries.iter().map(|s| CustomerSummary {
                    monetary: 0.0,
                    ..*s
                }),
                |s| {
                    (
                        float_key(s.frequency),
                        float_key(s.recency),
                        float_key(s.age),
                    )
                },
            ),
        }
    }

    /// Distinct `(x, t_x, T)` groups with `x > 0` plus distinct `T` groups with `x = 0`: the
    /// number of terms one evaluation sums.
    #[cfg(test)]
    pub(crate) fn groups(&self) -> usize {
        self.triples.len() + self.zeros.len()
    }

    /// The summed log-likelihood `ℓ = Σ_i ln L_i` (Fader, Hardie & Lee 2005, eq. 6; see
    /// [`BgNbdParams::log_likelihood`] for `A₁ … A₄`) at `params`, and its gradient
    /// `(∂ℓ/∂r, ∂ℓ/∂α, ∂ℓ/∂a, ∂ℓ/∂b)` written to `gradient`. With `ψ` the digamma function,
    /// `w₃ = e^A₃/(e^A₃ + e^A₄)` and `w₄ = 1 − w₃` (`w₃ = 1` when `x = 0`), per customer:
    ///
    /// - `∂/∂r = ψ(r+x) − ψ(r) + ln α − w₃ ln(α+T) − w₄ ln(α+t_x)`
    /// - `∂/∂α = r/α − (r+x) [w₃/(α+T) + w₄/(α+t_x)]`
    /// - `∂/∂a = ψ(a+b) − ψ(a+b+x) + w₄/a`
    /// - `∂/∂b = ψ(b+x) − ψ(b) + ψ(a+b) − ψ(a+b+x) − w₄/(b+x−1)`
    ///
    /// (the ψ terms in `a` and `b` vanish for `x = 0`, where `A₂ = 0`). NaN for invalid
    /// parameters.
    pub(crate) fn log_likelihood_and_gradient(
        &self,
        params: &BgNbdParams,
        gradient: &mut [f64; 4],
    ) -> f64 {
        *gradient = [f64::NAN; 4];
        if !params.is_valid() {
            return f64::NAN;
        }
        let BgNbdParams { r, alpha, a, b } = *params;
        let ln_alpha = alpha.ln();
        let mut t = Tables::default();
        for &age in &self.ages {
            t.ln_age.push((alpha + age).ln());
            t.inv_age.push(1.0 / (alpha + age));
        }
        for &recency in &self.recencies {
            t.ln_recency.push((alpha + recency).ln());
            t.inv_recency.push(1.0 / (alpha + recency));
        }
        let (mut ll, mut g_r, mut g_alpha, mut g_a, mut g_b) = (0.0, 0.0, 0.0, 0.0, 0.0);
        // Terms that depend on x alone: A₁ + A₂ and their derivatives, times the customers with
        // that x.
        let (ln_gamma_r, digamma_r) = (ln_gamma(r), digamma(r));
        let (ln_gamma_b, digamma_b) = (ln_gamma(b), digamma(b));
        let (ln_gamma_ab, digamma_ab) = (ln_gamma(a + b), digamma(a + b));
        let ln_a = a.ln();
        for (&x, &count) in self.xs.iter().zip(&self.x_counts) {
            let a1 = ln_gamma(r + x) - ln_gamma_r + r * ln_alpha;
            let a2 = ln_gamma(b + x) - ln_gamma_b + ln_gamma_ab - ln_gamma(a + b + x);
            let digamma_abx = digamma(a + b + x);
            ll += count * (a1 + a2);
            g_r += count * (digamma(r + x) - digamma_r + ln_alpha);
            g_alpha += count * r / alpha;
            g_a += count * (digamma_ab - digamma_abx);
            g_b += count * (digamma(b + x) - digamma_b + digamma_ab - digamma_abx);
            t.ln_odds.push(ln_a - (b + x - 1.0).ln());
            t.inv_b_x_1.push(1.0 / (b + x - 1.0));
        }
        // x > 0: ln(e^A₃ + e^A₄), per distinct (x, t_x, T).
        let (mut s_a, mut s_b) = (0.0, 0.0);
        for tr in &self.triples {
            let (xi, ti, ai) = (tr.x as usize, tr.recency as usize, tr.age as usize);
            let rx = r + self.xs[xi];
            let a3 = -rx * t.ln_age[ai];
            let a4 = t.ln_odds[xi] - rx * t.ln_recency[ti];
            let (hi, e) = if a3 >= a4 {
                (a3, (a4 - a3).exp())
            } else {
                (a4, (a3 - a4).exp())
            };
            let (w3, w4) = if a3 >= a4 {
                (1.0 / (1.0 + e), e / (1.0 + e))
            } else {
                (e / (1.0 + e), 1.0 / (1.0 + e))
            };
            let c = tr.count;
            ll += c * (hi + e.ln_1p());
            g_r -= c * (w3 * t.ln_age[ai] + w4 * t.ln_recency[ti]);
            g_alpha -= c * rx * (w3 * t.inv_age[ai] + w4 * t.inv_recency[ti]);
            s_a += c * w4;
            s_b += c * w4 * t.inv_b_x_1[xi];
        }
        g_a += s_a / a;
        g_b -= s_b;
        // x = 0: r ln α − r ln(α+T), per distinct T.
        for &(ai, c) in &self.zeros {
            let ai = ai as usize;
            ll += c * r * (ln_alpha - t.ln_age[ai]);
            g_r += c * (ln_alpha - t.ln_age[ai]);
            g_alpha += c * r * (1.0 / alpha - t.inv_age[ai]);
        }
        *gradient = [g_r, g_alpha, g_a, g_b];
        ll
    }

    /// The starting point of the fit, in log-parameters: `r = 1` and `α` such that the mean
    /// purchase rate `r/α` is the sample's `Σx / ΣT` (a moment match of the Poisson rate that
    /// ignores drop-out), `a = b = 1` (drop-out probability uniform on (0, 1)).
    fn start(&self) -> [f64; 4] {
        let alpha = if self.total_x > 0.0 && self.total_age > 0.0 {
            self.total_age / self.total_x
        } else {
            1.0
        };
        [0.0, alpha.ln(), 0.0, 0.0]
    }

    /// Maximises the log-likelihood from `start` (log-parameters).
    pub(crate) fn fit_from(&self, start: &[f64; 4]) -> Result<BgNbdFit, FitError> {
        let n = self.customers as f64;
        let objective = |p: &[f64], gradient: &mut [f64]| {
            let params = from_logs(p);
            let mut g = [0.0; 4];
            let ll = self.log_likelihood_and_gradient(&params, &mut g);
            let theta = [params.r, params.alpha, params.a, params.b];
            for ((out, g), theta) in gradient.iter_mut().zip(g).zip(theta) {
                *out = -g * theta / n;
            }
            -ll / n
        };
        let fallback = |p: &[f64]| {
            let params = from_logs(p);
            -self
                .grouped
                .iter()
                .map(|(s, count)| count * params.log_likelihood(s))
                .sum::<f64>()
                / n
        };
        let (point, report) = minimize_smooth(&objective, start, fallback)?;
        check_interior("BG/NBD", &["r", "alpha", "a", "b"], &point)?;
        let params = from_logs(&point);
        let log_likelihood = self.log_likelihood_and_gradient(&params, &mut [0.0; 4]);
        if !params.is_valid() || !log_likelihood.is_finite() {
            return Err(FitError::NonFiniteLikelihood);
        }
        Ok(BgNbdFit {
            params,
            log_likelihood,
            customers: self.customers,
            report,
        })
    }
}

/// `(r, α, a, b)` from their logarithms.
fn from_logs(p: &[f64]) -> BgNbdParams {
    BgNbdParams {
        r: p[0].exp(),
        alpha: p[1].exp(),
        a: p[2].exp(),
        b: p[3].exp(),
    }
}

/// Fits the BG/NBD model to the customers' summaries by maximum likelihood (Fader, Hardie & Lee
/// 2005, eq. 6 summed over customers), with `z̄` ignored. The summaries' time unit becomes the
/// unit of `alpha`.
///
/// L-BFGS on `(ln r, ln α, ln a, ln b)` with the analytic gradient
/// ([`BgNbdData::log_likelihood_and_gradient`]), from a moment-based start (`r = 1`,
/// `r/α = Σx/ΣT`, `a = b = 1`), until the gradient norm of the mean log-likelihood is below
/// 1e-7; Nelder-Mead when L-BFGS fails. The likelihood is summed over distinct `(x, t_x, T)`
/// with counts. On the 2,357 CDNOW customers: ~20 iterations, ~1 ms in a release build.
///
/// The estimates are only as good as the data: with a handful of customers the maximum can lie
/// on the boundary of the parameter space (a parameter → 0 or ∞), and the fit then ends with
/// [`FitError::Boundary`] or [`FitError::NotConverged`]. Fit on hundreds of customers.
///
/// Errors: fewer than 2 summaries ([`FitError::TooFewCustomers`]), no summary with `x > 0`
/// ([`FitError::NoRepeatPurchases`]), a negative or non-finite field
/// ([`FitError::InvalidSummary`]), a maximum on the boundary ([`FitError::Boundary`]), and the
/// optimiser's failures. Never parameters that are NaN or infinite.
pub fn fit_bgnbd(summaries: &[CustomerSummary]) -> Result<BgNbdFit, FitError> {
    const REQUIRED: usize = 2;
    if summaries.len() < REQUIRED {
        return Err(FitError::TooFewCustomers {
            model: "BG/NBD",
            found: summaries.len(),
            required: REQUIRED,
        });
    }
    for (index, summary) in summaries.iter().enumerate() {
        summary
            .validate()
            .map_err(|problem| FitError::InvalidSummary { index, problem })?;
    }
    if summaries.iter().all(|s| s.frequency == 0.0) {
        return Err(FitError::NoRepeatPurchases);
    }
    let data = BgNbdData::new(summaries);
    data.fit_from(&data.start())
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::analytics::clv::fixtures::{self, assert_close};
    use crate::analytics::clv::special::hyp2f1;

    /// The published CDNOW estimates (Fader, Hardie & Lee 2005, weeks).
    const PUBLISHED: BgNbdParams = BgNbdParams {
        r: 0.243,
        alpha: 4.414,
        a: 0.793,
        b: 2.426,
    };

    fn summary(x: f64, t_x: f64, t: f64) -> CustomerSummary {
        CustomerSummary {
            frequency: x,
            recency: t_x,
            age: t,
            monetary: 0.0,
        }
    }

    /// Half a unit in the last digit of the published value, plus a rounding hair.
    fn assert_matches_published(got: f64, published: f64, decimals: i32, what: &str) {
        assert_close(got, published, 0.5 * 10f64.powi(-decimals) + 1e-9, what);
    }

    #[test]
    fn fits_the_published_cdnow_estimates() {
        let summaries = fixtures::cdnow_summaries();
        let started = Instant::now();
        let fit = fit_bgnbd(&summaries).unwrap();
        let elapsed = started.elapsed();
        println!(
            "BG/NBD fit on {} CDNOW customers: {:?} in {elapsed:?}",
            fit.customers, fit
        );
        assert_eq!(fit.report.method, crate::analytics::clv::FitMethod::Lbfgs);
        assert!(fit.report.gradient_norm <= 1e-7, "{:?}", fit.report);
        assert_eq!(fit.customers, 2357);
        // Published: r = 0.243, α = 4.414, a = 0.793, b = 2.426, LL = −9582.4.
        assert_matches_published(fit.params.r, 0.243, 3, "r");
        assert_matches_published(fit.params.alpha, 4.414, 3, "alpha");
        assert_matches_published(fit.params.a, 0.793, 3, "a");
        assert_matches_published(fit.params.b, 2.426, 3, "b");
        assert_matches_published(fit.log_likelihood, -9582.4, 1, "log-likelihood");
        // The maximum itself, found independently with scipy (Nelder-Mead then BFGS on the
        // same log-likelihood): r = 0.2425929, α = 4.413532, a = 0.7928861, b = 2.425754,
        // LL = −9582.425560567 (lifetimes: 0.2426, 4.4136, 0.7929, 2.4259).
        assert_close(fit.params.r, 0.242_592_9, 1e-6, "r");
        assert_close(fit.params.alpha, 4.413_532, 1e-5, "alpha");
        assert_close(fit.params.a, 0.792_886_1, 1e-5, "a");
        assert_close(fit.params.b, 2.425_754, 1e-4, "b");
        assert_close(
            fit.log_likelihood,
            -9_582.425_560_567,
            1e-8,
            "log-likelihood",
        );
        // The fit is a maximum: the published (rounded) parameters do no better.
        let at_published: f64 = summaries.iter().map(|s| PUBLISHED.log_likelihood(s)).sum();
        assert!(fit.log_likelihood >= at_published, "{at_published}");
    }

    #[test]
    fn days_instead_of_weeks_scale_alpha_only() {
        // λ per day is λ per week / 7, Gamma(r, 7α): the same customers in days give the same
        // r, a, b and α × 7.
        let days: Vec<CustomerSummary> = fixtures::cdnow_summaries()
            .into_iter()
            .map(|s| CustomerSummary {
                recency: s.recency * 7.0,
                age: s.age * 7.0,
                ..s
            })
            .collect();
        let fit = fit_bgnbd(&days).unwrap();
        assert_close(fit.params.r, 0.242_592_9, 1e-5, "r");
        assert_close(fit.params.alpha, 4.413_532 * 7.0, 1e-3, "alpha");
        assert_close(fit.params.a, 0.792_886_1, 1e-4, "a");
        assert_close(fit.params.b, 2.425_754, 1e-3, "b");
        // The likelihood of times in days is that in weeks less ln 7 per repeat purchase (the
        // Jacobian of the time change on the x purchase-time densities).
        let repeats: f64 = days.iter().map(|s| s.frequency).sum();
        assert_close(
            fit.log_likelihood,
            -9_582.425_560_567 - repeats * 7.0_f64.ln(),
            1e-6,
            "log-likelihood",
        );
    }

    /// Closed forms from eq. 6 with small numbers, worked by hand.
    #[test]
    fn log_likelihood_matches_hand_computed_values() {
        // x = 0: B(a,b)/B(a,b) = 1 and Γ(r)/Γ(r) = 1, so L = (α/(α+T))^r.
        // r = 2, α = 3, T = 3: L = (3/6)² = 1/4.
        let p = BgNbdParams {
            r: 2.0,
            alpha: 3.0,
            a: 0.7,
            b: 1.9,
        };
        assert_close(
            p.log_likelihood(&summary(0.0, 0.0, 3.0)),
            0.25_f64.ln(),
            1e-14,
            "x=0",
        );

        let p = BgNbdParams {
            r: 1.0,
            alpha: 1.0,
            a: 1.0,
            b: 1.0,
        };
        // x = 1, t_x = 1, T = 3, all parameters 1:
        // B(1,2)/B(1,1) = 1/2, B(2,1)/B(1,1) = 1/2, Γ(2)/Γ(1) = 1, α^r = 1;
        // L = 1/2 · 1/4² + 1/2 · 1/2² = 1/32 + 1/8 = 5/32.
        assert_close(
            p.log_likelihood(&summary(1.0, 1.0, 3.0)),
            (5.0_f64 / 32.0).ln(),
            1e-14,
            "x=1",
        );
        // x = 2, t_x = 1, T = 3: B(1,3)/B(1,1) = 1/3, B(2,2)/B(1,1) = 1/6, Γ(3)/Γ(1) = 2;
        // L = 1/3 · 2/4³ + 1/6 · 2/2³ = 1/96 + 1/24 = 5/96.
        assert_close(
            p.log_likelihood(&summary(2.0, 1.0, 3.0)),
            (5.0_f64 / 96.0).ln(),
            1e-14,
            "x=2",
        );

        // With the published parameters, against eq. 6 evaluated term by term in 40-digit
        // arithmetic (mpmath): customer 1 of CDNOW (x=2, t_x=30.43, T=38.86), an x=0 customer
        // and x=5, t_x=10.5, T=30.
        assert_close(
            PUBLISHED.log_likelihood(&summary(2.0, 30.43, 38.86)),
            -9.458_606_307_066_27,
            1e-12,
            "customer 1",
        );
        assert_close(
            PUBLISHED.log_likelihood(&summary(0.0, 0.0, 38.86)),
            -0.554_713_276_438_158_4,
            1e-12,
            "x=0 published",
        );
        assert_close(
            PUBLISHED.log_likelihood(&summary(5.0, 10.5, 30.0)),
            -14.479_535_079_901_155,
            1e-12,
            "x=5 published",
        );
        let bad = BgNbdParams { r: -1.0, ..p };
        assert!(bad.log_likelihood(&summary(1.0, 1.0, 3.0)).is_nan());
    }

    #[test]
    fn probability_alive_hand_values_and_monotonicity() {
        // x = 0: always alive.
        assert_eq!(PUBLISHED.probability_alive(&summary(0.0, 0.0, 38.86)), 1.0);
        assert_eq!(PUBLISHED.probability_alive(&summary(0.0, 0.0, 1e6)), 1.0);
        // All parameters 1, x = 1, t_x = 1, T = 3: odds of being dead
        // a/(b+x−1) · ((α+T)/(α+t_x))^(r+x) = 1 · (4/2)² = 4, so P = 1/5.
        let ones = BgNbdParams {
            r: 1.0,
            alpha: 1.0,
            a: 1.0,
            b: 1.0,
        };
        assert_close(
            ones.probability_alive(&summary(1.0, 1.0, 3.0)),
            0.2,
            1e-15,
            "P(alive)",
        );
        // mpmath, published parameters.
        assert_close(
            PUBLISHED.probability_alive(&summary(2.0, 30.43, 38.86)),
            0.726_578_570_080_673,
            1e-14,
            "customer 1",
        );
        // Bought at T = t_x: the odds a/(b+x−1) only.
        let p = PUBLISHED.probability_alive(&summary(3.0, 20.0, 20.0));
        assert_close(p, 1.0 / (1.0 + 0.793 / (2.426 + 2.0)), 1e-15, "t_x = T");

        // With x and t_x fixed, the longer the silence since the last purchase, the less likely
        // the customer is alive; more purchases over the same period make it more likely.
        let mut previous = 1.0;
        for t in [10.0, 12.0, 20.0, 39.0, 80.0, 200.0, 1e4] {
            let p = PUBLISHED.probability_alive(&summary(4.0, 10.0, t));
            assert!(p < previous, "T={t}: {p} !< {previous}");
            assert!(p > 0.0);
            previous = p;
        }
        assert!(previous < 1e-10);
        // Extreme silence: no overflow, just ~0.
        let p = PUBLISHED.probability_alive(&summary(500.0, 1.0, 1e9));
        assert!((0.0..1e-300).contains(&p), "{p}");
    }

    #[test]
    fn expected_purchases_matches_eq_9_and_reference_values() {
        for t in [0.5, 10.0, 39.0, 78.0, 300.0] {
            // Eq. 9 evaluated literally with the series 2F1.
            let (r, alpha, a, b) = (PUBLISHED.r, PUBLISHED.alpha, PUBLISHED.a, PUBLISHED.b);
            let literal = (a + b - 1.0) / (a - 1.0)
                * (1.0
                    - (alpha / (alpha + t)).powf(r) * hyp2f1(r, b, a + b - 1.0, t / (alpha + t)));
            let got = PUBLISHED.expected_purchases(t);
            assert_close(got, literal, 1e-12 * literal.abs(), "eq. 9");
        }
        // mpmath, 40 digits.
        assert_close(
            PUBLISHED.expected_purchases(39.0),
            1.196_723_193_320_817,
            1e-13,
            "t=39",
        );
        assert_close(
            PUBLISHED.expected_purchases(78.0),
            1.860_519_057_942_768_5,
            1e-13,
            "t=78",
        );
        assert_eq!(PUBLISHED.expected_purchases(0.0), 0.0);
        assert!(PUBLISHED.expected_purchases(-1.0).is_nan());
        // Eq. 10 for a brand-new customer (x = 0, T = 0) is eq. 9.
        let new = summary(0.0, 0.0, 0.0);
        assert_close(
            PUBLISHED.conditional_expected_purchases(39.0, &new),
            PUBLISHED.expected_purchases(39.0),
            1e-15,
            "new customer",
        );
    }

    #[test]
    fn conditional_expected_purchases_matches_lifetimes_and_eq_10() {
        // CDNOW customer 1 (x=2, t_x=30.43, T=38.86), next 39 weeks: lifetimes'
        // conditional_expected_number_of_purchases_up_to_time gives ≈ 1.226; eq. 10 in 40-digit
        // arithmetic (mpmath) gives 1.2260281747671445.
        let c1 = summary(2.0, 30.43, 38.86);
        assert_close(
            PUBLISHED.conditional_expected_purchases(39.0, &c1),
            1.226_028_174_767_144_5,
            1e-13,
            "customer 1",
        );
        // More mpmath values: x = 0; a heavy buyer; a heavy buyer over ten years.
        let cases = [
            (39.0, summary(0.0, 0.0, 38.86), 0.195_098_052_011_262_64),
            (52.0, summary(7.0, 35.0, 38.0), 5.728_681_664_346_099),
            (520.0, summary(50.0, 38.0, 38.86), 166.620_668_243_782_24),
        ];
        for (t, s, want) in cases {
            let got = PUBLISHED.conditional_expected_purchases(t, &s);
            assert_close(got, want, 1e-12 * want, &format!("{s:?} t={t}"));
        }
        // Eq. 10 evaluated literally (no Euler transformation) agrees.
        let (r, alpha, a, b) = (PUBLISHED.r, PUBLISHED.alpha, PUBLISHED.a, PUBLISHED.b);
        let (x, t_x, big_t, t) = (2.0, 30.43, 38.86, 39.0);
        let literal = (a + b + x - 1.0) / (a - 1.0)
            * (1.0
                - ((alpha + big_t) / (alpha + big_t + t)).powf(r + x)
                    * hyp2f1(r + x, b + x, a + b + x - 1.0, t / (alpha + big_t + t)))
            / (1.0 + a / (b + x - 1.0) * ((alpha + big_t) / (alpha + t_x)).powf(r + x));
        assert_close(
            PUBLISHED.conditional_expected_purchases(t, &c1),
            literal,
            1e-12,
            "literal eq. 10",
        );
        assert_eq!(PUBLISHED.conditional_expected_purchases(0.0, &c1), 0.0);
        // Increasing in t.
        let mut previous = 0.0;
        for t in [1.0, 5.0, 39.0, 100.0, 1000.0] {
            let e = PUBLISHED.conditional_expected_purchases(t, &c1);
            assert!(e > previous);
            previous = e;
        }
    }

    #[test]
    fn a_equal_to_one_is_not_a_singularity() {
        let s = summary(3.0, 20.0, 30.0);
        let at = |a: f64| BgNbdParams { a, ..PUBLISHED }.conditional_expected_purchases(26.0, &s);
        let (below, exact, above) = (at(1.0 - 1e-9), at(1.0), at(1.0 + 1e-9));
        assert!(exact.is_finite() && exact > 0.0);
        assert_close(below, exact, 1e-7, "a → 1⁻");
        assert_close(above, exact, 1e-7, "a → 1⁺");
        let e = BgNbdParams {
            a: 1.0,
            ..PUBLISHED
        }
        .expected_purchases(39.0);
        assert!(e.is_finite() && e > 0.0);
    }

    #[test]
    fn fit_rejects_unusable_input() {
        assert_eq!(
            fit_bgnbd(&[]),
            Err(FitError::TooFewCustomers {
                model: "BG/NBD",
                found: 0,
                required: 2
            })
        );
        assert!(matches!(
            fit_bgnbd(&[summary(1.0, 2.0, 3.0)]),
            Err(FitError::TooFewCustomers { found: 1, .. })
        ));
        assert_eq!(
            fit_bgnbd(&[summary(0.0, 0.0, 3.0), summary(0.0, 0.0, 5.0)]),
            Err(FitError::NoRepeatPurchases)
        );
        assert!(matches!(
            fit_bgnbd(&[summary(1.0, 2.0, 3.0), summary(1.0, f64::NAN, 3.0)]),
            Err(FitError::InvalidSummary { index: 1, .. })
        ));
        assert!(matches!(
            fit_bgnbd(&[summary(-1.0, 2.0, 3.0), summary(1.0, 1.0, 3.0)]),
            Err(FitError::InvalidSummary { index: 0, .. })
        ));
    }

    /// With a handful of customers the maximum often lies on the boundary of the parameter
    /// space (some parameter → 0 or ∞): the fit then ends with `Boundary`, `NotConverged` or with extreme
    /// parameters, but always ends, quickly, and never panics.
    #[test]
    fn tiny_samples_end_with_a_result_or_an_error() {
        let sets = [
            vec![summary(1.0, 2.0, 5.0), summary(0.0, 0.0, 4.0)],
            vec![summary(5.0, 5.0, 5.0), summary(5.0, 5.0, 5.0)],
            vec![
                summary(1.0, 1.0, 100.0),
                summary(2.0, 3.0, 100.0),
                summary(0.0, 0.0, 100.0),
            ],
        ];
        for set in sets {
            match fit_bgnbd(&set) {
                Ok(fit) => {
                    assert!(fit.log_likelihood.is_finite(), "{fit:?}");
                    assert!(fit.params.is_valid(), "{fit:?}");
                }
                Err(e) => assert!(
                    matches!(e, FitError::NotConverged { .. } | FitError::Boundary { .. }),
                    "{e:?}"
                ),
            }
        }
    }

    /// `(ℓ, ∇ℓ)` of the grouped evaluation at `params`.
    fn grouped(data: &BgNbdData, params: &BgNbdParams) -> (f64, [f64; 4]) {
        let mut g = [0.0; 4];
        let ll = data.log_likelihood_and_gradient(params, &mut g);
        (ll, g)
    }

    #[test]
    fn grouped_log_likelihood_is_the_per_customer_sum() {
        let summaries = fixtures::cdnow_summaries();
        let data = BgNbdData::new(&summaries);
        // 2,357 customers, far fewer distinct terms.
        assert!(data.groups() < summaries.len(), "{}", data.groups());
        for params in [
            PUBLISHED,
            BgNbdParams {
                r: 1.0,
                alpha: 1.0,
                a: 1.0,
                b: 1.0,
            },
            BgNbdParams {
                r: 3.0,
                alpha: 0.2,
                a: 5.0,
                b: 0.3,
            },
        ] {
            let each: f64 = summaries.iter().map(|s| params.log_likelihood(s)).sum();
            let (ll, _) = grouped(&data, &params);
            assert_close(ll, each, 1e-9 * each.abs(), &format!("{params:?}"));
        }
        assert!(
            grouped(
                &data,
                &BgNbdParams {
                    r: -1.0,
                    ..PUBLISHED
                }
            )
            .0
            .is_nan()
        );
    }

    #[test]
    fn analytic_gradient_matches_finite_differences() {
        let summaries = fixtures::cdnow_summaries();
        let data = BgNbdData::new(&summaries);
        let points = [
            PUBLISHED,
            BgNbdParams {
                r: 1.0,
                alpha: 1.0,
                a: 1.0,
                b: 1.0,
            },
            BgNbdParams {
                r: 0.05,
                alpha: 30.0,
                a: 0.2,
                b: 8.0,
            },
            BgNbdParams {
                r: 4.0,
                alpha: 0.5,
                a: 3.0,
                b: 0.4,
            },
        ];
        for params in points {
            let (_, g) = grouped(&data, &params);
            fixtures::assert_gradient_matches_central_differences(
                &[params.r, params.alpha, params.a, params.b],
                &g,
                |t| {
                    let p = BgNbdParams {
                        r: t[0],
                        alpha: t[1],
                        a: t[2],
                        b: t[3],
                    };
                    grouped(&data, &p).0
                },
                &format!("{params:?}"),
            );
        }
    }

    #[test]
    fn fits_from_poor_starting_points_reach_the_same_maximum() {
        let data = BgNbdData::new(&fixtures::cdnow_summaries());
        let starts = [
            [0.0, 0.0, 0.0, 0.0],
            [-4.0, 5.0, 3.0, -3.0],
            [3.0, -3.0, -3.0, 4.0],
            [
                (0.1_f64).ln(),
                (100.0_f64).ln(),
                (10.0_f64).ln(),
                (0.1_f64).ln(),
            ],
        ];
        for start in starts {
            let fit = data.fit_from(&start).unwrap();
            assert_close(
                fit.params.r,
                0.242_592_9,
                1e-6,
                &format!("r from {start:?}"),
            );
            assert_close(fit.params.alpha, 4.413_532, 1e-5, "alpha");
            assert_close(fit.params.a, 0.792_886_1, 1e-5, "a");
            assert_close(fit.params.b, 2.425_754, 1e-4, "b");
            assert_close(fit.log_likelihood, -9_582.425_560_567, 1e-8, "ll");
        }
    }

    #[test]
    fn degenerate_data_is_a_clear_error_never_nan() {
        // One customer.
        assert!(matches!(
            fit_bgnbd(&[summary(3.0, 10.0, 20.0)]),
            Err(FitError::TooFewCustomers { found: 1, .. })
        ));
        // All purchases on one day (each customer's only purchase day, or the same day for
        // everyone): nobody has a repeat purchase.
        let one_day = vec![summary(0.0, 0.0, 39.0); 500];
        assert_eq!(fit_bgnbd(&one_day), Err(FitError::NoRepeatPurchases));
        // Every repeat buyer's last purchase on the last day, every other customer one-off:
        // either an estimate with finite parameters or a clear error.
        let mut edge = vec![summary(0.0, 0.0, 39.0); 50];
        edge.extend(vec![summary(2.0, 39.0, 39.0); 50]);
        match fit_bgnbd(&edge) {
            Ok(fit) => assert!(fit.params.is_valid() && fit.log_likelihood.is_finite()),
            Err(e) => assert!(
                matches!(e, FitError::Boundary { .. } | FitError::NotConverged { .. }),
                "{e:?}"
            ),
        }
    }

    #[test]
    fn log_add_exp_is_stable() {
        assert_close(log_add_exp(0.0, 0.0), 2.0_f64.ln(), 1e-15, "ln 2");
        assert_close(
            log_add_exp(-1000.0, -1001.0),
            -1000.0 + (-1.0_f64).exp().ln_1p(),
            1e-12,
            "small",
        );
        assert_eq!(
            log_add_exp(f64::NEG_INFINITY, f64::NEG_INFINITY),
            f64::NEG_INFINITY
        );
        assert_eq!(log_add_exp(f64::NEG_INFINITY, 2.0), 2.0);
    }
}
