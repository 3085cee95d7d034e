//! Customer segments (manual, auto, rfm) and the members of manual segments.

use sea_orm_migration::prelude::*;

/// `customer_segments` and `customer_segment_members`.
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
                    .table(Alias::new("customer_segments"))
                    .col(col("tenant_id").uuid().not_null())
                    .col(col("id").uuid().not_null())
                    .col(col("name").string_len(100).not_null())
                    .col(col("description").text().null())
                    .col(col("segment_type").string_len(16).not_null())
                    .col(col("rule").json_binary().not_null())
                    .col(col("created_by").string_len(255).null())
                    .col(col("created_at").timestamp_with_time_zone().not_null())
                    .col(col("updated_at").timestamp_with_time_zone().not_null())
                    .primary_key(
                        Index::create()
                            .col(Alias::new("tenant_id"))
                            .col(Alias::new("id")),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Alias::new("customer_segments"), Alias::new("tenant_id"))
                            .to(Alias::new("tenants"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("customer_segment_members"))
                    .col(col("tenant_id").uuid().not_null())
                    .col(col("segment_id").uuid().not_null())
                    .col(col("customer_id").uuid().not_null())
                    .col(col("added_at").timestamp_with_time_zone().not_null())
                    .primary_key(
                        Index::create()
                            .col(Alias::new("tenant_id"))
                            .col(Alias::new("segment_id"))
                            .col(Alias::new("customer_id")),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from_tbl(Alias::new("customer_segment_members"))
                            .from_col(Alias::new("tenant_id"))
                            .from_col(Alias::new("segment_id"))
                            .to_tbl(Alias::new("customer_segments"))
                            .to_col(Alias::new("tenant_id"))
                            .to_col(Alias::new("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from_tbl(Alias::new("customer_segment_members"))
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
        db.execute_unprepared(
            "CREATE UNIQUE INDEX ux_customer_segments_name ON customer_segments (tenant_id, name)",
        )
        .await?;
        db.execute_unprepared(
            "CREATE INDEX ix_segment_members_customer ON customer_segment_members (tenant_id, customer_id)",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in ["customer_segment_members", "customer_segments"] {
            manager
                .drop_table(Table::drop().table(Alias::new(t)).take())
                .await?;
        }
        Ok(())
    }
}
