//! A background job, its kind, and the typed outcome each kind records.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::{JobId, TenantId, UserId};

/// The error of a `running` job whose lease ran out: the process that ran it stopped (or
/// lost the database for longer than the lease).
pub const INTERRUPTED: &str =
    "interrupted: the server stopped while the job ran; its result says the last line committed";

/// Why a job stopped when its own process found it no longer `running` while writing its
/// progress: its lease had run out (no heartbeat for longer than the lease) and a sweep marked
/// it failed; the batch being written was rolled back.
pub const LEASE_LOST: &str = "the job's lease ran out and it was marked failed; the batch being \
     written was rolled back";

/// Which process runs a `running` job, and until when that process is taken to be alive: it
/// renews the lease (a heartbeat) while the job runs, and a job whose lease has run out is
/// marked failed ([`INTERRUPTED`]) by any process's sweep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobLease {
    /// The running process's instance id (unique per process start).
    pub owner: String,
    /// The lease's end (UTC, microseconds).
    pub until: DateTime<Utc>,
}

string_enum!(
    /// Where a background job is.
    JobState {
        /// Accepted, running.
        Running => "running",
        /// Finished; `result` holds the outcome.
        Completed => "completed",
        /// Stopped by an error; `error` says which.
        Failed => "failed",
    }
);

string_enum!(
    /// What a job does. A closed set: the strings are the storage and API form.
    JobKind {
        /// Scores every customer of the tenant (RFM) ([`RfmRecomputeOutcome`]).
        RfmRecompute => "rfm_recompute",
        /// Imports customers from a file ([`ImportOutcome`]).
        ImportCustomers => "import_customers",
        /// Imports orders from a file ([`ImportOutcome`]).
        ImportOrders => "import_orders",
    }
);

impl JobKind {
    /// The permission that reading a job of this kind needs: an import's job holds file names,
    /// counts and a dry run's preview rows (names, e-mails, phones), so it needs
    /// `customers.manage`, like starting one; an RFM recompute's holds counts only
    /// (`customers.view`).
    pub fn read_permission(self) -> crate::access::Permission {
        if self.is_import() {
            crate::access::Permission::CustomersManage
        } else {
            crate::access::Permission::CustomersView
        }
    }

    /// Whether it is an import (of customers or of orders).
    pub fn is_import(self) -> bool {
        self.imports().is_some()
    }

    /// What an import reads (`customers`, `orders`: the `kind` of its outcome's JSON); `None`
    /// for other kinds.
    pub fn imports(self) -> Option<&'static str> {
        match self {
            JobKind::RfmRecompute => None,
            JobKind::ImportCustomers => Some("customers"),
            JobKind::ImportOrders => Some("orders"),
        }
    }
}

/// What an RFM recompute did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RfmRecomputeOutcome {
    /// Customers scored.
    pub scored: u64,
    /// The instant recency was computed against.
    pub reference: DateTime<Utc>,
    /// Wall time, milliseconds.
    pub duration_ms: u64,
}

/// Counters of an import.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportCounts {
    /// Data rows read.
    pub rows_read: u64,
    /// Customers or orders created.
    pub created: u64,
    /// Customers updated.
    pub updated: u64,
    /// Rows that matched and were left alone.
    pub skipped: u64,
    /// Rows rejected (see the job's errors).
    pub failed: u64,
    /// Rows imported with a warning (a customer's address columns without a street or a city:
    /// the customer is imported, its address is not); the first ones are the outcome's
    /// `warning_rows`. `0` in the progress an older version recorded.
    #[serde(default)]
    pub warnings: u64,
}

/// Progress of an import, recorded after each batch, and its outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportOutcome {
    /// The file's name as uploaded.
    pub file: String,
    /// Whether nothing is written.
    pub dry_run: bool,
    /// Counters so far.
    #[serde(flatten)]
    pub counts: ImportCounts,
    /// The last line committed (1, the header, before the first batch).
    pub last_line: u64,
    /// Wall time so far, milliseconds.
    pub duration_ms: u64,
    /// Rows read per second, rounded.
    pub rows_per_second: f64,
    /// For a dry run, the first rows as they would be stored; `None` otherwise.
    pub preview: Option<Vec<Value>>,
    /// The first 100 warnings ([`crate::import::WARNING_ROWS`]) of the rows counted in
    /// `warnings`, one per field (`address.line1`), in file order.
    #[serde(default)]
    pub warning_rows: Vec<crate::import::RowError>,
}

/// The outcome (or progress) a job records, by kind.
#[derive(Debug, Clone, PartialEq)]
pub enum JobOutcome {
    /// Of [`JobKind::RfmRecompute`].
    RfmRecompute(RfmRecomputeOutcome),
    /// Of [`JobKind::ImportCustomers`] and [`JobKind::ImportOrders`].
    Import(ImportOutcome),
}

impl JobOutcome {
    /// The JSON form, which storage keeps and the API shows: the outcome's fields, and for an
    /// import `kind` (what it reads: `customers` or `orders`).
    pub fn to_json(&self, kind: JobKind) -> Value {
        // Serialising these plain structs cannot fail (string keys, no maps of other keys).
        let mut value = match self {
            JobOutcome::RfmRecompute(o) => serde_json::to_value(o),
            JobOutcome::Import(o) => serde_json::to_value(o),
        }
        .unwrap_or_default();
        if let (Some(imports), Value::Object(fields)) = (kind.imports(), &mut value) {
            fields.insert("kind".into(), imports.into());
        }
        value
    }

    /// Reads the JSON form of the outcome of a job of `kind`.
    ///
    /// # Errors
    /// When `value` is not the outcome of that kind.
    pub fn from_json(kind: JobKind, value: Value) -> Result<Self, serde_json::Error> {
        Ok(match kind {
            JobKind::RfmRecompute => JobOutcome::RfmRecompute(serde_json::from_value(value)?),
            JobKind::ImportCustomers | JobKind::ImportOrders => {
                JobOutcome::Import(serde_json::from_value(value)?)
            }
        })
    }
}

/// A background job of a tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Id (UUID v7).
    pub id: JobId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// What it does.
    pub kind: JobKind,
    /// State.
    pub state: JobState,
    /// Progress while running (imports), outcome when completed; of the job's kind.
    pub result: Option<JobOutcome>,
    /// Error message, when failed.
    pub error: Option<String>,
    /// Who started it.
    pub created_by: Option<UserId>,
    /// When it was started.
    pub created_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Who runs it and until when, while `running` (`None` before it is stored under a lease,
    /// and once it ended).
    pub lease: Option<JobLease>,
}

impl Job {
    /// A `running` job of `kind` started by `created_by` at `now`, with its first progress.
    pub fn start(
        id: JobId,
        tenant_id: TenantId,
        kind: JobKind,
        created_by: Option<UserId>,
        now: DateTime<Utc>,
        progress: Option<JobOutcome>,
    ) -> Self {
        Self {
            id,
            tenant_id,
            kind,
            state: JobState::Running,
            result: progress,
            error: None,
            created_by,
            created_at: now,
            finished_at: None,
            lease: None,
        }
    }

    /// Ends it `completed` at `now` with its outcome.
    pub fn complete(&mut self, outcome: JobOutcome, now: DateTime<Utc>) {
        self.state = JobState::Completed;
        self.result = Some(outcome);
        self.finished_at = Some(now);
        self.lease = None;
    }

    /// Ends it `failed` at `now` with `error`; the progress recorded so far is kept.
    pub fn fail(&mut self, error: String, now: DateTime<Utc>) {
        self.state = JobState::Failed;
        self.error = Some(error);
        self.finished_at = Some(now);
        self.lease = None;
    }

    /// Its import progress or outcome, when it is an import.
    pub fn import_outcome(&self) -> Option<&ImportOutcome> {
        match &self.result {
            Some(JobOutcome::Import(o)) => Some(o),
            _ => None,
        }
    }

    /// Its result in JSON form ([`JobOutcome::to_json`]).
    pub fn result_json(&self) -> Option<Value> {
        self.result.as_ref().map(|o| o.to_json(self.kind))
    }
}

/// A job that was started and the work that finishes it: the caller awaits `run` (to answer
/// with the finished job) or spawns it (to answer 202 at once); the domain spawns nothing.
pub struct Started {
    /// The job as started (`running`).
    pub job: Job,
    /// Does the work and records the outcome on the job; resolves to the finished job.
    pub run: std::pin::Pin<Box<dyn std::future::Future<Output = Job> + Send + 'static>>,
}

impl std::fmt::Debug for Started {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Started")
            .field("job", &self.job)
            .finish_non_exhaustive()
    }
}
