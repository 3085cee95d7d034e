//! The privacy service against mockall mocks of its ports.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use uuid::Uuid;

use super::*;
use crate::access::{Actor, Permission};
use crate::customer::{Customer, CustomerInput, MockCustomerRepository};
use crate::error::{DomainError, Rule};
use crate::ids::{ConsentEventId, CustomerId, ErasureId, JobId, TenantId, UserId};
use crate::job::{ImportCounts, ImportOutcome, Job, JobKind, JobOutcome};
use crate::testing::{self, TENANT, actor, clock, ids, now};

const ID: CustomerId = CustomerId(Uuid::from_u128(2));

/// Wibisono: e-mail, phone, notes, tags, version 3.
fn person() -> Customer {
    let mut c = testing::customer(ID, now() - Duration::days(30));
    c.profile = testing::profile(
        CustomerInput {
            name: Some("Wibisono Hartanto".into()),
            email: Some("wibi@example.com".into()),
            phone: Some("+6281277771234".into()),
            notes: Some("sore".into()),
            tags: Some(vec!["grosir".into()]),
            ..Default::default()
        },
        now().date_naive(),
    );
    c.version = 3;
    c
}

fn erased(c: &Customer) -> Customer {
    Customer {
        profile: anonymise(&c.profile),
        erased_at: Some(now()),
        erased_by: UserId::parse("user-1"),
        version: c.version + 1,
        ..c.clone()
    }
}

fn record() -> ErasureRecord {
    ErasureRecord {
        id: ErasureId(Uuid::from_u128(77)),
        tenant_id: TENANT,
        customer_id: ID,
        erased_at: now(),
        erased_by: UserId::parse("user-1").unwrap(),
    }
}

fn consent(purpose: ConsentPurpose, status: ConsentStatus, at: DateTime<Utc>) -> Consent {
    Consent {
        purpose,
        status,
        at,
        source: ConsentSource::parse("web_form").unwrap(),
        recorded_by: None,
        recorded_at: at,
        event_id: ConsentEventId(Uuid::from_u128(at.timestamp_micros() as u128)),
    }
}

/// A dry run's job whose preview has a row about the person and one about someone else.
fn dry_run() -> Job {
    let mut job = Job::start(
        JobId(Uuid::from_u128(9)),
        TENANT,
        JobKind::ImportCustomers,
        None,
        now(),
        None,
    );
    job.complete(
        JobOutcome::Import(ImportOutcome {
            file: "people.csv".into(),
            dry_run: true,
            counts: ImportCounts::default(),
            last_line: 3,
            duration_ms: 1,
            rows_per_second: 1.0,
            preview: Some(vec![
                json!({"line": 2, "action": "update", "email": "wibi@example.com"}),
                json!({"line": 3, "action": "create", "email": "siti@example.com"}),
            ]),
            warning_rows: Vec::new(),
        }),
        now(),
    );
    job
}

fn service(privacy: MockPrivacyRepository, customers: MockCustomerRepository) -> PrivacyService {
    PrivacyService::new(
        Arc::new(privacy),
        Arc::new(customers),
        Arc::new(crate::testing::tenants(now)),
        Arc::new(clock(now)),
        Arc::new(ids()),
    )
}

/// A repository whose transactions are `tx`, handed out once.
fn beginning(tx: MockPrivacyTransaction) -> MockPrivacyRepository {
    let mut privacy = MockPrivacyRepository::new();
    privacy
        .expect_begin()
        .times(1)
        .return_once(move |_| Ok(Box::new(tx)));
    privacy
}

/// A transaction that finds `c` (for [`TENANT`] only) and expects no write.
fn locking(c: Option<Customer>) -> MockPrivacyTransaction {
    let mut tx = MockPrivacyTransaction::new();
    tx.expect_lock_customer()
        .returning(move |t, id| Ok(c.clone().filter(|c| t == TENANT && c.id == id)));
    tx.expect_anonymise_customer().never();
    tx.expect_append_consent().never();
    tx.expect_insert_erasure().never();
    tx.expect_append_events().never();
    tx.expect_commit().never();
    tx
}

#[tokio::test]
async fn erasing_needs_manage_before_anything_is_read() {
    for role in ["viewer", "sales", "manager"] {
        let mut privacy = MockPrivacyRepository::new();
        privacy.expect_begin().never();
        let err = service(privacy, MockCustomerRepository::new())
            .erase(&actor(role), ID, None)
            .await
            .unwrap_err();
        assert_eq!(
            err,
            DomainError::Forbidden(Permission::CustomersManage),
            "{role}"
        );
    }
}

#[tokio::test]
async fn erasing_an_unknown_or_foreign_customer_is_not_found_and_writes_nothing() {
    let stranger = Actor::new(
        TenantId(Uuid::from_u128(9)),
        UserId::parse("user-2").unwrap(),
        ["admin"],
        [],
    );
    for (who, id) in [
        (actor("admin"), CustomerId(Uuid::from_u128(5))),
        (stranger, ID),
    ] {
        let s = service(
            beginning(locking(Some(person()))),
            MockCustomerRepository::new(),
        );
        assert_eq!(
            s.erase(&who, id, None).await.unwrap_err(),
            DomainError::NotFound { entity: "customer" }
        );
    }
}

#[tokio::test]
async fn erasing_clears_every_part_in_one_transaction_and_records_who() {
    let c = person();
    let mut tx = MockPrivacyTransaction::new();
    let found = c.clone();
    tx.expect_lock_customer()
        .withf(|t, id| *t == TENANT && *id == ID)
        .times(1)
        .returning(move |_, _| Ok(Some(found.clone())));
    let expected_profile = anonymise(&c.profile);
    let written = erased(&c);
    tx.expect_anonymise_customer()
        .withf(move |e| {
            e.tenant_id == TENANT
                && e.id == ID
                && e.profile == expected_profile
                && e.erased_at == now()
                && e.erased_by.as_str() == "user-1"
                && e.expected_version == 3
        })
        .times(1)
        .return_once(move |_| Ok(written));
    tx.expect_clear_order_metadata()
        .withf(|t, id| *t == TENANT && *id == ID)
        .times(1)
        .returning(|_, _| Ok(2));
    tx.expect_redact_loyalty_reasons()
        .withf(|t, id, text| *t == TENANT && *id == ID && text == ERASED_TEXT)
        .times(1)
        .returning(|_, _, _| Ok(1));
    tx.expect_anonymise_addresses()
        .withf(|t, id, text| *t == TENANT && *id == ID && text == ERASED_TEXT)
        .times(1)
        .returning(|_, _, _| Ok(2));
    tx.expect_forget_idempotency_keys()
        .times(1)
        .returning(|_, _| Ok(0));
    tx.expect_anonymise_contacts()
        .withf(|tenant, id, name| *tenant == TENANT && *id == ID && name == ERASED_CONTACT_NAME)
        .times(1)
        .returning(|_, _, _| Ok(2));
    let needles = identifiers(&c);
    let n = needles.clone();
    tx.expect_import_jobs_mentioning()
        .withf(move |t, got| *t == TENANT && *got == n)
        .times(1)
        .returning(|_, _| Ok(vec![dry_run()]));
    tx.expect_save_job_result()
        .withf(|job| {
            let preview = job.import_outcome().unwrap().preview.clone().unwrap();
            preview
                == vec![
                    json!({"line": 2, "erased": true}),
                    json!({"line": 3, "action": "create", "email": "siti@example.com"}),
                ]
        })
        .times(1)
        .returning(|_| Ok(()));
    let n = needles.clone();
    tx.expect_redact_import_errors()
        .withf(move |t, got, text| *t == TENANT && *got == n && text == ERASED_TEXT)
        .times(1)
        .returning(|_, _, _| Ok(0));
    let earlier = now() - Duration::days(1);
    tx.expect_current_consents()
        .times(1)
        .returning(move |_, _| {
            Ok(vec![
                consent(
                    ConsentPurpose::MarketingEmail,
                    ConsentStatus::Granted,
                    earlier,
                ),
                consent(
                    ConsentPurpose::MarketingSms,
                    ConsentStatus::Withdrawn,
                    earlier,
                ),
            ])
        });
    // Only the granted consent is withdrawn, by the system's source, and becomes current.
    tx.expect_append_consent()
        .withf(|e, current| {
            e.purpose == ConsentPurpose::MarketingEmail
                && e.status == ConsentStatus::Withdrawn
                && e.source.as_str() == "erasure"
                && e.at == now()
                && e.recorded_by.as_ref().map(UserId::as_str) == Some("user-1")
                && *current
        })
        .times(1)
        .returning(|_, _| Ok(()));
    // One `customer.erased` (ids only, no personal data) and one `consent.changed` per
    // withdrawn consent, by the caller, in the erasure's transaction.
    tx.expect_append_events()
        .withf(|events| {
            let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
            types == ["customer.erased", "consent.changed"]
                && events.iter().all(|e| {
                    e.customer_id == Some(ID)
                        && e.actor.sub == "user-1"
                        && e.actor.role.as_deref() == Some("admin")
                        && e.occurred_at == now()
                })
                && events[0].data.get("name").is_none()
                && events[0].data["id"] == json!(ID.0)
                && events[1].data["purpose"] == "marketing_email"
                && events[1].data["status"] == "withdrawn"
                && events[1].data["source"] == "erasure"
        })
        .times(1)
        .returning(|_| Ok(()));
    let record_id = Arc::new(Mutex::new(None));
    let r = record_id.clone();
    tx.expect_insert_erasure()
        .withf(|rec| {
            rec.tenant_id == TENANT
                && rec.customer_id == ID
                && rec.erased_at == now()
                && rec.erased_by.as_str() == "user-1"
        })
        .times(1)
        .returning(move |rec| {
            *r.lock().unwrap() = Some(rec.id);
            Ok(())
        });
    tx.expect_commit().times(1).returning(|| Ok(()));

    let out = service(beginning(tx), MockCustomerRepository::new())
        .erase(&actor("admin"), ID, Some(3))
        .await
        .unwrap();
    assert!(!out.already_erased);
    assert_eq!(out.customer, erased(&c));
    assert_eq!(Some(out.record.id), *record_id.lock().unwrap());
    assert_eq!(out.record.erased_by.as_str(), "user-1");
}

#[tokio::test]
async fn erasing_twice_answers_the_first_erasure_and_changes_nothing() {
    let done = erased(&person());
    let mut tx = locking(Some(done.clone()));
    tx.expect_erasure_of()
        .times(1)
        .returning(|_, _| Ok(Some(record())));
    tx.expect_clear_order_metadata().never();
    let out = service(beginning(tx), MockCustomerRepository::new())
        // Even with an old version: the answer is the erasure that happened.
        .erase(&actor("admin"), ID, Some(1))
        .await
        .unwrap();
    assert_eq!(
        out,
        Erasure {
            record: record(),
            customer: done,
            already_erased: true
        }
    );
}

#[tokio::test]
async fn erasing_a_stale_version_is_refused_before_any_write() {
    let s = service(
        beginning(locking(Some(person()))),
        MockCustomerRepository::new(),
    );
    assert_eq!(
        s.erase(&actor("admin"), ID, Some(2)).await.unwrap_err(),
        DomainError::PreconditionFailed {
            expected: 2,
            current: 3
        }
    );
}

fn input(status: ConsentStatus, at: Option<DateTime<Utc>>) -> ConsentInput {
    ConsentInput {
        status,
        source: "pos".into(),
        at,
    }
}

#[tokio::test]
async fn a_consent_change_is_appended_and_becomes_current() {
    let mut tx = MockPrivacyTransaction::new();
    tx.expect_lock_customer()
        .returning(|_, _| Ok(Some(person())));
    let earlier = now() - Duration::days(3);
    tx.expect_current_consents().returning(move |_, _| {
        Ok(vec![consent(
            ConsentPurpose::MarketingSms,
            ConsentStatus::Granted,
            earlier,
        )])
    });
    tx.expect_append_consent()
        .withf(|e, current| {
            e.purpose == ConsentPurpose::MarketingSms
                && e.status == ConsentStatus::Withdrawn
                && e.at == now()
                && e.recorded_at == now()
                && e.source.as_str() == "pos"
                && e.recorded_by.as_ref().map(UserId::as_str) == Some("user-1")
                && *current
        })
        .times(1)
        .returning(|_, _| Ok(()));
    tx.expect_append_events()
        .withf(|events| {
            events.len() == 1
                && events[0].event_type == "consent.changed"
                && events[0].customer_id == Some(ID)
                && events[0].actor.sub == "user-1"
                && events[0].actor.role.as_deref() == Some("sales")
                && events[0].data["purpose"] == "marketing_sms"
                && events[0].data["status"] == "withdrawn"
                && events[0].data["source"] == "pos"
        })
        .times(1)
        .returning(|_| Ok(()));
    tx.expect_commit().times(1).returning(|| Ok(()));
    let change = service(beginning(tx), MockCustomerRepository::new())
        .set_consent(
            &actor("sales"),
            ID,
            ConsentPurpose::MarketingSms,
            input(ConsentStatus::Withdrawn, None),
        )
        .await
        .unwrap();
    assert_eq!(change.current, Consent::from(&change.event));
    assert_eq!(change.current.status, ConsentStatus::Withdrawn);
}

#[tokio::test]
async fn a_backdated_consent_joins_the_history_without_changing_the_state() {
    let mut tx = MockPrivacyTransaction::new();
    tx.expect_lock_customer()
        .returning(|_, _| Ok(Some(person())));
    let later = consent(
        ConsentPurpose::MarketingEmail,
        ConsentStatus::Withdrawn,
        now() - Duration::days(1),
    );
    let current = later.clone();
    tx.expect_current_consents()
        .returning(move |_, _| Ok(vec![current.clone()]));
    tx.expect_append_consent()
        .withf(|e, current| e.status == ConsentStatus::Granted && !*current)
        .times(1)
        .returning(|_, _| Ok(()));
    // A backdated consent is still a change of the record: its event is appended.
    tx.expect_append_events()
        .withf(|events| events.len() == 1 && events[0].event_type == "consent.changed")
        .times(1)
        .returning(|_| Ok(()));
    tx.expect_commit().times(1).returning(|| Ok(()));
    let change = service(beginning(tx), MockCustomerRepository::new())
        .set_consent(
            &actor("admin"),
            ID,
            ConsentPurpose::MarketingEmail,
            input(ConsentStatus::Granted, Some(now() - Duration::days(10))),
        )
        .await
        .unwrap();
    assert_eq!(change.current, later);
}

#[tokio::test]
async fn consent_changes_are_refused_for_erased_deleted_and_foreign_customers() {
    let erased_customer = erased(&person());
    let s = service(
        beginning(locking(Some(erased_customer))),
        MockCustomerRepository::new(),
    );
    let err = s
        .set_consent(
            &actor("admin"),
            ID,
            ConsentPurpose::MarketingSms,
            input(ConsentStatus::Granted, None),
        )
        .await
        .unwrap_err();
    let DomainError::Rule(v) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        (v.rule, v.field.as_str()),
        (Rule::CustomerErased, "erased_at")
    );

    let deleted = Customer {
        deleted_at: Some(now()),
        ..person()
    };
    for found in [Some(deleted), None] {
        let s = service(beginning(locking(found)), MockCustomerRepository::new());
        assert_eq!(
            s.set_consent(
                &actor("admin"),
                ID,
                ConsentPurpose::MarketingSms,
                input(ConsentStatus::Granted, None),
            )
            .await
            .unwrap_err(),
            DomainError::NotFound { entity: "customer" }
        );
    }
}

#[tokio::test]
async fn a_consent_change_checks_permission_and_input_before_opening_a_transaction() {
    let mut privacy = MockPrivacyRepository::new();
    privacy.expect_begin().never();
    let s = service(privacy, MockCustomerRepository::new());
    let err = s
        .set_consent(
            &actor("viewer"),
            ID,
            ConsentPurpose::MarketingSms,
            input(ConsentStatus::Granted, None),
        )
        .await
        .unwrap_err();
    assert_eq!(err, DomainError::Forbidden(Permission::CustomersEdit));
    let err = s
        .set_consent(
            &actor("sales"),
            ID,
            ConsentPurpose::MarketingSms,
            ConsentInput {
                source: "web form".into(),
                ..input(ConsentStatus::Granted, Some(now() + Duration::hours(1)))
            },
        )
        .await
        .unwrap_err();
    let fields: Vec<(String, &str)> = testing::field_codes(err);
    assert_eq!(
        fields,
        [
            ("source".to_owned(), "invalid"),
            ("at".to_owned(), "in_future")
        ]
    );
}

#[tokio::test]
async fn the_history_is_paged_by_probe_and_checks_the_limit_and_the_customer() {
    let event = |i: i64| ConsentEvent {
        id: ConsentEventId(Uuid::from_u128(100 + i as u128)),
        tenant_id: TENANT,
        customer_id: ID,
        purpose: ConsentPurpose::MarketingEmail,
        status: ConsentStatus::Granted,
        at: now() - Duration::hours(i),
        source: ConsentSource::parse("pos").unwrap(),
        recorded_by: None,
        recorded_at: now(),
    };
    let mut privacy = MockPrivacyRepository::new();
    privacy
        .expect_consent_history()
        .withf(|t, id, q| *t == TENANT && *id == ID && q.limit == 3 && q.after.is_none())
        .times(1)
        .returning(move |_, _, _| Ok((0..3).map(event).collect()));
    let s = service(privacy, testing::holding(person()));
    let query = |limit| ConsentHistoryQuery {
        purpose: None,
        after: None,
        limit,
    };
    let page = s
        .consent_history(&actor("viewer"), ID, query(2))
        .await
        .unwrap();
    assert_eq!(page.items, vec![event(0), event(1)]);
    assert_eq!(page.next, Some(ConsentPosition::of(&event(1))));
    for limit in [0, 201] {
        assert!(matches!(
            s.consent_history(&actor("viewer"), ID, query(limit)).await,
            Err(DomainError::Validation(e)) if e[0].field == "limit"
        ));
    }
    let other = CustomerId(Uuid::from_u128(5));
    assert_eq!(
        s.consent_history(&actor("viewer"), other, query(2))
            .await
            .unwrap_err(),
        DomainError::NotFound { entity: "customer" }
    );
}

#[tokio::test]
async fn consent_states_list_every_purpose_and_lookups_are_bounded() {
    let mut privacy = MockPrivacyRepository::new();
    privacy.expect_consents().returning(|_, _| {
        Ok(vec![consent(
            ConsentPurpose::MarketingWhatsapp,
            ConsentStatus::Granted,
            now(),
        )])
    });
    privacy.expect_consents_of().times(1).returning(|_, ids| {
        Ok(ids
            .into_iter()
            .map(|id| {
                (
                    id,
                    consent(ConsentPurpose::MarketingSms, ConsentStatus::Granted, now()),
                )
            })
            .collect())
    });
    let s = service(privacy, testing::holding(person()));
    let states = s.consents(&actor("viewer"), ID).await.unwrap();
    assert_eq!(states.len(), 3);
    assert!(states[2].current.is_some() && states[0].current.is_none());
    assert_eq!(
        s.consents(&actor("viewer"), CustomerId(Uuid::from_u128(5)))
            .await
            .unwrap_err(),
        DomainError::NotFound { entity: "customer" }
    );
    let by_customer = s.consents_of(&actor("viewer"), vec![ID]).await.unwrap();
    assert_eq!(by_customer[&ID].len(), 1);
    let many: Vec<CustomerId> = (0..201).map(|i| CustomerId(Uuid::from_u128(i))).collect();
    assert!(matches!(
        s.consents_of(&actor("viewer"), many).await,
        Err(DomainError::Validation(e)) if e[0].field == "ids"
    ));
    assert!(
        s.consents_of(&actor("viewer"), vec![])
            .await
            .unwrap()
            .is_empty()
    );
}
