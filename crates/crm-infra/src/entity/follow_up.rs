//! `follow_ups` rows: a customer's follow-up tasks.
#![allow(missing_docs)]

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "follow_ups")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub customer_id: Uuid,
    pub title: String,
    pub notes: Option<String>,
    pub due_at: DateTimeUtc,
    pub assignee: String,
    pub priority: String,
    pub status: String,
    pub completed_at: Option<DateTimeUtc>,
    pub completed_by: Option<String>,
    pub interaction_id: Option<Uuid>,
    pub version: i64,
    pub created_by: Option<String>,
    pub updated_by: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
