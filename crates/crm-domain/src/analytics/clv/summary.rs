//! A customer's calibration-period summary `(x, t_x, T, z̄)`, the input of every CLV model.

use std::collections::BTreeMap;

use chrono::NaiveDate;

string_enum!(
    /// The time unit in which recency `t_x`, age `T` and forecast horizons `t` are measured.
    /// A model fitted on summaries in one unit must be queried in that unit (its `alpha` is a
    /// rate per unit).
    #[derive(serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "lowercase")]
    TimeUnit {
        /// One calendar day.
        Day => "day",
        /// Seven calendar days.
        Week => "week",
    }
);

impl TimeUnit {
    /// Length of one unit in days: 1 for `Day`, 7 for `Week`.
    pub fn days(self) -> f64 {
        match self {
            TimeUnit::Day => 1.0,
            TimeUnit::Week => 7.0,
        }
    }
}

/// One customer's purchase history over the calibration period, reduced to the sufficient
/// statistics of the BG/NBD model `(x, t_x, T)` (Fader, Hardie & Lee 2005, "Counting Your
/// Customers the Easy Way", §2) and of the Gamma-Gamma spend model `(x, z̄)` (Fader & Hardie 2013,
/// "The Gamma-Gamma Model of Monetary Value").
///
/// Purchases are counted by *purchase day*: several purchases on one calendar day are one
/// purchase whose value is their sum. The first purchase day starts the customer's clock and is
/// not a repeat purchase. This is the convention of the `lifetimes` package's
/// `summary_data_from_transaction_data` (daily periods; in weeks `freq="D", freq_multiplier=7`),
/// which reproduces the published CDNOW summary.
///
/// Times are in the [`TimeUnit`] the summary was built with, as `f64` (days / unit length).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CustomerSummary {
    /// `x`: number of repeat purchase days in the calibration period (purchase days − 1), ≥ 0.
    pub frequency: f64,
    /// `t_x`: time from the first to the last purchase day, in units; 0 when `x = 0`.
    pub recency: f64,
    /// `T`: time from the first purchase day to the end of the calibration period, in units;
    /// `T ≥ t_x`.
    pub age: f64,
    /// `z̄`: mean value of the repeat purchase days (each day's purchases summed), in the
    /// purchases' currency; 0 when `x = 0`. The first purchase day's value is not included.
    pub monetary: f64,
}

impl CustomerSummary {
    /// Summarises one customer's purchases `(date, value)` (any order) over the calibration
    /// period that ends on `calibration_end` (inclusive).
    ///
    /// Purchases dated after `calibration_end` are ignored; purchases on one day are one purchase
    /// day whose value is their sum. With `d_1 < … < d_n` the purchase days on or before
    /// `calibration_end` and `v_i` their summed values:
    /// `x = n − 1`, `t_x = (d_n − d_1) / unit`, `T = (calibration_end − d_1) / unit`,
    /// `z̄ = (v_2 + … + v_n) / x` (0 when `x = 0`).
    ///
    /// Returns `None` when the customer made no purchase on or before `calibration_end`.
    pub fn from_purchases(
        purchases: &[(NaiveDate, f64)],
        calibration_end: NaiveDate,
        unit: TimeUnit,
    ) -> Option<Self> {
        let mut days: BTreeMap<NaiveDate, f64> = BTreeMap::new();
        for &(date, value) in purchases {
            if date <= calibration_end {
                *days.entry(date).or_insert(0.0) += value;
            }
        }
        let mut iter = days.iter();
        let (&first, _) = iter.next()?;
        let mut last = first;
        let mut repeats = 0usize;
        let mut repeat_value = 0.0;
        for (&date, &value) in iter {
            last = date;
            repeats += 1;
            repeat_value += value;
        }
        let in_units = |from: NaiveDate, to: NaiveDate| (to - from).num_days() as f64 / unit.days();
        let frequency = repeats as f64;
        Some(CustomerSummary {
            frequency,
            recency: in_units(first, last),
            age: in_units(first, calibration_end),
            monetary: if repeats == 0 {
                0.0
            } else {
                repeat_value / frequency
            },
        })
    }

    /// Checks that every field is finite and non-negative; the fitting functions use it to
    /// reject bad input instead of producing a meaningless estimate.
    pub(crate) fn validate(&self) -> Result<(), &'static str> {
        let fields = [
            (self.frequency, "frequency is negative or not finite"),
            (self.recency, "recency is negative or not finite"),
            (self.age, "age is negative or not finite"),
            (self.monetary, "monetary is negative or not finite"),
        ];
        for (value, problem) in fields {
            if !(value.is_finite() && value >= 0.0) {
                return Err(problem);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::analytics::clv::fixtures;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn time_unit_days_serde_and_parsing() {
        assert_eq!(TimeUnit::Day.days(), 1.0);
        assert_eq!(TimeUnit::Week.days(), 7.0);
        assert_eq!(serde_json::to_string(&TimeUnit::Week).unwrap(), "\"week\"");
        assert_eq!(
            serde_json::from_str::<TimeUnit>("\"day\"").unwrap(),
            TimeUnit::Day
        );
        assert_eq!("week".parse::<TimeUnit>().unwrap(), TimeUnit::Week);
        assert_eq!(TimeUnit::Day.as_str(), "day");
        assert!("month".parse::<TimeUnit>().is_err());
    }

    #[test]
    fn same_day_purchases_are_one_purchase_day_and_later_ones_are_ignored() {
        let purchases = [
            (date(2024, 1, 10), 5.0), // a later purchase listed first: order does not matter
            (date(2024, 1, 1), 10.0),
            (date(2024, 1, 10), 7.0), // same day as the first line: one day worth 12
            (date(2024, 1, 3), 4.0),
            (date(2024, 2, 1), 100.0), // after calibration end
        ];
        let s =
            CustomerSummary::from_purchases(&purchases, date(2024, 1, 15), TimeUnit::Day).unwrap();
        assert_eq!(s.frequency, 2.0);
        assert_eq!(s.recency, 9.0);
        assert_eq!(s.age, 14.0);
        // Repeat days: Jan 3 (4) and Jan 10 (5 + 7); the first day (10) is not a repeat.
        assert_eq!(s.monetary, 8.0);

        let weeks =
            CustomerSummary::from_purchases(&purchases, date(2024, 1, 15), TimeUnit::Week).unwrap();
        assert_eq!(weeks.recency, 9.0 / 7.0);
        assert_eq!(weeks.age, 2.0);
    }

    #[test]
    fn one_purchase_day_has_zero_frequency_and_no_purchase_is_none() {
        let one = [(date(2024, 1, 5), 3.0), (date(2024, 1, 5), 4.0)];
        let s = CustomerSummary::from_purchases(&one, date(2024, 1, 12), TimeUnit::Day).unwrap();
        assert_eq!(
            s,
            CustomerSummary {
                frequency: 0.0,
                recency: 0.0,
                age: 7.0,
                monetary: 0.0
            }
        );
        assert_eq!(
            CustomerSummary::from_purchases(&[], date(2024, 1, 12), TimeUnit::Day),
            None
        );
        let later = [(date(2024, 2, 1), 1.0)];
        assert_eq!(
            CustomerSummary::from_purchases(&later, date(2024, 1, 12), TimeUnit::Day),
            None
        );
    }

    /// The CDNOW 1/10 sample's transactions, summarised over the 39-week calibration period
    /// (1997-01-01 .. 1997-09-30) in weeks, give the published summary file row by row: `x`
    /// exactly, `t_x`, `T` and `z̄` to the file's two decimals.
    #[test]
    fn reproduces_the_cdnow_summary_from_the_transactions() {
        // Columns: customer_id (master-file id), sample_id (the summary's ID), date, cds, value.
        let mut by_customer: HashMap<u32, Vec<(NaiveDate, f64)>> = HashMap::new();
        for line in fixtures::CDNOW_SAMPLE
            .lines()
            .filter(|l| !l.trim().is_empty())
        {
            let cols: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(cols.len(), 5, "line {line:?}");
            let id: u32 = cols[1].parse().unwrap();
            let day = NaiveDate::parse_from_str(cols[2], "%Y%m%d").unwrap();
            let value: f64 = cols[4].parse().unwrap();
            by_customer.entry(id).or_default().push((day, value));
        }
        let expected = fixtures::cdnow_summary();
        assert_eq!(expected.len(), 2357);
        assert_eq!(by_customer.len(), 2357);

        let end = date(1997, 9, 30);
        let half_cent = 0.005 + 1e-9;
        for (id, want) in &expected {
            let got = CustomerSummary::from_purchases(&by_customer[id], end, TimeUnit::Week)
                .unwrap_or_else(|| panic!("customer {id} has no calibration purchase"));
            assert_eq!(got.frequency, want.frequency, "x of customer {id}");
            assert!(
                (got.recency - want.recency).abs() <= half_cent,
                "t_x of customer {id}: {} vs {}",
                got.recency,
                want.recency
            );
            assert!(
                (got.age - want.age).abs() <= half_cent,
                "T of customer {id}: {} vs {}",
                got.age,
                want.age
            );
            assert!(
                (got.monetary - want.monetary).abs() <= half_cent,
                "zbar of customer {id}: {} vs {}",
                got.monetary,
                want.monetary
            );
        }
    }
}
