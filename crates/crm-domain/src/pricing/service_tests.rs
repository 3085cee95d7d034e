//! The pricing service against mockall mocks of its ports.

use std::sync::Arc;

use rust_decimal::Decimal;
use serde_json::Map;
use uuid::Uuid;

use super::*;
use crate::access::{Actor, Permission};
use crate::customer::{Customer, CustomerInput, LoyaltyStatus, MockCustomerRepository};
use crate::error::DomainError;
use crate::ids::{CustomerId, TenantId, TierId, UserId};
use crate::loyalty::{MockTierRepository, Tier};
use crate::testing::{self, TENANT, actor, budi, holding, now, profile, tenants};
use crate::values::{Amount, CurrencyCode};

const CUSTOMER: CustomerId = CustomerId(Uuid::from_u128(2));
const SILVER: TierId = TierId(Uuid::from_u128(102));

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

/// The one place the service is built.
fn service(customers: MockCustomerRepository, tiers: MockTierRepository) -> PricingService {
    PricingService::new(Arc::new(customers), Arc::new(tiers), Arc::new(tenants(now)))
}

/// A customer paying in `currency`, with its own discount and tier.
fn customer(currency: &str, own: Option<&str>, tier: Option<TierId>) -> Customer {
    let input = CustomerInput {
        currency: Some(currency.into()),
        discount_percent: own.map(d),
        ..budi()
    };
    Customer {
        profile: profile(input, now().date_naive()),
        loyalty: LoyaltyStatus {
            tier_id: tier,
            tier_since: tier.map(|_| now()),
            points: 0,
        },
        ..testing::customer(CUSTOMER, now())
    }
}

/// Tiers holding Silver at `percent` for `TENANT`.
fn silver_at(percent: &str) -> MockTierRepository {
    let percent = d(percent);
    let mut tiers = MockTierRepository::new();
    tiers.expect_find().returning(move |t, id| {
        Ok((t == TENANT && id == SILVER).then(|| Tier {
            id: SILVER,
            tenant_id: TENANT,
            name: "Silver".into(),
            level: 2,
            min_spend: Amount::ZERO,
            discount_percent: percent,
            benefits: Map::new(),
            colour: None,
        }))
    });
    tiers
}

fn line(price: &str) -> Vec<QuoteLineInput> {
    vec![QuoteLineInput {
        sku: "SKU-1".into(),
        quantity: d("1"),
        unit_price: Amount::new(d(price)).unwrap(),
    }]
}

#[tokio::test]
async fn quoting_needs_the_view_permission() {
    let nobody = Actor::new(TENANT, UserId::parse("u").unwrap(), [], []);
    let mut customers = MockCustomerRepository::new();
    customers.expect_find().never();
    let err = service(customers, MockTierRepository::new())
        .quote_for(&nobody, CUSTOMER, &line("100"))
        .await
        .unwrap_err();
    assert_eq!(err, DomainError::Forbidden(Permission::CustomersView));
}

#[tokio::test]
async fn an_unknown_or_other_tenants_customer_is_not_found() {
    let other = Customer {
        tenant_id: TenantId(Uuid::from_u128(9)),
        ..customer("IDR", None, None)
    };
    let mut customers = MockCustomerRepository::new();
    customers
        .expect_find()
        .returning(move |t, _, _| Ok((t == other.tenant_id).then(|| other.clone())));
    let err = service(customers, MockTierRepository::new())
        .quote_for(&actor("viewer"), CUSTOMER, &line("100"))
        .await
        .unwrap_err();
    assert_eq!(err, DomainError::NotFound { entity: "customer" });
}

#[tokio::test]
async fn the_customers_own_discount_wins_over_its_tiers() {
    let mut tiers = MockTierRepository::new();
    tiers.expect_find().never();
    let (q, source) = service(holding(customer("IDR", Some("7.5"), Some(SILVER))), tiers)
        .quote_for(&actor("viewer"), CUSTOMER, &line("1000"))
        .await
        .unwrap();
    assert_eq!(source, DiscountSource::Customer);
    assert_eq!((q.discount_percent, q.total), (d("7.5"), d("925.00")));
}

#[tokio::test]
async fn an_own_discount_of_zero_also_wins_over_the_tiers() {
    let (q, source) = service(
        holding(customer("IDR", Some("0"), Some(SILVER))),
        silver_at("10"),
    )
    .quote_for(&actor("viewer"), CUSTOMER, &line("1000"))
    .await
    .unwrap();
    assert_eq!(source, DiscountSource::Customer);
    assert_eq!(q.total, d("1000.00"));
}

#[tokio::test]
async fn without_an_own_discount_the_tiers_applies() {
    let (q, source) = service(
        holding(customer("IDR", None, Some(SILVER))),
        silver_at("10"),
    )
    .quote_for(&actor("viewer"), CUSTOMER, &line("1000"))
    .await
    .unwrap();
    assert_eq!(source, DiscountSource::Tier("Silver".into()));
    assert_eq!(
        (q.discount_percent, q.discount, q.total),
        (d("10"), d("100.00"), d("900.00"))
    );
}

#[tokio::test]
async fn without_an_own_discount_or_a_tier_nothing_is_taken_off() {
    let mut tiers = MockTierRepository::new();
    tiers.expect_find().never();
    let (q, source) = service(holding(customer("IDR", None, None)), tiers)
        .quote_for(&actor("viewer"), CUSTOMER, &line("1000"))
        .await
        .unwrap();
    assert_eq!(source, DiscountSource::None);
    assert_eq!((q.discount, q.total), (d("0.00"), d("1000.00")));
}

#[tokio::test]
async fn a_tier_that_no_longer_exists_takes_nothing_off() {
    let gone = TierId(Uuid::from_u128(404));
    let (q, source) = service(holding(customer("IDR", None, Some(gone))), silver_at("10"))
        .quote_for(&actor("viewer"), CUSTOMER, &line("1000"))
        .await
        .unwrap();
    assert_eq!(source, DiscountSource::None);
    assert_eq!(q.total, d("1000.00"));
}

#[tokio::test]
async fn amounts_are_rounded_to_the_minor_unit_of_the_customers_currency() {
    let jpy = CurrencyCode::parse("JPY").unwrap();
    let (q, _) = service(
        holding(customer("JPY", None, Some(SILVER))),
        silver_at("15"),
    )
    .quote_for(&actor("viewer"), CUSTOMER, &line("105"))
    .await
    .unwrap();
    // 15 % of 105 is 15.75: 16 yen, no decimals.
    assert_eq!(q.currency, jpy);
    assert_eq!((q.discount, q.total), (d("16"), d("89")));
    assert_eq!(q.total.scale(), 0);

    let (q, _) = service(
        holding(customer("USD", None, Some(SILVER))),
        silver_at("15"),
    )
    .quote_for(&actor("viewer"), CUSTOMER, &line("105"))
    .await
    .unwrap();
    assert_eq!((q.discount, q.total), (d("15.75"), d("89.25")));
    assert_eq!(q.total.scale(), 2);
}

#[tokio::test]
async fn a_quote_without_lines_is_a_validation_error() {
    let err = service(
        holding(customer("IDR", None, None)),
        MockTierRepository::new(),
    )
    .quote_for(&actor("viewer"), CUSTOMER, &[])
    .await
    .unwrap_err();
    assert!(
        matches!(&err, DomainError::Validation(e) if e[0].field == "lines"),
        "{err:?}"
    );
}
