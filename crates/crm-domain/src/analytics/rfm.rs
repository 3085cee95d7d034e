//! RFM analysis: recency, frequency and monetary scores of a tenant's customers, and the named
//! segments their R and F scores fall in. Pure rules; `docs/RFM.md` is the long form with a
//! worked example.
//!
//! # Inputs
//! For one tenant at a reference instant, every customer with **at least one completed order**
//! is scored (the others are left out, and do not count in the quintiles):
//!
//! - recency: whole days from the customer's last completed order to the reference
//!   ([`recency_days`]);
//! - frequency: the number of completed orders;
//! - monetary: the total spent on completed orders (tenant currency).
//!
//! # Scores
//! Each of R, F and M is a score 1..=5: the customer's quintile in one total order of the scored
//! customers, computed exactly as SQL's `NTILE(5) OVER (ORDER BY <metric> <dir>, id)` ([`ntile`]):
//!
//! | score | ordering (first row gets 1) |
//! | --- | --- |
//! | R | `recency_days DESC, id ASC` (oldest last order first, so the most recent get 5) |
//! | F | `frequency ASC, id ASC` |
//! | M | `monetary ASC, id ASC` |
//!
//! Ties in the metric are broken by customer id (ascending, in the order of the UUID's 16 bytes,
//! see [`CustomerId`]'s `Ord`), so scores are deterministic and two customers with the same
//! metric may get different scores. The 16-byte order is the order of the stored id column on
//! both backends: PostgreSQL compares `uuid` values byte by byte, and SQLite holds the ids as
//! 16-byte BLOBs (sqlx binds `Uuid` as a BLOB), which it compares with `memcmp`.
//!
//! # Segments
//! The (R, F) pair names one of eleven segments ([`segment_for`]); M is reported but does not
//! decide the segment. The grid, one table used both ways ([`RfmSegment::cells`] lists a
//! segment's cells for a SQL `CASE`):
//!
//! | R \ F | 1 | 2 | 3 | 4 | 5 |
//! | --- | --- | --- | --- | --- | --- |
//! | **5** | New Customers | Potential Loyalists | Potential Loyalists | Champions | Champions |
//! | **4** | Promising | Potential Loyalists | Potential Loyalists | Loyal Customers | Loyal Customers |
//! | **3** | About to Sleep | About to Sleep | Need Attention | Loyal Customers | Loyal Customers |
//! | **2** | Hibernating | Hibernating | At Risk | At Risk | Cannot Lose Them |
//! | **1** | Lost | Lost | At Risk | At Risk | Cannot Lose Them |
//!
//! This is the widely used R×F map (`[1-2][1-2]` Hibernating, `[1-2][3-4]` At Risk, `[1-2]5`
//! Cannot Lose Them, `3[1-2]` About to Sleep, `33` Need Attention, `[3-4][4-5]` Loyal Customers,
//! `41` Promising, `51` New Customers, `[4-5][2-3]` Potential Loyalists, `5[4-5]` Champions), with
//! its Hibernating block split by recency to add Lost: `1[1-2]` (the oldest fifth of last orders
//! and few orders) is Lost, `2[1-2]` stays Hibernating. Every segment is a rectangle of cells.
//!
//! # Coarse matrix
//! The product document's 2×2 matrix is derived from the segments ([`RfmSegment::coarse`]).
//! Recent means R 3..=5, lapsed R 1..=2. Frequent means F 4..=5 and infrequent F 1..=2 on both
//! sides; the middle score F = 3 follows its segment: lapsed customers with F = 3 are At Risk
//! (worth winning back), recent ones are Need Attention / Potential Loyalists (not yet loyal).
//!
//! | | infrequent | frequent |
//! | --- | --- | --- |
//! | **recent** (R 3–5) | New Customers: New Customers, Promising, Potential Loyalists, Need Attention, About to Sleep | Champions: Champions, Loyal Customers |
//! | **lapsed** (R 1–2) | Lost: Hibernating, Lost | At Risk: At Risk, Cannot Lose Them |

use std::cmp::Ordering;

use chrono::{DateTime, TimeDelta, Utc};
use rust_decimal::Decimal;

use crate::ids::CustomerId;
pub use crate::values::RfmSegment;

/// Number of score buckets: scores are quintiles, 1..=5.
pub const SCORE_BUCKETS: usize = 5;

/// Whole days from `last_order_at` to `reference`, rounded down:
/// `floor((reference − last_order_at) / 24 h)`.
///
/// An order less than 24 hours before the reference is 0 days old, one 36 hours before is 1 day.
/// A last order after the reference (a future-dated order) gives a negative number (−1 for up
/// to 24 hours after), which still orders correctly: it is the most recent.
pub fn recency_days(last_order_at: DateTime<Utc>, reference: DateTime<Utc>) -> i64 {
    let elapsed = reference.signed_duration_since(last_order_at);
    // `num_days` truncates towards zero; step down when a negative remainder was dropped.
    let days = elapsed.num_days();
    match TimeDelta::try_days(days) {
        Some(whole) if elapsed < whole => days - 1,
        _ => days,
    }
}

/// The bucket (1-based) of the row at 0-based `position` among `n` ordered rows split into
/// `buckets` buckets, exactly as SQL's `NTILE(buckets)` (PostgreSQL and SQLite agree): bucket
/// sizes differ by at most one and the first `n mod buckets` buckets hold the extra row; with
/// fewer rows than buckets, the rows take buckets `1..=n`.
///
/// With `n = 7` and 5 buckets the sizes are 2, 2, 1, 1, 1; with `n = 4` the rows get 1, 2, 3, 4.
/// Returns 0 when there is no bucket: `buckets == 0` or `position >= n`. Saturates at 255.
pub fn ntile(position: usize, n: usize, buckets: usize) -> u8 {
    if buckets == 0 || position >= n {
        return 0;
    }
    let size = n / buckets;
    let large = n % buckets;
    // The first `large` buckets hold `size + 1` rows each (`size` may be 0: then `large == n`
    // and every row is in this part).
    let in_large = large * (size + 1);
    let bucket = if position < in_large {
        position / (size + 1) + 1
    } else {
        large + (position - in_large) / size + 1
    };
    u8::try_from(bucket).unwrap_or(u8::MAX)
}

/// One customer's metrics at the reference date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RfmInput {
    /// The customer; breaks ties in every ordering.
    pub customer_id: CustomerId,
    /// Whole days since the last completed order ([`recency_days`]).
    pub recency_days: i64,
    /// Completed orders; customers with fewer than 1 are not scored.
    pub frequency: i64,
    /// Total spent on completed orders (tenant currency).
    pub monetary: Decimal,
}

/// One customer's scores and segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RfmScore {
    /// The customer.
    pub customer_id: CustomerId,
    /// Recency score 1..=5; 5 = most recent.
    pub r: u8,
    /// Frequency score 1..=5; 5 = most orders.
    pub f: u8,
    /// Monetary score 1..=5; 5 = most spent.
    pub m: u8,
    /// The segment of (`r`, `f`).
    pub segment: RfmSegment,
}

/// Scores the customers of one tenant (see the [module documentation](self) for the rules).
///
/// Inputs with `frequency < 1` are left out: they are not scored and do not count in `n`. The
/// result holds one score per remaining input, in input order. Customer ids are expected to be
/// unique; should one repeat with equal metrics, the copies keep their input order.
pub fn score_customers(inputs: &[RfmInput]) -> Vec<RfmScore> {
    let scored: Vec<&RfmInput> = inputs.iter().filter(|i| i.frequency >= 1).collect();
    let r = scores_by(&scored, |a, b| {
        b.recency_days
            .cmp(&a.recency_days)
            .then_with(|| a.customer_id.cmp(&b.customer_id))
    });
    let f = scores_by(&scored, |a, b| {
        a.frequency
            .cmp(&b.frequency)
            .then_with(|| a.customer_id.cmp(&b.customer_id))
    });
    let m = scores_by(&scored, |a, b| {
        a.monetary
            .cmp(&b.monetary)
            .then_with(|| a.customer_id.cmp(&b.customer_id))
    });
    scored
        .iter()
        .zip(r.iter().zip(f.iter().zip(m.iter())))
        .map(|(input, (&r, (&f, &m)))| RfmScore {
            customer_id: input.customer_id,
            r,
            f,
            m,
            segment: segment_for(r, f),
        })
        .collect()
}

/// The NTILE score of each input (same indexes) in the order `cmp` (stable for equal rows).
fn scores_by(inputs: &[&RfmInput], cmp: impl Fn(&RfmInput, &RfmInput) -> Ordering) -> Vec<u8> {
    let n = inputs.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| cmp(inputs[a], inputs[b]));
    let mut scores = vec![0; n];
    for (position, index) in order.into_iter().enumerate() {
        scores[index] = ntile(position, n, SCORE_BUCKETS);
    }
    scores
}

use RfmSegment as S;

/// The segment grid: row `5 - r`, column `f - 1` (rows R = 5, 4, 3, 2, 1 as in the docs).
#[rustfmt::skip]
const GRID: [[RfmSegment; 5]; 5] = [
    //        F = 1            F = 2                  F = 3                  F = 4              F = 5
    /* R5 */ [S::NewCustomers, S::PotentialLoyalists, S::PotentialLoyalists, S::Champions,      S::Champions],
    /* R4 */ [S::Promising,    S::PotentialLoyalists, S::PotentialLoyalists, S::LoyalCustomers, S::LoyalCustomers],
    /* R3 */ [S::AboutToSleep, S::AboutToSleep,       S::NeedAttention,      S::LoyalCustomers, S::LoyalCustomers],
    /* R2 */ [S::Hibernating,  S::Hibernating,        S::AtRisk,             S::AtRisk,         S::CannotLoseThem],
    /* R1 */ [S::Lost,         S::Lost,               S::AtRisk,             S::AtRisk,         S::CannotLoseThem],
];

/// The segment of an R and an F score (see the grid in the [module documentation](self)).
/// Scores outside 1..=5 are clamped into it.
pub fn segment_for(r: u8, f: u8) -> RfmSegment {
    let row = usize::from(5 - r.clamp(1, 5));
    let col = usize::from(f.clamp(1, 5) - 1);
    GRID[row][col]
}

impl RfmSegment {
    /// The display name ("Loyal Customers").
    pub fn label(self) -> &'static str {
        match self {
            S::Champions => "Champions",
            S::LoyalCustomers => "Loyal Customers",
            S::PotentialLoyalists => "Potential Loyalists",
            S::NewCustomers => "New Customers",
            S::Promising => "Promising",
            S::NeedAttention => "Need Attention",
            S::AboutToSleep => "About to Sleep",
            S::AtRisk => "At Risk",
            S::CannotLoseThem => "Cannot Lose Them",
            S::Hibernating => "Hibernating",
            S::Lost => "Lost",
        }
    }

    /// The (R, F) cells of this segment, ascending by R then F: what a SQL `CASE` needs to
    /// compile the grid. Every segment has at least one cell, every cell one segment.
    pub fn cells(self) -> Vec<(u8, u8)> {
        (1..=5)
            .flat_map(|r| (1..=5).map(move |f| (r, f)))
            .filter(|&(r, f)| segment_for(r, f) == self)
            .collect()
    }

    /// The quadrant of the product document's coarse matrix this segment belongs to.
    pub fn coarse(self) -> CoarseSegment {
        match self {
            S::Champions | S::LoyalCustomers => CoarseSegment::Champions,
            S::PotentialLoyalists
            | S::NewCustomers
            | S::Promising
            | S::NeedAttention
            | S::AboutToSleep => CoarseSegment::NewCustomers,
            S::AtRisk | S::CannotLoseThem => CoarseSegment::AtRisk,
            S::Hibernating | S::Lost => CoarseSegment::Lost,
        }
    }
}

string_enum!(
    /// A quadrant of the product document's 2×2 matrix: recent (R 3–5) or lapsed (R 1–2) by
    /// frequent (F 4–5, or 3 when lapsed) or infrequent. Derived with [`RfmSegment::coarse`].
    CoarseSegment {
        /// Recent and frequent.
        Champions => "champions",
        /// Lapsed and frequent.
        AtRisk => "at_risk",
        /// Recent and infrequent.
        NewCustomers => "new_customers",
        /// Lapsed and infrequent.
        Lost => "lost",
    }
);

impl CoarseSegment {
    /// The display name ("At Risk").
    pub fn label(self) -> &'static str {
        match self {
            CoarseSegment::Champions => "Champions",
            CoarseSegment::AtRisk => "At Risk",
            CoarseSegment::NewCustomers => "New Customers",
            CoarseSegment::Lost => "Lost",
        }
    }

    /// Whether the quadrant is the recent half (R 3–5).
    pub fn recent(self) -> bool {
        matches!(self, CoarseSegment::Champions | CoarseSegment::NewCustomers)
    }

    /// Whether the quadrant is the frequent half.
    pub fn frequent(self) -> bool {
        matches!(self, CoarseSegment::Champions | CoarseSegment::AtRisk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use uuid::Uuid;

    fn id(n: u128) -> CustomerId {
        CustomerId(Uuid::from_u128(n))
    }

    fn input(n: u128, recency_days: i64, frequency: i64, monetary: &str) -> RfmInput {
        RfmInput {
            customer_id: id(n),
            recency_days,
            frequency,
            monetary: monetary.parse().unwrap(),
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    /// `n` customers with ids 1..=n and every metric equal: only the id orders them.
    fn all_tied(n: u128) -> Vec<RfmInput> {
        (1..=n).map(|i| input(i, 10, 1, "100")).collect()
    }

    fn column(scores: &[RfmScore], pick: fn(&RfmScore) -> u8) -> Vec<u8> {
        scores.iter().map(pick).collect()
    }

    #[test]
    fn ntile_matches_sql_bucket_sizes() {
        let buckets = |n| (0..n).map(|p| ntile(p, n, 5)).collect::<Vec<_>>();
        assert_eq!(buckets(1), [1]);
        assert_eq!(buckets(2), [1, 2]);
        assert_eq!(buckets(4), [1, 2, 3, 4]);
        assert_eq!(buckets(5), [1, 2, 3, 4, 5]);
        assert_eq!(buckets(7), [1, 1, 2, 2, 3, 4, 5]);
        assert_eq!(buckets(8), [1, 1, 2, 2, 3, 3, 4, 5]);
        assert_eq!(buckets(10), [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
        assert_eq!(buckets(12), [1, 1, 1, 2, 2, 2, 3, 3, 4, 4, 5, 5]);
        // Other bucket counts follow the same rule: 10 rows in 3 buckets are 4, 3, 3.
        let three: Vec<u8> = (0..10).map(|p| ntile(p, 10, 3)).collect();
        assert_eq!(three, [1, 1, 1, 1, 2, 2, 2, 3, 3, 3]);
    }

    #[test]
    fn ntile_bucket_sizes_differ_by_at_most_one_with_the_larger_first() {
        for n in 1..=200 {
            let mut sizes = [0usize; 5];
            let mut previous = 1;
            for p in 0..n {
                let b = ntile(p, n, 5);
                assert!(b >= previous && b <= previous + 1, "n={n} p={p}");
                previous = b;
                sizes[usize::from(b - 1)] += 1;
            }
            let used = n.min(5);
            let (q, extra) = (n / 5, n % 5);
            for (i, size) in sizes.iter().enumerate() {
                let expected = if i >= used {
                    0
                } else if i < extra {
                    q + 1
                } else {
                    q
                };
                assert_eq!(*size, expected, "n={n} bucket={}", i + 1);
            }
        }
    }

    #[test]
    fn ntile_without_a_bucket_is_zero() {
        assert_eq!(ntile(0, 0, 5), 0);
        assert_eq!(ntile(3, 3, 5), 0);
        assert_eq!(ntile(0, 3, 0), 0);
        assert_eq!(ntile(299, 300, 300), u8::MAX);
    }

    #[test]
    fn tiny_tenants_use_the_lowest_buckets() {
        let one = score_customers(&all_tied(1));
        assert_eq!((one[0].r, one[0].f, one[0].m), (1, 1, 1));
        assert_eq!(one[0].segment, RfmSegment::Lost);

        for (n, expected) in [(2, vec![1, 2]), (4, vec![1, 2, 3, 4])] {
            let scores = score_customers(&all_tied(n));
            assert_eq!(column(&scores, |s| s.r), expected, "n={n}");
            assert_eq!(column(&scores, |s| s.f), expected, "n={n}");
            assert_eq!(column(&scores, |s| s.m), expected, "n={n}");
        }
    }

    #[test]
    fn five_seven_and_ten_customers() {
        for (n, expected) in [
            (5, vec![1, 2, 3, 4, 5]),
            (7, vec![1, 1, 2, 2, 3, 4, 5]),
            (10, vec![1, 1, 2, 2, 3, 3, 4, 4, 5, 5]),
        ] {
            // Metrics rise with the id, and recency falls (later ids bought more recently).
            let inputs: Vec<RfmInput> = (1..=n)
                .map(|i| {
                    let k = i64::try_from(i).unwrap();
                    input(i, 1000 - k, k, &format!("{}.50", k * 10))
                })
                .collect();
            let scores = score_customers(&inputs);
            assert_eq!(column(&scores, |s| s.r), expected, "n={n}");
            assert_eq!(column(&scores, |s| s.f), expected, "n={n}");
            assert_eq!(column(&scores, |s| s.m), expected, "n={n}");
        }
    }

    #[test]
    fn ties_are_broken_by_id_ascending() {
        // Same metrics, ids given out of order: the scores follow the ids, not the input order.
        let inputs = vec![
            input(30, 5, 2, "10"),
            input(10, 5, 2, "10"),
            input(50, 5, 2, "10"),
            input(20, 5, 2, "10"),
            input(40, 5, 2, "10"),
        ];
        let scores = score_customers(&inputs);
        let by_id: Vec<(CustomerId, u8, u8, u8)> = scores
            .iter()
            .map(|s| (s.customer_id, s.r, s.f, s.m))
            .collect();
        assert_eq!(
            by_id,
            [
                (id(30), 3, 3, 3),
                (id(10), 1, 1, 1),
                (id(50), 5, 5, 5),
                (id(20), 2, 2, 2),
                (id(40), 4, 4, 4),
            ]
        );
        // Same answer whatever the input order.
        let mut reversed = inputs.clone();
        reversed.reverse();
        let mut again = score_customers(&reversed);
        again.reverse();
        assert_eq!(again, scores);
    }

    #[test]
    fn decimal_scale_does_not_break_monetary_ties() {
        // 100, 100.0 and 100.0000 are one amount: the id decides.
        let inputs = vec![
            input(3, 1, 1, "100.0000"),
            input(1, 1, 1, "100"),
            input(2, 1, 1, "100.0"),
        ];
        assert_eq!(column(&score_customers(&inputs), |s| s.m), [3, 1, 2]);
    }

    #[test]
    fn id_order_is_the_byte_order_of_the_uuid() {
        // PostgreSQL compares uuid values byte by byte and SQLite compares the 16-byte BLOBs
        // with memcmp; CustomerId's Ord must be that order (the lower-case text form agrees).
        let a = CustomerId(Uuid::from_bytes([
            0x01, 0xff, 0, 0, 0, 0, 0x70, 0, 0x80, 0, 0, 0, 0, 0, 0, 0,
        ]));
        let b = CustomerId(Uuid::from_bytes([
            0x02, 0x00, 0, 0, 0, 0, 0x70, 0, 0x80, 0, 0, 0, 0, 0, 0, 0,
        ]));
        let c = CustomerId(Uuid::from_bytes([
            0x02, 0x00, 0, 0, 0, 0, 0x70, 0, 0x80, 0, 0, 0, 0, 0, 0, 0xff,
        ]));
        let ids = [c, a, b];
        let mut by_ord = ids;
        by_ord.sort();
        let mut by_bytes = ids;
        by_bytes.sort_by(|x, y| x.as_uuid().as_bytes().cmp(y.as_uuid().as_bytes()));
        let mut by_text = ids;
        by_text.sort_by_key(|x| x.to_string());
        assert_eq!(by_ord, [a, b, c]);
        assert_eq!(by_bytes, by_ord);
        assert_eq!(by_text, by_ord);
    }

    #[test]
    fn most_recent_gets_the_highest_r() {
        let inputs = vec![
            input(1, 0, 1, "1"),
            input(2, 400, 1, "1"),
            input(3, 30, 1, "1"),
            input(4, 7, 1, "1"),
            input(5, 90, 1, "1"),
        ];
        assert_eq!(column(&score_customers(&inputs), |s| s.r), [5, 1, 3, 4, 2]);
        // Equal recency: the lower id comes first in the R order, so it scores lower.
        let tied = vec![input(2, 10, 1, "1"), input(1, 10, 1, "1")];
        assert_eq!(column(&score_customers(&tied), |s| s.r), [2, 1]);
        // A future-dated last order is the most recent of all.
        let future = vec![input(1, 0, 1, "1"), input(2, -1, 1, "1")];
        assert_eq!(column(&score_customers(&future), |s| s.r), [1, 2]);
    }

    #[test]
    fn customers_without_completed_orders_are_not_scored() {
        let inputs = vec![
            input(1, 3, 0, "0"),
            input(2, 3, 2, "5"),
            input(3, 9, 1, "1"),
        ];
        let scores = score_customers(&inputs);
        let ids: Vec<CustomerId> = scores.iter().map(|s| s.customer_id).collect();
        assert_eq!(ids, [id(2), id(3)]);
        assert_eq!(column(&scores, |s| s.r), [2, 1]);
        assert_eq!(column(&scores, |s| s.f), [2, 1]);
        assert!(score_customers(&[]).is_empty());
    }

    #[test]
    fn recency_is_whole_days_rounded_down() {
        let reference = at("2026-03-01T00:00:00Z");
        assert_eq!(recency_days(at("2026-03-01T00:00:00Z"), reference), 0);
        assert_eq!(recency_days(at("2026-02-28T00:00:01Z"), reference), 0);
        assert_eq!(recency_days(at("2026-02-28T00:00:00Z"), reference), 1);
        assert_eq!(recency_days(at("2026-02-27T12:00:00Z"), reference), 1);
        assert_eq!(recency_days(at("2025-12-01T00:00:00Z"), reference), 90);
        // After the reference: floor, so a microsecond later is already −1.
        assert_eq!(
            recency_days(at("2026-03-01T00:00:00.000001Z"), reference),
            -1
        );
        assert_eq!(recency_days(at("2026-03-02T00:00:00Z"), reference), -1);
        assert_eq!(recency_days(at("2026-03-02T00:00:01Z"), reference), -2);
    }

    #[test]
    fn every_cell_has_exactly_one_segment_and_every_segment_a_cell() {
        let mut seen = BTreeSet::new();
        for segment in RfmSegment::ALL {
            let cells = segment.cells();
            assert!(!cells.is_empty(), "{segment} has no cell");
            for cell in cells {
                assert!(seen.insert(cell), "{cell:?} is in two segments");
                assert_eq!(segment_for(cell.0, cell.1), *segment);
            }
        }
        let all: BTreeSet<(u8, u8)> = (1..=5).flat_map(|r| (1..=5).map(move |f| (r, f))).collect();
        assert_eq!(seen, all);
        assert_eq!(RfmSegment::ALL.len(), 11);
        let reached: BTreeSet<RfmSegment> = all.iter().map(|&(r, f)| segment_for(r, f)).collect();
        assert_eq!(reached.len(), 11);
    }

    #[test]
    fn the_grid_is_the_documented_table() {
        let named = |r: u8| -> Vec<&str> { (1..=5).map(|f| segment_for(r, f).label()).collect() };
        assert_eq!(
            named(5),
            [
                "New Customers",
                "Potential Loyalists",
                "Potential Loyalists",
                "Champions",
                "Champions"
            ]
        );
        assert_eq!(
            named(4),
            [
                "Promising",
                "Potential Loyalists",
                "Potential Loyalists",
                "Loyal Customers",
                "Loyal Customers"
            ]
        );
        assert_eq!(
            named(3),
            [
                "About to Sleep",
                "About to Sleep",
                "Need Attention",
                "Loyal Customers",
                "Loyal Customers"
            ]
        );
        assert_eq!(
            named(2),
            [
                "Hibernating",
                "Hibernating",
                "At Risk",
                "At Risk",
                "Cannot Lose Them"
            ]
        );
        assert_eq!(
            named(1),
            ["Lost", "Lost", "At Risk", "At Risk", "Cannot Lose Them"]
        );
        assert_eq!(RfmSegment::Champions.cells(), [(5, 4), (5, 5)]);
        assert_eq!(RfmSegment::Lost.cells(), [(1, 1), (1, 2)]);
        assert_eq!(RfmSegment::NeedAttention.cells(), [(3, 3)]);
        // Out-of-range scores are clamped.
        assert_eq!(segment_for(0, 9), RfmSegment::CannotLoseThem);
        assert_eq!(segment_for(9, 0), RfmSegment::NewCustomers);
    }

    #[test]
    fn segment_names_round_trip() {
        for segment in RfmSegment::ALL {
            assert_eq!(segment.as_str().parse::<RfmSegment>().unwrap(), *segment);
        }
        assert_eq!(RfmSegment::LoyalCustomers.as_str(), "loyal_customers");
        assert_eq!(RfmSegment::CannotLoseThem.as_str(), "cannot_lose_them");
        assert_eq!(RfmSegment::AboutToSleep.label(), "About to Sleep");
        assert!("loyal".parse::<RfmSegment>().is_err());
        for coarse in CoarseSegment::ALL {
            assert_eq!(coarse.as_str().parse::<CoarseSegment>().unwrap(), *coarse);
        }
        assert_eq!(CoarseSegment::AtRisk.label(), "At Risk");
    }

    #[test]
    fn the_coarse_matrix_follows_the_r_and_f_halves() {
        use CoarseSegment as C;
        for r in 1..=5 {
            for f in 1..=5 {
                let coarse = segment_for(r, f).coarse();
                assert_eq!(coarse.recent(), r >= 3, "({r},{f})");
                match f {
                    1 | 2 => assert!(!coarse.frequent(), "({r},{f})"),
                    4 | 5 => assert!(coarse.frequent(), "({r},{f})"),
                    // The middle score: frequent when lapsed (At Risk), not yet when recent.
                    _ => assert_eq!(coarse.frequent(), r <= 2, "({r},{f})"),
                }
            }
        }
        let row =
            |r: u8| -> Vec<CoarseSegment> { (1..=5).map(|f| segment_for(r, f).coarse()).collect() };
        let (ch, nc, ar, lo) = (C::Champions, C::NewCustomers, C::AtRisk, C::Lost);
        assert_eq!(row(5), [nc, nc, nc, ch, ch]);
        assert_eq!(row(4), [nc, nc, nc, ch, ch]);
        assert_eq!(row(3), [nc, nc, nc, ch, ch]);
        assert_eq!(row(2), [lo, lo, ar, ar, ar]);
        assert_eq!(row(1), [lo, lo, ar, ar, ar]);
        let reached: BTreeSet<CoarseSegment> = RfmSegment::ALL.iter().map(|s| s.coarse()).collect();
        assert_eq!(reached.len(), 4);
    }

    /// The worked example of `docs/RFM.md`: eight customers A..H whose ids ascend in that order
    /// (as UUID v7 ids do when created in that order), reference 2026-03-01T00:00:00Z, every
    /// order completed.
    #[test]
    fn worked_example() {
        let reference = at("2026-03-01T00:00:00Z");
        // (label, id, last completed order, completed orders, total spent)
        let fixture = [
            ("A", 1, "2026-02-28T12:00:00Z", 6, "600.00"),
            ("B", 2, "2026-02-20T00:00:00Z", 1, "50.00"),
            ("C", 3, "2026-01-30T00:00:00Z", 3, "300.00"),
            ("D", 4, "2026-02-20T09:30:00Z", 3, "120.00"),
            ("E", 5, "2025-12-01T00:00:00Z", 5, "600.00"),
            ("F", 6, "2025-09-02T00:00:00Z", 1, "40.00"),
            ("G", 7, "2026-01-29T12:00:00Z", 2, "75.50"),
            ("H", 8, "2025-06-04T00:00:00Z", 3, "45.00"),
        ];
        // (label, recency days, R, F, M, segment, coarse)
        use CoarseSegment as C;
        use RfmSegment as S;
        let expected = [
            ("A", 0, 5, 5, 4, S::Champions, C::Champions),
            ("B", 9, 3, 1, 2, S::AboutToSleep, C::NewCustomers),
            ("C", 30, 2, 2, 3, S::Hibernating, C::Lost),
            ("D", 8, 4, 3, 3, S::PotentialLoyalists, C::NewCustomers),
            ("E", 90, 2, 4, 5, S::AtRisk, C::AtRisk),
            ("F", 180, 1, 1, 1, S::Lost, C::Lost),
            ("G", 30, 3, 2, 2, S::AboutToSleep, C::NewCustomers),
            ("H", 270, 1, 3, 1, S::AtRisk, C::AtRisk),
        ];

        let inputs: Vec<RfmInput> = fixture
            .iter()
            .map(|&(_, n, last, frequency, monetary)| RfmInput {
                customer_id: id(n),
                recency_days: recency_days(at(last), reference),
                frequency,
                monetary: monetary.parse().unwrap(),
            })
            .collect();
        let scores = score_customers(&inputs);
        let got: Vec<_> = fixture
            .iter()
            .zip(inputs.iter().zip(&scores))
            .map(|(&(label, ..), (input, s))| {
                assert_eq!(s.customer_id, input.customer_id);
                (
                    label,
                    input.recency_days,
                    s.r,
                    s.f,
                    s.m,
                    s.segment,
                    s.segment.coarse(),
                )
            })
            .collect();
        assert_eq!(got, expected);
    }
}
