//! The failure cases of note operations that are notes' own.

use crate::access::Permission;
use crate::error::{DomainError, FieldError};

/// Why a note operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// The caller is neither the note's author nor holds `customers.manage`: 403
    /// ([`DomainError::Forbidden`] naming `customers.manage`).
    #[error("only the note's author or a caller with customers.manage may change it")]
    NotAuthor,
    /// `body` is missing or blank (422, field `body`, code `required`).
    #[error("a note needs a body")]
    BodyRequired,
    /// `body` is longer than `limit` bytes of UTF-8 (422, field `body`, code
    /// `too_long`, with the limit).
    #[error("a note's body is at most {limit} bytes of UTF-8")]
    BodyTooLong {
        /// The limit in bytes.
        limit: usize,
    },
    /// `resolution` on a note whose category is not `complaint` (422, field `resolution`,
    /// code `not_a_complaint`).
    #[error("only a complaint has a resolution")]
    ResolutionWithoutComplaint,
}

impl NoteError {
    /// The field error of a validation case (`None` for [`NoteError::NotAuthor`]).
    pub fn field_error(&self) -> Option<FieldError> {
        let message = self.to_string();
        match self {
            NoteError::NotAuthor => None,
            NoteError::BodyRequired => Some(FieldError::new("body", "required", message)),
            NoteError::BodyTooLong { limit } => {
                Some(FieldError::new("body", "too_long", message).with_limit(*limit))
            }
            NoteError::ResolutionWithoutComplaint => {
                Some(FieldError::new("resolution", "not_a_complaint", message))
            }
        }
    }
}

impl From<NoteError> for DomainError {
    fn from(e: NoteError) -> Self {
        match e.field_error() {
            Some(f) => DomainError::Validation(vec![f]),
            None => DomainError::Forbidden(Permission::CustomersManage),
        }
    }
}
