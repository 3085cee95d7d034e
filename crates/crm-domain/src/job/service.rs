//! Use cases on jobs: reading one with the permission of its kind. (The recovery of jobs a
//! stopped process left running is [`super::LeasedJobs::sweep`].)

use std::sync::Arc;

use super::model::Job;
use super::ports::JobRepository;
use crate::access::{Actor, Permission};
use crate::error::DomainError;
use crate::ids::JobId;

/// Reading jobs.
#[derive(Clone)]
pub struct JobService {
    jobs: Arc<dyn JobRepository>,
}

impl JobService {
    /// Wires the service.
    pub fn new(jobs: Arc<dyn JobRepository>) -> Self {
        Self { jobs }
    }

    /// A job of any kind of the caller's tenant (`GET /jobs/{id}`): needs `customers.view`, and
    /// the permission of the job's kind ([`super::JobKind::read_permission`]: an import's job
    /// needs `customers.manage`).
    ///
    /// # Errors
    /// [`DomainError::Forbidden`] without `customers.view`, or without the kind's permission;
    /// [`DomainError::NotFound`] (`job`) when absent or another tenant's.
    #[tracing::instrument(name = "JobService::job", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id, job_id = %id))]
    pub async fn job(&self, actor: &Actor, id: JobId) -> Result<Job, DomainError> {
        actor.require(Permission::CustomersView)?;
        let job = self
            .jobs
            .find(actor.tenant_id, id)
            .await?
            .ok_or(DomainError::NotFound { entity: "job" })?;
        actor.require(job.kind.read_permission())?;
        Ok(job)
    }

    /// An import job of the caller's tenant (`GET /imports/{id}`; needs `customers.manage`).
    ///
    /// # Errors
    /// [`DomainError::Forbidden`] without `customers.manage`; [`DomainError::NotFound`]
    /// (`import`) when absent, another tenant's, or not an import.
    #[tracing::instrument(name = "JobService::import", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id, job_id = %id))]
    pub async fn import(&self, actor: &Actor, id: JobId) -> Result<Job, DomainError> {
        actor.require(Permission::CustomersManage)?;
        self.jobs
            .find(actor.tenant_id, id)
            .await?
            .filter(|j| j.kind.is_import())
            .ok_or(DomainError::NotFound { entity: "import" })
    }
}
