//! The customer aggregate.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};

use crate::ids::{CustomerId, TenantId, TierId, UserId};
use crate::values::{
    Amount, CountryCode, CurrencyCode, EmailAddress, LanguageCode, PhoneNumber, TimeZoneName,
    WebUrl,
};
use rust_decimal::Decimal;

string_enum!(
    /// What kind of party the customer is. Every kind but `individual` requires `company`.
    CustomerType {
        /// A person.
        Individual => "individual",
        /// A company.
        Business => "business",
        /// A non-profit organisation.
        NonProfit => "non_profit",
        /// A government body.
        Government => "government",
    }
);

string_enum!(
    /// The account state of a customer.
    CustomerStatus {
        /// Normal.
        Active => "active",
        /// Dormant; kept but not worked.
        Inactive => "inactive",
        /// Not to be served.
        Blocked => "blocked",
        /// Kept for the record only.
        Archived => "archived",
    }
);

string_enum!(
    /// Where the customer is in the sales lifecycle.
    LifecycleStage {
        /// Known, not yet engaged.
        Prospect => "prospect",
        /// Engaged, not yet bought.
        Lead => "lead",
        /// Has bought.
        Customer => "customer",
        /// Buys and recommends.
        Advocate => "advocate",
    }
);

string_enum!(
    /// How the customer was acquired.
    AcquisitionSource {
        /// The business's website.
        Website => "website",
        /// Referred by someone (see `referred_by`).
        Referral => "referral",
        /// Social media.
        SocialMedia => "social_media",
        /// Paid advertising.
        Advertising => "advertising",
        /// A trade show.
        TradeShow => "trade_show",
        /// Outbound calling.
        ColdCall => "cold_call",
        /// An e-mail campaign.
        EmailCampaign => "email_campaign",
        /// Walked into a shop.
        WalkIn => "walk_in",
        /// Anything else.
        Other => "other",
    }
);

string_enum!(
    /// The customer's gender, as they state it.
    Gender {
        /// Male.
        Male => "male",
        /// Female.
        Female => "female",
        /// Another gender.
        Other => "other",
        /// Declined to say.
        PreferNotToSay => "prefer_not_to_say",
    }
);

/// Everything about a customer that users edit: the validated result of a
/// [`CustomerInput`](super::CustomerInput). Amounts are in `currency`.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerProfile {
    /// Full name or organisation name, 1..=255 characters, trimmed.
    pub name: String,
    /// Name to show, when different from `name`.
    pub display_name: Option<String>,
    /// Lower-cased e-mail; unique per tenant among customers not deleted.
    pub email: Option<EmailAddress>,
    /// Main phone, E.164; unique per tenant among customers not deleted.
    pub phone: Option<PhoneNumber>,
    /// Mobile phone, E.164; unique per tenant among customers not deleted.
    pub mobile_phone: Option<PhoneNumber>,
    /// Kind of party.
    pub customer_type: CustomerType,
    /// Trading name; required unless `customer_type` is `individual`.
    pub company: Option<String>,
    /// Registered legal name.
    pub company_legal_name: Option<String>,
    /// Tax number (e.g. NPWP).
    pub tax_id: Option<String>,
    /// Business licence number (e.g. NIB).
    pub business_license: Option<String>,
    /// Job title of the person.
    pub job_title: Option<String>,
    /// Website.
    pub website: Option<WebUrl>,
    /// Industry, free text.
    pub industry: Option<String>,
    /// Company size band, free text (`11-50`).
    pub company_size: Option<String>,
    /// Yearly revenue of the company, in `currency`.
    pub annual_revenue: Option<Amount>,
    /// Account state.
    pub status: CustomerStatus,
    /// Lifecycle stage.
    pub stage: LifecycleStage,
    /// Acquisition channel.
    pub source: Option<AcquisitionSource>,
    /// The user who owns the relationship.
    pub assigned_to: Option<UserId>,
    /// Currency of the customer's amounts; defaults to the tenant's.
    pub currency: CurrencyCode,
    /// Country of the customer; national phone numbers are read in it (else the tenant's).
    pub country: Option<CountryCode>,
    /// Preferred language.
    pub language: Option<LanguageCode>,
    /// IANA time zone.
    pub timezone: Option<TimeZoneName>,
    /// Date of birth, after 1900-01-01 and not in the future.
    pub birth_date: Option<NaiveDate>,
    /// Gender.
    pub gender: Option<Gender>,
    /// Credit limit in `currency`; 0 means none is enforced.
    pub credit_limit: Amount,
    /// Days until an invoice is due, 0..=365.
    pub payment_terms_days: i32,
    /// Tags: trimmed, lower-cased, 1..=50 characters each, at most 50, no duplicates.
    pub tags: BTreeSet<String>,
    /// Free-form JSON object (at most 16 KiB serialised).
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// Notes visible to everyone who can view the customer.
    pub notes: Option<String>,
    /// Internal notes.
    pub internal_notes: Option<String>,
    /// Very important customer.
    pub is_vip: bool,
    /// Blacklisted; then `blacklist_reason` is set.
    pub is_blacklisted: bool,
    /// Why the customer is blacklisted.
    pub blacklist_reason: Option<String>,
    /// The customer (same tenant) who referred this one.
    pub referred_by: Option<CustomerId>,
    /// What acquiring the customer cost, in `currency`.
    pub acquisition_cost: Option<Amount>,
    /// The customer's id in another system; unique per tenant among customers not deleted.
    pub external_ref: Option<String>,
    /// Last time someone was in touch.
    pub last_contact_at: Option<DateTime<Utc>>,
    /// When to get in touch next.
    pub next_follow_up_at: Option<DateTime<Utc>>,
    /// The customer's own discount on quoted prices (percent, 0..=100, 2 decimals); when set
    /// it replaces the tier's discount.
    pub discount_percent: Option<Decimal>,
}

/// Purchase statistics, maintained from orders (later issue); zero for a new customer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PurchaseStats {
    /// Completed orders.
    pub total_orders: i64,
    /// Sum of completed orders, in the customer's currency.
    pub total_spent: Amount,
    /// `total_spent / total_orders`, or zero.
    pub average_order_value: Amount,
    /// First completed order.
    pub first_order_at: Option<DateTime<Utc>>,
    /// Last completed order.
    pub last_order_at: Option<DateTime<Utc>>,
}

/// Loyalty state kept on the customer, maintained from the ledger and tier changes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoyaltyStatus {
    /// Current membership tier.
    pub tier_id: Option<TierId>,
    /// Since when the customer holds it.
    pub tier_since: Option<DateTime<Utc>>,
    /// Points balance: the sum of the customer's ledger entries, never negative.
    pub points: i64,
}

/// A customer's RFM scores from the tenant's latest recompute (see
/// [`crate::analytics::rfm`]).
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerRfm {
    /// Recency score 1..=5 (5 = most recent).
    pub r: u8,
    /// Frequency score 1..=5.
    pub f: u8,
    /// Monetary score 1..=5.
    pub m: u8,
    /// The R×F segment.
    pub segment: crate::values::RfmSegment,
    /// When the scores were computed.
    pub computed_at: DateTime<Utc>,
}

/// A customer record as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Customer {
    /// Id (UUID v7).
    pub id: CustomerId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// Per-tenant number: 1, 2, 3, ... strictly increasing, never reused.
    pub customer_number: i64,
    /// `CUST-YYYY-NNNN`: year of creation and per-tenant, per-year sequence (see [`customer_code`]).
    pub customer_code: String,
    /// Editable fields.
    pub profile: CustomerProfile,
    /// Purchase statistics.
    pub stats: PurchaseStats,
    /// Tier and points.
    pub loyalty: LoyaltyStatus,
    /// RFM scores; `None` before a recompute or without a completed order.
    pub rfm: Option<CustomerRfm>,
    /// Who created it.
    pub created_by: Option<UserId>,
    /// Who changed it last.
    pub updated_by: Option<UserId>,
    /// Creation time (UTC, microseconds).
    pub created_at: DateTime<Utc>,
    /// Last change (UTC, microseconds).
    pub updated_at: DateTime<Utc>,
    /// Soft-deletion time; `None` while live.
    pub deleted_at: Option<DateTime<Utc>>,
    /// When the person was erased (see [`crate::privacy`]): the profile is anonymised and can
    /// no longer change. `None` for a customer never erased.
    pub erased_at: Option<DateTime<Utc>>,
    /// Who erased it.
    pub erased_by: Option<UserId>,
    /// Optimistic-concurrency version: 1 on creation, +1 on every change.
    pub version: i64,
}

/// A customer about to be stored; the repository assigns `customer_number` and `customer_code`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCustomer {
    /// Id (UUID v7).
    pub id: CustomerId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// Validated fields.
    pub profile: CustomerProfile,
    /// Creator.
    pub created_by: Option<UserId>,
    /// Creation time; its year goes into the customer code.
    pub created_at: DateTime<Utc>,
    /// Addresses written with it, in the same transaction (the nested create); empty on the
    /// bulk paths.
    pub addresses: Vec<crate::address::Address>,
    /// Contacts stored with it in the same transaction (`contacts` of `POST /customers`),
    /// already checked by [`crate::contact::nested_contacts`]; usually empty.
    pub contacts: Vec<crate::contact::Contact>,
}

/// Formats a customer code: `CUST-<year>-<sequence>` with the sequence zero-padded to four
/// digits (`CUST-2026-0042`; the 10,000th of a year is `CUST-2026-10000`).
pub fn customer_code(year: i32, sequence: i64) -> String {
    format!("CUST-{year}-{sequence:04}")
}

/// The per-tenant unique keys of a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UniqueField {
    /// `email` (lower-cased).
    Email,
    /// `phone` (E.164).
    Phone,
    /// `mobile_phone` (E.164).
    MobilePhone,
    /// `external_ref`.
    ExternalRef,
}

impl UniqueField {
    /// The API field name.
    pub fn as_str(self) -> &'static str {
        match self {
            UniqueField::Email => "email",
            UniqueField::Phone => "phone",
            UniqueField::MobilePhone => "mobile_phone",
            UniqueField::ExternalRef => "external_ref",
        }
    }

    /// Parses an API field name.
    pub fn from_field(field: &str) -> Option<Self> {
        [
            Self::Email,
            Self::Phone,
            Self::MobilePhone,
            Self::ExternalRef,
        ]
        .into_iter()
        .find(|f| f.as_str() == field)
    }

    /// The value of this key in `profile`, if set.
    pub fn value_in(self, profile: &CustomerProfile) -> Option<&str> {
        match self {
            UniqueField::Email => profile.email.as_ref().map(EmailAddress::as_str),
            UniqueField::Phone => profile.phone.as_ref().map(PhoneNumber::as_str),
            UniqueField::MobilePhone => profile.mobile_phone.as_ref().map(PhoneNumber::as_str),
            UniqueField::ExternalRef => profile.external_ref.as_deref(),
        }
    }

    /// Every unique key.
    pub const ALL: [UniqueField; 4] = [
        Self::Email,
        Self::Phone,
        Self::MobilePhone,
        Self::ExternalRef,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customer_code_pads_the_sequence_to_four_digits() {
        assert_eq!(customer_code(2026, 42), "CUST-2026-0042");
        assert_eq!(customer_code(2026, 12345), "CUST-2026-12345");
    }

    #[test]
    fn enums_parse_their_wire_names_only() {
        assert_eq!(
            "non_profit".parse::<CustomerType>(),
            Ok(CustomerType::NonProfit)
        );
        let err = "NonProfit".parse::<CustomerType>().unwrap_err();
        assert!(
            err.contains("individual, business, non_profit, government"),
            "{err}"
        );
    }
}
