//! The contact service against mockall mocks of its ports.

use std::sync::{Arc, Mutex};

use chrono::Duration;
use uuid::Uuid;

use super::*;
use crate::customer::{Customer, MockCustomerRepository};
use crate::error::DomainError;
use crate::ids::{ContactId, CustomerId, UserId};
use crate::testing::{self, TENANT, actor, clock, field_codes, ids, now};
use crate::values::EmailAddress;

const CUSTOMER: CustomerId = CustomerId(Uuid::from_u128(2));

type Log = Arc<Mutex<Vec<String>>>;

/// Contact `n` of [`CUSTOMER`], created `n` minutes before now, e-mail `c<n>@example.com`.
fn contact(n: u128, primary: bool) -> Contact {
    let at = now() - Duration::minutes(i64::try_from(n).unwrap());
    Contact {
        id: ContactId(Uuid::from_u128(100 + n)),
        tenant_id: TENANT,
        customer_id: CUSTOMER,
        details: ContactInput {
            name: Some(format!("Contact {n}")),
            email: Some(format!("c{n}@example.com")),
            ..Default::default()
        }
        .validate("", None)
        .unwrap()
        .0,
        is_primary: primary,
        version: 1,
        created_by: None,
        updated_by: None,
        created_at: at,
        updated_at: at,
    }
}

fn id_of(n: u128) -> ContactId {
    ContactId(Uuid::from_u128(100 + n))
}

thread_local! {
    /// The events the transactions of this test's thread appended, in order.
    static EVENTS: std::cell::RefCell<Vec<crate::event::NewEvent>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The events appended so far on this thread.
fn appended() -> Vec<crate::event::NewEvent> {
    EVENTS.with(|e| e.borrow().clone())
}

/// A service whose storage holds `customer` (when given) with `stored` contacts (give them
/// oldest first); every write is appended to the log as `insert <id> <primary>`,
/// `update <id> <primary> v<version>`, `delete <id>`, `commit`.
fn service_with(
    customer: Option<Customer>,
    stored: Vec<Contact>,
    tenants: crate::tenant::MockTenantRepository,
) -> (ContactService, Log) {
    let log: Log = Arc::default();
    let mut repo = MockContactRepository::new();
    let (l, c, s) = (log.clone(), customer.clone(), stored.clone());
    repo.expect_begin().returning(move |_| {
        let mut tx = MockContactTransaction::new();
        let c = c.clone();
        tx.expect_lock_customer()
            .returning(move |_, _| Ok(c.clone()));
        let s2 = s.clone();
        tx.expect_contacts().returning(move |_, _| Ok(s2.clone()));
        let l1 = l.clone();
        tx.expect_insert().returning(move |c| {
            l1.lock()
                .unwrap()
                .push(format!("insert {} {}", c.id, c.is_primary));
            Ok(())
        });
        let l2 = l.clone();
        tx.expect_update().returning(move |c| {
            l2.lock()
                .unwrap()
                .push(format!("update {} {} v{}", c.id, c.is_primary, c.version));
            Ok(())
        });
        let l3 = l.clone();
        tx.expect_delete().returning(move |_, _, id| {
            l3.lock().unwrap().push(format!("delete {id}"));
            Ok(())
        });
        tx.expect_append_events().returning(|events| {
            EVENTS.with(|e| e.borrow_mut().extend_from_slice(events));
            Ok(())
        });
        let l5 = l.clone();
        tx.expect_commit().returning(move || {
            l5.lock().unwrap().push("commit".into());
            Ok(())
        });
        Ok(Box::new(tx))
    });
    let s = stored;
    repo.expect_list().returning(move |_, _| Ok(s.clone()));
    let mut customers = MockCustomerRepository::new();
    customers
        .expect_find()
        .returning(move |_, _, include_deleted| {
            Ok(customer
                .clone()
                .filter(|c| include_deleted || c.deleted_at.is_none()))
        });
    (
        ContactService::new(
            Arc::new(repo),
            Arc::new(customers),
            Arc::new(tenants),
            Arc::new(clock(now)),
            Arc::new(ids()),
        ),
        log,
    )
}

fn service(stored: Vec<Contact>) -> (ContactService, Log) {
    service_with(
        Some(testing::customer(CUSTOMER, now() - Duration::days(1))),
        stored,
        testing::tenants(now),
    )
}

fn named(name: &str) -> ContactInput {
    ContactInput {
        name: Some(name.into()),
        ..Default::default()
    }
}

fn entries(log: &Log) -> Vec<String> {
    log.lock().unwrap().clone()
}

/// A patch that sets `is_primary` and keeps every other field.
struct SetPrimary(bool);

impl ContactPatch for SetPrimary {
    fn apply(&self, current: &Contact) -> Result<ContactInput, DomainError> {
        let d = &current.details;
        Ok(ContactInput {
            name: Some(d.name.clone()),
            email: d.email.as_ref().map(|e| e.as_str().to_owned()),
            is_primary: Some(self.0),
            ..Default::default()
        })
    }
}

/// A patch that sets the e-mail.
struct SetEmail(&'static str);

impl ContactPatch for SetEmail {
    fn apply(&self, current: &Contact) -> Result<ContactInput, DomainError> {
        Ok(ContactInput {
            name: Some(current.details.name.clone()),
            email: Some(self.0.into()),
            ..Default::default()
        })
    }
}

#[tokio::test]
async fn the_first_contact_becomes_primary() {
    let (svc, log) = service(vec![]);
    let c = svc
        .create(&actor("sales"), CUSTOMER, named("Sari"))
        .await
        .unwrap();
    assert!(c.is_primary);
    assert_eq!(c.version, 1);
    assert_eq!(
        entries(&log),
        vec![format!("insert {} true", c.id), "commit".into()]
    );
}

#[tokio::test]
async fn a_later_contact_is_not_primary_unless_asked() {
    let (svc, _) = service(vec![contact(2, true)]);
    let c = svc
        .create(&actor("sales"), CUSTOMER, named("Sari"))
        .await
        .unwrap();
    assert!(!c.is_primary);
}

#[tokio::test]
async fn a_new_primary_demotes_the_old_one_first_in_the_same_transaction() {
    let (svc, log) = service(vec![contact(2, true), contact(1, false)]);
    let c = svc
        .create(
            &actor("sales"),
            CUSTOMER,
            ContactInput {
                is_primary: Some(true),
                ..named("Sari")
            },
        )
        .await
        .unwrap();
    assert!(c.is_primary);
    assert_eq!(
        entries(&log),
        vec![
            format!("update {} false v2", id_of(2)),
            format!("insert {} true", c.id),
            "commit".into()
        ]
    );
}

#[tokio::test]
async fn promoting_a_contact_swaps_the_primary() {
    let (svc, log) = service(vec![contact(2, true), contact(1, false)]);
    let c = svc
        .patch(
            &actor("sales"),
            CUSTOMER,
            id_of(1),
            &SetPrimary(true),
            Some(1),
        )
        .await
        .unwrap();
    assert!(c.is_primary);
    assert_eq!(c.version, 2);
    assert_eq!(
        entries(&log)[..2],
        [
            format!("update {} false v2", id_of(2)),
            format!("update {} true v2", id_of(1)),
        ]
    );
}

#[tokio::test]
async fn the_primary_cannot_be_demoted_directly() {
    let (svc, log) = service(vec![contact(2, true), contact(1, false)]);
    let e = svc
        .patch(
            &actor("sales"),
            CUSTOMER,
            id_of(2),
            &SetPrimary(false),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(
        field_codes(e),
        vec![("is_primary".to_owned(), "must_be_primary")]
    );
    assert!(entries(&log).is_empty());
}

#[tokio::test]
async fn deleting_the_primary_promotes_the_oldest_remaining_contact() {
    // Contact 3 is the oldest (3 minutes ago), then 2, then 1; 2 is the primary.
    let (svc, log) = service(vec![contact(3, false), contact(2, true), contact(1, false)]);
    svc.delete(&actor("sales"), CUSTOMER, id_of(2), None)
        .await
        .unwrap();
    assert_eq!(
        entries(&log),
        vec![
            format!("delete {}", id_of(2)),
            format!("update {} true v2", id_of(3)),
            "commit".into()
        ]
    );
}

#[tokio::test]
async fn deleting_another_contact_promotes_nobody() {
    let (svc, log) = service(vec![contact(3, false), contact(2, true)]);
    svc.delete(&actor("sales"), CUSTOMER, id_of(3), None)
        .await
        .unwrap();
    assert_eq!(
        entries(&log),
        vec![format!("delete {}", id_of(3)), "commit".into()]
    );
}

#[tokio::test]
async fn an_email_another_contact_holds_is_a_conflict_naming_it_case_insensitively() {
    let (svc, log) = service(vec![contact(2, true)]);
    let e = svc
        .create(
            &actor("sales"),
            CUSTOMER,
            ContactInput {
                email: Some("C2@Example.com".into()),
                ..named("Sari")
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        e,
        DomainError::Conflict {
            field: "email".into(),
            message: format!(
                "contact {} of this customer already has this e-mail",
                id_of(2)
            ),
            existing_id: Some(id_of(2).0),
        }
    );
    assert!(entries(&log).is_empty());
    // A contact keeps its own e-mail.
    let (svc, _) = service(vec![contact(2, true), contact(1, false)]);
    svc.patch(
        &actor("sales"),
        CUSTOMER,
        id_of(2),
        &SetEmail("C2@example.com"),
        None,
    )
    .await
    .unwrap();
    let e = svc
        .patch(
            &actor("sales"),
            CUSTOMER,
            id_of(1),
            &SetEmail("c2@example.com"),
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, DomainError::Conflict { .. }), "{e:?}");
}

#[tokio::test]
async fn a_customer_has_at_most_100_contacts() {
    let stored: Vec<Contact> = (1..=100).rev().map(|n| contact(n, n == 100)).collect();
    let (svc, log) = service(stored);
    let e = svc
        .create(&actor("sales"), CUSTOMER, named("One too many"))
        .await
        .unwrap_err();
    let DomainError::Validation(errors) = e else {
        panic!("{e:?}")
    };
    assert_eq!(errors[0].field, "contacts");
    assert_eq!(errors[0].code, "too_many");
    assert_eq!(errors[0].limit, Some(100));
    assert!(entries(&log).is_empty());
}

#[tokio::test]
async fn a_stale_if_match_is_a_precondition_failure() {
    let (svc, _) = service(vec![contact(2, true)]);
    let e = svc
        .patch(
            &actor("sales"),
            CUSTOMER,
            id_of(2),
            &SetEmail("x@example.com"),
            Some(7),
        )
        .await
        .unwrap_err();
    assert_eq!(
        e,
        DomainError::PreconditionFailed {
            expected: 7,
            current: 1
        }
    );
}

#[tokio::test]
async fn a_viewer_reads_but_cannot_write() {
    let (svc, log) = service(vec![contact(2, true)]);
    assert_eq!(svc.list(&actor("viewer"), CUSTOMER).await.unwrap().len(), 1);
    let e = svc
        .create(&actor("viewer"), CUSTOMER, named("Sari"))
        .await
        .unwrap_err();
    assert!(matches!(e, DomainError::Forbidden(_)), "{e:?}");
    assert!(entries(&log).is_empty());
}

#[tokio::test]
async fn a_deleted_or_invisible_customer_has_no_contacts() {
    let deleted = Customer {
        deleted_at: Some(now()),
        ..testing::customer(CUSTOMER, now())
    };
    let (svc, _) = service_with(Some(deleted), vec![contact(2, true)], testing::tenants(now));
    let not_found = DomainError::NotFound { entity: "customer" };
    assert_eq!(
        svc.list(&actor("admin"), CUSTOMER).await.unwrap_err(),
        not_found
    );
    assert_eq!(
        svc.create(&actor("admin"), CUSTOMER, named("x"))
            .await
            .unwrap_err(),
        not_found
    );
    // Under `sales_scope: "assigned"`, a sales user reaches only customers assigned to them.
    let mut theirs = testing::customer(CUSTOMER, now());
    theirs.profile.assigned_to = UserId::parse("someone-else");
    let (svc, log) = service_with(
        Some(theirs),
        vec![contact(2, true)],
        testing::scoped_tenants("assigned"),
    );
    let sales = testing::user_with("sales-1", &["sales"]);
    assert_eq!(svc.list(&sales, CUSTOMER).await.unwrap_err(), not_found);
    assert_eq!(
        svc.delete(&sales, CUSTOMER, id_of(2), None)
            .await
            .unwrap_err(),
        not_found
    );
    assert!(entries(&log).is_empty());
}

#[tokio::test]
async fn an_unknown_contact_is_not_found() {
    let (svc, _) = service(vec![contact(2, true)]);
    assert_eq!(
        svc.get(&actor("viewer"), CUSTOMER, id_of(9))
            .await
            .unwrap_err(),
        DomainError::NotFound { entity: "contact" }
    );
}

#[test]
fn nested_contacts_name_the_element_and_pick_one_primary() {
    let idgen = ids();
    let e = nested_contacts(
        vec![
            named("A"),
            ContactInput {
                email: Some("bad".into()),
                ..named("B")
            },
        ],
        TENANT,
        CUSTOMER,
        None,
        None,
        now(),
        &idgen,
    )
    .unwrap_err();
    assert_eq!(
        field_codes(e),
        vec![("contacts[1].email".to_owned(), "invalid_email")]
    );
    let made = nested_contacts(
        vec![
            named("A"),
            ContactInput {
                is_primary: Some(true),
                email: Some("b@example.com".into()),
                ..named("B")
            },
        ],
        TENANT,
        CUSTOMER,
        None,
        None,
        now(),
        &idgen,
    )
    .unwrap();
    assert_eq!(
        made.iter().map(|c| c.is_primary).collect::<Vec<_>>(),
        [false, true]
    );
    assert_eq!(made[1].details.email, EmailAddress::parse("b@example.com"));
    let first = nested_contacts(
        vec![named("A"), named("B")],
        TENANT,
        CUSTOMER,
        None,
        None,
        now(),
        &idgen,
    )
    .unwrap();
    assert!(first[0].is_primary && !first[1].is_primary);
    let e = nested_contacts(
        vec![
            ContactInput {
                is_primary: Some(true),
                email: Some("x@example.com".into()),
                ..named("A")
            },
            ContactInput {
                is_primary: Some(true),
                email: Some("X@example.com".into()),
                ..named("B")
            },
        ],
        TENANT,
        CUSTOMER,
        None,
        None,
        now(),
        &idgen,
    )
    .unwrap_err();
    assert_eq!(
        field_codes(e),
        vec![
            ("contacts[1].email".to_owned(), "duplicate"),
            ("contacts[1].is_primary".to_owned(), "one_primary")
        ]
    );
    let e = nested_contacts(
        vec![named("A"); 101],
        TENANT,
        CUSTOMER,
        None,
        None,
        now(),
        &idgen,
    )
    .unwrap_err();
    assert_eq!(field_codes(e), vec![("contacts".to_owned(), "too_many")]);
}

/// `POST /customers` with contacts: they reach the repository's create (one transaction) with
/// the new customer's id, the marked one primary; one bad element writes nothing.
#[tokio::test]
async fn a_customer_created_with_contacts_hands_them_to_the_same_write() {
    use crate::customer::{Created, CustomerService};
    let seen: Arc<Mutex<Vec<Contact>>> = Arc::default();
    let s = seen.clone();
    let mut repo = MockCustomerRepository::new();
    repo.expect_find_by_unique().returning(|_, _, _| Ok(None));
    repo.expect_create().times(1).returning(move |new, _, _| {
        assert!(
            new.contacts
                .iter()
                .all(|c| c.customer_id == new.id && c.tenant_id == TENANT)
        );
        s.lock().unwrap().extend(new.contacts.clone());
        Ok(Customer {
            id: new.id,
            ..testing::customer(new.id, now())
        })
    });
    let svc = CustomerService::new(
        Arc::new(repo),
        Arc::new(testing::tenants(now)),
        Arc::new(clock(now)),
        Arc::new(ids()),
    );
    let contacts = vec![
        named("Sari"),
        ContactInput {
            is_primary: Some(true),
            phone: Some("0812 3456 7890".into()),
            ..named("Budi")
        },
    ];
    let Created { customer, .. } = svc
        .create_nested(
            &actor("sales"),
            testing::budi(),
            crate::customer::NestedInput {
                contacts: contacts.clone(),
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|c| c.customer_id == customer.id));
    assert_eq!(
        seen.iter().map(|c| c.is_primary).collect::<Vec<_>>(),
        [false, true]
    );
    assert_eq!(
        seen[1].details.phone.as_ref().unwrap().as_str(),
        "+6281234567890"
    );

    let mut repo = MockCustomerRepository::new();
    repo.expect_find_by_unique().returning(|_, _, _| Ok(None));
    repo.expect_create().never();
    let svc = CustomerService::new(
        Arc::new(repo),
        Arc::new(testing::tenants(now)),
        Arc::new(clock(now)),
        Arc::new(ids()),
    );
    let bad = vec![
        named("Sari"),
        ContactInput {
            email: Some("nope".into()),
            ..named("Budi")
        },
    ];
    let e = svc
        .create_nested(
            &actor("sales"),
            testing::budi(),
            crate::customer::NestedInput {
                contacts: bad,
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(
        field_codes(e),
        vec![("contacts[1].email".to_owned(), "invalid_email")]
    );
}

#[tokio::test]
async fn contact_writes_append_their_events_by_the_caller() {
    // A new primary: the old primary's `contact.updated` (is_primary), then `contact.added`.
    let (svc, _) = service(vec![contact(2, true)]);
    let c = svc
        .create(
            &actor("sales"),
            CUSTOMER,
            ContactInput {
                is_primary: Some(true),
                ..named("Sari")
            },
        )
        .await
        .unwrap();
    let events = appended();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["contact.updated", "contact.added"]);
    assert_eq!(events[0].entity_id, id_of(2).0);
    assert_eq!(
        events[0].changes,
        crate::event::FieldChanges::from([(
            "is_primary".to_owned(),
            [serde_json::json!(true), serde_json::json!(false)]
        )])
    );
    assert_eq!(events[1].entity_id, c.id.0);
    assert_eq!(events[1].data["name"], "Sari");
    assert_eq!(events[1].data["is_primary"], true);
    for e in &events {
        assert_eq!(e.customer_id, Some(CUSTOMER));
        assert_eq!(e.actor.sub, actor("sales").user_id.as_str());
        assert_eq!(e.actor.role.as_deref(), Some("sales"));
        assert_eq!(e.occurred_at, now());
    }
}

#[tokio::test]
async fn deleting_the_primary_appends_its_removal_then_the_heirs_promotion() {
    let (svc, _) = service(vec![contact(3, false), contact(2, true)]);
    svc.delete(&actor("manager"), CUSTOMER, id_of(2), None)
        .await
        .unwrap();
    let events = appended();
    let got: Vec<(&str, uuid::Uuid)> = events
        .iter()
        .map(|e| (e.event_type.as_str(), e.entity_id))
        .collect();
    assert_eq!(
        got,
        [
            ("contact.removed", id_of(2).0),
            ("contact.updated", id_of(3).0)
        ]
    );
    assert_eq!(
        events[1].changes["is_primary"],
        [serde_json::json!(false), serde_json::json!(true)]
    );
    assert_eq!(events[0].actor.role.as_deref(), Some("manager"));
}

fn person(name: &str, email: Option<&str>) -> ContactInput {
    ContactInput {
        name: Some(name.into()),
        email: email.map(Into::into),
        ..Default::default()
    }
}

#[test]
fn a_replaced_set_keeps_the_marked_else_the_previous_else_the_first_primary() {
    let stored = [contact(3, false), contact(2, true), contact(1, false)];
    let merge = |elements: Vec<(Option<ContactId>, ContactInput)>| {
        replace_contacts(
            &stored,
            elements,
            TENANT,
            CUSTOMER,
            None,
            None,
            now(),
            &ids(),
        )
    };
    // The previous primary listed: it stays, unchanged; 1 is removed; a new one added.
    let kept = merge(vec![
        (Some(id_of(3)), person("Contact 3", Some("c3@example.com"))),
        (Some(id_of(2)), person("Contact 2", Some("c2@example.com"))),
        (None, person("New", None)),
    ])
    .unwrap();
    assert!(kept.updated.is_empty(), "{:?}", kept.updated);
    assert_eq!(
        kept.removed.iter().map(|c| c.id).collect::<Vec<_>>(),
        [id_of(1)]
    );
    assert!(!kept.added[0].is_primary);
    // A marked element takes the primary; the previous primary is demoted.
    let marked = merge(vec![
        (Some(id_of(2)), person("Contact 2", Some("c2@example.com"))),
        (
            None,
            ContactInput {
                is_primary: Some(true),
                ..person("New", None)
            },
        ),
    ])
    .unwrap();
    assert_eq!(marked.updated.len(), 1);
    assert!(!marked.updated[0].1.is_primary);
    assert_eq!(marked.updated[0].1.version, 2);
    assert!(marked.added[0].is_primary);
    // The previous primary left out: the first listed.
    let first = merge(vec![(Some(id_of(1)), person("Renamed", None))]).unwrap();
    assert!(first.updated[0].1.is_primary);
    assert_eq!(first.updated[0].1.details.name, "Renamed");
    assert_eq!(first.removed.len(), 2);
    // Ids not the customer's, repeated ids and repeated e-mails are named by the path.
    let err = merge(vec![
        (Some(ContactId(Uuid::from_u128(999))), person("A", None)),
        (Some(id_of(2)), person("B", Some("x@example.com"))),
        (Some(id_of(2)), person("C", Some("X@example.com"))),
    ])
    .unwrap_err();
    assert_eq!(
        field_codes(err),
        [
            ("contacts[0].id".to_owned(), "unknown_contact"),
            ("contacts[2].id".to_owned(), "duplicate"),
            ("contacts[2].email".to_owned(), "duplicate"),
        ]
    );
    assert_eq!(merge(vec![]).unwrap().removed.len(), 3);
}
