//! Value objects shared by aggregates: codes checked against their ISO lists, e-mail
//! addresses, E.164 phone numbers, URLs, time zones, money amounts, percentages and the named
//! RFM segments.
//!
//! Each has private contents and a fallible `parse`, so a value that exists is valid.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// An ISO 3166-1 alpha-2 country code, upper case (`ID`, `US`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CountryCode(isocountry::CountryCode);

impl CountryCode {
    /// Parses an alpha-2 code in any case.
    ///
    /// # Errors
    /// `None` when the code is not in ISO 3166-1.
    pub fn parse(raw: &str) -> Option<Self> {
        isocountry::CountryCode::for_alpha2_caseless(raw.trim())
            .ok()
            .map(Self)
    }

    /// The alpha-2 code.
    pub fn as_str(&self) -> &'static str {
        self.0.alpha2()
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for CountryCode {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s).ok_or_else(|| format!("`{s}` is not an ISO 3166-1 alpha-2 country code"))
    }
}

impl From<CountryCode> for String {
    fn from(c: CountryCode) -> String {
        c.as_str().to_owned()
    }
}

/// An ISO 4217 currency code, upper case (`IDR`, `USD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CurrencyCode(iso_currency::Currency);

impl CurrencyCode {
    /// Parses a three-letter code in any case.
    ///
    /// # Errors
    /// `None` when the code is not in ISO 4217.
    pub fn parse(raw: &str) -> Option<Self> {
        iso_currency::Currency::from_code(&raw.trim().to_ascii_uppercase()).map(Self)
    }

    /// The three-letter code.
    pub fn as_str(&self) -> &'static str {
        self.0.code()
    }

    /// Digits after the decimal point of the minor unit (ISO 4217 exponent; 2 when the list
    /// gives none, as for funds and metals).
    pub fn minor_unit_digits(&self) -> u16 {
        self.0.exponent().unwrap_or(2)
    }
}

impl fmt::Display for CurrencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for CurrencyCode {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s).ok_or_else(|| format!("`{s}` is not an ISO 4217 currency code"))
    }
}

impl From<CurrencyCode> for String {
    fn from(c: CurrencyCode) -> String {
        c.as_str().to_owned()
    }
}

/// A language: an ISO 639-1 code (`id`, `en`), optionally with a region (`en-US`, `pt_BR`),
/// stored as the lower-case language plus upper-case region joined by `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LanguageCode(String);

impl LanguageCode {
    /// Parses `ll` or `ll-RR` / `ll_RR`; the language must be in ISO 639-1, the region in
    /// ISO 3166-1.
    ///
    /// # Errors
    /// `None` when either part is unknown.
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        let mut parts = raw.splitn(2, ['-', '_']);
        let lang = parts.next()?.to_ascii_lowercase();
        isolang::Language::from_639_1(&lang)?;
        match parts.next() {
            None => Some(Self(lang)),
            Some(region) => {
                let region = CountryCode::parse(region)?;
                Some(Self(format!("{lang}-{region}")))
            }
        }
    }

    /// The normalised code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An IANA time zone name (`Asia/Jakarta`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TimeZoneName(String);

impl TimeZoneName {
    /// Parses a name of the IANA time zone database (case-insensitive; stored canonical).
    ///
    /// # Errors
    /// `None` when the zone is unknown.
    pub fn parse(raw: &str) -> Option<Self> {
        let tz = chrono_tz::Tz::from_str_insensitive(raw.trim()).ok()?;
        Some(Self(tz.name().to_owned()))
    }

    /// The zone name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An e-mail address, trimmed and lower-cased (RFC 5321 / 5322 syntax as checked by the
/// `email_address` crate, at most 254 characters, and a domain with a dot).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// # Errors
    /// `None` when the address is syntactically invalid.
    pub fn parse(raw: &str) -> Option<Self> {
        let lower = raw.trim().to_lowercase();
        if lower.len() > 254 || !email_address::EmailAddress::is_valid(&lower) {
            return None;
        }
        let (_, domain) = lower.rsplit_once('@')?;
        // Bare host names and address literals are legal in RFC 5322 but never a customer's.
        if !domain.contains('.') || domain.starts_with('[') {
            return None;
        }
        Some(Self(lower))
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A phone number in E.164 form (`+6281234567890`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Parses a phone number with the `phonenumber` crate (libphonenumber metadata). A number
    /// without a `+` country prefix is read as a national number of `default_country`.
    ///
    /// # Errors
    /// [`PhoneError::NoCountry`] for a national number when no default country is known;
    /// [`PhoneError::Invalid`] when the number is not a valid number of its country.
    pub fn parse(raw: &str, default_country: Option<CountryCode>) -> Result<Self, PhoneError> {
        let raw = raw.trim();
        let region =
            default_country.and_then(|c| phonenumber::country::Id::from_str(c.as_str()).ok());
        if !raw.starts_with('+') && !raw.starts_with("00") && region.is_none() {
            return Err(PhoneError::NoCountry);
        }
        let parsed = phonenumber::parse(region, raw).map_err(|_| PhoneError::Invalid)?;
        if !phonenumber::is_valid(&parsed) {
            return Err(PhoneError::Invalid);
        }
        Ok(Self(
            parsed.format().mode(phonenumber::Mode::E164).to_string(),
        ))
    }

    /// Wraps a value already in E.164 form (read back from storage); not validated again.
    pub fn from_e164_unchecked(e164: String) -> Self {
        Self(e164)
    }

    /// The E.164 text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digit forms a search reads (`crate::customer::search`, rule 2): international
    /// (`6281234567890`) and national with the trunk prefix (`081234567890`).
    pub fn search_forms(&self) -> Vec<String> {
        let international: String = self.0.chars().filter(char::is_ascii_digit).collect();
        let mut forms = vec![international];
        if let Ok(p) = <phonenumber::PhoneNumber as std::str::FromStr>::from_str(&self.0) {
            forms.push(format!("0{}", p.national().value()));
        }
        forms
    }
}

/// Why a phone number was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneError {
    /// A national number and no country to read it in.
    NoCountry,
    /// Not a valid number.
    Invalid,
}

/// An absolute `http` or `https` URL with a host.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WebUrl(String);

impl WebUrl {
    /// Parses a URL; `acme.id` without a scheme is read as `https://acme.id`.
    ///
    /// # Errors
    /// `None` when not an http(s) URL with a host, or longer than 2,048 characters.
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        if raw.len() > 2048 || raw.is_empty() {
            return None;
        }
        let candidate = if raw.contains("://") {
            raw.to_owned()
        } else {
            format!("https://{raw}")
        };
        let url = url::Url::parse(&candidate).ok()?;
        let host = url.host_str()?;
        if !matches!(url.scheme(), "http" | "https") || !host.contains('.') && host != "localhost" {
            return None;
        }
        Some(Self(url.to_string()))
    }

    /// The URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A non-negative money amount with at most four decimal places, in the currency of the record
/// it belongs to. Storage keeps it exactly as an integer count of ten-thousandths (see
/// [`Amount::to_scaled`]), so the largest amount is 922,337,203,685,477.5807.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Amount(Decimal);

/// Decimal places an [`Amount`] keeps.
pub const AMOUNT_SCALE: u32 = 4;

/// Why an amount was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmountError {
    /// Below zero.
    Negative,
    /// More than four decimal places.
    TooPrecise,
    /// Beyond what storage holds.
    TooLarge,
}

impl Amount {
    /// Zero.
    pub const ZERO: Amount = Amount(Decimal::ZERO);

    /// The largest whole amount storage holds: 922,337,203,685,477 (`i64::MAX` ten-thousandths,
    /// rounded down to a whole unit).
    pub const MAX_UNITS: i64 = 922_337_203_685_477;

    /// `self + other`, or `None` when the sum is beyond [`Amount::MAX_UNITS`] (so a sum of
    /// amounts that is stored, such as a customer's total spent, always fits storage).
    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0
            .checked_add(other.0)
            .and_then(|sum| Amount::new(sum).ok())
    }

    /// Checks an amount: ≥ 0, at most four decimal places, at most 922,337,203,685,477.
    ///
    /// # Errors
    /// The [`AmountError`] naming the broken rule.
    pub fn new(value: Decimal) -> Result<Self, AmountError> {
        if value.is_sign_negative() && !value.is_zero() {
            return Err(AmountError::Negative);
        }
        let normal = value.normalize();
        if normal.scale() > AMOUNT_SCALE {
            return Err(AmountError::TooPrecise);
        }
        if normal > Decimal::from(Self::MAX_UNITS) {
            return Err(AmountError::TooLarge);
        }
        Ok(Self(normal))
    }

    /// The value.
    pub fn value(&self) -> Decimal {
        self.0
    }

    /// The amount as an integer count of ten-thousandths, the storage form.
    pub fn to_scaled(&self) -> i64 {
        let mut d = self.0;
        d.rescale(AMOUNT_SCALE);
        i64::try_from(d.mantissa()).unwrap_or(i64::MAX)
    }

    /// Reads the storage form back; negative input (corrupt storage) is clamped to zero.
    pub fn from_scaled(scaled: i64) -> Self {
        Self(Decimal::new(scaled.max(0), AMOUNT_SCALE).normalize())
    }
}

/// A sum of [`Amount`]s across customers (the revenue of a currency, a segment, an RFM
/// segment): ≥ 0, at most four decimal places, and far beyond [`Amount::MAX_UNITS`], which two
/// customers' totals can already pass. It holds up to ≈ 7.9 × 10^24 units (a `Decimal`'s 96-bit
/// mantissa of ten-thousandths), so it is never stored, only computed: storage sums the high
/// and low parts of the ten-thousandths separately ([`AmountTotal::from_scaled_parts`]), which
/// cannot overflow a 64-bit integer before about a billion rows, and additions are checked.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct AmountTotal(Decimal);

impl AmountTotal {
    /// Zero.
    pub const ZERO: AmountTotal = AmountTotal(Decimal::ZERO);

    /// The divisor splitting a count of ten-thousandths `x` into a high part `x / SPLIT` and a
    /// low part `x % SPLIT` (integer division), which storage sums separately.
    pub const SPLIT: i64 = 1_000_000_000;

    /// `high × SPLIT + low` ten-thousandths, from the sums of the high and low parts of
    /// non-negative counts; `None` when either is negative (corrupt storage) or the total
    /// does not fit.
    pub fn from_scaled_parts(high: i64, low: i64) -> Option<Self> {
        if high < 0 || low < 0 {
            return None;
        }
        let scaled = i128::from(high)
            .checked_mul(i128::from(Self::SPLIT))?
            .checked_add(i128::from(low))?;
        Decimal::try_from_i128_with_scale(scaled, AMOUNT_SCALE)
            .ok()
            .map(|d| Self(d.normalize()))
    }

    /// `self + other`, or `None` beyond what a total holds.
    pub fn checked_add(self, other: AmountTotal) -> Option<AmountTotal> {
        self.0.checked_add(other.0).map(AmountTotal)
    }

    /// `self / n` rounded to `dp` decimal places (`Decimal::round_dp`: half to even); zero
    /// when `n` is 0.
    pub fn per(self, n: u64, dp: u32) -> Decimal {
        if n == 0 {
            return Decimal::ZERO;
        }
        self.0
            .checked_div(Decimal::from(n))
            .map_or(Decimal::ZERO, |d| d.round_dp(dp))
    }

    /// The value.
    pub fn value(&self) -> Decimal {
        self.0
    }
}

impl From<Amount> for AmountTotal {
    fn from(a: Amount) -> Self {
        Self(a.value())
    }
}

/// The largest quantity of an order line or a quote line: 1,000,000,000. With a unit price of at
/// most [`Amount::MAX_UNITS`] the product stays far inside `Decimal` (≈ 10^24 of ≈ 7.9 × 10^28),
/// and the quantity's storage form (ten-thousandths) fits an `i64`.
pub const MAX_QUANTITY: i64 = 1_000_000_000;

/// A quantity: > 0, at most 4 decimals, at most [`MAX_QUANTITY`].
pub fn valid_quantity(q: Decimal) -> bool {
    q > Decimal::ZERO && q.normalize().scale() <= AMOUNT_SCALE && q <= Decimal::from(MAX_QUANTITY)
}

/// What a refused quantity is told.
pub const QUANTITY_RULE: &str = "must be > 0 and at most 1000000000 with at most 4 decimals";

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A percentage 0..=100 with at most two decimal places (a discount: `12.5` means 12.5 %).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Percent(Decimal);

/// Why a percentage was refused: below 0, above 100 or more than two decimals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PercentError;

impl Percent {
    /// Zero percent.
    pub const ZERO: Percent = Percent(Decimal::ZERO);

    /// Checks a percentage: 0..=100 with at most two decimals.
    ///
    /// # Errors
    /// [`PercentError`] when out of range or too precise.
    pub fn new(value: Decimal) -> Result<Self, PercentError> {
        let normal = value.normalize();
        if normal < Decimal::ZERO || normal > Decimal::ONE_HUNDRED || normal.scale() > 2 {
            return Err(PercentError);
        }
        Ok(Self(normal))
    }

    /// Checks the value of the input field `field`.
    ///
    /// # Errors
    /// A [`crate::FieldError`] `out_of_range` naming `field`.
    pub fn for_field(field: &str, value: Decimal) -> Result<Self, crate::FieldError> {
        Self::new(value).map_err(|PercentError| {
            crate::FieldError::new(
                field,
                "out_of_range",
                "must be a percentage 0..=100 with at most 2 decimals",
            )
        })
    }

    /// The percentage (`12.5` for 12.5 %).
    pub fn value(&self) -> Decimal {
        self.0
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

string_enum!(
    /// A named RFM segment, decided by the R and F scores
    /// ([`crate::analytics::rfm::segment_for`], which also gives its display name). The API name
    /// is [`as_str`](Self::as_str). A shared value: customers carry it, filters and segments
    /// select by it, analytics computes it.
    RfmSegment {
        /// Bought recently and often (R 5, F 4–5).
        Champions => "champions",
        /// Buy often and fairly recently (R 3–4, F 4–5).
        LoyalCustomers => "loyal_customers",
        /// Recent, with a few orders (R 4–5, F 2–3).
        PotentialLoyalists => "potential_loyalists",
        /// Most recent, one of the fewest orders (R 5, F 1).
        NewCustomers => "new_customers",
        /// Recent, few orders (R 4, F 1).
        Promising => "promising",
        /// Middling recency and frequency (R 3, F 3).
        NeedAttention => "need_attention",
        /// Middling recency, few orders (R 3, F 1–2).
        AboutToSleep => "about_to_sleep",
        /// Used to buy often, not lately (R 1–2, F 3–4).
        AtRisk => "at_risk",
        /// Among the most frequent buyers, not lately (R 1–2, F 5).
        CannotLoseThem => "cannot_lose_them",
        /// Long since the last order, few orders (R 2, F 1–2).
        Hibernating => "hibernating",
        /// The oldest last orders, few orders (R 1, F 1–2).
        Lost => "lost",
    }
);

/// Whether a text field holds one line or may hold several.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    /// Names, codes, references, tags, keys, filter operands, search text: no control
    /// character at all.
    SingleLine,
    /// Notes, descriptions, reasons and metadata string values: tab, line feed and carriage
    /// return are allowed; every other control character is not.
    MultiLine,
}

/// The one text rule of the domain: text never holds NUL or another C0 control character
/// (U+0000..=U+001F) nor DEL (U+007F), except tab, line feed and carriage return in
/// [`TextKind::MultiLine`] fields. Both backends then store the same text (PostgreSQL refuses
/// NUL in `text` and `jsonb`; SQLite would keep it).
///
/// # Errors
/// A [`crate::FieldError`] `invalid_characters` naming `field` (the value is not echoed).
pub fn check_text(field: &str, value: &str, kind: TextKind) -> Result<(), crate::FieldError> {
    if has_forbidden_control(value, kind) {
        let allowed = match kind {
            TextKind::SingleLine => "",
            TextKind::MultiLine => " other than tab and line breaks",
        };
        return Err(crate::FieldError::new(
            field,
            "invalid_characters",
            format!("must not contain NUL or other control characters{allowed}"),
        ));
    }
    Ok(())
}

/// Whether `value` breaks [`check_text`]'s rule.
pub fn has_forbidden_control(value: &str, kind: TextKind) -> bool {
    value.chars().any(|c| match c {
        '\t' | '\n' | '\r' => kind == TextKind::SingleLine,
        c => c.is_ascii_control(),
    })
}

/// Checks every key (single-line) and every string value (multi-line) of a JSON value at any
/// depth against [`check_text`]; `field` names the value (`metadata`), and errors name the
/// path (`metadata.a.b`, `metadata.list[2]`).
///
/// # Errors
/// The first offending key or string, as a [`crate::FieldError`] `invalid_characters`.
pub fn check_json_text(field: &str, value: &serde_json::Value) -> Result<(), crate::FieldError> {
    match value {
        serde_json::Value::String(s) => check_text(field, s, TextKind::MultiLine),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| check_json_text(&format!("{field}[{i}]"), v)),
        serde_json::Value::Object(map) => map.iter().try_for_each(|(k, v)| {
            // The key itself is not echoed into the field name when it is the offender.
            check_text(field, k, TextKind::SingleLine)?;
            check_json_text(&format!("{field}.{k}"), v)
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_are_0_to_100_with_two_decimals() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(Percent::new(d("12.50")).unwrap().value(), d("12.5"));
        assert!(Percent::new(d("100.01")).is_err());
        assert!(Percent::new(d("-1")).is_err());
        assert!(Percent::new(d("1.005")).is_err());
        assert_eq!(Percent::for_field("p", d("101")).unwrap_err().field, "p");
    }

    #[test]
    fn a_total_of_amounts_goes_beyond_an_amount_exactly() {
        let max = Amount::from_scaled(i64::MAX);
        // Ten amounts at the maximum, summed by parts as storage does.
        let (high, low) = (i64::MAX / AmountTotal::SPLIT, i64::MAX % AmountTotal::SPLIT);
        let ten = AmountTotal::from_scaled_parts(high * 10, low * 10).unwrap();
        assert_eq!(ten.value(), max.value() * Decimal::from(10));
        assert_eq!(ten.per(10, 4), max.value());
        assert_eq!(AmountTotal::ZERO.per(0, 2), Decimal::ZERO);
        let twice = AmountTotal::from(max).checked_add(max.into()).unwrap();
        assert_eq!(twice.value(), max.value() * Decimal::from(2));
        assert!(AmountTotal::from_scaled_parts(-1, 0).is_none());
        // The largest parts storage can return still fit.
        assert!(AmountTotal::from_scaled_parts(i64::MAX, i64::MAX).is_some());
    }

    #[test]
    fn country_codes_are_checked_against_iso_3166() {
        assert_eq!(CountryCode::parse("id").unwrap().as_str(), "ID");
        assert!(CountryCode::parse("XX").is_none());
        assert!(CountryCode::parse("IDN").is_none());
    }

    #[test]
    fn currency_codes_are_checked_against_iso_4217() {
        assert_eq!(CurrencyCode::parse("idr").unwrap().as_str(), "IDR");
        assert!(CurrencyCode::parse("ABC").is_none());
    }

    #[test]
    fn language_codes_are_checked_against_iso_639_1_with_optional_region() {
        assert_eq!(LanguageCode::parse("ID").unwrap().as_str(), "id");
        assert_eq!(LanguageCode::parse("en_us").unwrap().as_str(), "en-US");
        assert!(LanguageCode::parse("xx").is_none());
        assert!(LanguageCode::parse("en-ZZ").is_none());
    }

    #[test]
    fn time_zones_come_from_the_iana_database() {
        assert_eq!(
            TimeZoneName::parse("asia/jakarta").unwrap().as_str(),
            "Asia/Jakarta"
        );
        assert!(TimeZoneName::parse("Mars/Olympus").is_none());
    }

    #[test]
    fn email_is_trimmed_and_lower_cased() {
        assert_eq!(
            EmailAddress::parse("  Budi@Example.CO.ID ")
                .unwrap()
                .as_str(),
            "budi@example.co.id"
        );
    }

    #[test]
    fn malformed_emails_are_refused() {
        for bad in [
            "",
            "budi",
            "budi@",
            "@example.com",
            "budi@localhost",
            "a b@example.com",
        ] {
            assert!(EmailAddress::parse(bad).is_none(), "{bad} accepted");
        }
    }

    #[test]
    fn national_phone_uses_the_default_country() {
        let id = CountryCode::parse("ID");
        assert_eq!(
            PhoneNumber::parse("0812 3456 7890", id).unwrap().as_str(),
            "+6281234567890"
        );
    }

    #[test]
    fn international_phone_ignores_the_default_country() {
        let id = CountryCode::parse("ID");
        assert_eq!(
            PhoneNumber::parse("+1 (415) 555-2671", id)
                .unwrap()
                .as_str(),
            "+14155552671"
        );
    }

    #[test]
    fn national_phone_without_a_country_is_refused() {
        assert_eq!(
            PhoneNumber::parse("0812 3456 7890", None),
            Err(PhoneError::NoCountry)
        );
    }

    #[test]
    fn invalid_phone_is_refused() {
        let id = CountryCode::parse("ID");
        assert_eq!(PhoneNumber::parse("12", id), Err(PhoneError::Invalid));
        assert_eq!(
            PhoneNumber::parse("not a number", id),
            Err(PhoneError::Invalid)
        );
    }

    #[test]
    fn website_must_be_an_http_url() {
        assert_eq!(
            WebUrl::parse("acme.id").unwrap().as_str(),
            "https://acme.id/"
        );
        assert!(WebUrl::parse("ftp://acme.id").is_none());
        assert!(WebUrl::parse("not a url").is_none());
    }

    #[test]
    fn amounts_are_non_negative_with_at_most_four_places() {
        assert_eq!(Amount::new(Decimal::new(-1, 0)), Err(AmountError::Negative));
        assert_eq!(
            Amount::new(Decimal::new(12345, 5)),
            Err(AmountError::TooPrecise)
        );
        assert!(Amount::new(Decimal::new(1_000_000_000_000_000, 0)).is_err());
        assert!(Amount::new(Decimal::new(150_000, 2)).is_ok());
    }

    #[test]
    fn amounts_round_trip_through_the_scaled_storage_form() {
        let a = Amount::new("1234567890123.4567".parse().unwrap()).unwrap();
        assert_eq!(a.to_scaled(), 12_345_678_901_234_567);
        assert_eq!(Amount::from_scaled(a.to_scaled()), a);
    }
    #[test]
    fn the_text_rule_refuses_nul_and_controls_and_allows_line_breaks_only_in_multi_line_text() {
        for bad in ["a\0b", "\u{1}", "x\u{1b}[31m", "del\u{7f}"] {
            for kind in [TextKind::SingleLine, TextKind::MultiLine] {
                let e = check_text("name", bad, kind).unwrap_err();
                assert_eq!((e.field.as_str(), e.code), ("name", "invalid_characters"));
            }
        }
        for breaks in ["a\tb", "line\nline", "crlf\r\n"] {
            assert!(check_text("notes", breaks, TextKind::MultiLine).is_ok());
            assert!(check_text("name", breaks, TextKind::SingleLine).is_err());
        }
        assert!(check_text("name", "Budi Santoso — 日本 🚀", TextKind::SingleLine).is_ok());
    }

    #[test]
    fn json_text_is_checked_at_any_depth_and_names_the_path() {
        let ok = serde_json::json!({"a": {"b": ["x\ny", 1, null]}});
        assert!(check_json_text("metadata", &ok).is_ok());
        let deep = serde_json::json!({"a": {"b": ["ok", "n\u{0}l"]}});
        assert_eq!(
            check_json_text("metadata", &deep).unwrap_err().field,
            "metadata.a.b[1]"
        );
        let key = serde_json::json!({"k\u{0}": 1});
        assert_eq!(
            check_json_text("metadata", &key).unwrap_err().field,
            "metadata"
        );
    }
}
