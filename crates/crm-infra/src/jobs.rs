//! [`JobRepository`] on SeaORM (`jobs`): jobs with their typed outcome stored as JSON and their
//! lease (`owner`, `lease_until`), the lease renewal, and the sweep of `running` jobs whose
//! lease ran out.

use std::str::FromStr;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use crm_domain::ids::JobId;
use crm_domain::job::{Job, JobKind, JobLease, JobOutcome, JobRepository, JobState};
use crm_domain::{RepositoryError, TenantId, UserId};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};

use crate::db::Database;
use crate::entity::job;
use crate::error::{corrupt, map_db_err};

/// Background jobs in `jobs`.
#[derive(Debug, Clone)]
pub struct SeaJobRepository {
    db: Database,
}

impl SeaJobRepository {
    /// Wraps a database.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

/// Reads a stored job back: its kind, state and the typed outcome of its kind.
pub(crate) fn job_to_domain(m: job::Model) -> Result<Job, RepositoryError> {
    let kind = JobKind::from_str(&m.kind).map_err(|_| corrupt("job kind"))?;
    Ok(Job {
        id: JobId(m.id),
        tenant_id: TenantId(m.tenant_id),
        kind,
        state: JobState::from_str(&m.state).map_err(|_| corrupt("job state"))?,
        result: m
            .result
            .map(|v| JobOutcome::from_json(kind, v))
            .transpose()
            .map_err(|_| corrupt("job result"))?,
        error: m.error,
        created_by: m.created_by.as_deref().and_then(UserId::parse),
        created_at: m.created_at,
        finished_at: m.finished_at,
        lease: match (m.owner, m.lease_until) {
            (Some(owner), Some(until)) => Some(JobLease { owner, until }),
            _ => None,
        },
    })
}

#[async_trait]
impl JobRepository for SeaJobRepository {
    async fn save(&self, j: &Job) -> Result<(), RepositoryError> {
        let conn = self.db.tenant_write(j.tenant_id).await?;
        upsert(&conn, j).await?;
        conn.end().await
    }

    async fn save_with_events(
        &self,
        j: &Job,
        events: &[crm_domain::event::NewEvent],
    ) -> Result<(), RepositoryError> {
        let txn = self.db.tenant_tx(j.tenant_id).await?;
        upsert(&txn, j).await?;
        crate::events::append(&txn, events).await?;
        txn.commit().await.map_err(map_db_err)
    }

    async fn find(&self, tenant: TenantId, id: JobId) -> Result<Option<Job>, RepositoryError> {
        let conn = self.db.tenant_read(tenant).await?;
        let row = job::Entity::find_by_id((tenant.0, id.0))
            .one(&conn)
            .await
            .map_err(map_db_err)?;
        conn.end().await?;
        row.map(job_to_domain).transpose()
    }

    async fn renew_leases(
        &self,
        owner: &str,
        until: DateTime<Utc>,
    ) -> Result<u64, RepositoryError> {
        use job::Column as C;
        // Cross-tenant by nature: this process's jobs, or every tenant's expired ones.
        let txn = self.db.system_tx().await?;
        let done = job::Entity::update_many()
            .col_expr(C::LeaseUntil, Expr::value(until))
            .filter(C::State.eq(JobState::Running.as_str()))
            .filter(C::Owner.eq(owner))
            .exec(&txn)
            .await
            .map_err(map_db_err)?;
        txn.commit().await.map_err(map_db_err)?;
        Ok(done.rows_affected)
    }

    async fn fail_expired(&self, now: DateTime<Utc>, error: &str) -> Result<u64, RepositoryError> {
        use job::Column as C;
        // Cross-tenant by nature: this process's jobs, or every tenant's expired ones.
        let txn = self.db.system_tx().await?;
        let done = job::Entity::update_many()
            .col_expr(C::State, Expr::value(JobState::Failed.as_str()))
            .col_expr(C::Error, Expr::value(error))
            .col_expr(C::FinishedAt, Expr::value(now))
            .col_expr(C::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .filter(C::State.eq(JobState::Running.as_str()))
            .filter(
                sea_orm::Condition::any()
                    .add(C::LeaseUntil.is_null())
                    .add(C::LeaseUntil.lt(now)),
            )
            .exec(&txn)
            .await
            .map_err(map_db_err)?;
        txn.commit().await.map_err(map_db_err)?;
        Ok(done.rows_affected)
    }
}

/// Inserts the job's row, or updates its state, result, error, end and lease.
async fn upsert<Conn: sea_orm::ConnectionTrait>(
    conn: &Conn,
    j: &Job,
) -> Result<(), RepositoryError> {
    use job::Column as C;
    let row = job::ActiveModel {
        tenant_id: Set(j.tenant_id.0),
        id: Set(j.id.0),
        kind: Set(j.kind.as_str().to_owned()),
        state: Set(j.state.as_str().to_owned()),
        result: Set(j.result_json()),
        error: Set(j.error.clone()),
        created_by: Set(j.created_by.as_ref().map(|u| u.as_str().to_owned())),
        created_at: Set(j.created_at),
        finished_at: Set(j.finished_at),
        owner: Set(j.lease.as_ref().map(|l| l.owner.clone())),
        lease_until: Set(j.lease.as_ref().map(|l| l.until)),
    };
    job::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([C::TenantId, C::Id])
                .update_columns([
                    C::State,
                    C::Result,
                    C::Error,
                    C::FinishedAt,
                    C::Owner,
                    C::LeaseUntil,
                ])
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await
        .map_err(map_db_err)?;
    Ok(())
}
