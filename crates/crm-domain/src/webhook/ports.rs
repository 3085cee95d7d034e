//! Storage and transport ports of the webhook context, and the patch a `PATCH` applies.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use url::Url;

use super::delivery::{AttemptOutcome, Delivery, DeliveryId};
use super::model::{Subscription, SubscriptionId, WebhookInput};
use crate::error::{DomainError, RepositoryError};
use crate::event::{Event, NewEvent};
use crate::ids::TenantId;

/// A partial change of a subscription (a JSON merge patch in the HTTP adapter): turns the
/// stored subscription into the input that replaces its fields.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait WebhookPatch: Send + Sync {
    /// The input that results from applying the patch to `current`.
    ///
    /// # Errors
    /// [`DomainError::Validation`] when the patch is malformed (a member of the wrong type).
    fn apply(&self, current: &Subscription) -> Result<WebhookInput, DomainError>;
}

/// One transaction over a tenant's subscriptions. Dropping it without
/// [`WebhookTransaction::commit`] rolls back.
///
/// # Errors
/// As [`RepositoryError`].
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait WebhookTransaction: Send {
    /// Counts the tenant's subscriptions under a lock that serialises this count with every
    /// other create of the tenant (PostgreSQL: the tenant's row `FOR UPDATE`; SQLite: the one
    /// writer), so concurrent creates cannot pass the limit together.
    async fn count_locked(&mut self, tenant: TenantId) -> Result<u64, RepositoryError>;

    /// Locks and reads the tenant's subscription `id` (`SELECT … FOR UPDATE`).
    async fn lock(
        &mut self,
        tenant: TenantId,
        id: SubscriptionId,
    ) -> Result<Option<Subscription>, RepositoryError>;

    /// Stores a new subscription, its secret included.
    async fn insert(&mut self, subscription: &Subscription) -> Result<(), RepositoryError>;

    /// Writes every field of `subscription` (secret included) over the stored row if its
    /// version is still `subscription.version - 1`.
    ///
    /// # Errors
    /// [`RepositoryError::Stale`] when the version moved on or the row is gone.
    async fn update(&mut self, subscription: &Subscription) -> Result<(), RepositoryError>;

    /// Writes the server's bookkeeping of a locked subscription: `failing_since`, `active`,
    /// `disabled_reason`, `updated_at` and `version` (the version moves only when the server
    /// disables it: `failing_since` alone is not a change a client's `If-Match` sees).
    async fn record_health(&mut self, subscription: &Subscription) -> Result<(), RepositoryError>;

    /// Deletes the subscription and its deliveries for good (its events stay in the log).
    ///
    /// # Errors
    /// [`RepositoryError::Stale`] when the row is gone.
    async fn delete(&mut self, tenant: TenantId, id: SubscriptionId)
    -> Result<(), RepositoryError>;

    /// Appends events to the tenant's log in this transaction.
    async fn append_events(&mut self, events: &[NewEvent]) -> Result<(), RepositoryError>;

    /// Makes every write durable.
    async fn commit(self: Box<Self>) -> Result<(), RepositoryError>;
}

/// Webhook subscriptions. Every method is scoped to one tenant.
///
/// # Errors
/// As [`RepositoryError`].
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait WebhookRepository: Send + Sync {
    /// Starts a write transaction for the tenant's rows.
    async fn begin(&self, tenant: TenantId)
    -> Result<Box<dyn WebhookTransaction>, RepositoryError>;

    /// The tenant's subscription `id`.
    async fn get(
        &self,
        tenant: TenantId,
        id: SubscriptionId,
    ) -> Result<Option<Subscription>, RepositoryError>;

    /// Up to `limit` of the tenant's subscriptions, oldest first (by id), after `after`.
    async fn list(
        &self,
        tenant: TenantId,
        after: Option<SubscriptionId>,
        limit: u32,
    ) -> Result<Vec<Subscription>, RepositoryError>;
}

/// A delivery claimed for an attempt, with what the attempt needs.
#[derive(Debug, Clone, PartialEq)]
pub struct DueDelivery {
    /// The delivery (as claimed, before the attempt).
    pub delivery: Delivery,
    /// Its subscription (URL, secret, state).
    pub subscription: Subscription,
    /// The event it carries.
    pub event: Event,
}

/// Deliveries: the outbox of webhooks.
///
/// Deliveries are created with their event, in the event's transaction, for every active
/// subscription of the tenant that [`Subscription::receives`] it ([`super::fan_out`]), so a
/// committed event always has its deliveries and a rolled-back one none; they survive
/// restarts.
///
/// # Errors
/// As [`RepositoryError`].
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait DeliveryRepository: Send + Sync {
    /// Claims up to `limit` pending deliveries due at `now` (`next_attempt_at <= now`), of
    /// every tenant, oldest due first, each with its subscription and event: PostgreSQL
    /// `FOR UPDATE SKIP LOCKED` (replicas claim disjoint sets), SQLite the one writer. A
    /// claimed delivery's `next_attempt_at` moves to `now + lease`, so no one else claims it
    /// while its attempt runs, and a process that dies mid-attempt leaves it due again after
    /// the lease (at-least-once).
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, RepositoryError>;

    /// Writes an attempt's result: `status`, `attempts`, `last_response_code`,
    /// `last_latency_ms`, `next_attempt_at`, `last_error`, `updated_at` of `delivery` (a row
    /// deleted meanwhile with its subscription is ignored).
    async fn record_attempt(&self, delivery: &Delivery) -> Result<(), RepositoryError>;

    /// The tenant's delivery `id`.
    async fn get(
        &self,
        tenant: TenantId,
        id: DeliveryId,
    ) -> Result<Option<Delivery>, RepositoryError>;

    /// Up to `limit` deliveries of the subscription, newest first (by id, descending), after
    /// (below) `after`.
    async fn list(
        &self,
        tenant: TenantId,
        subscription: SubscriptionId,
        after: Option<DeliveryId>,
        limit: u32,
    ) -> Result<Vec<Delivery>, RepositoryError>;

    /// Writes a manual retry ([`Delivery::retried`]): `status`, `next_attempt_at`,
    /// `updated_at`.
    ///
    /// # Errors
    /// [`RepositoryError::Stale`] when the row is gone.
    async fn retry(&self, delivery: &Delivery) -> Result<(), RepositoryError>;
}

/// Sends one attempt: `POST url` with `headers` and `body`, waiting at most `timeout` for the
/// answer's head. Redirects are not followed. The implementation resolves the URL's host
/// and, unless private targets are allowed, refuses (as a connection error) any address that
/// is not [`super::is_public_address`], connecting only to an address it checked.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait WebhookSender: Send + Sync {
    /// What the attempt came to; failures are outcomes, not errors.
    async fn send(
        &self,
        url: &Url,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        timeout: Duration,
    ) -> AttemptOutcome;
}
