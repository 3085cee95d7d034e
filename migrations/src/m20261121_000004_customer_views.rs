//! Saved views of the customer list.

use sea_orm_migration::prelude::*;

/// The `customer_views` table.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let col = |n: &str| ColumnDef::new(Alias::new(n)).take();
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("customer_views"))
                    .col(col("tenant_id").uuid().not_null())
                    .col(col("id").uuid().not_null())
                    .col(col("owner_id").string_len(255).not_null())
                    .col(col("name").string_len(100).not_null())
                    .col(col("filter").json_binary().not_null())
                    .col(col("sort").string_len(255).not_null())
                    .col(col("columns").json_binary().not_null())
                    .col(col("shared").boolean().not_null())
                    .col(col("created_at").timestamp_with_time_zone().not_null())
                    .col(col("updated_at").timestamp_with_time_zone().not_null())
                    .primary_key(
                        Index::create()
                            .col(Alias::new("tenant_id"))
                            .col(Alias::new("id")),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Alias::new("customer_views"), Alias::new("tenant_id"))
                            .to(Alias::new("tenants"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .take(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX ix_customer_views_owner ON customer_views (tenant_id, owner_id)",
            )
            .await?;
        Ok(())
    }
}
