//! Interactions with a customer: `GET`/`POST /api/v1/customers/{id}/interactions`,
//! `GET`/`PATCH`/`DELETE /api/v1/interactions/{id}` and the tenant-wide
//! `GET /api/v1/interactions`. Each handler extracts, calls one `InteractionService` method and
//! maps the result; the rules (the 5-minute future bound, the contact of the same customer,
//! the customer's `last_contact_at` and `next_follow_up_at`) are in `crm_domain::interaction`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use crm_domain::customer::merge_patch;
use crm_domain::ids::InteractionId;
use crm_domain::interaction::{
    Interaction, InteractionInput, InteractionPatch, InteractionPosition, InteractionQuery,
    LoggedInteraction,
};
use crm_domain::page::Page;
use crm_domain::{ContactId, CustomerId, DomainError, Permission, UserId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::Caller;
use crate::cursor::CursorKind;
use crate::customers::if_match;
use crate::follow_ups::{FollowUpResponse, FollowUpWrite};
use crate::json::from_value;
use crate::problem::{ApiError, Problem};
use crate::state::AppState;

/// Registers the interaction routes (inside the `/api/v1` scope).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_interactions)
        .service(list_customer_interactions)
        .service(create_interaction)
        .service(get_interaction)
        .service(patch_interaction)
        .service(delete_interaction);
}

/// The editable fields of an interaction: the body of `POST`, and the fields a `PATCH` merge
/// patch (RFC 7396) may carry (`follow_up` on `POST` only). Empty strings count as absent.
/// Unknown fields are refused.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InteractionWrite {
    /// `call`, `email`, `meeting`, `visit`, `message`, `sms` or `other`. Required.
    #[serde(rename = "type")]
    #[schema(example = "call")]
    pub kind: Option<String>,
    /// `inbound` or `outbound`.
    #[schema(example = "outbound")]
    pub direction: Option<String>,
    /// One line, up to 255 characters.
    #[schema(example = "Renewal of the 2027 contract")]
    pub subject: Option<String>,
    /// Text, several lines, up to 64 KiB (65,536 bytes of UTF-8; 422 naming `body` beyond).
    pub body: Option<String>,
    /// `successful`, `no_answer`, `voicemail`, `follow_up_needed`, `not_interested` or
    /// `other`.
    #[schema(example = "follow_up_needed")]
    pub outcome: Option<String>,
    /// Length in seconds, 0..=86,400.
    #[schema(example = 420)]
    pub duration_seconds: Option<i64>,
    /// When it happened (RFC 3339); default now; at most 5 minutes in the future (422
    /// `in_future`).
    pub occurred_at: Option<DateTime<Utc>>,
    /// A contact person of the same customer (422 `not_a_contact` otherwise).
    pub contact_id: Option<Uuid>,
    /// A follow-up created with the interaction in the same transaction (its
    /// `interaction_id` names the interaction); its errors are named `follow_up.<field>` and
    /// refuse both. `POST` only.
    pub follow_up: Option<FollowUpWrite>,
}

impl From<InteractionWrite> for InteractionInput {
    fn from(w: InteractionWrite) -> Self {
        InteractionInput {
            kind: w.kind,
            direction: w.direction,
            subject: w.subject,
            body: w.body,
            outcome: w.outcome,
            duration_seconds: w.duration_seconds,
            occurred_at: w.occurred_at,
            contact_id: w.contact_id,
            follow_up: w.follow_up.map(Into::into),
        }
    }
}

impl From<&Interaction> for InteractionWrite {
    /// The stored fields as a write body: what a `PATCH` merge patch applies to.
    fn from(i: &Interaction) -> Self {
        let d = &i.details;
        InteractionWrite {
            kind: Some(d.kind.as_str().to_owned()),
            direction: d.direction.map(|x| x.as_str().to_owned()),
            subject: d.subject.clone(),
            body: d.body.clone(),
            outcome: d.outcome.map(|x| x.as_str().to_owned()),
            duration_seconds: d.duration_seconds.map(i64::from),
            occurred_at: Some(d.occurred_at),
            contact_id: d.contact_id.map(|c| c.0),
            follow_up: None,
        }
    }
}

/// An interaction as stored.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InteractionResponse {
    /// Id (UUID v7).
    pub id: Uuid,
    /// The customer.
    pub customer_id: Uuid,
    /// `call`, `email`, `meeting`, `visit`, `message`, `sms` or `other`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `inbound` or `outbound`.
    pub direction: Option<String>,
    /// Subject.
    pub subject: Option<String>,
    /// Body text.
    pub body: Option<String>,
    /// How it ended.
    pub outcome: Option<String>,
    /// Length in seconds.
    pub duration_seconds: Option<i32>,
    /// When it happened (UTC).
    pub occurred_at: DateTime<Utc>,
    /// The contact person it was with.
    pub contact_id: Option<Uuid>,
    /// Who logged it (the creating caller's `sub`).
    pub performed_by: String,
    /// Version (the `ETag`): 1 on creation, +1 on every change.
    pub version: i64,
    /// Creation time (UTC).
    pub created_at: DateTime<Utc>,
    /// Last change (UTC).
    pub updated_at: DateTime<Utc>,
    /// The follow-up created with it (only in the answer of the `POST` that created both).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_up: Option<FollowUpResponse>,
}

impl From<&Interaction> for InteractionResponse {
    fn from(i: &Interaction) -> Self {
        let d = &i.details;
        InteractionResponse {
            id: i.id.0,
            customer_id: i.customer_id.0,
            kind: d.kind.as_str().to_owned(),
            direction: d.direction.map(|x| x.as_str().to_owned()),
            subject: d.subject.clone(),
            body: d.body.clone(),
            outcome: d.outcome.map(|x| x.as_str().to_owned()),
            duration_seconds: d.duration_seconds,
            occurred_at: d.occurred_at,
            contact_id: d.contact_id.map(|c| c.0),
            performed_by: i.performed_by.as_str().to_owned(),
            version: i.version,
            created_at: i.created_at,
            updated_at: i.updated_at,
            follow_up: None,
        }
    }
}

/// One page of interactions.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InteractionPage {
    /// Interactions, newest `occurred_at` first (then id).
    pub data: Vec<InteractionResponse>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// Query parameters of interaction lists.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ListInteractionsParams {
    /// Rows per page, 1..=200 (default 20).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Type filter (repeat or comma-separate for any of several).
    r#type: Option<Vec<String>>,
    /// Only logged by this user (`sub`).
    performed_by: Option<String>,
    /// Only with this contact person.
    contact_id: Option<Uuid>,
    /// Outcome filter (repeat or comma-separate for any of several).
    outcome: Option<Vec<String>>,
    /// `occurred_at` ≥ this (RFC 3339).
    occurred_from: Option<DateTime<Utc>>,
    /// `occurred_at` < this (RFC 3339).
    occurred_to: Option<DateTime<Utc>>,
    /// Only this customer's interactions (`/api/v1/interactions` only).
    customer_id: Option<Uuid>,
}

fn uuid_param(name: &str, value: &str) -> Result<Uuid, ApiError> {
    value
        .parse::<Uuid>()
        .map_err(|_| ApiError::bad(name, format!("`{value}` is not a UUID")))
}

fn parse_query(
    req: &HttpRequest,
    state: &AppState,
    tenant_wide: bool,
) -> Result<InteractionQuery, ApiError> {
    let mut q = InteractionQuery::default();
    let mut known = vec![
        "limit",
        "cursor",
        "type",
        "performed_by",
        "contact_id",
        "outcome",
        "occurred_from",
        "occurred_to",
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
                    .decode_position(CursorKind::Interactions, value)?;
                q.after = Some((at, InteractionId(id)));
            }
            "type" => crate::query::values(name, value, &mut q.types)?,
            "outcome" => crate::query::values(name, value, &mut q.outcomes)?,
            "performed_by" => {
                q.performed_by = Some(
                    UserId::parse(value)
                        .ok_or_else(|| ApiError::bad(name, "a user id of 1..=255 characters"))?,
                );
            }
            "contact_id" => q.contact_id = Some(ContactId(uuid_param(name, value)?)),
            "occurred_from" => q.occurred_from = Some(crate::query::time(name, value)?),
            "occurred_to" => q.occurred_to = Some(crate::query::time(name, value)?),
            _ => q.customer_id = Some(CustomerId(uuid_param(name, value)?)),
        }
        Ok(())
    })?;
    Ok(q)
}

fn page(state: &AppState, page: Page<Interaction, InteractionPosition>) -> HttpResponse {
    HttpResponse::Ok().json(InteractionPage {
        data: page.items.iter().map(InteractionResponse::from).collect(),
        next_cursor: page.next.map(|(at, id)| {
            state
                .cursors
                .encode_position(CursorKind::Interactions, at, id.0)
        }),
    })
}

/// A `PATCH` body applied to a stored interaction as a JSON merge patch.
struct MergePatch(serde_json::Value);

impl InteractionPatch for MergePatch {
    fn apply(&self, current: &Interaction) -> Result<InteractionInput, DomainError> {
        let mut doc = serde_json::to_value(InteractionWrite::from(current))
            .map_err(|e| DomainError::Internal(e.to_string()))?;
        merge_patch(&mut doc, &self.0);
        match from_value::<InteractionWrite>(doc) {
            Ok(w) => Ok(w.into()),
            Err(ApiError::Domain(e)) => Err(e),
            Err(other) => Err(DomainError::invalid("body", "invalid", other.to_string())),
        }
    }
}

fn with_interaction(mut res: actix_web::HttpResponseBuilder, i: &Interaction) -> HttpResponse {
    res.insert_header((header::ETAG, format!("\"{}\"", i.version)))
        .json(InteractionResponse::from(i))
}

pub(crate) fn require_edit(caller: &Caller) -> Result<(), ApiError> {
    caller
        .0
        .require(Permission::CustomersEdit)
        .map_err(|e| ApiError::Domain(e.into()))
}

/// The tenant's interactions, newest first, of live customers the caller reaches.
#[utoipa::path(
    tag = "interactions",
    params(ListInteractionsParams),
    responses(
        (status = 200, description = "A page of interactions, newest `occurred_at` first", body = InteractionPage),
        (status = 400, description = "Unknown parameter or malformed value (an unknown `type` or `outcome` lists the allowed ones)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing customers.view", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/interactions")]
pub async fn list_interactions(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let q = parse_query(&req, &state, true)?;
    let p = state.services.interactions.list(&caller.0, q).await?;
    Ok(page(&state, p))
}

/// A customer's interactions, newest first.
#[utoipa::path(
    tag = "interactions",
    params(("id" = Uuid, Path, description = "Customer id"), ListInteractionsParams),
    responses(
        (status = 200, description = "A page of the customer's interactions, newest `occurred_at` first", body = InteractionPage),
        (status = 400, description = "Unknown parameter or malformed value", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing customers.view", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer in the caller's tenant (or deleted, or outside the caller's visibility)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/customers/{id}/interactions")]
pub async fn list_customer_interactions(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let q = parse_query(&req, &state, false)?;
    let p = state
        .services
        .interactions
        .list_for_customer(&caller.0, CustomerId(id.into_inner()), q)
        .await?;
    Ok(page(&state, p))
}

/// Log an interaction with a customer, performed by the caller.
///
/// In the same transaction: the optional `follow_up` is created, and the customer's
/// `last_contact_at` (latest `occurred_at` of its interactions) and `next_follow_up_at`
/// (earliest `due_at` of its open follow-ups) are recomputed; when they move, the customer's
/// `version` (its ETag) grows by one.
#[utoipa::path(
    tag = "interactions",
    params(("id" = Uuid, Path, description = "Customer id")),
    request_body = InteractionWrite,
    responses(
        (status = 201, description = "Created; `Location` names it, `ETag` is its version; `follow_up` holds the follow-up created with it", body = InteractionResponse),
        (status = 403, description = "Missing customers.edit", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The customer was erased", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (`follow_up.<field>` for the follow-up's), `occurred_at` more than 5 minutes ahead (`in_future`), `contact_id` not a contact of this customer (`not_a_contact`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/customers/{id}/interactions")]
pub async fn create_interaction(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    require_edit(&caller)?;
    let customer = CustomerId(id.into_inner());
    let body: InteractionWrite = crate::json::read_json(&req, payload).await?;
    let LoggedInteraction {
        interaction,
        follow_up,
    } = state
        .services
        .interactions
        .create(&caller.0, customer, body.into())
        .await?;
    let now = state.services.interactions.now();
    let mut answer = InteractionResponse::from(&interaction);
    answer.follow_up = follow_up.as_ref().map(|f| FollowUpResponse::new(f, now));
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/interactions/{}", interaction.id),
        ))
        .insert_header((header::ETAG, format!("\"{}\"", interaction.version)))
        .json(answer))
}

/// Get an interaction.
#[utoipa::path(
    tag = "interactions",
    params(("id" = Uuid, Path, description = "Interaction id")),
    responses(
        (status = 200, description = "The interaction; `ETag` is its version", body = InteractionResponse),
        (status = 403, description = "Missing customers.view", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such interaction (or its customer is deleted or out of reach)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/interactions/{id}")]
pub async fn get_interaction(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let i = state
        .services
        .interactions
        .get(&caller.0, InteractionId(id.into_inner()))
        .await?;
    Ok(with_interaction(HttpResponse::Ok(), &i))
}

/// Update some fields of an interaction (JSON merge patch, RFC 7396).
///
/// Members present replace the stored value, `null` clears it, absent members stay;
/// `performed_by` stays; `follow_up` is refused. The customer's dates are recomputed in the
/// same transaction. With `If-Match`, the update happens only on that version (else 412).
#[utoipa::path(
    tag = "interactions",
    params(
        ("id" = Uuid, Path, description = "Interaction id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the version the change is based on"),
    ),
    request_body(content = InteractionWrite, description = "A merge patch of the editable fields", content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The updated interaction", body = InteractionResponse),
        (status = 400, description = "Malformed JSON or If-Match", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing customers.edit", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such interaction", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The customer was erased", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[patch("/interactions/{id}")]
pub async fn patch_interaction(
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
            "a merge patch of an interaction is a JSON object",
        )));
    }
    let i = state
        .services
        .interactions
        .patch(
            &caller.0,
            InteractionId(id.into_inner()),
            &MergePatch(body),
            expected,
        )
        .await?;
    Ok(with_interaction(HttpResponse::Ok(), &i))
}

/// Delete an interaction. The customer's `last_contact_at` is recomputed in the same
/// transaction; follow-ups it created stay, with `interaction_id` cleared.
#[utoipa::path(
    tag = "interactions",
    params(
        ("id" = Uuid, Path, description = "Interaction id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the version to delete"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Missing customers.edit", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such interaction", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The customer was erased", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[delete("/interactions/{id}")]
pub async fn delete_interaction(
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
        .delete(&caller.0, InteractionId(id.into_inner()), expected)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
