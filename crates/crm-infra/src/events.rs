//! The event log (issue 13) in `events`: [`append`] writes a transaction's events inside that
//! transaction (every repository's `append_events` calls it) together with their webhook
//! deliveries, [`SeaEventRepository`] reads them back newest first for the timeline, the field
//! history and the audit search, and [`SeaEventFeed`] reads them forwards in commit-safe order
//! for the live stream, its polling twin and webhooks (issue 14).

use async_trait::async_trait;
use crm_domain::event::{
    EntityType, Event, EventActor, EventFeed, EventFilter, EventId, EventRepository, FeedFilter,
    FeedItem, FeedPosition, FieldChanges, MAX_EVENT_PAGE, NewEvent,
};
use crm_domain::{CustomerId, RepositoryError, TenantId};
use sea_orm::sea_query::{Condition, Expr, ExprTrait, LikeExpr};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
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
        // PostgreSQL's default is the writing transaction's id; SQLite's 0.
        tx: NotSet,
    }
}

/// Appends `events` in `conn` (the caller's transaction, so they commit with its change or not
/// at all), in order: their ids increase in the order given. In the same transaction, every
/// active webhook subscription of the events' tenants that receives an event
/// ([`crm_domain::webhook::fan_out`]) gets a pending delivery of it, due at once: a committed
/// event always has its deliveries, a rolled-back one none. With no active subscription (the
/// common case) this costs one indexed read of `webhooks`.
///
/// # Errors
/// The driver's error, mapped; [`RepositoryError::Other`] for an unreadable subscription.
pub async fn append<C: ConnectionTrait>(
    conn: &C,
    events: &[NewEvent],
) -> Result<(), RepositoryError> {
    if events.is_empty() {
        return Ok(());
    }
    let subscriptions = crate::webhooks::active_subscriptions(conn, events).await?;
    for chunk in events.chunks(APPEND_CHUNK) {
        let insert = event::Entity::insert_many(chunk.iter().map(to_row));
        if subscriptions.is_empty() {
            insert
                .exec_without_returning(conn)
                .await
                .map_err(map_db_err)?;
        } else {
            let stored = insert
                .exec_with_returning(conn)
                .await
                .map_err(map_db_err)?
                .into_iter()
                .map(to_domain)
                .collect::<Result<Vec<_>, _>>()?;
            crate::webhooks::insert_deliveries(conn, &subscriptions, &stored).await?;
        }
    }
    Ok(())
}

pub(crate) fn to_domain(m: event::Model) -> Result<Event, RepositoryError> {
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

/// The event feed (issue 14) on `events`: the tenant's log read forwards in commit-safe order
/// ([`EventFeed`]'s gap-free rule).
///
/// - PostgreSQL: rows in `(tx, id)` order (`ix_events_feed`), only those with
///   `tx < pg_snapshot_xmin(pg_current_snapshot())`: every transaction below the reading
///   statement's `xmin` has finished, so no row can later appear before one already returned.
/// - SQLite: by id (its one writer commits ids in order); every position's `tx` is 0.
#[derive(Debug, Clone)]
pub struct SeaEventFeed {
    db: Database,
}

impl SeaEventFeed {
    /// Wraps a database.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    fn postgres(&self) -> bool {
        self.db.backend() == DatabaseBackend::Postgres
    }

    /// Rows of finished transactions only (PostgreSQL), see the type's doc.
    fn finished(&self) -> Condition {
        let mut all = Condition::all();
        if self.postgres() {
            all = all.add(Expr::cust(
                "\"events\".\"tx\" < pg_snapshot_xmin(pg_current_snapshot())::text::bigint",
            ));
        }
        all
    }
}

fn position(m: &event::Model) -> FeedPosition {
    FeedPosition {
        tx: u64::try_from(m.tx).unwrap_or(0),
        id: EventId(m.id),
    }
}

#[async_trait]
impl EventFeed for SeaEventFeed {
    async fn after(
        &self,
        tenant: TenantId,
        from: Option<FeedPosition>,
        filter: FeedFilter,
        limit: u64,
    ) -> Result<Vec<FeedItem>, RepositoryError> {
        use event::Column as C;
        let mut query = event::Entity::find()
            .filter(C::TenantId.eq(tenant.0))
            .filter(self.finished());
        if let Some(p) = from {
            let tx = i64::try_from(p.tx).map_err(|_| corrupt("feed position"))?;
            query = query.filter(
                Condition::any()
                    .add(C::Tx.gt(tx))
                    .add(Condition::all().add(C::Tx.eq(tx)).add(C::Id.gt(p.id.0))),
            );
        }
        if let Some(c) = filter.customer_id {
            query = query.filter(C::CustomerId.eq(c.0));
        }
        if !filter.types.is_all() {
            let types: Vec<String> = filter
                .types
                .patterns()
                .iter()
                .map(|p| p.as_str().to_owned())
                .collect();
            if !types.iter().any(|t| t == "*") {
                query = query.filter(type_condition(&types));
            }
        }
        let conn = self.db.tenant_read(tenant).await?;
        let rows = query
            .order_by_asc(C::Tx)
            .order_by_asc(C::Id)
            .limit(limit.clamp(1, MAX_EVENT_PAGE))
            .all(&conn)
            .await
            .map_err(map_db_err)?;
        conn.end().await?;
        rows.into_iter()
            .map(|m| {
                let position = position(&m);
                to_domain(m).map(|event| FeedItem { position, event })
            })
            .collect()
    }

    async fn position_of(
        &self,
        tenant: TenantId,
        event_id: EventId,
    ) -> Result<Option<FeedPosition>, RepositoryError> {
        use event::Column as C;
        let conn = self.db.tenant_read(tenant).await?;
        let row = event::Entity::find()
            .filter(C::TenantId.eq(tenant.0))
            .filter(C::Id.eq(event_id.0))
            .one(&conn)
            .await
            .map_err(map_db_err)?;
        conn.end().await?;
        Ok(row.as_ref().map(position))
    }

    async fn head(&self, tenant: TenantId) -> Result<Option<FeedPosition>, RepositoryError> {
        use event::Column as C;
        let conn = self.db.tenant_read(tenant).await?;
        let row = event::Entity::find()
            .filter(C::TenantId.eq(tenant.0))
            .filter(self.finished())
            .order_by_desc(C::Tx)
            .order_by_desc(C::Id)
            .one(&conn)
            .await
            .map_err(map_db_err)?;
        conn.end().await?;
        Ok(row.as_ref().map(position))
    }
}
