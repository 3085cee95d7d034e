//! What a reminder is about, and its event.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::event::{EntityType, NewEvent};
use crate::ids::{CustomerId, TenantId};
use crate::values::{Amount, CurrencyCode};

/// An open follow-up whose `due_at` has passed and whose `follow_up.due` has not fired for
/// that date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueFollowUp {
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// The follow-up's id.
    pub id: uuid::Uuid,
    /// Its customer.
    pub customer_id: CustomerId,
    /// Its title.
    pub title: String,
    /// When it was due.
    pub due_at: DateTime<Utc>,
    /// Who it is assigned to (a user id).
    pub assignee: String,
    /// `low`, `normal`, `high` or `urgent`.
    pub priority: String,
}

/// A completed, unpaid order whose `due_at` has passed and whose `order.overdue` has not fired
/// for that date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverdueOrder {
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// The order's id.
    pub id: uuid::Uuid,
    /// Its customer.
    pub customer_id: CustomerId,
    /// The tenant's reference.
    pub order_ref: String,
    /// When it was placed.
    pub placed_at: DateTime<Utc>,
    /// When payment was due.
    pub due_at: DateTime<Utc>,
    /// Its total, in `currency`.
    pub total_amount: Amount,
    /// ISO 4217 currency.
    pub currency: CurrencyCode,
}

/// `follow_up.due` of `f`, by the system at `at`.
pub fn follow_up_due_event(f: &DueFollowUp, at: DateTime<Utc>) -> NewEvent {
    NewEvent::system(f.tenant_id, "follow_up.due", EntityType::FollowUp, f.id, at)
        .customer(f.customer_id)
        .data(json!({
            "follow_up_id": f.id,
            "title": f.title,
            "due_at": f.due_at,
            "assignee": f.assignee,
            "priority": f.priority,
        }))
}

/// `order.overdue` of `o`, by the system at `at`.
pub fn order_overdue_event(o: &OverdueOrder, at: DateTime<Utc>) -> NewEvent {
    NewEvent::system(o.tenant_id, "order.overdue", EntityType::Order, o.id, at)
        .customer(o.customer_id)
        .data(json!({
            "order_id": o.id,
            "order_ref": o.order_ref,
            "status": "completed",
            "payment_status": "overdue",
            "total_amount": o.total_amount.to_string(),
            "currency": o.currency.as_str(),
            "placed_at": o.placed_at,
            "due_at": o.due_at,
        }))
}
