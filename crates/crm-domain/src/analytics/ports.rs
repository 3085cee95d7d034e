//! Storage ports of the analytics use cases.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

use super::clv::{BgNbdParams, FitReport, GammaGammaParams, TimeUnit};
use super::rfm::RfmSegment;
use crate::access::Visibility;
use crate::error::RepositoryError;
use crate::ids::{CustomerId, TenantId};
use crate::values::AmountTotal;

/// Customers and revenue of one RFM segment.
#[derive(Debug, Clone, PartialEq)]
pub struct RfmSegmentTotals {
    /// The segment.
    pub segment: RfmSegment,
    /// Live customers in it.
    pub customers: u64,
    /// Σ total_spent of those customers, per currency (ISO 4217 code, exact sum).
    pub revenue: Vec<(String, AmountTotal)>,
}

/// One customer's completed purchases, one entry per day (UTC) with that day's total in the
/// currency's major units (`12.5` = 12.50 USD), oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct PurchaseHistory {
    /// The customer.
    pub customer_id: CustomerId,
    /// `(day, total)` pairs, days ascending and distinct.
    pub days: Vec<(NaiveDate, f64)>,
}

/// A tenant's fitted CLV models (one per tenant; a new fit replaces it).
#[derive(Debug, Clone, PartialEq)]
pub struct ClvModel {
    /// Tenant.
    pub tenant_id: TenantId,
    /// Last day (UTC) of the calibration period; orders after it were not used.
    pub calibration_end: NaiveDate,
    /// Unit of the model's time (`r`/`alpha` are per unit).
    pub time_unit: TimeUnit,
    /// Fitted BG/NBD parameters.
    pub bgnbd: BgNbdParams,
    /// Its maximised log-likelihood.
    pub bgnbd_log_likelihood: f64,
    /// Customers in the fit (first purchase on or before `calibration_end`).
    pub customers: u64,
    /// Fitted Gamma-Gamma parameters; `None` when no customer bought twice.
    pub gamma_gamma: Option<GammaGammaParams>,
    /// Its maximised log-likelihood.
    pub gamma_gamma_log_likelihood: Option<f64>,
    /// Customers with at least one repeat purchase (the Gamma-Gamma sample).
    pub repeat_customers: u64,
    /// Wall time of the whole fit (reading the purchases, summarising, both fits),
    /// milliseconds.
    pub fit_ms: u64,
    /// When it was fitted.
    pub fitted_at: DateTime<Utc>,
    /// How the fit went, step by step; only on the model a fit returns (`None` when read back
    /// from storage).
    pub fit: Option<ClvFitDetails>,
}

/// Timings (wall time, milliseconds) and optimiser reports of one CLV fit.
#[derive(Debug, Clone, PartialEq)]
pub struct ClvFitDetails {
    /// Reading the tenant's purchase days from storage.
    pub read_ms: f64,
    /// Reducing them to per-customer summaries `(x, t_x, T, z̄)`.
    pub summarise_ms: f64,
    /// The BG/NBD fit.
    pub bgnbd_ms: f64,
    /// The Gamma-Gamma fit (also when it failed).
    pub gamma_gamma_ms: f64,
    /// The BG/NBD optimiser's report.
    pub bgnbd: FitReport,
    /// The Gamma-Gamma optimiser's report; `None` when it was not fitted.
    pub gamma_gamma: Option<FitReport>,
}

/// Storage of analytics: RFM scores on customers, CLV models. Every method is scoped to one tenant.
///
/// # Errors
/// [`RepositoryError::Unavailable`] when the database cannot be reached; writes are atomic.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait AnalyticsRepository: Send + Sync {
    /// Scores every live customer of the tenant with at least one completed order as of
    /// `reference` (see [`super::rfm`]: NTILE(5) quintiles, ties by id, R×F segment), clears the
    /// scores of everyone else, in one transaction, in the database. Returns the customers
    /// scored.
    async fn recompute_rfm(
        &self,
        tenant: TenantId,
        reference: DateTime<Utc>,
    ) -> Result<u64, RepositoryError>;

    /// Per segment, live scored customers inside `visibility` and their revenue; with the latest
    /// `computed_at` (of the tenant).
    async fn rfm_totals(
        &self,
        tenant: TenantId,
        visibility: &Visibility,
    ) -> Result<(Vec<RfmSegmentTotals>, Option<DateTime<Utc>>), RepositoryError>;

    /// Completed orders in `currency` placed on or before day `until` (UTC), summed per customer
    /// and day, of live customers inside `visibility` (one customer only, when given), in
    /// customer id order.
    async fn purchase_days(
        &self,
        tenant: TenantId,
        visibility: &Visibility,
        currency: &str,
        until: NaiveDate,
        customer: Option<CustomerId>,
    ) -> Result<Vec<PurchaseHistory>, RepositoryError>;

    /// Stores the tenant's model, replacing the previous one.
    async fn save_model(&self, model: &ClvModel) -> Result<(), RepositoryError>;

    /// The tenant's model.
    async fn find_model(&self, tenant: TenantId) -> Result<Option<ClvModel>, RepositoryError>;
}
