//! Use cases on loyalty: a customer's balance, tier and ledger; redemptions, manual
//! adjustments and tier assignments (each in one transaction with the customer locked); the
//! tenant-wide tier re-evaluation.

use std::sync::Arc;

use super::error::RedeemError;
use super::events::{points_event, tier_changed_event};
use super::model::{LedgerEntry, LedgerKind, LoyaltySettings, Tier, TierChange};
use super::rules::tier_after_spending;
use crate::access::{Actor, Permission, Visibility};
use crate::customer::{Customer, CustomerRepository};
use crate::error::DomainError;
use crate::ids::{CustomerId, LedgerEntryId, TierId};
use crate::order::OrderRepository;
use crate::ports::{Clock, IdGenerator};
use crate::tenant::TenantRepository;
use crate::values::Amount;

/// A customer's loyalty standing.
#[derive(Debug, Clone, PartialEq)]
pub struct LoyaltySummary {
    /// Points balance.
    pub balance: i64,
    /// Spending that counts for tiers (`total_spent`).
    pub total_spent: Amount,
    /// Current tier.
    pub tier: Option<Tier>,
    /// The next tier up, if any.
    pub next_tier: Option<Tier>,
    /// Spending still needed to reach `next_tier`.
    pub missing_to_next: Option<Amount>,
    /// One page of the ledger, newest first.
    pub ledger: Vec<LedgerEntry>,
    /// Id to pass as `before` for the next ledger page.
    pub next_before: Option<LedgerEntryId>,
}

/// Use cases on loyalty points and tiers of customers. A customer outside the caller's
/// [`Visibility`] (another sales user's, under `sales_scope: "assigned"`) is not found.
pub struct LoyaltyService {
    customers: Arc<dyn CustomerRepository>,
    orders: Arc<dyn OrderRepository>,
    tenants: Arc<dyn TenantRepository>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
}

fn reason_of(reason: &str) -> Result<String, DomainError> {
    let r = reason.trim();
    if r.is_empty() || r.chars().count() > 500 {
        return Err(DomainError::invalid(
            "reason",
            "required",
            "a reason of 1..=500 characters is required",
        ));
    }
    crate::values::check_text("reason", r, crate::values::TextKind::MultiLine)
        .map_err(|e| DomainError::Validation(vec![e]))?;
    Ok(r.to_owned())
}

impl LoyaltyService {
    /// Wires the service.
    pub fn new(
        customers: Arc<dyn CustomerRepository>,
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

    /// Applies the tier rule to every customer of the tenant (needs `customers.manage`): upgrades
    /// customers whose spending reaches a higher tier (after thresholds changed) and, under a
    /// grace-period downgrade policy, lowers tiers held longer than the grace period by customers
    /// whose spending no longer reaches them. Walks the customers in batches of 500, re-checking
    /// each change under the customer's lock. Returns the number of changes.
    ///
    /// # Errors
    /// [`DomainError::Forbidden`], storage errors.
    #[tracing::instrument(name = "LoyaltyService::reevaluate_tiers", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id))]
    pub async fn reevaluate_tiers(&self, actor: &Actor) -> Result<u64, DomainError> {
        actor.require(Permission::CustomersManage)?;
        let tenant = crate::tenant::load(self.tenants.as_ref(), actor.tenant_id).await?;
        let settings = LoyaltySettings::of(&tenant)?;
        let tiers = self.orders.tiers(tenant.id).await?;
        let mut changed = 0;
        let mut after = None;
        loop {
            let batch = self.orders.tier_positions(tenant.id, after, 500).await?;
            let Some(last) = batch.last() else { break };
            after = Some(last.customer_id);
            let now = self.clock.now();
            let due: Vec<_> = batch
                .iter()
                .filter(|p| {
                    tier_after_spending(
                        &tiers,
                        p.tier_id,
                        p.tier_since,
                        p.total_spent,
                        settings.downgrade,
                        now,
                    )
                    .is_some()
                })
                .collect();
            if due.is_empty() {
                continue;
            }
            let mut tx = self.orders.begin(tenant.id).await?;
            let mut events = Vec::new();
            for p in due {
                // Re-read under the lock: an order may have moved the customer meanwhile.
                let Some(c) = tx.lock_customer(tenant.id, p.customer_id).await? else {
                    continue;
                };
                let target = tier_after_spending(
                    &tiers,
                    c.loyalty.tier_id,
                    c.loyalty.tier_since,
                    c.stats.total_spent,
                    settings.downgrade,
                    now,
                );
                if let Some(target) = target {
                    let change = TierChange {
                        tenant_id: tenant.id,
                        customer_id: c.id,
                        from_tier: c.loyalty.tier_id,
                        to_tier: target.map(|t| t.id),
                        reason: format!("re-evaluation: total spent {}", c.stats.total_spent),
                        actor: Some(actor.user_id.clone()),
                        changed_at: now,
                    };
                    tx.record_tier_change(&change).await?;
                    events.push(tier_changed_event(actor, &change, &tiers));
                    changed += 1;
                }
            }
            if !events.is_empty() {
                tx.append_events(&events).await?;
            }
            tx.commit().await?;
        }
        Ok(changed)
    }

    /// The live customer `id` if the caller reaches it ([`Visibility`]).
    async fn customer(&self, actor: &Actor, id: CustomerId) -> Result<Customer, DomainError> {
        let visibility = self.visibility(actor).await?;
        crate::customer::load_visible(self.customers.as_ref(), actor.tenant_id, &visibility, id)
            .await
    }

    /// Which customers `actor` reaches: [`crate::tenant::visibility`].
    async fn visibility(&self, actor: &Actor) -> Result<Visibility, DomainError> {
        crate::tenant::visibility(self.tenants.as_ref(), actor).await
    }

    /// Balance, tier, next tier and what is missing to reach it, and a ledger page of `limit`
    /// entries before `before` (needs `customers.view`).
    ///
    /// # Errors
    /// [`DomainError::NotFound`]; [`DomainError::Validation`] for `limit` outside 1..=200.
    #[tracing::instrument(name = "LoyaltyService::summary", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id, customer_id = %id, before_id = ?before))]
    pub async fn summary(
        &self,
        actor: &Actor,
        id: CustomerId,
        before: Option<LedgerEntryId>,
        limit: u32,
    ) -> Result<LoyaltySummary, DomainError> {
        actor.require(Permission::CustomersView)?;
        if !(1..=crate::customer::MAX_PAGE_SIZE).contains(&limit) {
            return Err(DomainError::invalid(
                "limit",
                "out_of_range",
                "must be between 1 and 200",
            ));
        }
        let c = self.customer(actor, id).await?;
        let tiers = self.orders.tiers(actor.tenant_id).await?;
        let tier = c
            .loyalty
            .tier_id
            .and_then(|t| tiers.iter().find(|x| x.id == t))
            .cloned();
        let level = tier.as_ref().map_or(i32::MIN, |t| t.level);
        let next_tier = tiers
            .iter()
            .filter(|t| t.level > level)
            .min_by_key(|t| t.level)
            .cloned();
        let missing_to_next = next_tier.as_ref().map(|t| {
            Amount::from_scaled((t.min_spend.to_scaled() - c.stats.total_spent.to_scaled()).max(0))
        });
        let mut ledger = self
            .orders
            .ledger(actor.tenant_id, id, before, limit + 1)
            .await?;
        let next_before = if ledger.len() > limit as usize {
            ledger.truncate(limit as usize);
            ledger.last().map(|e| e.id)
        } else {
            None
        };
        Ok(LoyaltySummary {
            balance: c.loyalty.points,
            total_spent: c.stats.total_spent,
            tier,
            next_tier,
            missing_to_next,
            ledger,
            next_before,
        })
    }

    /// Spends `points` (> 0) of the customer's balance (needs `customers.edit`). Returns the
    /// new balance.
    ///
    /// # Errors
    /// [`DomainError::Validation`] for points ≤ 0 or no reason;
    /// [`RedeemError::InsufficientPoints`] (as [`DomainError::Rule`], with the balance and the
    /// points asked for) when the balance is smaller.
    #[tracing::instrument(name = "LoyaltyService::redeem", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id, customer_id = %id))]
    pub async fn redeem(
        &self,
        actor: &Actor,
        id: CustomerId,
        points: i64,
        reason: &str,
    ) -> Result<i64, DomainError> {
        actor.require(Permission::CustomersEdit)?;
        if points <= 0 {
            return Err(DomainError::invalid(
                "points",
                "out_of_range",
                "must be greater than 0",
            ));
        }
        self.move_points(actor, id, LedgerKind::Redemption, -points, reason)
            .await
    }

    /// Corrects the balance by `points` (positive or negative, not 0) (needs
    /// `customers.manage`). Returns the new balance.
    ///
    /// # Errors
    /// [`DomainError::Validation`] for 0 or no reason; [`RedeemError::InsufficientPoints`] (as
    /// [`DomainError::Rule`]) when the balance would go below zero.
    #[tracing::instrument(name = "LoyaltyService::adjust", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id, customer_id = %id))]
    pub async fn adjust(
        &self,
        actor: &Actor,
        id: CustomerId,
        points: i64,
        reason: &str,
    ) -> Result<i64, DomainError> {
        actor.require(Permission::CustomersManage)?;
        if points == 0 {
            return Err(DomainError::invalid(
                "points",
                "out_of_range",
                "must not be 0",
            ));
        }
        self.move_points(actor, id, LedgerKind::Adjustment, points, reason)
            .await
    }

    async fn move_points(
        &self,
        actor: &Actor,
        id: CustomerId,
        kind: LedgerKind,
        points: i64,
        reason: &str,
    ) -> Result<i64, DomainError> {
        let reason = reason_of(reason)?;
        let visibility = self.visibility(actor).await?;
        let mut tx = self.orders.begin(actor.tenant_id).await?;
        let c = tx
            .lock_customer(actor.tenant_id, id)
            .await?
            .filter(|c| visibility.allows(c.profile.assigned_to.as_ref()))
            .ok_or(DomainError::NotFound { entity: "customer" })?;
        let balance = match c.loyalty.points.checked_add(points) {
            Some(b) if b >= 0 => b,
            Some(_) => {
                return Err(RedeemError::InsufficientPoints {
                    balance: c.loyalty.points,
                    requested: points.saturating_neg(),
                }
                .into());
            }
            None => {
                return Err(DomainError::invalid(
                    "points",
                    "out_of_range",
                    "the balance would overflow",
                ));
            }
        };
        let entry = LedgerEntry {
            id: LedgerEntryId(self.ids.new_id()),
            tenant_id: actor.tenant_id,
            customer_id: id,
            kind,
            points,
            reason,
            order_id: None,
            actor: Some(actor.user_id.clone()),
            created_at: self.clock.now(),
        };
        tx.add_ledger_entry(&entry).await?;
        tx.append_events(&[points_event(actor, &entry, balance)])
            .await?;
        tx.commit().await?;
        Ok(balance)
    }

    /// Sets a customer's tier by hand (`None` removes it), recording the reason (needs
    /// `customers.manage`). Spending still upgrades the customer later.
    ///
    /// # Errors
    /// [`DomainError::NotFound`]; [`DomainError::Validation`] for an unknown `tier_id` or no
    /// reason.
    #[tracing::instrument(name = "LoyaltyService::assign_tier", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id, customer_id = %id, tier_id = ?tier))]
    pub async fn assign_tier(
        &self,
        actor: &Actor,
        id: CustomerId,
        tier: Option<TierId>,
        reason: &str,
    ) -> Result<Customer, DomainError> {
        actor.require(Permission::CustomersManage)?;
        let reason = reason_of(reason)?;
        let visibility = self.visibility(actor).await?;
        let mut tx = self.orders.begin(actor.tenant_id).await?;
        let c = tx
            .lock_customer(actor.tenant_id, id)
            .await?
            .filter(|c| visibility.allows(c.profile.assigned_to.as_ref()))
            .ok_or(DomainError::NotFound { entity: "customer" })?;
        // Read always: the event names the tiers.
        let tiers = tx.tiers(actor.tenant_id).await?;
        if let Some(t) = tier
            && !tiers.iter().any(|x| x.id == t)
        {
            return Err(DomainError::invalid(
                "tier_id",
                "unknown_tier",
                format!("{t} is not a tier of this tenant"),
            ));
        }
        if c.loyalty.tier_id != tier {
            let change = TierChange {
                tenant_id: actor.tenant_id,
                customer_id: id,
                from_tier: c.loyalty.tier_id,
                to_tier: tier,
                reason,
                actor: Some(actor.user_id.clone()),
                changed_at: self.clock.now(),
            };
            tx.record_tier_change(&change).await?;
            tx.append_events(&[tier_changed_event(actor, &change, &tiers)])
                .await?;
            tx.commit().await?;
        }
        self.customer(actor, id).await
    }

    /// The customer's tier changes, newest first, at most 100 (needs `customers.view`).
    ///
    /// # Errors
    /// [`DomainError::NotFound`].
    #[tracing::instrument(name = "LoyaltyService::tier_history", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id, customer_id = %id))]
    pub async fn tier_history(
        &self,
        actor: &Actor,
        id: CustomerId,
    ) -> Result<Vec<TierChange>, DomainError> {
        actor.require(Permission::CustomersView)?;
        self.customer(actor, id).await?;
        Ok(self.orders.tier_history(actor.tenant_id, id, 100).await?)
    }
}
