//! The note repository on SQLite and PostgreSQL: a note and its event commit together or not
//! at all (the event read back with `SeaEventRepository::list`), a full round trip of every
//! field, and conditional updates.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{SubsecRound, Utc};
use crm_domain::contact::Contact;
use crm_domain::customer::{CustomerInput, CustomerRepository, NewCustomer, ValidationContext};
use crm_domain::event::{EntityType, EventFilter, EventRepository, NewEvent, field_changes};
use crm_domain::note::{Note, NoteId, NoteInput, NoteRepository};
use crm_domain::tenant::{Tenant, TenantRepository};
use crm_domain::values::{CountryCode, CurrencyCode};
use crm_domain::{Actor, CustomerId, RepositoryError, TenantId, UserId};
use crm_infra::testing::{Backend, TestDatabase};
use crm_infra::{
    SeaCustomerRepository, SeaEventRepository, SeaNoteRepository, SeaTenantRepository,
};
use uuid::Uuid;

struct Ctx {
    _db: TestDatabase,
    customers: SeaCustomerRepository,
    notes: SeaNoteRepository,
    events: SeaEventRepository,
    tenant: TenantId,
}

async fn setup(backend: Backend) -> Option<Ctx> {
    let db = TestDatabase::create(backend).await?;
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
    Some(Ctx {
        customers: SeaCustomerRepository::new(db.db.clone()),
        notes: SeaNoteRepository::new(db.db.clone()),
        events: SeaEventRepository::new(db.db.clone()),
        _db: db,
        tenant: t.id,
    })
}

fn new_customer(tenant: TenantId, email: &str, contacts: Vec<Contact>) -> NewCustomer {
    let ctx = ValidationContext {
        default_country: CountryCode::parse("ID"),
        default_currency: CurrencyCode::parse("IDR").unwrap(),
        today: Utc::now().date_naive(),
    };
    let id = CustomerId(Uuid::now_v7());
    NewCustomer {
        id,
        tenant_id: tenant,
        profile: CustomerInput {
            name: Some("Maju".into()),
            email: Some(email.into()),
            ..Default::default()
        }
        .validate(&ctx)
        .unwrap(),
        created_by: UserId::parse("tester"),
        created_at: Utc::now().trunc_subsecs(6),
        addresses: Vec::new(),
        contacts,
    }
}

async fn stored_customer(c: &Ctx) -> CustomerId {
    let new = new_customer(c.tenant, "maju@x.co.id", Vec::new());
    let id = new.id;
    c.customers.create(new, None, vec![]).await.unwrap();
    id
}

fn note(tenant: TenantId, customer: CustomerId) -> Note {
    let now = Utc::now().trunc_subsecs(6);
    Note {
        id: NoteId(Uuid::now_v7()),
        tenant_id: tenant,
        customer_id: customer,
        fields: NoteInput {
            body: Some("Late **delivery**\nline two".into()),
            category: Some("complaint".into()),
            resolution: Some("in_progress".into()),
            is_internal: Some(true),
            pinned: Some(true),
        }
        .validate()
        .unwrap(),
        resolved_at: None,
        author: UserId::parse("ana").unwrap(),
        created_at: now,
        edited_at: None,
        updated_by: UserId::parse("ana").unwrap(),
        updated_at: now,
        version: 1,
    }
}

fn added(actor: &Actor, n: &Note) -> NewEvent {
    NewEvent::new(actor, "note.added", EntityType::Note, n.id.0, n.created_at)
        .customer(n.customer_id)
}

async fn note_events(c: &Ctx, id: NoteId) -> Vec<String> {
    let filter = EventFilter {
        entity_type: Some(EntityType::Note),
        entity_id: Some(id.0),
        ..Default::default()
    };
    c.events
        .list(c.tenant, filter, 50)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event.event_type)
        .collect()
}

/// A dropped transaction leaves neither the note nor its event; a committed one both, and
/// the note reads back field for field.
async fn a_note_and_its_event_commit_together(backend: Backend) {
    let Some(c) = setup(backend).await else {
        return;
    };
    let customer = stored_customer(&c).await;
    let actor = Actor::new(c.tenant, UserId::parse("ana").unwrap(), ["sales"], []);
    let n = note(c.tenant, customer);
    let mut tx = c.notes.begin(c.tenant).await.unwrap();
    assert!(
        tx.lock_customer(c.tenant, customer)
            .await
            .unwrap()
            .is_some()
    );
    tx.insert(&n).await.unwrap();
    tx.append_events(&[added(&actor, &n)]).await.unwrap();
    drop(tx);
    assert_eq!(c.notes.get(c.tenant, n.id).await.unwrap(), None);
    assert!(note_events(&c, n.id).await.is_empty());

    let mut tx = c.notes.begin(c.tenant).await.unwrap();
    tx.insert(&n).await.unwrap();
    tx.append_events(&[added(&actor, &n)]).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(c.notes.get(c.tenant, n.id).await.unwrap(), Some(n.clone()));
    assert_eq!(note_events(&c, n.id).await, vec!["note.added"]);
    let other = TenantId(Uuid::now_v7());
    assert_eq!(c.notes.get(other, n.id).await.unwrap(), None);
}

/// An update writes only on the expected version (`Stale` otherwise); `lock_note` returns the
/// note with its customer; the update's event carries the full bodies.
async fn updates_are_conditional(backend: Backend) {
    let Some(c) = setup(backend).await else {
        return;
    };
    let customer = stored_customer(&c).await;
    let actor = Actor::new(c.tenant, UserId::parse("ana").unwrap(), ["sales"], []);
    let n = note(c.tenant, customer);
    let mut tx = c.notes.begin(c.tenant).await.unwrap();
    tx.insert(&n).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = c.notes.begin(c.tenant).await.unwrap();
    let (locked, owner) = tx.lock_note(c.tenant, n.id).await.unwrap().unwrap();
    assert_eq!((locked, owner.id), (n.clone(), customer));
    let mut edited = n.clone();
    edited.fields.body = "Delivered".into();
    edited.version = 5;
    assert_eq!(tx.update(&edited).await, Err(RepositoryError::Stale));
    edited.version = 2;
    edited.edited_at = Some(Utc::now().trunc_subsecs(6));
    tx.update(&edited).await.unwrap();
    tx.append_events(&[NewEvent::new(
        &actor,
        "note.updated",
        EntityType::Note,
        n.id.0,
        Utc::now().trunc_subsecs(6),
    )
    .customer(customer)
    .changes(field_changes(
        &n.snapshot(),
        &edited.snapshot(),
        &["edited_at"],
    ))])
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        c.notes.get(c.tenant, n.id).await.unwrap(),
        Some(edited.clone())
    );
    let filter = EventFilter {
        entity_id: Some(n.id.0),
        with_changes: true,
        ..Default::default()
    };
    let events = c.events.list(c.tenant, filter, 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].event.changes["body"],
        [
            serde_json::json!("Late **delivery**\nline two"),
            serde_json::json!("Delivered")
        ]
    );
    let mut tx = c.notes.begin(c.tenant).await.unwrap();
    tx.delete(c.tenant, n.id).await.unwrap();
    assert_eq!(tx.delete(c.tenant, n.id).await, Err(RepositoryError::Stale));
    tx.commit().await.unwrap();
    assert_eq!(c.notes.get(c.tenant, n.id).await.unwrap(), None);
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
    a_note_and_its_event_commit_together,
    updates_are_conditional
);
