//! Reads: one customer, lookups by unique value, idempotency records, open orders, the list
//! page, its count and its aggregates.

use crm_domain::access::Visibility;
use crm_domain::customer::{Customer, CustomerQuery, IdempotencyRecord, UniqueField};
use crm_domain::ids::TierId;
use crm_domain::values::AmountTotal;
use crm_domain::{CustomerId, RepositoryError, TenantId};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, Order, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

use super::SeaCustomerRepository;
use super::mapping::to_domain;
use crate::entity::{customer, idempotency_key};
use crate::error::map_db_err;

fn unique_column(field: UniqueField) -> customer::Column {
    match field {
        UniqueField::Email => customer::Column::Email,
        UniqueField::Phone => customer::Column::Phone,
        UniqueField::MobilePhone => customer::Column::MobilePhone,
        UniqueField::ExternalRef => customer::Column::ExternalRef,
    }
}

pub(super) async fn find_in<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    id: CustomerId,
    include_deleted: bool,
) -> Result<Option<Customer>, RepositoryError> {
    let mut q = customer::Entity::find()
        .filter(customer::Column::TenantId.eq(tenant.0))
        .filter(customer::Column::Id.eq(id.0));
    if !include_deleted {
        q = q.filter(customer::Column::DeletedAt.is_null());
    }
    q.one(conn)
        .await
        .map_err(map_db_err)?
        .map(to_domain)
        .transpose()
}

/// Orders still open: pending, or completed and unpaid (`crm_domain::order::Order::is_open`).
pub(super) fn open_orders() -> Condition {
    use crate::entity::order;
    Condition::any()
        .add(order::Column::Status.eq("pending"))
        .add(
            Condition::all()
                .add(order::Column::Status.eq("completed"))
                .add(order::Column::PaymentStatus.eq("unpaid")),
        )
}

/// [`crm_domain::customer::CustomerRepository::find_by_unique`].
pub(super) async fn find_by_unique(
    repo: &SeaCustomerRepository,
    tenant: TenantId,
    field: UniqueField,
    value: &str,
) -> Result<Option<CustomerId>, RepositoryError> {
    let conn = repo.db.tenant_read(tenant).await?;
    let id: Option<Uuid> = customer::Entity::find()
        .select_only()
        .column(customer::Column::Id)
        .filter(customer::Column::TenantId.eq(tenant.0))
        .filter(unique_column(field).eq(value))
        .filter(customer::Column::DeletedAt.is_null())
        .into_tuple()
        .one(&conn)
        .await
        .map_err(map_db_err)?;
    conn.end().await?;
    Ok(id.map(CustomerId))
}

/// [`crm_domain::customer::CustomerRepository::find_many_by_unique`].
pub(super) async fn find_many_by_unique(
    repo: &SeaCustomerRepository,
    tenant: TenantId,
    field: UniqueField,
    values: Vec<String>,
) -> Result<Vec<Customer>, RepositoryError> {
    if values.is_empty() {
        return Ok(Vec::new());
    }
    let conn = repo.db.tenant_read(tenant).await?;
    let rows = customer::Entity::find()
        .filter(customer::Column::TenantId.eq(tenant.0))
        .filter(unique_column(field).is_in(values))
        .filter(customer::Column::DeletedAt.is_null())
        .all(&conn)
        .await
        .map_err(map_db_err)?;
    conn.end().await?;
    rows.into_iter().map(to_domain).collect()
}

/// [`crm_domain::customer::CustomerRepository::find_idempotency`].
pub(super) async fn find_idempotency(
    repo: &SeaCustomerRepository,
    tenant: TenantId,
    key: &str,
) -> Result<Option<IdempotencyRecord>, RepositoryError> {
    let conn = repo.db.tenant_read(tenant).await?;
    let row = idempotency_key::Entity::find_by_id((tenant.0, key.to_owned()))
        .one(&conn)
        .await
        .map_err(map_db_err)?;
    conn.end().await?;
    Ok(row.map(|r| IdempotencyRecord {
        key: r.key,
        fingerprint: r.fingerprint,
        customer_id: CustomerId(r.customer_id),
        created_at: r.created_at,
    }))
}

/// [`crm_domain::customer::CustomerRepository::open_order_refs`]: the oldest first, read on
/// `conn` (the read pool, or the transaction of a deletion that checks under the lock).
pub(super) async fn open_order_refs(
    conn: &impl ConnectionTrait,
    tenant: TenantId,
    id: CustomerId,
    limit: u32,
) -> Result<Vec<String>, RepositoryError> {
    use crate::entity::order;
    let open = open_orders();
    order::Entity::find()
        .select_only()
        .column(order::Column::OrderRef)
        .filter(order::Column::TenantId.eq(tenant.0))
        .filter(order::Column::CustomerId.eq(id.0))
        .filter(open)
        .order_by(order::Column::PlacedAt, Order::Asc)
        .limit(u64::from(limit))
        .into_tuple()
        .all(conn)
        .await
        .map_err(map_db_err)
}

/// [`crm_domain::customer::CustomerRepository::list`]: one page.
pub(super) async fn list(
    repo: &SeaCustomerRepository,
    tenant: TenantId,
    visibility: &Visibility,
    query: &CustomerQuery,
) -> Result<Vec<Customer>, RepositoryError> {
    let conn = repo.db.tenant_read(tenant).await?;
    let backend = repo.db.backend();
    let rows = match super::query_sql::nearest_first(query) {
        Some(near) => nearest_page(&conn, tenant, visibility, backend, query, near).await?,
        None => super::query_sql::page(tenant, visibility, backend, query)
            .all(&conn)
            .await
            .map_err(map_db_err)?,
    };
    conn.end().await?;
    rows.into_iter().map(to_domain).collect()
}

/// Of the page's circle, the share of the radius the first ring of [`nearest_page`] covers.
const FIRST_RING: f64 = 1.0 / 64.0;

/// A page nearest first ([`super::query_sql::nearest_first`]) read in growing rings: the same
/// page over a circle of radius `r`, starting at the cursor's distance plus
/// [`FIRST_RING`] of the radius and adding four times as much each time, until it is full
/// or `r` reaches the query's radius. A full page within `r` is the page of the whole circle:
/// every customer it leaves out is farther than `r`, so it sorts after every row read. The
/// work is that of the customers near the centre (or the cursor), not of the whole circle
/// (a 10 km circle in Jakarta of the bench data holds 22,000 addresses).
async fn nearest_page<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    visibility: &Visibility,
    backend: sea_orm::DatabaseBackend,
    query: &CustomerQuery,
    near: crm_domain::address::Near,
) -> Result<Vec<crate::entity::customer::Model>, RepositoryError> {
    use crm_domain::address::{EARTH_RADIUS_KM, Near};
    use crm_domain::customer::SortValue;
    // The cursor's distance: its key is `-cos(angle)` ([`super::query_sql::distance_key`]).
    let from = match query.after.as_ref().and_then(|p| p.values.first()) {
        Some(SortValue::Real(bits)) => {
            let angle = (-f64::from_bits(*bits)).clamp(-1.0, 1.0).acos();
            angle * EARTH_RADIUS_KM
        }
        _ => 0.0,
    };
    let mut step = near.radius_km * FIRST_RING;
    loop {
        let radius = from + step;
        let whole = radius >= near.radius_km || !radius.is_finite();
        let ring = if whole {
            query.clone()
        } else {
            super::query_sql::with_circle(
                query,
                Near {
                    center: near.center,
                    radius_km: radius,
                },
            )
        };
        let rows = super::query_sql::page(tenant, visibility, backend, &ring)
            .all(conn)
            .await
            .map_err(map_db_err)?;
        if whole || rows.len() >= query.limit as usize {
            return Ok(rows);
        }
        step *= 4.0;
    }
}

/// [`crm_domain::customer::CustomerRepository::aggregates`]: one grouped pass plus two range
/// counts.
pub(super) async fn aggregates(
    repo: &SeaCustomerRepository,
    tenant: TenantId,
    visibility: &Visibility,
    query: &CustomerQuery,
    month_start: chrono::DateTime<chrono::Utc>,
    last_month_start: chrono::DateTime<chrono::Utc>,
) -> Result<crm_domain::customer::CustomerAggregates, RepositoryError> {
    use super::query_sql::filtered;
    let backend = repo.db.backend();
    use sea_orm::sea_query::Expr;
    type Col = customer::Column;
    let conn = repo.db.tenant_read(tenant).await?;
    let db = &conn;
    // One pass: group by every breakdown at once (a few hundred groups at most) and fold
    // the groups here, instead of one scan of the filtered customers per breakdown.
    type Group = (
        String,
        String,
        String,
        Option<Uuid>,
        String,
        i64,
        i64,
        i64,
        i64,
        i64,
    );
    let groups: Vec<Group> = filtered(tenant, visibility, backend, query)
        .select_only()
        .column(Col::Status)
        .column(Col::CustomerType)
        .column(Col::Stage)
        .column(Col::TierId)
        .column(Col::Currency)
        .column_as(Expr::cust("COUNT(*)"), "n")
        .column_as(
            Expr::cust("CAST(SUM(CASE WHEN is_vip THEN 1 ELSE 0 END) AS BIGINT)"),
            "vip",
        )
        .column_as(Expr::cust("CAST(SUM(total_orders) AS BIGINT)"), "orders")
        .column_as(Expr::cust(crate::sums::high("total_spent")), "spent_high")
        .column_as(Expr::cust(crate::sums::low("total_spent")), "spent_low")
        .group_by(Col::Status)
        .group_by(Col::CustomerType)
        .group_by(Col::Stage)
        .group_by(Col::TierId)
        .group_by(Col::Currency)
        .into_tuple()
        .all(db)
        .await
        .map_err(map_db_err)?;
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    fn add<K: PartialEq>(into: &mut Vec<(K, u64)>, key: K, count: u64) {
        match into.iter_mut().find(|(k, _)| *k == key) {
            Some((_, c)) => *c += count,
            None => into.push((key, count)),
        }
    }
    let mut out = crm_domain::customer::CustomerAggregates::default();
    let mut spent_by_currency: Vec<(String, u64, AmountTotal)> = Vec::new();
    for (status, kind, stage, tier, currency, count, vip, orders, high, low) in groups {
        let spent = crate::sums::total(high, low)?;
        let c = n(count);
        out.count += c;
        out.vip += n(vip);
        out.total_orders += n(orders);
        add(&mut out.by_status, status, c);
        add(&mut out.by_type, kind, c);
        add(&mut out.by_stage, stage, c);
        add(&mut out.by_tier, tier.map(TierId), c);
        match spent_by_currency.iter_mut().find(|(k, ..)| *k == currency) {
            Some((_, k, sum)) => {
                *k += c;
                *sum = sum
                    .checked_add(spent)
                    .ok_or_else(|| crate::sums::beyond_range(&currency))?;
            }
            None => spent_by_currency.push((currency, c, spent)),
        }
    }
    // New customers: range scans of the created_at index.
    use sea_orm::PaginatorTrait;
    out.new_this_month = filtered(tenant, visibility, backend, query)
        .filter(Col::CreatedAt.gte(month_start))
        .count(db)
        .await
        .map_err(map_db_err)?;
    out.new_last_month = filtered(tenant, visibility, backend, query)
        .filter(Col::CreatedAt.gte(last_month_start))
        .filter(Col::CreatedAt.lt(month_start))
        .count(db)
        .await
        .map_err(map_db_err)?;
    conn.end().await?;
    for v in [&mut out.by_status, &mut out.by_type, &mut out.by_stage] {
        v.sort();
    }
    spent_by_currency.sort();
    out.by_currency = spent_by_currency;
    Ok(out)
}

/// [`crm_domain::customer::CustomerRepository::count`].
pub(super) async fn count(
    repo: &SeaCustomerRepository,
    tenant: TenantId,
    visibility: &Visibility,
    query: &CustomerQuery,
) -> Result<u64, RepositoryError> {
    use sea_orm::PaginatorTrait;
    let conn = repo.db.tenant_read(tenant).await?;
    let n = super::query_sql::filtered(tenant, visibility, repo.db.backend(), query)
        .count(&conn)
        .await
        .map_err(map_db_err)?;
    conn.end().await?;
    Ok(n)
}
