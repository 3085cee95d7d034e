//! Repository behaviour on SQLite and on PostgreSQL (each test gets its own database).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{Datelike, SubsecRound, Utc};
use crm_domain::access::Visibility;
use crm_domain::customer::{
    CustomerInput, CustomerProfile, CustomerQuery, CustomerRepository, CustomerStatus,
    CustomerType, Deleted, DeletionChange, IdempotencyRecord, NewCustomer, ProfileUpdate,
    UniqueField, ValidationContext,
};
use crm_domain::tenant::{Tenant, TenantRepository};
use crm_domain::values::{CountryCode, CurrencyCode};
use crm_domain::{CustomerId, RepositoryError, TenantId, UserId};
use crm_infra::testing::{Backend, TestDatabase};
use crm_infra::{SeaCustomerRepository, SeaTenantRepository};
use serde_json::json;
use uuid::Uuid;

struct Ctx {
    _db: TestDatabase,
    repo: Arc<SeaCustomerRepository>,
    tenant: TenantId,
    other_tenant: TenantId,
}

async fn setup(backend: Backend) -> Option<Ctx> {
    let db = TestDatabase::create(backend).await?;
    let tenants = SeaTenantRepository::new(db.db.clone());
    let mut ids = Vec::new();
    for name in ["A", "B"] {
        let t = Tenant {
            id: TenantId(Uuid::now_v7()),
            name: name.into(),
            default_country: CountryCode::parse("ID"),
            default_currency: CurrencyCode::parse("IDR").unwrap(),
            settings: Default::default(),
            created_at: Utc::now().trunc_subsecs(6),
        };
        tenants.insert(&t, &[]).await.unwrap();
        assert_eq!(tenants.find(t.id).await.unwrap().unwrap(), t);
        ids.push(t.id);
    }
    Some(Ctx {
        repo: Arc::new(SeaCustomerRepository::new(db.db.clone())),
        _db: db,
        tenant: ids[0],
        other_tenant: ids[1],
    })
}

fn query(filter: serde_json::Value, limit: u32) -> CustomerQuery {
    CustomerQuery {
        filter: crm_domain::customer::filter::Filter::parse(&filter, "filter").unwrap(),
        sort: vec![],
        deleted: Deleted::Exclude,
        limit,
        after: None,
        offset: None,
        now: Utc::now(),
        search: None,
    }
}

fn profile(input: CustomerInput) -> CustomerProfile {
    let ctx = ValidationContext {
        default_country: CountryCode::parse("ID"),
        default_currency: CurrencyCode::parse("IDR").unwrap(),
        today: Utc::now().date_naive(),
    };
    input.validate(&ctx).unwrap()
}

fn simple(email: &str) -> CustomerProfile {
    profile(CustomerInput {
        name: Some("Budi".into()),
        email: Some(email.into()),
        ..Default::default()
    })
}

fn new_customer(tenant: TenantId, p: CustomerProfile) -> NewCustomer {
    NewCustomer {
        id: CustomerId(Uuid::now_v7()),
        tenant_id: tenant,
        profile: p,
        created_by: UserId::parse("tester"),
        created_at: Utc::now().trunc_subsecs(6),
        addresses: Vec::new(),
        contacts: Vec::new(),
    }
}

async fn a_full_profile_round_trips_exactly(backend: Backend) {
    let Some(c) = setup(backend).await else {
        return;
    };
    let referrer = c
        .repo
        .create(
            new_customer(c.tenant, simple("ref@example.com")),
            None,
            vec![],
        )
        .await
        .unwrap();
    let p = profile(CustomerInput {
        name: Some("PT Maju Jaya".into()),
        display_name: Some("Maju".into()),
        email: Some("Sales@Maju.co.id".into()),
        phone: Some("021 5550 1234".into()),
        mobile_phone: Some("0812 3456 7890".into()),
        customer_type: Some(CustomerType::Business),
        company: Some("Maju Jaya".into()),
        website: Some("maju.co.id".into()),
        annual_revenue: Some("1234567890123.4567".parse().unwrap()),
        credit_limit: Some("50000000.5".parse().unwrap()),
        acquisition_cost: Some("0.0001".parse().unwrap()),
        currency: Some("IDR".into()),
        language: Some("id".into()),
        timezone: Some("Asia/Jakarta".into()),
        birth_date: chrono::NaiveDate::from_ymd_opt(1990, 5, 17),
        tags: Some(vec!["wholesale".into(), "jakarta".into()]),
        metadata: Some(serde_json::json!({"segment": "b2b", "nested": {"n": 1}})),
        referred_by: Some(referrer.id.0),
        external_ref: Some("ERP-1".into()),
        next_follow_up_at: Some(Utc::now()),
        ..Default::default()
    });
    let created = c
        .repo
        .create(new_customer(c.tenant, p.clone()), None, vec![])
        .await
        .unwrap();
    assert_eq!(created.profile, p);
    assert_eq!(created.version, 1);
    let read = c
        .repo
        .find(c.tenant, created.id, false)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read, created);
    assert_eq!(
        read.profile.annual_revenue.unwrap().to_string(),
        "1234567890123.4567"
    );
}

async fn fifty_concurrent_creates_get_distinct_increasing_numbers(backend: Backend) {
    let Some(c) = setup(backend).await else {
        return;
    };
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let repo = c.repo.clone();
            let tenant = c.tenant;
            tokio::spawn(async move {
                repo.create(
                    new_customer(tenant, simple(&format!("c{i}@example.com"))),
                    None,
                    vec![],
                )
                .await
            })
        })
        .collect();
    let mut created = Vec::new();
    for t in tasks {
        created.push(t.await.unwrap().unwrap());
    }
    let numbers: BTreeSet<i64> = created.iter().map(|c| c.customer_number).collect();
    assert_eq!(numbers, (1..=50).collect::<BTreeSet<_>>());
    let codes: BTreeSet<&str> = created.iter().map(|c| c.customer_code.as_str()).collect();
    assert_eq!(codes.len(), 50);
    let year = Utc::now().year();
    assert!(codes.contains(format!("CUST-{year}-0050").as_str()));
    // The other tenant's sequence is its own.
    let first_b = c
        .repo
        .create(
            new_customer(c.other_tenant, simple("c0@example.com")),
            None,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(first_b.customer_number, 1);
}

async fn a_failed_create_leaves_nothing_behind(backend: Backend) {
    let Some(c) = setup(backend).await else {
        return;
    };
    c.repo
        .create(
            new_customer(c.tenant, simple("taken@example.com")),
            None,
            vec![],
        )
        .await
        .unwrap();
    let mut dup = simple("taken@example.com");
    dup.tags = ["ghost".to_owned()].into();
    let new = new_customer(c.tenant, dup);
    let key = IdempotencyRecord {
        key: "k1".into(),
        fingerprint: "f".into(),
        customer_id: new.id,
        created_at: new.created_at,
    };
    let err = c.repo.create(new, Some(key), vec![]).await.unwrap_err();
    assert_eq!(
        err,
        RepositoryError::Conflict {
            field: "email".into()
        }
    );
    // Neither the key, nor the tag rows, nor the counters moved.
    assert_eq!(c.repo.find_idempotency(c.tenant, "k1").await.unwrap(), None);
    let tagged = query(
        json!({"all": [{"field": "tags", "op": "contains", "value": "ghost"}]}),
        10,
    );
    assert!(
        c.repo
            .list(c.tenant, &Visibility::All, &tagged)
            .await
            .unwrap()
            .is_empty()
    );
    let next = c
        .repo
        .create(
            new_customer(c.tenant, simple("fresh@example.com")),
            None,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(next.customer_number, 2);
}

async fn unique_keys_are_per_tenant_and_name_their_field(backend: Backend) {
    let Some(c) = setup(backend).await else {
        return;
    };
    let mut p = simple("dup@example.com");
    p.mobile_phone = Some(crm_domain::values::PhoneNumber::parse("+6281234567890", None).unwrap());
    let a = c
        .repo
        .create(new_customer(c.tenant, p.clone()), None, vec![])
        .await
        .unwrap();
    // Same e-mail and phone in another tenant: fine.
    c.repo
        .create(new_customer(c.other_tenant, p.clone()), None, vec![])
        .await
        .unwrap();
    let mut only_phone = simple("other@example.com");
    only_phone.mobile_phone = p.mobile_phone.clone();
    let err = c
        .repo
        .create(new_customer(c.tenant, only_phone), None, vec![])
        .await
        .unwrap_err();
    assert_eq!(
        err,
        RepositoryError::Conflict {
            field: "mobile_phone".into()
        }
    );
    let found = c
        .repo
        .find_by_unique(c.tenant, UniqueField::Email, "dup@example.com")
        .await
        .unwrap();
    assert_eq!(found, Some(a.id));
}

async fn another_tenant_sees_nothing(backend: Backend) {
    let Some(c) = setup(backend).await else {
        return;
    };
    let a = c
        .repo
        .create(
            new_customer(c.tenant, simple("a@example.com")),
            None,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(c.repo.find(c.other_tenant, a.id, true).await.unwrap(), None);
    assert_eq!(
        c.repo
            .find_by_unique(c.other_tenant, UniqueField::Email, "a@example.com")
            .await
            .unwrap(),
        None
    );
    let all = query(serde_json::Value::Null, 10);
    assert!(
        c.repo
            .list(c.other_tenant, &Visibility::All, &all)
            .await
            .unwrap()
            .is_empty()
    );
    let update = ProfileUpdate {
        tenant_id: c.other_tenant,
        id: a.id,
        profile: simple("hijack@example.com"),
        updated_by: None,
        updated_at: Utc::now(),
        expected_version: 1,
        events: vec![],
        members: Default::default(),
    };
    assert_eq!(
        c.repo.update_profile(update).await.unwrap_err(),
        RepositoryError::Stale
    );
    assert_eq!(
        c.repo.find(c.tenant, a.id, false).await.unwrap().unwrap(),
        a
    );
}

/// `Visibility::AssignedTo` holds every query to the user's customers, exactly (not another
/// user's, not unassigned ones, not a user id differing in case), on top of the tenant.
async fn an_assigned_visibility_sees_only_that_users_customers(backend: Backend) {
    let Some(c) = setup(backend).await else {
        return;
    };
    let owned = |email: &str, owner: Option<&str>| {
        let mut p = simple(email);
        p.assigned_to = owner.and_then(UserId::parse);
        p
    };
    for (tenant, email, owner) in [
        (c.tenant, "a1@example.com", Some("alice")),
        (c.tenant, "a2@example.com", Some("alice")),
        (c.tenant, "b1@example.com", Some("bob")),
        (c.tenant, "A3@example.com", Some("Alice")),
        (c.tenant, "u1@example.com", None),
        (c.other_tenant, "x1@example.com", Some("alice")),
    ] {
        c.repo
            .create(new_customer(tenant, owned(email, owner)), None, vec![])
            .await
            .unwrap();
    }
    let alice = Visibility::AssignedTo(UserId::parse("alice").unwrap());
    let all = query(serde_json::Value::Null, 10);
    let emails = |rows: Vec<crm_domain::customer::Customer>| {
        let mut e: Vec<String> = rows
            .into_iter()
            .filter_map(|r| r.profile.email.map(|e| e.as_str().to_owned()))
            .collect();
        e.sort();
        e
    };
    let listed = c.repo.list(c.tenant, &alice, &all).await.unwrap();
    assert_eq!(emails(listed), ["a1@example.com", "a2@example.com"]);
    assert_eq!(c.repo.count(c.tenant, &alice, &all).await.unwrap(), 2);
    assert_eq!(
        c.repo
            .count(c.tenant, &Visibility::All, &all)
            .await
            .unwrap(),
        5
    );
    let now = Utc::now();
    let agg = c
        .repo
        .aggregates(c.tenant, &alice, &all, now, now)
        .await
        .unwrap();
    assert_eq!(agg.count, 2);
    // A filter naming another owner finds nothing through Alice's visibility.
    let bobs = query(
        json!({"all": [{"field": "assigned_to", "op": "eq", "value": "bob"}]}),
        10,
    );
    assert_eq!(c.repo.count(c.tenant, &alice, &bobs).await.unwrap(), 0);
    assert_eq!(
        c.repo
            .count(c.tenant, &Visibility::All, &bobs)
            .await
            .unwrap(),
        1
    );
    // The bulk path too.
    let mut batch = c.repo.begin_batch(c.tenant).await.unwrap();
    let rows = batch
        .next(c.tenant, &alice, &Default::default(), None, None, 100)
        .await
        .unwrap();
    assert_eq!(emails(rows), ["a1@example.com", "a2@example.com"]);
}

async fn updates_are_conditional_on_the_version(backend: Backend) {
    let Some(c) = setup(backend).await else {
        return;
    };
    let a = c
        .repo
        .create(
            new_customer(c.tenant, simple("a@example.com")),
            None,
            vec![],
        )
        .await
        .unwrap();
    let mut p = simple("a@example.com");
    p.tags = ["gold".to_owned()].into();
    let update = |v| ProfileUpdate {
        tenant_id: c.tenant,
        id: a.id,
        profile: p.clone(),
        updated_by: UserId::parse("editor"),
        updated_at: Utc::now().trunc_subsecs(6),
        expected_version: v,
        events: vec![],
        members: Default::default(),
    };
    let b = c.repo.update_profile(update(1)).await.unwrap();
    assert_eq!(
        (b.version, b.updated_by.as_ref().map(UserId::as_str)),
        (2, Some("editor"))
    );
    assert_eq!(
        c.repo.update_profile(update(1)).await.unwrap_err(),
        RepositoryError::Stale
    );
    let gold = query(
        json!({"all": [{"field": "tags", "op": "contains", "value": "gold"}]}),
        10,
    );
    assert_eq!(
        c.repo
            .list(c.tenant, &Visibility::All, &gold)
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn soft_delete_frees_unique_keys_and_restore_rechecks_them(backend: Backend) {
    let Some(c) = setup(backend).await else {
        return;
    };
    let a = c
        .repo
        .create(
            new_customer(c.tenant, simple("a@example.com")),
            None,
            vec![],
        )
        .await
        .unwrap();
    let now = Utc::now().trunc_subsecs(6);
    let del = DeletionChange {
        tenant_id: c.tenant,
        id: a.id,
        deleted_at: Some(now),
        updated_by: None,
        updated_at: now,
        expected_version: 1,
        events: vec![],
    };
    let deleted = c.repo.set_deleted(del).await.unwrap();
    assert_eq!(deleted.deleted_at, Some(now));
    assert_eq!(c.repo.find(c.tenant, a.id, false).await.unwrap(), None);
    assert!(c.repo.find(c.tenant, a.id, true).await.unwrap().is_some());
    c.repo
        .create(
            new_customer(c.tenant, simple("a@example.com")),
            None,
            vec![],
        )
        .await
        .unwrap();
    let restore = DeletionChange {
        tenant_id: c.tenant,
        id: a.id,
        deleted_at: None,
        updated_by: None,
        updated_at: now,
        expected_version: 2,
        events: vec![],
    };
    assert_eq!(
        c.repo.set_deleted(restore).await.unwrap_err(),
        RepositoryError::Conflict {
            field: "email".into()
        }
    );
}

async fn list_pages_newest_first_with_filters(backend: Backend) {
    let Some(c) = setup(backend).await else {
        return;
    };
    let mut made = Vec::new();
    for i in 0..7 {
        let mut p = simple(&format!("p{i}@example.com"));
        if i % 2 == 0 {
            p.status = CustomerStatus::Inactive;
        }
        made.push(
            c.repo
                .create(new_customer(c.tenant, p), None, vec![])
                .await
                .unwrap(),
        );
    }
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let q = CustomerQuery {
            after: after.clone(),
            ..query(serde_json::Value::Null, 3)
        };
        let page = c.repo.list(c.tenant, &Visibility::All, &q).await.unwrap();
        let Some(last) = page.last() else { break };
        after = Some(q.position_of(last));
        seen.extend(page.iter().map(|c| c.id));
    }
    let expected: Vec<_> = made.iter().rev().map(|c| c.id).collect();
    assert_eq!(seen, expected);
    let inactive = query(
        json!({"all": [{"field": "status", "op": "eq", "value": "inactive"}]}),
        10,
    );
    assert_eq!(
        c.repo
            .list(c.tenant, &Visibility::All, &inactive)
            .await
            .unwrap()
            .len(),
        4
    );
}

async fn idempotency_keys_are_stored_with_the_customer(backend: Backend) {
    let Some(c) = setup(backend).await else {
        return;
    };
    let new = new_customer(c.tenant, simple("a@example.com"));
    let rec = IdempotencyRecord {
        key: "k".into(),
        fingerprint: "f".into(),
        customer_id: new.id,
        created_at: new.created_at,
    };
    c.repo.create(new, Some(rec.clone()), vec![]).await.unwrap();
    assert_eq!(
        c.repo.find_idempotency(c.tenant, "k").await.unwrap(),
        Some(rec.clone())
    );
    assert_eq!(
        c.repo.find_idempotency(c.other_tenant, "k").await.unwrap(),
        None
    );
    let again = new_customer(c.tenant, simple("b@example.com"));
    let err = c
        .repo
        .create(
            again,
            Some(IdempotencyRecord {
                customer_id: CustomerId(Uuid::now_v7()),
                ..rec
            }),
            vec![],
        )
        .await
        .unwrap_err();
    assert_eq!(
        err,
        RepositoryError::Conflict {
            field: "idempotency_key".into()
        }
    );
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
    a_full_profile_round_trips_exactly,
    fifty_concurrent_creates_get_distinct_increasing_numbers,
    a_failed_create_leaves_nothing_behind,
    unique_keys_are_per_tenant_and_name_their_field,
    another_tenant_sees_nothing,
    an_assigned_visibility_sees_only_that_users_customers,
    updates_are_conditional_on_the_version,
    soft_delete_frees_unique_keys_and_restore_rechecks_them,
    list_pages_newest_first_with_filters,
    idempotency_keys_are_stored_with_the_customer,
    an_order_transaction_dropped_before_commit_leaves_nothing,
    a_bulk_insert_numbers_indexes_and_is_all_or_nothing,
);

async fn a_bulk_insert_numbers_indexes_and_is_all_or_nothing(backend: Backend) {
    use crm_domain::customer::PurchaseStats;
    use crm_domain::customer::search::SearchText;
    use crm_domain::values::Amount;
    let Some(c) = setup(backend).await else {
        return;
    };
    c.repo
        .create(
            new_customer(c.tenant, simple("first@example.com")),
            None,
            vec![],
        )
        .await
        .unwrap();
    let rows: Vec<(NewCustomer, PurchaseStats)> = (0..1_000)
        .map(|i| {
            let p = profile(CustomerInput {
                name: Some(format!("Customer Santoso {i}")),
                email: Some(format!("c{i}@example.com")),
                tags: Some(vec![format!("t{}", i % 3)]),
                ..Default::default()
            });
            let stats = PurchaseStats {
                total_orders: 2,
                total_spent: Amount::from_scaled(10_000 * i64::from(i)),
                ..Default::default()
            };
            (new_customer(c.tenant, p), stats)
        })
        .collect();
    c.repo.insert_loaded(c.tenant, &rows).await.unwrap();
    let mut q = query(json!({}), 200);
    q.sort = crm_domain::customer::SortKey::parse_list("created_at").unwrap();
    assert_eq!(
        c.repo.count(c.tenant, &Visibility::All, &q).await.unwrap(),
        1_001
    );
    assert_eq!(
        c.repo
            .count(c.other_tenant, &Visibility::All, &q)
            .await
            .unwrap(),
        0
    );
    let stored = c
        .repo
        .find(c.tenant, rows[999].0.id, false)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.customer_number, 1_001,
        "numbers continue the counter"
    );
    assert!(
        stored.customer_code.ends_with("1001"),
        "{}",
        stored.customer_code
    );
    assert_eq!(stored.stats.total_spent, Amount::from_scaled(9_990_000));
    // Tags and search terms are written: a tag filter and a typo search find the rows.
    let tagged = query(
        json!({"all": [{"field": "tags", "op": "contains", "value": "t1"}]}),
        200,
    );
    assert_eq!(
        c.repo
            .count(c.tenant, &Visibility::All, &tagged)
            .await
            .unwrap(),
        333
    );
    let mut typo = query(json!({}), 200);
    typo.search = Some(SearchText::parse("santsoo").unwrap());
    assert_eq!(
        c.repo
            .count(c.tenant, &Visibility::All, &typo)
            .await
            .unwrap(),
        1_000
    );
    // A repeated e-mail fails the whole batch and takes no numbers.
    let dup = vec![
        (
            new_customer(c.tenant, simple("new@example.com")),
            PurchaseStats::default(),
        ),
        (
            new_customer(c.tenant, simple("c5@example.com")),
            PurchaseStats::default(),
        ),
    ];
    let err = c.repo.insert_loaded(c.tenant, &dup).await.unwrap_err();
    assert_eq!(
        err,
        RepositoryError::Conflict {
            field: "email".into()
        }
    );
    assert_eq!(
        c.repo.count(c.tenant, &Visibility::All, &q).await.unwrap(),
        1_001
    );
    let next = c
        .repo
        .create(
            new_customer(c.tenant, simple("later@example.com")),
            None,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(next.customer_number, 1_002);
}

async fn an_order_transaction_dropped_before_commit_leaves_nothing(backend: Backend) {
    use crm_domain::order::{OrderInput, OrderRepository};
    let Some(c) = setup(backend).await else {
        return;
    };
    let cust = c
        .repo
        .create(
            new_customer(c.tenant, simple("o@example.com")),
            None,
            vec![],
        )
        .await
        .unwrap();
    let orders = crm_infra::SeaOrderRepository::new(c._db.db.clone());
    let valid = OrderInput {
        total_amount: Some(150_000.into()),
        ..Default::default()
    }
    .validate(CurrencyCode::parse("IDR").unwrap(), Utc::now())
    .unwrap();
    let now = Utc::now().trunc_subsecs(6);
    let order = crm_domain::order::Order {
        id: crm_domain::ids::OrderId(Uuid::now_v7()),
        tenant_id: c.tenant,
        customer_id: cust.id,
        order_ref: "R-1".into(),
        placed_at: valid.placed_at,
        status: valid.status,
        payment_status: valid.payment_status,
        due_at: valid.placed_at,
        currency: CurrencyCode::parse("IDR").unwrap(),
        total_amount: valid.total_amount,
        lines: vec![],
        channel: None,
        metadata: Default::default(),
        points_earned: 15,
        created_by: None,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    {
        let mut tx = orders.begin(c.tenant).await.unwrap();
        tx.lock_customer(c.tenant, cust.id).await.unwrap().unwrap();
        tx.insert_order(&order).await.unwrap();
        tx.add_ledger_entry(&crm_domain::loyalty::LedgerEntry {
            id: crm_domain::ids::LedgerEntryId(Uuid::now_v7()),
            tenant_id: c.tenant,
            customer_id: cust.id,
            kind: crm_domain::loyalty::LedgerKind::Earn,
            points: 15,
            reason: "test".into(),
            order_id: Some(order.id),
            actor: None,
            created_at: now,
        })
        .await
        .unwrap();
        assert_eq!(
            tx.completed_totals(c.tenant, cust.id).await.unwrap().count,
            1,
            "visible inside"
        );
        // Dropped without commit.
    }
    assert_eq!(orders.find_order(c.tenant, order.id).await.unwrap(), None);
    assert!(
        orders
            .ledger(c.tenant, cust.id, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        c.repo
            .find(c.tenant, cust.id, false)
            .await
            .unwrap()
            .unwrap()
            .loyalty
            .points,
        0
    );
    // And committed, it is all there.
    let mut tx = orders.begin(c.tenant).await.unwrap();
    tx.insert_order(&order).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        orders
            .find_order(c.tenant, order.id)
            .await
            .unwrap()
            .unwrap(),
        order
    );
    assert_eq!(
        orders.find_order(c.other_tenant, order.id).await.unwrap(),
        None
    );
}
