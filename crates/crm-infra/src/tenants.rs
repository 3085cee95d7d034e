//! [`TenantRepository`] on SeaORM.

use async_trait::async_trait;
use crm_domain::loyalty::Tier;
use crm_domain::tenant::{Tenant, TenantRepository};
use crm_domain::values::{CountryCode, CurrencyCode};
use crm_domain::{RepositoryError, TenantId};
use sea_orm::{ActiveModelTrait, EntityTrait, Set};

use crate::customers::percent_to_bp;

use crate::db::Database;
use crate::entity::{tenant, tier};
use crate::error::map_db_err;

/// Tenants in the `tenants` table.
#[derive(Debug, Clone)]
pub struct SeaTenantRepository {
    db: Database,
}

impl SeaTenantRepository {
    /// Wraps a database.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

fn to_domain(m: tenant::Model) -> Result<Tenant, RepositoryError> {
    let corrupt =
        |what: &str| RepositoryError::Other(format!("tenant {}: stored {what} is invalid", m.id));
    Ok(Tenant {
        id: TenantId(m.id),
        name: m.name.clone(),
        default_country: match m.default_country.as_deref() {
            Some(c) => Some(CountryCode::parse(c).ok_or_else(|| corrupt("country"))?),
            None => None,
        },
        default_currency: CurrencyCode::parse(&m.default_currency)
            .ok_or_else(|| corrupt("currency"))?,
        settings: match &m.settings {
            serde_json::Value::Object(map) => map.clone(),
            _ => serde_json::Map::new(),
        },
        created_at: m.created_at,
    })
}

#[async_trait]
impl TenantRepository for SeaTenantRepository {
    async fn insert(&self, t: &Tenant, tiers: &[Tier]) -> Result<(), RepositoryError> {
        let txn = self.db.tenant_tx(t.id).await?;
        tenant::ActiveModel {
            id: Set(t.id.0),
            name: Set(t.name.clone()),
            default_country: Set(t.default_country.map(|c| c.as_str().to_owned())),
            default_currency: Set(t.default_currency.as_str().to_owned()),
            settings: Set(serde_json::Value::Object(t.settings.clone())),
            created_at: Set(t.created_at),
            updated_at: Set(t.created_at),
        }
        .insert(&txn)
        .await
        .map_err(map_db_err)?;
        for x in tiers {
            tier::ActiveModel {
                tenant_id: Set(t.id.0),
                id: Set(x.id.0),
                name: Set(x.name.clone()),
                level: Set(x.level),
                min_spend: Set(x.min_spend.to_scaled()),
                discount_bp: Set(percent_to_bp(x.discount_percent)),
                benefits: Set(serde_json::Value::Object(x.benefits.clone())),
                colour: Set(x.colour.clone()),
                created_at: Set(t.created_at),
                updated_at: Set(t.created_at),
            }
            .insert(&txn)
            .await
            .map_err(map_db_err)?;
        }
        txn.commit().await.map_err(map_db_err)
    }

    async fn save_settings(
        &self,
        id: TenantId,
        settings: &serde_json::Map<String, serde_json::Value>,
        events: &[crm_domain::event::NewEvent],
    ) -> Result<(), RepositoryError> {
        use sea_orm::{ColumnTrait, QueryFilter, sea_query::Expr};
        let conn = self.db.tenant_tx(id).await?;
        tenant::Entity::update_many()
            .col_expr(
                tenant::Column::Settings,
                Expr::value(serde_json::Value::Object(settings.clone())),
            )
            .col_expr(tenant::Column::UpdatedAt, Expr::value(chrono::Utc::now()))
            .filter(tenant::Column::Id.eq(id.0))
            .exec(&conn)
            .await
            .map_err(map_db_err)?;
        crate::events::append(&conn, events).await?;
        conn.commit().await.map_err(map_db_err)
    }

    async fn find(&self, id: TenantId) -> Result<Option<Tenant>, RepositoryError> {
        let conn = self.db.tenant_read(id).await?;
        let row = tenant::Entity::find_by_id(id.0)
            .one(&conn)
            .await
            .map_err(map_db_err)?;
        conn.end().await?;
        row.map(to_domain).transpose()
    }
}
