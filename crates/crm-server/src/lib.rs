#![doc = include_str!("../README.md")]

pub mod config;

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{HttpServer, web};
use anyhow::Context;
use crm_domain::address::AddressService;
use crm_domain::analytics::AnalyticsService;
use crm_domain::contact::ContactService;
use crm_domain::customer::CustomerService;
use crm_domain::document::DocumentService;
use crm_domain::event::EventService;
use crm_domain::event::FeedService;
use crm_domain::export::ExportService;
use crm_domain::import::ImportService;
use crm_domain::interaction::InteractionService;
use crm_domain::job::{JobRepository, JobService, LeasedJobs};
use crm_domain::loyalty::LoyaltyService;
use crm_domain::loyalty::TierService;
use crm_domain::order::OrderService;
use crm_domain::ports::{Clock, SystemClock, SystemRandom, UuidV7Generator};
use crm_domain::pricing::PricingService;
use crm_domain::privacy::PrivacyService;
use crm_domain::reminder::{DEFAULT_REMINDER_BATCH, ReminderRun, ReminderService};
use crm_domain::segment::SegmentService;
use crm_domain::tenant::TenantService;
use crm_domain::view::ViewService;
use crm_domain::webhook::{WebhookConfig, WebhookService};
use crm_http::auth::KnownTenants;
use crm_http::oidc::{HttpJwks, OidcVerifier};
use crm_http::rate_limit::RateLimits;
use crm_http::state::ImportLimits;
use crm_http::uploads::UploadDir;
use crm_http::{AppState, Authenticator, CursorCodec, JwtKeys, Metrics, ReadinessProbe};
use crm_infra::SeaEventRepository;
use crm_infra::SeaInteractionRepository;
use crm_infra::SeaReminderRepository;
use crm_infra::export_file::SheetFiles;
use crm_infra::{
    Database, DbConfig, DiskImportFiles, SeaAddressRepository, SeaAnalyticsRepository,
    SeaContactRepository, SeaCustomerRepository, SeaDocumentRepository, SeaImportRepository,
    SeaJobRepository, SeaOrderRepository, SeaPrivacyRepository, SeaSegmentRepository,
    SeaTenantRepository, SeaTierRepository, SeaViewRepository,
};
use futures_util::future::BoxFuture;

pub use config::{Config, JobLeaseTimes};

/// What the document service is wired to: the store of the bytes and the size limit.
#[derive(Clone)]
pub struct DocumentWiring {
    /// Where the bytes are.
    pub store: Arc<dyn crm_domain::document::DocumentStore>,
    /// Largest document, bytes.
    pub max_bytes: u64,
}

impl DocumentWiring {
    /// The store and limit of `config`.
    ///
    /// # Errors
    /// When the store cannot be set up (`CRM_DOCUMENT_STORE`).
    pub fn of(config: &Config) -> anyhow::Result<Self> {
        let store = config.document_store()?;
        tracing::debug!(store = store.description(), "document store");
        Ok(Self {
            store: Arc::new(store),
            max_bytes: config.max_document_bytes,
        })
    }

    /// An in-memory store: for one-shot commands that touch no document.
    pub fn in_memory() -> Self {
        Self {
            store: Arc::new(crm_infra::ObjectDocumentStore::in_memory()),
            max_bytes: crm_domain::document::DEFAULT_MAX_DOCUMENT_BYTES,
        }
    }
}

/// The bound of the orphan check run at start-up (rows and objects each).
pub const STARTUP_DOCUMENT_CHECK_MAX: usize = 100_000;
pub use crm_http::Services;

/// Connects to the database in `config`, creating the SQLite file's folder when needed.
///
/// # Errors
/// When the folder cannot be created or the database cannot be reached.
pub async fn connect(config: &Config) -> anyhow::Result<Database> {
    let url = config.database_url();
    if let Some(path) = url.strip_prefix("sqlite://") {
        let file = path.split('?').next().unwrap_or(path);
        if let Some(dir) = Path::new(file)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
    }
    let mut db = DbConfig::new(&url);
    db.max_connections = config.db_max_connections;
    db.statement_timeout = config.db_statement_timeout;
    db.job_statement_timeout = config.db_job_statement_timeout;
    db.role = Some(config.db_role.trim().to_owned()).filter(|r| !r.is_empty());
    if db.role.is_none() && !url.starts_with("sqlite:") {
        tracing::warn!(
            "CRM_DB_ROLE is empty: row-level security is off, every connection sees every tenant"
        );
    }
    Database::connect(&db)
        .await
        .with_context(|| format!("connecting to {}", redact(&url)))
}

/// The SQLite file `serve` holds for itself: an exclusive lock on `<file>.serve.lock` (an OS
/// file lock, released when the process ends, crash included). SQLite serves one process:
/// when another `serve` already holds the file, this one logs an error saying so (and that
/// PostgreSQL runs replicas) and returns `None`; it still starts, as a restarted server
/// overlapping its predecessor's shutdown must. Two servers on one file stay correct (SQLite
/// serialises their writes, so the event feed keeps its order and a webhook claim by one makes
/// the other's attempt fail rather than claim twice), but they share one writer. `None` for
/// PostgreSQL and in-memory SQLite. One-shot commands (`import`, `migrate`) do not take it.
///
/// # Errors
/// When the lock file cannot be created or locked for another reason than another holder.
pub fn hold_sqlite_file(config: &Config) -> anyhow::Result<Option<std::fs::File>> {
    let url = config.database_url();
    let Some(path) = url.strip_prefix("sqlite://") else {
        return Ok(None);
    };
    let file = path.split('?').next().unwrap_or(path);
    if file.is_empty() || file == ":memory:" || url.contains("mode=memory") {
        return Ok(None);
    }
    if let Some(dir) = Path::new(file)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let lock_path = format!("{file}.serve.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("creating {lock_path}"))?;
    match lock.try_lock() {
        Ok(()) => Ok(Some(lock)),
        Err(std::fs::TryLockError::WouldBlock) => {
            tracing::error!(
                file,
                "another crm-server process is already serving this SQLite file: SQLite serves \
                 one process (both now share one writer); run one server, or PostgreSQL \
                 (CRM_DATABASE_URL=postgres://...) for several replicas"
            );
            Ok(None)
        }
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("locking {lock_path}"))
        }
    }
}

/// Applies pending migrations, then, when any ran, fills the search documents they left empty
/// ([`Database::backfill_search_documents`]): what start-up, `crm-server migrate` and every
/// command that opens the database run first.
///
/// # Errors
/// The failing migration's error, or the backfill's.
pub async fn migrate(db: &Database) -> anyhow::Result<()> {
    if db.migrate().await? > 0 {
        db.backfill_search_documents().await?;
    }
    Ok(())
}

/// The URL without its password, for logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => match url[s + 3..at].split_once(':') {
            Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
            None => url.to_owned(),
        },
        _ => url.to_owned(),
    }
}

/// The server secret in force (HS256 tokens, when accepted, and list cursors): the configured
/// one, else the one kept in `<data_dir>/jwt-secret`, generated (256 random bits) on first use
/// with a warning.
///
/// # Errors
/// When the secret file cannot be read or written.
pub fn jwt_secret(config: &Config) -> anyhow::Result<String> {
    if let Some(s) = config.jwt_secret.as_ref().filter(|s| !s.is_empty()) {
        anyhow::ensure!(
            s.len() >= crm_http::auth::MIN_SECRET_BYTES,
            "CRM_JWT_SECRET must be at least {} bytes (it has {}): generate one with \
             `openssl rand -hex 32`",
            crm_http::auth::MIN_SECRET_BYTES,
            s.len()
        );
        return Ok(s.clone());
    }
    let path = config.data_dir.join("jwt-secret");
    if let Ok(existing) = std::fs::read_to_string(&path)
        && !existing.trim().is_empty()
    {
        return Ok(existing.trim().to_owned());
    }
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
    let bytes: [u8; 32] = rand::random();
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(&path, &secret).with_context(|| format!("writing {}", path.display()))?;
    tracing::warn!(
        path = %path.display(),
        "CRM_JWT_SECRET is not set: generated a development secret; set CRM_JWT_SECRET in production"
    );
    Ok(secret)
}

/// Whether the server accepts HS256 tokens: always without an identity provider (with the
/// configured or the generated secret), and with one only when `CRM_JWT_SECRET` is set.
pub fn hs256_accepted(config: &Config) -> bool {
    config.jwt_secret.as_ref().is_some_and(|s| !s.is_empty())
        || config
            .auth_jwks_url
            .as_ref()
            .is_none_or(|u| u.trim().is_empty())
}

/// The token verifier of `config`: HS256 with `secret` when [`hs256_accepted`], and the
/// identity provider's keys when `CRM_AUTH_JWKS_URL` is set, fetched once now (a failure is
/// logged, not fatal: the keys are fetched again when a token needs them).
///
/// # Errors
/// A message naming the bad `CRM_AUTH_*` setting.
pub async fn authenticator(config: &Config, secret: &str) -> anyhow::Result<Authenticator> {
    let hs256 = hs256_accepted(config).then(|| JwtKeys::from_secret(secret.as_bytes()));
    let oidc = match config.oidc()? {
        None => None,
        Some((url, settings)) => {
            let timeout = Duration::from_secs(config.auth_jwks_timeout_secs.max(1));
            let source = HttpJwks::new(&url, timeout)
                .map_err(|e| anyhow::anyhow!("CRM_AUTH_JWKS_URL: {e}"))?;
            let verifier = OidcVerifier::new(settings, Box::new(source));
            if let Err(e) = verifier.refresh().await {
                tracing::error!(error = %e, "could not fetch the identity provider's keys at start-up; tokens will be refused until a fetch succeeds");
            }
            Some(verifier)
        }
    };
    Ok(Authenticator::new(hs256, oidc))
}

/// This process's jobs on `db`, under leases of `times.lease`: a new instance id (the process
/// id and a UUID v7) owns every job the process starts. Run [`spawn_job_heartbeat`] with it
/// wherever jobs run, or other processes sharing the database fail them once the lease ends.
pub fn job_leases(db: &Database, times: JobLeaseTimes) -> Arc<LeasedJobs> {
    let owner = format!("{}-{}", std::process::id(), uuid::Uuid::now_v7());
    let lease = chrono::TimeDelta::from_std(times.lease).unwrap_or(chrono::TimeDelta::days(1));
    Arc::new(LeasedJobs::new(
        Arc::new(SeaJobRepository::new(db.clone())),
        owner,
        lease,
        Arc::new(SystemClock),
    ))
}

/// Every `every` (the first time after one interval), renews the leases of the jobs this
/// process runs and fails the jobs whose lease ran out (any process's), until the task is
/// aborted. The beats keep their pace (a slow renewal, waiting for SQLite's writer, does not
/// push the next one back); a failure (the database down) is logged and retried at the next.
pub fn spawn_job_heartbeat(
    jobs: Arc<LeasedJobs>,
    every: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut beat = tokio::time::interval(every);
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate: start-up has just swept.
        beat.tick().await;
        loop {
            beat.tick().await;
            if let Err(e) = jobs.heartbeat().await {
                tracing::warn!(error = %e, "could not renew the leases of this process's jobs");
            }
            match jobs.sweep().await {
                Ok(0) => {}
                Ok(n) => tracing::warn!(jobs = n, "jobs whose lease ran out marked failed"),
                Err(e) => tracing::warn!(error = %e, "could not sweep jobs whose lease ran out"),
            }
        }
    })
}

/// Every `every`, emits the due reminders ([`ReminderService::run`] with
/// [`DEFAULT_REMINDER_BATCH`] rows of each kind, again at once while a run comes back full),
/// until the task is aborted. Every replica runs it: the database decides who emits what, so
/// each reminder fires once. A failure (the database down) is logged and retried at the next
/// beat.
pub fn spawn_reminders(
    reminders: Arc<ReminderService>,
    every: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut beat = tokio::time::interval(every);
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            beat.tick().await;
            loop {
                match reminders
                    .run(SystemClock.now(), DEFAULT_REMINDER_BATCH)
                    .await
                {
                    Ok(run) if run == ReminderRun::default() => break,
                    Ok(run) => {
                        tracing::info!(
                            follow_ups_due = run.follow_ups_due,
                            orders_overdue = run.orders_overdue,
                            "reminders emitted"
                        );
                        let batch = DEFAULT_REMINDER_BATCH as usize;
                        if run.follow_ups_due < batch && run.orders_overdue < batch {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "could not emit reminders");
                        break;
                    }
                }
            }
        }
    })
}

/// The domain services wired to SeaORM repositories on `db`, with jobs under leases of the
/// default length and documents in memory: what one-shot commands that run no job and touch
/// no document call directly.
pub fn services(db: &Database) -> Services {
    let times = JobLeaseTimes {
        heartbeat: std::time::Duration::from_secs(Config::default().job_heartbeat_secs),
        lease: std::time::Duration::from_secs(Config::default().job_lease_secs),
    };
    services_with(
        db,
        job_leases(db, times),
        Config::default().xlsx_limits(),
        DocumentWiring::in_memory(),
        Config::default().webhooks(),
    )
}

/// The domain services wired to SeaORM repositories on `db`, with `jobs` (this process's,
/// under leases) as the job repository, imports read within `limits`, and webhooks under
/// `webhooks` (delivered with [`crm_http::ReqwestWebhookSender`]): what the server hands to
/// crm-http (in [`AppState`]).
pub fn services_with(
    db: &Database,
    jobs: Arc<LeasedJobs>,
    limits: crm_infra::import_file::XlsxLimits,
    documents: DocumentWiring,
    webhooks: WebhookConfig,
) -> Services {
    let clock = Arc::new(SystemClock);
    let ids = Arc::new(UuidV7Generator);
    let tenant_repo = Arc::new(SeaTenantRepository::new(db.clone()));
    let customer_repo = Arc::new(SeaCustomerRepository::new(db.clone()));
    let order_repo = Arc::new(SeaOrderRepository::new(db.clone()));
    let tier_repo = Arc::new(SeaTierRepository::new(db.clone()));
    let job_repo: Arc<dyn JobRepository> = jobs;
    // Imports run on the job connections (the jobs' statement time limit, and no request
    // connection held for the length of an import); see `Database::for_jobs`.
    let jobs_db = db.for_jobs();
    let import_customers = Arc::new(SeaCustomerRepository::new(jobs_db.clone()));
    let orders = Arc::new(OrderService::new(
        customer_repo.clone(),
        order_repo.clone(),
        tenant_repo.clone(),
        clock.clone(),
        ids.clone(),
    ));
    let customers = Arc::new(CustomerService::new(
        customer_repo.clone(),
        tenant_repo.clone(),
        clock.clone(),
        ids.clone(),
    ));
    let analytics = Arc::new(AnalyticsService::new(
        Arc::new(SeaAnalyticsRepository::new(db.clone())),
        job_repo.clone(),
        customer_repo.clone(),
        tenant_repo.clone(),
        clock.clone(),
        ids.clone(),
    ));
    let segments = Arc::new(SegmentService::new(
        Arc::new(SeaSegmentRepository::new(db.clone())),
        customer_repo.clone(),
        tenant_repo.clone(),
        clock.clone(),
        ids.clone(),
    ));
    let privacy = Arc::new(PrivacyService::new(
        Arc::new(SeaPrivacyRepository::new(db.clone())),
        customer_repo.clone(),
        tenant_repo.clone(),
        clock.clone(),
        ids.clone(),
    ));
    let addresses = Arc::new(AddressService::new(
        customer_repo.clone(),
        Arc::new(SeaAddressRepository::new(db.clone())),
        tenant_repo.clone(),
        clock.clone(),
        ids.clone(),
    ));
    let contacts = Arc::new(ContactService::new(
        Arc::new(SeaContactRepository::new(db.clone())),
        customer_repo.clone(),
        tenant_repo.clone(),
        clock.clone(),
        ids.clone(),
    ));
    let interactions = Arc::new(InteractionService::new(
        Arc::new(SeaInteractionRepository::new(db.clone())),
        customer_repo.clone(),
        tenant_repo.clone(),
        clock.clone(),
        ids.clone(),
    ));
    let documents = Arc::new(DocumentService::new(
        Arc::new(SeaDocumentRepository::new(db.clone())),
        documents.store,
        customer_repo.clone(),
        tenant_repo.clone(),
        clock.clone(),
        ids.clone(),
        documents.max_bytes,
    ));
    let notes = Arc::new(crm_domain::note::NoteService::new(
        Arc::new(crm_infra::SeaNoteRepository::new(db.clone())),
        customer_repo.clone(),
        tenant_repo.clone(),
        Arc::new(crm_infra::SeaEventRepository::new(db.clone())),
        clock.clone(),
        ids.clone(),
    ));
    let events = Arc::new(EventService::new(
        Arc::new(SeaEventRepository::new(db.clone())),
        customer_repo.clone(),
        tenant_repo.clone(),
    ));
    let feed = Arc::new(FeedService::new(Arc::new(crm_infra::SeaEventFeed::new(
        db.clone(),
    ))));
    let webhooks = Arc::new(WebhookService::new(
        Arc::new(crm_infra::SeaWebhookRepository::new(db.clone())),
        Arc::new(crm_infra::SeaDeliveryRepository::new(db.clone())),
        Arc::new(crm_http::ReqwestWebhookSender::new(webhooks.allow_private)),
        clock.clone(),
        ids.clone(),
        Arc::new(SystemRandom),
        webhooks,
    ));
    Services {
        feed,
        webhooks,
        interactions,
        documents,
        exports: Arc::new(
            ExportService::new(
                customers.clone(),
                order_repo.clone(),
                segments.clone(),
                analytics.clone(),
                privacy.clone(),
                contacts.clone(),
                clock.clone(),
            )
            // The list export's billing_* / shipping_* columns.
            .with_addresses(addresses.clone()),
        ),
        addresses,
        contacts,
        notes,
        events,
        privacy,
        customers,
        orders: orders.clone(),
        loyalty: Arc::new(LoyaltyService::new(
            customer_repo.clone(),
            order_repo,
            tenant_repo.clone(),
            clock.clone(),
            ids.clone(),
        )),
        analytics: analytics.clone(),
        imports: Arc::new(
            ImportService::new(
                import_customers.clone(),
                tenant_repo.clone(),
                // This process's jobs, under leases: an import's job is renewed by the heartbeat.
                job_repo.clone(),
                Arc::new(SeaImportRepository::new(jobs_db.clone())),
                Arc::new(DiskImportFiles::new(limits)),
                Arc::new(OrderService::new(
                    import_customers,
                    Arc::new(SeaOrderRepository::new(jobs_db.clone())),
                    tenant_repo.clone(),
                    clock.clone(),
                    ids.clone(),
                )),
                clock.clone(),
                ids.clone(),
            )
            // A dry run reads the customers' stored addresses (its preview's billing address).
            .with_addresses(Arc::new(SeaAddressRepository::new(jobs_db.clone())))
            // And its contacts (its preview's primary contact).
            .with_contacts(Arc::new(SeaContactRepository::new(jobs_db.clone()))),
        ),
        segments,
        jobs: Arc::new(JobService::new(job_repo)),
        tiers: Arc::new(TierService::new(
            tier_repo.clone(),
            ids.clone(),
            clock.clone(),
        )),
        pricing: Arc::new(PricingService::new(
            customer_repo,
            tier_repo,
            tenant_repo.clone(),
        )),
        views: Arc::new(ViewService::new(
            Arc::new(SeaViewRepository::new(db.clone())),
            clock.clone(),
            ids.clone(),
        )),
        tenants: Arc::new(TenantService::new(tenant_repo, clock, ids)),
    }
}

/// Deliveries claimed by one run of the delivery loop, all attempted at once: a batch ends
/// within one attempt's 10 s timeout, well inside the 60 s claim lease.
pub const DELIVERY_BATCH: u32 = 32;

/// The webhook delivery loop of this process: every `interval`, claims the deliveries due
/// now ([`WebhookService::deliver_due`]) and sends them; a full batch is followed at once by
/// the next. Deliveries are claimed in the database (PostgreSQL `FOR UPDATE SKIP LOCKED`, or
/// SQLite's one writer), so several processes share the work, and a delivery claimed by a
/// process that stops is due again after its lease. Aborted with the server.
pub fn spawn_webhook_deliveries(
    webhooks: Arc<WebhookService>,
    clock: Arc<dyn Clock>,
    interval: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            loop {
                match webhooks.deliver_due(clock.now(), DELIVERY_BATCH).await {
                    Ok(run) => {
                        if run.claimed > 0 {
                            tracing::debug!(
                                claimed = run.claimed,
                                succeeded = run.succeeded,
                                retrying = run.retrying,
                                failed = run.failed,
                                "webhook deliveries"
                            );
                        }
                        for id in &run.disabled {
                            tracing::warn!(webhook_id = %id, "webhook disabled: every delivery failed for 3 days");
                        }
                        if run.claimed < DELIVERY_BATCH as usize {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "the webhook delivery run failed");
                        break;
                    }
                }
            }
        }
    })
}

/// Runs the orphan check of documents ([`DocumentService::check_orphans`], bounded by
/// [`STARTUP_DOCUMENT_CHECK_MAX`]) in the background, so start-up does not wait for it, and
/// logs its summary: a warning with the counts and the first orphans when there are any.
pub fn spawn_document_check(documents: Arc<DocumentService>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        match documents.check_orphans(STARTUP_DOCUMENT_CHECK_MAX).await {
            Ok(r) if r.rows_without_objects.is_empty() && r.objects_without_rows.is_empty() => {
                tracing::info!(
                    rows = r.rows_checked,
                    objects = r.objects_checked,
                    partial = r.truncated,
                    "document check: no orphans"
                );
            }
            Ok(r) => tracing::warn!(
                rows = r.rows_checked,
                objects = r.objects_checked,
                partial = r.truncated,
                rows_without_objects = r.rows_without_objects.len(),
                objects_without_rows = r.objects_without_rows.len(),
                first_row_without_object = ?r.rows_without_objects.first().map(|(_, _, k)| k),
                first_object_without_row = ?r.objects_without_rows.first(),
                "document check: orphans found; `crm-server documents check` lists them"
            ),
            Err(e) => tracing::warn!(error = %e, "document check failed"),
        }
    })
}

/// SIGINT or SIGTERM (the signals on which actix-web shuts the server down gracefully).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; event streams end on SIGINT only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

struct DbReadiness(Database);

impl ReadinessProbe for DbReadiness {
    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move { self.0.ping().await.map_err(|e| e.to_string()) })
    }
}

/// A built server, bound and ready to run.
pub struct Application {
    port: u16,
    server: Server,
    /// The background tasks, stopped with the server: the job heartbeat
    /// ([`spawn_job_heartbeat`]), the reminders ([`spawn_reminders`]), the webhook deliveries
    /// ([`spawn_webhook_deliveries`]) and the task that ends the event streams on SIGINT or
    /// SIGTERM (so the graceful shutdown does not wait for them).
    background: Vec<tokio::task::JoinHandle<()>>,
    /// SQLite: the file held for this process ([`hold_sqlite_file`]) while it lives.
    _sqlite_lock: Option<std::fs::File>,
}

impl Application {
    /// Connects, migrates, binds `config.bind` (port 0 picks a free one) and builds the server.
    ///
    /// # Errors
    /// When the database, the secret or the address is unusable.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let times = config.job_leases().map_err(anyhow::Error::msg)?;
        let db = connect(config).await?;
        let sqlite_lock = hold_sqlite_file(config)?;
        migrate(&db).await.context("applying migrations")?;
        let jobs = job_leases(&db, times);
        // Only jobs whose lease ran out: another live process's jobs are left alone.
        let interrupted = jobs.sweep().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        if interrupted > 0 {
            tracing::warn!(
                jobs = interrupted,
                "jobs of stopped processes (lease ran out) marked failed"
            );
        }
        let heartbeat = spawn_job_heartbeat(jobs.clone(), times.heartbeat);
        let services = services_with(
            &db,
            jobs,
            config.xlsx_limits(),
            DocumentWiring::of(config)?,
            config.webhooks(),
        );
        let deliveries = spawn_webhook_deliveries(
            services.webhooks.clone(),
            Arc::new(SystemClock),
            config
                .webhooks_delivery_interval
                .max(Duration::from_millis(10)),
        );
        spawn_document_check(services.documents.clone());
        let reminders = spawn_reminders(
            Arc::new(ReminderService::new(Arc::new(SeaReminderRepository::new(
                db.clone(),
            )))),
            config.reminder_interval().map_err(anyhow::Error::msg)?,
        );
        let secret = jwt_secret(config)?;
        let upload_dir = config.upload_dir();
        let uploads = UploadDir::open(&upload_dir)
            .with_context(|| format!("creating the upload folder {}", upload_dir.display()))?;
        // Uploads no live process holds: left by a crash.
        let stale = uploads
            .sweep()
            .with_context(|| format!("listing the upload folder {}", upload_dir.display()))?;
        if stale > 0 {
            tracing::warn!(files = stale, dir = %upload_dir.display(), "stale uploads deleted");
        }
        let state = web::Data::new(AppState {
            services,
            import_limits: ImportLimits {
                max_bytes: config.max_import_bytes,
                max_rows: config.max_import_rows,
            },
            uploads,
            sheets: Arc::new(SheetFiles),
            auth: Arc::new(authenticator(config, &secret).await?),
            rate_limits: RateLimits::new(&config.rate_limits()?),
            cursors: CursorCodec::new(secret.as_bytes()),
            known_tenants: KnownTenants::default(),
            readiness: Arc::new(DbReadiness(db)),
            metrics: Metrics::new().context("registering metrics")?,
            max_body_bytes: config.max_body_bytes,
            streams: crm_http::Streams::new(config.event_streams()),
        });
        // Graceful shutdown waits for open connections: event streams end first.
        let closer = state.clone();
        let streams_closer = tokio::spawn(async move {
            shutdown_signal().await;
            tracing::info!("shutting down: closing event streams");
            closer.streams.close_all();
        });
        let listener =
            TcpListener::bind(&config.bind).with_context(|| format!("binding {}", config.bind))?;
        let port = listener.local_addr()?.port();
        let mut server = HttpServer::new(move || crm_http::build_app(state.clone()))
            .shutdown_timeout(10)
            .listen(listener)?;
        if let Some(workers) = config.workers {
            server = server.workers(workers);
        }
        Ok(Self {
            port,
            server: server.run(),
            background: vec![heartbeat, reminders, deliveries, streams_closer],
            _sqlite_lock: sqlite_lock,
        })
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGINT or SIGTERM, then finishes in-flight requests (up to 10 s).
    ///
    /// # Errors
    /// The server's I/O error.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        for task in &self.background {
            task.abort();
        }
        served
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_one_server_holds_a_sqlite_file() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            // A data folder that does not exist yet, as on a fresh machine's first `make run`.
            data_dir: dir.path().join("data"),
            ..Config::default()
        };
        let first = hold_sqlite_file(&config).unwrap();
        assert!(first.is_some());
        assert!(
            hold_sqlite_file(&config).unwrap().is_none(),
            "a second server does not hold the file"
        );
        drop(first);
        assert!(
            hold_sqlite_file(&config).unwrap().is_some(),
            "free again once released"
        );
        let postgres = Config {
            database_url: Some("postgres://u@h/db".into()),
            ..config
        };
        assert!(hold_sqlite_file(&postgres).unwrap().is_none());
    }

    #[test]
    fn passwords_are_redacted_from_logged_urls() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("sqlite://data/crm.db"), "sqlite://data/crm.db");
    }

    #[test]
    fn a_generated_secret_is_kept_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        let first = jwt_secret(&config).unwrap();
        assert_eq!(first.len(), 64);
        assert_eq!(jwt_secret(&config).unwrap(), first);
        let short = Config {
            jwt_secret: Some("s3cret".into()),
            ..config.clone()
        };
        let err = jwt_secret(&short).unwrap_err().to_string();
        assert!(err.contains("at least 32 bytes"), "{err}");
        let configured = Config {
            jwt_secret: Some("0123456789abcdef0123456789abcdef".into()),
            ..config
        };
        assert_eq!(
            jwt_secret(&configured).unwrap(),
            "0123456789abcdef0123456789abcdef"
        );
    }
}
