//! Webhooks (issue 14): subscriptions of other systems to the tenant's events, delivered
//! signed per the Standard Webhooks specification, at least once, with retries.
//!
//! - `model`: [`Subscription`], [`WebhookInput`] and its rules ([`WebhookInput::validate`]:
//!   `https` unless [`WebhookConfig::allow_private`], no user info, at most 2,048 bytes;
//!   1..=50 event type patterns; a description of at most 500 characters), the target safety
//!   rule [`is_public_address`], which events a subscription receives
//!   ([`Subscription::receives`]: never internal notes) and [`WebhookConfig`] (at most 20
//!   subscriptions per tenant by default);
//! - `signing`: [`WebhookSecret`] (`whsec_` + base64 of 32 random bytes, never printed),
//!   [`sign`] and [`signed_headers`] (`webhook-id`, `webhook-timestamp`,
//!   `webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body>`) and [`verify`], the
//!   check a receiver runs;
//! - `delivery`: [`Delivery`] (pending, succeeded, failed), the retry schedule
//!   ([`RETRY_SCHEDULE_SECS`]: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, ±10 % jitter), the state
//!   transition [`after_attempt`] (a 2xx within 10 s succeeds; redirects, other answers,
//!   timeouts and connection errors fail), the fan-out rule [`fan_out`] and the [`payload`]
//!   (`type`, `timestamp`, `data`: the timeline entry);
//! - `ports`: [`WebhookRepository`] / [`WebhookTransaction`] (version-checked writes with
//!   their events), [`DeliveryRepository`] (the outbox: `claim_due`, `record_attempt`,
//!   `list`, `retry`), [`WebhookSender`] (one POST, no redirects, public targets only);
//! - `service`: [`WebhookService`] (`create` and `rotate_secret` return the secret once,
//!   `list`, `get`, `patch`, `delete`, `deliveries`, `retry_delivery`, and the server's
//!   `deliver_due` run, which disables a subscription failing for 3 days with a
//!   `webhook.disabled` event);
//! - `error`: [`WebhookError`].
//!
//! Everything needs `webhooks.manage` (admins).

mod delivery;
mod error;
mod model;
mod ports;
mod service;
#[cfg(test)]
mod service_tests;
mod signing;

pub use delivery::{
    AttemptOutcome, DELIVERY_TIMEOUT, DISABLE_AFTER, Delivery, DeliveryId, DeliveryStatus, JITTER,
    MAX_ERROR_CHARS, RETRY_SCHEDULE_SECS, after_attempt, fan_out, payload, retry_delay,
};
pub use error::WebhookError;
pub use model::{
    CreatedWebhook, DEFAULT_MAX_SUBSCRIPTIONS, MAX_DESCRIPTION_CHARS, MAX_URL_BYTES, Subscription,
    SubscriptionId, WebhookConfig, WebhookFields, WebhookInput, is_public_address,
};
pub use ports::{
    DeliveryRepository, DueDelivery, WebhookPatch, WebhookRepository, WebhookSender,
    WebhookTransaction,
};
#[cfg(any(test, feature = "mock"))]
pub use ports::{
    MockDeliveryRepository, MockWebhookPatch, MockWebhookRepository, MockWebhookSender,
    MockWebhookTransaction,
};
pub use service::{CLAIM_LEASE, DeliveryRun, WebhookService};
pub use signing::{
    HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, SECRET_BYTES, SECRET_PREFIX, SecretError,
    VerifyError, WebhookSecret, sign, signed_headers, verify,
};
