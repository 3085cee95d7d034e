//! Configuration: defaults, then an optional TOML file, then `CRM_*` environment variables.

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crm_http::oidc::{ClaimPath, OidcSettings};
use crm_http::rate_limit::{Rate, RateLimitSettings};

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
    /// Most columns of an XLSX import: a cell with a value beyond is a 413. Default 200.
    pub max_import_columns: usize,
    /// Most bytes an XLSX import may unzip to, all its parts together, counted while it is
    /// read (413 beyond). Default 1 GiB.
    pub max_import_unzipped_bytes: u64,
    /// Most bytes of shared strings an XLSX import may hold (413 beyond). Default 64 MiB.
    pub max_import_shared_strings_bytes: u64,
    /// Folder of uploaded import files while they are received and imported (each deleted
    /// when its upload fails or its import ends; leftovers of a crash are deleted at
    /// start-up). Default `<data_dir>/uploads`.
    pub upload_dir: Option<PathBuf>,
    /// Where documents' bytes are kept: `s3://bucket/prefix` for an S3-compatible store
    /// (region, endpoint and credentials from the usual `AWS_*` variables), else a folder.
    /// Default `<data_dir>/documents`.
    pub document_store: Option<String>,
    /// Largest document upload, bytes (413 beyond). Default 25 MiB.
    pub max_document_bytes: u64,
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
    /// PostgreSQL: the role request and job connections run as (`SET ROLE` at connection
    /// start; created `NOLOGIN NOBYPASSRLS` when missing), held by row-level security to the
    /// tenant of each transaction. A plain lower-case identifier. Empty turns the wall off
    /// (connections run as the URL's user and see every tenant): unsafe, for diagnosis only.
    /// Default `crm_app`.
    pub db_role: String,
    /// HTTP worker threads. Default: one per core.
    pub workers: Option<usize>,
    /// The identity provider's JWKS URL (its `jwks_uri`): with it, RS256, PS256, ES256 and
    /// EdDSA tokens signed by the provider's keys are accepted, and HS256 tokens only when
    /// `jwt_secret` is set too. `https://` (or `http://` to the loopback). Default: none.
    pub auth_jwks_url: Option<String>,
    /// The required `iss` of provider tokens; required with `auth_jwks_url`.
    pub auth_issuer: Option<String>,
    /// The accepted `aud` of provider tokens, comma-separated; required with `auth_jwks_url`.
    pub auth_audience: Option<String>,
    /// The claim holding the tenant id (a UUID string); a dotted path reaches nested claims.
    /// Default `tenant_id`.
    pub auth_tenant_claim: String,
    /// The claim holding the role names (an array, or a space-separated string); a dotted path
    /// reaches nested claims (`realm_access.roles` for Keycloak realm roles). Default `roles`.
    pub auth_roles_claim: String,
    /// Shortest time between two fetches of the key set caused by tokens with an unknown `kid`,
    /// seconds. Default 30.
    pub auth_jwks_min_refresh_secs: u64,
    /// The key set is fetched again at the first use after it is this old, seconds. Default
    /// 3600.
    pub auth_jwks_max_age_secs: u64,
    /// Timeout of one key-set fetch, seconds. Default 5.
    pub auth_jwks_timeout_secs: u64,
    /// Requests per second per token subject (tenant and `sub`); 0 turns the limit off.
    /// Default 50.
    pub rate_limit_per_token: f64,
    /// Burst of the per-token bucket (requests). Default 200.
    pub rate_limit_per_token_burst: u32,
    /// Requests per second per tenant, all its callers together; 0 turns the limit off.
    /// Default 200.
    pub rate_limit_per_tenant: f64,
    /// Burst of the per-tenant bucket (requests). Default 1000.
    pub rate_limit_per_tenant_burst: u32,
    /// What a heavy request (import, export, recompute) costs, in requests. Default 10.
    pub rate_limit_heavy_cost: u32,
    /// Failed authentications per second per client IP; past the burst a 429 instead of a 401.
    /// 0 turns the limit off. Default 5.
    pub rate_limit_auth_failures: f64,
    /// Burst of the failed-authentication bucket. Default 100.
    pub rate_limit_auth_failures_burst: u32,
    /// Seconds between two renewals of the leases of the jobs this process runs (the
    /// heartbeat), and between two sweeps of jobs whose lease ran out. Default 5.
    pub job_heartbeat_secs: u64,
    /// Seconds a job's lease lasts from its last renewal: a `running` job whose process has
    /// not renewed it for that long is marked failed by any process sharing the database. At
    /// least twice the heartbeat, at most a day. Default 30.
    pub job_lease_secs: u64,
    /// Plain `http` webhook URLs and deliveries to loopback and private addresses are
    /// accepted (tests and local development; never in production). Default false.
    pub webhooks_allow_private: bool,
    /// Most webhook subscriptions of one tenant. Default 20.
    pub webhooks_max_subscriptions: usize,
    /// How often this process claims and sends due webhook deliveries (humantime). Default 1 s.
    #[serde(with = "humantime_text")]
    pub webhooks_delivery_interval: Duration,
    /// Most open event streams (`GET /api/v1/events/stream`) of one tenant on this process
    /// (429 beyond). Default 20.
    pub event_stream_max_per_tenant: usize,
    /// How long a stream waits before reading the log again when it had nothing new
    /// (humantime). Default 500 ms.
    #[serde(with = "humantime_text")]
    pub event_stream_poll_interval: Duration,
    /// The longest silence on a stream before a `: keep-alive` comment (humantime). Default 15 s.
    #[serde(with = "humantime_text")]
    pub event_stream_heartbeat: Duration,
    /// How long a stream waits for a client that does not read before disconnecting it
    /// (humantime). Default 10 s.
    #[serde(with = "humantime_text")]
    pub event_stream_slow_client_timeout: Duration,
    /// Seconds between two reminder runs (`follow_up.due`, `order.overdue`; every replica runs
    /// them, the database decides who emits what). A reminder fires at most this late. 1 to
    /// 3600; default 10.
    pub reminder_interval_secs: u64,
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
            max_import_columns: 200,
            max_import_unzipped_bytes: 1 << 30,
            max_import_shared_strings_bytes: 64 << 20,
            upload_dir: None,
            document_store: None,
            max_document_bytes: crm_domain::document::DEFAULT_MAX_DOCUMENT_BYTES,
            db_max_connections: 10,
            db_statement_timeout: Duration::from_secs(5),
            db_job_statement_timeout: Duration::from_secs(300),
            db_role: "crm_app".into(),
            workers: None,
            auth_jwks_url: None,
            auth_issuer: None,
            auth_audience: None,
            auth_tenant_claim: "tenant_id".into(),
            auth_roles_claim: "roles".into(),
            auth_jwks_min_refresh_secs: 30,
            auth_jwks_max_age_secs: 3600,
            auth_jwks_timeout_secs: 5,
            rate_limit_per_token: 50.0,
            rate_limit_per_token_burst: 200,
            rate_limit_per_tenant: 200.0,
            rate_limit_per_tenant_burst: 1000,
            rate_limit_heavy_cost: 10,
            rate_limit_auth_failures: 5.0,
            rate_limit_auth_failures_burst: 100,
            job_heartbeat_secs: 5,
            job_lease_secs: 30,
            webhooks_allow_private: false,
            webhooks_max_subscriptions: crm_domain::webhook::DEFAULT_MAX_SUBSCRIPTIONS,
            webhooks_delivery_interval: Duration::from_secs(1),
            event_stream_max_per_tenant: 20,
            event_stream_poll_interval: Duration::from_millis(500),
            event_stream_heartbeat: Duration::from_secs(15),
            event_stream_slow_client_timeout: Duration::from_secs(10),
            reminder_interval_secs: 10,
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

    /// The rate limits in force.
    ///
    /// # Errors
    /// A message naming the bad `CRM_RATE_LIMIT_*` setting.
    pub fn rate_limits(&self) -> anyhow::Result<RateLimitSettings> {
        let rate = |name: &str, per_second: f64, burst: u32| {
            Rate::new(per_second, burst).map_err(|e| anyhow::anyhow!("CRM_RATE_LIMIT_{name}: {e}"))
        };
        Ok(RateLimitSettings {
            per_token: rate(
                "PER_TOKEN",
                self.rate_limit_per_token,
                self.rate_limit_per_token_burst,
            )?,
            per_tenant: rate(
                "PER_TENANT",
                self.rate_limit_per_tenant,
                self.rate_limit_per_tenant_burst,
            )?,
            auth_failures_per_ip: rate(
                "AUTH_FAILURES",
                self.rate_limit_auth_failures,
                self.rate_limit_auth_failures_burst,
            )?,
            heavy_cost: NonZeroU32::new(self.rate_limit_heavy_cost)
                .ok_or_else(|| anyhow::anyhow!("CRM_RATE_LIMIT_HEAVY_COST is at least 1"))?,
        })
    }

    /// The identity provider's settings, or `None` without `auth_jwks_url`.
    ///
    /// # Errors
    /// A message naming the missing or bad `CRM_AUTH_*` setting.
    pub fn oidc(&self) -> anyhow::Result<Option<(String, OidcSettings)>> {
        let Some(url) = self.auth_jwks_url.as_ref().filter(|u| !u.trim().is_empty()) else {
            return Ok(None);
        };
        let issuer = self
            .auth_issuer
            .clone()
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| anyhow::anyhow!("CRM_AUTH_ISSUER is required with CRM_AUTH_JWKS_URL"))?;
        let audiences: Vec<String> = self
            .auth_audience
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
            .collect();
        anyhow::ensure!(
            !audiences.is_empty(),
            "CRM_AUTH_AUDIENCE is required with CRM_AUTH_JWKS_URL"
        );
        let claim = |name: &str, path: &str| {
            ClaimPath::new(path).map_err(|e| anyhow::anyhow!("CRM_AUTH_{name}_CLAIM: {e}"))
        };
        Ok(Some((
            url.trim().to_owned(),
            OidcSettings {
                issuer,
                audiences,
                tenant_claim: claim("TENANT", &self.auth_tenant_claim)?,
                roles_claim: claim("ROLES", &self.auth_roles_claim)?,
                min_refresh_interval: Duration::from_secs(self.auth_jwks_min_refresh_secs),
                max_key_age: Duration::from_secs(self.auth_jwks_max_age_secs),
            },
        )))
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

    /// The webhook settings in force.
    pub fn webhooks(&self) -> crm_domain::webhook::WebhookConfig {
        crm_domain::webhook::WebhookConfig {
            allow_private: self.webhooks_allow_private,
            max_subscriptions: self.webhooks_max_subscriptions,
        }
    }

    /// The event stream settings in force (intervals of at least 10 ms).
    pub fn event_streams(&self) -> crm_http::StreamSettings {
        let floor = |d: Duration| d.max(Duration::from_millis(10));
        crm_http::StreamSettings {
            poll_interval: floor(self.event_stream_poll_interval),
            heartbeat: floor(self.event_stream_heartbeat),
            max_per_tenant: self.event_stream_max_per_tenant,
            slow_client_timeout: floor(self.event_stream_slow_client_timeout),
            ..crm_http::StreamSettings::default()
        }
    }

    /// The pause between two reminder runs.
    ///
    /// # Errors
    /// A message naming `CRM_REMINDER_INTERVAL_SECS` when it is outside 1..=3600.
    pub fn reminder_interval(&self) -> Result<std::time::Duration, String> {
        let secs = self.reminder_interval_secs;
        if (1..=3600).contains(&secs) {
            Ok(std::time::Duration::from_secs(secs))
        } else {
            Err(format!(
                "CRM_REMINDER_INTERVAL_SECS must be 1..=3600 (it is {secs})"
            ))
        }
    }

    /// The limits of the XLSX import reader in force.
    pub fn xlsx_limits(&self) -> crm_infra::import_file::XlsxLimits {
        crm_infra::import_file::XlsxLimits {
            max_columns: self.max_import_columns,
            max_unzipped_bytes: self.max_import_unzipped_bytes,
            max_shared_strings_bytes: self.max_import_shared_strings_bytes,
            ..crm_infra::import_file::XlsxLimits::default()
        }
    }

    /// The upload folder in force: `upload_dir`, else `<data_dir>/uploads`.
    pub fn upload_dir(&self) -> PathBuf {
        self.upload_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("uploads"))
    }

    /// The document store in force: `document_store` when it is an `s3://` URL (an S3
    /// bucket) or a folder, else the folder `<data_dir>/documents` (created when missing).
    ///
    /// # Errors
    /// A message naming `CRM_DOCUMENT_STORE` when the store cannot be set up.
    pub fn document_store(&self) -> anyhow::Result<crm_infra::ObjectDocumentStore> {
        let configured = self
            .document_store
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        match configured {
            Some(url) if url.starts_with("s3://") => crm_infra::ObjectDocumentStore::s3(url)
                .map_err(|e| anyhow::anyhow!("CRM_DOCUMENT_STORE: {e}")),
            Some(dir) => crm_infra::ObjectDocumentStore::local(Path::new(
                dir.strip_prefix("file://").unwrap_or(dir),
            ))
            .map_err(|e| anyhow::anyhow!("CRM_DOCUMENT_STORE: {e}")),
            None => crm_infra::ObjectDocumentStore::local(&self.data_dir.join("documents"))
                .map_err(|e| anyhow::anyhow!("the document folder: {e}")),
        }
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
    fn rate_limits_are_on_by_default_and_zero_turns_them_off() {
        let c = Config::default();
        let r = c.rate_limits().unwrap();
        assert_eq!(r.per_token.unwrap().burst.get(), 200);
        assert_eq!(r.per_tenant.unwrap().burst.get(), 1000);
        assert_eq!(r.heavy_cost.get(), 10);
        let off = Config {
            rate_limit_per_token: 0.0,
            rate_limit_per_tenant: 0.0,
            rate_limit_auth_failures: 0.0,
            ..c.clone()
        };
        assert_eq!(
            off.rate_limits().unwrap(),
            RateLimitSettings {
                heavy_cost: r.heavy_cost,
                ..RateLimitSettings::off()
            }
        );
        let bad = Config {
            rate_limit_per_token_burst: 0,
            ..c
        };
        let err = bad.rate_limits().unwrap_err().to_string();
        assert!(err.contains("CRM_RATE_LIMIT_PER_TOKEN"), "{err}");
    }

    #[test]
    fn an_identity_provider_needs_an_issuer_and_an_audience() {
        let c = Config::default();
        assert!(c.oidc().unwrap().is_none());
        let jwks = Config {
            auth_jwks_url: Some("https://idp.example.com/certs".into()),
            ..c
        };
        let err = jwks.oidc().unwrap_err().to_string();
        assert!(err.contains("CRM_AUTH_ISSUER"), "{err}");
        let with_issuer = Config {
            auth_issuer: Some("https://idp.example.com".into()),
            ..jwks
        };
        let err = with_issuer.oidc().unwrap_err().to_string();
        assert!(err.contains("CRM_AUTH_AUDIENCE"), "{err}");
        let full = Config {
            auth_audience: Some("crm, crm-api".into()),
            auth_roles_claim: "realm_access.roles".into(),
            ..with_issuer
        };
        let (url, settings) = full.oidc().unwrap().unwrap();
        assert_eq!(url, "https://idp.example.com/certs");
        assert_eq!(settings.audiences, ["crm", "crm-api"]);
        assert_eq!(settings.roles_claim.as_str(), "realm_access.roles");
        let bad_claim = Config {
            auth_tenant_claim: ".tenant".into(),
            ..full
        };
        let err = bad_claim.oidc().unwrap_err().to_string();
        assert!(err.contains("CRM_AUTH_TENANT_CLAIM"), "{err}");
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

    #[test]
    fn the_database_role_defaults_to_crm_app_and_an_empty_one_turns_the_wall_off() {
        assert_eq!(Config::default().db_role, "crm_app");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("crm.toml");
        std::fs::write(&path, "db_role = \"\"\n").unwrap();
        assert_eq!(Config::load(Some(&path)).unwrap().db_role, "");
    }
}
