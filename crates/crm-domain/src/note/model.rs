//! The note record, its input rules and its list queries.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::error::NoteError;
use crate::access::{Actor, Permission};
use crate::error::FieldError;
use crate::ids::{CustomerId, TenantId, UserId};
use crate::values::{TextKind, check_text};

/// Longest body: 64 KiB of UTF-8 (65,536 bytes).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// How many characters of the body `note.added` and `note.deleted` events carry.
pub const NOTE_PREVIEW_CHARS: usize = 200;

/// The rule of who reads internal notes (`is_internal`): the tenant's staff, that is every
/// caller holding `customers.view` (the note list and the note itself answer them whole).
/// Internal notes never reach anyone else: not the customer list export, not a webhook (an
/// external system, see `crate::webhook::Subscription::receives`), and not the customer
/// portal to come, whose callers (a token with `customer_id`) this function must refuse once
/// [`Actor`] carries them.
pub fn may_read_internal(actor: &Actor) -> bool {
    actor.can(Permission::CustomersView)
}

/// A note's id (UUID v7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NoteId(pub Uuid);

impl fmt::Display for NoteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

string_enum!(
    /// What a note is.
    NoteCategory {
        /// Anything (the default).
        General => "general",
        /// A complaint of the customer: it has a [`Resolution`].
        Complaint => "complaint",
        /// Feedback of the customer.
        Feedback => "feedback",
        /// Minutes of a meeting.
        MeetingMinutes => "meeting_minutes",
    }
);

string_enum!(
    /// Where a complaint stands.
    Resolution {
        /// Not worked on yet (a new complaint's default).
        Open => "open",
        /// Being worked on.
        InProgress => "in_progress",
        /// Resolved (`resolved_at` says when).
        Resolved => "resolved",
    }
);

/// The editable fields of a note, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteFields {
    /// Markdown text, 1..=[`MAX_BODY_BYTES`] bytes, not blank, no control characters other
    /// than tab and line breaks; stored as given (not trimmed).
    pub body: String,
    /// The category.
    pub category: NoteCategory,
    /// A complaint's resolution (`Some` exactly when the category is `complaint`).
    pub resolution: Option<Resolution>,
    /// Staff only: left out of the customer list export and of anything a portal user sees.
    pub is_internal: bool,
    /// Pinned notes come first in the customer's list.
    pub pinned: bool,
}

/// The editable fields as a client sends them (a `POST` body, or the result of a `PATCH` merge
/// patch on the stored note). Absent: `category` `general`, `resolution` `open` for a
/// complaint, `is_internal` and `pinned` false.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoteInput {
    /// Markdown text. Required.
    pub body: Option<String>,
    /// `general`, `complaint`, `feedback` or `meeting_minutes`.
    pub category: Option<String>,
    /// `open`, `in_progress` or `resolved`; complaints only.
    pub resolution: Option<String>,
    /// Staff only.
    pub is_internal: Option<bool>,
    /// Pinned first.
    pub pinned: Option<bool>,
}

fn one_of<T: std::str::FromStr + Copy>(
    field: &str,
    raw: &str,
    all: &[T],
    name: fn(T) -> &'static str,
) -> Result<T, FieldError> {
    raw.parse::<T>().map_err(|_| {
        let mut message: String = raw.chars().take(64).collect();
        message = format!(
            "unknown value `{message}`; expected one of {}",
            all.iter().map(|v| name(*v)).collect::<Vec<_>>().join(", ")
        );
        FieldError::new(field, "invalid_value", message)
    })
}

impl NoteInput {
    /// Checks every rule and returns the fields.
    ///
    /// # Errors
    /// Every broken rule, each naming its field: `body` (`required`, `too_long` with the limit
    /// 65536, `invalid_characters`), `category` / `resolution` (`invalid_value`), `resolution`
    /// (`not_a_complaint`) on a note that is not a complaint.
    pub fn validate(self) -> Result<NoteFields, Vec<FieldError>> {
        let mut errors = Vec::new();
        let body = match self.body {
            None => {
                errors.extend(NoteError::BodyRequired.field_error());
                String::new()
            }
            Some(b) if b.trim().is_empty() => {
                errors.extend(NoteError::BodyRequired.field_error());
                String::new()
            }
            Some(b) if b.len() > MAX_BODY_BYTES => {
                errors.extend(
                    NoteError::BodyTooLong {
                        limit: MAX_BODY_BYTES,
                    }
                    .field_error(),
                );
                String::new()
            }
            Some(b) => {
                if let Err(e) = check_text("body", &b, TextKind::MultiLine) {
                    errors.push(e);
                }
                b
            }
        };
        let category = match self.category.as_deref() {
            None => Some(NoteCategory::General),
            Some(raw) => one_of("category", raw, NoteCategory::ALL, NoteCategory::as_str)
                .map_err(|e| errors.push(e))
                .ok(),
        };
        let resolution = match self.resolution.as_deref() {
            None => None,
            Some(raw) => one_of("resolution", raw, Resolution::ALL, Resolution::as_str)
                .map_err(|e| errors.push(e))
                .ok(),
        };
        let resolution = match (category, resolution) {
            (Some(NoteCategory::Complaint), r) => Some(r.unwrap_or(Resolution::Open)),
            (Some(_), Some(_)) => {
                errors.extend(NoteError::ResolutionWithoutComplaint.field_error());
                None
            }
            _ => None,
        };
        match category {
            Some(category) if errors.is_empty() => Ok(NoteFields {
                body,
                category,
                resolution,
                is_internal: self.is_internal.unwrap_or(false),
                pinned: self.pinned.unwrap_or(false),
            }),
            _ => Err(errors),
        }
    }
}

/// A note on a customer, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// Id (UUID v7).
    pub id: NoteId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// The customer it is about.
    pub customer_id: CustomerId,
    /// Editable fields.
    pub fields: NoteFields,
    /// When the complaint became `resolved` (cleared when it is reopened); `None` for other
    /// notes.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Who wrote it (the token's `sub`, set by the server): with `customers.manage`, the only
    /// one who may edit or delete it.
    pub author: UserId,
    /// Creation time (UTC, microseconds).
    pub created_at: DateTime<Utc>,
    /// Last change of the body (`None` while never edited).
    pub edited_at: Option<DateTime<Utc>>,
    /// Who changed it last.
    pub updated_by: UserId,
    /// Last change of any field.
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency version: 1 on creation, +1 on every change.
    pub version: i64,
}

impl Note {
    /// The note's fields as the API shows them, the shape whose differences are a
    /// `note.updated` event's `changes` (`body` in full).
    pub fn snapshot(&self) -> Value {
        let f = &self.fields;
        json!({
            "body": f.body,
            "category": f.category.as_str(),
            "resolution": f.resolution.map(Resolution::as_str),
            "resolved_at": self.resolved_at,
            "is_internal": f.is_internal,
            "pinned": f.pinned,
            "edited_at": self.edited_at,
        })
    }
}

/// A position in a customer's note list (pinned first, then newest): the last row's
/// `pinned`, `created_at` and id; the next page starts after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotePosition {
    /// Whether the last row was pinned.
    pub pinned: bool,
    /// Its creation time.
    pub created_at: DateTime<Utc>,
    /// Its id.
    pub id: NoteId,
}

/// A position in the tenant-wide note list (newest first): the last row's `created_at` and id.
pub type TenantNotePosition = (DateTime<Utc>, NoteId);

/// What the tenant-wide note list selects (every filter optional, all given ones must match),
/// newest first, `limit` rows after `after`. Only notes of live customers inside the caller's
/// visibility are ever listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteFilter {
    /// Only this category.
    pub category: Option<NoteCategory>,
    /// Only complaints in this state.
    pub resolution: Option<Resolution>,
    /// Only notes written by this user (`sub`).
    pub author: Option<UserId>,
    /// Only this customer's notes.
    pub customer_id: Option<CustomerId>,
    /// Rows per page, 1..=200.
    pub limit: u32,
    /// Start after this row.
    pub after: Option<TenantNotePosition>,
}

impl Default for NoteFilter {
    fn default() -> Self {
        Self {
            category: None,
            resolution: None,
            author: None,
            customer_id: None,
            limit: crate::customer::DEFAULT_PAGE_SIZE,
            after: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(body: &str) -> NoteInput {
        NoteInput {
            body: Some(body.into()),
            ..Default::default()
        }
    }

    fn fields_of(errors: Vec<FieldError>) -> Vec<(String, &'static str)> {
        errors.into_iter().map(|e| (e.field, e.code)).collect()
    }

    #[test]
    fn defaults_are_a_general_public_unpinned_note() {
        let f = input("Called about **invoice**").validate().unwrap();
        assert_eq!(f.category, NoteCategory::General);
        assert_eq!(f.resolution, None);
        assert!(!f.is_internal && !f.pinned);
    }

    #[test]
    fn a_complaint_starts_open_and_keeps_a_given_resolution() {
        let mut i = input("Late delivery");
        i.category = Some("complaint".into());
        assert_eq!(
            i.clone().validate().unwrap().resolution,
            Some(Resolution::Open)
        );
        i.resolution = Some("in_progress".into());
        assert_eq!(
            i.validate().unwrap().resolution,
            Some(Resolution::InProgress)
        );
    }

    #[test]
    fn a_resolution_on_another_category_names_resolution() {
        let mut i = input("Nice shop");
        i.category = Some("feedback".into());
        i.resolution = Some("open".into());
        assert_eq!(
            fields_of(i.validate().unwrap_err()),
            vec![("resolution".into(), "not_a_complaint")]
        );
    }

    #[test]
    fn body_is_required_bounded_and_clean() {
        for bad in [None, Some(" \n\t".to_owned())] {
            let e = NoteInput {
                body: bad,
                ..Default::default()
            }
            .validate()
            .unwrap_err();
            assert_eq!(fields_of(e), vec![("body".into(), "required")]);
        }
        assert!(input(&"a".repeat(MAX_BODY_BYTES)).validate().is_ok());
        let e = input(&"a".repeat(MAX_BODY_BYTES + 1))
            .validate()
            .unwrap_err();
        assert_eq!(e[0].limit, Some(65536));
        assert_eq!(fields_of(e), vec![("body".into(), "too_long")]);
        // Multi-byte characters count as their UTF-8 bytes.
        assert!(
            input(&"é".repeat(MAX_BODY_BYTES / 2 + 1))
                .validate()
                .is_err()
        );
        assert_eq!(
            fields_of(input("a\u{0}b").validate().unwrap_err()),
            vec![("body".into(), "invalid_characters")]
        );
        assert!(input("line\n\tindented\r\n").validate().is_ok());
    }

    #[test]
    fn unknown_category_and_resolution_are_named() {
        let e = NoteInput {
            body: Some("x".into()),
            category: Some("rant".into()),
            resolution: Some("maybe".into()),
            ..Default::default()
        }
        .validate()
        .unwrap_err();
        assert_eq!(
            fields_of(e),
            vec![
                ("category".into(), "invalid_value"),
                ("resolution".into(), "invalid_value")
            ]
        );
    }
}
