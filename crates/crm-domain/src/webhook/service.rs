//! Use cases on webhook subscriptions and the delivery run.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::delivery::{
    DELIVERY_TIMEOUT, DISABLE_AFTER, Delivery, DeliveryId, DeliveryStatus, after_attempt, payload,
};
use super::error::WebhookError;
use super::model::{CreatedWebhook, Subscription, SubscriptionId, WebhookConfig, WebhookInput};
use super::ports::{
    DeliveryRepository, DueDelivery, WebhookPatch, WebhookRepository, WebhookSender,
    WebhookTransaction,
};
use super::signing::{WebhookSecret, signed_headers};
use crate::access::{Actor, Permission};
use crate::customer::MAX_PAGE_SIZE;
use crate::error::DomainError;
use crate::event::{EntityType, NewEvent, field_changes};
use crate::page::Page;
use crate::ports::{Clock, IdGenerator, Random};

/// How long a claimed delivery is held by the process attempting it (the attempt's timeout
/// plus margin); after a crash it is due again then.
pub const CLAIM_LEASE: std::time::Duration = std::time::Duration::from_secs(60);

/// What one [`WebhookService::deliver_due`] run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryRun {
    /// Deliveries claimed.
    pub claimed: usize,
    /// Attempts that succeeded.
    pub succeeded: usize,
    /// Attempts that failed with a retry scheduled.
    pub retrying: usize,
    /// Deliveries that failed for good (schedule exhausted, or subscription inactive).
    pub failed: usize,
    /// Subscriptions disabled in this run (failing for 3 days).
    pub disabled: Vec<SubscriptionId>,
}

/// Use cases on webhooks. Every use case of a caller needs `webhooks.manage` and is scoped to
/// the caller's tenant (another tenant's subscription is not found, 404). Every write of a
/// subscription runs in one [`WebhookTransaction`] and appends its event (`webhook.created`,
/// `webhook.updated`, `webhook.secret_rotated`, `webhook.deleted`, and the server's own
/// `webhook.disabled`); no event carries the secret.
pub struct WebhookService {
    webhooks: Arc<dyn WebhookRepository>,
    deliveries: Arc<dyn DeliveryRepository>,
    sender: Arc<dyn WebhookSender>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    random: Arc<dyn Random>,
    config: WebhookConfig,
}

/// `limit` within 1..=200.
fn page_size(limit: u32) -> u32 {
    limit.clamp(1, MAX_PAGE_SIZE)
}

impl WebhookService {
    /// Wires the service.
    pub fn new(
        webhooks: Arc<dyn WebhookRepository>,
        deliveries: Arc<dyn DeliveryRepository>,
        sender: Arc<dyn WebhookSender>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
        random: Arc<dyn Random>,
        config: WebhookConfig,
    ) -> Self {
        Self {
            webhooks,
            deliveries,
            sender,
            clock,
            ids,
            random,
            config,
        }
    }

    /// Registers a subscription (needs `webhooks.manage`) with a new secret, returned this
    /// once. Appends `webhook.created` (data: the subscription's fields and `webhook_id`).
    ///
    /// # Errors
    /// [`DomainError::Validation`] for broken input rules ([`WebhookInput::validate`]) and
    /// [`WebhookError::TooManySubscriptions`] (`webhooks`, `too_many`, with the limit) when
    /// the tenant already has the configured maximum; [`DomainError::Forbidden`].
    #[tracing::instrument(name = "WebhookService::create", skip_all, fields(tenant_id = %actor.tenant_id))]
    pub async fn create(
        &self,
        actor: &Actor,
        input: WebhookInput,
    ) -> Result<CreatedWebhook, DomainError> {
        actor.require(Permission::WebhooksManage)?;
        let fields = input
            .validate(&self.config)
            .map_err(DomainError::Validation)?;
        let mut tx = self.webhooks.begin(actor.tenant_id).await?;
        let count = tx.count_locked(actor.tenant_id).await?;
        let limit = self.config.max_subscriptions;
        if count >= u64::try_from(limit).unwrap_or(u64::MAX) {
            return Err(WebhookError::TooManySubscriptions { limit }.into());
        }
        let now = self.clock.now();
        let secret = WebhookSecret::generate(self.random.as_ref());
        let subscription = Subscription {
            id: SubscriptionId(self.ids.new_id()),
            tenant_id: actor.tenant_id,
            url: fields.url,
            event_types: fields.event_types,
            description: fields.description,
            active: fields.active,
            secret: secret.clone(),
            created_at: now,
            updated_at: now,
            version: 1,
            failing_since: None,
            disabled_reason: None,
        };
        tx.insert(&subscription).await?;
        tx.append_events(&[event(actor, "webhook.created", &subscription, now)])
            .await?;
        tx.commit().await?;
        Ok(CreatedWebhook {
            subscription,
            secret,
        })
    }

    /// A page of the tenant's subscriptions, oldest first (needs `webhooks.manage`); `limit`
    /// is clamped to 1..=200.
    ///
    /// # Errors
    /// [`DomainError::Forbidden`]; storage errors.
    #[tracing::instrument(name = "WebhookService::list", skip_all, fields(tenant_id = %actor.tenant_id))]
    pub async fn list(
        &self,
        actor: &Actor,
        after: Option<SubscriptionId>,
        limit: u32,
    ) -> Result<Page<Subscription, SubscriptionId>, DomainError> {
        actor.require(Permission::WebhooksManage)?;
        let limit = page_size(limit);
        let rows = self
            .webhooks
            .list(actor.tenant_id, after, limit + 1)
            .await?;
        Ok(Page::from_probe(rows, limit, |s| s.id))
    }

    /// One subscription (needs `webhooks.manage`).
    ///
    /// # Errors
    /// [`DomainError::NotFound`] (`webhook`) when the tenant has no such subscription;
    /// [`DomainError::Forbidden`].
    #[tracing::instrument(name = "WebhookService::get", skip_all, fields(tenant_id = %actor.tenant_id, webhook_id = %id))]
    pub async fn get(
        &self,
        actor: &Actor,
        id: SubscriptionId,
    ) -> Result<Subscription, DomainError> {
        actor.require(Permission::WebhooksManage)?;
        self.webhooks
            .get(actor.tenant_id, id)
            .await?
            .ok_or(DomainError::NotFound { entity: "webhook" })
    }

    /// Changes a subscription (needs `webhooks.manage`): `patch` is applied to the stored
    /// subscription and the result replaces its fields, checked as on create. Activating a
    /// disabled subscription clears `disabled_reason` and `failing_since`. With
    /// `expected_version` the write happens only on that version. A patch that changes
    /// nothing writes nothing. Appends `webhook.updated` with `changes`.
    ///
    /// # Errors
    /// [`DomainError::NotFound`] (`webhook`); [`DomainError::PreconditionFailed`];
    /// [`DomainError::Validation`]; [`DomainError::Forbidden`].
    #[tracing::instrument(name = "WebhookService::patch", skip_all, fields(tenant_id = %actor.tenant_id, webhook_id = %id))]
    pub async fn patch(
        &self,
        actor: &Actor,
        id: SubscriptionId,
        patch: &dyn WebhookPatch,
        expected_version: Option<i64>,
    ) -> Result<Subscription, DomainError> {
        let (mut tx, current) = self.open(actor, id, expected_version).await?;
        let fields = patch
            .apply(&current)?
            .validate(&self.config)
            .map_err(DomainError::Validation)?;
        let now = self.clock.now();
        let reactivated = fields.active && !current.active;
        let updated = Subscription {
            url: fields.url,
            event_types: fields.event_types,
            description: fields.description,
            active: fields.active,
            failing_since: if reactivated {
                None
            } else {
                current.failing_since
            },
            disabled_reason: if fields.active {
                None
            } else {
                current.disabled_reason.clone()
            },
            updated_at: now,
            version: current.version + 1,
            ..current.clone()
        };
        let changes = field_changes(&current.snapshot(), &updated.snapshot(), &[]);
        if changes.is_empty() {
            return Ok(current);
        }
        tx.update(&updated).await?;
        tx.append_events(&[event(actor, "webhook.updated", &updated, now).changes(changes)])
            .await?;
        tx.commit().await?;
        Ok(updated)
    }

    /// Deletes a subscription and its deliveries (needs `webhooks.manage`). Appends
    /// `webhook.deleted`.
    ///
    /// # Errors
    /// As [`WebhookService::patch`].
    #[tracing::instrument(name = "WebhookService::delete", skip_all, fields(tenant_id = %actor.tenant_id, webhook_id = %id))]
    pub async fn delete(
        &self,
        actor: &Actor,
        id: SubscriptionId,
        expected_version: Option<i64>,
    ) -> Result<(), DomainError> {
        let (mut tx, current) = self.open(actor, id, expected_version).await?;
        tx.delete(actor.tenant_id, id).await?;
        tx.append_events(&[event(actor, "webhook.deleted", &current, self.clock.now())])
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces a subscription's secret with a new one, returned this once (needs
    /// `webhooks.manage`); later attempts are signed with the new secret. Appends
    /// `webhook.secret_rotated` (without the secret).
    ///
    /// # Errors
    /// As [`WebhookService::patch`].
    #[tracing::instrument(name = "WebhookService::rotate_secret", skip_all, fields(tenant_id = %actor.tenant_id, webhook_id = %id))]
    pub async fn rotate_secret(
        &self,
        actor: &Actor,
        id: SubscriptionId,
        expected_version: Option<i64>,
    ) -> Result<CreatedWebhook, DomainError> {
        let (mut tx, current) = self.open(actor, id, expected_version).await?;
        let now = self.clock.now();
        let secret = WebhookSecret::generate(self.random.as_ref());
        let updated = Subscription {
            secret: secret.clone(),
            updated_at: now,
            version: current.version + 1,
            ..current
        };
        tx.update(&updated).await?;
        tx.append_events(&[event(actor, "webhook.secret_rotated", &updated, now)])
            .await?;
        tx.commit().await?;
        Ok(CreatedWebhook {
            subscription: updated,
            secret,
        })
    }

    /// A page of a subscription's deliveries, newest first (needs `webhooks.manage`);
    /// `limit` is clamped to 1..=200.
    ///
    /// # Errors
    /// [`DomainError::NotFound`] (`webhook`); [`DomainError::Forbidden`].
    #[tracing::instrument(name = "WebhookService::deliveries", skip_all, fields(tenant_id = %actor.tenant_id, webhook_id = %id))]
    pub async fn deliveries(
        &self,
        actor: &Actor,
        id: SubscriptionId,
        after: Option<DeliveryId>,
        limit: u32,
    ) -> Result<Page<Delivery, DeliveryId>, DomainError> {
        self.get(actor, id).await?;
        let limit = page_size(limit);
        let rows = self
            .deliveries
            .list(actor.tenant_id, id, after, limit + 1)
            .await?;
        Ok(Page::from_probe(rows, limit, |d| d.id))
    }

    /// Makes a delivery of the subscription due now again, whatever its state (needs
    /// `webhooks.manage`): see [`Delivery::retried`].
    ///
    /// # Errors
    /// [`DomainError::NotFound`] (`webhook`, or `delivery` when the subscription has no such
    /// delivery); [`DomainError::Forbidden`].
    #[tracing::instrument(name = "WebhookService::retry_delivery", skip_all, fields(tenant_id = %actor.tenant_id, webhook_id = %id, delivery_id = %delivery))]
    pub async fn retry_delivery(
        &self,
        actor: &Actor,
        id: SubscriptionId,
        delivery: DeliveryId,
    ) -> Result<Delivery, DomainError> {
        self.get(actor, id).await?;
        let current = self
            .deliveries
            .get(actor.tenant_id, delivery)
            .await?
            .filter(|d| d.subscription_id == id)
            .ok_or(DomainError::NotFound { entity: "delivery" })?;
        let retried = current.retried(self.clock.now());
        self.deliveries.retry(&retried).await?;
        Ok(retried)
    }

    /// The server's delivery run (no caller: every tenant): claims up to `limit` deliveries
    /// due at `now` and attempts them **concurrently** (so one receiver that hangs for the
    /// 10 s timeout does not hold up the others, and the whole batch ends well within the
    /// [`CLAIM_LEASE`] of 60 s: callers keep `limit` to what can run at once, the server 32).
    /// Each attempt sends the delivery (signed per Standard Webhooks, at most 10 s), records
    /// the outcome ([`after_attempt`]), and keeps its subscription's health: a success clears
    /// `failing_since`, a failure sets it, and a failure 3 days or more after it disables the
    /// subscription (`active` false, `disabled_reason`, `webhook.disabled`). A delivery whose
    /// subscription is inactive fails without an attempt. Deliveries to one receiver may
    /// arrive in any order (as retries reorder them anyway); receivers order by the payload's
    /// `timestamp` and deduplicate on `webhook-id`.
    ///
    /// # Errors
    /// Storage errors (the first one, after every attempt of the batch ended; deliveries
    /// claimed and not recorded are due again after [`CLAIM_LEASE`]).
    #[tracing::instrument(name = "WebhookService::deliver_due", skip_all)]
    pub async fn deliver_due(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<DeliveryRun, DomainError> {
        let due = self.deliveries.claim_due(now, CLAIM_LEASE, limit).await?;
        let mut run = DeliveryRun {
            claimed: due.len(),
            ..DeliveryRun::default()
        };
        let outcomes =
            futures_util::future::join_all(due.into_iter().map(|item| self.attempt(item, now)))
                .await;
        let mut first_error = None;
        for outcome in outcomes {
            match outcome {
                Ok((status, disabled)) => {
                    match status {
                        DeliveryStatus::Succeeded => run.succeeded += 1,
                        DeliveryStatus::Pending => run.retrying += 1,
                        DeliveryStatus::Failed => run.failed += 1,
                    }
                    run.disabled.extend(disabled);
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(run),
        }
    }

    /// One attempt: the delivery's new status, and its subscription when this attempt
    /// disabled it.
    async fn attempt(
        &self,
        due: DueDelivery,
        now: DateTime<Utc>,
    ) -> Result<(DeliveryStatus, Option<SubscriptionId>), DomainError> {
        let DueDelivery {
            delivery,
            subscription,
            event,
        } = due;
        if !subscription.active {
            let failed = Delivery {
                status: DeliveryStatus::Failed,
                next_attempt_at: None,
                last_error: Some("the subscription is inactive".into()),
                updated_at: now,
                ..delivery
            };
            self.deliveries.record_attempt(&failed).await?;
            return Ok((DeliveryStatus::Failed, None));
        }
        let body = serde_json::to_vec(&payload(&event))
            .map_err(|e| DomainError::Internal(format!("webhook payload: {e}")))?;
        let mut headers = signed_headers(
            &subscription.secret,
            &delivery.id.message_id(),
            now.timestamp(),
            &body,
        );
        headers.push(("content-type".into(), "application/json".into()));
        let outcome = self
            .sender
            .send(&subscription.url, headers, body, DELIVERY_TIMEOUT)
            .await;
        let at = self.clock.now();
        let updated = after_attempt(&delivery, &outcome, at, self.random.as_ref());
        self.deliveries.record_attempt(&updated).await?;
        let success = updated.status == DeliveryStatus::Succeeded;
        // Nothing to change: a success of a healthy subscription.
        if success && subscription.failing_since.is_none() {
            return Ok((updated.status, None));
        }
        let disabled = self
            .health(&subscription, success, at)
            .await?
            .then_some(subscription.id);
        Ok((updated.status, disabled))
    }

    /// Records a subscription's health after an attempt, under its lock; whether it was
    /// disabled now.
    async fn health(
        &self,
        claimed: &Subscription,
        success: bool,
        at: DateTime<Utc>,
    ) -> Result<bool, DomainError> {
        let mut tx = self.webhooks.begin(claimed.tenant_id).await?;
        let Some(current) = tx.lock(claimed.tenant_id, claimed.id).await? else {
            return Ok(false);
        };
        let (updated, disabled) = match (success, current.failing_since) {
            (true, None) => return Ok(false),
            (true, Some(_)) => (
                Subscription {
                    failing_since: None,
                    ..current.clone()
                },
                false,
            ),
            (false, None) => (
                Subscription {
                    failing_since: Some(at),
                    ..current.clone()
                },
                false,
            ),
            (false, Some(since)) if current.active && at - since >= DISABLE_AFTER => (
                Subscription {
                    active: false,
                    disabled_reason: Some(format!(
                        "every delivery failed since {} (3 days)",
                        since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    )),
                    updated_at: at,
                    version: current.version + 1,
                    ..current.clone()
                },
                true,
            ),
            (false, Some(_)) => return Ok(false),
        };
        tx.record_health(&updated).await?;
        if disabled {
            tx.append_events(&[NewEvent::system(
                current.tenant_id,
                "webhook.disabled",
                EntityType::Webhook,
                current.id.0,
                at,
            )
            .data(json!({
                "webhook_id": current.id,
                "url": current.url.as_str(),
                "failing_since": current.failing_since,
                "reason": updated.disabled_reason,
            }))])
            .await?;
        }
        tx.commit().await?;
        Ok(disabled)
    }

    /// Starts a transaction on subscription `id` under its lock, at `expected_version` when
    /// given.
    async fn open(
        &self,
        actor: &Actor,
        id: SubscriptionId,
        expected_version: Option<i64>,
    ) -> Result<(Box<dyn WebhookTransaction>, Subscription), DomainError> {
        actor.require(Permission::WebhooksManage)?;
        let mut tx = self.webhooks.begin(actor.tenant_id).await?;
        let current = tx
            .lock(actor.tenant_id, id)
            .await?
            .ok_or(DomainError::NotFound { entity: "webhook" })?;
        if let Some(expected) = expected_version
            && expected != current.version
        {
            return Err(DomainError::PreconditionFailed {
                expected,
                current: current.version,
            });
        }
        Ok((tx, current))
    }
}

/// An event of `actor` about `subscription` (data: its id and fields, never the secret).
fn event(actor: &Actor, kind: &str, s: &Subscription, at: DateTime<Utc>) -> NewEvent {
    let mut data = s.snapshot();
    if let Some(map) = data.as_object_mut() {
        map.insert("webhook_id".into(), json!(s.id));
    }
    NewEvent::new(actor, kind, EntityType::Webhook, s.id.0, at).data(data)
}
