//! The events of orders, points, tiers, segments and tenant settings (issue 13) on SQLite and
//! PostgreSQL, through the real services and repositories: each write's events are read back
//! with [`SeaEventRepository::list`], and a write that fails or is rolled back leaves none.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use crm_domain::customer::{CustomerInput, NewCustomer, ValidationContext};
use crm_domain::event::{EventFilter, EventRepository};
use crm_domain::ids::OrderId;
use crm_domain::loyalty::{LoyaltyService, TierInput, TierService};
use crm_domain::order::{BulkOrder, OrderChange, OrderInput, OrderService, OrderStatus};
use crm_domain::ports::{SystemClock, UuidV7Generator};
use crm_domain::segment::{SegmentInput, SegmentService};
use crm_domain::tenant::{NewTenant, TenantService};
use crm_domain::values::{CountryCode, CurrencyCode};
use crm_domain::{Actor, CustomerId, TenantId, UserId};
use crm_infra::testing::{Backend, TestDatabase};
use crm_infra::{
    SeaCustomerRepository, SeaEventRepository, SeaOrderRepository, SeaSegmentRepository,
    SeaTenantRepository, SeaTierRepository,
};
use rust_decimal::Decimal;
use serde_json::json;
use uuid::Uuid;

struct App {
    db: TestDatabase,
    tenant: TenantId,
    orders: OrderService,
    loyalty: LoyaltyService,
    tiers: TierService,
    segments: SegmentService,
    tenants: TenantService,
}

async fn app(backend: Backend) -> Option<App> {
    let db = TestDatabase::create(backend).await?;
    let d = db.db.clone();
    let customers = Arc::new(SeaCustomerRepository::new(d.clone()));
    let orders = Arc::new(SeaOrderRepository::new(d.clone()));
    let tenant_repo = Arc::new(SeaTenantRepository::new(d.clone()));
    let clock = Arc::new(SystemClock);
    let ids = Arc::new(UuidV7Generator);
    let tenants = TenantService::new(tenant_repo.clone(), clock.clone(), ids.clone());
    let tenant = tenants
        .create(NewTenant {
            name: "Shop".into(),
            country: Some("ID".into()),
            currency: Some("IDR".into()),
        })
        .await
        .unwrap()
        .id;
    Some(App {
        tenant,
        orders: OrderService::new(
            customers.clone(),
            orders.clone(),
            tenant_repo.clone(),
            clock.clone(),
            ids.clone(),
        ),
        loyalty: LoyaltyService::new(
            customers.clone(),
            orders,
            tenant_repo.clone(),
            clock.clone(),
            ids.clone(),
        ),
        tiers: TierService::new(
            Arc::new(SeaTierRepository::new(d.clone())),
            ids.clone(),
            clock.clone(),
        ),
        segments: SegmentService::new(
            Arc::new(SeaSegmentRepository::new(d.clone())),
            customers,
            tenant_repo,
            clock,
            ids,
        ),
        tenants,
        db,
    })
}

impl App {
    fn admin(&self) -> Actor {
        Actor::new(self.tenant, UserId::parse("boss").unwrap(), ["admin"], [])
            .with_request_id("req-1")
    }

    fn repo(&self) -> SeaEventRepository {
        SeaEventRepository::new(self.db.db.clone())
    }

    /// The tenant's event types, oldest first.
    async fn types(&self, filter: EventFilter) -> Vec<String> {
        let mut out: Vec<String> = self
            .repo()
            .list(self.tenant, filter, 200)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.event.event_type)
            .collect();
        out.reverse();
        out
    }

    fn new_customer(&self, email: &str) -> NewCustomer {
        let ctx = ValidationContext {
            default_country: CountryCode::parse("ID"),
            default_currency: CurrencyCode::parse("IDR").unwrap(),
            today: chrono::Utc::now().date_naive(),
        };
        NewCustomer {
            id: CustomerId(Uuid::now_v7()),
            tenant_id: self.tenant,
            profile: CustomerInput {
                name: Some("Budi".into()),
                email: Some(email.into()),
                ..Default::default()
            }
            .validate(&ctx)
            .unwrap(),
            created_by: UserId::parse("boss"),
            created_at: chrono::Utc::now(),
            addresses: vec![],
            contacts: vec![],
        }
    }

    /// Customers created with one completed order each through `place_many`.
    async fn customers(&self, emails: &[&str]) -> Vec<CustomerId> {
        let news: Vec<NewCustomer> = emails.iter().map(|e| self.new_customer(e)).collect();
        let orders = news
            .iter()
            .enumerate()
            .map(|(i, c)| BulkOrder {
                key: i as u64,
                customer_id: c.id,
                input: order("SEED", i, 10_000),
            })
            .collect();
        self.orders
            .place_many(&self.admin(), &news, orders)
            .await
            .unwrap();
        news.iter().map(|c| c.id).collect()
    }
}

fn order(prefix: &str, i: usize, total: i64) -> OrderInput {
    OrderInput {
        order_ref: Some(format!("{prefix}-{i}")),
        total_amount: Some(Decimal::from(total)),
        ..Default::default()
    }
}

fn of(customer: CustomerId) -> EventFilter {
    EventFilter {
        customer_id: Some(customer),
        ..Default::default()
    }
}

async fn orders_points_and_tier_changes_append_their_events_with_their_writes(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let admin = app.admin();
    let news = vec![app.new_customer("ana@example.com")];
    let ana = news[0].id;
    // Rolled back: a batch placed in a transaction that is dropped leaves no event.
    {
        let mut tx = app.orders.begin_bulk(app.tenant).await.unwrap();
        let batch = vec![BulkOrder {
            key: 1,
            customer_id: ana,
            input: order("R", 1, 1_000_000),
        }];
        app.orders
            .place_many_in(&admin, tx.as_mut(), &news, batch)
            .await
            .unwrap();
    }
    assert!(app.types(EventFilter::default()).await.is_empty());

    // 2,500,000 IDR reaches Silver (default tiers): points and the tier change follow.
    let batch = vec![
        BulkOrder {
            key: 1,
            customer_id: ana,
            input: order("A", 1, 500_000),
        },
        BulkOrder {
            key: 2,
            customer_id: ana,
            input: order("A", 2, 2_000_000),
        },
    ];
    app.orders.place_many(&admin, &news, batch).await.unwrap();
    let types = app.types(of(ana)).await;
    assert_eq!(types[0], "customer.created");
    assert_eq!(
        types.iter().filter(|t| *t == "order.placed").count(),
        2,
        "{types:?}"
    );
    assert_eq!(
        types.iter().filter(|t| *t == "points.earned").count(),
        2,
        "{types:?}"
    );
    assert!(types.contains(&"tier.changed".to_owned()), "{types:?}");
    let events = app.repo().list(app.tenant, of(ana), 50).await.unwrap();
    let placed = events
        .iter()
        .find(|e| e.event.event_type == "order.placed")
        .unwrap();
    assert_eq!(placed.event.data["total_amount"], "2000000");
    assert_eq!(placed.event.data["currency"], "IDR");
    assert_eq!(placed.event.actor.sub, "boss");
    assert_eq!(placed.event.actor.request_id.as_deref(), Some("req-1"));
    let earned = events
        .iter()
        .find(|e| e.event.event_type == "points.earned")
        .unwrap();
    assert_eq!(earned.event.data["points"], 200);
    assert_eq!(earned.event.data["balance_after"], 250);

    // A refund: order.refunded with its change and the points taken back.
    let order_id =
        OrderId(uuid::Uuid::parse_str(placed.event.data["order_id"].as_str().unwrap()).unwrap());
    app.orders
        .change(
            &admin,
            order_id,
            OrderChange {
                status: Some(OrderStatus::Refunded),
                payment_status: None,
            },
            None,
        )
        .await
        .unwrap();
    let latest = app.repo().list(app.tenant, of(ana), 50).await.unwrap();
    let refunded = latest
        .iter()
        .find(|e| e.event.event_type == "order.refunded")
        .unwrap();
    assert_eq!(
        refunded.event.changes["status"],
        [json!("completed"), json!("refunded")]
    );
    let reversed = latest
        .iter()
        .find(|e| e.event.event_type == "points.reversed")
        .unwrap();
    assert_eq!(reversed.event.data["balance_after"], 50);

    // A refused redemption writes nothing; an accepted one appends points.redeemed.
    let before = app.types(EventFilter::default()).await.len();
    app.loyalty
        .redeem(&admin, ana, 51, "voucher")
        .await
        .unwrap_err();
    assert_eq!(app.types(EventFilter::default()).await.len(), before);
    app.loyalty
        .redeem(&admin, ana, 20, "voucher")
        .await
        .unwrap();
    let last = app.repo().list(app.tenant, of(ana), 1).await.unwrap();
    assert_eq!(last[0].event.event_type, "points.redeemed");
    assert_eq!(last[0].event.data["balance_after"], 30);
}

async fn tier_definitions_append_their_events_and_a_refused_write_none(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let admin = app.admin();
    let input = TierInput {
        name: Some("Diamond".into()),
        level: Some(9),
        min_spend: Some(Decimal::from(90_000_000)),
        discount_percent: Some(Decimal::from(20)),
        benefits: None,
        colour: None,
    };
    let t = app.tiers.create(&admin, input.clone()).await.unwrap();
    // The same name again: the insert fails, its event is not stored.
    app.tiers
        .create(
            &admin,
            TierInput {
                level: Some(10),
                ..input.clone()
            },
        )
        .await
        .unwrap_err();
    app.tiers
        .replace(
            &admin,
            t.id,
            TierInput {
                min_spend: Some(Decimal::from(95_000_000)),
                ..input
            },
        )
        .await
        .unwrap();
    // A tier a customer holds is not deleted: no event.
    let ana = app.customers(&["ana@example.com"]).await[0];
    let held = app
        .loyalty
        .assign_tier(&admin, ana, Some(t.id), "key account")
        .await
        .unwrap();
    assert_eq!(held.loyalty.tier_id, Some(t.id));
    app.tiers.delete(&admin, t.id).await.unwrap_err();
    let definitions = EventFilter {
        entity_type: Some(crm_domain::event::EntityType::Tier),
        ..Default::default()
    };
    assert_eq!(
        app.types(definitions.clone()).await,
        ["tier.created", "tier.updated"]
    );
    let events = app.repo().list(app.tenant, definitions, 10).await.unwrap();
    assert_eq!(
        events[0].event.changes["min_spend"],
        [json!("90000000"), json!("95000000")]
    );
    assert_eq!(events[0].event.customer_id, None);
    assert_eq!(events[0].event.entity_id, t.id.0);
    let changed = EventFilter {
        types: vec!["tier.changed".into()],
        ..of(ana)
    };
    let latest = app.repo().list(app.tenant, changed, 1).await.unwrap();
    assert_eq!(latest[0].event.data["reason"], "key account");
    assert_eq!(latest[0].event.data["to_tier"], "Diamond");
    assert_eq!(latest[0].event.customer_id, Some(ana));
}

async fn segment_writes_append_one_event_per_changed_membership(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let admin = app.admin();
    let c = app
        .customers(&["a@example.com", "b@example.com", "c@example.com"])
        .await;
    let s = app
        .segments
        .create(
            &admin,
            SegmentInput {
                name: Some("VIP".into()),
                segment_type: Some("manual".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .segment;
    app.segments
        .add_members(&admin, s.id, vec![c[0], c[1]])
        .await
        .unwrap();
    // Already a member: no second event. An unknown id fails the whole call: none.
    app.segments
        .add_members(&admin, s.id, vec![c[0]])
        .await
        .unwrap();
    app.segments
        .add_members(&admin, s.id, vec![c[2], CustomerId(Uuid::now_v7())])
        .await
        .unwrap_err();
    // c[2] is not a member: only c[1]'s removal is an event.
    app.segments
        .remove_members(&admin, s.id, vec![c[1], c[2]])
        .await
        .unwrap();
    // The delete drops c[0], the member left: its `segment.member_removed`.
    app.segments.delete(&admin, s.id).await.unwrap();
    let seg = EventFilter {
        types: vec!["segment.*".into()],
        ..Default::default()
    };
    assert_eq!(
        app.types(seg.clone()).await,
        [
            "segment.created",
            "segment.member_added",
            "segment.member_added",
            "segment.member_removed",
            "segment.member_removed",
            "segment.deleted"
        ]
    );
    let events = app.repo().list(app.tenant, seg, 10).await.unwrap();
    let members: Vec<_> = events
        .iter()
        .filter(|e| e.event.event_type.starts_with("segment.member"))
        .map(|e| (e.event.event_type.as_str(), e.event.customer_id))
        .collect();
    assert_eq!(
        members,
        [
            // The delete drops c[0], still a member.
            ("segment.member_removed", Some(c[0])),
            ("segment.member_removed", Some(c[1])),
            ("segment.member_added", Some(c[1])),
            ("segment.member_added", Some(c[0])),
        ]
    );
    assert!(
        app.types(of(c[2]))
            .await
            .iter()
            .all(|t| !t.starts_with("segment."))
    );
}

async fn a_settings_update_appends_its_changes_and_a_refused_one_nothing(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let admin = app.admin();
    let patch = |v: serde_json::Value| v.as_object().cloned().unwrap();
    app.tenants
        .update_settings(&admin, patch(json!({"points_unit": "5000"})))
        .await
        .unwrap();
    app.tenants
        .update_settings(&admin, patch(json!({"points_unit": "-1"})))
        .await
        .unwrap_err();
    let events = app
        .repo()
        .list(app.tenant, EventFilter::default(), 10)
        .await
        .unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0].event;
    assert_eq!(e.event_type, "tenant.settings_updated");
    assert_eq!(e.entity_id, app.tenant.0);
    assert_eq!(e.changes["points_unit"], [json!(null), json!("5000")]);
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
    orders_points_and_tier_changes_append_their_events_with_their_writes,
    tier_definitions_append_their_events_and_a_refused_write_none,
    segment_writes_append_one_event_per_changed_membership,
    a_settings_update_appends_its_changes_and_a_refused_one_nothing,
);
