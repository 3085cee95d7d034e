//! [`NoteRepository`] and its [`NoteTransaction`] on SeaORM, in `notes`. A transaction holds
//! the writer connection (SQLite, which serialises it with every other write) or one pooled
//! connection with the note's customer row locked `FOR UPDATE` (PostgreSQL), so writes to one
//! customer's notes serialise; dropping it uncommitted rolls back. Lists read only notes of
//! live customers inside the caller's visibility (a subquery on `customers`).

use async_trait::async_trait;
use crm_domain::access::Visibility;
use crm_domain::customer::Customer;
use crm_domain::event::NewEvent;
use crm_domain::note::{
    Note, NoteFields, NoteFilter, NoteId, NotePosition, NoteRepository, NoteTransaction,
};
use crm_domain::{CustomerId, RepositoryError, TenantId, UserId};
use sea_orm::sea_query::{Condition, Query};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, DatabaseBackend, DatabaseTransaction, EntityTrait, Order, QueryFilter, QueryOrder,
    QuerySelect,
};

use crate::customers::to_domain as customer_to_domain;
use crate::db::Database;
use crate::entity::{customer, note};
use crate::error::{corrupt, exactly_one, map_db_err};

/// Notes in `notes`.
#[derive(Debug, Clone)]
pub struct SeaNoteRepository {
    db: Database,
}

impl SeaNoteRepository {
    /// Wraps a database.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

fn to_domain(m: note::Model) -> Result<Note, RepositoryError> {
    Ok(Note {
        id: NoteId(m.id),
        tenant_id: TenantId(m.tenant_id),
        customer_id: CustomerId(m.customer_id),
        fields: NoteFields {
            body: m.body,
            category: m.category.parse().map_err(|_| corrupt("note category"))?,
            resolution: m
                .resolution
                .map(|r| r.parse().map_err(|_| corrupt("note resolution")))
                .transpose()?,
            is_internal: m.is_internal,
            pinned: m.pinned,
        },
        resolved_at: m.resolved_at,
        author: UserId::parse(&m.author).ok_or_else(|| corrupt("note author"))?,
        created_at: m.created_at,
        edited_at: m.edited_at,
        updated_by: UserId::parse(&m.updated_by).ok_or_else(|| corrupt("note updated_by"))?,
        updated_at: m.updated_at,
        version: m.version,
    })
}

fn to_row(n: &Note) -> note::ActiveModel {
    let f = &n.fields;
    note::ActiveModel {
        tenant_id: Set(n.tenant_id.0),
        id: Set(n.id.0),
        customer_id: Set(n.customer_id.0),
        body: Set(f.body.clone()),
        category: Set(f.category.as_str().to_owned()),
        resolution: Set(f.resolution.map(|r| r.as_str().to_owned())),
        resolved_at: Set(n.resolved_at),
        is_internal: Set(f.is_internal),
        pinned: Set(f.pinned),
        author: Set(n.author.as_str().to_owned()),
        created_at: Set(n.created_at),
        edited_at: Set(n.edited_at),
        updated_by: Set(n.updated_by.as_str().to_owned()),
        updated_at: Set(n.updated_at),
        version: Set(n.version),
    }
}

/// The ids of the tenant's live customers inside `visibility`, as a subquery.
fn live_visible_customers(
    tenant: TenantId,
    visibility: &Visibility,
) -> sea_orm::sea_query::SelectStatement {
    use customer::Column as C;
    let mut q = Query::select();
    q.column(C::Id)
        .from(customer::Entity)
        .and_where(C::TenantId.eq(tenant.0))
        .and_where(C::DeletedAt.is_null());
    if let Visibility::AssignedTo(user) = visibility {
        q.and_where(C::AssignedTo.eq(user.as_str()));
    }
    q.take()
}

/// `(created_at, id)` strictly after `(at, id)` in descending order.
fn older_than(at: chrono::DateTime<chrono::Utc>, id: NoteId) -> Condition {
    use note::Column as C;
    Condition::any().add(C::CreatedAt.lt(at)).add(
        Condition::all()
            .add(C::CreatedAt.eq(at))
            .add(C::Id.lt(id.0)),
    )
}

#[async_trait]
impl NoteRepository for SeaNoteRepository {
    async fn begin(&self, tenant: TenantId) -> Result<Box<dyn NoteTransaction>, RepositoryError> {
        let txn = self.db.tenant_tx(tenant).await?;
        Ok(Box::new(SeaNoteTransaction {
            txn,
            backend: self.db.backend(),
        }))
    }

    async fn get(&self, tenant: TenantId, id: NoteId) -> Result<Option<Note>, RepositoryError> {
        let conn = self.db.tenant_read(tenant).await?;
        let found = note::Entity::find()
            .filter(note::Column::TenantId.eq(tenant.0))
            .filter(note::Column::Id.eq(id.0))
            .one(&conn)
            .await
            .map_err(map_db_err)?;
        conn.end().await?;
        found.map(to_domain).transpose()
    }

    async fn list_for_customer(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        after: Option<NotePosition>,
        limit: u32,
    ) -> Result<Vec<Note>, RepositoryError> {
        use note::Column as C;
        let mut q = note::Entity::find()
            .filter(C::TenantId.eq(tenant.0))
            .filter(C::CustomerId.eq(customer.0));
        if let Some(p) = after {
            let same_pin = Condition::all()
                .add(C::Pinned.eq(p.pinned))
                .add(older_than(p.created_at, p.id));
            q = q.filter(if p.pinned {
                // After a pinned row: older pinned rows, then every unpinned one.
                Condition::any().add(same_pin).add(C::Pinned.eq(false))
            } else {
                same_pin
            });
        }
        let conn = self.db.tenant_read(tenant).await?;
        let rows = q
            .order_by(C::Pinned, Order::Desc)
            .order_by(C::CreatedAt, Order::Desc)
            .order_by(C::Id, Order::Desc)
            .limit(u64::from(limit))
            .all(&conn)
            .await
            .map_err(map_db_err)?;
        conn.end().await?;
        rows.into_iter().map(to_domain).collect()
    }

    async fn list(
        &self,
        tenant: TenantId,
        visibility: &Visibility,
        filter: &NoteFilter,
    ) -> Result<Vec<Note>, RepositoryError> {
        use note::Column as C;
        let mut q = note::Entity::find()
            .filter(C::TenantId.eq(tenant.0))
            .filter(C::CustomerId.in_subquery(live_visible_customers(tenant, visibility)));
        if let Some(c) = filter.category {
            q = q.filter(C::Category.eq(c.as_str()));
        }
        if let Some(r) = filter.resolution {
            q = q.filter(C::Resolution.eq(r.as_str()));
        }
        if let Some(a) = &filter.author {
            q = q.filter(C::Author.eq(a.as_str()));
        }
        if let Some(c) = filter.customer_id {
            q = q.filter(C::CustomerId.eq(c.0));
        }
        if let Some((at, id)) = filter.after {
            q = q.filter(older_than(at, id));
        }
        let conn = self.db.tenant_read(tenant).await?;
        let rows = q
            .order_by(C::CreatedAt, Order::Desc)
            .order_by(C::Id, Order::Desc)
            .limit(u64::from(filter.limit))
            .all(&conn)
            .await
            .map_err(map_db_err)?;
        conn.end().await?;
        rows.into_iter().map(to_domain).collect()
    }
}

/// One transaction of [`SeaNoteRepository`].
pub struct SeaNoteTransaction {
    txn: DatabaseTransaction,
    backend: DatabaseBackend,
}

impl std::fmt::Debug for SeaNoteTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeaNoteTransaction").finish_non_exhaustive()
    }
}

impl SeaNoteTransaction {
    async fn note(&self, tenant: TenantId, id: NoteId) -> Result<Option<Note>, RepositoryError> {
        note::Entity::find()
            .filter(note::Column::TenantId.eq(tenant.0))
            .filter(note::Column::Id.eq(id.0))
            .one(&self.txn)
            .await
            .map_err(map_db_err)?
            .map(to_domain)
            .transpose()
    }
}

#[async_trait]
impl NoteTransaction for SeaNoteTransaction {
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

    async fn lock_note(
        &mut self,
        tenant: TenantId,
        id: NoteId,
    ) -> Result<Option<(Note, Customer)>, RepositoryError> {
        // The customer lock first (as every note write takes it), then the note as it is
        // under that lock: a concurrent write of the note has committed or not started.
        let Some(unlocked) = self.note(tenant, id).await? else {
            return Ok(None);
        };
        let Some(customer) = self.lock_customer(tenant, unlocked.customer_id).await? else {
            return Ok(None);
        };
        Ok(self.note(tenant, id).await?.map(|n| (n, customer)))
    }

    async fn insert(&mut self, n: &Note) -> Result<(), RepositoryError> {
        note::Entity::insert(to_row(n))
            .exec_without_returning(&self.txn)
            .await
            .map_err(map_db_err)?;
        Ok(())
    }

    async fn update(&mut self, n: &Note) -> Result<(), RepositoryError> {
        use note::Column as C;
        let mut row = to_row(n);
        // The key, the customer, the author and the creation stay as they are.
        row.tenant_id = NotSet;
        row.id = NotSet;
        row.customer_id = NotSet;
        row.author = NotSet;
        row.created_at = NotSet;
        let result = note::Entity::update_many()
            .set(row)
            .filter(C::TenantId.eq(n.tenant_id.0))
            .filter(C::Id.eq(n.id.0))
            .filter(C::Version.eq(n.version - 1))
            .exec(&self.txn)
            .await
            .map_err(map_db_err)?;
        exactly_one(result.rows_affected)
    }

    async fn delete(&mut self, tenant: TenantId, id: NoteId) -> Result<(), RepositoryError> {
        use note::Column as C;
        let result = note::Entity::delete_many()
            .filter(C::TenantId.eq(tenant.0))
            .filter(C::Id.eq(id.0))
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
