//! [`TierRepository`] on SeaORM.

use async_trait::async_trait;
use crm_domain::event::NewEvent;
use crm_domain::ids::TierId;
use crm_domain::loyalty::Tier;
use crm_domain::loyalty::TierRepository;
use crm_domain::{RepositoryError, TenantId};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
};

use crate::customers::percent_to_bp;
use crate::db::Database;
use crate::entity::{customer, tier};
use crate::error::map_db_err;
use crate::orders::tier_to_domain;

/// Tiers in the `tiers` table.
#[derive(Debug, Clone)]
pub struct SeaTierRepository {
    db: Database,
}

impl SeaTierRepository {
    /// Wraps a database.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

fn row(t: &Tier) -> tier::ActiveModel {
    let now = chrono::Utc::now();
    tier::ActiveModel {
        tenant_id: Set(t.tenant_id.0),
        id: Set(t.id.0),
        name: Set(t.name.clone()),
        level: Set(t.level),
        min_spend: Set(t.min_spend.to_scaled()),
        discount_bp: Set(percent_to_bp(t.discount_percent)),
        benefits: Set(serde_json::Value::Object(t.benefits.clone())),
        colour: Set(t.colour.clone()),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

/// Unique violations on tiers name the field.
fn tier_conflict(e: sea_orm::DbErr) -> RepositoryError {
    let text = e.to_string();
    if matches!(
        e.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    ) {
        let field = if text.contains("level") {
            "level"
        } else {
            "name"
        };
        return RepositoryError::Conflict {
            field: field.into(),
        };
    }
    map_db_err(e)
}

#[async_trait]
impl TierRepository for SeaTierRepository {
    async fn list(&self, tenant: TenantId) -> Result<Vec<Tier>, RepositoryError> {
        let conn = self.db.tenant_read(tenant).await?;
        let rows = tier::Entity::find()
            .filter(tier::Column::TenantId.eq(tenant.0))
            .order_by_asc(tier::Column::Level)
            .all(&conn)
            .await
            .map_err(map_db_err)?;
        conn.end().await?;
        Ok(rows.into_iter().map(tier_to_domain).collect())
    }

    async fn find(&self, tenant: TenantId, id: TierId) -> Result<Option<Tier>, RepositoryError> {
        let conn = self.db.tenant_read(tenant).await?;
        let row = tier::Entity::find_by_id((tenant.0, id.0))
            .one(&conn)
            .await
            .map_err(map_db_err)?;
        conn.end().await?;
        Ok(row.map(tier_to_domain))
    }

    async fn insert(&self, t: &Tier, events: &[NewEvent]) -> Result<(), RepositoryError> {
        let txn = self.db.tenant_tx(t.tenant_id).await?;
        row(t).insert(&txn).await.map_err(tier_conflict)?;
        crate::events::append(&txn, events).await?;
        txn.commit().await.map_err(map_db_err)
    }

    async fn update(&self, t: &Tier, events: &[NewEvent]) -> Result<(), RepositoryError> {
        let mut r = row(t);
        r.created_at = sea_orm::ActiveValue::NotSet;
        let txn = self.db.tenant_tx(t.tenant_id).await?;
        tier::Entity::update_many()
            .set(r)
            .filter(tier::Column::TenantId.eq(t.tenant_id.0))
            .filter(tier::Column::Id.eq(t.id.0))
            .exec(&txn)
            .await
            .map_err(tier_conflict)?;
        crate::events::append(&txn, events).await?;
        txn.commit().await.map_err(map_db_err)
    }

    async fn delete_unused(
        &self,
        tenant: TenantId,
        id: TierId,
        events: &[NewEvent],
    ) -> Result<u64, RepositoryError> {
        let txn = self.db.tenant_tx(tenant).await?;
        let holders = customer::Entity::find()
            .filter(customer::Column::TenantId.eq(tenant.0))
            .filter(customer::Column::TierId.eq(id.0))
            .count(&txn)
            .await
            .map_err(map_db_err)?;
        if holders > 0 {
            return Ok(holders);
        }
        tier::Entity::delete_many()
            .filter(tier::Column::TenantId.eq(tenant.0))
            .filter(tier::Column::Id.eq(id.0))
            .exec(&txn)
            .await
            .map_err(map_db_err)?;
        crate::events::append(&txn, events).await?;
        txn.commit().await.map_err(map_db_err)?;
        Ok(0)
    }
}
