//! Privacy (issue 16): the erasure stamp on customers (`erased_at`, `erased_by`), the record of
//! each erasure (`customer_erasures`), and consents: the current state per customer and
//! purpose (`customer_consents`) and their append-only history (`customer_consent_events`).

use sea_orm_migration::prelude::*;

/// Erasure columns and record, consent tables.
#[derive(DeriveMigrationName)]
pub struct Migration;

fn col(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name)).take()
}

fn customer_fk(table: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from_tbl(Alias::new(table))
        .from_col(Alias::new("tenant_id"))
        .from_col(Alias::new("customer_id"))
        .to_tbl(Alias::new("customers"))
        .to_col(Alias::new("tenant_id"))
        .to_col(Alias::new("id"))
        .on_delete(ForeignKeyAction::Cascade)
        .take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for column in [
            col("erased_at").timestamp_with_time_zone().null().take(),
            col("erased_by").string_len(255).null().take(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new("customers"))
                        .add_column(column)
                        .take(),
                )
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(Alias::new("customer_erasures"))
                    .col(col("tenant_id").uuid().not_null())
                    .col(col("id").uuid().not_null())
                    .col(col("customer_id").uuid().not_null())
                    .col(col("erased_at").timestamp_with_time_zone().not_null())
                    .col(col("erased_by").string_len(255).not_null())
                    .primary_key(
                        Index::create()
                            .col(Alias::new("tenant_id"))
                            .col(Alias::new("id")),
                    )
                    .foreign_key(&mut customer_fk("customer_erasures"))
                    .take(),
            )
            .await?;

        let consent_columns = |t: &mut TableCreateStatement| {
            t.col(col("tenant_id").uuid().not_null())
                .col(col("customer_id").uuid().not_null())
                .col(col("purpose").string_len(32).not_null())
                .col(col("status").string_len(16).not_null())
                .col(col("at").timestamp_with_time_zone().not_null())
                .col(col("source").string_len(64).not_null())
                .col(col("recorded_by").string_len(255).null())
                .col(col("recorded_at").timestamp_with_time_zone().not_null());
        };

        let mut events = Table::create();
        events.table(Alias::new("customer_consent_events"));
        consent_columns(&mut events);
        events
            .col(col("id").uuid().not_null())
            .primary_key(
                Index::create()
                    .col(Alias::new("tenant_id"))
                    .col(Alias::new("id")),
            )
            .foreign_key(&mut customer_fk("customer_consent_events"));
        manager.create_table(events.take()).await?;

        let mut current = Table::create();
        current.table(Alias::new("customer_consents"));
        consent_columns(&mut current);
        current
            .col(col("event_id").uuid().not_null())
            .primary_key(
                Index::create()
                    .col(Alias::new("tenant_id"))
                    .col(Alias::new("customer_id"))
                    .col(Alias::new("purpose")),
            )
            .foreign_key(&mut customer_fk("customer_consents"));
        manager.create_table(current.take()).await?;

        let db = manager.get_connection();
        for sql in [
            // One erasure per customer: a second one is a bug the database refuses.
            "CREATE UNIQUE INDEX ux_customer_erasures_customer ON customer_erasures (tenant_id, customer_id)",
            // A customer's history, newest first, and its pages.
            "CREATE INDEX ix_consent_events_customer ON customer_consent_events (tenant_id, customer_id, at DESC, id DESC)",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "customer_consents",
            "customer_consent_events",
            "customer_erasures",
        ] {
            manager
                .drop_table(Table::drop().table(Alias::new(table)).take())
                .await?;
        }
        for column in ["erased_by", "erased_at"] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new("customers"))
                        .drop_column(Alias::new(column))
                        .take(),
                )
                .await?;
        }
        Ok(())
    }
}
