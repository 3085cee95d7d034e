//! [`ImportService::accept`] against mockall mocks of its ports: what is checked, in which
//! order, before a job exists, and that the run it hands back records the outcome.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeZone, Utc};
use uuid::Uuid;

use super::*;
use crate::access::Permission;
use crate::customer::MockCustomerRepository;
use crate::error::DomainError;
use crate::ids::JobId;
use crate::job::{ImportCounts, Job, JobKind, JobState, MockJobRepository};
use crate::order::{MockOrderRepository, OrderService};
use crate::testing::{actor, clock, fixed_ids, tenants};

const JOB: Uuid = Uuid::from_u128(77);

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 31, 8, 0, 0).unwrap()
}

fn upload() -> PathBuf {
    PathBuf::from("/uploads/pelanggan.csv")
}

fn request(options: ImportOptions) -> ImportRequest {
    ImportRequest {
        options,
        file_name: "pelanggan.csv".into(),
        fingerprint: "ab".repeat(32),
    }
}

fn dry_run_of_customers() -> ImportOptions {
    ImportOptions {
        dry_run: true,
        ..ImportOptions::new(ImportKind::Customers)
    }
}

/// Rows from memory, numbered from line 2.
struct Rows(Vec<Vec<String>>, usize);

impl RowSource for Rows {
    fn headers(&self) -> Vec<String> {
        vec!["Nama".into(), "E-mail".into()]
    }

    fn next_row(&mut self) -> Option<Result<(u64, Vec<String>), String>> {
        let row = self.0.get(self.1)?.clone();
        self.1 += 1;
        Some(Ok((self.1 as u64 + 1, row)))
    }
}

fn two_customers() -> Box<dyn RowSource> {
    Box::new(Rows(
        vec![
            vec!["Budi".into(), "budi@example.com".into()],
            vec!["Siti".into(), "siti@example.com".into()],
        ],
        0,
    ))
}

/// What the mocked job storage saw.
type Saved = Arc<Mutex<Vec<Job>>>;

/// The service over `files` and `jobs`; the customer and tenant mocks serve a dry run of
/// customers (no stored customer matches).
fn service(files: MockImportFiles, jobs: MockJobRepository) -> Arc<ImportService> {
    let clock = Arc::new(clock(t0));
    let ids = Arc::new(fixed_ids(JOB));
    let mut customers = MockCustomerRepository::new();
    customers
        .expect_find_many_by_unique()
        .returning(|_, _, _| Ok(vec![]));
    let customers = Arc::new(customers);
    let tenants = Arc::new(tenants(t0));
    let orders = Arc::new(OrderService::new(
        customers.clone(),
        Arc::new(MockOrderRepository::new()),
        tenants.clone(),
        clock.clone(),
        ids.clone(),
    ));
    // A run records its progress in checkpoints.
    let mut checkpoints = MockImportRepository::new();
    checkpoints.expect_save_checkpoint().returning(|_| Ok(()));
    Arc::new(ImportService::new(
        customers,
        tenants,
        Arc::new(jobs),
        Arc::new(checkpoints),
        Arc::new(files),
        orders,
        clock,
        ids,
    ))
}

/// Job storage that records every save.
fn recording_jobs() -> (MockJobRepository, Saved) {
    let saved: Saved = Arc::default();
    let mut jobs = MockJobRepository::new();
    let log = saved.clone();
    jobs.expect_save().returning(move |j| {
        log.lock().unwrap().push(j.clone());
        Ok(())
    });
    let log = saved.clone();
    jobs.expect_save_with_events().returning(move |j, _| {
        log.lock().unwrap().push(j.clone());
        Ok(())
    });
    (jobs, saved)
}

/// A file of `rows` data rows, opened as [`two_customers`].
fn file_of(rows: u64) -> MockImportFiles {
    let mut files = MockImportFiles::new();
    files
        .expect_count_rows()
        .withf(|path, delimiter, latin1, _| {
            path == Path::new("/uploads/pelanggan.csv") && delimiter.is_none() && !latin1
        })
        .returning(move |_, _, _, limit| Ok(rows.min(limit.saturating_add(1))));
    files.expect_open().returning(|_, _, _| Ok(two_customers()));
    files
}

#[tokio::test]
async fn accept_checks_the_caller_and_the_options_before_reading_the_file() {
    // Neither the file nor the jobs are touched: their mocks have no expectations.
    let imports = service(MockImportFiles::new(), MockJobRepository::new());
    let refused = imports
        .accept(
            &actor("manager"),
            request(dry_run_of_customers()),
            &upload(),
            None,
        )
        .await;
    assert!(
        matches!(
            refused,
            Err(AcceptImportError::Domain(DomainError::Forbidden(_)))
        ),
        "{refused:?}"
    );
    let bad = ImportOptions {
        delimiter: Some(b'x'),
        ..dry_run_of_customers()
    };
    let Err(AcceptImportError::Domain(DomainError::Validation(errors))) = imports
        .accept(&actor("admin"), request(bad), &upload(), None)
        .await
    else {
        panic!("invalid options were accepted");
    };
    assert_eq!(errors[0].field, "options.delimiter");
}

#[tokio::test]
async fn a_file_beyond_the_row_limit_or_without_rows_starts_no_job() {
    for (rows, limit, expected) in [
        (11, Some(10), AcceptImportError::TooManyRows { limit: 10 }),
        (0, Some(10), AcceptImportError::NoRows),
        (0, None, AcceptImportError::NoRows),
    ] {
        let imports = service(file_of(rows), MockJobRepository::new());
        let refused = imports
            .accept(
                &actor("admin"),
                request(dry_run_of_customers()),
                &upload(),
                limit,
            )
            .await;
        assert_eq!(
            refused.err(),
            Some(expected),
            "{rows} rows, limit {limit:?}"
        );
    }
    let mut unreadable = MockImportFiles::new();
    unreadable
        .expect_count_rows()
        .returning(|_, _, _, _| Err("not a CSV or XLSX file".into()));
    let refused = service(unreadable, MockJobRepository::new())
        .accept(
            &actor("admin"),
            request(dry_run_of_customers()),
            &upload(),
            None,
        )
        .await;
    assert_eq!(
        refused.err(),
        Some(AcceptImportError::UnreadableFile(
            "not a CSV or XLSX file".into()
        ))
    );
}

#[tokio::test]
async fn an_accepted_import_has_a_running_job_and_its_run_records_the_outcome() {
    let (jobs, saved) = recording_jobs();
    let imports = service(file_of(2), jobs);
    let accepted = imports
        .accept(
            &actor("admin"),
            request(dry_run_of_customers()),
            &upload(),
            Some(10),
        )
        .await
        .unwrap();
    assert_eq!(accepted.rows, 2);
    let job = accepted.job.clone();
    assert_eq!(job.id, JobId(JOB));
    assert_eq!(job.kind, JobKind::ImportCustomers);
    assert_eq!(job.state, JobState::Running);
    assert_eq!(job.created_at, t0());
    let progress = job.import_outcome().unwrap();
    assert_eq!(
        (progress.counts, progress.last_line, &progress.file),
        (ImportCounts::default(), 1, &"pelanggan.csv".to_owned())
    );
    // Accepting stored the running job, nothing else; the run is the caller's to drive.
    assert_eq!(saved.lock().unwrap().clone(), vec![job.clone()]);

    let done = accepted.run.await;
    assert_eq!(done.state, JobState::Completed, "{:?}", done.error);
    assert_eq!(done.finished_at, Some(t0()));
    let outcome = done.import_outcome().unwrap();
    assert_eq!(
        outcome.counts,
        ImportCounts {
            rows_read: 2,
            created: 2,
            ..ImportCounts::default()
        }
    );
    assert_eq!(outcome.last_line, 3);
    assert_eq!(outcome.preview.as_ref().map(Vec::len), Some(2));
    let saved = saved.lock().unwrap();
    assert_eq!(saved.last(), Some(&done));
    assert!(saved.iter().all(|j| j.id == job.id));
}

#[test]
fn each_import_kind_has_its_job_kind() {
    for kind in ImportKind::ALL {
        assert!(kind.job_kind().is_import());
        assert_eq!(kind.job_kind().imports(), Some(kind.as_str()));
    }
}

#[test]
fn only_callers_who_may_import_are_authorized_before_the_upload_is_read() {
    let imports = service(MockImportFiles::new(), MockJobRepository::new());
    for role in ["viewer", "sales", "manager"] {
        assert_eq!(
            imports.authorize(&actor(role)),
            Err(DomainError::Forbidden(Permission::CustomersManage)),
            "{role}"
        );
    }
    assert_eq!(imports.authorize(&actor("admin")), Ok(()));
}

#[tokio::test]
async fn a_file_beyond_a_reader_limit_starts_no_job_and_names_the_limit() {
    let mut files = MockImportFiles::new();
    files.expect_count_rows().returning(|_, _, _, _| {
        Err(FileError::BeyondLimit {
            setting: "CRM_MAX_IMPORT_COLUMNS".into(),
            limit: 200,
            detail: "too wide".into(),
        })
    });
    files.expect_open().never();
    let refused = service(files, MockJobRepository::new())
        .accept(
            &actor("admin"),
            request(dry_run_of_customers()),
            &upload(),
            None,
        )
        .await;
    assert_eq!(
        refused.err(),
        Some(AcceptImportError::FileBeyondLimit {
            setting: "CRM_MAX_IMPORT_COLUMNS".into(),
            limit: 200,
            detail: "too wide".into(),
        })
    );
}
