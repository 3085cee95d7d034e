//! Addresses of a customer: `GET` and `POST /api/v1/customers/{id}/addresses`, and `GET`,
//! `PATCH` and `DELETE /api/v1/customers/{id}/addresses/{address_id}`. Each handler extracts,
//! calls one [`AddressService`](crm_domain::address::AddressService) use case and renders its
//! answer; the rules (defaults per type, the 50-address limit, visibility) live in the domain.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use crm_domain::address::{self as domain, Address, AddressId, AddressInput, AddressPatch};
use crm_domain::customer::merge_patch;
use crm_domain::{CustomerId, DomainError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Caller;
use crate::customers::if_match;
use crate::json::{JsonBody, from_value};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;

/// Registers the address routes (inside the `/api/v1` scope).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_addresses)
        .service(create_address)
        .service(get_address)
        .service(patch_address)
        .service(delete_address);
}

api_enum!(
    /// What an address is for: `billing`, `shipping`, `office`, `warehouse`, `home` or `other`.
    AddressType => domain::AddressType { Billing, Shipping, Office, Warehouse, Home, Other }
);

/// The editable fields of an address: the body of `POST`, and what a `PATCH` merge patch
/// (RFC 7396) may carry. Unknown fields are refused. Text is trimmed; empty text is absent.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressWrite {
    /// What it is for. Required.
    #[serde(rename = "type")]
    pub address_type: Option<AddressType>,
    /// A name for people, at most 100 characters.
    #[schema(example = "Gudang Cikarang")]
    pub label: Option<String>,
    /// Who receives deliveries, at most 255 characters.
    pub recipient_name: Option<String>,
    /// Phone there; a national number is read in `country`; stored E.164.
    #[schema(example = "021 555 0123")]
    pub phone: Option<String>,
    /// Street and number, at most 255 characters. Required.
    #[schema(example = "Jl. Jend. Sudirman Kav. 52-53")]
    pub line1: Option<String>,
    /// More street address, at most 255 characters.
    pub line2: Option<String>,
    /// District (kecamatan, borough), at most 100 characters.
    pub district: Option<String>,
    /// City, at most 100 characters. Required.
    #[schema(example = "Jakarta Selatan")]
    pub city: Option<String>,
    /// Region (province, state), at most 100 characters.
    #[schema(example = "DKI Jakarta")]
    pub region: Option<String>,
    /// Postal code, at most 20 characters.
    #[schema(example = "12190")]
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2 country; default the tenant's.
    #[schema(example = "ID")]
    pub country: Option<String>,
    /// WGS 84 latitude, degrees, -90..=90; with `longitude` (both or neither).
    #[schema(example = -6.2088)]
    pub latitude: Option<f64>,
    /// WGS 84 longitude, degrees, -180..=180; with `latitude`.
    #[schema(example = 106.8456)]
    pub longitude: Option<f64>,
    /// Notes for whoever delivers, at most 1000 characters; line breaks allowed.
    pub delivery_notes: Option<String>,
    /// `true` makes it the default of its type (the previous default is unset); `false` on
    /// the default is refused (make another the default). Absent: a new address is the
    /// default when it is the first of its type; a patched one keeps its state.
    pub is_default: Option<bool>,
}

impl From<AddressWrite> for AddressInput {
    fn from(w: AddressWrite) -> Self {
        AddressInput {
            address_type: w
                .address_type
                .map(|t| domain::AddressType::from(t).as_str().to_owned()),
            label: w.label,
            recipient_name: w.recipient_name,
            phone: w.phone,
            line1: w.line1,
            line2: w.line2,
            district: w.district,
            city: w.city,
            region: w.region,
            postal_code: w.postal_code,
            country: w.country,
            latitude: w.latitude,
            longitude: w.longitude,
            delivery_notes: w.delivery_notes,
            is_default: w.is_default,
        }
    }
}

impl From<&Address> for AddressWrite {
    /// The stored fields as a write body, without `is_default`: what a merge patch applies to.
    fn from(a: &Address) -> Self {
        let f = &a.fields;
        AddressWrite {
            address_type: Some(f.address_type.into()),
            label: f.label.clone(),
            recipient_name: f.recipient_name.clone(),
            phone: f.phone.as_ref().map(|p| p.as_str().to_owned()),
            line1: Some(f.line1.clone()),
            line2: f.line2.clone(),
            district: f.district.clone(),
            city: Some(f.city.clone()),
            region: f.region.clone(),
            postal_code: f.postal_code.clone(),
            country: Some(f.country.as_str().to_owned()),
            latitude: f.position.map(|p| p.latitude),
            longitude: f.position.map(|p| p.longitude),
            delivery_notes: f.delivery_notes.clone(),
            is_default: None,
        }
    }
}

/// An address as the API returns it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AddressResponse {
    /// Id (UUID v7).
    pub id: Uuid,
    /// The customer it belongs to.
    pub customer_id: Uuid,
    /// What it is for.
    #[serde(rename = "type")]
    pub address_type: AddressType,
    /// Label.
    pub label: Option<String>,
    /// Recipient.
    pub recipient_name: Option<String>,
    /// Phone, E.164.
    pub phone: Option<String>,
    /// Street and number.
    pub line1: String,
    /// More street address.
    pub line2: Option<String>,
    /// District.
    pub district: Option<String>,
    /// City.
    pub city: String,
    /// Region.
    pub region: Option<String>,
    /// Postal code.
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2 country.
    pub country: String,
    /// WGS 84 latitude, degrees.
    pub latitude: Option<f64>,
    /// WGS 84 longitude, degrees.
    pub longitude: Option<f64>,
    /// Delivery notes.
    pub delivery_notes: Option<String>,
    /// The customer's default address of this type.
    pub is_default: bool,
    /// Version (the `ETag` of `GET`).
    pub version: i64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<&Address> for AddressResponse {
    fn from(a: &Address) -> Self {
        let f = &a.fields;
        AddressResponse {
            id: a.id.0,
            customer_id: a.customer_id.0,
            address_type: f.address_type.into(),
            label: f.label.clone(),
            recipient_name: f.recipient_name.clone(),
            phone: f.phone.as_ref().map(|p| p.as_str().to_owned()),
            line1: f.line1.clone(),
            line2: f.line2.clone(),
            district: f.district.clone(),
            city: f.city.clone(),
            region: f.region.clone(),
            postal_code: f.postal_code.clone(),
            country: f.country.as_str().to_owned(),
            latitude: f.position.map(|p| p.latitude),
            longitude: f.position.map(|p| p.longitude),
            delivery_notes: f.delivery_notes.clone(),
            is_default: a.is_default,
            version: a.version,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

/// A customer's addresses.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AddressList {
    /// Every address, oldest first (at most 50).
    pub data: Vec<AddressResponse>,
}

fn with_address(mut res: actix_web::HttpResponseBuilder, a: &Address) -> HttpResponse {
    res.insert_header((header::ETAG, format!("\"{}\"", a.version)))
        .json(AddressResponse::from(a))
}

/// A JSON merge patch of an address's write body.
struct MergeAddress(serde_json::Value);

impl AddressPatch for MergeAddress {
    fn apply(&self, current: &Address) -> Result<AddressInput, DomainError> {
        let mut base = serde_json::to_value(AddressWrite::from(current))
            .map_err(|e| DomainError::Internal(e.to_string()))?;
        merge_patch(&mut base, &self.0);
        match from_value::<AddressWrite>(base) {
            Ok(write) => Ok(write.into()),
            Err(ApiError::Domain(e)) => Err(e),
            Err(other) => Err(DomainError::Internal(other.to_string())),
        }
    }
}

/// List a customer's addresses.
#[utoipa::path(
    tag = "addresses",
    params(("id" = Uuid, Path, description = "Customer id")),
    responses(
        (status = 200, description = "Every address of the customer, oldest first", body = AddressList),
        (status = 401, description = "No valid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing customers.view", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer in the caller's tenant (or deleted, or outside the caller's scope)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/customers/{id}/addresses")]
pub async fn list_addresses(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let list = state
        .services
        .addresses
        .list(&caller.0, CustomerId(id.into_inner()))
        .await?;
    Ok(HttpResponse::Ok().json(AddressList {
        data: list.iter().map(AddressResponse::from).collect(),
    }))
}

/// Add an address to a customer.
///
/// The first address of a type becomes its default; `is_default: true` makes this one the
/// default and unsets the previous one in the same transaction. A customer holds at most 50
/// addresses.
#[utoipa::path(
    tag = "addresses",
    params(("id" = Uuid, Path, description = "Customer id")),
    request_body = AddressWrite,
    responses(
        (status = 201, description = "Created; `Location` names it, `ETag` is its version", body = AddressResponse),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing customers.edit", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The customer was erased", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, each named; `addresses` `too_many` (with `limit` 50) when the customer already holds 50", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/customers/{id}/addresses")]
pub async fn create_address(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: JsonBody<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let customer = CustomerId(id.into_inner());
    let write: AddressWrite = from_value(body.0)?;
    let a = state
        .services
        .addresses
        .create(&caller.0, customer, write.into())
        .await?;
    let mut res = HttpResponse::Created();
    res.insert_header((
        header::LOCATION,
        format!("/api/v1/customers/{customer}/addresses/{}", a.id),
    ));
    Ok(with_address(res, &a))
}

/// Get one address of a customer.
#[utoipa::path(
    tag = "addresses",
    params(
        ("id" = Uuid, Path, description = "Customer id"),
        ("address_id" = Uuid, Path, description = "Address id"),
    ),
    responses(
        (status = 200, description = "The address; `ETag` is its version", body = AddressResponse),
        (status = 403, description = "Missing customers.view", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer or address", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/customers/{id}/addresses/{address_id}")]
pub async fn get_address(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (customer, address) = path.into_inner();
    let a = state
        .services
        .addresses
        .get(&caller.0, CustomerId(customer), AddressId(address))
        .await?;
    Ok(with_address(HttpResponse::Ok(), &a))
}

/// Change some fields of an address (JSON merge patch, RFC 7396).
///
/// Members present replace the stored value, `null` clears it, absent members stay. With
/// `If-Match`, only on that version (else 412); without it, the last writer wins.
#[utoipa::path(
    tag = "addresses",
    params(
        ("id" = Uuid, Path, description = "Customer id"),
        ("address_id" = Uuid, Path, description = "Address id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the version the change is based on"),
    ),
    request_body(content = AddressWrite, description = "A merge patch of the editable fields", content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The changed address", body = AddressResponse),
        (status = 400, description = "Malformed JSON or If-Match", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing customers.edit", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer or address", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields; `is_default` `default_required` when unsetting the only default of a type", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[patch("/customers/{id}/addresses/{address_id}")]
pub async fn patch_address(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(Uuid, Uuid)>,
    body: JsonBody<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let (customer, address) = path.into_inner();
    let expected = if_match(req.headers())?;
    if !body.0.is_object() {
        return Err(DomainError::invalid(
            "body",
            "not_an_object",
            "a merge patch must be a JSON object",
        )
        .into());
    }
    let a = state
        .services
        .addresses
        .patch(
            &caller.0,
            CustomerId(customer),
            AddressId(address),
            &MergeAddress(body.0),
            expected,
        )
        .await?;
    Ok(with_address(HttpResponse::Ok(), &a))
}

/// Delete an address.
///
/// Deleting the default of a type promotes the oldest remaining address of that type, or
/// leaves the type without a default when it was the last.
#[utoipa::path(
    tag = "addresses",
    params(
        ("id" = Uuid, Path, description = "Customer id"),
        ("address_id" = Uuid, Path, description = "Address id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the version to delete"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Missing customers.edit", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer or address", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[delete("/customers/{id}/addresses/{address_id}")]
pub async fn delete_address(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (customer, address) = path.into_inner();
    let expected = if_match(req.headers())?;
    state
        .services
        .addresses
        .delete(
            &caller.0,
            CustomerId(customer),
            AddressId(address),
            expected,
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
