//! Ownership (issue 16): with the tenant setting `sales_scope: "assigned"`, every query of a
//! sales user is held to `assigned_to = <user>` (and orders to the ids of those customers). An
//! index on `(tenant_id, assigned_to, created_at, id)` finds one user's customers, in the
//! list's default order (newest first), without walking the tenant's.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

/// The customers-by-owner index.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX ix_customers_assigned ON customers \
                 (tenant_id, assigned_to, created_at, id)",
            )
            .await?;
        Ok(())
    }
}
