//! Typo-tolerance terms move from one row per (term, customer) in `customer_search_terms`
//! (about 11 rows, 3 index entries and a foreign-key check each per customer) to one column
//! on the customer, `search_terms` (the terms separated by spaces), indexed by an inverted
//! index: GIN over `string_to_array(search_terms, ' ')` with `tenant_id` leading (btree_gin) on
//! PostgreSQL, a contentless FTS5 table with the `unicode61` tokenizer (diacritics kept) of
//! tenant-prefixed terms kept in step by triggers on SQLite. Documents are rebuilt by the
//! start-up backfill (`search_text` emptied).

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
            // Contentless, with every term prefixed by the tenant's id in hex (one token, as
            // `hex(tenant_id)` and the terms are letters and digits), so a lookup reads only
            // the tenant's entries (an FTS5 index spans all tenants).
            sql.extend([
                "CREATE VIRTUAL TABLE customer_terms_fts USING fts5(terms, content='', \
                 tokenize='unicode61 remove_diacritics 0')",
                "CREATE TRIGGER customers_terms_insert AFTER INSERT ON customers BEGIN \
                 INSERT INTO customer_terms_fts (rowid, terms) \
                 VALUES (new.rowid, replace(' ' || new.search_terms, ' ', ' ' || hex(new.tenant_id))); END",
                "CREATE TRIGGER customers_terms_delete AFTER DELETE ON customers BEGIN \
                 INSERT INTO customer_terms_fts (customer_terms_fts, rowid, terms) \
                 VALUES ('delete', old.rowid, replace(' ' || old.search_terms, ' ', ' ' || hex(old.tenant_id))); END",
                "CREATE TRIGGER customers_terms_update AFTER UPDATE OF search_terms ON customers BEGIN \
                 INSERT INTO customer_terms_fts (customer_terms_fts, rowid, terms) \
                 VALUES ('delete', old.rowid, replace(' ' || old.search_terms, ' ', ' ' || hex(old.tenant_id))); \
                 INSERT INTO customer_terms_fts (rowid, terms) \
                 VALUES (new.rowid, replace(' ' || new.search_terms, ' ', ' ' || hex(new.tenant_id))); END",
            ]);
        }
        sql.push("UPDATE customers SET search_text = ''");
        for s in sql {
            db.execute_unprepared(s).await?;
        }
        Ok(())
    }
}
