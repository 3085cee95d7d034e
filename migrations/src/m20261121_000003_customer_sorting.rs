//! Sorting and filtering the customer list: a `sort_name` column (the lower-cased name, compared
//! byte-wise on both backends), byte-wise `customer_code` on PostgreSQL, and indexes for the
//! sort keys. Every index leads with `tenant_id`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

/// Sort column and list indexes.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let pg = db.get_database_backend() == DatabaseBackend::Postgres;
        let mut statements: Vec<&str> = Vec::new();
        if pg {
            statements.extend([
                "ALTER TABLE customers ADD COLUMN sort_name TEXT COLLATE \"C\" NOT NULL DEFAULT ''",
                "ALTER TABLE customers ALTER COLUMN customer_code TYPE VARCHAR(32) COLLATE \"C\"",
            ]);
        } else {
            statements.push("ALTER TABLE customers ADD COLUMN sort_name TEXT NOT NULL DEFAULT ''");
        }
        // Rows written before this migration: the application lower-cases with Unicode rules;
        // SQLite's LOWER only folds ASCII, which the next write of a row corrects.
        statements.extend([
            "UPDATE customers SET sort_name = LOWER(name)",
            "CREATE INDEX ix_customers_sort_name ON customers (tenant_id, sort_name, id)",
            "CREATE INDEX ix_customers_updated ON customers (tenant_id, updated_at, id)",
            "CREATE INDEX ix_customers_total_spent ON customers (tenant_id, total_spent, id)",
            "CREATE INDEX ix_customers_total_orders ON customers (tenant_id, total_orders, id)",
            "CREATE INDEX ix_customers_last_order ON customers (tenant_id, last_order_at, id)",
            "CREATE INDEX ix_customers_follow_up ON customers (tenant_id, next_follow_up_at, id)",
            "CREATE INDEX ix_customers_status ON customers (tenant_id, status, created_at)",
            "CREATE INDEX ix_customers_tier ON customers (tenant_id, tier_id)",
        ]);
        for sql in statements {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
