//! `/api/v1/customers`: create, read, update, replace, delete, restore and list.

mod bulk;
pub mod dto;
pub(crate) mod list;

use actix_web::http::header::{self, HeaderMap};
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, put, web};
use crm_domain::customer::{
    Customer, CustomerInput, CustomerJson, IdempotencyKey, MergePatch, NestedInput, NestedReplace,
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
    if customers.is_empty() {
        return Ok(());
    }
    let ids: Vec<CustomerId> = customers.iter().map(|c| CustomerId(c.id)).collect();
    match state.services.addresses.defaults_of(&caller.0, &ids).await {
        Ok(defaults) => {
            for c in customers.iter_mut() {
                let id = c.id;
                set_defaults(c, defaults.iter().filter(|a| a.customer_id.0 == id));
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

/// Sets `default_billing_address` and `default_shipping_address` of `c` from its default
/// addresses.
fn set_defaults<'a>(
    c: &mut CustomerResponse,
    defaults: impl Iterator<Item = &'a crm_domain::address::Address>,
) {
    use crm_domain::address::AddressType;
    for a in defaults {
        let response = Some(crate::addresses::AddressResponse::from(a));
        match a.fields.address_type {
            AddressType::Billing => c.default_billing_address = response,
            AddressType::Shipping => c.default_shipping_address = response,
            _ => {}
        }
    }
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

/// The refusal of `addresses` or `contacts` (`member`) in a `PATCH` of a customer.
fn members_not_here(member: &str) -> DomainError {
    DomainError::invalid(
        member,
        "not_allowed",
        format!(
            "{member} are written with the customer only by POST and PUT; change them at /customers/{{id}}/{member}"
        ),
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

/// The body of `POST /customers`: the customer's fields and, optionally, its addresses and
/// contacts.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
pub struct CustomerCreate {
    /// The customer's editable fields.
    #[serde(flatten)]
    pub customer: CustomerWrite,
    /// Addresses created with the customer, in the same transaction (at most 50); per type,
    /// the one marked `is_default` (else the first) is the default. One invalid element
    /// rejects the whole request (`errors[].field` such as `addresses[1].postal_code`).
    pub addresses: Option<Vec<crate::addresses::AddressWrite>>,
    /// Contacts created with the customer, in the same transaction (at most 100).
    pub contacts: Option<Vec<crate::contacts::ContactWrite>>,
}

/// The body of `PUT /customers/{id}`: every editable field of the customer and, optionally,
/// the full new sets of its addresses and contacts.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
pub struct CustomerReplace {
    /// The customer's editable fields.
    #[serde(flatten)]
    pub customer: CustomerWrite,
    /// Absent or `null`: the addresses stay as they are. An array (possibly empty): the full
    /// new set, written in the customer's transaction: an element with `id` updates that
    /// address of this customer, one without creates one, stored addresses not listed are
    /// deleted. At most 50; per type, the default is the element marked `is_default`, else the
    /// previous default when listed, else the first of the type.
    pub addresses: Option<Vec<AddressReplace>>,
    /// Absent or `null`: the contacts stay as they are. An array (possibly empty): the full
    /// new set, as for `addresses`. At most 100, e-mails unique among them; the primary is the
    /// element marked `is_primary`, else the previous primary when listed, else the first.
    pub contacts: Option<Vec<ContactReplace>>,
}

/// An element of `addresses` in `PUT /customers/{id}`: an address's fields and, to update
/// one of the customer's addresses rather than create one, its `id`.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
pub struct AddressReplace {
    /// One of this customer's addresses (else 422 naming `addresses[i].id`); absent creates a
    /// new address.
    pub id: Option<Uuid>,
    /// The address's fields.
    #[serde(flatten)]
    pub address: crate::addresses::AddressWrite,
}

/// An element of `contacts` in `PUT /customers/{id}`: a contact's fields and, to update one
/// of the customer's contacts rather than create one, its `id`.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
pub struct ContactReplace {
    /// One of this customer's contacts (else 422 naming `contacts[i].id`); absent creates a
    /// new contact.
    pub id: Option<Uuid>,
    /// The contact's fields.
    #[serde(flatten)]
    pub contact: crate::contacts::ContactWrite,
}

/// The `contacts` member of a create body, read on its own so errors name
/// `contacts[i].field`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NestedContacts {
    contacts: Vec<crate::contacts::ContactWrite>,
}

/// The `addresses` member of a create body, read on its own so errors name
/// `addresses[i].field`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NestedAddresses {
    addresses: Vec<crate::addresses::AddressWrite>,
}

/// The elements of a nested member, each with the `id` it carried.
type Elements<T> = Vec<(Option<Uuid>, T)>;

/// Takes `member` out of `body`: `None` when absent or `null`, else its elements read by
/// `read` (which sees `{member: [...]}`, so errors name `member[i].field`), each with the
/// `id` it carried when `with_ids` (an `id` without `with_ids` is an unknown field).
fn take_member<T>(
    body: &mut serde_json::Value,
    member: &str,
    with_ids: bool,
    read: impl FnOnce(serde_json::Value) -> Result<Vec<T>, ApiError>,
) -> Result<Option<Elements<T>>, ApiError> {
    let list = match body.as_object_mut().and_then(|o| o.remove(member)) {
        None | Some(serde_json::Value::Null) => return Ok(None),
        Some(list) => list,
    };
    let mut ids = Vec::new();
    let list = match (list, with_ids) {
        (serde_json::Value::Array(mut items), true) => {
            for (i, item) in items.iter_mut().enumerate() {
                let id = match item.as_object_mut().and_then(|o| o.remove("id")) {
                    None | Some(serde_json::Value::Null) => None,
                    Some(serde_json::Value::String(s)) => {
                        Some(Uuid::parse_str(&s).map_err(|_| {
                            ApiError::from(DomainError::invalid(
                                format!("{member}[{i}].id"),
                                "invalid",
                                "must be a UUID",
                            ))
                        })?)
                    }
                    Some(_) => {
                        return Err(DomainError::invalid(
                            format!("{member}[{i}].id"),
                            "invalid",
                            "must be a UUID",
                        )
                        .into());
                    }
                };
                ids.push(id);
            }
            serde_json::Value::Array(items)
        }
        (list, _) => list,
    };
    let elements = read(serde_json::json!({ member: list }))?;
    ids.resize(elements.len(), None);
    Ok(Some(ids.into_iter().zip(elements).collect()))
}

/// The elements of a member [`take_member`] read without ids (a create's).
fn without_ids<T>(list: Option<Elements<T>>) -> Vec<T> {
    list.unwrap_or_default()
        .into_iter()
        .map(|(_, e)| e)
        .collect()
}

fn read_addresses(
    v: serde_json::Value,
) -> Result<Vec<crm_domain::address::AddressInput>, ApiError> {
    Ok(from_value::<NestedAddresses>(v)?
        .addresses
        .into_iter()
        .map(Into::into)
        .collect())
}

fn read_contacts(v: serde_json::Value) -> Result<Vec<crm_domain::contact::ContactInput>, ApiError> {
    Ok(from_value::<NestedContacts>(v)?
        .contacts
        .into_iter()
        .map(Into::into)
        .collect())
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
            Ok(write) => Ok(write.into()),
            Err(ApiError::Domain(e)) => Err(e),
            Err(other) => Err(DomainError::Internal(other.to_string())),
        }
    }
}

/// Create a customer, optionally with its addresses and contacts.
///
/// `addresses` (at most 50) and `contacts` (at most 100) are stored in the same transaction:
/// per address type the one marked `is_default` (else the first) becomes the default, the
/// first contact (or the one marked `is_primary`) becomes the primary contact; one invalid
/// element refuses the whole request (422, `errors[].field` such as
/// `addresses[1].postal_code` or `contacts[1].email`) and nothing is stored.
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
    let contacts = take_member(&mut body, "contacts", false, read_contacts)?;
    let addresses = take_member(&mut body, "addresses", false, read_addresses)?;
    let write: CustomerWrite = from_value(body)?;
    let (addresses, contacts) = (without_ids(addresses), without_ids(contacts));
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
    let (c, parts) = state
        .services
        .customers
        .get_with_parts(&caller.0, CustomerId(id.into_inner()))
        .await?;
    let mut body = CustomerResponse::from(&c);
    set_defaults(&mut body, parts.default_addresses.iter());
    body.primary_contact = Some(
        parts
            .primary_contact
            .as_ref()
            .map(|p| (&crm_domain::contact::ContactSummary::from(p)).into()),
    );
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag(c.version)))
        .json(body))
}

/// Update some fields of a customer (JSON merge patch, RFC 7396).
///
/// Members present replace the stored value, `null` clears it (or restores the default),
/// absent members stay. `Content-Type` may be `application/merge-patch+json` or
/// `application/json`. With `If-Match`, the update happens only on that version (else 412).
///
/// `addresses` and `contacts` are refused (422 `not_allowed`): replace them with `PUT`, or
/// change them one by one at `/customers/{id}/addresses` and `/customers/{id}/contacts`.
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
        (status = 422, description = "Invalid fields, or `addresses` / `contacts` (`not_allowed`)", body = Problem, content_type = "application/problem+json"),
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
    for member in ["addresses", "contacts"] {
        if body.0.get(member).is_some() {
            return Err(members_not_here(member).into());
        }
    }
    let patch = MergePatch::new(body.0, WriteJson)?;
    let c = state
        .services
        .customers
        .patch(&caller.0, CustomerId(id.into_inner()), &patch, expected)
        .await?;
    with_customer(&state, &caller, HttpResponse::Ok(), &c).await
}

/// Replace every editable field of a customer, and optionally its addresses and contacts.
///
/// Fields left out take their defaults or become empty. `addresses` and `contacts` left out
/// (or `null`) stay as they are; given as arrays they are the full new sets: an element with
/// `id` updates that address (contact) of this customer, one without creates one, stored ones
/// not listed are deleted. Everything is written in one transaction with the customer's
/// events and those of each address and contact created, updated or deleted; one invalid
/// element (422 naming it, such as `addresses[1].postal_code` or `contacts[0].id`) writes
/// nothing. With `If-Match`, only on that version.
#[utoipa::path(
    tag = "customers",
    params(
        ("id" = Uuid, Path, description = "Customer id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the version the change is based on"),
    ),
    request_body = CustomerReplace,
    responses(
        (status = 200, description = "The replaced customer", body = CustomerResponse),
        (status = 400, description = "Malformed JSON or If-Match", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing customers.edit", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A unique field is taken", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields or elements (`addresses[i].…`, `contacts[i].…`; an `id` that is not one of the customer's, or listed twice), or too many elements", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[put("/customers/{id}")]
pub async fn replace_customer(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
    body: JsonBody<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    use crm_domain::ContactId;
    use crm_domain::address::AddressId;
    let expected = if_match(req.headers())?;
    let mut body = body.0;
    let contacts = take_member(&mut body, "contacts", true, read_contacts)?;
    let addresses = take_member(&mut body, "addresses", true, read_addresses)?;
    let write: CustomerWrite = from_value(body)?;
    let nested = NestedReplace {
        addresses: addresses.map(|l| {
            l.into_iter()
                .map(|(id, a)| (id.map(AddressId), a))
                .collect()
        }),
        contacts: contacts.map(|l| {
            l.into_iter()
                .map(|(id, c)| (id.map(ContactId), c))
                .collect()
        }),
    };
    let c = state
        .services
        .customers
        .replace_nested(
            &caller.0,
            CustomerId(id.into_inner()),
            write.into(),
            nested,
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
