//! `customers` rows. Money columns hold ten-thousandths of `currency` (BIGINT).
#![allow(missing_docs)]

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "customers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub customer_number: i64,
    pub customer_code: String,
    pub name: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub mobile_phone: Option<String>,
    pub customer_type: String,
    pub company: Option<String>,
    pub company_legal_name: Option<String>,
    pub tax_id: Option<String>,
    pub business_license: Option<String>,
    pub job_title: Option<String>,
    pub website: Option<String>,
    pub industry: Option<String>,
    pub company_size: Option<String>,
    pub annual_revenue: Option<i64>,
    pub status: String,
    pub stage: String,
    pub source: Option<String>,
    pub assigned_to: Option<String>,
    pub currency: String,
    pub country: Option<String>,
    pub language: Option<String>,
    pub timezone: Option<String>,
    pub birth_date: Option<Date>,
    pub gender: Option<String>,
    pub credit_limit: i64,
    pub payment_terms_days: i32,
    #[sea_orm(column_type = "JsonBinary")]
    pub tags: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub metadata: Json,
    pub notes: Option<String>,
    pub internal_notes: Option<String>,
    pub is_vip: bool,
    pub is_blacklisted: bool,
    pub blacklist_reason: Option<String>,
    pub referred_by: Option<Uuid>,
    pub acquisition_cost: Option<i64>,
    pub external_ref: Option<String>,
    pub total_orders: i64,
    pub total_spent: i64,
    pub average_order_value: i64,
    pub first_order_at: Option<DateTimeUtc>,
    pub last_order_at: Option<DateTimeUtc>,
    pub last_contact_at: Option<DateTimeUtc>,
    pub next_follow_up_at: Option<DateTimeUtc>,
    pub created_by: Option<String>,
    pub updated_by: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub deleted_at: Option<DateTimeUtc>,
    pub version: i64,
    /// When the person was erased (anonymised).
    pub erased_at: Option<DateTimeUtc>,
    /// Who erased it.
    pub erased_by: Option<String>,
    pub tier_id: Option<Uuid>,
    pub tier_since: Option<DateTimeUtc>,
    pub loyalty_points: i64,
    /// Hundredths of a percent.
    pub discount_bp: Option<i64>,
    /// The lower-cased name (sort key).
    pub sort_name: String,
    /// Search document: lower-cased searchable fields, one per line.
    pub search_text: String,
    /// Search document: phone digits, international and national forms.
    pub search_phones: String,
    /// Search document: typo-tolerance terms, separated by spaces.
    pub search_terms: String,
    pub rfm_r: Option<i16>,
    pub rfm_f: Option<i16>,
    pub rfm_m: Option<i16>,
    pub rfm_segment: Option<String>,
    pub rfm_computed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
