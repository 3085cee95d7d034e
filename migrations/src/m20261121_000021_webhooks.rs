//! The event feed and webhooks (issue 14).
//!
//! - `events.tx`: the writing transaction's id. PostgreSQL fills it by default with
//!   `pg_current_xact_id()` (an `xid8`, epoch-extended so it never wraps, as `BIGINT`); rows
//!   written before this migration have 0. The feed reads `(tx, id)` upwards, only below the
//!   reading snapshot's `xmin`, so an event whose transaction commits late still comes after
//!   every event already handed out (docs/ARCHITECTURE.md, "The event feed"). Index
//!   `ix_events_feed (tenant_id, tx, id)`. SQLite keeps 0: its one writer commits ids in order.
//! - `webhooks`: a tenant's subscriptions (`url`, `event_types` as a JSON array of patterns,
//!   `description`, `active`, the signing `secret` (`whsec_…`; the server must sign with it, so
//!   it is stored as issued, never shown again after create or rotate), `failing_since`,
//!   `disabled_reason`, `version`).
//! - `webhook_deliveries`: the outbox, one row per event and subscription, written in the
//!   event's transaction: `status` (`pending`, `succeeded`, `failed`), `attempts`, the last
//!   attempt's `last_response_code`, `last_latency_ms`, `last_error`, and `next_attempt_at`
//!   (set exactly while pending). Claimed across tenants, oldest due first, by
//!   `ix_webhook_deliveries_due (next_attempt_at) WHERE status = 'pending'`; listed per
//!   subscription newest first by `ix_webhook_deliveries_subscription`. Deleting a subscription
//!   deletes its deliveries (cascade).
//!
//! Both tables are behind the tenant wall (row-level security, migration 14).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

/// `events.tx`, `webhooks`, `webhook_deliveries`.
#[derive(DeriveMigrationName)]
pub struct Migration;

fn col(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name)).take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let postgres = manager.get_database_backend() == DatabaseBackend::Postgres;
        db.execute_unprepared("ALTER TABLE events ADD COLUMN tx BIGINT NOT NULL DEFAULT 0")
            .await?;
        if postgres {
            // Set after the column exists, so old rows keep 0 without a table rewrite.
            db.execute_unprepared(
                "ALTER TABLE events ALTER COLUMN tx SET DEFAULT (pg_current_xact_id()::text::bigint)",
            )
            .await?;
            db.execute_unprepared("CREATE INDEX ix_events_feed ON events (tenant_id, tx, id)")
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("webhooks"))
                    .col(col("tenant_id").uuid().not_null())
                    .col(col("id").uuid().not_null())
                    .col(col("url").string_len(2048).not_null())
                    // JSON array of patterns (`*`, `customer.*`, `order.placed`).
                    .col(col("event_types").text().not_null())
                    .col(col("description").string_len(2000).null())
                    .col(col("active").boolean().not_null())
                    .col(col("secret").string_len(128).not_null())
                    .col(col("created_at").timestamp_with_time_zone().not_null())
                    .col(col("updated_at").timestamp_with_time_zone().not_null())
                    .col(col("version").big_integer().not_null())
                    .col(col("failing_since").timestamp_with_time_zone().null())
                    .col(col("disabled_reason").string_len(500).null())
                    .primary_key(
                        Index::create()
                            .col(Alias::new("tenant_id"))
                            .col(Alias::new("id")),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("webhook_deliveries"))
                    .col(col("tenant_id").uuid().not_null())
                    .col(col("id").uuid().not_null())
                    .col(col("subscription_id").uuid().not_null())
                    .col(col("event_id").big_integer().not_null())
                    .col(col("status").string_len(16).not_null())
                    .col(col("attempts").integer().not_null())
                    .col(col("last_response_code").integer().null())
                    .col(col("last_latency_ms").big_integer().null())
                    .col(col("next_attempt_at").timestamp_with_time_zone().null())
                    .col(col("last_error").string_len(2000).null())
                    .col(col("created_at").timestamp_with_time_zone().not_null())
                    .col(col("updated_at").timestamp_with_time_zone().not_null())
                    .primary_key(
                        Index::create()
                            .col(Alias::new("tenant_id"))
                            .col(Alias::new("id")),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from_tbl(Alias::new("webhook_deliveries"))
                            .from_col(Alias::new("tenant_id"))
                            .from_col(Alias::new("subscription_id"))
                            .to_tbl(Alias::new("webhooks"))
                            .to_col(Alias::new("tenant_id"))
                            .to_col(Alias::new("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .take(),
            )
            .await?;
        for sql in [
            "CREATE INDEX ix_webhook_deliveries_due ON webhook_deliveries (next_attempt_at) \
             WHERE status = 'pending'",
            "CREATE INDEX ix_webhook_deliveries_subscription \
             ON webhook_deliveries (tenant_id, subscription_id, id)",
        ] {
            db.execute_unprepared(sql).await?;
        }
        for table in ["webhooks", "webhook_deliveries"] {
            crate::m20261121_000014_row_level_security::tenant_wall(manager, table).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP TABLE IF EXISTS webhook_deliveries")
            .await?;
        db.execute_unprepared("DROP TABLE IF EXISTS webhooks")
            .await?;
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            db.execute_unprepared("DROP INDEX IF EXISTS ix_events_feed")
                .await?;
        }
        db.execute_unprepared("ALTER TABLE events DROP COLUMN tx")
            .await?;
        Ok(())
    }
}
