//! The customer filter language: one parser for the JSON filters that searches, saved views
//! and auto-segments store, and for the list's query parameters.
//!
//! A filter is `{"any": [{"all": [{"field": F, "op": O, "value": V}, ...]}, ...]}`: the customer
//! matches when every condition of at least one group holds (OR of ANDs); at most 5 groups of 10
//! conditions. `{"all": [...]}` alone is one group. Storage adapters compile the parsed
//! [`Filter`] to SQL; this module decides what is valid.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::Value;
use uuid::Uuid;

use crate::error::FieldError;
use crate::values::Amount;
use crate::values::{TextKind, check_text, has_forbidden_control};

/// Most groups in a filter.
pub const MAX_GROUPS: usize = 5;
/// Most conditions in a group.
pub const MAX_CONDITIONS: usize = 10;
/// Most values of an `in` / `not_in` list.
pub const MAX_LIST: usize = 100;

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
    ];

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
        /// Text starts with the value (case-insensitive).
        StartsWith => "starts_with",
        /// Text ends with the value (case-insensitive).
        EndsWith => "ends_with",
        /// Has no value (tags: has no tag).
        IsNull => "is_null",
        /// Has a value (tags: has a tag).
        IsNotNull => "is_not_null",
    }
);

impl Op {
    fn allowed_for(self, kind: FieldKind) -> bool {
        use Op::*;
        match kind {
            FieldKind::Text => !matches!(self, Gt | Gte | Lt | Lte),
            FieldKind::Enum(_) | FieldKind::Id => {
                matches!(self, Eq | Neq | In | NotIn | IsNull | IsNotNull)
            }
            FieldKind::Bool => matches!(self, Eq | Neq),
            FieldKind::Instant | FieldKind::Date | FieldKind::Money | FieldKind::Integer => {
                !matches!(self, Contains | StartsWith | EndsWith)
            }
            FieldKind::Tags => matches!(self, Contains | In | NotIn | IsNull | IsNotNull),
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
    /// A list of operands (`in`, `not_in`).
    List(Vec<Operand>),
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
            err(
                &mut errors,
                format!("{path}.any"),
                "too_many",
                format!("at most {MAX_GROUPS} groups"),
            );
        }
        let mut groups = Vec::new();
        for (gpath, g) in raw_groups {
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
                err(
                    &mut errors,
                    format!("{gpath}.all"),
                    "too_many",
                    format!("at most {MAX_CONDITIONS} conditions in a group"),
                );
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
        if errors.is_empty() {
            Ok(Self { groups })
        } else {
            Err(errors)
        }
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
    let operand = operand(field, kind, op, value)
        .map_err(|m| FieldError::new(format!("{at}.value"), "invalid_value", m))?;
    Ok(Condition {
        field,
        op,
        value: operand,
    })
}

/// Reads a value for `field` and `op` from JSON; also used for query parameters (as strings).
///
/// # Errors
/// A message quoting the value.
pub fn operand(field: Field, kind: FieldKind, op: Op, value: &Value) -> Result<Operand, String> {
    match op {
        Op::IsNull | Op::IsNotNull => Ok(Operand::None),
        Op::In | Op::NotIn => {
            let items = value
                .as_array()
                .ok_or_else(|| format!("`{}` takes an array", op.as_str()))?;
            if items.is_empty() || items.len() > MAX_LIST {
                return Err(format!("1..={MAX_LIST} values"));
            }
            let one = if kind == FieldKind::Tags {
                FieldKind::Text
            } else {
                kind
            };
            items
                .iter()
                .map(|v| scalar(field, one, v))
                .collect::<Result<_, _>>()
                .map(Operand::List)
        }
        _ if kind == FieldKind::Tags => scalar(field, FieldKind::Text, value),
        _ => scalar(field, kind, value),
    }
}

fn scalar(field: Field, kind: FieldKind, v: &Value) -> Result<Operand, String> {
    let text = || match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    let shown = v.to_string();
    match kind {
        FieldKind::Text => {
            let s = text()
                .filter(|s| !s.is_empty() && s.chars().count() <= 255)
                .ok_or(format!("{shown} is not a text of 1..=255 characters"))?;
            if has_forbidden_control(&s, TextKind::SingleLine) {
                return Err("must not contain NUL or other control characters".to_owned());
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
                Err(format!("{shown} is not one of {}", words.join(", ")))
            }
        }
        FieldKind::Bool => match v {
            Value::Bool(b) => Ok(Operand::Bool(*b)),
            Value::String(s) if s == "true" || s == "false" => Ok(Operand::Bool(s == "true")),
            _ => Err(format!("{shown} is not true or false")),
        },
        FieldKind::Instant => text()
            .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
            .map(|t| Operand::Instant(crate::ports::truncate_to_micros(t.with_timezone(&Utc))))
            .ok_or(format!(
                "{shown} is not an RFC 3339 time such as 2026-01-31T00:00:00Z"
            )),
        FieldKind::Date => text()
            .and_then(|s| NaiveDate::parse_from_str(&s, "%Y-%m-%d").ok())
            .map(Operand::Date)
            .ok_or(format!("{shown} is not a date YYYY-MM-DD")),
        FieldKind::Money => text()
            .and_then(|s| s.parse::<Decimal>().ok())
            .and_then(|d| Amount::new(d).ok())
            .map(|a| Operand::Money(a.to_scaled()))
            .ok_or(format!(
                "{shown} is not an amount ≥ 0 with at most 4 decimals"
            )),
        FieldKind::Integer => text()
            .and_then(|s| s.parse::<i64>().ok())
            .map(Operand::Integer)
            .ok_or(format!("{shown} is not an integer")),
        FieldKind::Id => text()
            .and_then(|s| s.parse::<Uuid>().ok())
            .map(Operand::Id)
            .ok_or(format!("{shown} is not a UUID")),
        FieldKind::Tags => Err("tags take text".into()),
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
