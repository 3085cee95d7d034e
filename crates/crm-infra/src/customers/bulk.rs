//! Multi-row paths: the bulk insert of imports and the benchmark loader, and the bulk
//! transaction of bulk actions and imports ([`SeaCustomerBatch`]).

use async_trait::async_trait;
use chrono::Datelike;
use crm_domain::customer::{Customer, NewCustomer, PurchaseStats, customer_code};
use crm_domain::{CustomerId, RepositoryError, TenantId};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, DatabaseTransaction, EntityTrait, Order, QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use super::SeaCustomerRepository;
use super::mapping::{new_row, profile_columns, to_domain};
use super::queries::open_orders;
use super::writes::{next_counter, write_tags};
use crate::db::{Savepoint, savepoint};
use crate::entity::{customer, customer_tag};
use crate::error::map_db_err;

/// Rows per multi-row `INSERT` of customers: about 60 columns each stays under SQLite's 32,766
/// bound parameters.
const CUSTOMER_ROWS_PER_INSERT: usize = 400;
/// Rows per multi-row `INSERT` of tags (3 columns each).
const SMALL_ROWS_PER_INSERT: usize = 5_000;
/// The tables [`insert_rows`] writes, analysed by [`crate::db::BulkRows`] as they fill (the
/// import's lookups and foreign-key checks read them; an update row reads its customer's
/// addresses and contacts).
const WRITTEN_TABLES: &str = "customers, customer_tags, customer_addresses, customer_contacts";

impl SeaCustomerRepository {
    /// Stores many new customers of one tenant in one transaction, with multi-row inserts: the
    /// bulk path of imports and of the benchmark loader. Customer numbers are taken in the order
    /// given, codes in that order within each creation year; tags and search documents are written
    /// as by [`CustomerRepository::create`](crm_domain::customer::CustomerRepository::create).
    /// `stats` gives each customer's purchase statistics (the loader's way to load a spending
    /// history without order rows; imports pass zeros).
    /// All or nothing. On PostgreSQL, planner statistics are refreshed as the rows written by
    /// this repository cross 10^3..10^6.
    ///
    /// # Errors
    /// [`RepositoryError::Conflict`] naming the field when a unique value (e-mail, phone,
    /// external ref) is already taken or repeated in `rows`; a customer of another tenant is an
    /// [`RepositoryError::Other`].
    pub async fn insert_loaded(
        &self,
        tenant: TenantId,
        rows: &[(NewCustomer, PurchaseStats)],
    ) -> Result<(), RepositoryError> {
        if rows.is_empty() {
            return Ok(());
        }
        let txn = self.begin(tenant).await?;
        insert_rows(&txn, tenant, rows).await?;
        self.bulk_rows
            .add(&txn, self.db.backend(), rows.len(), WRITTEN_TABLES)
            .await?;
        txn.commit().await.map_err(map_db_err)
    }
}

/// New customers (no purchases yet) through [`insert_rows`] inside `txn`: the bulk path of
/// imports, counted in `bulk_rows`.
pub(crate) async fn insert_new(
    txn: &DatabaseTransaction,
    backend: sea_orm::DatabaseBackend,
    bulk_rows: &crate::db::BulkRows,
    tenant: TenantId,
    customers: &[NewCustomer],
) -> Result<(), RepositoryError> {
    let rows: Vec<(NewCustomer, PurchaseStats)> = customers
        .iter()
        .map(|c| (c.clone(), PurchaseStats::default()))
        .collect();
    insert_rows(txn, tenant, &rows).await?;
    bulk_rows
        .add(txn, backend, rows.len(), WRITTEN_TABLES)
        .await
}

/// The multi-row insert of [`SeaCustomerRepository::insert_loaded`] inside `txn`.
pub(crate) async fn insert_rows(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    rows: &[(NewCustomer, PurchaseStats)],
) -> Result<(), RepositoryError> {
    if rows.is_empty() {
        return Ok(());
    }
    if rows.iter().any(|(c, _)| c.tenant_id != tenant) {
        return Err(RepositoryError::Other(
            "a bulk insert holds one tenant's customers".into(),
        ));
    }
    let count = i64::try_from(rows.len()).unwrap_or(i64::MAX);
    let mut number = next_counter(txn, tenant, "customer_number", count).await? - count;
    let mut per_year = std::collections::BTreeMap::<i32, i64>::new();
    for (c, _) in rows {
        *per_year.entry(c.created_at.year()).or_default() += 1;
    }
    let mut sequence = std::collections::BTreeMap::new();
    for (year, n) in per_year {
        let last = next_counter(txn, tenant, &format!("customer_code:{year}"), n).await?;
        sequence.insert(year, last - n);
    }
    for chunk in rows.chunks(CUSTOMER_ROWS_PER_INSERT) {
        let mut customers = Vec::with_capacity(chunk.len());
        let mut tags = Vec::new();
        for (c, stats) in chunk {
            number += 1;
            let seq = sequence.entry(c.created_at.year()).or_default();
            *seq += 1;
            let code = customer_code(c.created_at.year(), *seq);
            customers.push(new_row(c, number, &code, stats));
            tags.extend(c.profile.tags.iter().map(|t| customer_tag::ActiveModel {
                tenant_id: Set(tenant.0),
                customer_id: Set(c.id.0),
                tag: Set(t.clone()),
            }));
        }
        // Customers first: tags reference them.
        customer::Entity::insert_many(customers)
            .exec_without_returning(txn)
            .await
            .map_err(map_db_err)?;
        for part in tags.chunks(SMALL_ROWS_PER_INSERT) {
            customer_tag::Entity::insert_many(part.to_vec())
                .exec_without_returning(txn)
                .await
                .map_err(map_db_err)?;
        }
        // Addresses reference their customers too.
        let addresses: Vec<_> = chunk
            .iter()
            .flat_map(|(c, _)| c.addresses.iter().cloned())
            .collect();
        crate::addresses::insert_many_addresses(txn, &addresses).await?;
        // And so do contacts.
        let contacts: Vec<_> = chunk
            .iter()
            .flat_map(|(c, _)| c.contacts.iter().cloned())
            .collect();
        crate::contacts::insert_many_contacts(txn, &contacts).await?;
    }
    Ok(())
}

/// A bulk transaction over customers.
pub struct SeaCustomerBatch {
    txn: DatabaseTransaction,
    backend: sea_orm::DatabaseBackend,
    bulk_rows: crate::db::BulkRows,
}

#[async_trait]
impl crm_domain::customer::CustomerBatch for SeaCustomerBatch {
    async fn next(
        &mut self,
        tenant: TenantId,
        visibility: &crm_domain::access::Visibility,
        filter: &crm_domain::customer::filter::Filter,
        ids: Option<Vec<CustomerId>>,
        after: Option<CustomerId>,
        limit: u32,
    ) -> Result<Vec<Customer>, RepositoryError> {
        let mut q = customer::Entity::find()
            .filter(customer::Column::TenantId.eq(tenant.0))
            .filter(super::query_sql::visible(visibility))
            .filter(customer::Column::DeletedAt.is_null())
            .filter(super::query_sql::filter_condition(tenant, filter));
        if let Some(ids) = ids {
            q = q.filter(customer::Column::Id.is_in(ids.into_iter().map(|i| i.0)));
        }
        if let Some(a) = after {
            q = q.filter(customer::Column::Id.gt(a.0));
        }
        if self.backend == sea_orm::DatabaseBackend::Postgres {
            q = q.lock_exclusive();
        }
        q.order_by(customer::Column::Id, Order::Asc)
            .limit(u64::from(limit))
            .all(&self.txn)
            .await
            .map_err(map_db_err)?
            .into_iter()
            .map(to_domain)
            .collect()
    }

    async fn addresses_of(
        &mut self,
        tenant: TenantId,
        ids: Vec<CustomerId>,
    ) -> Result<Vec<crm_domain::address::Address>, RepositoryError> {
        crate::addresses::addresses_of(&self.txn, tenant, ids).await
    }

    async fn insert_address(
        &mut self,
        address: &crm_domain::address::Address,
    ) -> Result<(), RepositoryError> {
        crate::addresses::insert_addresses(&self.txn, std::slice::from_ref(address)).await
    }

    async fn update_address(
        &mut self,
        address: &crm_domain::address::Address,
        expected_version: i64,
    ) -> Result<(), RepositoryError> {
        crate::addresses::update_address(&self.txn, address, expected_version).await
    }

    async fn contacts_of(
        &mut self,
        tenant: TenantId,
        ids: Vec<CustomerId>,
    ) -> Result<Vec<crm_domain::contact::Contact>, RepositoryError> {
        crate::contacts::contacts_of_many(&self.txn, tenant, ids).await
    }

    async fn insert_contact(
        &mut self,
        contact: &crm_domain::contact::Contact,
    ) -> Result<(), RepositoryError> {
        crate::contacts::insert_contacts(&self.txn, std::slice::from_ref(contact)).await
    }

    async fn update_contact(
        &mut self,
        contact: &crm_domain::contact::Contact,
    ) -> Result<(), RepositoryError> {
        crate::contacts::update_contact(&self.txn, contact).await
    }

    async fn save(&mut self, c: &Customer) -> Result<(), RepositoryError> {
        let mut changes = profile_columns(&c.profile, &c.customer_code);
        changes.deleted_at = Set(c.deleted_at);
        changes.updated_by = Set(c.updated_by.as_ref().map(|u| u.as_str().to_owned()));
        changes.updated_at = Set(c.updated_at);
        let done = customer::Entity::update_many()
            .set(changes)
            .col_expr(
                customer::Column::Version,
                Expr::col(customer::Column::Version).add(1),
            )
            .filter(customer::Column::TenantId.eq(c.tenant_id.0))
            .filter(customer::Column::Id.eq(c.id.0))
            .filter(customer::Column::Version.eq(c.version))
            .exec(&self.txn)
            .await
            .map_err(map_db_err)?;
        if done.rows_affected == 0 {
            return Err(RepositoryError::Stale);
        }
        write_tags(&self.txn, c.tenant_id, c.id, c.profile.tags.iter(), true).await
    }

    async fn open_orders(
        &mut self,
        tenant: TenantId,
        ids: Vec<CustomerId>,
    ) -> Result<Vec<(CustomerId, String)>, RepositoryError> {
        use crate::entity::order;
        let open = open_orders();
        let rows: Vec<(Uuid, String)> = order::Entity::find()
            .select_only()
            .column(order::Column::CustomerId)
            .column(order::Column::OrderRef)
            .filter(order::Column::TenantId.eq(tenant.0))
            .filter(order::Column::CustomerId.is_in(ids.into_iter().map(|i| i.0)))
            .filter(open)
            .limit(10)
            .into_tuple()
            .all(&self.txn)
            .await
            .map_err(map_db_err)?;
        Ok(rows.into_iter().map(|(c, r)| (CustomerId(c), r)).collect())
    }

    async fn insert(
        &mut self,
        tenant: TenantId,
        customers: &[NewCustomer],
    ) -> Result<(), RepositoryError> {
        insert_new(&self.txn, self.backend, &self.bulk_rows, tenant, customers).await
    }

    async fn record_checkpoint(
        &mut self,
        checkpoint: &crm_domain::import::ImportCheckpoint,
    ) -> Result<(), RepositoryError> {
        crate::imports::write_checkpoint(&self.txn, checkpoint).await
    }

    async fn savepoint(&mut self) -> Result<(), RepositoryError> {
        savepoint(&self.txn, Savepoint::Begin).await
    }

    async fn release_savepoint(&mut self) -> Result<(), RepositoryError> {
        savepoint(&self.txn, Savepoint::Release).await
    }

    async fn rollback_to_savepoint(&mut self) -> Result<(), RepositoryError> {
        savepoint(&self.txn, Savepoint::Rollback).await
    }

    async fn append_events(
        &mut self,
        events: &[crm_domain::event::NewEvent],
    ) -> Result<(), RepositoryError> {
        crate::events::append(&self.txn, events).await
    }

    async fn commit(self: Box<Self>) -> Result<(), RepositoryError> {
        self.txn.commit().await.map_err(map_db_err)
    }
}

/// [`crm_domain::customer::CustomerRepository::begin_batch`]: a [`SeaCustomerBatch`] on a new
/// transaction.
pub(super) async fn begin_batch(
    repo: &SeaCustomerRepository,
    tenant: TenantId,
) -> Result<Box<dyn crm_domain::customer::CustomerBatch>, RepositoryError> {
    let txn = repo.begin(tenant).await?;
    Ok(Box::new(SeaCustomerBatch {
        txn,
        backend: repo.db.backend(),
        bulk_rows: repo.bulk_rows.clone(),
    }))
}
