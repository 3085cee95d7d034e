//! The customer service against mockall mocks of its ports.

use std::sync::Arc;

use chrono::Utc;
use uuid::Uuid;

use super::*;
use crate::access::Visibility;
use crate::error::{DomainError, RepositoryError};
use crate::ids::{CustomerId, UserId};
use crate::testing::{
    TENANT, actor, clock, customer, field_codes, ids, now, profile, scoped_tenants, tenants,
    user_with,
};

fn service(repo: MockCustomerRepository) -> CustomerService {
    CustomerService::new(
        Arc::new(repo),
        Arc::new(tenants(Utc::now)),
        Arc::new(clock(now)),
        Arc::new(ids()),
    )
}

fn input() -> CustomerInput {
    CustomerInput {
        name: Some("Budi".into()),
        email: Some("Budi@Example.com".into()),
        ..Default::default()
    }
}

fn stored(id: CustomerId, version: i64) -> Customer {
    Customer {
        profile: profile(input(), Utc::now().date_naive()),
        version,
        ..customer(id, Utc::now())
    }
}

fn from_new(new: NewCustomer) -> Customer {
    Customer {
        id: new.id,
        tenant_id: new.tenant_id,
        customer_number: 7,
        customer_code: customer_code(2026, 7),
        profile: new.profile,
        stats: PurchaseStats::default(),
        loyalty: LoyaltyStatus::default(),
        rfm: None,
        created_by: new.created_by,
        updated_by: None,
        created_at: new.created_at,
        updated_at: new.created_at,
        deleted_at: None,
        erased_at: None,
        erased_by: None,
        version: 1,
    }
}

#[tokio::test]
async fn create_stores_the_validated_customer_in_the_callers_tenant() {
    let mut repo = MockCustomerRepository::new();
    repo.expect_find_by_unique().returning(|_, _, _| Ok(None));
    repo.expect_create()
        .withf(|new, idem, _| {
            new.tenant_id == TENANT
                && new.profile.email.as_ref().map(|e| e.as_str()) == Some("budi@example.com")
                && new.created_by.as_ref().map(UserId::as_str) == Some("user-1")
                && idem.is_none()
        })
        .times(1)
        .returning(|new, _, _| Ok(from_new(new)));
    let created = service(repo)
        .create(&actor("sales"), input(), None)
        .await
        .unwrap();
    assert!(!created.replayed);
    assert_eq!(created.customer.customer_code, "CUST-2026-0007");
}

#[tokio::test]
async fn create_needs_the_create_permission() {
    let mut repo = MockCustomerRepository::new();
    repo.expect_create().never();
    let err = service(repo)
        .create(&actor("viewer"), input(), None)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        DomainError::Forbidden(crate::Permission::CustomersCreate)
    );
}

#[tokio::test]
async fn create_reports_invalid_input_without_writing() {
    let mut repo = MockCustomerRepository::new();
    repo.expect_create().never();
    let bad = CustomerInput {
        name: None,
        ..input()
    };
    let err = service(repo)
        .create(&actor("admin"), bad, None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, DomainError::Validation(ref e) if e[0].field == "name"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_taken_email_is_a_conflict_naming_the_existing_customer() {
    let existing = CustomerId(Uuid::now_v7());
    let mut repo = MockCustomerRepository::new();
    repo.expect_find_by_unique()
        .withf(|t, f, v| *t == TENANT && *f == UniqueField::Email && v == "budi@example.com")
        .returning(move |_, _, _| Ok(Some(existing)));
    repo.expect_create().never();
    let err = service(repo)
        .create(&actor("admin"), input(), None)
        .await
        .unwrap_err();
    let DomainError::Conflict {
        field, existing_id, ..
    } = err
    else {
        panic!("{err:?}")
    };
    assert_eq!((field.as_str(), existing_id), ("email", Some(existing.0)));
}

#[tokio::test]
async fn a_unique_violation_while_writing_still_names_the_existing_customer() {
    let existing = CustomerId(Uuid::now_v7());
    let mut repo = MockCustomerRepository::new();
    let mut seq = mockall::Sequence::new();
    repo.expect_find_by_unique()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Ok(None));
    repo.expect_create()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| {
            Err(RepositoryError::Conflict {
                field: "email".into(),
            })
        });
    repo.expect_find_by_unique()
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_, _, _| Ok(Some(existing)));
    let err = service(repo)
        .create(&actor("admin"), input(), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, DomainError::Conflict { existing_id: Some(id), .. } if id == existing.0),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_unknown_referrer_is_a_validation_error() {
    let mut repo = MockCustomerRepository::new();
    repo.expect_find().returning(|_, _, _| Ok(None));
    repo.expect_create().never();
    let with_ref = CustomerInput {
        referred_by: Some(Uuid::now_v7()),
        ..input()
    };
    let err = service(repo)
        .create(&actor("admin"), with_ref, None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, DomainError::Validation(ref e) if e[0].field == "referred_by"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_repeated_idempotency_key_replays_the_first_customer() {
    let first = CustomerId(Uuid::now_v7());
    let mut repo = MockCustomerRepository::new();
    repo.expect_find_idempotency().returning(move |_, key| {
        Ok(Some(IdempotencyRecord {
            key: key.to_owned(),
            fingerprint: "abc".into(),
            customer_id: first,
            created_at: Utc::now(),
        }))
    });
    repo.expect_find()
        .withf(move |t, id, deleted| *t == TENANT && *id == first && *deleted)
        .returning(move |_, id, _| Ok(Some(stored(id, 1))));
    repo.expect_create().never();
    let key = IdempotencyKey {
        key: "k-1".into(),
        fingerprint: "abc".into(),
    };
    let created = service(repo)
        .create(&actor("admin"), input(), Some(key))
        .await
        .unwrap();
    assert!(created.replayed);
    assert_eq!(created.customer.id, first);
}

#[tokio::test]
async fn an_idempotency_key_reused_with_another_body_is_refused() {
    let mut repo = MockCustomerRepository::new();
    repo.expect_find_idempotency().returning(|_, key| {
        Ok(Some(IdempotencyRecord {
            key: key.to_owned(),
            fingerprint: "first".into(),
            customer_id: CustomerId(Uuid::now_v7()),
            created_at: Utc::now(),
        }))
    });
    repo.expect_create().never();
    let key = IdempotencyKey {
        key: "k-1".into(),
        fingerprint: "second".into(),
    };
    let err = service(repo)
        .create(&actor("admin"), input(), Some(key))
        .await
        .unwrap_err();
    assert_eq!(err, DomainError::IdempotencyKeyReused);
}

#[tokio::test]
async fn a_stale_expected_version_is_a_failed_precondition() {
    let id = CustomerId(Uuid::now_v7());
    let mut repo = MockCustomerRepository::new();
    repo.expect_find_by_unique()
        .returning(move |_, _, _| Ok(Some(id)));
    repo.expect_find()
        .returning(|_, id, _| Ok(Some(stored(id, 3))));
    repo.expect_update_profile().never();
    let err = service(repo)
        .replace(&actor("admin"), id, input(), Some(2))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        DomainError::PreconditionFailed {
            expected: 2,
            current: 3
        }
    );
}

#[tokio::test]
async fn an_unconditional_replace_retries_on_a_concurrent_change() {
    let id = CustomerId(Uuid::now_v7());
    let mut repo = MockCustomerRepository::new();
    repo.expect_find_by_unique()
        .returning(move |_, _, _| Ok(Some(id)));
    let mut version = 0;
    repo.expect_find().times(2).returning(move |_, id, _| {
        version += 1;
        Ok(Some(stored(id, version)))
    });
    let mut seq = mockall::Sequence::new();
    repo.expect_update_profile()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Err(RepositoryError::Stale));
    repo.expect_update_profile()
        .withf(|u| u.expected_version == 2)
        .times(1)
        .in_sequence(&mut seq)
        .returning(|u| Ok(stored(u.id, 3)));
    let c = service(repo)
        .replace(&actor("sales"), id, input(), None)
        .await
        .unwrap();
    assert_eq!(c.version, 3);
}

#[tokio::test]
async fn another_tenants_customer_is_not_found() {
    let mut repo = MockCustomerRepository::new();
    repo.expect_find()
        .withf(|t, _, _| *t == TENANT)
        .returning(|_, _, _| Ok(None));
    let err = service(repo)
        .get(&actor("viewer"), CustomerId(Uuid::now_v7()))
        .await
        .unwrap_err();
    assert_eq!(err, DomainError::NotFound { entity: "customer" });
}

#[tokio::test]
async fn delete_needs_the_delete_permission() {
    let mut repo = MockCustomerRepository::new();
    repo.expect_set_deleted().never();
    let err = service(repo)
        .delete(&actor("sales"), CustomerId(Uuid::now_v7()), None)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        DomainError::Forbidden(crate::Permission::CustomersDelete)
    );
}

#[tokio::test]
async fn restore_refuses_when_a_live_customer_took_the_email() {
    let id = CustomerId(Uuid::now_v7());
    let other = CustomerId(Uuid::now_v7());
    let mut repo = MockCustomerRepository::new();
    repo.expect_find().returning(|_, id, _| {
        Ok(Some(Customer {
            deleted_at: Some(Utc::now()),
            ..stored(id, 2)
        }))
    });
    repo.expect_find_by_unique()
        .returning(move |_, _, _| Ok(Some(other)));
    repo.expect_set_deleted().never();
    let err = service(repo)
        .restore(&actor("manager"), id)
        .await
        .unwrap_err();
    assert!(
        matches!(err, DomainError::Conflict { existing_id: Some(x), .. } if x == other.0),
        "{err:?}"
    );
}

fn query(limit: u32) -> CustomerQuery {
    CustomerQuery {
        filter: Default::default(),
        sort: vec![],
        deleted: Deleted::Exclude,
        limit,
        after: None,
        offset: None,
        now: Utc::now(),
        search: None,
    }
}

#[tokio::test]
async fn list_asks_for_one_extra_row_to_know_whether_a_next_page_exists() {
    let mut repo = MockCustomerRepository::new();
    repo.expect_list()
        .withf(|t, _, q| *t == TENANT && q.limit == 3)
        .returning(|_, _, _| {
            Ok((0..3)
                .map(|_| stored(CustomerId(Uuid::now_v7()), 1))
                .collect())
        });
    repo.expect_count().never();
    let page = service(repo)
        .list(&actor("viewer"), query(2), false)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 2);
    assert_eq!(page.next.map(|c| c.id), Some(page.items[1].id));
    assert_eq!(page.total, None);
}

#[tokio::test]
async fn list_limit_is_between_1_and_200() {
    let repo = MockCustomerRepository::new();
    let err = service(repo)
        .list(&actor("viewer"), query(201), false)
        .await
        .unwrap_err();
    assert!(matches!(err, DomainError::Validation(ref e) if e[0].field == "limit"));
}

#[tokio::test]
async fn a_filter_over_the_limits_is_refused_before_any_query_on_every_use_case() {
    use crate::customer::filter::{Condition, Field, Filter, MAX_TAG_VALUES, Op, Operand};
    // A tag set no parser would build (a filter assembled in code, or stored long ago).
    let too_many = Filter::all(vec![Condition {
        field: Field::Tags,
        op: Op::ContainsAll,
        value: Operand::List((0..400).map(|i| Operand::Text(format!("t{i}"))).collect()),
    }]);
    let q = CustomerQuery {
        filter: too_many.clone(),
        ..query(10)
    };
    let refused = |e: DomainError| {
        matches!(e, DomainError::Validation(ref e)
            if e[0].field == "filter" && e[0].limit == Some(MAX_TAG_VALUES as u64))
    };
    // The mock has no expectations: any repository call would panic.
    let s = service(MockCustomerRepository::new());
    let viewer = actor("viewer");
    assert!(refused(s.list(&viewer, q.clone(), true).await.unwrap_err()));
    assert!(refused(s.stats(&viewer, q).await.unwrap_err()));
    assert!(refused(
        s.bulk(
            &actor("admin"),
            BulkTarget::Filter(too_many),
            BulkAction::SetVip(true)
        )
        .await
        .unwrap_err()
    ));
}

#[tokio::test]
async fn deleted_customers_are_listed_only_with_the_manage_permission() {
    let repo = MockCustomerRepository::new();
    let q = CustomerQuery {
        deleted: Deleted::Only,
        ..query(10)
    };
    let err = service(repo)
        .list(&actor("manager"), q, false)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        DomainError::Forbidden(crate::Permission::CustomersManage)
    );
}

#[tokio::test]
async fn a_conflict_with_the_customer_of_a_concurrent_same_key_request_replays_it() {
    let winner = CustomerId(Uuid::now_v7());
    let mut repo = MockCustomerRepository::new();
    let mut seq = mockall::Sequence::new();
    // No record yet when this request starts ...
    repo.expect_find_idempotency()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(None));
    // ... then the winner's customer holds the e-mail ...
    repo.expect_find_by_unique()
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_, _, _| Ok(Some(winner)));
    // ... and its key record is there.
    repo.expect_find_idempotency()
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_, key| {
            Ok(Some(IdempotencyRecord {
                key: key.to_owned(),
                fingerprint: "f".into(),
                customer_id: winner,
                created_at: Utc::now(),
            }))
        });
    repo.expect_find()
        .returning(|_, id, _| Ok(Some(stored(id, 1))));
    repo.expect_create().never();
    let key = IdempotencyKey {
        key: "k".into(),
        fingerprint: "f".into(),
    };
    let created = service(repo)
        .create(&actor("admin"), input(), Some(key))
        .await
        .unwrap();
    assert!(created.replayed);
    assert_eq!(created.customer.id, winner);
}

#[tokio::test]
async fn a_customer_with_open_orders_cannot_be_deleted() {
    let mut repo = MockCustomerRepository::new();
    repo.expect_find()
        .returning(|_, id, _| Ok(Some(stored(id, 1))));
    repo.expect_open_order_refs()
        .returning(|_, _, _| Ok(vec!["INV-7".into(), "INV-9".into()]));
    repo.expect_set_deleted().never();
    let id = CustomerId(Uuid::now_v7());
    let err = service(repo)
        .delete(&actor("admin"), id, None)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        DomainError::from(DeleteCustomerError::OpenOrders {
            orders: vec![(id, "INV-7".into()), (id, "INV-9".into())],
        })
    );
    let DomainError::Rule(v) = err else {
        panic!("{err:?}")
    };
    assert_eq!(
        (v.rule, v.field.as_str()),
        (crate::error::Rule::CustomerHasOpenOrders, "orders")
    );
    assert!(v.message.contains("INV-7, INV-9"), "{}", v.message);
    assert_eq!(
        v.facts["open_orders"][1],
        serde_json::json!({"customer_id": id.0, "order_ref": "INV-9"})
    );
}

#[tokio::test]
async fn a_bulk_delete_of_customers_with_open_orders_names_them_and_commits_nothing() {
    let (a, b) = (CustomerId(Uuid::now_v7()), CustomerId(Uuid::now_v7()));
    let mut batch = MockCustomerBatch::new();
    batch
        .expect_next()
        .returning(move |_, _, _, _, _, _| Ok(vec![stored(a, 1), stored(b, 1)]));
    batch
        .expect_open_orders()
        .returning(move |_, _| Ok(vec![(a, "A-1".into()), (b, "B-1".into())]));
    batch.expect_save().never();
    batch.expect_commit().never();
    let mut repo = MockCustomerRepository::new();
    let mut batch = Some(batch);
    repo.expect_begin_batch()
        .returning(move |_| Ok(Box::new(batch.take().unwrap())));
    let err = service(repo)
        .bulk(
            &actor("admin"),
            BulkTarget::Ids(vec![a, b]),
            BulkAction::Delete,
        )
        .await
        .unwrap_err();
    assert_eq!(
        err,
        DomainError::from(DeleteCustomerError::OpenOrders {
            orders: vec![(a, "A-1".into()), (b, "B-1".into())],
        })
    );
    assert!(
        err.to_string().contains(&format!("B-1 (customer {b})")),
        "{err}"
    );
}

#[tokio::test]
async fn a_customer_changed_during_a_bulk_action_is_a_concurrent_update() {
    let mut batch = MockCustomerBatch::new();
    batch
        .expect_next()
        .returning(|_, _, _, _, _, _| Ok(vec![stored(CustomerId(Uuid::now_v7()), 1)]));
    batch
        .expect_save()
        .returning(|_| Err(RepositoryError::Stale));
    batch.expect_commit().never();
    let mut repo = MockCustomerRepository::new();
    let mut batch = Some(batch);
    repo.expect_begin_batch()
        .returning(move |_| Ok(Box::new(batch.take().unwrap())));
    let err = service(repo)
        .bulk(
            &actor("sales"),
            BulkTarget::Filter(Default::default()),
            BulkAction::AddTags(vec!["new".into()]),
        )
        .await
        .unwrap_err();
    assert_eq!(err, DomainError::ConcurrentUpdate);
}

#[tokio::test]
async fn a_failing_customer_in_a_bulk_action_commits_nothing() {
    let mut batch = MockCustomerBatch::new();
    let mut first = true;
    batch.expect_next().returning(move |_, _, _, _, _, _| {
        if std::mem::take(&mut first) {
            let mut full = stored(CustomerId(Uuid::now_v7()), 1);
            full.profile.tags = (0..50).map(|i| format!("t{i}")).collect();
            Ok(vec![stored(CustomerId(Uuid::now_v7()), 1), full])
        } else {
            Ok(vec![])
        }
    });
    batch.expect_save().times(1).returning(|_| Ok(()));
    batch.expect_commit().never();
    let mut repo = MockCustomerRepository::new();
    let mut batch = Some(batch);
    repo.expect_begin_batch()
        .returning(move |_| Ok(Box::new(batch.take().unwrap())));
    let err = service(repo)
        .bulk(
            &actor("sales"),
            BulkTarget::Filter(Default::default()),
            BulkAction::AddTags(vec!["new".into()]),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, DomainError::Validation(ref e) if e[0].field == "action.tags"),
        "{err:?}"
    );
}

/// The service over a tenant whose `sales_scope` is `assigned`.
fn scoped(repo: MockCustomerRepository) -> CustomerService {
    CustomerService::new(
        Arc::new(repo),
        Arc::new(scoped_tenants("assigned")),
        Arc::new(clock(now)),
        Arc::new(ids()),
    )
}

fn owned_by(id: CustomerId, owner: Option<&str>) -> Customer {
    let mut c = stored(id, 1);
    c.profile.assigned_to = owner.and_then(UserId::parse);
    c
}

fn alice() -> Visibility {
    Visibility::AssignedTo(UserId::parse("alice").unwrap())
}

#[tokio::test]
async fn with_sales_scope_assigned_another_users_customer_is_not_found_like_another_tenants() {
    let id = CustomerId(Uuid::now_v7());
    // `get` and `get_with_parts` (the customer with its addresses and primary contact) reach
    // the same customers.
    let reach = |owner: Option<&'static str>, roles: &'static [&'static str]| async move {
        let mut repo = MockCustomerRepository::new();
        repo.expect_find()
            .returning(move |_, id, _| Ok(Some(owned_by(id, owner))));
        repo.expect_find_with_parts()
            .returning(move |_, id| Ok(Some((owned_by(id, owner), Default::default()))));
        let svc = scoped(repo);
        let actor = user_with("alice", roles);
        let one = svc.get(&actor, id).await.map(|c| c.id);
        let with_parts = svc.get_with_parts(&actor, id).await.map(|(c, _)| c.id);
        assert_eq!(one, with_parts, "{owner:?} {roles:?}");
        one
    };
    assert_eq!(reach(Some("alice"), &["sales"]).await, Ok(id));
    let hidden = Err(DomainError::NotFound { entity: "customer" });
    assert_eq!(reach(Some("bob"), &["sales"]).await, hidden);
    assert_eq!(reach(None, &["sales"]).await, hidden);
    // Only the sales role is held to its own customers.
    for roles in [
        &["sales", "manager"][..],
        &["manager"],
        &["admin"],
        &["viewer"],
    ] {
        assert_eq!(reach(Some("bob"), roles).await, Ok(id), "{roles:?}");
    }
}

#[tokio::test]
async fn with_sales_scope_assigned_lists_counts_and_stats_go_through_the_sales_users_visibility() {
    let mut repo = MockCustomerRepository::new();
    repo.expect_list()
        .withf(|_, v, _| *v == alice())
        .times(3)
        .returning(|_, _, _| Ok(vec![]));
    repo.expect_count()
        .withf(|_, v, _| *v == alice())
        .times(1)
        .returning(|_, _, _| Ok(0));
    repo.expect_aggregates()
        .withf(|_, v, _, _, _| *v == alice())
        .times(1)
        .returning(|_, _, _, _, _| Ok(Default::default()));
    let svc = scoped(repo);
    let alice = user_with("alice", &["sales"]);
    svc.list(&alice, query(20), true).await.unwrap();
    svc.stats(&alice, query(20)).await.unwrap();
}

#[tokio::test]
async fn the_tenant_is_not_read_for_callers_the_scope_cannot_restrict() {
    let mut tenants = crate::tenant::MockTenantRepository::new();
    tenants.expect_find().never();
    let mut repo = MockCustomerRepository::new();
    repo.expect_list()
        .withf(|_, v, _| *v == Visibility::All)
        .returning(|_, _, _| Ok(vec![]));
    let svc = CustomerService::new(
        Arc::new(repo),
        Arc::new(tenants),
        Arc::new(clock(now)),
        Arc::new(ids()),
    );
    for role in ["admin", "manager", "viewer"] {
        svc.list(&actor(role), query(20), false).await.unwrap();
    }
}

#[tokio::test]
async fn a_restricted_sales_user_creates_customers_assigned_to_themself_and_to_nobody_else() {
    let mut repo = MockCustomerRepository::new();
    repo.expect_find_by_unique().returning(|_, _, _| Ok(None));
    repo.expect_create()
        .withf(|new, _, _| new.profile.assigned_to.as_ref().map(UserId::as_str) == Some("alice"))
        .times(2)
        .returning(|new, _, _| Ok(from_new(new)));
    let svc = scoped(repo);
    let alice = user_with("alice", &["sales"]);
    svc.create(&alice, input(), None).await.unwrap();
    let mine = CustomerInput {
        assigned_to: Some("alice".into()),
        ..input()
    };
    svc.create(&alice, mine, None).await.unwrap();
    let gift = CustomerInput {
        assigned_to: Some("bob".into()),
        ..input()
    };
    let err = svc.create(&alice, gift, None).await.unwrap_err();
    assert_eq!(
        field_codes(err),
        [("assigned_to".to_owned(), "not_assignable")]
    );
}

#[tokio::test]
async fn a_restricted_bulk_assignment_to_another_user_is_refused_before_any_read() {
    let mut repo = MockCustomerRepository::new();
    repo.expect_begin_batch().never();
    let err = scoped(repo)
        .bulk(
            &user_with("alice", &["sales"]),
            BulkTarget::Filter(Default::default()),
            BulkAction::Assign(UserId::parse("bob")),
        )
        .await
        .unwrap_err();
    assert_eq!(
        field_codes(err),
        [("action.assigned_to".to_owned(), "not_assignable")]
    );
}

#[tokio::test]
async fn a_conflict_with_a_customer_out_of_reach_does_not_name_it() {
    let bobs = CustomerId(Uuid::now_v7());
    let mut repo = MockCustomerRepository::new();
    repo.expect_find_by_unique()
        .returning(move |_, _, _| Ok(Some(bobs)));
    repo.expect_find()
        .returning(|_, id, _| Ok(Some(owned_by(id, Some("bob")))));
    repo.expect_create().never();
    let err = scoped(repo)
        .create(&user_with("alice", &["sales"]), input(), None)
        .await
        .unwrap_err();
    let DomainError::Conflict {
        field, existing_id, ..
    } = err
    else {
        panic!("{err:?}")
    };
    assert_eq!((field.as_str(), existing_id), ("email", None));
}

/// A repository holding `current` (found live, any number of times) whose profile update
/// answers with the new version and hands the update to `check`.
fn updating(current: Customer, check: fn(&ProfileUpdate) -> bool) -> MockCustomerRepository {
    let mut repo = MockCustomerRepository::new();
    repo.expect_find_by_unique().returning(|_, _, _| Ok(None));
    repo.expect_find()
        .returning(move |_, _, _| Ok(Some(current.clone())));
    repo.expect_update_profile()
        .withf(check)
        .times(1)
        .returning(|u| Ok(stored(u.id, u.expected_version + 1)));
    repo
}

#[tokio::test]
async fn create_appends_customer_created_with_its_key_fields_by_the_caller() {
    let mut repo = MockCustomerRepository::new();
    repo.expect_find_by_unique().returning(|_, _, _| Ok(None));
    repo.expect_create()
        .withf(|new, _, events| {
            events.len() == 1
                && events[0].event_type == "customer.created"
                && events[0].entity_id == new.id.0
                && events[0].customer_id == Some(new.id)
                && events[0].entity_type == crate::event::EntityType::Customer
                && events[0].data["name"] == "Budi"
                && events[0].data["email"] == "budi@example.com"
                && events[0].actor.sub == "user-1"
                && events[0].actor.role.as_deref() == Some("sales")
                && events[0].occurred_at == now()
                && events[0].changes.is_empty()
        })
        .times(1)
        .returning(|new, _, _| Ok(from_new(new)));
    service(repo)
        .create(&actor("sales"), input(), None)
        .await
        .unwrap();
}

#[tokio::test]
async fn an_update_appends_customer_updated_with_old_and_new_of_each_changed_field() {
    let id = CustomerId(Uuid::now_v7());
    let repo = updating(stored(id, 4), |u| {
        let e = &u.events;
        e.len() == 1
            && e[0].event_type == "customer.updated"
            && e[0].customer_id == Some(u.id)
            && e[0].changes.len() == 2
            && e[0].changes["email"]
                == [
                    serde_json::json!("budi@example.com"),
                    serde_json::json!("budi@new.example"),
                ]
            && e[0].changes["job_title"] == [serde_json::Value::Null, serde_json::json!("CFO")]
            && e[0].actor.role.as_deref() == Some("manager")
    });
    let changed = CustomerInput {
        email: Some("budi@new.example".into()),
        job_title: Some("CFO".into()),
        ..input()
    };
    service(repo)
        .replace(&actor("manager"), id, changed, None)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_maintained_dates_and_bookkeeping_are_not_changes() {
    let id = CustomerId(Uuid::now_v7());
    let repo = updating(stored(id, 1), |u| u.events.is_empty());
    let same = CustomerInput {
        last_contact_at: Some(now()),
        next_follow_up_at: Some(now()),
        ..input()
    };
    service(repo)
        .replace(&actor("sales"), id, same, None)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_status_change_to_blocked_needs_a_reason_and_its_event_carries_it() {
    let id = CustomerId(Uuid::now_v7());
    let mut repo = MockCustomerRepository::new();
    repo.expect_find_by_unique().returning(|_, _, _| Ok(None));
    repo.expect_find()
        .returning(move |_, _, _| Ok(Some(stored(id, 1))));
    repo.expect_update_profile().never();
    let blocked = CustomerInput {
        status: Some(CustomerStatus::Blocked),
        ..input()
    };
    let err = service(repo)
        .replace(&actor("sales"), id, blocked.clone(), None)
        .await
        .unwrap_err();
    assert_eq!(
        field_codes(err),
        vec![("status_reason".to_owned(), "required")]
    );

    let repo = updating(stored(id, 1), |u| {
        let e = &u.events;
        e.len() == 1
            && e[0].event_type == "customer.status_changed"
            && e[0].data
                == serde_json::json!({"from": "active", "to": "blocked", "reason": "Fraud"})
            && e[0].changes["status"] == [serde_json::json!("active"), serde_json::json!("blocked")]
    });
    service(repo)
        .replace(
            &actor("sales"),
            id,
            CustomerInput {
                status_reason: Some("  Fraud ".into()),
                ..blocked
            },
            None,
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_status_reason_is_bounded_and_back_to_active_needs_none() {
    let id = CustomerId(Uuid::now_v7());
    let mut repo = MockCustomerRepository::new();
    repo.expect_find_by_unique().returning(|_, _, _| Ok(None));
    repo.expect_find()
        .returning(move |_, _, _| Ok(Some(stored(id, 1))));
    repo.expect_update_profile().never();
    let long = CustomerInput {
        status: Some(CustomerStatus::Archived),
        status_reason: Some("x".repeat(MAX_STATUS_REASON_CHARS + 1)),
        ..input()
    };
    let err = service(repo)
        .replace(&actor("sales"), id, long, None)
        .await
        .unwrap_err();
    assert_eq!(
        field_codes(err),
        vec![("status_reason".to_owned(), "too_long")]
    );

    let mut inactive = stored(id, 1);
    inactive.profile.status = CustomerStatus::Inactive;
    let repo = updating(inactive, |u| {
        u.events.len() == 1
            && u.events[0].event_type == "customer.status_changed"
            && u.events[0].data["reason"].is_null()
    });
    service(repo)
        .replace(&actor("sales"), id, input(), None)
        .await
        .unwrap();
}

#[tokio::test]
async fn delete_and_restore_append_their_events() {
    let id = CustomerId(Uuid::now_v7());
    let mut repo = MockCustomerRepository::new();
    repo.expect_find()
        .returning(move |_, _, _| Ok(Some(stored(id, 2))));
    repo.expect_open_order_refs()
        .returning(|_, _, _| Ok(vec![]));
    repo.expect_set_deleted()
        .withf(move |c| {
            c.events.len() == 1
                && c.events[0].event_type == "customer.deleted"
                && c.events[0].customer_id == Some(id)
                && c.events[0].data["name"] == "Budi"
                && c.events[0].actor.role.as_deref() == Some("manager")
        })
        .times(1)
        .returning(|c| Ok(stored(c.id, 3)));
    service(repo)
        .delete(&actor("manager"), id, None)
        .await
        .unwrap();

    let mut repo = MockCustomerRepository::new();
    repo.expect_find_by_unique().returning(|_, _, _| Ok(None));
    repo.expect_find().returning(move |_, _, _| {
        Ok(Some(Customer {
            deleted_at: Some(now()),
            ..stored(id, 3)
        }))
    });
    repo.expect_set_deleted()
        .withf(|c| c.events.len() == 1 && c.events[0].event_type == "customer.restored")
        .times(1)
        .returning(|c| Ok(stored(c.id, 4)));
    service(repo).restore(&actor("manager"), id).await.unwrap();
}

#[tokio::test]
async fn a_bulk_status_change_appends_one_event_per_changed_customer_with_its_reason() {
    let (a, b) = (CustomerId(Uuid::now_v7()), CustomerId(Uuid::now_v7()));
    let mut already = stored(b, 1);
    already.profile.status = CustomerStatus::Inactive;
    let mut batch = MockCustomerBatch::new();
    let mut rows = Some(vec![stored(a, 1), already]);
    batch
        .expect_next()
        .returning(move |_, _, _, _, _, _| Ok(rows.take().unwrap_or_default()));
    batch.expect_save().times(1).returning(|_| Ok(()));
    batch
        .expect_append_events()
        .withf(move |e| {
            e.len() == 1
                && e[0].event_type == "customer.status_changed"
                && e[0].customer_id == Some(a)
                && e[0].data["reason"] == "Dormant"
        })
        .times(1)
        .returning(|_| Ok(()));
    batch.expect_commit().times(1).returning(|| Ok(()));
    let mut repo = MockCustomerRepository::new();
    let mut batch = Some(batch);
    repo.expect_begin_batch()
        .returning(move |_| Ok(Box::new(batch.take().unwrap())));
    let result = service(repo)
        .bulk(
            &actor("sales"),
            BulkTarget::Ids(vec![a, b]),
            BulkAction::UpdateStatus(CustomerStatus::Inactive, Some("Dormant".into())),
        )
        .await
        .unwrap();
    assert_eq!(result.updated, 1);
}

#[tokio::test]
async fn a_bulk_status_change_without_its_reason_is_refused_before_anything_is_read() {
    let mut repo = MockCustomerRepository::new();
    repo.expect_begin_batch().never();
    let err = service(repo)
        .bulk(
            &actor("sales"),
            BulkTarget::Ids(vec![CustomerId(Uuid::now_v7())]),
            BulkAction::UpdateStatus(CustomerStatus::Archived, None),
        )
        .await
        .unwrap_err();
    assert_eq!(
        field_codes(err),
        vec![("action.status_reason".to_owned(), "required")]
    );
}

fn stored_address(id: CustomerId, line1: &str, is_default: bool) -> crate::address::Address {
    let (fields, _) = crate::address::AddressInput {
        address_type: Some("billing".into()),
        line1: Some(line1.into()),
        city: Some("Jakarta".into()),
        ..Default::default()
    }
    .validate("", crate::values::CountryCode::parse("ID"))
    .unwrap();
    crate::address::Address {
        id: crate::address::AddressId(Uuid::now_v7()),
        tenant_id: TENANT,
        customer_id: id,
        fields,
        is_default,
        created_by: None,
        updated_by: None,
        created_at: Utc::now(),
        updated_at: Utc::now(),
        version: 1,
    }
}

#[tokio::test]
async fn a_nested_replace_writes_the_merged_sets_and_their_events_with_the_customer() {
    let id = CustomerId(Uuid::now_v7());
    let kept = stored_address(id, "Jl. Lama 1", true);
    let dropped = stored_address(id, "Jl. Lama 2", false);
    let (kept_id, dropped_id) = (kept.id, dropped.id);
    let mut repo = MockCustomerRepository::new();
    repo.expect_find_by_unique().returning(|_, _, _| Ok(None));
    repo.expect_find()
        .returning(|_, id, _| Ok(Some(stored(id, 4))));
    repo.expect_members()
        .withf(move |t, c| *t == TENANT && *c == id)
        .times(1)
        .returning(move |_, _| Ok((vec![kept.clone(), dropped.clone()], vec![])));
    repo.expect_update_profile()
        .withf(move |u| {
            let a = &u.members.addresses;
            let types: Vec<&str> = u.events.iter().map(|e| e.event_type.as_str()).collect();
            u.expected_version == 4
                && a.removed.iter().map(|x| x.id).collect::<Vec<_>>() == [dropped_id]
                && a.updated.len() == 1
                && a.updated[0].1.id == kept_id
                && a.updated[0].1.fields.line1 == "Jl. Baru 1"
                && a.updated[0].1.is_default
                && a.updated[0].1.version == 2
                && a.added.len() == 1
                && !a.added[0].is_default
                && u.members.contacts.added.len() == 1
                && u.members.contacts.added[0].is_primary
                && types
                    == [
                        "customer.updated",
                        "address.removed",
                        "address.updated",
                        "address.added",
                        "contact.added",
                    ]
        })
        .times(1)
        .returning(|u| Ok(stored(u.id, 5)));
    let billing = |line1: &str| crate::address::AddressInput {
        address_type: Some("billing".into()),
        line1: Some(line1.into()),
        city: Some("Jakarta".into()),
        ..Default::default()
    };
    let nested = NestedReplace {
        addresses: Some(vec![
            (Some(kept_id), billing("Jl. Baru 1")),
            (None, billing("Jl. Baru 2")),
        ]),
        contacts: Some(vec![(
            None,
            crate::contact::ContactInput {
                name: Some("Sari".into()),
                ..Default::default()
            },
        )]),
    };
    let renamed = CustomerInput {
        name: Some("Budi S.".into()),
        ..input()
    };
    let c = service(repo)
        .replace_nested(&actor("sales"), id, renamed, nested, Some(4))
        .await
        .unwrap();
    assert_eq!(c.version, 5);
}

#[tokio::test]
async fn a_nested_replace_with_a_bad_element_writes_nothing() {
    let id = CustomerId(Uuid::now_v7());
    let mut repo = MockCustomerRepository::new();
    repo.expect_find_by_unique().returning(|_, _, _| Ok(None));
    repo.expect_find()
        .returning(|_, id, _| Ok(Some(stored(id, 1))));
    repo.expect_members().returning(|_, _| Ok((vec![], vec![])));
    repo.expect_update_profile().never();
    let nested = NestedReplace {
        addresses: Some(vec![(
            Some(crate::address::AddressId(Uuid::now_v7())),
            crate::address::AddressInput::default(),
        )]),
        contacts: None,
    };
    let err = service(repo)
        .replace_nested(&actor("sales"), id, input(), nested, None)
        .await
        .unwrap_err();
    let codes = field_codes(err);
    assert!(
        codes.contains(&("addresses[0].id".to_owned(), "unknown_address")),
        "{codes:?}"
    );
    assert!(
        codes.contains(&("addresses[0].line1".to_owned(), "required")),
        "{codes:?}"
    );
}
