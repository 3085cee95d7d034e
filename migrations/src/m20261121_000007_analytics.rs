//! Customer analytics: RFM scores on each customer, fitted CLV models per tenant, and background
//! jobs (RFM recompute now, imports later).

use sea_orm_migration::prelude::*;

/// RFM columns, `clv_models` and `jobs`.
#[derive(DeriveMigrationName)]
pub struct Migration;

fn col(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name)).take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for def in [
            col("rfm_r").small_integer().null().take(),
            col("rfm_f").small_integer().null().take(),
            col("rfm_m").small_integer().null().take(),
            col("rfm_segment").string_len(32).null().take(),
            col("rfm_computed_at")
                .timestamp_with_time_zone()
                .null()
                .take(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new("customers"))
                        .add_column(def)
                        .take(),
                )
                .await?;
        }
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX ix_customers_rfm_segment ON customers (tenant_id, rfm_segment) \
                 WHERE rfm_segment IS NOT NULL",
            )
            .await?;

        let float = |n: &str| col(n).double().not_null().take();
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("clv_models"))
                    .col(col("tenant_id").uuid().not_null())
                    .col(col("calibration_end").date().not_null())
                    .col(col("time_unit").string_len(8).not_null())
                    .col(float("r"))
                    .col(float("alpha"))
                    .col(float("a"))
                    .col(float("b"))
                    .col(float("bgnbd_log_likelihood"))
                    .col(col("customers").big_integer().not_null())
                    .col(col("p").double().null())
                    .col(col("q").double().null())
                    .col(col("gamma").double().null())
                    .col(col("gamma_gamma_log_likelihood").double().null())
                    .col(col("repeat_customers").big_integer().not_null())
                    .col(col("fit_ms").big_integer().not_null())
                    .col(col("fitted_at").timestamp_with_time_zone().not_null())
                    .primary_key(Index::create().col(Alias::new("tenant_id")))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Alias::new("clv_models"), Alias::new("tenant_id"))
                            .to(Alias::new("tenants"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Alias::new("jobs"))
                    .col(col("tenant_id").uuid().not_null())
                    .col(col("id").uuid().not_null())
                    .col(col("kind").string_len(32).not_null())
                    .col(col("state").string_len(16).not_null())
                    .col(col("result").json_binary().null())
                    .col(col("error").text().null())
                    .col(col("created_by").string_len(255).null())
                    .col(col("created_at").timestamp_with_time_zone().not_null())
                    .col(col("finished_at").timestamp_with_time_zone().null())
                    .primary_key(
                        Index::create()
                            .col(Alias::new("tenant_id"))
                            .col(Alias::new("id")),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Alias::new("jobs"), Alias::new("tenant_id"))
                            .to(Alias::new("tenants"), Alias::new("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .take(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in ["jobs", "clv_models"] {
            manager
                .drop_table(Table::drop().table(Alias::new(t)).take())
                .await?;
        }
        Ok(())
    }
}
