//! The segment service against mockall mocks of its ports.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;

use super::*;
use crate::access::{Actor, Permission, Visibility};
use crate::analytics::rfm::RfmSegment;
use crate::customer::filter::{Field, Filter};
use crate::customer::{Customer, CustomerAggregates, MockCustomerRepository};
use crate::error::{DomainError, RepositoryError};
use crate::ids::{CustomerId, SegmentId, TenantId, UserId};
use crate::testing::{self, TENANT, actor, clock, field_codes as fields, fixed_ids, now, tenants};
use crate::values::{Amount, AmountTotal};

const OTHER_TENANT: TenantId = TenantId(Uuid::from_u128(9));
const SEGMENT: SegmentId = SegmentId(Uuid::from_u128(10));
const NEW_ID: Uuid = Uuid::from_u128(11);
const CUSTOMER: CustomerId = CustomerId(Uuid::from_u128(2));

/// The one place the service is built.
fn service(repo: MockSegmentRepository, customers: MockCustomerRepository) -> SegmentService {
    SegmentService::new(
        Arc::new(repo),
        Arc::new(customers),
        Arc::new(tenants(now)),
        Arc::new(clock(now)),
        Arc::new(fixed_ids(NEW_ID)),
    )
}

/// Customers whose aggregates say `count` customers spent `revenue` IDR.
fn sized(count: u64, revenue: i64) -> MockCustomerRepository {
    let mut customers = MockCustomerRepository::new();
    customers
        .expect_aggregates()
        .returning(move |_, _, _, _, _| {
            Ok(CustomerAggregates {
                count,
                by_currency: vec![(
                    "IDR".into(),
                    count,
                    AmountTotal::from(Amount::from_scaled(revenue * 10_000)),
                )],
                ..Default::default()
            })
        });
    customers
}

fn segment(tenant: TenantId, rule: SegmentRule) -> Segment {
    Segment {
        id: SEGMENT,
        tenant_id: tenant,
        name: "Regulars".into(),
        description: None,
        rule,
        created_by: Some(UserId::parse("creator").unwrap()),
        created_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        updated_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
    }
}

fn big_spenders() -> Value {
    json!({"all": [{"field": "total_spent", "op": "gte", "value": "1000000"}]})
}

/// A repository holding one segment of `TENANT` with this rule.
fn holding(rule: SegmentRule) -> MockSegmentRepository {
    let mut repo = MockSegmentRepository::new();
    repo.expect_find().returning(move |t, id| {
        Ok((t == TENANT && id == SEGMENT).then(|| segment(t, rule.clone())))
    });
    repo
}

fn input(kind: &str) -> SegmentInput {
    SegmentInput {
        name: Some("Big spenders".into()),
        segment_type: Some(kind.into()),
        ..Default::default()
    }
}

fn ids(n: u128) -> Vec<CustomerId> {
    (0..n)
        .map(|i| CustomerId(Uuid::from_u128(1_000 + i)))
        .collect()
}

fn customer() -> Customer {
    testing::customer(CUSTOMER, now())
}

#[tokio::test]
async fn reading_segments_needs_the_view_permission() {
    let nobody = Actor::new(TENANT, UserId::parse("u").unwrap(), [], []);
    let mut repo = MockSegmentRepository::new();
    repo.expect_list().never();
    repo.expect_find().never();
    let s = service(repo, MockCustomerRepository::new());
    let forbidden = DomainError::Forbidden(Permission::CustomersView);
    assert_eq!(s.list(&nobody).await.unwrap_err(), forbidden);
    assert_eq!(s.get(&nobody, SEGMENT).await.unwrap_err(), forbidden);
    assert_eq!(s.filter(&nobody, SEGMENT).await.unwrap_err(), forbidden);
    assert_eq!(
        s.of_customer(&nobody, CUSTOMER).await.unwrap_err(),
        forbidden
    );
}

#[tokio::test]
async fn changing_segments_needs_the_manage_permission() {
    // A manager holds every permission but customers.manage.
    let manager = actor("manager");
    let mut repo = MockSegmentRepository::new();
    repo.expect_find().never();
    repo.expect_save().never();
    repo.expect_delete().never();
    repo.expect_add_members().never();
    repo.expect_remove_members().never();
    let s = service(repo, MockCustomerRepository::new());
    let forbidden = DomainError::Forbidden(Permission::CustomersManage);
    assert_eq!(
        s.create(&manager, input("manual")).await.unwrap_err(),
        forbidden
    );
    assert_eq!(
        s.replace(&manager, SEGMENT, input("manual"))
            .await
            .unwrap_err(),
        forbidden
    );
    assert_eq!(s.delete(&manager, SEGMENT).await.unwrap_err(), forbidden);
    assert_eq!(
        s.add_members(&manager, SEGMENT, ids(1)).await.unwrap_err(),
        forbidden
    );
    assert_eq!(
        s.remove_members(&manager, SEGMENT, ids(1))
            .await
            .unwrap_err(),
        forbidden
    );
}

#[tokio::test]
async fn create_stores_the_segment_in_the_callers_tenant_and_returns_its_size() {
    let mut repo = MockSegmentRepository::new();
    repo.expect_save()
        .withf(|s, _, _| {
            s.id == SegmentId(NEW_ID)
                && s.tenant_id == TENANT
                && s.name == "Big spenders"
                && s.rule == SegmentRule::Auto(big_spenders())
                && s.created_by.as_ref().map(UserId::as_str) == Some("user-1")
                && s.created_at == now()
        })
        .times(1)
        .returning(|_, _, _| Ok(()));
    let created = service(repo, sized(3, 4_500_000))
        .create(
            &actor("admin"),
            SegmentInput {
                filter: Some(big_spenders()),
                ..input("auto")
            },
        )
        .await
        .unwrap();
    assert_eq!(created.customer_count, 3);
    assert_eq!(
        created.total_revenue,
        vec![(
            "IDR".to_owned(),
            AmountTotal::from(Amount::new(Decimal::from(4_500_000)).unwrap())
        )]
    );
}

#[tokio::test]
async fn a_segment_needs_a_name_of_1_to_100_characters_and_a_known_type() {
    let mut repo = MockSegmentRepository::new();
    repo.expect_save().never();
    let s = service(repo, MockCustomerRepository::new());
    let blank = SegmentInput {
        name: Some("   ".into()),
        segment_type: Some("weekly".into()),
        ..Default::default()
    };
    assert_eq!(
        fields(s.create(&actor("admin"), blank).await.unwrap_err()),
        [
            ("name".to_owned(), "required"),
            ("segment_type".to_owned(), "invalid")
        ]
    );
    let long = SegmentInput {
        name: Some("x".repeat(101)),
        ..input("manual")
    };
    assert_eq!(
        fields(s.create(&actor("admin"), long).await.unwrap_err()),
        [("name".to_owned(), "required")]
    );
    let untyped = SegmentInput {
        segment_type: None,
        ..input("manual")
    };
    assert_eq!(
        fields(s.create(&actor("admin"), untyped).await.unwrap_err()),
        [("segment_type".to_owned(), "required")]
    );
}

#[tokio::test]
async fn an_auto_segment_needs_a_filter_that_parses() {
    let mut repo = MockSegmentRepository::new();
    repo.expect_save().never();
    let s = service(repo, MockCustomerRepository::new());
    assert_eq!(
        fields(s.create(&actor("admin"), input("auto")).await.unwrap_err()),
        [("filter".to_owned(), "required")]
    );
    let unknown_field = SegmentInput {
        filter: Some(json!({"all": [{"field": "shoe_size", "op": "eq", "value": 1}]})),
        ..input("auto")
    };
    let errs = fields(s.create(&actor("admin"), unknown_field).await.unwrap_err());
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].0, "filter.all[0].field");
}

#[tokio::test]
async fn an_rfm_segment_needs_known_rfm_segment_names() {
    let mut repo = MockSegmentRepository::new();
    repo.expect_save().never();
    let s = service(repo, MockCustomerRepository::new());
    assert_eq!(
        fields(s.create(&actor("admin"), input("rfm")).await.unwrap_err()),
        [("rfm_segments".to_owned(), "required")]
    );
    let unknown = SegmentInput {
        rfm_segments: Some(vec!["champions".into(), "heroes".into()]),
        ..input("rfm")
    };
    assert_eq!(
        fields(s.create(&actor("admin"), unknown).await.unwrap_err()),
        [("rfm_segments[1]".to_owned(), "invalid")]
    );
}

#[tokio::test]
async fn a_rule_of_another_type_is_not_allowed() {
    let mut repo = MockSegmentRepository::new();
    repo.expect_save().never();
    let s = service(repo, MockCustomerRepository::new());
    let manual_with_rules = SegmentInput {
        filter: Some(big_spenders()),
        rfm_segments: Some(vec!["champions".into()]),
        ..input("manual")
    };
    assert_eq!(
        fields(
            s.create(&actor("admin"), manual_with_rules)
                .await
                .unwrap_err()
        ),
        [
            ("filter".to_owned(), "not_allowed"),
            ("rfm_segments".to_owned(), "not_allowed")
        ]
    );
}

#[tokio::test]
async fn repeated_rfm_segment_names_are_stored_once() {
    let mut repo = MockSegmentRepository::new();
    repo.expect_save()
        .withf(|s, _, _| {
            s.rule == SegmentRule::Rfm(vec![RfmSegment::Champions, RfmSegment::AtRisk])
        })
        .times(1)
        .returning(|_, _, _| Ok(()));
    service(repo, sized(0, 0))
        .create(
            &actor("admin"),
            SegmentInput {
                rfm_segments: Some(vec![
                    "champions".into(),
                    "at_risk".into(),
                    "champions".into(),
                ]),
                ..input("rfm")
            },
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_taken_name_is_a_conflict_on_name() {
    let mut repo = MockSegmentRepository::new();
    repo.expect_save().returning(|_, _, _| {
        Err(RepositoryError::Conflict {
            field: "name".into(),
        })
    });
    let err = service(repo, MockCustomerRepository::new())
        .create(&actor("admin"), input("manual"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DomainError::Conflict { field, .. } if field == "name"),
        "{err:?}"
    );
}

#[tokio::test]
async fn another_tenants_segment_is_not_found() {
    // The segment exists, but in another tenant: the repository is asked for the caller's.
    let mut repo = MockSegmentRepository::new();
    repo.expect_find().returning(|t, id| {
        Ok((t == OTHER_TENANT)
            .then(|| segment(OTHER_TENANT, SegmentRule::Manual))
            .filter(|s| s.id == id))
    });
    repo.expect_save().never();
    repo.expect_delete().never();
    let s = service(repo, MockCustomerRepository::new());
    let not_found = DomainError::NotFound { entity: "segment" };
    assert_eq!(
        s.get(&actor("admin"), SEGMENT).await.unwrap_err(),
        not_found
    );
    assert_eq!(
        s.replace(&actor("admin"), SEGMENT, input("manual"))
            .await
            .unwrap_err(),
        not_found
    );
    assert_eq!(
        s.delete(&actor("admin"), SEGMENT).await.unwrap_err(),
        not_found
    );
}

#[tokio::test]
async fn replace_changes_name_and_rule_and_keeps_identity_and_creation() {
    let mut repo = holding(SegmentRule::Manual);
    let old = segment(TENANT, SegmentRule::Manual);
    repo.expect_save()
        .withf(move |s, _, _| {
            s.id == SEGMENT
                && s.tenant_id == TENANT
                && s.name == "Big spenders"
                && s.rule == SegmentRule::Auto(big_spenders())
                && s.created_by == old.created_by
                && s.created_at == old.created_at
                && s.updated_at == now()
        })
        .times(1)
        .returning(|_, _, _| Ok(()));
    let replaced = service(repo, sized(2, 0))
        .replace(
            &actor("admin"),
            SEGMENT,
            SegmentInput {
                filter: Some(big_spenders()),
                ..input("auto")
            },
        )
        .await
        .unwrap();
    assert_eq!(replaced.segment.segment_type(), SegmentType::Auto);
}

#[tokio::test]
async fn delete_removes_the_callers_segment() {
    let mut repo = holding(SegmentRule::Manual);
    repo.expect_delete()
        .withf(|t, id, _, _| *t == TENANT && *id == SEGMENT)
        .times(1)
        .returning(|_, _, _, _| Ok(()));
    service(repo, MockCustomerRepository::new())
        .delete(&actor("admin"), SEGMENT)
        .await
        .unwrap();
}

#[tokio::test]
async fn members_are_added_to_and_removed_from_manual_segments_only() {
    let mut repo = holding(SegmentRule::Auto(big_spenders()));
    repo.expect_add_members().never();
    repo.expect_remove_members().never();
    let s = service(repo, MockCustomerRepository::new());
    let not_manual = [("customer_ids".to_owned(), "not_manual")];
    assert_eq!(
        fields(
            s.add_members(&actor("admin"), SEGMENT, ids(1))
                .await
                .unwrap_err()
        ),
        not_manual
    );
    assert_eq!(
        fields(
            s.remove_members(&actor("admin"), SEGMENT, ids(1))
                .await
                .unwrap_err()
        ),
        not_manual
    );
}

#[tokio::test]
async fn a_member_change_names_1_to_max_member_change_customers() {
    let mut repo = holding(SegmentRule::Manual);
    repo.expect_add_members()
        .withf(|_, _, c, _, _| c.len() == MAX_MEMBER_CHANGE)
        .times(1)
        .returning(|_, _, _, _, _| Ok(vec![]));
    repo.expect_remove_members().never();
    let s = service(repo, sized(MAX_MEMBER_CHANGE as u64, 0));
    let out_of_range = [("customer_ids".to_owned(), "out_of_range")];
    let max = MAX_MEMBER_CHANGE as u128;
    assert_eq!(
        fields(
            s.add_members(&actor("admin"), SEGMENT, vec![])
                .await
                .unwrap_err()
        ),
        out_of_range
    );
    assert_eq!(
        fields(
            s.add_members(&actor("admin"), SEGMENT, ids(max + 1))
                .await
                .unwrap_err()
        ),
        out_of_range
    );
    assert_eq!(
        fields(
            s.remove_members(&actor("admin"), SEGMENT, ids(max + 1))
                .await
                .unwrap_err()
        ),
        out_of_range
    );
    assert!(
        s.add_members(&actor("admin"), SEGMENT, ids(max))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn adding_ids_that_are_not_customers_of_the_tenant_names_them() {
    let unknown = CustomerId(Uuid::from_u128(0xdead));
    let mut repo = holding(SegmentRule::Manual);
    repo.expect_add_members()
        .returning(move |_, _, _, _, _| Ok(vec![unknown]));
    let mut customers = MockCustomerRepository::new();
    customers.expect_aggregates().never();
    let err = service(repo, customers)
        .add_members(&actor("admin"), SEGMENT, vec![CUSTOMER, unknown])
        .await
        .unwrap_err();
    let DomainError::Validation(errs) = err else {
        panic!("expected a validation error, got {err:?}");
    };
    assert_eq!(
        (errs[0].field.as_str(), errs[0].code),
        ("customer_ids", "not_found")
    );
    assert!(
        errs[0].message.contains(&unknown.to_string()),
        "{}",
        errs[0].message
    );
    assert!(!errs[0].message.contains(&CUSTOMER.to_string()));
}

#[tokio::test]
async fn adding_members_writes_them_in_the_callers_tenant_and_returns_the_new_size() {
    let mut repo = holding(SegmentRule::Manual);
    repo.expect_add_members()
        .withf(|t, id, c, at, _| *t == TENANT && *id == SEGMENT && *c == ids(2) && *at == now())
        .times(1)
        .returning(|_, _, _, _, _| Ok(vec![]));
    let added = service(repo, sized(2, 0))
        .add_members(&actor("admin"), SEGMENT, ids(2))
        .await
        .unwrap();
    assert_eq!(added.customer_count, 2);
}

#[tokio::test]
async fn removing_members_ignores_ids_that_are_not_members() {
    let mut repo = holding(SegmentRule::Manual);
    repo.expect_remove_members()
        .withf(|t, id, c, _| *t == TENANT && *id == SEGMENT && *c == ids(3))
        .times(1)
        .returning(|_, _, _, _| Ok(1));
    let removed = service(repo, sized(4, 0))
        .remove_members(&actor("admin"), SEGMENT, ids(3))
        .await
        .unwrap();
    assert_eq!(removed.customer_count, 4);
}

#[tokio::test]
async fn a_manual_segment_selects_its_members_and_an_auto_segment_its_rule() {
    let s = service(holding(SegmentRule::Manual), MockCustomerRepository::new());
    let manual = s.filter(&actor("viewer"), SEGMENT).await.unwrap();
    assert!(manual.mentions(Field::Segment));

    let s = service(
        holding(SegmentRule::Auto(big_spenders())),
        MockCustomerRepository::new(),
    );
    let auto = s.filter(&actor("viewer"), SEGMENT).await.unwrap();
    assert_eq!(auto, Filter::parse(&big_spenders(), "filter").unwrap());
    assert!(!auto.mentions(Field::Segment));

    let s = service(
        holding(SegmentRule::Rfm(vec![RfmSegment::Champions])),
        MockCustomerRepository::new(),
    );
    let rfm = s.filter(&actor("viewer"), SEGMENT).await.unwrap();
    assert!(rfm.mentions(Field::RfmSegment));
}

#[tokio::test]
async fn list_reports_each_segments_own_size() {
    let mut repo = MockSegmentRepository::new();
    repo.expect_list().withf(|t| *t == TENANT).returning(|t| {
        Ok(vec![
            segment(t, SegmentRule::Manual),
            segment(t, SegmentRule::Auto(big_spenders())),
        ])
    });
    let mut customers = MockCustomerRepository::new();
    customers.expect_aggregates().returning(|_, _, q, _, _| {
        let count = if q.filter.mentions(Field::Segment) {
            5
        } else {
            7
        };
        Ok(CustomerAggregates {
            count,
            ..Default::default()
        })
    });
    let listed = service(repo, customers)
        .list(&actor("viewer"))
        .await
        .unwrap();
    let counts: Vec<_> = listed.iter().map(|s| s.customer_count).collect();
    assert_eq!(counts, [5, 7]);
}

#[tokio::test]
async fn a_customers_segments_are_those_whose_filter_matches_it() {
    let mut customers = MockCustomerRepository::new();
    customers
        .expect_find()
        .withf(|t, id, deleted| *t == TENANT && *id == CUSTOMER && !deleted)
        .returning(|_, _, _| Ok(Some(customer())));
    // The customer is a member of the manual segment, and outside the auto one.
    customers
        .expect_count()
        .withf(|_, _, q| q.filter.mentions(Field::Id))
        .returning(|_, _, q| Ok(u64::from(q.filter.mentions(Field::Segment))));
    let mut repo = MockSegmentRepository::new();
    let manual = segment(TENANT, SegmentRule::Manual);
    let auto = Segment {
        id: SegmentId(Uuid::from_u128(12)),
        ..segment(TENANT, SegmentRule::Auto(big_spenders()))
    };
    let both = vec![manual.clone(), auto];
    repo.expect_list().returning(move |_| Ok(both.clone()));
    let found = service(repo, customers)
        .of_customer(&actor("viewer"), CUSTOMER)
        .await
        .unwrap();
    assert_eq!(found, vec![manual]);
}

#[tokio::test]
async fn the_segments_of_an_unknown_customer_are_not_found() {
    let mut customers = MockCustomerRepository::new();
    customers.expect_find().returning(|_, _, _| Ok(None));
    let mut repo = MockSegmentRepository::new();
    repo.expect_list().never();
    let err = service(repo, customers)
        .of_customer(&actor("viewer"), CUSTOMER)
        .await
        .unwrap_err();
    assert_eq!(err, DomainError::NotFound { entity: "customer" });
}

#[tokio::test]
async fn a_restricted_sales_user_changes_memberships_of_their_own_customers_only() {
    // A sales user granted customers.manage, in a tenant whose sales_scope is `assigned`.
    let alice = Actor::new(
        TENANT,
        UserId::parse("alice").unwrap(),
        ["sales"],
        ["customers.manage"],
    );
    let (mine, bobs) = (CUSTOMER, CustomerId(Uuid::from_u128(0xb0b)));
    let mut customers = MockCustomerRepository::new();
    customers
        .expect_list()
        .withf(|_, v, q| *v == Visibility::All && q.filter.mentions(Field::Id))
        .returning(move |_, _, _| {
            let owned = |id, owner: &str| {
                let mut c = testing::customer(id, now());
                c.profile.assigned_to = UserId::parse(owner);
                c
            };
            Ok(vec![owned(mine, "alice"), owned(bobs, "bob")])
        });
    customers.expect_aggregates().never();
    let mut repo = holding(SegmentRule::Manual);
    repo.expect_add_members()
        .withf(move |_, _, ids, _, _| *ids == [mine])
        .returning(|_, _, _, _, _| Ok(vec![]));
    let s = SegmentService::new(
        Arc::new(repo),
        Arc::new(customers),
        Arc::new(testing::scoped_tenants("assigned")),
        Arc::new(clock(now)),
        Arc::new(fixed_ids(NEW_ID)),
    );
    let err = s
        .add_members(&alice, SEGMENT, vec![mine, bobs])
        .await
        .unwrap_err();
    let DomainError::Validation(errs) = err else {
        panic!("expected a validation error, got {err:?}");
    };
    assert_eq!(
        (errs[0].field.as_str(), errs[0].code),
        ("customer_ids", "not_found")
    );
    assert!(
        errs[0].message.contains(&bobs.to_string()),
        "{}",
        errs[0].message
    );
    assert!(!errs[0].message.contains(&mine.to_string()));
}

#[tokio::test]
async fn membership_changes_hand_one_event_per_customer_to_the_repository_write() {
    let mut repo = holding(SegmentRule::Manual);
    repo.expect_add_members()
        .withf(|_, _, c, _, events| {
            events.len() == c.len()
                && events.iter().zip(c).all(|(e, c)| {
                    e.event_type == "segment.member_added"
                        && e.customer_id == Some(*c)
                        && e.entity_type == crate::event::EntityType::Segment
                        && e.entity_id == SEGMENT.0
                        && e.data
                            == json!({"segment_id": SEGMENT.0, "segment_name": "Regulars",
                                "customer_id": c.0})
                        && e.actor.sub == "user-1"
                        && e.occurred_at == now()
                })
        })
        .times(1)
        .returning(|_, _, _, _, _| Ok(vec![]));
    repo.expect_remove_members()
        .withf(|_, _, c, events| {
            events.len() == c.len()
                && events.iter().zip(c).all(|(e, c)| {
                    e.event_type == "segment.member_removed" && e.customer_id == Some(*c)
                })
        })
        .times(1)
        .returning(|_, _, _, _| Ok(1));
    let s = service(repo, sized(2, 0));
    s.add_members(&actor("admin"), SEGMENT, ids(2))
        .await
        .unwrap();
    s.remove_members(&actor("admin"), SEGMENT, ids(3))
        .await
        .unwrap();
}

#[tokio::test]
async fn segment_writes_hand_their_definition_event_to_the_same_repository_call() {
    let mut repo = holding(SegmentRule::Manual);
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (a, b) = (seen.clone(), seen.clone());
    repo.expect_save().times(2).returning(move |_, e, _| {
        a.lock().unwrap().extend_from_slice(e);
        Ok(())
    });
    repo.expect_delete().times(1).returning(move |_, _, e, _| {
        b.lock().unwrap().extend_from_slice(e);
        Ok(())
    });
    let s = service(repo, sized(0, 0));
    let admin = actor("admin");
    s.create(&admin, input("manual")).await.unwrap();
    let rfm = SegmentInput {
        rfm_segments: Some(vec!["champions".into()]),
        ..input("rfm")
    };
    s.replace(&admin, SEGMENT, rfm).await.unwrap();
    s.delete(&admin, SEGMENT).await.unwrap();
    let events = seen.lock().unwrap();
    let shape: Vec<_> = events
        .iter()
        .map(|e| (e.event_type.as_str(), e.entity_id, e.customer_id))
        .collect();
    assert_eq!(
        shape,
        [
            ("segment.created", NEW_ID, None),
            ("segment.updated", SEGMENT.0, None),
            ("segment.deleted", SEGMENT.0, None),
        ]
    );
    assert_eq!(events[0].data["type"], "manual");
    assert_eq!(events[1].changes["type"], [json!("manual"), json!("rfm")]);
    assert!(events[1].changes.contains_key("rule"));
    assert_eq!(events[2].data["name"], "Regulars");
}

#[tokio::test]
async fn a_delete_or_type_change_hands_the_member_removed_events_of_the_old_segment() {
    let mut repo = holding(SegmentRule::Manual);
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (a, b) = (seen.clone(), seen.clone());
    repo.expect_save().times(1).returning(move |_, _, d| {
        a.lock().unwrap().push(d.clone());
        Ok(())
    });
    repo.expect_delete().times(1).returning(move |_, _, _, d| {
        b.lock().unwrap().push(d.clone());
        Ok(())
    });
    let s = service(repo, sized(0, 0));
    let admin = actor("admin");
    let rfm = SegmentInput {
        rfm_segments: Some(vec!["champions".into()]),
        name: Some("Renamed".into()),
        ..input("rfm")
    };
    s.replace(&admin, SEGMENT, rfm).await.unwrap();
    s.delete(&admin, SEGMENT).await.unwrap();
    let dropped = seen.lock().unwrap();
    assert_eq!(dropped.len(), 2);
    let members = ids(2);
    for d in dropped.iter() {
        let events = d.events(&members);
        let shape: Vec<_> = events
            .iter()
            .map(|e| (e.event_type.as_str(), e.entity_id, e.customer_id))
            .collect();
        assert_eq!(
            shape,
            [
                ("segment.member_removed", SEGMENT.0, Some(members[0])),
                ("segment.member_removed", SEGMENT.0, Some(members[1])),
            ]
        );
        // The name the members knew: the segment's before the change.
        assert_eq!(events[0].data["segment_name"], "Regulars");
        assert_eq!(events[1].data["customer_id"], json!(members[1].0));
    }
}
