//! The pricing use case: a quote for one customer, with its own or its tier's discount.

use std::sync::Arc;

use rust_decimal::Decimal;

use super::model::{Quote, QuoteLineInput, quote};
use crate::access::{Actor, Permission};
use crate::customer::{CustomerRepository, load_visible};
use crate::error::DomainError;
use crate::ids::CustomerId;
use crate::loyalty::TierRepository;
use crate::tenant::TenantRepository;

/// Where a quote's discount came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscountSource {
    /// The customer's own `discount_percent`.
    Customer,
    /// The customer's tier (its name).
    Tier(String),
    /// No discount applies.
    None,
}

/// Price quotes for a customer (needs `customers.view`).
pub struct PricingService {
    customers: Arc<dyn CustomerRepository>,
    tiers: Arc<dyn TierRepository>,
    tenants: Arc<dyn TenantRepository>,
}

impl PricingService {
    /// Wires the service.
    pub fn new(
        customers: Arc<dyn CustomerRepository>,
        tiers: Arc<dyn TierRepository>,
        tenants: Arc<dyn TenantRepository>,
    ) -> Self {
        Self {
            customers,
            tiers,
            tenants,
        }
    }

    /// Prices `lines` for a customer in the customer's currency: the customer's own
    /// `discount_percent` when set, else the tier's discount, else none.
    ///
    /// # Errors
    /// [`DomainError::NotFound`] for an unknown customer or one outside the caller's
    /// [`Visibility`](crate::access::Visibility); validation errors of [`quote`].
    #[tracing::instrument(name = "PricingService::quote_for", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id, customer_id = %customer))]
    pub async fn quote_for(
        &self,
        actor: &Actor,
        customer: CustomerId,
        lines: &[QuoteLineInput],
    ) -> Result<(Quote, DiscountSource), DomainError> {
        actor.require(Permission::CustomersView)?;
        let visibility = crate::tenant::visibility(self.tenants.as_ref(), actor).await?;
        let c = load_visible(
            self.customers.as_ref(),
            actor.tenant_id,
            &visibility,
            customer,
        )
        .await?;
        let (percent, source) = match (c.profile.discount_percent, c.loyalty.tier_id) {
            (Some(p), _) => (p, DiscountSource::Customer),
            (None, Some(t)) => match self.tiers.find(actor.tenant_id, t).await? {
                Some(tier) => (tier.discount_percent, DiscountSource::Tier(tier.name)),
                None => (Decimal::ZERO, DiscountSource::None),
            },
            (None, None) => (Decimal::ZERO, DiscountSource::None),
        };
        let q = quote(lines, percent, c.profile.currency).map_err(DomainError::Validation)?;
        Ok((q, source))
    }
}
