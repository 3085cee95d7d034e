//! The import context's ports: the rows of a file, and the storage of rejected rows.

use async_trait::async_trait;

use super::rows::RowError;
use crate::error::RepositoryError;
use crate::ids::{JobId, TenantId};

/// The rows of an import file: a header and numbered rows of text cells.
pub trait RowSource: Send {
    /// The header row.
    fn headers(&self) -> Vec<String>;
    /// The next row as `(line, cells)`; an unreadable record is an `Err` with its reason.
    fn next_row(&mut self) -> Option<Result<(u64, Vec<String>), String>>;
}

/// Storage of the rejected rows of imports.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait ImportRepository: Send + Sync {
    /// Appends rejected rows of a job.
    async fn save_errors(
        &self,
        tenant: TenantId,
        job: JobId,
        errors: Vec<RowError>,
    ) -> Result<(), RepositoryError>;
    /// The rejected rows of a job, by line.
    async fn errors(&self, tenant: TenantId, job: JobId) -> Result<Vec<RowError>, RepositoryError>;
}
