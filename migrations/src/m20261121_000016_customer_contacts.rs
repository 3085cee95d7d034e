//! Contacts (issue 12): the people to talk to at a customer, in `customer_contacts`.
//!
//! The database holds two rules as partial unique indexes, so they stand even against a writer
//! that bypasses the service: at most one primary contact per customer
//! (`ux_customer_contacts_primary`), and a contact's e-mail (stored lower-cased) unique within
//! its customer (`ux_customer_contacts_email`). A customer search (`q`) also reads its contacts'
//! `search_text` and `search_phones`, scanning the tenant's contacts (no trigram index on them
//! yet). A customer's contacts are read oldest first
//! (`ix_customer_contacts_customer`). Hard-deleting a customer deletes its contacts (cascade);
//! soft deletion leaves them, hidden behind the customer, until a restore.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

/// The `customer_contacts` table and its indexes.
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
                    .table(Alias::new("customer_contacts"))
                    .col(col("tenant_id").uuid().not_null())
                    .col(col("id").uuid().not_null())
                    .col(col("customer_id").uuid().not_null())
                    .col(col("name").string_len(255).not_null())
                    .col(col("job_title").string_len(255).null())
                    .col(col("department").string_len(255).null())
                    .col(col("email").string_len(254).null())
                    .col(col("phone").string_len(32).null())
                    .col(col("mobile_phone").string_len(32).null())
                    // The roles, sorted, separated by commas (`billing,decision_maker`).
                    .col(col("roles").string_len(128).not_null())
                    .col(col("is_primary").boolean().not_null())
                    .col(col("preferred_channel").string_len(16).null())
                    .col(col("language").string_len(35).null())
                    .col(col("notes").text().null())
                    .col(col("portal_access").boolean().not_null())
                    // What a customer search reads: the lower-cased name and e-mail, and the
                    // phones' digit forms, one per line (`ContactDetails::search_text`).
                    .col(col("search_text").text().not_null())
                    .col(col("search_phones").text().not_null())
                    .col(col("version").big_integer().not_null())
                    .col(col("created_by").string_len(255).null())
                    .col(col("updated_by").string_len(255).null())
                    .col(col("created_at").timestamp_with_time_zone().not_null())
                    .col(col("updated_at").timestamp_with_time_zone().not_null())
                    .primary_key(
                        Index::create()
                            .col(Alias::new("tenant_id"))
                            .col(Alias::new("id")),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from_tbl(Alias::new("customer_contacts"))
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
            "CREATE INDEX ix_customer_contacts_customer ON customer_contacts \
             (tenant_id, customer_id, created_at, id)",
            "CREATE UNIQUE INDEX ux_customer_contacts_primary ON customer_contacts \
             (tenant_id, customer_id) WHERE is_primary",
            "CREATE UNIQUE INDEX ux_customer_contacts_email ON customer_contacts \
             (tenant_id, customer_id, email) WHERE email IS NOT NULL",
        ] {
            db.execute_unprepared(sql).await?;
        }
        // PostgreSQL: behind the tenant wall (row-level security, migration 14).
        crate::m20261121_000014_row_level_security::tenant_wall(manager, "customer_contacts")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Alias::new("customer_contacts")).take())
            .await
    }
}
