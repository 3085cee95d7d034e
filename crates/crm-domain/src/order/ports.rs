//! Storage ports of orders, loyalty and tiers. Writes that touch several rows go through one
//! unit of work, so an order, the customer's statistics, the points ledger and a tier change
//! are stored together or not at all: an [`OrderTransaction`] for one customer's order (or
//! points, or tier), a [`BulkOrderTransaction`] for a batch of orders
//! ([`super::OrderService::place_many`]).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::model::{Order, OrderStatus, PaymentStatus};
use crate::access::Visibility;
use crate::customer::{Customer, LifecycleStage, PurchaseStats};
use crate::error::RepositoryError;
use crate::event::NewEvent;
use crate::ids::{CustomerId, OrderId, TenantId};
use crate::loyalty::{LedgerEntry, Tier, TierChange};
use crate::values::Amount;

/// Count, sum and dates of a customer's completed orders.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompletedTotals {
    /// Completed orders.
    pub count: i64,
    /// Sum of their totals.
    pub sum: Amount,
    /// Earliest `placed_at`.
    pub first: Option<DateTime<Utc>>,
    /// Latest `placed_at`.
    pub last: Option<DateTime<Utc>>,
}

/// One customer's outcome of a batch of orders ([`BulkOrderTransaction::settle_many`]): statistics
/// and stage to store, and the points the batch earned (added to the cached balance).
#[derive(Debug, Clone, PartialEq)]
pub struct Settlement {
    /// Customer.
    pub customer_id: CustomerId,
    /// Their statistics over all completed orders, the batch's included.
    pub stats: PurchaseStats,
    /// Their lifecycle stage after the batch.
    pub stage: LifecycleStage,
    /// Points earned by the batch's orders (already appended to the ledger).
    pub points: i64,
    /// The tier (and since when) after the batch's tier changes, when it changed (the changes
    /// themselves go to [`BulkOrderTransaction::append_tier_changes`]).
    pub tier: Option<(Option<crate::ids::TierId>, DateTime<Utc>)>,
}

/// Quantity and revenue of one product over a customer's completed orders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductTotal {
    /// Product code.
    pub sku: String,
    /// A name seen for it.
    pub name: Option<String>,
    /// Units bought.
    pub quantity: rust_decimal::Decimal,
    /// Σ line totals.
    pub revenue: Amount,
}

/// A customer's tier standing, for the re-evaluation job.
#[derive(Debug, Clone, PartialEq)]
pub struct TierPosition {
    /// Customer.
    pub customer_id: CustomerId,
    /// Current tier.
    pub tier_id: Option<crate::ids::TierId>,
    /// Held since.
    pub tier_since: Option<DateTime<Utc>>,
    /// Spending.
    pub total_spent: Amount,
}

/// A filter of order lists. Newest first (`placed_at` desc, then id desc).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderListQuery {
    /// Only this customer's orders.
    pub customer_id: Option<CustomerId>,
    /// Status in any of these.
    pub statuses: Vec<OrderStatus>,
    /// Payment state; `Overdue` means unpaid, completed and `due_at` before `now`.
    pub payment_status: Option<PaymentStatus>,
    /// `placed_at` ≥ this.
    pub placed_after: Option<DateTime<Utc>>,
    /// `placed_at` < this.
    pub placed_before: Option<DateTime<Utc>>,
    /// Start after this row (`placed_at`, id).
    pub after: Option<(DateTime<Utc>, OrderId)>,
    /// Rows wanted.
    pub limit: u32,
    /// The time `Overdue` is judged at.
    pub now: DateTime<Utc>,
}

/// One transaction of single-order writes (place or change one order, adjust points, set a
/// tier). Dropping it without [`OrderTransaction::commit`] rolls everything back.
///
/// # Errors
/// As [`RepositoryError`]; `Conflict { field: "order_ref" }` when an order ref is taken.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait OrderTransaction: Send {
    /// Reads a live customer and locks it until the end of the transaction, so concurrent
    /// changes of one customer's orders queue.
    async fn lock_customer(
        &mut self,
        tenant: TenantId,
        id: CustomerId,
    ) -> Result<Option<Customer>, RepositoryError>;
    /// The tenant's order with this ref.
    async fn order_by_ref(
        &mut self,
        tenant: TenantId,
        order_ref: &str,
    ) -> Result<Option<Order>, RepositoryError>;
    /// The tenant's order with this id.
    async fn find_order(
        &mut self,
        tenant: TenantId,
        id: OrderId,
    ) -> Result<Option<Order>, RepositoryError>;
    /// Stores a new order and its lines.
    async fn insert_order(&mut self, order: &Order) -> Result<(), RepositoryError>;
    /// Stores an order's new status, payment status, points, `updated_at` and `version`, if its
    /// stored version is `expected_version`.
    async fn update_order(
        &mut self,
        order: &Order,
        expected_version: i64,
    ) -> Result<(), RepositoryError>;
    /// Totals of the customer's completed orders.
    async fn completed_totals(
        &mut self,
        tenant: TenantId,
        customer: CustomerId,
    ) -> Result<CompletedTotals, RepositoryError>;
    /// Sum of the customer's completed, unpaid orders.
    async fn outstanding(
        &mut self,
        tenant: TenantId,
        customer: CustomerId,
    ) -> Result<Amount, RepositoryError>;
    /// Writes the customer's purchase statistics and stage.
    async fn save_customer_stats(
        &mut self,
        tenant: TenantId,
        customer: CustomerId,
        stats: &PurchaseStats,
        stage: LifecycleStage,
    ) -> Result<(), RepositoryError>;
    /// Appends a ledger entry and moves the customer's cached balance by its points.
    async fn add_ledger_entry(&mut self, entry: &LedgerEntry) -> Result<(), RepositoryError>;
    /// The tenant's tiers.
    async fn tiers(&mut self, tenant: TenantId) -> Result<Vec<Tier>, RepositoryError>;
    /// Sets the customer's tier (and `tier_since`) and records the change in its history.
    async fn record_tier_change(&mut self, change: &TierChange) -> Result<(), RepositoryError>;
    /// Appends events to the tenant's event log in this transaction, in the order given (so
    /// they commit with the writes they record, or not at all).
    async fn append_events(&mut self, events: &[NewEvent]) -> Result<(), RepositoryError>;
    /// Makes every write of the transaction durable.
    async fn commit(self: Box<Self>) -> Result<(), RepositoryError>;
}

/// One transaction of a batch of orders ([`super::OrderService::place_many`]): the batch's
/// reads in one pass each, then multi-row writes. Dropping it without
/// [`BulkOrderTransaction::commit`] rolls everything back.
///
/// # Errors
/// As [`RepositoryError`]; `Conflict { field: "order_ref" }` when an order ref is taken.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait BulkOrderTransaction: Send {
    /// Reads live customers and locks them as [`OrderTransaction::lock_customer`] does, in id
    /// order (so concurrent batches cannot deadlock); absent ids are left out.
    async fn lock_customers(
        &mut self,
        tenant: TenantId,
        ids: &[CustomerId],
    ) -> Result<Vec<Customer>, RepositoryError>;
    /// The tenant's orders whose ref is one of `refs`, with their lines.
    async fn orders_by_refs(
        &mut self,
        tenant: TenantId,
        refs: &[String],
    ) -> Result<Vec<Order>, RepositoryError>;
    /// [`OrderTransaction::completed_totals`] of many customers in one pass; customers without
    /// a completed order are left out.
    async fn completed_totals_many(
        &mut self,
        tenant: TenantId,
        ids: &[CustomerId],
    ) -> Result<Vec<(CustomerId, CompletedTotals)>, RepositoryError>;
    /// Stores new customers of the tenant, with numbers, codes, tags and search terms, as the
    /// customers' bulk insert does.
    ///
    /// # Errors
    /// `Conflict` naming the field when a unique value is taken.
    async fn insert_customers(
        &mut self,
        tenant: TenantId,
        customers: &[crate::customer::NewCustomer],
    ) -> Result<(), RepositoryError>;
    /// Stores new orders and their lines with multi-row inserts.
    async fn insert_orders(&mut self, orders: &[Order]) -> Result<(), RepositoryError>;
    /// Appends ledger entries with multi-row inserts. Unlike
    /// [`OrderTransaction::add_ledger_entry`] it leaves the cached balances alone:
    /// [`BulkOrderTransaction::settle_many`] moves them.
    async fn append_ledger_entries(
        &mut self,
        entries: &[LedgerEntry],
    ) -> Result<(), RepositoryError>;
    /// Appends tier changes to the customers' histories with multi-row inserts, leaving the
    /// customers' current tier alone ([`BulkOrderTransaction::settle_many`] sets it).
    async fn append_tier_changes(&mut self, changes: &[TierChange]) -> Result<(), RepositoryError>;
    /// Writes each customer's statistics, stage and (when `tier` is set) tier (as
    /// [`OrderTransaction::save_customer_stats`] and [`OrderTransaction::record_tier_change`])
    /// and adds `points` to their cached balance.
    async fn settle_many(
        &mut self,
        tenant: TenantId,
        rows: &[Settlement],
    ) -> Result<(), RepositoryError>;
    /// Sum of the customer's completed, unpaid orders (as [`OrderTransaction::outstanding`]).
    async fn outstanding(
        &mut self,
        tenant: TenantId,
        customer: CustomerId,
    ) -> Result<Amount, RepositoryError>;
    /// The tenant's tiers.
    async fn tiers(&mut self, tenant: TenantId) -> Result<Vec<Tier>, RepositoryError>;
    /// Records an import's checkpoint (its job's progress and rejected rows) in this
    /// transaction, so it commits with the batch's orders or not at all.
    ///
    /// # Errors
    /// [`RepositoryError::Stale`] when the job is no longer `running` (a sweep failed it).
    async fn record_checkpoint(
        &mut self,
        checkpoint: &crate::import::ImportCheckpoint,
    ) -> Result<(), RepositoryError>;
    /// Starts a savepoint: [`BulkOrderTransaction::rollback_to_savepoint`] then undoes the
    /// writes made since (a failed one included) and leaves the transaction usable. One at a
    /// time: end it with [`BulkOrderTransaction::release_savepoint`] or the rollback.
    async fn savepoint(&mut self) -> Result<(), RepositoryError>;
    /// Keeps the writes made since the savepoint and ends it.
    async fn release_savepoint(&mut self) -> Result<(), RepositoryError>;
    /// Undoes the writes made since the savepoint and ends it.
    async fn rollback_to_savepoint(&mut self) -> Result<(), RepositoryError>;
    /// Appends events to the tenant's event log in this transaction with multi-row inserts,
    /// in the order given (so they commit with the batch, or not at all).
    async fn append_events(&mut self, events: &[NewEvent]) -> Result<(), RepositoryError>;
    /// Makes every write of the transaction durable.
    async fn commit(self: Box<Self>) -> Result<(), RepositoryError>;
}

/// Orders, ledgers and tier histories: reads, and transactions for writes.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait OrderRepository: Send + Sync {
    /// Starts a transaction of single-order writes.
    async fn begin(&self, tenant: TenantId) -> Result<Box<dyn OrderTransaction>, RepositoryError>;
    /// Starts a transaction of a batch of orders.
    async fn begin_bulk(
        &self,
        tenant: TenantId,
    ) -> Result<Box<dyn BulkOrderTransaction>, RepositoryError>;
    /// The tenant's order with this id.
    async fn find_order(
        &self,
        tenant: TenantId,
        id: OrderId,
    ) -> Result<Option<Order>, RepositoryError>;
    /// Up to `query.limit` orders matching the query, of customers inside `visibility` (with
    /// [`Visibility::AssignedTo`], only orders of customers assigned to that user).
    async fn list_orders(
        &self,
        tenant: TenantId,
        visibility: &Visibility,
        query: &OrderListQuery,
    ) -> Result<Vec<Order>, RepositoryError>;
    /// The customer's ledger, newest first, up to `limit` entries older than `before` (an id).
    async fn ledger(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        before: Option<crate::ids::LedgerEntryId>,
        limit: u32,
    ) -> Result<Vec<LedgerEntry>, RepositoryError>;
    /// The customer's tier changes, newest first.
    async fn tier_history(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        limit: u32,
    ) -> Result<Vec<TierChange>, RepositoryError>;
    /// The tenant's tiers, by level.
    async fn tiers(&self, tenant: TenantId) -> Result<Vec<Tier>, RepositoryError>;
    /// `(placed_at, total_amount)` of the customer's completed orders placed at or after `since`.
    async fn completed_since(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        since: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, Amount)>, RepositoryError>;
    /// The customer's `limit` products with the most units over completed orders.
    async fn top_products(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        limit: u32,
    ) -> Result<Vec<ProductTotal>, RepositoryError>;
    /// Up to `limit` live customers of the tenant after `after` (by id) with their tier standing.
    async fn tier_positions(
        &self,
        tenant: TenantId,
        after: Option<CustomerId>,
        limit: u32,
    ) -> Result<Vec<TierPosition>, RepositoryError>;
    /// Rebuilds every customer's purchase statistics, stage and points balance of the tenant
    /// from its orders and ledger, in the database; returns the customers updated.
    async fn recompute_statistics(&self, tenant: TenantId) -> Result<u64, RepositoryError>;
}
