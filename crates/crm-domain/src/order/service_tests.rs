//! The order service against mockall mocks of its ports.

use std::sync::Arc;

use chrono::Utc;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::*;
use crate::access::Permission;
use crate::customer::{Customer, CustomerInput, LifecycleStage};
use crate::error::{DomainError, RepositoryError};
use crate::ids::{CustomerId, TierId};
use crate::loyalty::{LedgerKind, LoyaltyService};
use crate::testing::{self, TENANT, actor, amount, clock, ids, now, profile, tenants, tiers};
use crate::values::CurrencyCode;

const CUSTOMER: CustomerId = CustomerId(Uuid::from_u128(2));

fn customer(credit_limit: i64, tier: Option<TierId>) -> Customer {
    let input = CustomerInput {
        name: Some("B".into()),
        email: Some("b@example.com".into()),
        ..Default::default()
    };
    let mut c = testing::customer(CUSTOMER, Utc::now());
    c.profile = profile(input, Utc::now().date_naive());
    c.profile.credit_limit = amount(credit_limit);
    c.loyalty.tier_id = tier;
    c
}

fn service(orders: MockOrderRepository) -> OrderService {
    OrderService::new(
        Arc::new(crate::customer::MockCustomerRepository::new()),
        Arc::new(orders),
        Arc::new(tenants(Utc::now)),
        Arc::new(clock(now)),
        Arc::new(ids()),
    )
}

fn repo_with(tx: MockOrderTransaction) -> MockOrderRepository {
    let mut repo = MockOrderRepository::new();
    let mut tx = Some(tx);
    repo.expect_begin()
        .times(1)
        .returning(move |_| Ok(Box::new(tx.take().unwrap())));
    repo
}

fn bulk_repo_with(tx: MockBulkOrderTransaction) -> MockOrderRepository {
    let mut repo = MockOrderRepository::new();
    let mut tx = Some(tx);
    repo.expect_begin_bulk()
        .times(1)
        .returning(move |_| Ok(Box::new(tx.take().unwrap())));
    repo
}

/// The events a transaction appends, in order (one `append_events` call expected).
type Appended = Arc<std::sync::Mutex<Vec<crate::event::NewEvent>>>;

fn appends(tx: &mut MockOrderTransaction) -> Appended {
    let seen = Appended::default();
    let out = seen.clone();
    tx.expect_append_events().times(1).returning(move |e| {
        out.lock().unwrap().extend_from_slice(e);
        Ok(())
    });
    seen
}

fn bulk_appends(tx: &mut MockBulkOrderTransaction) -> Appended {
    let seen = Appended::default();
    let out = seen.clone();
    tx.expect_append_events().times(1).returning(move |e| {
        out.lock().unwrap().extend_from_slice(e);
        Ok(())
    });
    seen
}

fn types(events: &Appended) -> Vec<String> {
    events
        .lock()
        .unwrap()
        .iter()
        .map(|e| e.event_type.clone())
        .collect()
}

fn order_input(total: i64, order_ref: &str) -> OrderInput {
    OrderInput {
        order_ref: Some(order_ref.into()),
        total_amount: Some(Decimal::from(total)),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_completed_order_earns_points_updates_statistics_and_upgrades_the_tier_in_one_transaction()
 {
    let bronze = tiers()[0].id;
    let mut tx = MockOrderTransaction::new();
    tx.expect_lock_customer()
        .returning(move |_, _| Ok(Some(customer(0, Some(bronze)))));
    tx.expect_order_by_ref().returning(|_, _| Ok(None));
    tx.expect_insert_order()
        .withf(|o| o.points_earned == 205 && o.status == OrderStatus::Completed)
        .times(1)
        .returning(|_| Ok(()));
    tx.expect_add_ledger_entry()
        .withf(|e| e.kind == LedgerKind::Earn && e.points == 205)
        .times(1)
        .returning(|_| Ok(()));
    tx.expect_completed_totals().returning(|_, _| {
        Ok(CompletedTotals {
            count: 1,
            sum: amount(2_050_000),
            first: Some(Utc::now()),
            last: Some(Utc::now()),
        })
    });
    tx.expect_save_customer_stats()
        .withf(|_, _, s, stage| {
            s.total_spent == amount(2_050_000)
                && s.total_orders == 1
                && *stage == LifecycleStage::Customer
        })
        .times(1)
        .returning(|_, _, _, _| Ok(()));
    tx.expect_tiers().returning(|_| Ok(tiers()));
    tx.expect_record_tier_change()
        .withf(move |c| c.from_tier == Some(bronze) && c.to_tier == Some(tiers()[1].id))
        .times(1)
        .returning(|_| Ok(()));
    tx.expect_commit().times(1).returning(|| Ok(()));
    let events = appends(&mut tx);
    let placed = service(repo_with(tx))
        .place(
            &actor("sales"),
            CUSTOMER,
            order_input(2_050_000, "INV-1"),
            false,
        )
        .await
        .unwrap();
    assert!(placed.created);
    assert_eq!(
        types(&events),
        ["order.placed", "points.earned", "tier.changed"]
    );
    let events = events.lock().unwrap();
    for e in events.iter() {
        assert_eq!(e.customer_id, Some(CUSTOMER), "{e:?}");
        assert_eq!(e.tenant_id, TENANT);
        assert_eq!(
            (e.actor.sub.as_str(), e.actor.role.as_deref()),
            ("user-1", Some("sales"))
        );
        assert_eq!(e.occurred_at, now());
    }
    let placed_event = &events[0];
    assert_eq!(
        (placed_event.entity_type, placed_event.entity_id),
        (crate::event::EntityType::Order, placed.order.id.0)
    );
    let d = &placed_event.data;
    assert_eq!(d["order_id"], serde_json::json!(placed.order.id.0));
    assert_eq!(d["order_ref"], "INV-1");
    assert_eq!(d["status"], "completed");
    assert_eq!(d["total_amount"], "2050000");
    assert_eq!(d["currency"], placed.order.currency.as_str());
    assert_eq!(d["line_count"], 0);
    assert!(placed_event.changes.is_empty());
    let points = &events[1];
    assert_eq!(points.entity_type, crate::event::EntityType::LoyaltyEntry);
    assert_eq!(points.data["points"], 205);
    assert_eq!(points.data["balance_after"], 205);
    assert_eq!(
        points.data["order_id"],
        serde_json::json!(placed.order.id.0)
    );
    assert_eq!(points.data["reason"], "order INV-1 completed");
    let tier = &events[2];
    assert_eq!(tier.data["from_tier"], tiers()[0].name.as_str());
    assert_eq!(tier.data["to_tier"], tiers()[1].name.as_str());
    assert_eq!(
        tier.changes["tier_id"],
        [
            serde_json::json!(tiers()[0].id.0),
            serde_json::json!(tiers()[1].id.0)
        ]
    );
}

#[tokio::test]
async fn a_pending_order_placed_appends_only_order_placed() {
    let mut tx = MockOrderTransaction::new();
    tx.expect_lock_customer()
        .returning(|_, _| Ok(Some(customer(0, None))));
    tx.expect_order_by_ref().returning(|_, _| Ok(None));
    tx.expect_insert_order().times(1).returning(|_| Ok(()));
    tx.expect_add_ledger_entry().never();
    tx.expect_commit().times(1).returning(|| Ok(()));
    let events = appends(&mut tx);
    let input = OrderInput {
        status: Some(OrderStatus::Pending),
        ..order_input(123_456, "P-1")
    };
    service(repo_with(tx))
        .place(&actor("sales"), CUSTOMER, input, false)
        .await
        .unwrap();
    assert_eq!(types(&events), ["order.placed"]);
    let events = events.lock().unwrap();
    assert_eq!(events[0].data["status"], "pending");
    assert_eq!(events[0].data["total_amount"], "123456");
}

#[tokio::test]
async fn a_failed_write_appends_no_event_and_does_not_commit() {
    let mut tx = MockOrderTransaction::new();
    tx.expect_lock_customer()
        .returning(|_, _| Ok(Some(customer(0, None))));
    tx.expect_order_by_ref().returning(|_, _| Ok(None));
    tx.expect_insert_order()
        .returning(|_| Err(RepositoryError::Unavailable("down".into())));
    tx.expect_append_events().never();
    tx.expect_commit().never();
    service(repo_with(tx))
        .place(&actor("sales"), CUSTOMER, order_input(1, "X"), false)
        .await
        .unwrap_err();
}

#[tokio::test]
async fn a_resent_order_ref_returns_the_stored_order_without_writing() {
    let mut tx = MockOrderTransaction::new();
    tx.expect_lock_customer()
        .returning(|_, _| Ok(Some(customer(0, None))));
    let stored = Order {
        order_ref: "INV-1".into(),
        total_amount: amount(10),
        ..stored_order(OrderStatus::Completed, 0)
    };
    let copy = stored.clone();
    tx.expect_order_by_ref()
        .returning(move |_, _| Ok(Some(copy.clone())));
    tx.expect_insert_order().never();
    tx.expect_commit().never();
    let placed = service(repo_with(tx))
        .place(&actor("sales"), CUSTOMER, order_input(999, "INV-1"), false)
        .await
        .unwrap();
    assert_eq!((placed.created, placed.order), (false, stored));
}

#[tokio::test]
async fn an_unpaid_order_beyond_the_credit_limit_is_refused() {
    let mut tx = MockOrderTransaction::new();
    tx.expect_lock_customer()
        .returning(|_, _| Ok(Some(customer(1_000_000, None))));
    tx.expect_order_by_ref().returning(|_, _| Ok(None));
    tx.expect_outstanding()
        .returning(|_, _| Ok(amount(900_000)));
    tx.expect_insert_order().never();
    let mut input = order_input(100_001, "INV-2");
    input.payment_status = Some(PaymentStatus::Unpaid);
    let err = service(repo_with(tx))
        .place(&actor("sales"), CUSTOMER, input, false)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        DomainError::from(PlaceOrderError::CreditLimitExceeded {
            limit: amount(1_000_000),
            outstanding: amount(900_000),
            requested: amount(100_001),
            currency: CurrencyCode::parse("IDR").unwrap(),
        })
    );
    let DomainError::Rule(v) = err else {
        panic!("{err:?}")
    };
    assert_eq!(
        (v.rule, v.field.as_str()),
        (crate::error::Rule::CreditLimitExceeded, "credit_limit")
    );
    assert_eq!(
        serde_json::Value::Object(v.facts),
        serde_json::json!({"limit": "1000000", "outstanding": "900000", "requested": "100001", "currency": "IDR"})
    );
}

#[tokio::test]
async fn completing_an_unpaid_order_beyond_the_credit_limit_is_refused() {
    let mut pending = stored_order(OrderStatus::Pending, 0);
    pending.payment_status = PaymentStatus::Unpaid;
    let stored = pending.clone();
    let mut repo = MockOrderRepository::new();
    repo.expect_find_order()
        .returning(move |_, _| Ok(Some(stored.clone())));
    let mut tx = MockOrderTransaction::new();
    tx.expect_lock_customer()
        .returning(|_, _| Ok(Some(customer(500_000, None))));
    tx.expect_find_order()
        .returning(move |_, _| Ok(Some(pending.clone())));
    tx.expect_outstanding()
        .returning(|_, _| Ok(amount(200_001)));
    tx.expect_update_order().never();
    tx.expect_commit().never();
    let mut tx = Some(tx);
    repo.expect_begin()
        .times(1)
        .returning(move |_| Ok(Box::new(tx.take().unwrap())));
    let change = OrderChange {
        status: Some(OrderStatus::Completed),
        payment_status: None,
    };
    let err = service(repo)
        .change(
            &actor("sales"),
            crate::ids::OrderId(Uuid::from_u128(9)),
            change,
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(
        err,
        DomainError::from(PlaceOrderError::CreditLimitExceeded {
            limit: amount(500_000),
            outstanding: amount(200_001),
            requested: amount(300_000),
            currency: CurrencyCode::parse("IDR").unwrap(),
        })
    );
}

#[tokio::test]
async fn overriding_the_credit_limit_needs_the_manage_permission() {
    let repo = MockOrderRepository::new();
    let err = service(repo)
        .place(&actor("manager"), CUSTOMER, order_input(1, "X"), true)
        .await
        .unwrap_err();
    assert_eq!(err, DomainError::Forbidden(Permission::CustomersManage));
}

#[tokio::test]
async fn a_viewer_cannot_place_orders() {
    let repo = MockOrderRepository::new();
    let err = service(repo)
        .place(&actor("viewer"), CUSTOMER, order_input(1, "X"), false)
        .await
        .unwrap_err();
    assert_eq!(err, DomainError::Forbidden(Permission::CustomersEdit));
}

fn stored_order(status: OrderStatus, points: i64) -> Order {
    let now = Utc::now();
    Order {
        id: crate::ids::OrderId(Uuid::from_u128(9)),
        tenant_id: TENANT,
        customer_id: CUSTOMER,
        order_ref: "INV-9".into(),
        placed_at: now,
        status,
        payment_status: PaymentStatus::Paid,
        due_at: now,
        currency: CurrencyCode::parse("IDR").unwrap(),
        total_amount: amount(300_000),
        lines: vec![],
        channel: None,
        metadata: Default::default(),
        points_earned: points,
        created_by: None,
        created_at: now,
        updated_at: now,
        version: 1,
    }
}

#[tokio::test]
async fn a_refund_takes_back_exactly_the_points_the_order_earned_but_never_below_zero() {
    let mut repo = MockOrderRepository::new();
    repo.expect_find_order()
        .returning(|_, _| Ok(Some(stored_order(OrderStatus::Completed, 30))));
    let mut tx = MockOrderTransaction::new();
    // The customer has redeemed some points meanwhile: only 12 are left.
    tx.expect_lock_customer().returning(|_, _| {
        let mut c = customer(0, Some(tiers()[0].id));
        c.loyalty.points = 12;
        Ok(Some(c))
    });
    tx.expect_find_order()
        .returning(|_, _| Ok(Some(stored_order(OrderStatus::Completed, 30))));
    tx.expect_update_order()
        .withf(|o, v| o.status == OrderStatus::Refunded && o.version == 2 && *v == 1)
        .times(1)
        .returning(|_, _| Ok(()));
    tx.expect_add_ledger_entry()
        .withf(|e| e.kind == LedgerKind::Reversal && e.points == -12)
        .times(1)
        .returning(|_| Ok(()));
    tx.expect_completed_totals()
        .returning(|_, _| Ok(CompletedTotals::default()));
    tx.expect_save_customer_stats()
        .times(1)
        .returning(|_, _, _, _| Ok(()));
    tx.expect_tiers().returning(|_| Ok(tiers()));
    tx.expect_record_tier_change().never();
    tx.expect_commit().times(1).returning(|| Ok(()));
    let events = appends(&mut tx);
    let mut tx = Some(tx);
    repo.expect_begin()
        .times(1)
        .returning(move |_| Ok(Box::new(tx.take().unwrap())));
    let change = OrderChange {
        status: Some(OrderStatus::Refunded),
        payment_status: None,
    };
    let o = service(repo)
        .change(
            &actor("sales"),
            crate::ids::OrderId(Uuid::from_u128(9)),
            change,
            None,
        )
        .await
        .unwrap();
    assert_eq!(o.status, OrderStatus::Refunded);
    assert_eq!(types(&events), ["order.refunded", "points.reversed"]);
    let events = events.lock().unwrap();
    assert_eq!(
        events[0].changes["status"],
        [
            serde_json::json!("completed"),
            serde_json::json!("refunded")
        ]
    );
    assert_eq!(events[0].changes.len(), 1, "{:?}", events[0].changes);
    assert_eq!(events[0].data["total_amount"], "300000");
    assert_eq!(
        (
            events[1].data["points"].clone(),
            events[1].data["balance_after"].clone()
        ),
        (serde_json::json!(-12), serde_json::json!(0))
    );
    assert!(events.iter().all(|e| e.customer_id == Some(CUSTOMER)));
}

#[tokio::test]
async fn a_forbidden_transition_writes_nothing() {
    let mut repo = MockOrderRepository::new();
    repo.expect_find_order()
        .returning(|_, _| Ok(Some(stored_order(OrderStatus::Refunded, 0))));
    let mut tx = MockOrderTransaction::new();
    tx.expect_lock_customer()
        .returning(|_, _| Ok(Some(customer(0, None))));
    tx.expect_find_order()
        .returning(|_, _| Ok(Some(stored_order(OrderStatus::Refunded, 0))));
    tx.expect_update_order().never();
    tx.expect_commit().never();
    let mut tx = Some(tx);
    repo.expect_begin()
        .returning(move |_| Ok(Box::new(tx.take().unwrap())));
    let change = OrderChange {
        status: Some(OrderStatus::Completed),
        payment_status: None,
    };
    let err = service(repo)
        .change(
            &actor("admin"),
            crate::ids::OrderId(Uuid::from_u128(9)),
            change,
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, DomainError::Validation(ref e) if e[0].code == "invalid_transition"),
        "{err:?}"
    );
}

fn loyalty_service(
    orders: MockOrderRepository,
    customers: crate::customer::MockCustomerRepository,
) -> LoyaltyService {
    LoyaltyService::new(
        Arc::new(customers),
        Arc::new(orders),
        Arc::new(crate::testing::tenants(Utc::now)),
        Arc::new(clock(Utc::now)),
        Arc::new(ids()),
    )
}

#[tokio::test]
async fn redeeming_more_than_the_balance_is_refused_without_writing() {
    let mut tx = MockOrderTransaction::new();
    tx.expect_lock_customer().returning(|_, _| {
        let mut c = customer(0, None);
        c.loyalty.points = 15;
        Ok(Some(c))
    });
    tx.expect_add_ledger_entry().never();
    tx.expect_commit().never();
    let svc = loyalty_service(
        repo_with(tx),
        crate::customer::MockCustomerRepository::new(),
    );
    let err = svc
        .redeem(&actor("sales"), CUSTOMER, 16, "voucher")
        .await
        .unwrap_err();
    assert_eq!(
        err,
        DomainError::from(crate::loyalty::RedeemError::InsufficientPoints {
            balance: 15,
            requested: 16
        })
    );
    let DomainError::Rule(v) = err else {
        panic!("{err:?}")
    };
    assert_eq!(
        (v.rule, v.field.as_str()),
        (crate::error::Rule::InsufficientPoints, "points")
    );
    assert_eq!(
        serde_json::Value::Object(v.facts),
        serde_json::json!({"balance": 15, "requested": 16})
    );
}

#[tokio::test]
async fn a_negative_adjustment_beyond_the_balance_is_refused_with_the_numbers() {
    let mut tx = MockOrderTransaction::new();
    tx.expect_lock_customer().returning(|_, _| {
        let mut c = customer(0, None);
        c.loyalty.points = 4;
        Ok(Some(c))
    });
    tx.expect_add_ledger_entry().never();
    tx.expect_commit().never();
    let svc = loyalty_service(
        repo_with(tx),
        crate::customer::MockCustomerRepository::new(),
    );
    let err = svc
        .adjust(&actor("admin"), CUSTOMER, -5, "correction")
        .await
        .unwrap_err();
    assert_eq!(
        err,
        DomainError::from(crate::loyalty::RedeemError::InsufficientPoints {
            balance: 4,
            requested: 5
        })
    );
}

#[tokio::test]
async fn adjusting_points_needs_the_manage_permission_and_a_reason() {
    let svc = loyalty_service(
        MockOrderRepository::new(),
        crate::customer::MockCustomerRepository::new(),
    );
    assert_eq!(
        svc.adjust(&actor("manager"), CUSTOMER, 5, "x")
            .await
            .unwrap_err(),
        DomainError::Forbidden(Permission::CustomersManage)
    );
    let err = svc
        .adjust(&actor("admin"), CUSTOMER, 5, "  ")
        .await
        .unwrap_err();
    assert!(matches!(err, DomainError::Validation(ref e) if e[0].field == "reason"));
}

#[tokio::test]
async fn the_next_tier_and_the_missing_spend_come_from_the_current_tier() {
    let mut customers = crate::customer::MockCustomerRepository::new();
    customers.expect_find().returning(|_, _, _| {
        let mut c = customer(0, Some(tiers()[1].id));
        c.stats.total_spent = amount(3_000_000);
        Ok(Some(c))
    });
    let mut orders = MockOrderRepository::new();
    orders.expect_tiers().returning(|_| Ok(tiers()));
    orders.expect_ledger().returning(|_, _, _, _| Ok(vec![]));
    let s = loyalty_service(orders, customers)
        .summary(&actor("viewer"), CUSTOMER, None, 20)
        .await
        .unwrap();
    assert_eq!(s.tier.unwrap().name, "Silver");
    assert_eq!(s.next_tier.unwrap().name, "Gold");
    assert_eq!(s.missing_to_next, Some(amount(2_000_000)));
}

/// A batch applies the rules order by order: the tier rule after each completed order (two
/// changes, in sequence), one ledger entry per order, a repeated ref answered as the first
/// order, a ref of another customer's order refused, an invalid order refused without
/// stopping the others, and one settlement with the batch's totals.
#[tokio::test]
async fn place_many_applies_the_rules_order_by_order_and_writes_once() {
    let [bronze, silver, gold] = [tiers()[0].id, tiers()[1].id, tiers()[2].id];
    let other = CustomerId(Uuid::from_u128(3));
    let mut tx = MockBulkOrderTransaction::new();
    tx.expect_lock_customers()
        .withf(|_, ids| ids == [CUSTOMER])
        .times(1)
        .returning(move |_, _| Ok(vec![customer(0, Some(bronze))]));
    tx.expect_orders_by_refs().times(1).returning(move |_, _| {
        Ok(vec![Order {
            customer_id: other,
            order_ref: "TAKEN".into(),
            ..stored_order(OrderStatus::Completed, 0)
        }])
    });
    tx.expect_completed_totals_many()
        .times(1)
        .returning(|_, _| Ok(vec![]));
    tx.expect_tiers().returning(|_| Ok(tiers()));
    tx.expect_insert_orders()
        .withf(|orders| {
            orders
                .iter()
                .map(|o| o.order_ref.as_str())
                .collect::<Vec<_>>()
                == ["A", "B", "C"]
        })
        .times(1)
        .returning(|_| Ok(()));
    tx.expect_append_ledger_entries()
        .withf(|entries| entries.iter().map(|e| e.points).collect::<Vec<_>>() == [150, 60, 300])
        .times(1)
        .returning(|_| Ok(()));
    tx.expect_append_tier_changes()
        .withf(move |changes| {
            changes
                .iter()
                .map(|c| (c.from_tier, c.to_tier))
                .collect::<Vec<_>>()
                == [(Some(bronze), Some(silver)), (Some(silver), Some(gold))]
        })
        .times(1)
        .returning(|_| Ok(()));
    tx.expect_settle_many()
        .withf(move |_, rows| {
            rows.len() == 1
                && rows[0].stats.total_orders == 3
                && rows[0].stats.total_spent == amount(5_100_000)
                && rows[0].stage == LifecycleStage::Customer
                && rows[0].points == 510
                && rows[0].tier.map(|t| t.0) == Some(Some(gold))
        })
        .times(1)
        .returning(|_, _| Ok(()));
    tx.expect_commit().times(1).returning(|| Ok(()));
    let events = bulk_appends(&mut tx);
    let bulk = |key: u64, input: OrderInput| BulkOrder {
        key,
        customer_id: CUSTOMER,
        input,
    };
    let outcomes = service(bulk_repo_with(tx))
        .place_many(
            &actor("sales"),
            &[],
            vec![
                bulk(1, order_input(1_500_000, "A")),
                bulk(2, order_input(600_000, "B")),
                bulk(3, order_input(600_000, "B")),
                bulk(4, order_input(1, "TAKEN")),
                bulk(
                    5,
                    OrderInput {
                        order_ref: Some("D".into()),
                        ..Default::default()
                    },
                ),
                bulk(6, order_input(3_000_000, "C")),
            ],
        )
        .await
        .unwrap();
    let shape: Vec<(u64, &str)> = outcomes
        .iter()
        .map(|(k, o)| {
            (
                *k,
                match o {
                    Ok(p) if p.created => "created",
                    Ok(_) => "existing",
                    Err(DomainError::Conflict { .. }) => "conflict",
                    Err(DomainError::Validation(_)) => "invalid",
                    Err(_) => "other",
                },
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            (1, "created"),
            (2, "created"),
            (3, "existing"),
            (4, "conflict"),
            (5, "invalid"),
            (6, "created")
        ]
    );
    // One event per stored order, points entry and tier change, in sequence, in one append.
    assert_eq!(
        types(&events),
        [
            "order.placed",
            "points.earned",
            "order.placed",
            "points.earned",
            "tier.changed",
            "order.placed",
            "points.earned",
            "tier.changed"
        ]
    );
    let events = events.lock().unwrap();
    let refs: Vec<_> = events
        .iter()
        .filter(|e| e.event_type == "order.placed")
        .map(|e| e.data["order_ref"].clone())
        .collect();
    assert_eq!(refs, ["A", "B", "C"]);
    let balances: Vec<_> = events
        .iter()
        .filter(|e| e.event_type == "points.earned")
        .map(|e| e.data["balance_after"].clone())
        .collect();
    assert_eq!(balances, [150, 210, 510]);
    let tiers_to: Vec<_> = events
        .iter()
        .filter(|e| e.event_type == "tier.changed")
        .map(|e| e.data["to_tier"].clone())
        .collect();
    assert_eq!(
        tiers_to,
        [tiers()[1].name.as_str(), tiers()[2].name.as_str()]
    );
    assert!(
        events
            .iter()
            .all(|e| e.customer_id == Some(CUSTOMER) && e.actor.sub == "user-1")
    );
}

#[tokio::test]
async fn with_sales_scope_assigned_another_sales_users_orders_are_not_found() {
    let mut orders = MockOrderRepository::new();
    orders
        .expect_find_order()
        .returning(|_, _| Ok(Some(stored_order(OrderStatus::Completed, 0))));
    orders
        .expect_list_orders()
        .withf(|_, v, _| {
            *v == crate::access::Visibility::AssignedTo(crate::ids::UserId::parse("alice").unwrap())
        })
        .times(1)
        .returning(|_, _, _| Ok(vec![]));
    let mut customers = crate::customer::MockCustomerRepository::new();
    customers.expect_find().returning(|_, _, _| {
        let mut c = customer(0, None);
        c.profile.assigned_to = crate::ids::UserId::parse("bob");
        Ok(Some(c))
    });
    let svc = OrderService::new(
        Arc::new(customers),
        Arc::new(orders),
        Arc::new(testing::scoped_tenants("assigned")),
        Arc::new(clock(now)),
        Arc::new(ids()),
    );
    let alice = testing::user_with("alice", &["sales"]);
    let id = crate::ids::OrderId(Uuid::from_u128(9));
    assert_eq!(
        svc.get(&alice, id).await.unwrap_err(),
        DomainError::NotFound { entity: "order" }
    );
    assert!(
        svc.get(&testing::user_with("bob", &["sales"]), id)
            .await
            .is_ok()
    );
    assert!(
        svc.get(&testing::user_with("mia", &["manager"]), id)
            .await
            .is_ok()
    );
    let all = OrderListQuery {
        limit: 20,
        ..Default::default()
    };
    svc.list(&alice, all).await.unwrap();
}

#[tokio::test]
async fn a_redemption_appends_points_redeemed_with_the_balance_after_and_the_reason() {
    let mut tx = MockOrderTransaction::new();
    tx.expect_lock_customer().returning(|_, _| {
        let mut c = customer(0, None);
        c.loyalty.points = 40;
        Ok(Some(c))
    });
    tx.expect_add_ledger_entry()
        .withf(|e| e.kind == LedgerKind::Redemption && e.points == -15)
        .times(1)
        .returning(|_| Ok(()));
    tx.expect_commit().times(1).returning(|| Ok(()));
    let events = appends(&mut tx);
    let svc = loyalty_service(
        repo_with(tx),
        crate::customer::MockCustomerRepository::new(),
    );
    let balance = svc
        .redeem(&actor("sales"), CUSTOMER, 15, " voucher ")
        .await
        .unwrap();
    assert_eq!(balance, 25);
    assert_eq!(types(&events), ["points.redeemed"]);
    let e = &events.lock().unwrap()[0];
    assert_eq!(e.customer_id, Some(CUSTOMER));
    assert_eq!(e.entity_type, crate::event::EntityType::LoyaltyEntry);
    assert_eq!(e.actor.role.as_deref(), Some("sales"));
    assert_eq!(
        e.data,
        serde_json::json!({
            "entry_id": e.entity_id,
            "kind": "redemption",
            "points": -15,
            "balance_after": 25,
            "reason": "voucher",
            "order_id": null,
        })
    );
}

#[tokio::test]
async fn an_adjustment_appends_points_adjusted() {
    let mut tx = MockOrderTransaction::new();
    tx.expect_lock_customer().returning(|_, _| {
        let mut c = customer(0, None);
        c.loyalty.points = 4;
        Ok(Some(c))
    });
    tx.expect_add_ledger_entry().times(1).returning(|_| Ok(()));
    tx.expect_commit().times(1).returning(|| Ok(()));
    let events = appends(&mut tx);
    let svc = loyalty_service(
        repo_with(tx),
        crate::customer::MockCustomerRepository::new(),
    );
    svc.adjust(&actor("admin"), CUSTOMER, 6, "goodwill")
        .await
        .unwrap();
    assert_eq!(types(&events), ["points.adjusted"]);
    let e = &events.lock().unwrap()[0];
    assert_eq!(
        (e.data["points"].clone(), e.data["balance_after"].clone()),
        (serde_json::json!(6), serde_json::json!(10))
    );
    assert_eq!(e.actor.role.as_deref(), Some("admin"));
}

#[tokio::test]
async fn assigning_a_tier_appends_tier_changed_with_both_tiers_and_the_reason() {
    let [bronze, gold] = [tiers()[0].id, tiers()[2].id];
    let mut tx = MockOrderTransaction::new();
    tx.expect_lock_customer()
        .returning(move |_, _| Ok(Some(customer(0, Some(bronze)))));
    tx.expect_tiers().returning(|_| Ok(tiers()));
    tx.expect_record_tier_change()
        .times(1)
        .returning(|_| Ok(()));
    tx.expect_commit().times(1).returning(|| Ok(()));
    let events = appends(&mut tx);
    let mut customers = crate::customer::MockCustomerRepository::new();
    customers
        .expect_find()
        .returning(move |_, _, _| Ok(Some(customer(0, Some(gold)))));
    loyalty_service(repo_with(tx), customers)
        .assign_tier(&actor("admin"), CUSTOMER, Some(gold), "key account")
        .await
        .unwrap();
    assert_eq!(types(&events), ["tier.changed"]);
    let e = &events.lock().unwrap()[0];
    assert_eq!(
        (e.customer_id, e.entity_type, e.entity_id),
        (
            Some(CUSTOMER),
            crate::event::EntityType::Customer,
            CUSTOMER.0
        )
    );
    assert_eq!(e.data["from_tier"], tiers()[0].name.as_str());
    assert_eq!(e.data["to_tier"], tiers()[2].name.as_str());
    assert_eq!(e.data["reason"], "key account");
    assert_eq!(
        e.changes["tier_id"],
        [serde_json::json!(bronze.0), serde_json::json!(gold.0)]
    );
}

#[tokio::test]
async fn a_payment_change_appends_order_updated_with_only_that_change() {
    let mut repo = MockOrderRepository::new();
    let unpaid = || Order {
        payment_status: PaymentStatus::Unpaid,
        ..stored_order(OrderStatus::Completed, 30)
    };
    repo.expect_find_order()
        .returning(move |_, _| Ok(Some(unpaid())));
    let mut tx = MockOrderTransaction::new();
    tx.expect_lock_customer()
        .returning(|_, _| Ok(Some(customer(0, None))));
    tx.expect_find_order()
        .returning(move |_, _| Ok(Some(unpaid())));
    tx.expect_update_order().times(1).returning(|_, _| Ok(()));
    tx.expect_commit().times(1).returning(|| Ok(()));
    let events = appends(&mut tx);
    let mut tx = Some(tx);
    repo.expect_begin()
        .times(1)
        .returning(move |_| Ok(Box::new(tx.take().unwrap())));
    let change = OrderChange {
        status: None,
        payment_status: Some(PaymentStatus::Paid),
    };
    service(repo)
        .change(
            &actor("sales"),
            crate::ids::OrderId(Uuid::from_u128(9)),
            change,
            None,
        )
        .await
        .unwrap();
    assert_eq!(types(&events), ["order.updated"]);
    let e = &events.lock().unwrap()[0];
    assert_eq!(
        e.changes.keys().collect::<Vec<_>>(),
        ["payment_status"],
        "{:?}",
        e.changes
    );
    assert_eq!(
        e.changes["payment_status"],
        [serde_json::json!("unpaid"), serde_json::json!("paid")]
    );
}

#[tokio::test]
async fn completing_a_pending_order_appends_order_completed_and_points_earned() {
    let mut repo = MockOrderRepository::new();
    repo.expect_find_order()
        .returning(|_, _| Ok(Some(stored_order(OrderStatus::Pending, 0))));
    let mut tx = MockOrderTransaction::new();
    tx.expect_lock_customer()
        .returning(|_, _| Ok(Some(customer(0, None))));
    tx.expect_find_order()
        .returning(|_, _| Ok(Some(stored_order(OrderStatus::Pending, 0))));
    tx.expect_update_order().times(1).returning(|_, _| Ok(()));
    tx.expect_add_ledger_entry().times(1).returning(|_| Ok(()));
    tx.expect_completed_totals()
        .returning(|_, _| Ok(CompletedTotals::default()));
    tx.expect_save_customer_stats()
        .returning(|_, _, _, _| Ok(()));
    tx.expect_tiers().returning(|_| Ok(vec![]));
    tx.expect_commit().times(1).returning(|| Ok(()));
    let events = appends(&mut tx);
    let mut tx = Some(tx);
    repo.expect_begin()
        .times(1)
        .returning(move |_| Ok(Box::new(tx.take().unwrap())));
    let change = OrderChange {
        status: Some(OrderStatus::Completed),
        payment_status: None,
    };
    service(repo)
        .change(
            &actor("sales"),
            crate::ids::OrderId(Uuid::from_u128(9)),
            change,
            None,
        )
        .await
        .unwrap();
    assert_eq!(types(&events), ["order.completed", "points.earned"]);
    let events = events.lock().unwrap();
    assert_eq!(
        events[0].changes["status"],
        [serde_json::json!("pending"), serde_json::json!("completed")]
    );
    assert_eq!(
        events[0].changes["points_earned"],
        [serde_json::json!(0), serde_json::json!(30)]
    );
    assert_eq!(events[1].data["points"], 30);
}
