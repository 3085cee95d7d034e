//! Customer documents (issue 13): the metadata of files attached to a customer, in
//! `customer_documents`. The bytes live in the object store under `object_key`
//! (`tenants/<tenant>/customers/<customer>/<document id>`, never the uploaded name).
//!
//! A customer's documents are read newest first (`ix_customer_documents_customer`); the
//! tenant's expiring documents soonest first (`ix_customer_documents_expiry`). Hard-deleting a
//! customer deletes its rows (cascade) and leaves their objects, which `crm-server documents
//! check` reports as orphans; soft deletion leaves them, hidden behind the customer, until a
//! restore.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

/// The `customer_documents` table and its indexes.
#[derive(DeriveMigrationName)]
pub struct Migration;

fn col(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name)).take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("customer_documents"))
                    .col(col("tenant_id").uuid().not_null())
                    .col(col("id").uuid().not_null())
                    .col(col("customer_id").uuid().not_null())
                    .col(col("title").string_len(255).not_null())
                    .col(col("category").string_len(32).not_null())
                    // The uploaded name, sanitised (no path, control characters or quotes).
                    .col(col("file_name").string_len(255).not_null())
                    .col(col("content_type").string_len(128).not_null())
                    .col(col("size_bytes").big_integer().not_null())
                    // Lower-case hex.
                    .col(col("sha256").string_len(64).not_null())
                    .col(col("object_key").string_len(255).not_null())
                    .col(col("expires_at").timestamp_with_time_zone().null())
                    .col(col("created_by").string_len(255).null())
                    .col(col("created_at").timestamp_with_time_zone().not_null())
                    .primary_key(
                        Index::create()
                            .col(Alias::new("tenant_id"))
                            .col(Alias::new("id")),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from_tbl(Alias::new("customer_documents"))
                            .from_col(Alias::new("tenant_id"))
                            .from_col(Alias::new("customer_id"))
                            .to_tbl(Alias::new("customers"))
                            .to_col(Alias::new("tenant_id"))
                            .to_col(Alias::new("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .take(),
            )
            .await?;
        let db = manager.get_connection();
        for sql in [
            "CREATE INDEX ix_customer_documents_customer ON customer_documents \
             (tenant_id, customer_id, created_at, id)",
            "CREATE INDEX ix_customer_documents_expiry ON customer_documents \
             (tenant_id, expires_at, id) WHERE expires_at IS NOT NULL",
        ] {
            db.execute_unprepared(sql).await?;
        }
        // PostgreSQL: behind the tenant wall (row-level security, migration 14).
        crate::m20261121_000014_row_level_security::tenant_wall(manager, "customer_documents")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Alias::new("customer_documents")).take())
            .await
    }
}
