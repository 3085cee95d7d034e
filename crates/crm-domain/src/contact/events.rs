//! The contact context's events (issue 13): `contact.added`, `contact.updated` (primary moves
//! included, as `is_primary` changes) and `contact.removed`.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::model::Contact;
use crate::access::Actor;
use crate::event::{EntityType, NewEvent, field_changes};

/// A contact as the API shows it (`id`, `name`, `email`, ..., `is_primary`): the `data` of its events and the document whose differences are
/// `contact.updated` changes.
pub fn contact_json(c: &Contact) -> Value {
    let d = &c.details;
    json!({
        "id": c.id.0,
        "customer_id": c.customer_id.0,
        "name": d.name,
        "job_title": d.job_title,
        "department": d.department,
        "email": d.email.as_ref().map(|e| e.as_str()),
        "phone": d.phone.as_ref().map(|p| p.as_str()),
        "mobile_phone": d.mobile_phone.as_ref().map(|p| p.as_str()),
        "roles": d.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
        "preferred_channel": d.preferred_channel.map(|p| p.as_str()),
        "language": d.language,
        "notes": d.notes,
        "portal_access": d.portal_access,
        "is_primary": c.is_primary,
    })
}

/// `contact.added` of a new contact (`data`: [`contact_json`]).
pub fn added_event(actor: &Actor, c: &Contact, at: DateTime<Utc>) -> NewEvent {
    NewEvent::new(actor, "contact.added", EntityType::Contact, c.id.0, at)
        .customer(c.customer_id)
        .data(contact_json(c))
}

/// `contact.updated` of `before` becoming `after` (`data`: the contact after; `changes`: the
/// fields that changed). `None` when nothing visible changed.
pub fn updated_event(
    actor: &Actor,
    before: &Contact,
    after: &Contact,
    at: DateTime<Utc>,
) -> Option<NewEvent> {
    let changes = field_changes(&contact_json(before), &contact_json(after), &[]);
    (!changes.is_empty()).then(|| {
        NewEvent::new(
            actor,
            "contact.updated",
            EntityType::Contact,
            after.id.0,
            at,
        )
        .customer(after.customer_id)
        .data(contact_json(after))
        .changes(changes)
    })
}

/// `contact.removed` of a deleted contact (`data`: the contact as it was).
pub fn removed_event(actor: &Actor, c: &Contact, at: DateTime<Utc>) -> NewEvent {
    NewEvent::new(actor, "contact.removed", EntityType::Contact, c.id.0, at)
        .customer(c.customer_id)
        .data(contact_json(c))
}
