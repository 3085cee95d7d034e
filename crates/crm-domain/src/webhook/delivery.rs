//! Deliveries: one event to one subscription, its attempts, the retry schedule and the
//! payload.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::model::{Subscription, SubscriptionId};
use crate::event::{Event, EventId, summary};
use crate::ids::TenantId;
use crate::ports::Random;

/// A delivery succeeds when the receiver answers 2xx within this time (10 s); the sender
/// gives up waiting then (a timeout).
pub const DELIVERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The waits before each retry after a failed attempt (the first attempt is immediate):
/// 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, each ±10 % jitter ([`JITTER`]). A delivery whose
/// attempt after the last wait fails is `failed`: 7 attempts over about 17.6 hours.
pub const RETRY_SCHEDULE_SECS: [i64; 6] = [5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600];

/// The jitter of a retry's wait, as a fraction either way (±10 %), so retries of many
/// deliveries failing at once spread out.
pub const JITTER: f64 = 0.10;

/// A subscription whose deliveries have failed continuously for this long (3 days) is
/// disabled (`webhook.disabled`).
pub const DISABLE_AFTER: Duration = Duration::days(3);

/// The longest `last_error` kept, in characters.
pub const MAX_ERROR_CHARS: usize = 500;

/// A delivery's id (UUID v7): also the `webhook-id` of its every attempt (`msg_<id>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DeliveryId(pub Uuid);

impl fmt::Display for DeliveryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl DeliveryId {
    /// The Standard Webhooks message id (`webhook-id`) of the delivery: `msg_` + the id
    /// without hyphens. The same on every attempt, so receivers deduplicate on it.
    pub fn message_id(&self) -> String {
        format!("msg_{}", self.0.simple())
    }
}

string_enum!(
    /// Where a delivery stands.
    DeliveryStatus {
        /// Not yet delivered: its next attempt is due at `next_attempt_at`.
        Pending => "pending",
        /// The receiver answered 2xx in time.
        Succeeded => "succeeded",
        /// Every attempt of the schedule failed (or the subscription was gone or inactive).
        Failed => "failed",
    }
);

/// One event to one subscription, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Id (UUID v7).
    pub id: DeliveryId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// The subscription it goes to.
    pub subscription_id: SubscriptionId,
    /// The event it carries.
    pub event_id: EventId,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// The HTTP status of the last attempt's answer, if it got one.
    pub last_response_code: Option<u16>,
    /// How long the last attempt took, milliseconds.
    pub last_latency_ms: Option<u64>,
    /// When the next attempt is due (`Some` exactly while `pending`).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Why the last attempt failed (at most [`MAX_ERROR_CHARS`] characters).
    pub last_error: Option<String>,
    /// When it was created (its event was committed and fanned out).
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl Delivery {
    /// A new delivery of `event` to `subscription`, due at once.
    pub fn pending(
        id: DeliveryId,
        tenant: TenantId,
        subscription: SubscriptionId,
        event: EventId,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            tenant_id: tenant,
            subscription_id: subscription,
            event_id: event,
            status: DeliveryStatus::Pending,
            attempts: 0,
            last_response_code: None,
            last_latency_ms: None,
            next_attempt_at: Some(now),
            last_error: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// The delivery after a manual retry at `now`: `pending` and due at once, whatever its
    /// state; attempts so far are kept, so a delivery past the schedule gets exactly one
    /// more attempt (failing again, it is `failed`).
    pub fn retried(&self, now: DateTime<Utc>) -> Self {
        Self {
            status: DeliveryStatus::Pending,
            next_attempt_at: Some(now),
            updated_at: now,
            ..self.clone()
        }
    }
}

/// The fan-out rule: one pending delivery, due at `now`, for every pair of an event and a
/// subscription that [`Subscription::receives`] it, events in the order given. What an
/// adapter's `append_events` inserts beside the events, in their transaction, from the
/// tenant's active subscriptions (ids from `new_id`).
pub fn fan_out(
    subscriptions: &[Subscription],
    events: &[Event],
    now: DateTime<Utc>,
    mut new_id: impl FnMut() -> Uuid,
) -> Vec<Delivery> {
    events
        .iter()
        .flat_map(|e| {
            subscriptions
                .iter()
                .filter(|s| s.receives(e))
                .map(move |s| (s, e))
        })
        .map(|(s, e)| Delivery::pending(DeliveryId(new_id()), s.tenant_id, s.id, e.id, now))
        .collect()
}

/// What one attempt's POST came to, as the sender saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// The receiver answered with `status` after `latency_ms` (redirects are not followed: a
    /// 3xx is an answer, and a failure).
    Response {
        /// The HTTP status code.
        status: u16,
        /// Milliseconds from sending to the answer's head.
        latency_ms: u64,
    },
    /// No answer within [`DELIVERY_TIMEOUT`].
    Timeout {
        /// Milliseconds waited.
        latency_ms: u64,
    },
    /// The connection failed: DNS, refused, TLS, reset, or a target refused by
    /// [`super::is_public_address`].
    ConnectionError {
        /// What failed, for the delivery log.
        message: String,
        /// Milliseconds until the failure.
        latency_ms: u64,
    },
}

impl AttemptOutcome {
    /// Whether the attempt succeeded: a 2xx answer within [`DELIVERY_TIMEOUT`].
    pub fn is_success(&self) -> bool {
        let limit = u64::try_from(DELIVERY_TIMEOUT.as_millis()).unwrap_or(u64::MAX);
        matches!(self, AttemptOutcome::Response { status, latency_ms }
            if (200..300).contains(status) && *latency_ms <= limit)
    }

    fn latency_ms(&self) -> u64 {
        match self {
            AttemptOutcome::Response { latency_ms, .. }
            | AttemptOutcome::Timeout { latency_ms }
            | AttemptOutcome::ConnectionError { latency_ms, .. } => *latency_ms,
        }
    }

    fn error(&self) -> Option<String> {
        let text = match self {
            _ if self.is_success() => return None,
            AttemptOutcome::Response { status, .. } if (300..400).contains(status) => {
                format!("HTTP {status}: redirects are not followed")
            }
            AttemptOutcome::Response { status, .. } if (200..300).contains(status) => {
                format!(
                    "HTTP {status} after more than {} s",
                    DELIVERY_TIMEOUT.as_secs()
                )
            }
            AttemptOutcome::Response { status, .. } => format!("HTTP {status}"),
            AttemptOutcome::Timeout { .. } => {
                format!("no answer within {} s", DELIVERY_TIMEOUT.as_secs())
            }
            AttemptOutcome::ConnectionError { message, .. } => message.clone(),
        };
        Some(text.chars().take(MAX_ERROR_CHARS).collect())
    }
}

/// The wait before the retry that follows failed attempt number `attempts` (1-based), with
/// ±10 % jitter from `random`; `None` once the schedule is exhausted (the delivery fails).
pub fn retry_delay(attempts: u32, random: &dyn Random) -> Option<Duration> {
    let index = usize::try_from(attempts).ok()?.checked_sub(1)?;
    let base = *RETRY_SCHEDULE_SECS.get(index)? as f64 * 1000.0;
    let factor = 1.0 - JITTER + 2.0 * JITTER * random.unit().clamp(0.0, 1.0);
    Some(Duration::milliseconds((base * factor).round() as i64))
}

/// The state transition of one attempt: the delivery after `outcome` at `now`. Success (a
/// 2xx within 10 s) makes it `succeeded`; any failure (a non-2xx answer, redirects included, a
/// timeout, a connection error) schedules the next attempt after [`retry_delay`], or makes it
/// `failed` after the last one. Attempts, response code, latency and error are recorded.
pub fn after_attempt(
    delivery: &Delivery,
    outcome: &AttemptOutcome,
    now: DateTime<Utc>,
    random: &dyn Random,
) -> Delivery {
    let attempts = delivery.attempts.saturating_add(1);
    let (status, next_attempt_at) = if outcome.is_success() {
        (DeliveryStatus::Succeeded, None)
    } else {
        match retry_delay(attempts, random) {
            Some(wait) => (DeliveryStatus::Pending, Some(now + wait)),
            None => (DeliveryStatus::Failed, None),
        }
    };
    Delivery {
        status,
        attempts,
        last_response_code: match outcome {
            AttemptOutcome::Response { status, .. } => Some(*status),
            _ => None,
        },
        last_latency_ms: Some(outcome.latency_ms()),
        next_attempt_at,
        last_error: outcome.error(),
        updated_at: now,
        ..delivery.clone()
    }
}

/// The JSON body of a delivery of `event`: `{"type", "timestamp", "data"}` as the Standard
/// Webhooks specification shapes it: `type` the event type, `timestamp` when it happened
/// (RFC 3339 UTC), `data` the event as the timeline entry shows it (`id`, `type`,
/// `occurred_at`, `customer_id`, `entity_type`, `entity_id`, `actor {sub, role, request_id}`,
/// `summary`, `data`, `changes`).
pub fn payload(event: &Event) -> Value {
    let e = &event.event;
    json!({
        "type": e.event_type,
        "timestamp": e.occurred_at,
        "data": {
            "id": event.id.0,
            "type": e.event_type,
            "occurred_at": e.occurred_at,
            "customer_id": e.customer_id,
            "entity_type": e.entity_type.as_str(),
            "entity_id": e.entity_id,
            "actor": {
                "sub": e.actor.sub,
                "role": e.actor.role,
                "request_id": e.actor.request_id,
            },
            "summary": summary(event),
            "data": e.data,
            "changes": e.changes,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EntityType, NewEvent};
    use crate::testing::{TENANT, now};

    struct Fixed(f64);
    impl Random for Fixed {
        fn fill(&self, buf: &mut [u8]) {
            buf.fill(0);
        }
        fn unit(&self) -> f64 {
            self.0
        }
    }

    fn fresh() -> Delivery {
        Delivery::pending(
            DeliveryId(Uuid::from_u128(9)),
            TENANT,
            SubscriptionId(Uuid::from_u128(8)),
            EventId(42),
            now(),
        )
    }

    fn ok(status: u16, latency_ms: u64) -> AttemptOutcome {
        AttemptOutcome::Response { status, latency_ms }
    }

    #[test]
    fn a_2xx_within_ten_seconds_succeeds() {
        let d = after_attempt(&fresh(), &ok(204, 120), now(), &Fixed(0.5));
        assert_eq!(d.status, DeliveryStatus::Succeeded);
        assert_eq!(
            (d.attempts, d.last_response_code, d.last_latency_ms),
            (1, Some(204), Some(120))
        );
        assert_eq!((d.next_attempt_at, d.last_error), (None, None));
    }

    #[test]
    fn redirects_slow_answers_errors_and_timeouts_fail() {
        for outcome in [
            ok(301, 10),
            ok(500, 10),
            ok(410, 10),
            ok(200, 10_001),
            AttemptOutcome::Timeout { latency_ms: 10_000 },
            AttemptOutcome::ConnectionError {
                message: "connection refused".into(),
                latency_ms: 3,
            },
        ] {
            let d = after_attempt(&fresh(), &outcome, now(), &Fixed(0.5));
            assert_eq!(d.status, DeliveryStatus::Pending, "{outcome:?}");
            assert_eq!(d.next_attempt_at, Some(now() + Duration::seconds(5)));
            assert!(d.last_error.is_some(), "{outcome:?}");
        }
    }

    #[test]
    fn retries_follow_the_schedule_then_the_delivery_fails() {
        let mut d = fresh();
        let mut at = now();
        let mut waits = Vec::new();
        for _ in 0..6 {
            d = after_attempt(&d, &ok(503, 5), at, &Fixed(0.5));
            let next = d.next_attempt_at.unwrap();
            waits.push((next - at).num_seconds());
            at = next;
        }
        assert_eq!(waits, RETRY_SCHEDULE_SECS);
        let last = after_attempt(&d, &ok(503, 5), at, &Fixed(0.5));
        assert_eq!(
            (last.status, last.attempts, last.next_attempt_at),
            (DeliveryStatus::Failed, 7, None)
        );
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        let low = retry_delay(2, &Fixed(0.0)).unwrap();
        let high = retry_delay(2, &Fixed(0.999_999)).unwrap();
        assert_eq!(low, Duration::seconds(270));
        assert!(high <= Duration::seconds(330) && high > Duration::seconds(329));
        assert_eq!(retry_delay(0, &Fixed(0.5)), None);
        assert_eq!(retry_delay(7, &Fixed(0.5)), None);
    }

    #[test]
    fn the_payload_is_type_timestamp_and_the_timeline_entry() {
        let event = Event {
            id: EventId(42),
            event: NewEvent::system(
                TENANT,
                "customer.created",
                EntityType::Customer,
                Uuid::from_u128(5),
                now(),
            )
            .data(json!({"name": "Ana"})),
        };
        let p = payload(&event);
        assert_eq!(p["type"], "customer.created");
        assert_eq!(p["timestamp"], "2026-11-21T08:00:00Z");
        assert_eq!(p["data"]["id"], 42);
        assert_eq!(p["data"]["data"]["name"], "Ana");
        assert_eq!(p["data"]["actor"]["sub"], "system");
        assert_eq!(p["data"]["summary"], "system created customer Ana");
        assert_eq!(p["data"]["changes"], json!({}));
    }

    #[test]
    fn the_message_id_is_stable_per_delivery() {
        assert_eq!(
            fresh().id.message_id(),
            "msg_00000000000000000000000000000009"
        );
    }
}
