//! The failure cases of loyalty operations that are loyalty's own.

use crate::error::{DomainError, Rule, RuleViolation};

/// Why taking points from a customer (a redemption, or a negative adjustment) was refused.
/// Converts into [`DomainError::Rule`] with the same numbers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedeemError {
    /// The points to take exceed the balance: the balance cannot go below zero.
    #[error("the balance is {balance} points; taking {requested} would take it below zero")]
    InsufficientPoints {
        /// The customer's balance.
        balance: i64,
        /// The points asked for (a positive number).
        requested: i64,
    },
}

impl From<RedeemError> for DomainError {
    fn from(e: RedeemError) -> Self {
        let message = e.to_string();
        match e {
            RedeemError::InsufficientPoints { balance, requested } => {
                RuleViolation::new(Rule::InsufficientPoints, "points", message)
                    .with("balance", balance)
                    .with("requested", requested)
                    .into()
            }
        }
    }
}

/// Why deleting a tier was refused. Converts into [`DomainError::Rule`] with the same
/// numbers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeleteTierError {
    /// Customers hold the tier (deleted customers included, as they keep it when restored).
    #[error("{customers} customer(s) hold this tier; assign them another first")]
    InUse {
        /// How many customers hold it.
        customers: u64,
    },
}

impl From<DeleteTierError> for DomainError {
    fn from(e: DeleteTierError) -> Self {
        let message = e.to_string();
        match e {
            DeleteTierError::InUse { customers } => {
                RuleViolation::new(Rule::TierInUse, "tier_id", message)
                    .with("customers", customers)
                    .into()
            }
        }
    }
}
