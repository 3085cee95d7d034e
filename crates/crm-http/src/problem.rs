//! RFC 9457 problem details: the one place errors become HTTP responses.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use crm_domain::import::AcceptImportError;
use crm_domain::{DomainError, FieldError, Rule};

use crate::rate_limit::RateLimited;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// Media type of error bodies.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A problem details object (RFC 9457 §3), with crm's extension members `errors`,
/// `existing_id` and, on a refusal by a business rule, the numbers behind it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI reference naming the problem type, e.g. `/problems/validation-error`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Short summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong in this occurrence.
    pub detail: String,
    /// Field-level problems (validation, malformed fields, duplicates).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemField>,
    /// On a duplicate (409): the id of the customer that already holds the value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub existing_id: Option<Uuid>,
    /// On a refusal by a business rule (409), the numbers behind it as further members (RFC 9457
    /// §3.2): `credit-limit-exceeded` has `limit`, `outstanding`, `requested` (decimal strings)
    /// and `currency`; `insufficient-points` has `balance` and `requested` (integers);
    /// `customer-has-open-orders` has `open_orders` (up to 10 `{customer_id, order_ref}`);
    /// `tier-in-use` has `customers` (how many hold the tier); `customer-erased` has
    /// `erased_at` and `customer_id`; `unsupported-document-type` (415) has `detected_type`
    /// (the MIME type sniffed from the bytes); `document-too-large` (413) has `limit` (bytes);
    /// `document-content-missing` (404) has `document_id`. A 429 `rate-limited` has `scope`
    /// (`token`, `tenant` or `auth-failures`), `limit` (the bucket's size), `cost` (this
    /// request's cells) and `retry_after` (seconds, as the `Retry-After` header). A 429
    /// `too-many-streams` has `limit` (the most open event streams of a tenant).
    #[serde(flatten)]
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

/// One field-level problem.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProblemField {
    /// The field, parameter or header, as named in the API (`email`, `tags[1]`, `limit`).
    pub field: String,
    /// Stable machine-readable code (`required`, `invalid_email`, `duplicate`, ...).
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
    /// When the value breaks a limit (`too_many`, `too_long`, `too_deep`): the limit's value
    /// (the most values, characters, conditions or levels allowed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

impl From<FieldError> for ProblemField {
    fn from(e: FieldError) -> Self {
        Self {
            field: e.field,
            code: e.code.to_owned(),
            message: e.message,
            limit: e.limit,
        }
    }
}

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A use case refused.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The request itself is malformed (400): bad JSON syntax, a bad query parameter or header.
    #[error("{detail}")]
    BadRequest {
        /// What is wrong.
        detail: String,
        /// Which parameter, header or field.
        field: Option<String>,
    },
    /// A query parameter breaks a rule with a code of its own, such as a limit of the filter
    /// language (400): the field error names the parameter and carries the limit.
    #[error("{}: {}", .0.field, .0.message)]
    BadParameter(FieldError),
    /// No valid bearer token (401).
    #[error("{0}")]
    Unauthorized(String),
    /// The body exceeds the configured limit (413).
    #[error("the request body exceeds {limit} bytes")]
    PayloadTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// An import file has more rows than the configured limit (413).
    #[error("the file has more than {limit} rows")]
    TooManyRows {
        /// The limit.
        limit: u64,
    },
    /// An import file breaks a limit of the reader other than the row count (413): the
    /// problem carries `setting` (the configuration that holds it) and `limit` (its value).
    #[error("{detail}")]
    FileBeyondLimit {
        /// `CRM_MAX_IMPORT_COLUMNS`, `CRM_MAX_IMPORT_UNZIPPED_BYTES`,
        /// `CRM_MAX_IMPORT_SHARED_STRINGS_BYTES` or `max_element_bytes`.
        setting: String,
        /// The limit's value (columns or bytes).
        limit: u64,
        /// What broke it.
        detail: String,
    },
    /// The body is not JSON (415).
    #[error("the request body must be application/json")]
    UnsupportedMediaType,
    /// No such route (404).
    #[error("no route for {0}")]
    NoRoute(String),
    /// The route exists but not with this method (405).
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A rate-limit bucket is empty (429, with `Retry-After`, `RateLimit-Policy` and
    /// `RateLimit`).
    #[error(
        "the {} rate limit is exhausted (a bucket of {} requests; this one costs {}): retry after {} s",
        .0.scope.name(), .0.limit, .0.cost, .0.retry_after
    )]
    RateLimited(RateLimited),
    /// The tenant already has the most live event streams allowed (429, type
    /// `too-many-streams`, with `limit`).
    #[error("the tenant already has {limit} open event streams; close one or retry later")]
    TooManyStreams {
        /// The most open streams a tenant may have.
        limit: usize,
    },
}

impl From<AcceptImportError> for ApiError {
    fn from(e: AcceptImportError) -> Self {
        match e {
            AcceptImportError::Domain(e) => ApiError::Domain(e),
            AcceptImportError::UnreadableFile(reason) => ApiError::bad("file", reason),
            e @ AcceptImportError::NoRows => ApiError::bad("file", e.to_string()),
            AcceptImportError::TooManyRows { limit } => ApiError::TooManyRows { limit },
            AcceptImportError::FileBeyondLimit {
                setting,
                limit,
                detail,
            } => ApiError::FileBeyondLimit {
                setting,
                limit,
                detail,
            },
        }
    }
}

impl From<crm_domain::webhook::WebhookError> for ApiError {
    /// A webhook refusal is a field error of a 422 validation problem (`url`,
    /// `event_types`, `description`, or `webhooks` `too_many` with the limit).
    fn from(e: crm_domain::webhook::WebhookError) -> Self {
        ApiError::Domain(e.into())
    }
}

impl ApiError {
    /// A 400 naming the offending parameter, header or field.
    pub fn bad(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::BadRequest {
            detail: detail.into(),
            field: Some(field.into()),
        }
    }

    fn problem(&self) -> Problem {
        let (slug, title) = self.kind();
        let mut p = Problem {
            type_: format!("/problems/{slug}"),
            title: title.to_owned(),
            status: self.status_code().as_u16(),
            detail: self.to_string(),
            errors: Vec::new(),
            existing_id: None,
            extensions: serde_json::Map::new(),
        };
        match self {
            ApiError::Domain(DomainError::Validation(errors)) => {
                p.detail = "the request has invalid fields; see errors".into();
                p.errors = errors.iter().cloned().map(ProblemField::from).collect();
            }
            ApiError::Domain(DomainError::Conflict {
                field,
                message,
                existing_id,
            }) => {
                p.errors = vec![ProblemField {
                    field: field.clone(),
                    code: "duplicate".into(),
                    message: message.clone(),
                    limit: None,
                }];
                p.existing_id = *existing_id;
            }
            ApiError::Domain(DomainError::Rule(v)) => {
                p.errors = vec![ProblemField {
                    field: v.field.clone(),
                    code: slug.replace('-', "_"),
                    message: v.message.clone(),
                    limit: None,
                }];
                p.extensions = v.facts.clone();
            }
            ApiError::Domain(DomainError::IdempotencyKeyReused) => {
                p.errors = vec![ProblemField {
                    field: "Idempotency-Key".into(),
                    code: "reused".into(),
                    message: self.to_string(),
                    limit: None,
                }];
            }
            ApiError::Domain(DomainError::Internal(_)) => {
                p.detail = "an unexpected error occurred; it has been logged".into();
            }
            ApiError::RateLimited(r) => {
                p.extensions.insert("scope".into(), r.scope.name().into());
                p.extensions.insert("limit".into(), r.limit.into());
                p.extensions.insert("cost".into(), r.cost.into());
                p.extensions
                    .insert("retry_after".into(), r.retry_after.into());
            }
            ApiError::BadRequest {
                field: Some(field),
                detail,
            } => {
                p.errors = vec![ProblemField {
                    field: field.clone(),
                    code: "malformed".into(),
                    message: detail.clone(),
                    limit: None,
                }];
            }
            ApiError::BadParameter(e) => {
                p.errors = vec![ProblemField::from(e.clone())];
            }
            ApiError::TooManyStreams { limit } => {
                p.extensions.insert("limit".into(), (*limit).into());
            }
            ApiError::FileBeyondLimit {
                setting,
                limit,
                detail,
            } => {
                p.errors = vec![ProblemField {
                    field: "file".into(),
                    code: "too_large".into(),
                    message: detail.clone(),
                    limit: Some(*limit),
                }];
                p.extensions
                    .insert("setting".into(), setting.clone().into());
                p.extensions.insert("limit".into(), (*limit).into());
            }
            _ => {}
        }
        p
    }

    fn kind(&self) -> (&'static str, &'static str) {
        match self {
            ApiError::Domain(e) => match e {
                DomainError::Validation(_) => ("validation-error", "Invalid request fields"),
                DomainError::NotFound { .. } => ("not-found", "Not found"),
                DomainError::Conflict { .. } => ("conflict", "Conflict with an existing record"),
                DomainError::Rule(v) => match v.rule {
                    Rule::CreditLimitExceeded => ("credit-limit-exceeded", "Credit limit exceeded"),
                    Rule::InsufficientPoints => ("insufficient-points", "Not enough points"),
                    Rule::CustomerHasOpenOrders => {
                        ("customer-has-open-orders", "The customer has open orders")
                    }
                    Rule::TierInUse => ("tier-in-use", "Customers hold the tier"),
                    Rule::CustomerErased => ("customer-erased", "The customer is erased"),
                    Rule::UnsupportedDocumentType => (
                        "unsupported-document-type",
                        "The file's content type is not allowed",
                    ),
                    Rule::DocumentTooLarge => ("document-too-large", "Document too large"),
                    Rule::DocumentContentMissing => (
                        "document-content-missing",
                        "The document's content is missing",
                    ),
                },
                DomainError::ConcurrentUpdate => {
                    ("concurrent-update", "The record changed concurrently")
                }
                DomainError::Forbidden(_) => ("forbidden", "Missing permission"),
                DomainError::PreconditionFailed { .. } => ("precondition-failed", "Stale version"),
                DomainError::IdempotencyKeyReused => {
                    ("idempotency-key-reused", "Idempotency key reused")
                }
                DomainError::Unavailable(_) => ("unavailable", "Service unavailable"),
                DomainError::Internal(_) => ("internal", "Internal error"),
            },
            ApiError::BadRequest { .. } | ApiError::BadParameter(_) => {
                ("bad-request", "Malformed request")
            }
            ApiError::Unauthorized(_) => ("unauthorized", "Authentication required"),
            ApiError::PayloadTooLarge { .. } => ("payload-too-large", "Request body too large"),
            ApiError::TooManyRows { .. } => ("too-many-rows", "Import file too long"),
            ApiError::FileBeyondLimit { .. } => {
                ("import-limit-exceeded", "Import file beyond a limit")
            }
            ApiError::UnsupportedMediaType => ("unsupported-media-type", "Unsupported media type"),
            ApiError::NoRoute(_) => ("not-found", "Not found"),
            ApiError::MethodNotAllowed => ("method-not-allowed", "Method not allowed"),
            ApiError::RateLimited(_) => ("rate-limited", "Too many requests"),
            ApiError::TooManyStreams { .. } => ("too-many-streams", "Too many open event streams"),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Domain(e) => match e {
                DomainError::Validation(_) | DomainError::IdempotencyKeyReused => {
                    StatusCode::UNPROCESSABLE_ENTITY
                }
                DomainError::NotFound { .. } => StatusCode::NOT_FOUND,
                // Document refusals: each has the status its meaning has in HTTP.
                DomainError::Rule(v) if v.rule == Rule::UnsupportedDocumentType => {
                    StatusCode::UNSUPPORTED_MEDIA_TYPE
                }
                DomainError::Rule(v) if v.rule == Rule::DocumentTooLarge => {
                    StatusCode::PAYLOAD_TOO_LARGE
                }
                DomainError::Rule(v) if v.rule == Rule::DocumentContentMissing => {
                    StatusCode::NOT_FOUND
                }
                DomainError::Conflict { .. }
                | DomainError::Rule(_)
                | DomainError::ConcurrentUpdate => StatusCode::CONFLICT,
                DomainError::Forbidden(_) => StatusCode::FORBIDDEN,
                DomainError::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
                DomainError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                DomainError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
            ApiError::BadRequest { .. } | ApiError::BadParameter(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::PayloadTooLarge { .. }
            | ApiError::TooManyRows { .. }
            | ApiError::FileBeyondLimit { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::NoRoute(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::RateLimited(_) | ApiError::TooManyStreams { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        match self {
            ApiError::Domain(DomainError::Internal(m)) => {
                tracing::error!(error = %m, "internal error")
            }
            ApiError::Domain(DomainError::Unavailable(m)) => {
                tracing::warn!(error = %m, "storage unavailable")
            }
            _ => tracing::debug!(status = status.as_u16(), error = %self, "request refused"),
        }
        let mut res = HttpResponse::build(status);
        res.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)));
        if matches!(self, ApiError::Unauthorized(_)) {
            res.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        if let ApiError::RateLimited(r) = self {
            res.insert_header((header::RETRY_AFTER, r.retry_after.to_string()));
            if let Ok(policy) = HeaderValue::from_str(&r.policy) {
                res.insert_header(("ratelimit-policy", policy));
            }
            if let Ok(state) = HeaderValue::from_str(&r.state_field()) {
                res.insert_header(("ratelimit", state));
            }
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            // Overload and contention pass quickly: a client may retry after a second.
            res.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
        }
        res.body(serde_json::to_vec(&self.problem()).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crm_domain::{RepositoryError, RuleViolation};
    use serde_json::json;

    fn rendered(e: DomainError) -> (u16, serde_json::Value) {
        let e = ApiError::Domain(e);
        let body = serde_json::to_value(e.problem()).unwrap();
        (e.status_code().as_u16(), body)
    }

    #[test]
    fn a_stale_write_is_a_409_concurrent_update_not_a_500() {
        let (status, body) = rendered(RepositoryError::Stale.into());
        assert_eq!(status, 409);
        assert_eq!(body["type"], "/problems/concurrent-update");
        assert_eq!(body["status"], 409);
        assert!(body["detail"].as_str().unwrap().contains("retry"), "{body}");
    }

    #[test]
    fn a_rule_violation_has_its_own_type_and_its_numbers_as_members() {
        let v = RuleViolation::new(Rule::InsufficientPoints, "points", "too few")
            .with("balance", 15)
            .with("requested", 16);
        let (status, body) = rendered(v.into());
        assert_eq!(status, 409);
        assert_eq!(
            body,
            json!({
                "type": "/problems/insufficient-points",
                "title": "Not enough points",
                "status": 409,
                "detail": "too few",
                "errors": [{"field": "points", "code": "insufficient_points", "message": "too few"}],
                "balance": 15,
                "requested": 16,
            })
        );
    }

    #[test]
    fn a_broken_limit_names_the_parameter_and_carries_the_limit() {
        let e = ApiError::BadParameter(
            FieldError::new(
                "tags_all",
                "too_many",
                "400 tags; at most 50 in one condition",
            )
            .with_limit(50),
        );
        assert_eq!(e.status_code().as_u16(), 400);
        let body = serde_json::to_value(e.problem()).unwrap();
        assert_eq!(body["type"], "/problems/bad-request");
        assert_eq!(
            body["errors"],
            json!([{"field": "tags_all", "code": "too_many",
                    "message": "400 tags; at most 50 in one condition", "limit": 50}])
        );
        // Field errors without a limit have no `limit` member.
        let (_, body) = rendered(DomainError::invalid("name", "required", "name is required"));
        assert!(body["errors"][0].get("limit").is_none(), "{body}");
    }

    #[test]
    fn each_rule_has_its_own_problem_type() {
        let slugs: Vec<String> = [
            Rule::CreditLimitExceeded,
            Rule::InsufficientPoints,
            Rule::CustomerHasOpenOrders,
            Rule::TierInUse,
            Rule::CustomerErased,
        ]
        .into_iter()
        .map(|r| rendered(RuleViolation::new(r, "f", "m").into()).1["type"].to_string())
        .collect();
        assert_eq!(
            slugs,
            [
                "\"/problems/credit-limit-exceeded\"",
                "\"/problems/insufficient-points\"",
                "\"/problems/customer-has-open-orders\"",
                "\"/problems/tier-in-use\"",
                "\"/problems/customer-erased\"",
            ]
        );
    }
}
