//! The segment model: [`Segment`], its type and rule, and [`SegmentInput`] with its validation.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::analytics::rfm::RfmSegment;
use crate::customer::filter::Filter;
use crate::error::{DomainError, FieldError};
use crate::ids::{SegmentId, TenantId, UserId};
use crate::values::{TextKind, check_text};

/// Most customers added or removed in one request.
pub const MAX_MEMBER_CHANGE: usize = 1_000;

string_enum!(
    /// How a segment's members are decided.
    SegmentType {
        /// Explicit members.
        Manual => "manual",
        /// A filter-language rule.
        Auto => "auto",
        /// RFM segments.
        Rfm => "rfm",
    }
);

/// The rule of a segment.
#[derive(Debug, Clone, PartialEq)]
pub enum SegmentRule {
    /// Explicit members.
    Manual,
    /// A filter in the filter language (as stored JSON).
    Auto(Value),
    /// One or more RFM segments.
    Rfm(Vec<RfmSegment>),
}

/// A stored segment.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Id.
    pub id: SegmentId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// 1..=100 characters, unique in the tenant.
    pub name: String,
    /// Free text, at most 1,000 characters.
    pub description: Option<String>,
    /// The rule.
    pub rule: SegmentRule,
    /// Creator.
    pub created_by: Option<UserId>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl Segment {
    /// Its type.
    pub fn segment_type(&self) -> SegmentType {
        match self.rule {
            SegmentRule::Manual => SegmentType::Manual,
            SegmentRule::Auto(_) => SegmentType::Auto,
            SegmentRule::Rfm(_) => SegmentType::Rfm,
        }
    }

    /// The customers of the segment as a filter.
    ///
    /// # Errors
    /// A stored rule that no longer parses (reported as a repository error).
    pub fn filter(&self) -> Result<Filter, DomainError> {
        let json = match &self.rule {
            SegmentRule::Manual => {
                json!({"all": [{"field": "segment", "op": "eq", "value": self.id.0.to_string()}]})
            }
            SegmentRule::Auto(rule) => rule.clone(),
            SegmentRule::Rfm(segments) => json!({"all": [{"field": "rfm_segment", "op": "in",
                "value": segments.iter().map(|s| s.as_str()).collect::<Vec<_>>()}]}),
        };
        Filter::parse(&json, "filter").map_err(|_| {
            DomainError::Internal(format!("segment {}: stored rule is invalid", self.id))
        })
    }
}

/// A segment as submitted.
#[derive(Debug, Clone, Default)]
pub struct SegmentInput {
    /// Name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// `manual`, `auto` or `rfm`.
    pub segment_type: Option<String>,
    /// The rule of an `auto` segment.
    pub filter: Option<Value>,
    /// The RFM segments of an `rfm` segment.
    pub rfm_segments: Option<Vec<String>>,
}

pub(super) fn validate(
    input: SegmentInput,
) -> Result<(String, Option<String>, SegmentRule), DomainError> {
    let mut errors = Vec::new();
    let name = input
        .name
        .as_deref()
        .map(str::trim)
        .unwrap_or("")
        .to_owned();
    if name.is_empty() || name.chars().count() > 100 {
        errors.push(FieldError::new(
            "name",
            "required",
            "name is 1..=100 characters",
        ));
    } else if let Err(e) = check_text("name", &name, TextKind::SingleLine) {
        errors.push(e);
    }
    let description = input.description.filter(|d| !d.trim().is_empty());
    if let Some(Err(e)) = description
        .as_deref()
        .map(|d| check_text("description", d, TextKind::MultiLine))
    {
        errors.push(e);
    }
    if description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 1_000)
    {
        errors.push(FieldError::new(
            "description",
            "too_long",
            "description is at most 1,000 characters",
        ));
    }
    let kind = match input.segment_type.as_deref().map(str::parse::<SegmentType>) {
        Some(Ok(k)) => Some(k),
        Some(Err(e)) => {
            errors.push(FieldError::new("segment_type", "invalid", e));
            None
        }
        None => {
            errors.push(FieldError::new(
                "segment_type",
                "required",
                "segment_type is manual, auto or rfm",
            ));
            None
        }
    };
    let rule = match kind {
        Some(SegmentType::Manual) => Some(SegmentRule::Manual),
        Some(SegmentType::Auto) => match &input.filter {
            None => {
                errors.push(FieldError::new(
                    "filter",
                    "required",
                    "an auto segment needs a filter",
                ));
                None
            }
            Some(f) => match Filter::parse(f, "filter") {
                Ok(_) => Some(SegmentRule::Auto(f.clone())),
                Err(e) => {
                    errors.extend(e);
                    None
                }
            },
        },
        Some(SegmentType::Rfm) => {
            let names = input.rfm_segments.clone().unwrap_or_default();
            let mut segments = Vec::new();
            for (i, n) in names.iter().enumerate() {
                match n.parse::<RfmSegment>() {
                    Ok(s) if !segments.contains(&s) => segments.push(s),
                    Ok(_) => {}
                    Err(e) => {
                        errors.push(FieldError::new(format!("rfm_segments[{i}]"), "invalid", e))
                    }
                }
            }
            if names.is_empty() {
                errors.push(FieldError::new(
                    "rfm_segments",
                    "required",
                    "an rfm segment needs one or more RFM segments",
                ));
            }
            Some(SegmentRule::Rfm(segments))
        }
        None => None,
    };
    if kind != Some(SegmentType::Auto) && input.filter.is_some() {
        errors.push(FieldError::new(
            "filter",
            "not_allowed",
            "only auto segments have a filter",
        ));
    }
    if kind != Some(SegmentType::Rfm) && input.rfm_segments.is_some() {
        errors.push(FieldError::new(
            "rfm_segments",
            "not_allowed",
            "only rfm segments have rfm_segments",
        ));
    }
    match rule {
        Some(rule) if errors.is_empty() => Ok((name, description, rule)),
        _ => Err(DomainError::Validation(errors)),
    }
}
