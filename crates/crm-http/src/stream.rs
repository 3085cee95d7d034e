//! The transport of the live event stream (issue 14, `GET /api/v1/events/stream`): a task
//! that reads the feed forwards through [`FeedService::read`] and writes Server-Sent Events
//! into a bounded channel, the response body that drains it, and the per-tenant count of open
//! streams.
//!
//! - Each event is one SSE message: `id:` the event id, `event:` its type, `data:` the same
//!   JSON as a timeline entry ([`EventResponse`]).
//! - When the feed has nothing new, the task waits [`StreamSettings::poll_interval`] and
//!   reads again; after [`StreamSettings::heartbeat`] without a message it writes the comment
//!   `: keep-alive`.
//! - A client that cannot keep up (the channel stays full for longer than
//!   [`StreamSettings::slow_client_timeout`]) is disconnected: the events already queued are
//!   written, then a final comment naming the last delivered id, so the client resumes with
//!   `Last-Event-ID` and loses nothing.
//! - [`Streams::close_all`] (the server shutting down) ends every stream the same way, so
//!   graceful shutdown does not wait for streams that never end on their own.
//! - A tenant has at most [`StreamSettings::max_per_tenant`] open streams ([`Streams::open`]);
//!   the [`StreamSlot`] held by the response body gives its place back when the body is
//!   dropped (the client went away or the stream ended).
//!
//! The rules (who reads what, the gap-free order) are the domain's and the feed port's; this
//! module only moves bytes and waits.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use crm_domain::event::{Event, EventId, FeedFilter, FeedPosition, FeedService};
use crm_domain::{Actor, TenantId};
use futures_util::Stream;
use tokio::sync::mpsc::error::SendTimeoutError;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::events::EventResponse;

/// Events read from the feed at once (the feed's largest page).
pub const READ_LIMIT: u64 = 200;

/// How the server runs live streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamSettings {
    /// How long the stream waits before reading the feed again when it had nothing new
    /// (default 500 ms).
    pub poll_interval: Duration,
    /// The longest silence before a `: keep-alive` comment (default 15 s).
    pub heartbeat: Duration,
    /// The most open streams one tenant may have (default 20; 429 beyond).
    pub max_per_tenant: usize,
    /// How long the stream waits for room in a full buffer before it disconnects the client
    /// as too slow (default 10 s).
    pub slow_client_timeout: Duration,
    /// Messages buffered for one client (default 256).
    pub buffer: usize,
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_millis(500),
            heartbeat: Duration::from_secs(15),
            max_per_tenant: 20,
            slow_client_timeout: Duration::from_secs(10),
            buffer: 256,
        }
    }
}

type OpenCounts = Arc<Mutex<HashMap<TenantId, usize>>>;

/// The live streams of this process: their settings, how many each tenant has open, and the
/// signal that ends them all.
///
/// The count is per process: with several replicas, each allows `max_per_tenant`.
#[derive(Debug)]
pub struct Streams {
    settings: StreamSettings,
    open: OpenCounts,
    closing: watch::Sender<bool>,
}

impl Default for Streams {
    fn default() -> Self {
        Self::new(StreamSettings::default())
    }
}

impl Streams {
    /// Streams run with `settings`.
    pub fn new(settings: StreamSettings) -> Self {
        Self {
            settings,
            open: OpenCounts::default(),
            closing: watch::Sender::new(false),
        }
    }

    /// Ends every open stream, and every stream opened from now on, after what is already
    /// queued, with a final comment naming its last delivered id (the server is shutting
    /// down: clients resume on another replica or after the restart).
    pub fn close_all(&self) {
        self.closing.send_replace(true);
    }

    /// What a stream's task watches to stop with the server.
    fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// The settings.
    pub fn settings(&self) -> StreamSettings {
        self.settings
    }

    /// A place for one more stream of `tenant`, or `None` when it already has
    /// `max_per_tenant` open. The place is given back when the slot is dropped.
    pub fn open(&self, tenant: TenantId) -> Option<StreamSlot> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(tenant).or_insert(0);
        if *count >= self.settings.max_per_tenant {
            return None;
        }
        *count += 1;
        Some(StreamSlot {
            tenant,
            open: self.open.clone(),
        })
    }

    /// How many streams `tenant` has open.
    pub fn open_count(&self, tenant: TenantId) -> usize {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&tenant)
            .copied()
            .unwrap_or(0)
    }
}

/// One open stream's place in its tenant's count; dropping it gives the place back.
#[derive(Debug)]
pub struct StreamSlot {
    tenant: TenantId,
    open: OpenCounts,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.tenant) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.tenant);
            }
        }
    }
}

/// One event as an SSE message: `id`, `event` (the type) and `data` (the timeline entry's
/// JSON, on one line).
pub fn message(event: &Event) -> Bytes {
    let data = serde_json::to_string(&EventResponse::from(event)).unwrap_or_else(|_| "{}".into());
    let event_type: String = event
        .event
        .event_type
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    Bytes::from(format!(
        "id: {}\nevent: {event_type}\ndata: {data}\n\n",
        event.id.0
    ))
}

/// Why a stream ends when the server stops.
const SHUTTING_DOWN: &str = "the server is shutting down";

/// The comment that ends a stream: why, and the last delivered id to resume from.
fn closing(reason: &str, last: Option<EventId>) -> Bytes {
    let resume = match last {
        Some(id) => format!("resume with Last-Event-ID: {}", id.0),
        None => "no event was delivered".to_owned(),
    };
    Bytes::from(format!(": disconnected: {reason}; {resume}\n\n"))
}

/// The response body of a stream of `actor`'s events after `start` that match `filter`, run
/// with the settings of `streams`: spawns the task that reads the feed (on the current actix
/// runtime) and returns the body that writes what it queues. The body holds `slot`, and the
/// task stops when the body is dropped or [`Streams::close_all`] is called.
pub fn event_stream(
    feed: Arc<FeedService>,
    actor: Actor,
    start: Option<FeedPosition>,
    filter: FeedFilter,
    streams: &Streams,
    slot: StreamSlot,
) -> impl Stream<Item = Result<Bytes, Infallible>> + 'static {
    let settings = streams.settings();
    let (tx, rx) = mpsc::channel::<Bytes>(settings.buffer.max(1));
    let (last_tx, last_rx) = oneshot::channel::<Bytes>();
    actix_web::rt::spawn(pump(Pump {
        feed,
        actor,
        position: start,
        filter,
        settings,
        closing: streams.closing(),
        tx,
        last: last_tx,
    }));
    let body = Body {
        rx,
        last: Some(last_rx),
        _slot: slot,
    };
    futures_util::stream::unfold(body, |mut body| async move {
        if let Some(bytes) = body.rx.recv().await {
            return Some((Ok(bytes), body));
        }
        // The task is done and everything queued was written: its final comment, if any.
        let last = body.last.take()?;
        last.await.ok().map(|bytes| (Ok(bytes), body))
    })
}

/// What the response body holds.
struct Body {
    rx: mpsc::Receiver<Bytes>,
    last: Option<oneshot::Receiver<Bytes>>,
    _slot: StreamSlot,
}

/// What the reading task holds.
struct Pump {
    feed: Arc<FeedService>,
    actor: Actor,
    position: Option<FeedPosition>,
    filter: FeedFilter,
    settings: StreamSettings,
    closing: watch::Receiver<bool>,
    tx: mpsc::Sender<Bytes>,
    last: oneshot::Sender<Bytes>,
}

/// Why a write did not go through.
enum Stop {
    /// The client went away.
    Gone,
    /// The buffer stayed full.
    Slow,
}

impl Pump {
    async fn send(&self, bytes: Bytes) -> Result<(), Stop> {
        match self
            .tx
            .send_timeout(bytes, self.settings.slow_client_timeout)
            .await
        {
            Ok(()) => Ok(()),
            Err(SendTimeoutError::Timeout(_)) => Err(Stop::Slow),
            Err(SendTimeoutError::Closed(_)) => Err(Stop::Gone),
        }
    }
}

/// Reads the feed and queues messages until the client goes away, falls behind, or a read
/// fails (then the client reconnects with `Last-Event-ID`).
async fn pump(mut p: Pump) {
    let mut delivered = p.position.map(|pos| pos.id);
    let mut position = p.position;
    let mut last_write = Instant::now();
    let reason = loop {
        if *p.closing.borrow() {
            break SHUTTING_DOWN;
        }
        let page = match p
            .feed
            .read(&p.actor, position, p.filter.clone(), READ_LIMIT)
            .await
        {
            Ok(page) => page,
            Err(e) => {
                tracing::warn!(error = %e, "the event stream could not read the feed; closing it");
                break "the feed could not be read";
            }
        };
        let mut stop = None;
        for event in &page.items {
            match p.send(message(event)).await {
                Ok(()) => {
                    delivered = Some(event.id);
                    last_write = Instant::now();
                }
                Err(s) => {
                    stop = Some(s);
                    break;
                }
            }
        }
        match stop {
            Some(Stop::Gone) => return,
            Some(Stop::Slow) => break "the client did not keep up",
            None => {}
        }
        if page.next.is_some() {
            // Something was read (shown or skipped): read on at once.
            position = page.next;
            continue;
        }
        if last_write.elapsed() >= p.settings.heartbeat {
            match p.send(Bytes::from_static(b": keep-alive\n\n")).await {
                Ok(()) => last_write = Instant::now(),
                Err(Stop::Gone) => return,
                Err(Stop::Slow) => break "the client did not keep up",
            }
        }
        tokio::select! {
            () = tokio::time::sleep(p.settings.poll_interval) => {}
            () = p.tx.closed() => return,
            // Checked at the top of the loop (an error means the server state is gone).
            changed = p.closing.changed() => if changed.is_err() { break SHUTTING_DOWN },
        }
    };
    tracing::info!(reason, last_event_id = ?delivered.map(|id| id.0), "event stream closed by the server");
    // The body writes this after everything already queued.
    let _ = p.last.send(closing(reason, delivered));
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use crm_domain::RepositoryError;
    use crm_domain::event::{EntityType, EventFeed, FeedItem, NewEvent};
    use futures_util::StreamExt;
    use uuid::Uuid;

    const TENANT: TenantId = TenantId(Uuid::from_u128(7));

    /// A feed of events 1..=n of [`TENANT`], all committed.
    struct Fixed(u64);

    #[async_trait]
    impl EventFeed for Fixed {
        async fn after(
            &self,
            _tenant: TenantId,
            position: Option<FeedPosition>,
            _filter: FeedFilter,
            limit: u64,
        ) -> Result<Vec<FeedItem>, RepositoryError> {
            let from = position.map_or(1, |p| p.id.0 + 1);
            let to = i64::try_from(self.0).unwrap();
            Ok((from..=to)
                .take(usize::try_from(limit).unwrap())
                .map(|id| FeedItem {
                    position: FeedPosition {
                        tx: 0,
                        id: EventId(id),
                    },
                    event: Event {
                        id: EventId(id),
                        event: NewEvent::system(
                            TENANT,
                            "customer.created",
                            EntityType::Customer,
                            Uuid::nil(),
                            chrono::Utc::now(),
                        ),
                    },
                })
                .collect())
        }

        async fn position_of(
            &self,
            _tenant: TenantId,
            id: EventId,
        ) -> Result<Option<FeedPosition>, RepositoryError> {
            Ok(Some(FeedPosition { tx: 0, id }))
        }

        async fn head(&self, _tenant: TenantId) -> Result<Option<FeedPosition>, RepositoryError> {
            Ok(None)
        }
    }

    fn viewer() -> Actor {
        Actor::new(
            TENANT,
            crm_domain::UserId::parse("u").unwrap(),
            ["viewer"],
            [],
        )
    }

    fn text(chunks: &[Bytes]) -> String {
        chunks
            .iter()
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect()
    }

    #[actix_web::test]
    async fn events_arrive_in_order_and_a_client_that_does_not_read_is_let_go_with_its_resume_id() {
        let streams = Streams::new(StreamSettings {
            buffer: 2,
            slow_client_timeout: Duration::from_millis(50),
            ..StreamSettings::default()
        });
        let slot = streams.open(TENANT).unwrap();
        let body = event_stream(
            Arc::new(FeedService::new(Arc::new(Fixed(5)))),
            viewer(),
            Some(FeedPosition {
                tx: 0,
                id: EventId(1),
            }),
            FeedFilter::default(),
            &streams,
            slot,
        );
        // The client reads nothing while the buffer fills and the wait runs out.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let chunks: Vec<Bytes> = body.map(|c| c.unwrap()).collect().await;
        let all = text(&chunks);
        assert!(
            all.starts_with("id: 2\nevent: customer.created\ndata: {"),
            "{all}"
        );
        assert!(all.contains("\n\nid: 3\n"), "{all}");
        assert!(!all.contains("id: 4"), "{all}");
        assert!(
            all.ends_with(
                ": disconnected: the client did not keep up; resume with Last-Event-ID: 3\n\n"
            ),
            "{all}"
        );
        // The body is gone: its place is free.
        assert_eq!(streams.open_count(TENANT), 0);
    }

    #[actix_web::test]
    async fn an_idle_stream_sends_heartbeats() {
        let streams = Streams::new(StreamSettings {
            poll_interval: Duration::from_millis(10),
            heartbeat: Duration::from_millis(30),
            ..StreamSettings::default()
        });
        let mut body = Box::pin(event_stream(
            Arc::new(FeedService::new(Arc::new(Fixed(0)))),
            viewer(),
            None,
            FeedFilter::default(),
            &streams,
            streams.open(TENANT).unwrap(),
        ));
        let first = tokio::time::timeout(Duration::from_secs(5), body.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(&first[..], b": keep-alive\n\n");
        assert_eq!(streams.open_count(TENANT), 1);
        drop(body);
        assert_eq!(streams.open_count(TENANT), 0);
    }

    #[actix_web::test]
    async fn closing_all_ends_a_stream_with_its_resume_id() {
        let streams = Streams::new(StreamSettings {
            poll_interval: Duration::from_millis(10),
            ..StreamSettings::default()
        });
        let body = event_stream(
            Arc::new(FeedService::new(Arc::new(Fixed(3)))),
            viewer(),
            None,
            FeedFilter::default(),
            &streams,
            streams.open(TENANT).unwrap(),
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        streams.close_all();
        let chunks: Vec<Bytes> =
            tokio::time::timeout(Duration::from_secs(5), body.map(|c| c.unwrap()).collect())
                .await
                .unwrap();
        let all = text(&chunks);
        assert!(all.contains("id: 3\n"), "{all}");
        assert!(
            all.ends_with(
                ": disconnected: the server is shutting down; resume with Last-Event-ID: 3\n\n"
            ),
            "{all}"
        );
    }

    fn settings(max: usize) -> StreamSettings {
        StreamSettings {
            max_per_tenant: max,
            ..StreamSettings::default()
        }
    }

    #[test]
    fn a_tenant_gets_at_most_its_streams_and_a_dropped_slot_frees_its_place() {
        let streams = Streams::new(settings(2));
        let a = TenantId(Uuid::from_u128(1));
        let b = TenantId(Uuid::from_u128(2));
        let first = streams.open(a).unwrap();
        let _second = streams.open(a).unwrap();
        assert!(streams.open(a).is_none());
        assert!(
            streams.open(b).is_some(),
            "another tenant's count is its own"
        );
        drop(first);
        assert_eq!(streams.open_count(a), 1);
        assert!(streams.open(a).is_some());
    }

    #[test]
    fn the_closing_comment_names_the_last_delivered_id() {
        let c = closing("the client did not keep up", Some(EventId(41)));
        assert_eq!(
            &c[..],
            b": disconnected: the client did not keep up; resume with Last-Event-ID: 41\n\n"
        );
    }
}
