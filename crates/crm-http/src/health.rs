//! Liveness and readiness probes.

use actix_web::{HttpResponse, get, web};
use crm_domain::DomainError;
use serde::Serialize;
use utoipa::ToSchema;

use crate::problem::{ApiError, Problem};
use crate::state::AppState;

/// A probe's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthStatus {
    /// `ok`.
    pub status: &'static str,
}

/// The process is up.
#[utoipa::path(tag = "operations", responses((status = 200, description = "The process is up", body = HealthStatus)))]
#[get("/health/live")]
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(HealthStatus { status: "ok" })
}

/// The service can serve requests: the database answers.
#[utoipa::path(tag = "operations", responses(
    (status = 200, description = "The database answers", body = HealthStatus),
    (status = 503, description = "The database does not answer", body = Problem, content_type = "application/problem+json"),
))]
#[get("/health/ready")]
pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state
        .readiness
        .check()
        .await
        .map_err(|e| ApiError::Domain(DomainError::Unavailable(e)))?;
    Ok(HttpResponse::Ok().json(HealthStatus { status: "ok" }))
}
