//! The webhook service against mockall mocks of its ports and a fixed clock: permissions, the
//! per-tenant limit, the secret shown once, version checks, the events of each write, and the
//! delivery run (signing, retries, subscription health, disabling).

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use url::Url;
use uuid::Uuid;

use super::*;
use crate::access::{Actor, Permission};
use crate::error::DomainError;
use crate::event::{EntityType, Event, EventId, EventTypeFilter, NewEvent};
use crate::ids::TenantId;
use crate::ports::MockRandom;
use crate::testing::{TENANT, actor, clock, field_codes, ids, now};

const OTHER: TenantId = TenantId(Uuid::from_u128(77));
const SUB: SubscriptionId = SubscriptionId(Uuid::from_u128(500));
const DELIVERY: DeliveryId = DeliveryId(Uuid::from_u128(600));

/// One POST the sender made: URL, headers, body.
type Sent = (Url, Vec<(String, String)>, Vec<u8>);

/// What the mocked storage holds and saw.
#[derive(Default)]
struct World {
    subs: Vec<Subscription>,
    deliveries: Vec<Delivery>,
    due: Vec<DueDelivery>,
    recorded: Vec<Delivery>,
    retried: Vec<Delivery>,
    events: Vec<NewEvent>,
    sent: Vec<Sent>,
    commits: usize,
}

type Shared = Arc<Mutex<World>>;

/// Random bytes 0, 1, 2, … (offset by the call number, so two secrets differ) and jitter
/// 0.5 (no jitter).
fn random() -> MockRandom {
    let mut r = MockRandom::new();
    let calls = Arc::new(Mutex::new(0u8));
    r.expect_fill().returning(move |buf| {
        let mut n = calls.lock().unwrap();
        *n += 1;
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (i as u8).wrapping_add(*n);
        }
    });
    r.expect_unit().return_const(0.5);
    r
}

fn subscription(tenant: TenantId, id: SubscriptionId) -> Subscription {
    let at = now() - Duration::days(10);
    Subscription {
        id,
        tenant_id: tenant,
        url: Url::parse("https://hooks.example.com/crm").unwrap(),
        event_types: EventTypeFilter::parse("event_types", &["customer.*"]).unwrap(),
        description: Some("ERP".into()),
        active: true,
        secret: WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap(),
        created_at: at,
        updated_at: at,
        version: 3,
        failing_since: None,
        disabled_reason: None,
    }
}

fn transaction(world: Shared) -> MockWebhookTransaction {
    let mut tx = MockWebhookTransaction::new();
    let w = world.clone();
    tx.expect_count_locked().returning(move |t| {
        Ok(w.lock()
            .unwrap()
            .subs
            .iter()
            .filter(|s| s.tenant_id == t)
            .count() as u64)
    });
    let w = world.clone();
    tx.expect_lock().returning(move |t, id| {
        let w = w.lock().unwrap();
        Ok(w.subs
            .iter()
            .find(|s| s.tenant_id == t && s.id == id)
            .cloned())
    });
    let w = world.clone();
    tx.expect_insert().returning(move |s| {
        w.lock().unwrap().subs.push(s.clone());
        Ok(())
    });
    let w = world.clone();
    tx.expect_update().returning(move |s| {
        let mut w = w.lock().unwrap();
        match w
            .subs
            .iter_mut()
            .find(|x| x.id == s.id && x.version == s.version - 1)
        {
            Some(x) => {
                *x = s.clone();
                Ok(())
            }
            None => Err(crate::error::RepositoryError::Stale),
        }
    });
    let w = world.clone();
    tx.expect_record_health().returning(move |s| {
        let mut w = w.lock().unwrap();
        if let Some(x) = w.subs.iter_mut().find(|x| x.id == s.id) {
            *x = s.clone();
        }
        Ok(())
    });
    let w = world.clone();
    tx.expect_delete().returning(move |t, id| {
        w.lock()
            .unwrap()
            .subs
            .retain(|s| !(s.tenant_id == t && s.id == id));
        Ok(())
    });
    let w = world.clone();
    tx.expect_append_events().returning(move |e| {
        w.lock().unwrap().events.extend_from_slice(e);
        Ok(())
    });
    tx.expect_commit().returning(move || {
        world.lock().unwrap().commits += 1;
        Ok(())
    });
    tx
}

/// A service over `world`, the clock at `at()`, the sender answering `answer`.
fn service_at(
    world: Shared,
    config: WebhookConfig,
    at: impl FnMut() -> DateTime<Utc> + Send + 'static,
    answer: AttemptOutcome,
) -> WebhookService {
    let mut repo = MockWebhookRepository::new();
    let w = world.clone();
    repo.expect_begin()
        .returning(move |_| Ok(Box::new(transaction(w.clone()))));
    let w = world.clone();
    repo.expect_get().returning(move |t, id| {
        let w = w.lock().unwrap();
        Ok(w.subs
            .iter()
            .find(|s| s.tenant_id == t && s.id == id)
            .cloned())
    });
    let w = world.clone();
    repo.expect_list().returning(move |t, after, limit| {
        let w = w.lock().unwrap();
        let mut rows: Vec<Subscription> = w
            .subs
            .iter()
            .filter(|s| s.tenant_id == t && after.is_none_or(|a| s.id > a))
            .cloned()
            .collect();
        rows.sort_by_key(|s| s.id);
        rows.truncate(limit as usize);
        Ok(rows)
    });
    let mut deliveries = MockDeliveryRepository::new();
    let w = world.clone();
    deliveries
        .expect_claim_due()
        .returning(move |_, _, _| Ok(std::mem::take(&mut w.lock().unwrap().due)));
    let w = world.clone();
    deliveries.expect_record_attempt().returning(move |d| {
        w.lock().unwrap().recorded.push(d.clone());
        Ok(())
    });
    let w = world.clone();
    deliveries.expect_get().returning(move |t, id| {
        let w = w.lock().unwrap();
        Ok(w.deliveries
            .iter()
            .find(|d| d.tenant_id == t && d.id == id)
            .cloned())
    });
    let w = world.clone();
    deliveries.expect_list().returning(move |t, sub, _, limit| {
        let w = w.lock().unwrap();
        Ok(w.deliveries
            .iter()
            .filter(|d| d.tenant_id == t && d.subscription_id == sub)
            .take(limit as usize)
            .cloned()
            .collect())
    });
    let w = world.clone();
    deliveries.expect_retry().returning(move |d| {
        w.lock().unwrap().retried.push(d.clone());
        Ok(())
    });
    let mut sender = MockWebhookSender::new();
    sender
        .expect_send()
        .returning(move |url, headers, body, timeout| {
            assert_eq!(timeout, DELIVERY_TIMEOUT);
            world
                .lock()
                .unwrap()
                .sent
                .push((url.clone(), headers, body));
            answer.clone()
        });
    WebhookService::new(
        Arc::new(repo),
        Arc::new(deliveries),
        Arc::new(sender),
        Arc::new(clock(at)),
        Arc::new(ids()),
        Arc::new(random()),
        config,
    )
}

fn service(world: Shared) -> WebhookService {
    service_at(world, WebhookConfig::default(), now, ok())
}

fn ok() -> AttemptOutcome {
    AttemptOutcome::Response {
        status: 200,
        latency_ms: 40,
    }
}

fn unavailable() -> AttemptOutcome {
    AttemptOutcome::Response {
        status: 503,
        latency_ms: 40,
    }
}

fn holding(subs: Vec<Subscription>) -> Shared {
    Arc::new(Mutex::new(World {
        subs,
        ..World::default()
    }))
}

fn admin() -> Actor {
    actor("admin").with_request_id("req-1")
}

fn input(url: &str) -> WebhookInput {
    WebhookInput {
        url: Some(url.into()),
        event_types: Some(vec!["customer.*".into(), "order.placed".into()]),
        description: Some("ERP sync".into()),
        active: None,
    }
}

/// A patch that sets the members of `doc` over the stored fields.
struct Set(Value);

impl WebhookPatch for Set {
    fn apply(&self, current: &Subscription) -> Result<WebhookInput, DomainError> {
        let get = |k: &str| self.0.get(k);
        Ok(WebhookInput {
            url: Some(
                get("url")
                    .and_then(Value::as_str)
                    .map_or(current.url.to_string(), str::to_owned),
            ),
            event_types: Some(
                get("event_types")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_else(|| current.event_types.to_strings()),
            ),
            description: current.description.clone(),
            active: Some(
                get("active")
                    .and_then(Value::as_bool)
                    .unwrap_or(current.active),
            ),
        })
    }
}

fn customer_event(tenant: TenantId) -> Event {
    Event {
        id: EventId(41),
        event: NewEvent::system(
            tenant,
            "customer.created",
            EntityType::Customer,
            Uuid::from_u128(5),
            now() - Duration::minutes(1),
        )
        .data(json!({"name": "Ana"})),
    }
}

fn due(sub: Subscription, delivery: Delivery) -> DueDelivery {
    DueDelivery {
        event: customer_event(sub.tenant_id),
        delivery,
        subscription: sub,
    }
}

fn pending() -> Delivery {
    Delivery::pending(
        DELIVERY,
        TENANT,
        SUB,
        EventId(41),
        now() - Duration::minutes(1),
    )
}

#[tokio::test]
async fn create_returns_the_secret_once_and_its_event_never_carries_it() {
    let world = holding(vec![]);
    let created = service(world.clone())
        .create(&admin(), input("https://hooks.example.com/crm"))
        .await
        .unwrap();
    let shown = created.secret.expose();
    assert!(shown.starts_with("whsec_"));
    assert_eq!(created.subscription.secret, created.secret);
    assert_eq!(created.subscription.version, 1);
    assert!(created.subscription.active);
    let w = world.lock().unwrap();
    assert_eq!((w.subs.len(), w.commits), (1, 1));
    assert_eq!(w.events.len(), 1);
    let e = &w.events[0];
    assert_eq!(
        (e.event_type.as_str(), e.entity_type),
        ("webhook.created", EntityType::Webhook)
    );
    assert_eq!(e.data["event_types"], json!(["customer.*", "order.placed"]));
    assert_eq!(e.actor.request_id.as_deref(), Some("req-1"));
    let all = serde_json::to_string(&w.events).unwrap();
    assert!(!all.contains(shown.trim_start_matches("whsec_")));
    assert!(!format!("{created:?}").contains(shown.trim_start_matches("whsec_")));
}

#[tokio::test]
async fn every_use_case_needs_webhooks_manage() {
    let world = holding(vec![subscription(TENANT, SUB)]);
    let svc = service(world.clone());
    let manager = actor("manager");
    let forbidden = DomainError::Forbidden(Permission::WebhooksManage);
    assert_eq!(
        svc.create(&manager, input("https://a.example/"))
            .await
            .unwrap_err(),
        forbidden
    );
    assert_eq!(svc.get(&manager, SUB).await.unwrap_err(), forbidden);
    assert_eq!(svc.list(&manager, None, 20).await.unwrap_err(), forbidden);
    assert_eq!(
        svc.delete(&manager, SUB, None).await.unwrap_err(),
        forbidden
    );
    assert_eq!(
        svc.rotate_secret(&manager, SUB, None).await.unwrap_err(),
        forbidden
    );
    assert_eq!(
        svc.retry_delivery(&manager, SUB, DELIVERY)
            .await
            .unwrap_err(),
        forbidden
    );
    assert_eq!(world.lock().unwrap().commits, 0);
}

#[tokio::test]
async fn a_tenant_at_its_limit_gets_too_many_with_the_limit() {
    let subs = (0..3u128)
        .map(|i| subscription(TENANT, SubscriptionId(Uuid::from_u128(900 + i))))
        .collect();
    let world = holding(subs);
    let config = WebhookConfig {
        max_subscriptions: 3,
        ..WebhookConfig::default()
    };
    let err = service_at(world.clone(), config, now, ok())
        .create(&admin(), input("https://hooks.example.com/"))
        .await
        .unwrap_err();
    let DomainError::Validation(e) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        (e[0].field.as_str(), e[0].code, e[0].limit),
        ("webhooks", "too_many", Some(3))
    );
    assert_eq!(world.lock().unwrap().commits, 0);
    // Another tenant's subscriptions do not count.
    let other = holding(
        (0..3u128)
            .map(|i| subscription(OTHER, SubscriptionId(Uuid::from_u128(900 + i))))
            .collect(),
    );
    assert!(
        service_at(other, config, now, ok())
            .create(&admin(), input("https://hooks.example.com/"))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_private_target_is_refused_unless_configured() {
    let err = service(holding(vec![]))
        .create(&admin(), input("http://127.0.0.1:9000/hook"))
        .await
        .unwrap_err();
    assert_eq!(field_codes(err), vec![("url".into(), "insecure_scheme")]);
    let lax = WebhookConfig {
        allow_private: true,
        ..WebhookConfig::default()
    };
    assert!(
        service_at(holding(vec![]), lax, now, ok())
            .create(&admin(), input("http://127.0.0.1:9000/hook"))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn another_tenants_subscription_is_not_found() {
    let world = holding(vec![subscription(OTHER, SUB)]);
    let svc = service(world.clone());
    let nf = DomainError::NotFound { entity: "webhook" };
    assert_eq!(svc.get(&admin(), SUB).await.unwrap_err(), nf);
    assert_eq!(
        svc.patch(&admin(), SUB, &Set(json!({"active": false})), None)
            .await
            .unwrap_err(),
        nf
    );
    assert_eq!(svc.delete(&admin(), SUB, None).await.unwrap_err(), nf);
    assert_eq!(
        svc.deliveries(&admin(), SUB, None, 20).await.unwrap_err(),
        nf
    );
    assert!(svc.list(&admin(), None, 20).await.unwrap().items.is_empty());
}

#[tokio::test]
async fn a_patch_is_version_checked_and_records_its_changes() {
    let world = holding(vec![subscription(TENANT, SUB)]);
    let svc = service(world.clone());
    let stale = svc
        .patch(&admin(), SUB, &Set(json!({"event_types": ["*"]})), Some(2))
        .await
        .unwrap_err();
    assert_eq!(
        stale,
        DomainError::PreconditionFailed {
            expected: 2,
            current: 3
        }
    );
    let updated = svc
        .patch(&admin(), SUB, &Set(json!({"event_types": ["*"]})), Some(3))
        .await
        .unwrap();
    assert_eq!(updated.version, 4);
    assert_eq!(updated.event_types.to_strings(), ["*"]);
    let w = world.lock().unwrap();
    assert_eq!(w.events.len(), 1);
    assert_eq!(w.events[0].event_type, "webhook.updated");
    assert_eq!(
        w.events[0].changes["event_types"],
        [json!(["customer.*"]), json!(["*"])]
    );
}

#[tokio::test]
async fn a_patch_that_changes_nothing_writes_nothing() {
    let world = holding(vec![subscription(TENANT, SUB)]);
    let same = service(world.clone())
        .patch(&admin(), SUB, &Set(json!({})), None)
        .await
        .unwrap();
    assert_eq!(same.version, 3);
    assert!(world.lock().unwrap().events.is_empty());
}

#[tokio::test]
async fn reactivating_a_disabled_subscription_clears_its_failure() {
    let disabled = Subscription {
        active: false,
        failing_since: Some(now() - Duration::days(4)),
        disabled_reason: Some("failing".into()),
        ..subscription(TENANT, SUB)
    };
    let world = holding(vec![disabled]);
    let s = service(world)
        .patch(&admin(), SUB, &Set(json!({"active": true})), None)
        .await
        .unwrap();
    assert!(s.active);
    assert_eq!((s.failing_since, s.disabled_reason), (None, None));
}

#[tokio::test]
async fn rotating_returns_a_new_secret_once() {
    let world = holding(vec![subscription(TENANT, SUB)]);
    let old = world.lock().unwrap().subs[0].secret.clone();
    let rotated = service(world.clone())
        .rotate_secret(&admin(), SUB, None)
        .await
        .unwrap();
    assert_ne!(rotated.secret, old);
    assert_eq!(rotated.subscription.version, 4);
    let w = world.lock().unwrap();
    assert_eq!(w.subs[0].secret, rotated.secret);
    assert_eq!(w.events[0].event_type, "webhook.secret_rotated");
    assert!(
        !serde_json::to_string(&w.events)
            .unwrap()
            .contains(rotated.secret.expose().trim_start_matches("whsec_"))
    );
}

#[tokio::test]
async fn delete_removes_it_and_appends_webhook_deleted() {
    let world = holding(vec![subscription(TENANT, SUB)]);
    service(world.clone())
        .delete(&admin(), SUB, Some(3))
        .await
        .unwrap();
    let w = world.lock().unwrap();
    assert!(w.subs.is_empty());
    assert_eq!(w.events[0].event_type, "webhook.deleted");
    assert_eq!(w.commits, 1);
}

#[tokio::test]
async fn a_delivery_is_signed_so_a_receiver_verifies_it() {
    let sub = subscription(TENANT, SUB);
    let world = holding(vec![sub.clone()]);
    world.lock().unwrap().due = vec![due(sub.clone(), pending())];
    let run = service(world.clone())
        .deliver_due(now(), 100)
        .await
        .unwrap();
    assert_eq!((run.claimed, run.succeeded), (1, 1));
    let w = world.lock().unwrap();
    let (url, headers, body) = &w.sent[0];
    assert_eq!(url, &sub.url);
    verify(&sub.secret, headers, body, now().timestamp() + 5, 300).unwrap();
    let get = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("webhook-id"), Some(DELIVERY.message_id().as_str()));
    assert_eq!(get("content-type"), Some("application/json"));
    let json: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(json["type"], "customer.created");
    assert_eq!(json["data"]["id"], 41);
    let recorded = &w.recorded[0];
    assert_eq!(
        (
            recorded.status,
            recorded.attempts,
            recorded.last_response_code
        ),
        (DeliveryStatus::Succeeded, 1, Some(200))
    );
    assert!(w.events.is_empty(), "a healthy subscription is not written");
}

#[tokio::test]
async fn a_failed_attempt_is_retried_after_five_seconds_and_marks_the_subscription_failing() {
    let sub = subscription(TENANT, SUB);
    let world = holding(vec![sub.clone()]);
    world.lock().unwrap().due = vec![due(sub, pending())];
    let run = service_at(world.clone(), WebhookConfig::default(), now, unavailable())
        .deliver_due(now(), 100)
        .await
        .unwrap();
    assert_eq!((run.retrying, run.disabled.len()), (1, 0));
    let w = world.lock().unwrap();
    assert_eq!(
        (w.recorded[0].status, w.recorded[0].next_attempt_at),
        (DeliveryStatus::Pending, Some(now() + Duration::seconds(5)))
    );
    assert_eq!(w.recorded[0].last_error.as_deref(), Some("HTTP 503"));
    assert_eq!(w.subs[0].failing_since, Some(now()));
    assert_eq!(
        w.subs[0].version, 3,
        "bookkeeping does not move the version"
    );
}

#[tokio::test]
async fn a_subscription_failing_for_three_days_is_disabled_with_an_event() {
    let sub = Subscription {
        failing_since: Some(now() - Duration::days(3)),
        ..subscription(TENANT, SUB)
    };
    let world = holding(vec![sub.clone()]);
    world.lock().unwrap().due = vec![due(sub, pending())];
    let run = service_at(world.clone(), WebhookConfig::default(), now, unavailable())
        .deliver_due(now(), 100)
        .await
        .unwrap();
    assert_eq!(run.disabled, vec![SUB]);
    let w = world.lock().unwrap();
    assert!(!w.subs[0].active);
    assert_eq!(w.subs[0].version, 4);
    assert!(w.subs[0].disabled_reason.is_some());
    assert_eq!(w.events.len(), 1);
    let e = &w.events[0];
    assert_eq!(
        (e.event_type.as_str(), e.actor.sub.as_str()),
        ("webhook.disabled", "system")
    );
    assert_eq!(e.data["webhook_id"], json!(SUB));
}

#[tokio::test]
async fn failing_for_less_than_three_days_keeps_it_active() {
    let sub = Subscription {
        failing_since: Some(now() - Duration::days(3) + Duration::seconds(1)),
        ..subscription(TENANT, SUB)
    };
    let world = holding(vec![sub.clone()]);
    world.lock().unwrap().due = vec![due(sub, pending())];
    let run = service_at(world.clone(), WebhookConfig::default(), now, unavailable())
        .deliver_due(now(), 100)
        .await
        .unwrap();
    assert!(run.disabled.is_empty());
    assert!(world.lock().unwrap().subs[0].active);
}

#[tokio::test]
async fn a_success_clears_failing_since() {
    let sub = Subscription {
        failing_since: Some(now() - Duration::days(1)),
        ..subscription(TENANT, SUB)
    };
    let world = holding(vec![sub.clone()]);
    world.lock().unwrap().due = vec![due(sub, pending())];
    service(world.clone())
        .deliver_due(now(), 100)
        .await
        .unwrap();
    assert_eq!(world.lock().unwrap().subs[0].failing_since, None);
}

#[tokio::test]
async fn a_delivery_to_an_inactive_subscription_fails_without_an_attempt() {
    let sub = Subscription {
        active: false,
        ..subscription(TENANT, SUB)
    };
    let world = holding(vec![sub.clone()]);
    world.lock().unwrap().due = vec![due(sub, pending())];
    let run = service(world.clone())
        .deliver_due(now(), 100)
        .await
        .unwrap();
    assert_eq!(run.failed, 1);
    let w = world.lock().unwrap();
    assert!(w.sent.is_empty());
    assert_eq!(w.recorded[0].status, DeliveryStatus::Failed);
    assert_eq!(w.recorded[0].attempts, 0);
}

#[tokio::test]
async fn the_backoff_schedule_runs_on_the_test_clock_then_fails() {
    let sub = subscription(TENANT, SUB);
    let world = holding(vec![sub.clone()]);
    let mut delivery = pending();
    let mut at = now();
    let mut waits = Vec::new();
    for _ in 0..7 {
        world.lock().unwrap().due = vec![due(sub.clone(), delivery.clone())];
        let fixed = at;
        service_at(
            world.clone(),
            WebhookConfig::default(),
            move || fixed,
            unavailable(),
        )
        .deliver_due(at, 100)
        .await
        .unwrap();
        delivery = world.lock().unwrap().recorded.pop().unwrap();
        if let Some(next) = delivery.next_attempt_at {
            waits.push((next - at).num_seconds());
            at = next;
        }
    }
    assert_eq!(waits, RETRY_SCHEDULE_SECS);
    assert_eq!(
        (delivery.status, delivery.attempts),
        (DeliveryStatus::Failed, 7)
    );
}

#[tokio::test]
async fn a_manual_retry_makes_the_delivery_due_now_and_only_its_own_subscriptions() {
    let world = holding(vec![subscription(TENANT, SUB)]);
    let failed = Delivery {
        status: DeliveryStatus::Failed,
        attempts: 7,
        next_attempt_at: None,
        ..pending()
    };
    let elsewhere = Delivery {
        id: DeliveryId(Uuid::from_u128(601)),
        subscription_id: SubscriptionId(Uuid::from_u128(501)),
        ..pending()
    };
    world.lock().unwrap().deliveries = vec![failed, elsewhere.clone()];
    let svc = service(world.clone());
    let retried = svc.retry_delivery(&admin(), SUB, DELIVERY).await.unwrap();
    assert_eq!(
        (retried.status, retried.next_attempt_at, retried.attempts),
        (DeliveryStatus::Pending, Some(now()), 7)
    );
    assert_eq!(world.lock().unwrap().retried, vec![retried]);
    assert_eq!(
        svc.retry_delivery(&admin(), SUB, elsewhere.id)
            .await
            .unwrap_err(),
        DomainError::NotFound { entity: "delivery" }
    );
}

#[tokio::test]
async fn deliveries_are_listed_in_pages() {
    let world = holding(vec![subscription(TENANT, SUB)]);
    world.lock().unwrap().deliveries = (0..3u128)
        .map(|i| Delivery {
            id: DeliveryId(Uuid::from_u128(700 - i)),
            ..pending()
        })
        .collect();
    let page = service(world)
        .deliveries(&admin(), SUB, None, 2)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 2);
    assert_eq!(page.next, Some(DeliveryId(Uuid::from_u128(699))));
}

#[test]
fn only_matching_public_events_of_its_tenant_reach_a_subscription() {
    let sub = subscription(TENANT, SUB);
    assert!(sub.receives(&customer_event(TENANT)));
    assert!(!sub.receives(&customer_event(OTHER)));
    let mut order = customer_event(TENANT);
    order.event.event_type = "order.placed".into();
    assert!(!sub.receives(&order));
    let all = Subscription {
        event_types: EventTypeFilter::all(),
        ..sub.clone()
    };
    let mut internal = customer_event(TENANT);
    internal.event.event_type = "note.added".into();
    internal.event.data = json!({"is_internal": true});
    assert!(!all.receives(&internal));
    assert!(
        !Subscription {
            active: false,
            ..sub
        }
        .receives(&customer_event(TENANT))
    );
}

#[test]
fn fan_out_makes_one_pending_delivery_per_receiving_subscription() {
    let customers = subscription(TENANT, SUB);
    let orders = Subscription {
        id: SubscriptionId(Uuid::from_u128(501)),
        event_types: EventTypeFilter::parse("event_types", &["order.*"]).unwrap(),
        ..customers.clone()
    };
    let everything = Subscription {
        id: SubscriptionId(Uuid::from_u128(502)),
        event_types: EventTypeFilter::parse("event_types", &["*"]).unwrap(),
        ..customers.clone()
    };
    let subs = [customers, orders, everything];
    let mut n = 0u128;
    let made = fan_out(&subs, &[customer_event(TENANT)], now(), || {
        n += 1;
        Uuid::from_u128(n)
    });
    let to: Vec<SubscriptionId> = made.iter().map(|d| d.subscription_id).collect();
    assert_eq!(to, vec![SUB, SubscriptionId(Uuid::from_u128(502))]);
    assert!(made.iter().all(|d| d.status == DeliveryStatus::Pending
        && d.next_attempt_at == Some(now())
        && d.event_id == EventId(41)));
}

/// A receiver that takes the whole timeout to answer on `/slow`, and answers at once elsewhere.
struct SlowOnOnePath;

#[async_trait::async_trait]
impl WebhookSender for SlowOnOnePath {
    async fn send(
        &self,
        url: &Url,
        _headers: Vec<(String, String)>,
        _body: Vec<u8>,
        timeout: std::time::Duration,
    ) -> AttemptOutcome {
        if url.path() == "/slow" {
            tokio::time::sleep(timeout).await;
            return AttemptOutcome::Timeout {
                latency_ms: timeout.as_millis() as u64,
            };
        }
        ok()
    }
}

#[tokio::test(start_paused = true)]
async fn a_hanging_receiver_does_not_hold_up_the_rest_of_the_run() {
    let slow = Subscription {
        url: Url::parse("https://slow.example.com/slow").unwrap(),
        ..subscription(TENANT, SUB)
    };
    let fast_id = SubscriptionId(Uuid::from_u128(501));
    let fast = subscription(TENANT, fast_id);
    let world = holding(vec![slow.clone(), fast.clone()]);
    let fast_delivery = Delivery {
        id: DeliveryId(Uuid::from_u128(601)),
        subscription_id: fast_id,
        ..pending()
    };
    let mut deliveries = MockDeliveryRepository::new();
    let claimed = Mutex::new(vec![due(slow, pending()), due(fast, fast_delivery)]);
    deliveries
        .expect_claim_due()
        .returning(move |_, _, _| Ok(std::mem::take(&mut *claimed.lock().unwrap())));
    let w = world.clone();
    deliveries.expect_record_attempt().returning(move |d| {
        w.lock().unwrap().recorded.push(d.clone());
        Ok(())
    });
    let mut repo = MockWebhookRepository::new();
    let w = world.clone();
    repo.expect_begin()
        .returning(move |_| Ok(Box::new(transaction(w.clone()))));
    let service = WebhookService::new(
        Arc::new(repo),
        Arc::new(deliveries),
        Arc::new(SlowOnOnePath),
        Arc::new(clock(now)),
        Arc::new(ids()),
        Arc::new(random()),
        WebhookConfig::default(),
    );
    let started = tokio::time::Instant::now();
    let run = service.deliver_due(now(), 32).await.unwrap();
    assert_eq!((run.claimed, run.succeeded, run.retrying), (2, 1, 1));
    let w = world.lock().unwrap();
    let order: Vec<DeliveryId> = w.recorded.iter().map(|d| d.id).collect();
    assert_eq!(
        order,
        [DeliveryId(Uuid::from_u128(601)), DELIVERY],
        "the fast receiver's delivery is recorded before the hanging one times out"
    );
    assert_eq!(
        started.elapsed(),
        DELIVERY_TIMEOUT,
        "the run takes one timeout, not one per delivery"
    );
}
