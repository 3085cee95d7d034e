//! Errors of the domain layer: one enum for use cases ([`DomainError`]) and one for ports
//! ([`RepositoryError`]), which the services map into the former. An operation with failure
//! cases of its own has its own error type in its context (`order::PlaceOrderError`,
//! `loyalty::RedeemError`, ...), which converts into [`DomainError::Rule`], a
//! [`RuleViolation`] that keeps the numbers.

use serde::Serialize;
use uuid::Uuid;

use crate::access::{Forbidden, Permission};

/// One problem with one input field, as reported to API clients in problem details'
/// `errors` array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field, as named in the API (`email`, `tags[2]`, `metadata`).
    pub field: String,
    /// A stable machine-readable code: `required`, `too_long`, `invalid_email`, ...
    pub code: &'static str,
    /// A human-readable sentence.
    pub message: String,
    /// When the value breaks a limit (`too_many`, `too_long`, `too_deep`), the limit's value:
    /// the most values, characters, conditions, operands or levels allowed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

impl FieldError {
    /// Builds a field error.
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code,
            message: message.into(),
            limit: None,
        }
    }

    /// The same error carrying the value of the limit it breaks.
    #[must_use]
    pub fn with_limit(mut self, limit: usize) -> Self {
        self.limit = Some(u64::try_from(limit).unwrap_or(u64::MAX));
        self
    }
}

/// The outcome of a use case that did not succeed. The HTTP adapter maps each variant to one
/// status code (in brackets).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DomainError {
    /// Input failed one or more business rules (422). Never empty.
    #[error("validation failed: {}", .0.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))]
    Validation(Vec<FieldError>),
    /// The record does not exist, is deleted, or belongs to another tenant (404).
    #[error("{entity} not found")]
    NotFound {
        /// What was looked for: `customer`, `tenant`.
        entity: &'static str,
    },
    /// A uniqueness rule was broken (409): `field` names it, `existing_id` is the record that
    /// already holds the value, when known.
    #[error("{message}")]
    Conflict {
        /// The field whose value is taken (`email`, `phone`, ...).
        field: String,
        /// What went wrong, for people.
        message: String,
        /// The id of the record that already holds the value.
        existing_id: Option<Uuid>,
    },
    /// A business rule refuses the operation in the current state of the records (409): a
    /// credit limit, a points balance, open orders, a tier in use. The operation's own error
    /// type (`PlaceOrderError`, `RedeemError`, `DeleteCustomerError`, `DeleteTierError`)
    /// converts into this.
    #[error(transparent)]
    Rule(RuleViolation),
    /// The record changed between reading and writing it, by a concurrent request (409); the
    /// request may be retried.
    #[error("the record changed concurrently; retry the request")]
    ConcurrentUpdate,
    /// The caller lacks a permission (403).
    #[error("missing permission {0}")]
    Forbidden(Permission),
    /// The caller's `If-Match` version is not the current one (412).
    #[error("version {expected} is stale; the current version is {current}")]
    PreconditionFailed {
        /// The version the caller expected.
        expected: i64,
        /// The version stored now.
        current: i64,
    },
    /// An idempotency key was reused with a different request body (422).
    #[error("the Idempotency-Key was already used with a different request")]
    IdempotencyKeyReused,
    /// The storage is unreachable or overloaded (503).
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// A bug or an unexpected storage failure (500); the message is logged, not shown.
    #[error("internal error: {0}")]
    Internal(String),
}

impl DomainError {
    /// A validation error about one field.
    pub fn invalid(
        field: impl Into<String>,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self::Validation(vec![FieldError::new(field, code, message)])
    }
}

/// The business rules whose refusals are [`RuleViolation`]s. The HTTP adapter gives each its
/// own problem type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// An unpaid completed order would take the customer's outstanding amount above their
    /// credit limit (`order::PlaceOrderError::CreditLimitExceeded`).
    CreditLimitExceeded,
    /// Points to take exceed the customer's balance
    /// (`loyalty::RedeemError::InsufficientPoints`).
    InsufficientPoints,
    /// Customers with open orders cannot be deleted
    /// (`customer::DeleteCustomerError::OpenOrders`).
    CustomerHasOpenOrders,
    /// A tier customers hold cannot be deleted (`loyalty::DeleteTierError::InUse`).
    TierInUse,
    /// An erased customer cannot be changed: its profile, consents (`customer::CustomerErased`).
    CustomerErased,
    /// A document's bytes are of a type outside the allow-list (415,
    /// `document::DocumentError::UnsupportedType`).
    UnsupportedDocumentType,
    /// A document is larger than the limit (413, `document::DocumentError::TooLarge`).
    DocumentTooLarge,
    /// A document's row exists but its object is missing (404,
    /// `document::DocumentError::ContentMissing`).
    DocumentContentMissing,
}

/// A refusal by a business rule: which rule, the API field it concerns, a sentence for people
/// and the numbers a client needs (`facts`, JSON members named as in the operation's error:
/// `limit`, `outstanding`, `requested`, `balance`, ...).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct RuleViolation {
    /// The broken rule.
    pub rule: Rule,
    /// The API field the rule guards (`credit_limit`, `points`, `orders`, `tier_id`).
    pub field: String,
    /// What went wrong, for people, with the numbers.
    pub message: String,
    /// The numbers, as JSON members (amounts as decimal strings, counts as integers).
    pub facts: serde_json::Map<String, serde_json::Value>,
}

impl RuleViolation {
    /// A violation of `rule` on `field`, with no facts yet.
    pub fn new(rule: Rule, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            rule,
            field: field.into(),
            message: message.into(),
            facts: serde_json::Map::new(),
        }
    }

    /// Adds one fact.
    #[must_use]
    pub fn with(mut self, name: &str, value: impl Into<serde_json::Value>) -> Self {
        self.facts.insert(name.to_owned(), value.into());
        self
    }
}

impl From<RuleViolation> for DomainError {
    fn from(v: RuleViolation) -> Self {
        DomainError::Rule(v)
    }
}

impl From<Forbidden> for DomainError {
    fn from(e: Forbidden) -> Self {
        DomainError::Forbidden(e.0)
    }
}

/// Errors a storage port may return.
///
/// Implementations MUST map a per-tenant unique violation to [`RepositoryError::Conflict`] naming
/// the API field, and connection failures to [`RepositoryError::Unavailable`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RepositoryError {
    /// A unique key was violated; `field` is the API field it guards (`email`, `phone`, ...).
    #[error("unique violation on {field}")]
    Conflict {
        /// The API field whose value is taken.
        field: String,
    },
    /// The row changed since it was read (its version moved on) or vanished; a use case that
    /// does not retry or answer [`DomainError::PreconditionFailed`] passes it on as
    /// [`DomainError::ConcurrentUpdate`].
    #[error("the record changed concurrently")]
    Stale,
    /// The database is unreachable, overloaded or shutting down, or cancelled the statement at
    /// its time limit (PostgreSQL `statement_timeout`).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else; a bug or corrupt data.
    #[error("storage error: {0}")]
    Other(String),
}

/// What a client reads when the database cannot serve the request (503): unreachable,
/// overloaded, or a statement cancelled at the database's time limit. Never the driver's text.
pub const STORAGE_UNAVAILABLE: &str = "the database is unavailable, overloaded or did not answer \
     within its time limit; retry after the Retry-After delay";

impl From<RepositoryError> for DomainError {
    fn from(e: RepositoryError) -> Self {
        match e {
            RepositoryError::Conflict { field } => DomainError::Conflict {
                message: format!("another record already has this {field}"),
                field,
                existing_id: None,
            },
            RepositoryError::Stale => DomainError::ConcurrentUpdate,
            // The driver's text names hosts, pools and SQL states: it goes to the log, and the
            // client reads a sentence of ours.
            RepositoryError::Unavailable(m) => {
                tracing::warn!(error = %m, "storage unavailable");
                DomainError::Unavailable(STORAGE_UNAVAILABLE.into())
            }
            RepositoryError::Other(m) => DomainError::Internal(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_write_is_a_concurrent_update_not_an_internal_error() {
        assert_eq!(
            DomainError::from(RepositoryError::Stale),
            DomainError::ConcurrentUpdate
        );
    }

    #[test]
    fn a_rule_violation_keeps_its_rule_field_and_facts() {
        let e = DomainError::from(
            RuleViolation::new(Rule::TierInUse, "tier_id", "3 customers hold this tier")
                .with("customers", 3),
        );
        let DomainError::Rule(v) = &e else {
            panic!("{e:?}")
        };
        assert_eq!((v.rule, v.field.as_str()), (Rule::TierInUse, "tier_id"));
        assert_eq!(v.facts["customers"], 3);
        assert_eq!(e.to_string(), "3 customers hold this tier");
    }

    #[test]
    fn an_unavailable_store_reads_as_our_sentence_not_the_drivers_text() {
        let e: DomainError = RepositoryError::Unavailable(
            "error communicating with database: Connection refused (os error 111) at 10.0.0.5"
                .into(),
        )
        .into();
        assert_eq!(e, DomainError::Unavailable(STORAGE_UNAVAILABLE.into()));
        assert!(!e.to_string().contains("10.0.0.5"));
    }
}
