//! The failure cases of privacy operations that are their own.
//!
//! A change to an erased customer's consents is refused with the customer context's
//! [`crate::customer::CustomerErased`] (the same refusal as a profile change).

use chrono::{DateTime, SecondsFormat, Utc};

use crate::error::{DomainError, FieldError};

/// Why a consent change's input was refused; a list of them converts into
/// [`DomainError::Validation`] naming each field (`source`, `at`) and its bound.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsentInputError {
    /// `source` is not a code of 1..=64 ASCII letters, digits, `_`, `-`, `.` or `:`; the text
    /// says which rule it breaks.
    #[error("{0}")]
    Source(String),
    /// `at` is after the server's time.
    #[error("{} is in the future (the server's time is {})", rfc3339(.at), rfc3339(.now))]
    InTheFuture {
        /// The time given.
        at: DateTime<Utc>,
        /// The server's time.
        now: DateTime<Utc>,
    },
    /// `at` is before the earliest accepted time.
    #[error("{} is before {}", rfc3339(.at), rfc3339(.earliest))]
    TooEarly {
        /// The time given.
        at: DateTime<Utc>,
        /// The earliest accepted time (2000-01-01T00:00:00Z).
        earliest: DateTime<Utc>,
    },
}

fn rfc3339(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

impl ConsentInputError {
    /// The field error: `source` (code `invalid`; the message names the rule and its bound) or
    /// `at` (codes `in_future`, `too_early`; the message names both times).
    pub fn field_error(&self) -> FieldError {
        let message = self.to_string();
        match self {
            ConsentInputError::Source(_) => FieldError::new("source", "invalid", message),
            ConsentInputError::InTheFuture { .. } => FieldError::new("at", "in_future", message),
            ConsentInputError::TooEarly { .. } => FieldError::new("at", "too_early", message),
        }
    }
}

impl From<Vec<ConsentInputError>> for DomainError {
    fn from(errors: Vec<ConsentInputError>) -> Self {
        DomainError::Validation(errors.iter().map(ConsentInputError::field_error).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn each_input_error_names_its_field_and_bound() {
        let t = |y| Utc.with_ymd_and_hms(y, 1, 1, 0, 0, 0).unwrap();
        let e: DomainError = vec![
            ConsentInputError::Source("bad".into()),
            ConsentInputError::InTheFuture {
                at: t(2999),
                now: t(2026),
            },
            ConsentInputError::TooEarly {
                at: t(1999),
                earliest: t(2000),
            },
        ]
        .into();
        let DomainError::Validation(errors) = e else {
            panic!("{e:?}")
        };
        let fields: Vec<(&str, &str)> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(
            fields,
            [
                ("source", "invalid"),
                ("at", "in_future"),
                ("at", "too_early")
            ]
        );
        assert!(errors[1].message.contains("2026-01-01T00:00:00Z"));
        assert!(errors[2].message.contains("2000-01-01T00:00:00Z"));
    }
}
