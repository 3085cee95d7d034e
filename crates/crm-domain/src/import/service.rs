//! Running an import: rows from a file ([`RowSource`]) through the rules of
//! [`super`] and the customer validation, into storage in batches, with a job that
//! reports progress and every rejected row.
//!
//! - Customers: rows are read 1,000 at a time; each valid row is matched against the stored
//!   customers and the earlier rows of the file by [`ImportOptions::customer_match_by`]
//!   (e-mail by default) and created, updated (the row's non-empty cells over the stored
//!   profile; a row that changes nothing is `skipped`) or skipped by
//!   [`ImportOptions::duplicate_policy`]. A batch is one transaction; when it fails (a unique
//!   value taken by a customer the match did not cover), its rows are retried one by one so
//!   only the offending rows fail. The job's `result` says after each batch which line was
//!   committed last, so an interrupted import leaves whole batches and says where it stopped.
//! - Orders: rows are read 1,000 at a time; each finds its customer by its normalised key
//!   (stored customers are looked up per batch on the unique indexes; a missing one is
//!   created from the first row naming it when `create_missing_customers`), then the batch is
//!   placed through [`OrderService::place_many`] in one transaction with its new customers:
//!   the rules of [`OrderService::place`] order by order, so statistics, points and tiers
//!   come out exactly as if the orders had been posted one by one; an order whose `order_ref`
//!   exists is `skipped`. When the batch's transaction fails, its customers and orders are
//!   written one by one so only the offending rows fail.
//! - A dry run does all the checks and writes nothing, and keeps the first 20 rows as they
//!   would be stored (`preview`).

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};

use super::aliases::resolve_mapping;
use super::model::ImportKind;
use super::options::{DuplicatePolicy, ImportOptions, MatchBy};
use super::ports::{ImportFiles, ImportRepository, RowSource};
use super::rows::{RowError, customer_row, order_row};
use crate::access::{Actor, Permission};
use crate::customer::{
    Customer, CustomerInput, CustomerProfile, CustomerRepository, NewCustomer, UniqueField,
    ValidationContext,
};
use crate::error::{DomainError, RepositoryError, RuleViolation};
use crate::ids::{CustomerId, JobId};
use crate::job::{ImportCounts, ImportOutcome, Job, JobOutcome, JobRepository, JobService};
use crate::order::{BulkOrder, OrderService};
use crate::ports::{Clock, IdGenerator, truncate_to_micros};
use crate::tenant::{TenantRepository, load};

/// Rows read and written per batch.
pub const IMPORT_BATCH: usize = 1_000;
/// Rows kept in a dry run's preview.
pub const PREVIEW_ROWS: usize = 20;

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
    started: Instant,
}

impl Progress {
    /// Nothing read yet: the last line is the header's.
    fn new() -> Self {
        Self {
            counts: ImportCounts::default(),
            last_line: 1,
            preview: Vec::new(),
            started: Instant::now(),
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

fn preview_of(line: u64, action: &str, p: &CustomerProfile, id: Option<CustomerId>) -> Value {
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
        })
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
    /// [`AcceptImportError::TooManyRows`] for the file.
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
            .await
            .map_err(AcceptImportError::UnreadableFile)?;
        if rows > limit {
            return Err(AcceptImportError::TooManyRows { limit });
        }
        if rows == 0 {
            return Err(AcceptImportError::NoRows);
        }
        let source = self
            .files
            .open(path, delimiter, latin1)
            .map_err(AcceptImportError::UnreadableFile)?;
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
        self.jobs.save(&job).await?;
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
        if let Err(e) = self.jobs.save(&job).await {
            tracing::error!(job = %job.id, error = %e, "could not record the import's outcome");
        }
        job
    }

    async fn checkpoint(
        &self,
        job: &Job,
        req: &ImportRequest,
        p: &Progress,
        errors: &mut Vec<RowError>,
    ) -> Result<(), DomainError> {
        if !errors.is_empty() {
            self.errors
                .save_errors(job.tenant_id, job.id, std::mem::take(errors))
                .await?;
        }
        let mut j = job.clone();
        j.result = Some(Self::outcome(req, p));
        self.jobs.save(&j).await?;
        Ok(())
    }

    fn read_batch(
        source: &mut dyn RowSource,
        p: &mut Progress,
        errors: &mut Vec<RowError>,
    ) -> Vec<(u64, Vec<String>)> {
        let mut rows = Vec::with_capacity(IMPORT_BATCH);
        while rows.len() < IMPORT_BATCH {
            match source.next_row() {
                None => break,
                Some(Ok(row)) => {
                    p.counts.rows_read += 1;
                    // The text rule on every cell (line breaks allowed: a cell may hold notes);
                    // the value is not echoed, and storage never sees a NUL.
                    let bad = row.1.iter().position(|c| {
                        crate::values::has_forbidden_control(c, crate::values::TextKind::MultiLine)
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
                Some(Err(reason)) => {
                    p.counts.rows_read += 1;
                    p.counts.failed += 1;
                    errors.push(RowError::row(p.last_line + 1, reason));
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
    ) -> Result<(), DomainError> {
        let opts = &req.options;
        let by = opts.customer_match_by();
        let mapping = resolve_mapping(opts, &source.headers()).map_err(DomainError::Validation)?;
        let ctx = self.validation_context(actor).await?;
        // Key → customer created or updated by an earlier row of this file.
        let mut seen: HashMap<String, CustomerId> = HashMap::new();
        let mut errors = Vec::new();
        loop {
            let rows = Self::read_batch(source, p, &mut errors);
            if rows.is_empty() {
                break;
            }
            let batch_last = rows.last().map_or(p.last_line, |r| r.0);
            let mut valid: Vec<(u64, CustomerInput, CustomerProfile)> = Vec::new();
            for (line, cells) in rows {
                let parsed = customer_row(&mapping, &cells, opts).and_then(|input| {
                    let profile = input.clone().validate(&ctx)?;
                    Ok((input, profile))
                });
                match parsed {
                    Ok((input, profile)) => valid.push((line, input, profile)),
                    Err(e) => {
                        p.counts.failed += 1;
                        errors.extend(RowError::from_field_errors(line, e));
                    }
                }
            }
            let keys: Vec<String> = valid
                .iter()
                .flat_map(|(_, _, pr)| key_of(pr, by))
                .filter(|k| !seen.contains_key(k))
                .collect();
            let existing = self.existing(actor, by, keys).await?;
            // What to write: new customers, and updated stored ones (by id, latest wins).
            let mut creates: Vec<(u64, NewCustomer)> = Vec::new();
            let mut updates: Vec<(u64, Customer)> = Vec::new();
            let now = truncate_to_micros(self.clock.now());
            for (line, input, profile) in valid {
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
                match action {
                    "create" => {
                        let new = self.new_customer(actor, profile);
                        for k in &keys {
                            seen.entry(k.clone()).or_insert(new.id);
                        }
                        creates.push((line, new));
                        p.counts.created += 1;
                    }
                    "skip" => p.counts.skipped += 1,
                    _ => {
                        let id = matched.unwrap_or(CustomerId(uuid::Uuid::nil()));
                        // The row's cells over what this file or storage holds now.
                        let base_profile = creates
                            .iter()
                            .find(|(_, n)| n.id == id)
                            .map(|(_, n)| n.profile.clone())
                            .or_else(|| {
                                updates
                                    .iter()
                                    .find(|(_, c)| c.id == id)
                                    .map(|(_, c)| c.profile.clone())
                            })
                            .or_else(|| stored.filter(|c| c.id == id).map(|c| c.profile.clone()));
                        let Some(base) = base_profile else {
                            // Matched a customer written by an earlier batch: load it.
                            match crate::customer::load_live(
                                self.customers.as_ref(),
                                actor.tenant_id,
                                id,
                            )
                            .await
                            {
                                Ok(c) => {
                                    match CustomerInput::from(&c.profile)
                                        .overlay(input)
                                        .validate(&ctx)
                                    {
                                        Ok(merged) if merged == c.profile => p.counts.skipped += 1,
                                        Ok(merged) => {
                                            shown = merged.clone();
                                            updates.push((
                                                line,
                                                Customer {
                                                    profile: merged,
                                                    updated_at: now,
                                                    updated_by: Some(actor.user_id.clone()),
                                                    ..c
                                                },
                                            ));
                                            p.counts.updated += 1;
                                        }
                                        Err(e) => {
                                            p.counts.failed += 1;
                                            errors.extend(RowError::from_field_errors(line, e));
                                        }
                                    }
                                }
                                Err(e) => {
                                    p.counts.failed += 1;
                                    errors.push(RowError::row(line, e.to_string()));
                                }
                            }
                            continue;
                        };
                        match CustomerInput::from(&base).overlay(input).validate(&ctx) {
                            Ok(merged) if merged == base => p.counts.skipped += 1,
                            Ok(merged) => {
                                shown = merged.clone();
                                // Each row counts by its own action, also when it changes
                                // a customer an earlier row of this batch wrote.
                                if let Some((_, n)) = creates.iter_mut().find(|(_, n)| n.id == id) {
                                    n.profile = merged;
                                    p.counts.updated += 1;
                                } else if let Some((_, c)) =
                                    updates.iter_mut().find(|(_, c)| c.id == id)
                                {
                                    c.profile = merged;
                                    p.counts.updated += 1;
                                } else if let Some(c) = stored {
                                    updates.push((
                                        line,
                                        Customer {
                                            profile: merged,
                                            updated_at: now,
                                            updated_by: Some(actor.user_id.clone()),
                                            ..c.clone()
                                        },
                                    ));
                                    p.counts.updated += 1;
                                }
                            }
                            Err(e) => {
                                p.counts.failed += 1;
                                errors.extend(RowError::from_field_errors(line, e));
                            }
                        }
                    }
                }
                if opts.dry_run && p.preview.len() < PREVIEW_ROWS {
                    p.preview.push(preview_of(line, action, &shown, matched));
                }
            }
            if !opts.dry_run {
                self.write_customers(actor, creates, updates, p, &mut errors)
                    .await?;
            }
            p.last_line = batch_last;
            // Written rows are found by the next batches' lookups: only a dry run needs to
            // remember them, so memory stays bounded by the batch.
            if !opts.dry_run {
                seen.clear();
            }
            self.checkpoint(job, req, p, &mut errors).await?;
        }
        self.checkpoint(job, req, p, &mut errors).await
    }

    /// Writes one batch in one transaction; when that fails, row by row.
    async fn write_customers(
        &self,
        actor: &Actor,
        creates: Vec<(u64, NewCustomer)>,
        updates: Vec<(u64, Customer)>,
        p: &mut Progress,
        errors: &mut Vec<RowError>,
    ) -> Result<(), DomainError> {
        if creates.is_empty() && updates.is_empty() {
            return Ok(());
        }
        let all: Vec<NewCustomer> = creates.iter().map(|(_, n)| n.clone()).collect();
        let together = async {
            let mut b = self.customers.begin_batch().await?;
            b.insert(actor.tenant_id, &all).await?;
            for (_, c) in &updates {
                b.save(c).await?;
            }
            b.commit().await
        }
        .await;
        match together {
            Ok(()) => Ok(()),
            Err(RepositoryError::Unavailable(e)) => Err(DomainError::Unavailable(e)),
            Err(_) => {
                for (line, n) in creates {
                    if let Err(e) = self.write_one(actor, Some(&n), None).await {
                        p.counts.created -= 1;
                        Self::reject(p, errors, line, &e);
                    }
                }
                for (line, c) in updates {
                    if let Err(e) = self.write_one(actor, None, Some(&c)).await {
                        p.counts.updated -= 1;
                        Self::reject(p, errors, line, &e);
                    }
                }
                Ok(())
            }
        }
    }

    /// Writes one new or changed customer in its own transaction (the fallback of a batch).
    async fn write_one(
        &self,
        actor: &Actor,
        new: Option<&NewCustomer>,
        changed: Option<&Customer>,
    ) -> Result<(), RepositoryError> {
        let mut b = self.customers.begin_batch().await?;
        if let Some(n) = new {
            b.insert(actor.tenant_id, std::slice::from_ref(n)).await?;
        }
        if let Some(c) = changed {
            b.save(c).await?;
        }
        b.commit().await
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
    ) -> Result<(), DomainError> {
        let opts = &req.options;
        let mapping = resolve_mapping(opts, &source.headers()).map_err(DomainError::Validation)?;
        let ctx = self.validation_context(actor).await?;
        let mut errors = Vec::new();
        loop {
            let rows = Self::read_batch(source, p, &mut errors);
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
            if !opts.dry_run {
                self.write_orders(actor, new_customers, orders, p, &mut errors)
                    .await?;
            }
            p.last_line = last_line;
            self.checkpoint(job, req, p, &mut errors).await?;
        }
        self.checkpoint(job, req, p, &mut errors).await
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

    /// Places one batch of orders (and creates their missing customers) in one transaction;
    /// when that fails, customer by customer and order by order, so only the offending rows
    /// fail.
    async fn write_orders(
        &self,
        actor: &Actor,
        new_customers: Vec<(u64, NewCustomer)>,
        orders: Vec<BulkOrder>,
        p: &mut Progress,
        errors: &mut Vec<RowError>,
    ) -> Result<(), DomainError> {
        let all: Vec<NewCustomer> = new_customers.iter().map(|(_, n)| n.clone()).collect();
        let outcomes = match self.orders.place_many(actor, &all, orders.clone()).await {
            Ok(outcomes) => outcomes,
            Err(e @ (DomainError::Unavailable(_) | DomainError::Forbidden { .. })) => {
                return Err(e);
            }
            Err(_) => {
                let mut lost = std::collections::HashSet::new();
                for (line, n) in new_customers {
                    if let Err(e) = self.write_one(actor, Some(&n), None).await {
                        Self::reject(p, errors, line, &e);
                        lost.insert(n.id);
                    }
                }
                let mut outcomes = Vec::with_capacity(orders.len());
                for o in orders {
                    if lost.contains(&o.customer_id) {
                        p.counts.failed += 1;
                        errors.push(RowError::row(o.key, "its customer could not be created"));
                        continue;
                    }
                    let placed = self
                        .orders
                        .place(actor, o.customer_id, o.input, false)
                        .await;
                    if let Err(DomainError::Unavailable(e)) = placed {
                        return Err(DomainError::Unavailable(e));
                    }
                    outcomes.push((o.key, placed));
                }
                outcomes
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
        Ok(())
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
