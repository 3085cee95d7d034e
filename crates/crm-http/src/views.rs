//! `/api/v1/customer-views`: saved views of the customer list.

use actix_web::{HttpResponse, delete, get, post, put, web};
use chrono::{DateTime, Utc};
use crm_domain::customer::SortKey;
use crm_domain::ids::ViewId;
use crm_domain::view::{SavedView, ViewInput};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Caller;
use crate::json::JsonBody;
use crate::problem::{ApiError, Problem};
use crate::state::AppState;

/// Registers the view routes (inside the `/api/v1` scope).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_views)
        .service(create_view)
        .service(get_view)
        .service(replace_view)
        .service(delete_view);
}

/// A saved view as submitted.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ViewWrite {
    /// 1..=100 characters.
    pub name: Option<String>,
    /// A filter in the filter language (as `POST /api/v1/customers/search` takes).
    #[schema(value_type = Option<Object>)]
    pub filter: Option<serde_json::Value>,
    /// Sort keys (`name`, `-total_spent`).
    pub sort: Option<Vec<String>>,
    /// Columns to show (customer field names), at most 50.
    pub columns: Option<Vec<String>>,
    /// Visible to everyone in the tenant.
    pub shared: Option<bool>,
}

impl From<ViewWrite> for ViewInput {
    fn from(w: ViewWrite) -> Self {
        ViewInput {
            name: w.name,
            filter: w.filter,
            sort: w.sort,
            columns: w.columns,
            shared: w.shared,
        }
    }
}

/// A saved view.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ViewResponse {
    /// Id.
    pub id: Uuid,
    /// Who saved it.
    pub owner: String,
    /// Name.
    pub name: String,
    /// The filter, in the filter language; `null` when the view has none (every customer).
    #[schema(value_type = Option<Object>)]
    pub filter: Option<serde_json::Value>,
    /// Sort keys.
    pub sort: Vec<String>,
    /// Columns.
    pub columns: Vec<String>,
    /// Shared with the tenant.
    pub shared: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<&SavedView> for ViewResponse {
    fn from(v: &SavedView) -> Self {
        Self {
            id: v.id.0,
            owner: v.owner.as_str().to_owned(),
            name: v.name.clone(),
            filter: Some(v.filter.clone()).filter(|f| !f.is_null()),
            sort: SortKey::spec(&v.sort)
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            columns: v.columns.clone(),
            shared: v.shared,
            created_at: v.created_at,
            updated_at: v.updated_at,
        }
    }
}

/// The views the caller sees: their own and the shared ones.
#[utoipa::path(
    tag = "views",
    responses(
        (status = 200, description = "The saved views the caller may see", body = Vec<ViewResponse>),
        (status = 403, description = "Missing customers.view", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/customer-views")]
pub async fn list_views(
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let views = state.services.views.list(&caller.0).await?;
    Ok(HttpResponse::Ok().json(views.iter().map(ViewResponse::from).collect::<Vec<_>>()))
}

/// Save a view.
#[utoipa::path(
    tag = "views",
    request_body = ViewWrite,
    responses(
        (status = 201, description = "The view created", body = ViewResponse),
        (status = 403, description = "Missing customers.view", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid name, filter, sort or column", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/customer-views")]
pub async fn create_view(
    caller: Caller,
    state: web::Data<AppState>,
    body: JsonBody<ViewWrite>,
) -> Result<HttpResponse, ApiError> {
    let v = state
        .services
        .views
        .create(&caller.0, body.0.into())
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((
            actix_web::http::header::LOCATION,
            format!("/api/v1/customer-views/{}", v.id),
        ))
        .json(ViewResponse::from(&v)))
}

/// Get a view.
#[utoipa::path(
    tag = "views",
    params(("id" = Uuid, Path, description = "View id")),
    responses(
        (status = 200, description = "The view", body = ViewResponse),
        (status = 404, description = "No such view, or another user's private view", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/customer-views/{id}")]
pub async fn get_view(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let v = state
        .services
        .views
        .get(&caller.0, ViewId(id.into_inner()))
        .await?;
    Ok(HttpResponse::Ok().json(ViewResponse::from(&v)))
}

/// Replace a view (its owner, or `customers.manage` for a shared view).
#[utoipa::path(
    tag = "views",
    params(("id" = Uuid, Path, description = "View id")),
    request_body = ViewWrite,
    responses(
        (status = 200, description = "The view as replaced", body = ViewResponse),
        (status = 403, description = "Someone else's shared view without customers.manage", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such view", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[put("/customer-views/{id}")]
pub async fn replace_view(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: JsonBody<ViewWrite>,
) -> Result<HttpResponse, ApiError> {
    let v = state
        .services
        .views
        .replace(&caller.0, ViewId(id.into_inner()), body.0.into())
        .await?;
    Ok(HttpResponse::Ok().json(ViewResponse::from(&v)))
}

/// Delete a view (its owner, or `customers.manage` for a shared view).
#[utoipa::path(
    tag = "views",
    params(("id" = Uuid, Path, description = "View id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Someone else's shared view without customers.manage", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such view", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[delete("/customer-views/{id}")]
pub async fn delete_view(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    state
        .services
        .views
        .delete(&caller.0, ViewId(id.into_inner()))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
