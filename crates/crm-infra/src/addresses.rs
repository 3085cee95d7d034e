//! [`AddressRepository`] and its [`AddressTransaction`] on SeaORM (`customer_addresses`), one
//! code path for PostgreSQL and SQLite. The transaction holds the writer connection (SQLite)
//! or one pooled connection (PostgreSQL, where the customer row is locked `FOR UPDATE`, as
//! order placement, deletion and erasure lock it); dropping it uncommitted rolls back.

use async_trait::async_trait;
use crm_domain::address::{
    Address, AddressFields, AddressId, AddressRepository, AddressTransaction, GeoPoint,
};
use crm_domain::customer::Customer;
use crm_domain::values::{CountryCode, PhoneNumber};
use crm_domain::{CustomerId, RepositoryError, TenantId, UserId};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseTransaction,
    EntityTrait, Order, QueryFilter, QueryOrder, QuerySelect, Set,
};

use crate::customers::to_domain as customer_to_domain;
use crate::db::Database;
use crate::entity::{customer, customer_address};
use crate::error::{corrupt, exactly_one, map_db_err};

type A = customer_address::Column;

/// Addresses in `customer_addresses`.
#[derive(Debug, Clone)]
pub struct SeaAddressRepository {
    db: Database,
}

impl SeaAddressRepository {
    /// Wraps a database.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

/// The row as the domain's address.
pub(crate) fn address_to_domain(m: customer_address::Model) -> Result<Address, RepositoryError> {
    let position = match (m.latitude, m.longitude) {
        (Some(lat), Some(lng)) => Some(GeoPoint::new(lat, lng).ok_or_else(|| corrupt("position"))?),
        _ => None,
    };
    Ok(Address {
        id: AddressId(m.id),
        tenant_id: TenantId(m.tenant_id),
        customer_id: CustomerId(m.customer_id),
        fields: AddressFields {
            address_type: m
                .address_type
                .parse()
                .map_err(|_| corrupt("address type"))?,
            label: m.label,
            recipient_name: m.recipient_name,
            phone: m.phone.map(PhoneNumber::from_e164_unchecked),
            line1: m.line1,
            line2: m.line2,
            district: m.district,
            city: m.city,
            region: m.region,
            postal_code: m.postal_code,
            country: CountryCode::parse(&m.country).ok_or_else(|| corrupt("address country"))?,
            position,
            delivery_notes: m.delivery_notes,
        },
        is_default: m.is_default,
        created_by: m.created_by.as_deref().and_then(UserId::parse),
        updated_by: m.updated_by.as_deref().and_then(UserId::parse),
        created_at: m.created_at,
        updated_at: m.updated_at,
        version: m.version,
    })
}

/// Every column of `a` as an active model.
pub(crate) fn address_row(a: &Address) -> customer_address::ActiveModel {
    let f = &a.fields;
    let unit = f.position.map(GeoPoint::unit_vector);
    customer_address::ActiveModel {
        tenant_id: Set(a.tenant_id.0),
        id: Set(a.id.0),
        customer_id: Set(a.customer_id.0),
        address_type: Set(f.address_type.as_str().to_owned()),
        label: Set(f.label.clone()),
        recipient_name: Set(f.recipient_name.clone()),
        phone: Set(f.phone.as_ref().map(|p| p.as_str().to_owned())),
        line1: Set(f.line1.clone()),
        line2: Set(f.line2.clone()),
        district: Set(f.district.clone()),
        city: Set(f.city.clone()),
        city_key: Set(f.city.to_lowercase()),
        region: Set(f.region.clone()),
        postal_code: Set(f.postal_code.clone()),
        country: Set(f.country.as_str().to_owned()),
        latitude: Set(f.position.map(|p| p.latitude)),
        longitude: Set(f.position.map(|p| p.longitude)),
        unit_x: Set(unit.map(|u| u[0])),
        unit_y: Set(unit.map(|u| u[1])),
        unit_z: Set(unit.map(|u| u[2])),
        delivery_notes: Set(f.delivery_notes.clone()),
        is_default: Set(a.is_default),
        created_by: Set(a.created_by.as_ref().map(|u| u.as_str().to_owned())),
        updated_by: Set(a.updated_by.as_ref().map(|u| u.as_str().to_owned())),
        created_at: Set(a.created_at),
        updated_at: Set(a.updated_at),
        version: Set(a.version),
    }
}

async fn addresses_in<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    customer: CustomerId,
) -> Result<Vec<Address>, RepositoryError> {
    customer_address::Entity::find()
        .filter(A::TenantId.eq(tenant.0))
        .filter(A::CustomerId.eq(customer.0))
        .order_by(A::CreatedAt, Order::Asc)
        .order_by(A::Id, Order::Asc)
        .all(conn)
        .await
        .map_err(map_db_err)?
        .into_iter()
        .map(address_to_domain)
        .collect()
}

/// Inserts addresses in `txn` (the nested create of a customer).
pub(crate) async fn insert_addresses<C: ConnectionTrait>(
    conn: &C,
    addresses: &[Address],
) -> Result<(), RepositoryError> {
    for a in addresses {
        customer_address::Entity::insert(address_row(a))
            .exec_without_returning(conn)
            .await
            .map_err(map_db_err)?;
    }
    Ok(())
}

/// Addresses per multi-row `INSERT` (about 20 columns each: under SQLite's 32,766 bound
/// parameters).
const ADDRESS_ROWS_PER_INSERT: usize = 1_000;

/// Inserts many addresses in `conn` with multi-row inserts (the bulk path of imports).
pub(crate) async fn insert_many_addresses<C: ConnectionTrait>(
    conn: &C,
    addresses: &[Address],
) -> Result<(), RepositoryError> {
    for chunk in addresses.chunks(ADDRESS_ROWS_PER_INSERT) {
        customer_address::Entity::insert_many(chunk.iter().map(address_row))
            .exec_without_returning(conn)
            .await
            .map_err(map_db_err)?;
    }
    Ok(())
}

/// Every address of these customers of `tenant`, oldest first (by creation time, then id).
pub(crate) async fn addresses_of<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    customers: Vec<CustomerId>,
) -> Result<Vec<Address>, RepositoryError> {
    if customers.is_empty() {
        return Ok(Vec::new());
    }
    customer_address::Entity::find()
        .filter(A::TenantId.eq(tenant.0))
        .filter(A::CustomerId.is_in(customers.into_iter().map(|c| c.0)))
        .order_by(A::CreatedAt, Order::Asc)
        .order_by(A::Id, Order::Asc)
        .all(conn)
        .await
        .map_err(map_db_err)?
        .into_iter()
        .map(address_to_domain)
        .collect()
}

/// The default `billing` and `shipping` addresses of `customers` (of `tenant`), read on `conn`.
pub(crate) async fn defaults_in<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    customers: Vec<CustomerId>,
) -> Result<Vec<Address>, RepositoryError> {
    customer_address::Entity::find()
        .filter(A::TenantId.eq(tenant.0))
        .filter(A::CustomerId.is_in(customers.into_iter().map(|c| c.0)))
        .filter(A::IsDefault.eq(true))
        .filter(A::AddressType.is_in(["billing", "shipping"]))
        .all(conn)
        .await
        .map_err(map_db_err)?
        .into_iter()
        .map(address_to_domain)
        .collect()
}

/// Writes `address` over the stored row of its tenant if its version is still
/// `expected_version`; [`RepositoryError::Stale`] when not.
pub(crate) async fn update_address<C: ConnectionTrait>(
    conn: &C,
    address: &Address,
    expected_version: i64,
) -> Result<(), RepositoryError> {
    let mut row = address_row(address);
    // The key and the creation stay.
    for c in [
        A::TenantId,
        A::Id,
        A::CustomerId,
        A::CreatedAt,
        A::CreatedBy,
    ] {
        row.not_set(c);
    }
    let result = customer_address::Entity::update_many()
        .set(row)
        .filter(A::TenantId.eq(address.tenant_id.0))
        .filter(A::Id.eq(address.id.0))
        .filter(A::Version.eq(expected_version))
        .exec(conn)
        .await
        .map_err(map_db_err)?;
    exactly_one(result.rows_affected)
}

/// Deletes the address `id` of `tenant`; [`RepositoryError::Stale`] when it is gone.
pub(crate) async fn delete_address<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    id: AddressId,
) -> Result<(), RepositoryError> {
    let result = customer_address::Entity::delete_many()
        .filter(A::TenantId.eq(tenant.0))
        .filter(A::Id.eq(id.0))
        .exec(conn)
        .await
        .map_err(map_db_err)?;
    exactly_one(result.rows_affected)
}

#[async_trait]
impl AddressRepository for SeaAddressRepository {
    async fn begin(
        &self,
        tenant: TenantId,
    ) -> Result<Box<dyn AddressTransaction>, RepositoryError> {
        let txn = self.db.tenant_tx(tenant).await?;
        Ok(Box::new(SeaAddressTransaction {
            txn,
            backend: self.db.backend(),
            locked: None,
            changed_at: None,
        }))
    }

    async fn list(
        &self,
        tenant: TenantId,
        customer: CustomerId,
    ) -> Result<Vec<Address>, RepositoryError> {
        let conn = self.db.tenant_read(tenant).await?;
        let found = addresses_in(&conn, tenant, customer).await?;
        conn.end().await?;
        Ok(found)
    }

    async fn defaults_of(
        &self,
        tenant: TenantId,
        customers: Vec<CustomerId>,
    ) -> Result<Vec<Address>, RepositoryError> {
        if customers.is_empty() {
            return Ok(Vec::new());
        }
        let conn = self.db.tenant_read(tenant).await?;
        let found = defaults_in(&conn, tenant, customers).await?;
        conn.end().await?;
        Ok(found)
    }
}

/// One transaction of [`SeaAddressRepository`]. When it appended events (it changed an
/// address of the customer it locked), its commit bumps that customer's version and
/// `updated_at` first ([`crate::customers::touch_customer`]), so the customer's `ETag` changes.
pub struct SeaAddressTransaction {
    txn: DatabaseTransaction,
    backend: DatabaseBackend,
    /// The customer [`AddressTransaction::lock_customer`] locked.
    locked: Option<(TenantId, CustomerId)>,
    /// The latest time of the events appended, if any.
    changed_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[async_trait]
impl AddressTransaction for SeaAddressTransaction {
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
            q = q.lock_exclusive();
        }
        self.locked = Some((tenant, id));
        q.one(&self.txn)
            .await
            .map_err(map_db_err)?
            .map(customer_to_domain)
            .transpose()
    }

    async fn addresses(
        &mut self,
        tenant: TenantId,
        customer: CustomerId,
    ) -> Result<Vec<Address>, RepositoryError> {
        addresses_in(&self.txn, tenant, customer).await
    }

    async fn insert(&mut self, address: &Address) -> Result<(), RepositoryError> {
        insert_addresses(&self.txn, std::slice::from_ref(address)).await
    }

    async fn update(
        &mut self,
        address: &Address,
        expected_version: i64,
    ) -> Result<(), RepositoryError> {
        update_address(&self.txn, address, expected_version).await
    }

    async fn delete(&mut self, tenant: TenantId, id: AddressId) -> Result<(), RepositoryError> {
        delete_address(&self.txn, tenant, id).await
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
