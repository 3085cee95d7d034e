//! Rejected rows of imports (jobs of kind `import_customers` / `import_orders`).

use sea_orm_migration::prelude::*;

/// The `import_errors` table.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let col = |n: &str| ColumnDef::new(Alias::new(n)).take();
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("import_errors"))
                    .col(col("tenant_id").uuid().not_null())
                    .col(col("job_id").uuid().not_null())
                    .col(col("seq").big_integer().not_null())
                    .col(col("line").big_integer().not_null())
                    .col(col("field").string_len(255).null())
                    .col(col("reason").text().not_null())
                    .primary_key(
                        Index::create()
                            .col(Alias::new("tenant_id"))
                            .col(Alias::new("job_id"))
                            .col(Alias::new("seq")),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from_tbl(Alias::new("import_errors"))
                            .from_col(Alias::new("tenant_id"))
                            .from_col(Alias::new("job_id"))
                            .to_tbl(Alias::new("jobs"))
                            .to_col(Alias::new("tenant_id"))
                            .to_col(Alias::new("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Alias::new("import_errors")).take())
            .await
    }
}
