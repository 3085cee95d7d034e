//! Reminders (issue 14): the `due_at` each reminder last fired for, so `follow_up.due` and
//! `order.overdue` fire exactly once per due date with any number of server replicas.
//!
//! - `follow_ups.due_reminded_for`, `orders.overdue_reminded_for`: null until the reminder
//!   fires, then the `due_at` it fired for; a new `due_at` differs from it and arms the reminder
//!   again.
//! - The scheduler's cross-tenant scans, oldest due first, read only rows still to remind:
//!   `ix_follow_ups_to_remind (due_at) WHERE status = 'open'` and
//!   `ix_orders_to_remind (due_at) WHERE status = 'completed' AND payment_status = 'unpaid'`
//!   (the tenant-first indexes serve the tenant's own lists, not a scan across tenants).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

/// The reminder marks and the scheduler's indexes.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in [
            "ALTER TABLE follow_ups ADD COLUMN due_reminded_for TIMESTAMP WITH TIME ZONE NULL",
            "ALTER TABLE orders ADD COLUMN overdue_reminded_for TIMESTAMP WITH TIME ZONE NULL",
            "CREATE INDEX ix_follow_ups_to_remind ON follow_ups (due_at) WHERE status = 'open'",
            "CREATE INDEX ix_orders_to_remind ON orders (due_at) \
             WHERE status = 'completed' AND payment_status = 'unpaid'",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in [
            "DROP INDEX IF EXISTS ix_orders_to_remind",
            "DROP INDEX IF EXISTS ix_follow_ups_to_remind",
            "ALTER TABLE orders DROP COLUMN overdue_reminded_for",
            "ALTER TABLE follow_ups DROP COLUMN due_reminded_for",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
