//! The failure cases of customer operations that are customers' own.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::error::{DomainError, Rule, RuleViolation};
use crate::ids::CustomerId;

/// A change to an erased customer (its profile by `PUT` or `PATCH`, its consents) was refused:
/// an erasure cannot be undone (see [`crate::privacy`]). Converts into [`DomainError::Rule`]
/// ([`Rule::CustomerErased`], field `erased_at`, fact `erased_at`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("customer {id} was erased at {}; an erased customer cannot be changed", .erased_at.to_rfc3339_opts(SecondsFormat::AutoSi, true))]
pub struct CustomerErased {
    /// The customer.
    pub id: CustomerId,
    /// When it was erased.
    pub erased_at: DateTime<Utc>,
}

impl From<CustomerErased> for DomainError {
    fn from(e: CustomerErased) -> Self {
        RuleViolation::new(Rule::CustomerErased, "erased_at", e.to_string())
            .with(
                "erased_at",
                e.erased_at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            )
            .with("customer_id", e.id.0.to_string())
            .into()
    }
}

impl CustomerErased {
    /// The refusal for `customer` when it is erased.
    ///
    /// # Errors
    /// [`CustomerErased`] when `customer.erased_at` is set.
    pub fn check(customer: &super::Customer) -> Result<(), CustomerErased> {
        match customer.erased_at {
            Some(erased_at) => Err(CustomerErased {
                id: customer.id,
                erased_at,
            }),
            None => Ok(()),
        }
    }
}

/// Most open orders a [`DeleteCustomerError::OpenOrders`] names.
pub const OPEN_ORDERS_LISTED: u32 = 10;

/// Why deleting customers (one, or many in a bulk action) was refused. Converts into
/// [`DomainError::Rule`] with the same facts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeleteCustomerError {
    /// Customers to delete have open orders (pending, or completed and unpaid). The storage
    /// port lists open orders without counting them, so this names up to
    /// [`OPEN_ORDERS_LISTED`] of them (oldest first for one customer); there may be more.
    #[error("{}", OpenOrdersText(.orders))]
    OpenOrders {
        /// `(customer, order_ref)` of up to [`OPEN_ORDERS_LISTED`] open orders.
        orders: Vec<(CustomerId, String)>,
    },
}

/// "customer X has open (pending or unpaid) orders: A, B", or, across several customers,
/// "customers with open orders cannot be deleted: A (customer X), B (customer Y)".
struct OpenOrdersText<'a>(&'a [(CustomerId, String)]);

impl fmt::Display for OpenOrdersText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let orders = self.0;
        match orders.first() {
            Some((first, _)) if orders.iter().all(|(c, _)| c == first) => {
                let refs: Vec<&str> = orders.iter().map(|(_, r)| r.as_str()).collect();
                write!(
                    f,
                    "customer {first} has open (pending or unpaid) orders: {}",
                    refs.join(", ")
                )
            }
            _ => {
                let refs: Vec<String> = orders
                    .iter()
                    .map(|(c, r)| format!("{r} (customer {c})"))
                    .collect();
                write!(
                    f,
                    "customers with open orders cannot be deleted: {}",
                    refs.join(", ")
                )
            }
        }
    }
}

impl From<DeleteCustomerError> for DomainError {
    fn from(e: DeleteCustomerError) -> Self {
        let message = e.to_string();
        match e {
            DeleteCustomerError::OpenOrders { orders } => {
                let listed: Vec<serde_json::Value> = orders
                    .iter()
                    .map(|(c, r)| serde_json::json!({"customer_id": c.0, "order_ref": r}))
                    .collect();
                RuleViolation::new(Rule::CustomerHasOpenOrders, "orders", message)
                    .with("open_orders", listed)
                    .into()
            }
        }
    }
}
