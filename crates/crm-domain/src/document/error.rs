//! Failures of document operations beyond [`DomainError`]'s.

use crate::error::{DomainError, Rule, RuleViolation};

/// Why a document could not be attached or read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DocumentError {
    /// The bytes are of a type outside the allow-list (415): `detected` names it.
    #[error(
        "the file's content is {detected}; allowed are PDF, PNG, JPEG, WebP, DOCX, XLSX, CSV and plain text"
    )]
    UnsupportedType {
        /// The detected MIME type (`application/octet-stream` when nothing matched).
        detected: String,
    },
    /// The file is larger than the limit (413).
    #[error("the file exceeds {limit} bytes")]
    TooLarge {
        /// The limit, bytes.
        limit: u64,
    },
    /// The row exists but its object is missing from the store (404).
    #[error("the content of document {id} is missing from the document store")]
    ContentMissing {
        /// The document's id.
        id: uuid::Uuid,
    },
}

impl From<DocumentError> for DomainError {
    fn from(e: DocumentError) -> Self {
        let message = e.to_string();
        match e {
            DocumentError::UnsupportedType { detected } => {
                RuleViolation::new(Rule::UnsupportedDocumentType, "file", message)
                    .with("detected_type", detected)
                    .into()
            }
            DocumentError::TooLarge { limit } => {
                RuleViolation::new(Rule::DocumentTooLarge, "file", message)
                    .with("limit", limit)
                    .into()
            }
            DocumentError::ContentMissing { id } => {
                RuleViolation::new(Rule::DocumentContentMissing, "id", message)
                    .with("document_id", id.to_string())
                    .into()
            }
        }
    }
}
