//! Analytics use cases: RFM recompute (as a job) and summary, CLV model fit, per-customer
//! analytics and the tenant CLV summary.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rust_decimal::prelude::ToPrimitive;

use super::clv::{
    BgNbdParams, CustomerSummary, FitError, GammaGammaParams, TimeUnit, customer_lifetime_value,
    fit_bgnbd, fit_gamma_gamma,
};
use super::ports::{AnalyticsRepository, ClvFitDetails, ClvModel, RfmSegmentTotals};
use super::rfm::{CoarseSegment, RfmSegment};
use crate::access::{Actor, Permission, Visibility};
use crate::customer::{Customer, CustomerRepository, load_visible};
use crate::error::{DomainError, FieldError};
use crate::ids::{CustomerId, JobId};
use crate::job::{Job, JobKind, JobOutcome, JobRepository, RfmRecomputeOutcome, Started};
use crate::ports::{Clock, IdGenerator, truncate_to_micros};
use crate::tenant::{TenantRepository, load};

/// One segment of the RFM summary.
#[derive(Debug, Clone, PartialEq)]
pub struct RfmSegmentSummary {
    /// Segment and its totals.
    pub totals: RfmSegmentTotals,
    /// Its cell of the coarse matrix.
    pub coarse: CoarseSegment,
    /// Share of the scored customers, 0..=1.
    pub share: f64,
}

/// The tenant's RFM distribution: every segment (empty ones included), in the order of
/// [`RfmSegment::ALL`].
#[derive(Debug, Clone, PartialEq)]
pub struct RfmSummary {
    /// When the scores were computed; `None` before the first recompute.
    pub computed_at: Option<DateTime<Utc>>,
    /// Customers with scores.
    pub scored: u64,
    /// Per segment.
    pub segments: Vec<RfmSegmentSummary>,
}

/// Options of the predictions (query parameters of the API).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PredictionOptions {
    /// CLV horizon in months (1..=120, default 12).
    pub horizon_months: u32,
    /// Monthly discount rate (0..1, default 0.01).
    pub monthly_discount_rate: f64,
    /// Predict as of this day (default: the model's calibration end).
    pub as_of: Option<NaiveDate>,
}

impl Default for PredictionOptions {
    fn default() -> Self {
        Self {
            horizon_months: 12,
            monthly_discount_rate: 0.01,
            as_of: None,
        }
    }
}

/// Historical value of a customer (from the customer's statistics).
#[derive(Debug, Clone, PartialEq)]
pub struct HistoricalValue {
    /// Σ completed orders (customer currency).
    pub total_revenue: f64,
    /// Completed orders.
    pub orders: i64,
    /// `total_revenue / orders`.
    pub average_order_value: f64,
    /// Days from the first order to now (0 without orders).
    pub tenure_days: i64,
    /// Orders per 30-day month of tenure (orders when tenure is under a month).
    pub purchases_per_month: f64,
    /// `total_revenue − acquisition_cost` (the cost counts 0 when unknown).
    pub profit: f64,
}

/// Model predictions for one customer (Fader, Hardie & Lee 2005; Fader & Hardie 2013).
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Day the prediction is made as of.
    pub as_of: NaiveDate,
    /// The customer's `(x, t_x, T, zbar)` up to `as_of`, in the model's unit.
    pub summary: CustomerSummary,
    /// P(alive | x, t_x, T).
    pub probability_alive: f64,
    /// E[purchases in the next `horizon_months`].
    pub expected_purchases: f64,
    /// E[average order value] (Gamma-Gamma; the population mean without repeat purchases).
    pub expected_order_value: Option<f64>,
    /// Discounted CLV over the horizon, currency units.
    pub clv: Option<f64>,
}

/// Everything analytics says about one customer.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerAnalytics {
    /// The customer (with RFM scores when computed).
    pub customer: Customer,
    /// Historical value.
    pub historical: HistoricalValue,
    /// Predictions; `None` without a fitted model or a purchase by `as_of`.
    pub prediction: Option<Prediction>,
    /// Options used.
    pub options: PredictionOptions,
}

/// A customer of the at-risk list.
#[derive(Debug, Clone, PartialEq)]
pub struct AtRisk {
    /// The customer.
    pub customer_id: CustomerId,
    /// Historical revenue up to the prediction day.
    pub revenue: f64,
    /// P(alive).
    pub probability_alive: f64,
    /// Discounted CLV over the horizon.
    pub clv: f64,
}

/// Tenant-wide predictions.
#[derive(Debug, Clone, PartialEq)]
pub struct ClvSummary {
    /// The model.
    pub model: ClvModel,
    /// Options used.
    pub options: PredictionOptions,
    /// Customers predicted.
    pub customers: u64,
    /// Σ expected purchases over the horizon.
    pub expected_purchases: f64,
    /// Σ discounted CLV over the horizon.
    pub expected_value: f64,
    /// Customers most at risk: among the top quarter by revenue, the lowest P(alive) first.
    pub at_risk: Vec<AtRisk>,
}

/// Analytics use cases.
pub struct AnalyticsService {
    repo: Arc<dyn AnalyticsRepository>,
    jobs: Arc<dyn JobRepository>,
    customers: Arc<dyn CustomerRepository>,
    tenants: Arc<dyn TenantRepository>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
}

fn months_to_units(months: u32, unit: TimeUnit) -> f64 {
    f64::from(months) * 30.0 / unit.days()
}

fn fit_error(e: FitError) -> DomainError {
    DomainError::Validation(vec![FieldError::new(
        "calibration_end",
        "not_enough_data",
        format!("the models cannot be fitted on these orders: {e}"),
    )])
}

impl AnalyticsService {
    /// Wires the service.
    pub fn new(
        repo: Arc<dyn AnalyticsRepository>,
        jobs: Arc<dyn JobRepository>,
        customers: Arc<dyn CustomerRepository>,
        tenants: Arc<dyn TenantRepository>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
    ) -> Self {
        Self {
            repo,
            jobs,
            customers,
            tenants,
            clock,
            ids,
        }
    }

    /// Starts an RFM recompute as of `reference` (default now): stores a `running` job and
    /// returns it with the reference; the caller runs [`AnalyticsService::run_rfm_recompute`]
    /// in the background.
    ///
    /// # Errors
    /// [`DomainError::Forbidden`] without `customers.manage`.
    #[tracing::instrument(name = "AnalyticsService::start_rfm_recompute", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id))]
    pub async fn start_rfm_recompute(
        &self,
        actor: &Actor,
        reference: Option<DateTime<Utc>>,
    ) -> Result<(Job, DateTime<Utc>), DomainError> {
        actor.require(Permission::CustomersManage)?;
        let now = truncate_to_micros(self.clock.now());
        let job = Job::start(
            JobId(self.ids.new_id()),
            actor.tenant_id,
            JobKind::RfmRecompute,
            Some(actor.user_id.clone()),
            now,
            None,
        );
        self.jobs.save(&job).await?;
        Ok((job, reference.map_or(now, truncate_to_micros)))
    }

    /// Starts an RFM recompute as of `reference` (default now) and hands back the work that
    /// finishes it: [`AnalyticsService::start_rfm_recompute`] then
    /// [`AnalyticsService::run_rfm_recompute`] as one use case, for the API and embedders.
    ///
    /// # Errors
    /// [`DomainError::Forbidden`] without `customers.manage`; storage errors saving the job.
    #[tracing::instrument(name = "AnalyticsService::accept_rfm_recompute", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id))]
    pub async fn accept_rfm_recompute(
        self: &Arc<Self>,
        actor: &Actor,
        reference: Option<DateTime<Utc>>,
    ) -> Result<Started, DomainError> {
        let (job, reference) = self.start_rfm_recompute(actor, reference).await?;
        let service = Arc::clone(self);
        let running = job.clone();
        Ok(Started {
            job,
            run: Box::pin(async move { service.run_rfm_recompute(running, reference).await }),
        })
    }

    /// Runs a started recompute and records its outcome on the job
    /// ([`RfmRecomputeOutcome`]). Returns the finished job.
    #[tracing::instrument(name = "AnalyticsService::run_rfm_recompute", skip_all)]
    pub async fn run_rfm_recompute(&self, mut job: Job, reference: DateTime<Utc>) -> Job {
        let started = Instant::now();
        let outcome = self.repo.recompute_rfm(job.tenant_id, reference).await;
        let now = truncate_to_micros(self.clock.now());
        match outcome {
            Ok(scored) => job.complete(
                JobOutcome::RfmRecompute(RfmRecomputeOutcome {
                    scored,
                    reference,
                    duration_ms: started.elapsed().as_millis() as u64,
                }),
                now,
            ),
            Err(e) => job.fail(DomainError::from(e).to_string(), now),
        }
        if let Err(e) = self.jobs.save(&job).await {
            tracing::error!(job = %job.id, error = %e, "could not record the job's outcome");
        }
        job
    }

    /// The RFM distribution of the tenant's customers inside the caller's [`Visibility`].
    ///
    /// # Errors
    /// [`DomainError::Forbidden`] without `customers.view`.
    #[tracing::instrument(name = "AnalyticsService::rfm_summary", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id))]
    pub async fn rfm_summary(&self, actor: &Actor) -> Result<RfmSummary, DomainError> {
        actor.require(Permission::CustomersView)?;
        let visibility = crate::tenant::visibility(self.tenants.as_ref(), actor).await?;
        let (totals, computed_at) = self.repo.rfm_totals(actor.tenant_id, &visibility).await?;
        let scored: u64 = totals.iter().map(|t| t.customers).sum();
        let segments =
            RfmSegment::ALL
                .iter()
                .map(|s| {
                    let totals = totals.iter().find(|t| t.segment == *s).cloned().unwrap_or(
                        RfmSegmentTotals {
                            segment: *s,
                            customers: 0,
                            revenue: Vec::new(),
                        },
                    );
                    RfmSegmentSummary {
                        coarse: s.coarse(),
                        share: if scored == 0 {
                            0.0
                        } else {
                            totals.customers as f64 / scored as f64
                        },
                        totals,
                    }
                })
                .collect();
        Ok(RfmSummary {
            computed_at,
            scored,
            segments,
        })
    }

    /// Fits BG/NBD and Gamma-Gamma on the tenant's completed orders in its default currency
    /// placed up to `calibration_end` (inclusive), with time in `unit`, and stores the model.
    ///
    /// # Errors
    /// [`DomainError::Forbidden`] without `customers.manage`; [`DomainError::Validation`] on
    /// `calibration_end` when it is in the future or the orders cannot identify the model
    /// (too few customers, nobody bought twice).
    #[tracing::instrument(name = "AnalyticsService::fit_clv", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id))]
    pub async fn fit_clv(
        &self,
        actor: &Actor,
        calibration_end: NaiveDate,
        unit: TimeUnit,
    ) -> Result<ClvModel, DomainError> {
        actor.require(Permission::CustomersManage)?;
        if calibration_end > self.clock.now().date_naive() {
            return Err(DomainError::Validation(vec![FieldError::new(
                "calibration_end",
                "in_future",
                "the calibration period must end today or earlier",
            )]));
        }
        let tenant = load(self.tenants.as_ref(), actor.tenant_id).await?;
        let started = Instant::now();
        let ms = |since: Instant| since.elapsed().as_secs_f64() * 1e3;
        let histories = self
            .repo
            .purchase_days(
                actor.tenant_id,
                // The model describes the whole tenant's buying (fitting needs customers.manage).
                &Visibility::All,
                tenant.default_currency.as_str(),
                calibration_end,
                None,
            )
            .await?;
        let read_ms = ms(started);
        let step = Instant::now();
        let summaries: Vec<CustomerSummary> = histories
            .iter()
            .filter_map(|h| CustomerSummary::from_purchases(&h.days, calibration_end, unit))
            .collect();
        let summarise_ms = ms(step);
        let step = Instant::now();
        let bg = fit_bgnbd(&summaries).map_err(fit_error)?;
        let bgnbd_ms = ms(step);
        let repeaters = summaries.iter().filter(|s| s.frequency > 0.0).count();
        let step = Instant::now();
        let gg = fit_gamma_gamma(&summaries).ok();
        let gamma_gamma_ms = ms(step);
        let model = ClvModel {
            tenant_id: actor.tenant_id,
            calibration_end,
            time_unit: unit,
            bgnbd: bg.params,
            bgnbd_log_likelihood: bg.log_likelihood,
            customers: summaries.len() as u64,
            gamma_gamma: gg.as_ref().map(|g| g.params),
            gamma_gamma_log_likelihood: gg.as_ref().map(|g| g.log_likelihood),
            repeat_customers: repeaters as u64,
            fit_ms: started.elapsed().as_millis() as u64,
            fitted_at: truncate_to_micros(self.clock.now()),
            fit: Some(ClvFitDetails {
                read_ms,
                summarise_ms,
                bgnbd_ms,
                gamma_gamma_ms,
                bgnbd: bg.report,
                gamma_gamma: gg.as_ref().map(|g| g.report),
            }),
        };
        self.repo.save_model(&model).await?;
        Ok(model)
    }

    /// The tenant's stored model.
    ///
    /// # Errors
    /// [`DomainError::NotFound`] (`clv_model`) before the first fit.
    #[tracing::instrument(name = "AnalyticsService::model", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id))]
    pub async fn model(&self, actor: &Actor) -> Result<ClvModel, DomainError> {
        actor.require(Permission::CustomersView)?;
        self.repo
            .find_model(actor.tenant_id)
            .await?
            .ok_or(DomainError::NotFound {
                entity: "clv_model",
            })
    }

    fn check(options: &PredictionOptions) -> Result<(), DomainError> {
        let mut errors = Vec::new();
        if !(1..=120).contains(&options.horizon_months) {
            errors.push(FieldError::new(
                "horizon_months",
                "out_of_range",
                "horizon_months is 1..=120",
            ));
        }
        if !(0.0..1.0).contains(&options.monthly_discount_rate) {
            errors.push(FieldError::new(
                "discount_rate",
                "out_of_range",
                "discount_rate is a monthly rate in [0, 1)",
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(DomainError::Validation(errors))
        }
    }

    fn predict(
        model: &ClvModel,
        summary: CustomerSummary,
        as_of: NaiveDate,
        options: &PredictionOptions,
    ) -> Prediction {
        let horizon = months_to_units(options.horizon_months, model.time_unit);
        let bg: &BgNbdParams = &model.bgnbd;
        let gg: Option<&GammaGammaParams> = model.gamma_gamma.as_ref();
        Prediction {
            as_of,
            probability_alive: bg.probability_alive(&summary),
            expected_purchases: bg.conditional_expected_purchases(horizon, &summary),
            expected_order_value: gg.map(|g| g.conditional_expected_spend(&summary)),
            clv: gg.map(|g| {
                customer_lifetime_value(
                    bg,
                    g,
                    &summary,
                    options.horizon_months,
                    options.monthly_discount_rate,
                    model.time_unit,
                )
            }),
            summary,
        }
    }

    /// RFM scores, historical value and model predictions of one customer.
    ///
    /// # Errors
    /// [`DomainError::NotFound`] for a missing or another tenant's customer, or one outside the
    /// caller's [`Visibility`]; [`DomainError::Validation`] on `horizon_months` or
    /// `discount_rate` out of range.
    #[tracing::instrument(name = "AnalyticsService::customer_analytics", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id, customer_id = %id))]
    pub async fn customer_analytics(
        &self,
        actor: &Actor,
        id: CustomerId,
        options: PredictionOptions,
    ) -> Result<CustomerAnalytics, DomainError> {
        actor.require(Permission::CustomersView)?;
        Self::check(&options)?;
        let visibility = crate::tenant::visibility(self.tenants.as_ref(), actor).await?;
        let customer =
            load_visible(self.customers.as_ref(), actor.tenant_id, &visibility, id).await?;
        let now = self.clock.now();
        let revenue = customer.stats.total_spent.value().to_f64().unwrap_or(0.0);
        let orders = customer.stats.total_orders;
        let tenure_days = customer
            .stats
            .first_order_at
            .map_or(0, |f| (now - f).num_days().max(0));
        let historical = HistoricalValue {
            total_revenue: revenue,
            orders,
            average_order_value: if orders > 0 {
                revenue / orders as f64
            } else {
                0.0
            },
            tenure_days,
            purchases_per_month: if tenure_days >= 30 {
                orders as f64 / (tenure_days as f64 / 30.0)
            } else {
                orders as f64
            },
            profit: revenue
                - customer
                    .profile
                    .acquisition_cost
                    .and_then(|a| a.value().to_f64())
                    .unwrap_or(0.0),
        };
        let prediction = match self.repo.find_model(actor.tenant_id).await? {
            None => None,
            Some(model) => {
                let as_of = options.as_of.unwrap_or(model.calibration_end);
                let history = self
                    .repo
                    .purchase_days(
                        actor.tenant_id,
                        &visibility,
                        customer.profile.currency.as_str(),
                        as_of,
                        Some(id),
                    )
                    .await?;
                history
                    .first()
                    .and_then(|h| CustomerSummary::from_purchases(&h.days, as_of, model.time_unit))
                    .map(|s| Self::predict(&model, s, as_of, &options))
            }
        };
        Ok(CustomerAnalytics {
            customer,
            historical,
            prediction,
            options,
        })
    }

    /// Predictions summed over the tenant's customers inside the caller's [`Visibility`], and the
    /// `at_risk_limit` (≤ 100) of them most at risk.
    ///
    /// # Errors
    /// [`DomainError::NotFound`] (`clv_model`) before the first fit; validation as
    /// [`AnalyticsService::customer_analytics`].
    #[tracing::instrument(name = "AnalyticsService::clv_summary", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id))]
    pub async fn clv_summary(
        &self,
        actor: &Actor,
        options: PredictionOptions,
        at_risk_limit: usize,
    ) -> Result<ClvSummary, DomainError> {
        actor.require(Permission::CustomersView)?;
        Self::check(&options)?;
        let model = self.model(actor).await?;
        let tenant = load(self.tenants.as_ref(), actor.tenant_id).await?;
        let visibility = tenant.visibility_of(actor)?;
        let as_of = options.as_of.unwrap_or(model.calibration_end);
        let histories = self
            .repo
            .purchase_days(
                actor.tenant_id,
                &visibility,
                tenant.default_currency.as_str(),
                as_of,
                None,
            )
            .await?;
        let mut rows = Vec::with_capacity(histories.len());
        let (mut purchases, mut value) = (0.0, 0.0);
        for h in &histories {
            let Some(s) = CustomerSummary::from_purchases(&h.days, as_of, model.time_unit) else {
                continue;
            };
            let revenue: f64 = h.days.iter().map(|(_, v)| v).sum();
            let p = Self::predict(&model, s, as_of, &options);
            purchases += p.expected_purchases;
            value += p.clv.unwrap_or(0.0);
            rows.push(AtRisk {
                customer_id: h.customer_id,
                revenue,
                probability_alive: p.probability_alive,
                clv: p.clv.unwrap_or(0.0),
            });
        }
        let customers = rows.len() as u64;
        // The top quarter by revenue, least likely alive first.
        rows.sort_by(|a, b| b.revenue.total_cmp(&a.revenue));
        rows.truncate(rows.len().div_ceil(4));
        rows.sort_by(|a, b| {
            a.probability_alive
                .total_cmp(&b.probability_alive)
                .then(b.revenue.total_cmp(&a.revenue))
        });
        rows.truncate(at_risk_limit.min(100));
        Ok(ClvSummary {
            model,
            options,
            customers,
            expected_purchases: purchases,
            expected_value: value,
            at_risk: rows,
        })
    }
}

/// Midnight (UTC) after `day`: the exclusive end of a period that includes `day`.
pub fn end_of_day(day: NaiveDate) -> DateTime<Utc> {
    (day + Duration::days(1))
        .and_hms_opt(0, 0, 0)
        .map_or_else(Utc::now, |t| t.and_utc())
}
