//! One row of cells into a [`CustomerInput`] or an [`OrderRow`], and the [`RowError`]s
//! reported for rows that fail.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::cells::{
    CUSTOMER_STATUS_SYNONYMS, CUSTOMER_TYPE_SYNONYMS, GENDER_SYNONYMS, ORDER_STATUS_SYNONYMS,
    SOURCE_SYNONYMS, STAGE_SYNONYMS, clean, normalise_choice, parse_bool, parse_date,
    parse_datetime, parse_number,
};
use super::model::ORDER_CUSTOMER_KEYS;
use super::options::{ImportOptions, MatchBy};
use crate::customer::{
    AcquisitionSource, CustomerInput, CustomerStatus, CustomerType, Gender, LifecycleStage,
};
use crate::error::FieldError;
use crate::order::{OrderInput, OrderStatus};

/// One row that could not be imported, as reported to the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowError {
    /// Line of the file (1-based; the header is line 1); for a CSV record spanning lines, the
    /// line it starts on.
    pub line: u64,
    /// The field at fault (`email`, `tags[1]`, `total_amount`), when one is.
    pub field: Option<String>,
    /// What is wrong, for people.
    pub reason: String,
}

impl RowError {
    /// A problem with the whole row (an unreadable record, a storage conflict, ...).
    pub fn row(line: u64, reason: impl Into<String>) -> Self {
        Self {
            line,
            field: None,
            reason: reason.into(),
        }
    }

    /// One row error per field error of the row at `line`.
    pub fn from_field_errors(line: u64, errors: Vec<FieldError>) -> Vec<Self> {
        errors
            .into_iter()
            .map(|e| Self {
                line,
                field: Some(e.field),
                reason: e.message,
            })
            .collect()
    }
}

/// The cells of one row by target field, and the errors found converting them.
pub(super) struct Row<'a> {
    values: BTreeMap<&'a str, String>,
    opts: &'a ImportOptions,
    errors: Vec<FieldError>,
}

impl<'a> Row<'a> {
    fn new(mapping: &'a [Option<String>], cells: &[String], opts: &'a ImportOptions) -> Self {
        let mut values = BTreeMap::new();
        for (target, cell) in mapping.iter().zip(cells) {
            if let Some(t) = target {
                let v = clean(cell);
                if !v.is_empty() {
                    values.insert(t.as_str(), v.to_owned());
                }
            }
        }
        Self {
            values,
            opts,
            errors: Vec::new(),
        }
    }

    fn fail(&mut self, field: &str, code: &'static str, message: String) {
        self.errors.push(FieldError::new(field, code, message));
    }

    fn text(&mut self, field: &str) -> Option<String> {
        self.values.remove(field)
    }

    fn parse<T>(
        &mut self,
        field: &str,
        code: &'static str,
        what: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Option<T> {
        let v = self.text(field)?;
        let parsed = parse(&v);
        if parsed.is_none() {
            self.fail(field, code, format!("`{v}` is not {what}"));
        }
        parsed
    }

    fn decimal(&mut self, field: &str) -> Option<Decimal> {
        let sep = self.opts.decimal_separator;
        let what = format!("a number (decimal separator `{sep}`)");
        self.parse(field, "invalid_number", &what, |v| parse_number(v, sep))
    }

    fn integer(&mut self, field: &str) -> Option<i32> {
        let sep = self.opts.decimal_separator;
        self.parse(field, "invalid_integer", "a whole number", |v| {
            parse_number(v, sep)
                .filter(|d| d.fract().is_zero())
                .and_then(|d| d.to_i32())
        })
    }

    fn boolean(&mut self, field: &str) -> Option<bool> {
        self.parse(
            field,
            "invalid_boolean",
            "a yes/no value (true, false, yes, no, ya, tidak, 1, 0)",
            parse_bool,
        )
    }

    fn date(&mut self, field: &str) -> Option<NaiveDate> {
        let format = self.opts.date_format.clone();
        let what = date_what(format.as_deref());
        self.parse(field, "invalid_date", &what, |v| {
            parse_date(v, format.as_deref())
        })
    }

    fn datetime(&mut self, field: &str) -> Option<DateTime<Utc>> {
        let format = self.opts.date_format.clone();
        let what = date_what(format.as_deref());
        self.parse(field, "invalid_date", &what, |v| {
            parse_datetime(v, format.as_deref())
        })
    }

    fn choice<T>(&mut self, field: &str, synonyms: &[(&str, &str)]) -> Option<T>
    where
        T: FromStr,
        T::Err: Display,
    {
        let v = self.text(field)?;
        let n = normalise_choice(&v);
        let n = synonyms
            .iter()
            .find(|(from, _)| *from == n)
            .map_or(n.as_str(), |(_, to)| *to);
        match T::from_str(n) {
            Ok(t) => Some(t),
            Err(e) => {
                self.fail(field, "invalid_value", e.to_string());
                None
            }
        }
    }

    fn tags(&mut self, field: &str) -> Option<Vec<String>> {
        let v = self.text(field)?;
        Some(
            v.split([',', ';'])
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect(),
        )
    }

    fn json(&mut self, field: &str) -> Option<serde_json::Value> {
        self.parse(field, "invalid_json", "a JSON object", |v| {
            serde_json::from_str::<serde_json::Value>(v)
                .ok()
                .filter(serde_json::Value::is_object)
        })
    }

    fn uuid(&mut self, field: &str) -> Option<Uuid> {
        self.parse(field, "invalid_uuid", "a customer id (UUID)", |v| {
            Uuid::parse_str(v).ok()
        })
    }
}

pub(super) fn date_what(format: Option<&str>) -> String {
    match format {
        Some(f) => format!("a date in the format {f}"),
        None => "a date (YYYY-MM-DD, YYYYMMDD, DD/MM/YYYY or RFC 3339)".to_owned(),
    }
}

/// Converts one row of a customers file into a [`CustomerInput`], to be checked with
/// [`CustomerInput::validate`]. `mapping` is the target of each column
/// ([`resolve_mapping`](super::resolve_mapping)); `cells` may be shorter or longer than it
/// (missing cells are empty). `currency` and `country` come from the row, else
/// [`ImportOptions::default_currency`] / [`ImportOptions::default_country`].
///
/// # Errors
/// Every cell that cannot be read as its field's type, as a [`FieldError`] naming the field
/// (`invalid_number`, `invalid_integer`, `invalid_date`, `invalid_boolean`, `invalid_value`,
/// `invalid_json`, `invalid_uuid`).
pub fn customer_row(
    mapping: &[Option<String>],
    cells: &[String],
    opts: &ImportOptions,
) -> Result<CustomerInput, Vec<FieldError>> {
    let mut r = Row::new(mapping, cells, opts);
    let input = CustomerInput {
        name: r.text("name"),
        display_name: r.text("display_name"),
        email: r.text("email"),
        phone: r.text("phone"),
        mobile_phone: r.text("mobile_phone"),
        customer_type: r.choice::<CustomerType>("customer_type", CUSTOMER_TYPE_SYNONYMS),
        company: r.text("company"),
        company_legal_name: r.text("company_legal_name"),
        tax_id: r.text("tax_id"),
        business_license: r.text("business_license"),
        job_title: r.text("job_title"),
        website: r.text("website"),
        industry: r.text("industry"),
        company_size: r.text("company_size"),
        annual_revenue: r.decimal("annual_revenue"),
        status: r.choice::<CustomerStatus>("status", CUSTOMER_STATUS_SYNONYMS),
        stage: r.choice::<LifecycleStage>("stage", STAGE_SYNONYMS),
        source: r.choice::<AcquisitionSource>("source", SOURCE_SYNONYMS),
        assigned_to: r.text("assigned_to"),
        currency: r.text("currency").or_else(|| opts.default_currency.clone()),
        country: r.text("country").or_else(|| opts.default_country.clone()),
        language: r.text("language"),
        timezone: r.text("timezone"),
        birth_date: r.date("birth_date"),
        gender: r.choice::<Gender>("gender", GENDER_SYNONYMS),
        credit_limit: r.decimal("credit_limit"),
        payment_terms_days: r.integer("payment_terms_days"),
        tags: r.tags("tags"),
        metadata: r.json("metadata"),
        notes: r.text("notes"),
        internal_notes: r.text("internal_notes"),
        is_vip: r.boolean("is_vip"),
        is_blacklisted: r.boolean("is_blacklisted"),
        blacklist_reason: r.text("blacklist_reason"),
        referred_by: r.uuid("referred_by"),
        acquisition_cost: r.decimal("acquisition_cost"),
        external_ref: r.text("external_ref"),
        last_contact_at: r.datetime("last_contact_at"),
        next_follow_up_at: r.datetime("next_follow_up_at"),
        discount_percent: r.decimal("discount_percent"),
        status_reason: None,
    };
    if r.errors.is_empty() {
        Ok(input)
    } else {
        Err(r.errors)
    }
}

/// The values an order row gives to find its customer. Email is lower-cased; the phone is as
/// written (the caller normalises it to E.164 with the tenant's country before comparing).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerKey {
    /// `customer_external_ref`: the customer's `external_ref`.
    pub external_ref: Option<String>,
    /// `customer_email`.
    pub email: Option<String>,
    /// `customer_phone`: compared with both `phone` and `mobile_phone`.
    pub phone: Option<String>,
}

impl CustomerKey {
    /// Whether the row names no customer at all.
    pub fn is_empty(&self) -> bool {
        self.external_ref.is_none() && self.email.is_none() && self.phone.is_none()
    }

    /// The field and value to look the customer up by: `match_by`'s value when given (`None`
    /// if the row lacks it), else the first present of external ref, email and phone.
    pub fn lookup(&self, match_by: Option<MatchBy>) -> Option<(MatchBy, &str)> {
        let get = |m: MatchBy| {
            match m {
                MatchBy::ExternalRef => self.external_ref.as_deref(),
                MatchBy::Email => self.email.as_deref(),
                MatchBy::Phone => self.phone.as_deref(),
            }
            .map(|v| (m, v))
        };
        match match_by {
            Some(m) => get(m),
            None => MatchBy::ALL.iter().find_map(|m| get(*m)),
        }
    }
}

/// One row of an orders file.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderRow {
    /// How to find the customer. Never empty.
    pub customer: CustomerKey,
    /// `customer_name`, used when the customer is created.
    pub customer_name: Option<String>,
    /// The order: `order_ref` always set (given or [`derived_order_ref`]), `status` default
    /// `completed`, `placed_at` as read (dates at midnight UTC; `None` = now), `currency` from
    /// the row or [`ImportOptions::default_currency`] (`None` = the customer's), `total_amount`
    /// always set.
    pub order: OrderInput,
    /// `quantity`: how many items the order had, when the file says (informative; the order
    /// has no lines).
    pub quantity: Option<Decimal>,
}

impl OrderRow {
    /// The customer to create when none matches (`create_missing_customers`): the row's name
    /// (else the key's value), external ref, email and phone, and the options' default country
    /// and currency. [`CustomerInput::validate`] still applies: a customer needs an email or a
    /// phone, so a row that names its customer by external ref only cannot create one.
    pub fn new_customer(&self, opts: &ImportOptions) -> CustomerInput {
        let name = self
            .customer_name
            .clone()
            .or_else(|| self.customer.lookup(None).map(|(_, v)| v.to_owned()));
        CustomerInput {
            name,
            email: self.customer.email.clone(),
            phone: self.customer.phone.clone(),
            external_ref: self.customer.external_ref.clone(),
            currency: self
                .order
                .currency
                .clone()
                .or_else(|| opts.default_currency.clone()),
            country: opts.default_country.clone(),
            ..CustomerInput::default()
        }
    }
}

/// The `order_ref` of an order row that has none: `imp-<first 12 hex digits of the file's
/// SHA-256>-<line>`. It depends only on the file's content and the row's line, so importing
/// the same file again finds every order already there (order refs are unique per tenant) and
/// changes nothing. A file that was edited (even one byte) gets new refs: its rows are new
/// orders.
pub fn derived_order_ref(file_fingerprint: &str, line: u64) -> String {
    let prefix: String = file_fingerprint
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(12)
        .flat_map(|c| c.to_lowercase())
        .collect();
    format!("imp-{prefix}-{line}")
}

/// Converts one row of an orders file at `line` of the file whose SHA-256 (hex) is
/// `file_fingerprint`. `mapping` and `cells` as for [`customer_row`].
///
/// # Errors
/// Unreadable cells as for [`customer_row`]; `total_amount` `required` when the amount cell is
/// empty; the first mapped customer column (`customer_external_ref`, `customer_email`,
/// `customer_phone`) `required` when the row names no customer.
pub fn order_row(
    mapping: &[Option<String>],
    cells: &[String],
    opts: &ImportOptions,
    file_fingerprint: &str,
    line: u64,
) -> Result<OrderRow, Vec<FieldError>> {
    let mut r = Row::new(mapping, cells, opts);
    let customer = CustomerKey {
        external_ref: r.text("customer_external_ref"),
        email: r.text("customer_email").map(|e| e.to_lowercase()),
        phone: r.text("customer_phone"),
    };
    if customer.is_empty() {
        let field = ORDER_CUSTOMER_KEYS
            .iter()
            .find(|k| mapping.iter().any(|m| m.as_deref() == Some(**k)))
            .copied()
            .unwrap_or("customer_external_ref");
        r.fail(
            field,
            "required",
            "the row names no customer (customer external ref, email or phone)".to_owned(),
        );
    }
    let customer_name = r.text("customer_name");
    let order_ref = r
        .text("order_ref")
        .unwrap_or_else(|| derived_order_ref(file_fingerprint, line));
    let placed_at = r.datetime("placed_at");
    let status = r
        .choice::<OrderStatus>("status", ORDER_STATUS_SYNONYMS)
        .or(Some(OrderStatus::Completed));
    let amount_given = r.values.contains_key("total_amount");
    let total_amount = r.decimal("total_amount");
    if !amount_given {
        r.fail(
            "total_amount",
            "required",
            "the order amount is empty".to_owned(),
        );
    }
    let currency = r
        .text("currency")
        .map(|c| c.to_uppercase())
        .or_else(|| opts.default_currency.clone());
    let quantity = r.decimal("quantity");
    if !r.errors.is_empty() {
        return Err(r.errors);
    }
    Ok(OrderRow {
        customer,
        customer_name,
        order: OrderInput {
            order_ref: Some(order_ref),
            placed_at,
            status,
            currency,
            total_amount,
            ..OrderInput::default()
        },
        quantity,
    })
}
