//! Customer analytics: `/api/v1/analytics/rfm` (recompute as a job, distribution),
//! `/api/v1/analytics/clv` (fit, tenant summary), `/api/v1/customers/{id}/analytics` and
//! `/api/v1/jobs/{id}`.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use crm_domain::CustomerId;
use crm_domain::analytics::clv::TimeUnit;
use crm_domain::analytics::service::{ClvSummary, CustomerAnalytics, RfmSummary};
use crm_domain::analytics::{ClvModel, PredictionOptions};
use crm_domain::ids::JobId;
use crm_domain::job::Job;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Caller;
use crate::customers::dto::CustomerResponse;
use crate::json::{JsonBody, OptionalJsonBody};
use crate::problem::{ApiError, Problem};
use crate::state::AppState;

/// Registers the analytics routes (inside the `/api/v1` scope, before the customer routes).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(recompute_rfm)
        .service(get_rfm)
        .service(get_job)
        .service(fit_clv)
        .service(get_clv)
        .service(customer_analytics);
}

/// A background job.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JobResponse {
    /// Id.
    pub id: Uuid,
    /// `rfm_recompute`.
    pub kind: String,
    /// `running`, `completed` or `failed`.
    pub state: String,
    /// Outcome when completed; for `rfm_recompute`: `scored`, `reference`, `duration_ms`.
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
    /// Why it failed.
    pub error: Option<String>,
    /// Who started it.
    pub created_by: Option<String>,
    /// Started.
    pub created_at: DateTime<Utc>,
    /// Ended.
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<&Job> for JobResponse {
    fn from(j: &Job) -> Self {
        Self {
            id: j.id.0,
            kind: j.kind.as_str().to_owned(),
            state: j.state.as_str().to_owned(),
            result: j.result_json(),
            error: j.error.clone(),
            created_by: j.created_by.as_ref().map(|u| u.as_str().to_owned()),
            created_at: j.created_at,
            finished_at: j.finished_at,
        }
    }
}

/// What an RFM recompute is computed against.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecomputeRequest {
    /// Reference instant for recency (default now).
    pub reference: Option<DateTime<Utc>>,
}

/// Recompute every customer's RFM scores and segment (needs `customers.manage`). Answers 202
/// with a job (`Location: /api/v1/jobs/{id}`) and runs in the background; `?wait=true` waits
/// and answers 200 with the finished job. The database scores the tenant in two statements.
#[utoipa::path(
    tag = "analytics",
    params(("wait" = Option<bool>, Query, description = "Wait for the job to finish")),
    request_body(content = Option<RecomputeRequest>),
    responses(
        (status = 202, description = "Started", body = JobResponse),
        (status = 200, description = "Finished (with wait=true)", body = JobResponse),
        (status = 403, description = "Missing customers.manage", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/analytics/rfm/recompute")]
pub async fn recompute_rfm(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: OptionalJsonBody<Option<RecomputeRequest>>,
) -> Result<HttpResponse, ApiError> {
    let wait = crate::jobs::wait_param(&req)?;
    // The body is optional (none, or `null`, means "as of now").
    let reference = body.0.flatten().and_then(|b| b.reference);
    let started = state
        .services
        .analytics
        .accept_rfm_recompute(&caller.0, reference)
        .await?;
    let location = format!("/api/v1/jobs/{}", started.job.id);
    Ok(crate::jobs::launch::<JobResponse>(wait, location, &started.job, started.run).await)
}

/// A job of the caller's tenant: `customers.view`, and `customers.manage` for an import's job
/// (its preview holds personal data).
#[utoipa::path(
    tag = "analytics",
    params(("id" = Uuid, Path, description = "Job id")),
    responses(
        (status = 200, description = "The job: its state, and its outcome once finished", body = JobResponse),
        (status = 403, description = "Missing customers.view, or customers.manage for an import's job", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/jobs/{id}")]
pub async fn get_job(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let job = state
        .services
        .jobs
        .job(&caller.0, JobId(id.into_inner()))
        .await?;
    Ok(HttpResponse::Ok().json(JobResponse::from(&job)))
}

/// One RFM segment of the distribution.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RfmSegmentResponse {
    /// API name (`champions`, ...).
    pub segment: String,
    /// Display name (`Champions`, ...).
    pub label: String,
    /// Cell of the coarse matrix: `champions`, `at_risk`, `new_customers` or `lost`.
    pub coarse: String,
    /// Scored customers in it.
    pub customers: u64,
    /// Share of the scored customers, 0..=1.
    pub share: f64,
    /// Σ total_spent per currency (decimal strings).
    #[schema(value_type = Object)]
    pub revenue: BTreeMap<String, Decimal>,
}

/// The tenant's RFM distribution.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RfmResponse {
    /// When the scores were computed (none before the first recompute).
    pub computed_at: Option<DateTime<Utc>>,
    /// Customers with scores.
    pub scored: u64,
    /// Every segment, empty ones included.
    pub segments: Vec<RfmSegmentResponse>,
}

impl From<&RfmSummary> for RfmResponse {
    fn from(s: &RfmSummary) -> Self {
        Self {
            computed_at: s.computed_at,
            scored: s.scored,
            segments: s
                .segments
                .iter()
                .map(|g| RfmSegmentResponse {
                    segment: g.totals.segment.as_str().to_owned(),
                    label: g.totals.segment.label().to_owned(),
                    coarse: g.coarse.as_str().to_owned(),
                    customers: g.totals.customers,
                    share: g.share,
                    revenue: g
                        .totals
                        .revenue
                        .iter()
                        .map(|(c, a)| (c.clone(), a.value()))
                        .collect(),
                })
                .collect(),
        }
    }
}

/// Customers, revenue and share of each RFM segment.
#[utoipa::path(
    tag = "analytics",
    responses(
        (status = 200, description = "The RFM distribution: customers and revenue per segment", body = RfmResponse),
        (status = 403, description = "Missing customers.view", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/analytics/rfm")]
pub async fn get_rfm(caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let s = state.services.analytics.rfm_summary(&caller.0).await?;
    Ok(HttpResponse::Ok().json(RfmResponse::from(&s)))
}

/// What to fit.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FitRequest {
    /// Last day of the calibration period (orders up to and including it are used).
    pub calibration_end: NaiveDate,
    /// `week` (default) or `day`.
    #[schema(value_type = Option<String>, example = "week")]
    pub time_unit: Option<String>,
}

/// A tenant's fitted models.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClvModelResponse {
    /// Last day of the calibration period.
    pub calibration_end: NaiveDate,
    /// `week` or `day`.
    pub time_unit: String,
    /// BG/NBD (Fader, Hardie & Lee 2005): `r`, `alpha`, `a`, `b`; `log_likelihood`.
    #[schema(value_type = Object)]
    pub bgnbd: serde_json::Value,
    /// Gamma-Gamma (Fader & Hardie 2013): `p`, `q`, `gamma`; `log_likelihood`; none when nobody
    /// bought twice.
    #[schema(value_type = Option<Object>)]
    pub gamma_gamma: Option<serde_json::Value>,
    /// Customers in the fit.
    pub customers: u64,
    /// Customers with a repeat purchase (the Gamma-Gamma sample).
    pub repeat_customers: u64,
    /// Fit wall time, milliseconds.
    pub fit_ms: u64,
    /// When.
    pub fitted_at: DateTime<Utc>,
    /// How this fit went: each step's wall time and each model's optimiser report. Only in
    /// the response of `POST /analytics/clv/fit` (not stored with the model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fit: Option<ClvFitResponse>,
}

/// Per-step wall times (milliseconds) and optimiser reports of one fit.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClvFitResponse {
    /// Reading the tenant's purchase days from the database.
    pub read_ms: f64,
    /// Reducing them to per-customer summaries.
    pub summarise_ms: f64,
    /// The BG/NBD fit.
    pub bgnbd_ms: f64,
    /// The Gamma-Gamma fit.
    pub gamma_gamma_ms: f64,
    /// The BG/NBD optimiser.
    pub bgnbd: FitReportResponse,
    /// The Gamma-Gamma optimiser; none when it was not fitted.
    pub gamma_gamma: Option<FitReportResponse>,
}

/// How one maximum-likelihood fit ended.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FitReportResponse {
    /// `lbfgs` (L-BFGS on the analytic gradient) or `nelder_mead` (the fallback).
    #[schema(example = "lbfgs")]
    pub method: String,
    /// Iterations of the optimiser (L-BFGS's plus Nelder-Mead's after a fallback).
    pub iterations: u64,
    /// Evaluations of the log-likelihood.
    pub evaluations: u64,
    /// Norm of the gradient of the mean log-likelihood over log-parameters at the estimates.
    pub gradient_norm: f64,
}

impl From<&crm_domain::analytics::clv::FitReport> for FitReportResponse {
    fn from(r: &crm_domain::analytics::clv::FitReport) -> Self {
        Self {
            method: r.method.as_str().to_owned(),
            iterations: r.iterations,
            evaluations: r.evaluations,
            gradient_norm: r.gradient_norm,
        }
    }
}

impl From<&ClvModel> for ClvModelResponse {
    fn from(m: &ClvModel) -> Self {
        Self {
            calibration_end: m.calibration_end,
            time_unit: m.time_unit.as_str().to_owned(),
            bgnbd: serde_json::json!({
                "r": m.bgnbd.r, "alpha": m.bgnbd.alpha, "a": m.bgnbd.a, "b": m.bgnbd.b,
                "log_likelihood": m.bgnbd_log_likelihood,
            }),
            gamma_gamma: m.gamma_gamma.map(|g| {
                serde_json::json!({
                    "p": g.p, "q": g.q, "gamma": g.gamma,
                    "log_likelihood": m.gamma_gamma_log_likelihood,
                })
            }),
            customers: m.customers,
            repeat_customers: m.repeat_customers,
            fit_ms: m.fit_ms,
            fitted_at: m.fitted_at,
            fit: m.fit.as_ref().map(|f| ClvFitResponse {
                read_ms: f.read_ms,
                summarise_ms: f.summarise_ms,
                bgnbd_ms: f.bgnbd_ms,
                gamma_gamma_ms: f.gamma_gamma_ms,
                bgnbd: FitReportResponse::from(&f.bgnbd),
                gamma_gamma: f.gamma_gamma.as_ref().map(FitReportResponse::from),
            }),
        }
    }
}

/// Fit the BG/NBD and Gamma-Gamma models on the tenant's completed orders (its default
/// currency) up to `calibration_end`, purchases on one day counted as one; stores them (needs
/// `customers.manage`).
#[utoipa::path(
    tag = "analytics",
    request_body = FitRequest,
    responses(
        (status = 200, description = "The fitted models, with their parameters, log-likelihoods and fit time", body = ClvModelResponse),
        (status = 422, description = "Bad date or unit, or not enough data", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[post("/analytics/clv/fit")]
pub async fn fit_clv(
    caller: Caller,
    state: web::Data<AppState>,
    body: JsonBody<FitRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let unit = match body.time_unit.as_deref() {
        None => TimeUnit::Week,
        Some(u) => u
            .parse::<TimeUnit>()
            .map_err(|_| ApiError::bad("time_unit", "`time_unit` is `week` or `day`"))?,
    };
    let m = state
        .services
        .analytics
        .fit_clv(&caller.0, body.calibration_end, unit)
        .await?;
    Ok(HttpResponse::Ok().json(ClvModelResponse::from(&m)))
}

fn options(req: &HttpRequest, extra: &[&str]) -> Result<(PredictionOptions, usize), ApiError> {
    let mut o = PredictionOptions::default();
    let mut limit = 10;
    let mut known = vec!["horizon_months", "discount_rate", "as_of"];
    known.extend_from_slice(extra);
    crate::query::each_param(req.query_string(), &known, |name, value| {
        let bad = |m: &str| ApiError::bad(name, m.to_owned());
        match name {
            "horizon_months" => {
                o.horizon_months = value.parse().map_err(|_| bad("a whole number of months"))?
            }
            "discount_rate" => {
                o.monthly_discount_rate = value.parse().map_err(|_| bad("a monthly rate"))?
            }
            "as_of" => o.as_of = Some(value.parse().map_err(|_| bad("a date YYYY-MM-DD"))?),
            _ => {
                limit = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=100).contains(n))
                    .ok_or_else(|| bad("a number 1..=100"))?
            }
        }
        Ok(())
    })?;
    Ok((o, limit))
}

/// Options the predictions used.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OptionsResponse {
    /// Months.
    pub horizon_months: u32,
    /// Monthly discount rate.
    pub discount_rate: f64,
}

/// A customer at risk: valuable and unlikely to be alive.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AtRiskResponse {
    /// Customer id.
    pub customer_id: Uuid,
    /// Revenue up to the prediction day (tenant currency).
    pub revenue: f64,
    /// P(alive).
    pub probability_alive: f64,
    /// Discounted CLV over the horizon.
    pub clv: f64,
}

/// Tenant-wide predictions.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClvSummaryResponse {
    /// The model.
    pub model: ClvModelResponse,
    /// Day the predictions are made as of.
    pub as_of: NaiveDate,
    /// Options.
    pub options: OptionsResponse,
    /// Customers predicted.
    pub customers: u64,
    /// Σ expected purchases over the horizon.
    pub expected_purchases: f64,
    /// Σ discounted CLV over the horizon (tenant currency).
    pub expected_value: f64,
    /// Among the top quarter by revenue, the lowest P(alive) first.
    pub at_risk: Vec<AtRiskResponse>,
}

impl From<&ClvSummary> for ClvSummaryResponse {
    fn from(s: &ClvSummary) -> Self {
        Self {
            model: ClvModelResponse::from(&s.model),
            as_of: s.options.as_of.unwrap_or(s.model.calibration_end),
            options: OptionsResponse {
                horizon_months: s.options.horizon_months,
                discount_rate: s.options.monthly_discount_rate,
            },
            customers: s.customers,
            expected_purchases: s.expected_purchases,
            expected_value: s.expected_value,
            at_risk: s
                .at_risk
                .iter()
                .map(|a| AtRiskResponse {
                    customer_id: a.customer_id.0,
                    revenue: a.revenue,
                    probability_alive: a.probability_alive,
                    clv: a.clv,
                })
                .collect(),
        }
    }
}

/// Expected purchases and value of the tenant's customers over the horizon, and the customers
/// most at risk.
#[utoipa::path(
    tag = "analytics",
    params(
        ("horizon_months" = Option<u32>, Query, description = "CLV horizon, months (default 12, 1..=120)"),
        ("discount_rate" = Option<f64>, Query, description = "Monthly discount rate (default 0.01)"),
        ("as_of" = Option<NaiveDate>, Query, description = "Predict as of this day (default: calibration end)"),
        ("at_risk_limit" = Option<u32>, Query, description = "At-risk customers listed (default 10, ≤ 100)"),
    ),
    responses(
        (status = 200, description = "The tenant's CLV summary from the fitted models", body = ClvSummaryResponse),
        (status = 404, description = "No model fitted yet", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/analytics/clv")]
pub async fn get_clv(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (o, limit) = options(&req, &["at_risk_limit"])?;
    let s = state
        .services
        .analytics
        .clv_summary(&caller.0, o, limit)
        .await?;
    Ok(HttpResponse::Ok().json(ClvSummaryResponse::from(&s)))
}

/// Historical value of a customer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HistoricalResponse {
    /// Σ completed orders (customer currency).
    pub total_revenue: f64,
    /// Completed orders.
    pub orders: i64,
    /// Average order value.
    pub average_order_value: f64,
    /// Days since the first order.
    pub tenure_days: i64,
    /// Orders per 30-day month of tenure.
    pub purchases_per_month: f64,
    /// Revenue − acquisition cost.
    pub profit: f64,
}

/// Model predictions for a customer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PredictionResponse {
    /// Day of the prediction.
    pub as_of: NaiveDate,
    /// Repeat purchase days before `as_of` (x).
    pub frequency: f64,
    /// First to last purchase, model units (t_x).
    pub recency: f64,
    /// First purchase to `as_of`, model units (T).
    pub age: f64,
    /// P(alive).
    pub probability_alive: f64,
    /// Expected purchases over the horizon.
    pub expected_purchases: f64,
    /// Expected average order value (Gamma-Gamma).
    pub expected_order_value: Option<f64>,
    /// Discounted CLV over the horizon.
    pub clv: Option<f64>,
}

/// Everything analytics says about one customer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CustomerAnalyticsResponse {
    /// The customer, with `rfm`.
    pub customer: CustomerResponse,
    /// Historical value.
    pub historical: HistoricalResponse,
    /// Predictions (none without a fitted model or a purchase by `as_of`).
    pub prediction: Option<PredictionResponse>,
    /// Options used.
    pub options: OptionsResponse,
}

impl From<&CustomerAnalytics> for CustomerAnalyticsResponse {
    fn from(a: &CustomerAnalytics) -> Self {
        let h = &a.historical;
        Self {
            customer: CustomerResponse::from(&a.customer),
            historical: HistoricalResponse {
                total_revenue: h.total_revenue,
                orders: h.orders,
                average_order_value: h.average_order_value,
                tenure_days: h.tenure_days,
                purchases_per_month: h.purchases_per_month,
                profit: h.profit,
            },
            prediction: a.prediction.as_ref().map(|p| PredictionResponse {
                as_of: p.as_of,
                frequency: p.summary.frequency,
                recency: p.summary.recency,
                age: p.summary.age,
                probability_alive: p.probability_alive,
                expected_purchases: p.expected_purchases,
                expected_order_value: p.expected_order_value,
                clv: p.clv,
            }),
            options: OptionsResponse {
                horizon_months: a.options.horizon_months,
                discount_rate: a.options.monthly_discount_rate,
            },
        }
    }
}

/// RFM scores, historical value and model predictions of one customer.
#[utoipa::path(
    tag = "analytics",
    params(
        ("id" = Uuid, Path, description = "Customer id"),
        ("horizon_months" = Option<u32>, Query, description = "CLV horizon, months (default 12, 1..=120)"),
        ("discount_rate" = Option<f64>, Query, description = "Monthly discount rate (default 0.01)"),
        ("as_of" = Option<NaiveDate>, Query, description = "Predict as of this day (default: calibration end)"),
    ),
    responses(
        (status = 200, description = "The customer's RFM scores, historical value and CLV prediction", body = CustomerAnalyticsResponse),
        (status = 404, description = "No such customer", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/customers/{id}/analytics")]
pub async fn customer_analytics(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (o, _) = options(&req, &[])?;
    let a = state
        .services
        .analytics
        .customer_analytics(&caller.0, CustomerId(id.into_inner()), o)
        .await?;
    let mut body = CustomerAnalyticsResponse::from(&a);
    crate::customers::attach_parts(&state, &caller, std::slice::from_mut(&mut body.customer))
        .await?;
    Ok(HttpResponse::Ok().json(body))
}
