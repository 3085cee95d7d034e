//! The one failure of an access check.

use super::model::Permission;

/// The caller lacks `0` (403). Converts into [`crate::DomainError::Forbidden`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("missing permission {0}")]
pub struct Forbidden(pub Permission);
