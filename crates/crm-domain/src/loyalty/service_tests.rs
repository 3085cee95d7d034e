//! The tier catalogue ([`TierService`]) and the tenant-wide tier re-evaluation
//! ([`LoyaltyService::reevaluate_tiers`]) against mockall mocks of their ports.

use std::sync::{Arc, Mutex};

use chrono::Duration;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;

use super::*;
use crate::access::{Actor, Permission};
use crate::customer::{Customer, LoyaltyStatus, MockCustomerRepository, PurchaseStats};
use crate::error::{DomainError, RepositoryError};
use crate::ids::{CustomerId, TenantId, TierId, UserId};
use crate::order::{MockOrderRepository, MockOrderTransaction, TierPosition};
use crate::tenant::{MockTenantRepository, Tenant};
use crate::testing::{
    TENANT, actor, amount, clock, customer, field_codes, fixed_ids, ids, now, tenant, tiers,
};

const OTHER_TENANT: TenantId = TenantId(Uuid::from_u128(9));
const NEW_ID: Uuid = Uuid::from_u128(77);

fn bronze() -> TierId {
    tiers()[0].id
}

fn silver() -> TierId {
    tiers()[1].id
}

fn gold() -> TierId {
    tiers()[2].id
}

// ----- TierService -----

/// The one place the tier service is built.
fn tier_service(repo: MockTierRepository) -> TierService {
    TierService::new(
        Arc::new(repo),
        Arc::new(fixed_ids(NEW_ID)),
        Arc::new(clock(now)),
    )
}

fn diamond() -> TierInput {
    TierInput {
        name: Some("  Diamond ".into()),
        level: Some(5),
        min_spend: Some(Decimal::from(50_000_000)),
        discount_percent: Some(Decimal::from(25)),
        benefits: Some(json!({"lounge": true})),
        colour: Some("#b9f2ff".into()),
    }
}

/// A repository holding Silver for `TENANT`.
fn holding_silver() -> MockTierRepository {
    let mut repo = MockTierRepository::new();
    repo.expect_find()
        .returning(|t, id| Ok(tiers().into_iter().find(|x| t == TENANT && x.id == id)));
    repo
}

#[tokio::test]
async fn reading_tiers_needs_the_view_permission() {
    let nobody = Actor::new(TENANT, UserId::parse("u").unwrap(), [], []);
    let mut repo = MockTierRepository::new();
    repo.expect_list().never();
    repo.expect_find().never();
    let s = tier_service(repo);
    let forbidden = DomainError::Forbidden(Permission::CustomersView);
    assert_eq!(s.list(&nobody).await.unwrap_err(), forbidden);
    assert_eq!(s.get(&nobody, silver()).await.unwrap_err(), forbidden);
}

#[tokio::test]
async fn changing_tiers_needs_the_manage_permission() {
    let manager = actor("manager");
    let mut repo = MockTierRepository::new();
    repo.expect_insert().never();
    repo.expect_update().never();
    repo.expect_delete_unused().never();
    let s = tier_service(repo);
    let forbidden = DomainError::Forbidden(Permission::CustomersManage);
    assert_eq!(s.create(&manager, diamond()).await.unwrap_err(), forbidden);
    assert_eq!(
        s.replace(&manager, silver(), diamond()).await.unwrap_err(),
        forbidden
    );
    assert_eq!(s.delete(&manager, silver()).await.unwrap_err(), forbidden);
}

#[tokio::test]
async fn create_stores_the_validated_tier_in_the_callers_tenant() {
    let mut repo = MockTierRepository::new();
    repo.expect_insert()
        .withf(|t, _| {
            t.id == TierId(NEW_ID)
                && t.tenant_id == TENANT
                && t.name == "Diamond"
                && t.colour.as_deref() == Some("#B9F2FF")
                && t.benefits.get("lounge") == Some(&Value::Bool(true))
        })
        .times(1)
        .returning(|_, _| Ok(()));
    let created = tier_service(repo)
        .create(&actor("admin"), diamond())
        .await
        .unwrap();
    assert_eq!(
        (created.level, created.min_spend, created.discount_percent),
        (5, amount(50_000_000), Decimal::from(25))
    );
}

#[tokio::test]
async fn create_reports_every_invalid_field_without_writing() {
    let mut repo = MockTierRepository::new();
    repo.expect_insert().never();
    let bad = TierInput {
        name: Some("x".repeat(101)),
        level: Some(1001),
        min_spend: Some(Decimal::from(-1)),
        discount_percent: Some("12.345".parse().unwrap()),
        benefits: Some(json!(["lounge"])),
        colour: Some("#12345G".into()),
    };
    let err = tier_service(repo)
        .create(&actor("admin"), bad)
        .await
        .unwrap_err();
    assert_eq!(
        field_codes(err),
        [
            ("name".to_owned(), "required"),
            ("level".to_owned(), "required"),
            ("min_spend".to_owned(), "required"),
            ("discount_percent".to_owned(), "out_of_range"),
            ("benefits".to_owned(), "not_an_object"),
            ("colour".to_owned(), "invalid"),
        ]
    );
}

#[tokio::test]
async fn level_discount_and_minimum_accept_their_bounds() {
    let mut repo = MockTierRepository::new();
    repo.expect_insert().times(4).returning(|_, _| Ok(()));
    let s = tier_service(repo);
    for (level, discount, min_spend) in [
        (1, "0", "0"),
        (1000, "100", "0.0001"),
        (2, "12.5", "1000"),
        (3, "99.99", "5000000"),
    ] {
        let input = TierInput {
            level: Some(level),
            discount_percent: Some(discount.parse().unwrap()),
            min_spend: Some(min_spend.parse().unwrap()),
            colour: None,
            ..diamond()
        };
        assert!(
            s.create(&actor("admin"), input).await.is_ok(),
            "{level} {discount} {min_spend}"
        );
    }
}

#[tokio::test]
async fn a_taken_name_or_level_is_a_conflict_naming_the_field() {
    let mut repo = holding_silver();
    repo.expect_insert().returning(|_, _| {
        Err(RepositoryError::Conflict {
            field: "level".into(),
        })
    });
    repo.expect_update().returning(|_, _| {
        Err(RepositoryError::Conflict {
            field: "name".into(),
        })
    });
    let s = tier_service(repo);
    let created = s.create(&actor("admin"), diamond()).await.unwrap_err();
    assert!(
        matches!(&created, DomainError::Conflict { field, .. } if field == "level"),
        "{created:?}"
    );
    let replaced = s
        .replace(&actor("admin"), silver(), diamond())
        .await
        .unwrap_err();
    assert!(
        matches!(&replaced, DomainError::Conflict { field, .. } if field == "name"),
        "{replaced:?}"
    );
}

#[tokio::test]
async fn an_unknown_or_other_tenants_tier_is_not_found() {
    let mut repo = MockTierRepository::new();
    // Silver exists, in another tenant only.
    repo.expect_find().returning(|t, id| {
        Ok(tiers()
            .into_iter()
            .find(|x| t == OTHER_TENANT && x.id == id))
    });
    repo.expect_update().never();
    repo.expect_delete_unused().never();
    let s = tier_service(repo);
    let not_found = DomainError::NotFound { entity: "tier" };
    assert_eq!(
        s.get(&actor("viewer"), silver()).await.unwrap_err(),
        not_found
    );
    assert_eq!(
        s.replace(&actor("admin"), silver(), diamond())
            .await
            .unwrap_err(),
        not_found
    );
    assert_eq!(
        s.delete(&actor("admin"), silver()).await.unwrap_err(),
        not_found
    );
}

#[tokio::test]
async fn replace_keeps_the_tiers_id_and_tenant() {
    let mut repo = holding_silver();
    repo.expect_update()
        .withf(|t, _| t.id == silver() && t.tenant_id == TENANT && t.name == "Diamond")
        .times(1)
        .returning(|_, _| Ok(()));
    let replaced = tier_service(repo)
        .replace(&actor("admin"), silver(), diamond())
        .await
        .unwrap();
    assert_eq!(replaced.id, silver());
}

#[tokio::test]
async fn a_tier_customers_hold_is_not_deleted() {
    let mut repo = holding_silver();
    repo.expect_delete_unused()
        .times(1)
        .returning(|_, _, _| Ok(3));
    let err = tier_service(repo)
        .delete(&actor("admin"), silver())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DomainError::Rule(v) if v.rule == crate::error::Rule::TierInUse
            && v.field == "tier_id"
            && v.facts.get("customers") == Some(&serde_json::json!(3))),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_tier_nobody_holds_is_deleted() {
    let mut repo = holding_silver();
    repo.expect_delete_unused()
        .withf(|t, id, _| *t == TENANT && *id == silver())
        .times(1)
        .returning(|_, _, _| Ok(0));
    tier_service(repo)
        .delete(&actor("admin"), silver())
        .await
        .unwrap();
}

// ----- LoyaltyService::reevaluate_tiers -----

/// The one place the loyalty service is built; the tenant has these settings.
fn loyalty_service(orders: MockOrderRepository, settings: Value) -> LoyaltyService {
    let mut tenants = MockTenantRepository::new();
    tenants.expect_find().returning(move |id| {
        Ok(Some(Tenant {
            settings: settings.as_object().cloned().unwrap_or_default(),
            ..tenant(id, now())
        }))
    });
    LoyaltyService::new(
        Arc::new(MockCustomerRepository::new()),
        Arc::new(orders),
        Arc::new(tenants),
        Arc::new(clock(now)),
        Arc::new(ids()),
    )
}

fn customer_id(n: u128) -> CustomerId {
    CustomerId(Uuid::from_u128(1_000 + n))
}

/// A customer holding `tier` since `held_days` ago who has spent `spent`.
fn standing(n: u128, tier: Option<TierId>, held_days: i64, spent: i64) -> TierPosition {
    TierPosition {
        customer_id: customer_id(n),
        tier_id: tier,
        tier_since: tier.map(|_| now() - Duration::days(held_days)),
        total_spent: amount(spent),
    }
}

fn customer_at(p: &TierPosition) -> Customer {
    Customer {
        stats: PurchaseStats {
            total_spent: p.total_spent,
            ..Default::default()
        },
        loyalty: LoyaltyStatus {
            tier_id: p.tier_id,
            tier_since: p.tier_since,
            points: 0,
        },
        ..customer(p.customer_id, now())
    }
}

/// Orders whose tenant has the default tiers and whose customers stand as `batches` say (one
/// call of `tier_positions` per batch, then an empty one).
fn walking(batches: Vec<Vec<TierPosition>>) -> MockOrderRepository {
    let mut orders = MockOrderRepository::new();
    orders.expect_tiers().returning(|_| Ok(tiers()));
    let mut pages = batches.into_iter();
    orders
        .expect_tier_positions()
        .withf(|t, _, limit| *t == TENANT && *limit == 500)
        .returning(move |_, _, _| Ok(pages.next().unwrap_or_default()));
    orders
}

/// A transaction where the locked customers stand as `locked` says, recording tier changes into
/// `changes`.
fn recording(
    locked: Vec<TierPosition>,
    changes: Arc<Mutex<Vec<TierChange>>>,
) -> MockOrderTransaction {
    let mut tx = MockOrderTransaction::new();
    tx.expect_lock_customer()
        .returning(move |_, id| Ok(locked.iter().find(|p| p.customer_id == id).map(customer_at)));
    tx.expect_record_tier_change().returning(move |c| {
        changes.lock().unwrap().push(c.clone());
        Ok(())
    });
    tx.expect_append_events().returning(|_| Ok(()));
    tx.expect_commit().times(1).returning(|| Ok(()));
    tx
}

fn begins(orders: &mut MockOrderRepository, txs: Vec<MockOrderTransaction>) {
    let n = txs.len();
    let mut txs = txs.into_iter();
    orders
        .expect_begin()
        .times(n)
        .returning(move |_| Ok(Box::new(txs.next().unwrap())));
}

fn moves(changes: &Mutex<Vec<TierChange>>) -> Vec<(CustomerId, Option<TierId>, Option<TierId>)> {
    changes
        .lock()
        .unwrap()
        .iter()
        .map(|c| (c.customer_id, c.from_tier, c.to_tier))
        .collect()
}

#[tokio::test]
async fn reevaluation_needs_the_manage_permission() {
    let mut orders = MockOrderRepository::new();
    orders.expect_tier_positions().never();
    orders.expect_begin().never();
    let err = loyalty_service(orders, json!({}))
        .reevaluate_tiers(&actor("manager"))
        .await
        .unwrap_err();
    assert_eq!(err, DomainError::Forbidden(Permission::CustomersManage));
}

#[tokio::test]
async fn customers_whose_spending_reaches_a_higher_tier_are_upgraded_and_counted() {
    let due = standing(1, Some(bronze()), 10, 2_500_000);
    let settled = standing(2, Some(silver()), 10, 2_500_000);
    let first = standing(3, None, 0, 0);
    let changes = Arc::new(Mutex::new(Vec::new()));
    let mut orders = walking(vec![vec![due.clone(), settled, first.clone()]]);
    begins(
        &mut orders,
        vec![recording(vec![due, first], changes.clone())],
    );
    let changed = loyalty_service(orders, json!({}))
        .reevaluate_tiers(&actor("admin"))
        .await
        .unwrap();
    assert_eq!(changed, 2);
    assert_eq!(
        moves(&changes),
        [
            (customer_id(1), Some(bronze()), Some(silver())),
            (customer_id(3), None, Some(bronze())),
        ]
    );
    let recorded = changes.lock().unwrap();
    assert!(recorded.iter().all(|c| c.tenant_id == TENANT
        && c.changed_at == now()
        && c.actor.as_ref().map(UserId::as_str) == Some("user-1")));
}

#[tokio::test]
async fn without_a_downgrade_policy_no_tier_is_lowered() {
    let mut orders = walking(vec![vec![standing(1, Some(gold()), 4_000, 10)]]);
    orders.expect_begin().never();
    let changed = loyalty_service(orders, json!({}))
        .reevaluate_tiers(&actor("admin"))
        .await
        .unwrap();
    assert_eq!(changed, 0);
}

#[tokio::test]
async fn a_downgrade_waits_until_the_tier_was_held_for_the_grace_period() {
    let recent = standing(1, Some(gold()), 29, 10);
    let old = standing(2, Some(gold()), 30, 2_100_000);
    let changes = Arc::new(Mutex::new(Vec::new()));
    let mut orders = walking(vec![vec![recent, old.clone()]]);
    begins(&mut orders, vec![recording(vec![old], changes.clone())]);
    let changed = loyalty_service(orders, json!({"tier_downgrade": {"grace_days": 30}}))
        .reevaluate_tiers(&actor("admin"))
        .await
        .unwrap();
    assert_eq!(changed, 1);
    assert_eq!(
        moves(&changes),
        [(customer_id(2), Some(gold()), Some(silver()))]
    );
}

#[tokio::test]
async fn each_change_is_checked_again_under_the_customers_lock() {
    // The positions say both are due; meanwhile an order moved one up and the other was deleted.
    let moved = standing(1, Some(bronze()), 10, 2_500_000);
    let gone = standing(2, Some(bronze()), 10, 2_500_000);
    let now_silver = standing(1, Some(silver()), 0, 2_500_000);
    let changes = Arc::new(Mutex::new(Vec::new()));
    let mut orders = walking(vec![vec![moved, gone]]);
    begins(
        &mut orders,
        vec![recording(vec![now_silver], changes.clone())],
    );
    let changed = loyalty_service(orders, json!({}))
        .reevaluate_tiers(&actor("admin"))
        .await
        .unwrap();
    assert_eq!(changed, 0);
    assert!(moves(&changes).is_empty());
}

#[tokio::test]
async fn customers_are_walked_in_batches_each_in_its_own_transaction() {
    let a = standing(1, Some(bronze()), 10, 2_500_000);
    let b = standing(2, Some(silver()), 10, 5_000_000);
    let changes = Arc::new(Mutex::new(Vec::new()));
    let mut orders = MockOrderRepository::new();
    orders.expect_tiers().returning(|_| Ok(tiers()));
    let (first, second) = (a.clone(), b.clone());
    orders
        .expect_tier_positions()
        .returning(move |_, after, _| {
            Ok(match after {
                None => vec![first.clone()],
                Some(id) if id == customer_id(1) => vec![second.clone()],
                Some(_) => vec![],
            })
        });
    begins(
        &mut orders,
        vec![
            recording(vec![a], changes.clone()),
            recording(vec![b], changes.clone()),
        ],
    );
    let changed = loyalty_service(orders, json!({}))
        .reevaluate_tiers(&actor("admin"))
        .await
        .unwrap();
    assert_eq!(changed, 2);
    assert_eq!(
        moves(&changes),
        [
            (customer_id(1), Some(bronze()), Some(silver())),
            (customer_id(2), Some(silver()), Some(gold())),
        ]
    );
}

#[tokio::test]
async fn reevaluation_appends_one_tier_changed_per_change_in_its_batchs_transaction() {
    let due = standing(1, Some(bronze()), 10, 2_500_000);
    let first = standing(3, None, 0, 0);
    let mut orders = walking(vec![vec![due.clone(), first.clone()]]);
    let mut tx = MockOrderTransaction::new();
    let locked = [due, first];
    tx.expect_lock_customer()
        .returning(move |_, id| Ok(locked.iter().find(|p| p.customer_id == id).map(customer_at)));
    tx.expect_record_tier_change()
        .times(2)
        .returning(|_| Ok(()));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let out = seen.clone();
    tx.expect_append_events().times(1).returning(move |e| {
        out.lock().unwrap().extend_from_slice(e);
        Ok(())
    });
    tx.expect_commit().times(1).returning(|| Ok(()));
    begins(&mut orders, vec![tx]);
    loyalty_service(orders, json!({}))
        .reevaluate_tiers(&actor("admin"))
        .await
        .unwrap();
    let events: Vec<crate::event::NewEvent> = seen.lock().unwrap().clone();
    let shape: Vec<_> = events
        .iter()
        .map(|e| {
            (
                e.event_type.as_str(),
                e.customer_id,
                e.data["from_tier"].clone(),
                e.data["to_tier"].clone(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            (
                "tier.changed",
                Some(customer_id(1)),
                json!(tiers()[0].name),
                json!(tiers()[1].name)
            ),
            (
                "tier.changed",
                Some(customer_id(3)),
                Value::Null,
                json!(tiers()[0].name)
            ),
        ]
    );
    assert!(events.iter().all(|e| {
        e.actor.role.as_deref() == Some("admin")
            && e.occurred_at == now()
            && e.data["reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("re-evaluation"))
    }));
}

/// A tier repository that records the events each write is given.
fn tier_events() -> (MockTierRepository, Arc<Mutex<Vec<crate::event::NewEvent>>>) {
    let mut repo = holding_silver();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (a, b, c) = (seen.clone(), seen.clone(), seen.clone());
    repo.expect_insert().returning(move |_, e| {
        a.lock().unwrap().extend_from_slice(e);
        Ok(())
    });
    repo.expect_update().returning(move |_, e| {
        b.lock().unwrap().extend_from_slice(e);
        Ok(())
    });
    repo.expect_delete_unused().returning(move |_, _, e| {
        c.lock().unwrap().extend_from_slice(e);
        Ok(0)
    });
    (repo, seen)
}

#[tokio::test]
async fn tier_writes_hand_their_event_to_the_same_repository_call() {
    let (repo, seen) = tier_events();
    let svc = tier_service(repo);
    let admin = actor("admin");
    let created = svc.create(&admin, diamond()).await.unwrap();
    svc.replace(
        &admin,
        silver(),
        TierInput {
            min_spend: Some(Decimal::from(3_000_000)),
            ..diamond()
        },
    )
    .await
    .unwrap();
    svc.delete(&admin, silver()).await.unwrap();
    let events = seen.lock().unwrap();
    let shape: Vec<_> = events
        .iter()
        .map(|e| {
            (
                e.event_type.as_str(),
                e.entity_type,
                e.entity_id,
                e.customer_id,
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            (
                "tier.created",
                crate::event::EntityType::Tier,
                created.id.0,
                None
            ),
            (
                "tier.updated",
                crate::event::EntityType::Tier,
                silver().0,
                None
            ),
            (
                "tier.deleted",
                crate::event::EntityType::Tier,
                silver().0,
                None
            ),
        ]
    );
    assert_eq!(events[0].data["name"], "Diamond");
    assert_eq!(events[0].data["min_spend"], "50000000");
    assert_eq!(events[0].data["discount_percent"], "25");
    assert!(events[0].changes.is_empty());
    // Silver → the submitted fields: every changed one, old and new.
    let old = &tiers()[1];
    let changes = &events[1].changes;
    assert_eq!(changes["name"], [json!(old.name), json!("Diamond")]);
    assert_eq!(
        changes["min_spend"],
        [json!(old.min_spend.to_string()), json!("3000000")]
    );
    assert_eq!(changes["benefits"][1], json!({"lounge": true}));
    assert!(!changes.contains_key("tier_id"));
    assert_eq!(events[2].data["name"], old.name.as_str());
    assert!(
        events
            .iter()
            .all(|e| e.actor.sub == "user-1" && e.occurred_at == now())
    );
}

/// `points.expired` has a name but no writer yet (the domain has no expiry): an expiry entry,
/// when one is written, gets the event every points movement gets.
#[test]
fn an_expiry_entry_has_the_points_expired_event_with_its_numbers() {
    let at = chrono::Utc::now();
    let entry = LedgerEntry {
        id: crate::ids::LedgerEntryId(Uuid::from_u128(7)),
        tenant_id: TenantId(Uuid::from_u128(1)),
        customer_id: CustomerId(Uuid::from_u128(2)),
        kind: LedgerKind::Expiry,
        points: -40,
        reason: "expired".into(),
        order_id: None,
        actor: None,
        created_at: at,
    };
    let e = super::events::points_event(&crate::testing::actor("admin"), &entry, 60);
    assert_eq!(e.event_type, "points.expired");
    assert_eq!(e.customer_id, Some(entry.customer_id));
    assert_eq!(e.entity_id, entry.id.0);
    assert_eq!(
        e.data,
        json!({"entry_id": entry.id.0, "kind": "expiry", "points": -40, "balance_after": 60,
               "reason": "expired", "order_id": null})
    );
}
