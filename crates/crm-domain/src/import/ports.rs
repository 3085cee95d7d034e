//! The import context's ports: the rows of a file, opening a stored file, and the storage of
//! rejected rows.

use std::path::Path;

use async_trait::async_trait;

use super::model::ImportCheckpoint;
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

/// Opens stored import files (CSV or XLSX) as rows.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait ImportFiles: Send + Sync {
    /// Counts the data rows of the file at `path`, stopping once it has seen more than `limit`
    /// (so the answer is at most `limit + 1`). Reads the file off the async threads.
    ///
    /// # Errors
    /// Why the file cannot be read (not CSV or XLSX, empty, no such file).
    async fn count_rows(
        &self,
        path: &Path,
        delimiter: Option<u8>,
        latin1: bool,
        limit: u64,
    ) -> Result<u64, String>;

    /// Opens the file at `path` as rows, from its first data row.
    ///
    /// # Errors
    /// As [`ImportFiles::count_rows`].
    fn open(
        &self,
        path: &Path,
        delimiter: Option<u8>,
        latin1: bool,
    ) -> Result<Box<dyn RowSource>, String>;
}

/// Storage of the progress and rejected rows of imports.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait ImportRepository: Send + Sync {
    /// Records a checkpoint of a batch that wrote nothing (a dry run's, or one whose rows all
    /// failed or were skipped) in one transaction: the job's progress and the rejected rows.
    /// (A batch that writes records its checkpoint in its own transaction instead:
    /// [`CustomerBatch::record_checkpoint`](crate::customer::CustomerBatch::record_checkpoint),
    /// [`BulkOrderTransaction::record_checkpoint`](crate::order::BulkOrderTransaction::record_checkpoint).)
    ///
    /// # Errors
    /// [`RepositoryError::Stale`] when the job is no longer `running`.
    async fn save_checkpoint(&self, checkpoint: &ImportCheckpoint) -> Result<(), RepositoryError>;
    /// The rejected rows of a job, by line.
    async fn errors(&self, tenant: TenantId, job: JobId) -> Result<Vec<RowError>, RepositoryError>;
}
