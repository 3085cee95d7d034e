//! Typo-tolerance terms come from names only (name, display name, company): empties every
//! search document so that the start-up backfill rebuilds documents and terms by the new rule.

use sea_orm_migration::prelude::*;

/// Marks every customer's search document for rebuilding.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("UPDATE customers SET search_text = ''")
            .await?;
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}
