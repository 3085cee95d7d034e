//! `/api/v1/customer-segments`: manual, auto and rfm segments, their customers and members, and
//! `/api/v1/customers/{id}/segments`.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, delete, get, post, put, web};
use chrono::{DateTime, Utc};
use crm_domain::CustomerId;
use crm_domain::ids::SegmentId;
use crm_domain::segment::{Segment, SegmentInput, SegmentRule, SegmentWithTotals};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Caller;
use crate::customers::dto::CustomerPage;
use crate::customers::list::{ListCustomersParams, answer, parse_params};
use crate::json::JsonBody;
use crate::problem::{ApiError, Problem};
use crate::state::AppState;

/// Registers the segment routes (inside the `/api/v1` scope, before the customer routes).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_segments)
        .service(create_segment)
        .service(get_segment)
        .service(replace_segment)
        .service(delete_segment)
        .service(segment_customers)
        .service(add_members)
        .service(remove_members)
        .service(customer_segments);
}

/// A segment as submitted.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentWrite {
    /// 1..=100 characters, unique in the tenant.
    pub name: Option<String>,
    /// At most 1,000 characters.
    pub description: Option<String>,
    /// `manual` (explicit members), `auto` (a filter) or `rfm` (RFM segments).
    pub segment_type: Option<String>,
    /// The rule of an `auto` segment, in the filter language of `POST /customers/search`
    /// (RFM fields included).
    #[schema(value_type = Option<Object>)]
    pub filter: Option<serde_json::Value>,
    /// The RFM segments of an `rfm` segment (`champions`, `at_risk`, ...).
    pub rfm_segments: Option<Vec<String>>,
}

/// A segment with its current size.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SegmentResponse {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// `manual`, `auto` or `rfm`.
    pub segment_type: String,
    /// The rule of an `auto` segment.
    #[schema(value_type = Option<Object>)]
    pub filter: Option<serde_json::Value>,
    /// The RFM segments of an `rfm` segment.
    pub rfm_segments: Option<Vec<String>>,
    /// Live customers in it now.
    pub customer_count: u64,
    /// Σ total_spent of its customers per currency (decimal strings).
    #[schema(value_type = Object)]
    pub total_revenue: BTreeMap<String, Decimal>,
    /// Creator.
    pub created_by: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

fn response(s: &Segment, count: u64, revenue: BTreeMap<String, Decimal>) -> SegmentResponse {
    SegmentResponse {
        id: s.id.0,
        name: s.name.clone(),
        description: s.description.clone(),
        segment_type: s.segment_type().as_str().to_owned(),
        filter: match &s.rule {
            SegmentRule::Auto(f) => Some(f.clone()),
            _ => None,
        },
        rfm_segments: match &s.rule {
            SegmentRule::Rfm(r) => Some(r.iter().map(|x| x.as_str().to_owned()).collect()),
            _ => None,
        },
        customer_count: count,
        total_revenue: revenue,
        created_by: s.created_by.as_ref().map(|u| u.as_str().to_owned()),
        created_at: s.created_at,
        updated_at: s.updated_at,
    }
}

impl From<&SegmentWithTotals> for SegmentResponse {
    fn from(s: &SegmentWithTotals) -> Self {
        response(
            &s.segment,
            s.customer_count,
            s.total_revenue
                .iter()
                .map(|(c, a)| (c.clone(), a.value()))
                .collect(),
        )
    }
}

impl From<SegmentWrite> for SegmentInput {
    fn from(w: SegmentWrite) -> Self {
        SegmentInput {
            name: w.name,
            description: w.description,
            segment_type: w.segment_type,
            filter: w.filter,
            rfm_segments: w.rfm_segments,
        }
    }
}

/// Customers to add to or remove from a manual segment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MembersRequest {
    /// 1..=1000 customer ids.
    pub customer_ids: Vec<Uuid>,
}

/// The tenant's segments, by name, with their sizes.
#[utoipa::path(
    tag = "segments",
    responses(
        (status = 200, description = "The tenant's segments with their sizes and revenue", body = Vec<SegmentResponse>),
        (status = 403, description = "Missing customers.view", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/customer-segments")]
pub async fn list_segments(
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let all = state.services.segments.list(&caller.0).await?;
    Ok(HttpResponse::Ok().json(all.iter().map(SegmentResponse::from).collect::<Vec<_>>()))
}

/// Create a segment (needs `customers.manage`).
#[utoipa::path(
    tag = "segments",
    request_body = SegmentWrite,
    responses(
        (status = 201, description = "The segment created, with its size and revenue", body = SegmentResponse),
        (status = 409, description = "Name taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field (the filter's errors carry their path)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/customer-segments")]
pub async fn create_segment(
    caller: Caller,
    state: web::Data<AppState>,
    body: JsonBody<SegmentWrite>,
) -> Result<HttpResponse, ApiError> {
    let s = state
        .services
        .segments
        .create(&caller.0, body.0.into())
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((
            "Location",
            format!("/api/v1/customer-segments/{}", s.segment.id),
        ))
        .json(SegmentResponse::from(&s)))
}

/// One segment with its size.
#[utoipa::path(
    tag = "segments",
    params(("id" = Uuid, Path, description = "Segment id")),
    responses(
        (status = 200, description = "The segment with its size and revenue", body = SegmentResponse),
        (status = 404, description = "No such segment", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/customer-segments/{id}")]
pub async fn get_segment(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let s = state
        .services
        .segments
        .get(&caller.0, SegmentId(id.into_inner()))
        .await?;
    Ok(HttpResponse::Ok().json(SegmentResponse::from(&s)))
}

/// Replace a segment (needs `customers.manage`); a manual segment that changes type loses its
/// members.
#[utoipa::path(
    tag = "segments",
    params(("id" = Uuid, Path, description = "Segment id")),
    request_body = SegmentWrite,
    responses(
        (status = 200, description = "The segment as replaced", body = SegmentResponse),
        (status = 404, description = "No such segment", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The new name is another segment's (`errors[0].field` is `name`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[put("/customer-segments/{id}")]
pub async fn replace_segment(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: JsonBody<SegmentWrite>,
) -> Result<HttpResponse, ApiError> {
    let s = state
        .services
        .segments
        .replace(&caller.0, SegmentId(id.into_inner()), body.0.into())
        .await?;
    Ok(HttpResponse::Ok().json(SegmentResponse::from(&s)))
}

/// Delete a segment (needs `customers.manage`); its customers stay.
#[utoipa::path(
    tag = "segments",
    params(("id" = Uuid, Path, description = "Segment id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such segment", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[delete("/customer-segments/{id}")]
pub async fn delete_segment(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    state
        .services
        .segments
        .delete(&caller.0, SegmentId(id.into_inner()))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The segment's customers, with the customer list's filters, sorts and cursor pages
/// (evaluated by the database; the segment's rule is ANDed with the filters).
#[utoipa::path(
    tag = "segments",
    params(("id" = Uuid, Path, description = "Segment id"), ListCustomersParams),
    responses(
        (status = 200, description = "A page of the segment's customers", body = CustomerPage),
        (status = 400, description = "Unknown or repeated parameter, malformed value, or a value over a limit of the filter language (`errors[0].limit`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such segment", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The segment's rule and the parameters together are over a limit of the filter language (`errors[0].field` is `filter`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/customer-segments/{id}/customers")]
pub async fn segment_customers(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (mut query, mode) = parse_params(req.query_string(), &state)?;
    let rule = state
        .services
        .segments
        .filter(&caller.0, SegmentId(id.into_inner()))
        .await?;
    query.filter = query.filter.and(rule);
    answer(&caller, &state, query, mode).await
}

/// Add customers to a manual segment (needs `customers.manage`); all or nothing.
#[utoipa::path(
    tag = "segments",
    params(("id" = Uuid, Path, description = "Segment id")),
    request_body = MembersRequest,
    responses(
        (status = 200, description = "The segment after the change", body = SegmentResponse),
        (status = 404, description = "No such segment", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a manual segment, or unknown customers", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/customer-segments/{id}/members")]
pub async fn add_members(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: JsonBody<MembersRequest>,
) -> Result<HttpResponse, ApiError> {
    let ids = body.0.customer_ids.into_iter().map(CustomerId).collect();
    let s = state
        .services
        .segments
        .add_members(&caller.0, SegmentId(id.into_inner()), ids)
        .await?;
    Ok(HttpResponse::Ok().json(SegmentResponse::from(&s)))
}

/// Remove customers from a manual segment (needs `customers.manage`).
#[utoipa::path(
    tag = "segments",
    params(("id" = Uuid, Path, description = "Segment id")),
    request_body = MembersRequest,
    responses(
        (status = 200, description = "The segment after the change", body = SegmentResponse),
        (status = 404, description = "No such segment", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a manual segment", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/customer-segments/{id}/members/remove")]
pub async fn remove_members(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: JsonBody<MembersRequest>,
) -> Result<HttpResponse, ApiError> {
    let ids = body.0.customer_ids.into_iter().map(CustomerId).collect();
    let s = state
        .services
        .segments
        .remove_members(&caller.0, SegmentId(id.into_inner()), ids)
        .await?;
    Ok(HttpResponse::Ok().json(SegmentResponse::from(&s)))
}

/// A segment a customer belongs to.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MembershipResponse {
    /// Segment id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// `manual`, `auto` or `rfm`.
    pub segment_type: String,
}

impl From<&Segment> for MembershipResponse {
    fn from(s: &Segment) -> Self {
        Self {
            id: s.id.0,
            name: s.name.clone(),
            segment_type: s.segment_type().as_str().to_owned(),
        }
    }
}

/// The segments a customer belongs to now.
#[utoipa::path(
    tag = "segments",
    params(("id" = Uuid, Path, description = "Customer id")),
    responses(
        (status = 200, description = "The segments the customer is in", body = Vec<MembershipResponse>),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/customers/{id}/segments")]
pub async fn customer_segments(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let all = state
        .services
        .segments
        .of_customer(&caller.0, CustomerId(id.into_inner()))
        .await?;
    Ok(HttpResponse::Ok().json(all.iter().map(MembershipResponse::from).collect::<Vec<_>>()))
}
