//! Request and response bodies of the customer endpoints.

use chrono::{DateTime, NaiveDate, Utc};
use crm_domain::customer::{self as domain, Customer, CustomerInput};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

api_enum!(
    /// `individual`, `business`, `non_profit` or `government`; all but `individual` require `company`.
    CustomerType => domain::CustomerType { Individual, Business, NonProfit, Government }
);
api_enum!(
    /// `active`, `inactive`, `blocked` or `archived`.
    CustomerStatus => domain::CustomerStatus { Active, Inactive, Blocked, Archived }
);
api_enum!(
    /// Lifecycle stage: `prospect`, `lead`, `customer` or `advocate`.
    LifecycleStage => domain::LifecycleStage { Prospect, Lead, Customer, Advocate }
);
api_enum!(
    /// Acquisition channel.
    AcquisitionSource => domain::AcquisitionSource { Website, Referral, SocialMedia, Advertising, TradeShow, ColdCall, EmailCampaign, WalkIn, Other }
);
api_enum!(
    /// Gender as stated by the customer.
    Gender => domain::Gender { Male, Female, Other, PreferNotToSay }
);

/// The editable fields of a customer: the body of `POST` (create) and `PUT` (full replace),
/// and the fields a `PATCH` merge patch (RFC 7396) may carry. Money amounts are decimal strings
/// (numbers are accepted) in `currency`, ≥ 0, at most 4 decimal places. Unknown fields are
/// refused.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerWrite {
    /// Full or organisation name, 1..=255 characters. Required.
    #[schema(example = "Budi Santoso")]
    pub name: Option<String>,
    /// Name to display.
    pub display_name: Option<String>,
    /// E-mail; stored lower-cased; unique per tenant. At least one of email, phone, mobile_phone.
    #[schema(example = "budi@example.co.id")]
    pub email: Option<String>,
    /// Phone; national numbers are read in `country` or the tenant's country; stored E.164.
    #[schema(example = "0812 3456 7890")]
    pub phone: Option<String>,
    /// Mobile phone; as `phone`.
    pub mobile_phone: Option<String>,
    /// Default `individual`.
    pub customer_type: Option<CustomerType>,
    /// Trading name; required unless `customer_type` is `individual`.
    pub company: Option<String>,
    /// Registered legal name.
    pub company_legal_name: Option<String>,
    /// Tax number.
    pub tax_id: Option<String>,
    /// Business licence number.
    pub business_license: Option<String>,
    /// Job title.
    pub job_title: Option<String>,
    /// Website (http or https; `acme.id` means `https://acme.id/`).
    pub website: Option<String>,
    /// Industry.
    pub industry: Option<String>,
    /// Company size band (`11-50`).
    pub company_size: Option<String>,
    /// Yearly revenue, in `currency`.
    #[schema(value_type = Option<String>, example = "1500000000")]
    pub annual_revenue: Option<Decimal>,
    /// Default `active`.
    pub status: Option<CustomerStatus>,
    /// Default `prospect`.
    pub stage: Option<LifecycleStage>,
    /// Acquisition channel.
    pub source: Option<AcquisitionSource>,
    /// User id of the owner (a token's `sub`). Under the tenant setting
    /// `sales_scope: "assigned"`, a sales user's customers are always their own: absent or
    /// `null` means the caller, another user is a 422 (`not_assignable`).
    pub assigned_to: Option<String>,
    /// ISO 4217; default the tenant's currency.
    #[schema(example = "IDR")]
    pub currency: Option<String>,
    /// ISO 3166-1 alpha-2.
    #[schema(example = "ID")]
    pub country: Option<String>,
    /// ISO 639-1, optionally with a region (`id`, `en-US`).
    pub language: Option<String>,
    /// IANA time zone (`Asia/Jakarta`).
    pub timezone: Option<String>,
    /// Date of birth (`YYYY-MM-DD`).
    pub birth_date: Option<NaiveDate>,
    /// Gender.
    pub gender: Option<Gender>,
    /// Credit limit in `currency`; 0 (default) means none.
    #[schema(value_type = Option<String>, example = "5000000")]
    pub credit_limit: Option<Decimal>,
    /// Payment terms in days, 0..=365.
    pub payment_terms_days: Option<i32>,
    /// Tags; stored trimmed and lower-cased, at most 50 of 1..=50 characters.
    pub tags: Option<Vec<String>>,
    /// Any JSON object, at most 16 KiB.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    /// One free-text note field, kept for compatibility: it is overwritten by every change
    /// and has no history. Note records (`/customers/{id}/notes`: dated, authored, with
    /// categories, complaints and every edit kept) are the customer's history.
    pub notes: Option<String>,
    /// One free-text field for staff, kept for compatibility like `notes`; note records with
    /// `is_internal: true` (`/customers/{id}/notes`) are the history of internal notes.
    pub internal_notes: Option<String>,
    /// VIP flag.
    pub is_vip: Option<bool>,
    /// Blacklisted; requires `blacklist_reason`.
    pub is_blacklisted: Option<bool>,
    /// Why blacklisted.
    pub blacklist_reason: Option<String>,
    /// Id of the referring customer (same tenant).
    pub referred_by: Option<Uuid>,
    /// Acquisition cost, in `currency`.
    #[schema(value_type = Option<String>)]
    pub acquisition_cost: Option<Decimal>,
    /// Id in another system; unique per tenant.
    pub external_ref: Option<String>,
    /// Last contact (RFC 3339).
    pub last_contact_at: Option<DateTime<Utc>>,
    /// Next follow-up (RFC 3339).
    pub next_follow_up_at: Option<DateTime<Utc>>,
    /// The customer's own discount on quoted prices, percent 0..=100 (2 decimals); replaces
    /// the tier's discount when set.
    #[schema(value_type = Option<String>, example = "12.5")]
    pub discount_percent: Option<Decimal>,
    /// Why the status changes: required (422 naming `status_reason`) when a `PUT` or `PATCH`
    /// changes `status` to `inactive`, `blocked` or `archived`; at most 500 characters. Not
    /// stored on the customer: the `customer.status_changed` event of the timeline carries it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "Moved abroad")]
    pub status_reason: Option<String>,
}

impl From<CustomerWrite> for CustomerInput {
    fn from(w: CustomerWrite) -> Self {
        CustomerInput {
            name: w.name,
            display_name: w.display_name,
            email: w.email,
            phone: w.phone,
            mobile_phone: w.mobile_phone,
            customer_type: w.customer_type.map(Into::into),
            company: w.company,
            company_legal_name: w.company_legal_name,
            tax_id: w.tax_id,
            business_license: w.business_license,
            job_title: w.job_title,
            website: w.website,
            industry: w.industry,
            company_size: w.company_size,
            annual_revenue: w.annual_revenue,
            status: w.status.map(Into::into),
            stage: w.stage.map(Into::into),
            source: w.source.map(Into::into),
            assigned_to: w.assigned_to,
            currency: w.currency,
            country: w.country,
            language: w.language,
            timezone: w.timezone,
            birth_date: w.birth_date,
            gender: w.gender.map(Into::into),
            credit_limit: w.credit_limit,
            payment_terms_days: w.payment_terms_days,
            tags: w.tags,
            metadata: w.metadata,
            notes: w.notes,
            internal_notes: w.internal_notes,
            is_vip: w.is_vip,
            is_blacklisted: w.is_blacklisted,
            blacklist_reason: w.blacklist_reason,
            referred_by: w.referred_by,
            acquisition_cost: w.acquisition_cost,
            external_ref: w.external_ref,
            last_contact_at: w.last_contact_at,
            next_follow_up_at: w.next_follow_up_at,
            discount_percent: w.discount_percent,
            status_reason: w.status_reason,
        }
    }
}

impl From<&Customer> for CustomerWrite {
    /// The stored customer as a write body: the base a merge patch applies to.
    fn from(c: &Customer) -> Self {
        let p = &c.profile;
        CustomerWrite {
            name: Some(p.name.clone()),
            display_name: p.display_name.clone(),
            email: p.email.as_ref().map(|e| e.as_str().to_owned()),
            phone: p.phone.as_ref().map(|e| e.as_str().to_owned()),
            mobile_phone: p.mobile_phone.as_ref().map(|e| e.as_str().to_owned()),
            customer_type: Some(p.customer_type.into()),
            company: p.company.clone(),
            company_legal_name: p.company_legal_name.clone(),
            tax_id: p.tax_id.clone(),
            business_license: p.business_license.clone(),
            job_title: p.job_title.clone(),
            website: p.website.as_ref().map(|w| w.as_str().to_owned()),
            industry: p.industry.clone(),
            company_size: p.company_size.clone(),
            annual_revenue: p.annual_revenue.map(|a| a.value()),
            status: Some(p.status.into()),
            stage: Some(p.stage.into()),
            source: p.source.map(Into::into),
            assigned_to: p.assigned_to.as_ref().map(|u| u.as_str().to_owned()),
            currency: Some(p.currency.as_str().to_owned()),
            country: p.country.map(|c| c.as_str().to_owned()),
            language: p.language.as_ref().map(|l| l.as_str().to_owned()),
            timezone: p.timezone.as_ref().map(|t| t.as_str().to_owned()),
            birth_date: p.birth_date,
            gender: p.gender.map(Into::into),
            credit_limit: Some(p.credit_limit.value()),
            payment_terms_days: Some(p.payment_terms_days),
            tags: Some(p.tags.iter().cloned().collect()),
            metadata: Some(serde_json::Value::Object(p.metadata.clone())),
            notes: p.notes.clone(),
            internal_notes: p.internal_notes.clone(),
            is_vip: Some(p.is_vip),
            is_blacklisted: Some(p.is_blacklisted),
            blacklist_reason: p.blacklist_reason.clone(),
            referred_by: p.referred_by.map(|r| r.0),
            acquisition_cost: p.acquisition_cost.map(|a| a.value()),
            external_ref: p.external_ref.clone(),
            last_contact_at: p.last_contact_at,
            next_follow_up_at: p.next_follow_up_at,
            discount_percent: p.discount_percent,
            status_reason: None,
        }
    }
}

/// A customer as the API returns it. Money amounts are decimal strings in `currency`;
/// times are RFC 3339 UTC.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CustomerResponse {
    /// Id (UUID v7).
    pub id: Uuid,
    /// Per-tenant number, increasing, never reused.
    pub customer_number: i64,
    /// `CUST-YYYY-NNNN`.
    #[schema(example = "CUST-2026-0001")]
    pub customer_code: String,
    /// Name.
    pub name: String,
    /// Display name.
    pub display_name: Option<String>,
    /// E-mail, lower-cased.
    pub email: Option<String>,
    /// Phone, E.164.
    #[schema(example = "+6281234567890")]
    pub phone: Option<String>,
    /// Mobile phone, E.164.
    pub mobile_phone: Option<String>,
    /// Kind of party.
    pub customer_type: CustomerType,
    /// Trading name.
    pub company: Option<String>,
    /// Legal name.
    pub company_legal_name: Option<String>,
    /// Tax number.
    pub tax_id: Option<String>,
    /// Business licence.
    pub business_license: Option<String>,
    /// Job title.
    pub job_title: Option<String>,
    /// Website.
    pub website: Option<String>,
    /// Industry.
    pub industry: Option<String>,
    /// Company size band.
    pub company_size: Option<String>,
    /// Yearly revenue, in `currency`.
    #[schema(value_type = Option<String>)]
    pub annual_revenue: Option<Decimal>,
    /// Account state.
    pub status: CustomerStatus,
    /// Lifecycle stage.
    pub stage: LifecycleStage,
    /// Acquisition channel.
    pub source: Option<AcquisitionSource>,
    /// Owner user id.
    pub assigned_to: Option<String>,
    /// ISO 4217 currency of the amounts.
    pub currency: String,
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
    /// Language.
    pub language: Option<String>,
    /// IANA time zone.
    pub timezone: Option<String>,
    /// Date of birth.
    pub birth_date: Option<NaiveDate>,
    /// Gender.
    pub gender: Option<Gender>,
    /// Credit limit (0: none).
    #[schema(value_type = String)]
    pub credit_limit: Decimal,
    /// Payment terms, days.
    pub payment_terms_days: i32,
    /// Tags, sorted.
    pub tags: Vec<String>,
    /// Free-form JSON object.
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    /// One free-text note field, kept for compatibility: it is overwritten by every change
    /// and has no history. Note records (`/customers/{id}/notes`: dated, authored, with
    /// categories, complaints and every edit kept) are the customer's history.
    pub notes: Option<String>,
    /// One free-text field for staff, kept for compatibility like `notes`; note records with
    /// `is_internal: true` (`/customers/{id}/notes`) are the history of internal notes.
    pub internal_notes: Option<String>,
    /// VIP.
    pub is_vip: bool,
    /// Blacklisted.
    pub is_blacklisted: bool,
    /// Why blacklisted.
    pub blacklist_reason: Option<String>,
    /// Referring customer.
    pub referred_by: Option<Uuid>,
    /// Acquisition cost.
    #[schema(value_type = Option<String>)]
    pub acquisition_cost: Option<Decimal>,
    /// Id in another system.
    pub external_ref: Option<String>,
    /// Completed orders.
    pub total_orders: i64,
    /// Sum of completed orders.
    #[schema(value_type = String)]
    pub total_spent: Decimal,
    /// total_spent / total_orders.
    #[schema(value_type = String)]
    pub average_order_value: Decimal,
    /// First completed order.
    pub first_order_at: Option<DateTime<Utc>>,
    /// Last completed order.
    pub last_order_at: Option<DateTime<Utc>>,
    /// Last contact.
    pub last_contact_at: Option<DateTime<Utc>>,
    /// Next follow-up.
    pub next_follow_up_at: Option<DateTime<Utc>>,
    /// Creator user id.
    pub created_by: Option<String>,
    /// Last editor user id.
    pub updated_by: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Soft-deletion time.
    pub deleted_at: Option<DateTime<Utc>>,
    /// When the person was erased (`POST /customers/{id}/erase`): the record is anonymised and
    /// can no longer change.
    pub erased_at: Option<DateTime<Utc>>,
    /// Who erased it (user id).
    pub erased_by: Option<String>,
    /// Own discount override, percent.
    #[schema(value_type = Option<String>)]
    pub discount_percent: Option<Decimal>,
    /// Current membership tier.
    pub tier_id: Option<Uuid>,
    /// Since when the tier is held.
    pub tier_since: Option<DateTime<Utc>>,
    /// Loyalty points balance.
    pub loyalty_points: i64,
    /// RFM scores of the latest recompute; absent before one or without a completed order.
    pub rfm: Option<RfmScoresResponse>,
    /// Version; also the `ETag`.
    pub version: i64,
    /// The customer's default `billing` address, or null.
    pub default_billing_address: Option<crate::addresses::AddressResponse>,
    /// The customer's default `shipping` address, or null.
    pub default_shipping_address: Option<crate::addresses::AddressResponse>,
    /// The primary contact (`/customers/{id}/contacts`), or `null` when the customer has no
    /// contacts. Present in the answers of create, get, update, replace, restore, the list and
    /// search; absent where customers are embedded in other resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::contacts::PrimaryContact>)]
    pub primary_contact: Option<Option<crate::contacts::PrimaryContact>>,
}

/// A customer's RFM scores (see `docs/RFM.md`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RfmScoresResponse {
    /// Recency score 1..=5 (5: bought most recently).
    pub r: u8,
    /// Frequency score 1..=5.
    pub f: u8,
    /// Monetary score 1..=5.
    pub m: u8,
    /// The R×F segment: `champions`, `loyal_customers`, `potential_loyalists`, `new_customers`,
    /// `promising`, `need_attention`, `about_to_sleep`, `at_risk`, `cannot_lose_them`,
    /// `hibernating` or `lost`.
    pub segment: String,
    /// When the scores were computed.
    pub computed_at: DateTime<Utc>,
}

impl From<&Customer> for CustomerResponse {
    fn from(c: &Customer) -> Self {
        let w = CustomerWrite::from(c);
        CustomerResponse {
            id: c.id.0,
            customer_number: c.customer_number,
            customer_code: c.customer_code.clone(),
            name: c.profile.name.clone(),
            display_name: w.display_name,
            email: w.email,
            phone: w.phone,
            mobile_phone: w.mobile_phone,
            customer_type: c.profile.customer_type.into(),
            company: w.company,
            company_legal_name: w.company_legal_name,
            tax_id: w.tax_id,
            business_license: w.business_license,
            job_title: w.job_title,
            website: w.website,
            industry: w.industry,
            company_size: w.company_size,
            annual_revenue: w.annual_revenue,
            status: c.profile.status.into(),
            stage: c.profile.stage.into(),
            source: w.source,
            assigned_to: w.assigned_to,
            currency: c.profile.currency.as_str().to_owned(),
            country: w.country,
            language: w.language,
            timezone: w.timezone,
            birth_date: w.birth_date,
            gender: w.gender,
            credit_limit: c.profile.credit_limit.value(),
            payment_terms_days: c.profile.payment_terms_days,
            tags: c.profile.tags.iter().cloned().collect(),
            metadata: serde_json::Value::Object(c.profile.metadata.clone()),
            notes: w.notes,
            internal_notes: w.internal_notes,
            is_vip: c.profile.is_vip,
            is_blacklisted: c.profile.is_blacklisted,
            blacklist_reason: w.blacklist_reason,
            referred_by: w.referred_by,
            acquisition_cost: w.acquisition_cost,
            external_ref: w.external_ref,
            total_orders: c.stats.total_orders,
            total_spent: c.stats.total_spent.value(),
            average_order_value: c.stats.average_order_value.value(),
            first_order_at: c.stats.first_order_at,
            last_order_at: c.stats.last_order_at,
            last_contact_at: w.last_contact_at,
            next_follow_up_at: w.next_follow_up_at,
            created_by: c.created_by.as_ref().map(|u| u.as_str().to_owned()),
            updated_by: c.updated_by.as_ref().map(|u| u.as_str().to_owned()),
            created_at: c.created_at,
            updated_at: c.updated_at,
            deleted_at: c.deleted_at,
            erased_at: c.erased_at,
            erased_by: c.erased_by.as_ref().map(|u| u.as_str().to_owned()),
            discount_percent: w.discount_percent,
            tier_id: c.loyalty.tier_id.map(|t| t.0),
            tier_since: c.loyalty.tier_since,
            loyalty_points: c.loyalty.points,
            rfm: c.rfm.as_ref().map(|r| RfmScoresResponse {
                r: r.r,
                f: r.f,
                m: r.m,
                segment: r.segment.as_str().to_owned(),
                computed_at: r.computed_at,
            }),
            version: c.version,
            default_billing_address: None,
            default_shipping_address: None,
            primary_contact: None,
        }
    }
}

/// One page of customers.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CustomerPage {
    /// The customers, in the requested order.
    pub data: Vec<CustomerResponse>,
    /// Pass as `cursor` (with the same `sort`) to get the next page; `null` on the last page
    /// and in page-number mode.
    pub next_cursor: Option<String>,
    /// Exact number of matching customers (with `include_total=true` or `page`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// Page-number mode: this page (1-based).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<u64>,
    /// Page-number mode: the page size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// Page-number mode: `ceil(total / limit)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_pages: Option<u64>,
}
