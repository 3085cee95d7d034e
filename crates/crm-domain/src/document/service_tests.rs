//! The document service against mockall mocks of its ports.

use std::sync::{Arc, Mutex};

use uuid::Uuid;

use super::*;
use crate::customer::Customer;
use crate::error::{DomainError, RepositoryError, Rule};
use crate::event::NewEvent;
use crate::ids::{CustomerId, UserId};
use crate::testing::{self, TENANT, actor, clock, fixed_ids, now};

const CUSTOMER: CustomerId = CustomerId(Uuid::from_u128(2));
const DOC: Uuid = Uuid::from_u128(77);

type Log = Arc<Mutex<Vec<String>>>;

fn pdf() -> ReceivedFile {
    ReceivedFile {
        path: "/tmp/upload-x.part".into(),
        file_name: "../../etc/passwd.pdf".into(),
        size: 12,
        sha256: "ab".repeat(32),
        head: b"%PDF-1.7\n%...".to_vec(),
        utf8_text: false,
    }
}

fn stored(customer: CustomerId) -> Document {
    Document {
        id: DocumentId(DOC),
        tenant_id: TENANT,
        customer_id: customer,
        title: "Kontrak 2026".into(),
        category: DocumentCategory::Contract,
        file_name: "kontrak.pdf".into(),
        content_type: DocumentType::Pdf,
        size_bytes: 12,
        sha256: "ab".repeat(32),
        object_key: object_key(TENANT, customer, DocumentId(DOC)),
        expires_at: None,
        created_by: UserId::parse("user-1"),
        created_at: now(),
    }
}

/// What the mocks saw, in order: `put <key>`, `insert <id>`, `event <type>`, `commit`,
/// `delete-row <id>`, `delete-object <key>`.
struct World {
    customer: Option<Customer>,
    row: Option<Document>,
    commit_fails: bool,
    object_exists: bool,
    delete_object_fails: bool,
}

impl Default for World {
    fn default() -> Self {
        Self {
            customer: Some(testing::customer(CUSTOMER, now())),
            row: None,
            commit_fails: false,
            object_exists: true,
            delete_object_fails: false,
        }
    }
}

fn service(world: World, events: Arc<Mutex<Vec<NewEvent>>>) -> (DocumentService, Log) {
    let log: Log = Arc::default();
    let mut repo = MockDocumentRepository::new();
    let (l, c, row, fails) = (
        log.clone(),
        world.customer.clone(),
        world.row.clone(),
        world.commit_fails,
    );
    let ev = events.clone();
    repo.expect_begin().returning(move |_| {
        let mut tx = MockDocumentTransaction::new();
        let c = c.clone();
        tx.expect_lock_customer()
            .returning(move |_, _| Ok(c.clone()));
        let r = row.clone();
        tx.expect_get().returning(move |_, _| Ok(r.clone()));
        let l1 = l.clone();
        tx.expect_insert().returning(move |d| {
            l1.lock().unwrap().push(format!("insert {}", d.id));
            Ok(())
        });
        let l2 = l.clone();
        tx.expect_delete().returning(move |_, id| {
            l2.lock().unwrap().push(format!("delete-row {id}"));
            Ok(())
        });
        let (l3, ev) = (l.clone(), ev.clone());
        tx.expect_append_events().returning(move |e| {
            for e in e {
                l3.lock().unwrap().push(format!("event {}", e.event_type));
            }
            ev.lock().unwrap().extend_from_slice(e);
            Ok(())
        });
        let l4 = l.clone();
        tx.expect_commit().returning(move || {
            if fails {
                return Err(RepositoryError::Unavailable("gone".into()));
            }
            l4.lock().unwrap().push("commit".into());
            Ok(())
        });
        Ok(Box::new(tx))
    });
    let r = world.row.clone();
    repo.expect_get().returning(move |_, _| Ok(r.clone()));
    let mut store = MockDocumentStore::new();
    let l5 = log.clone();
    store.expect_put().returning(move |k, _| {
        l5.lock().unwrap().push(format!("put {k}"));
        Ok(())
    });
    let (l6, del_fails) = (log.clone(), world.delete_object_fails);
    store.expect_delete().returning(move |k| {
        l6.lock().unwrap().push(format!("delete-object {k}"));
        if del_fails {
            Err(RepositoryError::Unavailable("s3 down".into()))
        } else {
            Ok(())
        }
    });
    let exists = world.object_exists;
    store.expect_get().returning(move |_| {
        Ok(exists.then(|| Box::new(Chunks(vec![b"%PDF".to_vec()])) as Box<dyn ObjectReader>))
    });
    // Customer storage as the real one: a deleted customer is found only when asked for
    // deleted ones too.
    let mut customers = crate::customer::MockCustomerRepository::new();
    let held = world.customer.clone();
    customers.expect_find().returning(move |t, id, deleted| {
        Ok(held
            .clone()
            .filter(|c| t == TENANT && id == c.id && (deleted || c.deleted_at.is_none())))
    });
    let svc = DocumentService::new(
        Arc::new(repo),
        Arc::new(store),
        Arc::new(customers),
        Arc::new(testing::tenants(now)),
        Arc::new(clock(now)),
        Arc::new(fixed_ids(DOC)),
        1_000,
    );
    (svc, log)
}

struct Chunks(Vec<Vec<u8>>);

#[async_trait::async_trait]
impl ObjectReader for Chunks {
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, RepositoryError> {
        Ok(self.0.pop())
    }
}

fn entries(log: &Log) -> Vec<String> {
    log.lock().unwrap().clone()
}

fn rule(e: &DomainError) -> Option<Rule> {
    match e {
        DomainError::Rule(v) => Some(v.rule),
        _ => None,
    }
}

#[tokio::test]
async fn attaching_writes_the_object_first_then_the_row_with_its_event() {
    let events = Arc::default();
    let (svc, log) = service(World::default(), Arc::clone(&events));
    let meta = DocumentMeta {
        title: Some(" Kontrak ".into()),
        category: Some("contract".into()),
        expires_at: Some(now()),
    };
    let d = svc
        .attach(&actor("sales"), CUSTOMER, meta, &pdf())
        .await
        .unwrap();
    let key = format!("tenants/{TENANT}/customers/{CUSTOMER}/{DOC}");
    assert_eq!(d.object_key, key);
    assert_eq!(d.file_name, "passwd.pdf");
    assert_eq!(d.title, "Kontrak");
    assert_eq!(d.content_type, DocumentType::Pdf);
    assert_eq!(
        entries(&log),
        [
            format!("put {key}"),
            format!("insert {DOC}"),
            "event document.attached".into(),
            "commit".into()
        ]
    );
    let events = events.lock().unwrap();
    let e = &events[0];
    assert_eq!(e.customer_id, Some(CUSTOMER));
    assert_eq!(e.entity_type, crate::event::EntityType::Document);
    assert_eq!(e.entity_id, DOC);
    assert_eq!(e.actor.sub, "user-1");
    assert_eq!(e.actor.role.as_deref(), Some("sales"));
    assert_eq!(e.occurred_at, now());
    assert_eq!(e.data["title"], "Kontrak");
    assert_eq!(e.data["category"], "contract");
    assert_eq!(e.data["content_type"], "application/pdf");
    assert_eq!(e.data["size_bytes"], 12);
    assert!(e.changes.is_empty());
}

#[tokio::test]
async fn a_failed_row_transaction_deletes_the_object_again() {
    let world = World {
        commit_fails: true,
        ..World::default()
    };
    let (svc, log) = service(world, Arc::default());
    let err = svc
        .attach(&actor("sales"), CUSTOMER, DocumentMeta::default(), &pdf())
        .await
        .unwrap_err();
    assert!(matches!(err, DomainError::Unavailable(_)), "{err:?}");
    let log = entries(&log);
    assert_eq!(
        log.first().unwrap(),
        &format!("put {}", object_key(TENANT, CUSTOMER, DocumentId(DOC)))
    );
    assert_eq!(
        log.last().unwrap(),
        &format!(
            "delete-object {}",
            object_key(TENANT, CUSTOMER, DocumentId(DOC))
        )
    );
}

#[tokio::test]
async fn a_deleted_customer_gets_no_document_and_the_object_is_removed() {
    let mut c = testing::customer(CUSTOMER, now());
    c.deleted_at = Some(now());
    let world = World {
        customer: Some(c),
        ..World::default()
    };
    let (svc, log) = service(world, Arc::default());
    let err = svc
        .attach(&actor("sales"), CUSTOMER, DocumentMeta::default(), &pdf())
        .await
        .unwrap_err();
    assert_eq!(err, DomainError::NotFound { entity: "customer" });
    assert!(entries(&log).iter().all(|e| !e.starts_with("insert")));
    assert!(entries(&log).last().unwrap().starts_with("delete-object"));
}

#[tokio::test]
async fn an_executable_is_refused_naming_its_type_before_anything_is_stored() {
    let (svc, log) = service(World::default(), Arc::default());
    let exe = ReceivedFile {
        head: b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff\0\0".to_vec(),
        ..pdf()
    };
    let err = svc
        .attach(&actor("sales"), CUSTOMER, DocumentMeta::default(), &exe)
        .await
        .unwrap_err();
    assert_eq!(rule(&err), Some(Rule::UnsupportedDocumentType));
    let DomainError::Rule(v) = &err else {
        unreachable!()
    };
    assert_eq!(
        v.facts["detected_type"],
        "application/vnd.microsoft.portable-executable"
    );
    assert!(entries(&log).is_empty());
}

#[tokio::test]
async fn a_file_beyond_the_limit_is_too_large() {
    let (svc, log) = service(World::default(), Arc::default());
    let big = ReceivedFile {
        size: 1_001,
        ..pdf()
    };
    let err = svc
        .attach(&actor("sales"), CUSTOMER, DocumentMeta::default(), &big)
        .await
        .unwrap_err();
    assert_eq!(rule(&err), Some(Rule::DocumentTooLarge));
    assert!(entries(&log).is_empty());
}

#[tokio::test]
async fn metadata_is_checked_naming_the_field() {
    let (svc, _) = service(World::default(), Arc::default());
    let meta = DocumentMeta {
        title: Some("x".repeat(256)),
        category: Some("poem".into()),
        expires_at: None,
    };
    let err = svc
        .attach(&actor("sales"), CUSTOMER, meta, &pdf())
        .await
        .unwrap_err();
    assert_eq!(
        testing::field_codes(err),
        [
            ("meta.title".to_owned(), "too_long"),
            ("meta.category".to_owned(), "invalid_value")
        ]
    );
}

#[tokio::test]
async fn a_viewer_may_not_upload_and_is_refused_before_the_body() {
    let (svc, _) = service(World::default(), Arc::default());
    let err = svc
        .authorize_upload(&actor("viewer"), CUSTOMER)
        .await
        .unwrap_err();
    assert!(matches!(err, DomainError::Forbidden(_)), "{err:?}");
    svc.authorize_upload(&actor("sales"), CUSTOMER)
        .await
        .unwrap();
    let err = svc
        .authorize_upload(&actor("sales"), CustomerId(Uuid::from_u128(5)))
        .await
        .unwrap_err();
    assert_eq!(err, DomainError::NotFound { entity: "customer" });
}

#[tokio::test]
async fn deleting_removes_the_row_with_its_event_then_the_object() {
    let events = Arc::default();
    let world = World {
        row: Some(stored(CUSTOMER)),
        delete_object_fails: true,
        ..World::default()
    };
    let (svc, log) = service(world, Arc::clone(&events));
    // The object's deletion fails: the document is gone anyway (an orphan object remains).
    svc.delete(&actor("manager"), DocumentId(DOC))
        .await
        .unwrap();
    let key = object_key(TENANT, CUSTOMER, DocumentId(DOC));
    assert_eq!(
        entries(&log),
        [
            format!("delete-row {DOC}"),
            "event document.deleted".into(),
            "commit".into(),
            format!("delete-object {key}"),
        ]
    );
    let e = &events.lock().unwrap()[0];
    assert_eq!(e.customer_id, Some(CUSTOMER));
    assert_eq!(e.actor.role.as_deref(), Some("manager"));
    assert_eq!(e.data["file_name"], "kontrak.pdf");
}

#[tokio::test]
async fn a_document_of_a_deleted_customer_is_not_found() {
    let mut c = testing::customer(CUSTOMER, now());
    c.deleted_at = Some(now());
    let world = World {
        customer: Some(c),
        row: Some(stored(CUSTOMER)),
        ..World::default()
    };
    let (svc, _) = service(world, Arc::default());
    let not_found = DomainError::NotFound { entity: "document" };
    assert_eq!(
        svc.get(&actor("sales"), DocumentId(DOC)).await.unwrap_err(),
        not_found
    );
    assert_eq!(
        svc.delete(&actor("sales"), DocumentId(DOC))
            .await
            .unwrap_err(),
        not_found
    );
}

#[tokio::test]
async fn a_row_without_its_object_is_content_missing() {
    let world = World {
        row: Some(stored(CUSTOMER)),
        object_exists: false,
        ..World::default()
    };
    let (svc, _) = service(world, Arc::default());
    let err = svc
        .download(&actor("viewer"), DocumentId(DOC))
        .await
        .unwrap_err();
    assert_eq!(rule(&err), Some(Rule::DocumentContentMissing));
}

#[tokio::test]
async fn the_check_reports_orphans_both_ways() {
    let mut repo = MockDocumentRepository::new();
    let row = |n: u128| {
        let id = DocumentId(Uuid::from_u128(n));
        (TENANT, id, object_key(TENANT, CUSTOMER, id))
    };
    let rows = vec![row(1), row(2)];
    repo.expect_object_keys().returning(move |after, _| {
        Ok(if after.is_none() {
            rows.clone()
        } else {
            vec![]
        })
    });
    let mut store = MockDocumentStore::new();
    let objects = vec![row(2).2, row(3).2];
    store
        .expect_list()
        .returning(move |_, _| Ok(objects.clone()));
    let svc = DocumentService::new(
        Arc::new(repo),
        Arc::new(store),
        Arc::new(crate::customer::MockCustomerRepository::new()),
        Arc::new(testing::tenants(now)),
        Arc::new(clock(now)),
        Arc::new(fixed_ids(DOC)),
        1_000,
    );
    let report = svc.check_orphans(100).await.unwrap();
    assert_eq!(report.rows_without_objects, vec![row(1)]);
    assert_eq!(report.objects_without_rows, vec![row(3).2]);
    assert_eq!((report.rows_checked, report.objects_checked), (2, 2));
    assert!(!report.truncated);
    // Bounded: a listing cut at the bound concludes nothing about the other side.
    let cut = svc.check_orphans(1).await.unwrap();
    assert!(cut.truncated);
    assert!(cut.rows_without_objects.is_empty() && cut.objects_without_rows.is_empty());
}
