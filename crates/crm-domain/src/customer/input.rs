//! Raw customer input and the rules that turn it into a [`CustomerProfile`].

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::model::{
    AcquisitionSource, CustomerProfile, CustomerStatus, CustomerType, Gender, LifecycleStage,
};
use crate::error::FieldError;
use crate::ids::{CustomerId, UserId};
use crate::values::{
    Amount, AmountError, CountryCode, CurrencyCode, EmailAddress, LanguageCode, PhoneError,
    PhoneNumber, TextKind, TimeZoneName, WebUrl, check_json_text, check_text,
};

/// Longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 50;
/// Most tags on one customer.
pub const MAX_TAGS: usize = 50;
/// Largest `metadata`, serialised, in bytes.
pub const MAX_METADATA_BYTES: usize = 16 * 1024;
/// Longest free text (`notes`, `internal_notes`), in characters.
pub const MAX_NOTES_CHARS: usize = 10_000;

/// A customer as submitted, before any rule is checked: what a create (`POST`) or full replace
/// (`PUT`) carries. Absent fields take their defaults (`customer_type` individual, `status`
/// active, `stage` prospect, `currency` the tenant's, `credit_limit` 0, `payment_terms_days` 0).
/// Empty strings count as absent.
#[derive(Debug, Clone, Default, PartialEq)]
#[allow(missing_docs)] // each field is documented on CustomerProfile
pub struct CustomerInput {
    pub name: Option<String>,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub mobile_phone: Option<String>,
    pub customer_type: Option<CustomerType>,
    pub company: Option<String>,
    pub company_legal_name: Option<String>,
    pub tax_id: Option<String>,
    pub business_license: Option<String>,
    pub job_title: Option<String>,
    pub website: Option<String>,
    pub industry: Option<String>,
    pub company_size: Option<String>,
    pub annual_revenue: Option<Decimal>,
    pub status: Option<CustomerStatus>,
    pub stage: Option<LifecycleStage>,
    pub source: Option<AcquisitionSource>,
    pub assigned_to: Option<String>,
    pub currency: Option<String>,
    pub country: Option<String>,
    pub language: Option<String>,
    pub timezone: Option<String>,
    pub birth_date: Option<NaiveDate>,
    pub gender: Option<Gender>,
    pub credit_limit: Option<Decimal>,
    pub payment_terms_days: Option<i32>,
    pub tags: Option<Vec<String>>,
    pub metadata: Option<serde_json::Value>,
    pub notes: Option<String>,
    pub internal_notes: Option<String>,
    pub is_vip: Option<bool>,
    pub is_blacklisted: Option<bool>,
    pub blacklist_reason: Option<String>,
    pub referred_by: Option<Uuid>,
    pub acquisition_cost: Option<Decimal>,
    pub external_ref: Option<String>,
    pub last_contact_at: Option<DateTime<Utc>>,
    pub next_follow_up_at: Option<DateTime<Utc>>,
    pub discount_percent: Option<Decimal>,
    /// Why the status changes (not stored on the customer: the `customer.status_changed`
    /// event carries it); required when a write changes the status to `inactive`, `blocked`
    /// or `archived`, at most 500 characters.
    pub status_reason: Option<String>,
}

/// What validation needs to know beyond the input itself.
#[derive(Debug, Clone, Copy)]
pub struct ValidationContext {
    /// The tenant's default country: national phone numbers are read in it when the customer
    /// has no `country`.
    pub default_country: Option<CountryCode>,
    /// The tenant's default currency, used when the input names none.
    pub default_currency: CurrencyCode,
    /// Today (UTC), for the birth-date rule.
    pub today: NaiveDate,
}

/// Collects field errors while reading an input.
struct Checker {
    errors: Vec<FieldError>,
}

impl Checker {
    fn fail(&mut self, field: &str, code: &'static str, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, code, message));
    }

    /// Trims; empty becomes `None`; longer than `max` characters or a control character
    /// ([`check_text`], single-line) is an error.
    fn text(&mut self, field: &str, value: Option<String>, max: usize) -> Option<String> {
        self.text_of(field, value, max, TextKind::SingleLine)
    }

    /// As [`Checker::text`] for free text that may span lines (tab and line breaks allowed).
    fn multiline(&mut self, field: &str, value: Option<String>, max: usize) -> Option<String> {
        self.text_of(field, value, max, TextKind::MultiLine)
    }

    fn text_of(
        &mut self,
        field: &str,
        value: Option<String>,
        max: usize,
        kind: TextKind,
    ) -> Option<String> {
        let v = value?.trim().to_owned();
        if v.is_empty() {
            return None;
        }
        if let Err(e) = check_text(field, &v, kind) {
            self.errors.push(e);
            return None;
        }
        if v.chars().count() > max {
            self.fail(
                field,
                "too_long",
                format!("must be at most {max} characters"),
            );
            return None;
        }
        Some(v)
    }

    fn parsed<T>(
        &mut self,
        field: &str,
        value: Option<String>,
        code: &'static str,
        message: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Option<T> {
        let v = self.text(field, value, 2048)?;
        let parsed = parse(&v);
        if parsed.is_none() {
            self.fail(field, code, format!("`{v}` {message}"));
        }
        parsed
    }

    fn amount(&mut self, field: &str, value: Option<Decimal>) -> Option<Amount> {
        match Amount::new(value?) {
            Ok(a) => Some(a),
            Err(AmountError::Negative) => {
                self.fail(field, "negative", "must be zero or more");
                None
            }
            Err(AmountError::TooPrecise) => {
                self.fail(field, "too_precise", "must have at most 4 decimal places");
                None
            }
            Err(AmountError::TooLarge) => {
                self.fail(field, "too_large", "must be at most 922337203685477");
                None
            }
        }
    }

    fn phone(
        &mut self,
        field: &str,
        value: Option<String>,
        country: Option<CountryCode>,
    ) -> Option<PhoneNumber> {
        let v = self.text(field, value, 64)?;
        match PhoneNumber::parse(&v, country) {
            Ok(p) => Some(p),
            Err(PhoneError::NoCountry) => {
                self.fail(
                    field,
                    "phone_country_unknown",
                    format!("`{v}` has no +country prefix and neither the customer nor the tenant has a country"),
                );
                None
            }
            Err(PhoneError::Invalid) => {
                self.fail(
                    field,
                    "invalid_phone",
                    format!("`{v}` is not a valid phone number"),
                );
                None
            }
        }
    }

    fn tags(&mut self, value: Option<Vec<String>>) -> BTreeSet<String> {
        let mut set = BTreeSet::new();
        for (i, raw) in value.unwrap_or_default().into_iter().enumerate() {
            let field = format!("tags[{i}]");
            let tag = raw.trim().to_lowercase();
            if tag.is_empty() {
                self.fail(&field, "required", "a tag cannot be empty");
            } else if let Err(e) = check_text(&field, &tag, TextKind::SingleLine) {
                self.errors.push(e);
            } else if tag.chars().count() > MAX_TAG_CHARS {
                self.fail(
                    &field,
                    "too_long",
                    format!("must be at most {MAX_TAG_CHARS} characters"),
                );
            } else {
                set.insert(tag);
            }
        }
        if set.len() > MAX_TAGS {
            self.fail("tags", "too_many", format!("at most {MAX_TAGS} tags"));
        }
        set
    }

    fn metadata(
        &mut self,
        value: Option<serde_json::Value>,
    ) -> serde_json::Map<String, serde_json::Value> {
        match value {
            None | Some(serde_json::Value::Null) => serde_json::Map::new(),
            Some(serde_json::Value::Object(map)) => {
                if serde_json::to_vec(&map).map_or(0, |v| v.len()) > MAX_METADATA_BYTES {
                    self.fail(
                        "metadata",
                        "too_large",
                        format!("must be at most {MAX_METADATA_BYTES} bytes"),
                    );
                }
                for (k, v) in &map {
                    let checked = check_text("metadata", k, TextKind::SingleLine)
                        .and_then(|()| check_json_text(&format!("metadata.{k}"), v));
                    if let Err(e) = checked {
                        self.errors.push(e);
                        break;
                    }
                }
                map
            }
            Some(_) => {
                self.fail("metadata", "not_an_object", "must be a JSON object");
                serde_json::Map::new()
            }
        }
    }
}

impl CustomerInput {
    /// Checks every rule and normalises the values (trimmed text, lower-cased e-mail and tags,
    /// E.164 phones, upper-case codes). All broken rules are reported at once.
    ///
    /// Rules: `name` 1..=255 characters; at least one of `email`, `phone`, `mobile_phone`;
    /// `email` valid; phones valid (national numbers read in `country`, else the tenant's
    /// country); `company` required unless `customer_type` is `individual`; `blacklist_reason`
    /// required when `is_blacklisted`; `website` an http(s) URL; `currency`, `country`,
    /// `language` and `timezone` in their ISO / IANA lists; amounts ≥ 0 with at most four
    /// decimals; `payment_terms_days` 0..=365; `birth_date` from 1900-01-01 to today; tags and
    /// metadata within their limits. Whether `referred_by` exists and uniqueness are checked by
    /// the service, which can see storage.
    ///
    /// # Errors
    /// Every broken rule, as a [`FieldError`] naming the API field.
    pub fn validate(self, ctx: &ValidationContext) -> Result<CustomerProfile, Vec<FieldError>> {
        let mut c = Checker { errors: Vec::new() };
        let name = match self.name.as_deref().map(str::trim) {
            None | Some("") => {
                c.fail("name", "required", "name is required");
                String::new()
            }
            Some(_) => c.text("name", self.name, 255).unwrap_or_default(),
        };
        let display_name = c.text("display_name", self.display_name, 255);
        let email = c.parsed(
            "email",
            self.email,
            "invalid_email",
            "is not a valid e-mail address",
            EmailAddress::parse,
        );
        let country = c.parsed(
            "country",
            self.country,
            "invalid_country",
            "is not an ISO 3166-1 alpha-2 country code",
            CountryCode::parse,
        );
        let phone_country = country.or(ctx.default_country);
        let phone = c.phone("phone", self.phone, phone_country);
        let mobile_phone = c.phone("mobile_phone", self.mobile_phone, phone_country);
        // A customer is reachable (e-mail or phone) or identified in another system
        // (`external_ref`, as customers imported from a purchase history are).
        let has_ref = self
            .external_ref
            .as_deref()
            .is_some_and(|r| !r.trim().is_empty());
        let contact_given = [&email.is_some(), &phone.is_some(), &mobile_phone.is_some()]
            .into_iter()
            .any(|b| *b)
            || has_ref;
        let contact_attempted = c
            .errors
            .iter()
            .any(|e| matches!(e.field.as_str(), "email" | "phone" | "mobile_phone"));
        if !contact_given && !contact_attempted {
            c.fail(
                "email",
                "contact_required",
                "at least one of email, phone, mobile_phone or external_ref is required",
            );
        }
        let customer_type = self.customer_type.unwrap_or(CustomerType::Individual);
        let company = c.text("company", self.company, 255);
        if customer_type != CustomerType::Individual && company.is_none() {
            c.fail(
                "company",
                "required",
                format!("company is required for a {customer_type} customer"),
            );
        }
        let is_blacklisted = self.is_blacklisted.unwrap_or(false);
        let blacklist_reason = c.multiline("blacklist_reason", self.blacklist_reason, 1000);
        if is_blacklisted && blacklist_reason.is_none() {
            c.fail(
                "blacklist_reason",
                "required",
                "a reason is required to blacklist a customer",
            );
        }
        let currency = c
            .parsed(
                "currency",
                self.currency,
                "invalid_currency",
                "is not an ISO 4217 currency code",
                CurrencyCode::parse,
            )
            .unwrap_or(ctx.default_currency);
        let payment_terms_days = self.payment_terms_days.unwrap_or(0);
        if !(0..=365).contains(&payment_terms_days) {
            c.fail(
                "payment_terms_days",
                "out_of_range",
                "must be between 0 and 365",
            );
        }
        if let Some(d) = self.birth_date {
            let earliest = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN);
            if d < earliest || d > ctx.today {
                c.fail(
                    "birth_date",
                    "out_of_range",
                    "must be between 1900-01-01 and today",
                );
            }
        }
        let assigned_to = match c.text("assigned_to", self.assigned_to, 255) {
            Some(u) => UserId::parse(&u),
            None => None,
        };
        let profile = CustomerProfile {
            name,
            display_name,
            email,
            phone,
            mobile_phone,
            customer_type,
            company,
            company_legal_name: c.text("company_legal_name", self.company_legal_name, 255),
            tax_id: c.text("tax_id", self.tax_id, 64),
            business_license: c.text("business_license", self.business_license, 64),
            job_title: c.text("job_title", self.job_title, 255),
            website: c.parsed(
                "website",
                self.website,
                "invalid_url",
                "is not an http(s) URL",
                WebUrl::parse,
            ),
            industry: c.text("industry", self.industry, 100),
            company_size: c.text("company_size", self.company_size, 50),
            annual_revenue: c.amount("annual_revenue", self.annual_revenue),
            status: self.status.unwrap_or(CustomerStatus::Active),
            stage: self.stage.unwrap_or(LifecycleStage::Prospect),
            source: self.source,
            assigned_to,
            currency,
            country,
            language: c.parsed(
                "language",
                self.language,
                "invalid_language",
                "is not an ISO 639-1 language code",
                LanguageCode::parse,
            ),
            timezone: c.parsed(
                "timezone",
                self.timezone,
                "invalid_timezone",
                "is not an IANA time zone",
                TimeZoneName::parse,
            ),
            birth_date: self.birth_date,
            gender: self.gender,
            credit_limit: c
                .amount("credit_limit", self.credit_limit)
                .unwrap_or(Amount::ZERO),
            payment_terms_days,
            tags: c.tags(self.tags),
            metadata: c.metadata(self.metadata),
            notes: c.multiline("notes", self.notes, MAX_NOTES_CHARS),
            internal_notes: c.multiline("internal_notes", self.internal_notes, MAX_NOTES_CHARS),
            is_vip: self.is_vip.unwrap_or(false),
            is_blacklisted,
            blacklist_reason,
            referred_by: self.referred_by.map(CustomerId),
            acquisition_cost: c.amount("acquisition_cost", self.acquisition_cost),
            external_ref: c.text("external_ref", self.external_ref, 255),
            last_contact_at: self.last_contact_at.map(crate::ports::truncate_to_micros),
            next_follow_up_at: self.next_follow_up_at.map(crate::ports::truncate_to_micros),
            discount_percent: match self.discount_percent {
                Some(p) => match crate::values::Percent::for_field("discount_percent", p)
                    .map(|p| p.value())
                {
                    Ok(p) => Some(p),
                    Err(e) => {
                        c.errors.push(e);
                        None
                    }
                },
                None => None,
            },
        };
        if c.errors.is_empty() {
            Ok(profile)
        } else {
            Err(c.errors)
        }
    }
}

impl From<&super::model::CustomerProfile> for CustomerInput {
    /// The input that validates back to this profile (the base of a partial update).
    fn from(p: &super::model::CustomerProfile) -> Self {
        CustomerInput {
            name: Some(p.name.clone()),
            display_name: p.display_name.clone(),
            email: p.email.as_ref().map(|e| e.as_str().to_owned()),
            phone: p.phone.as_ref().map(|e| e.as_str().to_owned()),
            mobile_phone: p.mobile_phone.as_ref().map(|e| e.as_str().to_owned()),
            customer_type: Some(p.customer_type),
            company: p.company.clone(),
            company_legal_name: p.company_legal_name.clone(),
            tax_id: p.tax_id.clone(),
            business_license: p.business_license.clone(),
            job_title: p.job_title.clone(),
            website: p.website.as_ref().map(|w| w.as_str().to_owned()),
            industry: p.industry.clone(),
            company_size: p.company_size.clone(),
            annual_revenue: p.annual_revenue.map(|a| a.value()),
            status: Some(p.status),
            stage: Some(p.stage),
            source: p.source,
            assigned_to: p.assigned_to.as_ref().map(|u| u.as_str().to_owned()),
            currency: Some(p.currency.as_str().to_owned()),
            country: p.country.map(|c| c.as_str().to_owned()),
            language: p.language.as_ref().map(|l| l.as_str().to_owned()),
            timezone: p.timezone.as_ref().map(|t| t.as_str().to_owned()),
            birth_date: p.birth_date,
            gender: p.gender,
            credit_limit: Some(p.credit_limit.value()),
            payment_terms_days: Some(p.payment_terms_days),
            tags: Some(p.tags.iter().cloned().collect()),
            metadata: Some(serde_json::Value::Object(p.metadata.clone())),
            notes: p.notes.clone(),
            internal_notes: p.internal_notes.clone(),
            is_vip: Some(p.is_vip),
            is_blacklisted: Some(p.is_blacklisted),
            blacklist_reason: p.blacklist_reason.clone(),
            referred_by: p.referred_by.map(|c| c.0),
            acquisition_cost: p.acquisition_cost.map(|a| a.value()),
            external_ref: p.external_ref.clone(),
            last_contact_at: p.last_contact_at,
            next_follow_up_at: p.next_follow_up_at,
            discount_percent: p.discount_percent,
            status_reason: None,
        }
    }
}

impl CustomerInput {
    /// `self` with every field that `other` gives replaced by `other`'s value (a partial
    /// update, as an import row that leaves cells empty).
    pub fn overlay(self, other: CustomerInput) -> CustomerInput {
        macro_rules! pick {
            ($($f:ident),* $(,)?) => {
                CustomerInput { $($f: other.$f.or(self.$f)),* }
            };
        }
        pick!(
            name,
            display_name,
            email,
            phone,
            mobile_phone,
            customer_type,
            company,
            company_legal_name,
            tax_id,
            business_license,
            job_title,
            website,
            industry,
            company_size,
            annual_revenue,
            status,
            stage,
            source,
            assigned_to,
            currency,
            country,
            language,
            timezone,
            birth_date,
            gender,
            credit_limit,
            payment_terms_days,
            tags,
            metadata,
            notes,
            internal_notes,
            is_vip,
            is_blacklisted,
            blacklist_reason,
            referred_by,
            acquisition_cost,
            external_ref,
            last_contact_at,
            next_follow_up_at,
            discount_percent,
            status_reason,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> ValidationContext {
        ValidationContext {
            default_country: CountryCode::parse("ID"),
            default_currency: CurrencyCode::parse("IDR").unwrap(),
            today: NaiveDate::from_ymd_opt(2026, 11, 21).unwrap(),
        }
    }

    fn valid() -> CustomerInput {
        CustomerInput {
            name: Some("Budi Santoso".into()),
            email: Some("budi@example.co.id".into()),
            ..Default::default()
        }
    }

    fn fields(input: CustomerInput) -> Vec<(String, &'static str)> {
        input
            .validate(&ctx())
            .unwrap_err()
            .into_iter()
            .map(|e| (e.field, e.code))
            .collect()
    }

    #[test]
    fn control_characters_are_refused_in_every_text_and_line_breaks_only_in_notes() {
        let bad = CustomerInput {
            name: Some("Bu\0di".into()),
            company: Some("A\nB".into()),
            tags: Some(vec!["vip".into(), "x\u{7f}".into()]),
            metadata: Some(serde_json::json!({"k": {"deep": ["ok", "\u{0}"]}})),
            notes: Some("a\u{1b}b".into()),
            ..valid()
        };
        let got = fields(bad);
        for field in ["name", "company", "tags[1]", "metadata.k.deep[1]", "notes"] {
            assert!(
                got.contains(&(field.to_owned(), "invalid_characters")),
                "{field}: {got:?}"
            );
        }
        let multi = CustomerInput {
            notes: Some("line 1\n\tline 2\r\nend".into()),
            internal_notes: Some("a\nb".into()),
            metadata: Some(serde_json::json!({"k": "a\nb"})),
            ..valid()
        };
        let p = multi.validate(&ctx()).unwrap();
        assert_eq!(p.notes.as_deref(), Some("line 1\n\tline 2\r\nend"));
    }

    #[test]
    fn a_minimal_customer_gets_the_defaults() {
        let p = valid().validate(&ctx()).unwrap();
        assert_eq!(p.customer_type, CustomerType::Individual);
        assert_eq!(p.status, CustomerStatus::Active);
        assert_eq!(p.stage, LifecycleStage::Prospect);
        assert_eq!(p.currency.as_str(), "IDR");
        assert_eq!(p.credit_limit, Amount::ZERO);
    }

    #[test]
    fn name_is_required_and_trimmed() {
        assert_eq!(
            fields(CustomerInput {
                name: Some("   ".into()),
                ..valid()
            }),
            vec![("name".into(), "required")]
        );
        let p = CustomerInput {
            name: Some("  Budi ".into()),
            ..valid()
        }
        .validate(&ctx())
        .unwrap();
        assert_eq!(p.name, "Budi");
    }

    #[test]
    fn name_is_at_most_255_characters() {
        let ok = CustomerInput {
            name: Some("é".repeat(255)),
            ..valid()
        };
        assert!(ok.validate(&ctx()).is_ok());
        let long = CustomerInput {
            name: Some("é".repeat(256)),
            ..valid()
        };
        assert_eq!(fields(long), vec![("name".into(), "too_long")]);
    }

    #[test]
    fn email_or_a_phone_is_required() {
        let none = CustomerInput {
            email: None,
            ..valid()
        };
        assert_eq!(fields(none), vec![("email".into(), "contact_required")]);
        let phone_only = CustomerInput {
            email: None,
            mobile_phone: Some("0812 3456 7890".into()),
            ..valid()
        };
        assert!(phone_only.validate(&ctx()).is_ok());
    }

    #[test]
    fn email_is_validated_and_lower_cased() {
        let p = CustomerInput {
            email: Some(" Budi@Example.COM ".into()),
            ..valid()
        }
        .validate(&ctx())
        .unwrap();
        assert_eq!(p.email.unwrap().as_str(), "budi@example.com");
        assert_eq!(
            fields(CustomerInput {
                email: Some("budi@".into()),
                ..valid()
            }),
            vec![("email".into(), "invalid_email")]
        );
    }

    #[test]
    fn national_phones_use_the_tenant_country_and_are_stored_e164() {
        let p = CustomerInput {
            phone: Some("0812 3456 7890".into()),
            ..valid()
        }
        .validate(&ctx())
        .unwrap();
        assert_eq!(p.phone.unwrap().as_str(), "+6281234567890");
    }

    #[test]
    fn the_customer_country_overrides_the_tenant_country_for_phones() {
        let input = CustomerInput {
            country: Some("us".into()),
            phone: Some("(415) 555-2671".into()),
            ..valid()
        };
        let p = input.validate(&ctx()).unwrap();
        assert_eq!(p.phone.unwrap().as_str(), "+14155552671");
        assert_eq!(p.country.unwrap().as_str(), "US");
    }

    #[test]
    fn invalid_phones_name_their_field() {
        let input = CustomerInput {
            mobile_phone: Some("12345".into()),
            ..valid()
        };
        assert_eq!(
            fields(input),
            vec![("mobile_phone".into(), "invalid_phone")]
        );
    }

    #[test]
    fn non_individuals_require_a_company() {
        for t in [
            CustomerType::Business,
            CustomerType::NonProfit,
            CustomerType::Government,
        ] {
            let input = CustomerInput {
                customer_type: Some(t),
                ..valid()
            };
            assert_eq!(fields(input), vec![("company".into(), "required")]);
        }
        let ok = CustomerInput {
            customer_type: Some(CustomerType::Business),
            company: Some("PT Maju".into()),
            ..valid()
        };
        assert!(ok.validate(&ctx()).is_ok());
    }

    #[test]
    fn blacklisting_requires_a_reason() {
        let input = CustomerInput {
            is_blacklisted: Some(true),
            ..valid()
        };
        assert_eq!(fields(input), vec![("blacklist_reason".into(), "required")]);
        let ok = CustomerInput {
            is_blacklisted: Some(true),
            blacklist_reason: Some("fraud".into()),
            ..valid()
        };
        assert!(ok.validate(&ctx()).is_ok());
    }

    #[test]
    fn website_must_be_a_url() {
        assert_eq!(
            fields(CustomerInput {
                website: Some("not a url".into()),
                ..valid()
            }),
            vec![("website".into(), "invalid_url")]
        );
    }

    #[test]
    fn codes_are_checked_against_their_iso_lists() {
        let input = CustomerInput {
            currency: Some("XYZ".into()),
            country: Some("XX".into()),
            language: Some("zz".into()),
            timezone: Some("Nowhere/City".into()),
            ..valid()
        };
        let got = fields(input);
        for f in ["currency", "country", "language", "timezone"] {
            assert!(
                got.iter().any(|(field, _)| field == f),
                "{f} not reported in {got:?}"
            );
        }
    }

    #[test]
    fn amounts_must_not_be_negative() {
        let input = CustomerInput {
            credit_limit: Some(Decimal::new(-1, 0)),
            annual_revenue: Some(Decimal::new(-5, 1)),
            acquisition_cost: Some(Decimal::new(-1, 2)),
            ..valid()
        };
        assert_eq!(
            fields(input),
            vec![
                ("annual_revenue".into(), "negative"),
                ("credit_limit".into(), "negative"),
                ("acquisition_cost".into(), "negative")
            ]
        );
    }

    #[test]
    fn payment_terms_are_between_0_and_365_days() {
        assert_eq!(
            fields(CustomerInput {
                payment_terms_days: Some(366),
                ..valid()
            }),
            vec![("payment_terms_days".into(), "out_of_range")]
        );
    }

    #[test]
    fn birth_date_cannot_be_in_the_future() {
        let input = CustomerInput {
            birth_date: NaiveDate::from_ymd_opt(2030, 1, 1),
            ..valid()
        };
        assert_eq!(fields(input), vec![("birth_date".into(), "out_of_range")]);
    }

    #[test]
    fn tags_are_trimmed_lower_cased_and_deduplicated() {
        let input = CustomerInput {
            tags: Some(vec![" VIP ".into(), "vip".into(), "Jakarta".into()]),
            ..valid()
        };
        let p = input.validate(&ctx()).unwrap();
        assert_eq!(
            p.tags.into_iter().collect::<Vec<_>>(),
            vec!["jakarta", "vip"]
        );
        let bad = CustomerInput {
            tags: Some(vec!["ok".into(), " ".into()]),
            ..valid()
        };
        assert_eq!(fields(bad), vec![("tags[1]".into(), "required")]);
    }

    #[test]
    fn the_discount_override_is_a_percentage() {
        let bad = CustomerInput {
            discount_percent: Some(Decimal::new(1001, 1)),
            ..valid()
        };
        assert_eq!(
            fields(bad),
            vec![("discount_percent".into(), "out_of_range")]
        );
        let ok = CustomerInput {
            discount_percent: Some(Decimal::new(125, 1)),
            ..valid()
        };
        assert_eq!(
            ok.validate(&ctx()).unwrap().discount_percent,
            Some(Decimal::new(125, 1))
        );
    }

    #[test]
    fn metadata_must_be_an_object() {
        let input = CustomerInput {
            metadata: Some(serde_json::json!([1, 2])),
            ..valid()
        };
        assert_eq!(fields(input), vec![("metadata".into(), "not_an_object")]);
    }

    #[test]
    fn every_broken_rule_is_reported_at_once() {
        let input = CustomerInput {
            name: None,
            email: Some("x".into()),
            website: Some("?".into()),
            ..Default::default()
        };
        assert_eq!(fields(input).len(), 3);
    }

    #[test]
    fn a_profile_round_trips_through_its_input_and_overlay_keeps_untouched_fields() {
        let ctx = ValidationContext {
            default_country: CountryCode::parse("ID"),
            default_currency: CurrencyCode::parse("IDR").unwrap(),
            today: chrono::Utc::now().date_naive(),
        };
        let p = CustomerInput {
            name: Some("Budi".into()),
            email: Some("budi@example.com".into()),
            phone: Some("0812 3456 7890".into()),
            tags: Some(vec!["vip".into()]),
            notes: Some("keep me".into()),
            ..Default::default()
        }
        .validate(&ctx)
        .unwrap();
        assert_eq!(CustomerInput::from(&p).validate(&ctx).unwrap(), p);
        let renamed = CustomerInput::from(&p)
            .overlay(CustomerInput {
                name: Some("Budi S.".into()),
                ..Default::default()
            })
            .validate(&ctx)
            .unwrap();
        assert_eq!(renamed.name, "Budi S.");
        assert_eq!(renamed.notes.as_deref(), Some("keep me"));
        assert_eq!(renamed.phone, p.phone);
    }

    #[test]
    fn an_external_ref_is_enough_to_identify_a_customer() {
        let ctx = ValidationContext {
            default_country: CountryCode::parse("ID"),
            default_currency: CurrencyCode::parse("IDR").unwrap(),
            today: chrono::Utc::now().date_naive(),
        };
        let input = CustomerInput {
            name: Some("CDNOW 00001".into()),
            external_ref: Some("00001".into()),
            ..Default::default()
        };
        assert!(input.validate(&ctx).is_ok());
    }
}

/// What the nested create of `POST /customers` writes with the customer, in its transaction
/// ([`super::CustomerService::create_nested`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NestedInput {
    /// Addresses, at most [`crate::address::MAX_ADDRESSES_PER_CUSTOMER`]; the first of each
    /// type becomes its default.
    pub addresses: Vec<crate::address::AddressInput>,
    /// Contacts, at most [`crate::contact::MAX_CONTACTS`]; the first, or the one marked
    /// `is_primary`, becomes the primary.
    pub contacts: Vec<crate::contact::ContactInput>,
}

/// What a replace (`PUT /customers/{id}`) writes with the customer, in its transaction
/// ([`super::CustomerService::replace_nested`]). A member left `None` leaves the customer's
/// addresses (or contacts) as they are; `Some` is their full new set, possibly empty: an
/// element with an id updates that address (contact) of the customer, one without creates
/// one, stored ones not listed are removed ([`crate::address::replace_addresses`],
/// [`crate::contact::replace_contacts`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NestedReplace {
    /// The new set of addresses, at most [`crate::address::MAX_ADDRESSES_PER_CUSTOMER`].
    pub addresses: Option<
        Vec<(
            Option<crate::address::AddressId>,
            crate::address::AddressInput,
        )>,
    >,
    /// The new set of contacts, at most [`crate::contact::MAX_CONTACTS`].
    pub contacts: Option<Vec<(Option<crate::ids::ContactId>, crate::contact::ContactInput)>>,
}

impl NestedReplace {
    /// True when neither member is given (a plain replace of the customer's fields).
    pub fn is_empty(&self) -> bool {
        self.addresses.is_none() && self.contacts.is_none()
    }
}
