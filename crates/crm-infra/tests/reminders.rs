//! Reminders on SQLite and PostgreSQL (issue 14): `follow_up.due` and `order.overdue` fire once
//! per due date, through the real service and repository; a new due date arms a reminder
//! again; and (PostgreSQL) concurrent runs, as replicas make them, emit each reminder once.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use crm_domain::customer::{CustomerInput, NewCustomer, ValidationContext};
use crm_domain::event::{EventFilter, EventRepository};
use crm_domain::order::{BulkOrder, OrderInput, OrderService, PaymentStatus};
use crm_domain::ports::{SystemClock, UuidV7Generator};
use crm_domain::reminder::{ReminderRun, ReminderService};
use crm_domain::tenant::{NewTenant, TenantService};
use crm_domain::values::{CountryCode, CurrencyCode};
use crm_domain::{Actor, CustomerId, TenantId, UserId};
use crm_infra::testing::{Backend, TestDatabase};
use crm_infra::{
    SeaCustomerRepository, SeaEventRepository, SeaOrderRepository, SeaReminderRepository,
    SeaTenantRepository,
};
use rust_decimal::Decimal;
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use uuid::Uuid;

struct App {
    db: TestDatabase,
    tenant: TenantId,
    orders: OrderService,
    reminders: ReminderService,
}

async fn app(backend: Backend) -> Option<App> {
    let db = TestDatabase::create(backend).await?;
    let d = db.db.clone();
    let tenant_repo = Arc::new(SeaTenantRepository::new(d.clone()));
    let clock = Arc::new(SystemClock);
    let ids = Arc::new(UuidV7Generator);
    let tenant = TenantService::new(tenant_repo.clone(), clock.clone(), ids.clone())
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
            Arc::new(SeaCustomerRepository::new(d.clone())),
            Arc::new(SeaOrderRepository::new(d.clone())),
            tenant_repo,
            clock,
            ids,
        ),
        reminders: ReminderService::new(Arc::new(SeaReminderRepository::new(d))),
        db,
    })
}

impl App {
    fn admin(&self) -> Actor {
        Actor::new(self.tenant, UserId::parse("boss").unwrap(), ["admin"], [])
    }

    /// One customer (payment terms 30 days) with one order of `payment` placed `days_ago`.
    async fn customer_with_order(
        &self,
        email: &str,
        payment: PaymentStatus,
        days_ago: i64,
    ) -> CustomerId {
        let ctx = ValidationContext {
            default_country: CountryCode::parse("ID"),
            default_currency: CurrencyCode::parse("IDR").unwrap(),
            today: Utc::now().date_naive(),
        };
        let c = NewCustomer {
            id: CustomerId(Uuid::now_v7()),
            tenant_id: self.tenant,
            profile: CustomerInput {
                name: Some("Budi".into()),
                email: Some(email.into()),
                payment_terms_days: Some(30),
                ..Default::default()
            }
            .validate(&ctx)
            .unwrap(),
            created_by: UserId::parse("boss"),
            created_at: Utc::now(),
            addresses: vec![],
            contacts: vec![],
        };
        let order = OrderInput {
            order_ref: Some(format!("INV-{email}")),
            total_amount: Some(Decimal::from(125_000)),
            payment_status: Some(payment),
            placed_at: Some(Utc::now() - Duration::days(days_ago)),
            ..Default::default()
        };
        self.orders
            .place_many(
                &self.admin(),
                std::slice::from_ref(&c),
                vec![BulkOrder {
                    key: 0,
                    customer_id: c.id,
                    input: order,
                }],
            )
            .await
            .unwrap();
        c.id
    }

    /// A follow-up row of `customer`, `status`, due at `due`.
    async fn follow_up(&self, customer: CustomerId, status: &str, due: DateTime<Utc>) -> Uuid {
        let id = Uuid::now_v7();
        let now = Utc::now().trunc_subsecs(6);
        let cols = [
            "tenant_id",
            "id",
            "customer_id",
            "title",
            "due_at",
            "assignee",
            "priority",
            "status",
            "version",
            "created_at",
            "updated_at",
        ];
        let insert = Query::insert()
            .into_table(Alias::new("follow_ups"))
            .columns(cols.map(Alias::new))
            .values_panic([
                self.tenant.0.into(),
                id.into(),
                customer.0.into(),
                "Call back".into(),
                due.trunc_subsecs(6).into(),
                "boss".into(),
                "high".into(),
                status.into(),
                1i64.into(),
                now.into(),
                now.into(),
            ])
            .take();
        let tx = self.db.db.system_tx().await.unwrap();
        let stmt = tx.get_database_backend().build(&insert);
        tx.execute_raw(stmt).await.unwrap();
        tx.commit().await.unwrap();
        id
    }

    async fn reschedule(&self, id: Uuid, due: DateTime<Utc>) {
        let update = Query::update()
            .table(Alias::new("follow_ups"))
            .value(Alias::new("due_at"), due.trunc_subsecs(6))
            .and_where(Expr::col(Alias::new("id")).eq(id))
            .take();
        let tx = self.db.db.system_tx().await.unwrap();
        let stmt = tx.get_database_backend().build(&update);
        tx.execute_raw(stmt).await.unwrap();
        tx.commit().await.unwrap();
    }

    /// The tenant's events of `event_type`.
    async fn count(&self, event_type: &str) -> usize {
        SeaEventRepository::new(self.db.db.clone())
            .list(
                self.tenant,
                EventFilter {
                    types: vec![event_type.to_owned()],
                    ..Default::default()
                },
                200,
            )
            .await
            .unwrap()
            .len()
    }
}

async fn reminders_fire_once_per_due_date(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let overdue = app
        .customer_with_order("late@x.id", PaymentStatus::Unpaid, 90)
        .await;
    app.customer_with_order("paid@x.id", PaymentStatus::Paid, 90)
        .await;
    app.customer_with_order("fresh@x.id", PaymentStatus::Unpaid, 0)
        .await;
    let hour = Duration::hours(1);
    let due = app.follow_up(overdue, "open", Utc::now() - hour).await;
    app.follow_up(overdue, "open", Utc::now() + Duration::days(1))
        .await;
    app.follow_up(overdue, "done", Utc::now() - hour).await;

    let run = app.reminders.run(Utc::now(), 100).await.unwrap();
    assert_eq!(
        run,
        ReminderRun {
            follow_ups_due: 1,
            orders_overdue: 1
        }
    );
    assert_eq!(
        app.reminders.run(Utc::now(), 100).await.unwrap(),
        ReminderRun::default()
    );
    let events = SeaEventRepository::new(app.db.db.clone())
        .list(
            app.tenant,
            EventFilter {
                types: vec!["follow_up.due".into(), "order.overdue".into()],
                ..Default::default()
            },
            10,
        )
        .await
        .unwrap();
    assert_eq!(events.len(), 2);
    assert!(
        events
            .iter()
            .all(|e| e.event.customer_id == Some(overdue) && e.event.actor.sub == "system")
    );
    let order_event = events
        .iter()
        .find(|e| e.event.event_type == "order.overdue")
        .unwrap();
    assert_eq!(order_event.event.data["total_amount"], "125000");
    assert_eq!(order_event.event.data["order_ref"], "INV-late@x.id");

    // Rescheduled: due again at its new date, once.
    app.reschedule(due, Utc::now() + hour).await;
    assert_eq!(
        app.reminders.run(Utc::now(), 100).await.unwrap(),
        ReminderRun::default()
    );
    let run = app.reminders.run(Utc::now() + hour * 2, 100).await.unwrap();
    assert_eq!(run.follow_ups_due, 1);
    assert_eq!(app.count("follow_up.due").await, 2);
}

async fn concurrent_runs_emit_each_reminder_once(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let app = Arc::new(app);
    let c = app
        .customer_with_order("many@x.id", PaymentStatus::Paid, 1)
        .await;
    for i in 0..60 {
        app.follow_up(c, "open", Utc::now() - Duration::minutes(i))
            .await;
    }
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move {
                let mut total = 0;
                loop {
                    let run = app.reminders.run(Utc::now(), 7).await.unwrap();
                    if run.follow_ups_due == 0 {
                        return total;
                    }
                    total += run.follow_ups_due;
                }
            })
        })
        .collect();
    let mut total = 0;
    for r in runs {
        total += r.await.unwrap();
    }
    assert_eq!(total, 60, "every reminder emitted by exactly one run");
    assert_eq!(app.count("follow_up.due").await, 60);
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
    reminders_fire_once_per_due_date,
    concurrent_runs_emit_each_reminder_once,
);
