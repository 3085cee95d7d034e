//! Statement time limits (issue 16, defect 2): on PostgreSQL a request's statement that runs
//! past `DbConfig::statement_timeout` is cancelled by the database and reads as "unavailable"
//! (a 503 with `Retry-After` at the HTTP edge), while the job connections (`Database::for_jobs`)
//! allow `job_statement_timeout`. SQLite has no statement timeout: its jobs use the same
//! connections as requests.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use crm_domain::error::STORAGE_UNAVAILABLE;
use crm_domain::{DomainError, RepositoryError};
use crm_infra::testing::{Backend, TestDatabase};
use crm_infra::{Database, DbConfig, map_db_err};
use sea_orm::{ConnectionTrait, TransactionTrait};

async fn connect(url: &str) -> Database {
    let mut config = DbConfig::new(url);
    config.statement_timeout = Duration::from_millis(200);
    config.job_statement_timeout = Duration::from_secs(10);
    Database::connect(&config).await.unwrap()
}

#[tokio::test]
async fn postgres_cancels_a_request_statement_at_its_limit_and_lets_a_job_run_longer() {
    let Some(test) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    let db = connect(&test.url).await;
    let started = Instant::now();
    let err = db
        .read
        .execute_unprepared("SELECT pg_sleep(3)")
        .await
        .unwrap_err();
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(2), "waited {waited:?}");
    let mapped = map_db_err(err);
    assert!(
        matches!(mapped, RepositoryError::Unavailable(ref m) if m.contains("statement timeout")),
        "{mapped:?}"
    );
    // The client reads our sentence, never the driver's.
    assert_eq!(
        DomainError::from(mapped),
        DomainError::Unavailable(STORAGE_UNAVAILABLE.into())
    );
    // A statement in a transaction is cancelled as well (a lock wait included).
    let txn = db.write.begin().await.unwrap();
    let err = txn
        .execute_unprepared("SELECT pg_sleep(3)")
        .await
        .unwrap_err();
    assert!(matches!(map_db_err(err), RepositoryError::Unavailable(_)));
    drop(txn);
    // The job connections allow their own, longer limit ...
    let jobs = db.for_jobs();
    jobs.write
        .execute_unprepared("SELECT pg_sleep(0.5)")
        .await
        .unwrap();
    // ... and the request pool still answers right after.
    db.read.execute_unprepared("SELECT 1").await.unwrap();
    let shown = db
        .read
        .query_one_raw(sea_orm::Statement::from_string(
            db.backend(),
            "SHOW statement_timeout",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(shown.try_get_by_index::<String>(0).unwrap(), "200ms");
    let shown = jobs
        .read
        .query_one_raw(sea_orm::Statement::from_string(
            db.backend(),
            "SHOW statement_timeout",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(shown.try_get_by_index::<String>(0).unwrap(), "10s");
}

#[tokio::test]
async fn sqlite_jobs_share_the_writer_and_readers() {
    let Some(test) = TestDatabase::create(Backend::Sqlite).await else {
        return;
    };
    let db = connect(&test.url).await;
    let jobs = db.for_jobs();
    // Still one writer: a job's write and a request's write queue on the same connection.
    jobs.write
        .execute_unprepared("CREATE TABLE probe (x INTEGER)")
        .await
        .unwrap();
    db.write
        .execute_unprepared("INSERT INTO probe VALUES (1)")
        .await
        .unwrap();
    let n = jobs
        .read
        .query_one_raw(sea_orm::Statement::from_string(
            db.backend(),
            "SELECT COUNT(*) FROM probe",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n.try_get_by_index::<i64>(0).unwrap(), 1);
}
