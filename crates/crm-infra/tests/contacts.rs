//! The contact repository on SQLite and PostgreSQL: the database's own guards (one primary
//! per customer, an e-mail unique within a customer), conditional updates, and a customer's
//! contacts created in its transaction.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{SubsecRound, Utc};
use crm_domain::contact::{Contact, ContactInput, ContactRepository};
use crm_domain::customer::{CustomerInput, CustomerRepository, NewCustomer, ValidationContext};
use crm_domain::tenant::{Tenant, TenantRepository};
use crm_domain::values::{CountryCode, CurrencyCode};
use crm_domain::{ContactId, CustomerId, RepositoryError, TenantId, UserId};
use crm_infra::testing::{Backend, TestDatabase};
use crm_infra::{SeaContactRepository, SeaCustomerRepository, SeaTenantRepository};
use uuid::Uuid;

struct Ctx {
    _db: TestDatabase,
    customers: SeaCustomerRepository,
    contacts: SeaContactRepository,
    tenant: TenantId,
}

async fn setup(backend: Backend) -> Option<Ctx> {
    let db = TestDatabase::create(backend).await?;
    let t = Tenant {
        id: TenantId(Uuid::now_v7()),
        name: "A".into(),
        default_country: CountryCode::parse("ID"),
        default_currency: CurrencyCode::parse("IDR").unwrap(),
        settings: Default::default(),
        created_at: Utc::now().trunc_subsecs(6),
    };
    SeaTenantRepository::new(db.db.clone())
        .insert(&t, &[])
        .await
        .unwrap();
    Some(Ctx {
        customers: SeaCustomerRepository::new(db.db.clone()),
        contacts: SeaContactRepository::new(db.db.clone()),
        _db: db,
        tenant: t.id,
    })
}

fn new_customer(tenant: TenantId, email: &str, contacts: Vec<Contact>) -> NewCustomer {
    let ctx = ValidationContext {
        default_country: CountryCode::parse("ID"),
        default_currency: CurrencyCode::parse("IDR").unwrap(),
        today: Utc::now().date_naive(),
    };
    let id = contacts
        .first()
        .map_or_else(|| CustomerId(Uuid::now_v7()), |c| c.customer_id);
    NewCustomer {
        id,
        tenant_id: tenant,
        profile: CustomerInput {
            name: Some("Maju".into()),
            email: Some(email.into()),
            ..Default::default()
        }
        .validate(&ctx)
        .unwrap(),
        created_by: UserId::parse("tester"),
        created_at: Utc::now().trunc_subsecs(6),
        addresses: Vec::new(),
        contacts,
    }
}

fn contact(
    tenant: TenantId,
    customer: CustomerId,
    name: &str,
    email: Option<&str>,
    primary: bool,
) -> Contact {
    let now = Utc::now().trunc_subsecs(6);
    Contact {
        id: ContactId(Uuid::now_v7()),
        tenant_id: tenant,
        customer_id: customer,
        details: ContactInput {
            name: Some(name.into()),
            email: email.map(Into::into),
            phone: Some("0812 3456 7890".into()),
            roles: Some(vec!["billing".into(), "technical".into()]),
            preferred_channel: Some("sms".into()),
            ..Default::default()
        }
        .validate("", CountryCode::parse("ID"))
        .unwrap()
        .0,
        is_primary: primary,
        version: 1,
        created_by: UserId::parse("tester"),
        updated_by: UserId::parse("tester"),
        created_at: now,
        updated_at: now,
    }
}

/// Rows written bypassing the service: the partial unique indexes still refuse a second
/// primary and a second contact with the e-mail in one customer, naming the rule.
async fn the_database_guards_one_primary_and_unique_emails(backend: Backend) {
    let Some(c) = setup(backend).await else {
        return;
    };
    let customer = CustomerId(Uuid::now_v7());
    let first = contact(c.tenant, customer, "A", Some("a@maju.co.id"), true);
    c.customers
        .create(
            new_customer(c.tenant, "maju@x.co.id", vec![first.clone()]),
            None,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        c.contacts.list(c.tenant, customer).await.unwrap(),
        vec![first.clone()]
    );

    let mut tx = c.contacts.begin(c.tenant).await.unwrap();
    let second_primary = contact(c.tenant, customer, "B", None, true);
    assert_eq!(
        tx.insert(&second_primary).await,
        Err(RepositoryError::Conflict {
            field: "contacts.is_primary".into()
        })
    );
    drop(tx);
    let mut tx = c.contacts.begin(c.tenant).await.unwrap();
    let same_email = contact(c.tenant, customer, "C", Some("a@maju.co.id"), false);
    assert_eq!(
        tx.insert(&same_email).await,
        Err(RepositoryError::Conflict {
            field: "contacts.email".into()
        })
    );
    drop(tx);
    // Two contacts without e-mail, and the same e-mail at another customer, are fine.
    let other = CustomerId(Uuid::now_v7());
    let elsewhere = contact(c.tenant, other, "A", Some("a@maju.co.id"), true);
    c.customers
        .create(
            new_customer(c.tenant, "other@x.co.id", vec![elsewhere]),
            None,
            vec![],
        )
        .await
        .unwrap();
    let mut tx = c.contacts.begin(c.tenant).await.unwrap();
    tx.insert(&contact(c.tenant, customer, "D", None, false))
        .await
        .unwrap();
    tx.insert(&contact(c.tenant, customer, "E", None, false))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(c.contacts.list(c.tenant, customer).await.unwrap().len(), 3);
    let primaries = c
        .contacts
        .primaries(c.tenant, vec![customer, other])
        .await
        .unwrap();
    assert_eq!(primaries.len(), 2);
    // Another tenant reads none of them.
    assert!(
        c.contacts
            .list(TenantId(Uuid::now_v7()), customer)
            .await
            .unwrap()
            .is_empty()
    );
}

/// An update writes only on the version it follows; a dropped transaction writes nothing.
async fn updates_are_conditional_and_rolled_back_when_dropped(backend: Backend) {
    let Some(c) = setup(backend).await else {
        return;
    };
    let customer = CustomerId(Uuid::now_v7());
    let first = contact(c.tenant, customer, "A", None, true);
    c.customers
        .create(
            new_customer(c.tenant, "maju@x.co.id", vec![first.clone()]),
            None,
            vec![],
        )
        .await
        .unwrap();
    let mut tx = c.contacts.begin(c.tenant).await.unwrap();
    let stale = Contact {
        version: 5,
        ..first.clone()
    };
    assert_eq!(tx.update(&stale).await, Err(RepositoryError::Stale));
    let renamed = Contact {
        version: 2,
        details: crm_domain::contact::ContactDetails {
            name: "Renamed".into(),
            ..first.details.clone()
        },
        ..first.clone()
    };
    tx.update(&renamed).await.unwrap();
    drop(tx);
    assert_eq!(
        c.contacts.list(c.tenant, customer).await.unwrap(),
        vec![first]
    );
    let mut tx = c.contacts.begin(c.tenant).await.unwrap();
    tx.update(&renamed).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        c.contacts.list(c.tenant, customer).await.unwrap(),
        vec![renamed]
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
    the_database_guards_one_primary_and_unique_emails,
    updates_are_conditional_and_rolled_back_when_dropped,
);
