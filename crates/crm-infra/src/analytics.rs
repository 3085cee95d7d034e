//! [`AnalyticsRepository`] on SeaORM: RFM scoring as two SQL statements (window functions do the
//! quintiles in the database; no customer is loaded), purchase histories aggregated per day by
//! the database, and CLV models.

use std::str::FromStr;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use crm_domain::access::Visibility;
use crm_domain::analytics::clv::{BgNbdParams, GammaGammaParams, TimeUnit};
use crm_domain::analytics::rfm::RfmSegment;
use crm_domain::analytics::service::end_of_day;
use crm_domain::analytics::{AnalyticsRepository, ClvModel, PurchaseHistory, RfmSegmentTotals};
use crm_domain::{CustomerId, RepositoryError, TenantId};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnectionTrait, DatabaseBackend, EntityTrait, Set};

use crate::db::Database;
use crate::entity::clv_model;
use crate::error::{corrupt, map_db_err};
use crate::orders::raw;

/// The SQL condition on the customer row (columns prefixed `prefix`, e.g. `c.`) that keeps the
/// customers inside `visibility`: empty for [`Visibility::All`], else
/// `AND <prefix>assigned_to = $n` with the user bound as the next parameter of `values` (so it
/// must come after every placeholder already bound, for SQLite's positional `?`).
fn assigned_to(visibility: &Visibility, prefix: &str, values: &mut Vec<sea_orm::Value>) -> String {
    match visibility {
        Visibility::All => String::new(),
        Visibility::AssignedTo(user) => {
            values.push(user.as_str().into());
            format!("AND {prefix}assigned_to = ${}", values.len())
        }
    }
}

/// Analytics on the `customers`, `orders` and `clv_models` tables. The tenant-wide work (the
/// RFM recompute, a CLV fit's purchase history) runs on the job connections
/// ([`Database::for_jobs`]), with the jobs' statement time limit.
#[derive(Debug, Clone)]
pub struct SeaAnalyticsRepository {
    db: Database,
    jobs: Database,
}

impl SeaAnalyticsRepository {
    /// Wraps a database.
    pub fn new(db: Database) -> Self {
        Self {
            jobs: db.for_jobs(),
            db,
        }
    }
}

/// `CASE r * 10 + f WHEN 11 THEN 'lost' ... END`: the domain's R×F table compiled to SQL.
fn segment_case() -> String {
    let mut sql = String::from("CASE s.r * 10 + s.f");
    for segment in RfmSegment::ALL {
        for (r, f) in segment.cells() {
            sql.push_str(&format!(" WHEN {} THEN '{}'", r * 10 + f, segment.as_str()));
        }
    }
    sql.push_str(" END");
    sql
}

/// Whole days from `last_order_at` to `reference` (written into the SQL as a literal: it is
/// repeated, and SQLite's positional parameters cannot be reused), rounded down, as the
/// domain's `rfm::recency_days`. PostgreSQL: exact interval arithmetic; SQLite: integer
/// milliseconds (its date functions keep milliseconds), floored for negative differences too.
fn recency_days(backend: DatabaseBackend, reference: DateTime<Utc>) -> String {
    let literal = format!("'{}'", reference.format("%Y-%m-%dT%H:%M:%S%.6fZ"));
    let param = literal.as_str();
    match backend {
        DatabaseBackend::Postgres => {
            format!("FLOOR(EXTRACT(EPOCH FROM ({param}::timestamptz - last_order_at)) / 86400)")
        }
        _ => {
            let ms = |x: &str| {
                format!(
                    "(CAST(strftime('%s', {x}) AS INTEGER) * 1000 + CAST(substr(strftime('%f', {x}), 4, 3) AS INTEGER))"
                )
            };
            let d = format!("({} - {})", ms(param), ms("last_order_at"));
            format!(
                "(CASE WHEN {d} >= 0 THEN {d} / 86400000 ELSE -((-{d} + 86399999) / 86400000) END)"
            )
        }
    }
}

#[async_trait]
impl AnalyticsRepository for SeaAnalyticsRepository {
    async fn recompute_rfm(
        &self,
        tenant: TenantId,
        reference: DateTime<Utc>,
    ) -> Result<u64, RepositoryError> {
        let backend = self.db.backend();
        let txn = self.jobs.tenant_tx(tenant).await?;
        txn.execute_raw(raw(
            backend,
            "UPDATE customers SET rfm_r = NULL, rfm_f = NULL, rfm_m = NULL, rfm_segment = NULL, \
             rfm_computed_at = NULL WHERE tenant_id = $1 AND rfm_segment IS NOT NULL",
            vec![tenant.0.into()],
        ))
        .await
        .map_err(map_db_err)?;
        let sql = format!(
            "UPDATE customers SET rfm_r = s.r, rfm_f = s.f, rfm_m = s.m, rfm_segment = {case}, \
             rfm_computed_at = $1 \
             FROM (SELECT id, \
                NTILE(5) OVER (ORDER BY {recency} DESC, id) AS r, \
                NTILE(5) OVER (ORDER BY total_orders, id) AS f, \
                NTILE(5) OVER (ORDER BY total_spent, id) AS m \
              FROM customers WHERE tenant_id = $2 AND deleted_at IS NULL AND total_orders > 0 \
                AND last_order_at IS NOT NULL) AS s \
             WHERE customers.tenant_id = $3 AND customers.id = s.id",
            case = segment_case(),
            recency = recency_days(backend, reference),
        );
        let done = txn
            .execute_raw(raw(
                backend,
                &sql,
                vec![reference.into(), tenant.0.into(), tenant.0.into()],
            ))
            .await
            .map_err(map_db_err)?;
        txn.commit().await.map_err(map_db_err)?;
        Ok(done.rows_affected())
    }

    async fn rfm_totals(
        &self,
        tenant: TenantId,
        visibility: &Visibility,
    ) -> Result<(Vec<RfmSegmentTotals>, Option<DateTime<Utc>>), RepositoryError> {
        let backend = self.db.backend();
        let mut values = vec![tenant.0.into()];
        let assigned = assigned_to(visibility, "", &mut values);
        let sql = format!(
            "SELECT rfm_segment, currency, COUNT(*), {high}, {low}, MAX(rfm_computed_at) \
             FROM customers WHERE tenant_id = $1 AND deleted_at IS NULL {assigned} \
             AND rfm_segment IS NOT NULL GROUP BY rfm_segment, currency \
             ORDER BY rfm_segment, currency",
            high = crate::sums::high("total_spent"),
            low = crate::sums::low("total_spent"),
        );
        let conn = self.db.tenant_read(tenant).await?;
        let rows = conn
            .query_all_raw(raw(backend, &sql, values))
            .await
            .map_err(map_db_err)?;
        conn.end().await?;
        let mut out: Vec<RfmSegmentTotals> = Vec::new();
        let mut computed: Option<DateTime<Utc>> = None;
        for row in rows {
            let segment: String = row.try_get_by_index(0).map_err(map_db_err)?;
            let segment = RfmSegment::from_str(&segment).map_err(|_| corrupt("rfm_segment"))?;
            let currency: String = row.try_get_by_index(1).map_err(map_db_err)?;
            let count: i64 = row.try_get_by_index(2).map_err(map_db_err)?;
            let high: i64 = row.try_get_by_index(3).map_err(map_db_err)?;
            let low: i64 = row.try_get_by_index(4).map_err(map_db_err)?;
            let sum = crate::sums::total(high, low)?;
            let at: Option<DateTime<Utc>> = row.try_get_by_index(5).map_err(map_db_err)?;
            computed = computed.max(at);
            match out.last_mut() {
                Some(last) if last.segment == segment => {
                    last.customers += count as u64;
                    last.revenue.push((currency, sum));
                }
                _ => out.push(RfmSegmentTotals {
                    segment,
                    customers: count as u64,
                    revenue: vec![(currency, sum)],
                }),
            }
        }
        Ok((out, computed))
    }

    async fn purchase_days(
        &self,
        tenant: TenantId,
        visibility: &Visibility,
        currency: &str,
        until: NaiveDate,
        customer: Option<CustomerId>,
    ) -> Result<Vec<PurchaseHistory>, RepositoryError> {
        let backend = self.db.backend();
        let day = match backend {
            DatabaseBackend::Postgres => "to_char(o.placed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
            _ => "date(o.placed_at)",
        };
        let mut values = vec![tenant.0.into(), currency.into(), end_of_day(until).into()];
        let one = if let Some(c) = customer {
            values.push(c.0.into());
            "AND o.customer_id = $4"
        } else {
            ""
        };
        let assigned = assigned_to(visibility, "c.", &mut values);
        let sql = format!(
            "SELECT o.customer_id, {day} AS day, CAST(SUM(o.total_amount) AS BIGINT) \
             FROM orders o JOIN customers c ON c.tenant_id = o.tenant_id AND c.id = o.customer_id \
             WHERE o.tenant_id = $1 AND o.status = 'completed' AND o.currency = $2 \
             AND o.placed_at < $3 AND c.deleted_at IS NULL {one} {assigned} \
             GROUP BY o.customer_id, day ORDER BY o.customer_id, day"
        );
        // One customer's history is a request's read; the whole tenant's is a CLV fit's.
        let conn = if customer.is_some() {
            self.db.tenant_read(tenant).await?
        } else {
            self.jobs.tenant_read(tenant).await?
        };
        let rows = conn
            .query_all_raw(raw(backend, &sql, values))
            .await
            .map_err(map_db_err)?;
        conn.end().await?;
        let mut out: Vec<PurchaseHistory> = Vec::new();
        for row in rows {
            let id: uuid::Uuid = row.try_get_by_index(0).map_err(map_db_err)?;
            let day: String = row.try_get_by_index(1).map_err(map_db_err)?;
            let day = NaiveDate::parse_from_str(&day, "%Y-%m-%d").map_err(|_| corrupt("day"))?;
            let total: i64 = row.try_get_by_index(2).map_err(map_db_err)?;
            let value = total as f64 / 10_000.0;
            match out.last_mut() {
                Some(h) if h.customer_id.0 == id => h.days.push((day, value)),
                _ => out.push(PurchaseHistory {
                    customer_id: CustomerId(id),
                    days: vec![(day, value)],
                }),
            }
        }
        Ok(out)
    }

    async fn save_model(&self, m: &ClvModel) -> Result<(), RepositoryError> {
        let row = clv_model::ActiveModel {
            tenant_id: Set(m.tenant_id.0),
            calibration_end: Set(m.calibration_end),
            time_unit: Set(m.time_unit.as_str().to_owned()),
            r: Set(m.bgnbd.r),
            alpha: Set(m.bgnbd.alpha),
            a: Set(m.bgnbd.a),
            b: Set(m.bgnbd.b),
            bgnbd_log_likelihood: Set(m.bgnbd_log_likelihood),
            customers: Set(m.customers as i64),
            p: Set(m.gamma_gamma.map(|g| g.p)),
            q: Set(m.gamma_gamma.map(|g| g.q)),
            gamma: Set(m.gamma_gamma.map(|g| g.gamma)),
            gamma_gamma_log_likelihood: Set(m.gamma_gamma_log_likelihood),
            repeat_customers: Set(m.repeat_customers as i64),
            fit_ms: Set(m.fit_ms as i64),
            fitted_at: Set(m.fitted_at),
        };
        use clv_model::Column as C;
        let conn = self.db.tenant_write(m.tenant_id).await?;
        clv_model::Entity::insert(row)
            .on_conflict(
                OnConflict::column(C::TenantId)
                    .update_columns([
                        C::CalibrationEnd,
                        C::TimeUnit,
                        C::R,
                        C::Alpha,
                        C::A,
                        C::B,
                        C::BgnbdLogLikelihood,
                        C::Customers,
                        C::P,
                        C::Q,
                        C::Gamma,
                        C::GammaGammaLogLikelihood,
                        C::RepeatCustomers,
                        C::FitMs,
                        C::FittedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&conn)
            .await
            .map_err(map_db_err)?;
        conn.end().await?;
        Ok(())
    }

    async fn find_model(&self, tenant: TenantId) -> Result<Option<ClvModel>, RepositoryError> {
        let conn = self.db.tenant_read(tenant).await?;
        let found = clv_model::Entity::find_by_id(tenant.0)
            .one(&conn)
            .await
            .map_err(map_db_err)?;
        conn.end().await?;
        let Some(m) = found else {
            return Ok(None);
        };
        let gamma_gamma = match (m.p, m.q, m.gamma) {
            (Some(p), Some(q), Some(gamma)) => Some(GammaGammaParams { p, q, gamma }),
            _ => None,
        };
        Ok(Some(ClvModel {
            tenant_id: tenant,
            calibration_end: m.calibration_end,
            time_unit: TimeUnit::from_str(&m.time_unit).map_err(|_| corrupt("time_unit"))?,
            bgnbd: BgNbdParams {
                r: m.r,
                alpha: m.alpha,
                a: m.a,
                b: m.b,
            },
            bgnbd_log_likelihood: m.bgnbd_log_likelihood,
            customers: m.customers as u64,
            gamma_gamma,
            gamma_gamma_log_likelihood: m.gamma_gamma_log_likelihood,
            repeat_customers: m.repeat_customers as u64,
            fit_ms: m.fit_ms as u64,
            fitted_at: m.fitted_at,
            fit: None,
        }))
    }
}
