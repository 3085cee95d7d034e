//! Customer analytics: pure rules and statistical models that turn a tenant's order history into
//! scores, segments and predictions.
//!
//! No database here. The storage layer gathers the inputs (and may compile the same rules to
//! SQL); these modules define what the answers must be, so both backends and the Rust code agree.
//!
//! - [`rfm`]: recency / frequency / monetary quintile scores and the named R×F segments.
//! - [`clv`]: customer-lifetime-value models (BG/NBD purchase counts, Gamma-Gamma spend, and the
//!   discounted value that combines them).
//! - [`ports`] and [`service`]: storage port and use cases (RFM recompute as a job of
//!   [`crate::job`], CLV fit, per-customer analytics, tenant summaries).

pub mod clv;
pub mod ports;
pub mod rfm;
pub mod service;
#[cfg(test)]
mod service_tests;

pub use ports::{AnalyticsRepository, ClvFitDetails, ClvModel, PurchaseHistory, RfmSegmentTotals};
pub use service::{AnalyticsService, PredictionOptions};
