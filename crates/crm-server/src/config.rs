//! Configuration: defaults, then an optional TOML file, then `CRM_*` environment variables.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Everything the server reads at start-up. Each field is also an environment variable:
/// `CRM_` + the upper-case field name (`CRM_DATABASE_URL`, `CRM_BIND`, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// `sqlite://path` or `postgres://user@host/db`. Default: `sqlite://<data_dir>/crm.db`.
    pub database_url: Option<String>,
    /// Address to listen on. Default `127.0.0.1:8080`.
    pub bind: String,
    /// HS256 secret for bearer tokens. Default: generated once and kept in
    /// `<data_dir>/jwt-secret` (development only; a warning is logged).
    pub jwt_secret: Option<String>,
    /// Folder for the default SQLite file and the generated secret. Default `./data`.
    pub data_dir: PathBuf,
    /// Log filter in `tracing` env-filter syntax. Default `info`.
    pub log: String,
    /// `text` or `json` log lines. Default `text`.
    pub log_format: String,
    /// Largest request body, bytes (413 beyond). Default 1 MiB.
    pub max_body_bytes: usize,
    /// Largest import upload, bytes (413 beyond). Default 200 MiB.
    pub max_import_bytes: usize,
    /// Most data rows in an import file (413 beyond). Default 2,000,000.
    pub max_import_rows: u64,
    /// Largest database pool. Default 10.
    pub db_max_connections: u32,
    /// HTTP worker threads. Default: one per core.
    pub workers: Option<usize>,
    /// Seconds between two renewals of the leases of the jobs this process runs (the
    /// heartbeat), and between two sweeps of jobs whose lease ran out. Default 5.
    pub job_heartbeat_secs: u64,
    /// Seconds a job's lease lasts from its last renewal: a `running` job whose process has
    /// not renewed it for that long is marked failed by any process sharing the database. At
    /// least twice the heartbeat, at most a day. Default 30.
    pub job_lease_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: None,
            bind: "127.0.0.1:8080".into(),
            jwt_secret: None,
            data_dir: PathBuf::from("data"),
            log: "info".into(),
            log_format: "text".into(),
            max_body_bytes: 1 << 20,
            max_import_bytes: 200 << 20,
            max_import_rows: 2_000_000,
            db_max_connections: 10,
            workers: None,
            job_heartbeat_secs: 5,
            job_lease_secs: 30,
        }
    }
}

impl Config {
    /// Defaults, overridden by `file` (TOML) when given, overridden by `CRM_*` variables.
    ///
    /// # Errors
    /// A message naming the bad key or file.
    pub fn load(file: Option<&Path>) -> Result<Self, Box<figment::Error>> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            fig = fig.merge(Toml::file_exact(path));
        }
        fig.merge(Env::prefixed("CRM_")).extract().map_err(Box::new)
    }

    /// The job heartbeat and lease, checked: a heartbeat of at least 1 s, a lease of at least
    /// two heartbeats (a late renewal must not lose it) and at most a day.
    ///
    /// # Errors
    /// A message naming the setting when they are out of range.
    pub fn job_leases(&self) -> Result<JobLeaseTimes, String> {
        const DAY: u64 = 86_400;
        let (heartbeat, lease) = (self.job_heartbeat_secs, self.job_lease_secs);
        if !(1..=DAY / 2).contains(&heartbeat) {
            return Err(format!(
                "CRM_JOB_HEARTBEAT_SECS must be 1..={} (it is {heartbeat})",
                DAY / 2
            ));
        }
        if lease < heartbeat.saturating_mul(2) || lease > DAY {
            return Err(format!(
                "CRM_JOB_LEASE_SECS must be at least twice CRM_JOB_HEARTBEAT_SECS ({}) and at \
                 most {DAY} (it is {lease})",
                heartbeat.saturating_mul(2)
            ));
        }
        Ok(JobLeaseTimes {
            heartbeat: std::time::Duration::from_secs(heartbeat),
            lease: std::time::Duration::from_secs(lease),
        })
    }

    /// The database URL in force.
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}/crm.db", self.data_dir.display()))
    }
}

/// The job heartbeat and lease in force ([`Config::job_leases`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobLeaseTimes {
    /// How often this process renews its jobs' leases and sweeps expired ones.
    pub heartbeat: std::time::Duration,
    /// How long a lease lasts from its last renewal.
    pub lease: std::time::Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_serve_sqlite_under_data_on_loopback() {
        let c = Config::default();
        assert_eq!(c.database_url(), "sqlite://data/crm.db");
        assert_eq!(c.bind, "127.0.0.1:8080");
    }

    #[test]
    fn job_leases_are_checked() {
        let ok = Config::default().job_leases().unwrap();
        assert_eq!((ok.heartbeat.as_secs(), ok.lease.as_secs()), (5, 30));
        for (heartbeat, lease) in [(0, 30), (5, 9), (5, 86_401), (86_400, 86_400)] {
            let c = Config {
                job_heartbeat_secs: heartbeat,
                job_lease_secs: lease,
                ..Config::default()
            };
            assert!(c.job_leases().is_err(), "{heartbeat} / {lease}");
        }
    }

    #[test]
    fn a_file_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("crm.toml");
        std::fs::write(&path, "bind = \"0.0.0.0:9000\"\nmax_body_bytes = 2048\n").unwrap();
        let c = Config::load(Some(&path)).unwrap();
        assert_eq!((c.bind.as_str(), c.max_body_bytes), ("0.0.0.0:9000", 2048));
    }
}
