//! Webhook subscriptions (issue 14): `GET`/`POST /api/v1/webhooks`,
//! `GET`/`PATCH`/`DELETE /api/v1/webhooks/{id}`, `POST /api/v1/webhooks/{id}/rotate-secret`,
//! `GET /api/v1/webhooks/{id}/deliveries` and
//! `POST /api/v1/webhooks/{id}/deliveries/{delivery_id}/retry`. Each handler extracts, calls
//! one `WebhookService` method and maps the result; the rules (URL safety, patterns, the
//! subscription limit, `webhooks.manage`) are in `crm_domain::webhook`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use crm_domain::customer::merge_patch;
use crm_domain::webhook::{
    CreatedWebhook, Delivery, DeliveryId, DeliveryStatus, Subscription, SubscriptionId,
    WebhookInput, WebhookPatch,
};
use crm_domain::{DomainError, Permission};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::Caller;
use crate::cursor::CursorKind;
use crate::customers::if_match;
use crate::json::from_value;
use crate::problem::{ApiError, Problem};
use crate::state::AppState;

/// Registers the webhook routes (inside the `/api/v1` scope).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_webhooks)
        .service(create_webhook)
        .service(get_webhook)
        .service(patch_webhook)
        .service(delete_webhook)
        .service(rotate_secret)
        .service(list_deliveries)
        .service(retry_delivery);
}

api_enum!(
    /// Where a delivery stands: `pending` (its next attempt is due at `next_attempt_at`),
    /// `succeeded` (the receiver answered 2xx within 10 s) or `failed` (every attempt of the
    /// schedule failed, or the subscription was inactive).
    DeliveryState => DeliveryStatus { Pending, Succeeded, Failed }
);

/// The editable fields of a subscription: the body of `POST` and the members a `PATCH` merge
/// patch (RFC 7396) may carry. The secret, times and `version` are the server's. Unknown
/// fields are refused.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookWrite {
    /// Where deliveries are POSTed: an absolute `https` URL of a public host (plain `http`
    /// and private or loopback targets only where the server allows them), no user name or
    /// password, at most 2,048 bytes. Required on create.
    #[schema(example = "https://hooks.example.com/crm")]
    pub url: Option<String>,
    /// Which events are delivered: 1..=50 patterns, `*` (every type), `customer.*` (every
    /// type of an entity) or an exact type `order.placed`. Required on create.
    #[schema(example = json!(["customer.*", "order.placed"]))]
    pub event_types: Option<Vec<String>>,
    /// For people: at most 500 characters, one line.
    #[schema(example = "Mailing tool sync")]
    pub description: Option<String>,
    /// Whether deliveries are made (default true). Activating a subscription the server
    /// disabled clears `disabled_reason`.
    pub active: Option<bool>,
}

impl From<WebhookWrite> for WebhookInput {
    fn from(w: WebhookWrite) -> Self {
        WebhookInput {
            url: w.url,
            event_types: w.event_types,
            description: w.description,
            active: w.active,
        }
    }
}

impl From<&Subscription> for WebhookWrite {
    /// The stored fields as a write body: what a `PATCH` merge patch applies to.
    fn from(s: &Subscription) -> Self {
        WebhookWrite {
            url: Some(s.url.as_str().to_owned()),
            event_types: Some(s.event_types.to_strings()),
            description: s.description.clone(),
            active: Some(s.active),
        }
    }
}

/// A webhook subscription (never its secret).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WebhookResponse {
    /// Id (UUID v7).
    pub id: Uuid,
    /// Where deliveries are POSTed.
    pub url: String,
    /// Which events are delivered (patterns).
    pub event_types: Vec<String>,
    /// For people.
    pub description: Option<String>,
    /// Whether deliveries are made.
    pub active: bool,
    /// Why the server disabled it (every delivery failing for 3 days); `null` otherwise.
    pub disabled_reason: Option<String>,
    /// Since when every attempt has failed (UTC); `null` while healthy.
    pub failing_since: Option<DateTime<Utc>>,
    /// Creation time (UTC).
    pub created_at: DateTime<Utc>,
    /// Last change (UTC).
    pub updated_at: DateTime<Utc>,
    /// Version (the `ETag`): 1 on creation, +1 on every change.
    pub version: i64,
}

impl From<&Subscription> for WebhookResponse {
    fn from(s: &Subscription) -> Self {
        WebhookResponse {
            id: s.id.0,
            url: s.url.as_str().to_owned(),
            event_types: s.event_types.to_strings(),
            description: s.description.clone(),
            active: s.active,
            disabled_reason: s.disabled_reason.clone(),
            failing_since: s.failing_since,
            created_at: s.created_at,
            updated_at: s.updated_at,
            version: s.version,
        }
    }
}

/// A subscription with its signing secret: the answer of create and of rotate-secret, the
/// only times the secret is shown.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WebhookWithSecret {
    /// The subscription.
    #[serde(flatten)]
    pub webhook: WebhookResponse,
    /// The signing secret (`whsec_` + base64 of 32 bytes). Shown this once: keep it where
    /// the receiver verifies `webhook-signature` (Standard Webhooks: HMAC-SHA256 over
    /// `{webhook-id}.{webhook-timestamp}.{body}` keyed by the base64-decoded part after
    /// `whsec_`).
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: String,
}

impl From<&CreatedWebhook> for WebhookWithSecret {
    fn from(c: &CreatedWebhook) -> Self {
        WebhookWithSecret {
            webhook: WebhookResponse::from(&c.subscription),
            secret: c.secret.expose(),
        }
    }
}

/// One page of subscriptions, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WebhookPage {
    /// The subscriptions.
    pub data: Vec<WebhookResponse>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// One delivery of an event to a subscription.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeliveryResponse {
    /// Id (UUID v7); the `webhook-id` header of its attempts is `msg_` + this id without
    /// hyphens.
    pub id: Uuid,
    /// The subscription.
    pub webhook_id: Uuid,
    /// The event it carries.
    pub event_id: i64,
    /// Where it stands.
    pub status: DeliveryState,
    /// Attempts made so far.
    pub attempts: u32,
    /// The HTTP status of the last attempt's answer; `null` when it got none.
    pub last_response_code: Option<u16>,
    /// How long the last attempt took, milliseconds.
    pub last_latency_ms: Option<u64>,
    /// When the next attempt is due (UTC; `null` unless `pending`). Retries wait about 5 s,
    /// 5 min, 30 min, 2 h, 5 h and 10 h (±10 %).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When it was created (its event committed).
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<&Delivery> for DeliveryResponse {
    fn from(d: &Delivery) -> Self {
        DeliveryResponse {
            id: d.id.0,
            webhook_id: d.subscription_id.0,
            event_id: d.event_id.0,
            status: d.status.into(),
            attempts: d.attempts,
            last_response_code: d.last_response_code,
            last_latency_ms: d.last_latency_ms,
            next_attempt_at: d.next_attempt_at,
            last_error: d.last_error.clone(),
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

/// One page of deliveries, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeliveryPage {
    /// The deliveries.
    pub data: Vec<DeliveryResponse>,
    /// Pass as `cursor` for the next (older) page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// Query parameters of the lists.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct PageParams {
    /// Rows per page, 1..=200 (default 20).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// A `PATCH` body applied to a stored subscription as a JSON merge patch.
struct MergePatch(Value);

impl WebhookPatch for MergePatch {
    fn apply(&self, current: &Subscription) -> Result<WebhookInput, DomainError> {
        let mut doc = serde_json::to_value(WebhookWrite::from(current))
            .map_err(|e| DomainError::Internal(e.to_string()))?;
        merge_patch(&mut doc, &self.0);
        match from_value::<WebhookWrite>(doc) {
            Ok(w) => Ok(w.into()),
            Err(ApiError::Domain(e)) => Err(e),
            Err(other) => Err(DomainError::invalid("body", "invalid", other.to_string())),
        }
    }
}

fn with_webhook(mut res: actix_web::HttpResponseBuilder, s: &Subscription) -> HttpResponse {
    res.insert_header((header::ETAG, format!("\"{}\"", s.version)))
        .json(WebhookResponse::from(s))
}

fn with_secret(mut res: actix_web::HttpResponseBuilder, c: &CreatedWebhook) -> HttpResponse {
    res.insert_header((header::ETAG, format!("\"{}\"", c.subscription.version)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(WebhookWithSecret::from(c))
}

/// The permission before a body or query is read: a caller without it learns nothing from
/// a 400 or 422.
fn require_manage(caller: &Caller) -> Result<(), ApiError> {
    caller
        .0
        .require(Permission::WebhooksManage)
        .map_err(|e| ApiError::Domain(e.into()))
}

/// Reads `limit` and `cursor` (an id) of a list of `kind`.
fn page_query(
    req: &HttpRequest,
    state: &AppState,
    kind: CursorKind,
) -> Result<(u32, Option<Uuid>), ApiError> {
    let (limit, cursor) = crate::cursor::page_query(req, state, kind)?;
    let after = cursor
        .map(|v| {
            v["i"]
                .as_str()
                .and_then(|s| s.parse::<Uuid>().ok())
                .ok_or_else(crate::cursor::bad_cursor)
        })
        .transpose()?;
    Ok((limit, after))
}

fn cursor(state: &AppState, kind: CursorKind, id: Uuid) -> String {
    state.cursors.encode_json(kind, &json!({"i": id}))
}

/// Register a webhook subscription (needs `webhooks.manage`). The answer carries the signing
/// secret, shown this once.
///
/// Deliveries follow the Standard Webhooks specification: `POST url` with headers
/// `webhook-id` (`msg_…`, the same on every attempt of a delivery), `webhook-timestamp`
/// (seconds) and `webhook-signature` (`v1,` + base64 HMAC-SHA256 of
/// `{webhook-id}.{webhook-timestamp}.{body}`, keyed by the base64-decoded secret after
/// `whsec_`), and a JSON body `{type, timestamp, data}` (`data`: the timeline entry). A 2xx
/// answer within 10 s is a success; otherwise the delivery is retried (about 5 s, 5 min,
/// 30 min, 2 h, 5 h, 10 h), and a subscription failing for 3 days is disabled. Redirects are
/// not followed. Internal notes are never delivered.
#[utoipa::path(
    tag = "webhooks",
    request_body = WebhookWrite,
    responses(
        (status = 201, description = "Created; `Location` names it, `ETag` is its version; `secret` is shown this once", body = WebhookWithSecret),
        (status = 403, description = "Missing webhooks.manage", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields: `url` (`required`, `too_long`, `invalid_url`, `insecure_scheme`, `userinfo`, `private_target`), `event_types` (`required`, `too_many`, `event_types[i]` `invalid`), `description` (`too_long`), or the tenant already has the most subscriptions (`webhooks`, `too_many`, with `limit`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/webhooks")]
pub async fn create_webhook(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    require_manage(&caller)?;
    let body: WebhookWrite = crate::json::read_json(&req, payload).await?;
    let created = state
        .services
        .webhooks
        .create(&caller.0, body.into())
        .await?;
    let mut res = HttpResponse::Created();
    res.insert_header((
        header::LOCATION,
        format!("/api/v1/webhooks/{}", created.subscription.id),
    ));
    Ok(with_secret(res, &created))
}

/// List the tenant's webhook subscriptions, oldest first (needs `webhooks.manage`).
#[utoipa::path(
    tag = "webhooks",
    params(PageParams),
    responses(
        (status = 200, description = "A page of subscriptions", body = WebhookPage),
        (status = 400, description = "A malformed `limit` or `cursor`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing webhooks.manage", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/webhooks")]
pub async fn list_webhooks(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    require_manage(&caller)?;
    let (limit, after) = page_query(&req, &state, CursorKind::Webhooks)?;
    let page = state
        .services
        .webhooks
        .list(&caller.0, after.map(SubscriptionId), limit)
        .await?;
    Ok(HttpResponse::Ok().json(WebhookPage {
        data: page.items.iter().map(WebhookResponse::from).collect(),
        next_cursor: page
            .next
            .map(|id| cursor(&state, CursorKind::Webhooks, id.0)),
    }))
}

/// Get a webhook subscription (needs `webhooks.manage`).
#[utoipa::path(
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "Subscription id")),
    responses(
        (status = 200, description = "The subscription; `ETag` is its version", body = WebhookResponse),
        (status = 403, description = "Missing webhooks.manage", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such subscription in the caller's tenant", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/webhooks/{id}")]
pub async fn get_webhook(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let s = state
        .services
        .webhooks
        .get(&caller.0, SubscriptionId(id.into_inner()))
        .await?;
    Ok(with_webhook(HttpResponse::Ok(), &s))
}

/// Change some fields of a subscription (JSON merge patch, RFC 7396; needs
/// `webhooks.manage`). With `If-Match`, the change happens only on that version (else 412).
/// `"active": true` on a subscription the server disabled starts deliveries again.
#[utoipa::path(
    tag = "webhooks",
    params(
        ("id" = Uuid, Path, description = "Subscription id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the version the change is based on"),
    ),
    request_body(content = WebhookWrite, description = "A merge patch of the editable fields", content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The changed subscription", body = WebhookResponse),
        (status = 400, description = "Malformed JSON or If-Match", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing webhooks.manage", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such subscription", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (as on create)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[patch("/webhooks/{id}")]
pub async fn patch_webhook(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    require_manage(&caller)?;
    let expected = if_match(req.headers())?;
    let body: Value = crate::json::read_json(&req, payload).await?;
    if !body.is_object() {
        return Err(ApiError::Domain(DomainError::invalid(
            "body",
            "invalid_type",
            "a merge patch of a webhook is a JSON object",
        )));
    }
    let s = state
        .services
        .webhooks
        .patch(
            &caller.0,
            SubscriptionId(id.into_inner()),
            &MergePatch(body),
            expected,
        )
        .await?;
    Ok(with_webhook(HttpResponse::Ok(), &s))
}

/// Delete a subscription and its delivery log for good (needs `webhooks.manage`); pending
/// deliveries are not made.
#[utoipa::path(
    tag = "webhooks",
    params(
        ("id" = Uuid, Path, description = "Subscription id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the version to delete"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Malformed If-Match", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing webhooks.manage", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such subscription", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[delete("/webhooks/{id}")]
pub async fn delete_webhook(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    require_manage(&caller)?;
    let expected = if_match(req.headers())?;
    state
        .services
        .webhooks
        .delete(&caller.0, SubscriptionId(id.into_inner()), expected)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Replace a subscription's signing secret (needs `webhooks.manage`). The answer carries the
/// new secret, shown this once; every attempt from now on is signed with it.
#[utoipa::path(
    tag = "webhooks",
    params(
        ("id" = Uuid, Path, description = "Subscription id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the version the rotation is based on"),
    ),
    responses(
        (status = 200, description = "The subscription with its new `secret`", body = WebhookWithSecret),
        (status = 400, description = "Malformed If-Match", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing webhooks.manage", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such subscription", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/webhooks/{id}/rotate-secret")]
pub async fn rotate_secret(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    require_manage(&caller)?;
    let expected = if_match(req.headers())?;
    let rotated = state
        .services
        .webhooks
        .rotate_secret(&caller.0, SubscriptionId(id.into_inner()), expected)
        .await?;
    Ok(with_secret(HttpResponse::Ok(), &rotated))
}

/// A subscription's delivery log, newest first (needs `webhooks.manage`): each delivery's
/// status, attempts, last response code, latency and error, and its next attempt.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "Subscription id"), PageParams),
    responses(
        (status = 200, description = "A page of deliveries", body = DeliveryPage),
        (status = 400, description = "A malformed `limit` or `cursor`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing webhooks.manage", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such subscription", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/webhooks/{id}/deliveries")]
pub async fn list_deliveries(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    require_manage(&caller)?;
    let (limit, after) = page_query(&req, &state, CursorKind::WebhookDeliveries)?;
    let page = state
        .services
        .webhooks
        .deliveries(
            &caller.0,
            SubscriptionId(id.into_inner()),
            after.map(DeliveryId),
            limit,
        )
        .await?;
    Ok(HttpResponse::Ok().json(DeliveryPage {
        data: page.items.iter().map(DeliveryResponse::from).collect(),
        next_cursor: page
            .next
            .map(|id| cursor(&state, CursorKind::WebhookDeliveries, id.0)),
    }))
}

/// Make a delivery due now again, whatever its state (needs `webhooks.manage`). Its
/// attempts so far are kept: a delivery that exhausted the schedule gets one more attempt.
#[utoipa::path(
    tag = "webhooks",
    params(
        ("id" = Uuid, Path, description = "Subscription id"),
        ("delivery_id" = Uuid, Path, description = "Delivery id"),
    ),
    responses(
        (status = 200, description = "The delivery, pending and due now", body = DeliveryResponse),
        (status = 403, description = "Missing webhooks.manage", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such subscription, or it has no such delivery", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/webhooks/{id}/deliveries/{delivery_id}/retry")]
pub async fn retry_delivery(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (id, delivery) = path.into_inner();
    let d = state
        .services
        .webhooks
        .retry_delivery(&caller.0, SubscriptionId(id), DeliveryId(delivery))
        .await?;
    Ok(HttpResponse::Ok().json(DeliveryResponse::from(&d)))
}
