//! Free-text search: the search document on each customer (`search_text`, `search_phones`),
//! the typo-tolerance terms, and the substring indexes: pg_trgm GIN on PostgreSQL (with
//! btree_gin so `tenant_id` leads), an FTS5 trigram table kept in step by triggers on SQLite.
//! Documents of existing customers are filled by `crm_infra::Database::migrate` after this runs.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

/// Search columns, terms and indexes.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let pg = db.get_database_backend() == DatabaseBackend::Postgres;
        let mut sql: Vec<&str> = vec![
            "ALTER TABLE customers ADD COLUMN search_text TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE customers ADD COLUMN search_phones TEXT NOT NULL DEFAULT ''",
        ];
        if pg {
            sql.extend([
                "CREATE TABLE customer_search_terms (tenant_id UUID NOT NULL, term VARCHAR(40) NOT NULL, customer_id UUID NOT NULL, \
                 PRIMARY KEY (tenant_id, term, customer_id), \
                 FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id) ON DELETE CASCADE)",
                "CREATE EXTENSION IF NOT EXISTS pg_trgm",
                "CREATE EXTENSION IF NOT EXISTS btree_gin",
                "CREATE INDEX ix_customers_search_text ON customers USING gin (tenant_id, search_text gin_trgm_ops)",
                "CREATE INDEX ix_customers_search_phones ON customers USING gin (tenant_id, search_phones gin_trgm_ops)",
            ]);
        } else {
            sql.extend([
                "CREATE TABLE customer_search_terms (tenant_id BLOB NOT NULL, term TEXT NOT NULL, customer_id BLOB NOT NULL, \
                 PRIMARY KEY (tenant_id, term, customer_id), \
                 FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id) ON DELETE CASCADE)",
                "CREATE VIRTUAL TABLE customer_fts USING fts5(search_text, search_phones, content='customers', content_rowid='rowid', tokenize='trigram')",
                "CREATE TRIGGER customers_fts_insert AFTER INSERT ON customers BEGIN \
                 INSERT INTO customer_fts (rowid, search_text, search_phones) VALUES (new.rowid, new.search_text, new.search_phones); END",
                "CREATE TRIGGER customers_fts_delete AFTER DELETE ON customers BEGIN \
                 INSERT INTO customer_fts (customer_fts, rowid, search_text, search_phones) VALUES ('delete', old.rowid, old.search_text, old.search_phones); END",
                "CREATE TRIGGER customers_fts_update AFTER UPDATE OF search_text, search_phones ON customers BEGIN \
                 INSERT INTO customer_fts (customer_fts, rowid, search_text, search_phones) VALUES ('delete', old.rowid, old.search_text, old.search_phones); \
                 INSERT INTO customer_fts (rowid, search_text, search_phones) VALUES (new.rowid, new.search_text, new.search_phones); END",
                "INSERT INTO customer_fts (customer_fts) VALUES ('rebuild')",
            ]);
        }
        // Rewriting one customer's terms deletes them by customer.
        sql.push("CREATE INDEX ix_search_terms_customer ON customer_search_terms (tenant_id, customer_id)");
        for s in sql {
            db.execute_unprepared(s).await?;
        }
        Ok(())
    }
}
