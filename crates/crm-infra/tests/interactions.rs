//! Interactions and follow-ups on SQLite and PostgreSQL through the real repositories: the
//! customer's `last_contact_at` / `next_follow_up_at` as SQL `MAX` / `MIN` give them (with
//! microsecond times, which SQLite compares as text), its version bumped, and the events of
//! each write read back from the log with their customer, actor and changes.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use chrono::{Duration, SubsecRound, Utc};
use crm_domain::customer::{CustomerInput, CustomerRepository, NewCustomer, ValidationContext};
use crm_domain::event::{EventFilter, EventRepository};
use crm_domain::interaction::{
    FollowUp, FollowUpInput, FollowUpPatch, InteractionInput, InteractionService,
};
use crm_domain::ports::{SystemClock, UuidV7Generator};
use crm_domain::tenant::{Tenant, TenantRepository};
use crm_domain::values::{CountryCode, CurrencyCode};
use crm_domain::{Actor, CustomerId, DomainError, TenantId, UserId};
use crm_infra::testing::{Backend, TestDatabase};
use crm_infra::{
    SeaCustomerRepository, SeaEventRepository, SeaInteractionRepository, SeaTenantRepository,
};
use serde_json::json;
use uuid::Uuid;

struct Done;

impl FollowUpPatch for Done {
    fn apply(&self, c: &FollowUp) -> Result<FollowUpInput, DomainError> {
        Ok(FollowUpInput {
            title: Some(c.details.title.clone()),
            due_at: Some(c.details.due_at),
            status: Some("done".into()),
            ..Default::default()
        })
    }
}

async fn derived_dates_and_events_are_written_in_the_transaction(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let t = Tenant {
        id: TenantId(Uuid::now_v7()),
        name: "A".into(),
        default_country: CountryCode::parse("ID"),
        default_currency: CurrencyCode::parse("IDR").unwrap(),
        settings: Default::default(),
        created_at: Utc::now().trunc_subsecs(6),
    };
    let tenants = Arc::new(SeaTenantRepository::new(db.db.clone()));
    tenants.insert(&t, &[]).await.unwrap();
    let customers = Arc::new(SeaCustomerRepository::new(db.db.clone()));
    let customer = CustomerId(Uuid::now_v7());
    let ctx = ValidationContext {
        default_country: CountryCode::parse("ID"),
        default_currency: CurrencyCode::parse("IDR").unwrap(),
        today: Utc::now().date_naive(),
    };
    customers
        .create(
            NewCustomer {
                id: customer,
                tenant_id: t.id,
                profile: CustomerInput {
                    name: Some("Maju".into()),
                    email: Some("maju@x.co.id".into()),
                    ..Default::default()
                }
                .validate(&ctx)
                .unwrap(),
                created_by: UserId::parse("tester"),
                created_at: Utc::now().trunc_subsecs(6),
                addresses: Vec::new(),
                contacts: Vec::new(),
            },
            None,
            vec![],
        )
        .await
        .unwrap();
    let svc = InteractionService::new(
        Arc::new(SeaInteractionRepository::new(db.db.clone())),
        customers.clone(),
        tenants,
        Arc::new(SystemClock),
        Arc::new(UuidV7Generator),
    );
    let me = Actor::new(t.id, UserId::parse("u-1").unwrap(), ["sales"], []).with_request_id("r-1");
    let now = Utc::now().trunc_subsecs(6);
    // Sub-second times whose text forms differ in length (".5" vs ".450001").
    let times = [
        now - Duration::milliseconds(2_500),
        now - Duration::microseconds(2_549_999),
        now - Duration::seconds(2),
    ];
    let mut logged = Vec::new();
    for at in times {
        let input = InteractionInput {
            kind: Some("call".into()),
            occurred_at: Some(at),
            ..Default::default()
        };
        logged.push(svc.create(&me, customer, input).await.unwrap().interaction);
    }
    let read = |c: crm_domain::customer::Customer| {
        (
            c.profile.last_contact_at,
            c.profile.next_follow_up_at,
            c.version,
        )
    };
    let c = customers
        .find(t.id, customer, false)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read(c), (Some(times[2]), None, 3), "created at 1, +1 twice");
    svc.delete(&me, logged[2].id, None).await.unwrap();
    let c = customers
        .find(t.id, customer, false)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read(c), (Some(times[0]), None, 4));

    let due = now + Duration::days(1);
    let f = svc
        .create_follow_up(
            &me,
            customer,
            FollowUpInput {
                title: Some("Call back".into()),
                due_at: Some(due),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let c = customers
        .find(t.id, customer, false)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read(c), (Some(times[0]), Some(due), 5));
    svc.patch_follow_up(&me, f.id, &Done, None).await.unwrap();
    let c = customers
        .find(t.id, customer, false)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read(c), (Some(times[0]), None, 6));

    let events = SeaEventRepository::new(db.db.clone())
        .list(
            t.id,
            EventFilter {
                customer_id: Some(customer),
                ..Default::default()
            },
            50,
        )
        .await
        .unwrap();
    let types: Vec<&str> = events.iter().map(|e| e.event.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "follow_up.completed",
            "follow_up.created",
            "interaction.deleted",
            "interaction.logged",
            "interaction.logged",
            "interaction.logged",
        ]
    );
    let completed = &events[0].event;
    assert_eq!(completed.entity_id, f.id.0);
    assert_eq!(completed.actor.sub, "u-1");
    assert_eq!(completed.actor.request_id.as_deref(), Some("r-1"));
    assert_eq!(completed.changes["status"], [json!("open"), json!("done")]);
    assert_eq!(events[2].event.entity_id, logged[2].id.0);
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

on_both_backends!(derived_dates_and_events_are_written_in_the_transaction);
