//! Orders: purchases that drive each customer's statistics, loyalty points and tier.

mod bulk;
mod loyalty_service;
mod model;
mod ports;
mod service;
#[cfg(test)]
mod service_tests;

pub use bulk::BulkOrder;
pub use loyalty_service::{LoyaltyService, LoyaltySummary};
pub use model::{
    Order, OrderInput, OrderLine, OrderLineInput, OrderStatus, PaymentStatus, ValidOrder,
    average_order_value,
};
pub use ports::{
    CompletedTotals, OrderListQuery, OrderRepository, OrderTransaction, ProductTotal, Settlement,
    TierPosition,
};
#[cfg(any(test, feature = "mock"))]
pub use ports::{MockOrderRepository, MockOrderTransaction};
pub use service::{MonthlySpend, OrderChange, OrderService, Placed, PurchaseReport};
