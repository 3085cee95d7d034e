//! [`InteractionRepository`] and its [`InteractionTransaction`] on SeaORM, in `interactions`
//! and `follow_ups`. A transaction holds the writer connection (SQLite, which serialises it
//! with every other write) or one pooled connection with the customer row locked
//! `FOR UPDATE` (PostgreSQL), so writes to one customer's history, and the recomputation of
//! its `last_contact_at` / `next_follow_up_at`, serialise; dropping it uncommitted rolls back.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use crm_domain::access::Visibility;
use crm_domain::customer::Customer;
use crm_domain::event::NewEvent;
use crm_domain::ids::{FollowUpId, InteractionId};
use crm_domain::interaction::{
    DerivedDates, FollowUp, FollowUpDetails, FollowUpQuery, FollowUpStatus, Interaction,
    InteractionDetails, InteractionQuery, InteractionRepository, InteractionTransaction,
};
use crm_domain::{ContactId, CustomerId, RepositoryError, TenantId, UserId};
use sea_orm::sea_query::{Condition, Expr, ExprTrait, Func, Query};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseTransaction, EntityTrait, Order,
    QueryFilter, QueryOrder, QuerySelect,
};

use crate::customers::to_domain as customer_to_domain;
use crate::db::Database;
use crate::entity::{customer, customer_contact, follow_up, interaction};
use crate::error::{corrupt, map_db_err};

/// Interactions and follow-ups in `interactions` and `follow_ups`.
#[derive(Debug, Clone)]
pub struct SeaInteractionRepository {
    db: Database,
}

impl SeaInteractionRepository {
    /// Wraps a database.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

fn parse<T: std::str::FromStr>(text: &str, what: &str) -> Result<T, RepositoryError> {
    text.parse().map_err(|_| corrupt(what))
}

fn user(text: &str) -> Result<UserId, RepositoryError> {
    UserId::parse(text).ok_or_else(|| corrupt("user id"))
}

fn interaction_to_domain(m: interaction::Model) -> Result<Interaction, RepositoryError> {
    Ok(Interaction {
        id: InteractionId(m.id),
        tenant_id: TenantId(m.tenant_id),
        customer_id: CustomerId(m.customer_id),
        details: InteractionDetails {
            kind: parse(&m.kind, "interaction type")?,
            direction: m
                .direction
                .map(|d| parse(&d, "interaction direction"))
                .transpose()?,
            subject: m.subject,
            body: m.body,
            outcome: m
                .outcome
                .map(|o| parse(&o, "interaction outcome"))
                .transpose()?,
            duration_seconds: m.duration_seconds,
            occurred_at: m.occurred_at,
            contact_id: m.contact_id.map(ContactId),
        },
        performed_by: user(&m.performed_by)?,
        version: m.version,
        updated_by: m.updated_by.as_deref().and_then(UserId::parse),
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

fn interaction_row(i: &Interaction) -> interaction::ActiveModel {
    let d = &i.details;
    interaction::ActiveModel {
        tenant_id: Set(i.tenant_id.0),
        id: Set(i.id.0),
        customer_id: Set(i.customer_id.0),
        kind: Set(d.kind.as_str().to_owned()),
        direction: Set(d.direction.map(|x| x.as_str().to_owned())),
        subject: Set(d.subject.clone()),
        body: Set(d.body.clone()),
        outcome: Set(d.outcome.map(|x| x.as_str().to_owned())),
        duration_seconds: Set(d.duration_seconds),
        occurred_at: Set(d.occurred_at),
        contact_id: Set(d.contact_id.map(|c| c.0)),
        performed_by: Set(i.performed_by.as_str().to_owned()),
        version: Set(i.version),
        updated_by: Set(i.updated_by.as_ref().map(|u| u.as_str().to_owned())),
        created_at: Set(i.created_at),
        updated_at: Set(i.updated_at),
    }
}

fn follow_up_to_domain(m: follow_up::Model) -> Result<FollowUp, RepositoryError> {
    Ok(FollowUp {
        id: FollowUpId(m.id),
        tenant_id: TenantId(m.tenant_id),
        customer_id: CustomerId(m.customer_id),
        details: FollowUpDetails {
            title: m.title,
            notes: m.notes,
            due_at: m.due_at,
            assignee: user(&m.assignee)?,
            priority: parse(&m.priority, "follow-up priority")?,
        },
        status: parse(&m.status, "follow-up status")?,
        completed_at: m.completed_at,
        completed_by: m.completed_by.as_deref().and_then(UserId::parse),
        interaction_id: m.interaction_id.map(InteractionId),
        version: m.version,
        created_by: m.created_by.as_deref().and_then(UserId::parse),
        updated_by: m.updated_by.as_deref().and_then(UserId::parse),
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

fn follow_up_row(f: &FollowUp) -> follow_up::ActiveModel {
    let d = &f.details;
    follow_up::ActiveModel {
        tenant_id: Set(f.tenant_id.0),
        id: Set(f.id.0),
        customer_id: Set(f.customer_id.0),
        title: Set(d.title.clone()),
        notes: Set(d.notes.clone()),
        due_at: Set(d.due_at),
        assignee: Set(d.assignee.as_str().to_owned()),
        priority: Set(d.priority.as_str().to_owned()),
        status: Set(f.status.as_str().to_owned()),
        completed_at: Set(f.completed_at),
        completed_by: Set(f.completed_by.as_ref().map(|u| u.as_str().to_owned())),
        interaction_id: Set(f.interaction_id.map(|i| i.0)),
        version: Set(f.version),
        created_by: Set(f.created_by.as_ref().map(|u| u.as_str().to_owned())),
        updated_by: Set(f.updated_by.as_ref().map(|u| u.as_str().to_owned())),
        created_at: Set(f.created_at),
        updated_at: Set(f.updated_at),
    }
}

/// The ids of the tenant's live (not soft-deleted) customers inside `visibility`: records of
/// other customers are left out of every list.
fn live_customers(
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

fn not_stale(rows: u64) -> Result<(), RepositoryError> {
    if rows == 1 {
        Ok(())
    } else {
        Err(RepositoryError::Stale)
    }
}

#[async_trait]
impl InteractionRepository for SeaInteractionRepository {
    async fn find_interaction(
        &self,
        tenant: TenantId,
        id: InteractionId,
    ) -> Result<Option<Interaction>, RepositoryError> {
        let conn = self.db.tenant_read(tenant).await?;
        let found = interaction_in(&conn, tenant, id).await?;
        conn.end().await?;
        Ok(found)
    }

    async fn list_interactions(
        &self,
        tenant: TenantId,
        visibility: &Visibility,
        q: &InteractionQuery,
    ) -> Result<Vec<Interaction>, RepositoryError> {
        use interaction::Column as C;
        let mut select = interaction::Entity::find()
            .filter(C::TenantId.eq(tenant.0))
            .filter(C::CustomerId.in_subquery(live_customers(tenant, visibility)));
        if let Some(c) = q.customer_id {
            select = select.filter(C::CustomerId.eq(c.0));
        }
        if !q.types.is_empty() {
            select = select.filter(C::Kind.is_in(q.types.iter().map(|t| t.as_str())));
        }
        if let Some(u) = &q.performed_by {
            select = select.filter(C::PerformedBy.eq(u.as_str()));
        }
        if let Some(c) = q.contact_id {
            select = select.filter(C::ContactId.eq(c.0));
        }
        if !q.outcomes.is_empty() {
            select = select.filter(C::Outcome.is_in(q.outcomes.iter().map(|o| o.as_str())));
        }
        if let Some(t) = q.occurred_from {
            select = select.filter(C::OccurredAt.gte(t));
        }
        if let Some(t) = q.occurred_to {
            select = select.filter(C::OccurredAt.lt(t));
        }
        if let Some((at, id)) = q.after {
            select = select.filter(
                Condition::any().add(C::OccurredAt.lt(at)).add(
                    Condition::all()
                        .add(C::OccurredAt.eq(at))
                        .add(C::Id.lt(id.0)),
                ),
            );
        }
        let conn = self.db.tenant_read(tenant).await?;
        let rows = select
            .order_by(C::OccurredAt, Order::Desc)
            .order_by(C::Id, Order::Desc)
            .limit(u64::from(q.limit))
            .all(&conn)
            .await
            .map_err(map_db_err)?;
        conn.end().await?;
        rows.into_iter().map(interaction_to_domain).collect()
    }

    async fn find_follow_up(
        &self,
        tenant: TenantId,
        id: FollowUpId,
    ) -> Result<Option<FollowUp>, RepositoryError> {
        let conn = self.db.tenant_read(tenant).await?;
        let found = follow_up_in(&conn, tenant, id).await?;
        conn.end().await?;
        Ok(found)
    }

    async fn list_follow_ups(
        &self,
        tenant: TenantId,
        visibility: &Visibility,
        q: &FollowUpQuery,
    ) -> Result<Vec<FollowUp>, RepositoryError> {
        use follow_up::Column as C;
        let open = FollowUpStatus::Open.as_str();
        let mut select = follow_up::Entity::find()
            .filter(C::TenantId.eq(tenant.0))
            .filter(C::CustomerId.in_subquery(live_customers(tenant, visibility)));
        if let Some(c) = q.customer_id {
            select = select.filter(C::CustomerId.eq(c.0));
        }
        if let Some(u) = &q.assignee {
            select = select.filter(C::Assignee.eq(u.as_str()));
        }
        if !q.statuses.is_empty() {
            select = select.filter(C::Status.is_in(q.statuses.iter().map(|s| s.as_str())));
        }
        if !q.priorities.is_empty() {
            select = select.filter(C::Priority.is_in(q.priorities.iter().map(|p| p.as_str())));
        }
        if let Some(t) = q.due_before {
            select = select.filter(C::DueAt.lt(t));
        }
        match q.overdue {
            Some(true) => {
                select = select.filter(C::Status.eq(open)).filter(C::DueAt.lt(q.now));
            }
            Some(false) => {
                select = select.filter(
                    Condition::any()
                        .add(C::Status.ne(open))
                        .add(C::DueAt.gte(q.now)),
                );
            }
            None => {}
        }
        if let Some((at, id)) = q.after {
            select = select.filter(
                Condition::any()
                    .add(C::DueAt.gt(at))
                    .add(Condition::all().add(C::DueAt.eq(at)).add(C::Id.gt(id.0))),
            );
        }
        let conn = self.db.tenant_read(tenant).await?;
        let rows = select
            .order_by(C::DueAt, Order::Asc)
            .order_by(C::Id, Order::Asc)
            .limit(u64::from(q.limit))
            .all(&conn)
            .await
            .map_err(map_db_err)?;
        conn.end().await?;
        rows.into_iter().map(follow_up_to_domain).collect()
    }

    async fn begin(
        &self,
        tenant: TenantId,
    ) -> Result<Box<dyn InteractionTransaction>, RepositoryError> {
        let txn = self.db.tenant_tx(tenant).await?;
        Ok(Box::new(SeaInteractionTransaction {
            txn,
            backend: self.db.backend(),
        }))
    }
}

async fn interaction_in<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    id: InteractionId,
) -> Result<Option<Interaction>, RepositoryError> {
    use interaction::Column as C;
    interaction::Entity::find()
        .filter(C::TenantId.eq(tenant.0))
        .filter(C::Id.eq(id.0))
        .one(conn)
        .await
        .map_err(map_db_err)?
        .map(interaction_to_domain)
        .transpose()
}

async fn follow_up_in<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    id: FollowUpId,
) -> Result<Option<FollowUp>, RepositoryError> {
    use follow_up::Column as C;
    follow_up::Entity::find()
        .filter(C::TenantId.eq(tenant.0))
        .filter(C::Id.eq(id.0))
        .one(conn)
        .await
        .map_err(map_db_err)?
        .map(follow_up_to_domain)
        .transpose()
}

/// One transaction of [`SeaInteractionRepository`].
pub struct SeaInteractionTransaction {
    txn: DatabaseTransaction,
    backend: DatabaseBackend,
}

impl std::fmt::Debug for SeaInteractionTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeaInteractionTransaction")
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl InteractionTransaction for SeaInteractionTransaction {
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

    async fn is_contact_of(
        &mut self,
        tenant: TenantId,
        customer: CustomerId,
        contact: ContactId,
    ) -> Result<bool, RepositoryError> {
        use customer_contact::Column as C;
        let found = customer_contact::Entity::find()
            .select_only()
            .column(C::Id)
            .filter(C::TenantId.eq(tenant.0))
            .filter(C::CustomerId.eq(customer.0))
            .filter(C::Id.eq(contact.0))
            .into_tuple::<uuid::Uuid>()
            .one(&self.txn)
            .await
            .map_err(map_db_err)?;
        Ok(found.is_some())
    }

    async fn interaction(
        &mut self,
        tenant: TenantId,
        id: InteractionId,
    ) -> Result<Option<Interaction>, RepositoryError> {
        interaction_in(&self.txn, tenant, id).await
    }

    async fn insert_interaction(&mut self, i: &Interaction) -> Result<(), RepositoryError> {
        interaction::Entity::insert(interaction_row(i))
            .exec_without_returning(&self.txn)
            .await
            .map_err(map_db_err)?;
        Ok(())
    }

    async fn update_interaction(&mut self, i: &Interaction) -> Result<(), RepositoryError> {
        use interaction::Column as C;
        let mut row = interaction_row(i);
        row.tenant_id = NotSet;
        row.id = NotSet;
        row.customer_id = NotSet;
        row.performed_by = NotSet;
        row.created_at = NotSet;
        let result = interaction::Entity::update_many()
            .set(row)
            .filter(C::TenantId.eq(i.tenant_id.0))
            .filter(C::Id.eq(i.id.0))
            .filter(C::Version.eq(i.version - 1))
            .exec(&self.txn)
            .await
            .map_err(map_db_err)?;
        not_stale(result.rows_affected)
    }

    async fn delete_interaction(
        &mut self,
        tenant: TenantId,
        id: InteractionId,
    ) -> Result<(), RepositoryError> {
        {
            use follow_up::Column as C;
            follow_up::Entity::update_many()
                .col_expr(C::InteractionId, Expr::value(Option::<uuid::Uuid>::None))
                .col_expr(C::Version, Expr::col(C::Version).add(1))
                .filter(C::TenantId.eq(tenant.0))
                .filter(C::InteractionId.eq(id.0))
                .exec(&self.txn)
                .await
                .map_err(map_db_err)?;
        }
        use interaction::Column as C;
        let result = interaction::Entity::delete_many()
            .filter(C::TenantId.eq(tenant.0))
            .filter(C::Id.eq(id.0))
            .exec(&self.txn)
            .await
            .map_err(map_db_err)?;
        not_stale(result.rows_affected)
    }

    async fn follow_up(
        &mut self,
        tenant: TenantId,
        id: FollowUpId,
    ) -> Result<Option<FollowUp>, RepositoryError> {
        follow_up_in(&self.txn, tenant, id).await
    }

    async fn insert_follow_up(&mut self, f: &FollowUp) -> Result<(), RepositoryError> {
        follow_up::Entity::insert(follow_up_row(f))
            .exec_without_returning(&self.txn)
            .await
            .map_err(map_db_err)?;
        Ok(())
    }

    async fn update_follow_up(&mut self, f: &FollowUp) -> Result<(), RepositoryError> {
        use follow_up::Column as C;
        let mut row = follow_up_row(f);
        row.tenant_id = NotSet;
        row.id = NotSet;
        row.customer_id = NotSet;
        row.interaction_id = NotSet;
        row.created_at = NotSet;
        row.created_by = NotSet;
        let result = follow_up::Entity::update_many()
            .set(row)
            .filter(C::TenantId.eq(f.tenant_id.0))
            .filter(C::Id.eq(f.id.0))
            .filter(C::Version.eq(f.version - 1))
            .exec(&self.txn)
            .await
            .map_err(map_db_err)?;
        not_stale(result.rows_affected)
    }

    async fn delete_follow_up(
        &mut self,
        tenant: TenantId,
        id: FollowUpId,
    ) -> Result<(), RepositoryError> {
        use follow_up::Column as C;
        let result = follow_up::Entity::delete_many()
            .filter(C::TenantId.eq(tenant.0))
            .filter(C::Id.eq(id.0))
            .exec(&self.txn)
            .await
            .map_err(map_db_err)?;
        not_stale(result.rows_affected)
    }

    async fn derived_dates(
        &mut self,
        tenant: TenantId,
        customer: CustomerId,
    ) -> Result<DerivedDates, RepositoryError> {
        let last_contact_at = {
            use interaction::Column as C;
            interaction::Entity::find()
                .select_only()
                .expr(Func::max(Expr::col(C::OccurredAt)))
                .filter(C::TenantId.eq(tenant.0))
                .filter(C::CustomerId.eq(customer.0))
                .into_tuple::<Option<DateTime<Utc>>>()
                .one(&self.txn)
                .await
                .map_err(map_db_err)?
                .flatten()
        };
        let next_follow_up_at = {
            use follow_up::Column as C;
            follow_up::Entity::find()
                .select_only()
                .expr(Func::min(Expr::col(C::DueAt)))
                .filter(C::TenantId.eq(tenant.0))
                .filter(C::CustomerId.eq(customer.0))
                .filter(C::Status.eq(FollowUpStatus::Open.as_str()))
                .into_tuple::<Option<DateTime<Utc>>>()
                .one(&self.txn)
                .await
                .map_err(map_db_err)?
                .flatten()
        };
        Ok(DerivedDates {
            last_contact_at,
            next_follow_up_at,
        })
    }

    async fn set_derived_dates(
        &mut self,
        tenant: TenantId,
        id: CustomerId,
        dates: DerivedDates,
    ) -> Result<(), RepositoryError> {
        use customer::Column as C;
        let result = customer::Entity::update_many()
            .col_expr(C::LastContactAt, Expr::value(dates.last_contact_at))
            .col_expr(C::NextFollowUpAt, Expr::value(dates.next_follow_up_at))
            .col_expr(C::Version, Expr::col(C::Version).add(1))
            .filter(C::TenantId.eq(tenant.0))
            .filter(C::Id.eq(id.0))
            .exec(&self.txn)
            .await
            .map_err(map_db_err)?;
        not_stale(result.rows_affected)
    }

    async fn append_events(&mut self, events: &[NewEvent]) -> Result<(), RepositoryError> {
        crate::events::append(&self.txn, events).await
    }

    async fn commit(self: Box<Self>) -> Result<(), RepositoryError> {
        self.txn.commit().await.map_err(map_db_err)
    }
}
