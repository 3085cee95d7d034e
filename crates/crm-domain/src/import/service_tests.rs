//! The import service against mockall mocks of its ports and an in-memory file.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use uuid::Uuid;

use super::*;
use crate::access::Permission;
use crate::customer::{
    Customer, MockCustomerBatch, MockCustomerRepository, NewCustomer, UniqueField,
};
use crate::error::{DomainError, RepositoryError};
use crate::ids::{CustomerId, JobId, UserId};
use crate::job::{Job, JobKind, JobState, MockJobRepository};
use crate::order::{MockBulkOrderTransaction, MockOrderRepository, OrderService};
use crate::testing::{TENANT, actor, clock, customer, ids, now, tenants};

const STORED: CustomerId = CustomerId(Uuid::from_u128(2));
const JOB: JobId = JobId(Uuid::from_u128(3));

/// An import file in memory.
struct Rows {
    headers: Vec<String>,
    rows: VecDeque<Result<(u64, Vec<String>), String>>,
}

impl RowSource for Rows {
    fn headers(&self) -> Vec<String> {
        self.headers.clone()
    }

    fn next_row(&mut self) -> Option<Result<(u64, Vec<String>), String>> {
        self.rows.pop_front()
    }
}

/// A file with these headers and data rows, numbered from line 2.
fn file(headers: &[&str], rows: &[&[&str]]) -> Box<dyn RowSource> {
    Box::new(Rows {
        headers: headers.iter().map(|h| (*h).to_owned()).collect(),
        rows: rows
            .iter()
            .enumerate()
            .map(|(i, cells)| {
                Ok((
                    i as u64 + 2,
                    cells.iter().map(|c| (*c).to_owned()).collect(),
                ))
            })
            .collect(),
    })
}

/// What a mock was handed, for the test to look at afterwards.
type Saved<T> = Arc<Mutex<Vec<T>>>;

/// The ports of one import; each test sets the expectations it needs.
struct Ports {
    customers: MockCustomerRepository,
    jobs: MockJobRepository,
    errors: MockImportRepository,
    files: MockImportFiles,
    orders: MockOrderRepository,
}

impl Ports {
    fn new() -> Self {
        Self {
            customers: MockCustomerRepository::new(),
            jobs: MockJobRepository::new(),
            errors: MockImportRepository::new(),
            files: MockImportFiles::new(),
            orders: MockOrderRepository::new(),
        }
    }

    /// Keeps every job the service saves, and every rejected row it reports in a checkpoint
    /// of its own (a batch's transaction reports its rows through [`one_batch`]'s log).
    fn recording(mut self) -> (Self, Saved<Job>, Saved<RowError>) {
        let jobs = Arc::new(Mutex::new(Vec::new()));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let (j, e) = (jobs.clone(), errors.clone());
        self.jobs.expect_save().returning(move |job| {
            j.lock().unwrap().push(job.clone());
            Ok(())
        });
        let j = jobs.clone();
        self.jobs
            .expect_save_with_events()
            .returning(move |job, events| {
                j.lock().unwrap().push(job.clone());
                JOB_EVENTS.with(|e| e.borrow_mut().extend_from_slice(events));
                Ok(())
            });
        self.errors
            .expect_save_checkpoint()
            .returning(move |checkpoint| {
                e.lock().unwrap().extend(checkpoint.errors.clone());
                Ok(())
            });
        (self, jobs, errors)
    }
}

/// The one place the service is built.
fn service(ports: Ports) -> Arc<ImportService> {
    let customers = Arc::new(ports.customers);
    let orders = OrderService::new(
        customers.clone(),
        Arc::new(ports.orders),
        Arc::new(tenants(now)),
        Arc::new(clock(now)),
        Arc::new(ids()),
    );
    Arc::new(ImportService::new(
        customers,
        Arc::new(tenants(now)),
        Arc::new(ports.jobs),
        Arc::new(ports.errors),
        Arc::new(ports.files),
        Arc::new(orders),
        Arc::new(clock(now)),
        Arc::new(ids()),
    ))
}

/// Where the uploaded file is.
fn upload() -> &'static Path {
    Path::new("/uploads/customers.csv")
}

/// An upload of one data row, read as `rows`.
fn uploaded(files: &mut MockImportFiles, rows: fn() -> Box<dyn RowSource>) {
    files
        .expect_count_rows()
        .withf(|path, _, _, _| path == upload())
        .returning(|_, _, _, _| Ok(1));
    files.expect_open().returning(move |_, _, _| Ok(rows()));
}

fn request(options: ImportOptions) -> ImportRequest {
    ImportRequest {
        options,
        file_name: "customers.csv".into(),
        fingerprint: "f".repeat(64),
    }
}

fn customers_with(policy: DuplicatePolicy) -> ImportRequest {
    let mut options = ImportOptions::new(ImportKind::Customers);
    options.duplicate_policy = policy;
    request(options)
}

fn running(kind: JobKind) -> Job {
    Job::start(JOB, TENANT, kind, None, now(), None)
}

/// The stored customer Budi, budi@example.com.
fn budi() -> Customer {
    customer(STORED, now())
}

/// Storage where Budi is the only customer found by e-mail.
fn storing_budi(customers: &mut MockCustomerRepository) {
    customers
        .expect_find_many_by_unique()
        .withf(|t, field, _| *t == TENANT && *field == UniqueField::Email)
        .returning(|_, _, values| {
            Ok(if values.iter().any(|v| v == "budi@example.com") {
                vec![budi()]
            } else {
                vec![]
            })
        });
}

thread_local! {
    /// The events saved with this thread's jobs (`import.*`), in order.
    static JOB_EVENTS: std::cell::RefCell<Vec<crate::event::NewEvent>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// What one batch transaction did, in order: `insert`, `lock`, `save`, `checkpoint`,
/// `commit`; what it wrote (new customers, saved customers) and the checkpoints it recorded.
#[derive(Default)]
struct Log {
    steps: Vec<&'static str>,
    created: Vec<NewCustomer>,
    saved: Vec<Customer>,
    checkpoints: Vec<ImportCheckpoint>,
    /// The events the batch appended, in order.
    events: Vec<crate::event::NewEvent>,
}

type Written = Arc<Mutex<Log>>;

/// Storage taking one batch transaction, whose locked read ([`CustomerBatch::next`]) finds
/// `locked`, recording what it does (its checkpoints' rows also go to `errors`); the
/// checkpoint answers `checkpoint`.
fn one_batch_with(
    customers: &mut MockCustomerRepository,
    errors: &Saved<RowError>,
    locked: Vec<Customer>,
    checkpoint: fn() -> Result<(), RepositoryError>,
) -> Written {
    let written: Written = Arc::new(Mutex::new(Log::default()));
    let (w, e) = (written.clone(), errors.clone());
    customers.expect_begin_batch().times(1).returning(move |_| {
        let mut b = MockCustomerBatch::new();
        let (wi, wn, ws, wk, wc) = (w.clone(), w.clone(), w.clone(), w.clone(), w.clone());
        let e = e.clone();
        let locked = locked.clone();
        b.expect_insert().returning(move |_, new| {
            let mut log = wi.lock().unwrap();
            log.steps.push("insert");
            log.created.extend_from_slice(new);
            Ok(())
        });
        b.expect_next().returning(move |t, _, _, ids, _, _| {
            wn.lock().unwrap().steps.push("lock");
            let ids = ids.unwrap_or_default();
            Ok(locked
                .iter()
                .filter(|c| c.tenant_id == t && ids.contains(&c.id))
                .cloned()
                .collect())
        });
        b.expect_save().returning(move |c| {
            let mut log = ws.lock().unwrap();
            log.steps.push("save");
            log.saved.push(c.clone());
            Ok(())
        });
        b.expect_record_checkpoint().returning(move |c| {
            let mut log = wk.lock().unwrap();
            log.steps.push("checkpoint");
            log.checkpoints.push(c.clone());
            e.lock().unwrap().extend(c.errors.clone());
            checkpoint()
        });
        let we = w.clone();
        b.expect_append_events().returning(move |events| {
            we.lock().unwrap().events.extend_from_slice(events);
            Ok(())
        });
        b.expect_commit().returning(move || {
            wc.lock().unwrap().steps.push("commit");
            Ok(())
        });
        Ok(Box::new(b))
    });
    written
}

/// [`one_batch_with`] where the locked read finds Budi as stored and the checkpoint succeeds.
fn one_batch(customers: &mut MockCustomerRepository, errors: &Saved<RowError>) -> Written {
    one_batch_with(customers, errors, vec![budi()], || Ok(()))
}

fn counts(job: &Job) -> [u64; 5] {
    let c = job.import_outcome().unwrap().counts;
    [c.rows_read, c.created, c.updated, c.skipped, c.failed]
}

/// The rows a dry run previewed.
fn preview(job: &Job) -> &[Value] {
    job.import_outcome().unwrap().preview.as_deref().unwrap()
}

const HEADERS: &[&str] = &["Name", "Email"];

#[tokio::test]
async fn importing_needs_the_manage_permission() {
    // Neither the file nor the jobs are touched.
    let mut ports = Ports::new();
    ports.jobs.expect_save().never();
    ports.jobs.expect_save_with_events().never();
    ports.jobs.expect_find().never();
    ports.files.expect_count_rows().never();
    ports.files.expect_open().never();
    let s = service(ports);
    let forbidden = DomainError::Forbidden(Permission::CustomersManage);
    let req = customers_with(DuplicatePolicy::Skip);
    assert_eq!(
        s.accept(&actor("manager"), req, upload(), None)
            .await
            .unwrap_err(),
        AcceptImportError::Domain(forbidden.clone())
    );
    // (Reading an import's job needs it too: `JobService::import`, tested in `crate::job`.)
    assert_eq!(
        s.errors(&actor("manager"), JOB).await.unwrap_err(),
        forbidden
    );
}

#[tokio::test]
async fn invalid_options_are_refused_naming_each_field() {
    let mut ports = Ports::new();
    ports.jobs.expect_save().never();
    ports.jobs.expect_save_with_events().never();
    ports.files.expect_count_rows().never();
    let mut options = ImportOptions::new(ImportKind::Orders);
    options.duplicate_policy = DuplicatePolicy::Update;
    options.default_currency = Some("RUPIAH".into());
    let err = service(ports)
        .accept(&actor("admin"), request(options), upload(), None)
        .await
        .unwrap_err();
    let AcceptImportError::Domain(DomainError::Validation(errs)) = err else {
        panic!("expected a validation error, got {err:?}");
    };
    let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        ["options.default_currency", "options.duplicate_policy"]
    );
}

#[tokio::test]
async fn an_accepted_import_is_a_running_job_of_its_kind() {
    let (mut ports, jobs, _) = Ports::new().recording();
    uploaded(&mut ports.files, || {
        file(HEADERS, &[&["Sari", "sari@example.com"]])
    });
    let accepted = service(ports)
        .accept(
            &actor("admin"),
            customers_with(DuplicatePolicy::Skip),
            upload(),
            None,
        )
        .await
        .unwrap();
    let job = accepted.job;
    assert_eq!(
        (job.kind.as_str(), job.state, job.tenant_id),
        ("import_customers", JobState::Running, TENANT)
    );
    assert_eq!(*jobs.lock().unwrap(), [job]);
}

#[tokio::test]
async fn a_job_of_another_kind_is_not_an_import() {
    let mut ports = Ports::new();
    ports
        .jobs
        .expect_find()
        .withf(|t, id| *t == TENANT && *id == JOB)
        .returning(|_, _| Ok(Some(running(JobKind::RfmRecompute))));
    ports.errors.expect_errors().never();
    let s = service(ports);
    let not_found = DomainError::NotFound { entity: "import" };
    // (Reading the job itself as an import is `JobService::import`, tested in `crate::job`.)
    assert_eq!(s.errors(&actor("admin"), JOB).await.unwrap_err(), not_found);
}

#[tokio::test]
async fn new_customers_are_created_and_known_ones_skipped_by_default() {
    let (mut ports, _, errors) = Ports::new().recording();
    storing_budi(&mut ports.customers);
    let written = one_batch(&mut ports.customers, &errors);
    let job = service(ports)
        .run(
            &actor("admin"),
            running(JobKind::ImportCustomers),
            customers_with(DuplicatePolicy::Skip),
            file(
                HEADERS,
                &[
                    &["Budi Santoso", "BUDI@example.com"],
                    &["Sari", "sari@example.com"],
                ],
            ),
        )
        .await;
    assert_eq!(job.state, JobState::Completed, "{:?}", job.error);
    assert_eq!(counts(&job), [2, 1, 0, 1, 0]);
    let Log { created, saved, .. } = &*written.lock().unwrap();
    assert_eq!(created.len(), 1);
    assert_eq!(
        (
            created[0].profile.name.as_str(),
            created[0].tenant_id,
            created[0].created_by.as_ref().map(UserId::as_str)
        ),
        ("Sari", TENANT, Some("user-1"))
    );
    assert!(saved.is_empty());
    assert!(errors.lock().unwrap().is_empty());
}

#[tokio::test]
async fn under_the_update_policy_a_row_overwrites_the_known_customer_and_an_unchanged_row_is_skipped()
 {
    let (mut ports, _, errors) = Ports::new().recording();
    storing_budi(&mut ports.customers);
    let written = one_batch(&mut ports.customers, &errors);
    let job = service(ports)
        .run(
            &actor("admin"),
            running(JobKind::ImportCustomers),
            customers_with(DuplicatePolicy::Update),
            file(
                &["Name", "Email", "Company"],
                &[
                    &["Budi", "budi@example.com", ""],
                    &["Budi", "budi@example.com", "Toko Budi"],
                ],
            ),
        )
        .await;
    assert_eq!(counts(&job), [2, 0, 1, 1, 0]);
    let Log { created, saved, .. } = &*written.lock().unwrap();
    assert!(created.is_empty());
    assert_eq!(saved.len(), 1);
    assert_eq!(
        (saved[0].id, saved[0].profile.company.as_deref()),
        (STORED, Some("Toko Budi"))
    );
    assert_eq!(
        saved[0].updated_by.as_ref().map(UserId::as_str),
        Some("user-1")
    );
}

#[tokio::test]
async fn an_update_puts_the_rows_cells_over_the_customer_as_locked_in_the_batch() {
    // The lookup (outside the transaction) found Budi at version 1; by the time the batch
    // locks him, a PATCH has set his notes (version 2): the import keeps them, sets only the
    // field its file has, and saves on the version it locked.
    let (mut ports, _, errors) = Ports::new().recording();
    storing_budi(&mut ports.customers);
    let mut patched = budi();
    patched.profile.notes = Some("called on Monday".into());
    patched.version = 2;
    let written = one_batch_with(&mut ports.customers, &errors, vec![patched], || Ok(()));
    let job = service(ports)
        .run(
            &actor("admin"),
            running(JobKind::ImportCustomers),
            customers_with(DuplicatePolicy::Update),
            file(
                &["Name", "Email", "Company"],
                &[&["Budi", "budi@example.com", "Toko Budi"]],
            ),
        )
        .await;
    assert_eq!(job.state, JobState::Completed, "{:?}", job.error);
    assert_eq!(counts(&job), [1, 0, 1, 0, 0]);
    let log = written.lock().unwrap();
    assert_eq!(log.steps, ["lock", "save", "checkpoint", "commit"]);
    let saved = &log.saved[0];
    assert_eq!(
        (
            saved.version,
            saved.profile.notes.as_deref(),
            saved.profile.company.as_deref()
        ),
        (2, Some("called on Monday"), Some("Toko Budi"))
    );
}

#[tokio::test]
async fn an_update_of_a_customer_deleted_since_the_match_fails_its_row() {
    let (mut ports, _, errors) = Ports::new().recording();
    storing_budi(&mut ports.customers);
    let written = one_batch_with(&mut ports.customers, &errors, vec![], || Ok(()));
    let job = service(ports)
        .run(
            &actor("admin"),
            running(JobKind::ImportCustomers),
            customers_with(DuplicatePolicy::Update),
            file(
                &["Name", "Email", "Company"],
                &[&["Budi", "budi@example.com", "Toko Budi"]],
            ),
        )
        .await;
    assert_eq!(counts(&job), [1, 0, 0, 0, 1]);
    assert_eq!(
        written.lock().unwrap().steps,
        ["lock", "checkpoint", "commit"]
    );
    let errors = errors.lock().unwrap();
    assert_eq!(errors.len(), 1);
    assert!(errors[0].reason.contains("deleted"), "{}", errors[0].reason);
}

#[tokio::test]
async fn each_batch_commits_with_its_checkpoint() {
    // The progress (last line, counters) and the rejected rows are recorded in the batch's
    // own transaction, before its commit: never in a separate step after it.
    let (mut ports, jobs, errors) = Ports::new().recording();
    storing_budi(&mut ports.customers);
    let written = one_batch(&mut ports.customers, &errors);
    let job = service(ports)
        .run(
            &actor("admin"),
            running(JobKind::ImportCustomers),
            customers_with(DuplicatePolicy::Skip),
            file(
                HEADERS,
                &[&["Sari", "sari@example.com"], &["Ani", "not-an-e-mail"]],
            ),
        )
        .await;
    assert_eq!(job.state, JobState::Completed, "{:?}", job.error);
    let log = written.lock().unwrap();
    assert_eq!(log.steps, ["insert", "checkpoint", "commit"]);
    let checkpoint = &log.checkpoints[0];
    assert_eq!(
        (checkpoint.job.id, checkpoint.job.state),
        (JOB, JobState::Running)
    );
    let progress = checkpoint.job.import_outcome().unwrap();
    assert_eq!(
        (progress.last_line, progress.counts),
        (
            3,
            crate::job::ImportCounts {
                rows_read: 2,
                created: 1,
                failed: 1,
                ..Default::default()
            }
        )
    );
    let rejected: Vec<u64> = checkpoint.errors.iter().map(|e| e.line).collect();
    assert_eq!(rejected, [3]);
    // The job row itself is written once, when the run ends.
    let states: Vec<JobState> = jobs.lock().unwrap().iter().map(|j| j.state).collect();
    assert_eq!(states, [JobState::Completed]);
}

#[tokio::test]
async fn a_checkpoint_refused_for_a_lost_lease_rolls_the_batch_back_and_stops() {
    // A sweep failed the job (its lease ran out): the checkpoint is refused, the batch is not
    // committed, and the job says it stopped where the last commit left it.
    let (mut ports, _, errors) = Ports::new().recording();
    storing_budi(&mut ports.customers);
    let written = one_batch_with(&mut ports.customers, &errors, vec![], || {
        Err(RepositoryError::Stale)
    });
    let job = service(ports)
        .run(
            &actor("admin"),
            running(JobKind::ImportCustomers),
            customers_with(DuplicatePolicy::Skip),
            file(HEADERS, &[&["Sari", "sari@example.com"]]),
        )
        .await;
    assert_eq!(job.state, JobState::Failed);
    let error = job.error.as_deref().unwrap();
    assert!(error.contains(crate::job::LEASE_LOST), "{error}");
    assert!(error.starts_with("stopped after line 1:"), "{error}");
    assert_eq!(counts(&job), [0, 0, 0, 0, 0]);
    assert_eq!(written.lock().unwrap().steps, ["insert", "checkpoint"]);
}

#[tokio::test]
async fn under_the_create_policy_a_matching_row_is_created_anyway() {
    let (mut ports, _, errors) = Ports::new().recording();
    storing_budi(&mut ports.customers);
    let written = one_batch(&mut ports.customers, &errors);
    let job = service(ports)
        .run(
            &actor("admin"),
            running(JobKind::ImportCustomers),
            customers_with(DuplicatePolicy::Create),
            file(HEADERS, &[&["Budi", "budi@example.com"]]),
        )
        .await;
    assert_eq!(counts(&job), [1, 1, 0, 0, 0]);
    assert_eq!(written.lock().unwrap().created.len(), 1);
}

#[tokio::test]
async fn rejected_rows_are_reported_with_their_line_and_field() {
    let (mut ports, _, errors) = Ports::new().recording();
    storing_budi(&mut ports.customers);
    let written = one_batch(&mut ports.customers, &errors);
    let job = service(ports)
        .run(
            &actor("admin"),
            running(JobKind::ImportCustomers),
            customers_with(DuplicatePolicy::Skip),
            file(
                HEADERS,
                &[&["Sari", "sari@example.com"], &["Ani", "not-an-e-mail"]],
            ),
        )
        .await;
    assert_eq!(job.state, JobState::Completed);
    assert_eq!(counts(&job), [2, 1, 0, 0, 1]);
    assert_eq!(written.lock().unwrap().created.len(), 1);
    let errors = errors.lock().unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(
        (errors[0].line, errors[0].field.as_deref()),
        (3, Some("email"))
    );
}

#[tokio::test]
async fn a_dry_run_writes_nothing_and_previews_what_it_would_do() {
    let (mut ports, _, _) = Ports::new().recording();
    storing_budi(&mut ports.customers);
    ports.customers.expect_begin_batch().never();
    let mut req = customers_with(DuplicatePolicy::Skip);
    req.options.dry_run = true;
    let job = service(ports)
        .run(
            &actor("admin"),
            running(JobKind::ImportCustomers),
            req,
            file(
                HEADERS,
                &[&["Budi", "budi@example.com"], &["Sari", "sari@example.com"]],
            ),
        )
        .await;
    assert_eq!(job.state, JobState::Completed);
    assert_eq!(counts(&job), [2, 1, 0, 1, 0]);
    let actions: Vec<(u64, &str)> = preview(&job)
        .iter()
        .map(|p| (p["line"].as_u64().unwrap(), p["action"].as_str().unwrap()))
        .collect();
    assert_eq!(actions, [(2, "skip"), (3, "create")]);
}

#[tokio::test]
async fn a_file_without_a_name_column_fails_the_job_and_writes_nothing() {
    let (mut ports, _, _) = Ports::new().recording();
    ports.customers.expect_begin_batch().never();
    let job = service(ports)
        .run(
            &actor("admin"),
            running(JobKind::ImportCustomers),
            customers_with(DuplicatePolicy::Skip),
            file(&["Email"], &[&["sari@example.com"]]),
        )
        .await;
    assert_eq!(job.state, JobState::Failed);
    assert!(
        job.error.as_deref().unwrap().contains("name column"),
        "{:?}",
        job.error
    );
    assert_eq!(job.finished_at, Some(now()));
}

#[tokio::test]
async fn an_order_for_an_unknown_customer_fails_when_customers_are_not_created() {
    let (mut ports, _, errors) = Ports::new().recording();
    ports
        .customers
        .expect_find_many_by_unique()
        .returning(|_, _, _| Ok(vec![]));
    // The batch's transaction (it is opened even with nothing to place) places no order, and
    // records the checkpoint with the rejected row.
    let e = errors.clone();
    ports.orders.expect_begin_bulk().returning(move |_| {
        let mut tx = MockBulkOrderTransaction::new();
        tx.expect_insert_customers().never();
        tx.expect_lock_customers().returning(|_, _| Ok(vec![]));
        tx.expect_completed_totals_many()
            .returning(|_, _| Ok(vec![]));
        tx.expect_tiers().returning(|_| Ok(vec![]));
        tx.expect_insert_orders()
            .withf(|o| o.is_empty())
            .returning(|_| Ok(()));
        tx.expect_append_ledger_entries().returning(|_| Ok(()));
        tx.expect_append_tier_changes().returning(|_| Ok(()));
        tx.expect_settle_many().returning(|_, _| Ok(()));
        let e = e.clone();
        tx.expect_record_checkpoint().times(1).returning(move |c| {
            e.lock().unwrap().extend(c.errors.clone());
            Ok(())
        });
        tx.expect_commit().returning(|| Ok(()));
        Ok(Box::new(tx))
    });
    let mut options = ImportOptions::new(ImportKind::Orders);
    options.create_missing_customers = false;
    let job = service(ports)
        .run(
            &actor("admin"),
            running(JobKind::ImportOrders),
            request(options),
            file(
                &["Customer Email", "Order Ref", "Total Amount"],
                &[&["ghost@example.com", "INV-1", "1000"]],
            ),
        )
        .await;
    assert_eq!(counts(&job), [1, 0, 0, 0, 1]);
    let errors = errors.lock().unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].line, 2);
    assert!(
        errors[0].reason.contains("ghost@example.com"),
        "{}",
        errors[0].reason
    );
}

#[tokio::test]
async fn an_orders_dry_run_counts_the_orders_and_places_none() {
    let (mut ports, _, _) = Ports::new().recording();
    storing_budi(&mut ports.customers);
    ports.customers.expect_begin_batch().never();
    ports.orders.expect_begin().never();
    let mut options = ImportOptions::new(ImportKind::Orders);
    options.dry_run = true;
    let job = service(ports)
        .run(
            &actor("admin"),
            running(JobKind::ImportOrders),
            request(options),
            file(
                &[
                    "Customer Email",
                    "Customer Name",
                    "Order Ref",
                    "Total Amount",
                ],
                &[
                    &["budi@example.com", "", "INV-1", "1000"],
                    &["new@example.com", "Nina", "INV-2", "2000"],
                ],
            ),
        )
        .await;
    assert_eq!(job.state, JobState::Completed, "{:?}", job.error);
    assert_eq!(counts(&job), [2, 2, 0, 0, 0]);
    let refs: Vec<Value> = preview(&job)
        .iter()
        .map(|p| p["order_ref"].clone())
        .collect();
    assert_eq!(refs, [Value::from("INV-1"), Value::from("INV-2")]);
}
