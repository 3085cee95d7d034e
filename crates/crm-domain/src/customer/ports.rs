//! Storage port of the customer aggregate.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::model::{
    Customer, CustomerProfile, CustomerStatus, CustomerType, LifecycleStage, NewCustomer,
    UniqueField,
};
use crate::error::RepositoryError;
use crate::ids::{CustomerId, TenantId, UserId};

/// A client's `Idempotency-Key` and the fingerprint of the request it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    /// The key, 1..=255 visible ASCII characters, unique per tenant.
    pub key: String,
    /// A digest of the request body, to tell a replay from a reuse of the key.
    pub fingerprint: String,
}

/// A stored idempotency key: which customer its first request created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// The key.
    pub key: String,
    /// Digest of the first request's body.
    pub fingerprint: String,
    /// The customer the first request created.
    pub customer_id: CustomerId,
    /// When the first request was served.
    pub created_at: DateTime<Utc>,
}

/// Position in the newest-first customer list: the last row of the previous page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CustomerCursor {
    /// `created_at` of that row.
    pub created_at: DateTime<Utc>,
    /// `id` of that row (tie-breaker).
    pub id: CustomerId,
}

/// Filters of the customer list; values of one filter are OR-ed, filters are AND-ed; an empty
/// filter matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerFilter {
    /// `status` in any of these.
    pub statuses: Vec<CustomerStatus>,
    /// `customer_type` in any of these.
    pub customer_types: Vec<CustomerType>,
    /// `stage` in any of these.
    pub stages: Vec<LifecycleStage>,
    /// Has any of these tags (lower-case).
    pub tags: Vec<String>,
}

/// One page request of the customer list, newest first (`created_at` desc, then `id` desc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerListQuery {
    /// Filters.
    pub filter: CustomerFilter,
    /// Rows wanted, 1..=200.
    pub limit: u32,
    /// Start after this row; `None` for the first page.
    pub after: Option<CustomerCursor>,
}

/// A new version of a customer's profile.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileUpdate {
    /// Tenant of the customer.
    pub tenant_id: TenantId,
    /// The customer.
    pub id: CustomerId,
    /// The whole new profile.
    pub profile: CustomerProfile,
    /// Who changes it.
    pub updated_by: Option<UserId>,
    /// When.
    pub updated_at: DateTime<Utc>,
    /// The version the change is based on; the write happens only if it is still current.
    pub expected_version: i64,
}

/// A soft delete (`deleted_at` set) or restore (`deleted_at` cleared).
#[derive(Debug, Clone, PartialEq)]
pub struct DeletionChange {
    /// Tenant of the customer.
    pub tenant_id: TenantId,
    /// The customer.
    pub id: CustomerId,
    /// The new `deleted_at`.
    pub deleted_at: Option<DateTime<Utc>>,
    /// Who does it.
    pub updated_by: Option<UserId>,
    /// When.
    pub updated_at: DateTime<Utc>,
    /// The version the change is based on.
    pub expected_version: i64,
}

/// Storage of customers. Every method is scoped to one tenant: a customer of another tenant is
/// never read, counted or changed.
///
/// # Errors
/// Implementations MUST return [`RepositoryError::Conflict`] naming the API field (`email`,
/// `phone`, `mobile_phone`, `external_ref`, or `idempotency_key`) on a per-tenant unique
/// violation, [`RepositoryError::Stale`] when a conditional write finds another version (or no
/// row), and [`RepositoryError::Unavailable`] when the database cannot be reached. A failed
/// write leaves nothing behind.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait CustomerRepository: Send + Sync {
    /// Stores a new customer in one transaction: takes the tenant's next `customer_number` and
    /// the next sequence of the creation year for `customer_code` (see
    /// [`customer_code`](super::customer_code)), writes the row and its tags, and, when given,
    /// the idempotency record. Returns the stored customer with version 1.
    async fn create(
        &self,
        customer: NewCustomer,
        idempotency: Option<IdempotencyRecord>,
    ) -> Result<Customer, RepositoryError>;

    /// The customer with this id in this tenant; deleted ones only when `include_deleted`.
    async fn find(
        &self,
        tenant: TenantId,
        id: CustomerId,
        include_deleted: bool,
    ) -> Result<Option<Customer>, RepositoryError>;

    /// The live (not deleted) customer of this tenant whose `field` equals `value`.
    async fn find_by_unique(
        &self,
        tenant: TenantId,
        field: UniqueField,
        value: &str,
    ) -> Result<Option<CustomerId>, RepositoryError>;

    /// Replaces a live customer's profile if its version is still `expected_version`,
    /// incrementing the version. Returns the stored customer.
    async fn update_profile(&self, update: ProfileUpdate) -> Result<Customer, RepositoryError>;

    /// Sets or clears `deleted_at` if the version is still `expected_version`, incrementing the
    /// version. Returns the stored customer.
    async fn set_deleted(&self, change: DeletionChange) -> Result<Customer, RepositoryError>;

    /// The idempotency record of this key in this tenant.
    async fn find_idempotency(
        &self,
        tenant: TenantId,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, RepositoryError>;

    /// Refs of up to `limit` open orders of the customer (pending, or completed and unpaid).
    async fn open_order_refs(
        &self,
        tenant: TenantId,
        id: CustomerId,
        limit: u32,
    ) -> Result<Vec<String>, RepositoryError>;

    /// Up to `query.limit` live customers matching the filter, newest first, after the cursor.
    async fn list(
        &self,
        tenant: TenantId,
        query: &CustomerListQuery,
    ) -> Result<Vec<Customer>, RepositoryError>;
}
