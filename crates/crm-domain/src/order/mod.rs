//! Orders: purchases that drive each customer's statistics, loyalty points and tier.
//!
//! - `model`: [`Order`], its lines and statuses, [`OrderInput`] and its validation;
//! - `ports`: [`OrderRepository`] and its units of work, [`OrderTransaction`] (one order) and
//!   [`BulkOrderTransaction`] (a batch);
//! - `service`: [`OrderService`] (place, change, read, purchase report);
//! - `error`: [`PlaceOrderError`], the refusals that are orders' own (the credit limit);
//! - [`events`]: the events of order writes (`order.placed`, `order.completed`, ...);
//! - `bulk`: [`OrderService::place_many`], the batched path of orders imports.

mod bulk;
mod error;
pub mod events;
mod model;
mod ports;
mod service;
#[cfg(test)]
mod service_tests;

pub use bulk::{BulkOrder, BulkOutcome};
pub use error::PlaceOrderError;
pub use model::{
    Order, OrderInput, OrderLine, OrderLineInput, OrderPosition, OrderStatus, PaymentStatus,
    ValidOrder, average_order_value,
};
pub use ports::{
    BulkOrderTransaction, CompletedTotals, OrderListQuery, OrderRepository, OrderTransaction,
    ProductTotal, Settlement, TierPosition,
};
#[cfg(any(test, feature = "mock"))]
pub use ports::{MockBulkOrderTransaction, MockOrderRepository, MockOrderTransaction};
pub use service::{MonthlySpend, OrderChange, OrderService, Placed, PurchaseReport};
