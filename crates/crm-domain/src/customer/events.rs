//! The customer context's events (issue 13): what a create, an update, a status change, a
//! delete or a restore appends to the event log, built from the records as the API shows them.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::model::{Customer, CustomerProfile, CustomerStatus, NewCustomer};
use crate::access::Actor;
use crate::error::{DomainError, FieldError};
use crate::event::{EntityType, FieldChanges, NewEvent, field_changes};

/// Fields left out of a `customer.updated` event's `changes`: bookkeeping, and the dates other
/// writes maintain (interactions keep `last_contact_at`, follow-ups `next_follow_up_at`).
pub const UNTRACKED_FIELDS: &[&str] = &[
    "version",
    "updated_at",
    "updated_by",
    "last_contact_at",
    "next_follow_up_at",
];

/// The longest `status_reason`, in characters.
pub const MAX_STATUS_REASON_CHARS: usize = 500;

/// Whether a change to `status` needs a `status_reason`: `inactive`, `blocked`, `archived`.
pub fn status_needs_reason(status: CustomerStatus) -> bool {
    matches!(
        status,
        CustomerStatus::Inactive | CustomerStatus::Blocked | CustomerStatus::Archived
    )
}

/// The reason of a status change from `from` to `to`, trimmed (empty counts as absent).
///
/// # Errors
/// [`DomainError::Validation`] naming `field` (`status_reason`): `required` when `to` differs
/// from `from` and [`status_needs_reason`] without a reason; `too_long` beyond
/// [`MAX_STATUS_REASON_CHARS`]; `invalid` with control characters other than line breaks.
pub fn checked_status_reason(
    field: &str,
    from: Option<CustomerStatus>,
    to: CustomerStatus,
    reason: Option<&str>,
) -> Result<Option<String>, DomainError> {
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    if let Some(r) = reason {
        if r.chars().count() > MAX_STATUS_REASON_CHARS {
            return Err(DomainError::invalid(
                field,
                "too_long",
                format!("at most {MAX_STATUS_REASON_CHARS} characters"),
            ));
        }
        crate::values::check_text(field, r, crate::values::TextKind::MultiLine)
            .map_err(|e| DomainError::Validation(vec![e]))?;
    }
    if from.is_some_and(|f| f != to) && status_needs_reason(to) && reason.is_none() {
        return Err(DomainError::Validation(vec![FieldError::new(
            field,
            "required",
            format!("a change of status to `{to}` needs a `{field}`"),
        )]));
    }
    Ok(reason.map(str::to_owned))
}

/// A customer's editable fields as the API shows them (decimal strings for amounts, E.164
/// phones, ids as strings), the document whose differences are a `customer.updated` event's
/// `changes`.
pub fn profile_json(p: &CustomerProfile) -> Value {
    let s = |v: &Option<String>| v.clone();
    json!({
        "name": p.name,
        "display_name": s(&p.display_name),
        "email": p.email.as_ref().map(|e| e.as_str()),
        "phone": p.phone.as_ref().map(|e| e.as_str()),
        "mobile_phone": p.mobile_phone.as_ref().map(|e| e.as_str()),
        "customer_type": p.customer_type.as_str(),
        "company": s(&p.company),
        "company_legal_name": s(&p.company_legal_name),
        "tax_id": s(&p.tax_id),
        "business_license": s(&p.business_license),
        "job_title": s(&p.job_title),
        "website": p.website.as_ref().map(|w| w.as_str()),
        "industry": s(&p.industry),
        "company_size": s(&p.company_size),
        "annual_revenue": p.annual_revenue.map(|a| a.value().to_string()),
        "status": p.status.as_str(),
        "stage": p.stage.as_str(),
        "source": p.source.map(|s| s.as_str()),
        "assigned_to": p.assigned_to.as_ref().map(|u| u.as_str()),
        "currency": p.currency.as_str(),
        "country": p.country.map(|c| c.as_str().to_owned()),
        "language": p.language.as_ref().map(|l| l.as_str()),
        "timezone": p.timezone.as_ref().map(|t| t.as_str()),
        "birth_date": p.birth_date,
        "gender": p.gender.map(|g| g.as_str()),
        "credit_limit": p.credit_limit.value().to_string(),
        "payment_terms_days": p.payment_terms_days,
        "tags": p.tags,
        "metadata": p.metadata,
        "notes": s(&p.notes),
        "internal_notes": s(&p.internal_notes),
        "is_vip": p.is_vip,
        "is_blacklisted": p.is_blacklisted,
        "blacklist_reason": s(&p.blacklist_reason),
        "referred_by": p.referred_by.map(|r| r.0),
        "acquisition_cost": p.acquisition_cost.map(|a| a.value().to_string()),
        "external_ref": s(&p.external_ref),
        "last_contact_at": p.last_contact_at,
        "next_follow_up_at": p.next_follow_up_at,
        "discount_percent": p.discount_percent.map(|d| d.to_string()),
    })
}

/// The field-level changes between two profiles ([`profile_json`]), without
/// [`UNTRACKED_FIELDS`].
pub fn profile_changes(old: &CustomerProfile, new: &CustomerProfile) -> FieldChanges {
    field_changes(&profile_json(old), &profile_json(new), UNTRACKED_FIELDS)
}

/// The key fields of a customer an event's `data` carries.
fn summary_data(id: crate::ids::CustomerId, p: &CustomerProfile) -> Value {
    json!({
        "id": id.0,
        "name": p.name,
        "customer_type": p.customer_type.as_str(),
        "status": p.status.as_str(),
        "email": p.email.as_ref().map(|e| e.as_str()),
        "phone": p.phone.as_ref().map(|e| e.as_str()),
    })
}

/// `customer.created` for a new customer (`data`: `id`, `name`, `customer_type`, `status`,
/// `email`, `phone`), then one `address.added` per nested address and one `contact.added` per
/// nested contact.
pub fn created_events(actor: &Actor, new: &NewCustomer, at: DateTime<Utc>) -> Vec<NewEvent> {
    let mut events = vec![
        NewEvent::new(
            actor,
            "customer.created",
            EntityType::Customer,
            new.id.0,
            at,
        )
        .customer(new.id)
        .data(summary_data(new.id, &new.profile)),
    ];
    events.extend(
        new.addresses
            .iter()
            .map(|a| crate::address::added_event(actor, a, at)),
    );
    events.extend(
        new.contacts
            .iter()
            .map(|c| crate::contact::added_event(actor, c, at)),
    );
    events
}

/// The events of a profile change of `before` to `after`: `customer.status_changed`
/// (`data`: `from`, `to`, `reason`; `changes`: `status`) when the status changed, and
/// `customer.updated` (`data`: the key fields after; `changes`: every other changed field) when
/// anything else did. Nothing when nothing visible changed.
pub fn update_events(
    actor: &Actor,
    before: &Customer,
    after: &CustomerProfile,
    reason: Option<&str>,
    at: DateTime<Utc>,
) -> Vec<NewEvent> {
    let mut changes = profile_changes(&before.profile, after);
    let mut events = Vec::new();
    if let Some(status) = changes.remove("status") {
        events.push(
            NewEvent::new(
                actor,
                "customer.status_changed",
                EntityType::Customer,
                before.id.0,
                at,
            )
            .customer(before.id)
            .data(json!({
                "from": before.profile.status.as_str(),
                "to": after.status.as_str(),
                "reason": reason,
            }))
            .changes(FieldChanges::from([("status".to_owned(), status)])),
        );
    }
    if !changes.is_empty() {
        events.insert(
            0,
            NewEvent::new(
                actor,
                "customer.updated",
                EntityType::Customer,
                before.id.0,
                at,
            )
            .customer(before.id)
            .data(summary_data(before.id, after))
            .changes(changes),
        );
    }
    events
}

/// `customer.deleted` (`deleted` true) or `customer.restored` of `c` (`data`: `id`, `name`,
/// `customer_code`).
pub fn deletion_event(actor: &Actor, c: &Customer, deleted: bool, at: DateTime<Utc>) -> NewEvent {
    let kind = if deleted {
        "customer.deleted"
    } else {
        "customer.restored"
    };
    NewEvent::new(actor, kind, EntityType::Customer, c.id.0, at)
        .customer(c.id)
        .data(json!({"id": c.id.0, "name": c.profile.name, "customer_code": c.customer_code}))
}
