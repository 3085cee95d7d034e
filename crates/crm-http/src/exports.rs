//! Exports: `GET /api/v1/exports/customers` (the filtered customer list as CSV or XLSX) and
//! `GET /api/v1/customers/{id}/data-export` (everything stored about one customer, as JSON; also
//! at its older, deprecated path `GET /api/v1/customers/{id}/export`).
//!
//! The list export is `ExportService::write_customers`: it reads the customers in keyset pages
//! of 200 and never holds the set; a CSV goes out one page per chunk of a streaming body as it
//! is read; an XLSX workbook is only complete at the end, so it is written to a temporary file
//! and then streamed from it. Headers are the customer API's field names and cells are the API's values,
//! so a file re-imports as it was exported; every cell is guarded against formula injection by
//! the writer (`crm_infra::export_file::neutralise`).

use std::io::Read;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use crm_domain::address::AddressType;
use crm_domain::customer::CustomerQuery;
use crm_domain::export::{
    ADDRESS_COLUMNS, CustomerData, CustomerRow, CustomerSheet, ExportFormat, ExportSink, SheetError,
};
use crm_domain::{Actor, CustomerId, DomainError};
use futures_util::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::mpsc;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::analytics::{
    CustomerAnalyticsResponse, HistoricalResponse, OptionsResponse, PredictionResponse,
};
use crate::auth::Caller;
use crate::customers::dto::{CustomerResponse, RfmScoresResponse};
use crate::customers::list::{ListCustomersParams, parse_params};
use crate::loyalty::{LedgerEntryResponse, TierChangeResponse};
use crate::orders::OrderResponse;
use crate::privacy::{ConsentEventResponse, ConsentResponse};
use crate::problem::{ApiError, Problem};
use crate::segments::MembershipResponse;
use crate::state::AppState;

/// Registers the export routes (inside the `/api/v1` scope, before the customer routes).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(export_customers)
        .service(data_export)
        .service(legacy::export_customer);
}

/// Every column a customer export can have: the fields of the customer API
/// ([`CustomerResponse`]), in its order, then one column per consent purpose
/// (`consent_marketing_email`, ...: the current status); and the columns of an export without
/// `columns=`. Both come from the domain's one list of customer fields
/// ([`crm_domain::customer::CUSTOMER_FIELDS`]).
pub use crm_domain::customer::{
    DEFAULT_EXPORT_COLUMNS as DEFAULT_COLUMNS, EXPORT_COLUMNS as CUSTOMER_COLUMNS,
};

/// List parameters that make no sense for an export, which reads every matching customer.
const PAGING: [&str; 4] = ["limit", "cursor", "page", "include_total"];

/// Bytes per chunk when a finished file is streamed.
const FILE_CHUNK: usize = 64 * 1024;

/// The file format of an export.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum FormatParam {
    /// Comma-separated values, UTF-8.
    Csv,
    /// Excel workbook.
    Xlsx,
}

/// An XLSX workbook (Office Open XML, binary).
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)]
struct XlsxFile(Vec<u8>);

/// What an export writes.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct ExportOptionsParams {
    /// `csv` (default; streamed as it is read) or `xlsx` (sent once complete).
    #[param(inline)]
    format: Option<FormatParam>,
    /// Comma-separated customer API field names, in the order wanted (unknown or repeated names
    /// are a 400). Default: id, customer_number, customer_code, name, display_name, email,
    /// phone, mobile_phone, customer_type, company, job_title, industry, status, stage, source,
    /// assigned_to, tags, currency, country, is_vip, total_orders, total_spent, last_order_at,
    /// loyalty_points, created_at, external_ref, consent_marketing_email, consent_marketing_sms,
    /// consent_marketing_whatsapp. Tags are joined with `;`; `metadata` and `rfm` are JSON; a
    /// consent column holds `granted`, `withdrawn` or nothing (never recorded). Optional, not
    /// in the default: the default billing and shipping addresses, flattened —
    /// `billing_address_line1`, `billing_address_line2`, `billing_district`, `billing_city`,
    /// `billing_region`, `billing_postal_code`, `billing_country`, and the same with
    /// `shipping_` (empty when the customer has no default address of the type; a customers
    /// import reads the `billing_*` ones back as the default billing address).
    columns: Option<String>,
}

/// Query parameters of the customer export: `format` and `columns`, then every filter, `q` and
/// `sort` of the customer list (`limit`, `cursor`, `page` and `include_total` do not apply).
#[derive(Debug)]
pub struct ExportCustomersParams;

impl IntoParams for ExportCustomersParams {
    fn into_params(parameter_in: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let mut params = ExportOptionsParams::into_params(&parameter_in);
        params.extend(
            ListCustomersParams::into_params(&parameter_in)
                .into_iter()
                .filter(|p| !PAGING.contains(&p.name.as_str())),
        );
        params
    }
}

/// An export request: the file's format and columns, and the list query string.
#[derive(Debug, PartialEq)]
struct ExportRequest {
    format: ExportFormat,
    columns: Vec<&'static str>,
    list_query: String,
}

/// Splits `format` and `columns` off the query string; the rest is the list's.
fn export_request(query: &str) -> Result<ExportRequest, ApiError> {
    let mut format = None;
    let mut columns: Option<Vec<&'static str>> = None;
    let mut rest = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match name.as_ref() {
            "format" => {
                if format.is_some() {
                    return Err(ApiError::bad("format", "`format` is given twice"));
                }
                format = Some(value.parse::<ExportFormat>().map_err(|_| {
                    ApiError::bad("format", format!("`{value}` is not csv or xlsx"))
                })?);
            }
            "columns" => {
                let list = columns.get_or_insert_with(Vec::new);
                for column in value.split(',').map(str::trim).filter(|c| !c.is_empty()) {
                    let known = CUSTOMER_COLUMNS
                        .iter()
                        .chain(ADDRESS_COLUMNS)
                        .find(|c| **c == column)
                        .ok_or_else(|| {
                            ApiError::bad(
                                "columns",
                                format!(
                                    "`{column}` is not a customer field; known: {}, {}",
                                    CUSTOMER_COLUMNS.join(", "),
                                    ADDRESS_COLUMNS.join(", ")
                                ),
                            )
                        })?;
                    if list.contains(known) {
                        return Err(ApiError::bad(
                            "columns",
                            format!("`{column}` is named twice"),
                        ));
                    }
                    list.push(known);
                }
            }
            paging if PAGING.contains(&paging) => {
                return Err(ApiError::bad(
                    paging,
                    format!(
                        "`{paging}` does not apply to an export: it has every matching customer"
                    ),
                ));
            }
            _ => {
                rest.append_pair(&name, &value);
            }
        }
    }
    let columns = match columns {
        None => DEFAULT_COLUMNS.to_vec(),
        Some(c) if c.is_empty() => {
            return Err(ApiError::bad("columns", "`columns` names no column"));
        }
        Some(c) => c,
    };
    Ok(ExportRequest {
        format: format.unwrap_or(ExportFormat::Csv),
        columns,
        list_query: rest.finish(),
    })
}

/// One cell: the API value as text. Absent values are empty, lists (tags) are joined with `;`,
/// objects are JSON (an empty object is empty).
fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| cell(Some(i)))
            .collect::<Vec<_>>()
            .join(";"),
        Some(Value::Object(map)) if map.is_empty() => String::new(),
        Some(other) => other.to_string(),
    }
}

/// A customer's cells in `columns`, as the customer API shows them; a consent column holds
/// the purpose's current status, a `primary_contact_*` column the primary contact's value, an
/// address column (`billing_city`, ...) the value of the customer's default address of its type.
fn cells(row: &CustomerRow<'_>, columns: &[&str]) -> Result<Vec<String>, DomainError> {
    let value = serde_json::to_value(CustomerResponse::from(row.customer))
        .map_err(|e| DomainError::Internal(format!("serialising a customer: {e}")))?;
    Ok(columns
        .iter()
        .map(|c| {
            row.consent_cell(c)
                .or_else(|| row.contact_cell(c))
                .or_else(|| row.address_cell(c))
                .unwrap_or_else(|| cell(value.get(*c)))
        })
        .collect())
}

/// The chunks of a list export's file as they are written, or the error that stopped it (the
/// last item then).
type Chunks = mpsc::Receiver<Result<web::Bytes, ApiError>>;

/// Hands the bytes of an export to the response body.
struct BodySink(mpsc::Sender<Result<web::Bytes, ApiError>>);

#[async_trait]
impl ExportSink for BodySink {
    async fn send(&mut self, bytes: Vec<u8>) -> Result<(), SheetError> {
        self.0
            .send(Ok(web::Bytes::from(bytes)))
            .await
            .map_err(|_| SheetError::Failed("the client went away".into()))
    }
}

/// Starts writing the export `request` asks for, of the customers `query` matches, and
/// returns its chunks. Writing rows (an XLSX workbook goes to a temporary file) blocks, so
/// the export runs on the blocking pool; its reads still run on the request's runtime.
fn start_export(
    state: web::Data<AppState>,
    actor: Actor,
    query: CustomerQuery,
    request: ExportRequest,
) -> Chunks {
    let (tx, rx) = mpsc::channel(1);
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        runtime.block_on(async move {
            if let Err(e) = write_export(&state, &actor, query, &request, &tx).await {
                // Fails only when nobody listens any more (the client went away).
                let _ = tx.send(Err(e)).await;
            }
        });
    });
    rx
}

/// Writes the export into `tx`: the chunks the service has ready as it goes (CSV rows), then
/// the rest of the file (for XLSX the whole workbook) in chunks of [`FILE_CHUNK`] bytes.
async fn write_export(
    state: &AppState,
    actor: &Actor,
    query: CustomerQuery,
    request: &ExportRequest,
    tx: &mpsc::Sender<Result<web::Bytes, ApiError>>,
) -> Result<(), ApiError> {
    let columns = request.columns.as_slice();
    let sheet = CustomerSheet {
        format: request.format,
        headers: columns,
        cells: &|c| cells(c, columns),
    };
    let mut sink = BodySink(tx.clone());
    let mut rest = state
        .services
        .exports
        .write_customers(actor, query, &*state.sheets, &sheet, &mut sink)
        .await?;
    loop {
        let mut buf = vec![0; FILE_CHUNK];
        let n = rest
            .read(&mut buf)
            .map_err(|e| DomainError::Internal(format!("reading the export: {e}")))?;
        if n == 0 {
            return Ok(());
        }
        buf.truncate(n);
        sink.send(buf).await.map_err(DomainError::from)?;
    }
}

/// The response body: `first`, then the other chunks. A failure after the first chunk ends
/// the response early (the status is already sent); it is logged.
fn body(
    first: Option<Result<web::Bytes, ApiError>>,
    mut rest: Chunks,
) -> impl Stream<Item = Result<web::Bytes, ApiError>> + 'static {
    let rest = futures_util::stream::poll_fn(move |cx| rest.poll_recv(cx));
    futures_util::stream::iter(first)
        .chain(rest)
        .inspect(|chunk| {
            if let Err(e) = chunk {
                tracing::error!(error = %e, "the customer export failed while streaming");
            }
        })
}

/// Export the customers the list's filters, `q` and `sort` select, as a CSV or XLSX file with
/// the customer API's field names as headers (needs `customers.manage`). Every matching
/// customer is exported (read in pages of 200); cells that a spreadsheet would run as a formula
/// (starting with `=`, `+`, `-`, `@`, tab or carriage return) get a leading `'`, which an import
/// removes again.
#[utoipa::path(
    tag = "exports",
    params(ExportCustomersParams),
    responses(
        (status = 200, description = "The file, as an attachment (`customers.csv` or `customers.xlsx`). A CSV is streamed as it is read; if reading fails midway the response ends early.",
            content(
                (String = "text/csv; charset=utf-8"),
                (XlsxFile = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
            ),
            headers(("Content-Disposition" = String, description = "attachment; filename=\"customers.csv\""))),
        (status = 400, description = "Unknown parameter (paging parameters included), unknown or repeated column or parameter, malformed value, a value over a limit of the filter language (`errors[0].limit`)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing customers.manage", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "More customers than a worksheet holds (XLSX)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/exports/customers")]
pub async fn export_customers(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let request = export_request(req.query_string())?;
    let (query, _) = parse_params(&request.list_query, &state)?;
    let format = request.format;
    let mut chunks = start_export(state, caller.0, query, request);
    // The status waits for the first chunk: what fails before it (a refused query, a
    // workbook too large) is answered as such.
    let first = match chunks.recv().await {
        Some(Err(e)) => return Err(e),
        first => first,
    };
    let mut res = HttpResponse::Ok();
    res.insert_header((header::CONTENT_TYPE, format.content_type()))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"customers.{}\"", format.extension()),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    Ok(res.streaming(body(first, chunks)))
}

/// The analytics part of a customer's data export.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CustomerDataAnalytics {
    /// RFM scores of the latest recompute.
    pub rfm: Option<RfmScoresResponse>,
    /// Historical value.
    pub historical: HistoricalResponse,
    /// CLV model predictions (none without a fitted model or a purchase).
    pub prediction: Option<PredictionResponse>,
    /// Options the predictions used (the defaults).
    pub options: OptionsResponse,
}

/// Everything stored about one customer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CustomerDataResponse {
    /// When the document was assembled.
    pub exported_at: DateTime<Utc>,
    /// The customer record.
    pub customer: CustomerResponse,
    /// Every order with its lines, newest first.
    pub orders: Vec<OrderResponse>,
    /// Every loyalty points ledger entry, newest first.
    pub loyalty_ledger: Vec<LedgerEntryResponse>,
    /// Every tier change, newest first.
    pub tier_history: Vec<TierChangeResponse>,
    /// The segments the customer belongs to now.
    pub segments: Vec<MembershipResponse>,
    /// RFM scores, historical value and predictions.
    pub analytics: CustomerDataAnalytics,
    /// The current state of each consent purpose.
    pub consents: Vec<ConsentResponse>,
    /// Every recorded consent grant and withdrawal, newest first by `at`.
    pub consent_history: Vec<ConsentEventResponse>,
    /// Every address of the customer, oldest first.
    pub addresses: Vec<crate::addresses::AddressResponse>,
    /// Every contact person of the customer, oldest first.
    pub contacts: Vec<crate::contacts::ContactResponse>,
}

/// The default address of `kind` among `addresses`, as the API shows it.
fn default_of(
    addresses: &[crm_domain::address::Address],
    kind: AddressType,
) -> Option<crate::addresses::AddressResponse> {
    addresses
        .iter()
        .find(|a| a.is_default && a.fields.address_type == kind)
        .map(Into::into)
}

impl From<&CustomerData> for CustomerDataResponse {
    fn from(d: &CustomerData) -> Self {
        let analytics = CustomerAnalyticsResponse::from(&d.analytics);
        Self {
            exported_at: d.exported_at,
            customer: CustomerResponse {
                primary_contact: Some(
                    d.contacts
                        .iter()
                        .find(|c| c.is_primary)
                        .map(|c| (&crm_domain::contact::ContactSummary::from(c)).into()),
                ),
                default_billing_address: default_of(&d.addresses, AddressType::Billing),
                default_shipping_address: default_of(&d.addresses, AddressType::Shipping),
                ..CustomerResponse::from(&d.customer)
            },
            orders: d
                .orders
                .iter()
                .map(|o| OrderResponse::new(o, d.exported_at))
                .collect(),
            loyalty_ledger: d.loyalty_ledger.iter().map(Into::into).collect(),
            tier_history: d.tier_history.iter().map(Into::into).collect(),
            segments: d.segments.iter().map(Into::into).collect(),
            analytics: CustomerDataAnalytics {
                rfm: analytics.customer.rfm,
                historical: analytics.historical,
                prediction: analytics.prediction,
                options: analytics.options,
            },
            consents: d.consents.iter().map(Into::into).collect(),
            consent_history: d.consent_history.iter().map(Into::into).collect(),
            addresses: d.addresses.iter().map(Into::into).collect(),
            contacts: d.contacts.iter().map(Into::into).collect(),
        }
    }
}

/// Everything stored about a customer, as one JSON document (a data subject's access request,
/// GDPR art. 15; needs `customers.manage`): the record, every order with its lines, every
/// loyalty ledger entry and tier change, current segments and analytics, the current consents
/// and their whole history.
#[utoipa::path(
    tag = "exports",
    params(("id" = Uuid, Path, description = "Customer id")),
    responses(
        (status = 200, description = "The document, as an attachment (`customer-<id>.json`)", body = CustomerDataResponse),
        (status = 400, description = "Unknown parameter", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing customers.manage", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/customers/{id}/data-export")]
pub async fn data_export(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    customer_document(&caller, &state, &req, CustomerId(id.into_inner())).await
}

/// The data subject export's older path, kept for clients written before
/// `/customers/{id}/data-export`; marked deprecated in the OpenAPI document (Rust's
/// `#[deprecated]` is how utoipa learns it, so the module allows its own use).
mod legacy {
    #![allow(deprecated)]

    use super::*;

    /// The data subject export at its older path; the same document as
    /// `GET /customers/{id}/data-export`.
    #[utoipa::path(
        tag = "exports",
        params(("id" = Uuid, Path, description = "Customer id")),
        responses(
            (status = 200, description = "The document, as an attachment (`customer-<id>.json`)", body = CustomerDataResponse),
            (status = 400, description = "Unknown parameter", body = Problem, content_type = "application/problem+json"),
            (status = 403, description = "Missing customers.manage", body = Problem, content_type = "application/problem+json"),
            (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
        ),
        security(("bearer" = [])),
    )]
    #[deprecated = "use GET /api/v1/customers/{id}/data-export"]
    #[get("/customers/{id}/export")]
    pub async fn export_customer(
        caller: Caller,
        state: web::Data<AppState>,
        req: HttpRequest,
        id: web::Path<Uuid>,
    ) -> Result<HttpResponse, ApiError> {
        customer_document(&caller, &state, &req, CustomerId(id.into_inner())).await
    }
}

/// Answers a customer's data export: one service call, the document as an attachment that no
/// cache keeps.
async fn customer_document(
    caller: &Caller,
    state: &AppState,
    req: &HttpRequest,
    id: CustomerId,
) -> Result<HttpResponse, ApiError> {
    crate::query::each_param(req.query_string(), &[], |_, _| Ok(()))?;
    let data = state.services.exports.customer_data(&caller.0, id).await?;
    let body = CustomerDataResponse::from(&data);
    Ok(HttpResponse::Ok()
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!(
                "attachment; filename=\"customer-{}.json\"",
                data.customer.id
            ),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_columns_are_the_fields_of_the_customer_api_the_consents_and_the_primary_contact() {
        let schema = <CustomerResponse as utoipa::PartialSchema>::schema();
        let utoipa::openapi::RefOr::T(utoipa::openapi::schema::Schema::Object(object)) = schema
        else {
            panic!("CustomerResponse is not an object schema");
        };
        // The default addresses and `primary_contact` are nested objects read from other
        // resources, not columns of the customer (the primary contact is exported as the
        // `primary_contact_*` columns instead).
        let mut fields: Vec<&str> = object
            .properties
            .keys()
            .map(String::as_str)
            .filter(|f| {
                !matches!(
                    *f,
                    "default_billing_address" | "default_shipping_address" | "primary_contact"
                )
            })
            .collect();
        let mut api = crm_domain::customer::API_FIELDS.to_vec();
        fields.sort_unstable();
        api.sort_unstable();
        assert_eq!(api, fields);
        let consents: Vec<&str> = crm_domain::privacy::ConsentPurpose::ALL
            .iter()
            .map(|p| p.export_column())
            .collect();
        let mut columns = crm_domain::customer::API_FIELDS.to_vec();
        columns.extend(consents);
        columns.extend([
            "primary_contact_name",
            "primary_contact_email",
            "primary_contact_phone",
        ]);
        assert_eq!(CUSTOMER_COLUMNS, columns.as_slice());
        assert!(DEFAULT_COLUMNS.iter().all(|c| CUSTOMER_COLUMNS.contains(c)));
    }

    #[test]
    fn format_and_columns_are_split_off_the_list_query() {
        let r = export_request("status=active&format=xlsx&columns=name,%20email&q=budi").unwrap();
        assert_eq!(
            r,
            ExportRequest {
                format: ExportFormat::Xlsx,
                columns: vec!["name", "email"],
                list_query: "status=active&q=budi".into(),
            }
        );
        let r = export_request("").unwrap();
        assert_eq!(r.format, ExportFormat::Csv);
        assert_eq!(r.columns, DEFAULT_COLUMNS);
        let field = |q: &str| match export_request(q) {
            Err(ApiError::BadRequest { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field("columns=name,shoe_size").as_deref(), Some("columns"));
        assert_eq!(field("columns=name,name").as_deref(), Some("columns"));
        assert_eq!(field("columns=").as_deref(), Some("columns"));
        assert_eq!(field("format=pdf").as_deref(), Some("format"));
        assert_eq!(field("limit=5").as_deref(), Some("limit"));
        assert_eq!(field("cursor=x").as_deref(), Some("cursor"));
    }

    #[test]
    fn cells_are_the_api_values_as_text() {
        assert_eq!(cell(None), "");
        assert_eq!(cell(Some(&Value::Null)), "");
        assert_eq!(cell(Some(&json!("Budi"))), "Budi");
        assert_eq!(cell(Some(&json!(true))), "true");
        assert_eq!(cell(Some(&json!(42))), "42");
        assert_eq!(cell(Some(&json!(["vip", "b2b"]))), "vip;b2b");
        assert_eq!(cell(Some(&json!({}))), "");
        assert_eq!(cell(Some(&json!({"a": 1}))), r#"{"a":1}"#);
    }
}
