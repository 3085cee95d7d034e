//! The customer filter language: one parser for the JSON filters that searches, saved views
//! and auto-segments store, and for the list's query parameters.
//!
//! A filter is `{"any": [{"all": [{"field": F, "op": O, "value": V}, ...]}, ...]}`: the customer
//! matches when every condition of at least one group holds (OR of ANDs); at most 5 groups of 10
//! conditions. `{"all": [...]}` alone is one group. Storage adapters compile the parsed
//! [`Filter`] to SQL; this module decides what is valid.
//!
//! # Limits
//!
//! The same limits hold on every path into the language (the list's query parameters through
//! [`FilterBuilder`], JSON filters, saved views, segments, bulk actions and exports through
//! [`Filter::parse`], and every query a service runs through [`Filter::check_limits`]), so no
//! caller can make the database evaluate hundreds of sub-queries:
//!
//! | limit | value | error code |
//! |---|---|---|
//! | groups in a JSON filter | [`MAX_GROUPS`] (5) | `too_many` |
//! | conditions in a group of a JSON filter | [`MAX_CONDITIONS`] (10) | `too_many` |
//! | nesting (`any` → `all` → condition) | [`MAX_DEPTH`] (2) | `too_deep` |
//! | values of one `in` / `not_in` condition | [`MAX_LIST`] (100) | `too_many` |
//! | tags of one tag condition | [`MAX_TAG_VALUES`] (50, what a customer can hold) | `too_many` |
//! | characters of a text operand | [`MAX_TEXT_CHARS`] (255) | `too_long` |
//! | characters of a tag operand | [`MAX_TAG_CHARS`] (50, the longest tag) | `too_long` |
//! | conditions of a whole query (after ANDing parameters, a segment's rule, ...) | [`MAX_TOTAL_CONDITIONS`] (100) | `too_many` |
//! | operand values of a whole query | [`MAX_OPERANDS`] (500) | `too_many` |
//!
//! Each refusal is a [`FieldError`] naming the parameter or the JSON path, with the limit's
//! value in [`FieldError::limit`] and in its message.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::Value;
use uuid::Uuid;

pub use super::input::MAX_TAG_CHARS;
use crate::error::FieldError;
use crate::values::Amount;
use crate::values::{TextKind, check_text, has_forbidden_control};

/// Most groups in a JSON filter.
pub const MAX_GROUPS: usize = 5;
/// Most conditions in a group of a JSON filter.
pub const MAX_CONDITIONS: usize = 10;
/// Deepest nesting of a JSON filter: `any` (groups) → `all` (conditions) → condition; a
/// condition holds no filter of its own.
pub const MAX_DEPTH: usize = 2;
/// Most values of an `in` / `not_in` list (other than tags).
pub const MAX_LIST: usize = 100;
/// Most tags in one tag condition (`in`, `not_in`, `contains_all`): a customer holds at most
/// [`super::MAX_TAGS`] tags, so a larger set asks nothing more.
pub const MAX_TAG_VALUES: usize = super::input::MAX_TAGS;
/// Longest text operand, in characters.
pub const MAX_TEXT_CHARS: usize = 255;
/// Most conditions in the filter of one query, counted over every group once parameters, a
/// segment's rule and the like are ANDed together (a JSON filter alone has at most 50).
pub const MAX_TOTAL_CONDITIONS: usize = 100;
/// Most operand values (each value of a list counts) in the filter of one query.
pub const MAX_OPERANDS: usize = 500;

/// What a field holds, which decides its operators and how values are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Free text; comparisons are case-insensitive.
    Text,
    /// One of a closed set of lower-case words.
    Enum(&'static [&'static str]),
    /// true / false.
    Bool,
    /// An RFC 3339 instant.
    Instant,
    /// A calendar date `YYYY-MM-DD`.
    Date,
    /// A decimal money amount.
    Money,
    /// An integer.
    Integer,
    /// The customer's tag set.
    Tags,
    /// A UUID.
    Id,
    /// A position: the customer's addresses' coordinates (`within` a radius only).
    Geo,
}

/// Every filterable customer field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Field {
    Name,
    DisplayName,
    Email,
    Phone,
    MobilePhone,
    Company,
    CompanyLegalName,
    TaxId,
    JobTitle,
    Website,
    Industry,
    CompanySize,
    CustomerCode,
    ExternalRef,
    AssignedTo,
    Currency,
    Country,
    Language,
    Timezone,
    CustomerType,
    Status,
    Stage,
    Source,
    Gender,
    IsVip,
    IsBlacklisted,
    CreatedAt,
    UpdatedAt,
    FirstOrderAt,
    LastOrderAt,
    LastContactAt,
    NextFollowUpAt,
    DeletedAt,
    BirthDate,
    TotalSpent,
    AverageOrderValue,
    CreditLimit,
    AnnualRevenue,
    AcquisitionCost,
    TotalOrders,
    LoyaltyPoints,
    PaymentTermsDays,
    CustomerNumber,
    Tags,
    LoyaltyTier,
    ReferredBy,
    RfmSegment,
    RfmR,
    RfmF,
    RfmM,
    Id,
    Segment,
    /// `address.city`: any of the customer's addresses (as `address.region`,
    /// `address.postal_code`, `address.country`).
    AddressCity,
    AddressRegion,
    AddressPostalCode,
    AddressCountry,
    /// `address.near`: any of the customer's addresses within a great-circle radius.
    AddressNear,
}

const TYPES: &[&str] = &["individual", "business", "non_profit", "government"];
const STATUSES: &[&str] = &["active", "inactive", "blocked", "archived"];
const STAGES: &[&str] = &["prospect", "lead", "customer", "advocate"];
const SOURCES: &[&str] = &[
    "website",
    "referral",
    "social_media",
    "advertising",
    "trade_show",
    "cold_call",
    "email_campaign",
    "walk_in",
    "other",
];
const RFM_SEGMENTS: &[&str] = &[
    "champions",
    "loyal_customers",
    "potential_loyalists",
    "new_customers",
    "promising",
    "need_attention",
    "about_to_sleep",
    "at_risk",
    "cannot_lose_them",
    "hibernating",
    "lost",
];
const GENDERS: &[&str] = &["male", "female", "other", "prefer_not_to_say"];

impl Field {
    /// Every field with its API name and kind.
    pub const ALL: &'static [(Field, &'static str, FieldKind)] = &[
        (Field::Name, "name", FieldKind::Text),
        (Field::DisplayName, "display_name", FieldKind::Text),
        (Field::Email, "email", FieldKind::Text),
        (Field::Phone, "phone", FieldKind::Text),
        (Field::MobilePhone, "mobile_phone", FieldKind::Text),
        (Field::Company, "company", FieldKind::Text),
        (
            Field::CompanyLegalName,
            "company_legal_name",
            FieldKind::Text,
        ),
        (Field::TaxId, "tax_id", FieldKind::Text),
        (Field::JobTitle, "job_title", FieldKind::Text),
        (Field::Website, "website", FieldKind::Text),
        (Field::Industry, "industry", FieldKind::Text),
        (Field::CompanySize, "company_size", FieldKind::Text),
        (Field::CustomerCode, "customer_code", FieldKind::Text),
        (Field::ExternalRef, "external_ref", FieldKind::Text),
        (Field::AssignedTo, "assigned_to", FieldKind::Text),
        (Field::Currency, "currency", FieldKind::Text),
        (Field::Country, "country", FieldKind::Text),
        (Field::Language, "language", FieldKind::Text),
        (Field::Timezone, "timezone", FieldKind::Text),
        (Field::CustomerType, "customer_type", FieldKind::Enum(TYPES)),
        (Field::Status, "status", FieldKind::Enum(STATUSES)),
        (Field::Stage, "stage", FieldKind::Enum(STAGES)),
        (Field::Source, "source", FieldKind::Enum(SOURCES)),
        (Field::Gender, "gender", FieldKind::Enum(GENDERS)),
        (Field::IsVip, "is_vip", FieldKind::Bool),
        (Field::IsBlacklisted, "is_blacklisted", FieldKind::Bool),
        (Field::CreatedAt, "created_at", FieldKind::Instant),
        (Field::UpdatedAt, "updated_at", FieldKind::Instant),
        (Field::FirstOrderAt, "first_order_at", FieldKind::Instant),
        (Field::LastOrderAt, "last_order_at", FieldKind::Instant),
        (Field::LastContactAt, "last_contact_at", FieldKind::Instant),
        (
            Field::NextFollowUpAt,
            "next_follow_up_at",
            FieldKind::Instant,
        ),
        (Field::DeletedAt, "deleted_at", FieldKind::Instant),
        (Field::BirthDate, "birth_date", FieldKind::Date),
        (Field::TotalSpent, "total_spent", FieldKind::Money),
        (
            Field::AverageOrderValue,
            "average_order_value",
            FieldKind::Money,
        ),
        (Field::CreditLimit, "credit_limit", FieldKind::Money),
        (Field::AnnualRevenue, "annual_revenue", FieldKind::Money),
        (Field::AcquisitionCost, "acquisition_cost", FieldKind::Money),
        (Field::TotalOrders, "total_orders", FieldKind::Integer),
        (Field::LoyaltyPoints, "loyalty_points", FieldKind::Integer),
        (
            Field::PaymentTermsDays,
            "payment_terms_days",
            FieldKind::Integer,
        ),
        (Field::CustomerNumber, "customer_number", FieldKind::Integer),
        (Field::Tags, "tags", FieldKind::Tags),
        (Field::LoyaltyTier, "loyalty_tier", FieldKind::Text),
        (Field::ReferredBy, "referred_by", FieldKind::Id),
        (
            Field::RfmSegment,
            "rfm_segment",
            FieldKind::Enum(RFM_SEGMENTS),
        ),
        (Field::RfmR, "rfm_r", FieldKind::Integer),
        (Field::RfmF, "rfm_f", FieldKind::Integer),
        (Field::RfmM, "rfm_m", FieldKind::Integer),
        (Field::Id, "id", FieldKind::Id),
        (Field::Segment, "segment", FieldKind::Id),
        (Field::AddressCity, "address.city", FieldKind::Text),
        (Field::AddressRegion, "address.region", FieldKind::Text),
        (
            Field::AddressPostalCode,
            "address.postal_code",
            FieldKind::Text,
        ),
        (Field::AddressCountry, "address.country", FieldKind::Text),
        (Field::AddressNear, "address.near", FieldKind::Geo),
    ];

    /// Whether the field is one of an address of the customer: the condition holds when any
    /// of the customer's addresses satisfies it (`neq`, `not_in`, `is_null`: when none of
    /// them has the value).
    pub fn is_address(self) -> bool {
        matches!(
            self,
            Field::AddressCity
                | Field::AddressRegion
                | Field::AddressPostalCode
                | Field::AddressCountry
                | Field::AddressNear
        )
    }

    /// The field with this API name.
    pub fn parse(name: &str) -> Option<(Field, FieldKind)> {
        Self::ALL
            .iter()
            .find(|(_, n, _)| *n == name)
            .map(|(f, _, k)| (*f, *k))
    }

    /// The API name.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(f, _, _)| *f == self)
            .map_or("?", |(_, n, _)| n)
    }

    /// The kind.
    pub fn kind(self) -> FieldKind {
        Self::ALL
            .iter()
            .find(|(f, _, _)| *f == self)
            .map_or(FieldKind::Text, |(_, _, k)| *k)
    }
}

string_enum!(
    /// Comparison operators.
    Op {
        /// Equal (text: case-insensitive).
        Eq => "eq",
        /// Not equal (a missing value counts as different).
        Neq => "neq",
        /// One of a list.
        In => "in",
        /// None of a list.
        NotIn => "not_in",
        /// Greater than.
        Gt => "gt",
        /// Greater than or equal.
        Gte => "gte",
        /// Less than.
        Lt => "lt",
        /// Less than or equal.
        Lte => "lte",
        /// Text: contains the value (case-insensitive); tags: has the tag.
        Contains => "contains",
        /// Tags: has every tag of the list (one set condition).
        ContainsAll => "contains_all",
        /// Text starts with the value (case-insensitive).
        StartsWith => "starts_with",
        /// Text ends with the value (case-insensitive).
        EndsWith => "ends_with",
        /// Has no value (tags: has no tag).
        IsNull => "is_null",
        /// Has a value (tags: has a tag).
        IsNotNull => "is_not_null",
        /// Position: within a great-circle radius of a point (`address.near`; the value is
        /// `{"latitude": .., "longitude": .., "within_km": ..}`).
        Within => "within",
    }
);

impl Op {
    fn allowed_for(self, kind: FieldKind) -> bool {
        use Op::*;
        if kind == FieldKind::Geo || self == Within {
            return kind == FieldKind::Geo && self == Within;
        }
        match kind {
            FieldKind::Geo => false,
            FieldKind::Text => !matches!(self, Gt | Gte | Lt | Lte | ContainsAll),
            FieldKind::Enum(_) | FieldKind::Id => {
                matches!(self, Eq | Neq | In | NotIn | IsNull | IsNotNull)
            }
            FieldKind::Bool => matches!(self, Eq | Neq),
            FieldKind::Instant | FieldKind::Date | FieldKind::Money | FieldKind::Integer => {
                !matches!(self, Contains | ContainsAll | StartsWith | EndsWith)
            }
            FieldKind::Tags => {
                matches!(
                    self,
                    Contains | ContainsAll | In | NotIn | IsNull | IsNotNull
                )
            }
        }
    }
}

/// A typed operand.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// No operand (`is_null`, `is_not_null`).
    None,
    /// Text (lower-cased for text fields, the exact word for enums).
    Text(String),
    /// Boolean.
    Bool(bool),
    /// Instant.
    Instant(DateTime<Utc>),
    /// Date.
    Date(NaiveDate),
    /// Money as stored: ten-thousandths.
    Money(i64),
    /// Integer.
    Integer(i64),
    /// UUID.
    Id(Uuid),
    /// A list of operands (`in`, `not_in`, `contains_all`), without repeats.
    List(Vec<Operand>),
    /// A radius around a point (`within`).
    Near(crate::address::Near),
}

impl Operand {
    /// How many values it holds: 0 for none, the length of a list, else 1.
    pub fn count(&self) -> usize {
        match self {
            Operand::None => 0,
            Operand::List(items) => items.len(),
            _ => 1,
        }
    }
}

/// One condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// Field.
    pub field: Field,
    /// Operator.
    pub op: Op,
    /// Operand.
    pub value: Operand,
}

/// A parsed filter: OR of groups, each an AND of conditions. No groups matches every customer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// The groups.
    pub groups: Vec<Vec<Condition>>,
}

impl Filter {
    /// The first radius search (`address.near`) of the filter, in group order: the centre
    /// `sort=distance` measures from.
    pub fn near(&self) -> Option<crate::address::Near> {
        self.groups.iter().flatten().find_map(|c| match c.value {
            Operand::Near(n) => Some(n),
            _ => None,
        })
    }

    /// A filter of one group.
    pub fn all(conditions: Vec<Condition>) -> Self {
        if conditions.is_empty() {
            Self::default()
        } else {
            Self {
                groups: vec![conditions],
            }
        }
    }

    /// Parses the JSON form. Field errors name the path (`filter.any[1].all[0].op`) and quote the
    /// offending field, operator or value.
    ///
    /// # Errors
    /// Every problem found.
    pub fn parse(json: &Value, path: &str) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let err = |errors: &mut Vec<FieldError>, at: String, code: &'static str, msg: String| {
            errors.push(FieldError::new(at, code, msg));
        };
        let obj = match json {
            Value::Null => return Ok(Self::default()),
            Value::Object(o) => o,
            _ => {
                return Err(vec![FieldError::new(
                    path,
                    "invalid",
                    "a filter is an object with `any` or `all`",
                )]);
            }
        };
        if let Some(k) = obj.keys().find(|k| *k != "any" && *k != "all") {
            err(
                &mut errors,
                format!("{path}.{k}"),
                "unknown_field",
                format!("unknown key `{k}`; a filter has `any` or `all`"),
            );
        }
        let raw_groups: Vec<(String, &Value)> = match (obj.get("any"), obj.get("all")) {
            (Some(_), Some(_)) => {
                return Err(vec![FieldError::new(
                    path,
                    "invalid",
                    "use `any` (of groups) or `all` (one group), not both",
                )]);
            }
            (Some(Value::Array(groups)), None) => groups
                .iter()
                .enumerate()
                .map(|(i, g)| (format!("{path}.any[{i}]"), g))
                .collect(),
            (Some(_), None) => {
                return Err(vec![FieldError::new(
                    format!("{path}.any"),
                    "invalid",
                    "must be an array of groups",
                )]);
            }
            (None, Some(_)) => vec![(path.to_owned(), json)],
            (None, None) => vec![],
        };
        if raw_groups.len() > MAX_GROUPS {
            errors.push(
                FieldError::new(
                    format!("{path}.any"),
                    "too_many",
                    format!(
                        "{} groups; at most {MAX_GROUPS} in a filter",
                        raw_groups.len()
                    ),
                )
                .with_limit(MAX_GROUPS),
            );
            return Err(errors);
        }
        let mut groups = Vec::new();
        for (gpath, g) in raw_groups {
            if g.get("any").is_some() && g.get("all").is_none() {
                errors.push(too_deep(&gpath));
                continue;
            }
            let Some(conds) = g.get("all").and_then(Value::as_array) else {
                err(
                    &mut errors,
                    gpath,
                    "invalid",
                    "a group is {\"all\": [conditions]}".into(),
                );
                continue;
            };
            if conds.len() > MAX_CONDITIONS {
                errors.push(
                    FieldError::new(
                        format!("{gpath}.all"),
                        "too_many",
                        format!(
                            "{} conditions; at most {MAX_CONDITIONS} in a group",
                            conds.len()
                        ),
                    )
                    .with_limit(MAX_CONDITIONS),
                );
                continue;
            }
            let mut group = Vec::new();
            for (i, c) in conds.iter().enumerate() {
                match parse_condition(c, &format!("{gpath}.all[{i}]")) {
                    Ok(c) => group.push(c),
                    Err(e) => errors.push(e),
                }
            }
            if !group.is_empty() {
                groups.push(group);
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let filter = Self { groups };
        filter.check_limits(path).map_err(|e| vec![e])?;
        Ok(filter)
    }

    /// How many conditions it has, over every group.
    pub fn condition_count(&self) -> usize {
        self.groups.iter().map(Vec::len).sum()
    }

    /// How many operand values it has, over every condition (a list counts its values).
    pub fn operand_count(&self) -> usize {
        self.groups.iter().flatten().map(|c| c.value.count()).sum()
    }

    /// Checks the limits every filter obeys, whichever path built it (see the module's
    /// table): each condition's values and their lengths, then the whole filter's conditions
    /// ([`MAX_TOTAL_CONDITIONS`]) and operand values ([`MAX_OPERANDS`]). Services run it on
    /// every query, so filters assembled in code (a segment's rule ANDed with the list's
    /// parameters) or stored before a limit existed are held to the same bounds.
    ///
    /// # Errors
    /// The first limit broken, as a [`FieldError`] on `path` (`too_many` or `too_long`) with
    /// the limit's value.
    pub fn check_limits(&self, path: &str) -> Result<(), FieldError> {
        for c in self.groups.iter().flatten() {
            check_condition(c).map_err(|e| e.at(path))?;
        }
        let conditions = self.condition_count();
        if conditions > MAX_TOTAL_CONDITIONS {
            return Err(FieldError::new(
                path,
                "too_many",
                format!(
                    "the filter has {conditions} conditions (over all its groups, once combined \
                     with the other parameters); at most {MAX_TOTAL_CONDITIONS}"
                ),
            )
            .with_limit(MAX_TOTAL_CONDITIONS));
        }
        let operands = self.operand_count();
        if operands > MAX_OPERANDS {
            return Err(FieldError::new(
                path,
                "too_many",
                format!(
                    "the filter has {operands} values (over all its conditions, once combined \
                     with the other parameters); at most {MAX_OPERANDS}"
                ),
            )
            .with_limit(MAX_OPERANDS));
        }
        Ok(())
    }

    /// Both filters must hold: the groups' cross product (each side has at most a few groups).
    pub fn and(self, other: Filter) -> Filter {
        match (self.groups.is_empty(), other.groups.is_empty()) {
            (true, _) => other,
            (_, true) => self,
            _ => Filter {
                groups: self
                    .groups
                    .iter()
                    .flat_map(|a| {
                        other
                            .groups
                            .iter()
                            .map(move |b| a.iter().chain(b).cloned().collect())
                    })
                    .collect(),
            },
        }
    }

    /// Whether any condition is on `field`.
    pub fn mentions(&self, field: Field) -> bool {
        self.groups.iter().flatten().any(|c| c.field == field)
    }

    /// The customers whose follow-up is due at `now` (`next_follow_up_at` ≤ now), or with
    /// `due` false those whose follow-up is not (later, or none planned).
    pub fn follow_up_due(due: bool, now: DateTime<Utc>) -> Filter {
        let at = Operand::Instant(crate::ports::truncate_to_micros(now));
        let condition = |op, value| Condition {
            field: Field::NextFollowUpAt,
            op,
            value,
        };
        if due {
            Filter::all(vec![condition(Op::Lte, at)])
        } else {
            Filter {
                groups: vec![
                    vec![condition(Op::Gt, at)],
                    vec![condition(Op::IsNull, Operand::None)],
                ],
            }
        }
    }
}

fn parse_condition(c: &Value, at: &str) -> Result<Condition, FieldError> {
    let obj = c.as_object().ok_or_else(|| {
        FieldError::new(
            at,
            "invalid",
            "a condition is {\"field\", \"op\", \"value\"}",
        )
    })?;
    if obj.contains_key("any") || obj.contains_key("all") {
        return Err(too_deep(at));
    }
    if let Some(k) = obj
        .keys()
        .find(|k| !matches!(k.as_str(), "field" | "op" | "value"))
    {
        return Err(FieldError::new(
            format!("{at}.{k}"),
            "unknown_field",
            format!("unknown key `{k}` in a condition"),
        ));
    }
    let name = obj.get("field").and_then(Value::as_str).unwrap_or_default();
    let (field, kind) = Field::parse(name).ok_or_else(|| {
        FieldError::new(
            format!("{at}.field"),
            "unknown_field",
            format!("`{name}` is not a filterable customer field"),
        )
    })?;
    let op_name = obj.get("op").and_then(Value::as_str).unwrap_or_default();
    let op: Op = op_name
        .parse()
        .map_err(|e: String| FieldError::new(format!("{at}.op"), "unknown_operator", e))?;
    if !op.allowed_for(kind) {
        return Err(FieldError::new(
            format!("{at}.op"),
            "operator_not_allowed",
            format!("`{op_name}` does not apply to `{name}`"),
        ));
    }
    let value = obj.get("value").unwrap_or(&Value::Null);
    let texts = match value {
        Value::Array(items) => items.iter().collect(),
        one => vec![one],
    };
    for s in texts.into_iter().filter_map(Value::as_str) {
        check_text(&format!("{at}.value"), s, TextKind::SingleLine)?;
    }
    let operand = operand(field, kind, op, value).map_err(|e| e.at(format!("{at}.value")))?;
    Ok(Condition {
        field,
        op,
        value: operand,
    })
}

fn too_deep(at: &str) -> FieldError {
    FieldError::new(
        at,
        "too_deep",
        format!(
            "filters nest {MAX_DEPTH} levels deep at most: `any` holds groups, a group's `all` \
             holds conditions, and a condition holds no filter"
        ),
    )
    .with_limit(MAX_DEPTH)
}

/// Why an operand was refused: a stable code, a sentence quoting the value, and the limit's
/// value when it breaks one. [`OperandError::at`] names the field or parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperandError {
    /// `invalid_value`, `invalid_characters`, `too_many` (values) or `too_long` (characters).
    pub code: &'static str,
    /// What is wrong, quoting the value.
    pub message: String,
    /// The limit broken (`too_many`, `too_long`).
    pub limit: Option<usize>,
}

impl OperandError {
    fn invalid(message: impl Into<String>) -> Self {
        Self {
            code: "invalid_value",
            message: message.into(),
            limit: None,
        }
    }

    fn limit(code: &'static str, limit: usize, message: String) -> Self {
        Self {
            code,
            message,
            limit: Some(limit),
        }
    }

    /// The error as a [`FieldError`] on `field` (a JSON path or a query parameter).
    pub fn at(self, field: impl Into<String>) -> FieldError {
        let e = FieldError::new(field, self.code, self.message);
        match self.limit {
            Some(l) => e.with_limit(l),
            None => e,
        }
    }
}

/// The most values a list operand of a `kind` field may hold.
fn max_values(kind: FieldKind) -> usize {
    if kind == FieldKind::Tags {
        MAX_TAG_VALUES
    } else {
        MAX_LIST
    }
}

/// Reads a value for `field` and `op` from JSON; also used for query parameters (as strings).
/// Lists (`in`, `not_in`, `contains_all`) hold 1..=[`MAX_LIST`] values ([`MAX_TAG_VALUES`]
/// tags), repeats dropped; texts 1..=[`MAX_TEXT_CHARS`] characters, tags (trimmed and
/// lower-cased, as customers' tags are stored) 1..=[`MAX_TAG_CHARS`].
///
/// # Errors
/// An [`OperandError`] quoting the value, with the limit when it breaks one.
pub fn operand(
    field: Field,
    kind: FieldKind,
    op: Op,
    value: &Value,
) -> Result<Operand, OperandError> {
    match op {
        Op::IsNull | Op::IsNotNull => Ok(Operand::None),
        Op::In | Op::NotIn | Op::ContainsAll => {
            let items = value.as_array().ok_or_else(|| {
                OperandError::invalid(format!("`{}` takes an array", op.as_str()))
            })?;
            let max = max_values(kind);
            let what = if kind == FieldKind::Tags {
                "tags"
            } else {
                "values"
            };
            if items.len() > max {
                return Err(OperandError::limit(
                    "too_many",
                    max,
                    format!("{} {what}; at most {max} in one condition", items.len()),
                ));
            }
            if items.is_empty() {
                return Err(OperandError::invalid(format!("1..={max} {what}")));
            }
            let mut list: Vec<Operand> = Vec::with_capacity(items.len());
            for v in items {
                let one = scalar(field, kind, v)?;
                if !list.contains(&one) {
                    list.push(one);
                }
            }
            Ok(Operand::List(list))
        }
        _ => scalar(field, kind, value),
    }
}

/// Checks one condition's operand against the limits (for filters not built by [`operand`]).
fn check_condition(c: &Condition) -> Result<(), OperandError> {
    let kind = c.field.kind();
    let items: &[Operand] = match &c.value {
        Operand::List(items) => {
            let max = max_values(kind);
            if items.len() > max {
                return Err(OperandError::limit(
                    "too_many",
                    max,
                    format!(
                        "a `{}` condition has {} values; at most {max}",
                        c.field.name(),
                        items.len()
                    ),
                ));
            }
            items
        }
        one => std::slice::from_ref(one),
    };
    let max = if kind == FieldKind::Tags {
        MAX_TAG_CHARS
    } else {
        MAX_TEXT_CHARS
    };
    for item in items {
        if let Operand::Text(t) = item
            && t.chars().count() > max
        {
            return Err(OperandError::limit(
                "too_long",
                max,
                format!(
                    "a `{}` value has {} characters; at most {max}",
                    c.field.name(),
                    t.chars().count()
                ),
            ));
        }
    }
    Ok(())
}

fn scalar(field: Field, kind: FieldKind, v: &Value) -> Result<Operand, OperandError> {
    let text = || match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    let shown = || {
        let s = v.to_string();
        match s.char_indices().nth(40) {
            Some((at, _)) => format!("{}…", &s[..at]),
            None => s,
        }
    };
    let invalid = |m: String| OperandError::invalid(m);
    match kind {
        FieldKind::Text | FieldKind::Tags => {
            let tag = kind == FieldKind::Tags;
            let max = if tag { MAX_TAG_CHARS } else { MAX_TEXT_CHARS };
            let s = text().ok_or_else(|| invalid(format!("{} is not a text", shown())))?;
            let s = if tag { s.trim().to_owned() } else { s };
            if s.is_empty() {
                return Err(invalid(format!(
                    "{} is not a text of 1..={max} characters",
                    shown()
                )));
            }
            let chars = s.chars().count();
            if chars > max {
                let what = if tag { "a tag" } else { "a text" };
                return Err(OperandError::limit(
                    "too_long",
                    max,
                    format!(
                        "{} has {chars} characters; {what} has at most {max}",
                        shown()
                    ),
                ));
            }
            if has_forbidden_control(&s, TextKind::SingleLine) {
                return Err(OperandError {
                    code: "invalid_characters",
                    message: "must not contain NUL or other control characters".to_owned(),
                    limit: None,
                });
            }
            let s = if field == Field::Phone || field == Field::MobilePhone {
                s
            } else {
                s.to_lowercase()
            };
            Ok(Operand::Text(s))
        }
        FieldKind::Enum(words) => {
            let s = text().unwrap_or_default();
            if words.contains(&s.as_str()) {
                Ok(Operand::Text(s))
            } else {
                Err(invalid(format!(
                    "{} is not one of {}",
                    shown(),
                    words.join(", ")
                )))
            }
        }
        FieldKind::Bool => match v {
            Value::Bool(b) => Ok(Operand::Bool(*b)),
            Value::String(s) if s == "true" || s == "false" => Ok(Operand::Bool(s == "true")),
            _ => Err(invalid(format!("{} is not true or false", shown()))),
        },
        FieldKind::Instant => text()
            .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
            .map(|t| Operand::Instant(crate::ports::truncate_to_micros(t.with_timezone(&Utc))))
            .ok_or_else(|| {
                invalid(format!(
                    "{} is not an RFC 3339 time such as 2026-01-31T00:00:00Z",
                    shown()
                ))
            }),
        FieldKind::Date => text()
            .and_then(|s| NaiveDate::parse_from_str(&s, "%Y-%m-%d").ok())
            .map(Operand::Date)
            .ok_or_else(|| invalid(format!("{} is not a date YYYY-MM-DD", shown()))),
        FieldKind::Money => text()
            .and_then(|s| s.parse::<Decimal>().ok())
            .and_then(|d| Amount::new(d).ok())
            .map(|a| Operand::Money(a.to_scaled()))
            .ok_or_else(|| {
                invalid(format!(
                    "{} is not an amount ≥ 0 with at most 4 decimals",
                    shown()
                ))
            }),
        FieldKind::Integer => text()
            .and_then(|s| s.parse::<i64>().ok())
            .map(Operand::Integer)
            .ok_or_else(|| invalid(format!("{} is not an integer", shown()))),
        FieldKind::Id => text()
            .and_then(|s| s.parse::<Uuid>().ok())
            .map(Operand::Id)
            .ok_or_else(|| invalid(format!("{} is not a UUID", shown()))),
        FieldKind::Geo => {
            let bad = || {
                invalid(format!(
                    "{} is not {{\"latitude\": -90..=90, \"longitude\": -180..=180, \"within_km\": 0..=20015}}",
                    shown()
                ))
            };
            let number = |name: &str| v.get(name).and_then(Value::as_f64).ok_or_else(bad);
            let (lat, lng, km) = (
                number("latitude")?,
                number("longitude")?,
                number("within_km")?,
            );
            let near = crate::address::Near::parse(&format!("{lat},{lng}"), &km.to_string())
                .map_err(|_| bad())?;
            Ok(Operand::Near(near))
        }
    }
}

/// A filter assembled from named parts (the customer list's query parameters): each part is
/// read by [`operand`] and the whole is checked against [`Filter::check_limits`] as it grows,
/// so an error names the parameter that breaks a rule or a limit.
#[derive(Debug, Clone, Default)]
pub struct FilterBuilder {
    filter: Filter,
}

impl FilterBuilder {
    /// ANDs `field op value` (a JSON value, or the parameter's text as a JSON string);
    /// `name` names it in errors.
    ///
    /// # Errors
    /// The operand's error, or the limit the filter would break, on `name`.
    pub fn condition(
        &mut self,
        name: &str,
        field: Field,
        op: Op,
        value: &Value,
    ) -> Result<(), FieldError> {
        let value = operand(field, field.kind(), op, value).map_err(|e| e.at(name))?;
        self.and(name, Filter::all(vec![Condition { field, op, value }]))
    }

    /// ANDs a whole filter (several groups make the cross product, see [`Filter::and`]);
    /// `name` names it in errors.
    ///
    /// # Errors
    /// The limit the filter would break, on `name` (the builder then stays as it was).
    pub fn and(&mut self, name: &str, filter: Filter) -> Result<(), FieldError> {
        let next = self.filter.clone().and(filter);
        next.check_limits(name)?;
        self.filter = next;
        Ok(())
    }

    /// The filter built.
    pub fn build(self) -> Filter {
        self.filter
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfm_segment_values_are_the_segments_api_names() {
        let names: Vec<&str> = crate::values::RfmSegment::ALL
            .iter()
            .map(|s| s.as_str())
            .collect();
        assert_eq!(RFM_SEGMENTS, names.as_slice());
    }

    fn fields_of(json: Value) -> Vec<(String, &'static str)> {
        Filter::parse(&json, "filter")
            .unwrap_err()
            .into_iter()
            .map(|e| (e.field, e.code))
            .collect()
    }

    #[test]
    fn address_fields_take_text_operators_and_the_radius_takes_within_only() {
        let f = Filter::parse(
            &json!({"all": [
                {"field": "address.city", "op": "eq", "value": "Bandung"},
                {"field": "address.near", "op": "within",
                 "value": {"latitude": -6.2088, "longitude": 106.8456, "within_km": 120}},
            ]}),
            "filter",
        )
        .unwrap();
        assert_eq!(f.groups[0][0].value, Operand::Text("bandung".into()));
        let Operand::Near(n) = f.groups[0][1].value else {
            panic!("{:?}", f.groups[0][1])
        };
        assert_eq!(n.radius_km, 120.0);
        assert!(f.groups[0].iter().all(|c| c.field.is_address()));
        for bad in [
            json!({"all": [{"field": "address.near", "op": "eq", "value": 1}]}),
            json!({"all": [{"field": "name", "op": "within", "value": 1}]}),
            json!({"all": [{"field": "address.near", "op": "within",
                            "value": {"latitude": 95, "longitude": 0, "within_km": 1}}]}),
            json!({"all": [{"field": "address.near", "op": "within",
                            "value": {"latitude": 0, "longitude": 0, "within_km": -1}}]}),
        ] {
            assert!(Filter::parse(&bad, "filter").is_err(), "{bad}");
        }
    }

    #[test]
    fn control_characters_in_operands_are_refused() {
        assert_eq!(
            fields_of(json!({"all": [
                {"field": "name", "op": "contains", "value": "a\u{0}"},
                {"field": "tags", "op": "in", "value": ["vip", "b\u{1}"]}
            ]})),
            vec![
                ("filter.all[0].value".to_owned(), "invalid_characters"),
                ("filter.all[1].value".to_owned(), "invalid_characters")
            ]
        );
        // Query parameters reach `operand` directly.
        assert!(
            operand(
                Field::Industry,
                Field::Industry.kind(),
                Op::Eq,
                &json!("re\u{0}tail")
            )
            .is_err()
        );
    }

    #[test]
    fn any_of_all_groups_parse() {
        let f = Filter::parse(
            &json!({"any": [
                {"all": [{"field": "email", "op": "ends_with", "value": "@ACME.id"}, {"field": "total_spent", "op": "gte", "value": "1000000"}]},
                {"all": [{"field": "tags", "op": "contains", "value": "VIP"}]}
            ]}),
            "filter",
        )
        .unwrap();
        assert_eq!(f.groups.len(), 2);
        assert_eq!(f.groups[0][0].value, Operand::Text("@acme.id".into()));
        assert_eq!(f.groups[0][1].value, Operand::Money(10_000_000_000));
        assert_eq!(f.groups[1][0].value, Operand::Text("vip".into()));
    }

    #[test]
    fn a_single_all_group_is_accepted() {
        let f = Filter::parse(
            &json!({"all": [{"field": "is_vip", "op": "eq", "value": true}]}),
            "filter",
        )
        .unwrap();
        assert_eq!(
            f.groups,
            vec![vec![Condition {
                field: Field::IsVip,
                op: Op::Eq,
                value: Operand::Bool(true)
            }]]
        );
    }

    #[test]
    fn errors_quote_the_offending_field_operator_or_value() {
        assert_eq!(
            fields_of(json!({"all": [{"field": "shoe_size", "op": "eq", "value": 1}]})),
            vec![("filter.all[0].field".into(), "unknown_field")]
        );
        assert_eq!(
            fields_of(json!({"all": [{"field": "name", "op": "like", "value": "a"}]})),
            vec![("filter.all[0].op".into(), "unknown_operator")]
        );
        assert_eq!(
            fields_of(json!({"all": [{"field": "is_vip", "op": "gt", "value": true}]})),
            vec![("filter.all[0].op".into(), "operator_not_allowed")]
        );
        assert_eq!(
            fields_of(
                json!({"any": [{"all": [{"field": "status", "op": "eq", "value": "gone"}]}]})
            ),
            vec![("filter.any[0].all[0].value".into(), "invalid_value")]
        );
        let err = Filter::parse(
            &json!({"all": [{"field": "shoe_size", "op": "eq"}]}),
            "filter",
        )
        .unwrap_err();
        assert!(err[0].message.contains("shoe_size"), "{}", err[0].message);
    }

    #[test]
    fn at_most_five_groups_of_ten_conditions() {
        let cond = json!({"field": "is_vip", "op": "eq", "value": true});
        let eleven = json!({"all": vec![cond.clone(); 11]});
        assert_eq!(fields_of(eleven), vec![("filter.all".into(), "too_many")]);
        let six = json!({"any": vec![json!({"all": [cond]}); 6]});
        assert_eq!(fields_of(six), vec![("filter.any".into(), "too_many")]);
    }

    fn limit_of(json: Value) -> (String, &'static str, Option<u64>) {
        let e = Filter::parse(&json, "filter").unwrap_err().remove(0);
        assert!(
            e.limit.is_none_or(|l| e.message.contains(&l.to_string())),
            "{e:?}"
        );
        (e.field, e.code, e.limit)
    }

    fn tags(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("t{i}")).collect()
    }

    #[test]
    fn every_limit_names_the_path_and_carries_its_value() {
        assert_eq!(
            limit_of(json!({"all": [{"field": "tags", "op": "contains_all", "value": tags(51)}]})),
            ("filter.all[0].value".into(), "too_many", Some(50))
        );
        assert_eq!(
            limit_of(json!({"all": [{"field": "tags", "op": "in", "value": tags(60)}]})),
            ("filter.all[0].value".into(), "too_many", Some(50))
        );
        let list: Vec<String> = (0..101).map(|i| i.to_string()).collect();
        assert_eq!(
            limit_of(json!({"all": [{"field": "industry", "op": "in", "value": list}]})),
            ("filter.all[0].value".into(), "too_many", Some(100))
        );
        assert_eq!(
            limit_of(
                json!({"all": [{"field": "tags", "op": "contains", "value": "x".repeat(51)}]})
            ),
            ("filter.all[0].value".into(), "too_long", Some(50))
        );
        assert_eq!(
            limit_of(json!({"all": [{"field": "name", "op": "eq", "value": "x".repeat(256)}]})),
            ("filter.all[0].value".into(), "too_long", Some(255))
        );
        assert_eq!(
            limit_of(json!({"all": [{"any": [{"all": []}]}]})),
            ("filter.all[0]".into(), "too_deep", Some(2))
        );
        assert_eq!(
            limit_of(json!({"any": [{"any": []}]})),
            ("filter.any[0]".into(), "too_deep", Some(2))
        );
        // 5 groups × 10 conditions × 100 values: each part within its limit, 5,000 in all.
        let list: Vec<String> = (0..100).map(|i| format!("co{i}")).collect();
        let group =
            json!({"all": vec![json!({"field": "company", "op": "in", "value": list}); 10]});
        assert_eq!(
            limit_of(json!({"any": vec![group; 5]})),
            ("filter".into(), "too_many", Some(MAX_OPERANDS as u64))
        );
        // At the limits it parses.
        let at = json!({"all": [{"field": "tags", "op": "contains_all", "value": tags(50)}]});
        assert!(Filter::parse(&at, "filter").is_ok());
    }

    #[test]
    fn tag_operands_are_trimmed_lower_cased_and_without_repeats() {
        let f = Filter::parse(
            &json!({"all": [{"field": "tags", "op": "contains_all", "value": [" VIP", "vip", "B2B "]}]}),
            "filter",
        )
        .unwrap();
        assert_eq!(
            f.groups[0][0].value,
            Operand::List(vec![
                Operand::Text("vip".into()),
                Operand::Text("b2b".into())
            ])
        );
        assert_eq!(
            fields_of(json!({"all": [{"field": "name", "op": "contains_all", "value": ["a"]}]})),
            vec![("filter.all[0].op".into(), "operator_not_allowed")]
        );
    }

    #[test]
    fn a_whole_query_is_held_to_the_limits_however_it_was_combined() {
        let group = |n: usize| {
            (0..n)
                .map(|_| Condition {
                    field: Field::IsVip,
                    op: Op::Eq,
                    value: Operand::Bool(true),
                })
                .collect::<Vec<_>>()
        };
        // A segment's five groups of ten, ANDed with a list's parameters' two groups of
        // eleven: 10 groups of 21 conditions.
        let segment = Filter {
            groups: vec![group(10); 5],
        };
        let params = Filter {
            groups: vec![group(11); 2],
        };
        let e = segment.and(params).check_limits("filter").unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.code, e.limit),
            ("filter", "too_many", Some(MAX_TOTAL_CONDITIONS as u64))
        );
        // A list built in code is checked too.
        let built = Filter::all(vec![Condition {
            field: Field::Tags,
            op: Op::In,
            value: Operand::List(tags(51).into_iter().map(Operand::Text).collect()),
        }]);
        assert_eq!(
            built.check_limits("filter").unwrap_err().limit,
            Some(MAX_TAG_VALUES as u64)
        );
    }

    #[test]
    fn a_builder_names_the_parameter_that_breaks_a_limit() {
        let mut b = FilterBuilder::default();
        let many = Value::Array(tags(400).into_iter().map(Value::String).collect());
        let e = b
            .condition("tags_all", Field::Tags, Op::ContainsAll, &many)
            .unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.code, e.limit),
            ("tags_all", "too_many", Some(50))
        );
        // Six lists of 100 values each fit one by one, not together.
        for (i, name) in ["industry", "company", "country", "language", "timezone"]
            .iter()
            .enumerate()
        {
            let field = Field::parse(name).unwrap().0;
            let values: Vec<Value> = (0..100).map(|j| json!(format!("{i}-{j}"))).collect();
            b.condition(name, field, Op::In, &Value::Array(values))
                .unwrap();
        }
        let values: Vec<Value> = (0..100).map(|j| json!(format!("x{j}"))).collect();
        let e = b
            .condition(
                "assigned_to",
                Field::AssignedTo,
                Op::In,
                &Value::Array(values),
            )
            .unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.limit),
            ("assigned_to", Some(MAX_OPERANDS as u64))
        );
        assert_eq!(b.build().operand_count(), 500);
    }

    #[test]
    fn lists_and_nulls_take_their_own_operands() {
        let f = Filter::parse(
            &json!({"all": [
                {"field": "stage", "op": "in", "value": ["lead", "customer"]},
                {"field": "last_order_at", "op": "is_null"}
            ]}),
            "filter",
        )
        .unwrap();
        assert_eq!(
            f.groups[0][0].value,
            Operand::List(vec![
                Operand::Text("lead".into()),
                Operand::Text("customer".into())
            ])
        );
        assert_eq!(f.groups[0][1].value, Operand::None);
        assert_eq!(
            fields_of(json!({"all": [{"field": "stage", "op": "in", "value": "lead"}]})),
            vec![("filter.all[0].value".into(), "invalid_value")]
        );
    }

    #[test]
    fn and_distributes_over_groups() {
        let a = Filter::parse(&json!({"any": [{"all": [{"field": "is_vip", "op": "eq", "value": true}]}, {"all": [{"field": "status", "op": "eq", "value": "active"}]}]}), "f").unwrap();
        let b = Filter::all(vec![Condition {
            field: Field::Stage,
            op: Op::Eq,
            value: Operand::Text("lead".into()),
        }]);
        let both = a.and(b);
        assert_eq!(both.groups.len(), 2);
        assert!(
            both.groups
                .iter()
                .all(|g| g.len() == 2 && g[1].field == Field::Stage)
        );
    }

    #[test]
    fn a_follow_up_is_due_up_to_now_and_not_due_later_or_unplanned() {
        use chrono::TimeZone;
        let now = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
        let c = |op, value| Condition {
            field: Field::NextFollowUpAt,
            op,
            value,
        };
        assert_eq!(
            Filter::follow_up_due(true, now).groups,
            vec![vec![c(Op::Lte, Operand::Instant(now))]]
        );
        assert_eq!(
            Filter::follow_up_due(false, now).groups,
            vec![
                vec![c(Op::Gt, Operand::Instant(now))],
                vec![c(Op::IsNull, Operand::None)]
            ]
        );
    }
}
