//! Contacts: the people to talk to at a customer (a B2B customer's buyer, accountant,
//! technician), with roles, a preferred channel and exactly one primary contact per customer
//! once it has any.
//!
//! Rules ([`ContactService`]): the first contact of a customer becomes its primary; making
//! another one primary unsets the previous one in the same transaction; deleting the primary
//! promotes the oldest remaining contact; the primary cannot be demoted directly (make another
//! one primary instead). A contact's e-mail is unique within its customer (case-insensitive).
//! At most [`MAX_CONTACTS`] contacts per customer. Contacts are read and written with the
//! customer's permissions (`customers.view`, `customers.edit`) and its visibility: a customer
//! the caller cannot see, or a soft-deleted one, has no contacts to them (404).

mod events;
mod input;
mod model;
mod ports;
mod service;
#[cfg(test)]
mod service_tests;

pub use events::{added_event, contact_json, removed_event, updated_event};
pub use input::{ContactInput, MAX_CONTACT_TEXT_CHARS, MAX_LANGUAGE_CHARS, MAX_ROLES};
pub use model::{
    Contact, ContactChanges, ContactDetails, ContactRole, ContactSummary, MAX_CONTACTS,
    PreferredChannel,
};
pub use ports::{ContactPatch, ContactRepository, ContactTransaction};
#[cfg(any(test, feature = "mock"))]
pub use ports::{MockContactPatch, MockContactRepository, MockContactTransaction};
pub use service::{ContactService, nested_contacts, replace_contacts};
