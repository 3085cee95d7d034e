//! The failure cases of webhook operations that are webhooks' own.

use crate::error::{DomainError, FieldError};

/// Why a subscription's input or a webhook operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// `url` is missing (422, field `url`, code `required`).
    #[error("a webhook needs a url")]
    UrlRequired,
    /// `url` is longer than `limit` bytes (422, `url`, `too_long` with the limit 2048).
    #[error("the url is longer than {limit} bytes")]
    UrlTooLong {
        /// The limit in bytes.
        limit: usize,
    },
    /// `url` does not parse as an absolute URL with a host (422, `url`, `invalid_url`).
    #[error("the url is not an absolute http(s) URL with a host: {reason}")]
    InvalidUrl {
        /// What the parser said.
        reason: String,
    },
    /// `url` is not `https` (or `http` where private targets are allowed) (422, `url`,
    /// `insecure_scheme`).
    #[error("the url must use https")]
    InsecureScheme,
    /// `url` carries a user name or password (422, `url`, `userinfo`): credentials go in the
    /// receiver's verification of the signature, not in the URL.
    #[error("the url must not contain a user name or password")]
    UserInfo,
    /// `url` names a loopback, private, link-local or otherwise non-public address (422,
    /// `url`, `private_target`); allowed only with `CRM_WEBHOOKS_ALLOW_PRIVATE=true`.
    #[error("the url points to a non-public address ({address})")]
    PrivateTarget {
        /// The address or host refused.
        address: String,
    },
    /// `description` is longer than `limit` characters (422, `description`, `too_long`).
    #[error("the description is longer than {limit} characters")]
    DescriptionTooLong {
        /// The limit in characters.
        limit: usize,
    },
    /// `event_types` is missing or empty (422, `event_types`, `required`).
    #[error("a webhook needs at least one event type pattern (`*` for every event)")]
    EventTypesRequired,
    /// The tenant already has `limit` subscriptions (422, field `webhooks`, code `too_many`
    /// with the limit).
    #[error("a tenant has at most {limit} webhook subscriptions")]
    TooManySubscriptions {
        /// The most subscriptions a tenant may have.
        limit: usize,
    },
}

impl WebhookError {
    /// The field error of the case.
    pub fn field_error(&self) -> FieldError {
        let message = self.to_string();
        match self {
            WebhookError::UrlRequired => FieldError::new("url", "required", message),
            WebhookError::UrlTooLong { limit } => {
                FieldError::new("url", "too_long", message).with_limit(*limit)
            }
            WebhookError::InvalidUrl { .. } => FieldError::new("url", "invalid_url", message),
            WebhookError::InsecureScheme => FieldError::new("url", "insecure_scheme", message),
            WebhookError::UserInfo => FieldError::new("url", "userinfo", message),
            WebhookError::PrivateTarget { .. } => FieldError::new("url", "private_target", message),
            WebhookError::DescriptionTooLong { limit } => {
                FieldError::new("description", "too_long", message).with_limit(*limit)
            }
            WebhookError::EventTypesRequired => FieldError::new("event_types", "required", message),
            WebhookError::TooManySubscriptions { limit } => {
                FieldError::new("webhooks", "too_many", message).with_limit(*limit)
            }
        }
    }
}

impl From<WebhookError> for DomainError {
    fn from(e: WebhookError) -> Self {
        DomainError::Validation(vec![e.field_error()])
    }
}
