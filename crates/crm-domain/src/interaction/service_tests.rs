//! The interaction service against mockall mocks of its ports. The mocked transaction works
//! on an in-memory store, so that its `derived_dates` answers what SQL `MAX`/`MIN` would, and
//! records every write, the dates written and the events appended.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use uuid::Uuid;

use super::*;
use crate::customer::{Customer, MockCustomerRepository};
use crate::error::DomainError;
use crate::event::NewEvent;
use crate::ids::{ContactId, CustomerId, FollowUpId, InteractionId, UserId};
use crate::testing::{self, TENANT, actor, clock, field_codes, ids, now};

const CUSTOMER: CustomerId = CustomerId(Uuid::from_u128(2));
const CONTACT: ContactId = ContactId(Uuid::from_u128(3));

/// What the mocked storage holds and what the transactions did to it.
#[derive(Default)]
struct Store {
    interactions: Vec<Interaction>,
    follow_ups: Vec<FollowUp>,
    /// Dates written to the customer (each also bumps its version).
    dates_written: Vec<DerivedDates>,
    /// Events of committed transactions.
    events: Vec<NewEvent>,
    /// Events appended in the open transaction.
    pending: Vec<NewEvent>,
    commits: usize,
    begun: usize,
}

type Shared = Arc<Mutex<Store>>;

fn derived(s: &Store) -> DerivedDates {
    DerivedDates {
        last_contact_at: s.interactions.iter().map(|i| i.details.occurred_at).max(),
        next_follow_up_at: s
            .follow_ups
            .iter()
            .filter(|f| f.status == FollowUpStatus::Open)
            .map(|f| f.details.due_at)
            .min(),
    }
}

fn transaction(store: &Shared, customer: Option<Customer>) -> MockInteractionTransaction {
    let mut tx = MockInteractionTransaction::new();
    let s = store.clone();
    tx.expect_lock_customer().returning(move |_, _| {
        // The customer as stored: with the dates written last.
        let written = s.lock().unwrap().dates_written.last().copied();
        Ok(customer.clone().map(|mut c| {
            if let Some(d) = written {
                c.profile.last_contact_at = d.last_contact_at;
                c.profile.next_follow_up_at = d.next_follow_up_at;
            }
            c
        }))
    });
    tx.expect_is_contact_of()
        .returning(|_, c, contact| Ok(c == CUSTOMER && contact == CONTACT));
    let s = store.clone();
    tx.expect_interaction().returning(move |_, id| {
        Ok(s.lock()
            .unwrap()
            .interactions
            .iter()
            .find(|i| i.id == id)
            .cloned())
    });
    let s = store.clone();
    tx.expect_insert_interaction().returning(move |i| {
        s.lock().unwrap().interactions.push(i.clone());
        Ok(())
    });
    let s = store.clone();
    tx.expect_update_interaction().returning(move |i| {
        let mut s = s.lock().unwrap();
        let slot = s.interactions.iter_mut().find(|x| x.id == i.id).unwrap();
        assert_eq!(slot.version + 1, i.version);
        *slot = i.clone();
        Ok(())
    });
    let s = store.clone();
    tx.expect_delete_interaction().returning(move |_, id| {
        s.lock().unwrap().interactions.retain(|i| i.id != id);
        Ok(())
    });
    let s = store.clone();
    tx.expect_follow_up().returning(move |_, id| {
        Ok(s.lock()
            .unwrap()
            .follow_ups
            .iter()
            .find(|f| f.id == id)
            .cloned())
    });
    let s = store.clone();
    tx.expect_insert_follow_up().returning(move |f| {
        s.lock().unwrap().follow_ups.push(f.clone());
        Ok(())
    });
    let s = store.clone();
    tx.expect_update_follow_up().returning(move |f| {
        let mut s = s.lock().unwrap();
        let slot = s.follow_ups.iter_mut().find(|x| x.id == f.id).unwrap();
        assert_eq!(slot.version + 1, f.version);
        *slot = f.clone();
        Ok(())
    });
    let s = store.clone();
    tx.expect_delete_follow_up().returning(move |_, id| {
        s.lock().unwrap().follow_ups.retain(|f| f.id != id);
        Ok(())
    });
    let s = store.clone();
    tx.expect_derived_dates()
        .returning(move |_, _| Ok(derived(&s.lock().unwrap())));
    let s = store.clone();
    tx.expect_set_derived_dates().returning(move |_, c, d| {
        assert_eq!(c, CUSTOMER);
        s.lock().unwrap().dates_written.push(d);
        Ok(())
    });
    let s = store.clone();
    tx.expect_append_events().returning(move |e| {
        s.lock().unwrap().pending.extend_from_slice(e);
        Ok(())
    });
    let s = store.clone();
    tx.expect_commit().returning(move || {
        let mut s = s.lock().unwrap();
        let pending = std::mem::take(&mut s.pending);
        s.events.extend(pending);
        s.commits += 1;
        Ok(())
    });
    tx
}

/// A service over `store` whose customer is `customer` (as the transaction locks it and the
/// customer repository finds it while live).
fn service_on(store: &Shared, customer: Customer) -> InteractionService {
    let mut repo = MockInteractionRepository::new();
    let (s, c) = (store.clone(), customer.clone());
    repo.expect_begin().returning(move |_| {
        s.lock().unwrap().begun += 1;
        // Uncommitted events of an earlier (dropped) transaction are gone.
        s.lock().unwrap().pending.clear();
        Ok(Box::new(transaction(&s, Some(c.clone()))))
    });
    let s = store.clone();
    repo.expect_find_interaction().returning(move |_, id| {
        Ok(s.lock()
            .unwrap()
            .interactions
            .iter()
            .find(|i| i.id == id)
            .cloned())
    });
    let s = store.clone();
    repo.expect_find_follow_up().returning(move |_, id| {
        Ok(s.lock()
            .unwrap()
            .follow_ups
            .iter()
            .find(|f| f.id == id)
            .cloned())
    });
    repo.expect_list_follow_ups().returning(|_, _, q| {
        assert_eq!(q.now, now());
        Ok(vec![])
    });
    let mut customers = MockCustomerRepository::new();
    customers
        .expect_find()
        .returning(move |_, id, include_deleted| {
            Ok(
                (id == customer.id && (include_deleted || customer.deleted_at.is_none()))
                    .then(|| customer.clone()),
            )
        });
    InteractionService::new(
        Arc::new(repo),
        Arc::new(customers),
        Arc::new(testing::tenants(now)),
        Arc::new(clock(now)),
        Arc::new(ids()),
    )
}

fn live_customer() -> Customer {
    testing::customer(CUSTOMER, now() - Duration::days(1))
}

fn setup() -> (InteractionService, Shared) {
    let store = Shared::default();
    (service_on(&store, live_customer()), store)
}

fn call_at(at: DateTime<Utc>) -> InteractionInput {
    InteractionInput {
        kind: Some("call".into()),
        occurred_at: Some(at),
        ..Default::default()
    }
}

fn hours_ago(h: i64) -> DateTime<Utc> {
    now() - Duration::hours(h)
}

fn follow_up_due(at: DateTime<Utc>) -> FollowUpInput {
    FollowUpInput {
        title: Some("Send the quote".into()),
        due_at: Some(at),
        ..Default::default()
    }
}

/// A patch that sets some members over the stored interaction.
struct SetInteraction(fn(&mut InteractionInput));

impl InteractionPatch for SetInteraction {
    fn apply(&self, c: &Interaction) -> Result<InteractionInput, DomainError> {
        let d = &c.details;
        let mut input = InteractionInput {
            kind: Some(d.kind.as_str().into()),
            direction: d.direction.map(|x| x.as_str().into()),
            subject: d.subject.clone(),
            body: d.body.clone(),
            outcome: d.outcome.map(|x| x.as_str().into()),
            duration_seconds: d.duration_seconds.map(i64::from),
            occurred_at: Some(d.occurred_at),
            contact_id: d.contact_id.map(|c| c.0),
            follow_up: None,
        };
        (self.0)(&mut input);
        Ok(input)
    }
}

/// A patch that sets a follow-up's status (and keeps the rest).
struct SetStatus(&'static str);

impl FollowUpPatch for SetStatus {
    fn apply(&self, c: &FollowUp) -> Result<FollowUpInput, DomainError> {
        let d = &c.details;
        Ok(FollowUpInput {
            title: Some(d.title.clone()),
            notes: d.notes.clone(),
            due_at: Some(d.due_at),
            assignee: Some(d.assignee.as_str().into()),
            priority: Some(d.priority.as_str().into()),
            status: Some(self.0.into()),
        })
    }
}

fn last_dates(store: &Shared) -> DerivedDates {
    *store.lock().unwrap().dates_written.last().unwrap()
}

fn event_types(store: &Shared) -> Vec<String> {
    store
        .lock()
        .unwrap()
        .events
        .iter()
        .map(|e| e.event_type.clone())
        .collect()
}

fn last_event(store: &Shared) -> NewEvent {
    store.lock().unwrap().events.last().unwrap().clone()
}

#[tokio::test]
async fn logging_appends_interaction_logged_with_customer_actor_and_data() {
    let (svc, store) = setup();
    let mut me = actor("sales");
    me.request_id = Some("req-1".into());
    let logged = svc
        .create(
            &me,
            CUSTOMER,
            InteractionInput {
                subject: Some("Renewal".into()),
                outcome: Some("successful".into()),
                ..call_at(hours_ago(1))
            },
        )
        .await
        .unwrap();
    assert_eq!(logged.interaction.performed_by.as_str(), "user-1");
    let e = last_event(&store);
    assert_eq!(e.event_type, "interaction.logged");
    assert_eq!(e.customer_id, Some(CUSTOMER));
    assert_eq!(e.entity_type, crate::event::EntityType::Interaction);
    assert_eq!(e.entity_id, logged.interaction.id.0);
    assert_eq!(
        (e.actor.sub.as_str(), e.actor.role.as_deref()),
        ("user-1", Some("sales"))
    );
    assert_eq!(e.actor.request_id.as_deref(), Some("req-1"));
    assert_eq!(e.occurred_at, now());
    assert_eq!(e.data["type"], "call");
    assert_eq!(e.data["subject"], "Renewal");
    assert_eq!(e.data["outcome"], "successful");
    assert!(e.changes.is_empty());
    assert_eq!(store.lock().unwrap().commits, 1);
}

#[tokio::test]
async fn a_nested_follow_up_is_written_with_its_event_in_the_same_transaction() {
    let (svc, store) = setup();
    let due = now() + Duration::days(2);
    let logged = svc
        .create(
            &actor("sales"),
            CUSTOMER,
            InteractionInput {
                follow_up: Some(follow_up_due(due)),
                ..call_at(hours_ago(1))
            },
        )
        .await
        .unwrap();
    let f = logged.follow_up.unwrap();
    assert_eq!(f.interaction_id, Some(logged.interaction.id));
    assert_eq!(
        f.details.assignee.as_str(),
        "user-1",
        "defaults to the caller"
    );
    assert_eq!(f.status, FollowUpStatus::Open);
    assert_eq!(
        event_types(&store),
        ["interaction.logged", "follow_up.created"]
    );
    assert_eq!(
        last_event(&store).data["interaction_id"],
        json!(logged.interaction.id.0)
    );
    let s = store.lock().unwrap();
    assert_eq!((s.begun, s.commits), (1, 1), "one transaction");
    assert_eq!(
        s.dates_written,
        [DerivedDates {
            last_contact_at: Some(hours_ago(1)),
            next_follow_up_at: Some(due),
        }]
    );
}

#[tokio::test]
async fn a_bad_follow_up_refuses_both_and_names_fields_of_both() {
    let (svc, store) = setup();
    let err = svc
        .create(
            &actor("sales"),
            CUSTOMER,
            InteractionInput {
                kind: Some("fax".into()),
                follow_up: Some(FollowUpInput {
                    priority: Some("asap".into()),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    let fields: Vec<String> = field_codes(err).into_iter().map(|(f, _)| f).collect();
    for f in [
        "type",
        "follow_up.title",
        "follow_up.due_at",
        "follow_up.priority",
    ] {
        assert!(fields.contains(&f.to_owned()), "{f} in {fields:?}");
    }
    let s = store.lock().unwrap();
    assert!(s.interactions.is_empty() && s.follow_ups.is_empty());
    assert_eq!(s.commits, 0);
}

#[tokio::test]
async fn last_contact_at_follows_the_latest_through_creates_edits_and_deletes() {
    let (svc, store) = setup();
    let me = actor("sales");
    let mut logged = Vec::new();
    for h in [2, 3, 1] {
        logged.push(
            svc.create(&me, CUSTOMER, call_at(hours_ago(h)))
                .await
                .unwrap()
                .interaction,
        );
    }
    assert_eq!(last_dates(&store).last_contact_at, Some(hours_ago(1)));
    // Deleting the latest falls back to the next one.
    svc.delete(&me, logged[2].id, None).await.unwrap();
    assert_eq!(last_dates(&store).last_contact_at, Some(hours_ago(2)));
    // Editing the oldest to be later than all moves it forward.
    let later = now() - Duration::minutes(5);
    struct Later(DateTime<Utc>);
    impl InteractionPatch for Later {
        fn apply(&self, c: &Interaction) -> Result<InteractionInput, DomainError> {
            let mut i = SetInteraction(|_| {}).apply(c)?;
            i.occurred_at = Some(self.0);
            Ok(i)
        }
    }
    let updated = svc
        .patch(&me, logged[1].id, &Later(later), Some(1))
        .await
        .unwrap();
    assert_eq!(updated.version, 2);
    assert_eq!(last_dates(&store).last_contact_at, Some(later));
    let e = last_event(&store);
    assert_eq!(e.event_type, "interaction.updated");
    assert_eq!(
        e.changes.keys().collect::<Vec<_>>(),
        ["occurred_at"],
        "only the changed field, not the version"
    );
    assert_eq!(
        e.changes["occurred_at"],
        [json!(hours_ago(3)), json!(later)]
    );
    // Deleting everything clears it.
    svc.delete(&me, logged[0].id, None).await.unwrap();
    svc.delete(&me, logged[1].id, None).await.unwrap();
    assert_eq!(last_dates(&store).last_contact_at, None);
    assert_eq!(
        event_types(&store),
        [
            "interaction.logged",
            "interaction.logged",
            "interaction.logged",
            "interaction.deleted",
            "interaction.updated",
            "interaction.deleted",
            "interaction.deleted",
        ]
    );
}

#[tokio::test]
async fn dates_that_did_not_move_are_not_written() {
    let (svc, store) = setup();
    let me = actor("sales");
    svc.create(&me, CUSTOMER, call_at(hours_ago(1)))
        .await
        .unwrap();
    // An older one leaves last_contact_at where it is: no write, the version stays.
    let store_customer = Customer {
        version: 2,
        profile: crate::customer::CustomerProfile {
            last_contact_at: Some(hours_ago(1)),
            ..live_customer().profile
        },
        ..live_customer()
    };
    let svc2 = service_on(&store, store_customer);
    svc2.create(&me, CUSTOMER, call_at(hours_ago(5)))
        .await
        .unwrap();
    assert_eq!(store.lock().unwrap().dates_written.len(), 1);
    assert_eq!(store.lock().unwrap().commits, 2);
}

#[tokio::test]
async fn a_patch_that_changes_nothing_writes_nothing() {
    let (svc, store) = setup();
    let me = actor("sales");
    let i = svc
        .create(&me, CUSTOMER, call_at(hours_ago(1)))
        .await
        .unwrap()
        .interaction;
    let same = svc
        .patch(&me, i.id, &SetInteraction(|_| {}), None)
        .await
        .unwrap();
    assert_eq!(same.version, 1);
    assert_eq!(event_types(&store), ["interaction.logged"]);
}

#[tokio::test]
async fn occurred_at_may_be_at_most_five_minutes_ahead() {
    let (svc, _) = setup();
    let me = actor("sales");
    let err = svc
        .create(&me, CUSTOMER, call_at(now() + Duration::minutes(6)))
        .await
        .unwrap_err();
    assert_eq!(field_codes(err), [("occurred_at".to_owned(), "in_future")]);
    svc.create(&me, CUSTOMER, call_at(now() + Duration::minutes(5)))
        .await
        .unwrap();
    let i = svc
        .create(
            &me,
            CUSTOMER,
            InteractionInput {
                kind: Some("email".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(i.interaction.details.occurred_at, now(), "default now");
}

#[tokio::test]
async fn bounds_of_body_duration_and_subject() {
    let at = now();
    let ok = InteractionInput {
        body: Some("x".repeat(MAX_BODY_BYTES)),
        duration_seconds: Some(MAX_DURATION_SECONDS),
        subject: Some("s".repeat(MAX_SUBJECT_CHARS)),
        ..call_at(at)
    };
    assert!(ok.clone().validate(at).is_ok());
    let bad = InteractionInput {
        body: Some("é".repeat(MAX_BODY_BYTES / 2 + 1)),
        duration_seconds: Some(MAX_DURATION_SECONDS + 1),
        subject: Some("s".repeat(MAX_SUBJECT_CHARS + 1)),
        direction: Some("up".into()),
        ..ok
    };
    let codes = bad.validate(at).unwrap_err();
    let got: Vec<(&str, &str)> = codes.iter().map(|e| (e.field.as_str(), e.code)).collect();
    assert_eq!(
        got,
        [
            ("direction", "invalid_value"),
            ("subject", "too_long"),
            ("body", "too_long"),
            ("duration_seconds", "out_of_range"),
        ]
    );
    assert!(codes[0].message.contains("inbound, outbound"));
}

#[tokio::test]
async fn a_contact_of_another_customer_is_refused_without_a_write() {
    let (svc, store) = setup();
    let err = svc
        .create(
            &actor("sales"),
            CUSTOMER,
            InteractionInput {
                contact_id: Some(Uuid::from_u128(99)),
                ..call_at(hours_ago(1))
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        field_codes(err),
        [("contact_id".to_owned(), "not_a_contact")]
    );
    assert_eq!(store.lock().unwrap().commits, 0);
    svc.create(
        &actor("sales"),
        CUSTOMER,
        InteractionInput {
            contact_id: Some(CONTACT.0),
            ..call_at(hours_ago(1))
        },
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn the_event_keeps_a_preview_of_a_long_body() {
    let (svc, store) = setup();
    let body = "ab".repeat(20_000);
    svc.create(
        &actor("sales"),
        CUSTOMER,
        InteractionInput {
            body: Some(body.clone()),
            ..call_at(hours_ago(1))
        },
    )
    .await
    .unwrap();
    let e = last_event(&store);
    assert_eq!(e.data["body_chars"], 40_000);
    assert_eq!(
        e.data["body_preview"].as_str().unwrap(),
        &body[..EVENT_PREVIEW_CHARS]
    );
    assert!(e.data.to_string().len() < 2_000);
}

#[tokio::test]
async fn completing_cancelling_and_reopening_follow_the_transitions() {
    let (svc, store) = setup();
    let me = actor("sales");
    let (d1, d2) = (now() + Duration::days(1), now() + Duration::days(2));
    let first = svc
        .create_follow_up(&me, CUSTOMER, follow_up_due(d1))
        .await
        .unwrap();
    let second = svc
        .create_follow_up(&me, CUSTOMER, follow_up_due(d2))
        .await
        .unwrap();
    assert_eq!(last_dates(&store).next_follow_up_at, Some(d1));

    let manager = testing::user_with("boss", &["manager"]);
    let done = svc
        .patch_follow_up(&manager, first.id, &SetStatus("done"), Some(1))
        .await
        .unwrap();
    assert_eq!(done.status, FollowUpStatus::Done);
    assert_eq!(done.completed_at, Some(now()));
    assert_eq!(done.completed_by, UserId::parse("boss"));
    assert_eq!(last_dates(&store).next_follow_up_at, Some(d2));
    let e = last_event(&store);
    assert_eq!(e.event_type, "follow_up.completed");
    assert_eq!(e.actor.sub, "boss");
    assert_eq!(e.customer_id, Some(CUSTOMER));
    assert_eq!(e.changes["status"], [json!("open"), json!("done")]);
    assert_eq!(e.changes["completed_by"], [json!(null), json!("boss")]);

    let err = svc
        .patch_follow_up(&me, first.id, &SetStatus("cancelled"), None)
        .await
        .unwrap_err();
    assert_eq!(
        field_codes(err),
        [("status".to_owned(), "invalid_transition")]
    );

    let reopened = svc
        .patch_follow_up(&me, first.id, &SetStatus("open"), None)
        .await
        .unwrap();
    assert_eq!((reopened.completed_at, reopened.completed_by), (None, None));
    assert_eq!(last_event(&store).event_type, "follow_up.reopened");
    assert_eq!(last_dates(&store).next_follow_up_at, Some(d1));

    svc.patch_follow_up(&me, first.id, &SetStatus("cancelled"), None)
        .await
        .unwrap();
    assert_eq!(last_event(&store).event_type, "follow_up.cancelled");
    svc.delete_follow_up(&me, second.id, None).await.unwrap();
    assert_eq!(last_event(&store).event_type, "follow_up.deleted");
    assert_eq!(last_dates(&store).next_follow_up_at, None);
}

#[test]
fn status_transitions() {
    use FollowUpStatus::{Cancelled, Done, Open};
    for (from, to, ok) in [
        (Open, Done, true),
        (Open, Cancelled, true),
        (Done, Open, true),
        (Cancelled, Open, true),
        (Done, Cancelled, false),
        (Cancelled, Done, false),
    ] {
        assert_eq!(from.can_become(to), ok, "{from} → {to}");
    }
}

#[test]
fn overdue_is_open_and_past_due() {
    let f = |status, due| FollowUp {
        id: FollowUpId(Uuid::from_u128(5)),
        tenant_id: TENANT,
        customer_id: CUSTOMER,
        details: follow_up_due(due)
            .validate("", &UserId::parse("u").unwrap())
            .unwrap()
            .0,
        status,
        completed_at: None,
        completed_by: None,
        interaction_id: None,
        version: 1,
        created_by: None,
        updated_by: None,
        created_at: now(),
        updated_at: now(),
    };
    let past = now() - Duration::seconds(1);
    assert!(f(FollowUpStatus::Open, past).is_overdue(now()));
    assert!(!f(FollowUpStatus::Done, past).is_overdue(now()));
    assert!(!f(FollowUpStatus::Open, now()).is_overdue(now()));
}

#[tokio::test]
async fn a_viewer_cannot_write_and_nothing_is_begun() {
    let (svc, store) = setup();
    let viewer = actor("viewer");
    assert!(matches!(
        svc.create(&viewer, CUSTOMER, call_at(now())).await,
        Err(DomainError::Forbidden(_))
    ));
    assert!(matches!(
        svc.create_follow_up(&viewer, CUSTOMER, follow_up_due(now()))
            .await,
        Err(DomainError::Forbidden(_))
    ));
    assert!(matches!(
        svc.delete(&viewer, InteractionId(Uuid::from_u128(7)), None)
            .await,
        Err(DomainError::Forbidden(_))
    ));
    assert_eq!(store.lock().unwrap().begun, 0);
}

#[tokio::test]
async fn a_soft_deleted_customer_hides_its_history() {
    let store = Shared::default();
    let svc = service_on(&store, live_customer());
    let me = actor("sales");
    let i = svc
        .create(&me, CUSTOMER, call_at(hours_ago(1)))
        .await
        .unwrap()
        .interaction;
    let deleted = Customer {
        deleted_at: Some(now()),
        ..live_customer()
    };
    let svc = service_on(&store, deleted);
    assert!(matches!(
        svc.get(&me, i.id).await,
        Err(DomainError::NotFound {
            entity: "interaction"
        })
    ));
    assert!(matches!(
        svc.create(&me, CUSTOMER, call_at(now())).await,
        Err(DomainError::NotFound { entity: "customer" })
    ));
    assert!(matches!(
        svc.delete(&me, i.id, None).await,
        Err(DomainError::NotFound {
            entity: "interaction"
        })
    ));
}

#[tokio::test]
async fn assignee_me_is_the_caller() {
    let mut repo = MockInteractionRepository::new();
    repo.expect_list_follow_ups()
        .withf(|_, _, q| q.assignee == UserId::parse("user-1") && q.now == now() && q.limit == 21)
        .returning(|_, _, _| Ok(vec![]));
    let svc = InteractionService::new(
        Arc::new(repo),
        Arc::new(MockCustomerRepository::new()),
        Arc::new(testing::tenants(now)),
        Arc::new(clock(now)),
        Arc::new(ids()),
    );
    svc.list_follow_ups(&actor("sales"), FollowUpQuery::default(), Some(ASSIGNEE_ME))
        .await
        .unwrap();
    assert!(
        svc.list_follow_ups(&actor("sales"), FollowUpQuery::default(), Some(" "))
            .await
            .is_err()
    );
}
