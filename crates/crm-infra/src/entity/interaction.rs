//! `interactions` rows: a customer's logged calls, e-mails, meetings, ...
#![allow(missing_docs)]

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "interactions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub customer_id: Uuid,
    #[sea_orm(column_name = "type")]
    pub kind: String,
    pub direction: Option<String>,
    pub subject: Option<String>,
    pub body: Option<String>,
    pub outcome: Option<String>,
    pub duration_seconds: Option<i32>,
    pub occurred_at: DateTimeUtc,
    pub contact_id: Option<Uuid>,
    pub performed_by: String,
    pub version: i64,
    pub updated_by: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
