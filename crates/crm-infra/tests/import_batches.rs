//! The transactions of import batches on SQLite and on PostgreSQL (issue 16, defects 3 and
//! 10): a batch's rows and its checkpoint commit together or not at all; a checkpoint is
//! refused once the job is no longer running; a savepoint undoes one failed row and leaves the
//! transaction usable; a save is conditional on the version read.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{SubsecRound, Utc};
use crm_domain::customer::{
    CustomerInput, CustomerProfile, CustomerRepository, NewCustomer, ValidationContext,
};
use crm_domain::ids::JobId;
use crm_domain::import::{ImportCheckpoint, ImportRepository, RowError};
use crm_domain::job::{
    INTERRUPTED, ImportCounts, ImportOutcome, Job, JobKind, JobOutcome, JobRepository, JobState,
};
use crm_domain::tenant::{Tenant, TenantRepository};
use crm_domain::values::{CountryCode, CurrencyCode};
use crm_domain::{CustomerId, RepositoryError, TenantId, UserId};
use crm_infra::testing::{Backend, TestDatabase};
use crm_infra::{
    SeaCustomerRepository, SeaImportRepository, SeaJobRepository, SeaTenantRepository,
};
use uuid::Uuid;

struct Ctx {
    db: TestDatabase,
    customers: SeaCustomerRepository,
    jobs: SeaJobRepository,
    imports: SeaImportRepository,
    tenant: TenantId,
    job: Job,
}

/// A tenant with a running import job.
async fn setup(backend: Backend) -> Option<Ctx> {
    let db = TestDatabase::create(backend).await?;
    let tenant = Tenant {
        id: TenantId(Uuid::now_v7()),
        name: "Toko".into(),
        default_country: CountryCode::parse("ID"),
        default_currency: CurrencyCode::parse("IDR").unwrap(),
        settings: Default::default(),
        created_at: Utc::now().trunc_subsecs(6),
    };
    SeaTenantRepository::new(db.db.clone())
        .insert(&tenant, &[])
        .await
        .unwrap();
    let jobs = SeaJobRepository::new(db.db.clone());
    let job = Job::start(
        JobId(Uuid::now_v7()),
        tenant.id,
        JobKind::ImportCustomers,
        UserId::parse("tester"),
        Utc::now().trunc_subsecs(6),
        Some(progress(1, 0)),
    );
    jobs.save(&job).await.unwrap();
    Some(Ctx {
        customers: SeaCustomerRepository::new(db.db.clone()),
        imports: SeaImportRepository::new(db.db.clone()),
        db,
        jobs,
        tenant: tenant.id,
        job,
    })
}

/// An import's progress: `last_line`, `created` rows.
fn progress(last_line: u64, created: u64) -> JobOutcome {
    JobOutcome::Import(ImportOutcome {
        file: "pelanggan.csv".into(),
        dry_run: false,
        counts: ImportCounts {
            rows_read: created,
            created,
            ..ImportCounts::default()
        },
        last_line,
        duration_ms: 10,
        rows_per_second: 1.0,
        preview: None,
        warning_rows: Vec::new(),
    })
}

/// The checkpoint of `job` at `last_line` with `created` rows and one rejected row.
fn checkpoint(job: &Job, last_line: u64, created: u64) -> ImportCheckpoint {
    let mut job = job.clone();
    job.result = Some(progress(last_line, created));
    ImportCheckpoint {
        job,
        errors: vec![RowError {
            line: last_line,
            field: Some("email".into()),
            reason: "not an e-mail address".into(),
        }],
    }
}

fn customer(tenant: TenantId, email: &str) -> NewCustomer {
    let ctx = ValidationContext {
        default_country: CountryCode::parse("ID"),
        default_currency: CurrencyCode::parse("IDR").unwrap(),
        today: Utc::now().date_naive(),
    };
    let profile: CustomerProfile = CustomerInput {
        name: Some("Budi".into()),
        email: Some(email.into()),
        ..Default::default()
    }
    .validate(&ctx)
    .unwrap();
    NewCustomer {
        id: CustomerId(Uuid::now_v7()),
        tenant_id: tenant,
        profile,
        created_by: UserId::parse("tester"),
        created_at: Utc::now().trunc_subsecs(6),
        addresses: Vec::new(),
        contacts: Vec::new(),
    }
}

async fn last_line(c: &Ctx) -> u64 {
    c.jobs
        .find(c.tenant, c.job.id)
        .await
        .unwrap()
        .unwrap()
        .import_outcome()
        .unwrap()
        .last_line
}

async fn stored(c: &Ctx, ids: &[CustomerId]) -> usize {
    let mut n = 0;
    for id in ids {
        if c.customers
            .find(c.tenant, *id, false)
            .await
            .unwrap()
            .is_some()
        {
            n += 1;
        }
    }
    n
}

async fn a_batch_and_its_checkpoint_commit_together(backend: Backend) {
    let Some(c) = setup(backend).await else {
        return;
    };
    let first = [
        customer(c.tenant, "a@example.com"),
        customer(c.tenant, "b@example.com"),
    ];
    let ids: Vec<CustomerId> = first.iter().map(|n| n.id).collect();
    // Dropped before its commit: neither the rows nor the progress.
    {
        let mut b = c.customers.begin_batch(c.tenant).await.unwrap();
        b.insert(c.tenant, &first).await.unwrap();
        b.record_checkpoint(&checkpoint(&c.job, 3, 2))
            .await
            .unwrap();
    }
    assert_eq!((stored(&c, &ids).await, last_line(&c).await), (0, 1));
    assert!(
        c.imports
            .errors(c.tenant, c.job.id)
            .await
            .unwrap()
            .is_empty()
    );
    // Committed: both.
    let mut b = c.customers.begin_batch(c.tenant).await.unwrap();
    b.insert(c.tenant, &first).await.unwrap();
    b.record_checkpoint(&checkpoint(&c.job, 3, 2))
        .await
        .unwrap();
    b.commit().await.unwrap();
    assert_eq!((stored(&c, &ids).await, last_line(&c).await), (2, 3));
    let errors = c.imports.errors(c.tenant, c.job.id).await.unwrap();
    assert_eq!(errors.iter().map(|e| e.line).collect::<Vec<_>>(), [3]);
    // A checkpoint of its own appends its rows after the batch's.
    c.imports
        .save_checkpoint(&checkpoint(&c.job, 4, 2))
        .await
        .unwrap();
    let errors = c.imports.errors(c.tenant, c.job.id).await.unwrap();
    assert_eq!(errors.iter().map(|e| e.line).collect::<Vec<_>>(), [3, 4]);
    assert_eq!(last_line(&c).await, 4);
}

async fn a_job_failed_by_a_sweep_refuses_checkpoints_and_their_batch(backend: Backend) {
    let Some(c) = setup(backend).await else {
        return;
    };
    // No lease: the sweep takes it for a job of a stopped process.
    assert_eq!(
        c.jobs
            .fail_expired(Utc::now().trunc_subsecs(6), INTERRUPTED)
            .await
            .unwrap(),
        1
    );
    let new = [customer(c.tenant, "a@example.com")];
    let mut b = c.customers.begin_batch(c.tenant).await.unwrap();
    b.insert(c.tenant, &new).await.unwrap();
    assert_eq!(
        b.record_checkpoint(&checkpoint(&c.job, 2, 1)).await,
        Err(RepositoryError::Stale)
    );
    drop(b);
    assert_eq!(
        c.imports.save_checkpoint(&checkpoint(&c.job, 2, 1)).await,
        Err(RepositoryError::Stale)
    );
    assert_eq!(stored(&c, &[new[0].id]).await, 0);
    let job = c.jobs.find(c.tenant, c.job.id).await.unwrap().unwrap();
    assert_eq!(
        (job.state, job.error.as_deref(), last_line(&c).await),
        (JobState::Failed, Some(INTERRUPTED), 1)
    );
}

async fn a_savepoint_undoes_one_failed_row_and_keeps_the_transaction(backend: Backend) {
    let Some(c) = setup(backend).await else {
        return;
    };
    let taken = customer(c.tenant, "taken@example.com");
    c.customers
        .create(taken.clone(), None, vec![])
        .await
        .unwrap();
    let ok = customer(c.tenant, "ok@example.com");
    let clash = customer(c.tenant, "taken@example.com");
    let after = customer(c.tenant, "after@example.com");
    let mut b = c.customers.begin_batch(c.tenant).await.unwrap();
    for (n, fails) in [(&ok, false), (&clash, true), (&after, false)] {
        b.savepoint().await.unwrap();
        match b.insert(c.tenant, std::slice::from_ref(n)).await {
            Ok(()) => {
                assert!(!fails);
                b.release_savepoint().await.unwrap();
            }
            Err(e) => {
                assert!(fails, "{e}");
                assert_eq!(
                    e,
                    RepositoryError::Conflict {
                        field: "email".into()
                    }
                );
                b.rollback_to_savepoint().await.unwrap();
            }
        }
    }
    b.record_checkpoint(&checkpoint(&c.job, 4, 2))
        .await
        .unwrap();
    b.commit().await.unwrap();
    assert_eq!(stored(&c, &[ok.id, after.id]).await, 2);
    assert_eq!(stored(&c, &[clash.id]).await, 0);
    assert_eq!(last_line(&c).await, 4);
}

async fn a_batch_save_is_conditional_on_the_version_read(backend: Backend) {
    let Some(c) = setup(backend).await else {
        return;
    };
    let created = c
        .customers
        .create(customer(c.tenant, "a@example.com"), None, vec![])
        .await
        .unwrap();
    let mut b = c.customers.begin_batch(c.tenant).await.unwrap();
    let mut locked = b
        .next(
            c.tenant,
            &crm_domain::access::Visibility::All,
            &crm_domain::customer::filter::Filter::default(),
            Some(vec![created.id]),
            None,
            1,
        )
        .await
        .unwrap();
    assert_eq!(locked.len(), 1);
    let mut stale = locked[0].clone();
    stale.version -= 1;
    assert_eq!(b.save(&stale).await, Err(RepositoryError::Stale));
    drop(b);
    let mut b = c.customers.begin_batch(c.tenant).await.unwrap();
    locked = b
        .next(
            c.tenant,
            &crm_domain::access::Visibility::All,
            &crm_domain::customer::filter::Filter::default(),
            Some(vec![created.id]),
            None,
            1,
        )
        .await
        .unwrap();
    locked[0].profile.company = Some("Toko Budi".into());
    b.save(&locked[0]).await.unwrap();
    b.commit().await.unwrap();
    let now = c
        .customers
        .find(c.tenant, created.id, false)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (now.version, now.profile.company.as_deref()),
        (created.version + 1, Some("Toko Budi"))
    );
}

/// PostgreSQL: a batch that carries the repository's bulk rows across 1,000 analyses the tables
/// it wrote, so the planner stops planning the import's lookups and foreign-key checks for empty
/// tables. The batch's connection runs as the row-level security role, which owns no table: its
/// `ANALYZE` was skipped with a warning, the statistics stayed empty, and a 1,000,000-row import
/// with addresses fell to 85 rows/s. The rest of the batch's transaction stays behind the wall.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_bulk_batch_analyses_its_tables_and_stays_behind_the_wall() {
    use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
    let Some(c) = setup(Backend::Postgres).await else {
        return;
    };
    assert!(c.db.db.walled());
    // Another tenant's customer: the wall keeps it out of this tenant's batch.
    let other = Tenant {
        id: TenantId(Uuid::now_v7()),
        name: "Lain".into(),
        default_country: CountryCode::parse("ID"),
        default_currency: CurrencyCode::parse("IDR").unwrap(),
        settings: Default::default(),
        created_at: Utc::now().trunc_subsecs(6),
    };
    SeaTenantRepository::new(c.db.db.clone())
        .insert(&other, &[])
        .await
        .unwrap();
    c.customers
        .create(customer(other.id, "lain@example.com"), None, vec![])
        .await
        .unwrap();
    let news: Vec<NewCustomer> = (0..1_000)
        .map(|i| {
            let mut n = customer(c.tenant, &format!("c{i}@example.com"));
            n.profile.tags.insert("vip".into());
            n
        })
        .collect();
    let mut b = c.customers.begin_batch(c.tenant).await.unwrap();
    b.insert(c.tenant, &news).await.unwrap();
    let seen = b
        .next(
            other.id,
            &crm_domain::access::Visibility::All,
            &crm_domain::customer::filter::Filter::default(),
            None,
            None,
            10,
        )
        .await
        .unwrap();
    assert!(seen.is_empty(), "the wall let in {seen:?}");
    b.commit().await.unwrap();
    // Statistics exist (`reltuples` is -1 until a table is analysed) and count the batch.
    for table in ["customers", "customer_tags"] {
        let row =
            c.db.db
                .read
                .query_one_raw(Statement::from_string(
                    DatabaseBackend::Postgres,
                    format!("SELECT reltuples::float8 FROM pg_class WHERE relname = '{table}'"),
                ))
                .await
                .unwrap()
                .unwrap();
        let tuples: f64 = row.try_get_by_index(0).unwrap();
        assert!(tuples >= 1_000.0, "{table}: reltuples {tuples}");
    }
}

macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() { super::$test(crm_infra::testing::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() { super::$test(crm_infra::testing::Backend::Postgres).await })*
        }
    };
}

on_both_backends!(
    a_batch_and_its_checkpoint_commit_together,
    a_job_failed_by_a_sweep_refuses_checkpoints_and_their_batch,
    a_savepoint_undoes_one_failed_row_and_keeps_the_transaction,
    a_batch_save_is_conditional_on_the_version_read,
);
