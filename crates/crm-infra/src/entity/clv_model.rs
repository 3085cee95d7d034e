//! `clv_models` rows: one fitted model per tenant.
#![allow(missing_docs)]

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "clv_models")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    pub calibration_end: Date,
    pub time_unit: String,
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
    pub bgnbd_log_likelihood: f64,
    pub customers: i64,
    pub p: Option<f64>,
    pub q: Option<f64>,
    pub gamma: Option<f64>,
    pub gamma_gamma_log_likelihood: Option<f64>,
    pub repeat_customers: i64,
    pub fit_ms: i64,
    pub fitted_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
