//! Storage ports of the address context.

use async_trait::async_trait;

use super::model::{Address, AddressId};
use crate::customer::Customer;
use crate::error::RepositoryError;
use crate::ids::{CustomerId, TenantId};

/// One transaction over a customer's addresses, under the customer's lock (`SELECT … FOR
/// UPDATE` on PostgreSQL, the one writer on SQLite): address writes of one customer
/// serialise, so the default-per-type rules hold under concurrent requests. Dropping it
/// without [`AddressTransaction::commit`] rolls back.
///
/// # Errors
/// As [`RepositoryError`]; a write that would leave two defaults of one type breaks the
/// database's partial unique index and is [`RepositoryError::Conflict`] on `is_default`.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait AddressTransaction: Send {
    /// Locks and reads the customer with this id in this tenant, deleted or not.
    async fn lock_customer(
        &mut self,
        tenant: TenantId,
        id: CustomerId,
    ) -> Result<Option<Customer>, RepositoryError>;

    /// Every address of the customer, oldest first (by creation time, then id).
    async fn addresses(
        &mut self,
        tenant: TenantId,
        customer: CustomerId,
    ) -> Result<Vec<Address>, RepositoryError>;

    /// Stores a new address.
    async fn insert(&mut self, address: &Address) -> Result<(), RepositoryError>;

    /// Writes `address` (fields, `is_default`, `updated_by`, `updated_at`, `version`) over the
    /// stored row if its version is still `expected_version`.
    ///
    /// # Errors
    /// [`RepositoryError::Stale`] when the stored version moved on or the row is gone.
    async fn update(
        &mut self,
        address: &Address,
        expected_version: i64,
    ) -> Result<(), RepositoryError>;

    /// Deletes the address (addresses are deleted for good; a customer's soft delete keeps
    /// them).
    async fn delete(&mut self, tenant: TenantId, id: AddressId) -> Result<(), RepositoryError>;

    /// Appends events to the event log in this transaction (they commit with its writes).
    async fn append_events(
        &mut self,
        events: &[crate::event::NewEvent],
    ) -> Result<(), RepositoryError>;

    /// Makes every write durable.
    async fn commit(self: Box<Self>) -> Result<(), RepositoryError>;
}

/// Addresses of customers. Every method is scoped to one tenant.
///
/// # Errors
/// As [`RepositoryError`].
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait AddressRepository: Send + Sync {
    /// Starts a transaction for the tenant's rows (on PostgreSQL the transaction names the
    /// tenant, so the row-level security wall lets only its rows through).
    async fn begin(&self, tenant: TenantId)
    -> Result<Box<dyn AddressTransaction>, RepositoryError>;

    /// Every address of the customer, oldest first (by creation time, then id).
    async fn list(
        &self,
        tenant: TenantId,
        customer: CustomerId,
    ) -> Result<Vec<Address>, RepositoryError>;

    /// The default `billing` and `shipping` addresses of these customers (at most 200 ids), in
    /// one query.
    async fn defaults_of(
        &self,
        tenant: TenantId,
        customers: Vec<CustomerId>,
    ) -> Result<Vec<Address>, RepositoryError>;
}
