//! The tenant context's storage port.

use async_trait::async_trait;

use super::model::Tenant;
use crate::access::{Actor, Visibility};
use crate::error::{DomainError, RepositoryError};
use crate::ids::TenantId;
use crate::loyalty::Tier;

/// Storage of tenants.
///
/// # Errors
/// Implementations return [`RepositoryError::Unavailable`] when the database cannot be reached.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait TenantRepository: Send + Sync {
    /// Stores a new tenant and its initial tiers in one transaction.
    async fn insert(&self, tenant: &Tenant, tiers: &[Tier]) -> Result<(), RepositoryError>;
    /// The tenant with this id.
    async fn find(&self, id: TenantId) -> Result<Option<Tenant>, RepositoryError>;
    /// Replaces the tenant's settings object and appends `events` (its
    /// `tenant.settings_updated`) in the same transaction.
    async fn save_settings(
        &self,
        id: TenantId,
        settings: &serde_json::Map<String, serde_json::Value>,
        events: &[crate::event::NewEvent],
    ) -> Result<(), RepositoryError>;
}

/// The tenant with this id, from any [`TenantRepository`].
///
/// # Errors
/// [`DomainError::NotFound`] when there is none; storage errors.
pub async fn load(repo: &dyn TenantRepository, id: TenantId) -> Result<Tenant, DomainError> {
    repo.find(id)
        .await?
        .ok_or(DomainError::NotFound { entity: "tenant" })
}

/// Which customers `actor` reaches in their tenant: [`Visibility::of`] the actor and the
/// tenant's `sales_scope` ([`Tenant::sales_scope`]). The tenant is read only when the setting
/// can restrict the actor ([`Visibility::may_restrict`]: their strongest role is `sales`), so
/// admins, managers and viewers cost no query.
///
/// # Errors
/// [`DomainError::NotFound`] when the tenant does not exist; [`DomainError::Internal`] for a
/// stored `sales_scope` that does not parse; storage errors.
pub async fn visibility(
    repo: &dyn TenantRepository,
    actor: &Actor,
) -> Result<Visibility, DomainError> {
    if !Visibility::may_restrict(actor) {
        return Ok(Visibility::All);
    }
    load(repo, actor.tenant_id).await?.visibility_of(actor)
}
