//! Errors of the domain layer: one enum for use cases ([`DomainError`]) and one for ports
//! ([`RepositoryError`]), which the services map into the former.

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
}

impl FieldError {
    /// Builds a field error.
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code,
            message: message.into(),
        }
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
    /// The row changed since it was read (its version moved on) or vanished.
    #[error("the record changed concurrently")]
    Stale,
    /// The database is unreachable, timed out or is shutting down.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else; a bug or corrupt data.
    #[error("storage error: {0}")]
    Other(String),
}

impl From<RepositoryError> for DomainError {
    fn from(e: RepositoryError) -> Self {
        match e {
            RepositoryError::Conflict { field } => DomainError::Conflict {
                message: format!("another record already has this {field}"),
                field,
                existing_id: None,
            },
            RepositoryError::Stale => {
                DomainError::Internal("the record changed concurrently; retry the request".into())
            }
            RepositoryError::Unavailable(m) => DomainError::Unavailable(m),
            RepositoryError::Other(m) => DomainError::Internal(m),
        }
    }
}
