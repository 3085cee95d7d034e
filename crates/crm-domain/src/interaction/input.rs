//! Raw interaction and follow-up input and the rules that turn it into details.

use chrono::{DateTime, Datelike, Duration, Utc};
use uuid::Uuid;

use super::model::{
    Direction, FollowUpDetails, FollowUpStatus, InteractionDetails, InteractionType, Outcome,
    Priority,
};
use crate::error::FieldError;
use crate::ids::{ContactId, UserId};
use crate::ports::truncate_to_micros;
use crate::values::{TextKind, check_text};

/// Longest subject or title, in characters.
pub const MAX_SUBJECT_CHARS: usize = 255;
/// Largest interaction body, in bytes of UTF-8 (64 KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Longest follow-up notes, in characters.
pub const MAX_FOLLOW_UP_NOTES_CHARS: usize = crate::customer::MAX_NOTES_CHARS;
/// Longest interaction, in seconds (one day).
pub const MAX_DURATION_SECONDS: i64 = 86_400;
/// How far after now an interaction's `occurred_at` may be (clock skew), in minutes.
pub const MAX_FUTURE_MINUTES: i64 = 5;

/// An interaction as submitted (create, or the result of applying a `PATCH`), before any rule
/// is checked. Empty strings count as absent; an absent `occurred_at` is now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[allow(missing_docs)] // each field is documented on InteractionDetails
pub struct InteractionInput {
    pub kind: Option<String>,
    pub direction: Option<String>,
    pub subject: Option<String>,
    pub body: Option<String>,
    pub outcome: Option<String>,
    pub duration_seconds: Option<i64>,
    pub occurred_at: Option<DateTime<Utc>>,
    pub contact_id: Option<Uuid>,
    /// A follow-up created with the interaction, in the same transaction (create only).
    pub follow_up: Option<FollowUpInput>,
}

/// A follow-up as submitted, before any rule is checked. Absent `assignee` is the caller,
/// absent `priority` is `normal`; `status` is only read by a `PATCH` (a new follow-up is open).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[allow(missing_docs)] // each field is documented on FollowUpDetails
pub struct FollowUpInput {
    pub title: Option<String>,
    pub notes: Option<String>,
    pub due_at: Option<DateTime<Utc>>,
    pub assignee: Option<String>,
    pub priority: Option<String>,
    pub status: Option<String>,
}

/// Collects field errors while reading an input.
struct Checker<'a> {
    prefix: &'a str,
    errors: Vec<FieldError>,
}

impl Checker<'_> {
    fn field(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// A trimmed text, `None` when absent or empty; checks characters and the length
    /// (`max` characters, or bytes when `bytes`).
    fn text(
        &mut self,
        name: &str,
        value: Option<String>,
        max: usize,
        bytes: bool,
        kind: TextKind,
    ) -> Option<String> {
        let v = value?.trim().to_owned();
        if v.is_empty() {
            return None;
        }
        let field = self.field(name);
        if let Err(e) = check_text(&field, &v, kind) {
            self.errors.push(e);
            return None;
        }
        let (len, unit) = if bytes {
            (v.len(), "bytes")
        } else {
            (v.chars().count(), "characters")
        };
        if len > max {
            self.errors.push(
                FieldError::new(field, "too_long", format!("must be at most {max} {unit}"))
                    .with_limit(max),
            );
            return None;
        }
        Some(v)
    }

    /// One of a closed set of values; the error lists the allowed ones.
    fn choice<T: std::str::FromStr<Err = String>>(
        &mut self,
        name: &str,
        value: Option<String>,
    ) -> Option<T> {
        let v = self.text(name, value, 64, false, TextKind::SingleLine)?;
        match v.parse::<T>() {
            Ok(t) => Some(t),
            Err(message) => {
                self.errors
                    .push(FieldError::new(self.field(name), "invalid_value", message));
                None
            }
        }
    }

    fn required(&mut self, name: &str, message: &str) {
        let field = self.field(name);
        if !self.errors.iter().any(|e| e.field == field) {
            self.errors
                .push(FieldError::new(field, "required", message.to_owned()));
        }
    }

    /// A stored instant: microseconds, years 1970..=9999 (both backends sort them alike).
    fn instant(&mut self, name: &str, value: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if !(1970..=9999).contains(&value.year()) {
            self.errors.push(FieldError::new(
                self.field(name),
                "out_of_range",
                "must be between 1970-01-01 and 9999-12-31",
            ));
            return None;
        }
        Some(truncate_to_micros(value))
    }
}

impl InteractionInput {
    /// Checks every rule of the input but the contact's owner (the service checks it in the
    /// write's transaction): `type` required, enums closed, `subject` ≤ 255 characters, `body`
    /// ≤ 64 KiB, `duration_seconds` 0..=86,400, `occurred_at` (default `now`) at most 5
    /// minutes after `now`. Returns the details and the nested follow-up, unchecked.
    ///
    /// # Errors
    /// Every broken rule, one [`FieldError`] each: `required`, `invalid_value` (listing the
    /// allowed values), `too_long` (with the limit), `invalid_characters`, `out_of_range`
    /// (duration, or a year outside 1970..=9999), `in_future`.
    pub fn validate(
        self,
        now: DateTime<Utc>,
    ) -> Result<(InteractionDetails, Option<FollowUpInput>), Vec<FieldError>> {
        let mut c = Checker {
            prefix: "",
            errors: Vec::new(),
        };
        let kind = c.choice::<InteractionType>("type", self.kind);
        if kind.is_none() {
            c.required("type", "an interaction needs a type");
        }
        let direction = c.choice::<Direction>("direction", self.direction);
        let outcome = c.choice::<Outcome>("outcome", self.outcome);
        let subject = c.text(
            "subject",
            self.subject,
            MAX_SUBJECT_CHARS,
            false,
            TextKind::SingleLine,
        );
        let body = c.text("body", self.body, MAX_BODY_BYTES, true, TextKind::MultiLine);
        let duration_seconds = match self.duration_seconds {
            None => None,
            Some(d) if (0..=MAX_DURATION_SECONDS).contains(&d) => i32::try_from(d).ok(),
            Some(_) => {
                c.errors.push(FieldError::new(
                    "duration_seconds",
                    "out_of_range",
                    format!("must be between 0 and {MAX_DURATION_SECONDS} seconds"),
                ));
                None
            }
        };
        let occurred_at = c.instant("occurred_at", self.occurred_at.unwrap_or(now));
        if let Some(at) = occurred_at
            && at > now + Duration::minutes(MAX_FUTURE_MINUTES)
        {
            c.errors.push(FieldError::new(
                "occurred_at",
                "in_future",
                format!("must not be more than {MAX_FUTURE_MINUTES} minutes in the future"),
            ));
        }
        match (kind, occurred_at) {
            (Some(kind), Some(occurred_at)) if c.errors.is_empty() => Ok((
                InteractionDetails {
                    kind,
                    direction,
                    subject,
                    body,
                    outcome,
                    duration_seconds,
                    occurred_at,
                    contact_id: self.contact_id.map(ContactId),
                },
                self.follow_up,
            )),
            _ => Err(c.errors),
        }
    }
}

impl FollowUpInput {
    /// Checks every rule of the input; field names in errors start with `prefix` (`""`, or
    /// `follow_up.` inside an interaction): `title` required (≤ 255 characters), `notes` ≤
    /// 10,000 characters, `due_at` required (years 1970..=9999), `assignee` a user id (≤ 255
    /// characters, default `caller`), `priority` and `status` closed (default `normal`;
    /// `status` is returned as given).
    ///
    /// # Errors
    /// Every broken rule, one [`FieldError`] each: `required`, `invalid_value` (listing the
    /// allowed values), `too_long`, `invalid_characters`, `out_of_range`.
    pub fn validate(
        self,
        prefix: &str,
        caller: &UserId,
    ) -> Result<(FollowUpDetails, Option<FollowUpStatus>), Vec<FieldError>> {
        let mut c = Checker {
            prefix,
            errors: Vec::new(),
        };
        let title = c.text(
            "title",
            self.title,
            MAX_SUBJECT_CHARS,
            false,
            TextKind::SingleLine,
        );
        if title.is_none() {
            c.required("title", "a follow-up needs a title");
        }
        let notes = c.text(
            "notes",
            self.notes,
            MAX_FOLLOW_UP_NOTES_CHARS,
            false,
            TextKind::MultiLine,
        );
        let due_at = self.due_at.and_then(|d| c.instant("due_at", d));
        if due_at.is_none() {
            c.required("due_at", "a follow-up needs a due time (RFC 3339)");
        }
        let assignee = match c.text("assignee", self.assignee, 255, false, TextKind::SingleLine) {
            Some(a) => UserId::parse(&a),
            None => Some(caller.clone()),
        };
        let priority = c.choice::<Priority>("priority", self.priority);
        let status = c.choice::<FollowUpStatus>("status", self.status);
        match (title, due_at, assignee) {
            (Some(title), Some(due_at), Some(assignee)) if c.errors.is_empty() => Ok((
                FollowUpDetails {
                    title,
                    notes,
                    due_at,
                    assignee,
                    priority: priority.unwrap_or(Priority::Normal),
                },
                status,
            )),
            _ => Err(c.errors),
        }
    }
}
