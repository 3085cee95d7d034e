//! Interactions and follow-ups (issue 13): a customer's logged calls, e-mails, meetings, ...
//! and the tasks that follow them, in one bounded context because an interaction's optional
//! `follow_up` is created in the interaction's transaction, and both keep the customer's
//! derived dates.
//!
//! Rules ([`InteractionService`]): an interaction's `occurred_at` is at most 5 minutes in the
//! future, its `contact_id` a contact of the same customer, its body at most 64 KiB; a
//! follow-up moves open → done (setting `completed_at`/`completed_by`), open → cancelled, and
//! back to open (clearing them); `overdue` is derived (open and `due_at` < now). Every write
//! recomputes, under the customer's lock and in its transaction, the customer's
//! `last_contact_at` (SQL `MAX(occurred_at)` of its interactions) and `next_follow_up_at`
//! (`MIN(due_at)` of its open follow-ups), and appends its events (`interaction.logged`,
//! `.updated`, `.deleted`; `follow_up.created`, `.updated`, `.completed`, `.cancelled`,
//! `.reopened`, `.deleted`). Records of a customer the caller cannot see, or a soft-deleted
//! one, are not found (404) and left out of lists.

mod input;
mod model;
mod ports;
mod service;
#[cfg(test)]
mod service_tests;

pub use input::{
    FollowUpInput, InteractionInput, MAX_BODY_BYTES, MAX_DURATION_SECONDS,
    MAX_FOLLOW_UP_NOTES_CHARS, MAX_FUTURE_MINUTES, MAX_SUBJECT_CHARS,
};
pub use model::{
    DerivedDates, Direction, EVENT_PREVIEW_CHARS, FollowUp, FollowUpDetails, FollowUpPosition,
    FollowUpQuery, FollowUpStatus, Interaction, InteractionDetails, InteractionPosition,
    InteractionQuery, InteractionType, Outcome, Priority,
};
pub use ports::{FollowUpPatch, InteractionPatch, InteractionRepository, InteractionTransaction};
#[cfg(any(test, feature = "mock"))]
pub use ports::{
    MockFollowUpPatch, MockInteractionPatch, MockInteractionRepository, MockInteractionTransaction,
};
pub use service::{ASSIGNEE_ME, InteractionService, LoggedInteraction};
