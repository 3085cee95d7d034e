//! [`PrivacyRepository`] and its [`PrivacyTransaction`] on SeaORM: consent records
//! (`customer_consents`, `customer_consent_events`), erasure records (`customer_erasures`), and
//! the erasure's writes to every table that holds data about a customer, in one transaction.
//! The transaction holds the writer connection (SQLite) or one pooled connection (PostgreSQL,
//! where the customer row is locked `FOR UPDATE`, as order placement and deletion lock it);
//! dropping it uncommitted rolls back.

use async_trait::async_trait;
use crm_domain::customer::Customer;
use crm_domain::ids::{ConsentEventId, ErasureId};
use crm_domain::job::{Job, JobKind};
use crm_domain::privacy::{
    Consent, ConsentEvent, ConsentHistoryQuery, ConsentSource, ErasedCustomer, ErasureRecord,
    PrivacyRepository, PrivacyTransaction,
};
use crm_domain::{CustomerId, RepositoryError, TenantId, UserId};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DatabaseTransaction, EntityTrait,
    Order, QueryFilter, QueryOrder, QuerySelect, Set,
};

use crate::customers::{to_domain as customer_to_domain, write_erased};
use crate::db::Database;
use crate::entity::{
    customer, customer_consent, customer_consent_event, customer_contact, customer_erasure,
    idempotency_key, job, ledger_entry, order, tier_change,
};
use crate::error::{corrupt, map_db_err};
use crate::jobs::job_to_domain;
use crate::orders::raw;

/// Most import jobs an erasure reads back to redact their previews.
const MAX_JOBS_SCANNED: u64 = 1000;

/// Consents and erasures in their tables.
#[derive(Debug, Clone)]
pub struct SeaPrivacyRepository {
    db: Database,
}

impl SeaPrivacyRepository {
    /// Wraps a database.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

fn consent_to_domain(m: customer_consent::Model) -> Result<(CustomerId, Consent), RepositoryError> {
    Ok((
        CustomerId(m.customer_id),
        Consent {
            purpose: m.purpose.parse().map_err(|_| corrupt("consent purpose"))?,
            status: m.status.parse().map_err(|_| corrupt("consent status"))?,
            at: m.at,
            source: ConsentSource::parse(&m.source).map_err(|_| corrupt("consent source"))?,
            recorded_by: m.recorded_by.as_deref().and_then(UserId::parse),
            recorded_at: m.recorded_at,
            event_id: ConsentEventId(m.event_id),
        },
    ))
}

fn event_to_domain(m: customer_consent_event::Model) -> Result<ConsentEvent, RepositoryError> {
    Ok(ConsentEvent {
        id: ConsentEventId(m.id),
        tenant_id: TenantId(m.tenant_id),
        customer_id: CustomerId(m.customer_id),
        purpose: m.purpose.parse().map_err(|_| corrupt("consent purpose"))?,
        status: m.status.parse().map_err(|_| corrupt("consent status"))?,
        at: m.at,
        source: ConsentSource::parse(&m.source).map_err(|_| corrupt("consent source"))?,
        recorded_by: m.recorded_by.as_deref().and_then(UserId::parse),
        recorded_at: m.recorded_at,
    })
}

async fn consents_in<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    customers: Vec<CustomerId>,
) -> Result<Vec<(CustomerId, Consent)>, RepositoryError> {
    customer_consent::Entity::find()
        .filter(customer_consent::Column::TenantId.eq(tenant.0))
        .filter(customer_consent::Column::CustomerId.is_in(customers.into_iter().map(|c| c.0)))
        .order_by(customer_consent::Column::CustomerId, Order::Asc)
        .order_by(customer_consent::Column::Purpose, Order::Asc)
        .all(conn)
        .await
        .map_err(map_db_err)?
        .into_iter()
        .map(consent_to_domain)
        .collect()
}

#[async_trait]
impl PrivacyRepository for SeaPrivacyRepository {
    async fn begin(
        &self,
        tenant: TenantId,
    ) -> Result<Box<dyn PrivacyTransaction>, RepositoryError> {
        let txn = self.db.tenant_tx(tenant).await?;
        Ok(Box::new(SeaPrivacyTransaction {
            txn,
            backend: self.db.backend(),
        }))
    }

    async fn consents(
        &self,
        tenant: TenantId,
        customer: CustomerId,
    ) -> Result<Vec<Consent>, RepositoryError> {
        let conn = self.db.tenant_read(tenant).await?;
        let rows = consents_in(&conn, tenant, vec![customer]).await?;
        conn.end().await?;
        Ok(rows.into_iter().map(|(_, c)| c).collect())
    }

    async fn consents_of(
        &self,
        tenant: TenantId,
        customers: Vec<CustomerId>,
    ) -> Result<Vec<(CustomerId, Consent)>, RepositoryError> {
        let conn = self.db.tenant_read(tenant).await?;
        let rows = consents_in(&conn, tenant, customers).await?;
        conn.end().await?;
        Ok(rows)
    }

    async fn consent_history(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        query: ConsentHistoryQuery,
    ) -> Result<Vec<ConsentEvent>, RepositoryError> {
        use customer_consent_event::Column as C;
        let mut select = customer_consent_event::Entity::find()
            .filter(C::TenantId.eq(tenant.0))
            .filter(C::CustomerId.eq(customer.0));
        if let Some(p) = query.purpose {
            select = select.filter(C::Purpose.eq(p.as_str()));
        }
        if let Some(after) = query.after {
            select = select.filter(
                Condition::any().add(C::At.lt(after.at)).add(
                    Condition::all()
                        .add(C::At.eq(after.at))
                        .add(C::Id.lt(after.id.0)),
                ),
            );
        }
        let conn = self.db.tenant_read(tenant).await?;
        let rows = select
            .order_by(C::At, Order::Desc)
            .order_by(C::Id, Order::Desc)
            .limit(u64::from(query.limit))
            .all(&conn)
            .await
            .map_err(map_db_err)?;
        conn.end().await?;
        rows.into_iter().map(event_to_domain).collect()
    }
}

/// One transaction of [`SeaPrivacyRepository`].
pub struct SeaPrivacyTransaction {
    txn: DatabaseTransaction,
    backend: DatabaseBackend,
}

impl SeaPrivacyTransaction {
    /// `(<text contains needle 1>) OR (<needle 2>) ...` for `column`, with placeholders from
    /// `$first`: `strpos` on PostgreSQL, `instr` on SQLite.
    fn contains_any(&self, column: &str, needles: usize, first: usize) -> String {
        let find = match self.backend {
            DatabaseBackend::Postgres => "strpos",
            _ => "instr",
        };
        (0..needles)
            .map(|i| format!("{find}({column}, ${}) > 0", first + i))
            .collect::<Vec<_>>()
            .join(" OR ")
    }
}

/// A value as it appears inside a JSON document's text: JSON string escaping, no quotes.
fn json_escaped(value: &str) -> String {
    let quoted = serde_json::Value::from(value).to_string();
    quoted
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(&quoted)
        .to_owned()
}

#[async_trait]
impl PrivacyTransaction for SeaPrivacyTransaction {
    async fn lock_customer(
        &mut self,
        tenant: TenantId,
        id: CustomerId,
    ) -> Result<Option<Customer>, RepositoryError> {
        let mut q = customer::Entity::find()
            .filter(customer::Column::TenantId.eq(tenant.0))
            .filter(customer::Column::Id.eq(id.0));
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

    async fn erasure_of(
        &mut self,
        tenant: TenantId,
        id: CustomerId,
    ) -> Result<Option<ErasureRecord>, RepositoryError> {
        let Some(m) = customer_erasure::Entity::find()
            .filter(customer_erasure::Column::TenantId.eq(tenant.0))
            .filter(customer_erasure::Column::CustomerId.eq(id.0))
            .one(&self.txn)
            .await
            .map_err(map_db_err)?
        else {
            return Ok(None);
        };
        Ok(Some(ErasureRecord {
            id: ErasureId(m.id),
            tenant_id: TenantId(m.tenant_id),
            customer_id: CustomerId(m.customer_id),
            erased_at: m.erased_at,
            erased_by: UserId::parse(&m.erased_by).ok_or_else(|| corrupt("erased_by"))?,
        }))
    }

    async fn current_consents(
        &mut self,
        tenant: TenantId,
        id: CustomerId,
    ) -> Result<Vec<Consent>, RepositoryError> {
        Ok(consents_in(&self.txn, tenant, vec![id])
            .await?
            .into_iter()
            .map(|(_, c)| c)
            .collect())
    }

    async fn append_consent(
        &mut self,
        e: &ConsentEvent,
        current: bool,
    ) -> Result<(), RepositoryError> {
        let recorded_by = e.recorded_by.as_ref().map(|u| u.as_str().to_owned());
        customer_consent_event::Entity::insert(customer_consent_event::ActiveModel {
            tenant_id: Set(e.tenant_id.0),
            id: Set(e.id.0),
            customer_id: Set(e.customer_id.0),
            purpose: Set(e.purpose.as_str().to_owned()),
            status: Set(e.status.as_str().to_owned()),
            at: Set(e.at),
            source: Set(e.source.as_str().to_owned()),
            recorded_by: Set(recorded_by.clone()),
            recorded_at: Set(e.recorded_at),
        })
        .exec_without_returning(&self.txn)
        .await
        .map_err(map_db_err)?;
        if current {
            use customer_consent::Column as C;
            customer_consent::Entity::insert(customer_consent::ActiveModel {
                tenant_id: Set(e.tenant_id.0),
                customer_id: Set(e.customer_id.0),
                purpose: Set(e.purpose.as_str().to_owned()),
                status: Set(e.status.as_str().to_owned()),
                at: Set(e.at),
                source: Set(e.source.as_str().to_owned()),
                recorded_by: Set(recorded_by),
                recorded_at: Set(e.recorded_at),
                event_id: Set(e.id.0),
            })
            .on_conflict(
                OnConflict::columns([C::TenantId, C::CustomerId, C::Purpose])
                    .update_columns([
                        C::Status,
                        C::At,
                        C::Source,
                        C::RecordedBy,
                        C::RecordedAt,
                        C::EventId,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&self.txn)
            .await
            .map_err(map_db_err)?;
        }
        Ok(())
    }

    async fn anonymise_customer(
        &mut self,
        erased: &ErasedCustomer,
    ) -> Result<Customer, RepositoryError> {
        write_erased(&self.txn, erased).await
    }

    async fn clear_order_metadata(
        &mut self,
        tenant: TenantId,
        id: CustomerId,
    ) -> Result<u64, RepositoryError> {
        let done = order::Entity::update_many()
            .col_expr(
                order::Column::Metadata,
                Expr::value(serde_json::Value::Object(Default::default())),
            )
            .col_expr(
                order::Column::Version,
                Expr::col(order::Column::Version).add(1),
            )
            .filter(order::Column::TenantId.eq(tenant.0))
            .filter(order::Column::CustomerId.eq(id.0))
            .filter(Expr::cust("CAST(metadata AS TEXT) <> '{}'"))
            .exec(&self.txn)
            .await
            .map_err(map_db_err)?;
        Ok(done.rows_affected)
    }

    async fn redact_loyalty_reasons(
        &mut self,
        tenant: TenantId,
        id: CustomerId,
        text: &str,
    ) -> Result<u64, RepositoryError> {
        let ledger = ledger_entry::Entity::update_many()
            .col_expr(ledger_entry::Column::Reason, Expr::value(text))
            .filter(ledger_entry::Column::TenantId.eq(tenant.0))
            .filter(ledger_entry::Column::CustomerId.eq(id.0))
            .filter(ledger_entry::Column::OrderId.is_null())
            .filter(ledger_entry::Column::Reason.ne(text))
            .exec(&self.txn)
            .await
            .map_err(map_db_err)?;
        let tiers = tier_change::Entity::update_many()
            .col_expr(tier_change::Column::Reason, Expr::value(text))
            .filter(tier_change::Column::TenantId.eq(tenant.0))
            .filter(tier_change::Column::CustomerId.eq(id.0))
            .filter(tier_change::Column::Actor.is_not_null())
            .filter(tier_change::Column::Reason.ne(text))
            .exec(&self.txn)
            .await
            .map_err(map_db_err)?;
        Ok(ledger.rows_affected + tiers.rows_affected)
    }

    async fn anonymise_addresses(
        &mut self,
        tenant: TenantId,
        id: CustomerId,
        text: &str,
    ) -> Result<u64, RepositoryError> {
        use crate::entity::customer_address::{Column as A, Entity};
        let cleared: Option<String> = None;
        let no_position: Option<f64> = None;
        let result = Entity::update_many()
            .col_expr(A::Line1, Expr::value(text))
            .col_expr(A::Label, Expr::value(cleared.clone()))
            .col_expr(A::RecipientName, Expr::value(cleared.clone()))
            .col_expr(A::Phone, Expr::value(cleared.clone()))
            .col_expr(A::Line2, Expr::value(cleared.clone()))
            .col_expr(A::District, Expr::value(cleared.clone()))
            .col_expr(A::PostalCode, Expr::value(cleared.clone()))
            .col_expr(A::DeliveryNotes, Expr::value(cleared))
            .col_expr(A::Latitude, Expr::value(no_position))
            .col_expr(A::Longitude, Expr::value(no_position))
            .col_expr(A::UnitX, Expr::value(no_position))
            .col_expr(A::UnitY, Expr::value(no_position))
            .col_expr(A::UnitZ, Expr::value(no_position))
            .col_expr(A::Version, Expr::col(A::Version).add(1))
            .filter(A::TenantId.eq(tenant.0))
            .filter(A::CustomerId.eq(id.0))
            .exec(&self.txn)
            .await
            .map_err(map_db_err)?;
        Ok(result.rows_affected)
    }

    async fn anonymise_contacts(
        &mut self,
        tenant: TenantId,
        id: CustomerId,
        name: &str,
    ) -> Result<u64, RepositoryError> {
        use customer_contact::Column as C;
        let none = || Expr::value(Option::<String>::None);
        Ok(customer_contact::Entity::update_many()
            .col_expr(C::Name, Expr::value(name))
            .col_expr(C::JobTitle, none())
            .col_expr(C::Department, none())
            .col_expr(C::Email, none())
            .col_expr(C::Phone, none())
            .col_expr(C::MobilePhone, none())
            .col_expr(C::Roles, Expr::value(""))
            .col_expr(C::PreferredChannel, none())
            .col_expr(C::Language, none())
            .col_expr(C::Notes, none())
            .col_expr(C::PortalAccess, Expr::value(false))
            .col_expr(C::SearchText, Expr::value(name.to_lowercase()))
            .col_expr(C::SearchPhones, Expr::value(""))
            .col_expr(C::Version, Expr::col(C::Version).add(1))
            .filter(C::TenantId.eq(tenant.0))
            .filter(C::CustomerId.eq(id.0))
            .exec(&self.txn)
            .await
            .map_err(map_db_err)?
            .rows_affected)
    }

    async fn forget_idempotency_keys(
        &mut self,
        tenant: TenantId,
        id: CustomerId,
    ) -> Result<u64, RepositoryError> {
        let done = idempotency_key::Entity::delete_many()
            .filter(idempotency_key::Column::TenantId.eq(tenant.0))
            .filter(idempotency_key::Column::CustomerId.eq(id.0))
            .exec(&self.txn)
            .await
            .map_err(map_db_err)?;
        Ok(done.rows_affected)
    }

    async fn import_jobs_mentioning(
        &mut self,
        tenant: TenantId,
        needles: Vec<String>,
    ) -> Result<Vec<Job>, RepositoryError> {
        if needles.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT id FROM jobs WHERE tenant_id = $1 AND kind IN ('{}', '{}') \
             AND result IS NOT NULL AND ({}) ORDER BY created_at, id LIMIT {MAX_JOBS_SCANNED}",
            JobKind::ImportCustomers.as_str(),
            JobKind::ImportOrders.as_str(),
            self.contains_any("CAST(result AS TEXT)", needles.len(), 2)
        );
        let mut values: Vec<sea_orm::Value> = vec![tenant.0.into()];
        values.extend(needles.iter().map(|n| json_escaped(n).into()));
        let ids: Vec<uuid::Uuid> = self
            .txn
            .query_all_raw(raw(self.backend, &sql, values))
            .await
            .map_err(map_db_err)?
            .into_iter()
            .map(|r| r.try_get_by_index::<uuid::Uuid>(0).map_err(map_db_err))
            .collect::<Result<_, _>>()?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        job::Entity::find()
            .filter(job::Column::TenantId.eq(tenant.0))
            .filter(job::Column::Id.is_in(ids))
            .order_by(job::Column::CreatedAt, Order::Asc)
            .order_by(job::Column::Id, Order::Asc)
            .all(&self.txn)
            .await
            .map_err(map_db_err)?
            .into_iter()
            .map(job_to_domain)
            .collect()
    }

    async fn save_job_result(&mut self, j: &Job) -> Result<(), RepositoryError> {
        job::Entity::update_many()
            .col_expr(job::Column::Result, Expr::value(j.result_json()))
            .filter(job::Column::TenantId.eq(j.tenant_id.0))
            .filter(job::Column::Id.eq(j.id.0))
            .exec(&self.txn)
            .await
            .map_err(map_db_err)?;
        Ok(())
    }

    async fn redact_import_errors(
        &mut self,
        tenant: TenantId,
        needles: Vec<String>,
        text: &str,
    ) -> Result<u64, RepositoryError> {
        if needles.is_empty() {
            return Ok(0);
        }
        let sql = format!(
            "UPDATE import_errors SET reason = $1 WHERE tenant_id = $2 AND ({})",
            self.contains_any("reason", needles.len(), 3)
        );
        let mut values: Vec<sea_orm::Value> = vec![text.into(), tenant.0.into()];
        values.extend(needles.into_iter().map(Into::into));
        let done = self
            .txn
            .execute_raw(raw(self.backend, &sql, values))
            .await
            .map_err(map_db_err)?;
        Ok(done.rows_affected())
    }

    async fn insert_erasure(&mut self, r: &ErasureRecord) -> Result<(), RepositoryError> {
        customer_erasure::Entity::insert(customer_erasure::ActiveModel {
            tenant_id: Set(r.tenant_id.0),
            id: Set(r.id.0),
            customer_id: Set(r.customer_id.0),
            erased_at: Set(r.erased_at),
            erased_by: Set(r.erased_by.as_str().to_owned()),
        })
        .exec_without_returning(&self.txn)
        .await
        .map_err(map_db_err)?;
        Ok(())
    }

    async fn append_events(
        &mut self,
        events: &[crm_domain::event::NewEvent],
    ) -> Result<(), RepositoryError> {
        crate::events::append(&self.txn, events).await
    }

    async fn commit(self: Box<Self>) -> Result<(), RepositoryError> {
        self.txn.commit().await.map_err(map_db_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needles_are_searched_as_json_text() {
        assert_eq!(json_escaped("budi@example.com"), "budi@example.com");
        assert_eq!(json_escaped(r#"a"b\c"#), r#"a\"b\\c"#);
    }
}
