//! `/api/v1/imports`: bulk import of customers or orders from a CSV or XLSX file, as a job.

use actix_multipart::Multipart;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use crm_domain::ids::JobId;
use crm_domain::import::ImportRequest;
use crm_domain::import::{ImportOptions, RowError};
use crm_domain::job::Job;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Caller;
use crate::problem::{ApiError, Problem};
use crate::state::AppState;
use crate::uploads::Upload;

/// Registers the import routes (inside the `/api/v1` scope).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_import)
        .service(get_import)
        .service(import_errors);
}

/// An import job.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ImportResponse {
    /// Id.
    pub id: Uuid,
    /// `import_customers` or `import_orders`.
    pub kind: String,
    /// `running`, `completed` or `failed`.
    pub state: String,
    /// Progress and outcome: `rows_read`, `created`, `updated`, `skipped`, `failed`,
    /// `warnings` (rows imported with a warning: address columns without a street or a city,
    /// so the customer is imported and its address is not), `warning_rows` (the first 100
    /// warnings: `{line, field, reason}`, `field` such as `address.line1`), `last_line` (the
    /// last line committed), `duration_ms`, `rows_per_second`, `dry_run`, `file`, and for a
    /// dry run `preview` (the first 20 rows as they would be stored).
    #[schema(value_type = Object)]
    pub progress: serde_json::Value,
    /// Why it failed (and where it stopped).
    pub error: Option<String>,
    /// Started.
    pub created_at: DateTime<Utc>,
    /// Ended.
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<&Job> for ImportResponse {
    fn from(j: &Job) -> Self {
        Self {
            id: j.id.0,
            kind: j.kind.as_str().to_owned(),
            state: j.state.as_str().to_owned(),
            progress: j.result_json().unwrap_or_default(),
            error: j.error.clone(),
            created_at: j.created_at,
            finished_at: j.finished_at,
        }
    }
}

/// The form of `POST /imports` (for the documentation).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct ImportForm {
    /// The CSV (comma, semicolon or tab; UTF-8 with or without BOM, Latin-1 with
    /// `"latin1": true`) or XLSX file.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// JSON options: `kind` (`customers` | `orders`), `mapping` (`{"E-mail": "email"}`; default:
    /// detected from English and Indonesian headers), `delimiter`, `date_format`,
    /// `decimal_separator`, `default_country`, `default_currency`, `duplicate_policy` (`skip` |
    /// `update` | `create`), `match_by` (`external_ref` | `email` | `phone`), `dry_run`,
    /// `create_missing_customers`, `latin1`.
    #[schema(value_type = Object)]
    options: serde_json::Value,
}

/// Import customers or orders from a file (needs `customers.manage`, checked before the body
/// is read). Answers 202 with the job; `GET /imports/{id}` follows it. `?wait=true` waits and
/// answers 200 with the finished job. An XLSX file is read as a stream within limits (columns,
/// unzipped bytes, shared strings, element size): a file beyond one is a 413 naming the
/// setting (`setting`) and its value (`limit`).
#[utoipa::path(
    tag = "imports",
    params(("wait" = Option<bool>, Query, description = "Wait for the import to finish")),
    request_body(content = ImportForm, content_type = "multipart/form-data"),
    responses(
        (status = 202, description = "Accepted", body = ImportResponse),
        (status = 200, description = "Finished (with wait=true)", body = ImportResponse),
        (status = 400, description = "Not multipart, no file or options, unreadable file", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Without `customers.manage` (the body is not read)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "File, row count, columns, unzipped size, shared strings or element size beyond the limits", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid options, naming `options.<field>`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/imports")]
pub async fn create_import(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    mut form: Multipart,
) -> Result<HttpResponse, ApiError> {
    // The caller may import at all, before a byte of the body is read or stored.
    state.services.imports.authorize(&caller.0)?;
    let wait = crate::jobs::wait_param(&req)?;
    let limit = state.import_limits.max_bytes;
    // The upload is deleted when this handler fails or is dropped (client gone), or when
    // its import ends.
    let mut file: Option<(Upload, String, String)> = None;
    let mut options: Option<Vec<u8>> = None;
    while let Some(field) = form.next().await {
        let mut field = field.map_err(|e| ApiError::bad("file", format!("malformed form: {e}")))?;
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "file" => {
                if file.is_some() {
                    return Err(ApiError::bad(
                        "file",
                        "the form has more than one `file` part",
                    ));
                }
                let received =
                    crate::uploads::receive_file(&mut field, &state.uploads, limit, "file").await?;
                file = Some((received.upload, received.file_name, received.sha256));
            }
            "options" => {
                let mut bytes = Vec::new();
                while let Some(chunk) = field.next().await {
                    let chunk = chunk
                        .map_err(|e| ApiError::bad("options", format!("upload failed: {e}")))?;
                    if bytes.len() + chunk.len() > 1 << 16 {
                        return Err(ApiError::PayloadTooLarge { limit: 1 << 16 });
                    }
                    bytes.extend_from_slice(&chunk);
                }
                options = Some(bytes);
            }
            other => {
                return Err(ApiError::bad(
                    other,
                    format!("unknown form field `{other}`; expected `file` and `options`"),
                ));
            }
        }
    }
    let (tmp, file_name, fingerprint) =
        file.ok_or_else(|| ApiError::bad("file", "the form has no `file` part"))?;
    let options: ImportOptions = match options {
        Some(bytes) => parse_options(&bytes)?,
        None => return Err(ApiError::bad("options", "the form has no `options` part")),
    };
    let request = ImportRequest {
        options,
        file_name,
        fingerprint,
    };
    let accepted = state
        .services
        .imports
        .accept(
            &caller.0,
            request,
            tmp.path(),
            Some(state.import_limits.max_rows),
        )
        .await?;
    let location = format!("/api/v1/imports/{}", accepted.job.id);
    let run = async move {
        let done = accepted.run.await;
        // The upload is deleted once the import has read it.
        drop(tmp);
        done
    };
    Ok(crate::jobs::launch::<ImportResponse>(wait, location, &accepted.job, run).await)
}

/// An import job: state, progress and timings.
#[utoipa::path(
    tag = "imports",
    params(("id" = Uuid, Path, description = "Import id")),
    responses(
        (status = 200, description = "The import: its state, counts and progress", body = ImportResponse),
        (status = 404, description = "No such import", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/imports/{id}")]
pub async fn get_import(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let job = state
        .services
        .jobs
        .import(&caller.0, JobId(id.into_inner()))
        .await?;
    Ok(HttpResponse::Ok().json(ImportResponse::from(&job)))
}

/// A rejected row.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RowErrorResponse {
    /// Line of the file (header = 1).
    pub line: u64,
    /// Field at fault.
    pub field: Option<String>,
    /// Why.
    pub reason: String,
}

impl From<&RowError> for RowErrorResponse {
    fn from(e: &RowError) -> Self {
        Self {
            line: e.line,
            field: e.field.clone(),
            reason: e.reason.clone(),
        }
    }
}

/// Every rejected row of an import, by line: JSON, or CSV with `?format=csv`.
#[utoipa::path(
    tag = "imports",
    params(
        ("id" = Uuid, Path, description = "Import id"),
        ("format" = Option<String>, Query, description = "`json` (default) or `csv`"),
    ),
    responses(
        (status = 200, description = "The rejected rows, by line", body = Vec<RowErrorResponse>),
        (status = 404, description = "No such import", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/imports/{id}/errors")]
pub async fn import_errors(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let mut csv = false;
    crate::query::each_param(req.query_string(), &["format"], |name, value| {
        csv = match value {
            "csv" => true,
            "json" => false,
            _ => return Err(ApiError::bad(name, "`format` is json or csv")),
        };
        Ok(())
    })?;
    let errors = state
        .services
        .imports
        .errors(&caller.0, JobId(id.into_inner()))
        .await?;
    if !csv {
        return Ok(HttpResponse::Ok().json(
            errors
                .iter()
                .map(RowErrorResponse::from)
                .collect::<Vec<_>>(),
        ));
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    let write =
        |w: &mut csv::Writer<Vec<u8>>, rec: [&str; 3]| w.write_record(rec).map_err(internal);
    write(&mut w, ["line", "field", "reason"])?;
    for e in &errors {
        let line = e.line.to_string();
        write(
            &mut w,
            [
                line.as_str(),
                e.field.as_deref().unwrap_or(""),
                &crm_domain::export::neutralise(&e.reason),
            ],
        )?;
    }
    let body = w.into_inner().map_err(internal)?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            "attachment; filename=\"import-errors.csv\"",
        ))
        .body(body))
}

/// The `options` part: JSON syntax errors are a 400 on `options`, shape errors a 422 naming
/// `options.<field>`.
fn parse_options(bytes: &[u8]) -> Result<ImportOptions, ApiError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| ApiError::BadRequest {
            detail: format!("`options` is not valid JSON: {e}"),
            field: Some("options".into()),
        })?;
    crate::json::from_value(value).map_err(|e| match e {
        ApiError::Domain(crm_domain::DomainError::Validation(errors)) => {
            ApiError::Domain(crm_domain::DomainError::Validation(
                errors
                    .into_iter()
                    .map(|mut f| {
                        if f.field == "body" {
                            f.field = "options".into();
                        } else {
                            f.field = format!("options.{}", f.field);
                        }
                        f
                    })
                    .collect(),
            ))
        }
        other => other,
    })
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Domain(crm_domain::DomainError::Internal(e.to_string()))
}
