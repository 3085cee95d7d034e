//! `/api/v1/customers`: create, read, update, replace, delete, restore and list.

mod bulk;
pub mod dto;
pub(crate) mod list;

use actix_web::http::header::{self, HeaderMap};
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, put, web};
use crm_domain::customer::{
    Customer, CustomerInput, CustomerJson, IdempotencyKey, MergePatch, NestedInput,
};
use crm_domain::{CustomerId, DomainError};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use self::dto::{CustomerResponse, CustomerWrite};
use crate::auth::Caller;
use crate::json::{JsonBody, from_value};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;

/// Registers the customer routes (inside the `/api/v1` scope).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_customer)
        .service(bulk::bulk_customers)
        .service(list::search_customers)
        .service(list::customer_stats)
        .service(list::list_customers)
        .service(get_customer)
        .service(patch_customer)
        .service(replace_customer)
        .service(delete_customer)
        .service(restore_customer);
}

fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

fn location(id: CustomerId) -> String {
    format!("/api/v1/customers/{id}")
}

async fn with_customer(
    state: &AppState,
    caller: &Caller,
    mut res: actix_web::HttpResponseBuilder,
    c: &Customer,
) -> Result<HttpResponse, ApiError> {
    let mut body = [CustomerResponse::from(c)];
    attach_parts(state, caller, &mut body).await?;
    let [body] = body;
    Ok(res
        .insert_header((header::ETAG, etag(c.version)))
        .json(body))
}

/// Fills the parts of customer answers that other contexts keep, one storage read each for
/// the whole slice: `default_billing_address` and `default_shipping_address` (the address
/// context) and `primary_contact` (the contact context). A caller without `customers.view`
/// (a token holding only another permission, such as a tier assignment's) gets the customer
/// without them: the members stay null, `primary_contact` is left out.
///
/// # Errors
/// As [`crm_domain::address::AddressService::defaults_of`] and
/// [`crm_domain::contact::ContactService::primaries`], but never for a missing permission.
pub(crate) async fn attach_parts(
    state: &AppState,
    caller: &Caller,
    customers: &mut [CustomerResponse],
) -> Result<(), ApiError> {
    use crm_domain::address::AddressType;
    if customers.is_empty() {
        return Ok(());
    }
    let ids: Vec<CustomerId> = customers.iter().map(|c| CustomerId(c.id)).collect();
    match state.services.addresses.defaults_of(&caller.0, &ids).await {
        Ok(defaults) => {
            for c in customers.iter_mut() {
                for a in defaults.iter().filter(|a| a.customer_id.0 == c.id) {
                    let response = Some(crate::addresses::AddressResponse::from(a));
                    match a.fields.address_type {
                        AddressType::Billing => c.default_billing_address = response,
                        AddressType::Shipping => c.default_shipping_address = response,
                        _ => {}
                    }
                }
            }
        }
        Err(DomainError::Forbidden(_)) => {}
        Err(e) => return Err(e.into()),
    }
    match state.services.contacts.primaries(&caller.0, &ids).await {
        Ok(found) => {
            for c in customers.iter_mut() {
                c.primary_contact = Some(found.get(&CustomerId(c.id)).map(Into::into));
            }
        }
        Err(DomainError::Forbidden(_)) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// The version an `If-Match` header asks for: `None` when absent or `*`.
pub(crate) fn if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(raw) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = raw
        .to_str()
        .map_err(|_| ApiError::bad("If-Match", "must be an ETag such as \"3\""))?
        .trim();
    if text == "*" {
        return Ok(None);
    }
    let tag = text.strip_prefix("W/").unwrap_or(text);
    tag.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .and_then(|t| t.parse::<i64>().ok())
        .map(Some)
        .ok_or_else(|| {
            ApiError::bad(
                "If-Match",
                format!("`{text}` is not an ETag of this API (such as \"3\")"),
            )
        })
}

/// The refusal of `addresses` in a `PUT` or `PATCH` of a customer.
fn addresses_not_here() -> DomainError {
    DomainError::invalid(
        "addresses",
        "not_allowed",
        "addresses are written with the customer only on create; change them at /customers/{id}/addresses",
    )
}

/// Sorts object keys recursively, so the fingerprint ignores key order and whitespace.
fn canonical(value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            serde_json::Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), canonical(v)))
                    .collect(),
            )
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.iter().map(canonical).collect())
        }
        other => other.clone(),
    }
}

fn fingerprint(route: &str, body: &serde_json::Value) -> String {
    let mut hasher = Sha256::new();
    hasher.update(route.as_bytes());
    hasher.update(b"\n");
    hasher.update(canonical(body).to_string().as_bytes());
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The body of `POST /customers`: the customer's fields and, optionally, its contacts.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
pub struct CustomerCreate {
    /// The customer's editable fields.
    #[serde(flatten)]
    pub customer: CustomerWrite,
    /// Contacts created with the customer, in the same transaction (at most 100).
    pub contacts: Option<Vec<crate::contacts::ContactWrite>>,
}

/// The `contacts` member of a create body, read on its own so errors name
/// `contacts[i].field`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NestedContacts {
    contacts: Vec<crate::contacts::ContactWrite>,
}

/// A customer's editable fields as the API's write body ([`CustomerWrite`]): what a `PATCH`
/// merge patch applies to.
struct WriteJson;

impl CustomerJson for WriteJson {
    fn fields(&self, customer: &Customer) -> Result<serde_json::Value, DomainError> {
        serde_json::to_value(CustomerWrite::from(customer))
            .map_err(|e| DomainError::Internal(e.to_string()))
    }

    fn input(&self, fields: serde_json::Value) -> Result<CustomerInput, DomainError> {
        match from_value::<CustomerWrite>(fields) {
            Ok(write) if write.addresses.is_some() => Err(addresses_not_here()),
            Ok(write) => Ok(write.into()),
            Err(ApiError::Domain(e)) => Err(e),
            Err(other) => Err(DomainError::Internal(other.to_string())),
        }
    }
}

/// Create a customer, optionally with its contacts.
///
/// `contacts` (at most 100) are stored in the same transaction: the first (or the one marked
/// `is_primary`) becomes the primary contact; one invalid element refuses the whole request
/// (422, `errors[].field` such as `contacts[1].email`) and nothing is stored.
///
/// With an `Idempotency-Key`, repeating the request (same key, same body) creates nothing new
/// and answers 201 with the customer the first request created, marked by the
/// `Idempotent-Replayed: true` header; the same key with another body is a 422.
#[utoipa::path(
    tag = "customers",
    request_body = CustomerCreate,
    params(("Idempotency-Key" = Option<String>, Header, description = "Client-chosen key (1..=255 visible ASCII) making the create safe to retry")),
    responses(
        (status = 201, description = "Created; `Location` names it, `ETag` is its version", body = CustomerResponse),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing customers.create", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "E-mail, phone, mobile phone or external_ref taken; `existing_id` names the holder when the caller reaches it", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (`assigned_to` naming another user, for a sales user under `sales_scope: \"assigned\"`), or an Idempotency-Key reused with another body", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/customers")]
pub async fn create_customer(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: JsonBody<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let key = match req.headers().get("Idempotency-Key") {
        None => None,
        Some(v) => Some(IdempotencyKey {
            key: v
                .to_str()
                .map_err(|_| ApiError::bad("Idempotency-Key", "must be visible ASCII"))?
                .to_owned(),
            fingerprint: fingerprint("POST /api/v1/customers", &body.0),
        }),
    };
    let mut body = body.0;
    let contacts = match body.as_object_mut().and_then(|o| o.remove("contacts")) {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(list) => from_value::<NestedContacts>(serde_json::json!({ "contacts": list }))?
            .contacts
            .into_iter()
            .map(Into::into)
            .collect(),
    };
    let mut write: CustomerWrite = from_value(body)?;
    let addresses = write
        .addresses
        .take()
        .unwrap_or_default()
        .into_iter()
        .map(Into::into)
        .collect();
    let created = state
        .services
        .customers
        .create_nested(
            &caller.0,
            write.into(),
            NestedInput {
                addresses,
                contacts,
            },
            key,
        )
        .await?;
    let mut res = HttpResponse::Created();
    res.insert_header((header::LOCATION, location(created.customer.id)));
    if created.replayed {
        res.insert_header(("Idempotent-Replayed", "true"));
    }
    with_customer(&state, &caller, res, &created.customer).await
}

/// Get a customer.
#[utoipa::path(
    tag = "customers",
    params(("id" = Uuid, Path, description = "Customer id")),
    responses(
        (status = 200, description = "The customer; `ETag` is its version", body = CustomerResponse),
        (status = 401, description = "No valid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing customers.view", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer in the caller's tenant (or deleted, or another user's for a sales user under `sales_scope: \"assigned\"`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/customers/{id}")]
pub async fn get_customer(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let c = state
        .services
        .customers
        .get(&caller.0, CustomerId(id.into_inner()))
        .await?;
    with_customer(&state, &caller, HttpResponse::Ok(), &c).await
}

/// Update some fields of a customer (JSON merge patch, RFC 7396).
///
/// Members present replace the stored value, `null` clears it (or restores the default),
/// absent members stay. `Content-Type` may be `application/merge-patch+json` or
/// `application/json`. With `If-Match`, the update happens only on that version (else 412).
#[utoipa::path(
    tag = "customers",
    params(
        ("id" = Uuid, Path, description = "Customer id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the version the change is based on"),
    ),
    request_body(content = CustomerWrite, description = "A merge patch of the editable fields", content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The updated customer", body = CustomerResponse),
        (status = 400, description = "Malformed JSON or If-Match", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing customers.edit", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A unique field is taken", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[patch("/customers/{id}")]
pub async fn patch_customer(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
    body: JsonBody<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let expected = if_match(req.headers())?;
    let patch = MergePatch::new(body.0, WriteJson)?;
    let c = state
        .services
        .customers
        .patch(&caller.0, CustomerId(id.into_inner()), &patch, expected)
        .await?;
    with_customer(&state, &caller, HttpResponse::Ok(), &c).await
}

/// Replace every editable field of a customer.
///
/// Fields left out take their defaults or become empty. With `If-Match`, only on that version.
#[utoipa::path(
    tag = "customers",
    params(
        ("id" = Uuid, Path, description = "Customer id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the version the change is based on"),
    ),
    request_body = CustomerWrite,
    responses(
        (status = 200, description = "The replaced customer", body = CustomerResponse),
        (status = 403, description = "Missing customers.edit", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A unique field is taken", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[put("/customers/{id}")]
pub async fn replace_customer(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
    body: JsonBody<CustomerWrite>,
) -> Result<HttpResponse, ApiError> {
    let expected = if_match(req.headers())?;
    if body.0.addresses.is_some() {
        return Err(addresses_not_here().into());
    }
    let c = state
        .services
        .customers
        .replace(
            &caller.0,
            CustomerId(id.into_inner()),
            body.0.into(),
            expected,
        )
        .await?;
    with_customer(&state, &caller, HttpResponse::Ok(), &c).await
}

/// Delete a customer (soft): it leaves reads and lists and frees its e-mail and phones until
/// restored.
#[utoipa::path(
    tag = "customers",
    params(
        ("id" = Uuid, Path, description = "Customer id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the version to delete"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Missing customers.delete", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`/problems/customer-has-open-orders`: the customer has open (pending or unpaid) orders, with `open_orders` (up to 10 `{customer_id, order_ref}`)", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[delete("/customers/{id}")]
pub async fn delete_customer(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let expected = if_match(req.headers())?;
    state
        .services
        .customers
        .delete(&caller.0, CustomerId(id.into_inner()), expected)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Restore a soft-deleted customer.
#[utoipa::path(
    tag = "customers",
    params(("id" = Uuid, Path, description = "Customer id")),
    responses(
        (status = 200, description = "The restored customer", body = CustomerResponse),
        (status = 403, description = "Missing customers.delete", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A live customer took its e-mail, phone or external_ref", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/customers/{id}/restore")]
pub async fn restore_customer(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let c = state
        .services
        .customers
        .restore(&caller.0, CustomerId(id.into_inner()))
        .await?;
    with_customer(&state, &caller, HttpResponse::Ok(), &c).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_fingerprint_ignores_key_order() {
        let a = fingerprint("r", &json!({"name": "x", "email": "y"}));
        assert_eq!(a, fingerprint("r", &json!({"email": "y", "name": "x"})));
        assert_ne!(a, fingerprint("r", &json!({"email": "y", "name": "z"})));
    }

    #[test]
    fn if_match_reads_strong_and_weak_etags() {
        let mut h = HeaderMap::new();
        assert_eq!(if_match(&h).unwrap(), None);
        h.insert(
            header::IF_MATCH,
            header::HeaderValue::from_static("W/\"4\""),
        );
        assert_eq!(if_match(&h).unwrap(), Some(4));
        h.insert(header::IF_MATCH, header::HeaderValue::from_static("4"));
        assert!(if_match(&h).is_err());
    }
}
