//! Loyalty: points earned per purchase and their ledger, membership tiers and the rules that
//! move customers between them.
//!
//! - [`model`]: settings ([`LoyaltySettings`]), [`Tier`], [`LedgerEntry`], [`TierChange`];
//! - [`rules`]: points per order ([`points_for`]), the default tiers, the qualifying tier, the
//!   upgrade and the downgrade after the grace period ([`tier_after_spending`], [`tier_change`]);
//! - [`ports`]: [`TierRepository`] (points and tier changes are written through the order unit of
//!   work, [`crate::order::OrderTransaction`]);
//! - [`service`]: [`LoyaltyService`] (balance and ledger, redemptions, adjustments, tier
//!   assignment, tenant-wide tier re-evaluation);
//! - [`tier_service`]: [`TierService`] (the tier catalogue);
//! - [`events`]: the events of points movements, tier changes and the tier catalogue;
//! - [`error`]: [`RedeemError`] and [`DeleteTierError`], the refusals that are loyalty's own.

pub mod error;
pub mod events;
pub mod model;
pub mod ports;
pub mod rules;
pub mod service;
#[cfg(test)]
mod service_tests;
pub mod tier_service;

pub use error::{DeleteTierError, RedeemError};
pub use model::{
    DEFAULT_POINTS_UNIT, DowngradePolicy, LedgerEntry, LedgerKind, LoyaltySettings, Tier,
    TierChange,
};
#[cfg(any(test, feature = "mock"))]
pub use ports::MockTierRepository;
pub use ports::TierRepository;
pub use rules::{default_tiers, points_for, qualifying_tier, tier_after_spending, tier_change};
pub use service::{LoyaltyService, LoyaltySummary};
pub use tier_service::{TierInput, TierService};
