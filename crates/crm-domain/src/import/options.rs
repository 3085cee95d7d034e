//! The options of an import: its kind, duplicate policy, matching, decimal separator, date
//! format, delimiter and explicit mapping, and their checks.

use std::collections::{BTreeMap, BTreeSet};

use chrono::format::{Item, StrftimeItems};
use serde::{Deserialize, Deserializer, Serialize};

use super::model::{ImportKind, targets};
use crate::error::FieldError;
use crate::values::{CountryCode, CurrencyCode};

string_enum!(
    /// What to do with a customer row that matches an existing customer (see [`MatchBy`]).
    /// Orders are matched by `order_ref` and never changed by an import: for them only `skip`
    /// is allowed, so re-importing a file is a no-op.
    #[derive(Default, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    DuplicatePolicy {
        /// Leave the existing customer as it is and count the row as skipped. The default.
        #[default]
        Skip => "skip",
        /// Update the existing customer: the row's non-empty mapped cells replace the stored
        /// values, everything else is kept.
        Update => "update",
        /// Create a new customer anyway (unique fields such as `email` may then conflict).
        Create => "create",
    }
);

string_enum!(
    /// The field that finds the existing customer a row is about.
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    MatchBy {
        /// `external_ref`, the id in the system the file comes from.
        ExternalRef => "external_ref",
        /// `email` (compared lower-cased).
        Email => "email",
        /// `phone` or `mobile_phone` (compared in E.164).
        Phone => "phone",
    }
);

string_enum!(
    /// The decimal separator of numbers written as text; the other of `.` and `,` is then a
    /// thousands separator.
    #[derive(Default, Serialize, Deserialize)]
    DecimalSeparator {
        /// `1,234.56`. The default.
        #[default]
        #[serde(rename = ".", alias = "dot")]
        Dot => ".",
        /// `1.234,56`, as in Indonesia and most of Europe.
        #[serde(rename = ",", alias = "comma")]
        Comma => ",",
    }
);

impl DecimalSeparator {
    /// The separator character.
    pub fn as_char(self) -> char {
        match self {
            DecimalSeparator::Dot => '.',
            DecimalSeparator::Comma => ',',
        }
    }
}

/// How to read one import file. JSON field names are the Rust ones; unknown fields are
/// refused. Only `kind` is required.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct ImportOptions {
    /// What the file holds.
    pub kind: ImportKind,
    /// Explicit mapping from header (as written in the file) to target field (see
    /// [`targets`]). When given, it replaces header detection and columns it does not name are
    /// ignored. `None` (default): detect from the headers
    /// ([`detect_mapping`](super::detect_mapping)).
    #[serde(default)]
    pub mapping: Option<BTreeMap<String, String>>,
    /// CSV field delimiter; `None` (default) detects among comma, semicolon and tab. In JSON a
    /// one-character string (`";"`, `"\t"`), a name (`comma`, `semicolon`, `tab`, `pipe`) or a
    /// byte value.
    #[serde(default, deserialize_with = "deserialize_delimiter")]
    pub delimiter: Option<u8>,
    /// chrono `strftime` format of dates and times (`%d/%m/%Y`, `%m/%d/%Y %H:%M`). ISO dates
    /// (`YYYY-MM-DD`, RFC 3339, as the XLSX reader prints date cells) are accepted as well.
    /// `None` (default): RFC 3339, `YYYY-MM-DD[ HH:MM[:SS]]`, `YYYYMMDD` and `DD/MM/YYYY`.
    /// Dates without a time are midnight UTC.
    #[serde(default)]
    pub date_format: Option<String>,
    /// Decimal separator of numbers written as text. The XLSX reader prints number cells with
    /// `.` and no thousands separators, so XLSX files are read with [`DecimalSeparator::Dot`].
    #[serde(default)]
    pub decimal_separator: DecimalSeparator,
    /// ISO 3166-1 alpha-2 country for rows without a `country` (customers): also the country
    /// national phone numbers are read in.
    #[serde(default)]
    pub default_country: Option<String>,
    /// ISO 4217 currency for rows without a `currency` (customers and orders).
    #[serde(default)]
    pub default_currency: Option<String>,
    /// What to do with a row that matches an existing record; default `skip`.
    #[serde(default)]
    pub duplicate_policy: DuplicatePolicy,
    /// How an existing customer is found. `None` (default): by `email` for customers; for
    /// orders, by the first of the row's customer external ref, email and phone that is present
    /// (see [`CustomerKey::lookup`](super::CustomerKey::lookup)).
    #[serde(default)]
    pub match_by: Option<MatchBy>,
    /// Check every row and report what would happen, storing nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Orders: create the customer an order names when none matches (from the row's customer
    /// columns, see [`OrderRow::new_customer`](super::OrderRow::new_customer)); default
    /// `true`. When `false` such rows fail.
    #[serde(default = "default_true")]
    pub create_missing_customers: bool,
    /// The CSV file is Latin-1 (Windows-1252) rather than UTF-8.
    #[serde(default)]
    pub latin1: bool,
}

pub(super) fn default_true() -> bool {
    true
}

/// Accepts a byte, a one-character ASCII string or a delimiter name.
pub(super) fn deserialize_delimiter<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<u8>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Byte(u8),
        Text(String),
    }
    let Some(raw) = Option::<Raw>::deserialize(d)? else {
        return Ok(None);
    };
    match raw {
        Raw::Byte(b) => Ok(Some(b)),
        Raw::Text(t) => match t.as_str() {
            "comma" => Ok(Some(b',')),
            "semicolon" => Ok(Some(b';')),
            "tab" | "\\t" => Ok(Some(b'\t')),
            "pipe" => Ok(Some(b'|')),
            s if s.len() == 1 && s.is_ascii() => Ok(s.bytes().next()),
            other => Err(serde::de::Error::custom(format!(
                "`{other}` is not a delimiter: use one ASCII character or comma, semicolon, tab, pipe"
            ))),
        },
    }
}

impl ImportOptions {
    /// The default options for a kind of file.
    pub fn new(kind: ImportKind) -> Self {
        Self {
            kind,
            mapping: None,
            delimiter: None,
            date_format: None,
            decimal_separator: DecimalSeparator::Dot,
            default_country: None,
            default_currency: None,
            duplicate_policy: DuplicatePolicy::Skip,
            match_by: None,
            dry_run: false,
            create_missing_customers: true,
            latin1: false,
        }
    }

    /// The field existing customers are matched by for a customers file: `match_by`, default
    /// `email`.
    pub fn customer_match_by(&self) -> MatchBy {
        self.match_by.unwrap_or(MatchBy::Email)
    }

    /// Checks the options on their own (the headers are checked by
    /// [`resolve_mapping`](super::resolve_mapping)).
    ///
    /// # Errors
    /// Every problem, as a [`FieldError`] named `options.<field>`: an unknown mapping target
    /// (`options.mapping.<header>`, `unknown_target`) or one named twice (`duplicate_target`);
    /// a delimiter that is a quote, a line break, a letter or digit, or not ASCII; an invalid
    /// `date_format`; a `default_country` or `default_currency` not in its ISO list; a
    /// `duplicate_policy` other than `skip` for orders.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if let Some(mapping) = &self.mapping {
            let allowed = targets(self.kind);
            let mut seen = BTreeSet::new();
            for (header, target) in mapping {
                let field = format!("options.mapping.{header}");
                if !allowed.contains(&target.as_str()) {
                    errors.push(FieldError::new(
                        field,
                        "unknown_target",
                        format!(
                            "`{target}` is not a {} field; expected one of {}",
                            self.kind,
                            allowed.join(", ")
                        ),
                    ));
                } else if !seen.insert(target.as_str()) {
                    errors.push(FieldError::new(
                        field,
                        "duplicate_target",
                        format!("another column is already mapped to `{target}`"),
                    ));
                }
            }
        }
        if let Some(d) = self.delimiter
            && !valid_delimiter(d)
        {
            errors.push(FieldError::new(
                "options.delimiter",
                "invalid",
                "a delimiter is one ASCII punctuation character or tab, not a quote",
            ));
        }
        if let Some(f) = &self.date_format
            && (f.trim().is_empty() || StrftimeItems::new(f).any(|i| matches!(i, Item::Error)))
        {
            errors.push(FieldError::new(
                "options.date_format",
                "invalid",
                format!("`{f}` is not a chrono strftime format such as %d/%m/%Y"),
            ));
        }
        if let Some(c) = &self.default_country
            && CountryCode::parse(c).is_none()
        {
            errors.push(FieldError::new(
                "options.default_country",
                "invalid_country",
                format!("`{c}` is not an ISO 3166-1 alpha-2 country code"),
            ));
        }
        if let Some(c) = &self.default_currency
            && CurrencyCode::parse(c).is_none()
        {
            errors.push(FieldError::new(
                "options.default_currency",
                "invalid_currency",
                format!("`{c}` is not an ISO 4217 currency code"),
            ));
        }
        if self.kind == ImportKind::Orders && self.duplicate_policy != DuplicatePolicy::Skip {
            errors.push(FieldError::new(
                "options.duplicate_policy",
                "invalid",
                "orders are matched by order_ref and never changed by an import: use skip",
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

pub(super) fn valid_delimiter(d: u8) -> bool {
    d == b'\t' || (d.is_ascii_punctuation() && d != b'"')
}
