//! The import context's ports: the rows of a file, opening a stored file, and the storage of
//! rejected rows.

use std::path::Path;

use async_trait::async_trait;

use super::model::ImportCheckpoint;
use super::rows::RowError;
use crate::error::RepositoryError;
use crate::ids::{JobId, TenantId};

/// One row of an import file as `(line, cells)`, or why a record could not be read.
pub type RowResult = Result<(u64, Vec<String>), String>;

/// The rows of an import file: a header and numbered rows of text cells.
#[async_trait]
pub trait RowSource: Send {
    /// The header row.
    fn headers(&self) -> Vec<String>;
    /// The next row as `(line, cells)`; an unreadable record is an `Err` with its reason.
    fn next_row(&mut self) -> Option<RowResult>;
    /// Up to `max` next rows (fewer only at the end of the file; none after it). The default
    /// calls [`RowSource::next_row`] in place; a source that reads a file overrides it to read
    /// off the async threads, which is how the import service reads.
    async fn next_rows(&mut self, max: usize) -> Vec<RowResult> {
        std::iter::from_fn(|| self.next_row()).take(max).collect()
    }
}

/// Why an import file cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    /// The file is not a readable CSV or XLSX file (empty, legacy `.xls`, broken workbook,
    /// ...); the reason, for the client.
    #[error("{0}")]
    Unreadable(String),
    /// The file breaks one of the reader's limits (columns of a sheet, unzipped size of a
    /// workbook, shared strings, size of one XML element).
    #[error("{detail}")]
    BeyondLimit {
        /// The setting that holds the limit (`CRM_MAX_IMPORT_COLUMNS`, ...).
        setting: String,
        /// The limit's value (columns or bytes, as the setting says).
        limit: u64,
        /// What broke it, for the client.
        detail: String,
    },
}

impl From<String> for FileError {
    fn from(reason: String) -> Self {
        Self::Unreadable(reason)
    }
}

impl From<&str> for FileError {
    fn from(reason: &str) -> Self {
        Self::Unreadable(reason.to_owned())
    }
}

/// Opens stored import files (CSV or XLSX) as rows.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait ImportFiles: Send + Sync {
    /// Counts the data rows of the file at `path`, stopping once it has seen more than `limit`
    /// (so the answer is at most `limit + 1`). Reads the file off the async threads.
    ///
    /// # Errors
    /// Why the file cannot be read (not CSV or XLSX, empty, no such file), or the reader's
    /// limit it breaks ([`FileError::BeyondLimit`]).
    async fn count_rows(
        &self,
        path: &Path,
        delimiter: Option<u8>,
        latin1: bool,
        limit: u64,
    ) -> Result<u64, FileError>;

    /// Opens the file at `path` as rows, from its first data row (its header read), off the
    /// async threads.
    ///
    /// # Errors
    /// As [`ImportFiles::count_rows`].
    async fn open(
        &self,
        path: &Path,
        delimiter: Option<u8>,
        latin1: bool,
    ) -> Result<Box<dyn RowSource>, FileError>;
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
