//! Fixtures shared by the crate's unit tests (the `*service_tests.rs` files and the
//! `#[cfg(test)]` modules): one tenant, its actors, a stored customer, the default tiers and
//! the clock, id and tenant mocks the services are built with.
//!
//! Each builder has fixed, documented defaults; a test that depends on another value passes it
//! or changes the result (`Customer { version: 2, ..customer(ID, now()) }`).

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::access::Actor;
use crate::customer::{
    Customer, CustomerInput, CustomerProfile, LoyaltyStatus, MockCustomerRepository, PurchaseStats,
    ValidationContext, customer_code,
};
use crate::error::DomainError;
use crate::ids::{CustomerId, TenantId, TierId, UserId};
use crate::loyalty::{Tier, default_tiers};
use crate::ports::{MockClock, MockIdGenerator};
use crate::tenant::{MockTenantRepository, Tenant};
use crate::values::{Amount, CountryCode, CurrencyCode};

/// The tenant the tests act in.
pub(crate) const TENANT: TenantId = TenantId(Uuid::from_u128(1));

/// 2026-11-21 08:00 UTC, the instant most tests take as now.
pub(crate) fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 8, 0, 0).unwrap()
}

/// User `user-1` of [`TENANT`] holding `role`.
pub(crate) fn actor(role: &str) -> Actor {
    Actor::new(TENANT, UserId::parse("user-1").unwrap(), [role], [])
}

/// `v` whole units of money.
pub(crate) fn amount(v: i64) -> Amount {
    Amount::new(Decimal::from(v)).unwrap()
}

/// Tenant `id`, "Toko": Indonesia, IDR, no settings, created at `created_at`.
pub(crate) fn tenant(id: TenantId, created_at: DateTime<Utc>) -> Tenant {
    Tenant {
        id,
        name: "Toko".into(),
        default_country: CountryCode::parse("ID"),
        default_currency: CurrencyCode::parse("IDR").unwrap(),
        settings: Default::default(),
        created_at,
    }
}

/// Tenant storage that finds every id as [`tenant`], created at `created_at()` (e.g. [`now`],
/// or `Utc::now`).
pub(crate) fn tenants(
    created_at: impl Fn() -> DateTime<Utc> + Send + 'static,
) -> MockTenantRepository {
    let mut tenants = MockTenantRepository::new();
    tenants
        .expect_find()
        .returning(move |id| Ok(Some(tenant(id, created_at()))));
    tenants
}

/// Tenant storage that finds every id as [`tenant`] (created [`now`]) with the setting
/// `sales_scope` set to `scope` (`"all"` or `"assigned"`).
pub(crate) fn scoped_tenants(scope: &'static str) -> MockTenantRepository {
    let mut tenants = MockTenantRepository::new();
    tenants.expect_find().returning(move |id| {
        let mut t = tenant(id, now());
        t.settings
            .insert("sales_scope".into(), serde_json::Value::from(scope));
        Ok(Some(t))
    });
    tenants
}

/// User `user` of [`TENANT`] holding `roles`.
pub(crate) fn user_with(user: &str, roles: &[&str]) -> Actor {
    Actor::new(
        TENANT,
        UserId::parse(user).unwrap(),
        roles.iter().copied(),
        [],
    )
}

/// A clock that reads `now()`: a fixed instant such as [`now`], or `Utc::now`.
pub(crate) fn clock(now: impl FnMut() -> DateTime<Utc> + Send + 'static) -> MockClock {
    let mut clock = MockClock::new();
    clock.expect_now().returning(now);
    clock
}

/// An id generator handing out fresh UUID v7s.
pub(crate) fn ids() -> MockIdGenerator {
    let mut ids = MockIdGenerator::new();
    ids.expect_new_id().returning(Uuid::now_v7);
    ids
}

/// An id generator handing out `id` every time.
pub(crate) fn fixed_ids(id: Uuid) -> MockIdGenerator {
    let mut ids = MockIdGenerator::new();
    ids.expect_new_id().returning(move || id);
    ids
}

/// The validation context of [`tenant`] on `today`.
pub(crate) fn context(today: NaiveDate) -> ValidationContext {
    ValidationContext {
        default_country: CountryCode::parse("ID"),
        default_currency: CurrencyCode::parse("IDR").unwrap(),
        today,
    }
}

/// The input of Budi, budi@example.com.
pub(crate) fn budi() -> CustomerInput {
    CustomerInput {
        name: Some("Budi".into()),
        email: Some("budi@example.com".into()),
        ..Default::default()
    }
}

/// `input` validated in [`context`] on `today`.
pub(crate) fn profile(input: CustomerInput, today: NaiveDate) -> CustomerProfile {
    input.validate(&context(today)).unwrap()
}

/// Stored customer `id` of [`TENANT`]: [`budi`], number 1 (CUST-2026-0001), no purchases,
/// loyalty or RFM, created and updated at `at`, live, version 1.
pub(crate) fn customer(id: CustomerId, at: DateTime<Utc>) -> Customer {
    Customer {
        id,
        tenant_id: TENANT,
        customer_number: 1,
        customer_code: customer_code(2026, 1),
        profile: profile(budi(), at.date_naive()),
        stats: PurchaseStats::default(),
        loyalty: LoyaltyStatus::default(),
        rfm: None,
        created_by: None,
        updated_by: None,
        created_at: at,
        updated_at: at,
        deleted_at: None,
        erased_at: None,
        erased_by: None,
        version: 1,
    }
}

/// Customer storage that finds `c` for [`TENANT`] only, and only while it is live.
pub(crate) fn holding(c: Customer) -> MockCustomerRepository {
    let mut customers = MockCustomerRepository::new();
    customers.expect_find().returning(move |t, id, deleted| {
        Ok((t == TENANT && id == c.id && !deleted).then(|| c.clone()))
    });
    customers
}

/// The default tiers of [`TENANT`], tier of level `n` with id `100 + n`: Bronze (level 1, 0),
/// Silver (2, 2,000,000), Gold (3, 5,000,000), Platinum (4, 10,000,000).
pub(crate) fn tiers() -> Vec<Tier> {
    default_tiers()
        .into_iter()
        .map(|(name, level, min, pct, _)| Tier {
            id: TierId(Uuid::from_u128(100 + level as u128)),
            tenant_id: TENANT,
            name: name.into(),
            level,
            min_spend: amount(min),
            discount_percent: Decimal::from(pct),
            benefits: Default::default(),
            colour: None,
        })
        .collect()
}

/// The (field, code) pairs of a validation error; panics on any other error.
pub(crate) fn field_codes(err: DomainError) -> Vec<(String, &'static str)> {
    match err {
        DomainError::Validation(e) => e.into_iter().map(|e| (e.field, e.code)).collect(),
        other => panic!("expected a validation error, got {other:?}"),
    }
}
