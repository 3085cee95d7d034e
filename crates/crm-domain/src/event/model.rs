//! Events: what changed, on which record, by whom, when.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::access::Actor;
use crate::ids::{CustomerId, TenantId};

/// The largest page of events one read returns.
pub const MAX_EVENT_PAGE: u64 = 200;

/// An event's id: increasing in commit-independent insertion order within the whole log (so
/// also within a tenant); ids are not gap-free (a rolled-back transaction burns its ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct EventId(pub i64);

string_enum! {
    /// The kind of record an event is about (`entity_type` on the wire and in storage).
    EntityType {
        /// A customer profile.
        Customer => "customer",
        /// An address of a customer.
        Address => "address",
        /// A contact person of a customer.
        Contact => "contact",
        /// A logged interaction (call, e-mail, meeting, ...).
        Interaction => "interaction",
        /// A follow-up task.
        FollowUp => "follow_up",
        /// A note (or complaint) on a customer.
        Note => "note",
        /// A stored document.
        Document => "document",
        /// An order.
        Order => "order",
        /// A loyalty ledger entry (points earned, redeemed, adjusted, expired).
        LoyaltyEntry => "loyalty_entry",
        /// A loyalty tier definition.
        Tier => "tier",
        /// A segment (its definition or its members).
        Segment => "segment",
        /// An import job.
        Import => "import",
        /// The tenant's settings.
        Tenant => "tenant",
        /// A webhook subscription.
        Webhook => "webhook",
    }
}

impl Serialize for EntityType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Field-level changes of an update: field name to `[old, new]` (JSON values as the API shows
/// them). Empty for a write that changed nothing visible.
pub type FieldChanges = BTreeMap<String, [Value; 2]>;

/// Who caused an event: the token's `sub`, the caller's strongest role (if any), and the
/// request's id (the `x-request-id` the server logged), or `system` for the server's own jobs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventActor {
    /// The user id (`sub`), or `system`.
    pub sub: String,
    /// `admin`, `manager`, `sales`, `viewer`, or none.
    pub role: Option<String>,
    /// The request that caused the event, when it came from a request.
    pub request_id: Option<String>,
}

impl EventActor {
    /// The caller of a use case.
    pub fn of(actor: &Actor) -> Self {
        Self {
            sub: actor.user_id.as_str().to_owned(),
            role: actor.strongest_role().map(|r| r.as_str().to_owned()),
            request_id: actor.request_id.clone(),
        }
    }

    /// The server itself (scheduled jobs, expiry, recomputes).
    pub fn system() -> Self {
        Self {
            sub: "system".to_owned(),
            role: None,
            request_id: None,
        }
    }
}

/// An event about to be appended, in the same transaction as the change it records.
///
/// `event_type` is `<entity>.<verb>` (`customer.created`, `customer.updated`,
/// `customer.status_changed`, `address.added`, `order.placed`, `tier.changed`,
/// `note.added`, ...); `data` is the event's typed payload (usually the record as the API
/// shows it after the change); `changes` the field-level `[old, new]` pairs of an update.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewEvent {
    /// The tenant whose log it joins.
    pub tenant_id: TenantId,
    /// `<entity>.<verb>`, e.g. `customer.updated`.
    pub event_type: String,
    /// The customer the event belongs to (its timeline), when there is one.
    pub customer_id: Option<CustomerId>,
    /// The kind of record changed.
    pub entity_type: EntityType,
    /// The id of the record changed.
    pub entity_id: Uuid,
    /// Who caused it.
    pub actor: EventActor,
    /// When the change happened (the service's clock).
    pub occurred_at: DateTime<Utc>,
    /// The typed payload (a JSON object), documented per type.
    pub data: Value,
    /// Field-level changes (updates), else empty.
    pub changes: FieldChanges,
}

impl NewEvent {
    /// An event of `event_type` on `entity_type`/`entity_id` caused by `actor` at `at`, with
    /// an empty payload and no changes.
    pub fn new(
        actor: &Actor,
        event_type: impl Into<String>,
        entity_type: EntityType,
        entity_id: Uuid,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            tenant_id: actor.tenant_id,
            event_type: event_type.into(),
            customer_id: None,
            entity_type,
            entity_id,
            actor: EventActor::of(actor),
            occurred_at: at,
            data: Value::Object(Default::default()),
            changes: FieldChanges::new(),
        }
    }

    /// The same event by the server itself in `tenant` (`actor` = `system`).
    pub fn system(
        tenant: TenantId,
        event_type: impl Into<String>,
        entity_type: EntityType,
        entity_id: Uuid,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            tenant_id: tenant,
            event_type: event_type.into(),
            customer_id: None,
            entity_type,
            entity_id,
            actor: EventActor::system(),
            occurred_at: at,
            data: Value::Object(Default::default()),
            changes: FieldChanges::new(),
        }
    }

    /// Puts the event on `customer`'s timeline.
    pub fn customer(mut self, customer: CustomerId) -> Self {
        self.customer_id = Some(customer);
        self
    }

    /// Sets the payload; a value that does not serialise becomes `null` (never for the
    /// domain's own types).
    pub fn data(mut self, data: impl Serialize) -> Self {
        self.data = serde_json::to_value(data).unwrap_or(Value::Null);
        self
    }

    /// Sets the field-level changes.
    pub fn changes(mut self, changes: FieldChanges) -> Self {
        self.changes = changes;
        self
    }
}

/// A stored event, as the timeline, the history and the audit search return it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// The log's id.
    pub id: EventId,
    /// Everything appended.
    #[serde(flatten)]
    pub event: NewEvent,
}

/// What an event read selects (every field optional; all given ones must match). Pages run
/// newest first: `before` is the last id of the previous page.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFilter {
    /// Only this customer's events.
    pub customer_id: Option<CustomerId>,
    /// Only events about this kind of record ...
    pub entity_type: Option<EntityType>,
    /// ... and this record.
    pub entity_id: Option<Uuid>,
    /// Only events whose type matches one of these: exact (`note.added`) or a prefix pattern
    /// (`customer.*`). Empty: every type. At most 20.
    pub types: Vec<String>,
    /// Only events caused by this `sub`.
    pub actor: Option<String>,
    /// Only events at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Only events before this instant.
    pub to: Option<DateTime<Utc>>,
    /// Only events with field-level changes (the field history).
    pub with_changes: bool,
    /// Only events with an id below this one (the cursor).
    pub before: Option<EventId>,
}

/// The field-level changes between two serialisable states of a record: every top-level field
/// of `old`'s JSON object whose value differs in `new`'s (fields present on one side only
/// count, the missing side as `null`), except those named in `ignore` (typically `version`,
/// `updated_at`, `updated_by`). Values that are not JSON objects compare as a whole under `""`.
pub fn field_changes<T: Serialize>(old: &T, new: &T, ignore: &[&str]) -> FieldChanges {
    let (old, new) = match (serde_json::to_value(old), serde_json::to_value(new)) {
        (Ok(o), Ok(n)) => (o, n),
        _ => return FieldChanges::new(),
    };
    let mut out = FieldChanges::new();
    match (old, new) {
        (Value::Object(o), Value::Object(mut n)) => {
            for (k, ov) in o {
                let nv = n.remove(&k).unwrap_or(Value::Null);
                if ov != nv && !ignore.contains(&k.as_str()) {
                    out.insert(k, [ov, nv]);
                }
            }
            for (k, nv) in n {
                if !nv.is_null() && !ignore.contains(&k.as_str()) {
                    out.insert(k, [Value::Null, nv]);
                }
            }
        }
        (o, n) if o != n => {
            out.insert(String::new(), [o, n]);
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changes_name_each_changed_field_with_old_and_new() {
        let old = json!({"name": "Ana", "city": "Bandung", "version": 1, "tags": ["a"]});
        let new = json!({"name": "Ana", "city": "Jakarta", "version": 2, "phone": "+62811"});
        let c = field_changes(&old, &new, &["version"]);
        assert_eq!(c.len(), 3, "{c:?}");
        assert_eq!(c["city"], [json!("Bandung"), json!("Jakarta")]);
        assert_eq!(c["tags"], [json!(["a"]), Value::Null]);
        assert_eq!(c["phone"], [Value::Null, json!("+62811")]);
    }

    #[test]
    fn no_change_is_an_empty_map() {
        let v = json!({"name": "Ana"});
        assert!(field_changes(&v, &v, &[]).is_empty());
        assert_eq!(field_changes(&1, &2, &[])[""], [json!(1), json!(2)]);
    }
}
