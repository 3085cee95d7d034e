//! The event feed and the webhook outbox on SQLite and PostgreSQL (issue 14): the feed hands
//! out only events of finished transactions, in an order later commits extend (interleaved
//! transactions on PostgreSQL); appends fan out to the receiving subscriptions in their own
//! transaction; deliveries are claimed once, retried on the schedule of a test clock, and
//! (PostgreSQL) claimed disjointly by concurrent claimers.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, SubsecRound, Utc};
use crm_domain::event::{EntityType, EventFeed, EventTypeFilter, FeedFilter, NewEvent};
use crm_domain::ports::{Clock, SystemRandom, UuidV7Generator};
use crm_domain::tenant::{Tenant, TenantRepository};
use crm_domain::values::{CountryCode, CurrencyCode};
use crm_domain::webhook::{
    AttemptOutcome, CLAIM_LEASE, DeliveryRepository, DeliveryStatus, MockWebhookSender,
    WebhookConfig, WebhookInput, WebhookService,
};
use crm_domain::{Actor, CustomerId, TenantId, UserId};
use crm_infra::testing::{Backend, TestDatabase};
use crm_infra::{
    SeaDeliveryRepository, SeaEventFeed, SeaTenantRepository, SeaWebhookRepository, events,
};
use uuid::Uuid;

async fn tenant(db: &TestDatabase) -> TenantId {
    let t = Tenant {
        id: TenantId(Uuid::now_v7()),
        name: "A".into(),
        default_country: CountryCode::parse("ID"),
        default_currency: CurrencyCode::parse("IDR").unwrap(),
        settings: Default::default(),
        created_at: Utc::now().trunc_subsecs(6),
    };
    SeaTenantRepository::new(db.db.clone())
        .insert(&t, &[])
        .await
        .unwrap();
    t.id
}

fn admin(tenant: TenantId) -> Actor {
    Actor::new(tenant, UserId::parse("root").unwrap(), ["admin"], [])
}

fn event(tenant: TenantId, event_type: &str, customer: CustomerId) -> NewEvent {
    NewEvent::new(
        &admin(tenant),
        event_type,
        EntityType::Customer,
        customer.0,
        Utc::now().trunc_subsecs(6),
    )
    .customer(customer)
}

/// Appends `events` in a transaction of their own and commits.
async fn append(db: &TestDatabase, tenant: TenantId, events: &[NewEvent]) {
    let tx = db.db.tenant_tx(tenant).await.unwrap();
    events::append(&tx, events).await.unwrap();
    tx.commit().await.unwrap();
}

/// Reads the tenant's feed after `from` until `n` events came (or 20 s passed), resuming after
/// the last position each time, and checks the positions increase. An event is visible to the
/// feed only once every transaction of the cluster that started before its own has finished
/// (other tests' databases included), so a read right after a commit may return less.
async fn drain(
    feed: &SeaEventFeed,
    tenant: TenantId,
    mut from: Option<crm_domain::event::FeedPosition>,
    n: usize,
) -> Vec<crm_domain::event::FeedItem> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut out: Vec<crm_domain::event::FeedItem> = Vec::new();
    while out.len() < n && std::time::Instant::now() < deadline {
        let page = feed
            .after(tenant, from, FeedFilter::default(), 200)
            .await
            .unwrap();
        if let Some(last) = page.last() {
            from = Some(last.position);
        } else {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        out.extend(page);
    }
    assert!(
        out.windows(2).all(|w| w[0].position < w[1].position),
        "feed positions increase"
    );
    assert_eq!(out.len(), n, "events read: {out:?}");
    out
}

fn types_of(items: &[crm_domain::event::FeedItem]) -> Vec<&str> {
    items
        .iter()
        .map(|i| i.event.event.event_type.as_str())
        .collect()
}

/// The types of the tenant's feed after `from`, in feed order.
async fn feed_types(
    feed: &SeaEventFeed,
    tenant: TenantId,
    from: Option<crm_domain::event::FeedPosition>,
) -> Vec<String> {
    feed.after(tenant, from, FeedFilter::default(), 200)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.event.event.event_type)
        .collect()
}

async fn the_feed_hands_out_finished_transactions_in_an_order_commits_extend(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let (a, b) = (tenant(&db).await, tenant(&db).await);
    let feed = SeaEventFeed::new(db.db.clone());
    let (c1, c2) = (CustomerId(Uuid::now_v7()), CustomerId(Uuid::now_v7()));
    append(&db, a, &[event(a, "customer.created", c1)]).await;
    append(&db, a, &[event(a, "order.placed", c2)]).await;
    append(&db, b, &[event(b, "customer.created", c1)]).await;
    let first = drain(&feed, a, None, 2).await;
    assert_eq!(
        types_of(&first),
        ["customer.created", "order.placed"],
        "another tenant's event is not in the feed"
    );
    assert!(first[0].position < first[1].position);
    let start = first[1].position;
    assert_eq!(feed.head(a).await.unwrap(), Some(start));
    assert_eq!(
        feed.position_of(a, first[0].event.id).await.unwrap(),
        Some(first[0].position)
    );
    let b_event = feed.head(b).await.unwrap().unwrap().id;
    assert_eq!(feed.position_of(a, b_event).await.unwrap(), None);
    let types = EventTypeFilter::parse_list("types", "order.*").unwrap();
    let only_orders = feed
        .after(
            a,
            None,
            FeedFilter {
                types,
                customer_id: None,
            },
            200,
        )
        .await
        .unwrap();
    assert_eq!(only_orders.len(), 1);
    assert_eq!(only_orders[0].event.event.event_type, "order.placed");
    let only_c1 = feed
        .after(
            a,
            None,
            FeedFilter {
                types: EventTypeFilter::all(),
                customer_id: Some(c1),
            },
            200,
        )
        .await
        .unwrap();
    assert_eq!(only_c1.len(), 1);

    if backend != Backend::Postgres {
        return; // SQLite's one writer commits ids in order: no interleaving to test.
    }
    // The classic gap: A takes the smaller event id, B the larger and commits first.
    let tx_a = db.db.tenant_tx(a).await.unwrap();
    events::append(&tx_a, &[event(a, "customer.a_first", c1)])
        .await
        .unwrap();
    let tx_b = db.db.tenant_tx(a).await.unwrap();
    events::append(&tx_b, &[event(a, "customer.b_second", c1)])
        .await
        .unwrap();
    tx_b.commit().await.unwrap();
    assert_eq!(
        feed_types(&feed, a, Some(start)).await,
        Vec::<String>::new(),
        "B's event waits while A, which started before it, runs"
    );
    tx_a.commit().await.unwrap();
    let after = drain(&feed, a, Some(start), 2).await;
    assert_eq!(types_of(&after), ["customer.a_first", "customer.b_second"]);
    let start = after[1].position;

    // The other way round: B's transaction takes its id first but writes its event last, and
    // A commits first. B's event still comes first in the feed (smaller transaction id), and
    // nothing is handed out while B runs, so no reader has moved past it.
    let tx_b = db.db.tenant_tx(a).await.unwrap();
    let _ = sea_orm::ConnectionTrait::execute_unprepared(&tx_b, "SELECT pg_current_xact_id()")
        .await
        .unwrap();
    let tx_a = db.db.tenant_tx(a).await.unwrap();
    events::append(&tx_a, &[event(a, "customer.a_late", c1)])
        .await
        .unwrap();
    events::append(&tx_b, &[event(a, "customer.b_early", c1)])
        .await
        .unwrap();
    tx_a.commit().await.unwrap();
    assert_eq!(
        feed_types(&feed, a, Some(start)).await,
        Vec::<String>::new()
    );
    tx_b.commit().await.unwrap();
    assert_eq!(
        types_of(&drain(&feed, a, Some(start), 2).await),
        ["customer.b_early", "customer.a_late"]
    );
    // A rolled-back transaction leaves nothing behind and does not hold the feed afterwards.
    let tx_c = db.db.tenant_tx(a).await.unwrap();
    events::append(&tx_c, &[event(a, "customer.rolled_back", c1)])
        .await
        .unwrap();
    drop(tx_c);
    append(&db, a, &[event(a, "customer.after_rollback", c1)]).await;
    assert_eq!(
        types_of(&drain(&feed, a, Some(start), 3).await),
        [
            "customer.b_early",
            "customer.a_late",
            "customer.after_rollback"
        ]
    );
}

/// A clock the test moves.
struct TestClock(Mutex<DateTime<Utc>>);

impl TestClock {
    fn set(&self, t: DateTime<Utc>) {
        *self.0.lock().unwrap() = t;
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

fn service(db: &TestDatabase, sender: MockWebhookSender, clock: Arc<TestClock>) -> WebhookService {
    WebhookService::new(
        Arc::new(SeaWebhookRepository::new(db.db.clone())),
        Arc::new(SeaDeliveryRepository::new(db.db.clone())),
        Arc::new(sender),
        clock,
        Arc::new(UuidV7Generator),
        Arc::new(SystemRandom),
        WebhookConfig {
            allow_private: true,
            ..WebhookConfig::default()
        },
    )
}

fn input(types: &[&str], active: bool) -> WebhookInput {
    WebhookInput {
        url: Some("http://127.0.0.1:9/hook".into()),
        event_types: Some(types.iter().map(|t| (*t).to_owned()).collect()),
        description: None,
        active: Some(active),
    }
}

async fn appends_fan_out_to_receiving_subscriptions_in_their_transaction(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let (a, b) = (tenant(&db).await, tenant(&db).await);
    let clock = Arc::new(TestClock(Mutex::new(Utc::now().trunc_subsecs(6))));
    let hooks = service(&db, MockWebhookSender::new(), clock);
    let customers = hooks
        .create(&admin(a), input(&["customer.*"], true))
        .await
        .unwrap()
        .subscription;
    let orders = hooks
        .create(&admin(a), input(&["order.placed"], true))
        .await
        .unwrap()
        .subscription;
    let inactive = hooks
        .create(&admin(a), input(&["*"], false))
        .await
        .unwrap()
        .subscription;
    let c = CustomerId(Uuid::now_v7());
    append(
        &db,
        a,
        &[
            event(a, "customer.created", c),
            event(a, "customer.updated", c),
        ],
    )
    .await;
    // Rolled back: no delivery.
    let tx = db.db.tenant_tx(a).await.unwrap();
    events::append(&tx, &[event(a, "customer.deleted", c)])
        .await
        .unwrap();
    drop(tx);
    // Another tenant's events reach none of a's subscriptions.
    append(&db, b, &[event(b, "customer.created", c)]).await;
    let deliveries = SeaDeliveryRepository::new(db.db.clone());
    let to_customers = deliveries.list(a, customers.id, None, 50).await.unwrap();
    assert_eq!(to_customers.len(), 2, "{to_customers:?}");
    assert!(
        to_customers
            .iter()
            .all(|d| d.status == DeliveryStatus::Pending
                && d.attempts == 0
                && d.next_attempt_at.is_some())
    );
    assert!(
        deliveries
            .list(a, orders.id, None, 50)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        deliveries
            .list(a, inactive.id, None, 50)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        deliveries
            .list(b, customers.id, None, 50)
            .await
            .unwrap()
            .is_empty(),
        "another tenant reads none of them"
    );
    // Newest first, paged below `after`.
    let page = deliveries
        .list(a, customers.id, Some(to_customers[0].id), 50)
        .await
        .unwrap();
    assert_eq!(page, vec![to_customers[1].clone()]);
    // Deleting the subscription deletes its deliveries.
    hooks.delete(&admin(a), customers.id, None).await.unwrap();
    assert!(
        deliveries
            .get(a, to_customers[0].id)
            .await
            .unwrap()
            .is_none()
    );
}

async fn deliveries_are_claimed_once_and_retried_on_the_test_clock(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let a = tenant(&db).await;
    let t0 = Utc::now().trunc_subsecs(6) + Duration::seconds(1);
    let clock = Arc::new(TestClock(Mutex::new(t0)));
    let answers = Arc::new(Mutex::new(vec![200u16, 500]));
    let mut sender = MockWebhookSender::new();
    let from_sender = answers.clone();
    sender.expect_send().returning(move |_, headers, _, _| {
        assert!(headers.iter().any(|(k, _)| k == "webhook-signature"));
        let status = from_sender.lock().unwrap().pop().unwrap();
        AttemptOutcome::Response {
            status,
            latency_ms: 3,
        }
    });
    let hooks = service(&db, sender, clock.clone());
    let sub = hooks
        .create(&admin(a), input(&["customer.*"], true))
        .await
        .unwrap()
        .subscription;
    append(
        &db,
        a,
        &[event(a, "customer.created", CustomerId(Uuid::now_v7()))],
    )
    .await;
    let deliveries = SeaDeliveryRepository::new(db.db.clone());

    // A claim holds the delivery for the lease: a second claimer at the same time gets none.
    let claimed = deliveries.claim_due(t0, CLAIM_LEASE, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].subscription.id, sub.id);
    assert_eq!(claimed[0].event.event.event_type, "customer.created");
    assert!(
        deliveries
            .claim_due(t0, CLAIM_LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // After the lease (the claimer died), it is due again; the receiver answers 500.
    let t1 = t0 + Duration::seconds(61);
    clock.set(t1);
    let run = hooks.deliver_due(t1, 10).await.unwrap();
    assert_eq!((run.claimed, run.retrying), (1, 1), "{run:?}");
    let d = deliveries
        .list(a, sub.id, None, 10)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        (d.status, d.attempts, d.last_response_code),
        (DeliveryStatus::Pending, 1, Some(500))
    );
    let wait = d.next_attempt_at.unwrap() - t1;
    assert!(
        (Duration::milliseconds(4_500)..=Duration::milliseconds(5_500)).contains(&wait),
        "the first retry waits 5 s ± 10 %: {wait}"
    );
    // Not yet due 4 s later; due after 6 s, and the receiver now answers 200.
    assert_eq!(
        hooks
            .deliver_due(t1 + Duration::seconds(4), 10)
            .await
            .unwrap()
            .claimed,
        0
    );
    let t2 = t1 + Duration::seconds(6);
    clock.set(t2);
    let run = hooks.deliver_due(t2, 10).await.unwrap();
    assert_eq!((run.claimed, run.succeeded), (1, 1), "{run:?}");
    let d = deliveries.get(a, d.id).await.unwrap().unwrap();
    assert_eq!(
        (d.status, d.attempts, d.next_attempt_at),
        (DeliveryStatus::Succeeded, 2, None)
    );
    assert!(answers.lock().unwrap().is_empty());
}

async fn concurrent_claimers_get_disjoint_deliveries(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let a = tenant(&db).await;
    let clock = Arc::new(TestClock(Mutex::new(Utc::now().trunc_subsecs(6))));
    let hooks = service(&db, MockWebhookSender::new(), clock);
    hooks
        .create(&admin(a), input(&["customer.*"], true))
        .await
        .unwrap();
    let c = CustomerId(Uuid::now_v7());
    let batch: Vec<NewEvent> = (0..40).map(|_| event(a, "customer.updated", c)).collect();
    append(&db, a, &batch).await;
    let later = Utc::now() + Duration::seconds(5);
    let claimers: Vec<_> = (0..4)
        .map(|_| {
            let repo = SeaDeliveryRepository::new(db.db.clone());
            tokio::spawn(async move { repo.claim_due(later, CLAIM_LEASE, 15).await.unwrap() })
        })
        .collect();
    let mut seen = HashSet::new();
    let mut total = 0;
    for c in claimers {
        for d in c.await.unwrap() {
            total += 1;
            assert!(
                seen.insert(d.delivery.id),
                "claimed twice: {:?}",
                d.delivery.id
            );
        }
    }
    assert_eq!(
        total, 40,
        "every due delivery is claimed by exactly one claimer"
    );
}

macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() { super::$test(crm_infra::testing::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() { super::$test(crm_infra::testing::Backend::Postgres).await })*
        }
    };
}

on_both_backends!(
    the_feed_hands_out_finished_transactions_in_an_order_commits_extend,
    appends_fan_out_to_receiving_subscriptions_in_their_transaction,
    deliveries_are_claimed_once_and_retried_on_the_test_clock,
    concurrent_claimers_get_disjoint_deliveries,
);
