//! `SeaJobRepository` on SQLite and on PostgreSQL: typed outcomes and leases round-trip, jobs
//! are per tenant, renewal moves only the owner's running jobs, and the sweep fails only
//! running jobs whose lease ran out (or that have none).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{Duration, SubsecRound, Utc};
use crm_domain::ids::JobId;
use crm_domain::job::{
    INTERRUPTED, ImportCounts, ImportOutcome, Job, JobKind, JobLease, JobOutcome, JobRepository,
    JobState, RfmRecomputeOutcome,
};
use crm_domain::tenant::{Tenant, TenantRepository};
use crm_domain::values::CurrencyCode;
use crm_domain::{TenantId, UserId};
use crm_infra::testing::{Backend, TestDatabase};
use crm_infra::{SeaJobRepository, SeaTenantRepository};
use serde_json::json;
use uuid::Uuid;

async fn tenant(db: &TestDatabase) -> TenantId {
    let t = Tenant {
        id: TenantId(Uuid::now_v7()),
        name: "Toko".into(),
        default_country: None,
        default_currency: CurrencyCode::parse("IDR").unwrap(),
        settings: Default::default(),
        created_at: Utc::now().trunc_subsecs(6),
    };
    SeaTenantRepository::new(db.db.clone())
        .insert(&t, &[])
        .await
        .unwrap();
    t.id
}

fn import_progress() -> JobOutcome {
    JobOutcome::Import(ImportOutcome {
        file: "pelanggan.csv".into(),
        dry_run: true,
        counts: ImportCounts {
            rows_read: 1_000,
            created: 990,
            failed: 10,
            ..ImportCounts::default()
        },
        last_line: 1_001,
        duration_ms: 350,
        rows_per_second: 2857.0,
        preview: Some(vec![json!({"line": 2, "action": "create", "name": "Budi"})]),
        warning_rows: Vec::new(),
    })
}

async fn jobs_round_trip_per_tenant_and_interrupted_ones_fail(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let (t, other) = (tenant(&db).await, tenant(&db).await);
    let repo = SeaJobRepository::new(db.db.clone());
    let now = Utc::now().trunc_subsecs(6);
    let by = Some(UserId::parse("user-1").unwrap());
    let running = Job::start(
        JobId(Uuid::now_v7()),
        t,
        JobKind::ImportOrders,
        by.clone(),
        now,
        Some(import_progress()),
    );
    repo.save(&running).await.unwrap();
    assert_eq!(
        repo.find(t, running.id).await.unwrap(),
        Some(running.clone())
    );
    assert_eq!(repo.find(other, running.id).await.unwrap(), None);

    let mut done = Job::start(
        JobId(Uuid::now_v7()),
        t,
        JobKind::RfmRecompute,
        by,
        now,
        None,
    );
    repo.save(&done).await.unwrap();
    done.complete(
        JobOutcome::RfmRecompute(RfmRecomputeOutcome {
            scored: 12,
            reference: now - Duration::days(1),
            duration_ms: 4,
        }),
        now + Duration::seconds(1),
    );
    repo.save(&done).await.unwrap();
    assert_eq!(repo.find(t, done.id).await.unwrap(), Some(done.clone()));

    // Leases: one live (another process's), one run out, and the one stored without any.
    let lease = |owner: &str, until| {
        Some(JobLease {
            owner: owner.into(),
            until,
        })
    };
    let live = Job {
        lease: lease("p-2", now + Duration::seconds(30)),
        ..Job::start(
            JobId(Uuid::now_v7()),
            t,
            JobKind::RfmRecompute,
            None,
            now,
            None,
        )
    };
    let expired = Job {
        lease: lease("p-3", now - Duration::seconds(1)),
        ..Job::start(
            JobId(Uuid::now_v7()),
            t,
            JobKind::RfmRecompute,
            None,
            now,
            None,
        )
    };
    for j in [&live, &expired] {
        repo.save(j).await.unwrap();
        assert_eq!(repo.find(t, j.id).await.unwrap().as_ref(), Some(j));
    }
    // Renewal moves only the owner's running jobs.
    let later = now + Duration::seconds(45);
    assert_eq!(repo.renew_leases("p-2", later).await.unwrap(), 1);
    assert_eq!(
        repo.find(t, live.id).await.unwrap().unwrap().lease,
        lease("p-2", later)
    );
    assert_eq!(repo.renew_leases("p-9", later).await.unwrap(), 0);

    let swept_at = now + Duration::seconds(2);
    assert_eq!(repo.fail_expired(swept_at, INTERRUPTED).await.unwrap(), 2);
    for id in [running.id, expired.id] {
        let failed = repo.find(t, id).await.unwrap().unwrap();
        assert_eq!(failed.state, JobState::Failed);
        assert_eq!(failed.error.as_deref(), Some(INTERRUPTED));
        assert_eq!((failed.finished_at, failed.lease), (Some(swept_at), None));
    }
    let failed = repo.find(t, running.id).await.unwrap().unwrap();
    assert_eq!(failed.result, running.result);
    assert_eq!(
        repo.find(t, live.id).await.unwrap().unwrap().state,
        JobState::Running
    );
    assert_eq!(repo.find(t, done.id).await.unwrap(), Some(done));
    assert_eq!(repo.fail_expired(swept_at, INTERRUPTED).await.unwrap(), 0);
    // A failed job is not renewed.
    assert_eq!(repo.renew_leases("p-3", later).await.unwrap(), 0);
}

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn jobs_round_trip_per_tenant_and_interrupted_ones_fail() {
        super::jobs_round_trip_per_tenant_and_interrupted_ones_fail(
            crm_infra::testing::Backend::Sqlite,
        )
        .await
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn jobs_round_trip_per_tenant_and_interrupted_ones_fail() {
        super::jobs_round_trip_per_tenant_and_interrupted_ones_fail(
            crm_infra::testing::Backend::Postgres,
        )
        .await
    }
}
