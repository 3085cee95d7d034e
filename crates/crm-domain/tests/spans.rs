//! Every service entry point opens a tracing span named `Service::method` carrying the tenant,
//! the actor and the record ids, and never personal data (names, e-mail addresses, phones), so
//! a request's log lines show which use case ran without leaking who it was about.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use chrono::{TimeZone, Utc};
use crm_domain::customer::{
    Customer, CustomerInput, CustomerService, LoyaltyStatus, MockCustomerRepository, PurchaseStats,
    customer_code,
};
use crm_domain::ports::{MockClock, MockIdGenerator};
use crm_domain::tenant::{MockTenantRepository, Tenant};
use crm_domain::values::{CountryCode, CurrencyCode};
use crm_domain::{Actor, CustomerId, TenantId, UserId};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::FmtSpan;
use uuid::Uuid;

/// A log sink the test reads back.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

const TENANT: TenantId = TenantId(Uuid::from_u128(7));
const STORED: Uuid = Uuid::from_u128(42);

fn service() -> CustomerService {
    let now = Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap();
    let mut tenants = MockTenantRepository::new();
    tenants.expect_find().returning(move |id| {
        Ok(Some(Tenant {
            id,
            name: "Toko Budi".into(),
            default_country: CountryCode::parse("ID"),
            default_currency: CurrencyCode::parse("IDR").unwrap(),
            settings: Default::default(),
            created_at: now,
        }))
    });
    let mut customers = MockCustomerRepository::new();
    customers
        .expect_find_by_unique()
        .returning(|_, _, _| Ok(None));
    customers.expect_create().returning(|new, _, _| {
        Ok(Customer {
            id: CustomerId(STORED),
            tenant_id: new.tenant_id,
            customer_number: 1,
            customer_code: customer_code(2026, 1),
            profile: new.profile,
            stats: PurchaseStats::default(),
            loyalty: LoyaltyStatus::default(),
            rfm: None,
            created_by: new.created_by,
            updated_by: None,
            created_at: new.created_at,
            updated_at: new.created_at,
            deleted_at: None,
            erased_at: None,
            erased_by: None,
            version: 1,
        })
    });
    customers.expect_find().returning(|_, _, _| Ok(None));
    let mut clock = MockClock::new();
    clock.expect_now().return_const(now);
    let mut ids = MockIdGenerator::new();
    ids.expect_new_id().returning(Uuid::now_v7);
    CustomerService::new(
        Arc::new(customers),
        Arc::new(tenants),
        Arc::new(clock),
        Arc::new(ids),
    )
}

#[test]
fn service_spans_name_the_use_case_tenant_actor_and_ids_but_no_personal_data() {
    let log = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(log.clone())
        .with_span_events(FmtSpan::NEW)
        .with_ansi(false)
        .finish();
    let actor = Actor::new(TENANT, UserId::parse("sales-7").unwrap(), ["sales"], []);
    let service = service();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        runtime.block_on(async {
            let input = CustomerInput {
                name: Some("Budi Santoso".into()),
                email: Some("budi.santoso@example.com".into()),
                phone: Some("0812-3456-7890".into()),
                ..Default::default()
            };
            service.create(&actor, input, None).await.unwrap();
            // Another tenant's (or no) customer: the span is there even for a 404.
            let _ = service.get(&actor, CustomerId(STORED)).await;
        });
    });
    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();

    assert!(text.contains("CustomerService::create"), "{text}");
    assert!(text.contains("CustomerService::get"), "{text}");
    assert!(text.contains(&format!("tenant_id={TENANT}")), "{text}");
    assert!(text.contains("actor=sales-7"), "{text}");
    assert!(text.contains(&format!("customer_id={STORED}")), "{text}");
    for personal in ["Budi", "budi.santoso", "example.com", "3456", "+62"] {
        assert!(
            !text.contains(personal),
            "`{personal}` leaked into the log: {text}"
        );
    }
}
