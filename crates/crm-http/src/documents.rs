//! Documents of a customer: `POST`/`GET /api/v1/customers/{id}/documents`,
//! `GET`/`DELETE /api/v1/documents/{id}`, `GET /api/v1/documents/{id}/content` (download) and
//! `GET /api/v1/documents` (the tenant's expiring documents). Each handler extracts, calls one
//! `DocumentService` method and maps the result (the upload also asks
//! `DocumentService::authorize_upload` before it reads the body, as `POST /imports` does); the
//! rules (allow-list, keys, limits, orphans) are in `crm_domain::document`.

use actix_multipart::Multipart;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use crm_domain::CustomerId;
use crm_domain::DomainError;
use crm_domain::document::{Document, DocumentId, DocumentMeta, ReceivedFile};
use crm_domain::page::Page;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::Caller;
use crate::cursor::CursorKind;
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use crate::uploads::Received;

/// Largest `meta` part, bytes.
const MAX_META_BYTES: usize = 16 << 10;

/// Registers the document routes (inside the `/api/v1` scope).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(upload_document)
        .service(list_documents)
        .service(expiring_documents)
        .service(get_document)
        .service(download_document)
        .service(delete_document);
}

/// A document's metadata.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DocumentResponse {
    /// Id (UUID v7).
    pub id: Uuid,
    /// The customer it is attached to.
    pub customer_id: Uuid,
    /// Title (default: the file name).
    pub title: String,
    /// `contract`, `invoice`, `quotation`, `id_card`, `tax_certificate`, `business_license`
    /// or `other`.
    pub category: String,
    /// The uploaded file name, sanitised (no path, control characters or quotes).
    pub file_name: String,
    /// The content type sniffed from the bytes: `application/pdf`, `image/png`,
    /// `image/jpeg`, `image/webp`, the DOCX or XLSX type, `text/csv` or `text/plain`.
    pub content_type: String,
    /// Size, bytes.
    pub size_bytes: u64,
    /// SHA-256 of the bytes, lower-case hex (also the `ETag`).
    pub sha256: String,
    /// When it expires, if it does (UTC).
    pub expires_at: Option<DateTime<Utc>>,
    /// Who attached it (`sub`).
    pub created_by: Option<String>,
    /// When it was attached (UTC).
    pub created_at: DateTime<Utc>,
}

impl From<&Document> for DocumentResponse {
    fn from(d: &Document) -> Self {
        Self {
            id: d.id.0,
            customer_id: d.customer_id.0,
            title: d.title.clone(),
            category: d.category.as_str().to_owned(),
            file_name: d.file_name.clone(),
            content_type: d.content_type.as_str().to_owned(),
            size_bytes: d.size_bytes,
            sha256: d.sha256.clone(),
            expires_at: d.expires_at,
            created_by: d.created_by.as_ref().map(|u| u.as_str().to_owned()),
            created_at: d.created_at,
        }
    }
}

/// One page of documents.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DocumentPage {
    /// The documents.
    pub data: Vec<DocumentResponse>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// The form of `POST /customers/{id}/documents` (for the documentation).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct DocumentForm {
    /// The file: PDF, PNG, JPEG, WebP, DOCX, XLSX, CSV or plain text (UTF-8), recognised from
    /// its bytes; at most `CRM_MAX_DOCUMENT_BYTES` (default 25 MiB).
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// JSON metadata (optional part): `title` (1..=255 characters; default the file name),
    /// `category` (`contract`, `invoice`, `quotation`, `id_card`, `tax_certificate`,
    /// `business_license`, `other`; default `other`), `expires_at` (RFC 3339).
    #[schema(value_type = Object)]
    meta: serde_json::Value,
}

fn etag(d: &Document) -> String {
    format!("\"{}\"", d.sha256)
}

fn with_document(mut res: actix_web::HttpResponseBuilder, d: &Document) -> HttpResponse {
    res.insert_header((header::ETAG, etag(d)))
        .json(DocumentResponse::from(d))
}

fn page_response(
    state: &AppState,
    kind: CursorKind,
    page: Page<Document, (DateTime<Utc>, DocumentId)>,
) -> HttpResponse {
    HttpResponse::Ok().json(DocumentPage {
        data: page.items.iter().map(DocumentResponse::from).collect(),
        next_cursor: page
            .next
            .map(|(at, id)| state.cursors.encode_position(kind, at, id.0)),
    })
}

/// Attach a document to a customer (needs `customers.edit`; permission and the customer are
/// checked before the body is read). `multipart/form-data` with a `file` part and an optional
/// JSON `meta` part. The file is streamed to a temporary file while its size is counted and
/// its SHA-256 computed; its content type is sniffed from its bytes (the client's header is
/// ignored). The bytes are stored under `tenants/<tenant>/customers/<customer>/<document id>`
/// (never the file name), then the row with its `document.attached` event; an upload that
/// fails leaves no row, no object and no temporary file.
#[utoipa::path(
    tag = "documents",
    params(("id" = Uuid, Path, description = "Customer id")),
    request_body(content = DocumentForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Attached; `Location` names it, `ETag` is its SHA-256", body = DocumentResponse),
        (status = 400, description = "Not multipart, no `file` part, an unknown part", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Without `customers.edit` (the body is not read)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer (or deleted, or another tenant's)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The customer was erased", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The file exceeds `CRM_MAX_DOCUMENT_BYTES`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`/problems/unsupported-document-type`: the content is not an allowed type; `detected_type` names what it is", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid `meta` (naming `meta.title`, `meta.category`, ...) or an empty file", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/customers/{id}/documents")]
pub async fn upload_document(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    mut form: Multipart,
) -> Result<HttpResponse, ApiError> {
    let customer = CustomerId(id.into_inner());
    let documents = &state.services.documents;
    // Before a byte of the body is read or stored.
    documents.authorize_upload(&caller.0, customer).await?;
    let limit = usize::try_from(documents.max_bytes()).unwrap_or(usize::MAX);
    // The temporary file is deleted when this handler returns (or is dropped: client gone).
    let mut file: Option<Received> = None;
    let mut meta: Option<Vec<u8>> = None;
    while let Some(field) = form.next().await {
        let mut field = field.map_err(|e| ApiError::bad("file", format!("malformed form: {e}")))?;
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "file" if file.is_none() => {
                let received =
                    crate::uploads::receive_file(&mut field, &state.uploads, limit, "file").await?;
                file = Some(received);
            }
            "meta" if meta.is_none() => {
                let mut bytes = Vec::new();
                while let Some(chunk) = field.next().await {
                    let chunk =
                        chunk.map_err(|e| ApiError::bad("meta", format!("upload failed: {e}")))?;
                    if bytes.len() + chunk.len() > MAX_META_BYTES {
                        return Err(ApiError::PayloadTooLarge {
                            limit: MAX_META_BYTES,
                        });
                    }
                    bytes.extend_from_slice(&chunk);
                }
                meta = Some(bytes);
            }
            "file" | "meta" => {
                return Err(ApiError::bad(
                    name.clone(),
                    format!("the form has more than one `{name}` part"),
                ));
            }
            other => {
                return Err(ApiError::bad(
                    other,
                    format!("unknown form field `{other}`; expected `file` and `meta`"),
                ));
            }
        }
    }
    let received = file.ok_or_else(|| ApiError::bad("file", "the form has no `file` part"))?;
    let meta = match meta {
        None => DocumentMeta::default(),
        Some(bytes) => serde_json::from_slice::<DocumentMeta>(&bytes).map_err(|e| {
            DomainError::invalid("meta", "invalid", format!("`meta` is not valid: {e}"))
        })?,
    };
    let file = ReceivedFile {
        path: received.upload.path().to_owned(),
        file_name: received.file_name.clone(),
        size: received.size,
        sha256: received.sha256.clone(),
        head: received.head.clone(),
        utf8_text: received.utf8_text,
    };
    let document = documents.attach(&caller.0, customer, meta, &file).await?;
    drop(received);
    let mut res = HttpResponse::Created();
    res.insert_header((
        header::LOCATION,
        format!("/api/v1/documents/{}", document.id),
    ));
    Ok(with_document(res, &document))
}

/// Query parameters of a customer's documents.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ListDocumentsParams {
    /// Rows per page, 1..=200 (default 20).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// A customer's documents, newest first, in cursor pages (needs `customers.view`).
#[utoipa::path(
    tag = "documents",
    params(("id" = Uuid, Path, description = "Customer id"), ListDocumentsParams),
    responses(
        (status = 200, description = "A page of documents", body = DocumentPage),
        (status = 400, description = "A malformed parameter or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer (or deleted, or another tenant's)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/customers/{id}/documents")]
pub async fn list_documents(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let mut limit = crm_domain::customer::DEFAULT_PAGE_SIZE;
    let mut after = None;
    crate::query::each_param(req.query_string(), &["limit", "cursor"], |name, value| {
        match name {
            "limit" => limit = crate::query::limit(value)?,
            _ => {
                let (at, id) = state
                    .cursors
                    .decode_position(CursorKind::Documents, value)?;
                after = Some((at, DocumentId(id)));
            }
        }
        Ok(())
    })?;
    let page = state
        .services
        .documents
        .list(&caller.0, CustomerId(id.into_inner()), after, limit)
        .await?;
    Ok(page_response(&state, CursorKind::Documents, page))
}

/// Query parameters of the expiring documents.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ExpiringDocumentsParams {
    /// Only documents expiring before this instant (RFC 3339).
    expires_before: Option<DateTime<Utc>>,
    /// Only this category (`contract`, `business_license`, ...).
    category: Option<String>,
    /// Rows per page, 1..=200 (default 20).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// The tenant's documents that expire (contracts and licences to renew), soonest first, in
/// cursor pages (needs `customers.view`): documents with an `expires_at`, of live customers
/// the caller reaches.
#[utoipa::path(
    tag = "documents",
    params(ExpiringDocumentsParams),
    responses(
        (status = 200, description = "A page of documents, soonest expiry first", body = DocumentPage),
        (status = 400, description = "A malformed parameter or cursor", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/documents")]
pub async fn expiring_documents(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let mut limit = crm_domain::customer::DEFAULT_PAGE_SIZE;
    let (mut after, mut before, mut category) = (None, None, None);
    crate::query::each_param(
        req.query_string(),
        &["limit", "cursor", "expires_before", "category"],
        |name, value| {
            match name {
                "limit" => limit = crate::query::limit(value)?,
                "expires_before" => before = Some(crate::query::time(name, value)?),
                "category" => {
                    category = Some(value.parse().map_err(|e: String| ApiError::bad(name, e))?);
                }
                _ => {
                    let (at, id) = state
                        .cursors
                        .decode_position(CursorKind::ExpiringDocuments, value)?;
                    after = Some((at, DocumentId(id)));
                }
            }
            Ok(())
        },
    )?;
    let page = state
        .services
        .documents
        .expiring(&caller.0, before, category, after, limit)
        .await?;
    Ok(page_response(&state, CursorKind::ExpiringDocuments, page))
}

/// One document's metadata (needs `customers.view`), with `ETag` (its SHA-256).
#[utoipa::path(
    tag = "documents",
    params(("id" = Uuid, Path, description = "Document id")),
    responses(
        (status = 200, description = "The document", body = DocumentResponse),
        (status = 404, description = "No such document (or its customer is deleted, or another tenant's)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/documents/{id}")]
pub async fn get_document(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let d = state
        .services
        .documents
        .get(&caller.0, DocumentId(id.into_inner()))
        .await?;
    Ok(with_document(HttpResponse::Ok(), &d))
}

/// Download a document's bytes (needs `customers.view`), streamed: `Content-Type` is the
/// stored (sniffed) type, `Content-Disposition: attachment` carries the file name (an ASCII
/// fallback and the RFC 5987 `filename*` form), `X-Content-Type-Options: nosniff`, `ETag`
/// its SHA-256.
#[utoipa::path(
    tag = "documents",
    params(("id" = Uuid, Path, description = "Document id")),
    responses(
        (status = 200, description = "The bytes, with the stored (sniffed) type as `Content-Type`: one of the allow-list's",
            content(
                (Vec<u8> = "application/pdf"),
                (Vec<u8> = "image/png"),
                (Vec<u8> = "image/jpeg"),
                (Vec<u8> = "image/webp"),
                (Vec<u8> = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
                (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
                (String = "text/csv"),
                (String = "text/plain"),
            )),
        (status = 404, description = "No such document; or `/problems/document-content-missing`: the row exists but its bytes are missing from the store", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/documents/{id}/content")]
pub async fn download_document(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let download = state
        .services
        .documents
        .download(&caller.0, DocumentId(id.into_inner()))
        .await?;
    let d = &download.document;
    let stream = futures_util::stream::unfold(download.content, |mut reader| async move {
        match reader.next_chunk().await {
            Ok(Some(bytes)) => Some((Ok::<Bytes, std::io::Error>(Bytes::from(bytes)), reader)),
            Ok(None) => None,
            Err(e) => {
                tracing::error!(error = %e, "a document download broke off");
                Some((Err(std::io::Error::other(e.to_string())), reader))
            }
        }
    });
    let mut res = HttpResponse::Ok();
    res.insert_header((header::CONTENT_TYPE, d.content_type.as_str()))
        .insert_header((
            header::CONTENT_DISPOSITION,
            content_disposition(&d.file_name),
        ))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::ETAG, etag(d)))
        .insert_header((header::CACHE_CONTROL, "private, no-store"));
    // The stream is a Box<dyn ObjectReader> turned into bytes; its length is known.
    Ok(res
        .no_chunking(d.size_bytes)
        .streaming(stream.boxed_local()))
}

/// Delete a document (needs `customers.edit`): the row and its `document.deleted` event, then
/// the stored bytes.
#[utoipa::path(
    tag = "documents",
    params(("id" = Uuid, Path, description = "Document id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Without `customers.edit`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such document", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The customer was erased", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[delete("/documents/{id}")]
pub async fn delete_document(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    state
        .services
        .documents
        .delete(&caller.0, DocumentId(id.into_inner()))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `attachment; filename="<ASCII fallback>"; filename*=UTF-8''<percent-encoded>` (RFC 6266,
/// RFC 5987): the fallback keeps printable ASCII other than `"`, `\` and `%` (others become
/// `_`); the encoded form keeps only RFC 5987 `attr-char`s unescaped.
pub fn content_disposition(file_name: &str) -> String {
    let fallback: String = file_name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && !matches!(c, '"' | '\\' | '%' | ';') || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::with_capacity(file_name.len() * 3);
    for b in file_name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_disposition_has_a_safe_fallback_and_the_encoded_name() {
        assert_eq!(
            content_disposition("Kontrak é 2026.pdf"),
            "attachment; filename=\"Kontrak _ 2026.pdf\"; filename*=UTF-8''Kontrak%20%C3%A9%202026.pdf"
        );
        assert_eq!(
            content_disposition("a%b\\c.pdf"),
            "attachment; filename=\"a_b_c.pdf\"; filename*=UTF-8''a%25b%5Cc.pdf"
        );
    }
}
