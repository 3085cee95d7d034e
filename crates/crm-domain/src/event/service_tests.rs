//! The event service (reads of the log, summaries) against mockall mocks of its ports.

use std::sync::Arc;

use serde_json::json;
use uuid::Uuid;

use super::*;
use crate::access::Permission;
use crate::customer::{Customer, MockCustomerRepository};
use crate::error::DomainError;
use crate::ids::{CustomerId, UserId};
use crate::testing::{TENANT, actor, customer, now, scoped_tenants, tenants, user_with};

const CUSTOMER: CustomerId = CustomerId(Uuid::from_u128(42));

fn event(id: i64, kind: &str, data: serde_json::Value) -> Event {
    Event {
        id: EventId(id),
        event: NewEvent::new(
            &actor("sales"),
            kind,
            EntityType::Customer,
            CUSTOMER.0,
            now(),
        )
        .customer(CUSTOMER)
        .data(data),
    }
}

/// Customer storage holding [`CUSTOMER`] (assigned to `owner`) in [`TENANT`] only.
fn customers(owner: Option<&'static str>) -> MockCustomerRepository {
    let mut repo = MockCustomerRepository::new();
    repo.expect_find().returning(move |t, id, _| {
        Ok((t == TENANT && id == CUSTOMER).then(|| {
            let mut c: Customer = customer(CUSTOMER, now());
            c.profile.assigned_to = owner.and_then(UserId::parse);
            c
        }))
    });
    repo
}

fn service(
    events: MockEventRepository,
    customers: MockCustomerRepository,
    tenants: crate::tenant::MockTenantRepository,
) -> EventService {
    EventService::new(Arc::new(events), Arc::new(customers), Arc::new(tenants))
}

#[tokio::test]
async fn the_timeline_reads_the_customers_events_newest_first_in_pages() {
    let mut events = MockEventRepository::new();
    events
        .expect_list()
        .withf(|t, f, limit| {
            *t == TENANT
                && f.customer_id == Some(CUSTOMER)
                && f.types == ["note.*", "customer.updated"]
                && f.before == Some(EventId(100))
                && *limit == 3
        })
        .times(1)
        .returning(|_, _, _| {
            Ok(vec![
                event(99, "note.added", json!({})),
                event(97, "customer.updated", json!({})),
                event(90, "note.deleted", json!({})),
            ])
        });
    let page = service(events, customers(None), tenants(now))
        .timeline(
            &actor("viewer"),
            CUSTOMER,
            vec!["note.*".into(), "customer.updated".into()],
            Some(EventId(100)),
            2,
        )
        .await
        .unwrap();
    let ids: Vec<i64> = page.items.iter().map(|e| e.id.0).collect();
    assert_eq!(ids, [99, 97]);
    assert_eq!(page.next, Some(EventId(97)));
}

#[tokio::test]
async fn a_full_page_of_200_probes_the_next_page_with_a_second_read() {
    let mut events = MockEventRepository::new();
    let mut seq = mockall::Sequence::new();
    events
        .expect_list()
        .withf(|_, f, limit| *limit == 200 && f.before.is_none())
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| {
            Ok((1..=200)
                .rev()
                .map(|i| event(i + 1, "x.y", json!({})))
                .collect())
        });
    events
        .expect_list()
        .withf(|_, f, limit| *limit == 1 && f.before == Some(EventId(2)))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Ok(vec![event(1, "x.y", json!({}))]));
    let page = service(events, customers(None), tenants(now))
        .timeline(&actor("sales"), CUSTOMER, vec![], None, 200)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 200);
    assert_eq!(page.next, Some(EventId(2)));
}

#[tokio::test]
async fn another_tenants_or_an_unreached_customers_timeline_is_not_found() {
    let stranger = crate::access::Actor::new(
        crate::ids::TenantId(Uuid::from_u128(9)),
        UserId::parse("user-1").unwrap(),
        ["admin"],
        [],
    );
    let mut events = MockEventRepository::new();
    events.expect_list().never();
    let s = service(events, customers(None), tenants(now));
    for who in [stranger] {
        assert_eq!(
            s.timeline(&who, CUSTOMER, vec![], None, 20)
                .await
                .unwrap_err(),
            DomainError::NotFound { entity: "customer" }
        );
    }
    // Under `sales_scope: assigned`, another salesperson's customer is not found either.
    let mut events = MockEventRepository::new();
    events.expect_list().never();
    let s = service(events, customers(Some("bob")), scoped_tenants("assigned"));
    assert_eq!(
        s.history(&user_with("alice", &["sales"]), CUSTOMER, None, 20)
            .await
            .unwrap_err(),
        DomainError::NotFound { entity: "customer" }
    );
}

#[tokio::test]
async fn malformed_type_patterns_and_limits_are_refused_naming_the_parameter() {
    let s = || {
        let mut events = MockEventRepository::new();
        events.expect_list().never();
        service(events, customers(None), tenants(now))
    };
    for bad in [
        "Customer.updated",
        "customer.",
        "a.b.c",
        "*",
        "customer.*x",
        "note.add-ed",
    ] {
        let err = s()
            .timeline(&actor("sales"), CUSTOMER, vec![bad.into()], None, 20)
            .await
            .unwrap_err();
        assert_eq!(
            crate::testing::field_codes(err),
            [("types".to_owned(), "invalid")],
            "{bad}"
        );
    }
    let many = (0..21).map(|i| format!("t{}.x", "a".repeat(i))).collect();
    let err = s()
        .timeline(&actor("sales"), CUSTOMER, many, None, 20)
        .await
        .unwrap_err();
    assert_eq!(
        crate::testing::field_codes(err),
        [("types".to_owned(), "too_many")]
    );
    for limit in [0, 201] {
        let err = s()
            .history(&actor("sales"), CUSTOMER, None, limit)
            .await
            .unwrap_err();
        assert_eq!(
            crate::testing::field_codes(err),
            [("limit".to_owned(), "out_of_range")]
        );
    }
    assert!(valid_type_pattern("follow_up.completed"));
    assert!(valid_type_pattern("customer.*"));
    assert!(valid_type_pattern("customer"));
}

#[tokio::test]
async fn the_history_reads_only_the_customer_records_own_changes() {
    let mut events = MockEventRepository::new();
    events
        .expect_list()
        .withf(|_, f, _| {
            f.customer_id == Some(CUSTOMER)
                && f.entity_type == Some(EntityType::Customer)
                && f.entity_id == Some(CUSTOMER.0)
                && f.with_changes
        })
        .times(1)
        .returning(|_, _, _| Ok(vec![]));
    let page = service(events, customers(None), tenants(now))
        .history(&actor("viewer"), CUSTOMER, None, 20)
        .await
        .unwrap();
    assert!(page.items.is_empty() && page.next.is_none());
}

#[tokio::test]
async fn the_audit_needs_manage_and_passes_its_filter() {
    let mut events = MockEventRepository::new();
    events.expect_list().never();
    let s = service(events, MockCustomerRepository::new(), tenants(now));
    for role in ["viewer", "sales", "manager"] {
        assert_eq!(
            s.audit(&actor(role), AuditFilter::default(), None, 20)
                .await
                .unwrap_err(),
            DomainError::Forbidden(Permission::CustomersManage),
            "{role}"
        );
    }
    let mut events = MockEventRepository::new();
    events
        .expect_list()
        .withf(|t, f, _| {
            *t == TENANT
                && f.actor.as_deref() == Some("ana")
                && f.types == ["order.*"]
                && f.entity_type == Some(EntityType::Order)
                && f.customer_id.is_none()
        })
        .times(1)
        .returning(|_, _, _| Ok(vec![]));
    let filter = AuditFilter {
        entity_type: Some(EntityType::Order),
        actor: Some("ana".into()),
        types: vec!["order.*".into()],
        ..AuditFilter::default()
    };
    service(events, MockCustomerRepository::new(), tenants(now))
        .audit(&actor("admin"), filter, None, 20)
        .await
        .unwrap();
    let mut events = MockEventRepository::new();
    events.expect_list().never();
    let backwards = AuditFilter {
        from: Some(now()),
        to: Some(now() - chrono::Duration::hours(1)),
        ..AuditFilter::default()
    };
    let err = service(events, MockCustomerRepository::new(), tenants(now))
        .audit(&actor("admin"), backwards, None, 20)
        .await
        .unwrap_err();
    assert_eq!(
        crate::testing::field_codes(err),
        [("to".to_owned(), "invalid")]
    );
}

#[test]
fn summaries_name_who_did_what() {
    let mut updated = event(1, "customer.updated", json!({}));
    updated.event.changes = [
        ("email".to_owned(), [json!("a@x.id"), json!("b@x.id")]),
        ("phone".to_owned(), [json!(null), json!("+6281")]),
    ]
    .into();
    assert_eq!(summary(&updated), "user-1 (sales) changed email and phone");
    let cases = [
        (
            "customer.created",
            json!({"name": "Budi"}),
            "user-1 (sales) created customer Budi",
        ),
        (
            "customer.status_changed",
            json!({"from": "active", "to": "blocked", "reason": "Fraud"}),
            "user-1 (sales) changed status from active to blocked: Fraud",
        ),
        (
            "customer.deleted",
            json!({"name": "Budi"}),
            "user-1 (sales) deleted customer Budi",
        ),
        (
            "customer.restored",
            json!({"name": "Budi"}),
            "user-1 (sales) restored customer Budi",
        ),
        (
            "customer.erased",
            json!({}),
            "user-1 (sales) erased the customer's personal data",
        ),
        (
            "address.added",
            json!({"type": "billing", "line1": "Jl. Merdeka 1", "city": "Bandung"}),
            "user-1 (sales) added billing address Jl. Merdeka 1, Bandung",
        ),
        (
            "contact.added",
            json!({"name": "Sari"}),
            "user-1 (sales) added contact Sari",
        ),
        (
            "contact.removed",
            json!({"name": "Sari"}),
            "user-1 (sales) removed contact Sari",
        ),
        (
            "interaction.logged",
            json!({"type": "call", "subject": "Renewal", "outcome": "successful"}),
            "Call logged: Renewal (successful)",
        ),
        (
            "follow_up.created",
            json!({"title": "Send quote", "due_at": "2026-12-01T09:00:00Z"}),
            "Follow-up scheduled: Send quote (due 2026-12-01T09:00:00Z)",
        ),
        (
            "follow_up.completed",
            json!({"title": "Send quote"}),
            "Follow-up completed: Send quote",
        ),
        (
            "note.added",
            json!({"category": "complaint"}),
            "Complaint added by user-1 (sales)",
        ),
        (
            "document.attached",
            json!({"title": "Contract 2026", "category": "contract"}),
            "Document attached: Contract 2026 (contract)",
        ),
        (
            "order.placed",
            json!({"order_ref": "ORD-1001", "total_amount": "250000.0000", "currency": "IDR"}),
            "Order ORD-1001 placed: IDR 250,000",
        ),
        (
            "order.cancelled",
            json!({"order_ref": "ORD-1001"}),
            "Order ORD-1001 cancelled",
        ),
        ("points.earned", json!({"points": 25}), "25 points earned"),
        (
            "tier.changed",
            json!({"from_name": "Silver", "to_name": "Gold"}),
            "Tier changed from Silver to Gold",
        ),
        (
            "tier.created",
            json!({"name": "Gold"}),
            "user-1 (sales) created tier Gold",
        ),
        (
            "segment.member_added",
            json!({"name": "VIP"}),
            "Added to segment VIP",
        ),
        (
            "import.started",
            json!({"file_name": "pelanggan.csv"}),
            "user-1 (sales) started an import of pelanggan.csv",
        ),
        (
            "import.completed",
            json!({"counts": {"created": 3, "updated": 1, "skipped": 0, "failed": 2}}),
            "Import completed: 3 created, 1 updated, 0 skipped, 2 failed",
        ),
        (
            "import.failed",
            json!({"error": "disk full"}),
            "Import failed: disk full",
        ),
        (
            "tenant.settings_updated",
            json!({}),
            "user-1 (sales) changed settings",
        ),
        (
            "consent.changed",
            json!({"purpose": "marketing_email", "status": "withdrawn"}),
            "Consent marketing email withdrawn",
        ),
        ("widget.frobbed", json!({}), "Widget frobbed"),
    ];
    for (kind, data, want) in cases {
        assert_eq!(summary(&event(1, kind, data)), want, "{kind}");
    }
    let mut system = event(1, "points.expired", json!({"points": 10}));
    system.event.actor = EventActor::system();
    assert_eq!(summary(&system), "10 points expired");
}
