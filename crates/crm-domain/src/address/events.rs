//! The address context's events (issue 13): `address.added`, `address.updated` (default moves
//! included, as `is_default` changes) and `address.removed`.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::model::Address;
use crate::access::Actor;
use crate::event::{EntityType, NewEvent, field_changes};

/// An address as the API shows it (`id`, `type`, `label`, ..., `is_default`): the
/// `data` of its events and the document whose differences are `address.updated` changes.
pub fn address_json(a: &Address) -> Value {
    let f = &a.fields;
    json!({
        "id": a.id.0,
        "customer_id": a.customer_id.0,
        "type": f.address_type.as_str(),
        "label": f.label,
        "recipient_name": f.recipient_name,
        "phone": f.phone.as_ref().map(|p| p.as_str()),
        "line1": f.line1,
        "line2": f.line2,
        "district": f.district,
        "city": f.city,
        "region": f.region,
        "postal_code": f.postal_code,
        "country": f.country.as_str(),
        "latitude": f.position.map(|p| p.latitude),
        "longitude": f.position.map(|p| p.longitude),
        "delivery_notes": f.delivery_notes,
        "is_default": a.is_default,
    })
}

/// `address.added` of a new address (`data`: [`address_json`]).
pub fn added_event(actor: &Actor, a: &Address, at: DateTime<Utc>) -> NewEvent {
    NewEvent::new(actor, "address.added", EntityType::Address, a.id.0, at)
        .customer(a.customer_id)
        .data(address_json(a))
}

/// `address.updated` of `before` becoming `after` (`data`: the address after; `changes`: the
/// fields that changed, `is_default` included). `None` when nothing visible changed.
pub fn updated_event(
    actor: &Actor,
    before: &Address,
    after: &Address,
    at: DateTime<Utc>,
) -> Option<NewEvent> {
    let changes = field_changes(&address_json(before), &address_json(after), &[]);
    (!changes.is_empty()).then(|| {
        NewEvent::new(
            actor,
            "address.updated",
            EntityType::Address,
            after.id.0,
            at,
        )
        .customer(after.customer_id)
        .data(address_json(after))
        .changes(changes)
    })
}

/// `address.removed` of a deleted address (`data`: the address as it was).
pub fn removed_event(actor: &Actor, a: &Address, at: DateTime<Utc>) -> NewEvent {
    NewEvent::new(actor, "address.removed", EntityType::Address, a.id.0, at)
        .customer(a.customer_id)
        .data(address_json(a))
}
