//! [`SegmentRepository`] on SeaORM: `customer_segments` and `customer_segment_members`.

use std::str::FromStr;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use crm_domain::analytics::rfm::RfmSegment;
use crm_domain::event::NewEvent;
use crm_domain::ids::SegmentId;
use crm_domain::segment::{DroppedMembers, Segment, SegmentRepository, SegmentRule, SegmentType};
use crm_domain::{CustomerId, RepositoryError, TenantId, UserId};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde_json::json;

use crate::db::Database;
use crate::entity::customer_segment as seg;
use crate::error::map_db_err;
use crate::orders::raw;

/// Segments in the `customer_segments` table, members in `customer_segment_members`.
#[derive(Debug, Clone)]
pub struct SeaSegmentRepository {
    db: Database,
}

impl SeaSegmentRepository {
    /// Wraps a database.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

/// Members whose `segment.member_removed` events are built and appended at a time.
const DROP_CHUNK: u64 = 1_000;

/// Appends, inside `txn`, the `dropped` event of every stored member of the segment `id` (in
/// customer id order, [`DROP_CHUNK`] at a time), then deletes those members.
async fn drop_members<C: ConnectionTrait>(
    txn: &C,
    backend: sea_orm::DatabaseBackend,
    tenant: TenantId,
    id: SegmentId,
    dropped: &DroppedMembers,
) -> Result<(), RepositoryError> {
    let mut after: Option<uuid::Uuid> = None;
    loop {
        let mut values: Vec<sea_orm::Value> = vec![tenant.0.into(), id.0.into()];
        let keyset = match after {
            Some(last) => {
                values.push(last.into());
                " AND customer_id > $3"
            }
            None => "",
        };
        let rows = txn
            .query_all_raw(raw(
                backend,
                &format!(
                    "SELECT customer_id FROM customer_segment_members WHERE tenant_id = $1 \
                     AND segment_id = $2{keyset} ORDER BY customer_id LIMIT {DROP_CHUNK}"
                ),
                values,
            ))
            .await
            .map_err(map_db_err)?;
        let members = rows
            .iter()
            .map(|r| r.try_get_by_index::<uuid::Uuid>(0).map(CustomerId))
            .collect::<Result<Vec<_>, _>>()
            .map_err(map_db_err)?;
        let Some(last) = members.last() else {
            break;
        };
        after = Some(last.0);
        crate::events::append(txn, &dropped.events(&members)).await?;
        if (members.len() as u64) < DROP_CHUNK {
            break;
        }
    }
    txn.execute_raw(raw(
        backend,
        "DELETE FROM customer_segment_members WHERE tenant_id = $1 AND segment_id = $2",
        vec![tenant.0.into(), id.0.into()],
    ))
    .await
    .map_err(map_db_err)?;
    Ok(())
}

fn to_domain(m: seg::Model) -> Result<Segment, RepositoryError> {
    let corrupt = || RepositoryError::Other(format!("segment {}: stored rule is invalid", m.id));
    let rule = match SegmentType::from_str(&m.segment_type).map_err(|_| corrupt())? {
        SegmentType::Manual => SegmentRule::Manual,
        SegmentType::Auto => SegmentRule::Auto(m.rule["filter"].clone()),
        SegmentType::Rfm => SegmentRule::Rfm(
            m.rule["rfm_segments"]
                .as_array()
                .ok_or_else(corrupt)?
                .iter()
                .map(|v| v.as_str().and_then(|s| RfmSegment::from_str(s).ok()))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(corrupt)?,
        ),
    };
    Ok(Segment {
        id: SegmentId(m.id),
        tenant_id: TenantId(m.tenant_id),
        name: m.name,
        description: m.description,
        rule,
        created_by: m.created_by.as_deref().and_then(UserId::parse),
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

#[async_trait]
impl SegmentRepository for SeaSegmentRepository {
    async fn list(&self, tenant: TenantId) -> Result<Vec<Segment>, RepositoryError> {
        let conn = self.db.tenant_read(tenant).await?;
        let rows = seg::Entity::find()
            .filter(seg::Column::TenantId.eq(tenant.0))
            .order_by_asc(seg::Column::Name)
            .all(&conn)
            .await
            .map_err(map_db_err)?;
        conn.end().await?;
        rows.into_iter().map(to_domain).collect()
    }

    async fn find(
        &self,
        tenant: TenantId,
        id: SegmentId,
    ) -> Result<Option<Segment>, RepositoryError> {
        let conn = self.db.tenant_read(tenant).await?;
        let row = seg::Entity::find_by_id((tenant.0, id.0))
            .one(&conn)
            .await
            .map_err(map_db_err)?;
        conn.end().await?;
        row.map(to_domain).transpose()
    }

    async fn save(
        &self,
        s: &Segment,
        events: &[NewEvent],
        dropped: &DroppedMembers,
    ) -> Result<(), RepositoryError> {
        let rule = match &s.rule {
            SegmentRule::Manual => json!({}),
            SegmentRule::Auto(f) => json!({"filter": f}),
            SegmentRule::Rfm(r) => {
                json!({"rfm_segments": r.iter().map(|x| x.as_str()).collect::<Vec<_>>()})
            }
        };
        let txn = self.db.tenant_tx(s.tenant_id).await?;
        if s.segment_type() != SegmentType::Manual {
            // A segment that stops being manual has no members: each it had is removed.
            drop_members(&txn, self.db.backend(), s.tenant_id, s.id, dropped).await?;
        }
        use seg::Column as C;
        seg::Entity::insert(seg::ActiveModel {
            tenant_id: Set(s.tenant_id.0),
            id: Set(s.id.0),
            name: Set(s.name.clone()),
            description: Set(s.description.clone()),
            segment_type: Set(s.segment_type().as_str().to_owned()),
            rule: Set(rule),
            created_by: Set(s.created_by.as_ref().map(|u| u.as_str().to_owned())),
            created_at: Set(s.created_at),
            updated_at: Set(s.updated_at),
        })
        .on_conflict(
            OnConflict::columns([C::TenantId, C::Id])
                .update_columns([
                    C::Name,
                    C::Description,
                    C::SegmentType,
                    C::Rule,
                    C::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await
        .map_err(map_db_err)?;
        crate::events::append(&txn, events).await?;
        txn.commit().await.map_err(map_db_err)
    }

    async fn delete(
        &self,
        tenant: TenantId,
        id: SegmentId,
        events: &[NewEvent],
        dropped: &DroppedMembers,
    ) -> Result<(), RepositoryError> {
        let txn = self.db.tenant_tx(tenant).await?;
        drop_members(&txn, self.db.backend(), tenant, id, dropped).await?;
        seg::Entity::delete_by_id((tenant.0, id.0))
            .exec(&txn)
            .await
            .map_err(map_db_err)?;
        crate::events::append(&txn, events).await?;
        txn.commit().await.map_err(map_db_err)
    }

    async fn add_members(
        &self,
        tenant: TenantId,
        id: SegmentId,
        customers: Vec<CustomerId>,
        at: DateTime<Utc>,
        events: Vec<NewEvent>,
    ) -> Result<Vec<CustomerId>, RepositoryError> {
        use crate::entity::customer as c;
        let backend = self.db.backend();
        let txn = self.db.tenant_tx(tenant).await?;
        let live: Vec<uuid::Uuid> = c::Entity::find()
            .select_only()
            .column(c::Column::Id)
            .filter(c::Column::TenantId.eq(tenant.0))
            .filter(c::Column::DeletedAt.is_null())
            .filter(c::Column::Id.is_in(customers.iter().map(|x| x.0)))
            .into_tuple()
            .all(&txn)
            .await
            .map_err(map_db_err)?;
        let missing: Vec<CustomerId> = customers
            .iter()
            .filter(|x| !live.contains(&x.0))
            .copied()
            .collect();
        if !missing.is_empty() {
            return Ok(missing);
        }
        let mut added = std::collections::HashSet::new();
        for customer in live {
            let done = txn
                .execute_raw(raw(
                    backend,
                    "INSERT INTO customer_segment_members (tenant_id, segment_id, customer_id, added_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    vec![tenant.0.into(), id.0.into(), customer.into(), at.into()],
                ))
                .await
                .map_err(map_db_err)?;
            if done.rows_affected() > 0 {
                added.insert(customer);
            }
        }
        // The events of the customers added now (already members changed nothing).
        let events: Vec<NewEvent> = events
            .into_iter()
            .filter(|e| e.customer_id.is_some_and(|c| added.remove(&c.0)))
            .collect();
        crate::events::append(&txn, &events).await?;
        txn.commit().await.map_err(map_db_err)?;
        Ok(Vec::new())
    }

    async fn remove_members(
        &self,
        tenant: TenantId,
        id: SegmentId,
        customers: Vec<CustomerId>,
        events: Vec<NewEvent>,
    ) -> Result<u64, RepositoryError> {
        let placeholders: Vec<String> = (0..customers.len())
            .map(|i| format!("${}", i + 3))
            .collect();
        let mut values: Vec<sea_orm::Value> = vec![tenant.0.into(), id.0.into()];
        values.extend(customers.iter().map(|c| sea_orm::Value::from(c.0)));
        let txn = self.db.tenant_tx(tenant).await?;
        // The members among `customers`, read in the transaction: their events are appended.
        let mut members = std::collections::HashSet::new();
        for row in txn
            .query_all_raw(raw(
                self.db.backend(),
                &format!(
                    "SELECT customer_id FROM customer_segment_members WHERE tenant_id = $1 \
                     AND segment_id = $2 AND customer_id IN ({})",
                    placeholders.join(", ")
                ),
                values.clone(),
            ))
            .await
            .map_err(map_db_err)?
        {
            members.insert(row.try_get_by_index::<uuid::Uuid>(0).map_err(map_db_err)?);
        }
        let done = txn
            .execute_raw(raw(
                self.db.backend(),
                &format!(
                    "DELETE FROM customer_segment_members WHERE tenant_id = $1 AND segment_id = $2 \
                     AND customer_id IN ({})",
                    placeholders.join(", ")
                ),
                values,
            ))
            .await
            .map_err(map_db_err)?;
        let events: Vec<NewEvent> = events
            .into_iter()
            .filter(|e| e.customer_id.is_some_and(|c| members.remove(&c.0)))
            .collect();
        crate::events::append(&txn, &events).await?;
        txn.commit().await.map_err(map_db_err)?;
        Ok(done.rows_affected())
    }
}
