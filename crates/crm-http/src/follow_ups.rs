//! Follow-ups of a customer: `GET`/`POST /api/v1/customers/{id}/follow-ups`,
//! `GET`/`PATCH`/`DELETE /api/v1/follow-ups/{id}` and the work queue
//! `GET /api/v1/follow-ups`. Each handler extracts, calls one `InteractionService` method and
//! maps the result; the rules (status transitions, `overdue`, the customer's
//! `next_follow_up_at`) are in `crm_domain::interaction`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use crm_domain::customer::merge_patch;
use crm_domain::ids::FollowUpId;
use crm_domain::interaction::{
    FollowUp, FollowUpInput, FollowUpPatch, FollowUpPosition, FollowUpQuery,
};
use crm_domain::page::Page;
use crm_domain::{CustomerId, DomainError};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::Caller;
use crate::cursor::CursorKind;
use crate::customers::if_match;
use crate::interactions::require_edit;
use crate::json::from_value;
use crate::problem::{ApiError, Problem};
use crate::state::AppState;

/// Registers the follow-up routes (inside the `/api/v1` scope).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_follow_ups)
        .service(list_customer_follow_ups)
        .service(create_follow_up)
        .service(get_follow_up)
        .service(patch_follow_up)
        .service(delete_follow_up);
}

/// The editable fields of a follow-up: the body of `POST` (and of an interaction's
/// `follow_up`), and the fields a `PATCH` merge patch may carry. Empty strings count as
/// absent. Unknown fields are refused.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FollowUpWrite {
    /// One line, 1..=255 characters. Required.
    #[schema(example = "Send the revised quotation")]
    pub title: Option<String>,
    /// Text, several lines, up to 10,000 characters.
    pub notes: Option<String>,
    /// When it is due (RFC 3339, years 1970..=9999). Required.
    pub due_at: Option<DateTime<Utc>>,
    /// Who should do it (a user id, the token's `sub`); default the caller.
    #[schema(example = "sales-user")]
    pub assignee: Option<String>,
    /// `low`, `normal` (default), `high` or `urgent`.
    #[schema(example = "high")]
    pub priority: Option<String>,
    /// `open` on creation (the only value allowed there). A `PATCH` moves it: `open` →
    /// `done` (sets `completed_at` and `completed_by`), `open` → `cancelled`, `done` or
    /// `cancelled` → `open` (a reopen, clears them); anything else is a 422
    /// `invalid_transition`.
    #[schema(example = "open")]
    pub status: Option<String>,
}

impl From<FollowUpWrite> for FollowUpInput {
    fn from(w: FollowUpWrite) -> Self {
        FollowUpInput {
            title: w.title,
            notes: w.notes,
            due_at: w.due_at,
            assignee: w.assignee,
            priority: w.priority,
            status: w.status,
        }
    }
}

impl From<&FollowUp> for FollowUpWrite {
    /// The stored fields as a write body: what a `PATCH` merge patch applies to.
    fn from(f: &FollowUp) -> Self {
        let d = &f.details;
        FollowUpWrite {
            title: Some(d.title.clone()),
            notes: d.notes.clone(),
            due_at: Some(d.due_at),
            assignee: Some(d.assignee.as_str().to_owned()),
            priority: Some(d.priority.as_str().to_owned()),
            status: Some(f.status.as_str().to_owned()),
        }
    }
}

/// A follow-up as stored, with its derived `overdue`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FollowUpResponse {
    /// Id (UUID v7).
    pub id: Uuid,
    /// The customer.
    pub customer_id: Uuid,
    /// Title.
    pub title: String,
    /// Notes.
    pub notes: Option<String>,
    /// When it is due (UTC).
    pub due_at: DateTime<Utc>,
    /// Who should do it.
    pub assignee: String,
    /// `low`, `normal`, `high` or `urgent`.
    pub priority: String,
    /// `open`, `done` or `cancelled`.
    pub status: String,
    /// Derived: `status` is `open` and `due_at` has passed.
    pub overdue: bool,
    /// When it was done (status `done`).
    pub completed_at: Option<DateTime<Utc>>,
    /// Who did it (status `done`).
    pub completed_by: Option<String>,
    /// The interaction that created it, if any.
    pub interaction_id: Option<Uuid>,
    /// Version (the `ETag`): 1 on creation, +1 on every change.
    pub version: i64,
    /// Who created it.
    pub created_by: Option<String>,
    /// Creation time (UTC).
    pub created_at: DateTime<Utc>,
    /// Last change (UTC).
    pub updated_at: DateTime<Utc>,
}

impl FollowUpResponse {
    /// The follow-up as the API shows it at `now` (for `overdue`).
    pub fn new(f: &FollowUp, now: DateTime<Utc>) -> Self {
        let d = &f.details;
        FollowUpResponse {
            id: f.id.0,
            customer_id: f.customer_id.0,
            title: d.title.clone(),
            notes: d.notes.clone(),
            due_at: d.due_at,
            assignee: d.assignee.as_str().to_owned(),
            priority: d.priority.as_str().to_owned(),
            status: f.status.as_str().to_owned(),
            overdue: f.is_overdue(now),
            completed_at: f.completed_at,
            completed_by: f.completed_by.as_ref().map(|u| u.as_str().to_owned()),
            interaction_id: f.interaction_id.map(|i| i.0),
            version: f.version,
            created_by: f.created_by.as_ref().map(|u| u.as_str().to_owned()),
            created_at: f.created_at,
            updated_at: f.updated_at,
        }
    }
}

/// One page of follow-ups.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FollowUpPage {
    /// Follow-ups by `due_at`, then id.
    pub data: Vec<FollowUpResponse>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// Query parameters of follow-up lists (the work queue).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ListFollowUpsParams {
    /// Rows per page, 1..=200 (default 20).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// `me` (the caller) or a user id.
    assignee: Option<String>,
    /// `open`, `done`, `cancelled` (repeat or comma-separate for any of several); default all.
    status: Option<Vec<String>>,
    /// `due_at` < this (RFC 3339).
    due_before: Option<DateTime<Utc>>,
    /// `true`: only overdue ones (open and due); `false`: only the others.
    overdue: Option<bool>,
    /// `low`, `normal`, `high`, `urgent` (repeat or comma-separate).
    priority: Option<Vec<String>>,
    /// Only this customer's follow-ups (`/api/v1/follow-ups` only).
    customer_id: Option<Uuid>,
}

fn parse_query(
    req: &HttpRequest,
    state: &AppState,
    tenant_wide: bool,
) -> Result<(FollowUpQuery, Option<String>), ApiError> {
    let mut q = FollowUpQuery::default();
    let mut assignee = None;
    let mut known = vec![
        "limit",
        "cursor",
        "assignee",
        "status",
        "due_before",
        "overdue",
        "priority",
    ];
    if tenant_wide {
        known.push("customer_id");
    }
    crate::query::each_param(req.query_string(), &known, |name, value| {
        match name {
            "limit" => q.limit = crate::query::limit(value)?,
            "cursor" => {
                let (at, id) = state
                    .cursors
                    .decode_position(CursorKind::FollowUps, value)?;
                q.after = Some((at, FollowUpId(id)));
            }
            "assignee" => assignee = Some(value.to_owned()),
            "status" => crate::query::values(name, value, &mut q.statuses)?,
            "priority" => crate::query::values(name, value, &mut q.priorities)?,
            "due_before" => q.due_before = Some(crate::query::time(name, value)?),
            "overdue" => {
                q.overdue = Some(match value {
                    "true" => true,
                    "false" => false,
                    _ => return Err(ApiError::bad(name, "`true` or `false`")),
                });
            }
            _ => {
                let id = value
                    .parse::<Uuid>()
                    .map_err(|_| ApiError::bad(name, format!("`{value}` is not a UUID")))?;
                q.customer_id = Some(CustomerId(id));
            }
        }
        Ok(())
    })?;
    Ok((q, assignee))
}

fn page(state: &AppState, page: Page<FollowUp, FollowUpPosition>) -> HttpResponse {
    let now = state.services.interactions.now();
    HttpResponse::Ok().json(FollowUpPage {
        data: page
            .items
            .iter()
            .map(|f| FollowUpResponse::new(f, now))
            .collect(),
        next_cursor: page.next.map(|(at, id)| {
            state
                .cursors
                .encode_position(CursorKind::FollowUps, at, id.0)
        }),
    })
}

/// A `PATCH` body applied to a stored follow-up as a JSON merge patch.
struct MergePatch(serde_json::Value);

impl FollowUpPatch for MergePatch {
    fn apply(&self, current: &FollowUp) -> Result<FollowUpInput, DomainError> {
        let mut doc = serde_json::to_value(FollowUpWrite::from(current))
            .map_err(|e| DomainError::Internal(e.to_string()))?;
        merge_patch(&mut doc, &self.0);
        match from_value::<FollowUpWrite>(doc) {
            Ok(w) => Ok(w.into()),
            Err(ApiError::Domain(e)) => Err(e),
            Err(other) => Err(DomainError::invalid("body", "invalid", other.to_string())),
        }
    }
}

fn with_follow_up(
    state: &AppState,
    mut res: actix_web::HttpResponseBuilder,
    f: &FollowUp,
) -> HttpResponse {
    res.insert_header((header::ETAG, format!("\"{}\"", f.version)))
        .json(FollowUpResponse::new(f, state.services.interactions.now()))
}

/// The work queue: the tenant's follow-ups by `due_at` then id, of live customers the caller
/// reaches; `assignee=me&status=open&overdue=true` lists the caller's late tasks.
#[utoipa::path(
    tag = "follow-ups",
    params(ListFollowUpsParams),
    responses(
        (status = 200, description = "A page of follow-ups by `due_at`", body = FollowUpPage),
        (status = 400, description = "Unknown parameter or malformed value", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing customers.view", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`assignee` is not `me` or a user id", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/follow-ups")]
pub async fn list_follow_ups(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (q, assignee) = parse_query(&req, &state, true)?;
    let p = state
        .services
        .interactions
        .list_follow_ups(&caller.0, q, assignee.as_deref())
        .await?;
    Ok(page(&state, p))
}

/// A customer's follow-ups by `due_at`.
#[utoipa::path(
    tag = "follow-ups",
    params(("id" = Uuid, Path, description = "Customer id"), ListFollowUpsParams),
    responses(
        (status = 200, description = "A page of the customer's follow-ups by `due_at`", body = FollowUpPage),
        (status = 400, description = "Unknown parameter or malformed value", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing customers.view", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer in the caller's tenant (or deleted, or outside the caller's visibility)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/customers/{id}/follow-ups")]
pub async fn list_customer_follow_ups(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (q, assignee) = parse_query(&req, &state, false)?;
    let p = state
        .services
        .interactions
        .list_follow_ups_for_customer(
            &caller.0,
            CustomerId(id.into_inner()),
            q,
            assignee.as_deref(),
        )
        .await?;
    Ok(page(&state, p))
}

/// Create a follow-up on a customer (open; assigned to the caller unless `assignee` says
/// otherwise). The customer's `next_follow_up_at` is recomputed in the same transaction.
#[utoipa::path(
    tag = "follow-ups",
    params(("id" = Uuid, Path, description = "Customer id")),
    request_body = FollowUpWrite,
    responses(
        (status = 201, description = "Created; `Location` names it, `ETag` is its version", body = FollowUpResponse),
        (status = 403, description = "Missing customers.edit", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The customer was erased", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/customers/{id}/follow-ups")]
pub async fn create_follow_up(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    require_edit(&caller)?;
    let body: FollowUpWrite = crate::json::read_json(&req, payload).await?;
    let f = state
        .services
        .interactions
        .create_follow_up(&caller.0, CustomerId(id.into_inner()), body.into())
        .await?;
    let mut res = HttpResponse::Created();
    res.insert_header((header::LOCATION, format!("/api/v1/follow-ups/{}", f.id)));
    Ok(with_follow_up(&state, res, &f))
}

/// Get a follow-up.
#[utoipa::path(
    tag = "follow-ups",
    params(("id" = Uuid, Path, description = "Follow-up id")),
    responses(
        (status = 200, description = "The follow-up; `ETag` is its version", body = FollowUpResponse),
        (status = 403, description = "Missing customers.view", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such follow-up (or its customer is deleted or out of reach)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/follow-ups/{id}")]
pub async fn get_follow_up(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let f = state
        .services
        .interactions
        .get_follow_up(&caller.0, FollowUpId(id.into_inner()))
        .await?;
    Ok(with_follow_up(&state, HttpResponse::Ok(), &f))
}

/// Update a follow-up (JSON merge patch, RFC 7396): edit its fields, complete it
/// (`status: done`), cancel it (`cancelled`) or reopen it (`open`).
///
/// The customer's `next_follow_up_at` is recomputed in the same transaction. With
/// `If-Match`, the update happens only on that version (else 412).
#[utoipa::path(
    tag = "follow-ups",
    params(
        ("id" = Uuid, Path, description = "Follow-up id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the version the change is based on"),
    ),
    request_body(content = FollowUpWrite, description = "A merge patch of the editable fields", content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The updated follow-up", body = FollowUpResponse),
        (status = 400, description = "Malformed JSON or If-Match", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing customers.edit", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such follow-up", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The customer was erased", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, or a status change not allowed (`invalid_transition`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[patch("/follow-ups/{id}")]
pub async fn patch_follow_up(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    require_edit(&caller)?;
    let expected = if_match(req.headers())?;
    let body: serde_json::Value = crate::json::read_json(&req, payload).await?;
    if !body.is_object() {
        return Err(ApiError::Domain(DomainError::invalid(
            "body",
            "invalid_type",
            "a merge patch of a follow-up is a JSON object",
        )));
    }
    let f = state
        .services
        .interactions
        .patch_follow_up(
            &caller.0,
            FollowUpId(id.into_inner()),
            &MergePatch(body),
            expected,
        )
        .await?;
    Ok(with_follow_up(&state, HttpResponse::Ok(), &f))
}

/// Delete a follow-up. The customer's `next_follow_up_at` is recomputed in the same
/// transaction.
#[utoipa::path(
    tag = "follow-ups",
    params(
        ("id" = Uuid, Path, description = "Follow-up id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the version to delete"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Missing customers.edit", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such follow-up", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The customer was erased", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[delete("/follow-ups/{id}")]
pub async fn delete_follow_up(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    require_edit(&caller)?;
    let expected = if_match(req.headers())?;
    state
        .services
        .interactions
        .delete_follow_up(&caller.0, FollowUpId(id.into_inner()), expected)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
