//! Storage ports of documents: the rows ([`DocumentRepository`], [`DocumentTransaction`]) and
//! the bytes ([`DocumentStore`]).

use std::path::Path;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::model::{Document, DocumentCategory, DocumentId, DocumentPosition, ExpiryPosition};
use crate::access::Visibility;
use crate::customer::Customer;
use crate::error::RepositoryError;
use crate::event::NewEvent;
use crate::ids::{CustomerId, TenantId};

/// Reads a stored object piece by piece, so a download never holds the whole file.
#[async_trait]
pub trait ObjectReader: Send {
    /// The next piece of bytes, `None` at the end.
    ///
    /// # Errors
    /// [`RepositoryError::Unavailable`] when the store fails mid-way.
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, RepositoryError>;
}

/// Where the bytes of documents are kept (a local folder or an S3-compatible bucket), by key.
/// Keys are [`super::object_key`]s.
///
/// # Errors
/// [`RepositoryError::Unavailable`] when the store cannot be reached or refuses.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait DocumentStore: Send + Sync {
    /// Stores the file at `file` under `key` (replacing any object there), streaming it.
    async fn put(&self, key: &str, file: &Path) -> Result<(), RepositoryError>;
    /// The object under `key`, as a stream of pieces; `None` when there is none.
    async fn get(&self, key: &str) -> Result<Option<Box<dyn ObjectReader>>, RepositoryError>;
    /// Deletes the object under `key`; no object is not an error.
    async fn delete(&self, key: &str) -> Result<(), RepositoryError>;
    /// Whether an object is stored under `key`.
    async fn exists(&self, key: &str) -> Result<bool, RepositoryError>;
    /// The keys under `prefix`, at most `max` (in no particular order).
    async fn list(&self, prefix: &str, max: usize) -> Result<Vec<String>, RepositoryError>;
}

/// One transaction over one customer's documents: lock the customer, read, write, append
/// events. Dropping it without [`DocumentTransaction::commit`] rolls back.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait DocumentTransaction: Send {
    /// The customer with this id in this tenant (deleted ones too), locked until the
    /// transaction ends.
    async fn lock_customer(
        &mut self,
        tenant: TenantId,
        id: CustomerId,
    ) -> Result<Option<Customer>, RepositoryError>;
    /// The document with this id in this tenant.
    async fn get(
        &mut self,
        tenant: TenantId,
        id: DocumentId,
    ) -> Result<Option<Document>, RepositoryError>;
    /// Stores a new document row.
    async fn insert(&mut self, document: &Document) -> Result<(), RepositoryError>;
    /// Removes a document row.
    ///
    /// # Errors
    /// [`RepositoryError::Stale`] when the row is gone.
    async fn delete(&mut self, tenant: TenantId, id: DocumentId) -> Result<(), RepositoryError>;
    /// Appends events to the tenant's log, in this transaction.
    async fn append_events(&mut self, events: &[NewEvent]) -> Result<(), RepositoryError>;
    /// Makes every write durable.
    async fn commit(self: Box<Self>) -> Result<(), RepositoryError>;
}

/// Storage of document rows. Every method but [`DocumentRepository::object_keys`] is scoped
/// to one tenant.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait DocumentRepository: Send + Sync {
    /// The document with this id in this tenant (whatever its customer's state).
    async fn get(
        &self,
        tenant: TenantId,
        id: DocumentId,
    ) -> Result<Option<Document>, RepositoryError>;

    /// A customer's documents, newest first (by `created_at`, then id), after `after`, at most
    /// `limit`. The caller has checked that the customer is live and visible.
    async fn list(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        after: Option<DocumentPosition>,
        limit: u64,
    ) -> Result<Vec<Document>, RepositoryError>;

    /// The tenant's documents that expire (`expires_at` set), before `before` when given, of
    /// `category` when given, soonest first (by `expires_at`, then id), after `after`, at most
    /// `limit`; only documents of live customers inside `visibility`.
    #[allow(clippy::too_many_arguments)]
    async fn expiring(
        &self,
        tenant: TenantId,
        visibility: Visibility,
        before: Option<DateTime<Utc>>,
        category: Option<DocumentCategory>,
        after: Option<ExpiryPosition>,
        limit: u64,
    ) -> Result<Vec<Document>, RepositoryError>;

    /// Every tenant's document rows as `(tenant, id, object key)`, by key, after `after`, at
    /// most `limit`: for the orphan check only (a cross-tenant read, never a request's).
    async fn object_keys(
        &self,
        after: Option<String>,
        limit: u64,
    ) -> Result<Vec<(TenantId, DocumentId, String)>, RepositoryError>;

    /// Starts a write transaction for the tenant's rows.
    async fn begin(
        &self,
        tenant: TenantId,
    ) -> Result<Box<dyn DocumentTransaction>, RepositoryError>;
}
