//! Reads of the event log: a customer's timeline, the field history of the customer record,
//! the tenant-wide audit search, and the one-line summary of each event.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::model::{EntityType, Event, EventActor, EventFilter, EventId, MAX_EVENT_PAGE};
use super::ports::EventRepository;
use crate::access::{Actor, Permission};
use crate::customer::CustomerRepository;
use crate::error::{DomainError, FieldError};
use crate::ids::CustomerId;
use crate::tenant::TenantRepository;

/// Events of one page when the caller names no limit.
pub const DEFAULT_EVENT_PAGE: u64 = 20;
/// The most type patterns one read takes (`types` of the timeline, `type` of the audit).
pub const MAX_TYPE_PATTERNS: usize = 20;
/// The longest type pattern, in bytes.
pub const MAX_TYPE_PATTERN_BYTES: usize = 100;
/// The longest `actor` filter, in bytes.
pub const MAX_ACTOR_BYTES: usize = 255;

/// A page of events, newest first; the next page starts below `next`.
pub type EventPage = crate::page::Page<Event, EventId>;

/// What the audit search selects (all given fields must match).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditFilter {
    /// Events about this kind of record.
    pub entity_type: Option<EntityType>,
    /// Events about this record.
    pub entity_id: Option<Uuid>,
    /// Events caused by this `sub`.
    pub actor: Option<String>,
    /// Type patterns: exact (`note.added`) or prefix (`customer.*`), at most 20.
    pub types: Vec<String>,
    /// At or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Before this instant.
    pub to: Option<DateTime<Utc>>,
}

/// Reads of the event log. Every method checks the caller's permission, and scopes every read
/// to the caller's tenant; a customer's events also to the customers the caller reaches.
pub struct EventService {
    events: Arc<dyn EventRepository>,
    customers: Arc<dyn CustomerRepository>,
    tenants: Arc<dyn TenantRepository>,
}

impl EventService {
    /// Wires the service.
    pub fn new(
        events: Arc<dyn EventRepository>,
        customers: Arc<dyn CustomerRepository>,
        tenants: Arc<dyn TenantRepository>,
    ) -> Self {
        Self {
            events,
            customers,
            tenants,
        }
    }

    /// A page of a live customer's events, newest first (needs `customers.view`), of the
    /// types `types` matches (every type when empty), below the cursor `before`.
    ///
    /// # Errors
    /// [`DomainError::Forbidden`]; [`DomainError::NotFound`] for a customer that is unknown,
    /// deleted, another tenant's or outside the caller's visibility; [`DomainError::Validation`]
    /// naming `limit` (1..=200) or `types` (a malformed pattern, more than 20).
    #[tracing::instrument(name = "EventService::timeline", skip_all, fields(tenant_id = %actor.tenant_id, customer_id = %customer))]
    pub async fn timeline(
        &self,
        actor: &Actor,
        customer: CustomerId,
        types: Vec<String>,
        before: Option<EventId>,
        limit: u64,
    ) -> Result<EventPage, DomainError> {
        actor.require(Permission::CustomersView)?;
        check_limit(limit)?;
        check_types("types", &types)?;
        self.visible(actor, customer).await?;
        let filter = EventFilter {
            customer_id: Some(customer),
            types,
            before,
            ..EventFilter::default()
        };
        self.page(actor, filter, limit).await
    }

    /// A page of the field-level changes of a live customer's own record (events about the
    /// customer entity that carry changes: `customer.updated`, `customer.status_changed`),
    /// newest first (needs `customers.view`).
    ///
    /// # Errors
    /// As [`EventService::timeline`] (`limit`).
    #[tracing::instrument(name = "EventService::history", skip_all, fields(tenant_id = %actor.tenant_id, customer_id = %customer))]
    pub async fn history(
        &self,
        actor: &Actor,
        customer: CustomerId,
        before: Option<EventId>,
        limit: u64,
    ) -> Result<EventPage, DomainError> {
        actor.require(Permission::CustomersView)?;
        check_limit(limit)?;
        self.visible(actor, customer).await?;
        let filter = EventFilter {
            customer_id: Some(customer),
            entity_type: Some(EntityType::Customer),
            entity_id: Some(customer.0),
            with_changes: true,
            before,
            ..EventFilter::default()
        };
        self.page(actor, filter, limit).await
    }

    /// A page of the tenant's events matching `filter`, newest first (needs
    /// `customers.manage`).
    ///
    /// # Errors
    /// [`DomainError::Forbidden`]; [`DomainError::Validation`] naming `limit`, `type`, `actor`
    /// (at most 255 bytes) or `to` (before `from`).
    #[tracing::instrument(name = "EventService::audit", skip_all, fields(tenant_id = %actor.tenant_id))]
    pub async fn audit(
        &self,
        actor: &Actor,
        filter: AuditFilter,
        before: Option<EventId>,
        limit: u64,
    ) -> Result<EventPage, DomainError> {
        actor.require(Permission::CustomersManage)?;
        check_limit(limit)?;
        check_types("type", &filter.types)?;
        if filter.actor.as_ref().is_some_and(|a| {
            a.is_empty()
                || a.len() > MAX_ACTOR_BYTES
                || crate::values::check_text("actor", a, crate::values::TextKind::SingleLine)
                    .is_err()
        }) {
            return Err(DomainError::invalid(
                "actor",
                "invalid",
                format!("1..={MAX_ACTOR_BYTES} bytes without control characters"),
            ));
        }
        if let (Some(from), Some(to)) = (filter.from, filter.to)
            && to < from
        {
            return Err(DomainError::invalid(
                "to",
                "invalid",
                "`to` is before `from`",
            ));
        }
        let filter = EventFilter {
            entity_type: filter.entity_type,
            entity_id: filter.entity_id,
            actor: filter.actor,
            types: filter.types,
            from: filter.from,
            to: filter.to,
            before,
            ..EventFilter::default()
        };
        self.page(actor, filter, limit).await
    }

    async fn visible(&self, actor: &Actor, customer: CustomerId) -> Result<(), DomainError> {
        let visibility = crate::tenant::visibility(self.tenants.as_ref(), actor).await?;
        crate::customer::load_visible(
            self.customers.as_ref(),
            actor.tenant_id,
            &visibility,
            customer,
        )
        .await?;
        Ok(())
    }

    async fn page(
        &self,
        actor: &Actor,
        filter: EventFilter,
        limit: u64,
    ) -> Result<EventPage, DomainError> {
        let limit = limit.min(MAX_EVENT_PAGE);
        // One more than asked, to know whether a next page exists; the repository's own cap
        // is the largest page, so a full page of 200 probes with a second read instead.
        let probe = (limit + 1).min(MAX_EVENT_PAGE);
        let mut rows = self
            .events
            .list(actor.tenant_id, filter.clone(), probe)
            .await?;
        let more = if rows.len() as u64 > limit {
            true
        } else if rows.len() as u64 == limit && probe == limit {
            let last = rows.last().map(|e| e.id);
            let next = EventFilter {
                before: last,
                ..filter
            };
            !self.events.list(actor.tenant_id, next, 1).await?.is_empty()
        } else {
            false
        };
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next = if more {
            rows.last().map(|e| e.id)
        } else {
            None
        };
        Ok(EventPage {
            items: rows,
            next,
            total: None,
        })
    }
}

fn check_limit(limit: u64) -> Result<(), DomainError> {
    if (1..=MAX_EVENT_PAGE).contains(&limit) {
        Ok(())
    } else {
        Err(DomainError::Validation(vec![
            FieldError::new(
                "limit",
                "out_of_range",
                format!("must be between 1 and {MAX_EVENT_PAGE}"),
            )
            .with_limit(MAX_EVENT_PAGE as usize),
        ]))
    }
}

/// Whether `pattern` is an event type (`customer.updated`, `customer`) or a prefix pattern
/// (`customer.*`): lower-case ASCII letters and `_`, at most [`MAX_TYPE_PATTERN_BYTES`].
pub fn valid_type_pattern(pattern: &str) -> bool {
    let word = |w: &str| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    if pattern.len() > MAX_TYPE_PATTERN_BYTES {
        return false;
    }
    match pattern.split_once('.') {
        None => word(pattern),
        Some((head, "*")) => word(head),
        Some((head, tail)) => word(head) && word(tail),
    }
}

fn check_types(field: &str, types: &[String]) -> Result<(), DomainError> {
    if types.len() > MAX_TYPE_PATTERNS {
        return Err(DomainError::Validation(vec![
            FieldError::new(
                field,
                "too_many",
                format!("at most {MAX_TYPE_PATTERNS} type patterns"),
            )
            .with_limit(MAX_TYPE_PATTERNS),
        ]));
    }
    if let Some(bad) = types.iter().find(|t| !valid_type_pattern(t)) {
        let shown: String = bad.chars().take(40).collect();
        return Err(DomainError::invalid(
            field,
            "invalid",
            format!(
                "`{}` is not an event type (`note.added`) or a prefix pattern (`customer.*`)",
                shown.escape_debug()
            ),
        ));
    }
    Ok(())
}

/// Who caused an event, as a summary names them: `sub (role)`, or `sub`.
fn who(a: &EventActor) -> String {
    match &a.role {
        Some(role) => format!("{} ({role})", a.sub),
        None => a.sub.clone(),
    }
}

/// A string member of the event's data, at most 80 characters.
fn text(data: &Value, key: &str) -> Option<String> {
    let s = match data.get(key)? {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let short: String = s.chars().take(80).collect();
    Some(if short.len() < s.len() {
        format!("{short}…")
    } else {
        short
    })
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// `250000` as `250,000`; decimals kept (`1234.5` → `1,234.5`).
fn grouped(amount: &str) -> String {
    let (sign, digits) = amount.strip_prefix('-').map_or(("", amount), |d| ("-", d));
    let (int, frac) = digits
        .split_once('.')
        .map_or((digits, None), |(i, f)| (i, Some(f)));
    if !int.bytes().all(|b| b.is_ascii_digit()) {
        return amount.to_owned();
    }
    let mut out = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    let frac = frac
        .map(|f| f.trim_end_matches('0'))
        .filter(|f| !f.is_empty());
    match frac {
        Some(f) => format!("{sign}{out}.{f}"),
        None => format!("{sign}{out}"),
    }
}

/// Upper-cases the first letter.
fn capital(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// A human-readable one-line summary of an event, for every type of the catalogue
/// (`Ana (sales) changed email and phone`, `Order ORD-1001 placed: IDR 250,000`,
/// `Call logged: Renewal (successful)`), and `<entity> <verb>` (`Widget frobbed`) for a type
/// it does not know. Built from the event's type, actor, data and changes only.
pub fn summary(event: &Event) -> String {
    let e = &event.event;
    let d = &e.data;
    let by = who(&e.actor);
    let field_list = || {
        let names: Vec<String> = e.changes.keys().map(|k| k.replace('_', " ")).collect();
        and_list(&names)
    };
    let name = || text(d, "name").unwrap_or_default();
    let (entity, verb) = e
        .event_type
        .split_once('.')
        .unwrap_or((e.event_type.as_str(), ""));
    match e.event_type.as_str() {
        "customer.created" => format!("{by} created customer {}", name()),
        "customer.updated" if e.changes.is_empty() => format!("{by} updated the customer"),
        "customer.updated" => format!("{by} changed {}", field_list()),
        "customer.status_changed" => {
            let base = format!(
                "{by} changed status from {} to {}",
                text(d, "from").unwrap_or_default(),
                text(d, "to").unwrap_or_default()
            );
            match text(d, "reason") {
                Some(r) => format!("{base}: {r}"),
                None => base,
            }
        }
        "customer.deleted" => format!("{by} deleted customer {}", name()),
        "customer.restored" => format!("{by} restored customer {}", name()),
        "customer.erased" => format!("{by} erased the customer's personal data"),
        "address.added" | "address.updated" | "address.removed" => {
            let place = [text(d, "line1"), text(d, "city")]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ");
            let kind = text(d, "type").unwrap_or_default();
            match verb {
                "added" => format!("{by} added {kind} address {place}"),
                "removed" => format!("{by} removed {kind} address {place}"),
                _ => format!("{by} changed {} of {kind} address {place}", field_list()),
            }
        }
        "contact.added" => format!("{by} added contact {}", name()),
        "contact.updated" => format!("{by} changed {} of contact {}", field_list(), name()),
        "contact.removed" => format!("{by} removed contact {}", name()),
        "interaction.logged" | "interaction.updated" | "interaction.deleted" => {
            let kind = capital(&text(d, "type").unwrap_or_else(|| "interaction".into()));
            let what = match verb {
                "logged" => "logged",
                "updated" => "updated",
                _ => "deleted",
            };
            let mut s = format!("{kind} {what}");
            if let Some(subject) = text(d, "subject") {
                s = format!("{s}: {subject}");
            }
            if let Some(outcome) = text(d, "outcome") {
                s = format!("{s} ({})", outcome.replace('_', " "));
            }
            s
        }
        t if t.starts_with("follow_up.") => {
            let title = text(d, "title").unwrap_or_default();
            match verb {
                "created" => match text(d, "due_at") {
                    Some(due) => format!("Follow-up scheduled: {title} (due {due})"),
                    None => format!("Follow-up scheduled: {title}"),
                },
                other => format!("Follow-up {}: {title}", other.replace('_', " ")),
            }
        }
        t if t.starts_with("note.") => {
            let kind = text(d, "category")
                .filter(|c| c == "complaint")
                .map_or("Note", |_| "Complaint");
            format!("{kind} {verb} by {by}")
        }
        "document.attached" | "document.deleted" => format!(
            "Document {verb}: {}{}",
            text(d, "title").unwrap_or_default(),
            text(d, "category")
                .map(|c| format!(" ({})", c.replace('_', " ")))
                .unwrap_or_default()
        ),
        t if t.starts_with("order.") => {
            let reference = text(d, "order_ref")
                .or_else(|| text(d, "order_number"))
                .unwrap_or_default();
            let amount = text(d, "total_amount").or_else(|| text(d, "total"));
            match (amount, text(d, "currency")) {
                (Some(a), Some(c)) => {
                    format!(
                        "Order {reference} {}: {c} {}",
                        verb.replace('_', " "),
                        grouped(&a)
                    )
                }
                _ => format!("Order {reference} {}", verb.replace('_', " ")),
            }
        }
        t if t.starts_with("points.") => {
            let points = text(d, "points").unwrap_or_default();
            match text(d, "reason") {
                Some(r) => format!("{points} points {verb}: {r}"),
                None => format!("{points} points {verb}"),
            }
        }
        "tier.changed" => {
            let tier = |k: &str| {
                text(d, &format!("{k}_name"))
                    .or_else(|| text(d, k))
                    .unwrap_or_else(|| "none".into())
            };
            format!("Tier changed from {} to {}", tier("from"), tier("to"))
        }
        "tier.created" | "tier.updated" | "tier.deleted" => {
            format!("{by} {verb} tier {}", name())
        }
        "segment.member_added" => format!("Added to segment {}", name()),
        "segment.member_removed" => format!("Removed from segment {}", name()),
        t if t.starts_with("segment.") => format!("{by} {verb} segment {}", name()),
        "import.started" => format!(
            "{by} started an import of {}",
            text(d, "file_name").unwrap_or_else(|| "a file".into())
        ),
        "import.completed" => {
            let n = |k: &str| {
                d.get("counts")
                    .and_then(|c| c.get(k))
                    .and_then(Value::as_u64)
                    .unwrap_or(0)
            };
            format!(
                "Import completed: {} created, {} updated, {} skipped, {} failed",
                n("created"),
                n("updated"),
                n("skipped"),
                n("failed")
            )
        }
        "import.failed" => format!(
            "Import failed: {}",
            text(d, "error").unwrap_or_else(|| "unknown error".into())
        ),
        "tenant.settings_updated" if !e.changes.is_empty() => {
            format!("{by} changed settings: {}", field_list())
        }
        "tenant.settings_updated" => format!("{by} changed settings"),
        "consent.changed" => format!(
            "Consent {} {}",
            text(d, "purpose").unwrap_or_default().replace('_', " "),
            text(d, "status").unwrap_or_default()
        ),
        _ if verb.is_empty() => capital(&entity.replace('_', " ")),
        _ => format!(
            "{} {}",
            capital(&entity.replace('_', " ")),
            verb.replace('_', " ")
        ),
    }
}
