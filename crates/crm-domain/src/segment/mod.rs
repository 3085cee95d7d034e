//! Customer segments (the product documents' `customer_segments`): named groups of a tenant's
//! customers of three types.
//!
//! - `manual`: members are added and removed explicitly.
//! - `auto`: a rule in the filter language of the customer list (see
//!   [`crate::customer::filter`]), RFM fields included; evaluated by the database on every read,
//!   so membership follows data changes.
//! - `rfm`: one or more RFM segments (see [`crate::analytics::rfm`]); as `auto` with the rule
//!   `rfm_segment in [...]`.
//!
//! Every type yields one [`crate::customer::filter::Filter`], so listing a segment's customers, counting them and testing
//! a customer's membership are ordinary filtered customer queries.
//!
//! - `model`: [`Segment`], [`SegmentType`], [`SegmentRule`], [`SegmentInput`];
//! - `ports`: [`SegmentRepository`];
//! - `service`: [`SegmentService`];
//! - [`events`]: the events of its writes (`segment.created`, `segment.member_added`, ...).

pub mod events;
mod model;
mod ports;
mod service;
#[cfg(test)]
mod service_tests;

pub use events::DroppedMembers;
pub use model::{MAX_MEMBER_CHANGE, Segment, SegmentInput, SegmentRule, SegmentType};
#[cfg(any(test, feature = "mock"))]
pub use ports::MockSegmentRepository;
pub use ports::SegmentRepository;
pub use service::{SegmentService, SegmentWithTotals};
