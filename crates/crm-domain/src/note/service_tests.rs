//! The note service against mockall mocks of its ports: permissions (author or
//! `customers.manage`), complaint states, `edited_at`, and the events each write appends.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::*;
use crate::access::Actor;
use crate::customer::Customer;
use crate::error::DomainError;
use crate::event::{EntityType, MockEventRepository, NewEvent};
use crate::ids::{CustomerId, UserId};
use crate::testing::{TENANT, clock, customer, field_codes, holding, ids, now, tenants, user_with};

const CUSTOMER: CustomerId = CustomerId(Uuid::from_u128(2));
const NOTE: NoteId = NoteId(Uuid::from_u128(300));

/// What the mocked storage saw: notes inserted and updated, deletions, events, commits.
#[derive(Default)]
struct Seen {
    inserted: Vec<Note>,
    updated: Vec<Note>,
    deleted: Vec<NoteId>,
    events: Vec<NewEvent>,
    commits: usize,
}

type Log = Arc<Mutex<Seen>>;

/// A stored note by `author`, body "first", `category` with `resolution`, created an hour ago.
fn note(author: &str, category: NoteCategory, resolution: Option<Resolution>) -> Note {
    let at = now() - Duration::hours(1);
    Note {
        id: NOTE,
        tenant_id: TENANT,
        customer_id: CUSTOMER,
        fields: NoteFields {
            body: "first".into(),
            category,
            resolution,
            is_internal: false,
            pinned: false,
        },
        resolved_at: None,
        author: UserId::parse(author).unwrap(),
        created_at: at,
        edited_at: None,
        updated_by: UserId::parse(author).unwrap(),
        updated_at: at,
        version: 1,
    }
}

/// A service whose storage holds the live customer [`CUSTOMER`] (or `stored_customer`) and,
/// when given, `stored` as its note.
fn service(stored: Option<Note>, stored_customer: Customer) -> (NoteService, Log) {
    let log: Log = Arc::default();
    let mut repo = MockNoteRepository::new();
    let (l, s, c) = (log.clone(), stored.clone(), stored_customer.clone());
    repo.expect_begin().returning(move |_| {
        let mut tx = MockNoteTransaction::new();
        let c1 = c.clone();
        tx.expect_lock_customer()
            .returning(move |t, id| Ok((t == TENANT && id == c1.id).then(|| c1.clone())));
        let (s1, c2) = (s.clone(), c.clone());
        tx.expect_lock_note().returning(move |t, id| {
            Ok(s1
                .clone()
                .filter(|n| t == TENANT && n.id == id)
                .map(|n| (n, c2.clone())))
        });
        let l1 = l.clone();
        tx.expect_insert().returning(move |n| {
            l1.lock().unwrap().inserted.push(n.clone());
            Ok(())
        });
        let l2 = l.clone();
        tx.expect_update().returning(move |n| {
            l2.lock().unwrap().updated.push(n.clone());
            Ok(())
        });
        let l3 = l.clone();
        tx.expect_delete().returning(move |_, id| {
            l3.lock().unwrap().deleted.push(id);
            Ok(())
        });
        let l4 = l.clone();
        tx.expect_append_events().returning(move |e| {
            l4.lock().unwrap().events.extend_from_slice(e);
            Ok(())
        });
        let l5 = l.clone();
        tx.expect_commit().returning(move || {
            l5.lock().unwrap().commits += 1;
            Ok(())
        });
        Ok(Box::new(tx))
    });
    let s2 = stored.clone();
    repo.expect_get()
        .returning(move |t, id| Ok(s2.clone().filter(|n| t == TENANT && n.id == id)));
    let svc = NoteService::new(
        Arc::new(repo),
        Arc::new(customers_holding(stored_customer)),
        Arc::new(tenants(now)),
        Arc::new(MockEventRepository::new()),
        Arc::new(clock(now)),
        Arc::new(ids()),
    );
    (svc, log)
}

/// Customer storage that finds `c` for [`TENANT`], a soft-deleted one only when asked for
/// deleted customers too.
fn customers_holding(c: Customer) -> crate::customer::MockCustomerRepository {
    let mut customers = crate::customer::MockCustomerRepository::new();
    customers.expect_find().returning(move |t, id, deleted| {
        Ok((t == TENANT && id == c.id && (deleted || c.deleted_at.is_none())).then(|| c.clone()))
    });
    customers
}

fn live() -> Customer {
    customer(CUSTOMER, now() - Duration::days(3))
}

fn sales(user: &str) -> Actor {
    user_with(user, &["sales"]).with_request_id("req-1")
}

/// A patch that sets the members of `doc` over the stored fields.
struct Set(Value);

impl NotePatch for Set {
    fn apply(&self, current: &Note) -> Result<NoteInput, DomainError> {
        let f = &current.fields;
        let get = |k: &str| self.0.get(k);
        let text = |k: &str, old: Option<String>| match get(k) {
            Some(Value::Null) => None,
            Some(v) => v.as_str().map(str::to_owned),
            None => old,
        };
        Ok(NoteInput {
            body: text("body", Some(f.body.clone())),
            category: text("category", Some(f.category.as_str().into())),
            resolution: text("resolution", f.resolution.map(|r| r.as_str().into())),
            is_internal: get("is_internal")
                .and_then(Value::as_bool)
                .or(Some(f.is_internal)),
            pinned: get("pinned").and_then(Value::as_bool).or(Some(f.pinned)),
        })
    }
}

#[tokio::test]
async fn create_makes_the_caller_author_and_appends_note_added_with_a_preview() {
    let (svc, log) = service(None, live());
    let body = format!("{}tail", "x".repeat(250));
    let n = svc
        .create(
            &sales("ana"),
            CUSTOMER,
            NoteInput {
                body: Some(body.clone()),
                category: Some("complaint".into()),
                is_internal: Some(true),
                pinned: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(n.author.as_str(), "ana");
    assert_eq!(n.fields.resolution, Some(Resolution::Open));
    assert_eq!((n.version, n.edited_at, n.resolved_at), (1, None, None));
    let seen = log.lock().unwrap();
    assert_eq!(seen.inserted, vec![n.clone()]);
    assert_eq!(seen.commits, 1);
    let [e] = &seen.events[..] else {
        panic!("one event expected: {:?}", seen.events)
    };
    assert_eq!(e.event_type, "note.added");
    assert_eq!((e.entity_type, e.entity_id), (EntityType::Note, n.id.0));
    assert_eq!(e.customer_id, Some(CUSTOMER));
    assert_eq!(e.occurred_at, now());
    assert_eq!(e.actor.sub, "ana");
    assert_eq!(e.actor.role.as_deref(), Some("sales"));
    assert_eq!(e.actor.request_id.as_deref(), Some("req-1"));
    assert_eq!(e.data["category"], "complaint");
    assert_eq!(e.data["resolution"], "open");
    assert_eq!(e.data["is_internal"], true);
    assert_eq!(e.data["pinned"], true);
    assert_eq!(e.data["body_preview"], json!("x".repeat(200)));
    assert_eq!(e.data["body_chars"], 254);
    assert!(e.changes.is_empty());
}

#[tokio::test]
async fn a_viewer_cannot_write_and_nothing_is_opened() {
    let (svc, log) = service(Some(note("ana", NoteCategory::General, None)), live());
    let viewer = user_with("ana", &["viewer"]);
    let input = NoteInput {
        body: Some("x".into()),
        ..Default::default()
    };
    assert!(matches!(
        svc.create(&viewer, CUSTOMER, input).await,
        Err(DomainError::Forbidden(_))
    ));
    assert!(matches!(
        svc.delete(&viewer, NOTE, None).await,
        Err(DomainError::Forbidden(_))
    ));
    assert_eq!(log.lock().unwrap().commits, 0);
}

#[tokio::test]
async fn only_the_author_or_customers_manage_may_edit_or_delete() {
    let stored = note("ana", NoteCategory::General, None);
    let patch = Set(json!({"body": "second"}));
    // Another salesperson, and a manager (no customers.manage): 403, nothing written.
    for other in [sales("budi"), user_with("mira", &["manager"])] {
        let (svc, log) = service(Some(stored.clone()), live());
        assert_eq!(
            svc.patch(&other, NOTE, &patch, None).await.unwrap_err(),
            DomainError::Forbidden(crate::access::Permission::CustomersManage)
        );
        assert_eq!(
            svc.delete(&other, NOTE, None).await.unwrap_err(),
            DomainError::Forbidden(crate::access::Permission::CustomersManage)
        );
        let seen = log.lock().unwrap();
        assert!(seen.updated.is_empty() && seen.deleted.is_empty() && seen.events.is_empty());
    }
    // The author and an admin may.
    for allowed in [sales("ana"), user_with("root", &["admin"])] {
        let (svc, log) = service(Some(stored.clone()), live());
        svc.patch(&allowed, NOTE, &patch, None).await.unwrap();
        svc.delete(&allowed, NOTE, None).await.unwrap();
        let seen = log.lock().unwrap();
        assert_eq!((seen.updated.len(), seen.deleted.len()), (1, 1));
    }
}

#[tokio::test]
async fn an_edit_sets_edited_at_and_its_event_holds_the_full_old_and_new_body() {
    let (svc, log) = service(Some(note("ana", NoteCategory::General, None)), live());
    let long = "y".repeat(5000);
    let n = svc
        .patch(
            &sales("ana"),
            NOTE,
            &Set(json!({"body": long, "pinned": true})),
            Some(1),
        )
        .await
        .unwrap();
    assert_eq!((n.version, n.edited_at), (2, Some(now())));
    assert_eq!(n.author.as_str(), "ana");
    let seen = log.lock().unwrap();
    assert_eq!(seen.updated, vec![n.clone()]);
    let [e] = &seen.events[..] else {
        panic!("one event expected")
    };
    assert_eq!(e.event_type, "note.updated");
    assert_eq!(e.customer_id, Some(CUSTOMER));
    assert_eq!(e.entity_id, NOTE.0);
    assert_eq!(e.changes.len(), 2, "{:?}", e.changes);
    assert_eq!(e.changes["body"], [json!("first"), json!(long)]);
    assert_eq!(e.changes["pinned"], [json!(false), json!(true)]);
}

#[tokio::test]
async fn a_change_of_pinned_only_keeps_edited_at() {
    let (svc, _log) = service(Some(note("ana", NoteCategory::General, None)), live());
    let n = svc
        .patch(&sales("ana"), NOTE, &Set(json!({"pinned": true})), None)
        .await
        .unwrap();
    assert_eq!(n.edited_at, None);
}

#[tokio::test]
async fn a_patch_that_changes_nothing_writes_nothing() {
    let stored = note("ana", NoteCategory::General, None);
    let (svc, log) = service(Some(stored.clone()), live());
    let n = svc
        .patch(&sales("ana"), NOTE, &Set(json!({"body": "first"})), None)
        .await
        .unwrap();
    assert_eq!(n, stored);
    let seen = log.lock().unwrap();
    assert!(seen.updated.is_empty() && seen.events.is_empty());
}

#[tokio::test]
async fn a_stale_if_match_is_412() {
    let (svc, log) = service(Some(note("ana", NoteCategory::General, None)), live());
    assert_eq!(
        svc.patch(&sales("ana"), NOTE, &Set(json!({"body": "b"})), Some(7))
            .await
            .unwrap_err(),
        DomainError::PreconditionFailed {
            expected: 7,
            current: 1
        }
    );
    assert!(log.lock().unwrap().updated.is_empty());
}

async fn set_resolution(stored: Note, to: &str) -> Note {
    let (svc, _log) = service(Some(stored), live());
    svc.patch(&sales("ana"), NOTE, &Set(json!({"resolution": to})), None)
        .await
        .unwrap()
}

#[tokio::test]
async fn resolving_a_complaint_sets_resolved_at_and_reopening_clears_it() {
    let open = note("ana", NoteCategory::Complaint, Some(Resolution::Open));
    let working = set_resolution(open.clone(), "in_progress").await;
    assert_eq!(working.fields.resolution, Some(Resolution::InProgress));
    assert_eq!(working.resolved_at, None);
    let resolved = set_resolution(open, "resolved").await;
    assert_eq!(resolved.resolved_at, Some(now()));
    let earlier: DateTime<Utc> = now() - Duration::minutes(30);
    let was_resolved = Note {
        resolved_at: Some(earlier),
        ..note("ana", NoteCategory::Complaint, Some(Resolution::Resolved))
    };
    let reopened = set_resolution(was_resolved.clone(), "open").await;
    assert_eq!(
        (reopened.fields.resolution, reopened.resolved_at),
        (Some(Resolution::Open), None)
    );
    // Staying resolved keeps the first resolution time (a body edit, say).
    let (svc, _log) = service(Some(was_resolved), live());
    let edited = svc
        .patch(&sales("ana"), NOTE, &Set(json!({"body": "more"})), None)
        .await
        .unwrap();
    assert_eq!(edited.resolved_at, Some(earlier));
}

#[tokio::test]
async fn a_resolution_on_a_note_that_is_not_a_complaint_is_422_naming_resolution() {
    let (svc, log) = service(Some(note("ana", NoteCategory::General, None)), live());
    let err = svc
        .patch(
            &sales("ana"),
            NOTE,
            &Set(json!({"resolution": "open"})),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(
        field_codes(err),
        vec![("resolution".into(), "not_a_complaint")]
    );
    let err = svc
        .create(
            &sales("ana"),
            CUSTOMER,
            NoteInput {
                body: Some("x".into()),
                resolution: Some("resolved".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        field_codes(err),
        vec![("resolution".into(), "not_a_complaint")]
    );
    assert_eq!(log.lock().unwrap().commits, 0);
}

#[tokio::test]
async fn delete_appends_note_deleted_on_the_customer_timeline() {
    let (svc, log) = service(Some(note("ana", NoteCategory::Feedback, None)), live());
    svc.delete(&sales("ana"), NOTE, Some(1)).await.unwrap();
    let seen = log.lock().unwrap();
    assert_eq!(seen.deleted, vec![NOTE]);
    let [e] = &seen.events[..] else {
        panic!("one event expected")
    };
    assert_eq!(e.event_type, "note.deleted");
    assert_eq!(e.customer_id, Some(CUSTOMER));
    assert_eq!(e.data["category"], "feedback");
    assert_eq!(e.data["body_preview"], "first");
    assert_eq!(seen.commits, 1);
}

#[tokio::test]
async fn a_deleted_customer_hides_its_notes() {
    let gone = Customer {
        deleted_at: Some(now()),
        ..live()
    };
    let (svc, log) = service(Some(note("ana", NoteCategory::General, None)), gone);
    let ana = sales("ana");
    assert_eq!(
        svc.get(&ana, NOTE).await.unwrap_err(),
        DomainError::NotFound { entity: "note" }
    );
    assert_eq!(
        svc.patch(&ana, NOTE, &Set(json!({"body": "b"})), None)
            .await
            .unwrap_err(),
        DomainError::NotFound { entity: "note" }
    );
    let input = NoteInput {
        body: Some("x".into()),
        ..Default::default()
    };
    assert_eq!(
        svc.create(&ana, CUSTOMER, input).await.unwrap_err(),
        DomainError::NotFound { entity: "customer" }
    );
    assert_eq!(log.lock().unwrap().commits, 0);
}

#[tokio::test]
async fn history_reads_the_notes_revisions_from_the_event_log() {
    let mut events = MockEventRepository::new();
    events
        .expect_list()
        .withf(|t, f, limit| {
            *t == TENANT
                && f.entity_type == Some(EntityType::Note)
                && f.entity_id == Some(NOTE.0)
                && f.with_changes
                && f.customer_id.is_none()
                && *limit == 21
        })
        .returning(|_, _, _| Ok(Vec::new()));
    let mut repo = MockNoteRepository::new();
    let stored = note("ana", NoteCategory::General, None);
    repo.expect_get()
        .returning(move |_, _| Ok(Some(stored.clone())));
    let svc = NoteService::new(
        Arc::new(repo),
        Arc::new(holding(live())),
        Arc::new(tenants(now)),
        Arc::new(events),
        Arc::new(clock(now)),
        Arc::new(ids()),
    );
    let page = svc.history(&sales("budi"), NOTE, None, 20).await.unwrap();
    assert!(page.items.is_empty() && page.next.is_none());
}
