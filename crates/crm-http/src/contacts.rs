//! Contacts of a customer: `GET`/`POST /api/v1/customers/{id}/contacts` and
//! `GET`/`PATCH`/`DELETE /api/v1/customers/{id}/contacts/{contact_id}`. Each handler extracts,
//! calls one `ContactService` method and maps the result; the rules (one primary, unique
//! e-mail within the customer, at most 100) are in `crm_domain::contact`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use crm_domain::contact::{Contact, ContactInput, ContactPatch, ContactSummary};
use crm_domain::customer::merge_patch;
use crm_domain::{ContactId, CustomerId, DomainError, Permission};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Caller;
use crate::customers::if_match;
use crate::json::from_value;
use crate::problem::{ApiError, Problem};
use crate::state::AppState;

/// Registers the contact routes (inside the `/api/v1` scope).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_contacts)
        .service(create_contact)
        .service(get_contact)
        .service(patch_contact)
        .service(delete_contact);
}

/// The editable fields of a contact: the body of `POST`, the fields a `PATCH` merge patch
/// (RFC 7396) may carry, and an element of `contacts` in `POST /customers`. Empty strings
/// count as absent. Unknown fields are refused.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactWrite {
    /// Full name, 1..=255 characters. Required.
    #[schema(example = "Sari Wulandari")]
    pub name: Option<String>,
    /// Job title, up to 255 characters.
    #[schema(example = "Purchasing manager")]
    pub job_title: Option<String>,
    /// Department, up to 255 characters.
    pub department: Option<String>,
    /// E-mail; stored lower-cased; unique among the customer's contacts (409 naming the
    /// holder contact in `existing_id`).
    #[schema(example = "sari@maju.co.id")]
    pub email: Option<String>,
    /// Phone; national numbers are read in the customer's country, else the tenant's; stored
    /// E.164.
    #[schema(example = "0812 3456 7890")]
    pub phone: Option<String>,
    /// Mobile phone; as `phone`.
    pub mobile_phone: Option<String>,
    /// Roles, a set of at most 6 of `decision_maker`, `billing`, `technical`, `purchasing`,
    /// `shipping`, `other`.
    #[schema(example = json!(["purchasing", "decision_maker"]))]
    pub roles: Option<Vec<String>>,
    /// `true` makes it the customer's primary contact (the previous primary is demoted in the
    /// same transaction). A customer's first contact is its primary; `false` on the primary is
    /// a 422 (`must_be_primary`): make another contact primary instead.
    pub is_primary: Option<bool>,
    /// `email`, `phone`, `whatsapp`, `sms` or `in_person`.
    #[schema(example = "whatsapp")]
    pub preferred_channel: Option<String>,
    /// Language tag (`id`, `en-US`), up to 35 characters.
    pub language: Option<String>,
    /// Free text, several lines allowed, up to 10,000 characters.
    pub notes: Option<String>,
    /// Whether the contact may use the customer portal (stored; the portal comes later).
    /// Default false.
    pub portal_access: Option<bool>,
}

impl From<ContactWrite> for ContactInput {
    fn from(w: ContactWrite) -> Self {
        ContactInput {
            name: w.name,
            job_title: w.job_title,
            department: w.department,
            email: w.email,
            phone: w.phone,
            mobile_phone: w.mobile_phone,
            roles: w.roles,
            is_primary: w.is_primary,
            preferred_channel: w.preferred_channel,
            language: w.language,
            notes: w.notes,
            portal_access: w.portal_access,
        }
    }
}

impl From<&Contact> for ContactWrite {
    /// The stored fields as a write body: what a `PATCH` merge patch applies to.
    fn from(c: &Contact) -> Self {
        let d = &c.details;
        ContactWrite {
            name: Some(d.name.clone()),
            job_title: d.job_title.clone(),
            department: d.department.clone(),
            email: d.email.as_ref().map(|e| e.as_str().to_owned()),
            phone: d.phone.as_ref().map(|p| p.as_str().to_owned()),
            mobile_phone: d.mobile_phone.as_ref().map(|p| p.as_str().to_owned()),
            roles: Some(d.roles.iter().map(|r| r.as_str().to_owned()).collect()),
            is_primary: Some(c.is_primary),
            preferred_channel: d.preferred_channel.map(|p| p.as_str().to_owned()),
            language: d.language.clone(),
            notes: d.notes.clone(),
            portal_access: Some(d.portal_access),
        }
    }
}

/// A contact as stored.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ContactResponse {
    /// Id (UUID v7).
    pub id: Uuid,
    /// The customer it belongs to.
    pub customer_id: Uuid,
    /// Full name.
    pub name: String,
    /// Job title.
    pub job_title: Option<String>,
    /// Department.
    pub department: Option<String>,
    /// E-mail, lower-cased.
    pub email: Option<String>,
    /// Phone, E.164.
    pub phone: Option<String>,
    /// Mobile phone, E.164.
    pub mobile_phone: Option<String>,
    /// Roles, sorted.
    pub roles: Vec<String>,
    /// Whether it is the customer's primary contact (exactly one is).
    pub is_primary: bool,
    /// Preferred channel.
    pub preferred_channel: Option<String>,
    /// Language tag.
    pub language: Option<String>,
    /// Notes.
    pub notes: Option<String>,
    /// Whether the contact may use the customer portal.
    pub portal_access: bool,
    /// Version (the `ETag`): 1 on creation, +1 on every change, a promotion or demotion
    /// by another contact's change included.
    pub version: i64,
    /// Creation time (UTC).
    pub created_at: DateTime<Utc>,
    /// Last change (UTC).
    pub updated_at: DateTime<Utc>,
}

impl From<&Contact> for ContactResponse {
    fn from(c: &Contact) -> Self {
        let d = &c.details;
        ContactResponse {
            id: c.id.0,
            customer_id: c.customer_id.0,
            name: d.name.clone(),
            job_title: d.job_title.clone(),
            department: d.department.clone(),
            email: d.email.as_ref().map(|e| e.as_str().to_owned()),
            phone: d.phone.as_ref().map(|p| p.as_str().to_owned()),
            mobile_phone: d.mobile_phone.as_ref().map(|p| p.as_str().to_owned()),
            roles: d.roles.iter().map(|r| r.as_str().to_owned()).collect(),
            is_primary: c.is_primary,
            preferred_channel: d.preferred_channel.map(|p| p.as_str().to_owned()),
            language: d.language.clone(),
            notes: d.notes.clone(),
            portal_access: d.portal_access,
            version: c.version,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// A customer's contacts, oldest first (at most 100).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ContactList {
    /// The contacts.
    pub data: Vec<ContactResponse>,
}

/// What a customer's response shows of its primary contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PrimaryContact {
    /// The contact's id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// E-mail.
    pub email: Option<String>,
    /// Phone (E.164), or the mobile phone when it has no phone.
    pub phone: Option<String>,
}

impl From<&ContactSummary> for PrimaryContact {
    fn from(s: &ContactSummary) -> Self {
        PrimaryContact {
            id: s.id.0,
            name: s.name.clone(),
            email: s.email.clone(),
            phone: s.phone.clone(),
        }
    }
}

/// A `PATCH` body applied to a stored contact as a JSON merge patch.
struct MergePatch(serde_json::Value);

impl ContactPatch for MergePatch {
    fn apply(&self, current: &Contact) -> Result<ContactInput, DomainError> {
        let mut doc = serde_json::to_value(ContactWrite::from(current))
            .map_err(|e| DomainError::Internal(e.to_string()))?;
        merge_patch(&mut doc, &self.0);
        match from_value::<ContactWrite>(doc) {
            Ok(w) => Ok(w.into()),
            Err(ApiError::Domain(e)) => Err(e),
            Err(other) => Err(DomainError::invalid("body", "invalid", other.to_string())),
        }
    }
}

fn ids(path: (Uuid, Uuid)) -> (CustomerId, ContactId) {
    (CustomerId(path.0), ContactId(path.1))
}

fn with_contact(mut res: actix_web::HttpResponseBuilder, c: &Contact) -> HttpResponse {
    res.insert_header((header::ETAG, format!("\"{}\"", c.version)))
        .json(ContactResponse::from(c))
}

fn require_edit(caller: &Caller) -> Result<(), ApiError> {
    caller
        .0
        .require(Permission::CustomersEdit)
        .map_err(|e| ApiError::Domain(e.into()))
}

/// List a customer's contacts, oldest first.
#[utoipa::path(
    tag = "contacts",
    params(("id" = Uuid, Path, description = "Customer id")),
    responses(
        (status = 200, description = "The contacts", body = ContactList),
        (status = 403, description = "Missing customers.view", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer in the caller's tenant (or deleted, or outside the caller's visibility)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/customers/{id}/contacts")]
pub async fn list_contacts(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let contacts = state
        .services
        .contacts
        .list(&caller.0, CustomerId(id.into_inner()))
        .await?;
    Ok(HttpResponse::Ok().json(ContactList {
        data: contacts.iter().map(ContactResponse::from).collect(),
    }))
}

/// Add a contact to a customer.
///
/// The customer's first contact becomes its primary; `is_primary: true` makes the new contact
/// the primary instead of the current one (swapped in one transaction).
#[utoipa::path(
    tag = "contacts",
    params(("id" = Uuid, Path, description = "Customer id")),
    request_body = ContactWrite,
    responses(
        (status = 201, description = "Created; `Location` names it, `ETag` is its version", body = ContactResponse),
        (status = 403, description = "Missing customers.edit", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Another contact of the customer has this e-mail (`existing_id` names it), or the customer was erased", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, or the customer already has 100 contacts (`contacts`, `too_many`, with `limit`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/customers/{id}/contacts")]
pub async fn create_contact(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    require_edit(&caller)?;
    let customer = CustomerId(id.into_inner());
    let body: ContactWrite = crate::json::read_json(&req, payload).await?;
    let c = state
        .services
        .contacts
        .create(&caller.0, customer, body.into())
        .await?;
    let mut res = HttpResponse::Created();
    res.insert_header((
        header::LOCATION,
        format!("/api/v1/customers/{customer}/contacts/{}", c.id),
    ));
    Ok(with_contact(res, &c))
}

/// Get a contact.
#[utoipa::path(
    tag = "contacts",
    params(
        ("id" = Uuid, Path, description = "Customer id"),
        ("contact_id" = Uuid, Path, description = "Contact id"),
    ),
    responses(
        (status = 200, description = "The contact; `ETag` is its version", body = ContactResponse),
        (status = 403, description = "Missing customers.view", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer, or no such contact of it", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/customers/{id}/contacts/{contact_id}")]
pub async fn get_contact(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (customer, contact) = ids(path.into_inner());
    let c = state
        .services
        .contacts
        .get(&caller.0, customer, contact)
        .await?;
    Ok(with_contact(HttpResponse::Ok(), &c))
}

/// Update some fields of a contact (JSON merge patch, RFC 7396).
///
/// Members present replace the stored value, `null` clears it, absent members stay.
/// `is_primary: true` swaps the primary; `false` on the primary is a 422. With `If-Match`, the
/// update happens only on that version (else 412).
#[utoipa::path(
    tag = "contacts",
    params(
        ("id" = Uuid, Path, description = "Customer id"),
        ("contact_id" = Uuid, Path, description = "Contact id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the version the change is based on"),
    ),
    request_body(content = ContactWrite, description = "A merge patch of the editable fields", content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The updated contact", body = ContactResponse),
        (status = 400, description = "Malformed JSON or If-Match", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing customers.edit", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer or contact", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Another contact of the customer has this e-mail", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, or `is_primary: false` on the primary (`must_be_primary`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[patch("/customers/{id}/contacts/{contact_id}")]
pub async fn patch_contact(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(Uuid, Uuid)>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    require_edit(&caller)?;
    let (customer, contact) = ids(path.into_inner());
    let expected = if_match(req.headers())?;
    let body: serde_json::Value = crate::json::read_json(&req, payload).await?;
    if !body.is_object() {
        return Err(ApiError::Domain(DomainError::invalid(
            "body",
            "invalid_type",
            "a merge patch of a contact is a JSON object",
        )));
    }
    let c = state
        .services
        .contacts
        .patch(&caller.0, customer, contact, &MergePatch(body), expected)
        .await?;
    Ok(with_contact(HttpResponse::Ok(), &c))
}

/// Delete a contact. When it was the primary, the oldest remaining contact becomes primary.
#[utoipa::path(
    tag = "contacts",
    params(
        ("id" = Uuid, Path, description = "Customer id"),
        ("contact_id" = Uuid, Path, description = "Contact id"),
        ("If-Match" = Option<String>, Header, description = "ETag of the version to delete"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Missing customers.edit", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer or contact", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[delete("/customers/{id}/contacts/{contact_id}")]
pub async fn delete_contact(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (customer, contact) = ids(path.into_inner());
    let expected = if_match(req.headers())?;
    state
        .services
        .contacts
        .delete(&caller.0, customer, contact, expected)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
