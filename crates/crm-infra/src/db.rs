//! Database connections: one code path for PostgreSQL and SQLite, chosen by the URL scheme.

use std::time::Duration;

use crm_domain::RepositoryError;
use crm_migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr};

/// How to connect.
#[derive(Debug, Clone)]
pub struct DbConfig {
    /// `postgres://user@host:port/db` or `sqlite://path/to/file.db` (created when missing).
    pub url: String,
    /// Largest pool (PostgreSQL; SQLite readers). Default 10.
    pub max_connections: u32,
    /// How long to wait for a connection or a SQLite lock before failing. Default 5 s.
    pub acquire_timeout: Duration,
}

impl DbConfig {
    /// Defaults for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// The connections the repositories use.
///
/// On SQLite, writes go through one writer connection (so concurrent requests queue instead
/// of failing with "database is locked") and reads through a pool of read-only connections;
/// the file runs in WAL mode with a busy timeout and foreign keys on. On PostgreSQL both are
/// the same pool.
#[derive(Debug, Clone)]
pub struct Database {
    /// Connection for writes and transactions.
    pub write: DatabaseConnection,
    /// Connections for reads outside transactions.
    pub read: DatabaseConnection,
}

impl Database {
    /// Connects; does not migrate (see [`Database::migrate`]).
    ///
    /// # Errors
    /// The driver's error when the URL is malformed or the database unreachable.
    pub async fn connect(config: &DbConfig) -> Result<Self, DbErr> {
        if config.url.starts_with("sqlite:") {
            let write = Self::sqlite(config, 1, false).await?;
            // Creates the file and switches it to WAL before readers open it.
            write.execute_unprepared("SELECT 1").await?;
            let read = Self::sqlite(config, config.max_connections.max(1), true).await?;
            Ok(Self { write, read })
        } else {
            let mut opts = ConnectOptions::new(config.url.clone());
            opts.max_connections(config.max_connections)
                .acquire_timeout(config.acquire_timeout)
                .connect_timeout(config.acquire_timeout)
                .sqlx_logging(false);
            let pool = sea_orm::Database::connect(opts).await?;
            Ok(Self {
                write: pool.clone(),
                read: pool,
            })
        }
    }

    async fn sqlite(
        config: &DbConfig,
        connections: u32,
        read_only: bool,
    ) -> Result<DatabaseConnection, DbErr> {
        let url = if read_only || config.url.contains("mode=") {
            config.url.clone()
        } else if config.url.contains('?') {
            format!("{}&mode=rwc", config.url)
        } else {
            format!("{}?mode=rwc", config.url)
        };
        let busy = config.acquire_timeout;
        let mut opts = ConnectOptions::new(url);
        opts.max_connections(connections)
            .min_connections(if read_only { 0 } else { 1 })
            .acquire_timeout(config.acquire_timeout)
            .sqlx_logging(false)
            .map_sqlx_sqlite_opts(move |o| {
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(busy)
                    .foreign_keys(true)
                    .read_only(read_only)
                    // The writer gets 64 MiB of page cache (SQLite's default is 2 MiB): bulk
                    // writes touch pages of every index, and re-reading them cost an import
                    // about 15 %. Readers keep the default, so memory stays flat with the pool.
                    .pragma("cache_size", if read_only { "-2000" } else { "-65536" })
            });
        sea_orm::Database::connect(opts).await
    }

    /// Applies every pending migration and returns how many it applied.
    ///
    /// Only the schema: data the application derives is filled by separate steps, run after
    /// this one when it applied migrations ([`Database::backfill_search_documents`]).
    ///
    /// # Errors
    /// The failing migration's error; the schema is left at the last migration that succeeded.
    pub async fn migrate(&self) -> Result<usize, DbErr> {
        let pending = Migrator::get_pending_migrations(&self.write).await?.len();
        Migrator::up(&self.write, None).await?;
        Ok(pending)
    }

    /// Fills the search documents (`search_text`, `search_phones`, `search_terms`) of customers
    /// written before search existed (an empty `search_text`), 500 per transaction, logs how
    /// many it filled and returns that count. Idempotent.
    ///
    /// Search documents are computed by the application, so a migration cannot fill them: run
    /// this after [`Database::migrate`] has applied migrations. It scans the customers, so the
    /// server runs it only then, not on every start.
    ///
    /// # Errors
    /// A database error, or a stored customer that no longer parses.
    pub async fn backfill_search_documents(&self) -> Result<u64, RepositoryError> {
        let filled = crate::customers::backfill_search(self).await?;
        if filled > 0 {
            tracing::info!(customers = filled, "search documents filled");
        }
        Ok(filled)
    }

    /// Which backend this is.
    pub fn backend(&self) -> DatabaseBackend {
        self.write.get_database_backend()
    }

    /// Runs a trivial query on both connections (readiness probe).
    ///
    /// # Errors
    /// The driver's error when the database does not answer.
    pub async fn ping(&self) -> Result<(), DbErr> {
        self.read.execute_unprepared("SELECT 1").await?;
        if self.backend() == DatabaseBackend::Sqlite {
            self.write.execute_unprepared("SELECT 1").await?;
        }
        Ok(())
    }
}

/// Rows written by a repository's bulk paths (imports, the benchmark loader), to keep
/// PostgreSQL's planner statistics current while a fresh database fills.
///
/// PostgreSQL plans foreign-key checks and the bulk paths' prepared statements from the
/// tables' statistics; on tables that were small at the last `ANALYZE` it scans `customers`
/// for every row (an import into a fresh database fell to 180 rows/s). [`BulkRows::add`]
/// analyses the written tables when the count crosses 10^3, 10^4, 10^5 and 10^6 rows.
#[derive(Debug, Clone, Default)]
pub(crate) struct BulkRows(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl BulkRows {
    /// Counts `rows` more rows written in `txn`; on PostgreSQL, analyses `tables` (a comma
    /// list) when a threshold is crossed.
    pub(crate) async fn add(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        backend: DatabaseBackend,
        rows: usize,
        tables: &str,
    ) -> Result<(), RepositoryError> {
        let rows = rows as u64;
        let before = self.0.fetch_add(rows, std::sync::atomic::Ordering::Relaxed);
        let after = before + rows;
        if backend == DatabaseBackend::Postgres
            && [1_000, 10_000, 100_000, 1_000_000]
                .iter()
                .any(|t| before < *t && after >= *t)
        {
            txn.execute_unprepared(&format!("ANALYZE {tables}"))
                .await
                .map_err(crate::error::map_db_err)?;
        }
        Ok(())
    }
}

/// What to do with the savepoint of a row-by-row write ([`savepoint`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Savepoint {
    /// Start one.
    Begin,
    /// Keep its writes and end it.
    Release,
    /// Undo its writes (a failed statement's included: the transaction is usable again) and
    /// end it.
    Rollback,
}

/// Starts, releases or rolls back the one savepoint of a row-by-row write inside `txn` (the
/// fallbacks of import batches). The same SQL on PostgreSQL and SQLite.
///
/// # Errors
/// The driver's error, mapped.
pub(crate) async fn savepoint(
    txn: &sea_orm::DatabaseTransaction,
    step: Savepoint,
) -> Result<(), RepositoryError> {
    let statements: &[&str] = match step {
        Savepoint::Begin => &["SAVEPOINT crm_row"],
        Savepoint::Release => &["RELEASE SAVEPOINT crm_row"],
        // Rolling back to a savepoint keeps it open: release it too.
        Savepoint::Rollback => &["ROLLBACK TO SAVEPOINT crm_row", "RELEASE SAVEPOINT crm_row"],
    };
    for sql in statements {
        txn.execute_unprepared(sql)
            .await
            .map_err(crate::error::map_db_err)?;
    }
    Ok(())
}
