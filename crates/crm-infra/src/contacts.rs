//! [`ContactRepository`] and its [`ContactTransaction`] on SeaORM, in `customer_contacts`.
//! A transaction holds the writer connection (SQLite, which serialises it with every other
//! write) or one pooled connection with the customer row locked `FOR UPDATE` (PostgreSQL), so
//! writes to one customer's contacts serialise; dropping it uncommitted rolls back.

use std::collections::BTreeSet;

use async_trait::async_trait;
use crm_domain::contact::{
    Contact, ContactDetails, ContactRepository, ContactRole, ContactTransaction,
};
use crm_domain::customer::Customer;
use crm_domain::values::{EmailAddress, PhoneNumber};
use crm_domain::{ContactId, CustomerId, RepositoryError, TenantId, UserId};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseTransaction,
    EntityTrait, Order, QueryFilter, QueryOrder,
};

use crate::customers::to_domain as customer_to_domain;
use crate::db::Database;
use crate::entity::{customer, customer_contact};
use crate::error::{corrupt, exactly_one, map_db_err};

/// Contacts in `customer_contacts`.
#[derive(Debug, Clone)]
pub struct SeaContactRepository {
    db: Database,
}

impl SeaContactRepository {
    /// Wraps a database.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

fn to_domain(m: customer_contact::Model) -> Result<Contact, RepositoryError> {
    let roles = m
        .roles
        .split(',')
        .filter(|r| !r.is_empty())
        .map(|r| {
            r.parse::<ContactRole>()
                .map_err(|_| corrupt("contact role"))
        })
        .collect::<Result<BTreeSet<_>, _>>()?;
    Ok(Contact {
        id: ContactId(m.id),
        tenant_id: TenantId(m.tenant_id),
        customer_id: CustomerId(m.customer_id),
        details: ContactDetails {
            name: m.name,
            job_title: m.job_title,
            department: m.department,
            email: m
                .email
                .map(|e| EmailAddress::parse(&e).ok_or_else(|| corrupt("contact email")))
                .transpose()?,
            phone: m.phone.map(PhoneNumber::from_e164_unchecked),
            mobile_phone: m.mobile_phone.map(PhoneNumber::from_e164_unchecked),
            roles,
            preferred_channel: m
                .preferred_channel
                .map(|c| c.parse().map_err(|_| corrupt("contact channel")))
                .transpose()?,
            language: m.language,
            notes: m.notes,
            portal_access: m.portal_access,
        },
        is_primary: m.is_primary,
        version: m.version,
        created_by: m.created_by.as_deref().and_then(UserId::parse),
        updated_by: m.updated_by.as_deref().and_then(UserId::parse),
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

fn to_row(c: &Contact) -> customer_contact::ActiveModel {
    let d = &c.details;
    customer_contact::ActiveModel {
        tenant_id: Set(c.tenant_id.0),
        id: Set(c.id.0),
        customer_id: Set(c.customer_id.0),
        name: Set(d.name.clone()),
        job_title: Set(d.job_title.clone()),
        department: Set(d.department.clone()),
        email: Set(d.email.as_ref().map(|e| e.as_str().to_owned())),
        phone: Set(d.phone.as_ref().map(|p| p.as_str().to_owned())),
        mobile_phone: Set(d.mobile_phone.as_ref().map(|p| p.as_str().to_owned())),
        roles: Set(d
            .roles
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(",")),
        is_primary: Set(c.is_primary),
        preferred_channel: Set(d.preferred_channel.map(|p| p.as_str().to_owned())),
        language: Set(d.language.clone()),
        notes: Set(d.notes.clone()),
        portal_access: Set(d.portal_access),
        search_text: Set(d.search_text()),
        search_phones: Set(d.search_phones()),
        version: Set(c.version),
        created_by: Set(c.created_by.as_ref().map(|u| u.as_str().to_owned())),
        updated_by: Set(c.updated_by.as_ref().map(|u| u.as_str().to_owned())),
        created_at: Set(c.created_at),
        updated_at: Set(c.updated_at),
    }
}

/// Stores new contacts (a customer's nested `contacts` at its creation, or one more) in
/// `conn`, primary last so that a demotion written before never meets it.
pub(crate) async fn insert_contacts<C: ConnectionTrait>(
    conn: &C,
    contacts: &[Contact],
) -> Result<(), RepositoryError> {
    if contacts.is_empty() {
        return Ok(());
    }
    customer_contact::Entity::insert_many(contacts.iter().map(to_row))
        .exec_without_returning(conn)
        .await
        .map_err(map_db_err)?;
    Ok(())
}

/// Writes `contact` over the stored row of its tenant and customer if the stored version is
/// still `contact.version - 1`; [`RepositoryError::Stale`] when not.
pub(crate) async fn update_contact<C: ConnectionTrait>(
    conn: &C,
    contact: &Contact,
) -> Result<(), RepositoryError> {
    use customer_contact::Column as C;
    let mut row = to_row(contact);
    // The key and the creation stay as they are.
    row.tenant_id = sea_orm::ActiveValue::NotSet;
    row.id = sea_orm::ActiveValue::NotSet;
    row.customer_id = sea_orm::ActiveValue::NotSet;
    row.created_at = sea_orm::ActiveValue::NotSet;
    row.created_by = sea_orm::ActiveValue::NotSet;
    let result = customer_contact::Entity::update_many()
        .set(row)
        .filter(C::TenantId.eq(contact.tenant_id.0))
        .filter(C::CustomerId.eq(contact.customer_id.0))
        .filter(C::Id.eq(contact.id.0))
        .filter(C::Version.eq(contact.version - 1))
        .exec(conn)
        .await
        .map_err(map_db_err)?;
    exactly_one(result.rows_affected)
}

/// Removes the contact `id` of `customer` in `tenant`; [`RepositoryError::Stale`] when it is
/// gone.
pub(crate) async fn delete_contact<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    customer: CustomerId,
    id: ContactId,
) -> Result<(), RepositoryError> {
    use customer_contact::Column as C;
    let result = customer_contact::Entity::delete_many()
        .filter(C::TenantId.eq(tenant.0))
        .filter(C::CustomerId.eq(customer.0))
        .filter(C::Id.eq(id.0))
        .exec(conn)
        .await
        .map_err(map_db_err)?;
    exactly_one(result.rows_affected)
}

/// Contacts per multi-row `INSERT` (about 20 columns each: under SQLite's 32,766 bound
/// parameters).
const CONTACT_ROWS_PER_INSERT: usize = 1_000;

/// Inserts many contacts in `conn` with multi-row inserts (the bulk path of imports).
pub(crate) async fn insert_many_contacts<C: ConnectionTrait>(
    conn: &C,
    contacts: &[Contact],
) -> Result<(), RepositoryError> {
    for chunk in contacts.chunks(CONTACT_ROWS_PER_INSERT) {
        insert_contacts(conn, chunk).await?;
    }
    Ok(())
}

/// Every contact of these customers of `tenant`, oldest first (by creation time, then id).
pub(crate) async fn contacts_of_many<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    customers: Vec<CustomerId>,
) -> Result<Vec<Contact>, RepositoryError> {
    use customer_contact::Column as C;
    if customers.is_empty() {
        return Ok(Vec::new());
    }
    customer_contact::Entity::find()
        .filter(C::TenantId.eq(tenant.0))
        .filter(C::CustomerId.is_in(customers.into_iter().map(|c| c.0)))
        .order_by(C::CreatedAt, Order::Asc)
        .order_by(C::Id, Order::Asc)
        .all(conn)
        .await
        .map_err(map_db_err)?
        .into_iter()
        .map(to_domain)
        .collect()
}

/// The primary contacts of `customers` (of `tenant`), read on `conn`.
pub(crate) async fn primaries_in<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    customers: Vec<CustomerId>,
) -> Result<Vec<Contact>, RepositoryError> {
    use customer_contact::Column as C;
    customer_contact::Entity::find()
        .filter(C::TenantId.eq(tenant.0))
        .filter(C::CustomerId.is_in(customers.into_iter().map(|c| c.0)))
        .filter(C::IsPrimary.eq(true))
        .all(conn)
        .await
        .map_err(map_db_err)?
        .into_iter()
        .map(to_domain)
        .collect()
}

async fn contacts_of<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    customer: CustomerId,
) -> Result<Vec<Contact>, RepositoryError> {
    use customer_contact::Column as C;
    customer_contact::Entity::find()
        .filter(C::TenantId.eq(tenant.0))
        .filter(C::CustomerId.eq(customer.0))
        .order_by(C::CreatedAt, Order::Asc)
        .order_by(C::Id, Order::Asc)
        .all(conn)
        .await
        .map_err(map_db_err)?
        .into_iter()
        .map(to_domain)
        .collect()
}

#[async_trait]
impl ContactRepository for SeaContactRepository {
    async fn list(
        &self,
        tenant: TenantId,
        customer: CustomerId,
    ) -> Result<Vec<Contact>, RepositoryError> {
        let conn = self.db.tenant_read(tenant).await?;
        let found = contacts_of(&conn, tenant, customer).await?;
        conn.end().await?;
        Ok(found)
    }

    async fn primaries(
        &self,
        tenant: TenantId,
        customers: Vec<CustomerId>,
    ) -> Result<Vec<Contact>, RepositoryError> {
        let conn = self.db.tenant_read(tenant).await?;
        let found = primaries_in(&conn, tenant, customers).await?;
        conn.end().await?;
        Ok(found)
    }

    async fn begin(
        &self,
        tenant: TenantId,
    ) -> Result<Box<dyn ContactTransaction>, RepositoryError> {
        let txn = self.db.tenant_tx(tenant).await?;
        Ok(Box::new(SeaContactTransaction {
            txn,
            backend: self.db.backend(),
            locked: None,
            changed_at: None,
        }))
    }
}

/// One transaction of [`SeaContactRepository`]. When it appended events (it changed a
/// contact of the customer it locked), its commit bumps that customer's version and
/// `updated_at` first ([`crate::customers::touch_customer`]), so the customer's `ETag` changes.
pub struct SeaContactTransaction {
    txn: DatabaseTransaction,
    backend: DatabaseBackend,
    /// The customer [`ContactTransaction::lock_customer`] locked.
    locked: Option<(TenantId, CustomerId)>,
    /// The latest time of the events appended, if any.
    changed_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl std::fmt::Debug for SeaContactTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeaContactTransaction")
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl ContactTransaction for SeaContactTransaction {
    async fn lock_customer(
        &mut self,
        tenant: TenantId,
        id: CustomerId,
    ) -> Result<Option<Customer>, RepositoryError> {
        let mut q = customer::Entity::find()
            .filter(customer::Column::TenantId.eq(tenant.0))
            .filter(customer::Column::Id.eq(id.0));
        if self.backend == DatabaseBackend::Postgres {
            // SQLite needs no lock: its one writer connection already serialises transactions.
            q = sea_orm::QuerySelect::lock_exclusive(q);
        }
        self.locked = Some((tenant, id));
        q.one(&self.txn)
            .await
            .map_err(map_db_err)?
            .map(customer_to_domain)
            .transpose()
    }

    async fn contacts(
        &mut self,
        tenant: TenantId,
        customer: CustomerId,
    ) -> Result<Vec<Contact>, RepositoryError> {
        contacts_of(&self.txn, tenant, customer).await
    }

    async fn insert(&mut self, contact: &Contact) -> Result<(), RepositoryError> {
        insert_contacts(&self.txn, std::slice::from_ref(contact)).await
    }

    async fn update(&mut self, contact: &Contact) -> Result<(), RepositoryError> {
        update_contact(&self.txn, contact).await
    }

    async fn delete(
        &mut self,
        tenant: TenantId,
        customer: CustomerId,
        id: ContactId,
    ) -> Result<(), RepositoryError> {
        delete_contact(&self.txn, tenant, customer, id).await
    }

    async fn append_events(
        &mut self,
        events: &[crm_domain::event::NewEvent],
    ) -> Result<(), RepositoryError> {
        self.changed_at = events
            .iter()
            .map(|e| e.occurred_at)
            .chain(self.changed_at)
            .max();
        crate::events::append(&self.txn, events).await
    }

    async fn commit(self: Box<Self>) -> Result<(), RepositoryError> {
        if let (Some((tenant, id)), Some(at)) = (self.locked, self.changed_at) {
            crate::customers::touch_customer(&self.txn, tenant, id, at).await?;
        }
        self.txn.commit().await.map_err(map_db_err)
    }
}
