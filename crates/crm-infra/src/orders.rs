//! [`OrderRepository`] and its [`OrderTransaction`] and [`BulkOrderTransaction`] on SeaORM (one
//! transaction type implements both). A transaction holds the writer
//! connection (SQLite) or one pooled connection (PostgreSQL, where the customer row is locked
//! `FOR UPDATE`); dropping it uncommitted rolls back.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use crm_domain::customer::{Customer, LifecycleStage, NewCustomer, PurchaseStats};
use crm_domain::event::NewEvent;
use crm_domain::ids::{LedgerEntryId, OrderId, TierId};
use crm_domain::loyalty::{LedgerEntry, LedgerKind, Tier, TierChange};
use crm_domain::order::{
    BulkOrderTransaction, CompletedTotals, Order, OrderLine, OrderListQuery, OrderRepository,
    OrderStatus, OrderTransaction, PaymentStatus, ProductTotal, Settlement, TierPosition,
};
use crm_domain::values::{Amount, CurrencyCode};
use crm_domain::{CustomerId, RepositoryError, TenantId, UserId};
use rust_decimal::Decimal;
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DatabaseTransaction, EntityTrait,
    Order as SqlOrder, QueryFilter, QueryOrder, QuerySelect, Set, Statement,
};
use uuid::Uuid;

use crate::customers::{bp_to_percent, to_domain as customer_to_domain, visible_ids};
use crate::db::Database;
use crate::entity::{customer, ledger_entry, order, order_line, tier, tier_change};
use crate::error::{corrupt, exactly_one, map_db_err};

/// Orders, ledger and tier history in their tables.
#[derive(Debug, Clone)]
pub struct SeaOrderRepository {
    db: Database,
    bulk_rows: crate::db::BulkRows,
}

impl SeaOrderRepository {
    /// Wraps a database.
    pub fn new(db: Database) -> Self {
        Self {
            db,
            bulk_rows: Default::default(),
        }
    }

    /// Starts a transaction on the writer, scoped to `tenant` ([`Database::tenant_tx`]).
    async fn transaction(&self, tenant: TenantId) -> Result<SeaOrderTransaction, RepositoryError> {
        let txn = self.db.tenant_tx(tenant).await?;
        Ok(SeaOrderTransaction {
            txn,
            backend: self.db.backend(),
            bulk_rows: self.bulk_rows.clone(),
        })
    }
}

/// A raw statement written with `$1, $2, ...` placeholders, each used once and in order;
/// SQLite gets `?` instead.
pub(crate) fn raw(backend: DatabaseBackend, sql: &str, values: Vec<sea_orm::Value>) -> Statement {
    let sql = if backend == DatabaseBackend::Sqlite {
        let mut out = sql.to_owned();
        for i in (1..=values.len()).rev() {
            out = out.replace(&format!("${i}"), "?");
        }
        out
    } else {
        sql.to_owned()
    };
    Statement::from_sql_and_values(backend, sql, values)
}

fn quantity_to_scaled(q: Decimal) -> i64 {
    let mut d = q;
    d.rescale(4);
    i64::try_from(d.mantissa()).unwrap_or(i64::MAX)
}

fn order_to_domain(
    m: order::Model,
    lines: Vec<order_line::Model>,
) -> Result<Order, RepositoryError> {
    Ok(Order {
        id: OrderId(m.id),
        tenant_id: TenantId(m.tenant_id),
        customer_id: CustomerId(m.customer_id),
        order_ref: m.order_ref,
        placed_at: m.placed_at,
        status: m
            .status
            .parse::<OrderStatus>()
            .map_err(|_| corrupt("order status"))?,
        payment_status: m
            .payment_status
            .parse::<PaymentStatus>()
            .map_err(|_| corrupt("payment status"))?,
        due_at: m.due_at,
        currency: CurrencyCode::parse(&m.currency).ok_or_else(|| corrupt("currency"))?,
        total_amount: Amount::from_scaled(m.total_amount),
        lines: lines
            .into_iter()
            .map(|l| OrderLine {
                sku: l.sku,
                name: l.name,
                quantity: Decimal::new(l.quantity, 4).normalize(),
                unit_price: Amount::from_scaled(l.unit_price),
                line_total: Amount::from_scaled(l.line_total),
            })
            .collect(),
        channel: m.channel,
        metadata: match m.metadata {
            serde_json::Value::Object(map) => map,
            _ => return Err(corrupt("order metadata")),
        },
        points_earned: m.points_earned,
        created_by: m.created_by.as_deref().and_then(UserId::parse),
        created_at: m.created_at,
        updated_at: m.updated_at,
        version: m.version,
    })
}

pub(crate) fn tier_to_domain(m: tier::Model) -> Tier {
    Tier {
        id: TierId(m.id),
        tenant_id: TenantId(m.tenant_id),
        name: m.name,
        level: m.level,
        min_spend: Amount::from_scaled(m.min_spend),
        discount_percent: bp_to_percent(m.discount_bp),
        benefits: match m.benefits {
            serde_json::Value::Object(map) => map,
            _ => serde_json::Map::new(),
        },
        colour: m.colour,
    }
}

fn ledger_to_domain(m: ledger_entry::Model) -> Result<LedgerEntry, RepositoryError> {
    Ok(LedgerEntry {
        id: LedgerEntryId(m.id),
        tenant_id: TenantId(m.tenant_id),
        customer_id: CustomerId(m.customer_id),
        kind: LedgerKind::parse(&m.kind).ok_or_else(|| corrupt("ledger kind"))?,
        points: m.points,
        reason: m.reason,
        order_id: m.order_id.map(OrderId),
        actor: m.actor.as_deref().and_then(UserId::parse),
        created_at: m.created_at,
    })
}

/// Loads orders with their lines (one query for all lines).
async fn with_lines<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    orders: Vec<order::Model>,
) -> Result<Vec<Order>, RepositoryError> {
    if orders.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = orders.iter().map(|o| o.id).collect();
    let mut lines = order_line::Entity::find()
        .filter(order_line::Column::TenantId.eq(tenant.0))
        .filter(order_line::Column::OrderId.is_in(ids))
        .order_by(order_line::Column::LineNo, SqlOrder::Asc)
        .all(conn)
        .await
        .map_err(map_db_err)?;
    let mut by_order: std::collections::HashMap<Uuid, Vec<order_line::Model>> =
        std::collections::HashMap::new();
    for l in lines.drain(..) {
        by_order.entry(l.order_id).or_default().push(l);
    }
    orders
        .into_iter()
        .map(|o| {
            let mine = by_order.remove(&o.id).unwrap_or_default();
            order_to_domain(o, mine)
        })
        .collect()
}

async fn find_order_in<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    cond: Condition,
) -> Result<Option<Order>, RepositoryError> {
    let found = order::Entity::find()
        .filter(order::Column::TenantId.eq(tenant.0))
        .filter(cond)
        .one(conn)
        .await
        .map_err(map_db_err)?;
    match found {
        None => Ok(None),
        Some(o) => Ok(with_lines(conn, tenant, vec![o]).await?.pop()),
    }
}

async fn tiers_in<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
) -> Result<Vec<Tier>, RepositoryError> {
    Ok(tier::Entity::find()
        .filter(tier::Column::TenantId.eq(tenant.0))
        .order_by(tier::Column::Level, SqlOrder::Asc)
        .all(conn)
        .await
        .map_err(map_db_err)?
        .into_iter()
        .map(tier_to_domain)
        .collect())
}

/// `SELECT count, sum, min, max` over the customer's completed (and, with `unpaid_only`,
/// unpaid) orders.
async fn totals(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    customer: CustomerId,
    unpaid_only: bool,
) -> Result<CompletedTotals, RepositoryError> {
    let mut q = Query::select();
    q.expr(Expr::cust("COUNT(*)"))
        .expr(Expr::cust("CAST(COALESCE(SUM(total_amount), 0) AS BIGINT)"))
        .expr(Expr::col(order::Column::PlacedAt).min())
        .expr(Expr::col(order::Column::PlacedAt).max())
        .from(order::Entity)
        .and_where(order::Column::TenantId.eq(tenant.0))
        .and_where(order::Column::CustomerId.eq(customer.0))
        .and_where(order::Column::Status.eq(OrderStatus::Completed.as_str()));
    if unpaid_only {
        q.and_where(order::Column::PaymentStatus.eq(PaymentStatus::Unpaid.as_str()));
    }
    let row = txn
        .query_one(&q)
        .await
        .map_err(map_db_err)?
        .ok_or_else(|| corrupt("aggregate"))?;
    Ok(CompletedTotals {
        count: row.try_get_by_index::<i64>(0).map_err(map_db_err)?,
        sum: Amount::from_scaled(row.try_get_by_index::<i64>(1).map_err(map_db_err)?),
        first: row
            .try_get_by_index::<Option<DateTime<Utc>>>(2)
            .map_err(map_db_err)?,
        last: row
            .try_get_by_index::<Option<DateTime<Utc>>>(3)
            .map_err(map_db_err)?,
    })
}

/// One transaction of [`SeaOrderRepository`], single-order ([`OrderTransaction`]) or bulk
/// ([`BulkOrderTransaction`]).
pub struct SeaOrderTransaction {
    txn: DatabaseTransaction,
    backend: DatabaseBackend,
    bulk_rows: crate::db::BulkRows,
}

#[async_trait]
impl OrderTransaction for SeaOrderTransaction {
    async fn lock_customer(
        &mut self,
        tenant: TenantId,
        id: CustomerId,
    ) -> Result<Option<Customer>, RepositoryError> {
        let mut q = customer::Entity::find()
            .filter(customer::Column::TenantId.eq(tenant.0))
            .filter(customer::Column::Id.eq(id.0))
            .filter(customer::Column::DeletedAt.is_null());
        if self.backend == DatabaseBackend::Postgres {
            // SQLite needs no lock: its one writer connection already serialises transactions.
            q = q.lock_exclusive();
        }
        q.one(&self.txn)
            .await
            .map_err(map_db_err)?
            .map(customer_to_domain)
            .transpose()
    }

    async fn order_by_ref(
        &mut self,
        tenant: TenantId,
        order_ref: &str,
    ) -> Result<Option<Order>, RepositoryError> {
        find_order_in(
            &self.txn,
            tenant,
            Condition::all().add(order::Column::OrderRef.eq(order_ref)),
        )
        .await
    }

    async fn find_order(
        &mut self,
        tenant: TenantId,
        id: OrderId,
    ) -> Result<Option<Order>, RepositoryError> {
        find_order_in(
            &self.txn,
            tenant,
            Condition::all().add(order::Column::Id.eq(id.0)),
        )
        .await
    }

    async fn insert_order(&mut self, o: &Order) -> Result<(), RepositoryError> {
        self.insert_orders(std::slice::from_ref(o)).await
    }

    async fn update_order(
        &mut self,
        o: &Order,
        expected_version: i64,
    ) -> Result<(), RepositoryError> {
        let res = order::Entity::update_many()
            .col_expr(order::Column::Status, Expr::value(o.status.as_str()))
            .col_expr(
                order::Column::PaymentStatus,
                Expr::value(o.payment_status.as_str()),
            )
            .col_expr(order::Column::PointsEarned, Expr::value(o.points_earned))
            .col_expr(order::Column::UpdatedAt, Expr::value(o.updated_at))
            .col_expr(order::Column::Version, Expr::value(o.version))
            .filter(order::Column::TenantId.eq(o.tenant_id.0))
            .filter(order::Column::Id.eq(o.id.0))
            .filter(order::Column::Version.eq(expected_version))
            .exec(&self.txn)
            .await
            .map_err(map_db_err)?;
        exactly_one(res.rows_affected)
    }

    async fn completed_totals(
        &mut self,
        tenant: TenantId,
        customer: CustomerId,
    ) -> Result<CompletedTotals, RepositoryError> {
        totals(&self.txn, tenant, customer, false).await
    }

    async fn outstanding(
        &mut self,
        tenant: TenantId,
        customer: CustomerId,
    ) -> Result<Amount, RepositoryError> {
        Ok(totals(&self.txn, tenant, customer, true).await?.sum)
    }

    async fn save_customer_stats(
        &mut self,
        tenant: TenantId,
        id: CustomerId,
        stats: &PurchaseStats,
        stage: LifecycleStage,
    ) -> Result<(), RepositoryError> {
        stats_update(stats, stage)
            .filter(customer::Column::TenantId.eq(tenant.0))
            .filter(customer::Column::Id.eq(id.0))
            .exec(&self.txn)
            .await
            .map_err(map_db_err)?;
        Ok(())
    }

    async fn add_ledger_entry(&mut self, e: &LedgerEntry) -> Result<(), RepositoryError> {
        self.append_ledger_entries(std::slice::from_ref(e)).await?;
        customer::Entity::update_many()
            .col_expr(
                customer::Column::LoyaltyPoints,
                Expr::col(customer::Column::LoyaltyPoints).add(e.points),
            )
            .filter(customer::Column::TenantId.eq(e.tenant_id.0))
            .filter(customer::Column::Id.eq(e.customer_id.0))
            .exec(&self.txn)
            .await
            .map_err(map_db_err)?;
        Ok(())
    }

    async fn tiers(&mut self, tenant: TenantId) -> Result<Vec<Tier>, RepositoryError> {
        tiers_in(&self.txn, tenant).await
    }

    async fn record_tier_change(&mut self, c: &TierChange) -> Result<(), RepositoryError> {
        self.append_tier_changes(std::slice::from_ref(c)).await?;
        customer::Entity::update_many()
            .col_expr(
                customer::Column::TierId,
                Expr::value(c.to_tier.map(|t| t.0)),
            )
            .col_expr(customer::Column::TierSince, Expr::value(Some(c.changed_at)))
            .filter(customer::Column::TenantId.eq(c.tenant_id.0))
            .filter(customer::Column::Id.eq(c.customer_id.0))
            .exec(&self.txn)
            .await
            .map_err(map_db_err)?;
        Ok(())
    }

    async fn append_events(&mut self, events: &[NewEvent]) -> Result<(), RepositoryError> {
        crate::events::append(&self.txn, events).await
    }

    async fn commit(self: Box<Self>) -> Result<(), RepositoryError> {
        self.txn.commit().await.map_err(map_db_err)
    }
}

#[async_trait]
impl BulkOrderTransaction for SeaOrderTransaction {
    async fn lock_customers(
        &mut self,
        tenant: TenantId,
        ids: &[CustomerId],
    ) -> Result<Vec<Customer>, RepositoryError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IDS_PER_QUERY) {
            let mut q = customer::Entity::find()
                .filter(customer::Column::TenantId.eq(tenant.0))
                .filter(customer::Column::Id.is_in(chunk.iter().map(|c| c.0)))
                .filter(customer::Column::DeletedAt.is_null())
                .order_by(customer::Column::Id, SqlOrder::Asc);
            if self.backend == DatabaseBackend::Postgres {
                q = q.lock_exclusive();
            }
            for m in q.all(&self.txn).await.map_err(map_db_err)? {
                out.push(customer_to_domain(m)?);
            }
        }
        Ok(out)
    }

    async fn orders_by_refs(
        &mut self,
        tenant: TenantId,
        refs: &[String],
    ) -> Result<Vec<Order>, RepositoryError> {
        let mut out = Vec::new();
        for chunk in refs.chunks(IDS_PER_QUERY) {
            let found = order::Entity::find()
                .filter(order::Column::TenantId.eq(tenant.0))
                .filter(order::Column::OrderRef.is_in(chunk.iter().cloned()))
                .all(&self.txn)
                .await
                .map_err(map_db_err)?;
            out.extend(with_lines(&self.txn, tenant, found).await?);
        }
        Ok(out)
    }

    async fn completed_totals_many(
        &mut self,
        tenant: TenantId,
        ids: &[CustomerId],
    ) -> Result<Vec<(CustomerId, CompletedTotals)>, RepositoryError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IDS_PER_QUERY) {
            let mut q = Query::select();
            q.column(order::Column::CustomerId)
                .expr(Expr::cust("COUNT(*)"))
                .expr(Expr::cust("CAST(COALESCE(SUM(total_amount), 0) AS BIGINT)"))
                .expr(Expr::col(order::Column::PlacedAt).min())
                .expr(Expr::col(order::Column::PlacedAt).max())
                .from(order::Entity)
                .and_where(order::Column::TenantId.eq(tenant.0))
                .and_where(order::Column::CustomerId.is_in(chunk.iter().map(|c| c.0)))
                .and_where(order::Column::Status.eq(OrderStatus::Completed.as_str()))
                .group_by_col(order::Column::CustomerId);
            for row in self.txn.query_all(&q).await.map_err(map_db_err)? {
                out.push((
                    CustomerId(row.try_get_by_index::<Uuid>(0).map_err(map_db_err)?),
                    CompletedTotals {
                        count: row.try_get_by_index::<i64>(1).map_err(map_db_err)?,
                        sum: Amount::from_scaled(
                            row.try_get_by_index::<i64>(2).map_err(map_db_err)?,
                        ),
                        first: row
                            .try_get_by_index::<Option<DateTime<Utc>>>(3)
                            .map_err(map_db_err)?,
                        last: row
                            .try_get_by_index::<Option<DateTime<Utc>>>(4)
                            .map_err(map_db_err)?,
                    },
                ));
            }
        }
        Ok(out)
    }

    async fn insert_customers(
        &mut self,
        tenant: TenantId,
        customers: &[NewCustomer],
    ) -> Result<(), RepositoryError> {
        crate::customers::insert_new(&self.txn, self.backend, &self.bulk_rows, tenant, customers)
            .await
    }

    async fn insert_orders(&mut self, orders: &[Order]) -> Result<(), RepositoryError> {
        for chunk in orders.chunks(ORDERS_PER_INSERT) {
            order::Entity::insert_many(chunk.iter().map(order_row))
                .exec_without_returning(&self.txn)
                .await
                .map_err(map_db_err)?;
        }
        let lines: Vec<order_line::ActiveModel> = orders.iter().flat_map(line_rows).collect();
        for chunk in lines.chunks(LINES_PER_INSERT) {
            order_line::Entity::insert_many(chunk.to_vec())
                .exec_without_returning(&self.txn)
                .await
                .map_err(map_db_err)?;
        }
        if orders.len() > 1 {
            self.bulk_rows
                .add(
                    &self.txn,
                    self.backend,
                    orders.len(),
                    "customers, orders, order_lines, loyalty_ledger, tier_changes",
                )
                .await?;
        }
        Ok(())
    }

    async fn append_ledger_entries(
        &mut self,
        entries: &[LedgerEntry],
    ) -> Result<(), RepositoryError> {
        for chunk in entries.chunks(LINES_PER_INSERT) {
            ledger_entry::Entity::insert_many(chunk.iter().map(|e| ledger_entry::ActiveModel {
                tenant_id: Set(e.tenant_id.0),
                id: Set(e.id.0),
                customer_id: Set(e.customer_id.0),
                kind: Set(e.kind.as_str().to_owned()),
                points: Set(e.points),
                reason: Set(e.reason.clone()),
                order_id: Set(e.order_id.map(|o| o.0)),
                actor: Set(e.actor.as_ref().map(|u| u.as_str().to_owned())),
                created_at: Set(e.created_at),
            }))
            .exec_without_returning(&self.txn)
            .await
            .map_err(map_db_err)?;
        }
        Ok(())
    }

    async fn append_tier_changes(&mut self, changes: &[TierChange]) -> Result<(), RepositoryError> {
        for chunk in changes.chunks(LINES_PER_INSERT) {
            tier_change::Entity::insert_many(chunk.iter().map(|c| tier_change::ActiveModel {
                tenant_id: Set(c.tenant_id.0),
                id: Set(Uuid::now_v7()),
                customer_id: Set(c.customer_id.0),
                from_tier: Set(c.from_tier.map(|t| t.0)),
                to_tier: Set(c.to_tier.map(|t| t.0)),
                reason: Set(c.reason.clone()),
                actor: Set(c.actor.as_ref().map(|u| u.as_str().to_owned())),
                changed_at: Set(c.changed_at),
            }))
            .exec_without_returning(&self.txn)
            .await
            .map_err(map_db_err)?;
        }
        Ok(())
    }

    async fn settle_many(
        &mut self,
        tenant: TenantId,
        rows: &[Settlement],
    ) -> Result<(), RepositoryError> {
        for r in rows {
            let mut update = stats_update(&r.stats, r.stage).col_expr(
                customer::Column::LoyaltyPoints,
                Expr::col(customer::Column::LoyaltyPoints).add(r.points),
            );
            if let Some((tier, since)) = r.tier {
                update = update
                    .col_expr(customer::Column::TierId, Expr::value(tier.map(|t| t.0)))
                    .col_expr(customer::Column::TierSince, Expr::value(Some(since)));
            }
            update
                .filter(customer::Column::TenantId.eq(tenant.0))
                .filter(customer::Column::Id.eq(r.customer_id.0))
                .exec(&self.txn)
                .await
                .map_err(map_db_err)?;
        }
        Ok(())
    }

    async fn outstanding(
        &mut self,
        tenant: TenantId,
        customer: CustomerId,
    ) -> Result<Amount, RepositoryError> {
        Ok(totals(&self.txn, tenant, customer, true).await?.sum)
    }

    async fn tiers(&mut self, tenant: TenantId) -> Result<Vec<Tier>, RepositoryError> {
        tiers_in(&self.txn, tenant).await
    }

    async fn record_checkpoint(
        &mut self,
        checkpoint: &crm_domain::import::ImportCheckpoint,
    ) -> Result<(), RepositoryError> {
        crate::imports::write_checkpoint(&self.txn, checkpoint).await
    }

    async fn savepoint(&mut self) -> Result<(), RepositoryError> {
        crate::db::savepoint(&self.txn, crate::db::Savepoint::Begin).await
    }

    async fn release_savepoint(&mut self) -> Result<(), RepositoryError> {
        crate::db::savepoint(&self.txn, crate::db::Savepoint::Release).await
    }

    async fn rollback_to_savepoint(&mut self) -> Result<(), RepositoryError> {
        crate::db::savepoint(&self.txn, crate::db::Savepoint::Rollback).await
    }

    async fn append_events(&mut self, events: &[NewEvent]) -> Result<(), RepositoryError> {
        crate::events::append(&self.txn, events).await
    }

    async fn commit(self: Box<Self>) -> Result<(), RepositoryError> {
        self.txn.commit().await.map_err(map_db_err)
    }
}

/// Ids or refs per `IN (...)` list.
const IDS_PER_QUERY: usize = 1_000;
/// Orders per multi-row `INSERT` (17 columns: under SQLite's 32,766 bound parameters).
const ORDERS_PER_INSERT: usize = 1_000;
/// Order lines or ledger entries per multi-row `INSERT` (8 or 9 columns).
const LINES_PER_INSERT: usize = 2_000;

/// The `UPDATE` of a customer's statistics and stage (and version), to be filtered.
fn stats_update(
    stats: &PurchaseStats,
    stage: LifecycleStage,
) -> sea_orm::UpdateMany<customer::Entity> {
    customer::Entity::update_many()
        .col_expr(
            customer::Column::TotalOrders,
            Expr::value(stats.total_orders),
        )
        .col_expr(
            customer::Column::TotalSpent,
            Expr::value(stats.total_spent.to_scaled()),
        )
        .col_expr(
            customer::Column::AverageOrderValue,
            Expr::value(stats.average_order_value.to_scaled()),
        )
        .col_expr(
            customer::Column::FirstOrderAt,
            Expr::value(stats.first_order_at),
        )
        .col_expr(
            customer::Column::LastOrderAt,
            Expr::value(stats.last_order_at),
        )
        .col_expr(customer::Column::Stage, Expr::value(stage.as_str()))
        .col_expr(
            customer::Column::Version,
            Expr::col(customer::Column::Version).add(1),
        )
}

fn order_row(o: &Order) -> order::ActiveModel {
    order::ActiveModel {
        tenant_id: Set(o.tenant_id.0),
        id: Set(o.id.0),
        customer_id: Set(o.customer_id.0),
        order_ref: Set(o.order_ref.clone()),
        placed_at: Set(o.placed_at),
        status: Set(o.status.as_str().to_owned()),
        payment_status: Set(o.payment_status.as_str().to_owned()),
        due_at: Set(o.due_at),
        currency: Set(o.currency.as_str().to_owned()),
        total_amount: Set(o.total_amount.to_scaled()),
        channel: Set(o.channel.clone()),
        metadata: Set(serde_json::Value::Object(o.metadata.clone())),
        points_earned: Set(o.points_earned),
        created_by: Set(o.created_by.as_ref().map(|u| u.as_str().to_owned())),
        created_at: Set(o.created_at),
        updated_at: Set(o.updated_at),
        version: Set(o.version),
    }
}

fn line_rows(o: &Order) -> impl Iterator<Item = order_line::ActiveModel> + '_ {
    o.lines
        .iter()
        .enumerate()
        .map(|(i, l)| order_line::ActiveModel {
            tenant_id: Set(o.tenant_id.0),
            order_id: Set(o.id.0),
            line_no: Set(i32::try_from(i + 1).unwrap_or(i32::MAX)),
            sku: Set(l.sku.clone()),
            name: Set(l.name.clone()),
            quantity: Set(quantity_to_scaled(l.quantity)),
            unit_price: Set(l.unit_price.to_scaled()),
            line_total: Set(l.line_total.to_scaled()),
        })
}

#[async_trait]
impl OrderRepository for SeaOrderRepository {
    async fn begin(&self, tenant: TenantId) -> Result<Box<dyn OrderTransaction>, RepositoryError> {
        Ok(Box::new(self.transaction(tenant).await?))
    }

    async fn begin_bulk(
        &self,
        tenant: TenantId,
    ) -> Result<Box<dyn BulkOrderTransaction>, RepositoryError> {
        Ok(Box::new(self.transaction(tenant).await?))
    }

    async fn find_order(
        &self,
        tenant: TenantId,
        id: OrderId,
    ) -> Result<Option<Order>, RepositoryError> {
        let conn = self.db.tenant_read(tenant).await?;
        let found = find_order_in(
            &conn,
            tenant,
            Condition::all().add(order::Column::Id.eq(id.0)),
        )
        .await?;
        conn.end().await?;
        Ok(found)
    }

    async fn list_orders(
        &self,
        tenant: TenantId,
        visibility: &crm_domain::access::Visibility,
        q: &OrderListQuery,
    ) -> Result<Vec<Order>, RepositoryError> {
        let mut select = order::Entity::find().filter(order::Column::TenantId.eq(tenant.0));
        if let Some(ids) = visible_ids(tenant, visibility) {
            select = select.filter(order::Column::CustomerId.in_subquery(ids));
        }
        if let Some(c) = q.customer_id {
            select = select.filter(order::Column::CustomerId.eq(c.0));
        }
        if !q.statuses.is_empty() {
            select =
                select.filter(order::Column::Status.is_in(q.statuses.iter().map(|s| s.as_str())));
        }
        match q.payment_status {
            Some(PaymentStatus::Overdue) => {
                select = select
                    .filter(order::Column::Status.eq(OrderStatus::Completed.as_str()))
                    .filter(order::Column::PaymentStatus.eq(PaymentStatus::Unpaid.as_str()))
                    .filter(order::Column::DueAt.lt(q.now));
            }
            Some(p) => select = select.filter(order::Column::PaymentStatus.eq(p.as_str())),
            None => {}
        }
        if let Some(t) = q.placed_after {
            select = select.filter(order::Column::PlacedAt.gte(t));
        }
        if let Some(t) = q.placed_before {
            select = select.filter(order::Column::PlacedAt.lt(t));
        }
        if let Some((at, id)) = q.after {
            select = select.filter(
                Condition::any().add(order::Column::PlacedAt.lt(at)).add(
                    Condition::all()
                        .add(order::Column::PlacedAt.eq(at))
                        .add(order::Column::Id.lt(id.0)),
                ),
            );
        }
        let conn = self.db.tenant_read(tenant).await?;
        let rows = select
            .order_by(order::Column::PlacedAt, SqlOrder::Desc)
            .order_by(order::Column::Id, SqlOrder::Desc)
            .limit(u64::from(q.limit))
            .all(&conn)
            .await
            .map_err(map_db_err)?;
        let orders = with_lines(&conn, tenant, rows).await?;
        conn.end().await?;
        Ok(orders)
    }

    async fn ledger(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        before: Option<LedgerEntryId>,
        limit: u32,
    ) -> Result<Vec<LedgerEntry>, RepositoryError> {
        let mut q = ledger_entry::Entity::find()
            .filter(ledger_entry::Column::TenantId.eq(tenant.0))
            .filter(ledger_entry::Column::CustomerId.eq(customer.0));
        if let Some(b) = before {
            q = q.filter(ledger_entry::Column::Id.lt(b.0));
        }
        let conn = self.db.tenant_read(tenant).await?;
        let rows = q
            .order_by(ledger_entry::Column::Id, SqlOrder::Desc)
            .limit(u64::from(limit))
            .all(&conn)
            .await
            .map_err(map_db_err)?;
        conn.end().await?;
        rows.into_iter().map(ledger_to_domain).collect()
    }

    async fn tier_history(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        limit: u32,
    ) -> Result<Vec<TierChange>, RepositoryError> {
        let conn = self.db.tenant_read(tenant).await?;
        let rows = tier_change::Entity::find()
            .filter(tier_change::Column::TenantId.eq(tenant.0))
            .filter(tier_change::Column::CustomerId.eq(customer.0))
            .order_by(tier_change::Column::ChangedAt, SqlOrder::Desc)
            .order_by(tier_change::Column::Id, SqlOrder::Desc)
            .limit(u64::from(limit))
            .all(&conn)
            .await
            .map_err(map_db_err)?;
        conn.end().await?;
        Ok(rows
            .into_iter()
            .map(|m| TierChange {
                tenant_id: TenantId(m.tenant_id),
                customer_id: CustomerId(m.customer_id),
                from_tier: m.from_tier.map(TierId),
                to_tier: m.to_tier.map(TierId),
                reason: m.reason,
                actor: m.actor.as_deref().and_then(UserId::parse),
                changed_at: m.changed_at,
            })
            .collect())
    }

    async fn tiers(&self, tenant: TenantId) -> Result<Vec<Tier>, RepositoryError> {
        let conn = self.db.tenant_read(tenant).await?;
        let tiers = tiers_in(&conn, tenant).await?;
        conn.end().await?;
        Ok(tiers)
    }

    async fn completed_since(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        since: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, Amount)>, RepositoryError> {
        let conn = self.db.tenant_read(tenant).await?;
        let rows: Vec<(DateTime<Utc>, i64)> = order::Entity::find()
            .select_only()
            .column(order::Column::PlacedAt)
            .column(order::Column::TotalAmount)
            .filter(order::Column::TenantId.eq(tenant.0))
            .filter(order::Column::CustomerId.eq(customer.0))
            .filter(order::Column::Status.eq(OrderStatus::Completed.as_str()))
            .filter(order::Column::PlacedAt.gte(since))
            .into_tuple()
            .all(&conn)
            .await
            .map_err(map_db_err)?;
        conn.end().await?;
        Ok(rows
            .into_iter()
            .map(|(at, total)| (at, Amount::from_scaled(total)))
            .collect())
    }

    async fn top_products(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        limit: u32,
    ) -> Result<Vec<ProductTotal>, RepositoryError> {
        const SQL: &str = "SELECT l.sku, MAX(l.name), CAST(SUM(l.quantity) AS BIGINT), CAST(SUM(l.line_total) AS BIGINT) \
            FROM order_lines l JOIN orders o ON o.tenant_id = l.tenant_id AND o.id = l.order_id \
            WHERE o.tenant_id = $1 AND o.customer_id = $2 AND o.status = 'completed' \
            GROUP BY l.sku ORDER BY SUM(l.quantity) DESC, l.sku LIMIT $3";
        let stmt = raw(
            self.db.backend(),
            SQL,
            vec![tenant.0.into(), customer.0.into(), i64::from(limit).into()],
        );
        let conn = self.db.tenant_read(tenant).await?;
        let rows = conn.query_all_raw(stmt).await.map_err(map_db_err)?;
        conn.end().await?;
        rows.into_iter()
            .map(|r| {
                Ok(ProductTotal {
                    sku: r.try_get_by_index::<String>(0).map_err(map_db_err)?,
                    name: r
                        .try_get_by_index::<Option<String>>(1)
                        .map_err(map_db_err)?,
                    quantity: Decimal::new(r.try_get_by_index::<i64>(2).map_err(map_db_err)?, 4)
                        .normalize(),
                    revenue: Amount::from_scaled(r.try_get_by_index::<i64>(3).map_err(map_db_err)?),
                })
            })
            .collect()
    }

    async fn tier_positions(
        &self,
        tenant: TenantId,
        after: Option<CustomerId>,
        limit: u32,
    ) -> Result<Vec<TierPosition>, RepositoryError> {
        let mut q = customer::Entity::find()
            .select_only()
            .column(customer::Column::Id)
            .column(customer::Column::TierId)
            .column(customer::Column::TierSince)
            .column(customer::Column::TotalSpent)
            .filter(customer::Column::TenantId.eq(tenant.0))
            .filter(customer::Column::DeletedAt.is_null());
        if let Some(a) = after {
            q = q.filter(customer::Column::Id.gt(a.0));
        }
        let conn = self.db.tenant_read(tenant).await?;
        let rows: Vec<(Uuid, Option<Uuid>, Option<DateTime<Utc>>, i64)> = q
            .order_by(customer::Column::Id, SqlOrder::Asc)
            .limit(u64::from(limit))
            .into_tuple()
            .all(&conn)
            .await
            .map_err(map_db_err)?;
        conn.end().await?;
        Ok(rows
            .into_iter()
            .map(|(id, tier, since, spent)| TierPosition {
                customer_id: CustomerId(id),
                tier_id: tier.map(TierId),
                tier_since: since,
                total_spent: Amount::from_scaled(spent),
            })
            .collect())
    }

    async fn recompute_statistics(&self, tenant: TenantId) -> Result<u64, RepositoryError> {
        // Two set-based statements, the database doing the aggregation; the average mirrors
        // `crm_domain::order::average_order_value` (integer division of ten-thousandths).
        const TOTALS: &str = "UPDATE customers SET \
            total_orders = (SELECT COUNT(*) FROM orders o WHERE o.tenant_id = customers.tenant_id AND o.customer_id = customers.id AND o.status = 'completed'), \
            total_spent = (SELECT CAST(COALESCE(SUM(o.total_amount), 0) AS BIGINT) FROM orders o WHERE o.tenant_id = customers.tenant_id AND o.customer_id = customers.id AND o.status = 'completed'), \
            first_order_at = (SELECT MIN(o.placed_at) FROM orders o WHERE o.tenant_id = customers.tenant_id AND o.customer_id = customers.id AND o.status = 'completed'), \
            last_order_at = (SELECT MAX(o.placed_at) FROM orders o WHERE o.tenant_id = customers.tenant_id AND o.customer_id = customers.id AND o.status = 'completed'), \
            loyalty_points = (SELECT CAST(COALESCE(SUM(l.points), 0) AS BIGINT) FROM loyalty_ledger l WHERE l.tenant_id = customers.tenant_id AND l.customer_id = customers.id) \
            WHERE tenant_id = $1";
        const DERIVED: &str = "UPDATE customers SET \
            average_order_value = CASE WHEN total_orders > 0 THEN total_spent / total_orders ELSE 0 END, \
            stage = CASE WHEN total_orders > 0 AND stage IN ('prospect', 'lead') THEN 'customer' ELSE stage END \
            WHERE tenant_id = $1";
        let backend = self.db.backend();
        let sql = |s: &str| {
            if backend == DatabaseBackend::Sqlite {
                s.replace("$1", "?")
            } else {
                s.to_owned()
            }
        };
        // Two statements over every customer of the tenant: a job's time limit.
        let txn = self.db.for_jobs().tenant_tx(tenant).await?;
        let updated = txn
            .execute_raw(Statement::from_sql_and_values(
                backend,
                sql(TOTALS),
                [tenant.0.into()],
            ))
            .await
            .map_err(map_db_err)?
            .rows_affected();
        txn.execute_raw(Statement::from_sql_and_values(
            backend,
            sql(DERIVED),
            [tenant.0.into()],
        ))
        .await
        .map_err(map_db_err)?;
        txn.commit().await.map_err(map_db_err)?;
        Ok(updated)
    }
}
