//! Privacy: `POST /api/v1/customers/{id}/erase` (erasure of a person), and consents:
//! `GET /api/v1/customers/{id}/consents`, `PUT /api/v1/customers/{id}/consents/{purpose}` and
//! `GET /api/v1/customers/{id}/consents/history`. Each handler extracts, calls one
//! `PrivacyService` method and maps the result; the rules are in `crm_domain::privacy`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, put, web};
use chrono::{DateTime, Utc};
use crm_domain::privacy::{
    self as domain, ConsentHistoryQuery, ConsentInput, ConsentPosition, PurposeState,
};
use crm_domain::{CustomerId, DomainError, Permission};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::Caller;
use crate::cursor::CursorKind;
use crate::customers::dto::CustomerResponse;
use crate::customers::if_match;
use crate::problem::{ApiError, Problem};
use crate::state::AppState;

/// Registers the privacy routes (inside the `/api/v1` scope, before the customer routes).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(erase_customer)
        .service(consent_history)
        .service(list_consents)
        .service(set_consent);
}

api_enum!(
    /// What a consent is for: `marketing_email`, `marketing_sms` or `marketing_whatsapp`.
    ConsentPurpose => domain::ConsentPurpose { MarketingEmail, MarketingSms, MarketingWhatsapp }
);
api_enum!(
    /// `granted` or `withdrawn`.
    ConsentStatus => domain::ConsentStatus { Granted, Withdrawn }
);

/// Who erased a customer, when. Holds no personal data.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErasureRecordResponse {
    /// Id of the erasure record (UUID v7).
    pub id: Uuid,
    /// The erased customer.
    pub customer_id: Uuid,
    /// When.
    pub erased_at: DateTime<Utc>,
    /// Who (the user id of the token that erased it).
    pub erased_by: String,
}

impl From<&domain::ErasureRecord> for ErasureRecordResponse {
    fn from(r: &domain::ErasureRecord) -> Self {
        Self {
            id: r.id.0,
            customer_id: r.customer_id.0,
            erased_at: r.erased_at,
            erased_by: r.erased_by.as_str().to_owned(),
        }
    }
}

/// The outcome of an erasure.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErasureResponse {
    /// The record of the erasure.
    pub erasure: ErasureRecordResponse,
    /// The customer as it is now: anonymised, its orders, amounts, points and statistics kept.
    pub customer: CustomerResponse,
    /// True when the customer had been erased before (this request changed nothing).
    pub already_erased: bool,
}

/// The current state of one consent purpose; every member but `purpose` is `null` when nothing
/// was ever recorded for it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConsentResponse {
    /// The purpose.
    pub purpose: ConsentPurpose,
    /// Granted or withdrawn.
    pub status: Option<ConsentStatus>,
    /// When the customer gave or withdrew it.
    pub at: Option<DateTime<Utc>>,
    /// Where (`web_form`, `pos`, `import`, `erasure`, ...).
    pub source: Option<String>,
    /// The user who recorded it.
    pub recorded_by: Option<String>,
    /// When it was recorded.
    pub recorded_at: Option<DateTime<Utc>>,
}

impl From<&PurposeState> for ConsentResponse {
    fn from(s: &PurposeState) -> Self {
        let c = s.current.as_ref();
        Self {
            purpose: s.purpose.into(),
            status: c.map(|c| c.status.into()),
            at: c.map(|c| c.at),
            source: c.map(|c| c.source.as_str().to_owned()),
            recorded_by: c.and_then(|c| c.recorded_by.as_ref().map(|u| u.as_str().to_owned())),
            recorded_at: c.map(|c| c.recorded_at),
        }
    }
}

impl From<&domain::Consent> for ConsentResponse {
    fn from(c: &domain::Consent) -> Self {
        Self::from(&PurposeState {
            purpose: c.purpose,
            current: Some(c.clone()),
        })
    }
}

/// A customer's consents: one entry per purpose, in the order `marketing_email`,
/// `marketing_sms`, `marketing_whatsapp`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConsentsResponse {
    /// The purposes and their current state.
    pub data: Vec<ConsentResponse>,
}

/// One recorded grant or withdrawal.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConsentEventResponse {
    /// Id (UUID v7).
    pub id: Uuid,
    /// The purpose.
    pub purpose: ConsentPurpose,
    /// Granted or withdrawn.
    pub status: ConsentStatus,
    /// When the customer gave or withdrew it.
    pub at: DateTime<Utc>,
    /// Where.
    pub source: String,
    /// The user who recorded it.
    pub recorded_by: Option<String>,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
}

impl From<&domain::ConsentEvent> for ConsentEventResponse {
    fn from(e: &domain::ConsentEvent) -> Self {
        Self {
            id: e.id.0,
            purpose: e.purpose.into(),
            status: e.status.into(),
            at: e.at,
            source: e.source.as_str().to_owned(),
            recorded_by: e.recorded_by.as_ref().map(|u| u.as_str().to_owned()),
            recorded_at: e.recorded_at,
        }
    }
}

/// The outcome of a consent change.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConsentChangeResponse {
    /// The event recorded.
    pub event: ConsentEventResponse,
    /// The purpose's state now: this event, or a later one when this one was backdated
    /// before it.
    pub current: ConsentResponse,
}

/// A page of a consent history, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConsentHistoryPage {
    /// The events, newest first by `at`.
    pub data: Vec<ConsentEventResponse>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A consent change: the body of `PUT /customers/{id}/consents/{purpose}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentWrite {
    /// Granted or withdrawn.
    pub status: ConsentStatus,
    /// Where: a code of 1..=64 ASCII letters, digits, `_`, `-`, `.` or `:`.
    #[schema(example = "web_form")]
    pub source: String,
    /// When the customer gave or withdrew it (RFC 3339), from 2000-01-01 up to now; default
    /// now.
    pub at: Option<DateTime<Utc>>,
}

/// Query parameters of a consent history.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ConsentHistoryParams {
    /// Events per page, 1..=200 (default 20).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Only this purpose.
    purpose: Option<ConsentPurpose>,
}

fn purpose_of(raw: &str) -> Result<domain::ConsentPurpose, ApiError> {
    raw.parse().map_err(|e: String| ApiError::bad("purpose", e))
}

/// Erase a customer: irreversibly anonymise the person (needs `customers.manage`).
///
/// In one transaction: names, e-mail, phones, company names, tax and licence numbers, job
/// title, website, language, time zone, birth date, gender, tags, metadata, notes, the
/// blacklist reason, the referrer, the external ref and contact dates are cleared (the name
/// becomes `Erased customer`), with the search index; orders keep their refs, amounts, lines
/// and statuses but lose their free-form metadata; points, tiers and purchase statistics stay;
/// reasons people wrote on its points ledger and tier changes, import previews and rejected
/// rows that mention its e-mail, phones, external ref or id are redacted; granted consents are
/// withdrawn (source `erasure`). The customer keeps its id, number and code, gets `erased_at`
/// and `erased_by`, its version goes up by one, and it can no longer be changed (409
/// `customer-erased`). Erasing an erased customer answers 200 with the same record and
/// `already_erased: true`. A soft-deleted customer can be erased too.
#[utoipa::path(
    tag = "privacy",
    params(
        ("id" = Uuid, Path, description = "Customer id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the version to erase (ignored when already erased)"),
    ),
    responses(
        (status = 200, description = "The erasure record and the anonymised customer; `ETag` is its version", body = ErasureResponse),
        (status = 400, description = "Malformed id or If-Match", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing customers.manage", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer in the caller's tenant", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/customers/{id}/erase")]
pub async fn erase_customer(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let expected = if_match(req.headers())?;
    let erasure = state
        .services
        .privacy
        .erase(&caller.0, CustomerId(id.into_inner()), expected)
        .await?;
    let mut customer = [CustomerResponse::from(&erasure.customer)];
    crate::customers::attach_parts(&state, &caller, &mut customer).await?;
    let [customer] = customer;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, format!("\"{}\"", erasure.customer.version)))
        .json(ErasureResponse {
            erasure: (&erasure.record).into(),
            customer,
            already_erased: erasure.already_erased,
        }))
}

/// A customer's consents: the current state of each purpose (needs `customers.view`).
#[utoipa::path(
    tag = "privacy",
    params(("id" = Uuid, Path, description = "Customer id")),
    responses(
        (status = 200, description = "Every purpose with its current state", body = ConsentsResponse),
        (status = 400, description = "Unknown parameter", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing customers.view", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/customers/{id}/consents")]
pub async fn list_consents(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    crate::query::each_param(req.query_string(), &[], |_, _| Ok(()))?;
    let states = state
        .services
        .privacy
        .consents(&caller.0, CustomerId(id.into_inner()))
        .await?;
    Ok(HttpResponse::Ok().json(ConsentsResponse {
        data: states.iter().map(ConsentResponse::from).collect(),
    }))
}

/// Record a consent: the customer granted or withdrew `purpose` (needs `customers.edit`).
///
/// The change is appended to the consent history and becomes the purpose's current state,
/// unless a later one is recorded already (a backdated change only joins the history). The
/// permission is checked before the body is read.
#[utoipa::path(
    tag = "privacy",
    params(
        ("id" = Uuid, Path, description = "Customer id"),
        ("purpose" = ConsentPurpose, Path, description = "`marketing_email`, `marketing_sms` or `marketing_whatsapp`"),
    ),
    request_body = ConsentWrite,
    responses(
        (status = 200, description = "The event recorded and the purpose's state now", body = ConsentChangeResponse),
        (status = 400, description = "Unknown purpose, malformed id or JSON", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing customers.edit", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`/problems/customer-erased`: the customer is erased (member `erased_at`)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid `status`, `source` or `at` (in the future, before 2000), or an unknown field", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[put("/customers/{id}/consents/{purpose}")]
pub async fn set_consent(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(Uuid, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller
        .0
        .require(Permission::CustomersEdit)
        .map_err(DomainError::from)?;
    let (id, purpose) = path.into_inner();
    let purpose = purpose_of(&purpose)?;
    let body: ConsentWrite = crate::json::read_json(&req, payload).await?;
    let change = state
        .services
        .privacy
        .set_consent(
            &caller.0,
            CustomerId(id),
            purpose,
            ConsentInput {
                status: body.status.into(),
                source: body.source,
                at: body.at,
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(ConsentChangeResponse {
        event: (&change.event).into(),
        current: (&change.current).into(),
    }))
}

/// A customer's consent history, newest first by `at` (needs `customers.view`).
#[utoipa::path(
    tag = "privacy",
    params(("id" = Uuid, Path, description = "Customer id"), ConsentHistoryParams),
    responses(
        (status = 200, description = "A page of the history", body = ConsentHistoryPage),
        (status = 400, description = "Unknown parameter, malformed value or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing customers.view", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/customers/{id}/consents/history")]
pub async fn consent_history(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let mut query = ConsentHistoryQuery {
        purpose: None,
        after: None,
        limit: crm_domain::customer::DEFAULT_PAGE_SIZE,
    };
    crate::query::each_param(
        req.query_string(),
        &["limit", "cursor", "purpose"],
        |name, value| {
            match name {
                "limit" => query.limit = crate::query::limit(value)?,
                "cursor" => {
                    let (at, id) = state
                        .cursors
                        .decode_position(CursorKind::ConsentHistory, value)?;
                    query.after = Some(ConsentPosition {
                        at,
                        id: crm_domain::ids::ConsentEventId(id),
                    });
                }
                _ => query.purpose = Some(purpose_of(value)?),
            }
            Ok(())
        },
    )?;
    let page = state
        .services
        .privacy
        .consent_history(&caller.0, CustomerId(id.into_inner()), query)
        .await?;
    Ok(HttpResponse::Ok().json(ConsentHistoryPage {
        data: page.items.iter().map(ConsentEventResponse::from).collect(),
        next_cursor: page.next.map(|p| {
            state
                .cursors
                .encode_position(CursorKind::ConsentHistory, p.at, p.id.0)
        }),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_purpose_is_a_400_naming_it() {
        assert_eq!(
            purpose_of("marketing_sms").unwrap(),
            domain::ConsentPurpose::MarketingSms
        );
        match purpose_of("marketing_fax") {
            Err(ApiError::BadRequest { field, detail }) => {
                assert_eq!(field.as_deref(), Some("purpose"));
                assert!(detail.contains("marketing_whatsapp"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_wire_names_of_purposes_are_the_domains() {
        for p in domain::ConsentPurpose::ALL {
            let wire = serde_json::to_value(ConsentPurpose::from(*p)).unwrap();
            assert_eq!(wire, p.as_str());
        }
    }
}
