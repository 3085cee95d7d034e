//! The loyalty context's storage port: tiers. Points and tier changes are written through the
//! order unit of work ([`crate::order::OrderTransaction`]) because they change with orders.

use async_trait::async_trait;

use super::model::Tier;
use crate::error::RepositoryError;
use crate::event::NewEvent;
use crate::ids::{TenantId, TierId};

/// Storage of tiers.
///
/// # Errors
/// Implementations return [`RepositoryError::Conflict`] with field `name` or `level` when the
/// value is taken in the tenant.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait TierRepository: Send + Sync {
    /// The tenant's tiers by level.
    async fn list(&self, tenant: TenantId) -> Result<Vec<Tier>, RepositoryError>;
    /// One tier.
    async fn find(&self, tenant: TenantId, id: TierId) -> Result<Option<Tier>, RepositoryError>;
    /// Stores a new tier and appends `events` (its `tier.created`) in one transaction.
    async fn insert(&self, tier: &Tier, events: &[NewEvent]) -> Result<(), RepositoryError>;
    /// Replaces a tier's fields and appends `events` (its `tier.updated`) in one transaction.
    async fn update(&self, tier: &Tier, events: &[NewEvent]) -> Result<(), RepositoryError>;
    /// Deletes a tier that no customer holds (soft-deleted customers included), appends
    /// `events` (its `tier.deleted`) in the same transaction and returns 0; when customers hold
    /// it, deletes and appends nothing and returns how many do.
    async fn delete_unused(
        &self,
        tenant: TenantId,
        id: TierId,
        events: &[NewEvent],
    ) -> Result<u64, RepositoryError>;
}
