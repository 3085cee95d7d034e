//! Row-level security on PostgreSQL (issue 16, "a second wall"): whatever a statement says, a
//! transaction opened by the repositories' helper (`Database::tenant_read` / `tenant_tx`) sees
//! and writes only its tenant's rows, on every tenant table; without a tenant it sees nothing.
//! PostgreSQL only (SQLite has no roles); skipped when PostgreSQL is unreachable, except under
//! `CI=true`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{SubsecRound, Utc};
use crm_domain::customer::{
    CustomerInput, CustomerRepository, IdempotencyRecord, NewCustomer, ValidationContext,
};
use crm_domain::ids::{JobId, LedgerEntryId, OrderId};
use crm_domain::import::{ImportCheckpoint, ImportRepository, RowError};
use crm_domain::job::{Job, JobKind, JobRepository};
use crm_domain::order::{OrderInput, OrderRepository};
use crm_domain::tenant::{Tenant, TenantRepository};
use crm_domain::values::{CountryCode, CurrencyCode};
use crm_domain::{CustomerId, TenantId, UserId};
use crm_infra::testing::{Backend, TestDatabase};
use crm_infra::{
    Database, SeaCustomerRepository, SeaImportRepository, SeaJobRepository, SeaOrderRepository,
    SeaTenantRepository,
};
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
use uuid::Uuid;

/// Tables that the seed fills for both tenants: the check below is not vacuous on them.
const SEEDED: &[&str] = &[
    "tenants",
    "tenant_counters",
    "customers",
    "customer_tags",
    "idempotency_keys",
    "orders",
    "loyalty_ledger",
    "jobs",
    "import_errors",
    "customer_addresses",
    "customer_contacts",
];

fn stmt(sql: &str) -> Statement {
    Statement::from_string(DatabaseBackend::Postgres, sql)
}

/// Every table with a `tenant_id` column, and `tenants`, with the column that names the tenant.
async fn tenant_tables(db: &Database) -> Vec<(String, &'static str)> {
    let rows = db
        .read
        .query_all_raw(stmt(
            "SELECT c.relname::text FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public' \
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' \
               AND NOT a.attisdropped \
             WHERE c.relkind IN ('r', 'p') ORDER BY 1",
        ))
        .await
        .unwrap();
    let mut tables = vec![("tenants".to_owned(), "id")];
    for r in rows {
        tables.push((r.try_get_by_index::<String>(0).unwrap(), "tenant_id"));
    }
    tables
}

async fn tenant(db: &Database, name: &str) -> TenantId {
    let t = Tenant {
        id: TenantId(Uuid::now_v7()),
        name: name.into(),
        default_country: CountryCode::parse("ID"),
        default_currency: CurrencyCode::parse("IDR").unwrap(),
        settings: Default::default(),
        created_at: Utc::now().trunc_subsecs(6),
    };
    SeaTenantRepository::new(db.clone())
        .insert(&t, &[])
        .await
        .unwrap();
    t.id
}

/// A customer with tags and an idempotency key, an order with its ledger entry, an import job
/// with a rejected row: the same for every tenant (the same e-mail, reference and key).
async fn seed(db: &Database, tenant: TenantId) {
    let now = Utc::now().trunc_subsecs(6);
    let ctx = ValidationContext {
        default_country: CountryCode::parse("ID"),
        default_currency: CurrencyCode::parse("IDR").unwrap(),
        today: now.date_naive(),
    };
    let profile = CustomerInput {
        name: Some("Budi".into()),
        email: Some("budi@example.com".into()),
        tags: Some(vec!["vip".into()]),
        ..Default::default()
    }
    .validate(&ctx)
    .unwrap();
    let id = CustomerId(Uuid::now_v7());
    let addresses = crm_domain::address::new_addresses(
        vec![crm_domain::address::AddressInput {
            address_type: Some("billing".into()),
            line1: Some("Jl. Merdeka 1".into()),
            city: Some("Bandung".into()),
            latitude: Some(-6.9175),
            longitude: Some(107.6191),
            ..Default::default()
        }],
        CountryCode::parse("ID"),
        tenant,
        id,
        None,
        now,
        Uuid::now_v7,
    )
    .unwrap();
    let contacts = crm_domain::contact::nested_contacts(
        vec![crm_domain::contact::ContactInput {
            name: Some("Sari".into()),
            email: Some("sari@example.com".into()),
            ..Default::default()
        }],
        tenant,
        id,
        CountryCode::parse("ID"),
        None,
        now,
        &crm_domain::ports::UuidV7Generator,
    )
    .unwrap();
    let customers = SeaCustomerRepository::new(db.clone());
    let customer = customers
        .create(
            NewCustomer {
                id,
                tenant_id: tenant,
                profile,
                created_by: UserId::parse("tester"),
                created_at: now,
                addresses,
                contacts,
            },
            Some(IdempotencyRecord {
                key: "key-1".into(),
                fingerprint: "f".into(),
                customer_id: id,
                created_at: now,
            }),
            vec![],
        )
        .await
        .unwrap();
    let valid = OrderInput {
        total_amount: Some(150_000.into()),
        ..Default::default()
    }
    .validate(CurrencyCode::parse("IDR").unwrap(), now)
    .unwrap();
    let order = crm_domain::order::Order {
        id: OrderId(Uuid::now_v7()),
        tenant_id: tenant,
        customer_id: customer.id,
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
    let orders = SeaOrderRepository::new(db.clone());
    let mut tx = orders.begin(tenant).await.unwrap();
    tx.lock_customer(tenant, customer.id)
        .await
        .unwrap()
        .unwrap();
    tx.insert_order(&order).await.unwrap();
    tx.add_ledger_entry(&crm_domain::loyalty::LedgerEntry {
        id: LedgerEntryId(Uuid::now_v7()),
        tenant_id: tenant,
        customer_id: customer.id,
        kind: crm_domain::loyalty::LedgerKind::Earn,
        points: 15,
        reason: "test".into(),
        order_id: Some(order.id),
        actor: None,
        created_at: now,
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let job = Job::start(
        JobId(Uuid::now_v7()),
        tenant,
        JobKind::ImportCustomers,
        UserId::parse("tester"),
        now,
        None,
    );
    SeaJobRepository::new(db.clone()).save(&job).await.unwrap();
    SeaImportRepository::new(db.clone())
        .save_checkpoint(&ImportCheckpoint {
            job,
            errors: vec![RowError::row(2, "not an e-mail address")],
        })
        .await
        .unwrap();
}

async fn count<C: ConnectionTrait>(conn: &C, sql: &str) -> (i64, i64) {
    let r = conn.query_one_raw(stmt(sql)).await.unwrap().unwrap();
    (
        r.try_get_by_index::<i64>(0).unwrap(),
        r.try_get_by_index::<i64>(1).unwrap(),
    )
}

#[tokio::test]
async fn every_tenant_table_is_behind_the_wall_and_the_service_role_cannot_bypass_it() {
    let Some(test) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    let db = &test.db;
    assert!(db.walled());
    let tables = tenant_tables(db).await;
    assert!(tables.len() > 10, "{tables:?}");
    for (table, _) in &tables {
        let r = db
            .read
            .query_one_raw(stmt(&format!(
                "SELECT c.relrowsecurity, pg_get_userbyid(c.relowner) <> 'crm_app', \
                 EXISTS (SELECT 1 FROM pg_policies p WHERE p.schemaname = 'public' \
                   AND p.tablename = '{table}' AND p.policyname = 'tenant_wall') \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = 'public' AND c.relname = '{table}'"
            )))
            .await
            .unwrap()
            .unwrap();
        let flags: (bool, bool, bool) = (
            r.try_get_by_index(0).unwrap(),
            r.try_get_by_index(1).unwrap(),
            r.try_get_by_index(2).unwrap(),
        );
        assert_eq!(
            flags,
            (true, true, true),
            "{table}: row-level security enabled, not owned by the service role, policy tenant_wall \
             (a new tenant table joins with tenant_wall(manager, \"{table}\") in its migration)"
        );
    }
    // Request and job connections run as the service role, which has no way around the wall.
    for conn in [&db.read, &db.for_jobs().write] {
        let r = conn
            .query_one_raw(stmt(
                "SELECT current_user::text, r.rolsuper, r.rolbypassrls \
                 FROM pg_roles r WHERE r.rolname = current_user",
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.try_get_by_index::<String>(0).unwrap(), "crm_app");
        assert!(!r.try_get_by_index::<bool>(1).unwrap());
        assert!(!r.try_get_by_index::<bool>(2).unwrap());
    }
}

#[tokio::test]
async fn a_query_without_its_tenant_condition_sees_only_the_callers_rows() {
    let Some(test) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    let db = &test.db;
    let a = tenant(db, "A").await;
    let b = tenant(db, "B").await;
    seed(db, a).await;
    seed(db, b).await;
    let tables = tenant_tables(db).await;
    for (table, col) in &tables {
        // What is there, seen with the wall open.
        let sys = db.system_tx().await.unwrap();
        let (in_a, in_b) = count(
            &sys,
            &format!(
                "SELECT count(*) FILTER (WHERE {col} = '{a}'), \
                 count(*) FILTER (WHERE {col} = '{b}') FROM {table}",
                a = a.0,
                b = b.0
            ),
        )
        .await;
        sys.commit().await.unwrap();
        if SEEDED.contains(&table.as_str()) {
            assert!(in_a > 0 && in_b > 0, "{table}: seeded for both tenants");
        }
        // No tenant condition at all: the caller's rows, none of another tenant.
        for (me, mine) in [(a, in_a), (b, in_b)] {
            let conn = db.tenant_read(me).await.unwrap();
            let seen = count(
                &conn,
                &format!(
                    "SELECT count(*), count(*) FILTER (WHERE {col} <> '{me}') FROM {table}",
                    me = me.0
                ),
            )
            .await;
            conn.end().await.unwrap();
            assert_eq!(seen, (mine, 0), "{table} as tenant {me:?}");
        }
        // No tenant named: nothing, outside a transaction and inside one.
        let sql = format!("SELECT count(*), 0::bigint FROM {table}");
        assert_eq!(
            count(&db.read, &sql).await,
            (0, 0),
            "{table} without tenant"
        );
        let bare = sea_orm::TransactionTrait::begin(&db.write).await.unwrap();
        assert_eq!(count(&bare, &sql).await, (0, 0), "{table} in a bare txn");
        drop(bare);
    }
    // The search function (SECURITY DEFINER, so not bound by the policies) answers only for
    // the transaction's own tenant.
    let search = |t: TenantId| {
        format!(
            "SELECT count(*), 0::bigint FROM crm_search_ids('{}', '%budi%', NULL, 'budi')",
            t.0
        )
    };
    let conn = db.tenant_read(a).await.unwrap();
    assert_eq!(count(&conn, &search(a)).await, (2, 0), "substring and term");
    assert_eq!(count(&conn, &search(b)).await, (0, 0), "another tenant's");
    conn.end().await.unwrap();
    assert_eq!(count(&db.read, &search(a)).await, (0, 0), "no tenant");
}

#[tokio::test]
async fn writing_another_tenants_row_is_refused() {
    let Some(test) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    let db = &test.db;
    let a = tenant(db, "A").await;
    let b = tenant(db, "B").await;
    seed(db, a).await;
    let tables = tenant_tables(db).await;
    for (table, col) in &tables {
        if !SEEDED.contains(&table.as_str()) {
            continue;
        }
        // Moving one's own row to another tenant.
        let tx = db.tenant_tx(a).await.unwrap();
        let err = tx
            .execute_unprepared(&format!(
                "UPDATE {table} SET {col} = '{b}' WHERE {col} = '{a}'",
                a = a.0,
                b = b.0
            ))
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("row-level security"),
            "{table}: {err}"
        );
        drop(tx);
        // Inserting a copy of one's own row under another tenant.
        let tx = db.tenant_tx(a).await.unwrap();
        let cols = tx
            .query_one_raw(stmt(&format!(
                "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum), \
                 string_agg(CASE WHEN attname = '{col}' THEN '''{b}''::uuid' \
                   ELSE quote_ident(attname) END, ', ' ORDER BY attnum) \
                 FROM pg_attribute WHERE attrelid = '{table}'::regclass AND attnum > 0 \
                   AND NOT attisdropped AND attgenerated = ''",
                b = b.0
            )))
            .await
            .unwrap()
            .unwrap();
        let names: String = cols.try_get_by_index(0).unwrap();
        let values: String = cols.try_get_by_index(1).unwrap();
        let err = tx
            .execute_unprepared(&format!(
                "INSERT INTO {table} ({names}) OVERRIDING SYSTEM VALUE \
                 SELECT {values} FROM {table} LIMIT 1"
            ))
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("row-level security"),
            "{table}: {err}"
        );
        drop(tx);
    }
    // Nothing of the attempts reached tenant B.
    let sys = db.system_tx().await.unwrap();
    for (table, col) in &tables {
        let (n, _) = count(
            &sys,
            &format!(
                "SELECT count(*), 0::bigint FROM {table} WHERE {col} = '{b}'",
                b = b.0
            ),
        )
        .await;
        let expected = i64::from(table == "tenants" || table == "tenant_counters");
        assert!(n <= expected, "{table}: {n} rows of B");
    }
}
