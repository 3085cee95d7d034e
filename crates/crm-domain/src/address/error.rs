//! The failure cases of address operations that are addresses' own.

use crate::error::{DomainError, FieldError};

use super::model::{AddressType, MAX_ADDRESSES_PER_CUSTOMER};

/// Why an address write was refused. Each converts into [`DomainError::Validation`] (422)
/// with one [`FieldError`] naming the field and, for a limit, its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// The customer already holds [`MAX_ADDRESSES_PER_CUSTOMER`] addresses (field
    /// `addresses`, code `too_many`, `limit` 50).
    #[error("a customer holds at most {limit} addresses")]
    TooMany {
        /// The limit.
        limit: usize,
    },
    /// `is_default: false` on the only candidate for the default of its type: a type with
    /// addresses always has a default (field `is_default`, code `default_required`).
    #[error(
        "a customer's {0} addresses always have a default: make another {0} address the default instead"
    )]
    DefaultRequired(AddressType),
}

impl AddressError {
    /// The refusal of one more address.
    pub fn too_many() -> Self {
        AddressError::TooMany {
            limit: MAX_ADDRESSES_PER_CUSTOMER,
        }
    }
}

impl From<AddressError> for DomainError {
    fn from(e: AddressError) -> Self {
        let message = e.to_string();
        DomainError::Validation(vec![match e {
            AddressError::TooMany { limit } => {
                FieldError::new("addresses", "too_many", message).with_limit(limit)
            }
            AddressError::DefaultRequired(_) => {
                FieldError::new("is_default", "default_required", message)
            }
        }])
    }
}
