//! The event feed (issue 14): the tenant's log read forwards, in commit-safe order, for the
//! live stream (SSE), its JSON polling twin and webhooks; the type patterns that select
//! events; and the per-event read rule every reader applies.

use std::fmt;

use async_trait::async_trait;

use super::model::{Event, EventId};
use crate::access::{Actor, Permission};
use crate::error::{FieldError, RepositoryError};
use crate::ids::{CustomerId, TenantId};

/// The most patterns one filter (a stream's `types`, a subscription's `event_types`) holds.
pub const MAX_FILTER_PATTERNS: usize = 50;
/// The longest pattern, in bytes (ASCII).
pub const MAX_PATTERN_BYTES: usize = 100;

/// One event type pattern: `*` (every type), a prefix `customer.*` (every type of an entity)
/// or an exact type `order.placed` / an entity alone `customer` (exact).
///
/// Words are lower-case ASCII letters and `_`; at most [`MAX_PATTERN_BYTES`] bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventTypePattern(String);

impl EventTypePattern {
    /// Parses a pattern.
    ///
    /// # Errors
    /// A [`FieldError`] on `field` naming the pattern (its first 40 characters): code
    /// `too_long` with the limit 100, or `invalid` for anything that is not `*`, `word`,
    /// `word.*` or `word.word`.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let shown: String = raw.chars().take(40).collect();
        if raw.len() > MAX_PATTERN_BYTES {
            return Err(FieldError::new(
                field,
                "too_long",
                format!(
                    "the pattern `{}…` is longer than {MAX_PATTERN_BYTES} bytes",
                    shown.escape_debug()
                ),
            )
            .with_limit(MAX_PATTERN_BYTES));
        }
        let word =
            |w: &str| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
        let ok = raw == "*"
            || match raw.split_once('.') {
                None => word(raw),
                Some((head, "*")) => word(head),
                Some((head, tail)) => word(head) && word(tail),
            };
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(FieldError::new(
                field,
                "invalid",
                format!(
                    "`{}` is not an event type pattern: `*`, `customer.*` or `order.placed`",
                    shown.escape_debug()
                ),
            ))
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `event_type` (`customer.updated`) matches: `*` matches every type, `customer.*`
    /// every type starting `customer.`, anything else only itself.
    pub fn matches(&self, event_type: &str) -> bool {
        match self.0.strip_suffix(".*") {
            _ if self.0 == "*" => true,
            Some(head) => event_type
                .strip_prefix(head)
                .is_some_and(|rest| rest.starts_with('.')),
            None => self.0 == event_type,
        }
    }
}

impl fmt::Display for EventTypePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A set of patterns: an event passes when any pattern matches; the empty set passes every
/// event. At most [`MAX_FILTER_PATTERNS`], duplicates dropped, kept in the order given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct EventTypeFilter(Vec<EventTypePattern>);

impl EventTypeFilter {
    /// Every event.
    pub fn all() -> Self {
        Self::default()
    }

    /// Parses patterns given as a list (a subscription's `event_types`); empty strings count
    /// as malformed.
    ///
    /// # Errors
    /// Every malformed pattern as a [`FieldError`] on `field[i]` ([`EventTypePattern::parse`]),
    /// or one `too_many` error on `field` with the limit 50.
    pub fn parse<S: AsRef<str>>(field: &str, raw: &[S]) -> Result<Self, Vec<FieldError>> {
        if raw.len() > MAX_FILTER_PATTERNS {
            return Err(vec![
                FieldError::new(
                    field,
                    "too_many",
                    format!("at most {MAX_FILTER_PATTERNS} event type patterns"),
                )
                .with_limit(MAX_FILTER_PATTERNS),
            ]);
        }
        let mut errors = Vec::new();
        let mut out: Vec<EventTypePattern> = Vec::new();
        for (i, r) in raw.iter().enumerate() {
            match EventTypePattern::parse(&format!("{field}[{i}]"), r.as_ref()) {
                Ok(p) if !out.contains(&p) => out.push(p),
                Ok(_) => {}
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(Self(out))
        } else {
            Err(errors)
        }
    }

    /// Parses a comma-separated list (a query's `types=customer.*,order.placed`); blank
    /// items are skipped, so `""` is every event.
    ///
    /// # Errors
    /// As [`EventTypeFilter::parse`].
    pub fn parse_list(field: &str, raw: &str) -> Result<Self, Vec<FieldError>> {
        let items: Vec<&str> = raw
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        Self::parse(field, &items)
    }

    /// The patterns.
    pub fn patterns(&self) -> &[EventTypePattern] {
        &self.0
    }

    /// Whether the filter passes every event (no patterns).
    pub fn is_all(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether an event of `event_type` passes.
    pub fn matches(&self, event_type: &str) -> bool {
        self.0.is_empty() || self.0.iter().any(|p| p.matches(event_type))
    }

    /// The patterns as strings (what storage keeps and the API shows).
    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(|p| p.0.clone()).collect()
    }
}

/// Whether an event records something about an internal note: its data says
/// `is_internal: true`, or its changes show `is_internal` true on either side (the note was
/// internal before or after the change, so the old or new body in `changes` was staff-only).
pub fn is_internal(event: &Event) -> bool {
    let e = &event.event;
    let data = e
        .data
        .get("is_internal")
        .and_then(serde_json::Value::as_bool)
        == Some(true);
    let changed = e
        .changes
        .get("is_internal")
        .is_some_and(|[old, new]| old.as_bool() == Some(true) || new.as_bool() == Some(true));
    data || changed
}

/// The per-event read rule the stream, the polling feed and webhooks apply: the event is the
/// caller's tenant's, the caller holds `customers.view` (nothing at all without it), and an
/// internal-note event ([`is_internal`]) only reaches a caller who may read internal notes
/// ([`crate::note::may_read_internal`]).
pub fn may_read(actor: &Actor, event: &Event) -> bool {
    event.event.tenant_id == actor.tenant_id
        && actor.can(Permission::CustomersView)
        && (!is_internal(event) || crate::note::may_read_internal(actor))
}

/// A place in a tenant's feed: opaque to the domain (only the feed port builds and compares
/// them) but totally ordered, in the order the feed hands events out.
///
/// PostgreSQL's feed orders by `(xid8 of the writing transaction, event id)`; SQLite's, whose
/// single writer commits in id order, by id alone (`tx` = 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FeedPosition {
    /// The writing transaction's id (PostgreSQL `xid8`), or 0.
    pub tx: u64,
    /// The event's id.
    pub id: EventId,
}

/// An event and its place in the feed.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedItem {
    /// Where the event is in the feed (the next read starts after it).
    pub position: FeedPosition,
    /// The event.
    pub event: Event,
}

/// What one feed read selects (all given conditions must match).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeedFilter {
    /// Event types (every type when empty).
    pub types: EventTypeFilter,
    /// Only this customer's events.
    pub customer_id: Option<CustomerId>,
}

/// The tenant's event log read forwards, for the stream, the polling feed and webhooks.
///
/// # The gap-free rule
/// Event ids come from a sequence when the row is inserted, not when its transaction commits:
/// transaction A takes id 10, B takes 11 and commits first. A reader ordered by id alone that
/// hands out 11 and then moves its cursor past it never sees 10 when A commits: the classic
/// gap of sequence-ordered outboxes. So the feed **only returns events of transactions that
/// have all finished**, in an order every later commit extends at the end:
/// - PostgreSQL: each event row records its transaction's `pg_current_xact_id()` (`xid8`); a
///   read returns only rows whose xid is below the reading snapshot's `xmin`
///   (`pg_snapshot_xmin(pg_current_snapshot())`: every transaction below it has committed or
///   aborted, so no row with a smaller xid can appear later), ordered by `(xid, id)`;
///   [`FeedPosition`] is that pair.
/// - SQLite: one writer at a time, so ids commit in order; `(0, id)`.
///
/// An event becomes visible to the feed only once every transaction that started before its
/// own has finished (a long transaction delays the feed, it never loses an event), and a
/// position once handed out stays valid: no event is ever inserted before it.
///
/// Every method is scoped to one tenant; permissions are the caller's ([`may_read`]).
///
/// # Errors
/// As [`RepositoryError`].
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait EventFeed: Send + Sync {
    /// Up to `limit` of the tenant's events after `position` (from the start of the log when
    /// `None`) matching `filter`, in feed order, finished transactions only (see the trait).
    async fn after(
        &self,
        tenant: TenantId,
        position: Option<FeedPosition>,
        filter: FeedFilter,
        limit: u64,
    ) -> Result<Vec<FeedItem>, RepositoryError>;

    /// The position of the tenant's event `event_id` (a client's `Last-Event-ID` or `after`);
    /// `None` when the tenant has no such event (another tenant's included).
    async fn position_of(
        &self,
        tenant: TenantId,
        event_id: EventId,
    ) -> Result<Option<FeedPosition>, RepositoryError>;

    /// The position of the tenant's last event the feed can return now (a new stream without
    /// `Last-Event-ID` starts there); `None` for an empty log.
    async fn head(&self, tenant: TenantId) -> Result<Option<FeedPosition>, RepositoryError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EntityType, NewEvent};
    use crate::testing::{TENANT, actor, now};
    use serde_json::json;
    use uuid::Uuid;

    fn pattern(s: &str) -> EventTypePattern {
        EventTypePattern::parse("types", s).unwrap()
    }

    fn event(event_type: &str, data: serde_json::Value) -> Event {
        Event {
            id: EventId(7),
            event: NewEvent::system(TENANT, event_type, EntityType::Note, Uuid::nil(), now())
                .data(data),
        }
    }

    #[test]
    fn a_star_matches_everything_a_prefix_its_entity_and_an_exact_type_itself() {
        assert!(pattern("*").matches("order.placed"));
        assert!(pattern("customer.*").matches("customer.updated"));
        assert!(!pattern("customer.*").matches("customers.updated"));
        assert!(!pattern("customer.*").matches("customer"));
        assert!(pattern("order.placed").matches("order.placed"));
        assert!(!pattern("order.placed").matches("order.placed_again"));
        assert!(pattern("customer").matches("customer"));
        assert!(!pattern("customer").matches("customer.created"));
    }

    #[test]
    fn malformed_patterns_are_named_with_their_field() {
        for bad in [
            "",
            "Customer.*",
            "customer.*.x",
            "*.created",
            "a..b",
            "cust omer",
            "a.b.c",
        ] {
            let e = EventTypePattern::parse("event_types[0]", bad).unwrap_err();
            assert_eq!(
                (e.field.as_str(), e.code),
                ("event_types[0]", "invalid"),
                "{bad}"
            );
        }
        let e = EventTypePattern::parse("types", &"a".repeat(101)).unwrap_err();
        assert_eq!((e.code, e.limit), ("too_long", Some(100)));
        assert!(EventTypePattern::parse("types", &"a".repeat(100)).is_ok());
    }

    #[test]
    fn a_filter_holds_at_most_fifty_patterns_and_empty_passes_everything() {
        let fifty: Vec<String> = (0..50).map(|i| format!("t{}", "x".repeat(i))).collect();
        assert!(EventTypeFilter::parse("event_types", &fifty).is_ok());
        let mut many = fifty;
        many.push("order.*".into());
        let e = EventTypeFilter::parse("event_types", &many).unwrap_err();
        assert_eq!((e[0].code, e[0].limit), ("too_many", Some(50)));
        assert!(EventTypeFilter::all().matches("anything.at_all"));
        let f = EventTypeFilter::parse_list("types", "customer.*, order.placed,").unwrap();
        assert_eq!(f.to_strings(), ["customer.*", "order.placed"]);
        assert!(f.matches("order.placed") && f.matches("customer.created"));
        assert!(!f.matches("order.cancelled"));
        let e = EventTypeFilter::parse("event_types", &["ok.*", "Bad"]).unwrap_err();
        assert_eq!(e[0].field, "event_types[1]");
    }

    #[test]
    fn nothing_is_readable_without_customers_view() {
        let e = event("customer.created", json!({}));
        assert!(may_read(&actor("viewer"), &e));
        let none = Actor::new(TENANT, crate::UserId::parse("u").unwrap(), [], []);
        assert!(!may_read(&none, &e));
        let other = Actor::new(
            crate::TenantId(Uuid::from_u128(99)),
            crate::UserId::parse("u").unwrap(),
            ["admin"],
            [],
        );
        assert!(!may_read(&other, &e), "another tenant's event");
    }

    #[test]
    fn internal_note_events_are_recognised_by_data_or_changes() {
        assert!(is_internal(&event(
            "note.added",
            json!({"is_internal": true})
        )));
        assert!(!is_internal(&event(
            "note.added",
            json!({"is_internal": false})
        )));
        let mut made_public = event("note.updated", json!({"is_internal": false}));
        made_public
            .event
            .changes
            .insert("is_internal".into(), [json!(true), json!(false)]);
        assert!(is_internal(&made_public));
        // Staff read internal notes: every role holding customers.view.
        assert!(may_read(&actor("viewer"), &made_public));
    }

    #[test]
    fn positions_order_by_transaction_then_id() {
        let p = |tx, id| FeedPosition {
            tx,
            id: EventId(id),
        };
        // Event 10 of transaction 5 committed after event 11 of transaction 4: it follows 11.
        assert!(p(4, 11) < p(5, 10));
        assert!(p(0, 1) < p(0, 2));
    }
}
