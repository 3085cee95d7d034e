//! The event log (issue 13) in `events`: [`append`] writes a transaction's events inside that
//! transaction (every repository's `append_events` calls it), [`SeaEventRepository`] reads them
//! back newest first for the timeline, the field history and the audit search.

use async_trait::async_trait;
use crm_domain::event::{
    EntityType, Event, EventActor, EventFilter, EventId, EventRepository, FieldChanges,
    MAX_EVENT_PAGE, NewEvent,
};
use crm_domain::{CustomerId, RepositoryError, TenantId};
use sea_orm::sea_query::{Condition, Expr, ExprTrait, LikeExpr};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::db::Database;
use crate::entity::event;
use crate::error::{corrupt, map_db_err};

/// Rows per `INSERT` (11 parameters each, under SQLite's and PostgreSQL's parameter limits).
const APPEND_CHUNK: usize = 1_000;

/// The longest `event_type` pattern list a read accepts.
pub const MAX_TYPE_PATTERNS: usize = 20;

fn to_row(e: &NewEvent) -> event::ActiveModel {
    event::ActiveModel {
        id: NotSet,
        tenant_id: Set(e.tenant_id.0),
        event_type: Set(e.event_type.clone()),
        customer_id: Set(e.customer_id.map(|c| c.0)),
        entity_type: Set(e.entity_type.as_str().to_owned()),
        entity_id: Set(e.entity_id),
        actor_sub: Set(e.actor.sub.clone()),
        actor_role: Set(e.actor.role.clone()),
        request_id: Set(e.actor.request_id.clone()),
        occurred_at: Set(e.occurred_at),
        data: Set(e.data.to_string()),
        changes: Set((!e.changes.is_empty())
            .then(|| serde_json::to_string(&e.changes).unwrap_or_else(|_| "{}".to_owned()))),
    }
}

/// Appends `events` in `conn` (the caller's transaction, so they commit with its change or not
/// at all), in order: their ids increase in the order given.
///
/// # Errors
/// The driver's error, mapped.
pub async fn append<C: ConnectionTrait>(
    conn: &C,
    events: &[NewEvent],
) -> Result<(), RepositoryError> {
    for chunk in events.chunks(APPEND_CHUNK) {
        event::Entity::insert_many(chunk.iter().map(to_row))
            .exec_without_returning(conn)
            .await
            .map_err(map_db_err)?;
    }
    Ok(())
}

fn to_domain(m: event::Model) -> Result<Event, RepositoryError> {
    let changes: FieldChanges = match m.changes {
        Some(text) => serde_json::from_str(&text).map_err(|_| corrupt("event changes"))?,
        None => FieldChanges::new(),
    };
    Ok(Event {
        id: EventId(m.id),
        event: NewEvent {
            tenant_id: TenantId(m.tenant_id),
            event_type: m.event_type,
            customer_id: m.customer_id.map(CustomerId),
            entity_type: m
                .entity_type
                .parse::<EntityType>()
                .map_err(|_| corrupt("event entity type"))?,
            entity_id: m.entity_id,
            actor: EventActor {
                sub: m.actor_sub,
                role: m.actor_role,
                request_id: m.request_id,
            },
            occurred_at: m.occurred_at,
            data: serde_json::from_str(&m.data).map_err(|_| corrupt("event data"))?,
            changes,
        },
    })
}

/// Reads of the event log.
#[derive(Debug, Clone)]
pub struct SeaEventRepository {
    db: Database,
}

impl SeaEventRepository {
    /// Wraps a database.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

/// `event_type = p` for an exact type, `event_type LIKE 'customer.%'` for a `customer.*`
/// pattern (the prefix is letters, digits, `_` and `.` only, checked by the caller's parser;
/// `%` and `_` are escaped anyway).
fn type_condition(types: &[String]) -> Condition {
    let mut any = Condition::any();
    for t in types {
        if let Some(prefix) = t.strip_suffix('*') {
            let escaped = prefix
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            any = any.add(
                Expr::col(event::Column::EventType)
                    .like(LikeExpr::new(format!("{escaped}%")).escape('\\')),
            );
        } else {
            any = any.add(event::Column::EventType.eq(t.as_str()));
        }
    }
    any
}

#[async_trait]
impl EventRepository for SeaEventRepository {
    async fn list(
        &self,
        tenant: TenantId,
        filter: EventFilter,
        limit: u64,
    ) -> Result<Vec<Event>, RepositoryError> {
        use event::Column as C;
        let mut query = event::Entity::find().filter(C::TenantId.eq(tenant.0));
        if let Some(c) = filter.customer_id {
            query = query.filter(C::CustomerId.eq(c.0));
        }
        if let Some(t) = filter.entity_type {
            query = query.filter(C::EntityType.eq(t.as_str()));
        }
        if let Some(id) = filter.entity_id {
            query = query.filter(C::EntityId.eq(id));
        }
        if !filter.types.is_empty() {
            let types = &filter.types[..filter.types.len().min(MAX_TYPE_PATTERNS)];
            query = query.filter(type_condition(types));
        }
        if let Some(a) = filter.actor {
            query = query.filter(C::ActorSub.eq(a));
        }
        if let Some(from) = filter.from {
            query = query.filter(C::OccurredAt.gte(from));
        }
        if let Some(to) = filter.to {
            query = query.filter(C::OccurredAt.lt(to));
        }
        if filter.with_changes {
            query = query.filter(C::Changes.is_not_null());
        }
        if let Some(before) = filter.before {
            query = query.filter(C::Id.lt(before.0));
        }
        let conn = self.db.tenant_read(tenant).await?;
        let rows = query
            .order_by_desc(C::Id)
            .limit(limit.clamp(1, MAX_EVENT_PAGE))
            .all(&conn)
            .await
            .map_err(map_db_err)?;
        conn.end().await?;
        rows.into_iter().map(to_domain).collect()
    }
}
