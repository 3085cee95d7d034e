//! Interactions and follow-ups as stored, their closed value sets, and the list queries.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::ids::{ContactId, CustomerId, FollowUpId, InteractionId, TenantId, UserId};

string_enum!(
    /// How the tenant and the customer were in touch.
    InteractionType {
        /// A phone call.
        Call => "call",
        /// An e-mail.
        Email => "email",
        /// A meeting.
        Meeting => "meeting",
        /// A visit (on site).
        Visit => "visit",
        /// A chat message (WhatsApp, ...).
        Message => "message",
        /// An SMS.
        Sms => "sms",
        /// Anything else.
        Other => "other",
    }
);

string_enum!(
    /// Who started the interaction.
    Direction {
        /// The customer reached the tenant.
        Inbound => "inbound",
        /// The tenant reached the customer.
        Outbound => "outbound",
    }
);

string_enum!(
    /// How an interaction ended.
    Outcome {
        /// It reached its purpose.
        Successful => "successful",
        /// Nobody answered.
        NoAnswer => "no_answer",
        /// A voicemail was left.
        Voicemail => "voicemail",
        /// Another step is needed.
        FollowUpNeeded => "follow_up_needed",
        /// The customer is not interested.
        NotInterested => "not_interested",
        /// Anything else.
        Other => "other",
    }
);

string_enum!(
    /// How urgent a follow-up is.
    Priority {
        /// Low.
        Low => "low",
        /// Normal (the default).
        Normal => "normal",
        /// High.
        High => "high",
        /// Urgent.
        Urgent => "urgent",
    }
);

string_enum!(
    /// Where a follow-up stands. Transitions: open → done, open → cancelled, done or
    /// cancelled → open (a reopen); see [`FollowUpStatus::can_become`].
    FollowUpStatus {
        /// To do.
        Open => "open",
        /// Done (`completed_at`, `completed_by` set).
        Done => "done",
        /// Dropped.
        Cancelled => "cancelled",
    }
);

impl FollowUpStatus {
    /// Whether a follow-up in this status may move to `to` (staying is always allowed).
    pub fn can_become(self, to: FollowUpStatus) -> bool {
        use FollowUpStatus::{Cancelled, Done, Open};
        matches!(
            (self, to),
            (Open, Open | Done | Cancelled) | (Done, Done | Open) | (Cancelled, Cancelled | Open)
        )
    }
}

/// The editable fields of an interaction, validated (see [`super::InteractionInput`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InteractionDetails {
    /// Kind of contact.
    pub kind: InteractionType,
    /// Who started it.
    pub direction: Option<Direction>,
    /// One line, up to [`super::MAX_SUBJECT_CHARS`] characters.
    pub subject: Option<String>,
    /// Text, several lines, up to [`super::MAX_BODY_BYTES`] bytes of UTF-8.
    pub body: Option<String>,
    /// How it ended.
    pub outcome: Option<Outcome>,
    /// Length in seconds, 0..=86,400.
    pub duration_seconds: Option<i32>,
    /// When it happened (UTC, microseconds); at most 5 minutes after the write.
    pub occurred_at: DateTime<Utc>,
    /// The customer's contact person it was with (a contact of the same customer).
    pub contact_id: Option<ContactId>,
}

/// A logged interaction (call, e-mail, meeting, ...) with a customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interaction {
    /// Id (UUID v7).
    pub id: InteractionId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// The customer.
    pub customer_id: CustomerId,
    /// Editable fields.
    pub details: InteractionDetails,
    /// Who logged it (the caller of the create; never changes).
    pub performed_by: UserId,
    /// Optimistic-concurrency version: 1 on creation, +1 on every change.
    pub version: i64,
    /// Who changed it last.
    pub updated_by: Option<UserId>,
    /// Creation time (UTC, microseconds).
    pub created_at: DateTime<Utc>,
    /// Last change (UTC, microseconds).
    pub updated_at: DateTime<Utc>,
}

/// The first characters of a long text an event keeps.
pub const EVENT_PREVIEW_CHARS: usize = 200;

fn preview(text: Option<&str>) -> Value {
    text.map_or(Value::Null, |t| {
        Value::from(t.chars().take(EVENT_PREVIEW_CHARS).collect::<String>())
    })
}

fn chars(text: Option<&str>) -> usize {
    text.map_or(0, |t| t.chars().count())
}

impl Interaction {
    /// What the event log keeps of it (`data` of `interaction.*` events, and the states
    /// compared for `changes`): its key fields as the API shows them, with the body reduced to
    /// `body_chars` and its first 200 characters (`body_preview`).
    pub fn event_data(&self) -> Value {
        let d = &self.details;
        json!({
            "id": self.id.0,
            "customer_id": self.customer_id.0,
            "type": d.kind.as_str(),
            "direction": d.direction.map(Direction::as_str),
            "subject": d.subject,
            "outcome": d.outcome.map(Outcome::as_str),
            "duration_seconds": d.duration_seconds,
            "occurred_at": d.occurred_at,
            "contact_id": d.contact_id.map(|c| c.0),
            "performed_by": self.performed_by.as_str(),
            "body_chars": chars(d.body.as_deref()),
            "body_preview": preview(d.body.as_deref()),
            "version": self.version,
        })
    }
}

/// The editable fields of a follow-up, validated (see [`super::FollowUpInput`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowUpDetails {
    /// One line, 1..=255 characters.
    pub title: String,
    /// Text, several lines, up to 10,000 characters.
    pub notes: Option<String>,
    /// When it is due (UTC, microseconds), years 1970..=9999.
    pub due_at: DateTime<Utc>,
    /// Who should do it (a user id, `sub`); defaults to the caller.
    pub assignee: UserId,
    /// Urgency.
    pub priority: Priority,
}

/// A follow-up task on a customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowUp {
    /// Id (UUID v7).
    pub id: FollowUpId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// The customer.
    pub customer_id: CustomerId,
    /// Editable fields.
    pub details: FollowUpDetails,
    /// Where it stands.
    pub status: FollowUpStatus,
    /// When it was done (status `done` only).
    pub completed_at: Option<DateTime<Utc>>,
    /// Who did it (status `done` only).
    pub completed_by: Option<UserId>,
    /// The interaction that created it, if any (cleared when that interaction is deleted).
    pub interaction_id: Option<InteractionId>,
    /// Optimistic-concurrency version: 1 on creation, +1 on every change.
    pub version: i64,
    /// Who created it.
    pub created_by: Option<UserId>,
    /// Who changed it last.
    pub updated_by: Option<UserId>,
    /// Creation time (UTC, microseconds).
    pub created_at: DateTime<Utc>,
    /// Last change (UTC, microseconds).
    pub updated_at: DateTime<Utc>,
}

impl FollowUp {
    /// Derived: open and due before `now`.
    pub fn is_overdue(&self, now: DateTime<Utc>) -> bool {
        self.status == FollowUpStatus::Open && self.details.due_at < now
    }

    /// What the event log keeps of it (`data` of `follow_up.*` events, and the states compared
    /// for `changes`): its fields as the API shows them, the notes reduced to `notes_chars`.
    pub fn event_data(&self) -> Value {
        let d = &self.details;
        json!({
            "id": self.id.0,
            "customer_id": self.customer_id.0,
            "title": d.title,
            "due_at": d.due_at,
            "assignee": d.assignee.as_str(),
            "priority": d.priority.as_str(),
            "status": self.status.as_str(),
            "completed_at": self.completed_at,
            "completed_by": self.completed_by.as_ref().map(UserId::as_str),
            "interaction_id": self.interaction_id.map(|i| i.0),
            "notes_chars": chars(d.notes.as_deref()),
            "version": self.version,
        })
    }
}

/// The customer's dates kept from its history: the latest `occurred_at` of its interactions
/// and the earliest `due_at` of its open follow-ups.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DerivedDates {
    /// `last_contact_at`.
    pub last_contact_at: Option<DateTime<Utc>>,
    /// `next_follow_up_at`.
    pub next_follow_up_at: Option<DateTime<Utc>>,
}

/// Where a page of interactions ends: `occurred_at` and id of its last row.
pub type InteractionPosition = (DateTime<Utc>, InteractionId);

/// Where a page of follow-ups ends: `due_at` and id of its last row.
pub type FollowUpPosition = (DateTime<Utc>, FollowUpId);

/// What an interaction list selects (all given filters must match). Rows come newest first
/// (`occurred_at` descending, then id descending); customers soft-deleted or outside the
/// caller's visibility never contribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InteractionQuery {
    /// Only this customer's.
    pub customer_id: Option<CustomerId>,
    /// Any of these types (empty: all).
    pub types: Vec<InteractionType>,
    /// Only logged by this user.
    pub performed_by: Option<UserId>,
    /// Only with this contact.
    pub contact_id: Option<ContactId>,
    /// Any of these outcomes (empty: all).
    pub outcomes: Vec<Outcome>,
    /// `occurred_at` ≥ this.
    pub occurred_from: Option<DateTime<Utc>>,
    /// `occurred_at` < this.
    pub occurred_to: Option<DateTime<Utc>>,
    /// Rows after this position (the cursor).
    pub after: Option<InteractionPosition>,
    /// Page size, 1..=200.
    pub limit: u32,
}

impl Default for InteractionQuery {
    fn default() -> Self {
        Self {
            customer_id: None,
            types: Vec::new(),
            performed_by: None,
            contact_id: None,
            outcomes: Vec::new(),
            occurred_from: None,
            occurred_to: None,
            after: None,
            limit: crate::customer::DEFAULT_PAGE_SIZE,
        }
    }
}

/// What a follow-up list (the work queue) selects. Rows come by `due_at` then id, ascending;
/// customers soft-deleted or outside the caller's visibility never contribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowUpQuery {
    /// Only this customer's.
    pub customer_id: Option<CustomerId>,
    /// Only assigned to this user.
    pub assignee: Option<UserId>,
    /// Any of these statuses (empty: all).
    pub statuses: Vec<FollowUpStatus>,
    /// `due_at` < this.
    pub due_before: Option<DateTime<Utc>>,
    /// `true`: only overdue (open and `due_at` < `now`); `false`: only not overdue.
    pub overdue: Option<bool>,
    /// Any of these priorities (empty: all).
    pub priorities: Vec<Priority>,
    /// The instant `overdue` is judged at (set by the service from its clock).
    pub now: DateTime<Utc>,
    /// Rows after this position (the cursor).
    pub after: Option<FollowUpPosition>,
    /// Page size, 1..=200.
    pub limit: u32,
}

impl Default for FollowUpQuery {
    fn default() -> Self {
        Self {
            customer_id: None,
            assignee: None,
            statuses: Vec::new(),
            due_before: None,
            overdue: None,
            priorities: Vec::new(),
            now: DateTime::<Utc>::UNIX_EPOCH,
            after: None,
            limit: crate::customer::DEFAULT_PAGE_SIZE,
        }
    }
}
