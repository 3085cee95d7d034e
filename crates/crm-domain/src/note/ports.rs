//! Storage ports of the note context, and the patch a `PATCH` applies.

use async_trait::async_trait;

use super::model::{Note, NoteFilter, NoteId, NoteInput, NotePosition};
use crate::access::Visibility;
use crate::customer::Customer;
use crate::error::{DomainError, RepositoryError};
use crate::event::NewEvent;
use crate::ids::{CustomerId, TenantId};

/// A partial change of a note (a JSON merge patch in the HTTP adapter): turns the stored note
/// into the input that replaces its fields.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait NotePatch: Send + Sync {
    /// The input that results from applying the patch to `current`.
    ///
    /// # Errors
    /// [`DomainError::Validation`] when the patch is malformed (a member of the wrong type).
    fn apply(&self, current: &Note) -> Result<NoteInput, DomainError>;
}

/// One transaction over one customer's notes, under the customer's lock (`SELECT … FOR
/// UPDATE` on PostgreSQL, the one writer on SQLite), so writes to one customer's notes
/// serialise. Dropping it without [`NoteTransaction::commit`] rolls back.
///
/// # Errors
/// As [`RepositoryError`].
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait NoteTransaction: Send {
    /// Locks and reads the customer with this id in this tenant, deleted or not.
    async fn lock_customer(
        &mut self,
        tenant: TenantId,
        id: CustomerId,
    ) -> Result<Option<Customer>, RepositoryError>;

    /// Locks the customer of note `id` and reads the note under that lock, with its customer
    /// (deleted or not); `None` when the tenant has no such note.
    async fn lock_note(
        &mut self,
        tenant: TenantId,
        id: NoteId,
    ) -> Result<Option<(Note, Customer)>, RepositoryError>;

    /// Stores a new note.
    async fn insert(&mut self, note: &Note) -> Result<(), RepositoryError>;

    /// Writes `note`'s fields, `resolved_at`, `edited_at`, `updated_by`, `updated_at` and
    /// `version` over the stored row if its version is still `note.version - 1`.
    ///
    /// # Errors
    /// [`RepositoryError::Stale`] when the version moved on or the row is gone.
    async fn update(&mut self, note: &Note) -> Result<(), RepositoryError>;

    /// Deletes the note for good (its events stay in the log).
    ///
    /// # Errors
    /// [`RepositoryError::Stale`] when the row is gone.
    async fn delete(&mut self, tenant: TenantId, id: NoteId) -> Result<(), RepositoryError>;

    /// Appends events to the tenant's log in this transaction.
    async fn append_events(&mut self, events: &[NewEvent]) -> Result<(), RepositoryError>;

    /// Makes every write durable.
    async fn commit(self: Box<Self>) -> Result<(), RepositoryError>;
}

/// Notes of customers. Every method is scoped to one tenant.
///
/// # Errors
/// As [`RepositoryError`].
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait NoteRepository: Send + Sync {
    /// Starts a write transaction for the tenant's rows (on PostgreSQL the transaction names
    /// the tenant, so the row-level security wall lets only its rows through).
    async fn begin(&self, tenant: TenantId) -> Result<Box<dyn NoteTransaction>, RepositoryError>;

    /// The note with this id in this tenant, whatever its customer's state (the caller checks
    /// the customer).
    async fn get(&self, tenant: TenantId, id: NoteId) -> Result<Option<Note>, RepositoryError>;

    /// Up to `limit` notes of the customer, pinned first, then newest (`created_at`, then id,
    /// descending), after `after`. The caller has checked that the customer is live and
    /// visible.
    async fn list_for_customer(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        after: Option<NotePosition>,
        limit: u32,
    ) -> Result<Vec<Note>, RepositoryError>;

    /// Up to `filter.limit` notes matching `filter`, newest first (`created_at`, then id,
    /// descending), of live (not soft-deleted) customers inside `visibility` only.
    async fn list(
        &self,
        tenant: TenantId,
        visibility: &Visibility,
        filter: &NoteFilter,
    ) -> Result<Vec<Note>, RepositoryError>;
}
