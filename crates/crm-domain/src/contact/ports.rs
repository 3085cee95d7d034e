//! Storage port of contacts, and the patch a `PATCH` applies.

use async_trait::async_trait;

use super::input::ContactInput;
use super::model::Contact;
use crate::customer::Customer;
use crate::error::{DomainError, RepositoryError};
use crate::ids::{ContactId, CustomerId, TenantId};

/// A partial change of a contact (a JSON merge patch in the HTTP adapter): turns the stored
/// contact into the input that replaces it.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait ContactPatch: Send + Sync {
    /// The input that results from applying the patch to `current`.
    ///
    /// # Errors
    /// [`DomainError::Validation`] when the patch is malformed (a member of the wrong type).
    fn apply(&self, current: &Contact) -> Result<ContactInput, DomainError>;
}

/// One transaction over one customer's contacts: lock the customer, read its contacts, write
/// them. Dropping it without [`ContactTransaction::commit`] rolls back.
///
/// # Errors
/// As [`RepositoryError`]: a unique violation is [`RepositoryError::Conflict`] on
/// `contacts.email` (another contact of the customer has the e-mail) or `contacts.is_primary`
/// (the customer already has a primary contact).
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait ContactTransaction: Send {
    /// The customer with this id in this tenant (deleted ones too), locked until the
    /// transaction ends, so that writes to one customer's contacts serialise.
    async fn lock_customer(
        &mut self,
        tenant: TenantId,
        id: CustomerId,
    ) -> Result<Option<Customer>, RepositoryError>;
    /// Every contact of the customer, oldest first (by creation time, then id).
    async fn contacts(
        &mut self,
        tenant: TenantId,
        customer: CustomerId,
    ) -> Result<Vec<Contact>, RepositoryError>;
    /// Stores a new contact.
    async fn insert(&mut self, contact: &Contact) -> Result<(), RepositoryError>;
    /// Writes every field of a stored contact (found by tenant, customer and id) if its stored
    /// version is `contact.version - 1`.
    ///
    /// # Errors
    /// [`RepositoryError::Stale`] when the version moved on or the row is gone.
    async fn update(&mut self, contact: &Contact) -> Result<(), RepositoryError>;
    /// Removes a contact.
    async fn delete(
        &mut self,
        tenant: TenantId,
        customer: CustomerId,
        id: ContactId,
    ) -> Result<(), RepositoryError>;
    /// Appends events to the event log in this transaction (they commit with its writes).
    async fn append_events(
        &mut self,
        events: &[crate::event::NewEvent],
    ) -> Result<(), RepositoryError>;

    /// Makes every write durable.
    async fn commit(self: Box<Self>) -> Result<(), RepositoryError>;
}

/// Storage of contacts. Every method is scoped to one tenant.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait ContactRepository: Send + Sync {
    /// Every contact of the customer, oldest first (by creation time, then id). The caller has
    /// checked that the customer is live and visible.
    async fn list(
        &self,
        tenant: TenantId,
        customer: CustomerId,
    ) -> Result<Vec<Contact>, RepositoryError>;

    /// The primary contacts of these customers (at most one each), in one query.
    async fn primaries(
        &self,
        tenant: TenantId,
        customers: Vec<CustomerId>,
    ) -> Result<Vec<Contact>, RepositoryError>;

    /// Starts a write transaction for the tenant's rows (on PostgreSQL the transaction names
    /// the tenant, so the row-level security wall lets only its rows through).
    async fn begin(&self, tenant: TenantId)
    -> Result<Box<dyn ContactTransaction>, RepositoryError>;
}
