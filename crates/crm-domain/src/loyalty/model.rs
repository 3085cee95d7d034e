//! The loyalty model: the tenant's loyalty settings, membership tiers, ledger entries and tier
//! changes. The rules that apply them are in [`super::rules`].

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use crate::error::{DomainError, FieldError};
use crate::ids::{CustomerId, LedgerEntryId, OrderId, TenantId, TierId, UserId};
use crate::tenant::Tenant;
use crate::values::Amount;

/// Points unit of a tenant that has not set one: one point per 10,000 of the tenant currency
/// (the POS product document's rule).
pub const DEFAULT_POINTS_UNIT: i64 = 10_000;

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
    /// The settings of `tenant`. They were checked when saved, so a value that no longer parses
    /// is an internal error.
    ///
    /// # Errors
    /// [`DomainError::Internal`] naming the tenant and the bad key.
    pub fn of(tenant: &Tenant) -> Result<Self, DomainError> {
        Self::from_settings(&tenant.settings).map_err(|e| {
            DomainError::Internal(format!(
                "tenant {} has invalid loyalty settings: {}",
                tenant.id, e.message
            ))
        })
    }

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
