//! The saved-view context's storage port.

use async_trait::async_trait;

use super::model::SavedView;
use crate::error::RepositoryError;
use crate::ids::{TenantId, UserId, ViewId};

/// Storage of saved views.
///
/// # Errors
/// As [`RepositoryError`].
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait ViewRepository: Send + Sync {
    /// Views of the tenant that `user` owns or that are shared, by name.
    async fn visible_to(
        &self,
        tenant: TenantId,
        user: &UserId,
    ) -> Result<Vec<SavedView>, RepositoryError>;
    /// One view of the tenant.
    async fn find(
        &self,
        tenant: TenantId,
        id: ViewId,
    ) -> Result<Option<SavedView>, RepositoryError>;
    /// Stores a new view or replaces one.
    async fn save(&self, view: &SavedView) -> Result<(), RepositoryError>;
    /// Deletes a view.
    async fn delete(&self, tenant: TenantId, id: ViewId) -> Result<(), RepositoryError>;
}
