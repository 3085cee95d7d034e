//! The job context's port: storage of jobs.

use async_trait::async_trait;

use super::model::Job;
use crate::error::RepositoryError;
use crate::ids::{JobId, TenantId};

/// Storage of background jobs. `save` and `find` are scoped to one tenant (the job's).
///
/// # Errors
/// [`RepositoryError::Unavailable`] when the database cannot be reached.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait JobRepository: Send + Sync {
    /// Inserts a job, or updates its state, result, error and end.
    async fn save(&self, job: &Job) -> Result<(), RepositoryError>;

    /// A job of the tenant.
    async fn find(&self, tenant: TenantId, id: JobId) -> Result<Option<Job>, RepositoryError>;

    /// Marks every `running` job of every tenant `failed` with `error`, keeping its result (the
    /// progress it recorded); returns how many. Called at start-up, when no job can be running.
    async fn fail_interrupted(&self, error: &str) -> Result<u64, RepositoryError>;
}
