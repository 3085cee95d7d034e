//! Typo-tolerance terms move from one row per (term, customer) in `customer_search_terms`
//! (about 11 rows, 3 index entries and a foreign-key check each per customer) to one column
//! on the customer, `search_terms` (the terms separated by spaces), indexed by an inverted
//! index: GIN over `string_to_array(search_terms, ' ')` with `tenant_id` leading (btree_gin) on
//! PostgreSQL, an FTS5 table with the `unicode61` tokenizer (diacritics kept) kept in step by
//! triggers on SQLite. Documents are rebuilt by the start-up backfill (`search_text` emptied).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

/// `customers.search_terms` and its index; `customer_search_terms` dropped.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let mut sql: Vec<&str> = vec![
            "DROP TABLE customer_search_terms",
            "ALTER TABLE customers ADD COLUMN search_terms TEXT NOT NULL DEFAULT ''",
        ];
        if db.get_database_backend() == DatabaseBackend::Postgres {
            sql.push(
                "CREATE INDEX ix_customers_search_terms ON customers \
                 USING gin (tenant_id, (string_to_array(search_terms, ' ')))",
            );
        } else {
            sql.extend([
                "CREATE VIRTUAL TABLE customer_terms_fts USING fts5(search_terms, content='customers', \
                 content_rowid='rowid', tokenize='unicode61 remove_diacritics 0')",
                "CREATE TRIGGER customers_terms_insert AFTER INSERT ON customers BEGIN \
                 INSERT INTO customer_terms_fts (rowid, search_terms) VALUES (new.rowid, new.search_terms); END",
                "CREATE TRIGGER customers_terms_delete AFTER DELETE ON customers BEGIN \
                 INSERT INTO customer_terms_fts (customer_terms_fts, rowid, search_terms) \
                 VALUES ('delete', old.rowid, old.search_terms); END",
                "CREATE TRIGGER customers_terms_update AFTER UPDATE OF search_terms ON customers BEGIN \
                 INSERT INTO customer_terms_fts (customer_terms_fts, rowid, search_terms) \
                 VALUES ('delete', old.rowid, old.search_terms); \
                 INSERT INTO customer_terms_fts (rowid, search_terms) VALUES (new.rowid, new.search_terms); END",
            ]);
        }
        sql.push("UPDATE customers SET search_text = ''");
        for s in sql {
            db.execute_unprepared(s).await?;
        }
        Ok(())
    }
}
