//! The job context's port: storage of jobs.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

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
    /// Inserts a job, or updates its state, result, error, end and lease (owner and end).
    async fn save(&self, job: &Job) -> Result<(), RepositoryError>;

    /// As [`JobRepository::save`], appending `events` to the event log in the same
    /// transaction (`import.started`, `import.completed`, `import.failed`).
    async fn save_with_events(
        &self,
        job: &Job,
        events: &[crate::event::NewEvent],
    ) -> Result<(), RepositoryError>;

    /// A job of the tenant.
    async fn find(&self, tenant: TenantId, id: JobId) -> Result<Option<Job>, RepositoryError>;

    /// Moves the lease end of every `running` job (of every tenant) that `owner` holds to
    /// `until`; returns how many. A job another process holds, or that ended, is left alone.
    async fn renew_leases(&self, owner: &str, until: DateTime<Utc>)
    -> Result<u64, RepositoryError>;

    /// Marks `failed` with `error` and end `now` every `running` job (of every tenant) whose
    /// lease ended before `now`, or that has none (stored before leases existed), keeping its
    /// result (the progress it recorded); returns how many. A job whose lease is live is left
    /// alone, whoever holds it.
    async fn fail_expired(&self, now: DateTime<Utc>, error: &str) -> Result<u64, RepositoryError>;
}
