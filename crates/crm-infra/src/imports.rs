//! [`ImportRepository`] on SeaORM (progress on `jobs`, rejected rows in `import_errors`;
//! [`write_checkpoint`] also records the checkpoints of the batches' own transactions), the
//! [`RowSource`] over [`crate::import_file::SheetReader`], and [`ImportFiles`] over files on
//! disk.

use std::path::Path;

use async_trait::async_trait;
use crm_domain::ids::JobId;
use crm_domain::import::RowError;
use crm_domain::import::{
    FileError, ImportCheckpoint, ImportFiles, ImportRepository, RowResult, RowSource,
};
use crm_domain::job::JobState;
use crm_domain::{RepositoryError, TenantId};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::db::Database;
use crate::error::map_db_err;
use crate::import_file::{FileKind, ImportFileError, SheetReader, XlsxLimits};
use crate::orders::raw;

/// Rejected import rows in `import_errors`.
#[derive(Debug, Clone)]
pub struct SeaImportRepository {
    db: Database,
}

impl SeaImportRepository {
    /// Wraps a database.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

/// Writes an import's checkpoint through `conn` (a transaction: the batch's own, or one of
/// its own): the job's progress, only while the job is `running`, then the rejected rows,
/// numbered on from the job's last one.
///
/// # Errors
/// [`RepositoryError::Stale`] when the job is absent or no longer `running`.
pub(crate) async fn write_checkpoint(
    conn: &impl ConnectionTrait,
    checkpoint: &ImportCheckpoint,
) -> Result<(), RepositoryError> {
    use crate::entity::job::{Column as C, Entity as Jobs};
    let job = &checkpoint.job;
    let (tenant, id) = (job.tenant_id, job.id);
    let updated = Jobs::update_many()
        .col_expr(C::Result, Expr::value(job.result_json()))
        .filter(C::TenantId.eq(tenant.0))
        .filter(C::Id.eq(id.0))
        .filter(C::State.eq(JobState::Running.as_str()))
        .exec(conn)
        .await
        .map_err(map_db_err)?;
    if updated.rows_affected == 0 {
        return Err(RepositoryError::Stale);
    }
    if checkpoint.errors.is_empty() {
        return Ok(());
    }
    let backend = conn.get_database_backend();
    let row = conn
        .query_one_raw(raw(
            backend,
            "SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) FROM import_errors \
             WHERE tenant_id = $1 AND job_id = $2",
            vec![tenant.0.into(), id.0.into()],
        ))
        .await
        .map_err(map_db_err)?;
    let mut seq: i64 = match row {
        Some(r) => r.try_get_by_index(0).map_err(map_db_err)?,
        None => 0,
    };
    for e in &checkpoint.errors {
        seq += 1;
        conn.execute_raw(raw(
            backend,
            "INSERT INTO import_errors (tenant_id, job_id, seq, line, field, reason) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            vec![
                tenant.0.into(),
                id.0.into(),
                seq.into(),
                i64::try_from(e.line).unwrap_or(i64::MAX).into(),
                e.field.clone().into(),
                e.reason.clone().into(),
            ],
        ))
        .await
        .map_err(map_db_err)?;
    }
    Ok(())
}

#[async_trait]
impl ImportRepository for SeaImportRepository {
    async fn save_checkpoint(&self, checkpoint: &ImportCheckpoint) -> Result<(), RepositoryError> {
        let txn = self.db.tenant_tx(checkpoint.job.tenant_id).await?;
        write_checkpoint(&txn, checkpoint).await?;
        txn.commit().await.map_err(map_db_err)
    }

    async fn errors(&self, tenant: TenantId, job: JobId) -> Result<Vec<RowError>, RepositoryError> {
        let conn = self.db.tenant_read(tenant).await?;
        let rows = conn
            .query_all_raw(raw(
                self.db.backend(),
                "SELECT line, field, reason FROM import_errors WHERE tenant_id = $1 AND job_id = $2 \
                 ORDER BY line, seq",
                vec![tenant.0.into(), job.0.into()],
            ))
            .await
            .map_err(map_db_err)?;
        conn.end().await?;
        rows.into_iter()
            .map(|r| {
                let line: i64 = r.try_get_by_index(0).map_err(map_db_err)?;
                Ok(RowError {
                    line: u64::try_from(line).unwrap_or(0),
                    field: r.try_get_by_index(1).map_err(map_db_err)?,
                    reason: r.try_get_by_index(2).map_err(map_db_err)?,
                })
            })
            .collect()
    }
}

/// A [`RowSource`] over a CSV or XLSX file on disk.
pub struct FileRows {
    /// `None` only while a batch is being read off the async threads (or after that read
    /// failed).
    reader: Option<SheetReader>,
    headers: Vec<String>,
}

impl FileRows {
    /// Opens `path` (kind sniffed from its name and first bytes) and reads its header. Blocks:
    /// call it off the async threads.
    ///
    /// # Errors
    /// The file cannot be read, is empty, is not CSV/XLSX, or breaks a limit of `limits`.
    pub fn open(
        path: &Path,
        delimiter: Option<u8>,
        latin1: bool,
        limits: XlsxLimits,
    ) -> Result<Self, ImportFileError> {
        let kind: FileKind = crate::import_file::sniff(path);
        let reader = SheetReader::open(path, kind, delimiter, latin1, limits)?;
        Ok(Self {
            headers: reader.headers().to_vec(),
            reader: Some(reader),
        })
    }
}

#[async_trait]
impl RowSource for FileRows {
    fn headers(&self) -> Vec<String> {
        self.headers.clone()
    }

    fn next_row(&mut self) -> Option<RowResult> {
        self.reader
            .as_mut()?
            .next_row()
            .map(|r| r.map_err(|e| e.to_string()))
    }

    /// Reads the rows on tokio's blocking threads, never on the async workers.
    async fn next_rows(&mut self, max: usize) -> Vec<RowResult> {
        let Some(mut reader) = self.reader.take() else {
            return Vec::new();
        };
        let read = tokio::task::spawn_blocking(move || {
            let rows = crm_domain::import::take_rows(
                || reader.next_row().map(|r| r.map_err(|e| e.to_string())),
                max,
            );
            (reader, rows)
        })
        .await;
        match read {
            Ok((reader, rows)) => {
                self.reader = Some(reader);
                rows
            }
            Err(e) => vec![Err(format!("the file could not be read: {e}"))],
        }
    }
}

/// The domain's view of a file error: a broken limit keeps its setting and value.
fn file_error(e: ImportFileError) -> FileError {
    match e {
        ImportFileError::Limit {
            setting,
            limit,
            detail,
        } => FileError::BeyondLimit {
            setting: setting.to_owned(),
            limit,
            detail,
        },
        other => FileError::Unreadable(other.to_string()),
    }
}

/// [`ImportFiles`] over files on disk, read with [`FileRows`] on tokio's blocking threads.
#[derive(Debug, Clone, Copy, Default)]
pub struct DiskImportFiles {
    limits: XlsxLimits,
}

impl DiskImportFiles {
    /// Files read within `limits`.
    pub fn new(limits: XlsxLimits) -> Self {
        Self { limits }
    }
}

/// Runs `f` on tokio's blocking threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, FileError> + Send + 'static,
) -> Result<T, FileError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| FileError::Unreadable(format!("the file could not be read: {e}")))?
}

#[async_trait]
impl ImportFiles for DiskImportFiles {
    async fn count_rows(
        &self,
        path: &Path,
        delimiter: Option<u8>,
        latin1: bool,
        limit: u64,
    ) -> Result<u64, FileError> {
        let (path, limits) = (path.to_owned(), self.limits);
        blocking(move || {
            let mut rows = FileRows::open(&path, delimiter, latin1, limits).map_err(file_error)?;
            let reader = rows
                .reader
                .as_mut()
                .ok_or_else(|| FileError::from("closed"))?;
            let mut n = 0u64;
            while n <= limit {
                match reader.next_row() {
                    None => break,
                    // A broken limit or an unreadable workbook refuses the file; a bad CSV
                    // record is a row error of the import.
                    Some(Err(e @ (ImportFileError::Limit { .. } | ImportFileError::Xlsx(_)))) => {
                        return Err(file_error(e));
                    }
                    Some(_) => n += 1,
                }
            }
            Ok(n)
        })
        .await
    }

    async fn open(
        &self,
        path: &Path,
        delimiter: Option<u8>,
        latin1: bool,
    ) -> Result<Box<dyn RowSource>, FileError> {
        let (path, limits) = (path.to_owned(), self.limits);
        blocking(move || {
            FileRows::open(&path, delimiter, latin1, limits)
                .map(|f| Box::new(f) as Box<dyn RowSource>)
                .map_err(file_error)
        })
        .await
    }
}
