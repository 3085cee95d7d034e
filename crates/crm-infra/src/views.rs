//! [`ViewRepository`] on SeaORM.

use async_trait::async_trait;
use crm_domain::customer::SortKey;
use crm_domain::ids::ViewId;
use crm_domain::view::{SavedView, ViewRepository};
use crm_domain::{RepositoryError, TenantId, UserId};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, Set};

use crate::db::Database;
use crate::entity::customer_view as view;
use crate::error::map_db_err;

/// Saved views in the `customer_views` table.
#[derive(Debug, Clone)]
pub struct SeaViewRepository {
    db: Database,
}

impl SeaViewRepository {
    /// Wraps a database.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

fn to_domain(m: view::Model) -> Result<SavedView, RepositoryError> {
    let corrupt = || RepositoryError::Other(format!("view {}: stored data is invalid", m.id));
    Ok(SavedView {
        id: ViewId(m.id),
        tenant_id: TenantId(m.tenant_id),
        owner: UserId::parse(&m.owner_id).ok_or_else(corrupt)?,
        name: m.name.clone(),
        filter: m.filter.clone(),
        sort: SortKey::parse_list(&m.sort).map_err(|_| corrupt())?,
        columns: serde_json::from_value(m.columns.clone()).map_err(|_| corrupt())?,
        shared: m.shared,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

#[async_trait]
impl ViewRepository for SeaViewRepository {
    async fn visible_to(
        &self,
        tenant: TenantId,
        user: &UserId,
    ) -> Result<Vec<SavedView>, RepositoryError> {
        let conn = self.db.tenant_read(tenant).await?;
        let rows = view::Entity::find()
            .filter(view::Column::TenantId.eq(tenant.0))
            .filter(
                Condition::any()
                    .add(view::Column::OwnerId.eq(user.as_str()))
                    .add(view::Column::Shared.eq(true)),
            )
            .order_by_asc(view::Column::Name)
            .order_by_asc(view::Column::Id)
            .all(&conn)
            .await
            .map_err(map_db_err)?;
        conn.end().await?;
        rows.into_iter().map(to_domain).collect()
    }

    async fn find(
        &self,
        tenant: TenantId,
        id: ViewId,
    ) -> Result<Option<SavedView>, RepositoryError> {
        let conn = self.db.tenant_read(tenant).await?;
        let rows = view::Entity::find_by_id((tenant.0, id.0))
            .one(&conn)
            .await
            .map_err(map_db_err)?;
        conn.end().await?;
        rows.map(to_domain).transpose()
    }

    async fn save(&self, v: &SavedView) -> Result<(), RepositoryError> {
        let row = view::ActiveModel {
            tenant_id: Set(v.tenant_id.0),
            id: Set(v.id.0),
            owner_id: Set(v.owner.as_str().to_owned()),
            name: Set(v.name.clone()),
            filter: Set(v.filter.clone()),
            sort: Set(SortKey::spec(&v.sort)),
            columns: Set(serde_json::Value::from(v.columns.clone())),
            shared: Set(v.shared),
            created_at: Set(v.created_at),
            updated_at: Set(v.updated_at),
        };
        let conn = self.db.tenant_write(v.tenant_id).await?;
        view::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([view::Column::TenantId, view::Column::Id])
                    .update_columns([
                        view::Column::Name,
                        view::Column::Filter,
                        view::Column::Sort,
                        view::Column::Columns,
                        view::Column::Shared,
                        view::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&conn)
            .await
            .map_err(map_db_err)?;
        conn.end().await?;
        Ok(())
    }

    async fn delete(&self, tenant: TenantId, id: ViewId) -> Result<(), RepositoryError> {
        let conn = self.db.tenant_write(tenant).await?;
        view::Entity::delete_by_id((tenant.0, id.0))
            .exec(&conn)
            .await
            .map_err(map_db_err)?;
        conn.end().await?;
        Ok(())
    }
}
