//! Use cases on orders: placing one, changing its status or payment, reading them. Each write
//! runs in one [`OrderTransaction`] that also updates the customer's statistics, stage, points
//! and tier.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;

use super::error::PlaceOrderError;
use super::model::{
    Order, OrderInput, OrderPosition, OrderStatus, PaymentStatus, average_order_value,
};
use super::ports::{OrderListQuery, OrderRepository, OrderTransaction};
use crate::access::{Actor, Permission, Visibility};
use crate::customer::{Customer, LifecycleStage, PurchaseStats};
use crate::error::{DomainError, RepositoryError};
use crate::ids::{CustomerId, LedgerEntryId, OrderId, TenantId};
use crate::loyalty::events::{points_event, tier_changed_event};
use crate::loyalty::{
    LedgerEntry, LedgerKind, LoyaltySettings, Tier, TierChange, points_for, tier_change,
};
use crate::page::Page;
use crate::ports::{Clock, IdGenerator};
use crate::pricing::check_credit;
use crate::tenant::{Tenant, TenantRepository};
use crate::values::Amount;

/// The result of placing an order.
#[derive(Debug, Clone, PartialEq)]
pub struct Placed {
    /// The order.
    pub order: Order,
    /// False when an order with the same `order_ref` already existed (nothing changed).
    pub created: bool,
}

/// A change of an order's status and/or payment status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OrderChange {
    /// New status.
    pub status: Option<OrderStatus>,
    /// New payment status (`unpaid` or `paid`).
    pub payment_status: Option<PaymentStatus>,
}

/// Spending of one calendar month (UTC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthlySpend {
    /// `YYYY-MM`.
    pub month: String,
    /// Completed orders placed in the month.
    pub orders: i64,
    /// Their total.
    pub total: Amount,
}

/// A customer's purchase statistics and history.
#[derive(Debug, Clone, PartialEq)]
pub struct PurchaseReport {
    /// The customer's currency, every amount's.
    pub currency: crate::values::CurrencyCode,
    /// The instant the report was made at: the derived payment state of `last_orders`
    /// ([`Order::payment_status_at`]) is reported at it.
    pub as_of: DateTime<Utc>,
    /// Totals (completed orders).
    pub stats: PurchaseStats,
    /// Completed orders per month since the first one (at least one month), 2 decimals.
    pub purchase_frequency_per_month: Decimal,
    /// The last 12 calendar months, oldest first, the current month last.
    pub monthly: Vec<MonthlySpend>,
    /// Top 10 products by units.
    pub top_products: Vec<super::ports::ProductTotal>,
    /// The 10 most recent orders (any status).
    pub last_orders: Vec<Order>,
}

/// Use cases on orders.
pub struct OrderService {
    customers: Arc<dyn crate::customer::CustomerRepository>,
    pub(super) orders: Arc<dyn OrderRepository>,
    pub(super) tenants: Arc<dyn TenantRepository>,
    pub(super) clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
}

impl OrderService {
    /// Wires the service.
    pub fn new(
        customers: Arc<dyn crate::customer::CustomerRepository>,
        orders: Arc<dyn OrderRepository>,
        tenants: Arc<dyn TenantRepository>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
    ) -> Self {
        Self {
            customers,
            orders,
            tenants,
            clock,
            ids,
        }
    }

    /// A customer's totals, purchase frequency, monthly spending over the last 12 months, top
    /// 10 products by units and last 10 orders (needs `customers.view`).
    ///
    /// # Errors
    /// [`DomainError::NotFound`] (also for a customer outside the caller's [`Visibility`]).
    #[tracing::instrument(name = "OrderService::purchase_report", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id, customer_id = %customer_id))]
    pub async fn purchase_report(
        &self,
        actor: &Actor,
        customer_id: CustomerId,
    ) -> Result<PurchaseReport, DomainError> {
        use chrono::Datelike;
        actor.require(Permission::CustomersView)?;
        let visibility = self.visibility(actor).await?;
        let c = crate::customer::load_visible(
            self.customers.as_ref(),
            actor.tenant_id,
            &visibility,
            customer_id,
        )
        .await?;
        let now = self.clock.now();
        let (mut year, mut month) = (now.year(), now.month());
        let mut months = Vec::with_capacity(12);
        for _ in 0..12 {
            months.push((year, month));
            if month == 1 {
                year -= 1;
                month = 12;
            } else {
                month -= 1;
            }
        }
        months.reverse();
        let (y0, m0) = months[0];
        // The first instant of the month eleven months back.
        let since = chrono::NaiveDate::from_ymd_opt(y0, m0, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|d| d.and_utc())
            .ok_or_else(|| DomainError::Internal("calendar overflow".into()))?;
        let placed = self
            .orders
            .completed_since(actor.tenant_id, customer_id, since)
            .await?;
        let monthly = months
            .into_iter()
            .map(|(y, m)| {
                let in_month: Vec<_> = placed
                    .iter()
                    .filter(|(at, _)| at.year() == y && at.month() == m)
                    .collect();
                MonthlySpend {
                    month: format!("{y:04}-{m:02}"),
                    orders: i64::try_from(in_month.len()).unwrap_or(i64::MAX),
                    total: Amount::from_scaled(in_month.iter().map(|(_, a)| a.to_scaled()).sum()),
                }
            })
            .collect();
        let frequency = match c.stats.first_order_at {
            Some(first) if c.stats.total_orders > 0 => {
                // Months of 30.436875 days (the Gregorian average), at least one.
                let days = Decimal::from((now - first).num_days().max(0));
                let months = (days / Decimal::new(30_436_875, 6)).max(Decimal::ONE);
                (Decimal::from(c.stats.total_orders) / months).round_dp(2)
            }
            _ => Decimal::ZERO,
        };
        let list = OrderListQuery {
            customer_id: Some(customer_id),
            limit: 10,
            now,
            ..Default::default()
        };
        let last_orders = self
            .orders
            .list_orders(actor.tenant_id, &visibility, &list)
            .await?;
        Ok(PurchaseReport {
            currency: c.profile.currency,
            as_of: now,
            stats: c.stats,
            purchase_frequency_per_month: frequency,
            monthly,
            top_products: self
                .orders
                .top_products(actor.tenant_id, customer_id, 10)
                .await?,
            last_orders,
        })
    }

    /// Records an order of a customer (needs `customers.edit`; `override_credit_limit` needs
    /// `customers.manage`). Re-sending an `order_ref` returns the stored order unchanged.
    ///
    /// A completed order, in the same transaction: earns `floor(total / points_unit)` points,
    /// updates the customer's totals, average, first and last order, moves a prospect or lead
    /// to customer, and upgrades the tier when a threshold is crossed.
    ///
    /// # Errors
    /// [`DomainError::NotFound`] (customer; also one outside the caller's [`Visibility`]),
    /// [`DomainError::Validation`],
    /// [`PlaceOrderError::CreditLimitExceeded`] (as [`DomainError::Rule`], with the limit, the
    /// outstanding and the requested amounts) when an unpaid completed order would exceed the
    /// credit limit, [`DomainError::Conflict`] on `order_ref` when the ref belongs to another
    /// customer's order.
    #[tracing::instrument(name = "OrderService::place", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id, customer_id = %customer_id))]
    pub async fn place(
        &self,
        actor: &Actor,
        customer_id: CustomerId,
        input: OrderInput,
        override_credit_limit: bool,
    ) -> Result<Placed, DomainError> {
        actor.require(Permission::CustomersEdit)?;
        if override_credit_limit {
            actor.require(Permission::CustomersManage)?;
        }
        let text_errors = input.text_errors();
        if !text_errors.is_empty() {
            return Err(DomainError::Validation(text_errors));
        }
        let tenant = self.tenant(actor.tenant_id).await?;
        let visibility = tenant.visibility_of(actor)?;
        let order_ref = input.order_ref.clone().map(|r| r.trim().to_owned());
        match self
            .place_in_tx(
                actor,
                &tenant,
                &visibility,
                customer_id,
                input,
                override_credit_limit,
            )
            .await
        {
            // A concurrent request stored the same ref first: answer with its order.
            Err(DomainError::Conflict { field, .. }) if field == "order_ref" => {
                let mut tx = self.orders.begin(actor.tenant_id).await?;
                let existing = match order_ref.as_deref() {
                    Some(r) => tx.order_by_ref(tenant.id, r).await?,
                    None => None,
                };
                match existing {
                    Some(order) if order.customer_id == customer_id => Ok(Placed {
                        order,
                        created: false,
                    }),
                    _ => Err(ref_taken()),
                }
            }
            other => other,
        }
    }

    async fn place_in_tx(
        &self,
        actor: &Actor,
        tenant: &Tenant,
        visibility: &Visibility,
        customer_id: CustomerId,
        input: OrderInput,
        override_credit_limit: bool,
    ) -> Result<Placed, DomainError> {
        let now = self.clock.now();
        let mut tx = self.orders.begin(actor.tenant_id).await?;
        // Judged on the locked row: the assignment cannot change before the commit.
        let customer = tx
            .lock_customer(tenant.id, customer_id)
            .await?
            .filter(|c| visibility.allows(c.profile.assigned_to.as_ref()))
            .ok_or(DomainError::NotFound { entity: "customer" })?;
        if let Some(r) = input
            .order_ref
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
            && let Some(order) = tx.order_by_ref(tenant.id, r).await?
        {
            return if order.customer_id == customer_id {
                Ok(Placed {
                    order,
                    created: false,
                })
            } else {
                Err(ref_taken())
            };
        }
        let valid = input
            .validate(customer.profile.currency, now)
            .map_err(DomainError::Validation)?;
        let mut order = self.new_order(actor, tenant.id, &customer, valid, now);
        if order.status == OrderStatus::Completed {
            within_total_spent(customer.stats.total_spent, &order)?;
        }
        if order.status == OrderStatus::Completed
            && order.payment_status == PaymentStatus::Unpaid
            && !override_credit_limit
        {
            check_credit_limit(tx.as_mut(), &customer, &order).await?;
        }
        let settings = LoyaltySettings::of(tenant)?;
        if order.status == OrderStatus::Completed {
            order.points_earned = points_for(order.total_amount, settings.points_unit);
        }
        tx.insert_order(&order).await.map_err(map_ref_conflict)?;
        let mut events = vec![super::events::order_placed_event(actor, &order, now)];
        if order.status == OrderStatus::Completed {
            if let Some(entry) = self.earn(tx.as_mut(), &order, now).await? {
                let balance = customer.loyalty.points.saturating_add(entry.points);
                events.push(points_event(actor, &entry, balance));
            }
            if let Some((change, tiers)) = self
                .settle(tx.as_mut(), tenant, &customer, &settings, now)
                .await?
            {
                events.push(tier_changed_event(actor, &change, &tiers));
            }
        }
        tx.append_events(&events).await?;
        tx.commit().await?;
        Ok(Placed {
            order,
            created: true,
        })
    }

    /// Changes an order's status and/or payment status (needs `customers.edit`).
    ///
    /// `pending → completed` earns points and updates statistics and tier (and is held to the
    /// credit limit when unpaid); `completed → refunded` takes back exactly the points the order
    /// earned (never more than the balance) and updates statistics. With `expected_version`,
    /// only on that version.
    ///
    /// # Errors
    /// [`DomainError::NotFound`] (also for an order of a customer outside the caller's
    /// [`Visibility`]), [`DomainError::Validation`] for a forbidden transition,
    /// [`DomainError::PreconditionFailed`], [`PlaceOrderError::CreditLimitExceeded`] (as
    /// [`DomainError::Rule`]) when the order becomes owed beyond the credit limit.
    #[tracing::instrument(name = "OrderService::change", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id, order_id = %id))]
    pub async fn change(
        &self,
        actor: &Actor,
        id: OrderId,
        change: OrderChange,
        expected_version: Option<i64>,
    ) -> Result<Order, DomainError> {
        actor.require(Permission::CustomersEdit)?;
        let tenant = self.tenant(actor.tenant_id).await?;
        let settings = LoyaltySettings::of(&tenant)?;
        let visibility = tenant.visibility_of(actor)?;
        let now = self.clock.now();
        let customer_id = self.get(actor, id).await?.customer_id;
        let mut tx = self.orders.begin(actor.tenant_id).await?;
        // Customer first, then order: every writer locks in this order.
        let customer = tx
            .lock_customer(tenant.id, customer_id)
            .await?
            .filter(|c| visibility.allows(c.profile.assigned_to.as_ref()))
            .ok_or(DomainError::NotFound { entity: "order" })?;
        let current = tx
            .find_order(tenant.id, id)
            .await?
            .ok_or(DomainError::NotFound { entity: "order" })?;
        if let Some(expected) = expected_version.filter(|v| *v != current.version) {
            return Err(DomainError::PreconditionFailed {
                expected,
                current: current.version,
            });
        }
        let mut order = current.clone();
        if let Some(status) = change.status {
            if !current.status.can_become(status) {
                return Err(DomainError::invalid(
                    "status",
                    "invalid_transition",
                    format!("a {} order cannot become {status}", current.status),
                ));
            }
            order.status = status;
        }
        if let Some(payment) = change.payment_status {
            if payment == PaymentStatus::Overdue {
                return Err(DomainError::invalid(
                    "payment_status",
                    "invalid",
                    "overdue is derived from due_at; send unpaid",
                ));
            }
            order.payment_status = payment;
        }
        if order == current {
            return Ok(current);
        }
        let completing =
            current.status != OrderStatus::Completed && order.status == OrderStatus::Completed;
        let newly_owed = order.status == OrderStatus::Completed
            && order.payment_status == PaymentStatus::Unpaid
            && (completing || current.payment_status != PaymentStatus::Unpaid);
        if completing {
            within_total_spent(customer.stats.total_spent, &order)?;
        }
        if newly_owed {
            check_credit_limit(tx.as_mut(), &customer, &order).await?;
        }
        if completing {
            order.points_earned = points_for(order.total_amount, settings.points_unit);
        }
        order.version = current.version + 1;
        order.updated_at = now;
        tx.update_order(&order, current.version)
            .await
            .map_err(|e| match e {
                RepositoryError::Stale => DomainError::PreconditionFailed {
                    expected: current.version,
                    current: current.version + 1,
                },
                other => other.into(),
            })?;
        let mut events = vec![super::events::order_changed_event(
            actor, &current, &order, now,
        )];
        if completing && let Some(entry) = self.earn(tx.as_mut(), &order, now).await? {
            let balance = customer.loyalty.points.saturating_add(entry.points);
            events.push(points_event(actor, &entry, balance));
        }
        let leaving_completed =
            current.status == OrderStatus::Completed && order.status != OrderStatus::Completed;
        if leaving_completed && order.points_earned > 0 {
            // Never below zero: points already redeemed cannot be taken back.
            let take = order.points_earned.min(customer.loyalty.points);
            if take > 0 {
                let entry = self.entry(
                    &order,
                    LedgerKind::Reversal,
                    -take,
                    now,
                    Some(actor),
                    format!("order {} {}", order.order_ref, order.status),
                );
                tx.add_ledger_entry(&entry).await?;
                events.push(points_event(actor, &entry, customer.loyalty.points - take));
            }
        }
        if (completing || leaving_completed)
            && let Some((change, tiers)) = self
                .settle(tx.as_mut(), &tenant, &customer, &settings, now)
                .await?
        {
            events.push(tier_changed_event(actor, &change, &tiers));
        }
        tx.append_events(&events).await?;
        tx.commit().await?;
        Ok(order)
    }

    /// The tenant's order with this id (needs `customers.view`).
    ///
    /// # Errors
    /// [`DomainError::NotFound`] when absent, another tenant's, or of a customer outside the
    /// caller's [`Visibility`].
    #[tracing::instrument(name = "OrderService::get", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id, order_id = %id))]
    pub async fn get(&self, actor: &Actor, id: OrderId) -> Result<Order, DomainError> {
        actor.require(Permission::CustomersView)?;
        let not_found = DomainError::NotFound { entity: "order" };
        let order = self
            .orders
            .find_order(actor.tenant_id, id)
            .await?
            .ok_or(not_found.clone())?;
        if let visibility @ Visibility::AssignedTo(_) = self.visibility(actor).await? {
            // A deleted customer's orders stay readable to whoever reached the customer.
            let owner = self
                .customers
                .find(actor.tenant_id, order.customer_id, true)
                .await?;
            if !owner.is_some_and(|c| visibility.allows(c.profile.assigned_to.as_ref())) {
                return Err(not_found);
            }
        }
        Ok(order)
    }

    /// Which customers `actor` reaches: [`crate::tenant::visibility`].
    async fn visibility(&self, actor: &Actor) -> Result<Visibility, DomainError> {
        crate::tenant::visibility(self.tenants.as_ref(), actor).await
    }

    /// A page of the tenant's orders of customers inside the caller's [`Visibility`] (needs
    /// `customers.view`), newest first: `query.limit` orders after `query.after`, and where the
    /// next page starts. `query.now` is set here.
    ///
    /// # Errors
    /// [`DomainError::Validation`] when `limit` is outside 1..=200.
    #[tracing::instrument(name = "OrderService::list", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id))]
    pub async fn list(
        &self,
        actor: &Actor,
        mut query: OrderListQuery,
    ) -> Result<Page<Order, OrderPosition>, DomainError> {
        actor.require(Permission::CustomersView)?;
        if !(1..=crate::customer::MAX_PAGE_SIZE).contains(&query.limit) {
            return Err(DomainError::invalid(
                "limit",
                "out_of_range",
                "must be between 1 and 200",
            ));
        }
        query.now = self.clock.now();
        let visibility = self.visibility(actor).await?;
        let limit = query.limit;
        query.limit += 1;
        let rows = self
            .orders
            .list_orders(actor.tenant_id, &visibility, &query)
            .await?;
        Ok(Page::from_probe(rows, limit, Order::position))
    }

    /// A page of one customer's orders (needs `customers.view`): as [`OrderService::list`]
    /// with `query.customer_id` set to `customer`, which must be a live customer of the tenant.
    ///
    /// # Errors
    /// [`DomainError::NotFound`] for an unknown, deleted or another tenant's customer, or one
    /// outside the caller's [`Visibility`]; as [`OrderService::list`].
    #[tracing::instrument(name = "OrderService::list_for_customer", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id, customer_id = %customer))]
    pub async fn list_for_customer(
        &self,
        actor: &Actor,
        customer: CustomerId,
        mut query: OrderListQuery,
    ) -> Result<Page<Order, OrderPosition>, DomainError> {
        actor.require(Permission::CustomersView)?;
        let visibility = self.visibility(actor).await?;
        crate::customer::load_visible(
            self.customers.as_ref(),
            actor.tenant_id,
            &visibility,
            customer,
        )
        .await?;
        query.customer_id = Some(customer);
        self.list(actor, query).await
    }

    /// The service clock's time: the instant an order's derived payment state (`overdue`,
    /// [`Order::payment_status_at`]) is reported at.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Rebuilds every customer's statistics, stage and points balance of the caller's tenant from
    /// the orders and ledger (needs `customers.manage`). Gives the same numbers as the
    /// per-order updates.
    ///
    /// # Errors
    /// [`DomainError::Forbidden`], storage errors.
    #[tracing::instrument(name = "OrderService::recompute", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id))]
    pub async fn recompute(&self, actor: &Actor) -> Result<u64, DomainError> {
        actor.require(Permission::CustomersManage)?;
        Ok(self.orders.recompute_statistics(actor.tenant_id).await?)
    }

    async fn tenant(&self, id: TenantId) -> Result<Tenant, DomainError> {
        crate::tenant::load(self.tenants.as_ref(), id).await
    }

    /// A new order of `customer` from validated input (id, ref, due date, currency).
    pub(super) fn new_order(
        &self,
        actor: &Actor,
        tenant: TenantId,
        customer: &Customer,
        valid: super::model::ValidOrder,
        now: DateTime<Utc>,
    ) -> Order {
        let id = OrderId(self.ids.new_id());
        Order {
            id,
            tenant_id: tenant,
            customer_id: customer.id,
            order_ref: valid.order_ref.unwrap_or_else(|| format!("ORD-{id}")),
            placed_at: valid.placed_at,
            status: valid.status,
            payment_status: valid.payment_status,
            due_at: valid.placed_at
                + Duration::days(i64::from(customer.profile.payment_terms_days)),
            currency: customer.profile.currency,
            total_amount: valid.total_amount,
            lines: valid.lines,
            channel: valid.channel,
            metadata: valid.metadata,
            points_earned: 0,
            created_by: Some(actor.user_id.clone()),
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    pub(super) fn entry(
        &self,
        order: &Order,
        kind: LedgerKind,
        points: i64,
        now: DateTime<Utc>,
        actor: Option<&Actor>,
        reason: String,
    ) -> LedgerEntry {
        LedgerEntry {
            id: LedgerEntryId(self.ids.new_id()),
            tenant_id: order.tenant_id,
            customer_id: order.customer_id,
            kind,
            points,
            reason,
            order_id: Some(order.id),
            actor: actor.map(|a| a.user_id.clone()),
            created_at: now,
        }
    }

    /// Appends the ledger entry of a completed order's points (none for 0 points); returns it.
    async fn earn(
        &self,
        tx: &mut dyn OrderTransaction,
        order: &Order,
        now: DateTime<Utc>,
    ) -> Result<Option<LedgerEntry>, DomainError> {
        let entry = self.earn_entry(order, now);
        if let Some(entry) = &entry {
            tx.add_ledger_entry(entry).await?;
        }
        Ok(entry)
    }

    /// The ledger entry of a completed order's points (none for 0 points).
    pub(super) fn earn_entry(&self, order: &Order, now: DateTime<Utc>) -> Option<LedgerEntry> {
        (order.points_earned > 0).then(|| {
            self.entry(
                order,
                LedgerKind::Earn,
                order.points_earned,
                now,
                None,
                format!("order {} completed", order.order_ref),
            )
        })
    }

    /// Rewrites the customer's statistics from their completed orders, moves a prospect or lead
    /// with a completed order to customer, and applies the tier rule; returns the tier change
    /// recorded, if any, with the tenant's tiers (for its event).
    async fn settle(
        &self,
        tx: &mut dyn OrderTransaction,
        tenant: &Tenant,
        customer: &Customer,
        settings: &LoyaltySettings,
        now: DateTime<Utc>,
    ) -> Result<Option<(TierChange, Vec<Tier>)>, DomainError> {
        let totals = tx.completed_totals(tenant.id, customer.id).await?;
        let stats = stats_of(&totals);
        tx.save_customer_stats(
            tenant.id,
            customer.id,
            &stats,
            stage_after(customer.profile.stage, totals.count),
        )
        .await?;
        let tiers = tx.tiers(tenant.id).await?;
        if let Some(change) = tier_change(
            &tiers,
            customer.tenant_id,
            customer.id,
            customer.loyalty.tier_id,
            customer.loyalty.tier_since,
            stats.total_spent,
            settings.downgrade,
            now,
        ) {
            tx.record_tier_change(&change).await?;
            return Ok(Some((change, tiers)));
        }
        Ok(None)
    }
}

/// Purchase statistics from the totals of completed orders.
pub(super) fn stats_of(totals: &super::ports::CompletedTotals) -> PurchaseStats {
    PurchaseStats {
        total_orders: totals.count,
        total_spent: totals.sum,
        average_order_value: average_order_value(totals.sum, totals.count),
        first_order_at: totals.first,
        last_order_at: totals.last,
    }
}

/// A prospect or lead with a completed order becomes a customer.
pub(super) fn stage_after(stage: LifecycleStage, completed_orders: i64) -> LifecycleStage {
    match stage {
        LifecycleStage::Prospect | LifecycleStage::Lead if completed_orders > 0 => {
            LifecycleStage::Customer
        }
        other => other,
    }
}

pub(super) fn ref_taken() -> DomainError {
    DomainError::Conflict {
        field: "order_ref".into(),
        message: "another customer's order has this order_ref".into(),
        existing_id: None,
    }
}

fn map_ref_conflict(e: RepositoryError) -> DomainError {
    match e {
        RepositoryError::Conflict { field } if field == "order_ref" => DomainError::Conflict {
            field,
            message: "an order with this order_ref was stored concurrently".into(),
            existing_id: None,
        },
        other => other.into(),
    }
}

async fn check_credit_limit(
    tx: &mut dyn OrderTransaction,
    customer: &Customer,
    order: &Order,
) -> Result<(), DomainError> {
    let outstanding = tx.outstanding(customer.tenant_id, customer.id).await?;
    Ok(within_credit(customer, outstanding, order)?)
}

/// The total-spent rule: a customer's completed orders add up to at most
/// [`Amount::MAX_UNITS`], what storage holds (`total_spent` is an `i64` of ten-thousandths,
/// and every per-customer `SUM` of order amounts is read into one). A completing order that
/// would pass it is refused, naming `total_amount`, instead of overflowing a sum later.
///
/// # Errors
/// [`DomainError::Validation`] on `total_amount`.
pub(super) fn within_total_spent(
    total_spent: Amount,
    order: &Order,
) -> Result<Amount, DomainError> {
    total_spent.checked_add(order.total_amount).ok_or_else(|| {
        DomainError::invalid(
            "total_amount",
            "out_of_range",
            format!(
                "the customer's completed orders would add up to more than {} (now {total_spent})",
                Amount::MAX_UNITS
            ),
        )
    })
}

/// The credit-limit rule: an unpaid completed order may not take the customer's outstanding
/// amount above their limit.
///
/// # Errors
/// [`PlaceOrderError::CreditLimitExceeded`] with the limit, the outstanding and the order's
/// amounts.
pub(super) fn within_credit(
    customer: &Customer,
    outstanding: Amount,
    order: &Order,
) -> Result<(), PlaceOrderError> {
    check_credit(
        customer.profile.credit_limit,
        outstanding,
        order.total_amount,
    )
    .map_err(|e| PlaceOrderError::CreditLimitExceeded {
        limit: e.limit,
        outstanding: e.outstanding,
        requested: e.requested,
        currency: customer.profile.currency,
    })
}
