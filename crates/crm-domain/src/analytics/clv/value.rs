//! Customer lifetime value: BG/NBD expected purchases × Gamma-Gamma expected spend, discounted
//! month by month.

use super::{BgNbdParams, CustomerSummary, GammaGammaParams, TimeUnit};

/// Days in the month of the CLV horizon (the `lifetimes` convention for daily data).
const DAYS_PER_MONTH: f64 = 30.0;

/// The expected discounted value of a customer's purchases over the next `horizon_months`
/// months, in the currency of the Gamma-Gamma model's `z̄`.
///
/// Following the `lifetimes` package (`GammaGammaFitter.customer_lifetime_value`):
///
/// `CLV = Σ_{i=1..H} [E[Y(t_i) | x, t_x, T] − E[Y(t_{i−1}) | x, t_x, T]] · E[M | x, z̄] / (1+d)^i`
///
/// with `t_i = i · 30 / unit.days()` (a month is 30 days, expressed in the models' time `unit`:
/// 30 for days, 30/7 ≈ 4.286 for weeks), `E[Y]` the BG/NBD conditional expectation
/// ([`BgNbdParams::conditional_expected_purchases`], Fader, Hardie & Lee 2005, eq. 10), `E[M]`
/// the Gamma-Gamma expected spend ([`GammaGammaParams::conditional_expected_spend`], Fader &
/// Hardie 2013, eq. 5) and `d = monthly_discount_rate` (e.g. 0.01 for 1 % a month). Each month's
/// expected purchases are discounted at the month's end. With `d = 0` the sum telescopes to
/// `E[Y(t_H)] · E[M]`.
///
/// `unit` must be the time unit of the summaries the BG/NBD model was fitted on. One deliberate
/// difference from `lifetimes`: for weekly data it uses 4.345 weeks a month; here a month is 30
/// days in every unit, so 30/7 weeks. 0 for a zero horizon; NaN for invalid parameters or a
/// discount rate ≤ −1.
pub fn customer_lifetime_value(
    bg: &BgNbdParams,
    gg: &GammaGammaParams,
    summary: &CustomerSummary,
    horizon_months: u32,
    monthly_discount_rate: f64,
    unit: TimeUnit,
) -> f64 {
    if monthly_discount_rate.is_nan() || monthly_discount_rate <= -1.0 {
        return f64::NAN;
    }
    let spend = gg.conditional_expected_spend(summary);
    let units_per_month = DAYS_PER_MONTH / unit.days();
    let mut value = 0.0;
    let mut previous = 0.0; // E[Y(0)] = 0
    let mut discount = 1.0;
    for month in 1..=horizon_months {
        let cumulative =
            bg.conditional_expected_purchases(f64::from(month) * units_per_month, summary);
        discount /= 1.0 + monthly_discount_rate;
        value += (cumulative - previous) * spend * discount;
        previous = cumulative;
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    const BG: BgNbdParams = BgNbdParams {
        r: 0.243,
        alpha: 4.414,
        a: 0.793,
        b: 2.426,
    };
    const GG: GammaGammaParams = GammaGammaParams {
        p: 6.25,
        q: 3.74,
        gamma: 15.44,
    };

    fn customer(x: f64, t_x: f64, t: f64, zbar: f64) -> CustomerSummary {
        CustomerSummary {
            frequency: x,
            recency: t_x,
            age: t,
            monetary: zbar,
        }
    }

    #[test]
    fn matches_an_independent_computation() {
        // CDNOW customer 1 (weeks), 12 months at 1 % a month, months of 30/7 weeks; the same
        // sum evaluated with mpmath's hyp2f1 at 40 digits: 35.881652647567311 (E[M] = 24.6637).
        let c1 = customer(2.0, 30.43, 38.86, 22.35);
        let got = customer_lifetime_value(&BG, &GG, &c1, 12, 0.01, TimeUnit::Week);
        assert!((got - 35.881_652_647_567_31).abs() < 1e-10, "{got}");
        // A one-off buyer: population mean spend, fewer expected purchases.
        let c0 = customer(0.0, 0.0, 38.86, 0.0);
        let got = customer_lifetime_value(&BG, &GG, &c0, 12, 0.01, TimeUnit::Week);
        assert!((got - 8.268_241_638_570_685).abs() < 1e-10, "{got}");
    }

    #[test]
    fn undiscounted_value_telescopes_and_discounting_lowers_it() {
        let c = customer(4.0, 30.0, 38.86, 40.0);
        let months = 24;
        let horizon = f64::from(months) * 30.0 / 7.0;
        let undiscounted = customer_lifetime_value(&BG, &GG, &c, months, 0.0, TimeUnit::Week);
        let want =
            BG.conditional_expected_purchases(horizon, &c) * GG.conditional_expected_spend(&c);
        assert!(
            (undiscounted - want).abs() < 1e-10 * want,
            "{undiscounted} vs {want}"
        );
        let discounted = customer_lifetime_value(&BG, &GG, &c, months, 0.02, TimeUnit::Week);
        assert!(discounted < undiscounted && discounted > 0.0);
        // A longer horizon never lowers the value.
        let longer = customer_lifetime_value(&BG, &GG, &c, months + 12, 0.02, TimeUnit::Week);
        assert!(longer > discounted);
        assert_eq!(
            customer_lifetime_value(&BG, &GG, &c, 0, 0.01, TimeUnit::Week),
            0.0
        );
        assert!(customer_lifetime_value(&BG, &GG, &c, 12, -1.0, TimeUnit::Week).is_nan());
    }

    #[test]
    fn the_time_unit_sets_the_month_length() {
        // A model in days is the weekly model with α in days (×7) and times in days: the same
        // customer then has the same value.
        let bg_days = BgNbdParams {
            alpha: BG.alpha * 7.0,
            ..BG
        };
        let weeks = customer(3.0, 20.0, 35.0, 30.0);
        let days = customer(3.0, 140.0, 245.0, 30.0);
        let in_weeks = customer_lifetime_value(&BG, &GG, &weeks, 12, 0.01, TimeUnit::Week);
        let in_days = customer_lifetime_value(&bg_days, &GG, &days, 12, 0.01, TimeUnit::Day);
        assert!(
            (in_weeks - in_days).abs() < 1e-10 * in_weeks,
            "{in_weeks} vs {in_days}"
        );
    }
}
