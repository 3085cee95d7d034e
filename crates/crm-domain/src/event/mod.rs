//! The event log (issue 13): one append-only, per-tenant log of every write.
//!
//! Every write of this service appends [`NewEvent`]s through its own transaction port's
//! `append_events` (so an event exists exactly when its change committed, and nothing is
//! published outside a commit). The timeline, the field history, the audit search, and later
//! the live stream and webhooks, read the log back as [`Event`]s through [`EventRepository`].
//!
//! The live stream, its polling twin and webhooks read it forwards through [`EventFeed`]
//! (commit-safe order: see its gap-free rule), selecting types with [`EventTypeFilter`]
//! (patterns `*`, `customer.*`, `order.placed`) and showing each event only where [`may_read`]
//! allows.

mod feed;
mod feed_service;
mod model;
mod ports;
mod service;
#[cfg(test)]
mod service_tests;

#[cfg(any(test, feature = "mock"))]
pub use feed::MockEventFeed;
pub use feed::{
    EventFeed, EventTypeFilter, EventTypePattern, FeedFilter, FeedItem, FeedPosition,
    MAX_FILTER_PATTERNS, MAX_PATTERN_BYTES, is_internal, may_read,
};
pub use feed_service::{FeedPage, FeedService};
pub use model::{
    EntityType, Event, EventActor, EventFilter, EventId, FieldChanges, MAX_EVENT_PAGE, NewEvent,
    field_changes,
};
pub use ports::EventRepository;
#[cfg(any(test, feature = "mock"))]
pub use ports::MockEventRepository;
pub use service::{
    AuditFilter, DEFAULT_EVENT_PAGE, EventPage, EventService, MAX_ACTOR_BYTES,
    MAX_TYPE_PATTERN_BYTES, MAX_TYPE_PATTERNS, summary, valid_type_pattern,
};
