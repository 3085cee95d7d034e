//! Pricing: price quotes with a customer's discount (its own, else its tier's), rounding to the
//! currency's minor unit, and the credit-limit rule orders are held to.
//!
//! - [`model`]: the pure rules ([`quote`], [`round_to_minor_unit`], [`check_credit`]);
//! - [`service`]: [`PricingService`], the quote for one customer.

pub mod model;
pub mod service;
#[cfg(test)]
mod service_tests;

pub use model::{
    CreditExceeded, Quote, QuoteLineInput, QuotedLine, check_credit, quote, round_to_minor_unit,
};
pub use service::{DiscountSource, PricingService};
