//! `customer_addresses` rows: a customer's typed addresses.
#![allow(missing_docs)]

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "customer_addresses")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub customer_id: Uuid,
    pub address_type: String,
    pub label: Option<String>,
    pub recipient_name: Option<String>,
    pub phone: Option<String>,
    pub line1: String,
    pub line2: Option<String>,
    pub district: Option<String>,
    pub city: String,
    /// `city` lower-cased: what the `city` filter compares.
    pub city_key: String,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    pub country: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    /// Unit vector of the position (see `crm_domain::address::GeoPoint::unit_vector`).
    pub unit_x: Option<f64>,
    pub unit_y: Option<f64>,
    pub unit_z: Option<f64>,
    pub delivery_notes: Option<String>,
    pub is_default: bool,
    pub created_by: Option<String>,
    pub updated_by: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub version: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
