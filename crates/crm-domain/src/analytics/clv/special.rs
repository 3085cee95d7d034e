//! Special functions the models need: ln Γ and ln B come from `statrs`; the Gauss hypergeometric
//! function ₂F₁ is summed here from its power series with a rigorous bound on the truncation
//! error.

/// `ln Γ(x)` for `x > 0` (statrs' Lanczos approximation, ~16 digits).
pub(crate) fn ln_gamma(x: f64) -> f64 {
    statrs::function::gamma::ln_gamma(x)
}

/// `ψ(x) = d/dx ln Γ(x)` for `x > 0` (statrs' implementation of Bernardo's Algorithm AS 103,
/// Applied Statistics 25(3), 1976: the recurrence `ψ(x) = ψ(x+1) − 1/x` up to 12, then the
/// asymptotic series; ~1e-14 relative). The gradients of both models' log-likelihoods need it.
pub(crate) fn digamma(x: f64) -> f64 {
    statrs::function::gamma::digamma(x)
}

/// `ln B(a, b) = ln Γ(a) + ln Γ(b) − ln Γ(a + b)`; NaN unless `a > 0` and `b > 0` (statrs'
/// `ln_beta` panics there, its checked form does not).
pub(crate) fn ln_beta(a: f64, b: f64) -> f64 {
    statrs::function::beta::checked_ln_beta(a, b).unwrap_or(f64::NAN)
}

/// Most terms summed before the series is declared not to converge (NaN). At `|z| = 0.99` the
/// tolerance is met after a few thousand terms.
const MAX_TERMS: u32 = 1_000_000;

/// Relative truncation error accepted: a few ulps of the sum.
const TOLERANCE: f64 = 4.0 * f64::EPSILON;

/// Sums the tail `Σ_{n ≥ n0} t_n` of the Gauss series of ₂F₁(a, b; c; z), given its first term
/// `t_{n0} = first`, with `t_{n+1} = t_n · (a+n)(b+n) / ((c+n)(n+1)) · z` (DLMF 15.2.1).
///
/// Stopping rule (a ratio-test bound). For `m ≥ M` with `c + M > 0`,
/// `(a+m)/(1+m) = 1 + (a−1)/(1+m)` and `(b+m)/(c+m) = 1 + (b−c)/(c+m)` move monotonically
/// towards 1, so `|t_{m+1} / t_m| ≤ ρ_M = |z| · max(1, |a+M|/(1+M)) · max(1, |b+M|/(c+M))`
/// for every `m ≥ M`. When `ρ_M < 1` the remainder after `t_M` is at most
/// `|t_M| · ρ_M / (1 − ρ_M)`; summing stops once that bound is below [`TOLERANCE`] × |sum|.
///
/// NaN when `|z| ≥ 1` (outside the disc of convergence), when `c + n = 0` for some term
/// (c a non-positive integer), or when [`MAX_TERMS`] terms do not reach the tolerance.
fn gauss_series(a: f64, b: f64, c: f64, z: f64, first: f64, n0: u32) -> f64 {
    if z.is_nan() || z.abs() >= 1.0 || ![a, b, c, first].iter().all(|v| v.is_finite()) {
        return f64::NAN;
    }
    let mut term = first;
    let mut sum = first;
    for n in n0..MAX_TERMS {
        if term == 0.0 {
            // A terminating series (a or b a non-positive integer), or z = 0.
            return sum;
        }
        let n = f64::from(n);
        let denominator = (c + n) * (n + 1.0);
        if denominator == 0.0 {
            return f64::NAN;
        }
        term *= (a + n) * (b + n) / denominator * z;
        sum += term;
        // `term` is now t_{n+1}; bound the terms after it.
        let m = n + 1.0;
        if c + m > 0.0 {
            let rho =
                z.abs() * ((a + m).abs() / (1.0 + m)).max(1.0) * ((b + m).abs() / (c + m)).max(1.0);
            if rho < 1.0 && term.abs() * rho / (1.0 - rho) <= TOLERANCE * sum.abs() {
                return sum;
            }
        }
    }
    f64::NAN
}

/// The Gauss hypergeometric function ₂F₁(a, b; c; z) = Σ_n (a)_n (b)_n / (c)_n · zⁿ / n!
/// (Abramowitz & Stegun 15.1.1; DLMF 15.2.1), summed for real `|z| < 1` until the truncation
/// error is provably below a few ulps of the result (see [`gauss_series`]). NaN outside the
/// disc of convergence or when `c` is a non-positive integer.
///
/// The models evaluate the series through [`hyp2f1_minus_one_over_b`]; this plain form is
/// what the tests check the series against closed forms with.
///
/// The models only evaluate it at `0 ≤ z < 1`; convergence is geometric with ratio `z`, so it
/// is fast for the `z = t/(α + T + t)` of forecast horizons comparable to the calibration
/// period and slows (but stays bounded by [`MAX_TERMS`]) as `z → 1`.
#[cfg(test)]
pub(crate) fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> f64 {
    gauss_series(a, b, c, z, 1.0, 0)
}

/// `(₂F₁(a, b; c; z) − 1) / b`, the series without its leading 1 and with the factor `b` of
/// every remaining term divided out: `Σ_{n ≥ 1} (a)_n (b+1)_{n−1} / (c)_n · zⁿ / n!`. Finite
/// (and accurate) as `b → 0`, where `₂F₁ − 1` itself loses all its digits.
pub(crate) fn hyp2f1_minus_one_over_b(a: f64, b: f64, c: f64, z: f64) -> f64 {
    if c == 0.0 {
        return f64::NAN;
    }
    gauss_series(a, b, c, z, a * z / c, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(got: f64, want: f64, rel: f64) -> bool {
        (got - want).abs() <= rel * want.abs().max(1e-300)
    }

    #[test]
    fn hyp2f1_matches_closed_forms() {
        for z in [-0.9_f64, -0.5, -0.1, 1e-8, 0.1, 0.3, 0.5, 0.75, 0.9, 0.99] {
            // 2F1(1, 1; 2; z) = −ln(1 − z) / z (A&S 15.1.3).
            let want = -(-z).ln_1p() / z;
            let got = hyp2f1(1.0, 1.0, 2.0, z);
            assert!(close(got, want, 1e-13), "z={z}: {got} vs {want}");
            // 2F1(a, b; b; z) = (1 − z)^(−a) (A&S 15.1.8).
            let want = (1.0 - z).powf(-0.37);
            let got = hyp2f1(0.37, 2.5, 2.5, z);
            assert!(close(got, want, 1e-13), "z={z}: {got} vs {want}");
        }
        for x in [0.1_f64, 0.5, 0.9] {
            // 2F1(1/2, 1/2; 3/2; x²) = arcsin(x) / x (A&S 15.1.6).
            let got = hyp2f1(0.5, 0.5, 1.5, x * x);
            let want = x.asin() / x;
            assert!(close(got, want, 1e-13), "x={x}: {got} vs {want}");
        }
        // A terminating series: 2F1(−2, b; c; z) = 1 − 2bz/c + b(b+1)z²/(c(c+1)).
        let (b, c, z) = (1.5_f64, 2.5_f64, 0.4_f64);
        let want = 1.0 - 2.0 * b * z / c + b * (b + 1.0) * z * z / (c * (c + 1.0));
        assert!(close(hyp2f1(-2.0, b, c, z), want, 1e-15));
    }

    #[test]
    fn hyp2f1_is_nan_where_undefined() {
        assert!(hyp2f1(1.0, 1.0, 2.0, 1.0).is_nan());
        assert!(hyp2f1(1.0, 1.0, 2.0, -1.5).is_nan());
        assert!(hyp2f1(1.0, 1.0, -2.0, 0.5).is_nan());
        assert!(hyp2f1(1.0, f64::NAN, 2.0, 0.5).is_nan());
    }

    #[test]
    fn hyp2f1_satisfies_eulers_transformation() {
        // DLMF 15.8.1: 2F1(a, b; c; z) = (1 − z)^(c−a−b) 2F1(c−a, c−b; c; z), with the
        // parameters of the BG/NBD conditional expectation (r + x, b + x; a + b + x − 1).
        let (r, a, b, x) = (0.243, 0.793, 2.426, 2.0);
        let (pa, pb, pc) = (r + x, b + x, a + b + x - 1.0);
        for z in [0.05, 0.3, 0.47, 0.8] {
            let direct = hyp2f1(pa, pb, pc, z);
            let euler = (1.0 - z).powf(pc - pa - pb) * hyp2f1(pc - pa, pc - pb, pc, z);
            assert!(close(direct, euler, 1e-12), "z={z}: {direct} vs {euler}");
        }
    }

    #[test]
    fn minus_one_over_b_form_agrees_and_survives_b_to_zero() {
        let (a, b, c, z) = (1.7, 0.6, 2.9, 0.45);
        let want = (hyp2f1(a, b, c, z) - 1.0) / b;
        assert!(close(hyp2f1_minus_one_over_b(a, b, c, z), want, 1e-13));
        // At b = 0 the limit is Σ_{n≥1} (a)_n (n−1)! / (c)_n zⁿ / n! = Σ (a)_n/(c)_n zⁿ/n; with
        // a = c it is Σ zⁿ / n = −ln(1 − z).
        let got = hyp2f1_minus_one_over_b(2.0, 0.0, 2.0, z);
        assert!(close(got, -(-z).ln_1p(), 1e-13), "{got}");
    }

    #[test]
    fn ln_beta_is_nan_for_non_positive_arguments() {
        assert!(ln_beta(0.0, 1.0).is_nan());
        assert!(ln_beta(1.0, -1.0).is_nan());
        assert!(close(ln_beta(2.0, 3.0), (1.0_f64 / 12.0).ln(), 1e-14));
        assert!(close(ln_gamma(5.0), 24.0_f64.ln(), 1e-14));
    }

    #[test]
    fn digamma_matches_known_values_and_the_recurrence() {
        // ψ(1) = −γ (Euler-Mascheroni), ψ(1/2) = −γ − 2 ln 2 (DLMF 5.4.12, 5.4.13).
        let euler = 0.577_215_664_901_532_9;
        assert!(close(digamma(1.0), -euler, 1e-14));
        assert!(close(digamma(0.5), -euler - 2.0 * 2.0_f64.ln(), 1e-14));
        // ψ(x + 1) = ψ(x) + 1/x (DLMF 5.5.2), across the switch to the asymptotic series.
        for x in [0.243, 0.793, 2.426, 6.25, 11.5, 12.0, 40.0, 1e4] {
            assert!(
                close(digamma(x + 1.0), digamma(x) + 1.0 / x, 1e-13),
                "x={x}"
            );
        }
    }
}
