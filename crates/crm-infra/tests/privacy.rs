//! `SeaPrivacyRepository` on SQLite and on PostgreSQL: the erasure's writes (anonymised row,
//! version check, derived copies found by JSON and text search, tenant walls, rollback) and
//! consent records (current state, history pages, tenant walls).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{Duration, SubsecRound, Utc};
use crm_domain::customer::{
    Customer, CustomerInput, CustomerRepository, NewCustomer, ValidationContext,
};
use crm_domain::ids::{ConsentEventId, ErasureId, JobId};
use crm_domain::import::{ImportCheckpoint, ImportRepository, RowError};
use crm_domain::job::{
    ImportCounts, ImportOutcome, Job, JobKind, JobOutcome, JobRepository, JobState,
};
use crm_domain::privacy::{
    ConsentEvent, ConsentHistoryQuery, ConsentPosition, ConsentPurpose, ConsentSource,
    ConsentStatus, ERASED_TEXT, ErasedCustomer, ErasureRecord, PrivacyRepository, anonymise,
};
use crm_domain::tenant::{Tenant, TenantRepository};
use crm_domain::values::{CountryCode, CurrencyCode};
use crm_domain::{CustomerId, RepositoryError, TenantId, UserId};
use crm_infra::testing::{Backend, TestDatabase};
use crm_infra::{
    SeaCustomerRepository, SeaImportRepository, SeaJobRepository, SeaPrivacyRepository,
    SeaTenantRepository,
};
use serde_json::json;
use uuid::Uuid;

/// The e-mail of the person, with characters JSON escapes (a quote) and LIKE would misread
/// (`_`, `%`).
const EMAIL: &str = "o\"brien_100%@example.com";

struct Ctx {
    db: TestDatabase,
    tenant: TenantId,
    other: TenantId,
}

async fn setup(backend: Backend) -> Option<Ctx> {
    let db = TestDatabase::create(backend).await?;
    let tenants = SeaTenantRepository::new(db.db.clone());
    let mut ids = Vec::new();
    for name in ["A", "B"] {
        let t = Tenant {
            id: TenantId(Uuid::now_v7()),
            name: name.into(),
            default_country: CountryCode::parse("ID"),
            default_currency: CurrencyCode::parse("IDR").unwrap(),
            settings: Default::default(),
            created_at: Utc::now().trunc_subsecs(6),
        };
        tenants.insert(&t, &[]).await.unwrap();
        ids.push(t.id);
    }
    Some(Ctx {
        db,
        tenant: ids[0],
        other: ids[1],
    })
}

/// A customer of `tenant` named Wibisono with `email`, a tag and a note.
async fn wibisono(ctx: &Ctx, tenant: TenantId, email: &str) -> Customer {
    let profile = CustomerInput {
        name: Some("Wibisono Hartanto".into()),
        email: Some(email.into()),
        tags: Some(vec!["grosir".into()]),
        notes: Some("sore".into()),
        ..Default::default()
    }
    .validate(&ValidationContext {
        default_country: CountryCode::parse("ID"),
        default_currency: CurrencyCode::parse("IDR").unwrap(),
        today: Utc::now().date_naive(),
    })
    .unwrap();
    SeaCustomerRepository::new(ctx.db.db.clone())
        .create(
            NewCustomer {
                id: CustomerId(Uuid::now_v7()),
                tenant_id: tenant,
                profile,
                created_by: UserId::parse("tester"),
                created_at: Utc::now().trunc_subsecs(6),
                addresses: Vec::new(),
                contacts: Vec::new(),
            },
            None,
            vec![],
        )
        .await
        .unwrap()
}

/// A completed dry run of `tenant` whose preview names `email` on line 2 and someone else on
/// line 3.
async fn dry_run(ctx: &Ctx, tenant: TenantId, email: &str) -> Job {
    let mut job = Job::start(
        JobId(Uuid::now_v7()),
        tenant,
        JobKind::ImportCustomers,
        None,
        Utc::now().trunc_subsecs(6),
        None,
    );
    job.complete(
        JobOutcome::Import(ImportOutcome {
            file: "people.csv".into(),
            dry_run: true,
            counts: ImportCounts::default(),
            last_line: 3,
            duration_ms: 1,
            rows_per_second: 2.0,
            preview: Some(vec![
                json!({"line": 2, "action": "create", "name": "W", "email": email}),
                json!({"line": 3, "action": "create", "name": "S", "email": "siti@example.com"}),
            ]),
            warning_rows: Vec::new(),
        }),
        Utc::now().trunc_subsecs(6),
    );
    SeaJobRepository::new(ctx.db.db.clone())
        .save(&job)
        .await
        .unwrap();
    job
}

async fn derived_copies_are_found_by_identifier_within_the_tenant_only(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let mine = dry_run(&ctx, ctx.tenant, EMAIL).await;
    let theirs = dry_run(&ctx, ctx.other, EMAIL).await;
    dry_run(&ctx, ctx.tenant, "someone@example.com").await;
    let imports = SeaImportRepository::new(ctx.db.db.clone());
    let jobs = SeaJobRepository::new(ctx.db.db.clone());
    for done in [&mine, &theirs] {
        // Rejected rows are recorded by a running job's checkpoint.
        let mut running = done.clone();
        running.state = JobState::Running;
        running.finished_at = None;
        jobs.save(&running).await.unwrap();
        imports
            .save_checkpoint(&ImportCheckpoint {
                job: running,
                errors: vec![
                    RowError::row(2, format!("`{EMAIL}` belongs to another customer")),
                    RowError::row(3, "`siti@` is not an e-mail address"),
                ],
            })
            .await
            .unwrap();
        jobs.save(done).await.unwrap();
    }
    let privacy = SeaPrivacyRepository::new(ctx.db.db.clone());
    let mut tx = privacy.begin(ctx.tenant).await.unwrap();
    let found = tx
        .import_jobs_mentioning(ctx.tenant, vec![EMAIL.into(), "+6281277771234".into()])
        .await
        .unwrap();
    assert_eq!(
        found.iter().map(|j| j.id).collect::<Vec<_>>(),
        [mine.id],
        "JSON-escaped, literal (no wildcards), this tenant's"
    );
    assert_eq!(found[0], mine);
    let mut redacted = found[0].clone();
    if let Some(JobOutcome::Import(o)) = redacted.result.as_mut() {
        o.preview = Some(vec![json!({"line": 2, "erased": true})]);
    }
    tx.save_job_result(&redacted).await.unwrap();
    assert_eq!(
        tx.redact_import_errors(ctx.tenant, vec![EMAIL.into()], ERASED_TEXT)
            .await
            .unwrap(),
        1
    );
    tx.commit().await.unwrap();

    let jobs = SeaJobRepository::new(ctx.db.db.clone());
    assert_eq!(
        jobs.find(ctx.tenant, mine.id).await.unwrap(),
        Some(redacted)
    );
    assert_eq!(
        jobs.find(ctx.other, theirs.id).await.unwrap(),
        Some(theirs.clone())
    );
    let reasons = |rows: Vec<RowError>| rows.into_iter().map(|r| r.reason).collect::<Vec<_>>();
    assert_eq!(
        reasons(imports.errors(ctx.tenant, mine.id).await.unwrap()),
        [ERASED_TEXT, "`siti@` is not an e-mail address"]
    );
    assert!(
        reasons(imports.errors(ctx.other, theirs.id).await.unwrap())[0].contains(EMAIL),
        "another tenant's rows stay"
    );
}

async fn an_erasure_writes_on_the_version_read_and_rolls_back_whole(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let c = wibisono(&ctx, ctx.tenant, "wibi@example.com").await;
    let privacy = SeaPrivacyRepository::new(ctx.db.db.clone());
    let customers = SeaCustomerRepository::new(ctx.db.db.clone());
    let now = Utc::now().trunc_subsecs(6);
    let erased = |expected_version| ErasedCustomer {
        tenant_id: ctx.tenant,
        id: c.id,
        profile: anonymise(&c.profile),
        erased_at: now,
        erased_by: UserId::parse("dpo").unwrap(),
        expected_version,
    };

    // Another tenant cannot lock it; a stale version is refused.
    let mut tx = privacy.begin(ctx.tenant).await.unwrap();
    assert_eq!(tx.lock_customer(ctx.other, c.id).await.unwrap(), None);
    assert_eq!(
        tx.anonymise_customer(&erased(c.version + 1)).await,
        Err(RepositoryError::Stale)
    );
    drop(tx);

    // Written, then dropped uncommitted: nothing changed.
    let mut tx = privacy.begin(ctx.tenant).await.unwrap();
    assert_eq!(
        tx.lock_customer(ctx.tenant, c.id).await.unwrap(),
        Some(c.clone())
    );
    let written = tx.anonymise_customer(&erased(c.version)).await.unwrap();
    assert_eq!(written.version, c.version + 1);
    drop(tx);
    assert_eq!(
        customers.find(ctx.tenant, c.id, false).await.unwrap(),
        Some(c.clone())
    );

    // Committed: anonymised, stamped, tags gone, the erasure recorded once.
    let mut tx = privacy.begin(ctx.tenant).await.unwrap();
    let written = tx.anonymise_customer(&erased(c.version)).await.unwrap();
    let record = ErasureRecord {
        id: ErasureId(Uuid::now_v7()),
        tenant_id: ctx.tenant,
        customer_id: c.id,
        erased_at: now,
        erased_by: UserId::parse("dpo").unwrap(),
    };
    tx.insert_erasure(&record).await.unwrap();
    tx.commit().await.unwrap();
    let stored = customers
        .find(ctx.tenant, c.id, false)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, written);
    assert_eq!(stored.profile, anonymise(&c.profile));
    assert_eq!(
        (
            stored.erased_at,
            stored.erased_by.as_ref().map(UserId::as_str)
        ),
        (Some(now), Some("dpo"))
    );
    assert_eq!(stored.updated_at, now);
    assert_eq!(stored.stats, c.stats);
    let mut tx = privacy.begin(ctx.tenant).await.unwrap();
    assert_eq!(tx.erasure_of(ctx.tenant, c.id).await.unwrap(), Some(record));
    assert_eq!(tx.erasure_of(ctx.other, c.id).await.unwrap(), None);
    // Erased once: a second write is refused by the row itself.
    assert_eq!(
        tx.anonymise_customer(&erased(stored.version)).await,
        Err(RepositoryError::Stale)
    );
}

fn event(ctx: &Ctx, customer: CustomerId, purpose: ConsentPurpose, hours: i64) -> ConsentEvent {
    let t0 = Utc::now().trunc_subsecs(6) - Duration::days(10);
    ConsentEvent {
        id: ConsentEventId(Uuid::now_v7()),
        tenant_id: ctx.tenant,
        customer_id: customer,
        purpose,
        status: if hours % 2 == 0 {
            ConsentStatus::Granted
        } else {
            ConsentStatus::Withdrawn
        },
        at: t0 + Duration::hours(hours),
        source: ConsentSource::parse("web_form").unwrap(),
        recorded_by: UserId::parse("sales-1"),
        recorded_at: t0,
    }
}

async fn consents_keep_a_current_state_and_a_paged_history(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let a = wibisono(&ctx, ctx.tenant, "a@example.com").await;
    let b = wibisono(&ctx, ctx.tenant, "b@example.com").await;
    let privacy = SeaPrivacyRepository::new(ctx.db.db.clone());
    let events: Vec<ConsentEvent> = [
        (ConsentPurpose::MarketingEmail, 0),
        (ConsentPurpose::MarketingSms, 2),
        (ConsentPurpose::MarketingEmail, 3),
        (ConsentPurpose::MarketingEmail, 3),
        (ConsentPurpose::MarketingWhatsapp, 4),
    ]
    .into_iter()
    .map(|(p, h)| event(&ctx, a.id, p, h))
    .collect();
    let mut tx = privacy.begin(ctx.tenant).await.unwrap();
    for e in &events {
        tx.append_consent(e, true).await.unwrap();
    }
    // Recorded in the history only.
    let old = event(&ctx, a.id, ConsentPurpose::MarketingSms, -5);
    tx.append_consent(&old, false).await.unwrap();
    tx.append_consent(&event(&ctx, b.id, ConsentPurpose::MarketingSms, 1), true)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let current = privacy.consents(ctx.tenant, a.id).await.unwrap();
    let state: Vec<(ConsentPurpose, ConsentEventId)> =
        current.iter().map(|c| (c.purpose, c.event_id)).collect();
    assert_eq!(
        state,
        [
            (ConsentPurpose::MarketingEmail, events[3].id),
            (ConsentPurpose::MarketingSms, events[1].id),
            (ConsentPurpose::MarketingWhatsapp, events[4].id),
        ]
    );
    assert_eq!(
        current[1].recorded_by.as_ref().map(UserId::as_str),
        Some("sales-1")
    );
    assert!(privacy.consents(ctx.other, a.id).await.unwrap().is_empty());
    let of = privacy
        .consents_of(ctx.tenant, vec![a.id, b.id])
        .await
        .unwrap();
    assert_eq!(of.iter().filter(|(c, _)| *c == b.id).count(), 1);
    assert_eq!(of.len(), 4);

    // Newest first by (at, id), in pages of two, with the events as written.
    let mut expected: Vec<ConsentEvent> = events.clone();
    expected.push(old);
    expected.sort_by_key(|e| std::cmp::Reverse((e.at, e.id)));
    let mut seen = Vec::new();
    let mut after: Option<ConsentPosition> = None;
    loop {
        let page = privacy
            .consent_history(
                ctx.tenant,
                a.id,
                ConsentHistoryQuery {
                    purpose: None,
                    after,
                    limit: 2,
                },
            )
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some(ConsentPosition::of(last));
        seen.extend(page);
    }
    assert_eq!(seen, expected);
    let sms = privacy
        .consent_history(
            ctx.tenant,
            a.id,
            ConsentHistoryQuery {
                purpose: Some(ConsentPurpose::MarketingSms),
                after: None,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(sms.len(), 2);
    let foreign = privacy
        .consent_history(
            ctx.other,
            a.id,
            ConsentHistoryQuery {
                purpose: None,
                after: None,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert!(foreign.is_empty());
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
    derived_copies_are_found_by_identifier_within_the_tenant_only,
    an_erasure_writes_on_the_version_read_and_rolls_back_whole,
    consents_keep_a_current_state_and_a_paged_history,
);
