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
    /// Up to `max` next rows, as [`take_rows`] takes them (fewer at the end of the file or once
    /// they hold [`BATCH_TEXT_BYTES`]; none only after the end). The default calls
    /// [`RowSource::next_row`] in place; a source that reads a file overrides it to read off
    /// the async threads, which is how the import service reads.
    async fn next_rows(&mut self, max: usize) -> Vec<RowResult> {
        take_rows(|| self.next_row(), max)
    }
}

/// Most cell text (bytes of UTF-8) that one read of rows, and one import batch, holds: 16 MiB.
/// Rows are bounded one by one (a cell or row of an XLSX sheet by its reader's element cap),
/// but a workbook can repeat one long shared string in every row; without this bound a batch
/// of [`super::IMPORT_BATCH`] such rows would hold a gigabyte. A batch ends early instead, and
/// the next one goes on.
pub const BATCH_TEXT_BYTES: usize = 16 * 1024 * 1024;

/// The cell text of a row, in bytes (0 for an unreadable record).
pub fn row_text_bytes(row: &RowResult) -> usize {
    row.as_ref().map_or(0, |(_, cells)| {
        cells.iter().fold(0usize, |n, c| n.saturating_add(c.len()))
    })
}

/// Takes rows from `next` until there are `max`, `next` is exhausted, or the rows taken hold
/// at least [`BATCH_TEXT_BYTES`] of text (so at most that plus one row).
pub fn take_rows(mut next: impl FnMut() -> Option<RowResult>, max: usize) -> Vec<RowResult> {
    let mut rows = Vec::new();
    let mut bytes = 0usize;
    while rows.len() < max && bytes < BATCH_TEXT_BYTES {
        let Some(row) = next() else { break };
        bytes = bytes.saturating_add(row_text_bytes(&row));
        rows.push(row);
    }
    rows
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(n: usize, cell_bytes: usize) -> impl FnMut() -> Option<RowResult> {
        let mut i = 0u64;
        move || {
            if i as usize == n {
                return None;
            }
            i += 1;
            Some(Ok((i + 1, vec!["x".repeat(cell_bytes)])))
        }
    }

    #[test]
    fn rows_are_taken_up_to_the_count_or_the_end() {
        assert_eq!(take_rows(rows(5_000, 10), 1_000).len(), 1_000);
        assert_eq!(take_rows(rows(7, 10), 1_000).len(), 7);
        assert_eq!(take_rows(rows(0, 10), 1_000).len(), 0);
    }

    /// Rows that repeat a 1 MiB text (a shared string of a workbook) stop a read at 16 MiB,
    /// not at 1,000 rows (1 GiB).
    #[test]
    fn a_read_holds_at_most_the_batch_text_and_one_row() {
        let mib = 1024 * 1024;
        let taken = take_rows(rows(1_000, mib), 1_000);
        assert_eq!(taken.len(), BATCH_TEXT_BYTES / mib);
        let held: usize = taken.iter().map(row_text_bytes).sum();
        assert!(held < BATCH_TEXT_BYTES + mib, "{held}");
        // An unreadable record holds no text and does not end the read.
        let mut errors =
            std::iter::repeat_with(|| Some(Err::<(u64, Vec<String>), _>("bad".into())));
        assert_eq!(take_rows(|| errors.next().flatten(), 50).len(), 50);
    }
}
