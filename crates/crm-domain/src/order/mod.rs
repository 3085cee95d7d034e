//! Orders: purchases that drive each customer's statistics, loyalty points and tier.
//!
//! - `model`: [`Order`], its lines and statuses, [`OrderInput`] and its validation;
//! - `ports`: [`OrderRepository`] and its unit of work [`OrderTransaction`];
//! - `service`: [`OrderService`] (place, change, read, purchase report);
//! - `bulk`: [`OrderService::place_many`], the batched path of orders imports.

mod bulk;
mod model;
mod ports;
mod service;
#[cfg(test)]
mod service_tests;

pub use bulk::BulkOrder;
pub use model::{
    Order, OrderInput, OrderLine, OrderLineInput, OrderPosition, OrderStatus, PaymentStatus,
    ValidOrder, average_order_value,
};
pub use ports::{
    CompletedTotals, OrderListQuery, OrderRepository, OrderTransaction, ProductTotal, Settlement,
    TierPosition,
};
#[cfg(any(test, feature = "mock"))]
pub use ports::{MockOrderRepository, MockOrderTransaction};
pub use service::{MonthlySpend, OrderChange, OrderService, Placed, PurchaseReport};
