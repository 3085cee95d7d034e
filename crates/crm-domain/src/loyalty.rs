//! Loyalty rules: points earned per purchase, membership tiers and their thresholds, tier
//! changes, and the tenant settings that drive them. Pure functions; the services apply them
//! inside one transaction.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use crate::error::FieldError;
use crate::ids::{CustomerId, LedgerEntryId, OrderId, TenantId, TierId, UserId};
use crate::values::Amount;

/// Points unit of a tenant that has not set one: one point per 10,000 of the tenant currency
/// (the POS product document's rule).
pub const DEFAULT_POINTS_UNIT: i64 = 10_000;

/// Points a completed order earns: `floor(total_amount / points_unit)`, computed in exact
/// decimal arithmetic (never floats). A zero unit earns nothing.
pub fn points_for(total: Amount, points_unit: Amount) -> i64 {
    if points_unit.value().is_zero() {
        return 0;
    }
    let points = (total.value() / points_unit.value()).floor();
    i64::try_from(points.mantissa() / 10_i128.pow(points.scale())).unwrap_or(i64::MAX)
}

/// How tiers go down when spending falls below the current tier (it never does by itself in
/// this version: `total_spent` only drops on refunds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DowngradePolicy {
    /// A tier is never lowered automatically (default).
    Never,
    /// A refund or cancellation that leaves `total_spent` below the tier's minimum lowers the
    /// tier only once the customer has held it for this many days.
    AfterGraceDays(u32),
}

/// The loyalty settings of a tenant, read from its settings JSON: `points_unit` (decimal string
/// or number, > 0) and `tier_downgrade` (`"never"` or `{"grace_days": N}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoyaltySettings {
    /// Currency amount that earns one point.
    pub points_unit: Amount,
    /// Downgrade rule.
    pub downgrade: DowngradePolicy,
}

impl Default for LoyaltySettings {
    fn default() -> Self {
        Self {
            points_unit: Amount::from_scaled(DEFAULT_POINTS_UNIT * 10_000),
            downgrade: DowngradePolicy::Never,
        }
    }
}

impl LoyaltySettings {
    /// Reads the settings; absent keys take their defaults.
    ///
    /// # Errors
    /// A [`FieldError`] for a malformed `points_unit` or `tier_downgrade`.
    pub fn from_settings(settings: &Map<String, Value>) -> Result<Self, FieldError> {
        let mut out = Self::default();
        if let Some(v) = settings.get("points_unit") {
            let parsed = match v {
                Value::String(s) => s.parse::<Decimal>().ok(),
                Value::Number(n) => n.to_string().parse::<Decimal>().ok(),
                _ => None,
            };
            out.points_unit = parsed
                .filter(|d| *d > Decimal::ZERO)
                .and_then(|d| Amount::new(d).ok())
                .ok_or_else(|| {
                    FieldError::new("points_unit", "invalid", "must be an amount greater than 0")
                })?;
        }
        match settings.get("tier_downgrade") {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s == "never" => out.downgrade = DowngradePolicy::Never,
            Some(Value::Object(o)) => {
                let days = o
                    .get("grace_days")
                    .and_then(Value::as_u64)
                    .and_then(|d| u32::try_from(d).ok())
                    .filter(|d| *d <= 3650)
                    .ok_or_else(|| {
                        FieldError::new(
                            "tier_downgrade.grace_days",
                            "invalid",
                            "must be 0..=3650 days",
                        )
                    })?;
                out.downgrade = DowngradePolicy::AfterGraceDays(days);
            }
            Some(_) => {
                return Err(FieldError::new(
                    "tier_downgrade",
                    "invalid",
                    "must be \"never\" or {\"grace_days\": N}",
                ));
            }
        }
        Ok(out)
    }
}

/// A membership tier of a tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct Tier {
    /// Id.
    pub id: TierId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// Name, 1..=100 characters, unique per tenant.
    pub name: String,
    /// Rank, unique per tenant; higher is better.
    pub level: i32,
    /// `total_spent` (tenant currency) from which a customer qualifies; unique per tenant.
    pub min_spend: Amount,
    /// Discount on quoted prices, percent, 0..=100 with at most 2 decimals.
    pub discount_percent: Decimal,
    /// Free-form benefits (JSON object).
    pub benefits: Map<String, Value>,
    /// Display colour, `#RRGGBB`.
    pub colour: Option<String>,
}

/// The tiers a new tenant starts with: Bronze 0 / Silver 2,000,000 / Gold 5,000,000 /
/// Platinum 10,000,000 (tenant currency) at 5 / 10 / 15 / 20 % discount.
pub fn default_tiers() -> [(&'static str, i32, i64, i64, &'static str); 4] {
    [
        ("Bronze", 1, 0, 5, "#CD7F32"),
        ("Silver", 2, 2_000_000, 10, "#C0C0C0"),
        ("Gold", 3, 5_000_000, 15, "#FFD700"),
        ("Platinum", 4, 10_000_000, 20, "#E5E4E2"),
    ]
}

/// The tier a customer qualifies for by spending: the one with the highest `min_spend` that is
/// at most `total_spent` (a threshold reached exactly qualifies). `None` when no tier's minimum
/// is reached (or the tenant has none).
pub fn qualifying_tier(tiers: &[Tier], total_spent: Amount) -> Option<&Tier> {
    tiers
        .iter()
        .filter(|t| t.min_spend <= total_spent)
        .max_by(|a, b| a.min_spend.cmp(&b.min_spend).then(a.level.cmp(&b.level)))
}

/// What a customer's tier should become after their spending changed.
///
/// Upgrades are immediate: when the qualifying tier ranks above the current one. Downgrades
/// follow `policy`: never, or once the current tier has been held `grace_days` (counted from
/// `held_since`). Returns `None` when the tier stays.
pub fn tier_after_spending(
    tiers: &[Tier],
    current: Option<TierId>,
    held_since: Option<DateTime<Utc>>,
    total_spent: Amount,
    policy: DowngradePolicy,
    now: DateTime<Utc>,
) -> Option<Option<&Tier>> {
    let target = qualifying_tier(tiers, total_spent);
    let current_tier = current.and_then(|id| tiers.iter().find(|t| t.id == id));
    let order = match (target, current_tier) {
        (None, None) => return None,
        (Some(_), None) => Ordering::Greater,
        (None, Some(_)) => Ordering::Less,
        (Some(t), Some(c)) => t.level.cmp(&c.level),
    };
    match order {
        Ordering::Equal => None,
        Ordering::Greater => Some(target),
        Ordering::Less => match policy {
            DowngradePolicy::Never => None,
            DowngradePolicy::AfterGraceDays(days) => {
                let held = held_since.map_or(i64::MAX, |since| (now - since).num_days());
                (held >= i64::from(days)).then_some(target)
            }
        },
    }
}

/// Kinds of ledger entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LedgerKind {
    /// Points earned by a completed order (> 0).
    Earn,
    /// Points taken back because their order was cancelled or refunded (< 0).
    Reversal,
    /// Points spent by the customer (< 0).
    Redemption,
    /// A manual correction by a manager (≠ 0).
    Adjustment,
    /// Points that expired (< 0).
    Expiry,
}

impl LedgerKind {
    /// Wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            LedgerKind::Earn => "earn",
            LedgerKind::Reversal => "reversal",
            LedgerKind::Redemption => "redemption",
            LedgerKind::Adjustment => "adjustment",
            LedgerKind::Expiry => "expiry",
        }
    }

    /// Parses the storage name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Earn,
            Self::Reversal,
            Self::Redemption,
            Self::Adjustment,
            Self::Expiry,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// One movement of a customer's points. The balance is the sum of a customer's entries and is
/// never negative.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerEntry {
    /// Id (UUID v7).
    pub id: LedgerEntryId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Customer.
    pub customer_id: CustomerId,
    /// Kind.
    pub kind: LedgerKind,
    /// Signed points.
    pub points: i64,
    /// Why.
    pub reason: String,
    /// The order it comes from (earn, reversal).
    pub order_id: Option<OrderId>,
    /// Who made it (`None` for automatic entries).
    pub actor: Option<UserId>,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A recorded change of a customer's tier.
#[derive(Debug, Clone, PartialEq)]
pub struct TierChange {
    /// Tenant.
    pub tenant_id: TenantId,
    /// Customer.
    pub customer_id: CustomerId,
    /// Tier before (`None`: no tier).
    pub from_tier: Option<TierId>,
    /// Tier after.
    pub to_tier: Option<TierId>,
    /// Why: `spending reached 2000000` or the manager's reason.
    pub reason: String,
    /// Who (`None` for automatic changes).
    pub actor: Option<UserId>,
    /// When.
    pub changed_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use uuid::Uuid;

    fn amount(v: i64) -> Amount {
        Amount::new(Decimal::from(v)).unwrap()
    }

    fn tiers() -> Vec<Tier> {
        default_tiers()
            .into_iter()
            .map(|(name, level, min, pct, colour)| Tier {
                id: TierId(Uuid::from_u128(level as u128)),
                tenant_id: TenantId(Uuid::nil()),
                name: name.into(),
                level,
                min_spend: amount(min),
                discount_percent: Decimal::from(pct),
                benefits: Map::new(),
                colour: Some(colour.into()),
            })
            .collect()
    }

    #[test]
    fn points_are_the_floor_of_total_over_unit() {
        let unit = amount(10_000);
        assert_eq!(points_for(amount(9_999), unit), 0);
        assert_eq!(points_for(amount(10_000), unit), 1);
        assert_eq!(
            points_for(Amount::new("259999.9999".parse().unwrap()).unwrap(), unit),
            25
        );
        assert_eq!(
            points_for(amount(1), Amount::new("0.3".parse().unwrap()).unwrap()),
            3
        );
        assert_eq!(points_for(amount(5), Amount::ZERO), 0);
    }

    #[test]
    fn a_threshold_reached_exactly_qualifies() {
        let t = tiers();
        assert_eq!(
            qualifying_tier(&t, amount(1_999_999)).unwrap().name,
            "Bronze"
        );
        assert_eq!(
            qualifying_tier(&t, amount(2_000_000)).unwrap().name,
            "Silver"
        );
        assert_eq!(
            qualifying_tier(&t, amount(10_000_000)).unwrap().name,
            "Platinum"
        );
        assert!(qualifying_tier(&[], amount(5)).is_none());
    }

    #[test]
    fn upgrades_are_immediate() {
        let t = tiers();
        let now = Utc::now();
        let change = tier_after_spending(
            &t,
            Some(t[0].id),
            Some(now),
            amount(2_000_000),
            DowngradePolicy::Never,
            now,
        );
        assert_eq!(change.unwrap().unwrap().name, "Silver");
        let first = tier_after_spending(&t, None, None, amount(0), DowngradePolicy::Never, now);
        assert_eq!(first.unwrap().unwrap().name, "Bronze");
        assert_eq!(
            tier_after_spending(
                &t,
                Some(t[1].id),
                Some(now),
                amount(2_500_000),
                DowngradePolicy::Never,
                now
            ),
            None
        );
    }

    #[test]
    fn downgrades_never_happen_by_default() {
        let t = tiers();
        let now = Utc::now();
        let long_ago = now - Duration::days(400);
        assert_eq!(
            tier_after_spending(
                &t,
                Some(t[2].id),
                Some(long_ago),
                amount(10),
                DowngradePolicy::Never,
                now
            ),
            None
        );
    }

    #[test]
    fn downgrades_wait_for_the_grace_period() {
        let t = tiers();
        let now = Utc::now();
        let policy = DowngradePolicy::AfterGraceDays(30);
        let recent = now - Duration::days(29);
        assert_eq!(
            tier_after_spending(&t, Some(t[2].id), Some(recent), amount(10), policy, now),
            None
        );
        let old = now - Duration::days(30);
        let change = tier_after_spending(&t, Some(t[2].id), Some(old), amount(10), policy, now);
        assert_eq!(change.unwrap().unwrap().name, "Bronze");
    }

    #[test]
    fn settings_default_and_parse() {
        assert_eq!(
            LoyaltySettings::from_settings(&Map::new()).unwrap(),
            LoyaltySettings::default()
        );
        let s: Map<String, Value> = serde_json::from_str(
            r#"{"points_unit": "5000", "tier_downgrade": {"grace_days": 90}}"#,
        )
        .unwrap();
        let parsed = LoyaltySettings::from_settings(&s).unwrap();
        assert_eq!(
            (parsed.points_unit, parsed.downgrade),
            (amount(5000), DowngradePolicy::AfterGraceDays(90))
        );
        let bad: Map<String, Value> = serde_json::from_str(r#"{"points_unit": 0}"#).unwrap();
        assert_eq!(
            LoyaltySettings::from_settings(&bad).unwrap_err().field,
            "points_unit"
        );
    }
}
