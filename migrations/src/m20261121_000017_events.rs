//! The event log (issue 13): one append-only table `events` that every write of the service
//! appends to in the same transaction as its change. The timeline (`customer_id`), the field
//! history and the audit search (`entity_type`, `entity_id`, `actor_sub`) read it newest first
//! by id; the live stream of a later issue reads it by id upwards.
//!
//! - `id`: PostgreSQL `BIGINT GENERATED ALWAYS AS IDENTITY`, key `(tenant_id, id)` (tenant
//!   first, as every key); SQLite `INTEGER PRIMARY KEY AUTOINCREMENT` (ids never reused).
//! - `data` and `changes`: JSON text (`changes` `{"field": [old, new]}`, null when none).
//! - Append-only: on PostgreSQL a trigger refuses `UPDATE`, `DELETE` and `TRUNCATE` unless the
//!   transaction set `crm.event_erasure = 'on'` (the documented erasure path of a later
//!   issue). No foreign keys: the log outlives the records it mentions.
//! - Behind the tenant wall (row-level security, migration 14).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

/// The `events` table, its indexes and (PostgreSQL) its append-only trigger.
#[derive(DeriveMigrationName)]
pub struct Migration;

const COLUMNS: &str = "tenant_id UUID NOT NULL, \
     event_type VARCHAR(64) NOT NULL, \
     customer_id UUID NULL, \
     entity_type VARCHAR(32) NOT NULL, \
     entity_id UUID NOT NULL, \
     actor_sub VARCHAR(255) NOT NULL, \
     actor_role VARCHAR(16) NULL, \
     request_id VARCHAR(128) NULL, \
     occurred_at TIMESTAMP WITH TIME ZONE NOT NULL, \
     data TEXT NOT NULL, \
     changes TEXT NULL";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let postgres = manager.get_database_backend() == DatabaseBackend::Postgres;
        let create = if postgres {
            format!(
                "CREATE TABLE events (id BIGINT GENERATED ALWAYS AS IDENTITY, {COLUMNS}, \
                 PRIMARY KEY (tenant_id, id))"
            )
        } else {
            format!("CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, {COLUMNS})")
        };
        db.execute_unprepared(&create).await?;
        for sql in [
            "CREATE INDEX ix_events_tenant ON events (tenant_id, id)",
            "CREATE INDEX ix_events_customer ON events (tenant_id, customer_id, id) \
             WHERE customer_id IS NOT NULL",
            "CREATE INDEX ix_events_entity ON events (tenant_id, entity_type, entity_id, id)",
            "CREATE INDEX ix_events_actor ON events (tenant_id, actor_sub, id)",
        ] {
            if postgres && sql.starts_with("CREATE INDEX ix_events_tenant ") {
                continue; // the primary key is this index
            }
            db.execute_unprepared(sql).await?;
        }
        if postgres {
            for sql in [
                "CREATE OR REPLACE FUNCTION crm_events_append_only() RETURNS trigger \
                 LANGUAGE plpgsql AS $$ BEGIN \
                   IF current_setting('crm.event_erasure', true) = 'on' THEN \
                     RETURN COALESCE(NEW, OLD); \
                   END IF; \
                   RAISE EXCEPTION 'the event log is append-only' USING ERRCODE = '55000'; \
                 END $$",
                "CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events \
                 FOR EACH ROW EXECUTE FUNCTION crm_events_append_only()",
                "CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events \
                 FOR EACH STATEMENT EXECUTE FUNCTION crm_events_append_only()",
            ] {
                db.execute_unprepared(sql).await?;
            }
        }
        crate::m20261121_000014_row_level_security::tenant_wall(manager, "events").await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP TABLE IF EXISTS events").await?;
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            db.execute_unprepared("DROP FUNCTION IF EXISTS crm_events_append_only()")
                .await?;
        }
        Ok(())
    }
}
