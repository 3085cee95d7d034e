//! Background jobs: long-running use cases (an RFM recompute, an import) that answer at once
//! with a `running` job and record their progress and outcome on it.
//!
//! - `model`: [`Job`], [`JobState`], [`JobKind`] (a closed set, stored as `rfm_recompute`,
//!   `import_customers`, `import_orders`) and the typed outcome of each kind ([`JobOutcome`]:
//!   [`RfmRecomputeOutcome`], [`ImportOutcome`] with its [`ImportCounts`]), with their JSON form
//!   (what storage keeps and the API shows);
//! - `ports`: [`JobRepository`] (save, find, lease renewal, and the sweep of `running` jobs
//!   whose lease ran out);
//! - `lease`: [`LeasedJobs`]: every `running` job is held by one process under a lease it
//!   renews (a heartbeat); start-up and a periodic sweep fail only jobs whose lease ran out, so
//!   processes sharing a database leave each other's jobs alone;
//! - `service`: [`JobService`]: reading a job with the permission of its kind.

mod lease;
mod model;
mod ports;
mod service;
#[cfg(test)]
mod tests;

pub use lease::LeasedJobs;
pub use model::{
    INTERRUPTED, ImportCounts, ImportOutcome, Job, JobKind, JobLease, JobOutcome, JobState,
    LEASE_LOST, RfmRecomputeOutcome, Started,
};
pub use ports::JobRepository;
#[cfg(any(test, feature = "mock"))]
pub use ports::MockJobRepository;
pub use service::JobService;
