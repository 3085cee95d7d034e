//! The event log on SQLite and PostgreSQL: events appended in a transaction commit with it or
//! not at all, read back newest first with every filter, and (PostgreSQL) the table refuses
//! `UPDATE` and `DELETE`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{Duration, SubsecRound, Utc};
use crm_domain::event::{
    EntityType, EventFilter, EventId, EventRepository, NewEvent, field_changes,
};
use crm_domain::tenant::{Tenant, TenantRepository};
use crm_domain::values::{CountryCode, CurrencyCode};
use crm_domain::{Actor, CustomerId, TenantId, UserId};
use crm_infra::testing::{Backend, TestDatabase};
use crm_infra::{SeaEventRepository, SeaTenantRepository, events};
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::json;
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

fn actor(tenant: TenantId) -> Actor {
    Actor::new(tenant, UserId::parse("u-1").unwrap(), ["sales"], []).with_request_id("req-9")
}

async fn appended_events_commit_with_their_transaction_and_read_back_filtered(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let (a, b) = (tenant(&db).await, tenant(&db).await);
    let customer = CustomerId(Uuid::now_v7());
    let now = Utc::now().trunc_subsecs(6);
    let created = NewEvent::new(
        &actor(a),
        "customer.created",
        EntityType::Customer,
        customer.0,
        now,
    )
    .customer(customer)
    .data(json!({"name": "Ana"}));
    let updated = NewEvent::new(
        &actor(a),
        "customer.updated",
        EntityType::Customer,
        customer.0,
        now,
    )
    .customer(customer)
    .changes(field_changes(
        &json!({"name": "Ana"}),
        &json!({"name": "Ani"}),
        &[],
    ));
    let note = Uuid::now_v7();
    let noted = NewEvent::new(
        &actor(a),
        "note.added",
        EntityType::Note,
        note,
        now + Duration::seconds(1),
    )
    .customer(customer);
    let other = NewEvent::new(
        &actor(b),
        "customer.created",
        EntityType::Customer,
        customer.0,
        now,
    )
    .customer(customer);

    // Rolled back: nothing.
    let tx = db.db.tenant_tx(a).await.unwrap();
    events::append(&tx, std::slice::from_ref(&created))
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    let repo = SeaEventRepository::new(db.db.clone());
    assert!(
        repo.list(a, EventFilter::default(), 50)
            .await
            .unwrap()
            .is_empty()
    );

    let tx = db.db.tenant_tx(a).await.unwrap();
    events::append(&tx, &[created.clone(), updated.clone(), noted.clone()])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let tx = db.db.tenant_tx(b).await.unwrap();
    events::append(&tx, &[other]).await.unwrap();
    tx.commit().await.unwrap();

    let all = repo.list(a, EventFilter::default(), 50).await.unwrap();
    let types: Vec<_> = all.iter().map(|e| e.event.event_type.as_str()).collect();
    assert_eq!(
        types,
        ["note.added", "customer.updated", "customer.created"]
    );
    assert!(all.windows(2).all(|w| w[0].id > w[1].id));
    assert_eq!(all[1].event, updated);
    assert_eq!(all[2].event.actor.request_id.as_deref(), Some("req-9"));
    assert_eq!(all[2].event.actor.role.as_deref(), Some("sales"));

    let page = |f: EventFilter| {
        let repo = repo.clone();
        async move {
            repo.list(a, f, 50)
                .await
                .unwrap()
                .into_iter()
                .map(|e| e.event.event_type)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        page(EventFilter {
            types: vec!["customer.*".into()],
            ..Default::default()
        })
        .await,
        ["customer.updated", "customer.created"]
    );
    assert_eq!(
        page(EventFilter {
            types: vec!["note.added".into()],
            ..Default::default()
        })
        .await,
        ["note.added"]
    );
    assert_eq!(
        page(EventFilter {
            with_changes: true,
            ..Default::default()
        })
        .await,
        ["customer.updated"]
    );
    assert_eq!(
        page(EventFilter {
            entity_type: Some(EntityType::Note),
            entity_id: Some(note),
            ..Default::default()
        })
        .await,
        ["note.added"]
    );
    assert_eq!(
        page(EventFilter {
            before: Some(all[1].id),
            ..Default::default()
        })
        .await,
        ["customer.created"]
    );
    assert_eq!(
        page(EventFilter {
            from: Some(now + Duration::seconds(1)),
            ..Default::default()
        })
        .await,
        ["note.added"]
    );
    assert_eq!(
        page(EventFilter {
            actor: Some("u-2".into()),
            ..Default::default()
        })
        .await,
        Vec::<String>::new()
    );
    assert_eq!(
        page(EventFilter {
            customer_id: Some(customer),
            before: Some(EventId(i64::MAX)),
            ..Default::default()
        })
        .await
        .len(),
        3
    );
    // Tenant b sees its own event only.
    assert_eq!(
        repo.list(b, EventFilter::default(), 50)
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn the_log_refuses_updates_and_deletes_on_postgres(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    if backend != Backend::Postgres {
        return;
    }
    let a = tenant(&db).await;
    let id = Uuid::now_v7();
    let tx = db.db.tenant_tx(a).await.unwrap();
    events::append(
        &tx,
        &[NewEvent::new(
            &actor(a),
            "customer.created",
            EntityType::Customer,
            id,
            Utc::now(),
        )],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    for sql in ["UPDATE events SET event_type = 'x'", "DELETE FROM events"] {
        let tx = db.db.system_tx().await.unwrap();
        let err = tx.execute_unprepared(sql).await.unwrap_err();
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    let repo = SeaEventRepository::new(db.db.clone());
    assert_eq!(
        repo.list(a, EventFilter::default(), 5).await.unwrap().len(),
        1
    );
    let tx = db.db.write.begin().await.unwrap();
    assert!(tx.execute_unprepared("TRUNCATE events").await.is_err());
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
    appended_events_commit_with_their_transaction_and_read_back_filtered,
    the_log_refuses_updates_and_deletes_on_postgres,
);
