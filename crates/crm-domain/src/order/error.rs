//! The failure cases of placing an order that are orders' own.

use crate::error::{DomainError, Rule, RuleViolation};
use crate::values::{Amount, CurrencyCode};

/// Why placing an order (or changing one so that it becomes owed: completed and unpaid) was
/// refused by an order rule. Converts into [`DomainError::Rule`] with the same numbers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaceOrderError {
    /// The order, completed and unpaid, would take the customer's outstanding amount
    /// (completed unpaid orders) above their credit limit: `outstanding + requested > limit`.
    #[error(
        "the credit limit is {limit} {currency}; {outstanding} {currency} is outstanding, so an unpaid order of {requested} {currency} would exceed it"
    )]
    CreditLimitExceeded {
        /// The customer's credit limit.
        limit: Amount,
        /// What the customer owes already (completed unpaid orders).
        outstanding: Amount,
        /// This order's total.
        requested: Amount,
        /// The customer's currency, of all three amounts.
        currency: CurrencyCode,
    },
}

impl From<PlaceOrderError> for DomainError {
    fn from(e: PlaceOrderError) -> Self {
        let message = e.to_string();
        match e {
            PlaceOrderError::CreditLimitExceeded {
                limit,
                outstanding,
                requested,
                currency,
            } => RuleViolation::new(Rule::CreditLimitExceeded, "credit_limit", message)
                .with("limit", limit.to_string())
                .with("outstanding", outstanding.to_string())
                .with("requested", requested.to_string())
                .with("currency", currency.as_str())
                .into(),
        }
    }
}
