//! Documents on SQLite and PostgreSQL: a row and its `document.attached` event commit
//! together (or neither), reads are per tenant, and the local object store streams bytes
//! back identical (multipart uploads included).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{SubsecRound, Utc};
use crm_domain::customer::{CustomerInput, CustomerRepository, NewCustomer, ValidationContext};
use crm_domain::document::{
    Document, DocumentCategory, DocumentId, DocumentRepository, DocumentStore, DocumentType,
    object_key,
};
use crm_domain::event::{EntityType, EventFilter, EventRepository, NewEvent};
use crm_domain::tenant::{Tenant, TenantRepository};
use crm_domain::values::{CountryCode, CurrencyCode};
use crm_domain::{Actor, CustomerId, TenantId, UserId};
use crm_infra::testing::{Backend, TestDatabase};
use crm_infra::{
    ObjectDocumentStore, SeaCustomerRepository, SeaDocumentRepository, SeaEventRepository,
    SeaTenantRepository,
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

async fn customer(db: &TestDatabase, tenant: TenantId) -> CustomerId {
    let ctx = ValidationContext {
        default_country: CountryCode::parse("ID"),
        default_currency: CurrencyCode::parse("IDR").unwrap(),
        today: Utc::now().date_naive(),
    };
    let id = CustomerId(Uuid::now_v7());
    SeaCustomerRepository::new(db.db.clone())
        .create(
            NewCustomer {
                id,
                tenant_id: tenant,
                profile: CustomerInput {
                    name: Some("Maju".into()),
                    email: Some(format!("{id}@maju.co.id")),
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
    id
}

fn document(tenant: TenantId, customer: CustomerId) -> Document {
    let id = DocumentId(Uuid::now_v7());
    Document {
        id,
        tenant_id: tenant,
        customer_id: customer,
        title: "Kontrak".into(),
        category: DocumentCategory::Contract,
        file_name: "kontrak.pdf".into(),
        content_type: DocumentType::Pdf,
        size_bytes: 1234,
        sha256: "ab".repeat(32),
        object_key: object_key(tenant, customer, id),
        expires_at: Some(Utc::now().trunc_subsecs(6)),
        created_by: UserId::parse("u-1"),
        created_at: Utc::now().trunc_subsecs(6),
    }
}

fn attached(tenant: TenantId, d: &Document) -> NewEvent {
    let actor = Actor::new(tenant, UserId::parse("u-1").unwrap(), ["sales"], []);
    NewEvent::new(
        &actor,
        "document.attached",
        EntityType::Document,
        d.id.0,
        d.created_at,
    )
    .customer(d.customer_id)
    .data(d.event_data())
}

async fn a_row_and_its_event_commit_together_or_not_at_all(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let (a, b) = (tenant(&db).await, tenant(&db).await);
    let c = customer(&db, a).await;
    let repo = SeaDocumentRepository::new(db.db.clone());
    let events = SeaEventRepository::new(db.db.clone());
    let d = document(a, c);
    let mut tx = repo.begin(a).await.unwrap();
    assert!(tx.lock_customer(a, c).await.unwrap().is_some());
    tx.insert(&d).await.unwrap();
    tx.append_events(&[attached(a, &d)]).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(repo.get(a, d.id).await.unwrap(), Some(d.clone()));
    assert_eq!(repo.get(b, d.id).await.unwrap(), None);
    assert_eq!(repo.list(a, c, None, 10).await.unwrap(), vec![d.clone()]);
    let filter = EventFilter {
        entity_id: Some(d.id.0),
        ..Default::default()
    };
    let read = events.list(a, filter.clone(), 10).await.unwrap();
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].event.event_type, "document.attached");
    assert_eq!(read[0].event.customer_id, Some(c));
    assert_eq!(read[0].event.data["sha256"], d.sha256);

    // Dropped uncommitted: neither the row nor the event.
    let lost = document(a, c);
    let mut tx = repo.begin(a).await.unwrap();
    tx.insert(&lost).await.unwrap();
    tx.append_events(&[attached(a, &lost)]).await.unwrap();
    drop(tx);
    assert_eq!(repo.get(a, lost.id).await.unwrap(), None);
    let filter = EventFilter {
        entity_id: Some(lost.id.0),
        ..Default::default()
    };
    assert!(events.list(a, filter, 10).await.unwrap().is_empty());
    // The orphan check's cross-tenant read sees the committed row only.
    let keys = repo.object_keys(None, 10).await.unwrap();
    assert_eq!(keys, vec![(a, d.id, d.object_key.clone())]);
}

async fn the_local_store_streams_bytes_back_identical(_backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let store = ObjectDocumentStore::local(&dir.path().join("documents")).unwrap();
    // Beyond one 8 MiB part: the multipart path.
    let bytes: Vec<u8> = (0..(9 << 20)).map(|i: usize| (i % 251) as u8).collect();
    let file = dir.path().join("upload.part");
    std::fs::write(&file, &bytes).unwrap();
    let key = "tenants/t/customers/c/d";
    store.put(key, &file).await.unwrap();
    assert!(store.exists(key).await.unwrap());
    let mut reader = store.get(key).await.unwrap().unwrap();
    let mut back = Vec::new();
    while let Some(piece) = reader.next_chunk().await.unwrap() {
        back.extend(piece);
    }
    assert!(back == bytes, "the bytes differ ({} read)", back.len());
    assert_eq!(
        store.list("tenants/", 10).await.unwrap(),
        vec![key.to_owned()]
    );
    store.delete(key).await.unwrap();
    assert!(!store.exists(key).await.unwrap());
    assert!(store.get(key).await.unwrap().is_none());
    // Deleting what is not there is no error.
    store.delete(key).await.unwrap();
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
    a_row_and_its_event_commit_together_or_not_at_all,
    the_local_store_streams_bytes_back_identical,
);
