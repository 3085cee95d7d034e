//! Notes (issue 13): dated Markdown notes on a customer, and complaints with a resolution.
//!
//! - `model`: [`Note`], [`NoteInput`] and its rules ([`NoteInput::validate`]),
//!   [`NoteCategory`], [`Resolution`], the list queries and positions;
//! - `ports`: [`NoteRepository`] and its unit of work [`NoteTransaction`] (which appends the
//!   notes' events in the same transaction);
//! - `service`: [`NoteService`] (`list_for_customer`, `list`, `get`, `create`, `patch`,
//!   `delete`, `history`) and the rules: only the author or a caller with `customers.manage`
//!   edits or deletes a note; a complaint's `resolved_at` follows its `resolution`; an edit
//!   of the body sets `edited_at`; every write appends `note.added`, `note.updated` (with the
//!   full old and new body in `changes`: the note's history) or `note.deleted`;
//! - `error`: [`NoteError`].
//!
//! Internal notes (`is_internal`) are for the tenant's staff only: they are left out of the
//! customer list export and of anything a future portal user (a token with `customer_id`)
//! sees. Notes hang off their customer: a soft-deleted customer's notes are hidden with it
//! (404, absent from every list) and come back on restore.

mod error;
mod model;
mod ports;
mod service;
#[cfg(test)]
mod service_tests;

pub use error::NoteError;
pub use model::{
    MAX_BODY_BYTES, NOTE_PREVIEW_CHARS, Note, NoteCategory, NoteFields, NoteFilter, NoteId,
    NoteInput, NotePosition, Resolution, TenantNotePosition, may_read_internal,
};
#[cfg(any(test, feature = "mock"))]
pub use ports::{MockNotePatch, MockNoteRepository, MockNoteTransaction};
pub use ports::{NotePatch, NoteRepository, NoteTransaction};
pub use service::{NoteService, body_preview};
