//! The events of order writes (issue 13), appended in the order's transaction. Points and tier
//! changes an order causes have their own events ([`crate::loyalty::events`]).
//!
//! | type | when | `data` |
//! | --- | --- | --- |
//! | `order.placed` | an order is stored (single or bulk) | [`order_data`] |
//! | `order.completed` | `pending → completed` | [`order_data`]; changes `status` (and `points_earned`, `payment_status` when they moved) |
//! | `order.cancelled` | `pending → cancelled` | as above |
//! | `order.refunded` | `completed → refunded` | as above |
//! | `order.updated` | any other change (payment status) | as above |
//! | `customer.created` | a customer created by [`super::OrderService::place_many`] (an orders import) | `customer_id`, `name`, `email`, `phone`, `status`, `stage`, `source: "orders"` |
//!
//! Every order event has entity `order`, the order's id and its customer.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::model::{Order, OrderStatus};
use crate::access::Actor;
use crate::customer::NewCustomer;
use crate::event::{EntityType, NewEvent, field_changes};

/// An order's key fields as its events show them: `order_id`, `order_ref`, `status`,
/// `payment_status`, `total_amount` (exact decimal string) with `currency`, `line_count`,
/// `placed_at`, `channel`, `points_earned`.
pub fn order_data(o: &Order) -> Value {
    json!({
        "order_id": o.id.0,
        "order_ref": o.order_ref,
        "status": o.status.as_str(),
        "payment_status": o.payment_status.as_str(),
        "total_amount": o.total_amount.to_string(),
        "currency": o.currency.as_str(),
        "line_count": o.lines.len(),
        "placed_at": o.placed_at,
        "channel": o.channel,
        "points_earned": o.points_earned,
    })
}

/// `order.placed` of a new order, by `actor` at `at`.
pub fn order_placed_event(actor: &Actor, order: &Order, at: DateTime<Utc>) -> NewEvent {
    NewEvent::new(actor, "order.placed", EntityType::Order, order.id.0, at)
        .customer(order.customer_id)
        .data(order_data(order))
}

/// The type of a change from `old` to `new`: `order.completed`, `order.cancelled`,
/// `order.refunded` when the status moved there, else `order.updated`.
pub fn order_change_type(old: &Order, new: &Order) -> &'static str {
    match (old.status == new.status, new.status) {
        (false, OrderStatus::Completed) => "order.completed",
        (false, OrderStatus::Cancelled) => "order.cancelled",
        (false, OrderStatus::Refunded) => "order.refunded",
        _ => "order.updated",
    }
}

/// The event of a change of an order from `old` to `new` by `actor` at `at`: its type
/// ([`order_change_type`]), the new key fields and the changed fields `[old, new]`.
pub fn order_changed_event(actor: &Actor, old: &Order, new: &Order, at: DateTime<Utc>) -> NewEvent {
    NewEvent::new(
        actor,
        order_change_type(old, new),
        EntityType::Order,
        new.id.0,
        at,
    )
    .customer(new.customer_id)
    .data(order_data(new))
    .changes(field_changes(&order_data(old), &order_data(new), &[]))
}

/// `customer.created` of a customer an orders batch creates.
pub fn customer_created_event(actor: &Actor, c: &NewCustomer, at: DateTime<Utc>) -> NewEvent {
    NewEvent::new(actor, "customer.created", EntityType::Customer, c.id.0, at)
        .customer(c.id)
        .data(json!({
            "customer_id": c.id.0,
            "name": c.profile.name,
            "email": c.profile.email.as_ref().map(|e| e.as_str()),
            "phone": c.profile.phone.as_ref().map(|p| p.as_str()),
            "status": c.profile.status.as_str(),
            "stage": c.profile.stage.as_str(),
            "source": "orders",
        }))
}
