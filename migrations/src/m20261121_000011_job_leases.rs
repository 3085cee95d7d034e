//! Leases on running jobs (issue 16, defect 10): `jobs.owner`, the instance id of the process
//! running the job, and `jobs.lease_until`, until when that process is taken to be alive. The
//! process renews the lease while the job runs; start-up and a periodic sweep fail only the
//! `running` jobs whose lease has run out (or that have none: jobs stored before this
//! migration), so processes sharing a database leave each other's jobs alone.

use sea_orm_migration::prelude::*;

/// `jobs.owner` and `jobs.lease_until`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("jobs"))
                    .add_column(ColumnDef::new(Alias::new("owner")).string_len(255).null())
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("jobs"))
                    .add_column(
                        ColumnDef::new(Alias::new("lease_until"))
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in ["lease_until", "owner"] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new("jobs"))
                        .drop_column(Alias::new(column))
                        .take(),
                )
                .await?;
        }
        Ok(())
    }
}
