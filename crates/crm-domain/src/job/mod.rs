//! Background jobs: long-running use cases (an RFM recompute, an import) that answer at once
//! with a `running` job and record their progress and outcome on it.
//!
//! - `model`: [`Job`], [`JobState`], [`JobKind`] (a closed set, stored as `rfm_recompute`,
//!   `import_customers`, `import_orders`) and the typed outcome of each kind ([`JobOutcome`]:
//!   [`RfmRecomputeOutcome`], [`ImportOutcome`] with its [`ImportCounts`]), with their JSON form
//!   (what storage keeps and the API shows);
//! - `ports`: [`JobRepository`] (save, find, and the start-up recovery of jobs a stopped
//!   process left `running`);
//! - `service`: [`JobService`]: reading a job with the permission of its kind, and that
//!   recovery.

mod model;
mod ports;
mod service;
#[cfg(test)]
mod tests;

pub use model::{
    INTERRUPTED, ImportCounts, ImportOutcome, Job, JobKind, JobOutcome, JobState,
    RfmRecomputeOutcome, Started,
};
pub use ports::JobRepository;
#[cfg(any(test, feature = "mock"))]
pub use ports::MockJobRepository;
pub use service::JobService;
