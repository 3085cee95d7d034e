//! Webhooks (issue 14) on SeaORM: [`SeaWebhookRepository`] (subscriptions in `webhooks`, with
//! their version-checked [`SeaWebhookTransaction`]) and [`SeaDeliveryRepository`] (the outbox
//! in `webhook_deliveries`). Deliveries are written by [`crate::events::append`], in the
//! transaction of the events they carry ([`insert_deliveries`]).
//!
//! Claims ([`DeliveryRepository::claim_due`]) are cross-tenant by nature: they run in a system
//! transaction. PostgreSQL takes the due rows `FOR UPDATE SKIP LOCKED`, so replicas claiming at
//! the same moment get disjoint sets; SQLite's one writer serialises claims.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use crm_domain::event::{Event, EventId, EventTypeFilter, NewEvent};
use crm_domain::webhook::{
    Delivery, DeliveryId, DeliveryRepository, DeliveryStatus, DueDelivery, Subscription,
    SubscriptionId, WebhookRepository, WebhookSecret, WebhookTransaction, fan_out,
};
use crm_domain::{RepositoryError, TenantId};
use sea_orm::sea_query::{LockBehavior, LockType};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseTransaction, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::db::Database;
use crate::entity::{event, tenant, webhook, webhook_delivery};
use crate::error::{corrupt, exactly_one, map_db_err};

/// Deliveries per `INSERT` (12 parameters each).
const DELIVERY_CHUNK: usize = 1_000;

fn to_domain(m: webhook::Model) -> Result<Subscription, RepositoryError> {
    let patterns: Vec<String> =
        serde_json::from_str(&m.event_types).map_err(|_| corrupt("webhook event types"))?;
    Ok(Subscription {
        id: SubscriptionId(m.id),
        tenant_id: TenantId(m.tenant_id),
        url: m.url.parse().map_err(|_| corrupt("webhook url"))?,
        event_types: EventTypeFilter::parse("event_types", &patterns)
            .map_err(|_| corrupt("webhook event types"))?,
        description: m.description,
        active: m.active,
        secret: WebhookSecret::parse(&m.secret).map_err(|_| corrupt("webhook secret"))?,
        created_at: m.created_at,
        updated_at: m.updated_at,
        version: m.version,
        failing_since: m.failing_since,
        disabled_reason: m.disabled_reason,
    })
}

fn to_row(s: &Subscription) -> webhook::ActiveModel {
    webhook::ActiveModel {
        tenant_id: Set(s.tenant_id.0),
        id: Set(s.id.0),
        url: Set(s.url.as_str().to_owned()),
        event_types: Set(serde_json::Value::from(s.event_types.to_strings()).to_string()),
        description: Set(s.description.clone()),
        active: Set(s.active),
        secret: Set(s.secret.expose()),
        created_at: Set(s.created_at),
        updated_at: Set(s.updated_at),
        version: Set(s.version),
        failing_since: Set(s.failing_since),
        disabled_reason: Set(s.disabled_reason.clone()),
    }
}

fn delivery_to_domain(m: webhook_delivery::Model) -> Result<Delivery, RepositoryError> {
    Ok(Delivery {
        id: DeliveryId(m.id),
        tenant_id: TenantId(m.tenant_id),
        subscription_id: SubscriptionId(m.subscription_id),
        event_id: EventId(m.event_id),
        status: m
            .status
            .parse()
            .map_err(|_| corrupt("webhook delivery status"))?,
        attempts: u32::try_from(m.attempts).map_err(|_| corrupt("webhook delivery attempts"))?,
        last_response_code: m
            .last_response_code
            .map(u16::try_from)
            .transpose()
            .map_err(|_| corrupt("webhook delivery response code"))?,
        last_latency_ms: m
            .last_latency_ms
            .map(u64::try_from)
            .transpose()
            .map_err(|_| corrupt("webhook delivery latency"))?,
        next_attempt_at: m.next_attempt_at,
        last_error: m.last_error,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

fn delivery_row(d: &Delivery) -> webhook_delivery::ActiveModel {
    webhook_delivery::ActiveModel {
        tenant_id: Set(d.tenant_id.0),
        id: Set(d.id.0),
        subscription_id: Set(d.subscription_id.0),
        event_id: Set(d.event_id.0),
        status: Set(d.status.as_str().to_owned()),
        attempts: Set(i32::try_from(d.attempts).unwrap_or(i32::MAX)),
        last_response_code: Set(d.last_response_code.map(i32::from)),
        last_latency_ms: Set(d
            .last_latency_ms
            .map(|ms| i64::try_from(ms).unwrap_or(i64::MAX))),
        next_attempt_at: Set(d.next_attempt_at),
        last_error: Set(d.last_error.clone()),
        created_at: Set(d.created_at),
        updated_at: Set(d.updated_at),
    }
}

/// The active subscriptions of the tenants of `events` that receive at least one of them
/// (empty, the common case, when none does): what [`crate::events::append`] fans out to.
///
/// # Errors
/// The driver's error, mapped; [`RepositoryError::Other`] for an unreadable row.
pub(crate) async fn active_subscriptions<C: ConnectionTrait>(
    conn: &C,
    events: &[NewEvent],
) -> Result<Vec<Subscription>, RepositoryError> {
    let mut tenants: Vec<Uuid> = events.iter().map(|e| e.tenant_id.0).collect();
    tenants.sort_unstable();
    tenants.dedup();
    let rows = webhook::Entity::find()
        .filter(webhook::Column::TenantId.is_in(tenants))
        .filter(webhook::Column::Active.eq(true))
        .all(conn)
        .await
        .map_err(map_db_err)?;
    let mut subscriptions = Vec::with_capacity(rows.len());
    for row in rows {
        let s = to_domain(row)?;
        if events
            .iter()
            .any(|e| e.tenant_id == s.tenant_id && s.event_types.matches(&e.event_type))
        {
            subscriptions.push(s);
        }
    }
    Ok(subscriptions)
}

/// Writes the pending deliveries of `events` (stored, with their ids) to `subscriptions`
/// ([`fan_out`]), due now, in `conn` (the events' transaction).
///
/// # Errors
/// The driver's error, mapped.
pub(crate) async fn insert_deliveries<C: ConnectionTrait>(
    conn: &C,
    subscriptions: &[Subscription],
    events: &[Event],
) -> Result<(), RepositoryError> {
    let deliveries = fan_out(subscriptions, events, Utc::now(), Uuid::now_v7);
    for chunk in deliveries.chunks(DELIVERY_CHUNK) {
        webhook_delivery::Entity::insert_many(chunk.iter().map(delivery_row))
            .exec_without_returning(conn)
            .await
            .map_err(map_db_err)?;
    }
    Ok(())
}

/// Webhook subscriptions in `webhooks`.
#[derive(Debug, Clone)]
pub struct SeaWebhookRepository {
    db: Database,
}

impl SeaWebhookRepository {
    /// Wraps a database.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

#[async_trait]
impl WebhookRepository for SeaWebhookRepository {
    async fn begin(
        &self,
        tenant: TenantId,
    ) -> Result<Box<dyn WebhookTransaction>, RepositoryError> {
        let txn = self.db.tenant_tx(tenant).await?;
        Ok(Box::new(SeaWebhookTransaction {
            txn,
            backend: self.db.backend(),
        }))
    }

    async fn get(
        &self,
        tenant: TenantId,
        id: SubscriptionId,
    ) -> Result<Option<Subscription>, RepositoryError> {
        let conn = self.db.tenant_read(tenant).await?;
        let row = webhook::Entity::find_by_id((tenant.0, id.0))
            .one(&conn)
            .await
            .map_err(map_db_err)?;
        conn.end().await?;
        row.map(to_domain).transpose()
    }

    async fn list(
        &self,
        tenant: TenantId,
        after: Option<SubscriptionId>,
        limit: u32,
    ) -> Result<Vec<Subscription>, RepositoryError> {
        use webhook::Column as C;
        let mut q = webhook::Entity::find().filter(C::TenantId.eq(tenant.0));
        if let Some(a) = after {
            q = q.filter(C::Id.gt(a.0));
        }
        let conn = self.db.tenant_read(tenant).await?;
        let rows = q
            .order_by_asc(C::Id)
            .limit(u64::from(limit))
            .all(&conn)
            .await
            .map_err(map_db_err)?;
        conn.end().await?;
        rows.into_iter().map(to_domain).collect()
    }
}

/// One transaction of [`SeaWebhookRepository`]: the writer connection (SQLite) or one pooled
/// connection (PostgreSQL) scoped to the tenant; dropping it uncommitted rolls back.
pub struct SeaWebhookTransaction {
    txn: DatabaseTransaction,
    backend: DatabaseBackend,
}

impl std::fmt::Debug for SeaWebhookTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeaWebhookTransaction")
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl WebhookTransaction for SeaWebhookTransaction {
    async fn count_locked(&mut self, tenant: TenantId) -> Result<u64, RepositoryError> {
        if self.backend == DatabaseBackend::Postgres {
            // The tenant's row serialises every create of the tenant (SQLite: the one writer).
            tenant::Entity::find_by_id(tenant.0)
                .lock_exclusive()
                .one(&self.txn)
                .await
                .map_err(map_db_err)?;
        }
        webhook::Entity::find()
            .filter(webhook::Column::TenantId.eq(tenant.0))
            .count(&self.txn)
            .await
            .map_err(map_db_err)
    }

    async fn lock(
        &mut self,
        tenant: TenantId,
        id: SubscriptionId,
    ) -> Result<Option<Subscription>, RepositoryError> {
        let mut q = webhook::Entity::find_by_id((tenant.0, id.0));
        if self.backend == DatabaseBackend::Postgres {
            q = q.lock_exclusive();
        }
        q.one(&self.txn)
            .await
            .map_err(map_db_err)?
            .map(to_domain)
            .transpose()
    }

    async fn insert(&mut self, subscription: &Subscription) -> Result<(), RepositoryError> {
        webhook::Entity::insert(to_row(subscription))
            .exec_without_returning(&self.txn)
            .await
            .map_err(map_db_err)?;
        Ok(())
    }

    async fn update(&mut self, s: &Subscription) -> Result<(), RepositoryError> {
        use webhook::Column as C;
        let mut row = to_row(s);
        row.tenant_id = NotSet;
        row.id = NotSet;
        row.created_at = NotSet;
        let result = webhook::Entity::update_many()
            .set(row)
            .filter(C::TenantId.eq(s.tenant_id.0))
            .filter(C::Id.eq(s.id.0))
            .filter(C::Version.eq(s.version - 1))
            .exec(&self.txn)
            .await
            .map_err(map_db_err)?;
        exactly_one(result.rows_affected)
    }

    async fn record_health(&mut self, s: &Subscription) -> Result<(), RepositoryError> {
        use webhook::Column as C;
        let row = webhook::ActiveModel {
            failing_since: Set(s.failing_since),
            active: Set(s.active),
            disabled_reason: Set(s.disabled_reason.clone()),
            updated_at: Set(s.updated_at),
            version: Set(s.version),
            ..Default::default()
        };
        let result = webhook::Entity::update_many()
            .set(row)
            .filter(C::TenantId.eq(s.tenant_id.0))
            .filter(C::Id.eq(s.id.0))
            .exec(&self.txn)
            .await
            .map_err(map_db_err)?;
        exactly_one(result.rows_affected)
    }

    async fn delete(
        &mut self,
        tenant: TenantId,
        id: SubscriptionId,
    ) -> Result<(), RepositoryError> {
        // Explicitly, not only by the cascade: SQLite enforces foreign keys per connection.
        webhook_delivery::Entity::delete_many()
            .filter(webhook_delivery::Column::TenantId.eq(tenant.0))
            .filter(webhook_delivery::Column::SubscriptionId.eq(id.0))
            .exec(&self.txn)
            .await
            .map_err(map_db_err)?;
        let result = webhook::Entity::delete_many()
            .filter(webhook::Column::TenantId.eq(tenant.0))
            .filter(webhook::Column::Id.eq(id.0))
            .exec(&self.txn)
            .await
            .map_err(map_db_err)?;
        exactly_one(result.rows_affected)
    }

    async fn append_events(&mut self, events: &[NewEvent]) -> Result<(), RepositoryError> {
        crate::events::append(&self.txn, events).await
    }

    async fn commit(self: Box<Self>) -> Result<(), RepositoryError> {
        self.txn.commit().await.map_err(map_db_err)
    }
}

/// The webhook outbox in `webhook_deliveries`.
#[derive(Debug, Clone)]
pub struct SeaDeliveryRepository {
    db: Database,
}

impl SeaDeliveryRepository {
    /// Wraps a database.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

#[async_trait]
impl DeliveryRepository for SeaDeliveryRepository {
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, RepositoryError> {
        use webhook_delivery::Column as C;
        let lease = chrono::Duration::from_std(lease).map_err(|_| corrupt("claim lease"))?;
        let until = now
            .checked_add_signed(lease)
            .ok_or_else(|| corrupt("claim lease"))?;
        let txn = self.db.system_tx().await?;
        let mut due = webhook_delivery::Entity::find()
            .filter(C::Status.eq(DeliveryStatus::Pending.as_str()))
            .filter(C::NextAttemptAt.lte(now))
            .order_by_asc(C::NextAttemptAt)
            .order_by_asc(C::Id)
            .limit(u64::from(limit.max(1)));
        if self.db.backend() == DatabaseBackend::Postgres {
            due = due.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let rows = due.all(&txn).await.map_err(map_db_err)?;
        if rows.is_empty() {
            txn.commit().await.map_err(map_db_err)?;
            return Ok(Vec::new());
        }
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        webhook_delivery::Entity::update_many()
            .col_expr(C::NextAttemptAt, sea_orm::sea_query::Expr::value(until))
            .filter(C::Id.is_in(ids))
            .exec(&txn)
            .await
            .map_err(map_db_err)?;
        let subscription_ids: Vec<Uuid> = rows.iter().map(|r| r.subscription_id).collect();
        let subscriptions = webhook::Entity::find()
            .filter(webhook::Column::Id.is_in(subscription_ids))
            .all(&txn)
            .await
            .map_err(map_db_err)?
            .into_iter()
            .map(to_domain)
            .collect::<Result<Vec<_>, _>>()?;
        let event_ids: Vec<i64> = rows.iter().map(|r| r.event_id).collect();
        let events = event::Entity::find()
            .filter(event::Column::Id.is_in(event_ids))
            .all(&txn)
            .await
            .map_err(map_db_err)?
            .into_iter()
            .map(crate::events::to_domain)
            .collect::<Result<Vec<_>, _>>()?;
        txn.commit().await.map_err(map_db_err)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let subscription = subscriptions
                .iter()
                .find(|s| s.id.0 == row.subscription_id && s.tenant_id.0 == row.tenant_id);
            let event = events
                .iter()
                .find(|e| e.id.0 == row.event_id && e.event.tenant_id.0 == row.tenant_id);
            // A delivery always has both (the cascade and the append-only log); a row without
            // them is skipped rather than failing every other claim.
            if let (Some(subscription), Some(event)) = (subscription, event) {
                out.push(DueDelivery {
                    delivery: delivery_to_domain(row)?,
                    subscription: subscription.clone(),
                    event: event.clone(),
                });
            } else {
                tracing::warn!(delivery = %row.id, "a claimed delivery has no subscription or event");
            }
        }
        Ok(out)
    }

    async fn record_attempt(&self, d: &Delivery) -> Result<(), RepositoryError> {
        use webhook_delivery::Column as C;
        let mut row = delivery_row(d);
        row.tenant_id = NotSet;
        row.id = NotSet;
        row.subscription_id = NotSet;
        row.event_id = NotSet;
        row.created_at = NotSet;
        let conn = self.db.tenant_write(d.tenant_id).await?;
        webhook_delivery::Entity::update_many()
            .set(row)
            .filter(C::TenantId.eq(d.tenant_id.0))
            .filter(C::Id.eq(d.id.0))
            .exec(&conn)
            .await
            .map_err(map_db_err)?;
        conn.end().await
    }

    async fn get(
        &self,
        tenant: TenantId,
        id: DeliveryId,
    ) -> Result<Option<Delivery>, RepositoryError> {
        let conn = self.db.tenant_read(tenant).await?;
        let row = webhook_delivery::Entity::find_by_id((tenant.0, id.0))
            .one(&conn)
            .await
            .map_err(map_db_err)?;
        conn.end().await?;
        row.map(delivery_to_domain).transpose()
    }

    async fn list(
        &self,
        tenant: TenantId,
        subscription: SubscriptionId,
        after: Option<DeliveryId>,
        limit: u32,
    ) -> Result<Vec<Delivery>, RepositoryError> {
        use webhook_delivery::Column as C;
        let mut q = webhook_delivery::Entity::find()
            .filter(C::TenantId.eq(tenant.0))
            .filter(C::SubscriptionId.eq(subscription.0));
        if let Some(a) = after {
            q = q.filter(C::Id.lt(a.0));
        }
        let conn = self.db.tenant_read(tenant).await?;
        let rows = q
            .order_by_desc(C::Id)
            .limit(u64::from(limit))
            .all(&conn)
            .await
            .map_err(map_db_err)?;
        conn.end().await?;
        rows.into_iter().map(delivery_to_domain).collect()
    }

    async fn retry(&self, d: &Delivery) -> Result<(), RepositoryError> {
        use webhook_delivery::Column as C;
        let row = webhook_delivery::ActiveModel {
            status: Set(d.status.as_str().to_owned()),
            next_attempt_at: Set(d.next_attempt_at),
            updated_at: Set(d.updated_at),
            ..Default::default()
        };
        let conn = self.db.tenant_write(d.tenant_id).await?;
        let result = webhook_delivery::Entity::update_many()
            .set(row)
            .filter(C::TenantId.eq(d.tenant_id.0))
            .filter(C::Id.eq(d.id.0))
            .exec(&conn)
            .await
            .map_err(map_db_err)?;
        conn.end().await?;
        exactly_one(result.rows_affected)
    }
}
