//! The address service against mockall mocks of its ports.

use std::sync::{Arc, Mutex};

use chrono::Duration;
use uuid::Uuid;

use super::*;
use crate::access::Permission;
use crate::customer::{Customer, MockCustomerRepository};
use crate::error::DomainError;
use crate::ids::{CustomerId, UserId};
use crate::testing::{self, TENANT, actor, clock, fixed_ids, now, tenants};

const ID: CustomerId = CustomerId(Uuid::from_u128(2));
const NEW: Uuid = Uuid::from_u128(900);

fn customer() -> Customer {
    testing::customer(ID, now() - Duration::days(30))
}

/// A stored address `n` of `type` (created `n` minutes after the customer).
fn stored(n: u128, address_type: AddressType, is_default: bool) -> Address {
    let (fields, _) = AddressInput {
        address_type: Some(address_type.as_str().into()),
        line1: Some(format!("Jl. Nomor {n}")),
        city: Some("Bandung".into()),
        ..Default::default()
    }
    .validate("", crate::values::CountryCode::parse("ID"))
    .unwrap();
    Address {
        id: AddressId(Uuid::from_u128(100 + n)),
        tenant_id: TENANT,
        customer_id: ID,
        fields,
        is_default,
        created_by: None,
        updated_by: None,
        created_at: now() - Duration::days(1) + Duration::minutes(n as i64),
        updated_at: now() - Duration::days(1),
        version: 1,
    }
}

fn input(address_type: &str, is_default: Option<bool>) -> AddressInput {
    AddressInput {
        address_type: Some(address_type.into()),
        line1: Some("Jl. Asia Afrika 8".into()),
        city: Some("Bandung".into()),
        is_default,
        ..Default::default()
    }
}

/// What a transaction was asked to write, in order: `insert <id> default=<b>`,
/// `update <id> default=<b> v<expected>`, `delete <id>`, `commit`.
type Log = Arc<Mutex<Vec<String>>>;

fn transaction(
    holder: Option<Customer>,
    existing: Vec<Address>,
    log: Log,
) -> MockAddressTransaction {
    let mut tx = MockAddressTransaction::new();
    tx.expect_lock_customer()
        .returning(move |_, _| Ok(holder.clone()));
    tx.expect_addresses()
        .returning(move |_, _| Ok(existing.clone()));
    let l = log.clone();
    tx.expect_insert().returning(move |a| {
        l.lock().unwrap().push(format!(
            "insert {} default={}",
            a.id.0.as_u128(),
            a.is_default
        ));
        Ok(())
    });
    let l = log.clone();
    tx.expect_update().returning(move |a, v| {
        l.lock().unwrap().push(format!(
            "update {} default={} v{v}",
            a.id.0.as_u128(),
            a.is_default
        ));
        Ok(())
    });
    let l = log.clone();
    tx.expect_delete().returning(move |_, id| {
        l.lock().unwrap().push(format!("delete {}", id.0.as_u128()));
        Ok(())
    });
    tx.expect_append_events().returning(|events| {
        EVENTS.with(|e| e.borrow_mut().extend_from_slice(events));
        Ok(())
    });
    tx.expect_commit().returning(move || {
        log.lock().unwrap().push("commit".into());
        Ok(())
    });
    tx
}

thread_local! {
    /// The events the transactions of this test's thread appended, in order.
    static EVENTS: std::cell::RefCell<Vec<crate::event::NewEvent>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The events appended so far on this thread.
fn appended() -> Vec<crate::event::NewEvent> {
    EVENTS.with(|e| e.borrow().clone())
}

fn service(
    holder: Option<Customer>,
    existing: Vec<Address>,
    log: Log,
    tenants: crate::tenant::MockTenantRepository,
) -> AddressService {
    let mut repo = MockAddressRepository::new();
    let listed = existing.clone();
    repo.expect_list().returning(move |_, _| Ok(listed.clone()));
    let mut customers = MockCustomerRepository::new();
    let found = holder.clone();
    customers
        .expect_find()
        .returning(move |_, _, include_deleted| {
            Ok(found
                .clone()
                .filter(|c| include_deleted || c.deleted_at.is_none()))
        });
    repo.expect_begin().returning(move |_| {
        Ok(Box::new(transaction(
            holder.clone(),
            existing.clone(),
            log.clone(),
        )))
    });
    AddressService::new(
        Arc::new(customers),
        Arc::new(repo),
        Arc::new(tenants),
        Arc::new(clock(now)),
        Arc::new(fixed_ids(NEW)),
    )
}

fn plain(holder: Option<Customer>, existing: Vec<Address>) -> (AddressService, Log) {
    let log: Log = Arc::default();
    (service(holder, existing, log.clone(), tenants(now)), log)
}

fn written(log: &Log) -> Vec<String> {
    log.lock().unwrap().clone()
}

#[tokio::test]
async fn the_first_address_of_a_type_becomes_its_default_and_the_next_does_not() {
    let (svc, log) = plain(
        Some(customer()),
        vec![stored(1, AddressType::Shipping, true)],
    );
    let a = svc
        .create(&actor("sales"), ID, input("billing", None))
        .await
        .unwrap();
    assert!(a.is_default);
    assert_eq!(a.version, 1);
    assert_eq!(written(&log), vec!["insert 900 default=true", "commit"]);

    let (svc, log) = plain(
        Some(customer()),
        vec![stored(1, AddressType::Billing, true)],
    );
    let a = svc
        .create(&actor("sales"), ID, input("billing", Some(false)))
        .await
        .unwrap();
    assert!(!a.is_default);
    assert_eq!(written(&log), vec!["insert 900 default=false", "commit"]);
}

#[tokio::test]
async fn making_a_new_address_the_default_unsets_the_previous_one_first_in_the_same_transaction() {
    let (svc, log) = plain(
        Some(customer()),
        vec![
            stored(1, AddressType::Billing, true),
            stored(2, AddressType::Shipping, true),
        ],
    );
    let a = svc
        .create(&actor("sales"), ID, input("billing", Some(true)))
        .await
        .unwrap();
    assert!(a.is_default);
    assert_eq!(
        written(&log),
        vec![
            "update 101 default=false v1",
            "insert 900 default=true",
            "commit"
        ]
    );
}

#[tokio::test]
async fn a_customer_holds_at_most_50_addresses() {
    let existing: Vec<Address> = (0..50)
        .map(|n| stored(n, AddressType::Other, n == 0))
        .collect();
    let (svc, log) = plain(Some(customer()), existing);
    let err = svc
        .create(&actor("sales"), ID, input("other", None))
        .await
        .unwrap_err();
    let DomainError::Validation(errors) = err else {
        panic!("{err:?}")
    };
    assert_eq!(
        (errors[0].field.as_str(), errors[0].code, errors[0].limit),
        ("addresses", "too_many", Some(50))
    );
    assert!(written(&log).is_empty(), "nothing written or committed");
}

#[tokio::test]
async fn deleting_the_default_promotes_the_oldest_remaining_address_of_its_type() {
    let (svc, log) = plain(
        Some(customer()),
        vec![
            stored(1, AddressType::Billing, true),
            stored(3, AddressType::Billing, false),
            stored(2, AddressType::Billing, false),
            stored(0, AddressType::Shipping, true),
        ],
    );
    svc.delete(&actor("sales"), ID, AddressId(Uuid::from_u128(101)), None)
        .await
        .unwrap();
    assert_eq!(
        written(&log),
        vec!["delete 101", "update 102 default=true v1", "commit"]
    );
}

#[tokio::test]
async fn deleting_the_last_address_of_a_type_leaves_no_default() {
    let (svc, log) = plain(
        Some(customer()),
        vec![
            stored(1, AddressType::Billing, true),
            stored(2, AddressType::Shipping, true),
        ],
    );
    svc.delete(&actor("sales"), ID, AddressId(Uuid::from_u128(101)), None)
        .await
        .unwrap();
    assert_eq!(written(&log), vec!["delete 101", "commit"]);
}

struct Set(AddressInput);

impl AddressPatch for Set {
    fn apply(&self, current: &Address) -> Result<AddressInput, DomainError> {
        let mut base = AddressInput::from(current);
        let p = self.0.clone();
        base.address_type = p.address_type.or(base.address_type);
        base.is_default = p.is_default;
        Ok(base)
    }
}

#[tokio::test]
async fn the_only_default_of_a_type_cannot_be_unset_but_another_can_take_over() {
    let existing = vec![
        stored(1, AddressType::Billing, true),
        stored(2, AddressType::Billing, false),
    ];
    let (svc, log) = plain(Some(customer()), existing.clone());
    let unset = Set(AddressInput {
        is_default: Some(false),
        ..Default::default()
    });
    let err = svc
        .patch(
            &actor("sales"),
            ID,
            AddressId(Uuid::from_u128(101)),
            &unset,
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(
        testing::field_codes(err),
        vec![("is_default".into(), "default_required")]
    );
    assert!(written(&log).is_empty());

    let (svc, log) = plain(Some(customer()), existing);
    let take = Set(AddressInput {
        is_default: Some(true),
        ..Default::default()
    });
    let a = svc
        .patch(
            &actor("sales"),
            ID,
            AddressId(Uuid::from_u128(102)),
            &take,
            Some(1),
        )
        .await
        .unwrap();
    assert_eq!((a.is_default, a.version), (true, 2));
    assert_eq!(
        written(&log),
        vec![
            "update 101 default=false v1",
            "update 102 default=true v1",
            "commit"
        ]
    );
}

#[tokio::test]
async fn moving_the_default_to_another_type_promotes_an_heir_in_the_old_type() {
    let (svc, log) = plain(
        Some(customer()),
        vec![
            stored(1, AddressType::Billing, true),
            stored(2, AddressType::Billing, false),
        ],
    );
    let to_shipping = Set(AddressInput {
        address_type: Some("shipping".into()),
        ..Default::default()
    });
    let a = svc
        .patch(
            &actor("sales"),
            ID,
            AddressId(Uuid::from_u128(101)),
            &to_shipping,
            None,
        )
        .await
        .unwrap();
    assert!(a.is_default, "first of the shipping type");
    assert_eq!(
        written(&log),
        vec![
            "update 101 default=true v1",
            "update 102 default=true v1",
            "commit"
        ]
    );
}

#[tokio::test]
async fn a_stale_if_match_is_a_precondition_failure() {
    let (svc, log) = plain(
        Some(customer()),
        vec![stored(1, AddressType::Billing, true)],
    );
    let err = svc
        .delete(
            &actor("sales"),
            ID,
            AddressId(Uuid::from_u128(101)),
            Some(7),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err,
        DomainError::PreconditionFailed {
            expected: 7,
            current: 1
        }
    );
    assert!(written(&log).is_empty());
}

#[tokio::test]
async fn a_deleted_customer_and_one_outside_the_callers_scope_have_no_addresses() {
    let deleted = Customer {
        deleted_at: Some(now()),
        ..customer()
    };
    let (svc, log) = plain(Some(deleted), vec![stored(1, AddressType::Billing, true)]);
    for err in [
        svc.list(&actor("sales"), ID).await.unwrap_err(),
        svc.create(&actor("sales"), ID, input("billing", None))
            .await
            .unwrap_err(),
    ] {
        assert_eq!(err, DomainError::NotFound { entity: "customer" });
    }
    assert!(written(&log).is_empty());

    let mut theirs = customer();
    theirs.profile.assigned_to = UserId::parse("someone-else");
    let log: Log = Arc::default();
    let svc = service(
        Some(theirs),
        vec![],
        log.clone(),
        testing::scoped_tenants("assigned"),
    );
    let sales = testing::user_with("user-1", &["sales"]);
    assert_eq!(
        svc.list(&sales, ID).await.unwrap_err(),
        DomainError::NotFound { entity: "customer" }
    );
    assert_eq!(
        svc.create(&sales, ID, input("billing", None))
            .await
            .unwrap_err(),
        DomainError::NotFound { entity: "customer" }
    );
    assert!(written(&log).is_empty());
}

#[tokio::test]
async fn reading_needs_view_and_writing_needs_edit() {
    let (svc, log) = plain(Some(customer()), vec![]);
    assert_eq!(
        svc.create(&actor("viewer"), ID, input("billing", None))
            .await
            .unwrap_err(),
        DomainError::Forbidden(Permission::CustomersEdit)
    );
    assert!(svc.list(&actor("viewer"), ID).await.unwrap().is_empty());
    assert!(written(&log).is_empty());
}

#[tokio::test]
async fn invalid_input_is_refused_before_any_transaction() {
    let (svc, log) = plain(Some(customer()), vec![]);
    let err = svc
        .create(
            &actor("sales"),
            ID,
            AddressInput {
                latitude: Some(100.0),
                longitude: Some(0.0),
                ..input("billing", None)
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        testing::field_codes(err),
        vec![("latitude".into(), "out_of_range")]
    );
    assert!(written(&log).is_empty());
}

#[tokio::test]
async fn a_new_default_appends_the_old_defaults_update_then_the_added_address() {
    let (svc, _) = plain(
        Some(customer()),
        vec![stored(1, AddressType::Billing, true)],
    );
    let a = svc
        .create(&actor("sales"), ID, input("billing", Some(true)))
        .await
        .unwrap();
    let events = appended();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["address.updated", "address.added"]);
    assert_eq!(events[0].entity_id, Uuid::from_u128(101));
    assert_eq!(
        events[0].changes,
        crate::event::FieldChanges::from([(
            "is_default".to_owned(),
            [serde_json::json!(true), serde_json::json!(false)]
        )])
    );
    assert_eq!(events[1].entity_id, a.id.0);
    assert_eq!(events[1].data["type"], "billing");
    assert_eq!(events[1].data["is_default"], true);
    for e in &events {
        assert_eq!(e.customer_id, Some(ID));
        assert_eq!(e.actor.sub, actor("sales").user_id.as_str());
        assert_eq!(e.actor.role.as_deref(), Some("sales"));
    }
}

#[tokio::test]
async fn deleting_the_default_appends_its_removal_then_the_heirs_promotion() {
    let (svc, _) = plain(
        Some(customer()),
        vec![
            stored(1, AddressType::Billing, true),
            stored(2, AddressType::Billing, false),
        ],
    );
    svc.delete(&actor("sales"), ID, AddressId(Uuid::from_u128(101)), None)
        .await
        .unwrap();
    let got: Vec<(String, Uuid)> = appended()
        .into_iter()
        .map(|e| (e.event_type, e.entity_id))
        .collect();
    assert_eq!(
        got,
        [
            ("address.removed".to_owned(), Uuid::from_u128(101)),
            ("address.updated".to_owned(), Uuid::from_u128(102)),
        ]
    );
}
