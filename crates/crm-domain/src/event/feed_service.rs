//! The feed use case: one page of the tenant's events forwards, for the live stream and its
//! polling twin (`GET /events?after=ID&limit=`).

use std::sync::Arc;

use super::feed::{EventFeed, FeedFilter, FeedPosition, may_read};
use super::model::{Event, EventId, MAX_EVENT_PAGE};
use crate::access::{Actor, Permission};
use crate::error::{DomainError, FieldError};

/// One read of the feed: the events the caller may read, in feed order, and where the next
/// read starts.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedPage {
    /// The events, in feed order, each passing [`may_read`].
    pub items: Vec<Event>,
    /// The position of the last event read, shown or not (events the caller may not read are
    /// skipped, not re-read); the next read starts after it. `None` when nothing was read:
    /// the next read starts where this one did.
    pub next: Option<FeedPosition>,
    /// The id of that last event (what a client sends back as `after` / `Last-Event-ID`).
    pub last_id: Option<EventId>,
}

/// Reads the feed for callers.
pub struct FeedService {
    feed: Arc<dyn EventFeed>,
}

impl FeedService {
    /// Wires the service.
    pub fn new(feed: Arc<dyn EventFeed>) -> Self {
        Self { feed }
    }

    /// Where a client resumes: after its `Last-Event-ID` / `after` event (`field` names the
    /// parameter in errors), or at the feed's current head when it names none (a new stream
    /// sees events from now on; `from_start` reads from the start of the log instead, as the
    /// polling feed does). Needs `customers.view`.
    ///
    /// # Errors
    /// [`DomainError::Forbidden`]; [`DomainError::Validation`] naming `field` (`unknown`)
    /// when the tenant has no such event.
    #[tracing::instrument(name = "FeedService::start", skip_all, fields(tenant_id = %actor.tenant_id))]
    pub async fn start(
        &self,
        actor: &Actor,
        field: &str,
        after: Option<EventId>,
        from_start: bool,
    ) -> Result<Option<FeedPosition>, DomainError> {
        actor.require(Permission::CustomersView)?;
        match after {
            Some(id) => self
                .feed
                .position_of(actor.tenant_id, id)
                .await?
                .map(Some)
                .ok_or_else(|| {
                    DomainError::Validation(vec![FieldError::new(
                        field,
                        "unknown",
                        format!("the tenant has no event {}", id.0),
                    )])
                }),
            None if from_start => Ok(None),
            None => Ok(self.feed.head(actor.tenant_id).await?),
        }
    }

    /// One page of the polling feed (`GET /events?after=`): [`FeedService::start`] after the
    /// client's `after` event (field `after`; from the start of the log without one), then
    /// [`FeedService::read`].
    ///
    /// # Errors
    /// As [`FeedService::start`] and [`FeedService::read`].
    pub async fn page(
        &self,
        actor: &Actor,
        after: Option<EventId>,
        filter: FeedFilter,
        limit: u64,
    ) -> Result<FeedPage, DomainError> {
        let start = self.start(actor, "after", after, true).await?;
        self.read(actor, start, filter, limit).await
    }

    /// Up to `limit` (1..=200) events after `position` matching `filter`, finished
    /// transactions only ([`EventFeed`]'s gap-free rule), each shown only where
    /// [`may_read`] allows (needs `customers.view`).
    ///
    /// # Errors
    /// [`DomainError::Forbidden`]; [`DomainError::Validation`] naming `limit`.
    #[tracing::instrument(name = "FeedService::read", skip_all, fields(tenant_id = %actor.tenant_id))]
    pub async fn read(
        &self,
        actor: &Actor,
        position: Option<FeedPosition>,
        filter: FeedFilter,
        limit: u64,
    ) -> Result<FeedPage, DomainError> {
        actor.require(Permission::CustomersView)?;
        if !(1..=MAX_EVENT_PAGE).contains(&limit) {
            return Err(DomainError::Validation(vec![
                FieldError::new(
                    "limit",
                    "out_of_range",
                    format!("must be between 1 and {MAX_EVENT_PAGE}"),
                )
                .with_limit(MAX_EVENT_PAGE as usize),
            ]));
        }
        let rows = self
            .feed
            .after(actor.tenant_id, position, filter, limit)
            .await?;
        let last = rows.last().map(|r| (r.position, r.event.id));
        Ok(FeedPage {
            items: rows
                .into_iter()
                .map(|r| r.event)
                .filter(|e| may_read(actor, e))
                .collect(),
            next: last.map(|(p, _)| p),
            last_id: last.map(|(_, id)| id),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EntityType, FeedItem, MockEventFeed, NewEvent};
    use crate::testing::{TENANT, actor, now};
    use serde_json::json;
    use uuid::Uuid;

    fn item(id: i64, internal: bool) -> FeedItem {
        FeedItem {
            position: FeedPosition {
                tx: 9,
                id: EventId(id),
            },
            event: Event {
                id: EventId(id),
                event: NewEvent::system(TENANT, "note.added", EntityType::Note, Uuid::nil(), now())
                    .data(json!({"is_internal": internal})),
            },
        }
    }

    #[tokio::test]
    async fn a_page_skips_unreadable_events_but_moves_past_them() {
        let mut feed = MockEventFeed::new();
        // A row of another tenant (a broken adapter) is never shown, but read past.
        let mut foreign = item(2, true);
        foreign.event.event.tenant_id = crate::TenantId(Uuid::from_u128(99));
        feed.expect_after()
            .returning(move |_, _, _, _| Ok(vec![item(1, true), foreign.clone()]));
        let svc = FeedService::new(Arc::new(feed));
        let page = svc
            .read(&actor("viewer"), None, FeedFilter::default(), 10)
            .await
            .unwrap();
        assert_eq!(page.items.len(), 1);
        assert_eq!(page.items[0].id, EventId(1));
        assert_eq!(page.last_id, Some(EventId(2)));
        let nobody = Actor::new(TENANT, crate::UserId::parse("u").unwrap(), [], []);
        assert_eq!(
            svc.read(&nobody, None, FeedFilter::default(), 10)
                .await
                .unwrap_err(),
            DomainError::Forbidden(Permission::CustomersView)
        );
    }

    #[tokio::test]
    async fn last_event_id_resumes_at_its_position_and_an_unknown_one_is_named() {
        let mut feed = MockEventFeed::new();
        feed.expect_position_of().returning(|t, id| {
            Ok((t == TENANT && id == EventId(5)).then_some(FeedPosition { tx: 3, id }))
        });
        feed.expect_head().returning(|_| Ok(None));
        let svc = FeedService::new(Arc::new(feed));
        let a = actor("viewer");
        assert_eq!(
            svc.start(&a, "Last-Event-ID", Some(EventId(5)), false)
                .await
                .unwrap(),
            Some(FeedPosition {
                tx: 3,
                id: EventId(5)
            })
        );
        let err = svc
            .start(&a, "Last-Event-ID", Some(EventId(6)), false)
            .await
            .unwrap_err();
        assert_eq!(
            crate::testing::field_codes(err),
            vec![("Last-Event-ID".into(), "unknown")]
        );
        assert_eq!(svc.start(&a, "after", None, false).await.unwrap(), None);
    }

    #[tokio::test]
    async fn limit_is_bounded() {
        let svc = FeedService::new(Arc::new(MockEventFeed::new()));
        let err = svc
            .read(&actor("viewer"), None, FeedFilter::default(), 201)
            .await
            .unwrap_err();
        assert_eq!(
            crate::testing::field_codes(err),
            vec![("limit".into(), "out_of_range")]
        );
    }
}
