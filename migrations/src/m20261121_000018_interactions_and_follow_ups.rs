//! Interactions and follow-ups (issue 13): a customer's logged contacts in `interactions` and
//! its tasks in `follow_ups`.
//!
//! Indexes serve every list order and filter, `tenant_id` first: a customer's interactions
//! newest first and `MAX(occurred_at)` (`ix_interactions_customer`), the tenant-wide list
//! (`ix_interactions_occurred`) and its filters by performer, contact, type and outcome (each
//! followed by `occurred_at, id`); a customer's open follow-ups by due time and
//! `MIN(due_at)` (`ix_follow_ups_customer`), the work queue by assignee, by status and by
//! priority (each followed by `due_at, id`), all of them by due time (`ix_follow_ups_due`),
//! and the follow-ups of an interaction (`ix_follow_ups_interaction`). Hard-deleting a
//! customer deletes both (cascade); soft deletion leaves them, hidden behind the customer,
//! until a restore. An interaction's deletion clears `interaction_id` of its follow-ups (in
//! the repository: a composite foreign key's `SET NULL` would clear `tenant_id` too).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

/// The `interactions` and `follow_ups` tables and their indexes.
#[derive(DeriveMigrationName)]
pub struct Migration;

fn col(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name)).take()
}

fn to_customer(table: &str) -> ForeignKeyCreateStatement {
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

fn key() -> IndexCreateStatement {
    Index::create()
        .col(Alias::new("tenant_id"))
        .col(Alias::new("id"))
        .take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("interactions"))
                    .col(col("tenant_id").uuid().not_null())
                    .col(col("id").uuid().not_null())
                    .col(col("customer_id").uuid().not_null())
                    .col(col("type").string_len(16).not_null())
                    .col(col("direction").string_len(16).null())
                    .col(col("subject").string_len(255).null())
                    .col(col("body").text().null())
                    .col(col("outcome").string_len(32).null())
                    .col(col("duration_seconds").integer().null())
                    .col(col("occurred_at").timestamp_with_time_zone().not_null())
                    .col(col("contact_id").uuid().null())
                    .col(col("performed_by").string_len(255).not_null())
                    .col(col("version").big_integer().not_null())
                    .col(col("updated_by").string_len(255).null())
                    .col(col("created_at").timestamp_with_time_zone().not_null())
                    .col(col("updated_at").timestamp_with_time_zone().not_null())
                    .primary_key(&mut key())
                    .foreign_key(&mut to_customer("interactions"))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("follow_ups"))
                    .col(col("tenant_id").uuid().not_null())
                    .col(col("id").uuid().not_null())
                    .col(col("customer_id").uuid().not_null())
                    .col(col("title").string_len(255).not_null())
                    .col(col("notes").text().null())
                    .col(col("due_at").timestamp_with_time_zone().not_null())
                    .col(col("assignee").string_len(255).not_null())
                    .col(col("priority").string_len(16).not_null())
                    .col(col("status").string_len(16).not_null())
                    .col(col("completed_at").timestamp_with_time_zone().null())
                    .col(col("completed_by").string_len(255).null())
                    .col(col("interaction_id").uuid().null())
                    .col(col("version").big_integer().not_null())
                    .col(col("created_by").string_len(255).null())
                    .col(col("updated_by").string_len(255).null())
                    .col(col("created_at").timestamp_with_time_zone().not_null())
                    .col(col("updated_at").timestamp_with_time_zone().not_null())
                    .primary_key(&mut key())
                    .foreign_key(&mut to_customer("follow_ups"))
                    .take(),
            )
            .await?;
        let db = manager.get_connection();
        for sql in [
            "CREATE INDEX ix_interactions_customer ON interactions \
             (tenant_id, customer_id, occurred_at, id)",
            "CREATE INDEX ix_interactions_occurred ON interactions (tenant_id, occurred_at, id)",
            "CREATE INDEX ix_interactions_performed_by ON interactions \
             (tenant_id, performed_by, occurred_at, id)",
            "CREATE INDEX ix_interactions_contact ON interactions \
             (tenant_id, contact_id, occurred_at, id)",
            "CREATE INDEX ix_interactions_type ON interactions (tenant_id, type, occurred_at, id)",
            "CREATE INDEX ix_interactions_outcome ON interactions \
             (tenant_id, outcome, occurred_at, id)",
            "CREATE INDEX ix_follow_ups_customer ON follow_ups \
             (tenant_id, customer_id, status, due_at, id)",
            "CREATE INDEX ix_follow_ups_assignee ON follow_ups \
             (tenant_id, assignee, status, due_at, id)",
            "CREATE INDEX ix_follow_ups_status ON follow_ups (tenant_id, status, due_at, id)",
            "CREATE INDEX ix_follow_ups_priority ON follow_ups (tenant_id, priority, due_at, id)",
            "CREATE INDEX ix_follow_ups_due ON follow_ups (tenant_id, due_at, id)",
            "CREATE INDEX ix_follow_ups_interaction ON follow_ups (tenant_id, interaction_id)",
        ] {
            db.execute_unprepared(sql).await?;
        }
        // PostgreSQL: behind the tenant wall (row-level security, migration 14).
        crate::m20261121_000014_row_level_security::tenant_wall(manager, "interactions").await?;
        crate::m20261121_000014_row_level_security::tenant_wall(manager, "follow_ups").await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Alias::new("follow_ups")).take())
            .await?;
        manager
            .drop_table(Table::drop().table(Alias::new("interactions")).take())
            .await
    }
}
