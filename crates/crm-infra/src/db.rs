//! Database connections: one code path for PostgreSQL and SQLite, chosen by the URL scheme.

use std::time::Duration;

use crm_domain::{RepositoryError, TenantId};
use crm_migrations::m20261121_000014_row_level_security as rls;
use crm_migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction,
    DbErr, ExecResult, QueryResult, Statement, TransactionTrait,
};

use crate::error::map_db_err;

/// How to connect.
#[derive(Debug, Clone)]
pub struct DbConfig {
    /// `postgres://user@host:port/db` or `sqlite://path/to/file.db` (created when missing).
    pub url: String,
    /// Largest pool (PostgreSQL; SQLite readers). Default 10.
    pub max_connections: u32,
    /// How long to wait for a connection or a SQLite lock before failing. Default 5 s.
    pub acquire_timeout: Duration,
    /// Longest a statement of a request may run (PostgreSQL `statement_timeout`, lock waits
    /// included) before the database cancels it: the request then answers 503. Zero means no
    /// limit. Default 5 s. SQLite has no statement timeout (see [`Database`]).
    pub statement_timeout: Duration,
    /// Longest a statement of a job may run on the job connections
    /// ([`Database::for_jobs`]). Zero means no limit. Default 300 s.
    pub job_statement_timeout: Duration,
    /// Largest pool of job connections (PostgreSQL; opened on first use). Default 4.
    pub job_max_connections: u32,
    /// PostgreSQL: the role every request and job connection runs as (`SET ROLE` at connection
    /// start), so that row-level security holds it to the tenant of its transaction (see
    /// [`Database::tenant_tx`]). Created when missing (`NOLOGIN NOBYPASSRLS`) and granted its
    /// rights at [`Database::migrate`]; a plain lower-case identifier. Default `crm_app`.
    /// `None` turns the wall off: connections run as the URL's user with `app.system = on`
    /// (every tenant's rows visible to every statement): unsafe, for diagnosis and
    /// benchmarks only. SQLite: ignored.
    pub role: Option<String>,
}

impl DbConfig {
    /// Defaults for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(5),
            job_statement_timeout: Duration::from_secs(300),
            job_max_connections: 4,
            role: Some(rls::APP_ROLE.to_owned()),
        }
    }
}

/// The connections the repositories use.
///
/// On SQLite, writes go through one writer connection (so concurrent requests queue instead
/// of failing with "database is locked") and reads through a pool of read-only connections;
/// the file runs in WAL mode with a busy timeout and foreign keys on. On PostgreSQL both are
/// the same pool.
///
/// Statement time limits: on PostgreSQL every connection of that pool starts with
/// `statement_timeout` = [`DbConfig::statement_timeout`], so no request statement (a lock wait
/// included) holds a connection longer; the database cancels it (SQLSTATE 57014), which
/// [`crate::map_db_err`] reports as unavailable (503 with `Retry-After`). Jobs (imports, the RFM
/// recompute, the statistics recompute, the CLV fit's tenant-wide read, migrations and the
/// search backfill) run on a second, lazily opened pool whose connections start with
/// [`DbConfig::job_statement_timeout`] ([`Database::for_jobs`]); so a long job neither hits
/// the request limit nor holds request connections. SQLite has no statement timeout: it
/// relies on the bounded queries (the filter language's limits, keyset pages) and on the busy
/// timeout for lock waits.
///
/// Row-level security (PostgreSQL, the fourth wall of docs/SECURITY.md): the pools' connections
/// run as [`DbConfig::role`], which sees no row of a tenant table unless its transaction has
/// named the tenant. Repositories therefore reach tenant data only through
/// [`Database::tenant_tx`] (writes) and [`Database::tenant_read`] (reads), which set
/// `app.tenant_id` transaction-locally, so a pooled connection never carries one tenant's
/// setting into another's statement; cross-tenant work goes through [`Database::system_tx`].
/// Migrations run on a connection of their own as the URL's user. On SQLite these helpers are
/// the plain writer transaction and the read pool, as before.
#[derive(Debug, Clone)]
pub struct Database {
    /// Connection for writes and transactions. On PostgreSQL with the wall on, statements
    /// outside [`Database::tenant_tx`] / [`Database::system_tx`] see no tenant row.
    pub write: DatabaseConnection,
    /// Connections for reads outside transactions (same caveat as `write`).
    pub read: DatabaseConnection,
    /// PostgreSQL: the job pool. SQLite: none (jobs use the writer and readers).
    jobs: Option<DatabaseConnection>,
    /// PostgreSQL: how to open the owner's connection of [`Database::migrate`], and the role
    /// when the wall is on. SQLite: none.
    postgres: Option<std::sync::Arc<(DbConfig, Option<String>)>>,
}

/// A connection for one tenant's reads ([`Database::tenant_read`]): on PostgreSQL with the
/// wall on, a transaction that has set `app.tenant_id`; otherwise the read pool itself. Use it
/// as any SeaORM connection, then [`Scoped::end`] it.
#[derive(Debug)]
pub enum Scoped {
    /// The read pool (SQLite, or the wall off): no transaction, no cost.
    Pool(DatabaseConnection),
    /// A read transaction scoped to the tenant.
    Txn(DatabaseTransaction),
}

impl Scoped {
    /// Ends the reads (commits the transaction, if any).
    ///
    /// # Errors
    /// The driver's error, mapped.
    pub async fn end(self) -> Result<(), RepositoryError> {
        match self {
            Scoped::Pool(_) => Ok(()),
            Scoped::Txn(t) => t.commit().await.map_err(map_db_err),
        }
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Scoped {
    fn get_database_backend(&self) -> DatabaseBackend {
        match self {
            Scoped::Pool(c) => c.get_database_backend(),
            Scoped::Txn(t) => t.get_database_backend(),
        }
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match self {
            Scoped::Pool(c) => c.execute_raw(stmt).await,
            Scoped::Txn(t) => t.execute_raw(stmt).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        match self {
            Scoped::Pool(c) => c.execute_unprepared(sql).await,
            Scoped::Txn(t) => t.execute_unprepared(sql).await,
        }
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        match self {
            Scoped::Pool(c) => c.query_one_raw(stmt).await,
            Scoped::Txn(t) => t.query_one_raw(stmt).await,
        }
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match self {
            Scoped::Pool(c) => c.query_all_raw(stmt).await,
            Scoped::Txn(t) => t.query_all_raw(stmt).await,
        }
    }

    fn support_returning(&self) -> bool {
        match self {
            Scoped::Pool(c) => c.support_returning(),
            Scoped::Txn(t) => t.support_returning(),
        }
    }
}

impl Database {
    /// Connects; does not migrate (see [`Database::migrate`]).
    ///
    /// # Errors
    /// The driver's error when the URL is malformed or the database unreachable.
    pub async fn connect(config: &DbConfig) -> Result<Self, DbErr> {
        let role = config.role.clone().filter(|r| !r.is_empty());
        if let Some(r) = &role
            && !rls::valid_role_name(r)
        {
            return Err(DbErr::Custom(format!(
                "database role {r:?}: a plain lower-case identifier is required"
            )));
        }
        if config.url.starts_with("sqlite:") {
            let write = Self::sqlite(config, 1, false).await?;
            // Creates the file and switches it to WAL before readers open it.
            write.execute_unprepared("SELECT 1").await?;
            let read = Self::sqlite(config, config.max_connections.max(1), true).await?;
            Ok(Self {
                write,
                read,
                jobs: None,
                postgres: None,
            })
        } else {
            if let Some(r) = &role {
                // The role must exist before a connection can start as it.
                let owner = Self::owner(config).await?;
                let created = owner.execute_unprepared(&rls::create_role_sql(r)).await;
                let _ = owner.close().await;
                created?;
            }
            let pool = Self::postgres(
                config,
                config.max_connections,
                config.statement_timeout,
                false,
                role.as_deref(),
            )
            .await?;
            let jobs = Self::postgres(
                config,
                config.job_max_connections.max(1),
                config.job_statement_timeout,
                true,
                role.as_deref(),
            )
            .await?;
            Ok(Self {
                write: pool.clone(),
                read: pool,
                jobs: Some(jobs),
                postgres: Some(std::sync::Arc::new((config.clone(), role))),
            })
        }
    }

    /// Whether row-level security scopes this database's connections (PostgreSQL with a role).
    pub fn walled(&self) -> bool {
        self.postgres.as_ref().is_some_and(|p| p.1.is_some())
    }

    /// A transaction on the writer whose statements see and write only `tenant`'s rows
    /// (PostgreSQL with the wall on: `SELECT set_config('app.tenant_id', tenant, true)` first,
    /// transaction-local). Every repository write to tenant data starts here.
    ///
    /// # Errors
    /// The driver's error, mapped.
    pub async fn tenant_tx(
        &self,
        tenant: TenantId,
    ) -> Result<DatabaseTransaction, RepositoryError> {
        Self::scope(&self.write, self.walled(), Some(tenant)).await
    }

    /// A connection for `tenant`'s reads: on PostgreSQL with the wall on, a transaction scoped
    /// as in [`Database::tenant_tx`] on the read pool; otherwise the read pool (no cost).
    /// [`Scoped::end`] it after the reads.
    ///
    /// # Errors
    /// The driver's error, mapped.
    pub async fn tenant_read(&self, tenant: TenantId) -> Result<Scoped, RepositoryError> {
        if self.walled() {
            Ok(Scoped::Txn(
                Self::scope(&self.read, true, Some(tenant)).await?,
            ))
        } else {
            Ok(Scoped::Pool(self.read.clone()))
        }
    }

    /// A connection for one statement (or a few independent ones) writing `tenant`'s rows
    /// outside a transaction of the caller's: on PostgreSQL with the wall on, a transaction
    /// scoped as in [`Database::tenant_tx`]; otherwise the writer itself, as before.
    /// [`Scoped::end`] it (commits) after the writes.
    ///
    /// # Errors
    /// The driver's error, mapped.
    pub async fn tenant_write(&self, tenant: TenantId) -> Result<Scoped, RepositoryError> {
        if self.walled() {
            Ok(Scoped::Txn(
                Self::scope(&self.write, true, Some(tenant)).await?,
            ))
        } else {
            Ok(Scoped::Pool(self.write.clone()))
        }
    }

    /// A transaction on the writer that sees every tenant's rows (`app.system = on`,
    /// transaction-local): only for work that is cross-tenant by nature (the job lease sweep
    /// and renewal, the search backfill, test fixtures). Never for a request's data.
    ///
    /// # Errors
    /// The driver's error, mapped.
    pub async fn system_tx(&self) -> Result<DatabaseTransaction, RepositoryError> {
        Self::scope(&self.write, self.walled(), None).await
    }

    /// Begins on `conn`; when `walled`, names `tenant` (or, for `None`, opens the wall).
    async fn scope(
        conn: &DatabaseConnection,
        walled: bool,
        tenant: Option<TenantId>,
    ) -> Result<DatabaseTransaction, RepositoryError> {
        let txn = conn.begin().await.map_err(map_db_err)?;
        if walled {
            let stmt = match tenant {
                Some(t) => Statement::from_sql_and_values(
                    DatabaseBackend::Postgres,
                    "SELECT set_config('app.tenant_id', $1, true)",
                    [t.0.to_string().into()],
                ),
                None => Statement::from_string(
                    DatabaseBackend::Postgres,
                    "SELECT set_config('app.system', 'on', true)",
                ),
            };
            txn.execute_raw(stmt).await.map_err(map_db_err)?;
        }
        Ok(txn)
    }

    /// One connection as the URL's user with the wall open (`app.system = on` for its
    /// session) and the jobs' statement limit: role creation and migrations.
    async fn owner(config: &DbConfig) -> Result<DatabaseConnection, DbErr> {
        let millis = config.job_statement_timeout.as_millis().to_string();
        let mut opts = ConnectOptions::new(config.url.clone());
        opts.max_connections(1)
            .acquire_timeout(config.acquire_timeout)
            .connect_timeout(config.acquire_timeout)
            .sqlx_logging(false)
            .map_sqlx_postgres_opts(move |o| {
                o.options([
                    ("statement_timeout", millis.clone()),
                    ("app.system", "on".to_owned()),
                ])
            });
        sea_orm::Database::connect(opts).await
    }

    /// The same database as seen by jobs: on PostgreSQL the job pool (its statements may run
    /// [`DbConfig::job_statement_timeout`]) for reads and writes; on SQLite `self`.
    pub fn for_jobs(&self) -> Database {
        match &self.jobs {
            Some(jobs) => Database {
                write: jobs.clone(),
                read: jobs.clone(),
                jobs: Some(jobs.clone()),
                postgres: self.postgres.clone(),
            },
            None => self.clone(),
        }
    }

    /// A PostgreSQL pool whose connections start with `statement_timeout` (in milliseconds; 0
    /// is none) and as `role` (`None`: as the URL's user with the wall open); `lazy` opens no
    /// connection before the first use.
    async fn postgres(
        config: &DbConfig,
        connections: u32,
        statement_timeout: Duration,
        lazy: bool,
        role: Option<&str>,
    ) -> Result<DatabaseConnection, DbErr> {
        let mut options = vec![(
            "statement_timeout",
            statement_timeout.as_millis().to_string(),
        )];
        match role {
            Some(r) => options.push(("role", r.to_owned())),
            None => options.push(("app.system", "on".to_owned())),
        }
        let mut opts = ConnectOptions::new(config.url.clone());
        opts.max_connections(connections)
            .acquire_timeout(config.acquire_timeout)
            .connect_timeout(config.acquire_timeout)
            .connect_lazy(lazy)
            .sqlx_logging(false)
            .map_sqlx_postgres_opts(move |o| o.options(options.clone()));
        sea_orm::Database::connect(opts).await
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
        let Some(pg) = &self.postgres else {
            let pending = Migrator::get_pending_migrations(&self.write).await?.len();
            Migrator::up(&self.write, None).await?;
            return Ok(pending);
        };
        // As the owner (the schema's DDL), with the wall open (a migration's data steps see
        // every tenant) and the jobs' time limit (it may rewrite or index a whole table).
        let (config, role) = &**pg;
        let owner = Self::owner(config).await?;
        let migrated = async {
            let pending = Migrator::get_pending_migrations(&owner).await?.len();
            Migrator::up(&owner, None).await?;
            if let Some(r) = role {
                // The default role got its rights in the migration; another one gets them here.
                owner.execute_unprepared(&rls::grant_role_sql(r)).await?;
            }
            Ok::<_, DbErr>(pending)
        }
        .await;
        let _ = owner.close().await;
        migrated
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
        let filled = crate::customers::backfill_search(&self.for_jobs()).await?;
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
///
/// The `ANALYZE` runs as the session's user (the URL's, who owns the schema it migrated), not
/// as the application role of row-level security ([`DbConfig::role`]): PostgreSQL lets only a
/// table's owner analyze it and skips the others with a mere warning, so as `crm_app` the
/// statistics were never refreshed and a 1,000,000-row import fell to 85 rows/s (see
/// [`analyze_as_owner`]).
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
            txn.execute_unprepared(&analyze_as_owner(tables))
                .await
                .map_err(crate::error::map_db_err)?;
        }
        Ok(())
    }
}

/// PostgreSQL: `ANALYZE tables` (a comma list of table names, never user input) inside the
/// caller's transaction as the session's user, the rest of the transaction as before.
///
/// The pools' connections run as the row-level security role, which does not own the tables;
/// PostgreSQL would skip them ("only table or database owner can analyze it", a warning, not
/// an error). The block takes the session's user for the one statement (`SET LOCAL ROLE NONE`)
/// and then the role it found (`current_user`) again, so every later statement of the
/// transaction stays behind the tenant wall; at the transaction's end the connection's own
/// role is back in any case.
pub(crate) fn analyze_as_owner(tables: &str) -> String {
    format!(
        "DO $crm$ DECLARE r text := current_user; BEGIN \
         SET LOCAL ROLE NONE; ANALYZE {tables}; EXECUTE format('SET LOCAL ROLE %I', r); \
         END $crm$"
    )
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
