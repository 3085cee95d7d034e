//! The loyalty rules: points earned per purchase, the tiers a tenant starts with, which tier a
//! customer qualifies for, and when a tier goes up or (after the grace period) down. Pure
//! functions; the services apply them inside one transaction.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};

use super::model::{DowngradePolicy, Tier, TierChange};
use crate::ids::{CustomerId, TenantId, TierId};
use crate::values::Amount;

/// Points a completed order earns: `floor(total_amount / points_unit)`, computed in exact
/// decimal arithmetic (never floats). A zero unit earns nothing.
pub fn points_for(total: Amount, points_unit: Amount) -> i64 {
    if points_unit.value().is_zero() {
        return 0;
    }
    let points = (total.value() / points_unit.value()).floor();
    i64::try_from(points.mantissa() / 10_i128.pow(points.scale())).unwrap_or(i64::MAX)
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

/// The tier change the tier rule asks for when a customer holding `current` since `since` has
/// spent `total_spent` ([`tier_after_spending`] under `policy`), with its reason; `None` when the
/// tier stays. Automatic: no actor.
#[allow(clippy::too_many_arguments)]
pub fn tier_change(
    tiers: &[Tier],
    tenant_id: TenantId,
    customer_id: CustomerId,
    current: Option<TierId>,
    since: Option<DateTime<Utc>>,
    total_spent: Amount,
    policy: DowngradePolicy,
    now: DateTime<Utc>,
) -> Option<TierChange> {
    let target = tier_after_spending(tiers, current, since, total_spent, policy, now)?;
    let reason = match target {
        Some(t) => format!(
            "total spent {total_spent} reached {} ({})",
            t.min_spend, t.name
        ),
        None => format!("total spent {total_spent} is below every tier"),
    };
    Some(TierChange {
        tenant_id,
        customer_id,
        from_tier: current,
        to_tier: target.map(|t| t.id),
        reason,
        actor: None,
        changed_at: now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loyalty::model::LoyaltySettings;
    use chrono::Duration;
    use rust_decimal::Decimal;
    use serde_json::{Map, Value};
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
