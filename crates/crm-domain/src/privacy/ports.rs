//! Storage ports of the privacy context: consent records, and the unit of work an erasure
//! (and a consent change) runs in.

use async_trait::async_trait;

use super::model::{Consent, ConsentEvent, ConsentHistoryQuery, ErasedCustomer, ErasureRecord};
use crate::customer::Customer;
use crate::error::RepositoryError;
use crate::ids::{CustomerId, TenantId};
use crate::job::Job;

/// One transaction over a customer and everything stored about it, under the customer's lock
/// (the lock order placement and deletion take: `SELECT … FOR UPDATE` on PostgreSQL, the one
/// writer on SQLite), so an erasure or a consent change serialises with every other write to
/// the customer. Dropping it without [`PrivacyTransaction::commit`] rolls back: an erasure is
/// whole or nothing.
///
/// An erasure calls one method per part of the customer's data. A new kind of data about a
/// customer (addresses, contacts, documents, events, ...) adds its method here, implemented in
/// the same transaction, and one call in `PrivacyService::erase`.
///
/// # Errors
/// As [`RepositoryError`]: [`RepositoryError::Stale`] when a conditional write finds another
/// version, [`RepositoryError::Unavailable`] when the database cannot be reached.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait PrivacyTransaction: Send {
    /// Locks and reads the customer with this id in this tenant, deleted or not.
    async fn lock_customer(
        &mut self,
        tenant: TenantId,
        id: CustomerId,
    ) -> Result<Option<Customer>, RepositoryError>;

    /// The record of the customer's erasure, if it was erased.
    async fn erasure_of(
        &mut self,
        tenant: TenantId,
        id: CustomerId,
    ) -> Result<Option<ErasureRecord>, RepositoryError>;

    /// The customer's current consents (one per purpose that has any).
    async fn current_consents(
        &mut self,
        tenant: TenantId,
        id: CustomerId,
    ) -> Result<Vec<Consent>, RepositoryError>;

    /// Appends `event` to the customer's consent history (`customer_consent_events`) and, when
    /// `current`, makes it its purpose's current state (`customer_consents`).
    async fn append_consent(
        &mut self,
        event: &ConsentEvent,
        current: bool,
    ) -> Result<(), RepositoryError>;

    /// Writes the erased customer: its profile columns, tags and search document (name,
    /// phones and typo terms recomputed from the anonymised profile), `erased_at`, `erased_by`,
    /// `updated_at`, `updated_by`, only if its version is still `expected_version`, which then
    /// goes up by one. Returns the stored customer; [`RepositoryError::Stale`] otherwise.
    async fn anonymise_customer(
        &mut self,
        erased: &ErasedCustomer,
    ) -> Result<Customer, RepositoryError>;

    /// Empties the free-form `metadata` of the customer's orders (amounts, lines, refs,
    /// statuses and dates stay). Returns how many orders changed.
    async fn clear_order_metadata(
        &mut self,
        tenant: TenantId,
        id: CustomerId,
    ) -> Result<u64, RepositoryError>;

    /// Replaces with `text` the reasons people wrote on the customer's points ledger entries
    /// (those without an order: redemptions and adjustments) and tier changes (those with an
    /// actor: assignments by hand). Points, kinds and tiers stay. Returns how many rows changed.
    async fn redact_loyalty_reasons(
        &mut self,
        tenant: TenantId,
        id: CustomerId,
        text: &str,
    ) -> Result<u64, RepositoryError>;

    /// Anonymises the customer's addresses (`customer_addresses`): `line1` becomes `text`;
    /// label, recipient, phone, `line2`, district, postal code, coordinates and delivery notes
    /// are cleared; type, city, region, country and the default flags stay (for the
    /// accounts' statistics). Each changed address's version goes up by one. Returns how
    /// many addresses changed.
    async fn anonymise_addresses(
        &mut self,
        tenant: TenantId,
        id: CustomerId,
        text: &str,
    ) -> Result<u64, RepositoryError>;

    /// Anonymises every contact person of the customer (`crate::contact`): the name becomes
    /// `name`, every other field that identifies or describes the person is cleared (job
    /// title, department, e-mail, phones, roles, preferred channel, language, notes, portal
    /// access); each contact's version moves on. The contacts stay, so the primary stays.
    /// Returns how many.
    async fn anonymise_contacts(
        &mut self,
        tenant: TenantId,
        id: CustomerId,
        name: &str,
    ) -> Result<u64, RepositoryError>;

    /// Deletes the idempotency keys that name the customer (a key's fingerprint is a digest
    /// of the request body that created it). Returns how many.
    async fn forget_idempotency_keys(
        &mut self,
        tenant: TenantId,
        id: CustomerId,
    ) -> Result<u64, RepositoryError>;

    /// The tenant's import jobs whose stored result contains one of `needles` as text (JSON
    /// string escaping applied), at most 1,000, oldest first.
    async fn import_jobs_mentioning(
        &mut self,
        tenant: TenantId,
        needles: Vec<String>,
    ) -> Result<Vec<Job>, RepositoryError>;

    /// Writes a job's result back (the job exists).
    async fn save_job_result(&mut self, job: &Job) -> Result<(), RepositoryError>;

    /// Replaces with `text` the reason of every rejected import row of the tenant whose reason
    /// contains one of `needles`. Returns how many rows changed.
    async fn redact_import_errors(
        &mut self,
        tenant: TenantId,
        needles: Vec<String>,
        text: &str,
    ) -> Result<u64, RepositoryError>;

    /// Stores the erasure's record (one per customer).
    async fn insert_erasure(&mut self, record: &ErasureRecord) -> Result<(), RepositoryError>;

    /// Appends events to the event log in this transaction (they commit with its writes).
    async fn append_events(
        &mut self,
        events: &[crate::event::NewEvent],
    ) -> Result<(), RepositoryError>;

    /// Makes every write durable.
    async fn commit(self: Box<Self>) -> Result<(), RepositoryError>;
}

/// Consent records and the privacy unit of work. Every method is scoped to one tenant.
///
/// # Errors
/// As [`RepositoryError`].
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait PrivacyRepository: Send + Sync {
    /// Starts a transaction.
    async fn begin(&self, tenant: TenantId)
    -> Result<Box<dyn PrivacyTransaction>, RepositoryError>;

    /// The customer's current consents (one per purpose that has any).
    async fn consents(
        &self,
        tenant: TenantId,
        customer: CustomerId,
    ) -> Result<Vec<Consent>, RepositoryError>;

    /// The current consents of these customers (at most 200 ids), with the customer each
    /// belongs to.
    async fn consents_of(
        &self,
        tenant: TenantId,
        customers: Vec<CustomerId>,
    ) -> Result<Vec<(CustomerId, Consent)>, RepositoryError>;

    /// Up to `query.limit` events of the customer's consent history, newest first by `at`
    /// then id, after `query.after`, of `query.purpose` when given.
    async fn consent_history(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        query: ConsentHistoryQuery,
    ) -> Result<Vec<ConsentEvent>, RepositoryError>;
}
