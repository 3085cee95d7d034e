//! Notes and complaints: `GET`/`POST /api/v1/customers/{id}/notes`,
//! `GET`/`PATCH`/`DELETE /api/v1/notes/{id}`, the tenant-wide `GET /api/v1/notes` (open
//! complaints: `?category=complaint&resolution=open`) and `GET /api/v1/notes/{id}/history`
//! (the note's revisions from the event log). Each handler extracts, calls one `NoteService`
//! method and maps the result; the rules (author-only edits, complaint states, the body
//! limit) are in `crm_domain::note`.

use std::collections::BTreeMap;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use crm_domain::customer::merge_patch;
use crm_domain::event::{Event, EventId};
use crm_domain::note::{Note, NoteFilter, NoteId, NoteInput, NotePatch, NotePosition};
use crm_domain::page::Page;
use crm_domain::{CustomerId, DomainError, Permission, UserId};
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

/// Registers the note routes (inside the `/api/v1` scope).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_customer_notes)
        .service(create_note)
        .service(list_notes)
        .service(get_note)
        .service(patch_note)
        .service(delete_note)
        .service(note_history);
}

/// The editable fields of a note: the body of `POST` and the members a `PATCH` merge patch
/// (RFC 7396) may carry. `author`, the times and `version` are set by the server. Unknown
/// fields are refused.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteWrite {
    /// Markdown text, 1..=65,536 bytes of UTF-8, not blank (422 naming `body` otherwise).
    /// Required on create.
    #[schema(example = "Called about the **March invoice**; will pay on Friday.")]
    pub body: Option<String>,
    /// `general` (default), `complaint`, `feedback` or `meeting_minutes`.
    #[schema(example = "complaint")]
    pub category: Option<String>,
    /// A complaint's state: `open` (default for a complaint), `in_progress` or `resolved`.
    /// On any other category it is a 422 naming `resolution`. A `PATCH` that moves a note
    /// away from `complaint` without naming `resolution` drops it.
    #[schema(example = "open")]
    pub resolution: Option<String>,
    /// Staff only (default false): an internal note is left out of the customer list export
    /// and of anything a portal user (a customer's own login, to come) sees.
    pub is_internal: Option<bool>,
    /// Pinned notes come first in the customer's list (default false).
    pub pinned: Option<bool>,
}

impl From<NoteWrite> for NoteInput {
    fn from(w: NoteWrite) -> Self {
        NoteInput {
            body: w.body,
            category: w.category,
            resolution: w.resolution,
            is_internal: w.is_internal,
            pinned: w.pinned,
        }
    }
}

impl From<&Note> for NoteWrite {
    /// The stored fields as a write body: what a `PATCH` merge patch applies to.
    fn from(n: &Note) -> Self {
        let f = &n.fields;
        NoteWrite {
            body: Some(f.body.clone()),
            category: Some(f.category.as_str().to_owned()),
            resolution: f.resolution.map(|r| r.as_str().to_owned()),
            is_internal: Some(f.is_internal),
            pinned: Some(f.pinned),
        }
    }
}

/// A note (or complaint) on a customer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NoteResponse {
    /// Id (UUID v7).
    pub id: Uuid,
    /// The customer it is about.
    pub customer_id: Uuid,
    /// Markdown text (at most 64 KiB).
    pub body: String,
    /// `general`, `complaint`, `feedback` or `meeting_minutes`.
    pub category: String,
    /// A complaint's state (`open`, `in_progress`, `resolved`); `null` for other notes.
    pub resolution: Option<String>,
    /// When the complaint became `resolved` (UTC); cleared when it is reopened.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Staff only: left out of the customer list export and of anything a portal user sees.
    pub is_internal: bool,
    /// Pinned first in the customer's list.
    pub pinned: bool,
    /// Who wrote it (the token's `sub`); only they, or a caller with `customers.manage`, may
    /// edit or delete it.
    pub author: String,
    /// Creation time (UTC).
    pub created_at: DateTime<Utc>,
    /// Last edit of the body (UTC); `null` while never edited. Earlier bodies are in
    /// `GET /notes/{id}/history`.
    pub edited_at: Option<DateTime<Utc>>,
    /// Who changed it last.
    pub updated_by: String,
    /// Last change of any field (UTC).
    pub updated_at: DateTime<Utc>,
    /// Version (the `ETag`): 1 on creation, +1 on every change.
    pub version: i64,
}

impl From<&Note> for NoteResponse {
    fn from(n: &Note) -> Self {
        let f = &n.fields;
        NoteResponse {
            id: n.id.0,
            customer_id: n.customer_id.0,
            body: f.body.clone(),
            category: f.category.as_str().to_owned(),
            resolution: f.resolution.map(|r| r.as_str().to_owned()),
            resolved_at: n.resolved_at,
            is_internal: f.is_internal,
            pinned: f.pinned,
            author: n.author.as_str().to_owned(),
            created_at: n.created_at,
            edited_at: n.edited_at,
            updated_by: n.updated_by.as_str().to_owned(),
            updated_at: n.updated_at,
            version: n.version,
        }
    }
}

/// One page of notes.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NotePage {
    /// The notes: a customer's pinned first, then newest; the tenant-wide list newest first.
    pub data: Vec<NoteResponse>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// Who made a revision.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RevisionActor {
    /// The user (`sub`).
    pub sub: String,
    /// Their strongest role (`admin`, `manager`, `sales`, `viewer`), if any.
    pub role: Option<String>,
    /// The request that made it.
    pub request_id: Option<String>,
}

/// One revision of a note: a `note.updated` event of the log.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NoteRevision {
    /// The event's id in the tenant's log.
    pub event_id: i64,
    /// When the change happened (UTC).
    pub at: DateTime<Utc>,
    /// Who made it.
    pub actor: RevisionActor,
    /// Every changed field as `[old, new]`: `body` holds the full old and new text; also
    /// `category`, `resolution`, `resolved_at`, `is_internal`, `pinned`.
    #[schema(value_type = Object, example = json!({"body": ["Will pay Friday.", "Paid on Friday."]}))]
    pub changes: BTreeMap<String, [Value; 2]>,
}

impl From<&Event> for NoteRevision {
    fn from(e: &Event) -> Self {
        NoteRevision {
            event_id: e.id.0,
            at: e.event.occurred_at,
            actor: RevisionActor {
                sub: e.event.actor.sub.clone(),
                role: e.event.actor.role.clone(),
                request_id: e.event.actor.request_id.clone(),
            },
            changes: e.event.changes.clone(),
        }
    }
}

/// A note's revisions, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NoteHistory {
    /// The revisions.
    pub data: Vec<NoteRevision>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// Query parameters of a customer's note list and of a note's history.
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

/// Query parameters of the tenant-wide note list.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ListNotesParams {
    /// Rows per page, 1..=200 (default 20).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Only this category: `general`, `complaint`, `feedback`, `meeting_minutes`.
    category: Option<String>,
    /// Only complaints in this state: `open`, `in_progress`, `resolved`.
    resolution: Option<String>,
    /// Only notes written by this user (`sub`).
    author: Option<String>,
    /// Only this customer's notes.
    customer_id: Option<Uuid>,
}

/// A `PATCH` body applied to a stored note as a JSON merge patch.
struct MergePatch(Value);

impl NotePatch for MergePatch {
    fn apply(&self, current: &Note) -> Result<NoteInput, DomainError> {
        let mut doc = serde_json::to_value(NoteWrite::from(current))
            .map_err(|e| DomainError::Internal(e.to_string()))?;
        merge_patch(&mut doc, &self.0);
        // Leaving `complaint` without naming `resolution` drops the complaint's state.
        if doc.get("category") != Some(&json!("complaint")) && self.0.get("resolution").is_none() {
            doc["resolution"] = Value::Null;
        }
        match from_value::<NoteWrite>(doc) {
            Ok(w) => Ok(w.into()),
            Err(ApiError::Domain(e)) => Err(e),
            Err(other) => Err(DomainError::invalid("body", "invalid", other.to_string())),
        }
    }
}

fn with_note(mut res: actix_web::HttpResponseBuilder, n: &Note) -> HttpResponse {
    res.insert_header((header::ETAG, format!("\"{}\"", n.version)))
        .json(NoteResponse::from(n))
}

fn require_edit(caller: &Caller) -> Result<(), ApiError> {
    caller
        .0
        .require(Permission::CustomersEdit)
        .map_err(|e| ApiError::Domain(e.into()))
}

fn note_page(state: &AppState, page: &Page<Note, NotePosition>) -> NotePage {
    NotePage {
        data: page.items.iter().map(NoteResponse::from).collect(),
        next_cursor: page.next.map(|p| {
            state.cursors.encode_json(
                CursorKind::CustomerNotes,
                &json!({"p": p.pinned, "t": p.created_at.timestamp_micros(), "i": p.id.0}),
            )
        }),
    }
}

fn position(v: &Value) -> Result<NotePosition, ApiError> {
    let pinned = v["p"].as_bool().ok_or_else(crate::cursor::bad_cursor)?;
    let created_at = v["t"]
        .as_i64()
        .and_then(DateTime::from_timestamp_micros)
        .ok_or_else(crate::cursor::bad_cursor)?;
    let id = v["i"]
        .as_str()
        .and_then(|s| s.parse::<Uuid>().ok())
        .ok_or_else(crate::cursor::bad_cursor)?;
    Ok(NotePosition {
        pinned,
        created_at,
        id: NoteId(id),
    })
}

/// List a customer's notes: pinned first, then newest.
#[utoipa::path(
    tag = "notes",
    params(("id" = Uuid, Path, description = "Customer id"), PageParams),
    responses(
        (status = 200, description = "A page of the notes", body = NotePage),
        (status = 400, description = "A malformed `limit` or `cursor`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing customers.view", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer in the caller's tenant (or deleted, or outside the caller's visibility)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/customers/{id}/notes")]
pub async fn list_customer_notes(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (limit, cursor) = crate::cursor::page_query(&req, &state, CursorKind::CustomerNotes)?;
    let after = cursor.as_ref().map(position).transpose()?;
    let page = state
        .services
        .notes
        .list_for_customer(&caller.0, CustomerId(id.into_inner()), after, limit)
        .await?;
    Ok(HttpResponse::Ok().json(note_page(&state, &page)))
}

/// Add a note to a customer; the caller is its author.
///
/// A `complaint` starts `open` unless `resolution` says otherwise. Internal notes
/// (`is_internal: true`) are for staff only: they are left out of the customer list export and
/// of anything a portal user sees.
#[utoipa::path(
    tag = "notes",
    params(("id" = Uuid, Path, description = "Customer id")),
    request_body = NoteWrite,
    responses(
        (status = 201, description = "Created; `Location` names it, `ETag` is its version", body = NoteResponse),
        (status = 403, description = "Missing customers.edit", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The customer was erased", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields: `body` missing, blank or over 64 KiB (`too_long` with `limit`), an unknown `category` or `resolution`, a `resolution` on a note that is not a complaint", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/customers/{id}/notes")]
pub async fn create_note(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    require_edit(&caller)?;
    let customer = CustomerId(id.into_inner());
    let body: NoteWrite = crate::json::read_json(&req, payload).await?;
    let n = state
        .services
        .notes
        .create(&caller.0, customer, body.into())
        .await?;
    let mut res = HttpResponse::Created();
    res.insert_header((header::LOCATION, format!("/api/v1/notes/{}", n.id)));
    Ok(with_note(res, &n))
}

/// List the tenant's notes, newest first, with filters: open complaints across the tenant are
/// `?category=complaint&resolution=open`.
///
/// Only notes of live customers the caller reaches are listed (a soft-deleted customer's notes
/// come back on restore).
#[utoipa::path(
    tag = "notes",
    params(ListNotesParams),
    responses(
        (status = 200, description = "A page of notes", body = NotePage),
        (status = 400, description = "An unknown parameter or a malformed value (named)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing customers.view", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/notes")]
pub async fn list_notes(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let mut filter = NoteFilter::default();
    let known = [
        "limit",
        "cursor",
        "category",
        "resolution",
        "author",
        "customer_id",
    ];
    crate::query::each_param(req.query_string(), &known, |name, value| {
        match name {
            "limit" => filter.limit = crate::query::limit(value)?,
            "cursor" => {
                let (at, id) = state.cursors.decode_position(CursorKind::Notes, value)?;
                filter.after = Some((at, NoteId(id)));
            }
            "category" => {
                filter.category = Some(value.parse().map_err(|e: String| ApiError::bad(name, e))?);
            }
            "resolution" => {
                filter.resolution =
                    Some(value.parse().map_err(|e: String| ApiError::bad(name, e))?);
            }
            "author" => {
                filter.author = Some(
                    UserId::parse(value)
                        .ok_or_else(|| ApiError::bad(name, "a user id of 1..=255 characters"))?,
                );
            }
            _ => {
                let id = value
                    .parse::<Uuid>()
                    .map_err(|_| ApiError::bad(name, "not a UUID"))?;
                filter.customer_id = Some(CustomerId(id));
            }
        }
        Ok(())
    })?;
    let page = state.services.notes.list(&caller.0, filter).await?;
    Ok(HttpResponse::Ok().json(NotePage {
        data: page.items.iter().map(NoteResponse::from).collect(),
        next_cursor: page
            .next
            .map(|(at, id)| state.cursors.encode_position(CursorKind::Notes, at, id.0)),
    }))
}

/// Get a note.
#[utoipa::path(
    tag = "notes",
    params(("id" = Uuid, Path, description = "Note id")),
    responses(
        (status = 200, description = "The note; `ETag` is its version", body = NoteResponse),
        (status = 403, description = "Missing customers.view", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such note in the caller's tenant, or its customer is deleted or out of reach", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/notes/{id}")]
pub async fn get_note(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let n = state
        .services
        .notes
        .get(&caller.0, NoteId(id.into_inner()))
        .await?;
    Ok(with_note(HttpResponse::Ok(), &n))
}

/// Update some fields of a note (JSON merge patch, RFC 7396); only its author or a caller
/// with `customers.manage` may.
///
/// A new `body` sets `edited_at`, and the previous body stays in `GET /notes/{id}/history`.
/// A complaint becoming `resolved` sets `resolved_at`; reopening it clears it. With
/// `If-Match`, the update happens only on that version (else 412).
#[utoipa::path(
    tag = "notes",
    params(
        ("id" = Uuid, Path, description = "Note id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the version the change is based on"),
    ),
    request_body(content = NoteWrite, description = "A merge patch of the editable fields", content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The updated note", body = NoteResponse),
        (status = 400, description = "Malformed JSON or If-Match", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing customers.edit, or neither the author nor holding customers.manage", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such note", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The customer was erased", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (as on create)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[patch("/notes/{id}")]
pub async fn patch_note(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    require_edit(&caller)?;
    let expected = if_match(req.headers())?;
    let body: Value = crate::json::read_json(&req, payload).await?;
    if !body.is_object() {
        return Err(ApiError::Domain(DomainError::invalid(
            "body",
            "invalid_type",
            "a merge patch of a note is a JSON object",
        )));
    }
    let n = state
        .services
        .notes
        .patch(
            &caller.0,
            NoteId(id.into_inner()),
            &MergePatch(body),
            expected,
        )
        .await?;
    Ok(with_note(HttpResponse::Ok(), &n))
}

/// Delete a note (its author, or a caller with `customers.manage`). Its events stay in the
/// customer's timeline.
#[utoipa::path(
    tag = "notes",
    params(
        ("id" = Uuid, Path, description = "Note id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the version to delete"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Missing customers.edit, or neither the author nor holding customers.manage", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such note", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The customer was erased", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[delete("/notes/{id}")]
pub async fn delete_note(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let expected = if_match(req.headers())?;
    state
        .services
        .notes
        .delete(&caller.0, NoteId(id.into_inner()), expected)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A note's revisions, newest first, read from the event log: each with `at`, `actor` and
/// the `changes` (`body: [old, new]` in full, and any other field changed).
#[utoipa::path(
    tag = "notes",
    params(("id" = Uuid, Path, description = "Note id"), PageParams),
    responses(
        (status = 200, description = "A page of revisions", body = NoteHistory),
        (status = 400, description = "A malformed `limit` or `cursor`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing customers.view", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such note", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/notes/{id}/history")]
pub async fn note_history(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (limit, cursor) = crate::cursor::page_query(&req, &state, CursorKind::NoteHistory)?;
    let before = cursor
        .map(|v| {
            v["b"]
                .as_i64()
                .map(EventId)
                .ok_or_else(crate::cursor::bad_cursor)
        })
        .transpose()?;
    let page = state
        .services
        .notes
        .history(&caller.0, NoteId(id.into_inner()), before, limit)
        .await?;
    Ok(HttpResponse::Ok().json(NoteHistory {
        data: page.items.iter().map(NoteRevision::from).collect(),
        next_cursor: page.next.map(|b| {
            state
                .cursors
                .encode_json(CursorKind::NoteHistory, &json!({"b": b.0}))
        }),
    }))
}
