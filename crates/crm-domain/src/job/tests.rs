//! Tests of the job model (kinds, states, outcomes and their JSON form) and of the job service
//! against a mocked repository.

use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::*;
use crate::access::Actor;
use crate::error::{DomainError, RepositoryError};
use crate::ids::{JobId, TenantId, UserId};

const TENANT: TenantId = TenantId(Uuid::from_u128(1));
const JOB: JobId = JobId(Uuid::from_u128(7));

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 31, 8, 30, 0).unwrap()
}

fn actor(role: &str) -> Actor {
    Actor::new(TENANT, UserId::parse("user-1").unwrap(), [role], [])
}

fn import_outcome(dry_run: bool) -> ImportOutcome {
    ImportOutcome {
        file: "pelanggan.csv".into(),
        dry_run,
        counts: ImportCounts {
            rows_read: 7,
            created: 3,
            updated: 1,
            skipped: 1,
            failed: 2,
            warnings: 0,
        },
        last_line: 9,
        duration_ms: 120,
        rows_per_second: 58.0,
        preview: dry_run.then(|| vec![json!({"line": 2, "action": "create"})]),
        warning_rows: Vec::new(),
    }
}

fn job(kind: JobKind, result: Option<JobOutcome>) -> Job {
    Job::start(
        JOB,
        TENANT,
        kind,
        Some(UserId::parse("user-1").unwrap()),
        t0(),
        result,
    )
}

#[test]
fn kinds_keep_their_storage_strings_and_say_which_are_imports() {
    let stored: Vec<&str> = JobKind::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(
        stored,
        ["rfm_recompute", "import_customers", "import_orders"]
    );
    for kind in JobKind::ALL {
        assert_eq!(JobKind::from_str(kind.as_str()), Ok(*kind));
    }
    assert!(JobKind::from_str("import").is_err());
    assert!(!JobKind::RfmRecompute.is_import());
    assert_eq!(JobKind::ImportCustomers.imports(), Some("customers"));
    assert_eq!(JobKind::ImportOrders.imports(), Some("orders"));
    let states: Vec<&str> = JobState::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(states, ["running", "completed", "failed"]);
}

#[test]
fn an_import_outcome_has_the_json_the_api_always_showed() {
    let value = JobOutcome::Import(import_outcome(false)).to_json(JobKind::ImportCustomers);
    assert_eq!(
        value,
        json!({
            "kind": "customers",
            "file": "pelanggan.csv",
            "dry_run": false,
            "rows_read": 7,
            "created": 3,
            "updated": 1,
            "skipped": 1,
            "failed": 2,
            "warnings": 0,
            "last_line": 9,
            "duration_ms": 120,
            "rows_per_second": 58.0,
            "preview": null,
            "warning_rows": [],
        })
    );
    // Byte for byte, as the API and storage write it (rows_per_second stays a float).
    assert_eq!(
        value.to_string(),
        r#"{"created":3,"dry_run":false,"duration_ms":120,"failed":2,"file":"pelanggan.csv","kind":"customers","last_line":9,"preview":null,"rows_per_second":58.0,"rows_read":7,"skipped":1,"updated":1,"warning_rows":[],"warnings":0}"#
    );
    // The progress an older version stored, without warnings, still reads.
    let old = json!({"created":3,"dry_run":false,"duration_ms":120,"failed":2,
        "file":"pelanggan.csv","last_line":9,"preview":null,"rows_per_second":58.0,
        "rows_read":7,"skipped":1,"updated":1});
    assert_eq!(
        JobOutcome::from_json(JobKind::ImportCustomers, old).unwrap(),
        JobOutcome::Import(import_outcome(false))
    );
    let dry = JobOutcome::Import(import_outcome(true)).to_json(JobKind::ImportOrders);
    assert_eq!(dry["kind"], "orders");
    assert_eq!(dry["preview"], json!([{"line": 2, "action": "create"}]));
}

#[test]
fn an_rfm_outcome_has_the_json_the_api_always_showed() {
    let outcome = JobOutcome::RfmRecompute(RfmRecomputeOutcome {
        scored: 42,
        reference: t0(),
        duration_ms: 5,
    });
    assert_eq!(
        outcome.to_json(JobKind::RfmRecompute).to_string(),
        r#"{"duration_ms":5,"reference":"2026-01-31T08:30:00Z","scored":42}"#
    );
}

#[test]
fn outcomes_read_back_from_their_json_as_written() {
    let cases = [
        (
            JobKind::RfmRecompute,
            JobOutcome::RfmRecompute(RfmRecomputeOutcome {
                scored: 3,
                reference: t0() + chrono::Duration::microseconds(123_456),
                duration_ms: 9,
            }),
        ),
        (
            JobKind::ImportCustomers,
            JobOutcome::Import(import_outcome(false)),
        ),
        (
            JobKind::ImportOrders,
            JobOutcome::Import(import_outcome(true)),
        ),
    ];
    for (kind, outcome) in cases {
        let back = JobOutcome::from_json(kind, outcome.to_json(kind)).unwrap();
        assert_eq!(back, outcome, "{kind}");
    }
}

#[test]
fn json_of_another_kind_is_refused() {
    let rfm = json!({"scored": 3, "reference": "2026-01-31T08:30:00Z", "duration_ms": 9});
    assert!(JobOutcome::from_json(JobKind::ImportCustomers, rfm).is_err());
    let import = JobOutcome::Import(import_outcome(false)).to_json(JobKind::ImportCustomers);
    assert!(JobOutcome::from_json(JobKind::RfmRecompute, import).is_err());
    assert!(JobOutcome::from_json(JobKind::RfmRecompute, Value::Null).is_err());
}

#[test]
fn a_job_starts_running_and_ends_completed_or_failed_keeping_its_progress() {
    let mut done = job(JobKind::RfmRecompute, None);
    assert_eq!(done.state, JobState::Running);
    assert_eq!((done.created_at, done.finished_at), (t0(), None));
    assert_eq!(done.result_json(), None);
    let outcome = JobOutcome::RfmRecompute(RfmRecomputeOutcome {
        scored: 1,
        reference: t0(),
        duration_ms: 0,
    });
    let end = t0() + chrono::Duration::seconds(2);
    done.complete(outcome.clone(), end);
    assert_eq!(done.state, JobState::Completed);
    assert_eq!(done.result, Some(outcome));
    assert_eq!(done.finished_at, Some(end));
    assert_eq!(done.import_outcome(), None);

    let progress = JobOutcome::Import(import_outcome(false));
    let mut failed = job(JobKind::ImportCustomers, Some(progress.clone()));
    failed.fail("stopped after line 9: storage unavailable".into(), end);
    assert_eq!(failed.state, JobState::Failed);
    assert_eq!(
        failed.error.as_deref(),
        Some("stopped after line 9: storage unavailable")
    );
    assert_eq!(failed.result, Some(progress));
    assert_eq!(failed.import_outcome().map(|o| o.last_line), Some(9));
    assert_eq!(failed.result_json().unwrap()["kind"], "customers");
}

fn service_finding(found: Option<Job>) -> JobService {
    let mut repo = MockJobRepository::new();
    repo.expect_find()
        .withf(|tenant, id| *tenant == TENANT && *id == JOB)
        .returning(move |_, _| Ok(found.clone()));
    JobService::new(Arc::new(repo))
}

#[tokio::test]
async fn a_job_is_read_with_the_permission_of_its_kind() {
    let rfm = job(JobKind::RfmRecompute, None);
    let found = service_finding(Some(rfm.clone()))
        .job(&actor("viewer"), JOB)
        .await
        .unwrap();
    assert_eq!(found, rfm);
    let import = job(
        JobKind::ImportOrders,
        Some(JobOutcome::Import(import_outcome(false))),
    );
    // An import's job (preview rows hold personal data) needs customers.manage.
    for role in ["viewer", "sales", "manager"] {
        assert_eq!(
            service_finding(Some(import.clone()))
                .job(&actor(role), JOB)
                .await,
            Err(DomainError::Forbidden(crate::Permission::CustomersManage)),
            "{role}"
        );
    }
    let found = service_finding(Some(import.clone()))
        .job(&actor("admin"), JOB)
        .await
        .unwrap();
    assert_eq!(found, import);
    assert_eq!(
        service_finding(None).job(&actor("viewer"), JOB).await,
        Err(DomainError::NotFound { entity: "job" })
    );
}

#[tokio::test]
async fn an_import_is_read_with_customers_manage_and_only_as_an_import() {
    let import = job(
        JobKind::ImportCustomers,
        Some(JobOutcome::Import(import_outcome(false))),
    );
    let found = service_finding(Some(import.clone()))
        .import(&actor("admin"), JOB)
        .await
        .unwrap();
    assert_eq!(found, import);
    // No lookup without the permission (the mock has no expectation).
    let refused = JobService::new(Arc::new(MockJobRepository::new()))
        .import(&actor("manager"), JOB)
        .await;
    assert!(
        matches!(refused, Err(DomainError::Forbidden(_))),
        "{refused:?}"
    );
    assert_eq!(
        service_finding(Some(job(JobKind::RfmRecompute, None)))
            .import(&actor("admin"), JOB)
            .await,
        Err(DomainError::NotFound { entity: "import" })
    );
}

/// Jobs of process `p-1` under leases of 30 s, on `repo`, at [`t0`].
fn leased(repo: MockJobRepository) -> LeasedJobs {
    let mut clock = crate::ports::MockClock::new();
    clock.expect_now().returning(t0);
    LeasedJobs::new(
        Arc::new(repo),
        "p-1",
        chrono::TimeDelta::seconds(30),
        Arc::new(clock),
    )
}

#[tokio::test]
async fn a_running_job_is_saved_under_this_process_lease_and_an_ended_one_without() {
    let saved = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = saved.clone();
    let mut repo = MockJobRepository::new();
    repo.expect_save().times(2).returning(move |j| {
        s.lock().unwrap().push(j.clone());
        Ok(())
    });
    let jobs = leased(repo);
    let mut j = job(JobKind::ImportCustomers, None);
    jobs.save(&j).await.unwrap();
    j.complete(
        JobOutcome::Import(import_outcome(false)),
        t0() + chrono::Duration::seconds(1),
    );
    jobs.save(&j).await.unwrap();
    let saved = saved.lock().unwrap();
    assert_eq!(
        saved[0].lease,
        Some(JobLease {
            owner: "p-1".into(),
            until: t0() + chrono::Duration::seconds(30)
        })
    );
    assert_eq!(
        (saved[1].state, &saved[1].lease),
        (JobState::Completed, &None)
    );
}

#[tokio::test]
async fn the_heartbeat_renews_this_process_leases_and_the_sweep_fails_only_expired_jobs() {
    let mut repo = MockJobRepository::new();
    repo.expect_renew_leases()
        .withf(|owner, until| owner == "p-1" && *until == t0() + chrono::Duration::seconds(30))
        .times(1)
        .returning(|_, _| Ok(3));
    repo.expect_fail_expired()
        .withf(|now, error| *now == t0() && error == INTERRUPTED)
        .times(1)
        .returning(|_, _| Ok(2));
    let jobs = leased(repo);
    assert_eq!(jobs.heartbeat().await, Ok(3));
    assert_eq!(jobs.sweep().await, Ok(2));

    let mut down = MockJobRepository::new();
    down.expect_fail_expired()
        .returning(|_, _| Err(RepositoryError::Unavailable("down".into())));
    assert_eq!(
        leased(down).sweep().await,
        Err(DomainError::Unavailable(
            crate::error::STORAGE_UNAVAILABLE.into()
        ))
    );
}
