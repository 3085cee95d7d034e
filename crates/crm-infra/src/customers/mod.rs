//! [`CustomerRepository`] on SeaORM: one code path for PostgreSQL and SQLite.
//!
//! By concern: [`mapping`] converts rows to the domain and back, [`writes`] holds the
//! single-customer inserts and updates, [`bulk`] the multi-row paths of imports and the
//! benchmark loader, [`queries`] the reads, lists and aggregates, [`query_sql`] compiles the
//! filter language, search, sorting and keyset pagination, and [`backfill`] fills the search
//! documents of rows written before search existed.

mod backfill;
mod bulk;
mod mapping;
mod queries;
mod query_sql;
mod writes;

pub(crate) use writes::touch_customer;

use async_trait::async_trait;
use crm_domain::access::Visibility;
use crm_domain::customer::{
    Customer, CustomerQuery, CustomerRepository, DeletionChange, IdempotencyRecord, NewCustomer,
    ProfileUpdate, UniqueField,
};
use crm_domain::{CustomerId, RepositoryError, TenantId};
use sea_orm::DatabaseTransaction;

use crate::db::Database;

pub(crate) use backfill::backfill_search;
pub(crate) use bulk::insert_new;
pub(crate) use mapping::{bp_to_percent, percent_to_bp, to_domain};
pub(crate) use query_sql::visible_ids;
pub(crate) use writes::write_erased;

/// Customers in the `customers` and `customer_tags` tables.
#[derive(Debug, Clone)]
pub struct SeaCustomerRepository {
    db: Database,
    bulk_rows: crate::db::BulkRows,
}

impl SeaCustomerRepository {
    /// Wraps a database.
    pub fn new(db: Database) -> Self {
        Self {
            db,
            bulk_rows: Default::default(),
        }
    }

    /// A write transaction scoped to `tenant` ([`Database::tenant_tx`]).
    async fn begin(&self, tenant: TenantId) -> Result<DatabaseTransaction, RepositoryError> {
        self.db.tenant_tx(tenant).await
    }
}

#[async_trait]
impl CustomerRepository for SeaCustomerRepository {
    async fn begin_batch(
        &self,
        tenant: TenantId,
    ) -> Result<Box<dyn crm_domain::customer::CustomerBatch>, RepositoryError> {
        bulk::begin_batch(self, tenant).await
    }

    async fn create(
        &self,
        new: NewCustomer,
        idempotency: Option<IdempotencyRecord>,
        events: Vec<crm_domain::event::NewEvent>,
    ) -> Result<Customer, RepositoryError> {
        writes::create(self, new, idempotency, events).await
    }

    async fn find(
        &self,
        tenant: TenantId,
        id: CustomerId,
        include_deleted: bool,
    ) -> Result<Option<Customer>, RepositoryError> {
        let conn = self.db.tenant_read(tenant).await?;
        let found = queries::find_in(&conn, tenant, id, include_deleted).await?;
        conn.end().await?;
        Ok(found)
    }

    async fn find_with_parts(
        &self,
        tenant: TenantId,
        id: CustomerId,
    ) -> Result<Option<(Customer, crm_domain::customer::CustomerParts)>, RepositoryError> {
        let conn = self.db.tenant_read(tenant).await?;
        let Some(customer) = queries::find_in(&conn, tenant, id, false).await? else {
            conn.end().await?;
            return Ok(None);
        };
        let default_addresses = crate::addresses::defaults_in(&conn, tenant, vec![id]).await?;
        let primary_contact = crate::contacts::primaries_in(&conn, tenant, vec![id])
            .await?
            .into_iter()
            .next();
        conn.end().await?;
        Ok(Some((
            customer,
            crm_domain::customer::CustomerParts {
                default_addresses,
                primary_contact,
            },
        )))
    }

    async fn members(
        &self,
        tenant: TenantId,
        id: CustomerId,
    ) -> Result<
        (
            Vec<crm_domain::address::Address>,
            Vec<crm_domain::contact::Contact>,
        ),
        RepositoryError,
    > {
        let conn = self.db.tenant_read(tenant).await?;
        let addresses = crate::addresses::addresses_of(&conn, tenant, vec![id]).await?;
        let contacts = crate::contacts::contacts_of_many(&conn, tenant, vec![id]).await?;
        conn.end().await?;
        Ok((addresses, contacts))
    }

    async fn find_by_unique(
        &self,
        tenant: TenantId,
        field: UniqueField,
        value: &str,
    ) -> Result<Option<CustomerId>, RepositoryError> {
        queries::find_by_unique(self, tenant, field, value).await
    }

    async fn find_many_by_unique(
        &self,
        tenant: TenantId,
        field: UniqueField,
        values: Vec<String>,
    ) -> Result<Vec<Customer>, RepositoryError> {
        queries::find_many_by_unique(self, tenant, field, values).await
    }

    async fn update_profile(&self, u: ProfileUpdate) -> Result<Customer, RepositoryError> {
        writes::update_profile(self, u).await
    }

    async fn set_deleted(&self, c: DeletionChange) -> Result<Customer, RepositoryError> {
        writes::set_deleted(self, c).await
    }

    async fn find_idempotency(
        &self,
        tenant: TenantId,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, RepositoryError> {
        queries::find_idempotency(self, tenant, key).await
    }

    async fn open_order_refs(
        &self,
        tenant: TenantId,
        id: CustomerId,
        limit: u32,
    ) -> Result<Vec<String>, RepositoryError> {
        let conn = self.db.tenant_read(tenant).await?;
        let refs = queries::open_order_refs(&conn, tenant, id, limit).await?;
        conn.end().await?;
        Ok(refs)
    }

    async fn list(
        &self,
        tenant: TenantId,
        visibility: &Visibility,
        query: &CustomerQuery,
    ) -> Result<Vec<Customer>, RepositoryError> {
        queries::list(self, tenant, visibility, query).await
    }

    async fn aggregates(
        &self,
        tenant: TenantId,
        visibility: &Visibility,
        query: &CustomerQuery,
        month_start: chrono::DateTime<chrono::Utc>,
        last_month_start: chrono::DateTime<chrono::Utc>,
    ) -> Result<crm_domain::customer::CustomerAggregates, RepositoryError> {
        queries::aggregates(
            self,
            tenant,
            visibility,
            query,
            month_start,
            last_month_start,
        )
        .await
    }

    async fn count(
        &self,
        tenant: TenantId,
        visibility: &Visibility,
        query: &CustomerQuery,
    ) -> Result<u64, RepositoryError> {
        queries::count(self, tenant, visibility, query).await
    }

    async fn distance_key(
        &self,
        tenant: TenantId,
        id: CustomerId,
        query: &CustomerQuery,
    ) -> Result<Option<f64>, RepositoryError> {
        use crate::entity::customer;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
        let Some(near) = query.filter.near() else {
            return Ok(None);
        };
        let conn = self.db.tenant_read(tenant).await?;
        let key = customer::Entity::find()
            .select_only()
            .column_as(query_sql::distance_key(&near), "distance_key")
            .filter(customer::Column::TenantId.eq(tenant.0))
            .filter(customer::Column::Id.eq(id.0))
            .into_tuple::<f64>()
            .one(&conn)
            .await
            .map_err(crate::map_db_err)?;
        conn.end().await?;
        Ok(key)
    }
}
