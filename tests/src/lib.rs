//! Harness of the black-box tests: [`TestApp::spawn`] starts the real server (the same
//! `crm_server::Application` the binary runs) on a free loopback port against a fresh SQLite
//! file or PostgreSQL database, and talks to it over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod fault;
pub mod imports;

use std::time::Duration;

use crm_domain::TenantId;
use crm_domain::tenant::NewTenant;
use crm_infra::testing::{Backend, TestDatabase};
use crm_server::{Application, Config, Services, services};
use serde_json::Value;

pub use crm_infra::testing::Backend as DbBackend;

/// The secret the test servers sign tokens with.
const SECRET: &str = "black-box-test-secret-0123456789abcdef";

/// A running server and a client for it.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// HTTP client.
    pub http: reqwest::Client,
    services: Services,
    keys: crm_http::JwtKeys,
    /// The server's upload folder (`CRM_UPLOAD_DIR`).
    upload_dir: std::path::PathBuf,
    _uploads: tempfile::TempDir,
    /// The server's document folder (`CRM_DOCUMENT_STORE`).
    document_dir: std::path::PathBuf,
    _documents: tempfile::TempDir,
    _db: TestDatabase,
}

/// A response: status, headers and JSON body (`Value::Null` when empty).
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
    /// Body as JSON.
    pub body: Value,
}

impl Reply {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `field` of the first entry of a problem's `errors`.
    pub fn error_field(&self) -> Option<&str> {
        self.body["errors"][0]["field"].as_str()
    }

    /// Asserts the status and that the body is `application/problem+json`.
    pub fn assert_problem(&self, status: u16) -> &Self {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "body: {}",
            self.body
        );
        assert_eq!(self.body["status"], status);
        self
    }
}

impl TestApp {
    /// Starts a server on `backend`; `None` when PostgreSQL is unreachable outside CI.
    pub async fn spawn(backend: Backend) -> Option<Self> {
        Self::spawn_with(backend, |_| {}).await
    }

    /// As [`TestApp::spawn`], with a chance to change the configuration.
    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Option<Self> {
        let db = TestDatabase::create(backend).await?;
        // A folder of its own for each server's uploads (not `./data/uploads`).
        let uploads = tempfile::tempdir().unwrap();
        // And for its documents (not `./data/documents`).
        let documents = tempfile::tempdir().unwrap();
        let mut config = Config {
            database_url: Some(db.url.clone()),
            bind: "127.0.0.1:0".into(),
            jwt_secret: Some(SECRET.into()),
            workers: Some(1),
            upload_dir: Some(uploads.path().to_path_buf()),
            document_store: Some(documents.path().display().to_string()),
            // Rate limits are off unless a test turns them on (tests/tests/rate_limits.rs).
            rate_limit_per_token: 0.0,
            rate_limit_per_tenant: 0.0,
            rate_limit_auth_failures: 0.0,
            ..Config::default()
        };
        tweak(&mut config);
        let app = Application::build(&config).await.expect("build the server");
        let base = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        Some(Self {
            base,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            services: services(&db.db),
            keys: crm_http::JwtKeys::from_secret(SECRET.as_bytes()),
            upload_dir: config.upload_dir(),
            _uploads: uploads,
            document_dir: documents.path().to_path_buf(),
            _documents: documents,
            _db: db,
        })
    }

    /// The server's database: the test's own connections to it (to hold locks, look at rows
    /// behind the API's back, or set up what no request can, such as a job left by another
    /// process).
    pub fn database(&self) -> &crm_infra::Database {
        &self._db.db
    }

    /// The server's upload folder (`CRM_UPLOAD_DIR`): empty once no upload is in progress.
    pub fn upload_dir(&self) -> &std::path::Path {
        &self.upload_dir
    }

    /// The server's document folder (`CRM_DOCUMENT_STORE`): objects under
    /// `tenants/<tenant>/customers/<customer>/<document id>`.
    pub fn document_dir(&self) -> &std::path::Path {
        &self.document_dir
    }

    /// Starts another server on this server's database, as a second instance of a deployment
    /// (or a restarted one) would be, with a chance to change its configuration; returns its
    /// base URL. It runs until the test ends.
    pub async fn spawn_peer(&self, tweak: impl FnOnce(&mut Config)) -> String {
        let mut config = Config {
            database_url: Some(self._db.url.clone()),
            bind: "127.0.0.1:0".into(),
            jwt_secret: Some(SECRET.into()),
            workers: Some(1),
            // The deployment's shared upload folder and document store.
            upload_dir: Some(self.upload_dir.clone()),
            document_store: Some(self.document_dir.display().to_string()),
            ..Config::default()
        };
        tweak(&mut config);
        let app = Application::build(&config)
            .await
            .expect("build the second server");
        let base = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        base
    }

    /// Creates a tenant (default country ID, currency IDR) and returns its id.
    pub async fn tenant(&self, name: &str) -> TenantId {
        let t = NewTenant {
            name: name.into(),
            country: Some("ID".into()),
            currency: Some("IDR".into()),
        };
        self.services.tenants.create(t).await.unwrap().id
    }

    /// Creates a tenant with this default country and currency.
    pub async fn tenant_in(&self, name: &str, country: &str, currency: &str) -> TenantId {
        let t = NewTenant {
            name: name.into(),
            country: Some(country.into()),
            currency: Some(currency.into()),
        };
        self.services.tenants.create(t).await.unwrap().id
    }

    /// A bearer token for `role` in `tenant`.
    pub fn token(&self, tenant: TenantId, role: &str) -> String {
        self.keys
            .mint(
                tenant,
                &format!("{role}-user"),
                &[role.to_owned()],
                Duration::from_secs(3600),
            )
            .unwrap()
    }

    /// A bearer token for user `sub` in `tenant` holding `roles` and the explicit
    /// `permissions` (signed HS256 with the test secret, valid for an hour).
    pub fn token_for(
        &self,
        tenant: TenantId,
        sub: &str,
        roles: &[&str],
        permissions: &[&str],
    ) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = serde_json::json!({
            "sub": sub,
            "tenant_id": tenant.0,
            "roles": roles,
            "permissions": permissions,
            "iat": now,
            "exp": now + 3600,
        });
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap()
    }

    /// Sends a request; `token` and `body` are optional; extra headers as pairs.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = req.send().await.expect("request sent");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    /// Sends raw bytes with a content type.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        token: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let res = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request sent");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.unwrap();
        Reply {
            status,
            headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    /// GET with a token.
    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call("GET", path, Some(token), None, &[]).await
    }

    /// POST JSON with a token.
    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call("POST", path, Some(token), Some(body), &[]).await
    }
}

/// Runs each named `async fn(Backend)` as a test on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() { super::$test($crate::DbBackend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() { super::$test($crate::DbBackend::Postgres).await })*
        }
    };
}
