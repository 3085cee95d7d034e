//! `customer_views` rows. `sort` is the sort spec (`name,-created_at`).
#![allow(missing_docs)]

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "customer_views")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub owner_id: String,
    pub name: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub filter: Json,
    pub sort: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub columns: Json,
    pub shared: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
