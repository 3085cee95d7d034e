//! [`JobRepository`] on SeaORM (`jobs`): jobs with their typed outcome stored as JSON, and the
//! start-up sweep of jobs a stopped process left `running`.

use std::str::FromStr;

use async_trait::async_trait;
use crm_domain::ids::JobId;
use crm_domain::job::{Job, JobKind, JobOutcome, JobRepository, JobState};
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
    })
}

#[async_trait]
impl JobRepository for SeaJobRepository {
    async fn save(&self, j: &Job) -> Result<(), RepositoryError> {
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
        };
        job::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([C::TenantId, C::Id])
                    .update_columns([C::State, C::Result, C::Error, C::FinishedAt])
                    .to_owned(),
            )
            .exec_without_returning(&self.db.write)
            .await
            .map_err(map_db_err)?;
        Ok(())
    }

    async fn find(&self, tenant: TenantId, id: JobId) -> Result<Option<Job>, RepositoryError> {
        job::Entity::find_by_id((tenant.0, id.0))
            .one(&self.db.read)
            .await
            .map_err(map_db_err)?
            .map(job_to_domain)
            .transpose()
    }

    async fn fail_interrupted(&self, error: &str) -> Result<u64, RepositoryError> {
        use job::Column as C;
        let done = job::Entity::update_many()
            .col_expr(C::State, Expr::value(JobState::Failed.as_str()))
            .col_expr(C::Error, Expr::value(error))
            .filter(C::State.eq(JobState::Running.as_str()))
            .exec(&self.db.write)
            .await
            .map_err(map_db_err)?;
        Ok(done.rows_affected)
    }
}
