//! Notes (issue 13): dated Markdown notes on a customer, and complaints with a resolution,
//! in `notes`.
//!
//! A customer's notes are listed pinned first, then newest (`ix_notes_customer`); the
//! tenant-wide list runs newest first (`ix_notes_created`), by category and resolution (open
//! complaints: `ix_notes_category`) or by author (`ix_notes_author`). Hard-deleting a customer
//! deletes its notes (cascade); soft deletion leaves them, hidden behind the customer, until a
//! restore. A note's earlier bodies are not here: they are in the event log (`note.updated`).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

/// The `notes` table and its indexes.
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
                    .table(Alias::new("notes"))
                    .col(col("tenant_id").uuid().not_null())
                    .col(col("id").uuid().not_null())
                    .col(col("customer_id").uuid().not_null())
                    // Markdown, at most 64 KiB of UTF-8 (checked by the service).
                    .col(col("body").text().not_null())
                    .col(col("category").string_len(32).not_null())
                    // Complaints only: `open`, `in_progress`, `resolved`.
                    .col(col("resolution").string_len(16).null())
                    .col(col("resolved_at").timestamp_with_time_zone().null())
                    .col(col("is_internal").boolean().not_null())
                    .col(col("pinned").boolean().not_null())
                    .col(col("author").string_len(255).not_null())
                    .col(col("created_at").timestamp_with_time_zone().not_null())
                    .col(col("edited_at").timestamp_with_time_zone().null())
                    .col(col("updated_by").string_len(255).not_null())
                    .col(col("updated_at").timestamp_with_time_zone().not_null())
                    .col(col("version").big_integer().not_null())
                    .primary_key(
                        Index::create()
                            .col(Alias::new("tenant_id"))
                            .col(Alias::new("id")),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from_tbl(Alias::new("notes"))
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
            "CREATE INDEX ix_notes_customer ON notes \
             (tenant_id, customer_id, pinned, created_at, id)",
            "CREATE INDEX ix_notes_created ON notes (tenant_id, created_at, id)",
            "CREATE INDEX ix_notes_category ON notes \
             (tenant_id, category, resolution, created_at, id)",
            "CREATE INDEX ix_notes_author ON notes (tenant_id, author, created_at, id)",
        ] {
            db.execute_unprepared(sql).await?;
        }
        // PostgreSQL: behind the tenant wall (row-level security, migration 14).
        crate::m20261121_000014_row_level_security::tenant_wall(manager, "notes").await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Alias::new("notes")).take())
            .await
    }
}
