//! Running an import: rows from a file ([`RowSource`]) through the rules of
//! [`super`] and the customer validation, into storage in batches, with a job that
//! reports progress and every rejected row.
//!
//! - Customers: rows are read 1,000 at a time; each valid row is matched against the stored
//!   customers and the earlier rows of the file by [`ImportOptions::customer_match_by`]
//!   (e-mail by default) and created, updated or skipped by
//!   [`ImportOptions::duplicate_policy`]. An update is field-level: the row's non-empty cells
//!   (the fields the file sets) are put over the customer as it is inside the batch's
//!   transaction, read there under its lock ([`CustomerBatch::next`]), and saved on the
//!   version read; a row that changes nothing is `skipped`. So a concurrent PATCH that
//!   committed first keeps every field the file does not set, and a PATCH after the import
//!   sees the new version. A batch is one transaction; when it fails (a unique value taken by
//!   a customer the match did not cover), its rows are written again one by one, each under a
//!   savepoint of a new transaction, so only the offending rows fail.
//! - Orders: rows are read 1,000 at a time; each finds its customer by its normalised key
//!   (stored customers are looked up per batch on the unique indexes; a missing one is
//!   created from the first row naming it when `create_missing_customers`), then the batch is
//!   placed through [`OrderService::place_many_in`] in one transaction with its new customers:
//!   the rules of [`OrderService::place`] order by order, so statistics, points and tiers
//!   come out exactly as if the orders had been posted one by one; an order whose `order_ref`
//!   exists is `skipped`. When the batch's transaction fails, its customers and orders are
//!   written one by one, each under a savepoint, so only the offending rows fail.
//! - Checkpoints: the job's progress (`result`: the last line committed and the counters) and
//!   the batch's rejected rows are written in the batch's own transaction
//!   ([`ImportCheckpoint`]), so an interrupted import leaves whole batches and its job says
//!   exactly where it stopped. A checkpoint is refused when the job is no longer `running` (a
//!   sweep failed it after its lease ran out): the batch is rolled back and the import stops.
//! - A dry run does all the checks and writes nothing, and keeps the first 20 rows as they
//!   would be stored (`preview`).

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};

use super::address_rows::{
    AddressChange, AddressContext, address_row, apply_address, default_billing, keep_change,
};
use super::aliases::resolve_mapping;
use super::contact_rows::{
    ContactChange, ContactContext, apply_contact, contact_row, keep_contact, primary,
};
use super::model::{ImportCheckpoint, ImportKind};
use super::options::{DuplicatePolicy, ImportOptions, MatchBy};
use super::ports::{FileError, ImportFiles, ImportRepository, RowSource};
use super::rows::{RowError, customer_row, order_row};
use crate::access::{Actor, Permission};
use crate::address::{Address, AddressInput, AddressRepository};
use crate::contact::{Contact, ContactInput, ContactRepository};
use crate::customer::filter::Filter;
use crate::customer::{
    Customer, CustomerBatch, CustomerInput, CustomerProfile, CustomerRepository, NewCustomer,
    UniqueField, ValidationContext, created_events, update_events,
};
use crate::error::{DomainError, RepositoryError, RuleViolation};
use crate::event::{EntityType, NewEvent};
use crate::ids::{CustomerId, JobId};
use crate::job::{
    ImportCounts, ImportOutcome, Job, JobOutcome, JobRepository, JobService, LEASE_LOST,
};
use crate::order::{BulkOrder, BulkOrderTransaction, BulkOutcome, OrderService};
use crate::ports::{Clock, IdGenerator, truncate_to_micros};
use crate::tenant::{TenantRepository, load};

/// Rows read and written per batch.
pub const IMPORT_BATCH: usize = 1_000;
/// Rows kept in a dry run's preview.
pub const PREVIEW_ROWS: usize = 20;
/// Warnings kept on an import's outcome (`warning_rows`); `warnings` counts every warned row.
pub const WARNING_ROWS: usize = 100;

/// An import: its options and the file it reads.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    /// Options (validated by [`ImportService::accept`]).
    pub options: ImportOptions,
    /// The file's name as uploaded.
    pub file_name: String,
    /// SHA-256 of the file (hex): the base of derived order refs.
    pub fingerprint: String,
}

/// Why [`ImportService::accept`] refused an import.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AcceptImportError {
    /// The caller may not import, the options are invalid (naming `options.<field>`), or the
    /// storage failed.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The file cannot be read as CSV or XLSX; the reason.
    #[error("{0}")]
    UnreadableFile(String),
    /// The file has a header and no data row.
    #[error("the file has a header but no rows")]
    NoRows,
    /// The file has more data rows than the limit.
    #[error("the file has more than {limit} rows")]
    TooManyRows {
        /// The most data rows a file may have.
        limit: u64,
    },
    /// The file breaks another limit of the reader (columns, unzipped size, shared strings,
    /// one XML element).
    #[error("{detail}")]
    FileBeyondLimit {
        /// The setting that holds the limit (`CRM_MAX_IMPORT_COLUMNS`, ...).
        setting: String,
        /// Its value.
        limit: u64,
        /// What broke it.
        detail: String,
    },
}

impl From<FileError> for AcceptImportError {
    fn from(e: FileError) -> Self {
        match e {
            FileError::Unreadable(reason) => Self::UnreadableFile(reason),
            FileError::BeyondLimit {
                setting,
                limit,
                detail,
            } => Self::FileBeyondLimit {
                setting,
                limit,
                detail,
            },
        }
    }
}

/// An import [`ImportService::accept`] took: its `running` job, the file's data rows, and the
/// run, which the caller spawns (or awaits) and which yields the finished job.
pub struct AcceptedImport {
    /// The job as accepted (`running`, nothing read yet).
    pub job: Job,
    /// Data rows in the file.
    pub rows: u64,
    /// Reads the file to its end, recording progress and outcome on the job.
    pub run: Pin<Box<dyn Future<Output = Job> + Send + 'static>>,
}

impl std::fmt::Debug for AcceptedImport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcceptedImport")
            .field("job", &self.job)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

struct Progress {
    counts: ImportCounts,
    last_line: u64,
    preview: Vec<Value>,
    /// The first [`WARNING_ROWS`] warnings.
    warnings: Vec<RowError>,
    started: Instant,
}

impl Progress {
    /// Nothing read yet: the last line is the header's.
    fn new() -> Self {
        Self {
            counts: ImportCounts::default(),
            last_line: 1,
            preview: Vec::new(),
            warnings: Vec::new(),
            started: Instant::now(),
        }
    }

    /// Counts the row at `line` as warned when its address change is
    /// [`AddressChange::Incomplete`] (imported without its address), keeping the first
    /// [`WARNING_ROWS`] warnings.
    fn warn(&mut self, line: u64, change: Option<&AddressChange>) {
        if let Some(AddressChange::Incomplete(fields)) = change {
            self.counts.warnings += 1;
            let room = WARNING_ROWS.saturating_sub(self.warnings.len());
            self.warnings.extend(
                RowError::from_field_errors(line, fields.clone())
                    .into_iter()
                    .take(room),
            );
        }
    }
}

/// Import use cases (needs `customers.manage`).
pub struct ImportService {
    customers: Arc<dyn CustomerRepository>,
    tenants: Arc<dyn TenantRepository>,
    jobs: Arc<dyn JobRepository>,
    reads: JobService,
    errors: Arc<dyn ImportRepository>,
    files: Arc<dyn ImportFiles>,
    orders: Arc<OrderService>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    addresses: Option<Arc<dyn AddressRepository>>,
    contacts: Option<Arc<dyn ContactRepository>>,
}

fn key_of(p: &CustomerProfile, by: MatchBy) -> Vec<String> {
    match by {
        MatchBy::Email => p.email.iter().map(|e| e.as_str().to_owned()).collect(),
        MatchBy::Phone => [&p.phone, &p.mobile_phone]
            .into_iter()
            .flatten()
            .map(|x| x.as_str().to_owned())
            .collect(),
        MatchBy::ExternalRef => p.external_ref.iter().cloned().collect(),
    }
}

fn preview_of(
    line: u64,
    action: &str,
    p: &CustomerProfile,
    id: Option<CustomerId>,
    billing: Option<&Address>,
    contact: Option<&Contact>,
) -> Value {
    json!({
        "line": line,
        "action": action,
        "customer_id": id.map(|c| c.0),
        "name": p.name,
        "email": p.email.as_ref().map(|e| e.as_str()),
        "phone": p.phone.as_ref().map(|e| e.as_str()),
        "mobile_phone": p.mobile_phone.as_ref().map(|e| e.as_str()),
        "customer_type": p.customer_type.as_str(),
        "company": p.company,
        "status": p.status.as_str(),
        "tags": p.tags,
        "external_ref": p.external_ref,
        "currency": p.currency.as_str(),
        "billing_address": billing.map(super::address_rows::preview),
        "primary_contact": contact.map(super::contact_rows::preview),
    })
}

fn conflict_reason(e: &RepositoryError) -> (Option<String>, String) {
    match e {
        RepositoryError::Conflict { field } => (
            Some(field.clone()),
            format!("this {field} belongs to another customer"),
        ),
        other => (None, other.to_string()),
    }
}

/// One row of a batch that updates a stored customer: the fields its cells set, applied to
/// the customer as it is inside the batch's transaction.
struct RowUpdate {
    line: u64,
    id: CustomerId,
    input: CustomerInput,
    /// The row's address cells, put over the customer's default billing address.
    address: Option<AddressInput>,
    /// The row's contact cells, put over the customer's primary contact.
    contact: Option<ContactInput>,
}

/// A row of a batch whose customer cells are valid: its line, cells, profile, and its
/// address and contact cells.
type ValidRow = (
    u64,
    CustomerInput,
    CustomerProfile,
    Option<AddressInput>,
    Option<ContactInput>,
);

/// What became of an update row under the lock; an updated or skipped row's line and
/// warnings when its address was not stored ([`AddressChange::Incomplete`]).
enum Applied {
    Updated(Option<(u64, Vec<crate::error::FieldError>)>),
    Skipped(Option<(u64, Vec<crate::error::FieldError>)>),
    Failed(Vec<RowError>),
}

/// The row's cells (`input`, the fields the file sets) over `base`, validated as a whole:
/// the merged profile, or `None` when it changes nothing.
fn merge(
    base: &CustomerProfile,
    input: CustomerInput,
    ctx: &ValidationContext,
) -> Result<Option<CustomerProfile>, Vec<crate::error::FieldError>> {
    let merged = CustomerInput::from(base).overlay(input).validate(ctx)?;
    Ok((merged != *base).then_some(merged))
}

/// A row's profile merge and address change together: both results, or every error of
/// either.
fn both<A, B>(
    a: Result<A, Vec<crate::error::FieldError>>,
    b: Result<B, Vec<crate::error::FieldError>>,
) -> Result<(A, B), Vec<crate::error::FieldError>> {
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (Err(mut e), Err(more)) => {
            e.extend(more);
            Err(e)
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    }
}

/// Why an import stopped before the end of its file.
#[derive(Debug)]
enum Stop {
    /// A use case's or the storage's error.
    Failed(DomainError),
    /// A checkpoint found the job no longer `running`: a sweep failed it ([`LEASE_LOST`]).
    LeaseLost,
}

impl Stop {
    /// The error of a checkpoint's write: a job no longer running lost its lease.
    fn checkpoint(e: RepositoryError) -> Self {
        match e {
            RepositoryError::Stale => Stop::LeaseLost,
            e => Stop::Failed(e.into()),
        }
    }
}

impl From<DomainError> for Stop {
    fn from(e: DomainError) -> Self {
        Stop::Failed(e)
    }
}

impl From<RepositoryError> for Stop {
    fn from(e: RepositoryError) -> Self {
        Stop::Failed(e.into())
    }
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stop::Failed(e) => e.fmt(f),
            Stop::LeaseLost => f.write_str(LEASE_LOST),
        }
    }
}

impl ImportService {
    /// Wires the service.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        customers: Arc<dyn CustomerRepository>,
        tenants: Arc<dyn TenantRepository>,
        jobs: Arc<dyn JobRepository>,
        errors: Arc<dyn ImportRepository>,
        files: Arc<dyn ImportFiles>,
        orders: Arc<OrderService>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
    ) -> Self {
        Self {
            customers,
            tenants,
            reads: JobService::new(jobs.clone()),
            jobs,
            errors,
            files,
            orders,
            clock,
            ids,
            addresses: None,
            contacts: None,
        }
    }

    /// Gives a dry run the customers' stored contacts, so its preview and checks of an
    /// `update` row's contact are those of the real run (without it, a dry run puts the row's
    /// contact cells over no stored contact).
    #[must_use]
    pub fn with_contacts(mut self, contacts: Arc<dyn ContactRepository>) -> Self {
        self.contacts = Some(contacts);
        self
    }

    /// The contacts of a customer for a dry run ([`ImportService::with_contacts`]).
    async fn stored_contacts(
        &self,
        actor: &Actor,
        id: CustomerId,
    ) -> Result<Vec<Contact>, DomainError> {
        match &self.contacts {
            Some(repo) => Ok(repo.list(actor.tenant_id, id).await?),
            None => Ok(Vec::new()),
        }
    }

    /// Who writes a customer's import contact, and the country its phones are read in: those
    /// of its address.
    fn contact_context<'a>(a: &AddressContext<'a>) -> ContactContext<'a> {
        ContactContext {
            tenant: a.tenant,
            customer: a.customer,
            by: a.by,
            now: a.now,
            country: a.default_country,
        }
    }

    /// Gives a dry run the customers' stored addresses, so its preview and checks of an
    /// `update` row's address are those of the real run (without it, a dry run puts the row's
    /// address cells over no stored address).
    #[must_use]
    pub fn with_addresses(mut self, addresses: Arc<dyn AddressRepository>) -> Self {
        self.addresses = Some(addresses);
        self
    }

    /// The addresses of a customer for a dry run ([`ImportService::with_addresses`]).
    async fn stored_addresses(
        &self,
        actor: &Actor,
        id: CustomerId,
    ) -> Result<Vec<Address>, DomainError> {
        match &self.addresses {
            Some(repo) => Ok(repo.list(actor.tenant_id, id).await?),
            None => Ok(Vec::new()),
        }
    }

    /// Who writes a customer's import address, and its default country.
    fn address_context<'a>(
        actor: &'a Actor,
        ctx: &ValidationContext,
        customer: CustomerId,
        country: Option<crate::values::CountryCode>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> AddressContext<'a> {
        AddressContext {
            tenant: actor.tenant_id,
            customer,
            by: &actor.user_id,
            now,
            default_country: country.or(ctx.default_country),
        }
    }

    fn outcome(req: &ImportRequest, p: &Progress) -> JobOutcome {
        let elapsed = p.started.elapsed();
        JobOutcome::Import(ImportOutcome {
            file: req.file_name.clone(),
            dry_run: req.options.dry_run,
            counts: p.counts,
            last_line: p.last_line,
            duration_ms: elapsed.as_millis() as u64,
            rows_per_second: if elapsed.as_secs_f64() > 0.0 {
                (p.counts.rows_read as f64 / elapsed.as_secs_f64()).round()
            } else {
                0.0
            },
            preview: req.options.dry_run.then(|| p.preview.clone()),
            warning_rows: p.warnings.clone(),
        })
    }

    /// Checks that `actor` may import at all, before anything of the upload is read or stored:
    /// both kinds of import need `customers.manage`. [`ImportService::accept`] checks again,
    /// with the options.
    ///
    /// # Errors
    /// [`DomainError::Forbidden`] without `customers.manage`.
    pub fn authorize(&self, actor: &Actor) -> Result<(), DomainError> {
        actor
            .require(Permission::CustomersManage)
            .map_err(DomainError::from)
    }

    /// Accepts an import of the file at `path`: checks the caller (`customers.manage`) and the
    /// options, counts the file's data rows (refusing a file without any, or with more than
    /// `max_rows`), opens it, and stores a `running` job. The import itself is the returned
    /// [`AcceptedImport::run`], for the caller to spawn or await; the file must stay in place
    /// until that ends.
    ///
    /// # Errors
    /// [`AcceptImportError::Domain`] with [`DomainError::Forbidden`] without `customers.manage`,
    /// [`DomainError::Validation`] naming `options.<field>`, or a storage failure;
    /// [`AcceptImportError::UnreadableFile`], [`AcceptImportError::NoRows`],
    /// [`AcceptImportError::TooManyRows`], [`AcceptImportError::FileBeyondLimit`] for the file.
    #[tracing::instrument(name = "ImportService::accept", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id))]
    pub async fn accept(
        self: &Arc<Self>,
        actor: &Actor,
        req: ImportRequest,
        path: &Path,
        max_rows: Option<u64>,
    ) -> Result<AcceptedImport, AcceptImportError> {
        actor
            .require(Permission::CustomersManage)
            .map_err(DomainError::from)?;
        req.options.validate().map_err(DomainError::Validation)?;
        let (delimiter, latin1) = (req.options.delimiter, req.options.latin1);
        let limit = max_rows.unwrap_or(u64::MAX);
        let rows = self
            .files
            .count_rows(path, delimiter, latin1, limit)
            .await?;
        if rows > limit {
            return Err(AcceptImportError::TooManyRows { limit });
        }
        if rows == 0 {
            return Err(AcceptImportError::NoRows);
        }
        let source = self.files.open(path, delimiter, latin1).await?;
        let job = self.start(actor, &req).await?;
        let service = Arc::clone(self);
        let runner = actor.clone();
        let running = job.clone();
        Ok(AcceptedImport {
            job,
            rows,
            run: Box::pin(async move { service.run(&runner, running, req, source).await }),
        })
    }

    /// Stores the `running` job of an accepted import.
    async fn start(&self, actor: &Actor, req: &ImportRequest) -> Result<Job, DomainError> {
        let job = Job::start(
            JobId(self.ids.new_id()),
            actor.tenant_id,
            req.options.kind.job_kind(),
            Some(actor.user_id.clone()),
            truncate_to_micros(self.clock.now()),
            Some(Self::outcome(req, &Progress::new())),
        );
        let started = NewEvent::new(
            actor,
            "import.started",
            EntityType::Import,
            job.id.0,
            job.created_at,
        )
        .data(json!({
            "job_id": job.id.0,
            "kind": req.options.kind.as_str(),
            "file_name": req.file_name.chars().take(200).collect::<String>(),
        }));
        self.jobs.save_with_events(&job, &[started]).await?;
        Ok(job)
    }

    /// The rejected rows of an import, by line.
    ///
    /// # Errors
    /// As [`JobService::import`].
    #[tracing::instrument(name = "ImportService::errors", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id, job_id = %id))]
    pub async fn errors(&self, actor: &Actor, id: JobId) -> Result<Vec<RowError>, DomainError> {
        self.reads.import(actor, id).await?;
        Ok(self.errors.errors(actor.tenant_id, id).await?)
    }

    /// Runs an accepted import to its end and records the outcome on the job (also returned).
    /// [`ImportService::accept`] hands this over as [`AcceptedImport::run`].
    #[tracing::instrument(name = "ImportService::run", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id))]
    pub async fn run(
        &self,
        actor: &Actor,
        mut job: Job,
        req: ImportRequest,
        mut source: Box<dyn RowSource>,
    ) -> Job {
        let mut p = Progress::new();
        let outcome = match req.options.kind {
            ImportKind::Customers => {
                self.run_customers(actor, &job, &req, source.as_mut(), &mut p)
                    .await
            }
            ImportKind::Orders => {
                self.run_orders(actor, &job, &req, source.as_mut(), &mut p)
                    .await
            }
        };
        let now = truncate_to_micros(self.clock.now());
        match outcome {
            Ok(()) => job.complete(Self::outcome(&req, &p), now),
            Err(e) => {
                job.result = Some(Self::outcome(&req, &p));
                job.fail(
                    format!(
                        "stopped after line {}: {e}; rows up to that line are stored",
                        p.last_line
                    ),
                    now,
                );
            }
        }
        let (kind, error) = match &job.error {
            None => ("import.completed", None),
            Some(e) => (
                "import.failed",
                Some(e.chars().take(500).collect::<String>()),
            ),
        };
        let ended = NewEvent::new(actor, kind, EntityType::Import, job.id.0, now).data(json!({
            "job_id": job.id.0,
            "kind": req.options.kind.as_str(),
            "counts": p.counts,
            "error": error,
        }));
        if let Err(e) = self.jobs.save_with_events(&job, &[ended]).await {
            tracing::error!(job = %job.id, error = %e, "could not record the import's outcome");
        }
        job
    }

    /// The checkpoint of the progress `p`, with the rows rejected since the last one (taken
    /// out of `errors`).
    fn checkpoint_of(
        job: &Job,
        req: &ImportRequest,
        p: &Progress,
        errors: &mut Vec<RowError>,
    ) -> ImportCheckpoint {
        let mut job = job.clone();
        job.result = Some(Self::outcome(req, p));
        ImportCheckpoint {
            job,
            errors: std::mem::take(errors),
        }
    }

    /// Records the checkpoint of a batch that writes nothing (a dry run's, the end of the file)
    /// in a transaction of its own.
    async fn save_checkpoint(
        &self,
        job: &Job,
        req: &ImportRequest,
        p: &Progress,
        errors: &mut Vec<RowError>,
    ) -> Result<(), Stop> {
        let checkpoint = Self::checkpoint_of(job, req, p, errors);
        self.errors
            .save_checkpoint(&checkpoint)
            .await
            .map_err(Stop::checkpoint)
    }

    /// Reads up to [`IMPORT_BATCH`] good rows (through [`RowSource::next_rows`], so off the
    /// async threads for a file), counting and recording the rejected ones; fewer once the
    /// rows read hold [`super::BATCH_TEXT_BYTES`] of text (the next batch goes on).
    async fn read_batch(
        source: &mut dyn RowSource,
        p: &mut Progress,
        errors: &mut Vec<RowError>,
    ) -> Vec<(u64, Vec<String>)> {
        let mut rows = Vec::with_capacity(IMPORT_BATCH);
        // The batch's text, bounded like one read of rows (`BATCH_TEXT_BYTES`).
        let mut bytes = 0usize;
        while rows.len() < IMPORT_BATCH && bytes < super::BATCH_TEXT_BYTES {
            let got = source.next_rows(IMPORT_BATCH - rows.len()).await;
            if got.is_empty() {
                break;
            }
            for next in got {
                bytes = bytes.saturating_add(super::row_text_bytes(&next));
                match next {
                    Ok(row) => {
                        p.counts.rows_read += 1;
                        // The text rule on every cell (line breaks allowed: a cell may hold
                        // notes); the value is not echoed, and storage never sees a NUL.
                        let bad = row.1.iter().position(|c| {
                            crate::values::has_forbidden_control(
                                c,
                                crate::values::TextKind::MultiLine,
                            )
                        });
                        if let Some(column) = bad {
                            p.counts.failed += 1;
                            errors.push(RowError::row(
                                row.0,
                                format!(
                                    "column {}: must not contain NUL or other control characters",
                                    column + 1
                                ),
                            ));
                            continue;
                        }
                        rows.push(row);
                    }
                    Err(reason) => {
                        p.counts.rows_read += 1;
                        p.counts.failed += 1;
                        errors.push(RowError::row(p.last_line + 1, reason));
                    }
                }
            }
        }
        rows
    }

    /// Stored live customers whose `by` value is one of `keys`, by that value.
    async fn existing(
        &self,
        actor: &Actor,
        by: MatchBy,
        keys: Vec<String>,
    ) -> Result<HashMap<String, Customer>, DomainError> {
        let mut out = HashMap::new();
        if keys.is_empty() {
            return Ok(out);
        }
        let fields: &[UniqueField] = match by {
            MatchBy::Email => &[UniqueField::Email],
            MatchBy::Phone => &[UniqueField::Phone, UniqueField::MobilePhone],
            MatchBy::ExternalRef => &[UniqueField::ExternalRef],
        };
        // Exact values on the unique indexes (not the filter language's case-insensitive text
        // match, which no index serves).
        for chunk in keys.chunks(500) {
            for field in fields {
                for c in self
                    .customers
                    .find_many_by_unique(actor.tenant_id, *field, chunk.to_vec())
                    .await?
                {
                    for k in key_of(&c.profile, by) {
                        out.entry(k).or_insert_with(|| c.clone());
                    }
                }
            }
        }
        Ok(out)
    }

    async fn run_customers(
        &self,
        actor: &Actor,
        job: &Job,
        req: &ImportRequest,
        source: &mut dyn RowSource,
        p: &mut Progress,
    ) -> Result<(), Stop> {
        let opts = &req.options;
        let by = opts.customer_match_by();
        let mapping = resolve_mapping(opts, &source.headers()).map_err(DomainError::Validation)?;
        let ctx = self.validation_context(actor).await?;
        // Key → customer created or updated by an earlier row of this file.
        let mut seen: HashMap<String, CustomerId> = HashMap::new();
        let mut errors = Vec::new();
        loop {
            // The progress as last committed: where a failed batch leaves it.
            let committed = (p.counts, p.last_line, p.warnings.len());
            let rows = Self::read_batch(source, p, &mut errors).await;
            if rows.is_empty() {
                break;
            }
            let batch_last = rows.last().map_or(p.last_line, |r| r.0);
            let mut valid: Vec<ValidRow> = Vec::new();
            for (line, cells) in rows {
                let parsed = customer_row(&mapping, &cells, opts).and_then(|input| {
                    let profile = input.clone().validate(&ctx)?;
                    Ok((input, profile))
                });
                let address = address_row(&mapping, &cells);
                let contact = contact_row(&mapping, &cells);
                match parsed {
                    Ok((input, profile)) => valid.push((line, input, profile, address, contact)),
                    Err(e) => {
                        p.counts.failed += 1;
                        errors.extend(RowError::from_field_errors(line, e));
                    }
                }
            }
            let keys: Vec<String> = valid
                .iter()
                .flat_map(|(_, _, pr, _, _)| key_of(pr, by))
                .filter(|k| !seen.contains_key(k))
                .collect();
            let existing = self.existing(actor, by, keys).await?;
            // What to write: new customers, and the rows that update stored ones (applied
            // under the lock when the batch is written).
            let mut creates: Vec<(u64, NewCustomer)> = Vec::new();
            let mut updates: Vec<RowUpdate> = Vec::new();
            // A dry run's updated profiles, by customer (the base of later rows of the batch).
            let mut dry: HashMap<CustomerId, CustomerProfile> = HashMap::new();
            // A dry run's addresses of the customers it updates, as they would be.
            let mut dry_addresses: HashMap<CustomerId, Vec<Address>> = HashMap::new();
            // And their contacts.
            let mut dry_contacts: HashMap<CustomerId, Vec<Contact>> = HashMap::new();
            let now = truncate_to_micros(self.clock.now());
            for (line, input, profile, address, contact) in valid {
                let keys = key_of(&profile, by);
                let earlier = keys.iter().find_map(|k| seen.get(k).copied());
                let stored = keys.iter().find_map(|k| existing.get(k));
                let matched = earlier.or(stored.map(|c| c.id));
                let action = match (matched, opts.duplicate_policy) {
                    (None, _) | (Some(_), DuplicatePolicy::Create) => "create",
                    (Some(_), DuplicatePolicy::Skip) => "skip",
                    (Some(_), DuplicatePolicy::Update) => "update",
                };
                let mut shown = profile.clone();
                let mut shown_address: Option<Address> = None;
                let mut shown_contact: Option<Contact> = None;
                match (action, matched) {
                    ("create", _) | (_, None) => {
                        let mut new = self.new_customer(actor, profile);
                        let actx = Self::address_context(
                            actor,
                            &ctx,
                            new.id,
                            new.profile.country,
                            new.created_at,
                        );
                        let change = address
                            .as_ref()
                            .map(|row| apply_address(row, None, 0, &actx, || self.ids.new_id()))
                            .transpose();
                        let cchange = contact
                            .as_ref()
                            .map(|row| {
                                apply_contact(row, &[], &Self::contact_context(&actx), || {
                                    self.ids.new_id()
                                })
                            })
                            .transpose();
                        match both(change, cchange) {
                            Ok((change, cchange)) => {
                                p.warn(line, change.as_ref());
                                if let Some(AddressChange::Insert(a)) = change {
                                    shown_address = Some(a.clone());
                                    new.addresses.push(a);
                                }
                                if let Some(ContactChange::Insert(c)) = cchange {
                                    shown_contact = Some(c.clone());
                                    new.contacts.push(c);
                                }
                            }
                            Err(e) => {
                                p.counts.failed += 1;
                                errors.extend(RowError::from_field_errors(line, e));
                                continue;
                            }
                        }
                        for k in &keys {
                            seen.entry(k.clone()).or_insert(new.id);
                        }
                        creates.push((line, new));
                        p.counts.created += 1;
                    }
                    ("skip", _) => p.counts.skipped += 1,
                    (_, Some(id)) => {
                        if let Some((_, n)) = creates.iter_mut().find(|(_, n)| n.id == id) {
                            // A customer this batch creates: the row's cells over its profile
                            // and its address. Each row counts by its own action.
                            let merged = merge(&n.profile, input, &ctx);
                            let country = match &merged {
                                Ok(Some(m)) => m.country,
                                _ => n.profile.country,
                            };
                            let actx =
                                Self::address_context(actor, &ctx, n.id, country, n.created_at);
                            let change = address
                                .as_ref()
                                .map(|row| {
                                    apply_address(
                                        row,
                                        default_billing(&n.addresses),
                                        n.addresses.len(),
                                        &actx,
                                        || self.ids.new_id(),
                                    )
                                })
                                .transpose();
                            let cchange = contact
                                .as_ref()
                                .map(|row| {
                                    apply_contact(
                                        row,
                                        &n.contacts,
                                        &Self::contact_context(&actx),
                                        || self.ids.new_id(),
                                    )
                                })
                                .transpose();
                            match both(both(merged, change), cchange) {
                                Ok(((merged, change), cchange)) => {
                                    p.warn(line, change.as_ref());
                                    // Not stored yet: it is still its first version.
                                    let moved = keep_change(&mut n.addresses, change, false);
                                    let moved_contact =
                                        keep_contact(&mut n.contacts, cchange, false);
                                    if let Some(m) = merged.clone() {
                                        n.profile = m;
                                    }
                                    shown = n.profile.clone();
                                    shown_address = default_billing(&n.addresses).cloned();
                                    shown_contact = primary(&n.contacts).cloned();
                                    if merged.is_some() || moved || moved_contact {
                                        p.counts.updated += 1;
                                    } else {
                                        p.counts.skipped += 1;
                                    }
                                }
                                Err(e) => {
                                    p.counts.failed += 1;
                                    errors.extend(RowError::from_field_errors(line, e));
                                }
                            }
                        } else if !opts.dry_run {
                            // Applied to the customer as it is inside the batch's transaction,
                            // under its lock: a concurrent change is never overwritten.
                            updates.push(RowUpdate {
                                line,
                                id,
                                input,
                                address,
                                contact,
                            });
                        } else {
                            let base = match dry.get(&id).cloned().or_else(|| {
                                stored.filter(|c| c.id == id).map(|c| c.profile.clone())
                            }) {
                                Some(base) => Ok(base),
                                // Matched a customer written by an earlier batch: load it.
                                None => crate::customer::load_live(
                                    self.customers.as_ref(),
                                    actor.tenant_id,
                                    id,
                                )
                                .await
                                .map(|c| c.profile),
                            };
                            let stored_addresses = match dry_addresses.remove(&id) {
                                Some(list) => Ok(list),
                                None => self.stored_addresses(actor, id).await,
                            };
                            let stored_contacts = match dry_contacts.remove(&id) {
                                Some(list) => Ok(list),
                                None => self.stored_contacts(actor, id).await,
                            };
                            match base.and_then(|b| Ok((b, stored_addresses?, stored_contacts?))) {
                                Ok((b, mut list, mut people)) => {
                                    let merged = merge(&b, input, &ctx);
                                    let country = match &merged {
                                        Ok(Some(m)) => m.country,
                                        _ => b.country,
                                    };
                                    let actx = Self::address_context(actor, &ctx, id, country, now);
                                    let change = address
                                        .as_ref()
                                        .map(|row| {
                                            apply_address(
                                                row,
                                                default_billing(&list),
                                                list.len(),
                                                &actx,
                                                || self.ids.new_id(),
                                            )
                                        })
                                        .transpose();
                                    let cchange = contact
                                        .as_ref()
                                        .map(|row| {
                                            apply_contact(
                                                row,
                                                &people,
                                                &Self::contact_context(&actx),
                                                || self.ids.new_id(),
                                            )
                                        })
                                        .transpose();
                                    match both(both(merged, change), cchange) {
                                        Ok(((merged, change), cchange)) => {
                                            p.warn(line, change.as_ref());
                                            let moved = keep_change(&mut list, change, true);
                                            let moved_contact =
                                                keep_contact(&mut people, cchange, true);
                                            shown = merged.clone().unwrap_or(b);
                                            shown_address = default_billing(&list).cloned();
                                            shown_contact = primary(&people).cloned();
                                            if let Some(m) = merged.clone() {
                                                dry.insert(id, m);
                                            }
                                            if merged.is_some() || moved || moved_contact {
                                                p.counts.updated += 1;
                                            } else {
                                                p.counts.skipped += 1;
                                            }
                                        }
                                        Err(e) => {
                                            p.counts.failed += 1;
                                            errors.extend(RowError::from_field_errors(line, e));
                                        }
                                    }
                                    dry_addresses.insert(id, list);
                                    dry_contacts.insert(id, people);
                                }
                                Err(e) => {
                                    p.counts.failed += 1;
                                    errors.push(RowError::row(line, e.to_string()));
                                }
                            }
                        }
                    }
                }
                if opts.dry_run && p.preview.len() < PREVIEW_ROWS {
                    p.preview.push(preview_of(
                        line,
                        action,
                        &shown,
                        matched,
                        shown_address.as_ref(),
                        shown_contact.as_ref(),
                    ));
                }
            }
            p.last_line = batch_last;
            let written = if opts.dry_run {
                self.save_checkpoint(job, req, p, &mut errors).await
            } else {
                self.write_customers(actor, &ctx, job, req, creates, updates, p, &mut errors)
                    .await
            };
            if let Err(e) = written {
                // Nothing of the batch is stored: the progress stays where it was.
                (p.counts, p.last_line) = (committed.0, committed.1);
                p.warnings.truncate(committed.2);
                return Err(e);
            }
            // Written rows are found by the next batches' lookups: only a dry run needs to
            // remember them, so memory stays bounded by the batch.
            if !opts.dry_run {
                seen.clear();
            }
        }
        self.save_checkpoint(job, req, p, &mut errors).await
    }

    /// Writes one batch and its checkpoint (the progress in `p`, whose `last_line` is the
    /// batch's, and the rejected rows in `errors`) in one transaction: new customers with
    /// multi-row inserts, then the updates, each row's cells over the customer as it is under
    /// the lock. When the batch's writes fail (a unique value taken by a customer the match did
    /// not cover), they are written again row by row in a new transaction, each under a
    /// savepoint, so only the offending rows fail; the checkpoint then commits with those rows.
    #[allow(clippy::too_many_arguments)]
    async fn write_customers(
        &self,
        actor: &Actor,
        ctx: &ValidationContext,
        job: &Job,
        req: &ImportRequest,
        creates: Vec<(u64, NewCustomer)>,
        updates: Vec<RowUpdate>,
        p: &mut Progress,
        errors: &mut Vec<RowError>,
    ) -> Result<(), Stop> {
        let now = truncate_to_micros(self.clock.now());
        let news: Vec<NewCustomer> = creates.iter().map(|(_, n)| n.clone()).collect();
        let mut b = self.customers.begin_batch(actor.tenant_id).await?;
        let together = async {
            if !news.is_empty() {
                b.insert(actor.tenant_id, &news).await?;
                let created: Vec<NewEvent> = news
                    .iter()
                    .flat_map(|n| created_events(actor, n, now))
                    .collect();
                b.append_events(&created).await?;
            }
            self.apply_updates(actor, ctx, b.as_mut(), &updates, now)
                .await
        }
        .await;
        match together {
            Ok(applied) => Self::tally(p, errors, applied),
            Err(e @ RepositoryError::Unavailable(_)) => return Err(e.into()),
            Err(_) => {
                drop(b);
                b = self.customers.begin_batch(actor.tenant_id).await?;
                for (line, n) in creates {
                    b.savepoint().await?;
                    let inserted = match b.insert(actor.tenant_id, std::slice::from_ref(&n)).await {
                        Ok(()) => b.append_events(&created_events(actor, &n, now)).await,
                        Err(e) => Err(e),
                    };
                    match inserted {
                        Ok(()) => b.release_savepoint().await?,
                        Err(e @ RepositoryError::Unavailable(_)) => return Err(e.into()),
                        Err(e) => {
                            b.rollback_to_savepoint().await?;
                            p.counts.created = p.counts.created.saturating_sub(1);
                            Self::reject(p, errors, line, &e);
                        }
                    }
                }
                for u in &updates {
                    b.savepoint().await?;
                    match self
                        .apply_updates(actor, ctx, b.as_mut(), std::slice::from_ref(u), now)
                        .await
                    {
                        Ok(applied) => {
                            b.release_savepoint().await?;
                            Self::tally(p, errors, applied);
                        }
                        Err(e @ RepositoryError::Unavailable(_)) => return Err(e.into()),
                        Err(e) => {
                            b.rollback_to_savepoint().await?;
                            Self::reject(p, errors, u.line, &e);
                        }
                    }
                }
            }
        }
        let checkpoint = Self::checkpoint_of(job, req, p, errors);
        b.record_checkpoint(&checkpoint)
            .await
            .map_err(Stop::checkpoint)?;
        b.commit().await?;
        Ok(())
    }

    /// Applies update rows inside the batch `b`: reads their customers there, locked (in id
    /// order), puts each row's cells over the customer as it is now (after the earlier rows of
    /// the batch), and saves each changed customer on the version read. A customer deleted
    /// since the match fails its rows.
    async fn apply_updates(
        &self,
        actor: &Actor,
        ctx: &ValidationContext,
        b: &mut dyn CustomerBatch,
        updates: &[RowUpdate],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<Applied>, RepositoryError> {
        let mut ids: Vec<CustomerId> = updates.iter().map(|u| u.id).collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let limit = u32::try_from(ids.len()).unwrap_or(u32::MAX);
        let mut current: HashMap<CustomerId, Customer> = b
            .next(
                actor.tenant_id,
                &crate::access::Visibility::All,
                &Filter::default(),
                Some(ids),
                None,
                limit,
            )
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        // The addresses of the customers whose rows have address cells, read under their lock.
        let with_address: Vec<CustomerId> = {
            let mut v: Vec<CustomerId> = updates
                .iter()
                .filter(|u| u.address.is_some() && current.contains_key(&u.id))
                .map(|u| u.id)
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let mut addresses: HashMap<CustomerId, Vec<Address>> = HashMap::new();
        if !with_address.is_empty() {
            for a in b.addresses_of(actor.tenant_id, with_address).await? {
                addresses.entry(a.customer_id).or_default().push(a);
            }
        }
        // And the contacts of those whose rows have contact cells.
        let with_contact: Vec<CustomerId> = {
            let mut v: Vec<CustomerId> = updates
                .iter()
                .filter(|u| u.contact.is_some() && current.contains_key(&u.id))
                .map(|u| u.id)
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let mut contacts: HashMap<CustomerId, Vec<Contact>> = HashMap::new();
        if !with_contact.is_empty() {
            for c in b.contacts_of(actor.tenant_id, with_contact).await? {
                contacts.entry(c.customer_id).or_default().push(c);
            }
        }
        let originals: HashMap<CustomerId, Customer> =
            current.iter().map(|(id, c)| (*id, c.clone())).collect();
        let mut events = Vec::new();
        let mut changed = Vec::new();
        let mut applied = Vec::with_capacity(updates.len());
        for u in updates {
            let Some(c) = current.get_mut(&u.id) else {
                applied.push(Applied::Failed(vec![RowError::row(
                    u.line,
                    "the customer this row matched was deleted while the file was imported",
                )]));
                continue;
            };
            let merged = merge(&c.profile, u.input.clone(), ctx);
            let country = match &merged {
                Ok(Some(m)) => m.country,
                _ => c.profile.country,
            };
            let list = addresses.entry(u.id).or_default();
            let actx = Self::address_context(actor, ctx, u.id, country, now);
            let change = u
                .address
                .as_ref()
                .map(|row| {
                    apply_address(row, default_billing(list), list.len(), &actx, || {
                        self.ids.new_id()
                    })
                })
                .transpose();
            let people = contacts.entry(u.id).or_default();
            let cchange = u
                .contact
                .as_ref()
                .map(|row| {
                    apply_contact(row, people, &Self::contact_context(&actx), || {
                        self.ids.new_id()
                    })
                })
                .transpose();
            applied.push(match both(both(merged, change), cchange) {
                Ok(((merged, change), cchange)) => {
                    let warned = match &change {
                        Some(AddressChange::Incomplete(fields)) => Some((u.line, fields.clone())),
                        _ => None,
                    };
                    match &change {
                        Some(AddressChange::Insert(a)) => {
                            b.insert_address(a).await?;
                            events.push(crate::address::added_event(actor, a, now));
                        }
                        Some(AddressChange::Update(a, version)) => {
                            b.update_address(a, *version).await?;
                            if let Some(before) = list.iter().find(|x| x.id == a.id) {
                                events.extend(crate::address::updated_event(actor, before, a, now));
                            }
                        }
                        _ => {}
                    }
                    match &cchange {
                        Some(ContactChange::Insert(c)) => {
                            b.insert_contact(c).await?;
                            events.push(crate::contact::added_event(actor, c, now));
                        }
                        Some(ContactChange::Update(c)) => {
                            b.update_contact(c).await?;
                            if let Some(before) = people.iter().find(|x| x.id == c.id) {
                                events.extend(crate::contact::updated_event(actor, before, c, now));
                            }
                        }
                        _ => {}
                    }
                    let moved =
                        keep_change(list, change, true) | keep_contact(people, cchange, true);
                    match merged {
                        Some(m) => {
                            c.profile = m;
                            c.updated_at = now;
                            c.updated_by = Some(actor.user_id.clone());
                            changed.push(c.id);
                            Applied::Updated(warned)
                        }
                        None if moved => Applied::Updated(warned),
                        None => Applied::Skipped(warned),
                    }
                }
                Err(e) => Applied::Failed(RowError::from_field_errors(u.line, e)),
            });
        }
        changed.sort_unstable();
        changed.dedup();
        for id in changed {
            if let Some(c) = current.get(&id) {
                b.save(c).await?;
                if let Some(before) = originals.get(&id) {
                    events.extend(update_events(actor, before, &c.profile, None, now));
                }
            }
        }
        if !events.is_empty() {
            b.append_events(&events).await?;
        }
        Ok(applied)
    }

    /// Counts the rows [`ImportService::apply_updates`] applied.
    fn tally(p: &mut Progress, errors: &mut Vec<RowError>, applied: Vec<Applied>) {
        for a in applied {
            match a {
                Applied::Updated(warned) => {
                    p.counts.updated += 1;
                    Self::tally_warning(p, warned);
                }
                Applied::Skipped(warned) => {
                    p.counts.skipped += 1;
                    Self::tally_warning(p, warned);
                }
                Applied::Failed(e) => {
                    p.counts.failed += 1;
                    errors.extend(e);
                }
            }
        }
    }

    /// Counts the warning of an applied update row, if it has one.
    fn tally_warning(p: &mut Progress, warned: Option<(u64, Vec<crate::error::FieldError>)>) {
        if let Some((line, fields)) = warned {
            p.warn(line, Some(&AddressChange::Incomplete(fields)));
        }
    }

    /// The rules rows are validated by: the caller's tenant's default country and currency,
    /// today.
    async fn validation_context(&self, actor: &Actor) -> Result<ValidationContext, DomainError> {
        let tenant = load(self.tenants.as_ref(), actor.tenant_id).await?;
        Ok(ValidationContext {
            default_country: tenant.default_country,
            default_currency: tenant.default_currency,
            today: self.clock.now().date_naive(),
        })
    }

    /// A new customer of the caller's tenant, created by the caller now.
    fn new_customer(&self, actor: &Actor, profile: CustomerProfile) -> NewCustomer {
        NewCustomer {
            id: CustomerId(self.ids.new_id()),
            tenant_id: actor.tenant_id,
            profile,
            created_by: Some(actor.user_id.clone()),
            created_at: truncate_to_micros(self.clock.now()),
            addresses: Vec::new(),
            contacts: Vec::new(),
        }
    }

    /// Counts a row as failed with the storage error that refused it.
    fn reject(p: &mut Progress, errors: &mut Vec<RowError>, line: u64, e: &RepositoryError) {
        p.counts.failed += 1;
        let (field, reason) = conflict_reason(e);
        errors.push(RowError {
            line,
            field,
            reason,
        });
    }

    async fn run_orders(
        &self,
        actor: &Actor,
        job: &Job,
        req: &ImportRequest,
        source: &mut dyn RowSource,
        p: &mut Progress,
    ) -> Result<(), Stop> {
        let opts = &req.options;
        let mapping = resolve_mapping(opts, &source.headers()).map_err(DomainError::Validation)?;
        let ctx = self.validation_context(actor).await?;
        let mut errors = Vec::new();
        loop {
            // The progress as last committed: where a failed batch leaves it.
            let committed = (p.counts, p.last_line);
            let rows = Self::read_batch(source, p, &mut errors).await;
            let Some(last_line) = rows.last().map(|(line, _)| *line) else {
                break;
            };
            // Parse every row and name its customer by a normalised key.
            let mut parsed = Vec::with_capacity(rows.len());
            for (line, cells) in rows {
                let row = match order_row(&mapping, &cells, opts, &req.fingerprint, line) {
                    Ok(r) => r,
                    Err(e) => {
                        p.counts.failed += 1;
                        errors.extend(RowError::from_field_errors(line, e));
                        continue;
                    }
                };
                let Some((by, value)) = row.customer.lookup(opts.match_by) else {
                    p.counts.failed += 1;
                    errors.push(RowError::row(line, "the row names no customer"));
                    continue;
                };
                // The text rule before anything is looked up: storage never sees a NUL.
                let mut text_errors = row.order.text_errors();
                if let Err(e) = crate::values::check_text(
                    by.as_str(),
                    value,
                    crate::values::TextKind::SingleLine,
                ) {
                    text_errors.push(e);
                }
                if !text_errors.is_empty() {
                    p.counts.failed += 1;
                    errors.extend(RowError::from_field_errors(line, text_errors));
                    continue;
                }
                let key = (by, normalised_key(by, value, ctx.default_country));
                parsed.push((line, row, key));
            }
            let mut known = self
                .customers_by_key(actor, parsed.iter().map(|(_, _, k)| k))
                .await?;
            // Customers to create (the first row naming one describes it), orders to place.
            let mut new_customers: Vec<(u64, NewCustomer)> = Vec::new();
            let mut orders = Vec::with_capacity(parsed.len());
            for (line, row, key) in parsed {
                let customer = match known.get(&key) {
                    Some(id) => *id,
                    None if !opts.create_missing_customers => {
                        p.counts.failed += 1;
                        errors.push(RowError::row(
                            line,
                            format!("no customer with {} {}", key.0.as_str(), key.1),
                        ));
                        continue;
                    }
                    None => match row.new_customer(opts).validate(&ctx) {
                        Ok(profile) => {
                            let new = self.new_customer(actor, profile);
                            let id = new.id;
                            new_customers.push((line, new));
                            known.insert(key.clone(), id);
                            id
                        }
                        Err(e) => {
                            p.counts.failed += 1;
                            errors.extend(RowError::from_field_errors(line, e));
                            continue;
                        }
                    },
                };
                if opts.dry_run {
                    if p.preview.len() < PREVIEW_ROWS {
                        p.preview.push(json!({
                            "line": line,
                            "customer": key.1,
                            "order_ref": row.order.order_ref,
                            "placed_at": row.order.placed_at,
                            "total_amount": row.order.total_amount,
                            "status": row.order.status.map(|s| s.as_str()),
                        }));
                    }
                    p.counts.created += 1;
                    continue;
                }
                orders.push(BulkOrder {
                    key: line,
                    customer_id: customer,
                    input: row.order,
                });
            }
            p.last_line = last_line;
            let written = if opts.dry_run {
                self.save_checkpoint(job, req, p, &mut errors).await
            } else {
                self.write_orders(actor, job, req, new_customers, orders, p, &mut errors)
                    .await
            };
            if let Err(e) = written {
                // Nothing of the batch is stored: the progress stays where it was.
                (p.counts, p.last_line) = committed;
                return Err(e);
            }
        }
        self.save_checkpoint(job, req, p, &mut errors).await
    }

    /// Stored live customers named by `keys`, by key.
    async fn customers_by_key<'a>(
        &self,
        actor: &Actor,
        keys: impl Iterator<Item = &'a (MatchBy, String)>,
    ) -> Result<HashMap<(MatchBy, String), CustomerId>, DomainError> {
        let mut wanted: HashMap<MatchBy, Vec<String>> = HashMap::new();
        for (by, value) in keys {
            wanted.entry(*by).or_default().push(value.clone());
        }
        let mut out = HashMap::new();
        for (by, mut values) in wanted {
            values.sort_unstable();
            values.dedup();
            for (k, c) in self.existing(actor, by, values).await? {
                out.insert((by, k), c.id);
            }
        }
        Ok(out)
    }

    /// Places one batch of orders (and creates their missing customers) and records its
    /// checkpoint (the progress in `p`, whose `last_line` is the batch's, and the rejected rows
    /// in `errors`) in one transaction. When the batch fails, its customers and orders are
    /// written one by one in a new transaction, each under a savepoint, so only the offending
    /// rows fail; the checkpoint then commits with those rows.
    #[allow(clippy::too_many_arguments)]
    async fn write_orders(
        &self,
        actor: &Actor,
        job: &Job,
        req: &ImportRequest,
        new_customers: Vec<(u64, NewCustomer)>,
        orders: Vec<BulkOrder>,
        p: &mut Progress,
        errors: &mut Vec<RowError>,
    ) -> Result<(), Stop> {
        let all: Vec<NewCustomer> = new_customers.iter().map(|(_, n)| n.clone()).collect();
        let mut tx = self.orders.begin_bulk(actor.tenant_id).await?;
        let outcomes = match self
            .orders
            .place_many_in(actor, tx.as_mut(), &all, orders.clone())
            .await
        {
            Ok(outcomes) => outcomes,
            Err(e @ (DomainError::Unavailable(_) | DomainError::Forbidden { .. })) => {
                return Err(e.into());
            }
            Err(_) => {
                drop(tx);
                tx = self.orders.begin_bulk(actor.tenant_id).await?;
                self.orders_one_by_one(actor, tx.as_mut(), new_customers, orders, p, errors)
                    .await?
            }
        };
        for (line, outcome) in outcomes {
            match outcome {
                Ok(placed) if placed.created => p.counts.created += 1,
                Ok(_) => p.counts.skipped += 1,
                Err(DomainError::Validation(e)) => {
                    p.counts.failed += 1;
                    errors.extend(RowError::from_field_errors(line, e));
                }
                Err(
                    DomainError::Conflict { field, message, .. }
                    | DomainError::Rule(RuleViolation { field, message, .. }),
                ) => {
                    p.counts.failed += 1;
                    errors.push(RowError {
                        line,
                        field: Some(field),
                        reason: message,
                    });
                }
                Err(e) => {
                    p.counts.failed += 1;
                    errors.push(RowError::row(line, e.to_string()));
                }
            }
        }
        let checkpoint = Self::checkpoint_of(job, req, p, errors);
        tx.record_checkpoint(&checkpoint)
            .await
            .map_err(Stop::checkpoint)?;
        tx.commit().await?;
        Ok(())
    }

    /// The fallback of a failed batch of orders, inside `tx`: each new customer, then each
    /// order, under a savepoint of its own, so a failure undoes only its row.
    async fn orders_one_by_one(
        &self,
        actor: &Actor,
        tx: &mut dyn BulkOrderTransaction,
        new_customers: Vec<(u64, NewCustomer)>,
        orders: Vec<BulkOrder>,
        p: &mut Progress,
        errors: &mut Vec<RowError>,
    ) -> Result<Vec<BulkOutcome>, Stop> {
        let mut lost = std::collections::HashSet::new();
        for (line, n) in new_customers {
            tx.savepoint().await?;
            match tx
                .insert_customers(actor.tenant_id, std::slice::from_ref(&n))
                .await
            {
                Ok(()) => tx.release_savepoint().await?,
                Err(e @ RepositoryError::Unavailable(_)) => return Err(e.into()),
                Err(e) => {
                    tx.rollback_to_savepoint().await?;
                    Self::reject(p, errors, line, &e);
                    lost.insert(n.id);
                }
            }
        }
        let mut outcomes = Vec::with_capacity(orders.len());
        for o in orders {
            if lost.contains(&o.customer_id) {
                p.counts.failed += 1;
                errors.push(RowError::row(o.key, "its customer could not be created"));
                continue;
            }
            let key = o.key;
            tx.savepoint().await?;
            match self
                .orders
                .place_many_in(actor, &mut *tx, &[], vec![o])
                .await
            {
                Ok(placed) => {
                    tx.release_savepoint().await?;
                    outcomes.extend(placed);
                }
                Err(e @ (DomainError::Unavailable(_) | DomainError::Forbidden { .. })) => {
                    return Err(e.into());
                }
                Err(e) => {
                    tx.rollback_to_savepoint().await?;
                    outcomes.push((key, Err(e)));
                }
            }
        }
        Ok(outcomes)
    }
}

/// A customer key as stored: e-mails lower-cased, phones in E.164 (national numbers read in
/// the tenant's country), external refs trimmed; a value that does not parse is kept as given
/// (it then matches nothing stored).
fn normalised_key(by: MatchBy, value: &str, country: Option<crate::values::CountryCode>) -> String {
    match by {
        MatchBy::Phone => crate::values::PhoneNumber::parse(value, country)
            .map(|ph| ph.as_str().to_owned())
            .unwrap_or_else(|_| value.to_owned()),
        MatchBy::Email => crate::values::EmailAddress::parse(value)
            .map(|e| e.as_str().to_owned())
            .unwrap_or_else(|| value.trim().to_owned()),
        MatchBy::ExternalRef => value.trim().to_owned(),
    }
}
