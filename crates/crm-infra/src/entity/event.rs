//! `events` rows: the append-only event log (migration 17).
#![allow(missing_docs)]

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: Uuid,
    pub event_type: String,
    pub customer_id: Option<Uuid>,
    pub entity_type: String,
    pub entity_id: Uuid,
    pub actor_sub: String,
    pub actor_role: Option<String>,
    pub request_id: Option<String>,
    pub occurred_at: DateTimeUtc,
    /// JSON text.
    pub data: String,
    /// JSON text `{"field": [old, new]}`, or null.
    pub changes: Option<String>,
    /// The writing transaction's id (PostgreSQL `pg_current_xact_id()`, by default), or 0
    /// (SQLite, and rows older than migration 21): the feed's order is `(tx, id)`.
    pub tx: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
