//! [`ReminderRepository`] on SeaORM: the scheduler's cross-tenant transaction (a system
//! transaction) that takes due follow-ups and overdue orders and marks them
//! (`due_reminded_for`, `overdue_reminded_for` = the `due_at` fired for, migration 22) with
//! their events. PostgreSQL takes the rows `FOR UPDATE SKIP LOCKED`, so replicas running at
//! once take disjoint rows; SQLite's one writer serialises runs. Records of soft-deleted
//! customers are left until a restore.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use crm_domain::event::NewEvent;
use crm_domain::reminder::{DueFollowUp, OverdueOrder, ReminderRepository, ReminderTransaction};
use crm_domain::values::{Amount, CurrencyCode};
use crm_domain::{CustomerId, RepositoryError, TenantId};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, LockBehavior, LockType, Query};
use sea_orm::{
    ColumnTrait, DatabaseBackend, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

use crate::db::Database;
use crate::entity::{customer, follow_up, order};
use crate::error::{corrupt, map_db_err};

/// Reminder transactions on the writer.
#[derive(Debug, Clone)]
pub struct SeaReminderRepository {
    db: Database,
}

impl SeaReminderRepository {
    /// Wraps a database.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

#[async_trait]
impl ReminderRepository for SeaReminderRepository {
    async fn begin(&self) -> Result<Box<dyn ReminderTransaction>, RepositoryError> {
        Ok(Box::new(SeaReminderTransaction {
            txn: self.db.system_tx().await?,
            backend: self.db.backend(),
        }))
    }
}

/// One reminder run's transaction.
pub struct SeaReminderTransaction {
    txn: DatabaseTransaction,
    backend: DatabaseBackend,
}

impl std::fmt::Debug for SeaReminderTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeaReminderTransaction")
            .finish_non_exhaustive()
    }
}

/// `EXISTS` a live customer `customers.id = <table>.customer_id` of the row's tenant.
fn live_customer(table: &str) -> sea_orm::sea_query::SimpleExpr {
    use customer::Column as C;
    let t = Alias::new(table);
    Expr::exists(
        Query::select()
            .expr(Expr::val(1))
            .from(customer::Entity)
            .and_where(
                Expr::col((customer::Entity, C::TenantId))
                    .equals((t.clone(), Alias::new("tenant_id"))),
            )
            .and_where(Expr::col((customer::Entity, C::Id)).equals((t, Alias::new("customer_id"))))
            .and_where(Expr::col((customer::Entity, C::DeletedAt)).is_null())
            .take(),
    )
}

/// `mark IS NULL OR mark <> due_at`: the reminder has not fired for the current `due_at`.
fn not_fired(table: &str, mark: &str) -> sea_orm::sea_query::SimpleExpr {
    let (t, m, d) = (Alias::new(table), Alias::new(mark), Alias::new("due_at"));
    Expr::col((t.clone(), m.clone()))
        .is_null()
        .or(Expr::col((t.clone(), m)).ne(Expr::col((t, d))))
}

impl SeaReminderTransaction {
    fn skip_locked<Q: QuerySelect>(&self, q: Q) -> Q {
        if self.backend == DatabaseBackend::Postgres {
            q.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        } else {
            q
        }
    }
}

#[async_trait]
impl ReminderTransaction for SeaReminderTransaction {
    async fn take_due_follow_ups(
        &mut self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DueFollowUp>, RepositoryError> {
        use follow_up::Column as C;
        let q = follow_up::Entity::find()
            .filter(C::Status.eq("open"))
            .filter(C::DueAt.lte(now))
            .filter(not_fired("follow_ups", "due_reminded_for"))
            .filter(live_customer("follow_ups"))
            .order_by_asc(C::DueAt)
            .order_by_asc(C::Id)
            .limit(u64::from(Ord::max(limit, 1)));
        let rows = self
            .skip_locked(q)
            .all(&self.txn)
            .await
            .map_err(map_db_err)?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        follow_up::Entity::update_many()
            .col_expr(Alias::new("due_reminded_for"), Expr::col(C::DueAt))
            .filter(C::Id.is_in(ids))
            .exec(&self.txn)
            .await
            .map_err(map_db_err)?;
        Ok(rows
            .into_iter()
            .map(|r| DueFollowUp {
                tenant_id: TenantId(r.tenant_id),
                id: r.id,
                customer_id: CustomerId(r.customer_id),
                title: r.title,
                due_at: r.due_at,
                assignee: r.assignee,
                priority: r.priority,
            })
            .collect())
    }

    async fn take_overdue_orders(
        &mut self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OverdueOrder>, RepositoryError> {
        use order::Column as C;
        let q = order::Entity::find()
            .filter(C::Status.eq("completed"))
            .filter(C::PaymentStatus.eq("unpaid"))
            .filter(C::DueAt.lt(now))
            .filter(not_fired("orders", "overdue_reminded_for"))
            .filter(live_customer("orders"))
            .order_by_asc(C::DueAt)
            .order_by_asc(C::Id)
            .limit(u64::from(Ord::max(limit, 1)));
        let rows = self
            .skip_locked(q)
            .all(&self.txn)
            .await
            .map_err(map_db_err)?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        order::Entity::update_many()
            .col_expr(Alias::new("overdue_reminded_for"), Expr::col(C::DueAt))
            .filter(C::Id.is_in(ids))
            .exec(&self.txn)
            .await
            .map_err(map_db_err)?;
        rows.into_iter()
            .map(|r| {
                Ok(OverdueOrder {
                    tenant_id: TenantId(r.tenant_id),
                    id: r.id,
                    customer_id: CustomerId(r.customer_id),
                    order_ref: r.order_ref,
                    placed_at: r.placed_at,
                    due_at: r.due_at,
                    total_amount: Amount::from_scaled(r.total_amount),
                    currency: CurrencyCode::parse(&r.currency)
                        .ok_or_else(|| corrupt("order currency"))?,
                })
            })
            .collect()
    }

    async fn append_events(&mut self, events: &[NewEvent]) -> Result<(), RepositoryError> {
        crate::events::append(&self.txn, events).await
    }

    async fn commit(self: Box<Self>) -> Result<(), RepositoryError> {
        self.txn.commit().await.map_err(map_db_err)
    }
}
