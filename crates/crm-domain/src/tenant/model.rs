//! The tenant model.

use chrono::{DateTime, Utc};

use crate::ids::TenantId;
use crate::values::{CountryCode, CurrencyCode};

/// A tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct Tenant {
    /// Id (UUID v7).
    pub id: TenantId,
    /// Display name, 1..=255 characters.
    pub name: String,
    /// Country national phone numbers are read in when a customer has none.
    pub default_country: Option<CountryCode>,
    /// Currency of customers that name none.
    pub default_currency: CurrencyCode,
    /// Tenant settings (JSON object); later issues define keys (points unit, tier downgrades).
    pub settings: serde_json::Map<String, serde_json::Value>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}
