//! Configuration: defaults, then an optional TOML file, then `CRM_*` environment variables.

use std::path::{Path, PathBuf};
use std::time::Duration;

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
    /// Longest a request's SQL statement may run (humantime: `5s`, `750ms`); beyond it the
    /// database cancels the statement and the request answers 503 with `Retry-After`.
    /// PostgreSQL only (SQLite relies on the bounded queries and its busy timeout). Default 5 s.
    #[serde(with = "humantime_text")]
    pub db_statement_timeout: Duration,
    /// Longest a job's SQL statement may run (RFM recompute, statistics recompute, CLV fit,
    /// imports, migrations; see docs/ARCHITECTURE.md). PostgreSQL only. Default 300 s.
    #[serde(with = "humantime_text")]
    pub db_job_statement_timeout: Duration,
    /// HTTP worker threads. Default: one per core.
    pub workers: Option<usize>,
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
            db_statement_timeout: Duration::from_secs(5),
            db_job_statement_timeout: Duration::from_secs(300),
            workers: None,
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

    /// The database URL in force.
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}/crm.db", self.data_dir.display()))
    }
}

/// Durations as humantime text (`5s`, `750ms`, `5m`): what `CRM_DB_STATEMENT_TIMEOUT` and the
/// TOML file hold. A bare integer (figment reads `CRM_X=30` as one) counts seconds.
mod humantime_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Seconds(u64),
        Text(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        match Raw::deserialize(d)? {
            Raw::Seconds(s) => Ok(Duration::from_secs(s)),
            Raw::Text(t) => humantime::parse_duration(t.trim()).map_err(|e| {
                serde::de::Error::custom(format!(
                    "`{t}` is not a duration such as 5s or 750ms: {e}"
                ))
            }),
        }
    }
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
    fn a_file_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("crm.toml");
        std::fs::write(&path, "bind = \"0.0.0.0:9000\"\nmax_body_bytes = 2048\n").unwrap();
        let c = Config::load(Some(&path)).unwrap();
        assert_eq!((c.bind.as_str(), c.max_body_bytes), ("0.0.0.0:9000", 2048));
    }

    #[test]
    fn statement_timeouts_read_as_humantime() {
        let c = Config::default();
        assert_eq!(c.db_statement_timeout, Duration::from_secs(5));
        assert_eq!(c.db_job_statement_timeout, Duration::from_secs(300));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("crm.toml");
        std::fs::write(
            &path,
            "db_statement_timeout = \"750ms\"\ndb_job_statement_timeout = 600\n",
        )
        .unwrap();
        let c = Config::load(Some(&path)).unwrap();
        assert_eq!(c.db_statement_timeout, Duration::from_millis(750));
        assert_eq!(c.db_job_statement_timeout, Duration::from_secs(600));
        std::fs::write(&path, "db_statement_timeout = \"soon\"\n").unwrap();
        let err = Config::load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("soon"), "{err}");
    }
}
