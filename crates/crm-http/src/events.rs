//! The event log's reads (issue 13): `GET /api/v1/customers/{id}/timeline`,
//! `GET /api/v1/customers/{id}/history` and `GET /api/v1/audit-events`. Each handler parses
//! the query, calls one `EventService` method and maps the page; the rules (visibility, type
//! patterns, bounds, `customers.manage` for the audit) are in `crm_domain::event`.

use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, Utc};
use crm_domain::event::{AuditFilter, DEFAULT_EVENT_PAGE, EntityType, Event, EventId, EventPage};
use crm_domain::{CustomerId, Permission};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::Caller;
use crate::cursor::CursorKind;
use crate::problem::{ApiError, Problem};
use crate::state::AppState;

/// Registers the event routes (inside the `/api/v1` scope).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(timeline).service(history).service(audit_events);
}

/// Who caused an event.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EventActorResponse {
    /// The user id (the token's `sub`), or `system` for the server's own jobs.
    #[schema(example = "ana")]
    pub sub: String,
    /// The caller's strongest role: `admin`, `manager`, `sales`, `viewer`, or null.
    #[schema(example = "sales")]
    pub role: Option<String>,
    /// The `x-request-id` of the request that caused it (null for jobs without one).
    pub request_id: Option<String>,
}

/// One event of the log.
///
/// `data` per type (every member a JSON value as the API shows the record):
///
/// | type | data |
/// |---|---|
/// | `customer.created` | `id`, `name`, `customer_type`, `status`, `email`, `phone` |
/// | `customer.updated` | the same key fields after the change; `changes` names every changed field (`last_contact_at`, `next_follow_up_at`, `version`, `updated_*` left out) |
/// | `customer.status_changed` | `from`, `to`, `reason` (the request's `status_reason`); `changes.status` |
/// | `customer.deleted`, `customer.restored` | `id`, `name`, `customer_code` |
/// | `customer.erased` | `id`, `erasure_id` (no personal data) |
/// | `address.added`, `address.removed` | the address: `id`, `customer_id`, `type`, `label`, `recipient_name`, `phone`, `line1`, `line2`, `district`, `city`, `region`, `postal_code`, `country`, `latitude`, `longitude`, `delivery_notes`, `is_default` |
/// | `address.updated` | the address after; `changes` (a default moving to another address is an `address.updated` of each, `changes.is_default`) |
/// | `contact.added`, `contact.removed` | the contact: `id`, `customer_id`, `name`, `job_title`, `department`, `email`, `phone`, `mobile_phone`, `roles`, `preferred_channel`, `language`, `notes`, `portal_access`, `is_primary` |
/// | `contact.updated` | the contact after; `changes` (primary moves as `changes.is_primary`) |
/// | `consent.changed` | `purpose`, `status`, `at`, `source`, `consent_event_id` |
/// | `import.started` | `job_id`, `kind`, `file_name` |
/// | `import.completed`, `import.failed` | `job_id`, `kind`, `counts` (`rows_read`, `created`, `updated`, `skipped`, `failed`), `error` |
/// | `interaction.*`, `follow_up.*`, `note.*`, `document.*`, `order.*`, `points.*`, `tier.*`, `segment.*`, `tenant.settings_updated` | the record's key fields (ids, type, subject or title, status, amounts as decimal strings with `currency`), documented with their resources |
///
/// An import appends one `customer.created` (or `customer.updated` with `changes`) per row it
/// wrote, by the importing user.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EventResponse {
    /// The log's id: increasing within the tenant (not gap-free).
    pub id: i64,
    /// `<entity>.<verb>`, e.g. `customer.updated`.
    #[serde(rename = "type")]
    #[schema(example = "customer.updated")]
    pub event_type: String,
    /// When it happened (RFC 3339 UTC).
    pub occurred_at: DateTime<Utc>,
    /// The customer whose timeline it is on, if any.
    pub customer_id: Option<Uuid>,
    /// The kind of record: `customer`, `address`, `contact`, `interaction`, `follow_up`,
    /// `note`, `document`, `order`, `loyalty_entry`, `tier`, `segment`, `import`, `tenant`.
    #[schema(example = "customer")]
    pub entity_type: String,
    /// The record's id.
    pub entity_id: Uuid,
    /// Who caused it.
    pub actor: EventActorResponse,
    /// A human-readable one-line summary.
    #[schema(example = "ana (sales) changed email and phone")]
    pub summary: String,
    /// The type's payload (see the table above).
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    /// For updates: `{field: [old, new]}`; else `{}`.
    #[schema(value_type = Object, example = json!({"email": ["a@example.com", "b@example.com"]}))]
    pub changes: serde_json::Value,
}

impl From<&Event> for EventResponse {
    fn from(e: &Event) -> Self {
        let n = &e.event;
        EventResponse {
            id: e.id.0,
            event_type: n.event_type.clone(),
            occurred_at: n.occurred_at,
            customer_id: n.customer_id.map(|c| c.0),
            entity_type: n.entity_type.as_str().to_owned(),
            entity_id: n.entity_id,
            actor: EventActorResponse {
                sub: n.actor.sub.clone(),
                role: n.actor.role.clone(),
                request_id: n.actor.request_id.clone(),
            },
            summary: crm_domain::event::summary(e),
            data: n.data.clone(),
            changes: serde_json::to_value(&n.changes).unwrap_or_default(),
        }
    }
}

/// A page of events, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EventList {
    /// The events.
    pub data: Vec<EventResponse>,
    /// Pass as `cursor` for the next (older) page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// Query parameters of the timeline.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct TimelineParams {
    /// Event types, comma-separated (or repeated), at most 20: exact (`note.added`) or a
    /// prefix pattern (`customer.*`). Default: every type.
    types: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Events per page, 1..=200 (default 20).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

/// Query parameters of the history.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct HistoryParams {
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Events per page, 1..=200 (default 20).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

/// Query parameters of the audit search.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct AuditParams {
    /// Only events about this kind of record (`customer`, `address`, `order`, ...).
    entity_type: Option<String>,
    /// Only events about this record.
    entity_id: Option<Uuid>,
    /// Only events caused by this user (`sub`), at most 255 bytes.
    actor: Option<String>,
    /// Event types, comma-separated (or repeated), at most 20: exact or `prefix.*`.
    #[param(rename = "type")]
    r#type: Option<String>,
    /// `occurred_at` ≥ this (RFC 3339).
    from: Option<DateTime<Utc>>,
    /// `occurred_at` < this (RFC 3339).
    to: Option<DateTime<Utc>>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Events per page, 1..=200 (default 20).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

/// Which list a cursor belongs to (inside the signed payload).
const TIMELINE: &str = "timeline";
const HISTORY: &str = "history";
const AUDIT: &str = "audit";

/// The most bytes of one `types` / `type` parameter value.
const MAX_TYPES_PARAM_BYTES: usize = 2_100;

fn decode_cursor(state: &AppState, list: &str, raw: &str) -> Result<EventId, ApiError> {
    let v = state.cursors.decode_json(CursorKind::Events, raw)?;
    match (
        v.get("l").and_then(|l| l.as_str()),
        v.get("b").and_then(|b| b.as_i64()),
    ) {
        (Some(l), Some(b)) if l == list => Ok(EventId(b)),
        _ => Err(ApiError::bad(
            "cursor",
            "the cursor is malformed or was not issued by this server for this list",
        )),
    }
}

fn page_response(state: &AppState, list: &str, page: EventPage) -> HttpResponse {
    HttpResponse::Ok().json(EventList {
        data: page.items.iter().map(EventResponse::from).collect(),
        next_cursor: page.next.map(|id| {
            state.cursors.encode_json(
                CursorKind::Events,
                &serde_json::json!({"l": list, "b": id.0}),
            )
        }),
    })
}

/// Comma-separated type patterns appended to `out` (checked by the domain).
fn types_param(name: &str, value: &str, out: &mut Vec<String>) -> Result<(), ApiError> {
    if value.len() > MAX_TYPES_PARAM_BYTES {
        return Err(ApiError::bad(name, "too long"));
    }
    out.extend(
        value
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned),
    );
    Ok(())
}

/// A customer's timeline: its events (and those of its addresses, contacts, interactions,
/// follow-ups, notes, documents, orders, points, tier, segments and consents), newest first,
/// each with a one-line `summary`.
#[utoipa::path(
    tag = "events",
    params(("id" = Uuid, Path, description = "Customer id"), TimelineParams),
    responses(
        (status = 200, description = "A page of the customer's events, newest first", body = EventList),
        (status = 400, description = "Unknown parameter or malformed value (`cursor`, `limit`)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing customers.view", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such live customer in the caller's tenant (or outside the caller's visibility)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`types` malformed or more than 20 patterns", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/customers/{id}/timeline")]
pub async fn timeline(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let mut types = Vec::new();
    let mut before = None;
    let mut limit = DEFAULT_EVENT_PAGE;
    crate::query::each_param(
        req.query_string(),
        &["types", "cursor", "limit"],
        |name, value| {
            match name {
                "types" => types_param(name, value, &mut types)?,
                "cursor" => before = Some(decode_cursor(&state, TIMELINE, value)?),
                _ => limit = u64::from(crate::query::limit(value)?),
            }
            Ok(())
        },
    )?;
    let page = state
        .services
        .events
        .timeline(&caller.0, CustomerId(id.into_inner()), types, before, limit)
        .await?;
    Ok(page_response(&state, TIMELINE, page))
}

/// The field-level history of a customer record: its `customer.updated` and
/// `customer.status_changed` events, newest first, each with `changes` (`{field: [old, new]}`).
#[utoipa::path(
    tag = "events",
    params(("id" = Uuid, Path, description = "Customer id"), HistoryParams),
    responses(
        (status = 200, description = "A page of the customer's field changes, newest first", body = EventList),
        (status = 400, description = "Unknown parameter or malformed value", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing customers.view", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such live customer in the caller's tenant", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/customers/{id}/history")]
pub async fn history(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let mut before = None;
    let mut limit = DEFAULT_EVENT_PAGE;
    crate::query::each_param(req.query_string(), &["cursor", "limit"], |name, value| {
        match name {
            "cursor" => before = Some(decode_cursor(&state, HISTORY, value)?),
            _ => limit = u64::from(crate::query::limit(value)?),
        }
        Ok(())
    })?;
    let page = state
        .services
        .events
        .history(&caller.0, CustomerId(id.into_inner()), before, limit)
        .await?;
    Ok(page_response(&state, HISTORY, page))
}

/// Search the tenant's event log (needs `customers.manage`), newest first.
#[utoipa::path(
    tag = "events",
    params(AuditParams),
    responses(
        (status = 200, description = "A page of the tenant's events, newest first", body = EventList),
        (status = 400, description = "Unknown parameter or malformed value", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing customers.manage", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`type` malformed or more than 20 patterns, `actor` too long, or `to` before `from`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/audit-events")]
pub async fn audit_events(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    // The permission before the query: a caller without it learns nothing from a 400.
    caller
        .0
        .require(Permission::CustomersManage)
        .map_err(|e| ApiError::Domain(e.into()))?;
    let mut filter = AuditFilter::default();
    let mut before = None;
    let mut limit = DEFAULT_EVENT_PAGE;
    crate::query::each_param(
        req.query_string(),
        &[
            "entity_type",
            "entity_id",
            "actor",
            "type",
            "from",
            "to",
            "cursor",
            "limit",
        ],
        |name, value| {
            match name {
                "entity_type" => {
                    filter.entity_type = Some(
                        value
                            .parse::<EntityType>()
                            .map_err(|e: String| ApiError::bad(name, e))?,
                    );
                }
                "entity_id" => {
                    filter.entity_id = Some(
                        value
                            .parse::<Uuid>()
                            .map_err(|_| ApiError::bad(name, "not a UUID"))?,
                    );
                }
                "actor" => filter.actor = Some(value.to_owned()),
                "type" => types_param(name, value, &mut filter.types)?,
                "from" => filter.from = Some(crate::query::time(name, value)?),
                "to" => filter.to = Some(crate::query::time(name, value)?),
                "cursor" => before = Some(decode_cursor(&state, AUDIT, value)?),
                _ => limit = u64::from(crate::query::limit(value)?),
            }
            Ok(())
        },
    )?;
    let page = state
        .services
        .events
        .audit(&caller.0, filter, before, limit)
        .await?;
    Ok(page_response(&state, AUDIT, page))
}
