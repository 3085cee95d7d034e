//! Test databases: a fresh SQLite file or PostgreSQL database per test, so tests run in
//! parallel, migrated and search-backfilled as the server does at start-up. PostgreSQL comes
//! from `CRM_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`); when it
//! is unreachable the PostgreSQL tests are skipped, except under `CI=true`, where that is a
//! failure.
#![allow(clippy::expect_used, clippy::panic)]

use sea_orm::{ConnectionTrait, Database as SeaDatabase};

use crate::db::{Database, DbConfig};

/// The server every PostgreSQL test database is created on.
pub fn postgres_admin_url() -> String {
    std::env::var("CRM_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Which backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in a temporary folder.
    Sqlite,
    /// A new database on the PostgreSQL server.
    Postgres,
}

/// A migrated database that is deleted when dropped.
#[derive(Debug)]
pub struct TestDatabase {
    /// The connection URL (to hand to a server under test).
    pub url: String,
    /// The connections.
    pub db: Database,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

impl TestDatabase {
    /// A fresh migrated database of `backend`, or `None` when PostgreSQL is unreachable outside
    /// CI (the caller skips the test).
    ///
    /// # Panics
    /// When the database cannot be created (or PostgreSQL is unreachable under `CI=true`).
    pub async fn create(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}/crm.db", dir.path().display());
                let db = Database::connect(&DbConfig::new(&url))
                    .await
                    .expect("sqlite connect");
                db.migrate().await.expect("migrate sqlite");
                db.backfill_search_documents()
                    .await
                    .expect("backfill sqlite");
                Some(Self {
                    url,
                    db,
                    _dir: Some(dir),
                    pg_name: None,
                })
            }
            Backend::Postgres => {
                let admin_url = postgres_admin_url();
                let admin = match SeaDatabase::connect(admin_url.as_str()).await {
                    Ok(a) => a,
                    Err(e) if std::env::var("CI").as_deref() != Ok("true") => {
                        eprintln!("skipping PostgreSQL test: {e}");
                        return None;
                    }
                    Err(e) => panic!("PostgreSQL is required under CI=true: {e}"),
                };
                let name = format!("crm_test_{}", uuid::Uuid::new_v4().simple());
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create database");
                let _ = admin.close().await;
                let url = match admin_url.rsplit_once('/') {
                    Some((base, _)) => format!("{base}/{name}"),
                    None => panic!("CRM_TEST_POSTGRES_URL has no database part"),
                };
                let mut cfg = DbConfig::new(&url);
                cfg.max_connections = 20;
                let db = Database::connect(&cfg).await.expect("postgres connect");
                db.migrate().await.expect("migrate postgres");
                db.backfill_search_documents()
                    .await
                    .expect("backfill postgres");
                Some(Self {
                    url,
                    db,
                    _dir: None,
                    pg_name: Some(name),
                })
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        // Drop runs inside the test's runtime; the cleanup gets a runtime of its own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(admin) = SeaDatabase::connect(postgres_admin_url().as_str()).await {
                    let _ = admin
                        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                    let _ = admin.close().await;
                }
            });
        })
        .join();
    }
}
