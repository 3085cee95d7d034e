//! Single-customer writes: create (with its idempotency key and numbering counters), the
//! conditional profile update and soft delete or restore, and a customer's tag rows.

use chrono::Datelike;
use crm_domain::customer::{
    Customer, DeletionChange, IdempotencyRecord, MemberChanges, NewCustomer, ProfileUpdate,
    PurchaseStats, customer_code,
};
use crm_domain::privacy::ErasedCustomer;
use crm_domain::{CustomerId, RepositoryError, TenantId, UserId};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect, Set,
};

use super::SeaCustomerRepository;
use super::mapping::{new_row, profile_columns};
use super::queries::find_in;
use crate::entity::{customer, customer_tag, idempotency_key};
use crate::error::map_db_err;

/// Advances a per-tenant counter by `by` (a new counter starts at 0) inside `txn` and returns
/// its new value: the values taken are `new - by + 1 ..= new`. The upsert locks the counter row
/// until the transaction ends, so concurrent creates get distinct, increasing values; a
/// rolled-back transaction leaves the counter as it was.
pub(super) async fn next_counter(
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

/// [`crm_domain::customer::CustomerRepository::create`]: numbers, code, row, tags and the
/// idempotency key in one transaction.
pub(super) async fn create(
    repo: &SeaCustomerRepository,
    new: NewCustomer,
    idempotency: Option<IdempotencyRecord>,
    events: Vec<crm_domain::event::NewEvent>,
) -> Result<Customer, RepositoryError> {
    let tenant = new.tenant_id;
    let txn = repo.begin(tenant).await?;
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
    crate::addresses::insert_addresses(&txn, &new.addresses).await?;
    crate::contacts::insert_contacts(&txn, &new.contacts).await?;
    crate::events::append(&txn, &events).await?;
    let stored = find_in(&txn, tenant, new.id, true)
        .await?
        .ok_or_else(|| RepositoryError::Other("inserted customer not found".into()))?;
    txn.commit().await.map_err(map_db_err)?;
    Ok(stored)
}

/// [`crm_domain::customer::CustomerRepository::update_profile`]: a conditional update of the
/// profile columns and tags of a live customer.
pub(super) async fn update_profile(
    repo: &SeaCustomerRepository,
    u: ProfileUpdate,
) -> Result<Customer, RepositoryError> {
    let txn = repo.begin(u.tenant_id).await?;
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
        &u.events,
        Some(&u.members),
    )
    .await
}

/// Applies a replace's writes to the customer's addresses and contacts in `txn`, in the order
/// [`MemberChanges`] documents (removals, updates that unset a default or the primary, other
/// updates, additions), so the partial unique indexes never see two defaults of a type or two
/// primaries.
async fn write_members(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: CustomerId,
    m: &MemberChanges,
) -> Result<(), RepositoryError> {
    let a = &m.addresses;
    for removed in &a.removed {
        crate::addresses::delete_address(txn, tenant, removed.id).await?;
    }
    let (unset, rest): (Vec<_>, Vec<_>) =
        a.updated.iter().partition(|(_, after)| !after.is_default);
    for (before, after) in unset.into_iter().chain(rest) {
        crate::addresses::update_address(txn, after, before.version).await?;
    }
    crate::addresses::insert_addresses(txn, &a.added).await?;
    let c = &m.contacts;
    for removed in &c.removed {
        crate::contacts::delete_contact(txn, tenant, id, removed.id).await?;
    }
    let (unset, rest): (Vec<_>, Vec<_>) =
        c.updated.iter().partition(|(_, after)| !after.is_primary);
    for (_, after) in unset.into_iter().chain(rest) {
        crate::contacts::update_contact(txn, after).await?;
    }
    crate::contacts::insert_contacts(txn, &c.added).await?;
    Ok(())
}

/// [`crm_domain::privacy::PrivacyTransaction::anonymise_customer`] inside the erasure's
/// transaction: the anonymised profile's columns (the search document recomputed from it), tags,
/// `erased_at`/`erased_by` and `updated_at`/`updated_by`, on the expected version, which goes up
/// by one. Returns the stored customer; [`RepositoryError::Stale`] when the version moved.
pub(crate) async fn write_erased(
    txn: &DatabaseTransaction,
    e: &ErasedCustomer,
) -> Result<Customer, RepositoryError> {
    let code: Option<String> = customer::Entity::find()
        .select_only()
        .column(customer::Column::CustomerCode)
        .filter(customer::Column::TenantId.eq(e.tenant_id.0))
        .filter(customer::Column::Id.eq(e.id.0))
        .into_tuple()
        .one(txn)
        .await
        .map_err(map_db_err)?;
    let code = code.ok_or(RepositoryError::Stale)?;
    let mut changes = profile_columns(&e.profile, &code);
    let by = Some(e.erased_by.as_str().to_owned());
    changes.erased_at = Set(Some(e.erased_at));
    changes.erased_by = Set(by.clone());
    changes.updated_at = Set(e.erased_at);
    changes.updated_by = Set(by);
    let result = customer::Entity::update_many()
        .set(changes)
        .col_expr(
            customer::Column::Version,
            Expr::col(customer::Column::Version).add(1),
        )
        .filter(customer::Column::TenantId.eq(e.tenant_id.0))
        .filter(customer::Column::Id.eq(e.id.0))
        .filter(customer::Column::Version.eq(e.expected_version))
        .filter(customer::Column::ErasedAt.is_null())
        .exec(txn)
        .await
        .map_err(map_db_err)?;
    if result.rows_affected != 1 {
        return Err(RepositoryError::Stale);
    }
    write_tags(txn, e.tenant_id, e.id, e.profile.tags.iter(), true).await?;
    find_in(txn, e.tenant_id, e.id, true)
        .await?
        .ok_or(RepositoryError::Stale)
}

/// [`crm_domain::customer::CustomerRepository::set_deleted`]: a conditional update of
/// `deleted_at`.
pub(super) async fn set_deleted(
    repo: &SeaCustomerRepository,
    c: DeletionChange,
) -> Result<Customer, RepositoryError> {
    let txn = repo.begin(c.tenant_id).await?;
    if c.deleted_at.is_some() {
        // Serialise with order placement, which locks the customer row too: under the lock, an
        // order placed before this delete is seen here, and one placed after finds the customer
        // deleted. (SQLite's one writer connection already serialises the two transactions.)
        if repo.db.backend() == sea_orm::DatabaseBackend::Postgres {
            customer::Entity::find()
                .filter(customer::Column::TenantId.eq(c.tenant_id.0))
                .filter(customer::Column::Id.eq(c.id.0))
                .lock_exclusive()
                .one(&txn)
                .await
                .map_err(map_db_err)?;
        }
        let open = super::queries::open_order_refs(&txn, c.tenant_id, c.id, 1).await?;
        if !open.is_empty() {
            return Err(RepositoryError::Conflict {
                field: "orders".into(),
            });
        }
    }
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
        &c.events,
        None,
    )
    .await
}

/// Bumps the customer's `version` by one and sets its `updated_at` to `at`, in `conn`: an
/// address or contact of it changed, and its answers embed the default addresses and the
/// primary contact, so a cached representation (its `ETag`) must change too. The caller holds
/// the customer's lock.
pub(crate) async fn touch_customer<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    id: CustomerId,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(), RepositoryError> {
    customer::Entity::update_many()
        .col_expr(
            customer::Column::Version,
            Expr::col(customer::Column::Version).add(1),
        )
        .col_expr(customer::Column::UpdatedAt, Expr::value(at))
        .filter(customer::Column::TenantId.eq(tenant.0))
        .filter(customer::Column::Id.eq(id.0))
        .exec(conn)
        .await
        .map_err(map_db_err)?;
    Ok(())
}

/// Rewrites the `customer_tags` rows of one customer to `tags`.
pub(super) async fn write_tags(
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
#[allow(clippy::too_many_arguments)]
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
    events: &[crm_domain::event::NewEvent],
    members: Option<&MemberChanges>,
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
        // A profile change: never to a deleted or an erased customer.
        update = update
            .filter(customer::Column::DeletedAt.is_null())
            .filter(customer::Column::ErasedAt.is_null());
    }
    let result = update.exec(&txn).await.map_err(map_db_err)?;
    if result.rows_affected != 1 {
        return Err(RepositoryError::Stale);
    }
    if let Some(tags) = tags {
        write_tags(&txn, tenant, id, tags.iter(), true).await?;
    }
    if let Some(members) = members {
        write_members(&txn, tenant, id, members).await?;
    }
    crate::events::append(&txn, events).await?;
    let stored = find_in(&txn, tenant, id, true)
        .await?
        .ok_or(RepositoryError::Stale)?;
    txn.commit().await.map_err(map_db_err)?;
    Ok(stored)
}
