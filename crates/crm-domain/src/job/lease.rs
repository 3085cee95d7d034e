//! Leases on running jobs, so that several processes (instances of a deployment, a restarted
//! server, the CLI) can share one database without failing each other's jobs.
//!
//! Every process has an instance id. A `running` job is stored with that id as its owner and
//! a lease end `lease` ahead; the process renews the leases of its running jobs every
//! heartbeat ([`LeasedJobs::heartbeat`], well inside the lease). A job whose lease has run out
//! belongs to a process that stopped (or lost the database for longer than the lease): any
//! process's sweep ([`LeasedJobs::sweep`], at start-up and then periodically) marks it failed
//! with [`INTERRUPTED`], keeping the progress it recorded. A job whose lease is live is never
//! touched by another process.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};

use super::model::{INTERRUPTED, Job, JobLease, JobState};
use super::ports::JobRepository;
use crate::error::{DomainError, RepositoryError};
use crate::ids::{JobId, TenantId};
use crate::ports::{Clock, truncate_to_micros};

/// The jobs of this process, under leases: a [`JobRepository`] that stores every `running` job
/// it saves with this process as owner and a lease ending `lease` from now (and an ended job
/// without a lease), plus the heartbeat and the sweep. The services that run jobs are given
/// this as their job repository.
pub struct LeasedJobs {
    inner: Arc<dyn JobRepository>,
    owner: String,
    lease: TimeDelta,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for LeasedJobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeasedJobs")
            .field("owner", &self.owner)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

impl LeasedJobs {
    /// Jobs stored in `inner`, owned by the process `owner` (an instance id unique per process
    /// start) under leases of `lease` (a few heartbeats long: 30 s against a 5 s heartbeat).
    pub fn new(
        inner: Arc<dyn JobRepository>,
        owner: impl Into<String>,
        lease: TimeDelta,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            inner,
            owner: owner.into(),
            lease,
            clock,
        }
    }

    /// This process's instance id.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// A lease held by this process from now.
    fn lease_from(&self, now: DateTime<Utc>) -> JobLease {
        JobLease {
            owner: self.owner.clone(),
            until: now.checked_add_signed(self.lease).unwrap_or(now),
        }
    }

    /// Renews the leases of this process's running jobs to `lease` from now; returns how many.
    /// Call it every heartbeat interval, well inside the lease.
    ///
    /// # Errors
    /// [`DomainError::Unavailable`] when the database cannot be reached (the leases then run
    /// on until their end).
    #[tracing::instrument(name = "LeasedJobs::heartbeat", skip_all)]
    pub async fn heartbeat(&self) -> Result<u64, DomainError> {
        let now = truncate_to_micros(self.clock.now());
        let lease = self.lease_from(now);
        Ok(self.inner.renew_leases(&lease.owner, lease.until).await?)
    }

    /// Marks failed ([`INTERRUPTED`]) the running jobs whose lease has run out, whoever held
    /// them, and those stored without a lease; returns how many. Call it at start-up and then
    /// periodically; a job whose lease is live (this process's or another's) is left alone.
    ///
    /// # Errors
    /// [`DomainError::Unavailable`] when the database cannot be reached.
    #[tracing::instrument(name = "LeasedJobs::sweep", skip_all)]
    pub async fn sweep(&self) -> Result<u64, DomainError> {
        let now = truncate_to_micros(self.clock.now());
        Ok(self.inner.fail_expired(now, INTERRUPTED).await?)
    }
}

#[async_trait]
impl JobRepository for LeasedJobs {
    /// Saves the job, a `running` one under this process's lease from now, an ended one
    /// without a lease.
    async fn save(&self, job: &Job) -> Result<(), RepositoryError> {
        let mut leased = job.clone();
        leased.lease = (job.state == JobState::Running)
            .then(|| self.lease_from(truncate_to_micros(self.clock.now())));
        self.inner.save(&leased).await
    }

    /// As [`LeasedJobs::save`], with the events in the same transaction.
    async fn save_with_events(
        &self,
        job: &Job,
        events: &[crate::event::NewEvent],
    ) -> Result<(), RepositoryError> {
        let mut leased = job.clone();
        leased.lease = (job.state == JobState::Running)
            .then(|| self.lease_from(truncate_to_micros(self.clock.now())));
        self.inner.save_with_events(&leased, events).await
    }

    async fn find(&self, tenant: TenantId, id: JobId) -> Result<Option<Job>, RepositoryError> {
        self.inner.find(tenant, id).await
    }

    async fn renew_leases(
        &self,
        owner: &str,
        until: DateTime<Utc>,
    ) -> Result<u64, RepositoryError> {
        self.inner.renew_leases(owner, until).await
    }

    async fn fail_expired(&self, now: DateTime<Utc>, error: &str) -> Result<u64, RepositoryError> {
        self.inner.fail_expired(now, error).await
    }
}
