//! Storage ports of interactions and follow-ups, and the patches a `PATCH` applies.

use async_trait::async_trait;

use super::input::{FollowUpInput, InteractionInput};
use super::model::{DerivedDates, FollowUp, FollowUpQuery, Interaction, InteractionQuery};
use crate::access::Visibility;
use crate::customer::Customer;
use crate::error::{DomainError, RepositoryError};
use crate::event::NewEvent;
use crate::ids::{ContactId, CustomerId, FollowUpId, InteractionId, TenantId};

/// A partial change of an interaction (a JSON merge patch in the HTTP adapter).
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait InteractionPatch: Send + Sync {
    /// The input that results from applying the patch to `current`.
    ///
    /// # Errors
    /// [`DomainError::Validation`] when the patch is malformed (a member of the wrong type).
    fn apply(&self, current: &Interaction) -> Result<InteractionInput, DomainError>;
}

/// A partial change of a follow-up (a JSON merge patch in the HTTP adapter).
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait FollowUpPatch: Send + Sync {
    /// The input that results from applying the patch to `current`.
    ///
    /// # Errors
    /// [`DomainError::Validation`] when the patch is malformed (a member of the wrong type).
    fn apply(&self, current: &FollowUp) -> Result<FollowUpInput, DomainError>;
}

/// One transaction over one customer's interactions and follow-ups: lock the customer, read
/// and write its history, recompute its derived dates, append the events. Dropping it without
/// [`InteractionTransaction::commit`] rolls back.
///
/// # Errors
/// As [`RepositoryError`].
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait InteractionTransaction: Send {
    /// The customer with this id in this tenant (deleted ones too), locked until the
    /// transaction ends, so that writes to one customer's history serialise.
    async fn lock_customer(
        &mut self,
        tenant: TenantId,
        id: CustomerId,
    ) -> Result<Option<Customer>, RepositoryError>;
    /// Whether `contact` is a contact of `customer`.
    async fn is_contact_of(
        &mut self,
        tenant: TenantId,
        customer: CustomerId,
        contact: ContactId,
    ) -> Result<bool, RepositoryError>;
    /// The interaction with this id.
    async fn interaction(
        &mut self,
        tenant: TenantId,
        id: InteractionId,
    ) -> Result<Option<Interaction>, RepositoryError>;
    /// Stores a new interaction.
    async fn insert_interaction(
        &mut self,
        interaction: &Interaction,
    ) -> Result<(), RepositoryError>;
    /// Writes every field of a stored interaction if its stored version is
    /// `interaction.version - 1`.
    ///
    /// # Errors
    /// [`RepositoryError::Stale`] when the version moved on or the row is gone.
    async fn update_interaction(
        &mut self,
        interaction: &Interaction,
    ) -> Result<(), RepositoryError>;
    /// Removes an interaction; the follow-ups it created keep existing with no
    /// `interaction_id`.
    async fn delete_interaction(
        &mut self,
        tenant: TenantId,
        id: InteractionId,
    ) -> Result<(), RepositoryError>;
    /// The follow-up with this id.
    async fn follow_up(
        &mut self,
        tenant: TenantId,
        id: FollowUpId,
    ) -> Result<Option<FollowUp>, RepositoryError>;
    /// Stores a new follow-up.
    async fn insert_follow_up(&mut self, follow_up: &FollowUp) -> Result<(), RepositoryError>;
    /// Writes every field of a stored follow-up if its stored version is
    /// `follow_up.version - 1`.
    ///
    /// # Errors
    /// [`RepositoryError::Stale`] when the version moved on or the row is gone.
    async fn update_follow_up(&mut self, follow_up: &FollowUp) -> Result<(), RepositoryError>;
    /// Removes a follow-up.
    async fn delete_follow_up(
        &mut self,
        tenant: TenantId,
        id: FollowUpId,
    ) -> Result<(), RepositoryError>;
    /// The customer's dates as its stored history gives them now, in this transaction: SQL
    /// `MAX(occurred_at)` of its interactions and `MIN(due_at)` of its open follow-ups.
    async fn derived_dates(
        &mut self,
        tenant: TenantId,
        customer: CustomerId,
    ) -> Result<DerivedDates, RepositoryError>;
    /// Writes the customer's `last_contact_at` and `next_follow_up_at` and adds 1 to its
    /// `version` (its `updated_at` and `updated_by` stay).
    async fn set_derived_dates(
        &mut self,
        tenant: TenantId,
        customer: CustomerId,
        dates: DerivedDates,
    ) -> Result<(), RepositoryError>;
    /// Appends events to the tenant's log in this transaction.
    async fn append_events(&mut self, events: &[NewEvent]) -> Result<(), RepositoryError>;
    /// Makes every write durable.
    async fn commit(self: Box<Self>) -> Result<(), RepositoryError>;
}

/// Storage of interactions and follow-ups. Every method is scoped to one tenant.
///
/// # Errors
/// As [`RepositoryError`].
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait InteractionRepository: Send + Sync {
    /// The interaction with this id (whatever its customer's state).
    async fn find_interaction(
        &self,
        tenant: TenantId,
        id: InteractionId,
    ) -> Result<Option<Interaction>, RepositoryError>;
    /// Up to `q.limit` interactions matching `q`, newest first (`occurred_at`, then id,
    /// descending), of live customers inside `visibility` only.
    async fn list_interactions(
        &self,
        tenant: TenantId,
        visibility: &Visibility,
        q: &InteractionQuery,
    ) -> Result<Vec<Interaction>, RepositoryError>;
    /// The follow-up with this id (whatever its customer's state).
    async fn find_follow_up(
        &self,
        tenant: TenantId,
        id: FollowUpId,
    ) -> Result<Option<FollowUp>, RepositoryError>;
    /// Up to `q.limit` follow-ups matching `q`, by `due_at` then id (ascending), of live
    /// customers inside `visibility` only.
    async fn list_follow_ups(
        &self,
        tenant: TenantId,
        visibility: &Visibility,
        q: &FollowUpQuery,
    ) -> Result<Vec<FollowUp>, RepositoryError>;
    /// Starts a write transaction for the tenant's rows (on PostgreSQL the transaction names
    /// the tenant, so the row-level security wall lets only its rows through).
    async fn begin(
        &self,
        tenant: TenantId,
    ) -> Result<Box<dyn InteractionTransaction>, RepositoryError>;
}
