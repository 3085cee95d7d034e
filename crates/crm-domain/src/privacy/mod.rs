//! Privacy (GDPR, and Indonesia's personal-data protection law): erasure of a person and
//! consent records.
//!
//! - `model`: consent purposes ([`ConsentPurpose`]), states ([`ConsentStatus`], [`Consent`],
//!   [`PurposeState`]) and events ([`ConsentEvent`], with the rule of which one is current),
//!   the checks of a consent change ([`ConsentInput`], [`ConsentSource`]), and the erasure
//!   rules: what an erased customer keeps ([`anonymise`]), how copies of the person are found
//!   ([`identifiers`], [`redact_preview`]) and what is recorded ([`ErasureRecord`]);
//! - `ports`: [`PrivacyRepository`] (consent reads) and [`PrivacyTransaction`], the unit of work
//!   with one method per part of a customer's data that an erasure clears;
//! - `service`: [`PrivacyService`] (`erase`, `consents`, `set_consent`, `consent_history`,
//!   `consents_of`);
//! - `error`: [`ConsentInputError`]. Changing an erased customer is refused with
//!   [`crate::customer::CustomerErased`].

mod error;
mod model;
mod ports;
mod service;
#[cfg(test)]
mod service_tests;

pub use error::ConsentInputError;
pub use model::{
    Consent, ConsentEvent, ConsentHistoryQuery, ConsentInput, ConsentPosition, ConsentPurpose,
    ConsentSource, ConsentStatus, ERASED_CONTACT_NAME, ERASED_NAME, ERASED_TEXT, ErasedCustomer,
    ErasureRecord, MAX_SOURCE_CHARS, MIN_IDENTIFIER_CHARS, PurposeState, anonymise,
    earliest_consent, identifiers, purpose_states, redact_preview,
};
#[cfg(any(test, feature = "mock"))]
pub use ports::{MockPrivacyRepository, MockPrivacyTransaction};
pub use ports::{PrivacyRepository, PrivacyTransaction};
pub use service::{ConsentChange, ConsentPage, Erasure, PrivacyService};
