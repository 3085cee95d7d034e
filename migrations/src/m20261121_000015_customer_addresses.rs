//! Addresses (issue 12): `customer_addresses`, typed addresses of a customer with optional
//! WGS 84 coordinates.
//!
//! - At most one default per customer and type, held by the database: a partial unique index
//!   on `(tenant_id, customer_id, address_type) WHERE is_default`.
//! - The radius search narrows candidates with `(tenant_id, latitude, longitude)` (a bounding
//!   box), then tests the exact great-circle condition on the stored unit vector
//!   (`unit_x`, `unit_y`, `unit_z`: products and sums only, the same arithmetic on both
//!   backends).
//! - The address filters (`city`, `region`, `postal_code`, `country`) compare lower-cased
//!   values; `(tenant_id, city_key)` and `(tenant_id, postal_code)` serve the common ones.
//! - A customer's addresses go with it on a hard delete (cascade); a soft delete keeps them.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

/// The addresses table and its indexes.
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
                    .table(Alias::new("customer_addresses"))
                    .col(col("tenant_id").uuid().not_null())
                    .col(col("id").uuid().not_null())
                    .col(col("customer_id").uuid().not_null())
                    .col(col("address_type").string_len(16).not_null())
                    .col(col("label").string_len(100).null())
                    .col(col("recipient_name").string_len(255).null())
                    .col(col("phone").string_len(32).null())
                    .col(col("line1").string_len(255).not_null())
                    .col(col("line2").string_len(255).null())
                    .col(col("district").string_len(100).null())
                    .col(col("city").string_len(100).not_null())
                    .col(col("city_key").string_len(100).not_null())
                    .col(col("region").string_len(100).null())
                    .col(col("postal_code").string_len(20).null())
                    .col(col("country").string_len(2).not_null())
                    .col(col("latitude").double().null())
                    .col(col("longitude").double().null())
                    .col(col("unit_x").double().null())
                    .col(col("unit_y").double().null())
                    .col(col("unit_z").double().null())
                    .col(col("delivery_notes").text().null())
                    .col(col("is_default").boolean().not_null())
                    .col(col("created_by").string_len(255).null())
                    .col(col("updated_by").string_len(255).null())
                    .col(col("created_at").timestamp_with_time_zone().not_null())
                    .col(col("updated_at").timestamp_with_time_zone().not_null())
                    .col(col("version").big_integer().not_null())
                    .primary_key(
                        Index::create()
                            .col(Alias::new("tenant_id"))
                            .col(Alias::new("id")),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from_tbl(Alias::new("customer_addresses"))
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
            // A customer's addresses, oldest first.
            "CREATE INDEX ix_customer_addresses_customer ON customer_addresses (tenant_id, customer_id, created_at, id)",
            // At most one default per customer and type.
            "CREATE UNIQUE INDEX ux_customer_addresses_default ON customer_addresses (tenant_id, customer_id, address_type) WHERE is_default",
            // The radius search's bounding box.
            "CREATE INDEX ix_customer_addresses_position ON customer_addresses (tenant_id, latitude, longitude)",
            // The address filters.
            "CREATE INDEX ix_customer_addresses_city ON customer_addresses (tenant_id, city_key)",
            "CREATE INDEX ix_customer_addresses_postal_code ON customer_addresses (tenant_id, postal_code)",
        ] {
            db.execute_unprepared(sql).await?;
        }
        // PostgreSQL: behind the tenant wall (row-level security, migration 14).
        crate::m20261121_000014_row_level_security::tenant_wall(manager, "customer_addresses")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Alias::new("customer_addresses")).take())
            .await
    }
}
