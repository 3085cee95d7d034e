//! The events of loyalty writes (issue 13): points movements, a customer's tier changes and the
//! tier catalogue. Each is appended in the same transaction as its write.
//!
//! | type | entity | customer | `data` |
//! | --- | --- | --- | --- |
//! | `points.earned` / `points.redeemed` / `points.adjusted` / `points.reversed` / `points.expired` | `loyalty_entry` | yes | `entry_id`, `kind`, `points` (signed), `balance_after`, `reason`, `order_id` |
//! | `tier.changed` | `customer` | yes | `from_tier_id`, `from_tier`, `to_tier_id`, `to_tier` (names), `reason`; changes `tier_id` |
//! | `tier.created` / `tier.updated` / `tier.deleted` | `tier` | no | `tier_id`, `name`, `level`, `min_spend`, `discount_percent` (exact decimal strings), `colour`; `tier.updated` changes every changed field, `benefits` included |

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::model::{LedgerEntry, LedgerKind, Tier, TierChange};
use crate::access::Actor;
use crate::event::{EntityType, FieldChanges, NewEvent, field_changes};
use crate::ids::TierId;

/// The event type of a ledger entry of `kind`.
pub fn points_event_type(kind: LedgerKind) -> &'static str {
    match kind {
        LedgerKind::Earn => "points.earned",
        LedgerKind::Redemption => "points.redeemed",
        LedgerKind::Adjustment => "points.adjusted",
        LedgerKind::Reversal => "points.reversed",
        LedgerKind::Expiry => "points.expired",
    }
}

/// The event of a ledger entry caused by `actor`: the signed points, the customer's balance
/// after it, the reason and the order it comes from.
pub fn points_event(actor: &Actor, entry: &LedgerEntry, balance_after: i64) -> NewEvent {
    NewEvent::new(
        actor,
        points_event_type(entry.kind),
        EntityType::LoyaltyEntry,
        entry.id.0,
        entry.created_at,
    )
    .customer(entry.customer_id)
    .data(json!({
        "entry_id": entry.id.0,
        "kind": entry.kind.as_str(),
        "points": entry.points,
        "balance_after": balance_after,
        "reason": entry.reason,
        "order_id": entry.order_id.map(|o| o.0),
    }))
}

fn tier_name(tiers: &[Tier], id: Option<TierId>) -> Value {
    id.and_then(|id| tiers.iter().find(|t| t.id == id))
        .map_or(Value::Null, |t| Value::String(t.name.clone()))
}

/// The `tier.changed` event of a customer's tier change caused by `actor` (the caller whose
/// order or request moved it): from and to (ids and, found in `tiers`, names) and why.
pub fn tier_changed_event(actor: &Actor, change: &TierChange, tiers: &[Tier]) -> NewEvent {
    let mut changes = FieldChanges::new();
    changes.insert(
        "tier_id".to_owned(),
        [
            json!(change.from_tier.map(|t| t.0)),
            json!(change.to_tier.map(|t| t.0)),
        ],
    );
    NewEvent::new(
        actor,
        "tier.changed",
        EntityType::Customer,
        change.customer_id.0,
        change.changed_at,
    )
    .customer(change.customer_id)
    .data(json!({
        "from_tier_id": change.from_tier.map(|t| t.0),
        "from_tier": tier_name(tiers, change.from_tier),
        "to_tier_id": change.to_tier.map(|t| t.0),
        "to_tier": tier_name(tiers, change.to_tier),
        "reason": change.reason,
    }))
    .changes(changes)
}

/// A tier's key fields as its events show them (amounts as exact decimal strings).
fn tier_data(t: &Tier) -> Value {
    json!({
        "tier_id": t.id.0,
        "name": t.name,
        "level": t.level,
        "min_spend": t.min_spend.to_string(),
        "discount_percent": t.discount_percent.to_string(),
        "colour": t.colour,
    })
}

/// A tier's fields compared by `tier.updated` (the data plus `benefits`).
fn tier_fields(t: &Tier) -> Value {
    let mut v = tier_data(t);
    v["benefits"] = Value::Object(t.benefits.clone());
    v
}

/// `tier.created`, `tier.deleted` (entity `tier`, no customer) with the tier's key fields.
pub fn tier_event(actor: &Actor, verb: &str, tier: &Tier, at: DateTime<Utc>) -> NewEvent {
    NewEvent::new(
        actor,
        format!("tier.{verb}"),
        EntityType::Tier,
        tier.id.0,
        at,
    )
    .data(tier_data(tier))
}

/// `tier.updated`: the new key fields and the changed fields `[old, new]`.
pub fn tier_updated_event(actor: &Actor, old: &Tier, new: &Tier, at: DateTime<Utc>) -> NewEvent {
    tier_event(actor, "updated", new, at).changes(field_changes(
        &tier_fields(old),
        &tier_fields(new),
        &[],
    ))
}
