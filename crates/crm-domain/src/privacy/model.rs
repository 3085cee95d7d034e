//! The privacy model: consent purposes, states and events, and the erasure rules (what an
//! erased customer keeps, and how derived copies of the person are recognised).

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;

use super::error::ConsentInputError;
use crate::customer::{Customer, CustomerProfile};
use crate::ids::{ConsentEventId, CustomerId, ErasureId, TenantId, UserId};

string_enum!(
    /// What a customer consents to (or not). A closed set: the strings are the storage and API
    /// form, and `consent_<purpose>` is the purpose's column in a customer export.
    ConsentPurpose {
        /// Marketing by e-mail.
        MarketingEmail => "marketing_email",
        /// Marketing by SMS.
        MarketingSms => "marketing_sms",
        /// Marketing by WhatsApp.
        MarketingWhatsapp => "marketing_whatsapp",
    }
);

impl ConsentPurpose {
    /// The purpose's column in a customer export: `consent_marketing_email`, ... (also in
    /// [`crate::customer::EXPORT_COLUMNS`]).
    pub fn export_column(self) -> &'static str {
        match self {
            ConsentPurpose::MarketingEmail => "consent_marketing_email",
            ConsentPurpose::MarketingSms => "consent_marketing_sms",
            ConsentPurpose::MarketingWhatsapp => "consent_marketing_whatsapp",
        }
    }

    /// The purpose whose export column is `column`.
    pub fn from_export_column(column: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|p| p.export_column() == column)
    }
}

string_enum!(
    /// Whether a consent is given.
    ConsentStatus {
        /// The customer agreed.
        Granted => "granted",
        /// The customer refused or took the consent back.
        Withdrawn => "withdrawn",
    }
);

/// Longest consent source, in characters.
pub const MAX_SOURCE_CHARS: usize = 64;

/// Where a consent was given or withdrawn: a short code of 1..=[`MAX_SOURCE_CHARS`] ASCII
/// letters, digits, `_`, `-`, `.` or `:` (`web_form`, `pos`, `import`, `unsubscribe_link`).
/// A code, not free text, so that it never holds personal data and survives an erasure.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConsentSource(String);

impl ConsentSource {
    /// The source the erasure's withdrawals carry.
    pub const ERASURE: &'static str = "erasure";

    /// Checks a source (trimmed first).
    ///
    /// # Errors
    /// [`ConsentInputError::Source`] saying what is wrong.
    pub fn parse(raw: &str) -> Result<Self, ConsentInputError> {
        let s = raw.trim();
        if s.is_empty() || s.chars().count() > MAX_SOURCE_CHARS {
            return Err(ConsentInputError::Source(format!(
                "a source has 1..={MAX_SOURCE_CHARS} characters"
            )));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
        {
            return Err(ConsentInputError::Source(
                "a source is a code of ASCII letters, digits, `_`, `-`, `.` and `:` \
                 (such as web_form, pos, import)"
                    .into(),
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The source of the erasure's withdrawals ([`ConsentSource::ERASURE`]).
    pub fn erasure() -> Self {
        Self(Self::ERASURE.to_owned())
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The earliest instant a consent may be dated: 2000-01-01T00:00:00Z.
pub fn earliest_consent() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// A consent change as a client sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentInput {
    /// Granted or withdrawn.
    pub status: ConsentStatus,
    /// Where (a code, see [`ConsentSource`]).
    pub source: String,
    /// When the customer gave or withdrew it; `None` means now. Between
    /// [`earliest_consent`] and now.
    pub at: Option<DateTime<Utc>>,
}

impl ConsentInput {
    /// The checked source and time of the change, `now` being the server's time.
    ///
    /// # Errors
    /// Every broken rule ([`ConsentInputError`]), as field errors on `source` and `at`.
    pub fn validate(
        &self,
        now: DateTime<Utc>,
    ) -> Result<(ConsentSource, DateTime<Utc>), Vec<ConsentInputError>> {
        let mut errors = Vec::new();
        let source = ConsentSource::parse(&self.source).map_err(|e| errors.push(e));
        let at = crate::ports::truncate_to_micros(self.at.unwrap_or(now));
        if at > now {
            errors.push(ConsentInputError::InTheFuture { at, now });
        } else if at < earliest_consent() {
            errors.push(ConsentInputError::TooEarly {
                at,
                earliest: earliest_consent(),
            });
        }
        match source {
            Ok(source) if errors.is_empty() => Ok((source, at)),
            _ => Err(errors),
        }
    }
}

/// One recorded grant or withdrawal: the history of a customer's consents is a list of these,
/// never changed once written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentEvent {
    /// Id (UUID v7: later records have greater ids).
    pub id: ConsentEventId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Customer.
    pub customer_id: CustomerId,
    /// Purpose.
    pub purpose: ConsentPurpose,
    /// Granted or withdrawn.
    pub status: ConsentStatus,
    /// When the customer gave or withdrew it (UTC, microseconds).
    pub at: DateTime<Utc>,
    /// Where.
    pub source: ConsentSource,
    /// The user who recorded it; `None` for the system.
    pub recorded_by: Option<UserId>,
    /// When it was recorded (UTC, microseconds).
    pub recorded_at: DateTime<Utc>,
}

impl ConsentEvent {
    /// Whether this event becomes its purpose's current state over `current`: it is the latest
    /// by `at`, ties going to the later record. A backdated event older than the current state
    /// joins the history without changing the state.
    pub fn supersedes(&self, current: Option<&Consent>) -> bool {
        current.is_none_or(|c| (self.at, self.id) >= (c.at, c.event_id))
    }
}

/// The current state of one purpose of a customer: its latest event (see
/// [`ConsentEvent::supersedes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    /// Purpose.
    pub purpose: ConsentPurpose,
    /// Granted or withdrawn.
    pub status: ConsentStatus,
    /// When it was given or withdrawn.
    pub at: DateTime<Utc>,
    /// Where.
    pub source: ConsentSource,
    /// Who recorded it.
    pub recorded_by: Option<UserId>,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// The event it comes from.
    pub event_id: ConsentEventId,
}

impl From<&ConsentEvent> for Consent {
    fn from(e: &ConsentEvent) -> Self {
        Self {
            purpose: e.purpose,
            status: e.status,
            at: e.at,
            source: e.source.clone(),
            recorded_by: e.recorded_by.clone(),
            recorded_at: e.recorded_at,
            event_id: e.id,
        }
    }
}

/// A purpose and its current state; `None` when nothing was ever recorded for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurposeState {
    /// The purpose.
    pub purpose: ConsentPurpose,
    /// Its current state.
    pub current: Option<Consent>,
}

/// Every purpose, in [`ConsentPurpose::ALL`] order, with its state among `current` (a
/// customer's current consents).
pub fn purpose_states(current: &[Consent]) -> Vec<PurposeState> {
    ConsentPurpose::ALL
        .iter()
        .map(|p| PurposeState {
            purpose: *p,
            current: current.iter().find(|c| c.purpose == *p).cloned(),
        })
        .collect()
}

/// Where a page of a consent history starts: after the event at (`at`, `id`), newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsentPosition {
    /// `at` of the last event of the previous page.
    pub at: DateTime<Utc>,
    /// Its id.
    pub id: ConsentEventId,
}

impl ConsentPosition {
    /// The position of `e`.
    pub fn of(e: &ConsentEvent) -> Self {
        Self { at: e.at, id: e.id }
    }
}

/// A page request of a customer's consent history, newest (`at`, then id) first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsentHistoryQuery {
    /// Only this purpose.
    pub purpose: Option<ConsentPurpose>,
    /// Start after this event.
    pub after: Option<ConsentPosition>,
    /// Events wanted (1..=200).
    pub limit: u32,
}

/// The name an erased customer keeps (a name is required; this one identifies no one).
pub const ERASED_NAME: &str = "Erased customer";

/// The name an erased customer's contacts keep (every other field of theirs is cleared).
pub const ERASED_CONTACT_NAME: &str = "Erased contact";

/// What replaces free text written about an erased person (a points reason, a tier change
/// reason, an import error).
pub const ERASED_TEXT: &str = "(erased)";

/// The profile an erased customer keeps: what accounting and statistics need (type, status,
/// stage, acquisition channel, owner, currency, country, credit terms, VIP flag, discount,
/// acquisition cost, and the company's industry, size and revenue band), with the name
/// [`ERASED_NAME`]. Every field that identifies or describes the person goes: names, e-mail,
/// phones, company names, tax and licence numbers, job title, website, language, time zone,
/// birth date, gender, tags, metadata, notes, the blacklist flag and its reason, the referrer,
/// the external ref and the contact dates.
pub fn anonymise(p: &CustomerProfile) -> CustomerProfile {
    CustomerProfile {
        name: ERASED_NAME.to_owned(),
        display_name: None,
        email: None,
        phone: None,
        mobile_phone: None,
        customer_type: p.customer_type,
        company: None,
        company_legal_name: None,
        tax_id: None,
        business_license: None,
        job_title: None,
        website: None,
        industry: p.industry.clone(),
        company_size: p.company_size.clone(),
        annual_revenue: p.annual_revenue,
        status: p.status,
        stage: p.stage,
        source: p.source,
        assigned_to: p.assigned_to.clone(),
        currency: p.currency,
        country: p.country,
        language: None,
        timezone: None,
        birth_date: None,
        gender: None,
        credit_limit: p.credit_limit,
        payment_terms_days: p.payment_terms_days,
        tags: Default::default(),
        metadata: Default::default(),
        notes: None,
        internal_notes: None,
        is_vip: p.is_vip,
        is_blacklisted: false,
        blacklist_reason: None,
        referred_by: None,
        acquisition_cost: p.acquisition_cost,
        external_ref: None,
        last_contact_at: None,
        next_follow_up_at: None,
        discount_percent: p.discount_percent,
    }
}

/// The write that erases a customer: its anonymised profile and the erasure stamp, on the
/// version read under the customer's lock.
#[derive(Debug, Clone, PartialEq)]
pub struct ErasedCustomer {
    /// Tenant.
    pub tenant_id: TenantId,
    /// Customer.
    pub id: CustomerId,
    /// The profile it keeps ([`anonymise`]).
    pub profile: CustomerProfile,
    /// When it was erased; also its `updated_at`.
    pub erased_at: DateTime<Utc>,
    /// Who erased it; also its `updated_by`.
    pub erased_by: UserId,
    /// The version read; the write happens only on it (the version then goes up by one).
    pub expected_version: i64,
}

/// The record of an erasure: who erased which customer, when. No personal data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasureRecord {
    /// Id (UUID v7).
    pub id: ErasureId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// The erased customer.
    pub customer_id: CustomerId,
    /// When.
    pub erased_at: DateTime<Utc>,
    /// Who (the token's `sub`).
    pub erased_by: UserId,
}

/// Shortest identifier looked for in free text: shorter ones (`42`) would match unrelated text.
pub const MIN_IDENTIFIER_CHARS: usize = 5;

/// The values that identify `c` in copies of its data made elsewhere (an import's preview
/// rows, its error reasons): its id, e-mail, phones (E.164) and external ref, each of at least
/// [`MIN_IDENTIFIER_CHARS`] characters. A name alone does not identify a row of another file.
pub fn identifiers(c: &Customer) -> Vec<String> {
    let p = &c.profile;
    let mut out: Vec<String> = [
        Some(c.id.to_string()),
        p.email.as_ref().map(|e| e.as_str().to_owned()),
        p.phone.as_ref().map(|x| x.as_str().to_owned()),
        p.mobile_phone.as_ref().map(|x| x.as_str().to_owned()),
        p.external_ref.clone(),
    ]
    .into_iter()
    .flatten()
    .filter(|v| v.chars().count() >= MIN_IDENTIFIER_CHARS)
    .collect();
    out.sort();
    out.dedup();
    out
}

/// Redacts the rows of an import preview that are about the person: a row (a JSON object)
/// with a top-level text member equal to one of `identifiers` becomes
/// `{"line": <its line>, "erased": true}`. Returns how many rows were redacted.
pub fn redact_preview(rows: &mut [Value], identifiers: &[String]) -> usize {
    let mut redacted = 0;
    for row in rows.iter_mut() {
        let Value::Object(fields) = row else {
            continue;
        };
        let mentions = fields.values().any(|v| {
            v.as_str()
                .is_some_and(|s| identifiers.iter().any(|i| i == s))
        });
        if mentions {
            let line = fields.get("line").cloned().unwrap_or(Value::Null);
            *row = serde_json::json!({"line": line, "erased": true});
            redacted += 1;
        }
    }
    redacted
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{self, now};
    use serde_json::json;
    use uuid::Uuid;

    #[test]
    fn purposes_have_their_export_columns() {
        for p in ConsentPurpose::ALL {
            assert_eq!(p.export_column(), format!("consent_{p}"));
            assert_eq!(
                ConsentPurpose::from_export_column(p.export_column()),
                Some(*p)
            );
            assert!(crate::customer::EXPORT_COLUMNS.contains(&p.export_column()));
        }
        assert_eq!(ConsentPurpose::from_export_column("name"), None);
        assert!("marketing_fax".parse::<ConsentPurpose>().is_err());
    }

    #[test]
    fn a_source_is_a_short_code() {
        for ok in ["web_form", "pos", "import", "crm:api-v1.2", &"x".repeat(64)] {
            assert_eq!(ConsentSource::parse(ok).unwrap().as_str(), ok);
        }
        assert_eq!(ConsentSource::parse("  pos ").unwrap().as_str(), "pos");
        for bad in [
            "",
            "  ",
            &"x".repeat(65),
            "web form",
            "pos\0",
            "Budi's phone",
            "é",
        ] {
            assert!(ConsentSource::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_consent_is_dated_between_2000_and_now() {
        let input = |at: Option<DateTime<Utc>>| ConsentInput {
            status: ConsentStatus::Granted,
            source: "pos".into(),
            at,
        };
        assert_eq!(input(None).validate(now()).unwrap().1, now());
        let past = Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(input(Some(past)).validate(now()).unwrap().1, past);
        assert_eq!(
            input(Some(earliest_consent())).validate(now()).unwrap().1,
            earliest_consent()
        );
        let later = now() + chrono::Duration::seconds(1);
        assert_eq!(
            input(Some(later)).validate(now()),
            Err(vec![ConsentInputError::InTheFuture {
                at: later,
                now: now()
            }])
        );
        let early = earliest_consent() - chrono::Duration::microseconds(1);
        assert_eq!(
            input(Some(early)).validate(now()),
            Err(vec![ConsentInputError::TooEarly {
                at: early,
                earliest: earliest_consent()
            }])
        );
        let both = ConsentInput {
            source: "".into(),
            ..input(Some(later))
        };
        assert_eq!(both.validate(now()).unwrap_err().len(), 2);
    }

    fn event(id: u128, at: DateTime<Utc>) -> ConsentEvent {
        ConsentEvent {
            id: ConsentEventId(Uuid::from_u128(id)),
            tenant_id: testing::TENANT,
            customer_id: CustomerId(Uuid::from_u128(2)),
            purpose: ConsentPurpose::MarketingSms,
            status: ConsentStatus::Granted,
            at,
            source: ConsentSource::parse("pos").unwrap(),
            recorded_by: None,
            recorded_at: now(),
        }
    }

    #[test]
    fn the_latest_event_by_time_is_the_state_and_a_tie_goes_to_the_later_record() {
        let t = now();
        let current = Consent::from(&event(5, t));
        assert!(event(1, t).supersedes(None));
        assert!(event(1, t + chrono::Duration::seconds(1)).supersedes(Some(&current)));
        assert!(!event(9, t - chrono::Duration::seconds(1)).supersedes(Some(&current)));
        assert!(event(6, t).supersedes(Some(&current)));
        assert!(!event(4, t).supersedes(Some(&current)));
    }

    #[test]
    fn every_purpose_has_a_state() {
        let sms = Consent::from(&event(1, now()));
        let states = purpose_states(std::slice::from_ref(&sms));
        assert_eq!(
            states
                .iter()
                .map(|s| (s.purpose, s.current.is_some()))
                .collect::<Vec<_>>(),
            [
                (ConsentPurpose::MarketingEmail, false),
                (ConsentPurpose::MarketingSms, true),
                (ConsentPurpose::MarketingWhatsapp, false)
            ]
        );
    }

    fn person() -> Customer {
        let mut c = testing::customer(CustomerId(Uuid::from_u128(2)), now());
        let input = crate::customer::CustomerInput {
            name: Some("Wibisono Hartanto".into()),
            display_name: Some("Pak Wibi".into()),
            email: Some("wibi@example.com".into()),
            phone: Some("+6281277771234".into()),
            customer_type: Some(crate::customer::CustomerType::Business),
            company: Some("Toko Wibi".into()),
            tax_id: Some("01.234.567.8-901.000".into()),
            industry: Some("retail".into()),
            tags: Some(vec!["grosir".into()]),
            notes: Some("pagi".into()),
            is_vip: Some(true),
            is_blacklisted: Some(true),
            blacklist_reason: Some("cek kosong".into()),
            external_ref: Some("ERP1".into()),
            birth_date: chrono::NaiveDate::from_ymd_opt(1980, 5, 17),
            ..Default::default()
        };
        c.profile = testing::profile(input, now().date_naive());
        c
    }

    #[test]
    fn anonymising_keeps_the_accounting_fields_only() {
        let c = person();
        let a = anonymise(&c.profile);
        assert_eq!(a.name, ERASED_NAME);
        assert_eq!(
            (
                &a.display_name,
                &a.email,
                &a.phone,
                &a.company,
                &a.tax_id,
                &a.birth_date,
                &a.notes,
                &a.external_ref,
                &a.blacklist_reason,
            ),
            (
                &None, &None, &None, &None, &None, &None, &None, &None, &None
            )
        );
        assert!(a.tags.is_empty() && a.metadata.is_empty() && !a.is_blacklisted);
        assert_eq!(
            (
                a.customer_type,
                a.currency,
                a.is_vip,
                a.industry.as_deref(),
                a.credit_limit
            ),
            (
                c.profile.customer_type,
                c.profile.currency,
                true,
                Some("retail"),
                c.profile.credit_limit
            )
        );
        // Nothing of the person is left in what search indexes.
        let doc = crate::customer::search::search_document(&a, &c.customer_code);
        for word in ["wibisono", "hartanto", "wibi", "6281277771234", "grosir"] {
            assert!(
                !doc.text.contains(word) && !doc.phones.contains(word),
                "{word}"
            );
            assert!(!doc.terms.contains(word), "{word}");
        }
    }

    #[test]
    fn identifiers_are_the_keys_of_the_person_long_enough_to_look_for() {
        let c = person();
        assert_eq!(
            identifiers(&c),
            [
                "+6281277771234".to_owned(),
                c.id.to_string(),
                "wibi@example.com".to_owned()
            ],
            "ERP1 is too short to look for"
        );
    }

    #[test]
    fn preview_rows_about_the_person_are_redacted_and_others_kept() {
        let ids = identifiers(&person());
        let mut rows = vec![
            json!({"line": 2, "action": "update", "customer_id": person().id.0, "name": "W"}),
            json!({"line": 3, "action": "create", "name": "Wibi", "email": "wibi@example.com"}),
            json!({"line": 4, "customer": "+6281277771234", "order_ref": "A"}),
            json!({"line": 5, "action": "create", "name": "Siti", "email": "siti@example.com"}),
            json!("not an object"),
        ];
        assert_eq!(redact_preview(&mut rows, &ids), 3);
        assert_eq!(rows[0], json!({"line": 2, "erased": true}));
        assert_eq!(rows[1], json!({"line": 3, "erased": true}));
        assert_eq!(rows[2], json!({"line": 4, "erased": true}));
        assert_eq!(rows[3]["email"], "siti@example.com");
        assert_eq!(redact_preview(&mut rows, &ids), 0, "idempotent");
    }
}
