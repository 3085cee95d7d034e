//! Placing many orders in one transaction: the bulk path of orders imports. The rules are
//! [`OrderService::place`]'s, applied order by order in memory, so statistics, stages, points
//! and tier changes equal those of the same orders placed one by one; only the writes are
//! grouped (multi-row inserts, one statistics update per customer).

use std::collections::HashMap;

use super::model::{OrderInput, OrderStatus, PaymentStatus};
use super::ports::{BulkOrderTransaction, CompletedTotals, Settlement};
use super::service::{
    OrderService, Placed, ref_taken, stage_after, stats_of, within_credit, within_total_spent,
};
use crate::access::{Actor, Permission};
use crate::customer::{Customer, LifecycleStage, NewCustomer};
use crate::error::DomainError;
use crate::event::NewEvent;
use crate::ids::{CustomerId, TenantId, TierId};
use crate::loyalty::events::{points_event, tier_changed_event};
use crate::loyalty::{points_for, tier_change};
use crate::values::Amount;

/// The outcome of one order of [`OrderService::place_many`]: the caller's key and the order
/// placed (or found by its ref), or why this order was refused.
pub type BulkOutcome = (u64, Result<Placed, DomainError>);

/// One order of [`OrderService::place_many`].
#[derive(Debug, Clone)]
pub struct BulkOrder {
    /// The caller's key for the outcome (an import passes the file's line number).
    pub key: u64,
    /// The customer placing it.
    pub customer_id: CustomerId,
    /// The order as [`OrderService::place`] takes it.
    pub input: OrderInput,
}

/// A customer's running state while a batch is applied.
struct Running {
    totals: CompletedTotals,
    stage: LifecycleStage,
    tier: Option<TierId>,
    tier_since: Option<chrono::DateTime<chrono::Utc>>,
    points: i64,
    tier_changed: bool,
    /// Outstanding (completed, unpaid) amount, read when the first unpaid order arrives (for a
    /// customer with a credit limit).
    outstanding: Option<Amount>,
    settled: bool,
}

impl OrderService {
    /// Places many orders of the caller's tenant in one transaction, after storing
    /// `new_customers` (customers the orders need that do not exist yet) in it (needs
    /// `customers.edit`). Credit limits apply.
    ///
    /// Each order is judged as [`OrderService::place`] judges it, in the order given: an
    /// unknown customer, invalid input, a ref held by another customer's order or an exceeded
    /// credit limit ([`super::PlaceOrderError::CreditLimitExceeded`] as [`DomainError::Rule`])
    /// is that order's error in the outcome and does not stop the others; a ref
    /// already stored (or earlier in `orders`) for the same customer answers
    /// `created: false`. Statistics, stages, points (one ledger entry per order) and tier
    /// changes (recorded in sequence) come out as if the orders had been placed one by one,
    /// and so do the events: `customer.created` per new customer, then per stored order its
    /// `order.placed`, `points.earned` and `tier.changed` (one multi-row append per batch).
    /// Returns `(key, outcome)` per order, in the order given.
    ///
    /// # Errors
    /// [`DomainError::Forbidden`]; a storage error (a new customer's unique value taken, an
    /// order ref stored concurrently, the database down) fails the whole batch and writes
    /// nothing, so the caller may place the orders one by one.
    #[tracing::instrument(name = "OrderService::place_many", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id))]
    pub async fn place_many(
        &self,
        actor: &Actor,
        new_customers: &[NewCustomer],
        orders: Vec<BulkOrder>,
    ) -> Result<Vec<BulkOutcome>, DomainError> {
        actor.require(Permission::CustomersEdit)?;
        let mut tx = self.begin_bulk(actor.tenant_id).await?;
        let outcomes = self
            .place_many_in(actor, tx.as_mut(), new_customers, orders)
            .await?;
        tx.commit().await?;
        Ok(outcomes)
    }

    /// Starts a transaction for [`OrderService::place_many_in`]: the caller adds its own writes
    /// (an import's checkpoint) and commits; dropping it rolls everything back.
    ///
    /// # Errors
    /// [`DomainError::Unavailable`] when the database cannot be reached.
    pub async fn begin_bulk(
        &self,
        tenant: TenantId,
    ) -> Result<Box<dyn BulkOrderTransaction>, DomainError> {
        Ok(self.orders.begin_bulk(tenant).await?)
    }

    /// [`OrderService::place_many`] inside the caller's transaction `tx`, which it leaves
    /// uncommitted: what an import uses to commit its checkpoint with the batch, and to place
    /// the orders of a failed batch one by one, each under a savepoint.
    ///
    /// # Errors
    /// As [`OrderService::place_many`]; after a storage error `tx` holds a failed write (roll
    /// back to a savepoint, or drop it).
    pub async fn place_many_in(
        &self,
        actor: &Actor,
        tx: &mut dyn BulkOrderTransaction,
        new_customers: &[NewCustomer],
        orders: Vec<BulkOrder>,
    ) -> Result<Vec<BulkOutcome>, DomainError> {
        actor.require(Permission::CustomersEdit)?;
        let tenant = crate::tenant::load(self.tenants.as_ref(), actor.tenant_id).await?;
        let settings = crate::loyalty::LoyaltySettings::of(&tenant)?;
        let now = self.clock.now();
        if !new_customers.is_empty() {
            tx.insert_customers(tenant.id, new_customers).await?;
        }
        // One `customer.created` per new customer, then per order `order.placed` and its
        // `points.earned` and `tier.changed`, in sequence; appended together at the end.
        let mut events: Vec<NewEvent> = new_customers
            .iter()
            .map(|c| super::events::customer_created_event(actor, c, now))
            .collect();
        let mut ids: Vec<CustomerId> = orders.iter().map(|o| o.customer_id).collect();
        ids.sort_unstable_by_key(|c| c.0);
        ids.dedup();
        let customers: HashMap<CustomerId, Customer> = tx
            .lock_customers(tenant.id, &ids)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        let refs: Vec<String> = orders
            .iter()
            .filter_map(|o| o.input.order_ref.as_deref().map(str::trim))
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
            .collect();
        let mut by_ref: HashMap<String, super::Order> = HashMap::new();
        if !refs.is_empty() {
            for o in tx.orders_by_refs(tenant.id, &refs).await? {
                by_ref.insert(o.order_ref.clone(), o);
            }
        }
        let mut totals: HashMap<CustomerId, CompletedTotals> = tx
            .completed_totals_many(tenant.id, &ids)
            .await?
            .into_iter()
            .collect();
        let tiers = tx.tiers(tenant.id).await?;
        let mut running: HashMap<CustomerId, Running> = customers
            .values()
            .map(|c| {
                (
                    c.id,
                    Running {
                        totals: totals.remove(&c.id).unwrap_or_default(),
                        stage: c.profile.stage,
                        tier: c.loyalty.tier_id,
                        tier_since: c.loyalty.tier_since,
                        points: 0,
                        tier_changed: false,
                        outstanding: None,
                        settled: false,
                    },
                )
            })
            .collect();
        let mut created = Vec::new();
        let mut ledger = Vec::new();
        let mut tier_changes = Vec::new();
        let mut outcomes = Vec::with_capacity(orders.len());
        for o in orders {
            let (Some(customer), Some(run)) = (
                customers.get(&o.customer_id),
                running.get_mut(&o.customer_id),
            ) else {
                outcomes.push((o.key, Err(DomainError::NotFound { entity: "customer" })));
                continue;
            };
            if let Some(r) = o.input.order_ref.as_deref().map(str::trim)
                && let Some(existing) = by_ref.get(r)
            {
                let outcome = if existing.customer_id == customer.id {
                    Ok(Placed {
                        order: existing.clone(),
                        created: false,
                    })
                } else {
                    Err(ref_taken())
                };
                outcomes.push((o.key, outcome));
                continue;
            }
            let valid = match o.input.validate(customer.profile.currency, now) {
                Ok(v) => v,
                Err(e) => {
                    outcomes.push((o.key, Err(DomainError::Validation(e))));
                    continue;
                }
            };
            let mut order = self.new_order(actor, tenant.id, customer, valid, now);
            // The order's points and tier events, after its `order.placed`.
            let mut placed_events = Vec::new();
            if order.status == OrderStatus::Completed
                && let Err(e) = within_total_spent(run.totals.sum, &order)
            {
                outcomes.push((o.key, Err(e)));
                continue;
            }
            if order.status == OrderStatus::Completed
                && order.payment_status == PaymentStatus::Unpaid
            {
                // Read once per customer, and only where a limit applies.
                if run.outstanding.is_none() && !customer.profile.credit_limit.value().is_zero() {
                    run.outstanding = Some(tx.outstanding(tenant.id, customer.id).await?);
                }
                let owed = run.outstanding.unwrap_or(Amount::ZERO);
                if let Err(e) = within_credit(customer, owed, &order) {
                    outcomes.push((o.key, Err(e.into())));
                    continue;
                }
                run.outstanding = Some(plus(owed, order.total_amount));
            }
            if order.status == OrderStatus::Completed {
                order.points_earned = points_for(order.total_amount, settings.points_unit);
                if let Some(entry) = self.earn_entry(&order, now) {
                    run.points += entry.points;
                    let balance = customer.loyalty.points.saturating_add(run.points);
                    placed_events.push(points_event(actor, &entry, balance));
                    ledger.push(entry);
                }
                let t = &mut run.totals;
                t.count += 1;
                t.sum = plus(t.sum, order.total_amount);
                t.first = Some(t.first.map_or(order.placed_at, |f| f.min(order.placed_at)));
                t.last = Some(t.last.map_or(order.placed_at, |l| l.max(order.placed_at)));
                run.stage = stage_after(run.stage, t.count);
                run.settled = true;
                if let Some(change) = tier_change(
                    &tiers,
                    customer.tenant_id,
                    customer.id,
                    run.tier,
                    run.tier_since,
                    t.sum,
                    settings.downgrade,
                    now,
                ) {
                    run.tier = change.to_tier;
                    run.tier_changed = true;
                    run.tier_since = Some(change.changed_at);
                    placed_events.push(tier_changed_event(actor, &change, &tiers));
                    tier_changes.push(change);
                }
            }
            events.push(super::events::order_placed_event(actor, &order, now));
            events.append(&mut placed_events);
            // A later row with the same ref answers `created: false` like a stored one.
            by_ref.insert(order.order_ref.clone(), order.clone());
            created.push(order.clone());
            outcomes.push((
                o.key,
                Ok(Placed {
                    order,
                    created: true,
                }),
            ));
        }
        tx.insert_orders(&created).await?;
        tx.append_ledger_entries(&ledger).await?;
        tx.append_tier_changes(&tier_changes).await?;
        let mut settlements: Vec<Settlement> = running
            .into_iter()
            .filter(|(_, r)| r.settled)
            .map(|(id, r)| Settlement {
                customer_id: id,
                stats: stats_of(&r.totals),
                stage: r.stage,
                points: r.points,
                tier: r
                    .tier_changed
                    .then_some((r.tier, r.tier_since.unwrap_or(now))),
            })
            .collect();
        settlements.sort_unstable_by_key(|s| s.customer_id.0);
        tx.settle_many(tenant.id, &settlements).await?;
        if !events.is_empty() {
            tx.append_events(&events).await?;
        }
        Ok(outcomes)
    }
}

/// `a + b` as the database sums amounts (in storage units, saturating).
fn plus(a: Amount, b: Amount) -> Amount {
    Amount::from_scaled(a.to_scaled().saturating_add(b.to_scaled()))
}
