//! [`CustomerRepository`] on SeaORM: one code path for PostgreSQL and SQLite.

use std::str::FromStr;

use async_trait::async_trait;
use chrono::Datelike;
use crm_domain::customer::LoyaltyStatus;
use crm_domain::customer::{
    Customer, CustomerProfile, CustomerQuery, CustomerRepository, DeletionChange,
    IdempotencyRecord, NewCustomer, ProfileUpdate, PurchaseStats, UniqueField, customer_code,
};
use crm_domain::ids::TierId;
use crm_domain::values::{
    Amount, CountryCode, CurrencyCode, EmailAddress, LanguageCode, PhoneNumber, TimeZoneName,
    WebUrl,
};
use crm_domain::{CustomerId, RepositoryError, TenantId, UserId};
use rust_decimal::Decimal;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ActiveValue::NotSet, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, EntityTrait,
    Order, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};
use uuid::Uuid;

use crate::db::Database;
use crate::entity::{customer, customer_tag, idempotency_key};
use crate::error::map_db_err;

/// Customers in the `customers` and `customer_tags` tables.
#[derive(Debug, Clone)]
pub struct SeaCustomerRepository {
    db: Database,
    bulk_rows: crate::db::BulkRows,
}

impl SeaCustomerRepository {
    /// Wraps a database.
    pub fn new(db: Database) -> Self {
        Self {
            db,
            bulk_rows: Default::default(),
        }
    }

    async fn begin(&self) -> Result<DatabaseTransaction, RepositoryError> {
        self.db.write.begin().await.map_err(map_db_err)
    }
}

/// Advances a per-tenant counter by `by` (a new counter starts at 0) inside `txn` and returns
/// its new value: the values taken are `new - by + 1 ..= new`. The upsert locks the counter row
/// until the transaction ends, so concurrent creates get distinct, increasing values; a
/// rolled-back transaction leaves the counter as it was.
async fn next_counter(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    name: &str,
    by: i64,
) -> Result<i64, RepositoryError> {
    #[derive(sea_orm::DeriveIden)]
    enum TenantCounters {
        Table,
        TenantId,
        Name,
        Value,
    }
    let stmt = Query::insert()
        .into_table(TenantCounters::Table)
        .columns([
            TenantCounters::TenantId,
            TenantCounters::Name,
            TenantCounters::Value,
        ])
        .values([tenant.0.into(), name.into(), by.into()])
        .map_err(|e| RepositoryError::Other(e.to_string()))?
        .on_conflict(
            OnConflict::columns([TenantCounters::TenantId, TenantCounters::Name])
                .value(
                    TenantCounters::Value,
                    Expr::col((TenantCounters::Table, TenantCounters::Value)).add(by),
                )
                .to_owned(),
        )
        .returning_col(TenantCounters::Value)
        .to_owned();
    let row = txn
        .query_one(&stmt)
        .await
        .map_err(map_db_err)?
        .ok_or_else(|| RepositoryError::Other("counter upsert returned no row".into()))?;
    row.try_get_by_index::<i64>(0).map_err(map_db_err)
}

/// A percentage (at most 2 decimals) as an integer count of hundredths of a percent.
pub(crate) fn percent_to_bp(p: Decimal) -> i64 {
    rust_decimal::prelude::ToPrimitive::to_i64(&(p * Decimal::ONE_HUNDRED).trunc()).unwrap_or(0)
}

/// Hundredths of a percent back to a percentage.
pub(crate) fn bp_to_percent(bp: i64) -> Decimal {
    Decimal::new(bp, 2).normalize()
}

/// Typo-tolerance terms as stored in `customers.search_terms`: separated by spaces (terms are
/// letters and digits only).
fn terms_column(terms: std::collections::BTreeSet<String>) -> String {
    terms.into_iter().collect::<Vec<_>>().join(" ")
}

/// The active model with every profile column and the search document set, every other column
/// `NotSet`.
fn profile_columns(p: &CustomerProfile, code: &str) -> customer::ActiveModel {
    let doc = crm_domain::customer::search::search_document(p, code);
    customer::ActiveModel {
        search_text: Set(doc.text),
        search_phones: Set(doc.phones),
        search_terms: Set(terms_column(doc.terms)),
        name: Set(p.name.clone()),
        display_name: Set(p.display_name.clone()),
        email: Set(p.email.as_ref().map(|e| e.as_str().to_owned())),
        phone: Set(p.phone.as_ref().map(|e| e.as_str().to_owned())),
        mobile_phone: Set(p.mobile_phone.as_ref().map(|e| e.as_str().to_owned())),
        customer_type: Set(p.customer_type.as_str().to_owned()),
        company: Set(p.company.clone()),
        company_legal_name: Set(p.company_legal_name.clone()),
        tax_id: Set(p.tax_id.clone()),
        business_license: Set(p.business_license.clone()),
        job_title: Set(p.job_title.clone()),
        website: Set(p.website.as_ref().map(|w| w.as_str().to_owned())),
        industry: Set(p.industry.clone()),
        company_size: Set(p.company_size.clone()),
        annual_revenue: Set(p.annual_revenue.map(|a| a.to_scaled())),
        status: Set(p.status.as_str().to_owned()),
        stage: Set(p.stage.as_str().to_owned()),
        source: Set(p.source.map(|s| s.as_str().to_owned())),
        assigned_to: Set(p.assigned_to.as_ref().map(|u| u.as_str().to_owned())),
        currency: Set(p.currency.as_str().to_owned()),
        country: Set(p.country.map(|c| c.as_str().to_owned())),
        language: Set(p.language.as_ref().map(|l| l.as_str().to_owned())),
        timezone: Set(p.timezone.as_ref().map(|t| t.as_str().to_owned())),
        birth_date: Set(p.birth_date),
        gender: Set(p.gender.map(|g| g.as_str().to_owned())),
        credit_limit: Set(p.credit_limit.to_scaled()),
        payment_terms_days: Set(p.payment_terms_days),
        tags: Set(serde_json::Value::from(
            p.tags.iter().cloned().collect::<Vec<_>>(),
        )),
        metadata: Set(serde_json::Value::Object(p.metadata.clone())),
        notes: Set(p.notes.clone()),
        internal_notes: Set(p.internal_notes.clone()),
        is_vip: Set(p.is_vip),
        is_blacklisted: Set(p.is_blacklisted),
        blacklist_reason: Set(p.blacklist_reason.clone()),
        referred_by: Set(p.referred_by.map(|c| c.0)),
        acquisition_cost: Set(p.acquisition_cost.map(|a| a.to_scaled())),
        external_ref: Set(p.external_ref.clone()),
        last_contact_at: Set(p.last_contact_at),
        next_follow_up_at: Set(p.next_follow_up_at),
        discount_bp: Set(p.discount_percent.map(percent_to_bp)),
        sort_name: Set(crm_domain::customer::sort_name(&p.name)),
        tier_id: NotSet,
        tier_since: NotSet,
        loyalty_points: NotSet,
        rfm_r: NotSet,
        rfm_f: NotSet,
        rfm_m: NotSet,
        rfm_segment: NotSet,
        rfm_computed_at: NotSet,
        tenant_id: NotSet,
        id: NotSet,
        customer_number: NotSet,
        customer_code: NotSet,
        total_orders: NotSet,
        total_spent: NotSet,
        average_order_value: NotSet,
        first_order_at: NotSet,
        last_order_at: NotSet,
        created_by: NotSet,
        updated_by: NotSet,
        created_at: NotSet,
        updated_at: NotSet,
        deleted_at: NotSet,
        version: NotSet,
    }
}

/// The full row of a new customer: version 1, no tier, no points, the given statistics.
fn new_row(
    new: &NewCustomer,
    number: i64,
    code: &str,
    stats: &PurchaseStats,
) -> customer::ActiveModel {
    let mut row = profile_columns(&new.profile, code);
    row.tenant_id = Set(new.tenant_id.0);
    row.id = Set(new.id.0);
    row.customer_number = Set(number);
    row.customer_code = Set(code.to_owned());
    row.total_orders = Set(stats.total_orders);
    row.total_spent = Set(stats.total_spent.to_scaled());
    row.average_order_value = Set(stats.average_order_value.to_scaled());
    row.first_order_at = Set(stats.first_order_at);
    row.last_order_at = Set(stats.last_order_at);
    row.created_by = Set(new.created_by.as_ref().map(|u| u.as_str().to_owned()));
    row.updated_by = Set(new.created_by.as_ref().map(|u| u.as_str().to_owned()));
    row.created_at = Set(new.created_at);
    row.updated_at = Set(new.created_at);
    row.deleted_at = Set(None);
    row.version = Set(1);
    row.tier_id = Set(None);
    row.tier_since = Set(None);
    row.loyalty_points = Set(0);
    row
}

/// Rows per multi-row `INSERT` of customers: about 60 columns each stays under SQLite's 32,766
/// bound parameters.
const CUSTOMER_ROWS_PER_INSERT: usize = 400;
/// Rows per multi-row `INSERT` of tags (3 columns each).
const SMALL_ROWS_PER_INSERT: usize = 5_000;

impl SeaCustomerRepository {
    /// Stores many new customers of one tenant in one transaction, with multi-row inserts: the
    /// bulk path of imports and of the benchmark loader. Customer numbers are taken in the order
    /// given, codes in that order within each creation year; tags and search documents are written
    /// as by [`CustomerRepository::create`]. `stats` gives each customer's purchase statistics
    /// (the loader's way to load a spending history without order rows; imports pass zeros).
    /// All or nothing. On PostgreSQL, planner statistics are refreshed as the rows written by
    /// this repository cross 10^3..10^6.
    ///
    /// # Errors
    /// [`RepositoryError::Conflict`] naming the field when a unique value (e-mail, phone,
    /// external ref) is already taken or repeated in `rows`; a customer of another tenant is an
    /// [`RepositoryError::Other`].
    pub async fn insert_loaded(
        &self,
        tenant: TenantId,
        rows: &[(NewCustomer, PurchaseStats)],
    ) -> Result<(), RepositoryError> {
        if rows.is_empty() {
            return Ok(());
        }
        let txn = self.begin().await?;
        insert_rows(&txn, tenant, rows).await?;
        self.bulk_rows
            .add(
                &txn,
                self.db.backend(),
                rows.len(),
                "customers, customer_tags",
            )
            .await?;
        txn.commit().await.map_err(map_db_err)
    }
}

/// New customers (no purchases yet) through [`insert_rows`] inside `txn`: the bulk path of
/// imports, counted in `bulk_rows`.
pub(crate) async fn insert_new(
    txn: &DatabaseTransaction,
    backend: sea_orm::DatabaseBackend,
    bulk_rows: &crate::db::BulkRows,
    tenant: TenantId,
    customers: &[NewCustomer],
) -> Result<(), RepositoryError> {
    let rows: Vec<(NewCustomer, PurchaseStats)> = customers
        .iter()
        .map(|c| (c.clone(), PurchaseStats::default()))
        .collect();
    insert_rows(txn, tenant, &rows).await?;
    bulk_rows
        .add(txn, backend, rows.len(), "customers, customer_tags")
        .await
}

/// The multi-row insert of [`SeaCustomerRepository::insert_loaded`] inside `txn`.
pub(crate) async fn insert_rows(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    rows: &[(NewCustomer, PurchaseStats)],
) -> Result<(), RepositoryError> {
    if rows.is_empty() {
        return Ok(());
    }
    if rows.iter().any(|(c, _)| c.tenant_id != tenant) {
        return Err(RepositoryError::Other(
            "a bulk insert holds one tenant's customers".into(),
        ));
    }
    let count = i64::try_from(rows.len()).unwrap_or(i64::MAX);
    let mut number = next_counter(txn, tenant, "customer_number", count).await? - count;
    let mut per_year = std::collections::BTreeMap::<i32, i64>::new();
    for (c, _) in rows {
        *per_year.entry(c.created_at.year()).or_default() += 1;
    }
    let mut sequence = std::collections::BTreeMap::new();
    for (year, n) in per_year {
        let last = next_counter(txn, tenant, &format!("customer_code:{year}"), n).await?;
        sequence.insert(year, last - n);
    }
    for chunk in rows.chunks(CUSTOMER_ROWS_PER_INSERT) {
        let mut customers = Vec::with_capacity(chunk.len());
        let mut tags = Vec::new();
        for (c, stats) in chunk {
            number += 1;
            let seq = sequence.entry(c.created_at.year()).or_default();
            *seq += 1;
            let code = customer_code(c.created_at.year(), *seq);
            customers.push(new_row(c, number, &code, stats));
            tags.extend(c.profile.tags.iter().map(|t| customer_tag::ActiveModel {
                tenant_id: Set(tenant.0),
                customer_id: Set(c.id.0),
                tag: Set(t.clone()),
            }));
        }
        // Customers first: tags reference them.
        customer::Entity::insert_many(customers)
            .exec_without_returning(txn)
            .await
            .map_err(map_db_err)?;
        for part in tags.chunks(SMALL_ROWS_PER_INSERT) {
            customer_tag::Entity::insert_many(part.to_vec())
                .exec_without_returning(txn)
                .await
                .map_err(map_db_err)?;
        }
    }
    Ok(())
}

/// Reads a stored row back into the domain. Stored values were validated on the way in; a
/// value that no longer parses is reported as corrupt rather than silently dropped.
pub(crate) fn to_domain(m: customer::Model) -> Result<Customer, RepositoryError> {
    let id = m.id;
    let corrupt =
        |field: &str| RepositoryError::Other(format!("customer {id}: stored {field} is invalid"));
    fn parse_opt<T>(
        v: Option<String>,
        f: impl FnOnce(&str) -> Option<T>,
        err: RepositoryError,
    ) -> Result<Option<T>, RepositoryError> {
        match v {
            None => Ok(None),
            Some(s) => f(&s).map(Some).ok_or(err),
        }
    }
    fn enum_opt<T: FromStr>(
        v: Option<String>,
        err: RepositoryError,
    ) -> Result<Option<T>, RepositoryError> {
        parse_opt(v, |s| s.parse().ok(), err)
    }
    let tags = match m.tags {
        serde_json::Value::Array(items) => items
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => return Err(corrupt("tags")),
    };
    let profile = CustomerProfile {
        name: m.name,
        display_name: m.display_name,
        email: parse_opt(m.email, EmailAddress::parse, corrupt("email"))?,
        phone: m.phone.map(PhoneNumber::from_e164_unchecked),
        mobile_phone: m.mobile_phone.map(PhoneNumber::from_e164_unchecked),
        customer_type: m
            .customer_type
            .parse()
            .map_err(|_| corrupt("customer_type"))?,
        company: m.company,
        company_legal_name: m.company_legal_name,
        tax_id: m.tax_id,
        business_license: m.business_license,
        job_title: m.job_title,
        website: parse_opt(m.website, WebUrl::parse, corrupt("website"))?,
        industry: m.industry,
        company_size: m.company_size,
        annual_revenue: m.annual_revenue.map(Amount::from_scaled),
        status: m.status.parse().map_err(|_| corrupt("status"))?,
        stage: m.stage.parse().map_err(|_| corrupt("stage"))?,
        source: enum_opt(m.source, corrupt("source"))?,
        assigned_to: m.assigned_to.as_deref().and_then(UserId::parse),
        currency: CurrencyCode::parse(&m.currency).ok_or_else(|| corrupt("currency"))?,
        country: parse_opt(m.country, CountryCode::parse, corrupt("country"))?,
        language: parse_opt(m.language, LanguageCode::parse, corrupt("language"))?,
        timezone: parse_opt(m.timezone, TimeZoneName::parse, corrupt("timezone"))?,
        birth_date: m.birth_date,
        gender: enum_opt(m.gender, corrupt("gender"))?,
        credit_limit: Amount::from_scaled(m.credit_limit),
        payment_terms_days: m.payment_terms_days,
        tags,
        metadata: match m.metadata {
            serde_json::Value::Object(map) => map,
            _ => return Err(corrupt("metadata")),
        },
        notes: m.notes,
        internal_notes: m.internal_notes,
        is_vip: m.is_vip,
        is_blacklisted: m.is_blacklisted,
        blacklist_reason: m.blacklist_reason,
        referred_by: m.referred_by.map(CustomerId),
        acquisition_cost: m.acquisition_cost.map(Amount::from_scaled),
        external_ref: m.external_ref,
        last_contact_at: m.last_contact_at,
        next_follow_up_at: m.next_follow_up_at,
        discount_percent: m.discount_bp.map(bp_to_percent),
    };
    Ok(Customer {
        id: CustomerId(m.id),
        tenant_id: TenantId(m.tenant_id),
        customer_number: m.customer_number,
        customer_code: m.customer_code,
        profile,
        stats: PurchaseStats {
            total_orders: m.total_orders,
            total_spent: Amount::from_scaled(m.total_spent),
            average_order_value: Amount::from_scaled(m.average_order_value),
            first_order_at: m.first_order_at,
            last_order_at: m.last_order_at,
        },
        loyalty: LoyaltyStatus {
            tier_id: m.tier_id.map(TierId),
            tier_since: m.tier_since,
            points: m.loyalty_points,
        },
        rfm: match (m.rfm_r, m.rfm_f, m.rfm_m, &m.rfm_segment, m.rfm_computed_at) {
            (Some(r), Some(f), Some(mm), Some(segment), Some(computed_at)) => {
                let score = |v: i16| u8::try_from(v).map_err(|_| corrupt("rfm score"));
                Some(crm_domain::customer::CustomerRfm {
                    r: score(r)?,
                    f: score(f)?,
                    m: score(mm)?,
                    segment: segment.parse().map_err(|_| corrupt("rfm_segment"))?,
                    computed_at,
                })
            }
            _ => None,
        },
        created_by: m.created_by.as_deref().and_then(UserId::parse),
        updated_by: m.updated_by.as_deref().and_then(UserId::parse),
        created_at: m.created_at,
        updated_at: m.updated_at,
        deleted_at: m.deleted_at,
        version: m.version,
    })
}

fn unique_column(field: UniqueField) -> customer::Column {
    match field {
        UniqueField::Email => customer::Column::Email,
        UniqueField::Phone => customer::Column::Phone,
        UniqueField::MobilePhone => customer::Column::MobilePhone,
        UniqueField::ExternalRef => customer::Column::ExternalRef,
    }
}

/// Rewrites the `customer_tags` rows of one customer to `tags`.
async fn write_tags(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: CustomerId,
    tags: impl Iterator<Item = &String>,
    replace: bool,
) -> Result<(), RepositoryError> {
    if replace {
        customer_tag::Entity::delete_many()
            .filter(customer_tag::Column::TenantId.eq(tenant.0))
            .filter(customer_tag::Column::CustomerId.eq(id.0))
            .exec(txn)
            .await
            .map_err(map_db_err)?;
    }
    let rows: Vec<customer_tag::ActiveModel> = tags
        .map(|t| customer_tag::ActiveModel {
            tenant_id: Set(tenant.0),
            customer_id: Set(id.0),
            tag: Set(t.clone()),
        })
        .collect();
    if !rows.is_empty() {
        customer_tag::Entity::insert_many(rows)
            .exec_without_returning(txn)
            .await
            .map_err(map_db_err)?;
    }
    Ok(())
}

/// Fills the search documents of customers written before search existed (empty
/// `search_text`), 500 at a time. Idempotent; runs after migrations.
pub(crate) async fn backfill_search(db: &Database) -> Result<u64, RepositoryError> {
    let mut done = 0;
    loop {
        let txn = db.write.begin().await.map_err(map_db_err)?;
        let rows = customer::Entity::find()
            .filter(customer::Column::SearchText.eq(""))
            .limit(500)
            .all(&txn)
            .await
            .map_err(map_db_err)?;
        if rows.is_empty() {
            return Ok(done);
        }
        for m in rows {
            let c = to_domain(m)?;
            let doc = crm_domain::customer::search::search_document(&c.profile, &c.customer_code);
            customer::Entity::update_many()
                .col_expr(customer::Column::SearchText, Expr::value(doc.text))
                .col_expr(customer::Column::SearchPhones, Expr::value(doc.phones))
                .col_expr(
                    customer::Column::SearchTerms,
                    Expr::value(terms_column(doc.terms)),
                )
                .filter(customer::Column::TenantId.eq(c.tenant_id.0))
                .filter(customer::Column::Id.eq(c.id.0))
                .exec(&txn)
                .await
                .map_err(map_db_err)?;
            done += 1;
        }
        txn.commit().await.map_err(map_db_err)?;
    }
}

async fn find_in<C: ConnectionTrait>(
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

/// The row a conditional update targets and the version it must still have.
struct Target {
    tenant: TenantId,
    id: CustomerId,
    expected_version: i64,
    /// Only a row that is not soft-deleted.
    live_only: bool,
}

/// Runs a conditional `UPDATE ... WHERE tenant_id AND id AND version = expected`, then reads the
/// row back, all in one transaction. No row updated means another version (or no row).
async fn conditional_update(
    txn: DatabaseTransaction,
    Target {
        tenant,
        id,
        expected_version,
        live_only,
    }: Target,
    mut changes: customer::ActiveModel,
    updated_by: Option<&UserId>,
    updated_at: chrono::DateTime<chrono::Utc>,
    tags: Option<&std::collections::BTreeSet<String>>,
) -> Result<Customer, RepositoryError> {
    changes.updated_by = Set(updated_by.map(|u| u.as_str().to_owned()));
    changes.updated_at = Set(updated_at);
    let mut update = customer::Entity::update_many()
        .set(changes)
        .col_expr(
            customer::Column::Version,
            Expr::col(customer::Column::Version).add(1),
        )
        .filter(customer::Column::TenantId.eq(tenant.0))
        .filter(customer::Column::Id.eq(id.0))
        .filter(customer::Column::Version.eq(expected_version));
    if live_only {
        update = update.filter(customer::Column::DeletedAt.is_null());
    }
    let result = update.exec(&txn).await.map_err(map_db_err)?;
    if result.rows_affected != 1 {
        return Err(RepositoryError::Stale);
    }
    if let Some(tags) = tags {
        write_tags(&txn, tenant, id, tags.iter(), true).await?;
    }
    let stored = find_in(&txn, tenant, id, true)
        .await?
        .ok_or(RepositoryError::Stale)?;
    txn.commit().await.map_err(map_db_err)?;
    Ok(stored)
}

/// Orders still open: pending, or completed and unpaid (`crm_domain::order::Order::is_open`).
fn open_orders() -> Condition {
    use crate::entity::order;
    Condition::any()
        .add(order::Column::Status.eq("pending"))
        .add(
            Condition::all()
                .add(order::Column::Status.eq("completed"))
                .add(order::Column::PaymentStatus.eq("unpaid")),
        )
}

/// A bulk transaction over customers.
pub struct SeaCustomerBatch {
    txn: DatabaseTransaction,
    backend: sea_orm::DatabaseBackend,
    bulk_rows: crate::db::BulkRows,
}

#[async_trait]
impl crm_domain::customer::CustomerBatch for SeaCustomerBatch {
    async fn next(
        &mut self,
        tenant: TenantId,
        filter: &crm_domain::customer::filter::Filter,
        ids: Option<Vec<CustomerId>>,
        after: Option<CustomerId>,
        limit: u32,
    ) -> Result<Vec<Customer>, RepositoryError> {
        let mut q = customer::Entity::find()
            .filter(customer::Column::TenantId.eq(tenant.0))
            .filter(customer::Column::DeletedAt.is_null())
            .filter(crate::customer_query::filter_condition(tenant, filter));
        if let Some(ids) = ids {
            q = q.filter(customer::Column::Id.is_in(ids.into_iter().map(|i| i.0)));
        }
        if let Some(a) = after {
            q = q.filter(customer::Column::Id.gt(a.0));
        }
        if self.backend == sea_orm::DatabaseBackend::Postgres {
            q = q.lock_exclusive();
        }
        q.order_by(customer::Column::Id, Order::Asc)
            .limit(u64::from(limit))
            .all(&self.txn)
            .await
            .map_err(map_db_err)?
            .into_iter()
            .map(to_domain)
            .collect()
    }

    async fn save(&mut self, c: &Customer) -> Result<(), RepositoryError> {
        let mut changes = profile_columns(&c.profile, &c.customer_code);
        changes.deleted_at = Set(c.deleted_at);
        changes.updated_by = Set(c.updated_by.as_ref().map(|u| u.as_str().to_owned()));
        changes.updated_at = Set(c.updated_at);
        customer::Entity::update_many()
            .set(changes)
            .col_expr(
                customer::Column::Version,
                Expr::col(customer::Column::Version).add(1),
            )
            .filter(customer::Column::TenantId.eq(c.tenant_id.0))
            .filter(customer::Column::Id.eq(c.id.0))
            .exec(&self.txn)
            .await
            .map_err(map_db_err)?;
        write_tags(&self.txn, c.tenant_id, c.id, c.profile.tags.iter(), true).await
    }

    async fn open_orders(
        &mut self,
        tenant: TenantId,
        ids: Vec<CustomerId>,
    ) -> Result<Vec<(CustomerId, String)>, RepositoryError> {
        use crate::entity::order;
        let open = open_orders();
        let rows: Vec<(Uuid, String)> = order::Entity::find()
            .select_only()
            .column(order::Column::CustomerId)
            .column(order::Column::OrderRef)
            .filter(order::Column::TenantId.eq(tenant.0))
            .filter(order::Column::CustomerId.is_in(ids.into_iter().map(|i| i.0)))
            .filter(open)
            .limit(10)
            .into_tuple()
            .all(&self.txn)
            .await
            .map_err(map_db_err)?;
        Ok(rows.into_iter().map(|(c, r)| (CustomerId(c), r)).collect())
    }

    async fn insert(
        &mut self,
        tenant: TenantId,
        customers: &[NewCustomer],
    ) -> Result<(), RepositoryError> {
        insert_new(&self.txn, self.backend, &self.bulk_rows, tenant, customers).await
    }

    async fn commit(self: Box<Self>) -> Result<(), RepositoryError> {
        self.txn.commit().await.map_err(map_db_err)
    }
}

#[async_trait]
impl CustomerRepository for SeaCustomerRepository {
    async fn begin_batch(
        &self,
    ) -> Result<Box<dyn crm_domain::customer::CustomerBatch>, RepositoryError> {
        let txn = self.begin().await?;
        Ok(Box::new(SeaCustomerBatch {
            txn,
            backend: self.db.backend(),
            bulk_rows: self.bulk_rows.clone(),
        }))
    }

    async fn create(
        &self,
        new: NewCustomer,
        idempotency: Option<IdempotencyRecord>,
    ) -> Result<Customer, RepositoryError> {
        let txn = self.begin().await?;
        let tenant = new.tenant_id;
        // The key goes first: a concurrent request with the same key waits here, then fails
        // with a conflict and replays this one's answer.
        if let Some(rec) = &idempotency {
            idempotency_key::Entity::insert(idempotency_key::ActiveModel {
                tenant_id: Set(tenant.0),
                key: Set(rec.key.clone()),
                fingerprint: Set(rec.fingerprint.clone()),
                customer_id: Set(rec.customer_id.0),
                created_at: Set(rec.created_at),
            })
            .exec_without_returning(&txn)
            .await
            .map_err(map_db_err)?;
        }
        let number = next_counter(&txn, tenant, "customer_number", 1).await?;
        let year = new.created_at.year();
        let sequence = next_counter(&txn, tenant, &format!("customer_code:{year}"), 1).await?;
        let code = customer_code(year, sequence);
        let row = new_row(&new, number, &code, &PurchaseStats::default());
        customer::Entity::insert(row)
            .exec_without_returning(&txn)
            .await
            .map_err(map_db_err)?;
        write_tags(&txn, tenant, new.id, new.profile.tags.iter(), false).await?;
        let stored = find_in(&txn, tenant, new.id, true)
            .await?
            .ok_or_else(|| RepositoryError::Other("inserted customer not found".into()))?;
        txn.commit().await.map_err(map_db_err)?;
        Ok(stored)
    }

    async fn find(
        &self,
        tenant: TenantId,
        id: CustomerId,
        include_deleted: bool,
    ) -> Result<Option<Customer>, RepositoryError> {
        find_in(&self.db.read, tenant, id, include_deleted).await
    }

    async fn find_by_unique(
        &self,
        tenant: TenantId,
        field: UniqueField,
        value: &str,
    ) -> Result<Option<CustomerId>, RepositoryError> {
        let id: Option<Uuid> = customer::Entity::find()
            .select_only()
            .column(customer::Column::Id)
            .filter(customer::Column::TenantId.eq(tenant.0))
            .filter(unique_column(field).eq(value))
            .filter(customer::Column::DeletedAt.is_null())
            .into_tuple()
            .one(&self.db.read)
            .await
            .map_err(map_db_err)?;
        Ok(id.map(CustomerId))
    }

    async fn find_many_by_unique(
        &self,
        tenant: TenantId,
        field: UniqueField,
        values: Vec<String>,
    ) -> Result<Vec<Customer>, RepositoryError> {
        if values.is_empty() {
            return Ok(Vec::new());
        }
        customer::Entity::find()
            .filter(customer::Column::TenantId.eq(tenant.0))
            .filter(unique_column(field).is_in(values))
            .filter(customer::Column::DeletedAt.is_null())
            .all(&self.db.read)
            .await
            .map_err(map_db_err)?
            .into_iter()
            .map(to_domain)
            .collect()
    }

    async fn update_profile(&self, u: ProfileUpdate) -> Result<Customer, RepositoryError> {
        let txn = self.begin().await?;
        let code: Option<String> = customer::Entity::find()
            .select_only()
            .column(customer::Column::CustomerCode)
            .filter(customer::Column::TenantId.eq(u.tenant_id.0))
            .filter(customer::Column::Id.eq(u.id.0))
            .into_tuple()
            .one(&txn)
            .await
            .map_err(map_db_err)?;
        let code = code.ok_or(RepositoryError::Stale)?;
        let target = Target {
            tenant: u.tenant_id,
            id: u.id,
            expected_version: u.expected_version,
            live_only: true,
        };
        conditional_update(
            txn,
            target,
            profile_columns(&u.profile, &code),
            u.updated_by.as_ref(),
            u.updated_at,
            Some(&u.profile.tags),
        )
        .await
    }

    async fn set_deleted(&self, c: DeletionChange) -> Result<Customer, RepositoryError> {
        let txn = self.begin().await?;
        let changes = customer::ActiveModel {
            deleted_at: Set(c.deleted_at),
            ..Default::default()
        };
        let target = Target {
            tenant: c.tenant_id,
            id: c.id,
            expected_version: c.expected_version,
            live_only: false,
        };
        conditional_update(
            txn,
            target,
            changes,
            c.updated_by.as_ref(),
            c.updated_at,
            None,
        )
        .await
    }

    async fn find_idempotency(
        &self,
        tenant: TenantId,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, RepositoryError> {
        let row = idempotency_key::Entity::find_by_id((tenant.0, key.to_owned()))
            .one(&self.db.read)
            .await
            .map_err(map_db_err)?;
        Ok(row.map(|r| IdempotencyRecord {
            key: r.key,
            fingerprint: r.fingerprint,
            customer_id: CustomerId(r.customer_id),
            created_at: r.created_at,
        }))
    }

    async fn open_order_refs(
        &self,
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
            .all(&self.db.read)
            .await
            .map_err(map_db_err)
    }

    async fn list(
        &self,
        tenant: TenantId,
        query: &CustomerQuery,
    ) -> Result<Vec<Customer>, RepositoryError> {
        crate::customer_query::page(tenant, self.db.backend(), query)
            .all(&self.db.read)
            .await
            .map_err(map_db_err)?
            .into_iter()
            .map(to_domain)
            .collect()
    }

    async fn aggregates(
        &self,
        tenant: TenantId,
        query: &CustomerQuery,
        month_start: chrono::DateTime<chrono::Utc>,
        last_month_start: chrono::DateTime<chrono::Utc>,
    ) -> Result<crm_domain::customer::CustomerAggregates, RepositoryError> {
        use crate::customer_query::filtered;
        let backend = self.db.backend();
        use sea_orm::sea_query::Expr;
        type Col = customer::Column;
        let db = &self.db.read;
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
        );
        let groups: Vec<Group> = filtered(tenant, backend, query)
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
            .column_as(Expr::cust("CAST(SUM(total_spent) AS BIGINT)"), "spent")
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
        let mut spent_by_currency: Vec<(String, u64, i64)> = Vec::new();
        for (status, kind, stage, tier, currency, count, vip, orders, spent) in groups {
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
                    *sum += spent;
                }
                None => spent_by_currency.push((currency, c, spent)),
            }
        }
        // New customers: range scans of the created_at index.
        use sea_orm::PaginatorTrait;
        out.new_this_month = filtered(tenant, backend, query)
            .filter(Col::CreatedAt.gte(month_start))
            .count(db)
            .await
            .map_err(map_db_err)?;
        out.new_last_month = filtered(tenant, backend, query)
            .filter(Col::CreatedAt.gte(last_month_start))
            .filter(Col::CreatedAt.lt(month_start))
            .count(db)
            .await
            .map_err(map_db_err)?;
        for v in [&mut out.by_status, &mut out.by_type, &mut out.by_stage] {
            v.sort();
        }
        spent_by_currency.sort();
        out.by_currency = spent_by_currency
            .into_iter()
            .map(|(c, k, sum)| (c, k, Amount::from_scaled(sum)))
            .collect();
        Ok(out)
    }

    async fn count(&self, tenant: TenantId, query: &CustomerQuery) -> Result<u64, RepositoryError> {
        use sea_orm::PaginatorTrait;
        crate::customer_query::filtered(tenant, self.db.backend(), query)
            .count(&self.db.read)
            .await
            .map_err(map_db_err)
    }
}
