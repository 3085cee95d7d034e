//! `POST /api/v1/customers/bulk`: one action on many customers, all or nothing.

use actix_web::{HttpResponse, post, web};
use crm_domain::customer::filter::Filter;
use crm_domain::customer::{BulkAction, BulkTarget};
use crm_domain::{CustomerId, DomainError, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::dto::CustomerStatus;
use crate::auth::Caller;
use crate::json::JsonBody;
use crate::problem::{ApiError, Problem};
use crate::state::AppState;

/// The action of a bulk request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum BulkActionRequest {
    /// Set the status.
    UpdateStatus {
        /// New status.
        status: CustomerStatus,
        /// Why: required (422 naming `action.status_reason`) for `inactive`, `blocked` and
        /// `archived`, at most 500 characters; each customer's `customer.status_changed`
        /// event carries it.
        #[serde(default)]
        status_reason: Option<String>,
    },
    /// Add tags.
    AddTags {
        /// Tags to add (1..=50).
        tags: Vec<String>,
    },
    /// Remove tags.
    RemoveTags {
        /// Tags to remove (1..=50).
        tags: Vec<String>,
    },
    /// Set or clear the owner.
    Assign {
        /// User id, or `null` to clear.
        assigned_to: Option<String>,
    },
    /// Set the VIP flag.
    SetVip {
        /// New flag.
        is_vip: bool,
    },
    /// Soft-delete (needs customers.delete; refused for all if any has open orders).
    Delete,
}

/// A bulk request: exactly one of `ids` or `filter`, and an action.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    /// Customer ids (1..=1000); each must be a live customer of the tenant.
    pub ids: Option<Vec<Uuid>>,
    /// A filter in the filter language: every live customer it matches.
    #[schema(value_type = Option<Object>)]
    pub filter: Option<serde_json::Value>,
    /// What to do.
    pub action: BulkActionRequest,
}

/// What a bulk request did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BulkResponse {
    /// Customers matched.
    pub matched: u64,
    /// Customers changed (the others already were as asked).
    pub updated: u64,
}

/// Apply one action to many customers in one transaction: all of them change or none does.
#[utoipa::path(
    tag = "customers",
    request_body = BulkRequest,
    responses(
        (status = 200, description = "The outcome per customer of the bulk action", body = BulkResponse),
        (status = 403, description = "Missing customers.edit (customers.delete to delete)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "An id is not a live customer of the tenant the caller reaches; nothing changed", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`/problems/customer-has-open-orders`: deleting customers with open orders, with `open_orders` (up to 10 `{customer_id, order_ref}`); nothing changed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Neither or both of ids and filter, a bad filter or bad tags, or `action.assigned_to` naming another user for a sales user under `sales_scope: \"assigned\"`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/customers/bulk")]
pub async fn bulk_customers(
    caller: Caller,
    state: web::Data<AppState>,
    body: JsonBody<BulkRequest>,
) -> Result<HttpResponse, ApiError> {
    let r = body.0;
    let target = match (r.ids, r.filter) {
        (Some(ids), None) => BulkTarget::Ids(ids.into_iter().map(CustomerId).collect()),
        (None, Some(f)) => {
            BulkTarget::Filter(Filter::parse(&f, "filter").map_err(DomainError::Validation)?)
        }
        _ => {
            return Err(DomainError::invalid(
                "ids",
                "required",
                "give exactly one of `ids` or `filter`",
            )
            .into());
        }
    };
    let action = match r.action {
        BulkActionRequest::UpdateStatus {
            status,
            status_reason,
        } => BulkAction::UpdateStatus(status.into(), status_reason),
        BulkActionRequest::AddTags { tags } => BulkAction::AddTags(tags),
        BulkActionRequest::RemoveTags { tags } => BulkAction::RemoveTags(tags),
        BulkActionRequest::Assign { assigned_to } => BulkAction::Assign(match assigned_to {
            None => None,
            Some(u) => Some(UserId::parse(&u).ok_or_else(|| {
                DomainError::invalid("action.assigned_to", "invalid", "1..=255 characters")
            })?),
        }),
        BulkActionRequest::SetVip { is_vip } => BulkAction::SetVip(is_vip),
        BulkActionRequest::Delete => BulkAction::Delete,
    };
    let result = state
        .services
        .customers
        .bulk(&caller.0, target, action)
        .await?;
    Ok(HttpResponse::Ok().json(BulkResponse {
        matched: result.matched,
        updated: result.updated,
    }))
}
