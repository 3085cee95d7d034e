//! Customer rows to the domain and back: the columns a profile writes, the full row of a new
//! customer, a stored row read back, and the integer encodings of percentages.

use std::str::FromStr;

use crm_domain::customer::LoyaltyStatus;
use crm_domain::customer::{Customer, CustomerProfile, NewCustomer, PurchaseStats};
use crm_domain::ids::TierId;
use crm_domain::values::{
    Amount, CountryCode, CurrencyCode, EmailAddress, LanguageCode, PhoneNumber, TimeZoneName,
    WebUrl,
};
use crm_domain::{CustomerId, RepositoryError, TenantId, UserId};
use rust_decimal::Decimal;
use sea_orm::{ActiveValue::NotSet, Set};

use crate::entity::customer;

/// A percentage (at most 2 decimals) as an integer count of hundredths of a percent.
pub(crate) fn percent_to_bp(p: Decimal) -> i64 {
    rust_decimal::prelude::ToPrimitive::to_i64(&(p * Decimal::ONE_HUNDRED).trunc()).unwrap_or(0)
}

/// Hundredths of a percent back to a percentage.
pub(crate) fn bp_to_percent(bp: i64) -> Decimal {
    Decimal::new(bp, 2).normalize()
}

/// Typo-tolerance terms as stored in `customers.search_terms`: separated by spaces (terms are
/// letters and digits only).
pub(super) fn terms_column(terms: std::collections::BTreeSet<String>) -> String {
    terms.into_iter().collect::<Vec<_>>().join(" ")
}

/// The active model with every profile column and the search document set, every other column
/// `NotSet`.
pub(super) fn profile_columns(p: &CustomerProfile, code: &str) -> customer::ActiveModel {
    let doc = crm_domain::customer::search::search_document(p, code);
    customer::ActiveModel {
        search_text: Set(doc.text),
        search_phones: Set(doc.phones),
        search_terms: Set(terms_column(doc.terms)),
        name: Set(p.name.clone()),
        display_name: Set(p.display_name.clone()),
        email: Set(p.email.as_ref().map(|e| e.as_str().to_owned())),
        phone: Set(p.phone.as_ref().map(|e| e.as_str().to_owned())),
        mobile_phone: Set(p.mobile_phone.as_ref().map(|e| e.as_str().to_owned())),
        customer_type: Set(p.customer_type.as_str().to_owned()),
        company: Set(p.company.clone()),
        company_legal_name: Set(p.company_legal_name.clone()),
        tax_id: Set(p.tax_id.clone()),
        business_license: Set(p.business_license.clone()),
        job_title: Set(p.job_title.clone()),
        website: Set(p.website.as_ref().map(|w| w.as_str().to_owned())),
        industry: Set(p.industry.clone()),
        company_size: Set(p.company_size.clone()),
        annual_revenue: Set(p.annual_revenue.map(|a| a.to_scaled())),
        status: Set(p.status.as_str().to_owned()),
        stage: Set(p.stage.as_str().to_owned()),
        source: Set(p.source.map(|s| s.as_str().to_owned())),
        assigned_to: Set(p.assigned_to.as_ref().map(|u| u.as_str().to_owned())),
        currency: Set(p.currency.as_str().to_owned()),
        country: Set(p.country.map(|c| c.as_str().to_owned())),
        language: Set(p.language.as_ref().map(|l| l.as_str().to_owned())),
        timezone: Set(p.timezone.as_ref().map(|t| t.as_str().to_owned())),
        birth_date: Set(p.birth_date),
        gender: Set(p.gender.map(|g| g.as_str().to_owned())),
        credit_limit: Set(p.credit_limit.to_scaled()),
        payment_terms_days: Set(p.payment_terms_days),
        tags: Set(serde_json::Value::from(
            p.tags.iter().cloned().collect::<Vec<_>>(),
        )),
        metadata: Set(serde_json::Value::Object(p.metadata.clone())),
        notes: Set(p.notes.clone()),
        internal_notes: Set(p.internal_notes.clone()),
        is_vip: Set(p.is_vip),
        is_blacklisted: Set(p.is_blacklisted),
        blacklist_reason: Set(p.blacklist_reason.clone()),
        referred_by: Set(p.referred_by.map(|c| c.0)),
        acquisition_cost: Set(p.acquisition_cost.map(|a| a.to_scaled())),
        external_ref: Set(p.external_ref.clone()),
        last_contact_at: Set(p.last_contact_at),
        next_follow_up_at: Set(p.next_follow_up_at),
        discount_bp: Set(p.discount_percent.map(percent_to_bp)),
        sort_name: Set(crm_domain::customer::sort_name(&p.name)),
        tier_id: NotSet,
        tier_since: NotSet,
        loyalty_points: NotSet,
        rfm_r: NotSet,
        rfm_f: NotSet,
        rfm_m: NotSet,
        rfm_segment: NotSet,
        rfm_computed_at: NotSet,
        tenant_id: NotSet,
        id: NotSet,
        customer_number: NotSet,
        customer_code: NotSet,
        total_orders: NotSet,
        total_spent: NotSet,
        average_order_value: NotSet,
        first_order_at: NotSet,
        last_order_at: NotSet,
        created_by: NotSet,
        updated_by: NotSet,
        created_at: NotSet,
        updated_at: NotSet,
        deleted_at: NotSet,
        version: NotSet,
        erased_at: NotSet,
        erased_by: NotSet,
    }
}

/// The full row of a new customer: version 1, no tier, no points, the given statistics.
pub(super) fn new_row(
    new: &NewCustomer,
    number: i64,
    code: &str,
    stats: &PurchaseStats,
) -> customer::ActiveModel {
    let mut row = profile_columns(&new.profile, code);
    row.tenant_id = Set(new.tenant_id.0);
    row.id = Set(new.id.0);
    row.customer_number = Set(number);
    row.customer_code = Set(code.to_owned());
    row.total_orders = Set(stats.total_orders);
    row.total_spent = Set(stats.total_spent.to_scaled());
    row.average_order_value = Set(stats.average_order_value.to_scaled());
    row.first_order_at = Set(stats.first_order_at);
    row.last_order_at = Set(stats.last_order_at);
    row.created_by = Set(new.created_by.as_ref().map(|u| u.as_str().to_owned()));
    row.updated_by = Set(new.created_by.as_ref().map(|u| u.as_str().to_owned()));
    row.created_at = Set(new.created_at);
    row.updated_at = Set(new.created_at);
    row.deleted_at = Set(None);
    row.version = Set(1);
    row.tier_id = Set(None);
    row.tier_since = Set(None);
    row.loyalty_points = Set(0);
    row
}

/// Reads a stored row back into the domain. Stored values were validated on the way in; a
/// value that no longer parses is reported as corrupt rather than silently dropped.
pub(crate) fn to_domain(m: customer::Model) -> Result<Customer, RepositoryError> {
    let id = m.id;
    let corrupt =
        |field: &str| RepositoryError::Other(format!("customer {id}: stored {field} is invalid"));
    fn parse_opt<T>(
        v: Option<String>,
        f: impl FnOnce(&str) -> Option<T>,
        err: RepositoryError,
    ) -> Result<Option<T>, RepositoryError> {
        match v {
            None => Ok(None),
            Some(s) => f(&s).map(Some).ok_or(err),
        }
    }
    fn enum_opt<T: FromStr>(
        v: Option<String>,
        err: RepositoryError,
    ) -> Result<Option<T>, RepositoryError> {
        parse_opt(v, |s| s.parse().ok(), err)
    }
    let tags = match m.tags {
        serde_json::Value::Array(items) => items
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => return Err(corrupt("tags")),
    };
    let profile = CustomerProfile {
        name: m.name,
        display_name: m.display_name,
        email: parse_opt(m.email, EmailAddress::parse, corrupt("email"))?,
        phone: m.phone.map(PhoneNumber::from_e164_unchecked),
        mobile_phone: m.mobile_phone.map(PhoneNumber::from_e164_unchecked),
        customer_type: m
            .customer_type
            .parse()
            .map_err(|_| corrupt("customer_type"))?,
        company: m.company,
        company_legal_name: m.company_legal_name,
        tax_id: m.tax_id,
        business_license: m.business_license,
        job_title: m.job_title,
        website: parse_opt(m.website, WebUrl::parse, corrupt("website"))?,
        industry: m.industry,
        company_size: m.company_size,
        annual_revenue: m.annual_revenue.map(Amount::from_scaled),
        status: m.status.parse().map_err(|_| corrupt("status"))?,
        stage: m.stage.parse().map_err(|_| corrupt("stage"))?,
        source: enum_opt(m.source, corrupt("source"))?,
        assigned_to: m.assigned_to.as_deref().and_then(UserId::parse),
        currency: CurrencyCode::parse(&m.currency).ok_or_else(|| corrupt("currency"))?,
        country: parse_opt(m.country, CountryCode::parse, corrupt("country"))?,
        language: parse_opt(m.language, LanguageCode::parse, corrupt("language"))?,
        timezone: parse_opt(m.timezone, TimeZoneName::parse, corrupt("timezone"))?,
        birth_date: m.birth_date,
        gender: enum_opt(m.gender, corrupt("gender"))?,
        credit_limit: Amount::from_scaled(m.credit_limit),
        payment_terms_days: m.payment_terms_days,
        tags,
        metadata: match m.metadata {
            serde_json::Value::Object(map) => map,
            _ => return Err(corrupt("metadata")),
        },
        notes: m.notes,
        internal_notes: m.internal_notes,
        is_vip: m.is_vip,
        is_blacklisted: m.is_blacklisted,
        blacklist_reason: m.blacklist_reason,
        referred_by: m.referred_by.map(CustomerId),
        acquisition_cost: m.acquisition_cost.map(Amount::from_scaled),
        external_ref: m.external_ref,
        last_contact_at: m.last_contact_at,
        next_follow_up_at: m.next_follow_up_at,
        discount_percent: m.discount_bp.map(bp_to_percent),
    };
    Ok(Customer {
        id: CustomerId(m.id),
        tenant_id: TenantId(m.tenant_id),
        customer_number: m.customer_number,
        customer_code: m.customer_code,
        profile,
        stats: PurchaseStats {
            total_orders: m.total_orders,
            total_spent: Amount::from_scaled(m.total_spent),
            average_order_value: Amount::from_scaled(m.average_order_value),
            first_order_at: m.first_order_at,
            last_order_at: m.last_order_at,
        },
        loyalty: LoyaltyStatus {
            tier_id: m.tier_id.map(TierId),
            tier_since: m.tier_since,
            points: m.loyalty_points,
        },
        rfm: match (m.rfm_r, m.rfm_f, m.rfm_m, &m.rfm_segment, m.rfm_computed_at) {
            (Some(r), Some(f), Some(mm), Some(segment), Some(computed_at)) => {
                let score = |v: i16| u8::try_from(v).map_err(|_| corrupt("rfm score"));
                Some(crm_domain::customer::CustomerRfm {
                    r: score(r)?,
                    f: score(f)?,
                    m: score(mm)?,
                    segment: segment.parse().map_err(|_| corrupt("rfm_segment"))?,
                    computed_at,
                })
            }
            _ => None,
        },
        created_by: m.created_by.as_deref().and_then(UserId::parse),
        updated_by: m.updated_by.as_deref().and_then(UserId::parse),
        created_at: m.created_at,
        updated_at: m.updated_at,
        deleted_at: m.deleted_at,
        erased_at: m.erased_at,
        erased_by: m.erased_by.as_deref().and_then(UserId::parse),
        version: m.version,
    })
}
